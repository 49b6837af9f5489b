//! Command-line flags (each with an environment variable) and their
//! validation into a [`Config`].
//!
//! Flag names follow the official Prometheus exporters (`--web.*`, `--log.*`)
//! and group the exporter's own settings under `--chime.*`. Every value is
//! checked before anything starts: a bad one ends the process with status 2
//! and one line naming the flag, never a panic.

use std::time::Duration;

use clap::Parser;

use super::sdk::{parse_app_instance_arns, SdkTargetConfig};
use super::settings::{
    Collectors, Config, ConfigError, DemoSettings, LogFormat, LogLevel, ProbeSettings, Shard,
    WebSettings,
};
use super::target::{parse_account_ids, TargetConfig, TargetDefaults};
use super::values::{
    parse_duration, parse_listen_address, parse_positive_duration, parse_rate,
    parse_telemetry_path, ListenAddress,
};
use super::web::WebConfigSource;

/// The share of demo API calls the fake throttles unless told otherwise.
pub const DEMO_THROTTLE_RATIO: f64 = 0.05;

/// Prometheus exporter for the Amazon Chime administration API.
///
/// Every flag can also be set through the environment variable shown.
#[derive(Debug, Parser)]
#[command(
    name = "chime_exporter",
    version = crate::version::VERSION,
    long_version = crate::version::LONG_VERSION,
    about,
    long_about = None
)]
pub struct Cli {
    /// Chime account ID to watch (repeat the flag, or comma-separate in the
    /// environment variable).
    #[arg(
        long = "chime.account-id",
        env = "CHIME_EXPORTER_ACCOUNT_IDS",
        value_name = "ID",
        value_delimiter = ','
    )]
    pub account_ids: Vec<String>,

    /// Find the accounts to watch with ListAccounts (automatic when no
    /// account id is given).
    #[arg(
        long = "chime.discover-accounts",
        env = "CHIME_EXPORTER_DISCOVER_ACCOUNTS"
    )]
    pub discover_accounts: bool,

    /// Only discover accounts whose name starts with this (the API's `name`
    /// filter).
    #[arg(
        long = "chime.account-name-prefix",
        env = "CHIME_EXPORTER_ACCOUNT_NAME_PREFIX",
        value_name = "PREFIX"
    )]
    pub account_name_prefix: Option<String>,

    /// How long the list of discovered accounts (and account details) is
    /// reused.
    #[arg(
        long = "chime.discovery-ttl",
        env = "CHIME_EXPORTER_DISCOVERY_TTL",
        default_value = "15m",
        value_parser = parse_positive_duration,
        value_name = "DURATION"
    )]
    pub discovery_ttl: Duration,

    /// A YAML file of targets (AWS accounts, roles, account ids, discovery),
    /// instead of the --chime.account-id and related flags.
    #[arg(
        long = "config.file",
        env = "CHIME_EXPORTER_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub config_file: Option<std::path::PathBuf>,

    /// AWS region of the Chime API.
    #[arg(
        long = "chime.region",
        env = "CHIME_EXPORTER_REGION",
        default_value = "us-east-1",
        value_name = "REGION"
    )]
    pub region: String,

    /// Endpoint URL of the Chime API, instead of the SDK's resolution
    /// (AWS_ENDPOINT_URL_CHIME and AWS_ENDPOINT_URL keep working without it).
    #[arg(
        long = "chime.endpoint-url",
        env = "CHIME_EXPORTER_ENDPOINT_URL",
        value_name = "URL"
    )]
    pub endpoint_url: Option<String>,

    /// Bots requested per ListBots page (the API accepts 1 to 99).
    #[arg(
        long = "chime.max-results",
        env = "CHIME_EXPORTER_MAX_RESULTS",
        default_value_t = 99,
        value_parser = clap::value_parser!(i32).range(1..=99),
        value_name = "N"
    )]
    pub max_results: i32,

    /// How long a successful fetch of an account's bots is reused.
    #[arg(
        long = "chime.cache-ttl",
        env = "CHIME_EXPORTER_CACHE_TTL",
        default_value = "5m",
        value_parser = parse_positive_duration,
        value_name = "DURATION"
    )]
    pub cache_ttl: Duration,

    /// Time limit of one API operation, retries included.
    #[arg(
        long = "chime.timeout",
        env = "CHIME_EXPORTER_TIMEOUT",
        default_value = "10s",
        value_parser = parse_positive_duration,
        value_name = "DURATION"
    )]
    pub timeout: Duration,

    /// API requests in flight at once, over all accounts and operations.
    #[arg(
        long = "chime.concurrency",
        env = "CHIME_EXPORTER_CONCURRENCY",
        default_value_t = 4,
        value_parser = clap::value_parser!(u16).range(1..=256),
        value_name = "N"
    )]
    pub concurrency: u16,

    /// API requests per second, retries included (no burst above it).
    #[arg(
        long = "chime.rate-limit",
        env = "CHIME_EXPORTER_RATE_LIMIT",
        default_value_t = 10.0,
        value_parser = parse_rate,
        value_name = "PER_SECOND"
    )]
    pub rate_limit: f64,

    /// Wait after a failed fetch before the account is fetched again; doubles
    /// with each consecutive failure, up to the cache TTL.
    #[arg(
        long = "chime.error-backoff",
        env = "CHIME_EXPORTER_ERROR_BACKOFF",
        default_value = "10s",
        value_parser = parse_positive_duration,
        value_name = "DURATION"
    )]
    pub error_backoff: Duration,

    /// Address to listen on for HTTP requests; repeat it to listen on
    /// several. `:PORT` listens on every IPv4 and IPv6 address.
    #[arg(
        long = "web.listen-address",
        env = "CHIME_EXPORTER_WEB_LISTEN_ADDRESS",
        default_value = ":9891",
        value_parser = parse_listen_address,
        value_name = "ADDRESS",
        action = clap::ArgAction::Append
    )]
    pub listen_address: Vec<ListenAddress>,

    /// Use the listening sockets systemd passes (socket activation; Linux)
    /// instead of --web.listen-address.
    #[arg(long = "web.systemd-socket", env = "CHIME_EXPORTER_WEB_SYSTEMD_SOCKET")]
    pub systemd_socket: bool,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        env = "CHIME_EXPORTER_WEB_TELEMETRY_PATH",
        default_value = "/metrics",
        value_parser = parse_telemetry_path,
        value_name = "PATH"
    )]
    pub telemetry_path: String,

    /// Path of a web configuration file (exporter-toolkit format) enabling
    /// TLS, client certificates, basic auth and response headers.
    #[arg(
        long = "web.config.file",
        env = "CHIME_EXPORTER_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub web_config_file: Option<std::path::PathBuf>,

    /// Subtracted from Prometheus's X-Prometheus-Scrape-Timeout-Seconds to
    /// leave time for the response to travel.
    #[arg(
        long = "web.timeout-offset",
        env = "CHIME_EXPORTER_WEB_TIMEOUT_OFFSET",
        default_value = "500ms",
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub timeout_offset: Duration,

    /// Maximum number of parallel scrape requests; 0 disables the limit.
    #[arg(
        long = "web.max-requests",
        env = "CHIME_EXPORTER_WEB_MAX_REQUESTS",
        default_value_t = 40,
        value_name = "N"
    )]
    pub max_requests: usize,

    /// Maximum number of open HTTP connections; more are answered 503 and
    /// closed.
    #[arg(
        long = "web.max-connections",
        env = "CHIME_EXPORTER_WEB_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000),
        value_name = "N"
    )]
    pub max_connections: u32,

    /// Enable POST /-/reload over HTTP (SIGHUP always reloads).
    #[arg(
        long = "web.enable-lifecycle",
        env = "CHIME_EXPORTER_WEB_ENABLE_LIFECYCLE"
    )]
    pub enable_lifecycle: bool,

    /// GetBot calls that probes may have in flight at once; a probe that
    /// needs another call is refused with a 503.
    #[arg(
        long = "probe.concurrency",
        env = "CHIME_EXPORTER_PROBE_CONCURRENCY",
        default_value_t = 2,
        value_parser = clap::value_parser!(u16).range(1..=64),
        value_name = "N"
    )]
    pub probe_concurrency: u16,

    /// Allow /probe of accounts this exporter does not watch (through the
    /// first target's credentials). Off: only watched accounts.
    #[arg(
        long = "probe.allow-unwatched-accounts",
        env = "CHIME_EXPORTER_PROBE_ALLOW_UNWATCHED_ACCOUNTS"
    )]
    pub probe_allow_unwatched: bool,

    /// Export the per-bot families (chime_bot_*); the per-account counts
    /// stay either way. --no-collector.bots turns them off.
    #[arg(long = "collector.bots", overrides_with = "no_collector_bots")]
    pub collector_bots: bool,
    #[arg(long = "no-collector.bots", hide = true)]
    pub no_collector_bots: bool,

    /// Put each bot's DisplayName (sensitive in the AWS model) in the
    /// display_name label of chime_bot_info.
    /// --no-collector.bots.display-name leaves it out.
    #[arg(
        long = "collector.bots.display-name",
        overrides_with = "no_collector_bots_display_name"
    )]
    pub collector_bots_display_name: bool,
    #[arg(long = "no-collector.bots.display-name", hide = true)]
    pub no_collector_bots_display_name: bool,

    /// Only log messages with the given severity or above.
    #[arg(
        long = "log.level",
        env = "CHIME_EXPORTER_LOG_LEVEL",
        value_enum,
        default_value = "info"
    )]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(
        long = "log.format",
        env = "CHIME_EXPORTER_LOG_FORMAT",
        value_enum,
        default_value = "logfmt"
    )]
    pub log_format: LogFormat,

    /// With --demo: generate this many accounts (instead of the four named
    /// ones), for benchmarks.
    #[arg(long = "demo.accounts", value_name = "N", requires = "demo")]
    pub demo_accounts: Option<usize>,

    /// With --demo.accounts: bots per generated account.
    #[arg(
        long = "demo.bots-per-account",
        value_name = "N",
        default_value_t = 100
    )]
    pub demo_bots_per_account: usize,

    /// With --demo: latency the fake API adds to every answer.
    #[arg(long = "demo.latency", value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub demo_latency: Duration,

    /// With --demo: share of API calls the fake throttles (0 to 1).
    #[arg(long = "demo.throttle-ratio", value_name = "RATIO", default_value_t = DEMO_THROTTLE_RATIO)]
    pub demo_throttle_ratio: f64,

    /// Number of exporters sharing the accounts (rendezvous hashing).
    #[arg(
        long = "shard.count",
        env = "CHIME_EXPORTER_SHARD_COUNT",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=1024),
        value_name = "N"
    )]
    pub shard_count: u32,

    /// This exporter's shard, 0 to count-1: a number, or a StatefulSet pod
    /// name ending in its ordinal (chime-exporter-2).
    #[arg(
        long = "shard.index",
        env = "CHIME_EXPORTER_SHARD_INDEX",
        default_value = "0",
        value_parser = parse_shard_index,
        value_name = "INDEX"
    )]
    pub shard_index: u32,

    /// Run against an embedded fake Chime API with generated data (no AWS
    /// account or credentials needed).
    #[arg(long = "demo", env = "CHIME_EXPORTER_DEMO")]
    pub demo: bool,

    /// Chime SDK messaging AppInstance whose AppInstanceBots to watch
    /// (repeat the flag, or comma-separate in the environment variable).
    #[arg(
        long = "chime-sdk.app-instance-arn",
        env = "CHIME_EXPORTER_SDK_APP_INSTANCE_ARNS",
        value_name = "ARN",
        value_delimiter = ','
    )]
    pub sdk_app_instance_arns: Vec<String>,

    /// Watch every AppInstance the credentials see (ListAppInstances).
    #[arg(
        long = "chime-sdk.discover-app-instances",
        env = "CHIME_EXPORTER_SDK_DISCOVER_APP_INSTANCES"
    )]
    pub sdk_discover: bool,

    /// AWS region of the Chime SDK Identity API (default: the SDK's
    /// resolution, else the first ARN's region, else --chime.region).
    #[arg(
        long = "chime-sdk.region",
        env = "CHIME_EXPORTER_SDK_REGION",
        value_name = "REGION"
    )]
    pub sdk_region: Option<String>,

    /// How long a bot's details (DescribeAppInstanceBot) are reused; the
    /// bot lists follow --chime.cache-ttl.
    #[arg(
        long = "chime-sdk.describe-ttl",
        env = "CHIME_EXPORTER_SDK_DESCRIBE_TTL",
        default_value = "1h",
        value_parser = parse_positive_duration,
        value_name = "DURATION"
    )]
    pub sdk_describe_ttl: Duration,
}

