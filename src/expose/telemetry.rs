//! The exporter's own telemetry: everything that is not account data (API
//! requests, errors and latency, cache use, build, shard). It lives in a
//! `prometheus-client` registry, and is encoded at every scrape, since its
//! counters move with every scrape — except the API calls per account,
//! which grow with the accounts and are rendered per account like the
//! account data (see [`super::calls`]). The counters themselves are owned by the
//! layers that count ([`ApiMetrics`], [`CacheStats`]); this module only
//! names and registers them.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use prometheus_client::metrics::counter::Counter;

use super::calls::CallsRenderer;
use super::process::ProcessCollector;
use super::render::AccountsPart;
use super::text::Format;
use crate::api::ApiMetrics;
use crate::collect::{BotCache, CacheStats, Discovery};
use crate::config::{ReloadStatus, Shard};

use crate::version as build;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
    rustc_version: &'static str,
}

/// The registry of the exporter's own metrics.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    http: HttpRequests,
    calls: CallsRenderer,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    handler: &'static str,
    code: u16,
}

/// `chime_exporter_http_requests_total{handler,code}`: the exporter's own
/// answers, by handler (a fixed set) and status code, so that 503s from
/// `--web.max-requests`, 401s and 404s show up. Counted by the HTTP layer.
#[derive(Clone, Debug, Default)]
pub struct HttpRequests(Family<HttpLabels, Counter>);

impl HttpRequests {
    /// Every value of the `handler` label.
    pub const HANDLERS: [&'static str; 9] = [
        "metrics",
        "probe",
        "status",
        "landing",
        "healthy",
        "ready",
        "reload",
        "other",
        "connection",
    ];

    /// One answer; `handler` outside [`HttpRequests::HANDLERS`] counts as
    /// `other`.
    pub fn inc(&self, handler: &'static str, code: u16) {
        let handler = if Self::HANDLERS.contains(&handler) {
            handler
        } else {
            "other"
        };
        self.0.get_or_create(&HttpLabels { handler, code }).inc();
    }
}

/// What the telemetry reads at scrape time: the states of the reloadable
/// files, the targets' rounds of discovery, the capacity.
#[derive(Debug, Default)]
pub struct Sources {
    /// `--config.file`.
    pub config: Arc<ReloadStatus>,
    /// `--web.config.file`.
    pub web_config: Arc<ReloadStatus>,
    pub discovery: Option<Arc<Discovery>>,
    pub cache: Option<Arc<BotCache>>,
}

/// `chime_exporter_config_last_reload_*` and
/// `chime_exporter_web_config_last_reload_*`, as blackbox_exporter names
/// them: always exported (a success at start when there is no file), so
/// that dashboards and alerts work in every setup.
#[derive(Debug)]
struct ReloadCollector(Sources);

fn encode_reload(
    encoder: &mut DescriptorEncoder,
    prefix: &str,
    what: &str,
    status: &ReloadStatus,
) -> std::fmt::Result {
    let name = format!("{prefix}_last_reload_successful");
    let help =
        format!("Whether the last reload of {what} succeeded (1) or was refused or failed (0).");
    ConstGauge::new(i64::from(status.successful())).encode(
        encoder
            .encode_descriptor(&name, &help, None, MetricType::Gauge)?
            .encode_family(&[("", ""); 0])?,
    )?;
    let name = format!("{prefix}_last_reload_success_timestamp_seconds");
    let help =
        format!("Unix time {what} was last loaded successfully (the start when there is no file).");
    ConstGauge::new(status.last_success_seconds()).encode(
        encoder
            .encode_descriptor(&name, &help, None, MetricType::Gauge)?
            .encode_family(&[("", ""); 0])?,
    )
}

impl Collector for ReloadCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        encode_reload(
            &mut encoder,
            "chime_exporter_config",
            "--config.file",
            &self.0.config,
        )?;
        encode_reload(
            &mut encoder,
            "chime_exporter_web_config",
            "--web.config.file",
            &self.0.web_config,
        )?;
        if let Some(discovery) = &self.0.discovery {
            let statuses = discovery.statuses();
            {
                let mut up = encoder.encode_descriptor(
                    "chime_target_up",
                    "Whether the target's credentials resolved and its last round of discovery succeeded (1) or not (0)",
                    None,
                    MetricType::Gauge,
                )?;
                for (target, status) in &statuses {
                    let labels = [("target", target.config.name.as_str())];
                    ConstGauge::new(i64::from(status.up)).encode(up.encode_family(&labels)?)?;
                }
            }
            let mut last = encoder.encode_descriptor(
                "chime_discovery_last_success_timestamp_seconds",
                "Unix time of the target's last successful round of discovery (account details and listing)",
                None,
                MetricType::Gauge,
            )?;
            for (target, status) in &statuses {
                if let Some(ts) = status.last_success_seconds {
                    let labels = [("target", target.config.name.as_str())];
                    ConstGauge::new(ts).encode(last.encode_family(&labels)?)?;
                }
            }
        }
        if let Some(cache) = &self.0.cache {
            let capacity = cache.capacity();
            let mut family = encoder.encode_descriptor(
                "chime_exporter_refresh_capacity_ratio",
                "API calls the watched accounts need per second over what --chime.rate-limit allows; above 1 refreshes fall behind their cache TTL",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(capacity.ratio).encode(family.encode_family(&[("", ""); 0])?)?;
        }
        Ok(())
    }
}

