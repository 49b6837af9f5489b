//! HTTP/2 connections held to the bounds HTTP/1 connections get from hyper
//! and [`super::deadline`].
//!
//! hyper's HTTP/2 server has no timeout for the client's preface, none for
//! an idle connection (any client answers the keep-alive pings), and sends a
//! response body only as the client's flow-control window allows, without
//! asking the body again — so neither the body's deadline nor the socket's
//! write deadline fires for a client that opens streams and never grants a
//! window. Each of those held one of `--web.max-connections` (and a snapshot
//! of the exposition per stream) for as long as the client liked, without
//! a password. A watchdog beside each connection closes it:
//!
//! * gracefully, once no request has been open for [`IDLE_LIMIT`] (the
//!   preface included), as hyper closes an HTTP/1 connection that sends no
//!   request within the header read timeout;
//! * at once, when a request has been open for longer than the stall limit
//!   (the longest a scrape's budget and write margin allow);
//! * gracefully, when the server shuts down.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A connection with no open request for this long is closed: the header
/// read timeout HTTP/1 connections get (`http::HEADER_READ_TIMEOUT`).
pub const IDLE_LIMIT: Duration = Duration::from_secs(10);

/// The requests open on one connection.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<ActivityState>,
}

#[derive(Debug)]
struct ActivityState {
    next_id: u64,
    open: HashMap<u64, Instant>,
    idle_since: Instant,
}

/// One open request; it ends when its response body is dropped (sent or
/// abandoned).
#[derive(Debug)]
pub struct RequestGuard {
    activity: Arc<Activity>,
    id: u64,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.activity.lock();
        state.open.remove(&self.id);
        if state.open.is_empty() {
            state.idle_since = Instant::now();
        }
    }
}

/// What the watchdog does with a connection.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// No request for [`IDLE_LIMIT`].
    Idle,
    /// A request open past the stall limit.
    Stalled,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(ActivityState {
                next_id: 0,
                open: HashMap::new(),
                idle_since: Instant::now(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request starts.
    pub fn start(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.open.insert(id, Instant::now());
        RequestGuard {
            activity: Arc::clone(self),
            id,
        }
    }

    fn verdict(&self, now: Instant, stall_limit: Duration) -> Verdict {
        let state = self.lock();
        if state
            .open
            .values()
            .any(|started| now.saturating_duration_since(*started) > stall_limit)
        {
            Verdict::Stalled
        } else if state.open.is_empty()
            && now.saturating_duration_since(state.idle_since) >= IDLE_LIMIT
        {
            Verdict::Idle
        } else {
            Verdict::Keep
        }
    }
}

/// Serves one HTTP/2 connection under the watchdog (see the module
/// documentation). `activity` must be the one the connection's service
/// starts its requests on; `stopping` turns `true` when the server shuts
/// down; a connection told to close gracefully is dropped after `grace`.
pub async fn watch<F, E>(
    connection: F,
    graceful_shutdown: impl Fn(Pin<&mut F>),
    activity: Arc<Activity>,
    stall_limit: Duration,
    grace: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), E>
where
    F: Future<Output = Result<(), E>>,
{
    tokio::pin!(connection);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            result = &mut connection => return result,
            _ = tick.tick() => {
                let now = Instant::now();
                if closing.is_some_and(|since| now.duration_since(since) > grace) {
                    return Ok(());
                }
                match activity.verdict(now, stall_limit) {
                    // Dropping the connection closes the socket.
                    Verdict::Stalled => return Ok(()),
                    Verdict::Idle if closing.is_none() => {
                        graceful_shutdown(connection.as_mut());
                        closing = Some(now);
                    }
                    _ => {}
                }
            }
            changed = stopping.changed(), if closing.is_none() => {
                if changed.is_err() || *stopping.borrow() {
                    graceful_shutdown(connection.as_mut());
                    closing = Some(Instant::now());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_stalled_and_busy_connections() {
        let activity = Activity::new();
        let start = Instant::now();
        let limit = Duration::from_secs(30);
        assert_eq!(activity.verdict(start, limit), Verdict::Keep);
        assert_eq!(
            activity.verdict(start + IDLE_LIMIT, limit),
            Verdict::Idle,
            "no request at all: the preface counts as idle"
        );
        let guard = activity.start();
        assert_eq!(
            activity.verdict(start + IDLE_LIMIT * 2, limit),
            Verdict::Keep
        );
        assert_eq!(
            activity.verdict(Instant::now() + limit + Duration::from_secs(1), limit),
            Verdict::Stalled
        );
        drop(guard);
        let ended = Instant::now();
        assert_eq!(activity.verdict(ended, limit), Verdict::Keep);
        assert_eq!(activity.verdict(ended + IDLE_LIMIT, limit), Verdict::Idle);
    }
}
