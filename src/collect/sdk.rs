//! The second source's cache: Chime SDK AppInstances and their
//! AppInstanceBots.
//!
//! It keeps the Chime cache's rules ([`super::BotCache`]) with the same
//! parts: the time-ordered [`Schedule`] says when each AppInstance is due,
//! [`CacheSettings`] gives the TTL (with jitter) and the failure backoff,
//! one refresh per AppInstance however many scrapes ask (coalesced), and
//! a failed fetch keeps the last good bots (stale-while-revalidate) with
//! `up` at 0. Calls go through the same [`crate::api::ApiLimits`].
//!
//! Per AppInstance and cache TTL: every page of ListAppInstanceBots. A
//! bot's details (DescribeAppInstanceBot) are fetched when the bot first
//! appears, then at most once per `--chime-sdk.describe-ttl`: the bot list
//! changes more than a bot's Lex configuration, and there is one Describe
//! per bot against one list call per 50 bots. A bot gone from the list is
//! gone from the state (and so from /metrics).
//!
//! Refreshes are spawned one per due AppInstance, without the Chime cache's
//! bounded queue of waiting fetches: AppInstances are few (a service quota
//! of 100 per AWS account and region), and each refresh waits for the
//! shared limits like any call.
//!
//! Which AppInstances: the configured ARNs, plus, for a target with
//! discovery, every one ListAppInstances shows (again every discovery TTL).
//! ListAppInstances also gives the configured ones their names; where it is
//! denied they are watched without a name. With `--shard.count`, each
//! exporter keeps its share of the AppInstances (by ARN, as accounts by id).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::cache::BotCache;
use super::schedule::Schedule;
use super::target::{CacheSettings, TargetFactory};
use crate::api::{
    retry_quota, ApiSettings, AppInstanceBotDetails, ChimeSdkApi, ErrorKind, Priority,
};
use crate::config::{SdkTargetConfig, Shard};

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// One set of AppInstances reached with one SDK client.
#[derive(Debug)]
pub struct SdkTarget {
    pub config: SdkTargetConfig,
    pub api: ChimeSdkApi,
    pub settings: CacheSettings,
}

impl SdkTarget {
    /// Builds the target's client with the settings every target shares
    /// (timeout, backoff, limits, counters: `factory`'s). The endpoint is
    /// the SDK's resolution (`AWS_ENDPOINT_URL_CHIME_SDK_IDENTITY`, else
    /// the regional endpoint), except with `--demo`, whose static
    /// credentials go with the embedded fake's URL.
    pub async fn build(config: &SdkTargetConfig, factory: &TargetFactory) -> Arc<SdkTarget> {
        let endpoint_url = factory
            .static_credentials
            .as_ref()
            .and(factory.endpoint_url.clone());
        let region = if config.resolve_region {
            crate::api::resolve_region(&config.region).await
        } else {
            config.region.clone()
        };
        tracing::info!(sdk_target = %config.name, region = %region, "Chime SDK Identity region");
        let settings = ApiSettings {
            region,
            endpoint_url,
            max_results: crate::api::SDK_PAGE_SIZE,
            timeout: factory.timeout,
            role_arn: config.role_arn.clone(),
            external_id: config.external_id.clone(),
            static_credentials: factory.static_credentials.clone(),
            sts_endpoint_url: None,
            retry_partition: format!("chime-sdk/{}", config.name),
            retry_quota: retry_quota(factory.rate_limit),
        };
        let api =
            ChimeSdkApi::connect(&settings, &factory.limits, Arc::clone(&factory.metrics)).await;
        Arc::new(SdkTarget {
            config: config.clone(),
            api,
            settings: CacheSettings {
                ttl: config.cache_ttl,
                backoff_min: factory.error_backoff,
                backoff_max: config.cache_ttl.max(factory.error_backoff),
            },
        })
    }
}

