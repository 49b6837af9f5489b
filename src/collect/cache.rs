//! The cache between scrapes and the Chime API.
//!
//! Two structures, each doing one job:
//!
//! * A moka [`Cache`] of **fetch outcomes**, keyed by account, decides *when*
//!   the API may be called. A success lives for the TTL (plus up to 10 %
//!   jitter, so that accounts fetched together do not all expire in the same
//!   second); a failure lives for an exponential backoff with jitter. While an
//!   entry lives, no scrape causes a fetch. When it has expired, the next
//!   scrape starts one through `get_with`, which coalesces every concurrent
//!   caller for that key into a single fetch.
//! * A map of **account states** holds *what* is exported: the last good
//!   snapshot (kept across failures and across TTL expiry), whether the last
//!   fetch succeeded, and when one last did. A failed fetch never replaces
//!   the snapshot, so a throttled or broken API is never shown as "0 bots".
//!
//! Fetches run in their own tasks, so a scrape that gives up (its budget ran
//! out, the client went away) never cancels a fetch another scrape waits
//! for. Once an account has data, scrapes do not wait for refreshes at all:
//! they serve the last snapshot while one refresh runs in the background
//! (stale-while-revalidate).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::future::Cache;
use moka::Expiry;
use tokio::sync::watch;

/// Waits until a refresh reports that it has finished (or its task ended).
async fn wait_done(mut done: watch::Receiver<bool>) {
    let _ = done.wait_for(|finished| *finished).await;
}

use prometheus_client::metrics::counter::Counter;

use super::bots::{BotList, BotListBuilder};
use super::capacity::{Capacity, Demand};
use super::target::{Target, Watched};
use crate::api::{AccountInfo, ApiMetrics, ErrorKind};

/// The bots of one account, as of one successful fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub bots: BotList,
}

/// What is exported for one account.
#[derive(Debug, Clone, Default)]
pub struct AccountState {
    /// The last good snapshot, if any fetch ever succeeded.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Whether the last finished fetch succeeded.
    pub up: bool,
    /// Unix time of the last successful fetch.
    pub last_success_seconds: Option<f64>,
    /// Failed fetches since the last success; drives the backoff.
    pub consecutive_failures: u32,
    /// Why the last fetch failed, and when (Unix seconds); `None` once a
    /// fetch succeeded again.
    pub last_error: Option<(ErrorKind, f64)>,
    /// When the account's entry expires and a scrape may fetch it again
    /// (Unix seconds).
    pub next_refresh_seconds: Option<f64>,
}

impl AccountState {
    /// Takes the bots of a successful fetch made at `now` (Unix seconds).
    ///
    /// Bots seldom change between two fetches. An equal list keeps the
    /// snapshot it equals: the new copy is freed at once, and the renderer,
    /// seeing the same snapshot, keeps the bots' rendered families (see
    /// [`crate::render`]), so that a refresh that finds nothing new leaves
    /// nothing new in memory but the account's own few samples.
    pub fn record_success(&mut self, bots: BotList, now: f64) {
        match &self.snapshot {
            Some(old) if old.bots == bots => {}
            _ => self.snapshot = Some(Arc::new(Snapshot { bots })),
        }
        self.up = true;
        self.last_success_seconds = Some(now);
        self.consecutive_failures = 0;
        self.last_error = None;
    }

    /// Takes a failed fetch made at `now`: the snapshot stays.
    pub fn record_failure(&mut self, kind: ErrorKind, now: f64) {
        self.up = false;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_error = Some((kind, now));
    }
}

/// How long a fetch outcome keeps the API from being called again.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    lifetime: Duration,
}

struct OutcomeExpiry;

