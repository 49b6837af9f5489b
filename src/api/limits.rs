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
//! Collection comes first: a probe's call ([`ApiLimits::run_probe`]) steps
//! aside while any collection call waits for a slot or a permit, so that
//! probes, which any client can ask for, never delay the refreshes of the
//! watched accounts. (How many probe calls there are at all is bounded by
//! the prober's own budget.)

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
    queue: Arc<Queue>,
}

/// Collection calls waiting for a slot or a permit.
#[derive(Debug, Default)]
struct Queue {
    collection_waiting: AtomicUsize,
    /// Signalled when no collection call waits any more.
    clear: Notify,
}

/// A collection call waiting (see [`Queue`]).
struct Waiting<'a>(&'a Queue);

impl<'a> Waiting<'a> {
    fn new(queue: &'a Queue) -> Self {
        queue.collection_waiting.fetch_add(1, Ordering::AcqRel);
        Waiting(queue)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.0.collection_waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.clear.notify_waiters();
        }
    }
}

impl Queue {
    /// Waits until no collection call is waiting.
    async fn clear(&self) {
        loop {
            let notified = self.clear.notified();
            tokio::pin!(notified);
            // Registered before the check, so a wake-up between the check
            // and the wait is not lost.
            notified.as_mut().enable();
            if self.collection_waiting.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
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
            queue: Arc::default(),
        }
    }

    /// Runs one SDK operation inside the limits: a concurrency slot for the
    /// whole operation (retries included) and a rate permit for its first
    /// request.
    pub async fn run<T, F: std::future::Future<Output = T>>(
        &self,
        operation: impl FnOnce() -> F,
    ) -> T {
        let _slot = self.slot().await;
        self.run_in_slot(operation).await
    }

    /// A concurrency slot, held for several operations in a row: the pages
    /// of one listing. Holding it from the first page to the last means a
    /// started listing finishes before others start: with a slot per page,
    /// second pages queued behind hundreds of first pages, and every account
    /// in the queue held its first page (and its old snapshot) meanwhile —
    /// 15 MB during a refresh wave of 1,000 accounts (found with heaptrack).
    pub async fn slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let _waiting = Waiting::new(&self.queue);
        // The semaphore is never closed; were it, requests would go unlimited
        // by concurrency but still by rate.
        self.slots.acquire().await.ok()
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
        {
            let _waiting = Waiting::new(&self.queue);
            self.rate.until_ready().await;
        }
        Box::pin(operation()).await
    }

    /// Runs one SDK operation for a probe: as [`ApiLimits::run`], but behind
    /// every collection call that waits for a slot or a permit.
    pub async fn run_probe<T, F: std::future::Future<Output = T>>(
        &self,
        operation: impl FnOnce() -> F,
    ) -> T {
        self.queue.clear().await;
        let _slot = self.slots.acquire().await.ok();
        self.queue.clear().await;
        self.rate.until_ready().await;
        Box::pin(operation()).await
    }

    /// Collection calls waiting now (for tests and the status page).
    pub fn collection_waiting(&self) -> usize {
        self.queue.collection_waiting.load(Ordering::Acquire)
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
                limits.rate.until_ready().await;
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
