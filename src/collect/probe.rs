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
//! A probe answers within the scraper's budget. (Its exposition is built in
//! `expose::probe`.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;

use super::discovery::Discovery;
use super::target::Target;
use crate::api::{BotRecord, ErrorKind};

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

/// The probe cache, and the targets probes go through.
#[derive(Debug)]
pub struct Prober {
    cache: Cache<(String, String), Arc<ProbeOutcome>>,
    discovery: Arc<Discovery>,
}

/// What one probe found, ready to render.
#[derive(Debug)]
pub struct ProbeResult {
    pub outcome: Option<Arc<ProbeOutcome>>,
    pub duration: Duration,
    /// The AWS account that owns the Chime account, when known.
    pub aws_account_id: Option<Arc<str>>,
}

impl ProbeResult {
    /// The bot, when GetBot found it.
    pub fn bot(&self) -> Option<&BotRecord> {
        self.outcome.as_ref().and_then(|o| o.bot.as_ref())
    }
}

/// Why a probe could not be made at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeRefused {
    /// No target is configured to probe through.
    NoTarget,
}

impl Prober {
    pub fn new(discovery: Arc<Discovery>) -> Prober {
        Prober {
            cache: Cache::builder()
                .name("chime-getbot")
                .max_capacity(100_000)
                .expire_after(ProbeExpiry)
                .build(),
            discovery,
        }
    }

    /// The target a probe of `account_id` goes through: the account's own if
    /// it is watched (with what is known of its AWS account), otherwise the
    /// first target.
    fn target_for(&self, account_id: &str) -> Option<(Arc<Target>, Option<Arc<str>>)> {
        if let Some(watched) = self.discovery.cache().lookup(account_id) {
            let aws = watched.aws_account_id_shared();
            return Some((watched.target, aws));
        }
        let first = self.discovery.targets().into_iter().next()?;
        let aws = first.config.role_aws_account().map(Arc::from);
        Some((first, aws))
    }

    /// Probes one bot, waiting at most `budget`. A success is reused for the
    /// target's cache TTL, a failure for its error backoff.
    pub async fn probe(
        &self,
        account_id: &str,
        bot_id: &str,
        budget: Duration,
    ) -> Result<ProbeResult, ProbeRefused> {
        let started = Instant::now();
        let (target, aws_account_id) = self.target_for(account_id).ok_or(ProbeRefused::NoTarget)?;
        let (api, ttl, backoff) = (
            target.api.clone(),
            target.settings.ttl,
            target.settings.backoff_min,
        );
        let key = (account_id.to_owned(), bot_id.to_owned());
        if let Some(hit) = self.cache.get(&key).await {
            return Ok(ProbeResult {
                outcome: Some(hit),
                duration: started.elapsed(),
                aws_account_id,
            });
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
        Ok(ProbeResult {
            outcome,
            duration: started.elapsed(),
            aws_account_id,
        })
    }
}
