//! Metric families and the exposition.
//!
//! The exposition has two parts, encoded with `prometheus-client`:
//!
//! * **Account data** (`chime_bots`, `chime_bot_info`, `chime_account_up`, …)
//!   is built at scrape time from the current per-account snapshot by a
//!   [`Collector`], never kept in a `Family`: a `Family` remembers every label
//!   set it has seen, so a deleted bot would be exported forever. The encoded
//!   text only changes when a snapshot changes, so it is rendered once per
//!   change of each account and reused by every scrape in between (see
//!   [`crate::render`]).
//! * **Exporter telemetry** (API requests, errors, latency, cache counters,
//!   build info) lives in a normal [`Registry`] and is encoded at every scrape,
//!   since counters move with every scrape.
//!
//! No sample carries a timestamp: cached values served later would be
//! rejected by Prometheus as out of order.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::bots::Bot;
use crate::cache::AccountView;
use crate::chime::{ErrorKind, OPERATIONS};

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets for API calls, in seconds: Chime answers in tens of
/// milliseconds when healthy; the top buckets catch retries and timeouts.
const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    operation: &'static str,
    account_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiErrorLabels {
    operation: &'static str,
    account_id: String,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
    rustc_version: &'static str,
}

type HistogramFamily = Family<OperationLabels, Histogram, fn() -> Histogram>;

fn new_duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Counters of the API calls, shared by the SDK interceptor and the client.
///
/// Only watched accounts get series of their own. Calls about any other
/// account (a `/probe` of an account this exporter does not watch, a fetch
/// that ends after its account went) are counted with an empty `account_id`:
/// `/probe` takes its account from the query string, and a label taken from
/// requests would let any client grow `/metrics` without bound.
#[derive(Debug)]
pub struct ApiMetrics {
    requests: Family<ApiLabels, Counter>,
    errors: Family<ApiErrorLabels, Counter>,
    duration: HistogramFamily,
    /// The watched accounts. Counting holds the read lock until the counter
    /// is incremented, and `set_watched` removes series under the write
    /// lock, so a series removed with its account is never made again by a
    /// call that was in flight.
    watched: RwLock<HashSet<String>>,
}

impl ApiMetrics {
    fn new() -> ApiMetrics {
        ApiMetrics {
            requests: Family::default(),
            errors: Family::default(),
            duration: HistogramFamily::new_with_constructor(new_duration_histogram),
            watched: RwLock::new(HashSet::new()),
        }
    }

    /// `account_id` if it is watched, otherwise empty; with the lock held.
    fn label<'a>(watched: &HashSet<String>, account_id: &'a str) -> &'a str {
        if watched.contains(account_id) {
            account_id
        } else {
            ""
        }
    }

    /// One HTTP request was sent to the API.
    pub fn request(&self, operation: &'static str, account_id: &str) {
        let watched = self.watched.read().unwrap_or_else(|e| e.into_inner());
        self.requests
            .get_or_create(&ApiLabels {
                operation,
                account_id: Self::label(&watched, account_id).to_owned(),
            })
            .inc();
    }

    /// One request (or operation) failed.
    pub fn error(&self, operation: &'static str, account_id: &str, kind: ErrorKind) {
        let watched = self.watched.read().unwrap_or_else(|e| e.into_inner());
        self.errors
            .get_or_create(&ApiErrorLabels {
                operation,
                account_id: Self::label(&watched, account_id).to_owned(),
                error: kind.as_str(),
            })
            .inc();
    }

    /// How long one HTTP attempt took.
    pub fn observe_duration(&self, operation: &'static str, elapsed: Duration) {
        self.duration
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the watched accounts, and removes the series of the accounts
    /// that are no longer watched, so accounts that come and go do not grow
    /// the exposition without bound.
    pub fn set_watched<'a>(&self, accounts: impl IntoIterator<Item = &'a str>) {
        let new: HashSet<String> = accounts.into_iter().map(str::to_owned).collect();
        let mut watched = self.watched.write().unwrap_or_else(|e| e.into_inner());
        for gone in watched.difference(&new) {
            for operation in OPERATIONS {
                self.requests.remove(&ApiLabels {
                    operation,
                    account_id: gone.clone(),
                });
                for kind in ErrorKind::ALL {
                    self.errors.remove(&ApiErrorLabels {
                        operation,
                        account_id: gone.clone(),
                        error: kind.as_str(),
                    });
                }
            }
        }
        *watched = new;
    }
}

