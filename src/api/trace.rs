//! A record of the HTTP attempts one piece of work made, for
//! `/probe?debug=true`: run the work inside [`traced`], and every attempt
//! the HTTP client wrapper sends on its behalf is noted (operation, status,
//! error class, duration). Work outside [`traced`] records nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::error::ErrorKind;
use super::operation::Operation;

/// One HTTP attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub operation: Operation,
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    /// The error class, when the attempt failed.
    pub error: Option<ErrorKind>,
    pub duration: Duration,
}

tokio::task_local! {
    static TRACE: Arc<Mutex<Vec<Attempt>>>;
}

/// Runs `work`, noting its attempts.
pub async fn traced<F: std::future::Future>(work: F) -> (F::Output, Vec<Attempt>) {
    let trace = Arc::new(Mutex::new(Vec::new()));
    let out = TRACE.scope(Arc::clone(&trace), work).await;
    let attempts = std::mem::take(&mut *trace.lock().unwrap_or_else(|e| e.into_inner()));
    (out, attempts)
}

/// Notes an attempt, if the current work is traced.
pub(crate) fn record(attempt: Attempt) {
    let _ = TRACE.try_with(|t| t.lock().unwrap_or_else(|e| e.into_inner()).push(attempt));
}
