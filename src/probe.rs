//! `/probe?account_id=A&bot_id=B`: one bot, on demand, through GetBot: the
//! Prometheus multi-target pattern (as blackbox_exporter and snmp_exporter
//! do), so a list of critical bots can be probed from Prometheus's own
//! target list.
//!
//! GetBot answers go through their own moka cache (a success for the
//! account's cache TTL, a failure for the error backoff), with concurrent
//! probes of one bot sharing one call. A failed probe is a 200 with
//! `chime_probe_success 0`, the error counted in `chime_api_errors_total`
//! (under the account's ID only if it is watched: see `ApiMetrics`).
//! A probe answers within the scraper's budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::bots::BotRecord;
use crate::chime::{ChimeApi, ErrorKind};
use crate::metrics::{encode_bot_families, BotRow};

/// The answer of one GetBot, as cached.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    pub bot: Option<BotRecord>,
    pub error: Option<ErrorKind>,
    lifetime: Duration,
}

struct ProbeExpiry;

impl Expiry<(String, String), Arc<ProbeOutcome>> for ProbeExpiry {
    fn expire_after_create(
        &self,
        _: &(String, String),
        value: &Arc<ProbeOutcome>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

/// The probe cache.
#[derive(Debug, Clone)]
pub struct Prober {
    cache: Cache<(String, String), Arc<ProbeOutcome>>,
}

impl Default for Prober {
    fn default() -> Self {
        Prober {
            cache: Cache::builder()
                .name("chime-getbot")
                .max_capacity(100_000)
                .expire_after(ProbeExpiry)
                .build(),
        }
    }
}

/// What one probe found, ready to render.
#[derive(Debug)]
pub struct ProbeResult {
    pub outcome: Option<Arc<ProbeOutcome>>,
    pub duration: Duration,
}

impl Prober {
    /// Probes one bot, waiting at most `budget`. `ttl` is how long a success
    /// is reused, `backoff` how long a failure is.
    pub async fn probe(
        &self,
        api: ChimeApi,
        account_id: &str,
        bot_id: &str,
        ttl: Duration,
        backoff: Duration,
        budget: Duration,
    ) -> ProbeResult {
        let started = Instant::now();
        let key = (account_id.to_owned(), bot_id.to_owned());
        if let Some(hit) = self.cache.get(&key).await {
            return ProbeResult {
                outcome: Some(hit),
                duration: started.elapsed(),
            };
        }
        // In its own task: a probe that runs out of budget does not cancel
        // the call other probes of the same bot wait for.
        let cache = self.cache.clone();
        let (account, bot) = key.clone();
        let call = tokio::spawn(async move {
            cache
                .get_with(key, async move {
                    Arc::new(match api.get_bot(&account, &bot).await {
                        Ok(found) => ProbeOutcome {
                            bot: Some(found),
                            error: None,
                            lifetime: ttl,
                        },
                        Err(err) => ProbeOutcome {
                            bot: None,
                            error: Some(err.kind),
                            lifetime: backoff,
                        },
                    })
                })
                .await
        });
        let outcome = tokio::time::timeout(budget, call)
            .await
            .ok()
            .and_then(Result::ok);
        ProbeResult {
            outcome,
            duration: started.elapsed(),
        }
    }
}

#[derive(Debug)]
struct ProbeCollector {
    account_id: String,
    aws_account_id: Option<String>,
    result: ProbeResult,
}

impl Collector for ProbeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let bot = self.result.outcome.as_ref().and_then(|o| o.bot.as_ref());
        {
            let mut family = encoder.encode_descriptor(
                "chime_probe_success",
                "Whether GetBot found the bot (1) or not (0).",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::from(bot.is_some()))
                .encode(family.encode_family(&[("", ""); 0])?)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "chime_probe_duration_seconds",
                "How long the probe took (near zero when answered from the cache).",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(self.result.duration.as_secs_f64())
                .encode(family.encode_family(&[("", ""); 0])?)?;
        }
        let mut account = vec![("account_id", self.account_id.as_str())];
        if let Some(aws) = &self.aws_account_id {
            account.push(("aws_account_id", aws.as_str()));
        }
        let rows: Vec<BotRow<'_>> = bot
            .map(|bot| BotRow {
                account: &account,
                bot: bot.as_bot(),
            })
            .into_iter()
            .collect();
        encode_bot_families(&mut encoder, &rows)
    }
}

/// Encodes a probe's answer (with `# EOF`).
pub fn encode(account_id: &str, aws_account_id: Option<String>, result: ProbeResult) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ProbeCollector {
        account_id: account_id.to_owned(),
        aws_account_id,
        result,
    }));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        tracing::error!("encoding the probe failed");
    }
    out
}
