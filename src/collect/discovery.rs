//! Which accounts are watched: the configured ids of each target, plus, for
//! targets with discovery, every account ListAccounts returns (optionally
//! filtered by name prefix). Details of configured accounts come from
//! GetAccount, those of discovered ones from their ListAccounts entry.
//!
//! Discovery runs at start and then once per discovery TTL (the shortest of
//! the targets', with jitter), or at once after a reload. A failed
//! ListAccounts keeps the accounts that target discovered before; a failed
//! GetAccount keeps what was known of the account. Accounts that are no
//! longer found stop being exported, and their cache entries go.
//!
//! A round that failed is tried again after `--chime.error-backoff`,
//! doubling with each failed round up to the discovery TTL: an error that
//! does not heal by itself (a policy without `chime:ListAccounts`) costs a
//! call per discovery TTL, not one every few seconds for ever.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use super::cache::BotCache;
use super::shard::owns;
use super::target::{CacheSettings, Target, Watched};
use crate::config::Shard;

/// The discovery loop and the targets it works on.
#[derive(Debug)]
pub struct Discovery {
    cache: Arc<BotCache>,
    shard: Shard,
    targets: RwLock<Vec<Arc<Target>>>,
    wake: Notify,
}

impl Discovery {
    pub fn new(cache: Arc<BotCache>, targets: Vec<Arc<Target>>, shard: Shard) -> Arc<Discovery> {
        Arc::new(Discovery {
            cache,
            shard,
            targets: RwLock::new(targets),
            wake: Notify::new(),
        })
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
        // Configured accounts are collected at once, while their details and
        // the discovered accounts are looked up.
        let configured: Vec<Watched> = self
            .targets()
            .iter()
            .flat_map(|t| {
                t.config
                    .account_ids
                    .iter()
                    .map(|id| Watched::configured(id, t))
            })
            .collect();
        let configured = dedupe(configured)
            .into_iter()
            .filter(|w| owns(&self.shard, &w.account_id))
            .collect();
        self.cache.set_accounts(configured).await;
        {
            let cache = Arc::clone(&self.cache);
            tokio::spawn(async move { cache.warm_up().await });
        }
        let mut first = true;
        let mut failed_rounds = 0u32;
        loop {
            let complete = self.discover_once().await;
            failed_rounds = if complete {
                0
            } else {
                failed_rounds.saturating_add(1)
            };
            if first {
                // Joins the fetches started above; starts the discovered ones.
                self.cache.warm_up().await;
                self.cache.mark_ready();
                first = false;
            }
            let targets = self.targets();
            let ttl = targets
                .iter()
                .map(|t| t.config.discovery_ttl)
                .min()
                .unwrap_or(Duration::from_secs(900));
            let wait = if complete {
                ttl + ttl.mul_f64(fastrand::f64() * 0.1)
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
        let mut complete = true;
        let targets = self.targets();
        let previous = self.cache.accounts();
        let mut watched: Vec<Watched> = Vec::new();
        let shard = self.shard;
        let add = |w: Watched, watched: &mut Vec<Watched>| {
            if !owns(&shard, &w.account_id) {
                return;
            }
            if let Some(other) = watched.iter().find(|o| o.account_id == w.account_id) {
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
            watched.push(w);
        };
        for target in &targets {
            let config = &target.config;
            let known = |id: &str| {
                previous
                    .iter()
                    .find(|p| &*p.account_id == id && p.target.config.name == config.name)
                    .cloned()
            };
            // Configured accounts, with details from GetAccount.
            let mut lookups = tokio::task::JoinSet::new();
            for id in config.account_ids.iter().filter(|id| owns(&shard, id)) {
                let (target, id) = (Arc::clone(target), id.clone());
                lookups.spawn(async move {
                    let info = target.api.get_account(&id).await;
                    (id, info)
                });
            }
            let mut configured = Vec::new();
            while let Some(Ok((id, info))) = lookups.join_next().await {
                let info = match info {
                    Ok(info) => Some(Arc::new(info)),
                    Err(err) => {
                        complete = false;
                        tracing::warn!(target = %config.name, account_id = %id, error = %err.kind, detail = %err.message, "GetAccount failed");
                        known(&id).and_then(|k| k.info)
                    }
                };
                configured.push(Watched::new(id.shared(), Arc::clone(target), info, false));
            }
            // Keep the configuration's order.
            configured.sort_by_key(|w| {
                config
                    .account_ids
                    .iter()
                    .position(|i| i.as_str() == &*w.account_id)
            });
            for w in configured {
                add(w, &mut watched);
            }
            if !config.discover {
                continue;
            }
            match target
                .api
                .list_accounts(config.account_name_prefix.as_deref())
                .await
            {
                Ok(accounts) => {
                    tracing::debug!(target = %config.name, accounts = accounts.len(), "discovered accounts");
                    for info in accounts {
                        let id = Arc::<str>::from(info.account_id.as_str());
                        let w = Watched::new(id, Arc::clone(target), Some(Arc::new(info)), true);
                        add(w, &mut watched);
                    }
                }
                Err(err) => {
                    complete = false;
                    tracing::warn!(target = %config.name, error = %err.kind, detail = %err.message, "ListAccounts failed; keeping the accounts discovered before");
                    for p in previous
                        .iter()
                        .filter(|p| p.discovered && p.target.config.name == config.name)
                    {
                        let w = Watched::new(
                            Arc::clone(&p.account_id),
                            Arc::clone(target),
                            p.info.clone(),
                            true,
                        );
                        add(w, &mut watched);
                    }
                }
            }
        }
        self.cache.set_accounts(watched).await;
        complete
    }
}

/// Keeps the first of each account id.
fn dedupe(accounts: Vec<Watched>) -> Vec<Watched> {
    let mut out: Vec<Watched> = Vec::with_capacity(accounts.len());
    for a in accounts {
        if !out.iter().any(|o| o.account_id == a.account_id) {
            out.push(a);
        }
    }
    out
}
