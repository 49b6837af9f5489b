//! The limits every API request goes through, retries included: at most
//! `--chime.concurrency` operations in flight, at most `--chime.rate-limit`
//! requests per second (a GCRA limiter from `governor` with a burst of one).
//!
//! An operation waits for its slot and its first request's permit *before*
//! the SDK starts it ([`ApiLimits::run`]), so time spent queueing behind
//! other accounts does not count against `--chime.timeout`; retries wait
//! for their permits inside the SDK call, in the HTTP client wrapper
//! ([`LimitedClient`]), which also counts and times every request as it
//! goes out.
//!
//! Calls take turns by [`Priority`]: a call steps aside while any call of a
//! higher class waits for a slot or a permit. First fetches (an account
//! without data yet, and discovery) go before refreshes of accounts that
//! have data, so a cold fill shows every account as soon as it can; and
//! collection goes before probes, which any client can ask for, so probes
//! never delay the watched accounts. (How many probe calls there are at all
//! is bounded by the prober's own budget.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::{Notify, Semaphore};

use super::error::{header_error_type, ErrorKind};
use super::operation::operation_of;
use super::telemetry::ApiMetrics;
use super::trace::{record, Attempt};

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    slots: Arc<Semaphore>,
    rate: Arc<governor::DefaultDirectRateLimiter>,
    /// Slot holders take rate permits in turn (see [`ApiLimits::permit`]).
    turn: Arc<tokio::sync::Mutex<()>>,
    queue: Arc<Queue>,
}

/// Which calls go first when several wait (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Discovery, and the first fetch of an account without data.
    First = 0,
    /// The refresh of an account that has data.
    Refresh = 1,
    /// A probe's GetBot.
    Probe = 2,
}

/// Calls waiting for a slot, by priority.
///
/// Within a class calls queue first come, first served (one semaphore per
/// class lets through one head at a time); the heads of the classes — three
/// at most — then take a free slot in class order. A freed slot wakes only
/// those heads, however many calls wait behind them.
#[derive(Debug)]
struct Queue {
    waiting: [AtomicUsize; 3],
    heads: [Semaphore; 3],
    /// Signalled when a slot is freed or a class has no call waiting.
    changed: Notify,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            waiting: Default::default(),
            heads: [Semaphore::new(1), Semaphore::new(1), Semaphore::new(1)],
            changed: Notify::new(),
        }
    }
}

/// A call waiting (see [`Queue`]).
struct Waiting<'a>(&'a Queue, Priority);

impl<'a> Waiting<'a> {
    fn new(queue: &'a Queue, priority: Priority) -> Self {
        queue.waiting[priority as usize].fetch_add(1, Ordering::AcqRel);
        Waiting(queue, priority)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.0.waiting[self.1 as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_waiters();
        }
    }
}

/// A concurrency slot; freeing it lets the next head in.
pub struct Slot<'a> {
    permit: Option<tokio::sync::SemaphorePermit<'a>>,
    queue: &'a Queue,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        // Returned first, so that the heads woken find it free.
        self.permit.take();
        self.queue.changed.notify_waiters();
    }
}

