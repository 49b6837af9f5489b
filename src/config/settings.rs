//! What the exporter runs with, once flags and files are checked.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use super::sdk::SdkTargetConfig;
use super::target::{TargetConfig, TargetDefaults};
use super::values::ListenAddress;
use super::web::WebConfigSource;

/// `--log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// A configuration value that cannot work, named by its flag.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid value for --{flag}: {problem}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub problem: String,
}

/// Which account data becomes series (`--[no-]collector.bots`,
/// `--[no-]collector.bots.display-name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collectors {
    /// The per-bot families (`chime_bot_*`); the per-account counts stay
    /// either way.
    pub bots: bool,
    /// The `display_name` label of `chime_bot_info` (`DisplayName` is
    /// marked sensitive in the AWS model).
    pub display_names: bool,
}

impl Default for Collectors {
    fn default() -> Self {
        Collectors {
            bots: true,
            display_names: true,
        }
    }
}

/// Settings of the HTTP side.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Where to listen (`--web.listen-address`, at least one).
    pub listen_addresses: Vec<ListenAddress>,
    /// Listen on the sockets systemd passes instead.
    pub systemd_socket: bool,
    pub config: Arc<WebConfigSource>,
    pub telemetry_path: String,
    pub timeout_offset: Duration,
    pub max_requests: usize,
    /// Connections open at once; more are refused.
    pub max_connections: usize,
    /// `POST /-/reload` answers (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
}

/// How `/probe` may reach the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Distinct GetBot calls in flight or waiting at once
    /// (`--probe.concurrency`).
    pub concurrency: usize,
    /// Probe accounts this exporter does not watch, through the first
    /// target's credentials (`--probe.allow-unwatched-accounts`).
    pub allow_unwatched: bool,
}

/// The shape of the `--demo` data (generated accounts instead of the four
/// named ones, latency, throttling), for benchmarks.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSettings {
    pub accounts: Option<usize>,
    pub bots_per_account: usize,
    pub latency: Duration,
    pub throttle_ratio: f64,
}

/// This exporter's share of the accounts (`--shard.count`, `--shard.index`);
/// which accounts that is, is decided in `collect::shard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

/// The validated configuration the exporter runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub targets: Vec<TargetConfig>,
    /// The Chime SDK source's AppInstances (empty: the source is off).
    pub sdk_targets: Vec<SdkTargetConfig>,
    /// `--chime-sdk.describe-ttl` (the demo's AppInstance takes it too).
    pub sdk_describe_ttl: Duration,
    /// What a target of the config file takes unless it says otherwise;
    /// kept for reloads.
    pub target_defaults: TargetDefaults,
    /// Set when the targets come from `--config.file` (reloadable); series
    /// then carry `aws_account_id`.
    pub config_file: Option<PathBuf>,
    pub endpoint_url: Option<String>,
    pub timeout: Duration,
    pub concurrency: usize,
    pub rate_limit: f64,
    /// The first wait after a failed fetch; it doubles per consecutive
    /// failure up to the cache TTL.
    pub error_backoff: Duration,
    pub web: WebSettings,
    pub probe: ProbeSettings,
    pub collectors: Collectors,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// `--demo`: run against the embedded fake API.
    pub demo: Option<DemoSettings>,
    pub shard: Shard,
}

impl Config {
    /// The Chime SDK source's targets: the configured ones, or, with
    /// `--demo` and no `--chime-sdk.*` flag, one that watches every
    /// AppInstance of the demo's API (so that the demo shows both sources).
    pub fn effective_sdk_targets(&self) -> Vec<SdkTargetConfig> {
        if self.demo.is_none() || !self.sdk_targets.is_empty() {
            return self.sdk_targets.clone();
        }
        vec![SdkTargetConfig {
            name: "demo".to_owned(),
            // The demo's API, like Chime's, is signed for us-east-1.
            region: "us-east-1".to_owned(),
            resolve_region: false,
            role_arn: None,
            external_id: None,
            app_instance_arns: Vec::new(),
            discover: true,
            cache_ttl: self.target_defaults.cache_ttl,
            describe_ttl: self.sdk_describe_ttl,
            discovery_ttl: self.target_defaults.discovery_ttl,
        }]
    }
}
