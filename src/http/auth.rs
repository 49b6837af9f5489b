//! Basic auth against the web config's users.
//!
//! bcrypt is slow on purpose (tens of milliseconds a check), so each new
//! password costs real CPU, and a client can send as many as it likes:
//!
//! * **Off the async workers.** Checks run on blocking threads, at most
//!   [`VERIFY_THREADS`] at once; at most [`VERIFY_QUEUE`] more wait for one.
//!   A request that finds the queue full is answered 429 at once. Scrapes
//!   whose credentials are cached never wait behind them.
//! * **A cache that keeps the scraper.** Results are remembered under a
//!   keyed hash of (user, password, bcrypt hash), never the password
//!   itself, in a bounded cache that evicts entry by entry, by use (moka's
//!   TinyLFU): a flood of wrong passwords does not push out the credentials
//!   Prometheus sends every scrape.
//! * **Unknown users cost the same.** They are checked against a hash of a
//!   random password with the cost of the configured users, so timing does
//!   not tell which user names exist.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderValue;
use tokio::sync::Semaphore;

use crate::config::WebConfig;

/// bcrypt checks running at once.
pub const VERIFY_THREADS: usize = 2;

/// bcrypt checks waiting for a thread; more are refused (429).
pub const VERIFY_QUEUE: usize = 16;

/// Verified credentials remembered.
const CACHE_ENTRIES: u64 = 1024;

/// What an authorization check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    /// Too many new passwords being checked: try again later.
    Busy,
}

/// Checks `Authorization` headers (see the module documentation).
#[derive(Debug)]
pub struct Authenticator {
    seed: RandomState,
    known: moka::sync::Cache<u64, bool>,
    threads: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// bcrypt hashes of a random password, by cost.
    dummies: Mutex<HashMap<u32, Arc<str>>>,
    /// bcrypt checks made (for tests).
    checks: AtomicU64,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            seed: RandomState::new(),
            known: moka::sync::Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .build(),
            threads: Arc::new(Semaphore::new(VERIFY_THREADS)),
            waiting: AtomicUsize::new(0),
            dummies: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }
}