/// The exporter's own telemetry: everything that is not account data.
#[derive(Debug)]
pub struct ExporterMetrics {
    registry: Registry,
    pub api: Arc<ApiMetrics>,
    pub cache_requests: Counter,
    pub cache_hits: Counter,
    shard_ordinal: Gauge,
    shard_total: Gauge,
}

/// Facts about this build, filled in by `build.rs`.
pub mod build {
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    pub const REVISION: &str = env!("CHIME_EXPORTER_REVISION");
    pub const RUSTC_VERSION: &str = env!("CHIME_EXPORTER_RUSTC_VERSION");
}

impl Default for ExporterMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ExporterMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let api = Arc::new(ApiMetrics::new());
        registry.register(
            "chime_api_requests",
            "HTTP requests sent to the Chime API, each page and each retry counted.",
            api.requests.clone(),
        );
        registry.register(
            "chime_api_errors",
            "Failed Chime API requests, by AWS error code or failure kind (a bounded set).",
            api.errors.clone(),
        );
        registry.register_with_unit(
            "chime_api_request_duration",
            "Duration of HTTP requests to the Chime API.",
            Unit::Seconds,
            api.duration.clone(),
        );
        let cache_requests = Counter::default();
        let cache_hits = Counter::default();
        registry.register(
            "chime_cache_requests",
            "Per-account cache lookups made by scrapes.",
            cache_requests.clone(),
        );
        registry.register(
            "chime_cache_hits",
            "Per-account cache lookups answered without starting an API fetch.",
            cache_hits.clone(),
        );
        let build_info: Family<BuildLabels, Gauge> = Family::default();
        build_info
            .get_or_create(&BuildLabels {
                version: build::VERSION,
                revision: build::REVISION,
                rustc_version: build::RUSTC_VERSION,
            })
            .set(1);
        registry.register(
            "chime_exporter_build_info",
            "A metric with a constant '1' value labeled by version, revision and rustc_version of chime_exporter.",
            build_info,
        );
        let shard_ordinal = Gauge::default();
        let shard_total = Gauge::default();
        shard_total.set(1);
        registry.register(
            "chime_exporter_shard_ordinal",
            "The shard of this exporter (--shard.index).",
            shard_ordinal.clone(),
        );
        registry.register(
            "chime_exporter_shards",
            "The number of shards (--shard.count).",
            shard_total.clone(),
        );
        ExporterMetrics {
            registry,
            api,
            cache_requests,
            cache_hits,
            shard_ordinal,
            shard_total,
        }
    }

    pub fn set_shard(&self, shard: crate::shard::Shard) {
        self.shard_ordinal.set(i64::from(shard.index));
        self.shard_total.set(i64::from(shard.count));
    }

    /// Encodes the telemetry families (without the `# EOF` line).
    pub fn encode(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }
}

const HELP_SUFFIX: &str = "Served from a cache refreshed every --chime.cache-ttl.";

/// The labels that identify an account on every per-account series:
/// `account_id`, plus `aws_account_id` when targets come from a config file
/// (several AWS accounts in one exporter).
fn account_labels(view: &AccountView, with_aws: bool) -> Vec<(&'static str, &str)> {
    let mut labels = vec![("account_id", &*view.account_id)];
    if with_aws {
        labels.push((
            "aws_account_id",
            view.aws_account_id.as_deref().unwrap_or(""),
        ));
    }
    labels
}