/// The flags that a config file also sets; giving both is an error.
const FILE_FLAGS: [(&str, &str); 10] = [
    ("sdk_app_instance_arns", "chime-sdk.app-instance-arn"),
    ("sdk_discover", "chime-sdk.discover-app-instances"),
    ("sdk_region", "chime-sdk.region"),
    ("account_ids", "chime.account-id"),
    ("region", "chime.region"),
    ("max_results", "chime.max-results"),
    ("cache_ttl", "chime.cache-ttl"),
    ("discovery_ttl", "chime.discovery-ttl"),
    ("discover_accounts", "chime.discover-accounts"),
    ("account_name_prefix", "chime.account-name-prefix"),
];

impl Cli {
    /// Parses arguments, noting which flags were given on the command line
    /// or in the environment (not left at their defaults).
    pub fn parse_args<I, T>(args: I) -> Result<(Cli, Vec<String>), clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches(&matches)?;
        let explicit = matches
            .ids()
            .filter(|id| {
                matches!(
                    matches.value_source(id.as_str()),
                    Some(
                        clap::parser::ValueSource::CommandLine
                            | clap::parser::ValueSource::EnvVariable
                    )
                )
            })
            .map(|id| id.as_str().to_owned())
            .collect();
        Ok((cli, explicit))
    }

    /// Checks what clap cannot check alone and builds the [`Config`].
    /// `explicit` names the flags given (see [`Cli::parse_args`]).
    pub fn into_config_with(self, explicit: &[String]) -> Result<Config, ConfigError> {
        if self.config_file.is_some() {
            if let Some((_, flag)) = FILE_FLAGS
                .iter()
                .find(|(id, _)| explicit.iter().any(|e| e == id))
            {
                return Err(ConfigError {
                    flag: "config.file",
                    problem: format!("--{flag} cannot be combined with it: set it in the file"),
                });
            }
            if self.demo {
                return Err(ConfigError {
                    flag: "config.file",
                    problem: "--demo cannot be combined with it".into(),
                });
            }
        }
        self.into_config()
    }

    /// Checks what clap cannot check alone and builds the [`Config`]
    /// (without the flag/file conflict check, which needs to know which
    /// flags were given: see [`Cli::into_config_with`]).
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let account_ids =
            parse_account_ids(self.account_ids.iter().map(String::as_str)).map_err(|problem| {
                ConfigError {
                    flag: "chime.account-id",
                    problem,
                }
            })?;
        if let Some(prefix) = &self.account_name_prefix {
            if prefix.trim().is_empty() || prefix.len() > 100 {
                return Err(ConfigError {
                    flag: "chime.account-name-prefix",
                    problem: "must be 1 to 100 characters".into(),
                });
            }
        }
        if !(0.0..=1.0).contains(&self.demo_throttle_ratio) {
            return Err(ConfigError {
                flag: "demo.throttle-ratio",
                problem: format!("{} is not between 0 and 1", self.demo_throttle_ratio),
            });
        }
        if self.shard_index >= self.shard_count {
            return Err(ConfigError {
                flag: "shard.index",
                problem: format!(
                    "{} is not below --shard.count {}",
                    self.shard_index, self.shard_count
                ),
            });
        }
        if self.region.trim().is_empty() {
            return Err(ConfigError {
                flag: "chime.region",
                problem: "the region is empty".into(),
            });
        }
        if let Some(url) = &self.endpoint_url {
            let ok = url
                .parse::<http::Uri>()
                .ok()
                .filter(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
            if ok.is_none() {
                return Err(ConfigError {
                    flag: "chime.endpoint-url",
                    problem: format!("'{url}' is not an http:// or https:// URL"),
                });
            }
        }
        let sdk_arns =
            parse_app_instance_arns(self.sdk_app_instance_arns.iter().map(String::as_str))
                .map_err(|problem| ConfigError {
                    flag: "chime-sdk.app-instance-arn",
                    problem,
                })?;
        if self
            .sdk_region
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            return Err(ConfigError {
                flag: "chime-sdk.region",
                problem: "the region is empty".into(),
            });
        }
        let sdk_wanted = !sdk_arns.is_empty() || self.sdk_discover;
        let sdk_targets = if sdk_wanted {
            vec![SdkTargetConfig {
                name: "default".to_owned(),
                role_arn: None,
                external_id: None,
                region: match &self.sdk_region {
                    Some(r) => r.trim().to_owned(),
                    None => sdk_arns
                        .first()
                        .map(|a| a.region().to_owned())
                        .unwrap_or_else(|| self.region.trim().to_owned()),
                },
                resolve_region: self.sdk_region.is_none(),
                app_instance_arns: sdk_arns,
                discover: self.sdk_discover,
                cache_ttl: self.cache_ttl,
                describe_ttl: self.sdk_describe_ttl,
                discovery_ttl: self.discovery_ttl,
            }]
        } else {
            Vec::new()
        };
        let web_config = match &self.web_config_file {
            Some(path) => WebConfigSource::load(path).map_err(|e| ConfigError {
                flag: "web.config.file",
                problem: e.to_string(),
            })?,
            None => WebConfigSource::none(),
        };
        let defaults = TargetDefaults {
            region: self.region.trim().to_owned(),
            cache_ttl: self.cache_ttl,
            discovery_ttl: self.discovery_ttl,
            max_results: self.max_results,
        };
        let (targets, sdk_targets) =
            match &self.config_file {
                Some(path) => super::file::load_all(path, &defaults, self.sdk_describe_ttl)
                    .map_err(|e| ConfigError {
                        flag: "config.file",
                        problem: e.to_string(),
                    })?,
                None => (
                    vec![TargetConfig {
                        name: "default".to_owned(),
                        region: defaults.region.clone(),
                        role_arn: None,
                        external_id: None,
                        // No account id means discovery, unless only the Chime SDK
                        // source was asked for (the Chime service has ended: an
                        // exporter for AppInstanceBots alone should not call it).
                        discover: self.discover_accounts
                            || self.account_name_prefix.is_some()
                            || (account_ids.is_empty() && !sdk_wanted),
                        account_ids,
                        account_name_prefix: self.account_name_prefix.clone(),
                        cache_ttl: defaults.cache_ttl,
                        discovery_ttl: defaults.discovery_ttl,
                        max_results: defaults.max_results,
                    }],
                    sdk_targets,
                ),
            };
        Ok(Config {
            targets,
            sdk_targets,
            sdk_describe_ttl: self.sdk_describe_ttl,
            target_defaults: defaults,
            config_file: self.config_file.clone(),
            endpoint_url: self.endpoint_url,
            timeout: self.timeout,
            concurrency: usize::from(self.concurrency),
            rate_limit: self.rate_limit,
            error_backoff: self.error_backoff,
            web: WebSettings {
                listen_addresses: self.listen_address.clone(),
                systemd_socket: self.systemd_socket,
                config: std::sync::Arc::new(web_config),
                telemetry_path: self.telemetry_path,
                timeout_offset: self.timeout_offset,
                max_requests: self.max_requests,
                max_connections: self.max_connections as usize,
                enable_lifecycle: self.enable_lifecycle,
            },
            probe: ProbeSettings {
                concurrency: usize::from(self.probe_concurrency),
                allow_unwatched: self.probe_allow_unwatched,
            },
            // The last of --X and --no-X wins (clap's overrides_with).
            collectors: Collectors {
                bots: !self.no_collector_bots,
                display_names: !self.no_collector_bots_display_name,
            },
            log_level: self.log_level,
            log_format: self.log_format,
            demo: self.demo.then_some(DemoSettings {
                accounts: self.demo_accounts,
                bots_per_account: self.demo_bots_per_account,
                latency: self.demo_latency,
                throttle_ratio: self.demo_throttle_ratio,
            }),
            shard: Shard {
                index: self.shard_index,
                count: self.shard_count,
            },
        })
    }
}

