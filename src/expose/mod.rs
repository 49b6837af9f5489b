//! The exposition layer: what is kept in `collect` turned into the text
//! Prometheus reads. Above `collect`, below `http`.
//!
//! * [`families`]: the table of account families ([`FAMILIES`]): name, help,
//!   what each is computed from, how its samples are written;
//! * [`render`]: the account families rendered per group of accounts and
//!   assembled per scrape ([`AccountsRenderer`]); [`group`]: where groups
//!   of accounts begin and end;
//! * [`gzip`]: one gzip member from pieces compressed once;
//! * [`telemetry`]: the exporter's own metrics ([`Telemetry`]);
//! * [`calls`]: the API calls per account, rendered per account;
//! * [`process`]: the process metrics (`process_*`);
//! * [`probe`]: the answer of a `/probe`;
//! * [`sdk`]: the Chime SDK source's families ([`SdkRenderer`]);
//! * [`status`]: what `/status` shows, as data ([`StatusReport`]);
//! * [`exposition`]: one scrape's body ([`Exposition`]);
//! * [`text`]: the sample writer shared by the above.

mod calls;
mod exposition;
mod families;
mod group;
pub mod gzip;
mod probe;
mod process;
mod render;
mod sdk;
mod status;
mod telemetry;
mod text;

pub use calls::CallsRenderer;
pub use exposition::{Chunks, Exposition};
pub use families::{account_labels, bot_families, encode_accounts, Family, FAMILIES};
pub use probe::{debug_probe, encode_probe};
pub use process::ProcessStats;
pub use render::{AccountsPart, AccountsRenderer};
pub use sdk::{encode_sdk, SdkRenderSettings, SdkRenderer, SDK_FAMILIES};
pub use status::{AccountReport, StatusReport, StatusSources, TargetReport};
pub use telemetry::{HttpRequests, Sources, Telemetry};
pub use text::{write_eof, Format, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