/// One bot of an AppInstance: what the list said, and its details once
/// described.
#[derive(Debug, Clone, PartialEq)]
pub struct SdkBot {
    pub arn: Arc<str>,
    /// The name from the list (the details' name wins once known).
    pub name: String,
    pub details: Option<Arc<AppInstanceBotDetails>>,
    /// When the details were fetched (for the describe TTL).
    described_at: Option<Instant>,
}

impl SdkBot {
    /// A bot as listed, with its details if known (for renderers' tests
    /// and benches; the cache makes its own).
    pub fn new(arn: &str, name: &str, details: Option<AppInstanceBotDetails>) -> SdkBot {
        SdkBot {
            arn: Arc::from(arn),
            name: name.to_owned(),
            details: details.map(Arc::new),
            described_at: None,
        }
    }
}

/// What is exported for one AppInstance.
#[derive(Debug, Clone, Default)]
pub struct InstanceState {
    /// The bots of the last good list, in the API's order (`None`: never
    /// listed).
    pub bots: Option<Arc<Vec<SdkBot>>>,
    pub up: bool,
    pub last_success_seconds: Option<f64>,
    pub consecutive_failures: u32,
    pub last_error: Option<(ErrorKind, f64)>,
    pub next_refresh_seconds: Option<f64>,
}

/// What the renderer and the status page need of one AppInstance.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub arn: Arc<str>,
    /// From ListAppInstances, when it was called and answered.
    pub name: Option<Arc<str>>,
    pub state: InstanceState,
}

#[derive(Debug, Clone)]
struct Watched {
    arn: Arc<str>,
    name: Option<Arc<str>>,
    target: Arc<SdkTarget>,
}

/// See the module documentation.
pub struct SdkCache {
    targets: Vec<Arc<SdkTarget>>,
    watched: RwLock<Arc<Vec<Watched>>>,
    states: RwLock<HashMap<Arc<str>, InstanceState>>,
    schedule: Mutex<Schedule>,
    /// Refreshes running now, by AppInstance (coalescing).
    refreshing: Mutex<HashMap<Arc<str>, watch::Receiver<bool>>>,
    generation: AtomicU64,
    /// Turns `true` when the first round of discovery set the AppInstances.
    published: watch::Sender<bool>,
    /// This exporter's share of the AppInstances.
    shard: Shard,
    /// The Chime cache, told this source's demand on the shared rate limit
    /// (its capacity ratio counts both sources' calls).
    capacity: Mutex<Option<Arc<BotCache>>>,
}

impl std::fmt::Debug for SdkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkCache")
            .field("app_instances", &self.watched().len())
            .finish_non_exhaustive()
    }
}

impl SdkCache {
    /// A cache watching the targets' configured AppInstances at once; the
    /// discovered ones come with [`SdkCache::run_discovery`].
    pub fn new(targets: Vec<Arc<SdkTarget>>, shard: Shard) -> Arc<SdkCache> {
        let cache = Arc::new(SdkCache {
            targets,
            shard,
            watched: RwLock::default(),
            states: RwLock::default(),
            schedule: Mutex::default(),
            refreshing: Mutex::default(),
            generation: AtomicU64::new(0),
            published: watch::channel(false).0,
            capacity: Mutex::new(None),
        });
        let configured = cache
            .targets
            .iter()
            .flat_map(|t| {
                t.config
                    .app_instance_arns
                    .iter()
                    .filter(|a| super::shard::owns(&shard, a.as_str()))
                    .map(|a| Watched {
                        arn: a.shared(),
                        name: None,
                        target: Arc::clone(t),
                    })
            })
            .collect();
        cache.set_watched(configured);
        cache
    }

    /// Tells `chime` this source's calls per second (now, and whenever the
    /// AppInstances or their page counts change).
    pub fn report_demand_to(&self, chime: Arc<BotCache>) {
        *self.capacity.lock().unwrap_or_else(|e| e.into_inner()) = Some(chime);
        self.report_demand();
    }

    fn report_demand(&self) {
        let chime = self
            .capacity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(chime) = chime {
            chime.set_other_demand(self.needed_per_second());
        }
    }

    /// Whether any AppInstance is (or may be) watched.
    pub fn is_enabled(&self) -> bool {
        !self.targets.is_empty()
    }

