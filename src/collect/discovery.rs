//! Which accounts are watched: the configured ids of each target, plus, for
//! targets with discovery, every account ListAccounts returns (optionally
//! filtered by name prefix).
//!
//! Details of every account (name, type, status, AWS account) come from
//! ListAccounts, 200 accounts a call, matched by id: a few calls per
//! discovery TTL however many accounts are configured. GetAccount is called
//! only for a configured account the listing does not show (outside the
//! name prefix), or for every configured account whose details are not
//! known when ListAccounts fails (a least-privilege policy without
//! `chime:ListAccounts`). A target without discovery stops listing once
//! every configured account was found.
//!
//! The first round runs before any account is published, so every series
//! of an account carries its final labels (`aws_account_id` among them)
//! from its first sample. Then once per discovery TTL (the shortest of the
//! targets', with jitter), or at once after a reload. A failed ListAccounts
//! keeps the accounts that target discovered before; a failed lookup keeps
//! what was known. Accounts that are no longer found stop being exported,
//! and their cache entries go.
//!
//! A round that failed is tried again after `--chime.error-backoff`,
//! doubling with each failed round up to the discovery TTL: an error that
//! does not heal by itself (a policy without `chime:ListAccounts`) costs a
//! call per discovery TTL, not one every few seconds for ever.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use super::cache::{BotCache, WatchedSet};
use super::shard::owns;
use super::target::{CacheSettings, Target, Watched};
use crate::api::{AccountInfo, ApiError, ErrorKind};
use crate::config::Shard;

/// What the last round of discovery found for one target.
#[derive(Debug, Clone, Default)]
pub struct TargetStatus {
    /// The credentials resolved and every lookup of the last round
    /// succeeded.
    pub up: bool,
    /// When a round last succeeded (Unix seconds).
    pub last_success_seconds: Option<f64>,
    /// Why the last round failed.
    pub last_error: Option<ErrorKind>,
    /// Accounts this target watches.
    pub accounts: usize,
    /// Whether a round has finished.
    pub ran: bool,
}

/// The discovery loop and the targets it works on.
#[derive(Debug)]
pub struct Discovery {
    cache: Arc<BotCache>,
    shard: Shard,
    targets: RwLock<Vec<Arc<Target>>>,
    statuses: RwLock<BTreeMap<String, TargetStatus>>,
    wake: Notify,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// One target's part of a round.
struct TargetRound {
    watched: Vec<Watched>,
    error: Option<ErrorKind>,
}

impl Discovery {
    pub fn new(cache: Arc<BotCache>, targets: Vec<Arc<Target>>, shard: Shard) -> Arc<Discovery> {
        Arc::new(Discovery {
            cache,
            shard,
            targets: RwLock::new(targets),
            statuses: RwLock::new(BTreeMap::new()),
            wake: Notify::new(),
        })
    }

    /// Every target, in configuration order, with its last round.
    pub fn statuses(&self) -> Vec<(Arc<Target>, TargetStatus)> {
        let statuses = self.statuses.read().unwrap_or_else(|e| e.into_inner());
        self.targets()
            .into_iter()
            .map(|t| {
                let status = statuses.get(&t.config.name).cloned().unwrap_or_default();
                (t, status)
            })
            .collect()
    }

    pub fn cache(&self) -> Arc<BotCache> {
        Arc::clone(&self.cache)
    }

