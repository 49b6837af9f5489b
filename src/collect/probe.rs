//! `/probe?account_id=A&bot_id=B`: one bot, on demand, through GetBot: the
//! Prometheus multi-target pattern (as blackbox_exporter and snmp_exporter
//! do), so a list of critical bots can be probed from Prometheus's own
//! target list. (Its exposition is built in `expose::probe`.)
//!
//! Anyone who can reach the exporter can ask for a probe, so a probe is
//! bounded before it costs anything:
//!
//! * **Scope.** Only accounts this exporter watches are probed, through
//!   their own target's credentials; another account is refused without an
//!   API call ([`ProbeRefused::NotWatched`]) unless the operator allowed it
//!   (`--probe.allow-unwatched-accounts`: then through the first target).
//! * **Budget.** At most `--probe.concurrency` distinct GetBot calls are in
//!   flight or waiting at once. A probe of a bot whose call is already
//!   running waits for that call and costs nothing; a probe that would need
//!   a new call when the budget is spent is refused at once
//!   ([`ProbeRefused::Busy`]) rather than queued.
//! * **Priority.** A probe's call steps aside for every collection call
//!   that waits for the API limits (`api::Priority::Probe`), so probes never
//!   delay the watched accounts' refreshes.
//!
//! GetBot answers are cached (a success for the account's cache TTL, a
//! failure for the error backoff). A failed probe is a 200 with
//! `chime_probe_success 0`, the error counted in `chime_api_errors_total`.
//! A probe answers within the scraper's budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;
use tokio::sync::{watch, Semaphore};

use super::discovery::Discovery;
use super::target::Target;
use crate::api::{traced, Attempt, BotRecord, ErrorKind};
use crate::config::ProbeSettings;

/// The answer of one GetBot, as cached.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    pub bot: Option<BotRecord>,
    pub error: Option<ErrorKind>,
    /// The HTTP attempts the call made.
    pub attempts: Vec<Attempt>,
    lifetime: Duration,
}

/// How a probe was answered (for `debug=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// From the cache.
    Cache,
    /// By a call another probe of the same bot had started.
    Joined,
    /// By a call of its own.
    Called,
}

type Key = (String, String);

/// The answer of a call in flight, once it comes.
type Answer = watch::Receiver<Option<Arc<ProbeOutcome>>>;

struct ProbeExpiry;

impl Expiry<Key, Arc<ProbeOutcome>> for ProbeExpiry {
    fn expire_after_create(
        &self,
        _: &Key,
        value: &Arc<ProbeOutcome>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

/// The probe cache, the calls in flight, and the targets probes go through.
#[derive(Debug)]
pub struct Prober {
    cache: Cache<Key, Arc<ProbeOutcome>>,
    /// Calls in flight, by bot: later probes of the same bot wait on them.
    running: Arc<Mutex<HashMap<Key, Answer>>>,
    budget: Arc<Semaphore>,
    settings: ProbeSettings,
    discovery: Arc<Discovery>,
}

/// What one probe found, ready to render.
#[derive(Debug)]
pub struct ProbeResult {
    /// `None` when the call did not answer within the budget.
    pub outcome: Option<Arc<ProbeOutcome>>,
    pub duration: Duration,
    /// The AWS account that owns the Chime account, when known.
    pub aws_account_id: Option<Arc<str>>,
    pub answered: Answered,
    /// The target the probe went through.
    pub target: String,
}

impl ProbeResult {
    /// The bot, when GetBot found it.
    pub fn bot(&self) -> Option<&BotRecord> {
        self.outcome.as_ref().and_then(|o| o.bot.as_ref())
    }
}

/// Why a probe was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeRefused {
    /// No target is configured to probe through.
    NoTarget,
    /// The account is not watched, and probing others is not allowed.
    NotWatched,
    /// The budget of GetBot calls is spent; try again shortly.
    Busy,
    /// The exporter is starting: which accounts it watches is not known yet.
    Starting,
}

impl Prober {
    pub fn new(discovery: Arc<Discovery>, settings: ProbeSettings) -> Prober {
        Prober {
            cache: Cache::builder()
                .name("chime-getbot")
                .max_capacity(100_000)
                .expire_after(ProbeExpiry)
                .build(),
            running: Arc::default(),
            budget: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            discovery,
        }
    }

    /// The target a probe of `account_id` goes through, with what is known
    /// of its AWS account (see the module documentation).
    fn target_for(
        &self,
        account_id: &str,
    ) -> Result<(Arc<Target>, Option<Arc<str>>), ProbeRefused> {
        if !self.discovery.cache().is_published() {
            return Err(ProbeRefused::Starting);
        }
        if let Some(watched) = self.discovery.cache().lookup(account_id) {
            let aws = watched.aws_account_id_shared();
            return Ok((watched.target, aws));
        }
        if !self.settings.allow_unwatched {
            return Err(ProbeRefused::NotWatched);
        }
        let first = self
            .discovery
            .targets()
            .into_iter()
            .next()
            .ok_or(ProbeRefused::NoTarget)?;
        let aws = first.config.role_aws_account().map(Arc::from);
        Ok((first, aws))
    }

    /// Probes one bot, waiting at most `budget` for its answer.
    pub async fn probe(
        &self,
        account_id: &str,
        bot_id: &str,
        budget: Duration,
    ) -> Result<ProbeResult, ProbeRefused> {
        let started = Instant::now();
        let (target, aws_account_id) = self.target_for(account_id)?;
        let key = (account_id.to_owned(), bot_id.to_owned());
        let target_name = target.config.name.clone();
        let done = |outcome, answered| ProbeResult {
            outcome,
            duration: started.elapsed(),
            aws_account_id: aws_account_id.clone(),
            answered,
            target: target_name.clone(),
        };
        if let Some(hit) = self.cache.get(&key).await {
            return Ok(done(Some(hit), Answered::Cache));
        }
        let (mut answer, answered) = self.call(target, key)?;
        let outcome = tokio::time::timeout(budget, async {
            answer
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|o| o.clone())
        })
        .await
        .ok()
        .flatten();
        Ok(done(outcome, answered))
    }

    /// The GetBot call for `key`: the one already running, or a new one if
    /// the budget allows.
    fn call(&self, target: Arc<Target>, key: Key) -> Result<(Answer, Answered), ProbeRefused> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(answer) = running.get(&key) {
            return Ok((answer.clone(), Answered::Joined));
        }
        let permit = Arc::clone(&self.budget)
            .try_acquire_owned()
            .map_err(|_| ProbeRefused::Busy)?;
        let (tx, rx) = watch::channel(None);
        running.insert(key.clone(), rx.clone());
        drop(running);
        // In its own task: a probe that runs out of budget does not cancel
        // the call other probes of the same bot wait for.
        let cache = self.cache.clone();
        let (api, ttl, backoff) = (
            target.api.clone(),
            target.settings.ttl,
            target.settings.backoff_min,
        );
        let running = Arc::clone(&self.running);
        tokio::spawn(async move {
            let (account, bot) = &key;
            let (result, attempts) = traced(api.get_bot(account, bot)).await;
            let outcome = Arc::new(match result {
                Ok(found) => ProbeOutcome {
                    bot: Some(found),
                    error: None,
                    attempts,
                    lifetime: ttl,
                },
                Err(err) => ProbeOutcome {
                    bot: None,
                    error: Some(err.kind),
                    attempts,
                    lifetime: backoff,
                },
            });
            cache.insert(key.clone(), Arc::clone(&outcome)).await;
            running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            drop(permit);
            let _ = tx.send(Some(outcome));
        });
        Ok((rx, Answered::Called))
    }
}