/// Parses `--shard.index`: a number, or a name ending in `-N` such as a
/// StatefulSet pod's (`chime-exporter-2` is shard 2).
pub fn parse_shard_index(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let digits = s.rsplit('-').next().unwrap_or(s);
    digits.parse::<u32>().map_err(|_| {
        format!("'{s}' is neither a shard number nor a name ending in -N (a StatefulSet pod's)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut full = vec!["chime_exporter"];
        full.extend_from_slice(args);
        let (cli, explicit) = Cli::parse_args(full).map_err(|e| e.to_string())?;
        cli.into_config_with(&explicit).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = parse(&["--chime.account-id", "a"]).unwrap();
        let t = &c.targets[0];
        assert_eq!(t.max_results, 99);
        assert_eq!(t.cache_ttl, Duration::from_secs(300));
        assert_eq!(t.discovery_ttl, Duration::from_secs(900));
        assert!(!t.discover);
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(
            c.web.listen_addresses,
            vec![ListenAddress::Any(super::super::DEFAULT_PORT)]
        );
        assert_eq!(c.web.telemetry_path, "/metrics");
        assert_eq!(t.region, "us-east-1");
    }

    #[test]
    fn repeated_and_duplicate_accounts() {
        let c = parse(&[
            "--chime.account-id",
            "a",
            "--chime.account-id",
            "b",
            "--chime.account-id",
            "a",
        ])
        .unwrap();
        let ids: Vec<&str> = c.targets[0]
            .account_ids
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn invalid_values_name_the_flag() {
        for (args, flag) in [
            (
                vec!["--chime.account-id", "a", "--chime.max-results", "0"],
                "chime.max-results",
            ),
            (
                vec!["--chime.account-id", "a", "--chime.max-results", "100"],
                "chime.max-results",
            ),
            (
                vec!["--chime.account-id", "a", "--chime.cache-ttl", "abc"],
                "chime.cache-ttl",
            ),
            (
                vec!["--chime.account-id", "a", "--chime.timeout", "0s"],
                "chime.timeout",
            ),
            (vec!["--chime.account-id", ""], "chime.account-id"),
            (
                vec!["--chime.account-id", "a", "--web.listen-address", "nope"],
                "web.listen-address",
            ),
            (
                vec!["--chime.account-id", "a", "--web.telemetry-path", "metrics"],
                "web.telemetry-path",
            ),
            (
                vec!["--chime.account-id", "a", "--chime.endpoint-url", "ftp://x"],
                "chime.endpoint-url",
            ),
            (
                vec!["--chime.account-id", "a", "--log.level", "loud"],
                "log.level",
            ),
        ] {
            let err = parse(&args).expect_err(&format!("{args:?} should fail"));
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn shard_index_from_a_number_or_a_pod_name() {
        assert_eq!(parse_shard_index("3"), Ok(3));
        assert_eq!(parse_shard_index("chime-exporter-2"), Ok(2));
        assert!(parse_shard_index("chime-exporter").is_err());
        assert!(parse_shard_index("").is_err());
    }

    #[test]
    fn no_account_means_discovery() {
        assert!(parse(&["--demo"]).is_ok());
        let c = parse(&[]).unwrap();
        assert!(c.targets[0].discover);
        let c = parse(&["--chime.account-id", "a", "--chime.discover-accounts"]).unwrap();
        assert!(c.targets[0].discover);
    }

    #[test]
    fn flags_that_the_file_sets_conflict_with_it() {
        let dir = std::env::temp_dir().join(format!("chime-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yml");
        std::fs::write(&file, "targets:\n  - name: a\n").unwrap();
        let f = file.to_str().unwrap();
        assert!(parse(&["--config.file", f]).is_ok());
        for flag in [
            vec!["--chime.account-id", "x"],
            vec!["--chime.cache-ttl", "1m"],
            vec!["--chime.discover-accounts"],
            vec!["--chime.max-results", "10"],
        ] {
            let mut args = vec!["--config.file", f];
            args.extend(flag.iter());
            let e = parse(&args).unwrap_err();
            assert!(
                e.contains("config.file") && e.contains(flag[0].trim_start_matches('-')),
                "{e}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