    /// The targets (for `check` and the status page).
    pub fn targets(&self) -> &[Arc<SdkTarget>] {
        &self.targets
    }

    /// Changes whenever any AppInstance's state or the set changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn watched(&self) -> Arc<Vec<Watched>> {
        self.watched
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the watched AppInstances: those that stay keep their data,
    /// those that went lose it (and their series).
    fn set_watched(&self, list: Vec<Watched>) {
        let keep: HashSet<&str> = list.iter().map(|w| &*w.arn).collect();
        {
            let mut states = self.states.write().unwrap_or_else(|e| e.into_inner());
            states.retain(|arn, _| keep.contains(&**arn));
            for w in &list {
                states.entry(Arc::clone(&w.arn)).or_default();
            }
            let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
            for old in self.watched().iter() {
                if !keep.contains(&*old.arn) {
                    tracing::info!(app_instance_arn = %old.arn, "AppInstance no longer watched");
                    schedule.remove(&old.arn);
                }
            }
            let now = Instant::now();
            for w in &list {
                if !schedule.contains(&w.arn) {
                    schedule.set(Arc::clone(&w.arn), now);
                }
            }
        }
        *self.watched.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.report_demand();
    }

    /// Every watched AppInstance's view, in order.
    pub fn views(&self) -> Vec<InstanceView> {
        let watched = self.watched();
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
        watched
            .iter()
            .map(|w| InstanceView {
                arn: Arc::clone(&w.arn),
                name: w.name.clone(),
                state: states.get(&w.arn).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// ListAppInstances calls per discovery TTL and ListAppInstanceBots
    /// pages per cache TTL, per second: this source's share of the rate
    /// limit (DescribeAppInstanceBot is left out: at most one per bot per
    /// describe TTL, and none once the bots are described).
    pub fn needed_per_second(&self) -> f64 {
        let watched = self.watched();
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
        let page = crate::api::SDK_PAGE_SIZE as usize;
        let lists: f64 = watched
            .iter()
            .map(|w| {
                let bots = states
                    .get(&w.arn)
                    .and_then(|s| s.bots.as_ref())
                    .map_or(0, |b| b.len());
                bots.div_ceil(page).max(1) as f64 / w.target.config.cache_ttl.as_secs_f64()
            })
            .sum();
        let discovery: f64 = self
            .targets
            .iter()
            .map(|t| 1.0 / t.config.discovery_ttl.as_secs_f64())
            .sum();
        lists + discovery
    }

    /// Discovery, every discovery TTL (the shortest of the targets'):
    /// ListAppInstances per target, for the names of the configured
    /// AppInstances and, with discovery, the others. A round in which a
    /// listing failed is tried again after the error backoff, doubling up
    /// to the discovery TTL (as the Chime source's discovery).
    pub async fn run_discovery(self: Arc<Self>) {
        let Some(first) = self.targets.first() else {
            return;
        };
        let every = self
            .targets
            .iter()
            .map(|t| t.config.discovery_ttl)
            .min()
            .unwrap_or(Duration::from_secs(900));
        let backoff = CacheSettings {
            ttl: every,
            backoff_min: first.settings.backoff_min,
            backoff_max: every,
        };
        let mut failures = 0u32;
        loop {
            let ok = self.discover_once().await;
            self.published.send_replace(true);
            failures = if ok { 0 } else { failures.saturating_add(1) };
            let wait = if ok {
                every
            } else {
                backoff.backoff(failures).min(every)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// One round; `false` when a target's listing failed.
    async fn discover_once(&self) -> bool {
        let mut ok = true;
        let old: HashMap<Arc<str>, Watched> = self
            .watched()
            .iter()
            .map(|w| (Arc::clone(&w.arn), w.clone()))
            .collect();
        let mut list: Vec<Watched> = Vec::new();
        let mut seen: HashSet<Arc<str>> = HashSet::new();
        for target in &self.targets {
            let found = match target.api.list_app_instances().await {
                Ok(found) => Some(found),
                Err(err) => {
                    ok = false;
                    tracing::warn!(
                        sdk_target = %target.config.name,
                        error = %err.kind,
                        detail = %err.message,
                        "ListAppInstances failed; configured AppInstances stay watched, discovered ones keep the last round's"
                    );
                    None
                }
            };
            let names: HashMap<&str, &str> = found
                .iter()
                .flatten()
                .map(|a| (a.arn.as_str(), a.name.as_str()))
                .collect();
            let name_of = |arn: &str| -> Option<Arc<str>> {
                names
                    .get(arn)
                    .map(|n| Arc::from(*n))
                    .or_else(|| old.get(arn).and_then(|w| w.name.clone()))
            };
            let shard = self.shard;
            let mut push = |arn: Arc<str>, list: &mut Vec<Watched>| {
                if super::shard::owns(&shard, &arn) && seen.insert(Arc::clone(&arn)) {
                    list.push(Watched {
                        name: name_of(&arn),
                        arn,
                        target: Arc::clone(target),
                    });
                }
            };
            for arn in &target.config.app_instance_arns {
                push(arn.shared(), &mut list);
            }
            if target.config.discover {
                match &found {
                    Some(found) => {
                        for a in found {
                            push(Arc::from(a.arn.as_str()), &mut list);
                        }
                    }
                    // The listing failed: keep what the last round found.
                    None => {
                        for w in self.watched().iter() {
                            if Arc::ptr_eq(&w.target, target) {
                                push(Arc::clone(&w.arn), &mut list);
                            }
                        }
                    }
                }
            }
        }
        self.set_watched(list);
        ok
    }

    /// Makes sure every AppInstance is fresh or being refreshed, waiting up
    /// to `budget` for those that never had data (as
    /// [`super::BotCache::prepare_scrape`]).
    pub async fn prepare_scrape(self: &Arc<Self>, budget: Duration) {
        if self.targets.is_empty() {
            return;
        }
        let started = Instant::now();
        if !*self.published.borrow() {
            let mut published = self.published.subscribe();
            let _ = tokio::time::timeout(budget, published.wait_for(|p| *p)).await;
        }
        let budget = budget.saturating_sub(started.elapsed());
        let due: Vec<Arc<str>> = {
            let schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
            schedule.due(Instant::now()).cloned().collect()
        };
        let mut waiting = Vec::new();
        for arn in &due {
            let done = self.refresh(arn);
            if !self.has_data(arn) {
                waiting.push(done);
            }
        }
        let _ = tokio::time::timeout(budget, async {
            for mut done in waiting {
                let _ = done.wait_for(|d| *d).await;
            }
        })
        .await;
    }

    fn has_data(&self, arn: &str) -> bool {
        self.states
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(arn)
            .is_some_and(|s| s.bots.is_some())
    }

    /// Starts the refresh of one AppInstance unless one runs (one per
    /// AppInstance however many scrapes ask).
    fn refresh(self: &Arc<Self>, arn: &Arc<str>) -> watch::Receiver<bool> {
        let mut refreshing = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = refreshing.get(arn) {
            return done.clone();
        }
        let due = self
            .schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_due(arn, Instant::now());
        if !due {
            return watch::channel(true).1;
        }
        let (tx, rx) = watch::channel(false);
        refreshing.insert(Arc::clone(arn), rx.clone());
        drop(refreshing);
        let this = Arc::clone(self);
        let arn = Arc::clone(arn);
        tokio::spawn(async move {
            if let Some(lifetime) = this.fetch(&arn).await {
                let still = this.watched().iter().any(|w| w.arn == arn);
                if still {
                    this.schedule
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .set(Arc::clone(&arn), Instant::now() + lifetime);
                }
            }
            this.refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&arn);
            let _ = tx.send(true);
        });
        rx
    }

    /// One fetch of one AppInstance: the list, then the Describes due.
    /// Records the result and says how long it holds (`None`: no longer
    /// watched).
    async fn fetch(&self, arn: &Arc<str>) -> Option<Duration> {
        let target = self
            .watched()
            .iter()
            .find(|w| w.arn == *arn)
            .map(|w| Arc::clone(&w.target))?;
        let previous = self
            .states
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(arn)
            .and_then(|s| s.bots.clone());
        let priority = if previous.is_some() {
            Priority::Refresh
        } else {
            Priority::First
        };
        let started = Instant::now();
        let result = target.api.list_app_instance_bots(arn, priority).await;
        let result = match result {
            Ok(listed) => Ok(self
                .describe_due(&target, listed, previous.as_deref(), priority)
                .await),
            Err(err) => Err(err),
        };
        let mut states = self.states.write().unwrap_or_else(|e| e.into_inner());
        let state = states.get_mut(arn)?;
        let now = unix_now();
        let lifetime = match result {
            Ok(bots) => {
                tracing::debug!(
                    app_instance_arn = %arn,
                    bots = bots.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "fetched AppInstanceBots"
                );
                state.bots = Some(Arc::new(bots));
                state.up = true;
                state.last_success_seconds = Some(now);
                state.consecutive_failures = 0;
                state.last_error = None;
                target.settings.ttl_with_jitter()
            }
            Err(err) => {
                state.up = false;
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                state.last_error = Some((err.kind, now));
                let backoff = target.settings.backoff(state.consecutive_failures);
                tracing::warn!(
                    app_instance_arn = %arn,
                    error = %err.kind,
                    detail = %err.message,
                    consecutive_failures = state.consecutive_failures,
                    retry_in_ms = backoff.as_millis() as u64,
                    "listing AppInstanceBots failed; serving the last good data"
                );
                backoff
            }
        };
        state.next_refresh_seconds = Some(now + lifetime.as_secs_f64());
        drop(states);
        self.generation.fetch_add(1, Ordering::AcqRel);
        // Its page count may have changed (a no-op unless it did).
        self.report_demand();
        Some(lifetime)
    }

    /// The listed bots with their details: kept from the last fetch while
    /// younger than the describe TTL, else fetched. A bot whose Describe
    /// answers 404 was deleted since the list: it is left out. Any other
    /// failure keeps the bot with its old details (or none), to be tried
    /// again at the next list (it was counted as an API error).
    async fn describe_due(
        &self,
        target: &SdkTarget,
        listed: Vec<crate::api::AppInstanceBotSummary>,
        previous: Option<&Vec<SdkBot>>,
        priority: Priority,
    ) -> Vec<SdkBot> {
        let old: HashMap<&str, &SdkBot> = previous
            .into_iter()
            .flatten()
            .map(|b| (&*b.arn, b))
            .collect();
        let ttl = target.config.describe_ttl;
        let mut out = Vec::with_capacity(listed.len());
        for summary in listed {
            let kept = old.get(summary.arn.as_str());
            let fresh = kept
                .and_then(|b| b.described_at)
                .is_some_and(|at| at.elapsed() < ttl);
            if fresh {
                if let Some(b) = kept {
                    let mut b = (*b).clone();
                    b.name = summary.name;
                    out.push(b);
                }
                continue;
            }
            let arn: Arc<str> = kept
                .map(|b| Arc::clone(&b.arn))
                .unwrap_or_else(|| Arc::from(summary.arn.as_str()));
            match target.api.describe_app_instance_bot(&arn, priority).await {
                Ok(details) => out.push(SdkBot {
                    arn,
                    name: summary.name,
                    details: Some(Arc::new(details)),
                    described_at: Some(Instant::now()),
                }),
                Err(err) if err.kind == ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::warn!(
                        app_instance_bot_arn = %arn,
                        error = %err.kind,
                        detail = %err.message,
                        "DescribeAppInstanceBot failed; the bot keeps its last details"
                    );
                    out.push(SdkBot {
                        arn,
                        name: summary.name,
                        details: kept.and_then(|b| b.details.clone()),
                        described_at: kept.and_then(|b| b.described_at),
                    });
                }
            }
        }
        out
    }
}
