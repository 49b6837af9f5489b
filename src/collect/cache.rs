//! The cache between scrapes and the Chime API.
//!
//! Two structures, each doing one job:
//!
//! * A **schedule** decides *when* the API may be called: each account is
//!   due again at the end of its last fetch's lifetime. A success lives for
//!   the TTL (plus up to 10 % jitter, so that accounts fetched together do
//!   not all expire in the same second); a failure lives for an exponential
//!   backoff with jitter. Until an account is due, no scrape causes a fetch;
//!   once it is, the next scrape starts one refresh, which every concurrent
//!   scrape shares. The schedule is kept in order of time, so a scrape finds
//!   the due accounts without looking at the others: a warm scrape costs
//!   the same with 10 or 10,000 accounts.
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
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// Waits until a refresh reports that it has finished (or its task ended).
async fn wait_done(mut done: watch::Receiver<bool>) {
    let _ = done.wait_for(|finished| *finished).await;
}

use prometheus_client::metrics::counter::Counter;

use super::bots::{BotList, BotListBuilder};
use super::capacity::{Capacity, Demand};
use super::schedule::Schedule;
use super::target::{Target, Watched};
use crate::api::{AccountInfo, ApiMetrics, ErrorKind, Priority};

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

/// Two decimals are enough for a log line (`33.39`, not `33.388888888891`).
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Refreshes waiting to run: accounts without data first, then the others,
/// each in the order they were asked for (oldest data first, see
/// [`BotCache::prepare_scrape`]).
#[derive(Debug, Default)]
struct RefreshQueue {
    first: std::collections::VecDeque<(String, watch::Sender<bool>)>,
    refreshes: std::collections::VecDeque<(String, watch::Sender<bool>)>,
    running: usize,
}

/// The watched accounts, in exposition order, with an index by id.
#[derive(Debug, Default)]
pub struct WatchedSet {
    list: Vec<Watched>,
    index: HashMap<Arc<str>, usize>,
}

impl WatchedSet {
    fn new(list: Vec<Watched>) -> WatchedSet {
        let index = list
            .iter()
            .enumerate()
            .map(|(i, w)| (Arc::clone(&w.account_id), i))
            .collect();
        WatchedSet { list, index }
    }

    /// The watched account `account_id`.
    pub fn get(&self, account_id: &str) -> Option<&Watched> {
        self.index.get(account_id).map(|&i| &self.list[i])
    }
}

impl std::ops::Deref for WatchedSet {
    type Target = [Watched];
    fn deref(&self) -> &[Watched] {
        &self.list
    }
}

/// What the renderer needs of one account.
#[derive(Debug, Clone)]
pub struct AccountView {
    pub account_id: Arc<str>,
    pub state: AccountState,
    pub info: Option<Arc<AccountInfo>>,
    pub aws_account_id: Option<Arc<str>>,
    /// The cache TTL the exporter uses for this account (its target's
    /// `settings.ttl`): `chime_account_cache_ttl_seconds`.
    pub cache_ttl: Duration,
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
    watch: RwLock<Arc<WatchedSet>>,
    schedule: Mutex<Schedule>,
    /// Refreshes queued or running now, by account.
    refreshing: std::sync::Mutex<HashMap<String, watch::Receiver<bool>>>,
    /// Refreshes waiting for one of the `max_running` fetches.
    queue: Mutex<RefreshQueue>,
    /// Fetches that may run at once: a few more than the API calls allowed
    /// in flight, so that a slot freed is taken at once.
    max_running: usize,
    states: RwLock<HashMap<String, AccountState>>,
    generation: AtomicU64,
    ready: AtomicBool,
    /// Turns `true` when the first round of discovery has set the accounts.
    published: watch::Sender<bool>,
    api_metrics: Arc<ApiMetrics>,
    stats: CacheStats,
    /// `--chime.rate-limit`, for the capacity.
    rate_limit: f64,
    /// Moves when what the accounts ask of the API may have changed: the
    /// accounts, or an account's number of pages.
    demand: AtomicU64,
    /// The capacity as of a `demand` (it is read at every scrape).
    capacity: Mutex<Option<(u64, Capacity)>>,
    /// Calls per second other sources need of the same rate limit (the
    /// Chime SDK source's listings, see [`BotCache::set_other_demand`]).
    other_demand: Mutex<f64>,
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
    /// series of their own); `rate_limit` is `--chime.rate-limit`,
    /// `concurrency` `--chime.concurrency`.
    pub fn new(api_metrics: Arc<ApiMetrics>, rate_limit: f64, concurrency: usize) -> Arc<BotCache> {
        Arc::new(BotCache {
            watch: RwLock::new(Arc::default()),
            schedule: Mutex::default(),
            refreshing: std::sync::Mutex::new(HashMap::new()),
            queue: Mutex::default(),
            max_running: concurrency.saturating_mul(2).max(2),
            states: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            published: watch::channel(false).0,
            api_metrics,
            stats: CacheStats::default(),
            rate_limit,
            demand: AtomicU64::new(0),
            capacity: Mutex::new(None),
            other_demand: Mutex::new(0.0),
        })
    }