/// `Basic base64(user:password)` → (user, password).
pub fn parse_basic(header: &HeaderValue) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Counts a check as waiting while it lives.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Authenticator {
    /// Whether a request with this `Authorization` header may pass.
    pub async fn check(&self, config: &WebConfig, header: Option<&HeaderValue>) -> Verdict {
        if !config.requires_auth() {
            return Verdict::Allowed;
        }
        let Some((user, password)) = header.and_then(parse_basic) else {
            return Verdict::Denied;
        };
        let hash = config.users.get(&user).cloned();
        let key = self.seed.hash_one((&user, &password, &hash));
        if let Some(ok) = self.known.get(&key) {
            return if ok {
                Verdict::Allowed
            } else {
                Verdict::Denied
            };
        }
        // A new password: wait for a thread, in a bounded queue.
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= VERIFY_THREADS + VERIFY_QUEUE {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Verdict::Busy;
        }
        let _queued = Queued(&self.waiting);
        let Ok(_thread) = self.threads.acquire().await else {
            return Verdict::Busy;
        };
        let (hash, known) = match hash {
            Some(hash) => (Arc::<str>::from(hash), true),
            None => (self.dummy(config.max_cost).await, false),
        };
        self.checks.fetch_add(1, Ordering::Relaxed);
        let verified =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let ok = known && verified;
        self.known.insert(key, ok);
        if ok {
            Verdict::Allowed
        } else {
            Verdict::Denied
        }
    }

    /// A hash of a random password with bcrypt cost `cost`, made once (on
    /// a blocking thread: it costs as much as a check).
    async fn dummy(&self, cost: u32) -> Arc<str> {
        let cost = cost.clamp(4, 31);
        if let Some(hash) = self
            .dummies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cost)
        {
            return Arc::clone(hash);
        }
        let hash: Arc<str> = tokio::task::spawn_blocking(move || {
            let random = format!("{:x}{:x}", fastrand::u64(..), fastrand::u64(..));
            bcrypt::hash(random, cost).unwrap_or_default()
        })
        .await
        .unwrap_or_default()
        .into();
        self.dummies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cost, Arc::clone(&hash));
        hash
    }

    /// bcrypt checks made so far.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> HeaderValue {
        use base64::Engine as _;
        HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        ))
        .unwrap()
    }

    fn config(cost: u32) -> WebConfig {
        WebConfig {
            users: HashMap::from([("prom".to_owned(), bcrypt::hash("secret", cost).unwrap())]),
            max_cost: cost,
            ..WebConfig::default()
        }
    }

    #[test]
    fn basic_auth_header_parsing() {
        let v = HeaderValue::from_static("Basic dXNlcjpwYTpzcw==");
        assert_eq!(parse_basic(&v), Some(("user".into(), "pa:ss".into())));
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer x")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic !!!")), None);
    }

    #[tokio::test]
    async fn auth_checks_and_caches() {
        let config = config(4);
        let auth = Authenticator::default();
        for round in 0..2 {
            assert_eq!(
                auth.check(&config, Some(&header("prom:secret"))).await,
                Verdict::Allowed
            );
            assert_eq!(
                auth.check(&config, Some(&header("prom:wrong"))).await,
                Verdict::Denied
            );
            assert_eq!(
                auth.check(&config, Some(&header("other:secret"))).await,
                Verdict::Denied
            );
            assert_eq!(auth.check(&config, None).await, Verdict::Denied);
            // The second round is answered from the cache.
            assert_eq!(auth.checks(), 3, "round {round}");
        }
    }

    #[tokio::test]
    async fn unknown_users_are_checked_at_the_users_cost() {
        let config = config(5);
        let auth = Authenticator::default();
        assert_eq!(
            auth.check(&config, Some(&header("nobody:x"))).await,
            Verdict::Denied
        );
        let dummy = auth.dummies.lock().unwrap().get(&5).cloned().unwrap();
        let parts: bcrypt::HashParts = dummy.parse().unwrap();
        assert_eq!(parts.get_cost(), 5);
    }

    #[tokio::test]
    async fn a_flood_of_wrong_passwords_does_not_evict_the_scraper() {
        let config = config(4);
        let auth = Authenticator::default();
        // The scraper, as Prometheus: the same credentials, again and again.
        for _ in 0..20 {
            assert_eq!(
                auth.check(&config, Some(&header("prom:secret"))).await,
                Verdict::Allowed
            );
        }
        for i in 0..3 * CACHE_ENTRIES {
            let wrong = header(&format!("prom:wrong-{i}"));
            assert_eq!(auth.check(&config, Some(&wrong)).await, Verdict::Denied);
            if i % 100 == 0 {
                // Scrapes go on meanwhile.
                assert_eq!(
                    auth.check(&config, Some(&header("prom:secret"))).await,
                    Verdict::Allowed
                );
            }
        }
        auth.known.run_pending_tasks();
        let before = auth.checks();
        assert_eq!(
            auth.check(&config, Some(&header("prom:secret"))).await,
            Verdict::Allowed
        );
        assert_eq!(
            auth.checks(),
            before,
            "the scraper's credentials were evicted"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_passwords_wait_in_a_bounded_queue() {
        let config = Arc::new(config(8));
        let auth = Arc::new(Authenticator::default());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..64 {
            let (auth, config) = (Arc::clone(&auth), Arc::clone(&config));
            tasks.spawn(async move {
                auth.check(&config, Some(&header(&format!("prom:wrong-{i}"))))
                    .await
            });
        }
        let mut busy = 0;
        while let Some(v) = tasks.join_next().await {
            match v.unwrap() {
                Verdict::Busy => busy += 1,
                v => assert_eq!(v, Verdict::Denied),
            }
        }
        assert!(busy > 0, "none of 64 at once was refused");
        assert_eq!(auth.checks(), 64 - busy, "a refused check cost a bcrypt");
    }
}