/// Waits for a rate permit, to the microsecond.
///
/// A timer wakes at millisecond ticks at best: at high rates (the spacing
/// is 100 µs at 10,000 a second) every request that found the limiter busy
/// waited a whole tick, and slots that freed together each lost most of a
/// millisecond (measured: 21.9 ms a call against a 20 ms API at concurrency
/// 8). Waits under a millisecond yield to the other tasks until the permit
/// is due instead; longer ones sleep.
async fn permit(rate: &governor::DefaultDirectRateLimiter) {
    use governor::clock::Clock as _;
    let clock = governor::clock::DefaultClock::default();
    loop {
        let wait = match rate.check() {
            Ok(()) => return,
            Err(not_until) => not_until.wait_time_from(clock.now()),
        };
        if wait >= Duration::from_millis(1) {
            tokio::time::sleep(wait).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

impl ApiLimits {
    pub fn new(concurrency: usize, per_second: f64) -> ApiLimits {
        let period = Duration::from_secs_f64(1.0 / per_second.max(0.001));
        let quota = governor::Quota::with_period(period)
            .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN));
        ApiLimits {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            rate: Arc::new(governor::RateLimiter::direct(quota)),
            turn: Arc::default(),
            queue: Arc::default(),
        }
    }

    /// Runs one SDK operation inside the limits: a concurrency slot for the
    /// whole operation (retries included), in its turn, and a rate permit
    /// for its first request.
    pub async fn run<T, F: std::future::Future<Output = T>>(
        &self,
        priority: Priority,
        operation: impl FnOnce() -> F,
    ) -> T {
        let _slot = self.slot(priority).await;
        self.run_in_slot(operation).await
    }

    /// A concurrency slot, held for several operations in a row: the pages
    /// of one listing. Holding it from the first page to the last means a
    /// started listing finishes before others start: with a slot per page,
    /// second pages queued behind hundreds of first pages, and every account
    /// in the queue held its first page (and its old snapshot) meanwhile —
    /// 15 MB during a refresh wave of 1,000 accounts (found with heaptrack).
    ///
    /// The slot is taken in turn (see [`Priority`] and `Queue`).
    pub async fn slot(&self, priority: Priority) -> Slot<'_> {
        let queue = &*self.queue;
        let _waiting = Waiting::new(queue, priority);
        // First come, first served within the class. (The semaphores are
        // never closed.)
        let _head = queue.heads[priority as usize].acquire().await.ok();
        loop {
            let changed = queue.changed.notified();
            tokio::pin!(changed);
            // Registered before the checks, so a wake-up between them and
            // the wait is not lost.
            changed.as_mut().enable();
            let ahead = queue.waiting[..priority as usize]
                .iter()
                .any(|w| w.load(Ordering::Acquire) > 0);
            if !ahead {
                if let Ok(permit) = self.slots.try_acquire() {
                    return Slot {
                        permit: Some(permit),
                        queue,
                    };
                }
            }
            changed.await;
        }
    }

    /// Runs one SDK operation in a slot already held: waits for the rate
    /// permit of its first request, then makes the operation's future.
    ///
    /// The future is made, and boxed, only then: an SDK operation future is
    /// some 20 KB, and held inline in every refresh task waiting its turn it
    /// made a refresh wave of 1,000 accounts hold 20 MB (measured).
    pub async fn run_in_slot<T, F: std::future::Future<Output = T>>(
        &self,
        operation: impl FnOnce() -> F,
    ) -> T {
        // Only slot holders wait here (at most `--chime.concurrency`): the
        // turns were taken for the slots.
        self.permit().await;
        Box::pin(operation()).await
    }

    /// A rate permit, in turn: the slot holders wait first come, first
    /// served (tokio's mutex is fair). Without the turn, every holder slept
    /// until the same instant and whichever woke first won: when the rate
    /// limit was short of what the accounts needed, one refresh lost that
    /// race eleven times running and its account went a whole extra cycle
    /// stale (found by the scale test's "none starves").
    async fn permit(&self) {
        let _turn = self.turn.lock().await;
        permit(&self.rate).await;
    }

    /// Calls of `priority` waiting now.
    pub fn waiting(&self, priority: Priority) -> usize {
        self.queue.waiting[priority as usize].load(Ordering::Acquire)
    }
}

/// Wraps the SDK's HTTP client so that every retry waits for its rate
/// permit, and every request is counted and timed as it goes out.
#[derive(Debug)]
pub(crate) struct LimitedClient {
    pub inner: SharedHttpClient,
    pub limits: ApiLimits,
    pub metrics: Arc<ApiMetrics>,
}

impl HttpClient for LimitedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limits: self.limits.clone(),
            metrics: self.metrics.clone(),
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    limits: ApiLimits,
    metrics: Arc<ApiMetrics>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let limits = self.limits.clone();
        let metrics = self.metrics.clone();
        // The SDK numbers its attempts in `amz-sdk-request: attempt=N; max=M`.
        // The first one's permit was taken before the operation started;
        // every retry takes its own.
        let retry = request
            .headers()
            .get("amz-sdk-request")
            .and_then(|v| v.split(';').next())
            .and_then(|a| a.trim().strip_prefix("attempt="))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n > 1);
        HttpConnectorFuture::new(async move {
            if retry {
                limits.permit().await;
            }
            let (operation, account_id) = operation_of(request.uri());
            metrics.request(operation, &account_id);
            let started = Instant::now();
            let result = inner.call(request).await;
            metrics.observe_duration(operation, started.elapsed());
            let (status, error) = match &result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let error = (status >= 300).then(|| {
                        header_error_type(response)
                            .map(ErrorKind::from_aws_code)
                            .unwrap_or(if status >= 500 {
                                ErrorKind::Http5xx
                            } else {
                                ErrorKind::Http4xx
                            })
                    });
                    (Some(status), error)
                }
                Err(e) if e.is_timeout() => (None, Some(ErrorKind::Timeout)),
                Err(_) => (None, Some(ErrorKind::Connection)),
            };
            record(Attempt {
                operation,
                status,
                error,
                duration: started.elapsed(),
            });
            result
        })
    }
}

/// The SDK's own default HTTPS client (hyper 1.x, rustls with aws-lc, proxy
/// settings from the environment), built the way its runtime plugin builds
/// it, so that it can be wrapped in [`LimitedClient`].
pub(crate) fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_take_turns_by_priority() {
        // One slot, taken: everyone queues behind it.
        let limits = ApiLimits::new(1, 10_000.0);
        let held = limits.slot(Priority::First).await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, p) in [
            Priority::Probe,
            Priority::Refresh,
            Priority::First,
            Priority::Refresh,
        ]
        .into_iter()
        .enumerate()
        {
            let (limits, order) = (limits.clone(), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                limits
                    .run(p, || async move {
                        order.lock().unwrap().push((i, p));
                    })
                    .await
            }));
            // Queued in this order.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(limits.waiting(Priority::Refresh), 2);
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        let order: Vec<(usize, Priority)> = order.lock().unwrap().clone();
        assert_eq!(
            order,
            [
                (2, Priority::First),
                (1, Priority::Refresh),
                (3, Priority::Refresh),
                (0, Priority::Probe)
            ],
            "first fills, then refreshes (in their order), then probes"
        );
    }
}