    pub fn targets(&self) -> Vec<Arc<Target>> {
        self.targets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the targets (after a reload) and discovers again at once.
    pub fn replace_targets(&self, targets: Vec<Arc<Target>>) {
        *self.targets.write().unwrap_or_else(|e| e.into_inner()) = targets;
        self.wake.notify_one();
    }

    /// Runs forever: discover, collect, wait for the TTL or a reload.
    pub async fn run(self: Arc<Self>) {
        let mut first = true;
        let mut failed_rounds = 0u32;
        loop {
            let started = tokio::time::Instant::now();
            let complete = self.discover_once().await;
            failed_rounds = if complete {
                0
            } else {
                failed_rounds.saturating_add(1)
            };
            if first {
                // The accounts are known with their details: fetch them all,
                // beside the discovery rounds (which keep their cadence).
                let cache = Arc::clone(&self.cache);
                tokio::spawn(async move {
                    cache.warm_up().await;
                    cache.mark_ready();
                    // The first fetches' answers, parsed and freed between
                    // the data kept, leave free space to give back.
                    crate::memory::note_freed();
                });
                first = false;
            }
            let targets = self.targets();
            let ttl = targets
                .iter()
                .map(|t| t.config.discovery_ttl)
                .min()
                .unwrap_or(Duration::from_secs(900));
            // A round starts one TTL (plus jitter) after the last one
            // started, so that the calls per TTL are one round's whatever
            // the round took.
            let wait = if complete {
                (ttl + ttl.mul_f64(fastrand::f64() * 0.1)).saturating_sub(started.elapsed())
            } else {
                let backoff_min = targets
                    .iter()
                    .map(|t| t.settings.backoff_min)
                    .min()
                    .unwrap_or(Duration::from_secs(10));
                CacheSettings {
                    ttl,
                    backoff_min: backoff_min.min(ttl),
                    backoff_max: ttl,
                }
                .backoff(failed_rounds)
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// One round of discovery over every target; `false` when a lookup
    /// failed.
    pub async fn discover_once(&self) -> bool {
        let targets = self.targets();
        let previous = self.cache.accounts();
        let mut watched: Vec<Watched> = Vec::new();
        let mut seen: HashMap<Arc<str>, usize> = HashMap::new();
        let mut complete = true;
        let mut statuses = BTreeMap::new();
        for target in &targets {
            let round = self.discover_target(target, &previous).await;
            let mut status = self
                .statuses
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&target.config.name)
                .cloned()
                .unwrap_or_default();
            status.ran = true;
            status.up = round.error.is_none();
            status.last_error = round.error;
            if round.error.is_none() {
                status.last_success_seconds = Some(unix_now());
            }
            complete &= round.error.is_none();
            let before = watched.len();
            for w in round.watched {
                self.add(w, &mut watched, &mut seen);
            }
            status.accounts = watched.len() - before;
            statuses.insert(target.config.name.clone(), status);
        }
        *self.statuses.write().unwrap_or_else(|e| e.into_inner()) = statuses;
        self.cache.set_accounts(watched).await;
        complete
    }

    /// Adds `w` to the round's accounts if this shard owns it and no earlier
    /// target watches it. `seen` indexes `watched` by account: with ten
    /// thousand accounts, a search of the list per account was a round of
    /// fifty million comparisons.
    fn add(&self, w: Watched, watched: &mut Vec<Watched>, seen: &mut HashMap<Arc<str>, usize>) {
        if !owns(&self.shard, &w.account_id) {
            return;
        }
        if let Some(other) = seen.get(&w.account_id).map(|&i| &watched[i]) {
            if other.target.config.name != w.target.config.name {
                tracing::warn!(
                    account_id = %w.account_id,
                    target = %w.target.config.name,
                    first = %other.target.config.name,
                    "account reachable from two targets; watching it once"
                );
            }
            return;
        }
        seen.insert(Arc::clone(&w.account_id), watched.len());
        watched.push(w);
    }

    /// One target's accounts, with their details.
    async fn discover_target(&self, target: &Arc<Target>, previous: &WatchedSet) -> TargetRound {
        let config = &target.config;
        let name = config.name.as_str();
        let mut error: Option<ErrorKind> = None;
        let mut fail = |err: &ApiError, what: &str| {
            tracing::warn!(target = %name, error = %err.kind, detail = %err.message, "{what}");
            error.get_or_insert(err.kind);
        };
        let known = |id: &str| previous.get(id).filter(|p| p.target.config.name == name);
        // This shard's configured accounts.
        let configured: Vec<_> = config
            .account_ids
            .iter()
            .filter(|id| owns(&self.shard, id))
            .collect();
        let mut details: HashMap<String, AccountInfo> = HashMap::new();
        let mut listed: Option<Vec<AccountInfo>> = None;
        let mut denied = false;
        if config.discover || !configured.is_empty() {
            // A target without discovery lists only until it has found its
            // accounts.
            let wanted: Option<HashSet<&str>> =
                (!config.discover).then(|| configured.iter().map(|id| id.as_str()).collect());
            let prefix = config
                .account_name_prefix
                .as_deref()
                .filter(|_| config.discover);
            match target.api.list_accounts(prefix, wanted.as_ref()).await {
                Ok(accounts) => {
                    tracing::debug!(target = %name, accounts = accounts.len(), "listed accounts");
                    for info in &accounts {
                        details.insert(info.account_id().to_owned(), info.clone());
                    }
                    listed = Some(accounts);
                }
                Err(err) if !config.discover && err.kind.is_denied() => {
                    // A least-privilege policy: configured accounts get
                    // their details from GetAccount instead. Not a failure
                    // of the target.
                    tracing::debug!(target = %name, error = %err.kind, "ListAccounts denied; account details from GetAccount");
                    denied = true;
                }
                Err(err) => fail(&err, "ListAccounts failed; keeping what was known"),
            }
        }
        // Configured accounts the listing did not show: GetAccount, unless
        // the listing failed (not denied: then GetAccount is the way) and
        // their details are known from before.
        let mut lookups = tokio::task::JoinSet::new();
        for id in &configured {
            if details.contains_key(id.as_str()) {
                continue;
            }
            if listed.is_none() && !denied {
                if let Some(info) = known(id).and_then(|k| k.info.clone()) {
                    details.insert(id.to_string(), (*info).clone());
                    continue;
                }
            }
            let (target, id) = (Arc::clone(target), (*id).clone());
            lookups.spawn(async move {
                let info = target.api.get_account(&id).await;
                (id, info)
            });
        }
        while let Some(Ok((id, info))) = lookups.join_next().await {
            match info {
                Ok(info) => {
                    details.insert(id.to_string(), info);
                }
                Err(err) => {
                    fail(&err, "GetAccount failed");
                    if let Some(info) = known(&id).and_then(|k| k.info.clone()) {
                        details.insert(id.to_string(), (*info).clone());
                    }
                }
            }
        }
        let mut watched: Vec<Watched> = configured
            .iter()
            .map(|id| {
                let info = details.get(id.as_str()).cloned().map(Arc::new);
                Watched::new(id.shared(), Arc::clone(target), info, false)
            })
            .collect();
        if config.discover {
            match listed {
                Some(accounts) => watched.extend(accounts.into_iter().map(|info| {
                    let id = Arc::<str>::from(info.account_id());
                    Watched::new(id, Arc::clone(target), Some(Arc::new(info)), true)
                })),
                None => watched.extend(
                    previous
                        .iter()
                        .filter(|p| p.discovered && p.target.config.name == name)
                        .map(|p| {
                            Watched::new(
                                Arc::clone(&p.account_id),
                                Arc::clone(target),
                                p.info.clone(),
                                true,
                            )
                        }),
                ),
            }
        }
        TargetRound { watched, error }
    }
}
