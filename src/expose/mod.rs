//! The exposition layer: what is kept in `collect` turned into the text
//! Prometheus reads. Above `collect`, below `http`.
//!
//! * [`families`]: the table of account families ([`FAMILIES`]): name, help,
//!   what each is computed from, how its samples are written;
//! * [`render`]: the account families rendered per account and assembled
//!   per scrape ([`AccountsRenderer`]);
//! * [`gzip`]: one gzip member from pieces compressed once;
//! * [`telemetry`]: the exporter's own metrics ([`Telemetry`]);
//! * [`probe`]: the answer of a `/probe`;
//! * [`exposition`]: one scrape's body ([`Exposition`]);
//! * [`text`]: the sample writer shared by the above.

mod exposition;
mod families;
pub mod gzip;
mod probe;
mod render;
mod telemetry;
mod text;

pub use exposition::{Chunks, Exposition};
pub use families::{account_labels, bot_families, encode_accounts, Family, FAMILIES};
pub use probe::encode_probe;
pub use render::{AccountsPart, AccountsRenderer};
pub use telemetry::{build, Sources, Telemetry};
pub use text::{write_eof, OPENMETRICS_CONTENT_TYPE};