    /// The counters of cache use.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The API calls the watched accounts need against the rate limit;
    /// computed again only when the accounts or their page counts changed
    /// (not at every refresh: with ten thousand accounts, some account
    /// refreshes between almost any two scrapes).
    pub fn capacity(&self) -> Capacity {
        let generation = self.demand.load(Ordering::Acquire);
        let mut cached = self.capacity.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, capacity)) = *cached {
            if at == generation {
                return capacity;
            }
        }
        let capacity = self.compute_capacity();
        *cached = Some((generation, capacity));
        capacity
    }

    /// Sets the calls per second the other sources need of the same rate
    /// limit (the Chime SDK source's lists and discovery), so that the
    /// capacity ratio counts every call the limit must carry.
    pub fn set_other_demand(&self, per_second: f64) {
        let mut other = self.other_demand.lock().unwrap_or_else(|e| e.into_inner());
        if (*other - per_second).abs() > 1e-12 {
            *other = per_second;
            self.demand.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn compute_capacity(&self) -> Capacity {
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
        let other = *self.other_demand.lock().unwrap_or_else(|e| e.into_inner());
        Capacity::of(demands, self.rate_limit).with_other(other)
    }

    /// API requests made for `account_id` (0 for an account not watched).
    pub fn api_requests_of(&self, account_id: &str) -> u64 {
        self.api_metrics.requests_of(account_id)
    }

    /// The watched accounts.
    pub fn accounts(&self) -> Arc<WatchedSet> {
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
            let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
            for id in &gone {
                schedule.remove(id);
            }
            // A new account is due at once.
            let now = Instant::now();
            for a in &accounts {
                if !schedule.contains(&a.account_id) {
                    schedule.set(Arc::clone(&a.account_id), now);
                }
            }
            drop(schedule);
            *self.watch.write().unwrap_or_else(|e| e.into_inner()) =
                Arc::new(WatchedSet::new(accounts));
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.demand.fetch_add(1, Ordering::AcqRel);
        self.published.send_replace(true);
        // The previous set and the round's answers went.
        crate::memory::note_freed();
        let changed = !gone.is_empty() || old.len() != self.accounts().len();
        if changed {
            let capacity = self.capacity();
            if capacity.fits() {
                tracing::info!(
                    accounts = self.accounts().len(),
                    needed_per_second = round2(capacity.needed_per_second),
                    rate_limit = capacity.allowed_per_second,
                    capacity_ratio = round2(capacity.ratio),
                    "the rate limit keeps every account fresh"
                );
            } else {
                tracing::warn!(
                    accounts = self.accounts().len(),
                    needed_per_second = round2(capacity.needed_per_second),
                    rate_limit = capacity.allowed_per_second,
                    capacity_ratio = round2(capacity.ratio),
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
            cache_ttl: w.target.settings.ttl,
        }));
    }

    /// The watched account `account_id`, if it is watched.
    pub fn lookup(&self, account_id: &str) -> Option<Watched> {
        self.accounts().get(account_id).cloned()
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
        let now = Instant::now();
        let due: Vec<Arc<str>> = {
            let schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
            self.accounts()
                .iter()
                .filter(|a| schedule.is_due(&a.account_id, now))
                .map(|a| Arc::clone(&a.account_id))
                .collect()
        };
        let refreshes: Vec<_> = due.iter().map(|a| self.refresh(a)).collect();
        for done in refreshes {
            wait_done(done).await;
        }
    }

    /// Makes sure every account is fresh or being refreshed, waiting up to
    /// `budget` for accounts that have never had data. Accounts that have data
    /// are served from their last snapshot while a refresh runs.
    ///
    /// The refreshes are started oldest data first: when the rate limit
    /// cannot keep every account within its TTL, they queue for the API in
    /// that order, so every account's data age stays bounded by the same
    /// cycle and none starves.
    pub async fn prepare_scrape(self: &Arc<Self>, budget: Duration) {
        let started = Instant::now();
        if !self.is_published() {
            // At start, the accounts (and their details) are not known until
            // the first round of discovery: wait for it, within the budget.
            let mut published = self.published.subscribe();
            let _ = tokio::time::timeout(budget, published.wait_for(|p| *p)).await;
        }
        let budget = budget.saturating_sub(started.elapsed());
        let watched = self.accounts().len() as u64;
        let mut expired: Vec<Arc<str>> = {
            let schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
            schedule.due(Instant::now()).cloned().collect()
        };
        self.stats.requests.inc_by(watched);
        self.stats
            .hits
            .inc_by(watched.saturating_sub(expired.len() as u64));
        if expired.len() > 1 {
            // Never fetched first, then the oldest success.
            let states = self.states.read().unwrap_or_else(|e| e.into_inner());
            let age = |a: &str| {
                states
                    .get(a)
                    .and_then(|s| s.last_success_seconds)
                    .unwrap_or(f64::NEG_INFINITY)
            };
            expired.sort_by(|a, b| age(a).total_cmp(&age(b)));
        }
        let mut waiting = Vec::new();
        for account in &expired {
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

    /// Queues the refresh of one account unless one is already queued or
    /// running, and returns a receiver that turns `true` when it has
    /// finished.
    ///
    /// One refresh per account, however many scrapes ask; and at most
    /// [`BotCache::max_running`] fetches exist at once, the rest wait in a
    /// queue as an id each. A fetch is a whole SDK call's future (several
    /// KB): spawned for every account of a cold fill of 10,000 accounts,
    /// those waiting for an API slot took 70 MB, and the resident set kept
    /// it after they finished.
    fn refresh(self: &Arc<Self>, account: &str) -> watch::Receiver<bool> {
        let mut refreshing = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = refreshing.get(account) {
            return done.clone();
        }
        // The caller read the schedule a while ago: a refresh that finished
        // since (it set the schedule before leaving `refreshing`) must not
        // be followed by another. (With thousands of accounts due at once,
        // that window was long enough to fetch an account twice.)
        let due = self
            .schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_due(account, Instant::now());
        if !due {
            return watch::channel(true).1;
        }
        let (tx, rx) = watch::channel(false);
        refreshing.insert(account.to_owned(), rx.clone());
        drop(refreshing);
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            // An account without data goes before the refreshes.
            if self.has_snapshot(account) {
                queue.refreshes.push_back((account.to_owned(), tx));
            } else {
                queue.first.push_back((account.to_owned(), tx));
            }
        }
        self.pump();
        rx
    }

    /// Starts queued fetches while fewer than `max_running` run.
    fn pump(self: &Arc<Self>) {
        loop {
            let next = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if queue.running >= self.max_running {
                    return;
                }
                let Some(next) = queue
                    .first
                    .pop_front()
                    .or_else(|| queue.refreshes.pop_front())
                else {
                    return;
                };
                queue.running += 1;
                next
            };
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let (account, done) = next;
                this.run_refresh(&account).await;
                this.queue.lock().unwrap_or_else(|e| e.into_inner()).running -= 1;
                let _ = done.send(true);
                this.pump();
            });
        }
    }

    /// One queued refresh: the fetch, then the schedule.
    async fn run_refresh(self: &Arc<Self>, account: &str) {
        if let Some(lifetime) = Arc::clone(self).fetch(account.to_owned()).await {
            // Due again at the end of the fetch's lifetime, if the account
            // is still watched.
            let watched = self
                .accounts()
                .get(account)
                .map(|w| Arc::clone(&w.account_id));
            if let Some(id) = watched {
                self.schedule
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(id, Instant::now() + lifetime);
            }
        }
        let mut refreshing = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        refreshing.remove(account);
        // A cold fill queues every account at once: do not keep a table of
        // that size for the few refreshes after it.
        if refreshing.is_empty() && refreshing.capacity() > 1024 {
            refreshing.shrink_to(64);
        }
    }

    /// One fetch of one account; records the result in the account's state
    /// and says how long it holds (`None`: the account is no longer
    /// watched).
    async fn fetch(self: Arc<Self>, account: String) -> Option<Duration> {
        let started = Instant::now();
        // No longer watched: nothing to fetch.
        let target = self.target_of(&account)?;
        let settings = target.settings;
        let mut bots = BotListBuilder::default();
        // An account without data goes before the refreshes of the others.
        let priority = if self.has_snapshot(&account) {
            Priority::Refresh
        } else {
            Priority::First
        };
        let result = target
            .api
            .list_bots(&account, priority, |bot| {
                bots.push(bot).map_err(|e| e.to_string())
            })
            .await
            // Packed once the API's pages are freed (see `BotListBuilder`).
            .map(|()| bots.finish());
        let mut states = self.states.write().unwrap_or_else(|e| e.into_inner());
        let Some(state) = states.get_mut(&account) else {
            // The account went while it was being fetched (its calls since
            // were counted without its ID: see `ApiMetrics`).
            return None;
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
                let page = usize::try_from(target.config.max_results.max(1)).unwrap_or(1);
                let pages = |n: usize| n.div_ceil(page).max(1);
                let before = state.snapshot.as_ref().map(|s| pages(s.bots.len()));
                if before != Some(pages(bots.len())) {
                    self.demand.fetch_add(1, Ordering::AcqRel);
                }
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
        Some(lifetime)
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