impl Telemetry {
    /// Registers the counters of `api` and `cache`, the build and the shard.
    ///
    /// (`prometheus-client` ends every help text with a period of its own,
    /// so the texts here have none.)
    pub fn new(
        api: &Arc<ApiMetrics>,
        cache: &CacheStats,
        shard: Shard,
        sources: Sources,
    ) -> Telemetry {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        registry.register_collector(Box::new(ReloadCollector(sources)));
        let http = HttpRequests::default();
        registry.register(
            "chime_exporter_http_requests",
            "HTTP requests answered by the exporter, by handler and status code",
            http.0.clone(),
        );
        let calls = CallsRenderer::new(Arc::clone(api));
        let api = api.families();
        registry.register_with_unit(
            "chime_api_request_duration",
            "Duration of HTTP requests to the Chime API",
            Unit::Seconds,
            api.duration,
        );
        registry.register(
            "chime_api_retries_exhausted",
            "API operations that gave up before their last attempt because the retry quota was spent",
            api.retries_exhausted,
        );
        registry.register(
            "chime_cache_requests",
            "Per-account cache lookups made by scrapes",
            cache.requests.clone(),
        );
        registry.register(
            "chime_cache_hits",
            "Per-account cache lookups answered without starting an API fetch",
            cache.hits.clone(),
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
            "A metric with a constant '1' value labeled by version, revision and rustc_version of chime_exporter",
            build_info,
        );
        let shard_ordinal = Gauge::<i64>::default();
        let shard_total = Gauge::<i64>::default();
        shard_ordinal.set(i64::from(shard.index));
        shard_total.set(i64::from(shard.count));
        registry.register(
            "chime_exporter_shard_ordinal",
            "The shard of this exporter (--shard.index)",
            shard_ordinal,
        );
        registry.register(
            "chime_exporter_shards",
            "The number of shards (--shard.count)",
            shard_total,
        );
        Telemetry {
            registry,
            http,
            calls,
        }
    }

    /// `chime_api_requests_total` and `chime_api_errors_total`, which grow
    /// with the accounts and are therefore rendered apart (see
    /// [`super::calls`]).
    pub fn calls(&self, gzipped: bool, format: Format) -> AccountsPart {
        self.calls.get(gzipped, format)
    }

    /// The counter of the exporter's own HTTP answers.
    pub fn http_requests(&self) -> HttpRequests {
        self.http.clone()
    }

    /// Encodes the telemetry families (without the `# EOF` line).
    pub fn encode(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ErrorKind, Operation};

    fn text(telemetry: &Telemetry) -> String {
        let mut out = String::new();
        for chunk in telemetry.calls(false, Format::OpenMetrics).chunks.iter() {
            out.push_str(std::str::from_utf8(chunk).unwrap());
        }
        telemetry.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn help_texts_end_in_one_period() {
        let api = Arc::new(ApiMetrics::default());
        let telemetry = Telemetry::new(
            &api,
            &CacheStats::default(),
            Shard::default(),
            Sources::default(),
        );
        // Families without series print nothing: give each one.
        api.request(Operation::ListBots, "");
        api.error(Operation::ListBots, "", ErrorKind::Throttled);
        api.observe_duration(Operation::ListBots, std::time::Duration::from_millis(5));
        let t = text(&telemetry);
        let helps: Vec<&str> = t.lines().filter(|l| l.starts_with("# HELP")).collect();
        assert!(helps.len() >= 13, "{t}");
        for help in helps {
            assert!(help.ends_with('.') && !help.ends_with(".."), "{help}");
        }
    }

    #[test]
    fn only_watched_accounts_get_api_series_and_a_gone_one_stays_gone() {
        let api = Arc::new(ApiMetrics::default());
        let telemetry = Telemetry::new(
            &api,
            &CacheStats::default(),
            Shard::default(),
            Sources::default(),
        );
        api.set_watched(["a", "b"]);
        api.request(Operation::ListBots, "a");
        api.request(Operation::ListBots, "b");
        api.error(Operation::ListBots, "b", ErrorKind::Throttled);
        // Accounts from a query string: one series, whatever the number.
        for i in 0..100 {
            api.request(Operation::GetBot, &format!("stranger-{i}"));
            api.error(
                Operation::GetBot,
                &format!("stranger-{i}"),
                ErrorKind::NotFound,
            );
        }
        let t = text(&telemetry);
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
        api.request(Operation::ListBots, "b");
        let t = text(&telemetry);
        assert!(!t.contains(r#"account_id="b""#), "{t}");
        assert!(t.contains(r#"chime_api_requests_total{operation="ListBots",account_id=""} 1"#));
        assert!(t.contains(r#"chime_api_requests_total{operation="ListBots",account_id="a"} 1"#));

        // Watched again: counted from zero under its ID.
        api.set_watched(["a", "b"]);
        api.request(Operation::ListBots, "b");
        assert!(text(&telemetry)
            .contains(r#"chime_api_requests_total{operation="ListBots",account_id="b"} 1"#));
    }
}
