//! Counters of the API calls: requests, errors and latency, counted where
//! the calls are made. The exposition layer names and registers them
//! ([`ApiMetrics::families`]); only this layer increments them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::error::ErrorKind;
use super::operation::Operation;

/// Latency buckets for API calls, in seconds: Chime answers in tens of
/// milliseconds when healthy; the top buckets catch retries and timeouts.
const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    operation: &'static str,
}

pub type HistogramFamily = Family<OperationLabels, Histogram, fn() -> Histogram>;

fn new_duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The families, for registration. (Requests and errors per account are
/// not among them: see [`CallTable`].)
pub struct ApiFamilies {
    pub duration: HistogramFamily,
    pub retries_exhausted: Counter,
}

/// One account's API calls: requests per operation, and errors per
/// operation and kind. A count of 0 is a series not yet made.
///
/// Each account's counters have a version that moves with them, so that the
/// exposition renders again only the accounts whose counts moved (with ten
/// thousand accounts, encoding every account's series at every scrape cost
/// more than everything else the scrape did).
#[derive(Debug)]
pub struct AccountCalls {
    account_id: Arc<str>,
    requests: [AtomicU64; Operation::ALL.len()],
    /// The few (operation, kind) pairs that ever failed, with their counts:
    /// a full table would be 85 counters for every one of ten thousand
    /// accounts, nearly all of them 0.
    errors: Mutex<Vec<(Operation, ErrorKind, u64)>>,
    version: AtomicU64,
}

impl AccountCalls {
    fn new(account_id: Arc<str>) -> AccountCalls {
        AccountCalls {
            account_id,
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: Mutex::new(Vec::new()),
            version: AtomicU64::new(0),
        }
    }

    /// The `account_id` label: empty for calls about accounts not watched.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Moves whenever a count does; read it before the counts.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Requests sent for `operation`.
    pub fn requests(&self, operation: Operation) -> u64 {
        self.requests[operation as usize].load(Ordering::Relaxed)
    }

    /// The failed requests (or operations), by operation and kind, in
    /// the order of [`Operation::ALL`] and [`ErrorKind::ALL`].
    pub fn errors(&self) -> Vec<(Operation, ErrorKind, u64)> {
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        errors.sort_by_key(|(op, kind, _)| (*op as usize, *kind as usize));
        errors
    }

    fn count_request(&self, operation: Operation) {
        self.requests[operation as usize].fetch_add(1, Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }

    fn count_error(&self, operation: Operation, kind: ErrorKind) {
        {
            let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
            match errors
                .iter_mut()
                .find(|(op, k, _)| *op == operation && *k == kind)
            {
                Some((_, _, n)) => *n += 1,
                None => errors.push((operation, kind, 1)),
            }
        }
        self.version.fetch_add(1, Ordering::Release);
    }
}

/// Every watched account's calls, in exposition order, then the calls about
/// accounts not watched (under an empty `account_id`).
#[derive(Debug, Default)]
pub struct CallTable {
    accounts: Vec<Arc<AccountCalls>>,
    index: HashMap<Arc<str>, usize>,
}

impl CallTable {
    /// The watched accounts' counters, in order.
    pub fn accounts(&self) -> &[Arc<AccountCalls>] {
        &self.accounts
    }

    fn get(&self, account_id: &str) -> Option<&AccountCalls> {
        self.index.get(account_id).map(|&i| &*self.accounts[i])
    }
}

/// Counters of the API calls, shared by the SDK interceptor and the client.
///
/// Only watched accounts get series of their own. Calls about any other
/// account (a `/probe` of an account this exporter does not watch, a fetch
/// that ends after its account went) are counted with an empty `account_id`:
/// `/probe` takes its account from the query string, and a label taken from
/// requests would let any client grow `/metrics` without bound.
#[derive(Debug)]
pub struct ApiMetrics {
    /// The watched accounts' counters. A call looks its account up in the
    /// table current when it is counted; `set_watched` swaps in a table
    /// without the accounts that went, so a series removed with its account
    /// is never made again by a call that was in flight.
    calls: RwLock<Arc<CallTable>>,
    unwatched: Arc<AccountCalls>,
    /// Moves with every count and every change of the table.
    changes: AtomicU64,
    duration: HistogramFamily,
    /// Operations that ended on a retryable error before their last
    /// attempt: the SDK's retry quota was spent.
    retries_exhausted: Counter,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            calls: RwLock::default(),
            unwatched: Arc::new(AccountCalls::new(Arc::from(""))),
            changes: AtomicU64::new(0),
            duration: HistogramFamily::new_with_constructor(new_duration_histogram),
            retries_exhausted: Counter::default(),
        }
    }
}