impl Expiry<String, Outcome> for OutcomeExpiry {
    fn expire_after_create(&self, _: &String, value: &Outcome, _: Instant) -> Option<Duration> {
        Some(value.lifetime)
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &Outcome,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

/// What the renderer needs of one account.
#[derive(Debug, Clone)]
pub struct AccountView {
    pub account_id: Arc<str>,
    pub state: AccountState,
    pub info: Option<Arc<AccountInfo>>,
    pub aws_account_id: Option<Arc<str>>,
}

/// How scrapes used the cache: `chime_cache_requests_total` and
/// `chime_cache_hits_total` (registered by the exposition).
#[derive(Debug, Clone, Default)]
pub struct CacheStats {
    /// Per-account lookups made by scrapes.
    pub requests: Counter,
    /// Lookups answered without starting a fetch.
    pub hits: Counter,
}

/// The per-account bot cache. See the module documentation.
pub struct BotCache {
    watch: RwLock<Arc<Vec<Watched>>>,
    outcomes: Cache<String, Outcome>,
    /// Refreshes running now, by account.
    refreshing: std::sync::Mutex<HashMap<String, watch::Receiver<bool>>>,
    states: RwLock<HashMap<String, AccountState>>,
    generation: AtomicU64,
    ready: AtomicBool,
    /// Turns `true` when the first round of discovery has set the accounts.
    published: watch::Sender<bool>,
    api_metrics: Arc<ApiMetrics>,
    stats: CacheStats,
    /// `--chime.rate-limit`, for the capacity.
    rate_limit: f64,
}

impl std::fmt::Debug for BotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotCache")
            .field("accounts", &self.accounts().len())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

impl BotCache {
    /// `api_metrics` learns which accounts are watched (only they get API
    /// series of their own); `rate_limit` is `--chime.rate-limit`.
    pub fn new(api_metrics: Arc<ApiMetrics>, rate_limit: f64) -> Arc<BotCache> {
        let outcomes = Cache::builder()
            .name("chime-listbots")
            .expire_after(OutcomeExpiry)
            .build();
        Arc::new(BotCache {
            watch: RwLock::new(Arc::new(Vec::new())),
            outcomes,
            refreshing: std::sync::Mutex::new(HashMap::new()),
            states: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            published: watch::channel(false).0,
            api_metrics,
            stats: CacheStats::default(),
            rate_limit,
        })
    }

    /// The counters of cache use.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The API calls the watched accounts need against the rate limit.
    pub fn capacity(&self) -> Capacity {
        let watched = self.accounts();
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
        let demands = watched.iter().map(|w| {
            let config = &w.target.config;
            let bots = states
                .get(&*w.account_id)
                .and_then(|s| s.snapshot.as_ref())
                .map_or(0, |s| s.bots.len());
            let page = usize::try_from(config.max_results.max(1)).unwrap_or(1);
            Demand {
                target: &config.name,
                // An account not fetched yet counts one page.
                pages: bots.div_ceil(page).max(1),
                cache_ttl: w.target.settings.ttl,
                discovery_ttl: config.discovery_ttl,
            }
        });
        Capacity::of(demands, self.rate_limit)
    }

    /// API requests made for `account_id` (0 for an account not watched).
    pub fn api_requests_of(&self, account_id: &str) -> u64 {
        self.api_metrics.requests_of(account_id)
    }

    /// The watched accounts.
    pub fn accounts(&self) -> Arc<Vec<Watched>> {
        self.watch.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the watched accounts. Accounts that stay keep their data and
    /// cache entries; accounts that went are forgotten entirely: their
    /// series, cache entries and API counters.
    pub async fn set_accounts(&self, accounts: Vec<Watched>) {
        let old = self.accounts();
        let gone: Vec<String> = {
            let new: HashSet<&str> = accounts.iter().map(|a| &*a.account_id).collect();
            old.iter()
                .filter(|o| !new.contains(&*o.account_id))
                .map(|o| o.account_id.to_string())
                .collect()
        };
        {
            let mut states = self.states.write().unwrap_or_else(|e| e.into_inner());
            for id in &gone {
                tracing::info!(account_id = %id, "account no longer watched");
                states.remove(id);
            }
            for a in &accounts {
                states.entry(a.account_id.to_string()).or_default();
            }
            self.api_metrics
                .set_watched(accounts.iter().map(|a| &*a.account_id));
            *self.watch.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(accounts);
        }
        for id in &gone {
            self.outcomes.invalidate(id).await;
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.published.send_replace(true);
        let changed = !gone.is_empty() || old.len() != self.accounts().len();
        if changed {
            let capacity = self.capacity();
            if capacity.fits() {
                tracing::info!(
                    accounts = self.accounts().len(),
                    needed_per_second = capacity.needed_per_second,
                    rate_limit = capacity.allowed_per_second,
                    capacity_ratio = capacity.ratio,
                    "the rate limit keeps every account fresh"
                );
            } else {
                tracing::warn!(
                    accounts = self.accounts().len(),
                    needed_per_second = capacity.needed_per_second,
                    rate_limit = capacity.allowed_per_second,
                    capacity_ratio = capacity.ratio,
                    "the rate limit cannot keep every account within its cache TTL: {}",
                    capacity.advice()
                );
            }
        }
    }

    /// Whether the first round of discovery has set the accounts.
    pub fn is_published(&self) -> bool {
        *self.published.borrow()
    }

    /// Marks the first collection as finished (see `/-/ready`).
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the first collection attempt (of every account) finished.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Changes whenever any account state changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// What the renderer needs of every watched account, in order, into
    /// `out` (cleared first). The caller keeps `out` between calls: this runs
    /// on every change of the data, and a fresh list of hundreds of views
    /// each time was a large short-lived allocation in the heap.
    pub fn states_into(&self, out: &mut Vec<AccountView>) {
        out.clear();
        let watched = self.accounts();
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
        out.extend(watched.iter().map(|w| AccountView {
            account_id: Arc::clone(&w.account_id),
            state: states.get(&*w.account_id).cloned().unwrap_or_default(),
            info: w.info.clone(),
            aws_account_id: w.aws_account_id_shared(),
        }));
    }

    /// The watched account `account_id`, if it is watched.
    pub fn lookup(&self, account_id: &str) -> Option<Watched> {
        self.accounts()
            .iter()
            .find(|w| &*w.account_id == account_id)
            .cloned()
    }

    /// The target that reaches `account_id`, if it is watched.
    fn target_of(&self, account_id: &str) -> Option<Arc<Target>> {
        self.lookup(account_id).map(|w| w.target)
    }

    fn has_snapshot(&self, account: &str) -> bool {
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
        states
            .get(account)
            .map(|s| s.snapshot.is_some())
            .unwrap_or(false)
    }

    /// Fetches every account once and waits for all of them. Run at start
    /// (and after discovery) so the first scrape finds data.
    pub async fn warm_up(self: &Arc<Self>) {
        let refreshes: Vec<_> = self
            .accounts()
            .iter()
            .filter(|a| !self.outcomes.contains_key(&*a.account_id))
            .map(|a| self.refresh(&a.account_id))
            .collect();
        for done in refreshes {
            wait_done(done).await;
        }
    }

    /// Makes sure every account is fresh or being refreshed, waiting up to
    /// `budget` for accounts that have never had data. Accounts that have data
    /// are served from their last snapshot while a refresh runs.
    pub async fn prepare_scrape(self: &Arc<Self>, budget: Duration) {
        let started = Instant::now();
        if !self.is_published() {
            // At start, the accounts (and their details) are not known until
            // the first round of discovery: wait for it, within the budget.
            let mut published = self.published.subscribe();
            let _ = tokio::time::timeout(budget, published.wait_for(|p| *p)).await;
        }
        let budget = budget.saturating_sub(started.elapsed());
        let mut waiting = Vec::new();
        let watched = self.accounts();
        for account in watched.iter().map(|w| &*w.account_id) {
            self.stats.requests.inc();
            if self.outcomes.contains_key(account) {
                self.stats.hits.inc();
                continue;
            }
            let done = self.refresh(account);
            if !self.has_snapshot(account) {
                waiting.push(done);
            }
        }
        if waiting.is_empty() {
            return;
        }
        let _ = tokio::time::timeout(budget, async {
            for done in waiting {
                wait_done(done).await;
            }
        })
        .await;
    }

    /// Starts the refresh of one account unless one is already running, and
    /// returns a receiver that turns `true` when it has finished.
    ///
    /// One task per account and refresh, however many scrapes ask: a task per
    /// scrape and account would each carry a whole SDK call's future, and 200
    /// concurrent scrapes of many accounts would hold thousands of them.
    fn refresh(self: &Arc<Self>, account: &str) -> watch::Receiver<bool> {
        let mut running = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = running.get(account) {
            return done.clone();
        }
        let (tx, rx) = watch::channel(false);
        running.insert(account.to_owned(), rx.clone());
        drop(running);
        let this = Arc::clone(self);
        let account = account.to_owned();
        tokio::spawn(async move {
            let init = Arc::clone(&this).fetch(account.clone());
            // moka's get_with: even if two refreshes of one key overlapped,
            // they would share this one fetch.
            this.outcomes.get_with(account.clone(), init).await;
            this.refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&account);
            let _ = tx.send(true);
        });
        rx
    }

    /// One fetch of one account; records the result in the account's state.
    async fn fetch(self: Arc<Self>, account: String) -> Outcome {
        let started = Instant::now();
        let Some(target) = self.target_of(&account) else {
            // No longer watched: nothing to fetch.
            return Outcome {
                lifetime: Duration::from_secs(1),
            };
        };
        let settings = target.settings;
        let mut bots = BotListBuilder::default();
        let result = target
            .api
            .list_bots(&account, |bot| bots.push(bot).map_err(|e| e.to_string()))
            .await
            // Packed once the API's pages are freed (see `BotListBuilder`).
            .map(|()| bots.finish());
        let mut states = self.states.write().unwrap_or_else(|e| e.into_inner());
        let Some(state) = states.get_mut(&account) else {
            // The account went while it was being fetched (its calls since
            // were counted without its ID: see `ApiMetrics`).
            return Outcome {
                lifetime: Duration::from_secs(1),
            };
        };
        let now = unix_now();
        let lifetime = match result {
            Ok(bots) => {
                tracing::debug!(
                    account_id = %account,
                    bots = bots.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "fetched bots"
                );
                state.record_success(bots, now);
                settings.ttl_with_jitter()
            }
            Err(err) => {
                state.record_failure(err.kind, now);
                let backoff = settings.backoff(state.consecutive_failures);
                tracing::warn!(
                    account_id = %account,
                    error = %err.kind,
                    detail = %err.message,
                    consecutive_failures = state.consecutive_failures,
                    retry_in_ms = backoff.as_millis() as u64,
                    "fetching bots failed; serving the last good data"
                );
                backoff
            }
        };
        state.next_refresh_seconds = Some(now + lifetime.as_secs_f64());
        drop(states);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Outcome { lifetime }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::BotRecord;

    fn bots(names: &[&str]) -> BotList {
        let records: Vec<BotRecord> = names
            .iter()
            .map(|n| BotRecord {
                bot_id: Some(format!("id-{n}")),
                display_name: (*n).to_owned(),
                disabled: Some(false),
                ..BotRecord::default()
            })
            .collect();
        BotList::try_from_bots(records.iter().map(BotRecord::as_bot)).unwrap()
    }

    #[test]
    fn a_fetch_with_the_same_bots_keeps_the_snapshot_and_a_change_replaces_it() {
        let mut state = AccountState {
            up: false,
            consecutive_failures: 3,
            ..AccountState::default()
        };
        state.record_success(bots(&["a", "b"]), 100.0);
        let first = state.snapshot.clone().unwrap();
        assert!(state.up && state.consecutive_failures == 0);

        state.up = false;
        state.record_success(bots(&["a", "b"]), 200.0);
        let second = state.snapshot.clone().unwrap();
        assert!(Arc::ptr_eq(&first, &second), "same bots: same snapshot");
        assert_eq!(state.last_success_seconds, Some(200.0));
        assert!(state.up);

        state.record_success(bots(&["a"]), 300.0);
        let third = state.snapshot.clone().unwrap();
        assert!(!Arc::ptr_eq(&second, &third), "a bot went: a new snapshot");
        assert_eq!(third.bots, bots(&["a"]));
    }
}
