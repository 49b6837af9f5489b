//! Configuration: the bottom layer. Everything the operator says — flags,
//! the targets file, the web config file — is parsed and checked here, once,
//! into plain values that the layers above take as they are.
//!
//! * [`settings`]: what the exporter runs with ([`Config`]);
//! * [`flags`]: the command line ([`Cli`]) into a [`Config`];
//! * [`file`]: `--config.file`, many targets in one exporter;
//! * [`target`]: what a target is ([`TargetConfig`]), its account ids
//!   ([`AccountId`]) and the defaults shared by flags and file;
//! * [`sdk`]: the Chime SDK source's AppInstances ([`SdkTargetConfig`],
//!   [`AppInstanceArn`]);
//! * [`web`]: `--web.config.file` (TLS, client certificates, basic auth,
//!   headers, HTTP/2, rate limit), re-read while running;
//! * [`tls`]: the toolkit's TLS names (cipher suites, curves) in rustls
//!   terms, and `client_allowed_sans` as a certificate verifier;
//! * [`values`]: the parsers flags and files share (durations, addresses).

mod file;
mod flags;
mod sdk;
mod settings;
mod target;
mod tls;
mod values;
mod web;

pub use file::{
    load as load_targets_file, load_all as load_all_targets, parse as parse_targets_file,
    parse_all as parse_all_targets, ConfigFileError,
};
pub use flags::{parse_shard_index, Cli, DEMO_THROTTLE_RATIO};
pub use sdk::{parse_app_instance_arns, AppInstanceArn, SdkTargetConfig};
pub use settings::{
    Collectors, Config, ConfigError, DemoSettings, LogFormat, LogLevel, ProbeSettings, Shard,
    WebSettings,
};
pub use target::{
    parse_account_ids, AccountId, TargetConfig, TargetDefaults, MAX_ACCOUNT_ID_BYTES,
};
pub use values::{parse_duration, parse_listen_address, ListenAddress, DEFAULT_PORT};
pub use web::{
    parse as parse_web_config, ClientAuth, ReloadStatus, WebConfig, WebConfigError, WebConfigSource,
};