/// A bot to encode, with the labels of its account.
pub struct BotRow<'a> {
    pub account: &'a [(&'static str, &'a str)],
    pub bot: Bot<'a>,
}

/// Encodes the four per-bot families (`chime_bot_info`, `chime_bot_disabled`,
/// and the two timestamps) for `rows`; shared by /metrics and /probe. A bot
/// without a `BotId` has no per-bot series (it could not be told apart).
pub fn encode_bot_families(
    encoder: &mut DescriptorEncoder,
    rows: &[BotRow<'_>],
) -> std::fmt::Result {
    let ids = || rows.iter().filter_map(|r| r.bot.bot_id.map(|id| (r, id)));
    {
        let help = help("Information about a bot, value 1.");
        let mut family =
            encoder.encode_descriptor("chime_bot_info", &help, None, MetricType::Gauge)?;
        for (row, bot_id) in ids() {
            let mut labels = row.account.to_vec();
            labels.extend([
                ("bot_id", bot_id),
                ("user_id", row.bot.user_id),
                ("display_name", row.bot.display_name),
                ("bot_type", row.bot.bot_type),
            ]);
            ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
        }
    }
    {
        let help = help("Whether the bot is disabled (1) or not (0).");
        let mut family =
            encoder.encode_descriptor("chime_bot_disabled", &help, None, MetricType::Gauge)?;
        for (row, bot_id) in ids() {
            let Some(disabled) = row.bot.disabled else {
                continue;
            };
            let mut labels = row.account.to_vec();
            labels.push(("bot_id", bot_id));
            ConstGauge::new(i64::from(disabled)).encode(family.encode_family(&labels)?)?;
        }
    }
    for (name, text, pick) in [
        (
            "chime_bot_created_timestamp_seconds",
            "Unix time the bot was created.",
            (|b| b.created_seconds) as fn(&Bot<'_>) -> Option<f64>,
        ),
        (
            "chime_bot_updated_timestamp_seconds",
            "Unix time the bot was last updated.",
            |b| b.updated_seconds,
        ),
    ] {
        let help = help(text);
        let mut family = encoder.encode_descriptor(name, &help, None, MetricType::Gauge)?;
        for (row, bot_id) in ids() {
            let Some(ts) = pick(&row.bot) else {
                continue;
            };
            let mut labels = row.account.to_vec();
            labels.push(("bot_id", bot_id));
            ConstGauge::new(ts).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// Encodes the per-account and per-bot families from a snapshot of the
/// account states.
#[derive(Debug)]
struct AccountsCollector {
    accounts: Vec<AccountView>,
    with_aws: bool,
}

fn help(text: &str) -> String {
    format!("{text} {HELP_SUFFIX}")
}

impl Collector for AccountsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let with_aws = self.with_aws;
        let with_data = || {
            self.accounts
                .iter()
                .filter_map(|v| v.state.snapshot.as_ref().map(|s| (v, s)))
        };
        {
            let help = help("Information about a watched Chime account, value 1.");
            let mut family =
                encoder.encode_descriptor("chime_account_info", &help, None, MetricType::Gauge)?;
            for view in &self.accounts {
                let info = view.info.as_deref();
                let field = |f: fn(&crate::chime::AccountInfo) -> &str| info.map(f).unwrap_or("");
                let labels = [
                    ("account_id", &*view.account_id),
                    ("account_name", field(|i| i.name.as_str())),
                    ("account_type", field(|i| i.account_type.as_str())),
                    ("account_status", field(|i| i.status.as_str())),
                    (
                        "aws_account_id",
                        view.aws_account_id.as_deref().unwrap_or(""),
                    ),
                ];
                ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let help =
                help("Whether the last fetch of the account's bots succeeded (1) or not (0).");
            let mut family =
                encoder.encode_descriptor("chime_account_up", &help, None, MetricType::Gauge)?;
            for view in &self.accounts {
                let labels = account_labels(view, with_aws);
                ConstGauge::new(i64::from(view.state.up)).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let help = help("Unix time of the last successful fetch of the account's bots.");
            let mut family = encoder.encode_descriptor(
                "chime_account_last_success_timestamp_seconds",
                &help,
                None,
                MetricType::Gauge,
            )?;
            for view in &self.accounts {
                if let Some(ts) = view.state.last_success_seconds {
                    let labels = account_labels(view, with_aws);
                    ConstGauge::new(ts).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let help = help("Number of bots in the account.");
            let mut family =
                encoder.encode_descriptor("chime_bots", &help, None, MetricType::Gauge)?;
            for (view, snap) in with_data() {
                let labels = account_labels(view, with_aws);
                ConstGauge::new(snap.bots.len() as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let help = help("Number of disabled bots in the account.");
            let mut family =
                encoder.encode_descriptor("chime_bots_disabled", &help, None, MetricType::Gauge)?;
            for (view, snap) in with_data() {
                let labels = account_labels(view, with_aws);
                ConstGauge::new(snap.bots.disabled_count() as i64)
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        let labels: Vec<_> = with_data()
            .map(|(view, snap)| (account_labels(view, with_aws), snap))
            .collect();
        let rows: Vec<BotRow<'_>> = labels
            .iter()
            .flat_map(|(account, snap)| {
                snap.bots.iter().map(move |bot| BotRow {
                    account: account.as_slice(),
                    bot,
                })
            })
            .collect();
        encode_bot_families(&mut encoder, &rows)
    }
}

/// Encodes the account families for the given states (without `# EOF`).
pub fn encode_accounts(
    accounts: Vec<AccountView>,
    with_aws: bool,
    out: &mut String,
) -> std::fmt::Result {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(AccountsCollector { accounts, with_aws }));
    prometheus_client::encoding::text::encode_registry(out, &registry)
}

/// Appends the OpenMetrics end marker.
pub fn encode_eof(out: &mut String) {
    let _ = out.write_str("# EOF\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(metrics: &ExporterMetrics) -> String {
        let mut out = String::new();
        metrics.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn only_watched_accounts_get_api_series_and_a_gone_one_stays_gone() {
        let metrics = ExporterMetrics::new();
        let api = &metrics.api;
        api.set_watched(["a", "b"]);
        api.request("ListBots", "a");
        api.request("ListBots", "b");
        api.error("ListBots", "b", ErrorKind::Throttled);
        // Accounts from a query string: one series, whatever the number.
        for i in 0..100 {
            api.request("GetBot", &format!("stranger-{i}"));
            api.error("GetBot", &format!("stranger-{i}"), ErrorKind::NotFound);
        }
        let t = text(&metrics);
        assert!(t.contains(r#"chime_api_requests_total{operation="ListBots",account_id="a"} 1"#));
        assert!(t.contains(r#"chime_api_requests_total{operation="ListBots",account_id="b"} 1"#));
        assert!(t.contains(r#"chime_api_requests_total{operation="GetBot",account_id=""} 100"#));
        assert!(t.contains(
            r#"chime_api_errors_total{operation="GetBot",account_id="",error="NotFoundException"} 100"#
        ));
        assert!(!t.contains("stranger"), "{t}");

        // b goes: its series go with it, and a call still in flight for it
        // is counted without its ID.
        api.set_watched(["a"]);
        api.request("ListBots", "b");
        let t = text(&metrics);
        assert!(!t.contains(r#"account_id="b""#), "{t}");
        assert!(t.contains(r#"chime_api_requests_total{operation="ListBots",account_id=""} 1"#));
        assert!(t.contains(r#"chime_api_requests_total{operation="ListBots",account_id="a"} 1"#));

        // Watched again: counted from zero under its ID.
        api.set_watched(["a", "b"]);
        api.request("ListBots", "b");
        assert!(text(&metrics)
            .contains(r#"chime_api_requests_total{operation="ListBots",account_id="b"} 1"#));
    }
}