impl ApiMetrics {
    /// The families (shared handles) for the exposition to register.
    pub fn families(&self) -> ApiFamilies {
        ApiFamilies {
            duration: self.duration.clone(),
            retries_exhausted: self.retries_exhausted.clone(),
        }
    }

    /// The watched accounts' counters.
    pub fn table(&self) -> Arc<CallTable> {
        self.calls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The counters of calls about accounts not watched.
    pub fn unwatched(&self) -> &Arc<AccountCalls> {
        &self.unwatched
    }

    /// Moves whenever any count or the table changes; read it before them.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// An operation ended without the retries it would have had, because
    /// the retry quota was spent.
    pub fn retries_exhausted(&self) {
        self.retries_exhausted.inc();
    }

    /// Counts with the counters of `account_id`, or of the accounts not
    /// watched.
    fn count(&self, account_id: &str, count: impl FnOnce(&AccountCalls)) {
        let table = self.calls.read().unwrap_or_else(|e| e.into_inner());
        count(table.get(account_id).unwrap_or(&self.unwatched));
        self.changes.fetch_add(1, Ordering::Release);
    }

    /// HTTP requests sent for `account_id` so far, all operations (0 for an
    /// account that is not watched).
    pub fn requests_of(&self, account_id: &str) -> u64 {
        let table = self.table();
        table.get(account_id).map_or(0, |calls| {
            Operation::ALL
                .into_iter()
                .map(|op| calls.requests(op))
                .sum()
        })
    }

    /// One HTTP request was sent to the API.
    pub fn request(&self, operation: Operation, account_id: &str) {
        self.count(account_id, |calls| calls.count_request(operation));
    }

    /// One request (or operation) failed.
    pub fn error(&self, operation: Operation, account_id: &str, kind: ErrorKind) {
        self.count(account_id, |calls| calls.count_error(operation, kind));
    }

    /// How long one HTTP attempt took.
    pub fn observe_duration(&self, operation: Operation, elapsed: Duration) {
        self.duration
            .get_or_create(&OperationLabels {
                operation: operation.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the watched accounts, in exposition order. Accounts that stay
    /// keep their counts; the series of accounts that went go with them, so
    /// accounts that come and go do not grow the exposition without bound.
    pub fn set_watched<'a>(&self, accounts: impl IntoIterator<Item = &'a str>) {
        let mut calls = self.calls.write().unwrap_or_else(|e| e.into_inner());
        let mut table = CallTable::default();
        for account_id in accounts {
            if table.index.contains_key(account_id) {
                continue;
            }
            let kept = calls.index.get(account_id).map(|&i| &calls.accounts[i]);
            let entry = match kept {
                Some(kept) => Arc::clone(kept),
                None => Arc::new(AccountCalls::new(Arc::from(account_id))),
            };
            table
                .index
                .insert(Arc::clone(&entry.account_id), table.accounts.len());
            table.accounts.push(entry);
        }
        *calls = Arc::new(table);
        self.changes.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_index_the_counters_in_order() {
        for (i, op) in Operation::ALL.into_iter().enumerate() {
            assert_eq!(op as usize, i);
        }
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
        }
    }

    #[test]
    fn accounts_that_stay_keep_their_counts_and_a_gone_one_starts_again() {
        let api = ApiMetrics::default();
        api.set_watched(["a", "b"]);
        api.request(Operation::ListBots, "a");
        api.request(Operation::ListBots, "b");
        let before = api.changes();
        api.set_watched(["b"]);
        assert!(api.changes() > before);
        api.request(Operation::ListBots, "a");
        assert_eq!(api.requests_of("b"), 1);
        assert_eq!(api.requests_of("a"), 0);
        assert_eq!(api.unwatched().requests(Operation::ListBots), 1);
        api.set_watched(["a", "b"]);
        assert_eq!(api.requests_of("a"), 0);
        let table = api.table();
        let order: Vec<&str> = table.accounts().iter().map(|c| c.account_id()).collect();
        assert_eq!(order, ["a", "b"]);
    }
}
