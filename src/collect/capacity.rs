//! Whether `--chime.rate-limit` can keep every account fresh: the API calls
//! the watched accounts need per second (each account's ListBots pages once
//! per its cache TTL, each target's ListAccounts pages once per discovery
//! TTL, and the Chime SDK source's ListAppInstanceBots pages per cache TTL
//! and ListAppInstances per discovery TTL) against the calls the rate limit
//! allows.
//!
//! Above 1 the exporter cannot keep up: refreshes then come late, evenly
//! (oldest first), and `chime_account_last_success_timestamp_seconds` shows
//! the real age. The exporter says so in a log line at start and whenever
//! the account set changes, naming a rate, a TTL or a shard count that
//! would fit, and in `chime_exporter_refresh_capacity_ratio`.

use std::collections::HashMap;
use std::time::Duration;

use crate::api::ACCOUNTS_PAGE_SIZE;

/// What one watched account asks of the API.
#[derive(Debug, Clone, Copy)]
pub struct Demand<'a> {
    /// The target that reaches it.
    pub target: &'a str,
    /// ListBots pages per fetch (at least 1).
    pub pages: usize,
    pub cache_ttl: Duration,
    pub discovery_ttl: Duration,
}

/// The API calls needed against those allowed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Capacity {
    /// Calls per second the watched accounts need.
    pub needed_per_second: f64,
    /// Calls per second `--chime.rate-limit` allows.
    pub allowed_per_second: f64,
    /// `needed_per_second / allowed_per_second`: above 1, refreshes fall
    /// behind.
    pub ratio: f64,
    /// The longest cache TTL among the accounts, in seconds.
    pub cache_ttl_seconds: f64,
}

impl Capacity {
    /// From what each watched account asks of the API.
    pub fn of<'a>(demands: impl IntoIterator<Item = Demand<'a>>, rate_limit: f64) -> Self {
        let mut needed = 0.0;
        let mut longest_ttl: f64 = 0.0;
        let mut per_target: HashMap<&str, (usize, f64)> = HashMap::new();
        for d in demands {
            let ttl = d.cache_ttl.as_secs_f64().max(1e-3);
            needed += d.pages.max(1) as f64 / ttl;
            longest_ttl = longest_ttl.max(ttl);
            let entry = per_target
                .entry(d.target)
                .or_insert((0, d.discovery_ttl.as_secs_f64().max(1e-3)));
            entry.0 += 1;
        }
        for (accounts, discovery_ttl) in per_target.values() {
            let page = usize::try_from(ACCOUNTS_PAGE_SIZE).unwrap_or(200);
            needed += accounts.div_ceil(page).max(1) as f64 / discovery_ttl;
        }
        let allowed = rate_limit.max(1e-9);
        Capacity {
            needed_per_second: needed,
            allowed_per_second: allowed,
            ratio: needed / allowed,
            cache_ttl_seconds: longest_ttl,
        }
    }

    /// The same, with `per_second` more calls needed by another source of
    /// the same rate limit (the Chime SDK source).
    pub fn with_other(mut self, per_second: f64) -> Self {
        self.needed_per_second += per_second.max(0.0);
        self.ratio = self.needed_per_second / self.allowed_per_second;
        self
    }

    /// Whether the rate limit keeps every account within its TTL.
    pub fn fits(&self) -> bool {
        self.ratio <= 1.0
    }

    /// What would fit, for the warning: a rate, a TTL, a shard count.
    pub fn advice(&self) -> String {
        // 10 % headroom for retries and the TTL's jitter; rounded up, but
        // not past a whole number by a rounding error.
        let up = |x: f64| (x - 1e-9).ceil();
        let rate = up(self.needed_per_second * 1.1);
        let ttl = up(self.cache_ttl_seconds * self.ratio * 1.1);
        let shards = up(self.ratio);
        format!(
            "raise --chime.rate-limit to {rate} (if the API quota allows it), raise --chime.cache-ttl to {ttl}s, \
             or spread the accounts over {shards} shards whose credentials are of different AWS accounts \
             (shards that share an AWS account share its API quota)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_per_ttl_against_the_rate() {
        let d = |target, pages, ttl| Demand {
            target,
            pages,
            cache_ttl: Duration::from_secs(ttl),
            discovery_ttl: Duration::from_secs(900),
        };
        // 400 accounts of 1 page and 100 of 2, every 300 s; 500 accounts in
        // one target (3 ListAccounts pages per 900 s).
        let demands = (0..400)
            .map(|_| d("a", 1, 300))
            .chain((0..100).map(|_| d("a", 2, 300)));
        let c = Capacity::of(demands, 10.0);
        let expected = 600.0 / 300.0 + 3.0 / 900.0;
        assert!((c.needed_per_second - expected).abs() < 1e-9, "{c:?}");
        assert!((c.ratio - expected / 10.0).abs() < 1e-9);
        assert!(c.fits());
        assert_eq!(Capacity::of([], 10.0).ratio, 0.0);
    }

    #[test]
    fn advice_names_a_rate_a_ttl_and_shards() {
        let c = Capacity {
            needed_per_second: 25.0,
            allowed_per_second: 10.0,
            ratio: 2.5,
            cache_ttl_seconds: 300.0,
        };
        assert!(!c.fits());
        let advice = c.advice();
        assert!(advice.contains("--chime.rate-limit to 28"), "{advice}");
        assert!(advice.contains("--chime.cache-ttl to 825s"), "{advice}");
        assert!(advice.contains("3 shards"), "{advice}");
    }
}
