//! When each key (a Chime account, a Chime SDK AppInstance) is due to be
//! fetched again, in order of time: shared by both sources' caches
//! ([`super::BotCache`], [`super::SdkCache`]), so that a scrape finds the
//! due keys without looking at the others.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// When each account is due to be fetched again, in order of time.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    by_time: BTreeSet<(Instant, Arc<str>)>,
    at: HashMap<Arc<str>, Instant>,
}

impl Schedule {
    pub fn set(&mut self, account: Arc<str>, at: Instant) {
        if let Some(old) = self.at.insert(Arc::clone(&account), at) {
            self.by_time.remove(&(old, Arc::clone(&account)));
        }
        self.by_time.insert((at, account));
    }

    pub fn remove(&mut self, account: &str) {
        if let Some((key, at)) = self.at.remove_entry(account) {
            self.by_time.remove(&(at, key));
        }
    }

    /// The accounts due at `now`.
    pub fn due(&self, now: Instant) -> impl Iterator<Item = &Arc<str>> {
        self.by_time
            .iter()
            .take_while(move |(at, _)| *at <= now)
            .map(|(_, account)| account)
    }

    /// Whether `account` has a time (is scheduled at all).
    pub fn contains(&self, account: &str) -> bool {
        self.at.contains_key(account)
    }

    pub fn is_due(&self, account: &str, now: Instant) -> bool {
        self.at.get(account).is_none_or(|at| *at <= now)
    }
}
