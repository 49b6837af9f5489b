//! Counters of the API calls: requests, errors and latency, counted where
//! the calls are made. The exposition layer names and registers them
//! ([`ApiMetrics::families`]); only this layer increments them.

use std::collections::HashSet;
use std::sync::RwLock;
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
pub struct ApiLabels {
    operation: &'static str,
    account_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiErrorLabels {
    operation: &'static str,
    account_id: String,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    operation: &'static str,
}

pub type HistogramFamily = Family<OperationLabels, Histogram, fn() -> Histogram>;

fn new_duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The families, for registration.
pub struct ApiFamilies {
    pub requests: Family<ApiLabels, Counter>,
    pub errors: Family<ApiErrorLabels, Counter>,
    pub duration: HistogramFamily,
    pub retries_exhausted: Counter,
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
    requests: Family<ApiLabels, Counter>,
    errors: Family<ApiErrorLabels, Counter>,
    duration: HistogramFamily,
    /// Operations that ended on a retryable error before their last
    /// attempt: the SDK's retry quota was spent.
    retries_exhausted: Counter,
    /// The watched accounts. Counting holds the read lock until the counter
    /// is incremented, and `set_watched` removes series under the write
    /// lock, so a series removed with its account is never made again by a
    /// call that was in flight.
    watched: RwLock<HashSet<String>>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            requests: Family::default(),
            errors: Family::default(),
            duration: HistogramFamily::new_with_constructor(new_duration_histogram),
            retries_exhausted: Counter::default(),
            watched: RwLock::new(HashSet::new()),
        }
    }
}

impl ApiMetrics {
    /// The families (shared handles) for the exposition to register.
    pub fn families(&self) -> ApiFamilies {
        ApiFamilies {
            requests: self.requests.clone(),
            errors: self.errors.clone(),
            duration: self.duration.clone(),
            retries_exhausted: self.retries_exhausted.clone(),
        }
    }

    /// An operation ended without the retries it would have had, because
    /// the retry quota was spent.
    pub fn retries_exhausted(&self) {
        self.retries_exhausted.inc();
    }

    /// `account_id` if it is watched, otherwise empty; with the lock held.
    fn label<'a>(watched: &HashSet<String>, account_id: &'a str) -> &'a str {
        if watched.contains(account_id) {
            account_id
        } else {
            ""
        }
    }

    /// HTTP requests sent for `account_id` so far, all operations (0 for an
    /// account that is not watched). Reads only: makes no series.
    pub fn requests_of(&self, account_id: &str) -> u64 {
        Operation::ALL
            .into_iter()
            .filter_map(|operation| {
                self.requests
                    .get(&ApiLabels {
                        operation: operation.as_str(),
                        account_id: account_id.to_owned(),
                    })
                    .map(|c| c.get())
            })
            .sum()
    }

    /// One HTTP request was sent to the API.
    pub fn request(&self, operation: Operation, account_id: &str) {
        let watched = self.watched.read().unwrap_or_else(|e| e.into_inner());
        self.requests
            .get_or_create(&ApiLabels {
                operation: operation.as_str(),
                account_id: Self::label(&watched, account_id).to_owned(),
            })
            .inc();
    }

    /// One request (or operation) failed.
    pub fn error(&self, operation: Operation, account_id: &str, kind: ErrorKind) {
        let watched = self.watched.read().unwrap_or_else(|e| e.into_inner());
        self.errors
            .get_or_create(&ApiErrorLabels {
                operation: operation.as_str(),
                account_id: Self::label(&watched, account_id).to_owned(),
                error: kind.as_str(),
            })
            .inc();
    }

    /// How long one HTTP attempt took.
    pub fn observe_duration(&self, operation: Operation, elapsed: Duration) {
        self.duration
            .get_or_create(&OperationLabels {
                operation: operation.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the watched accounts, and removes the series of the accounts
    /// that are no longer watched, so accounts that come and go do not grow
    /// the exposition without bound.
    pub fn set_watched<'a>(&self, accounts: impl IntoIterator<Item = &'a str>) {
        let new: HashSet<String> = accounts.into_iter().map(str::to_owned).collect();
        let mut watched = self.watched.write().unwrap_or_else(|e| e.into_inner());
        for gone in watched.difference(&new) {
            for operation in Operation::ALL {
                self.requests.remove(&ApiLabels {
                    operation: operation.as_str(),
                    account_id: gone.clone(),
                });
                for kind in ErrorKind::ALL {
                    self.errors.remove(&ApiErrorLabels {
                        operation: operation.as_str(),
                        account_id: gone.clone(),
                        error: kind.as_str(),
                    });
                }
            }
        }
        *watched = new;
    }
}
