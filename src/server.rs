//! The HTTP side: routes, scrape budget, limits and graceful shutdown.
//!
//! Routes: the telemetry path (default `/metrics`), `/` (a small landing
//! page), `/-/healthy` (200 while the process runs) and `/-/ready` (200 once
//! the first collection attempt finished). `GET` and `HEAD` only; other
//! methods get 405, other paths 404.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cache::BotCache;
use crate::config::WebSettings;
use crate::metrics::{self, AccountsRenderer, ExporterMetrics};

/// How long a client may take to send its request headers (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long in-flight requests get to finish after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// The header Prometheus sends with its scrape timeout.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    pub cache: Arc<BotCache>,
    pub metrics: Arc<ExporterMetrics>,
    pub web: WebSettings,
    /// The scrape budget when the scraper sends no timeout header.
    pub default_budget: Duration,
    renderer: AccountsRenderer,
    scrape_slots: Option<Semaphore>,
}

impl App {
    pub fn new(
        cache: Arc<BotCache>,
        metrics: Arc<ExporterMetrics>,
        web: WebSettings,
        default_budget: Duration,
    ) -> App {
        let scrape_slots = (web.max_requests > 0).then(|| Semaphore::new(web.max_requests));
        App {
            cache,
            metrics,
            web,
            default_budget,
            renderer: AccountsRenderer::default(),
            scrape_slots,
        }
    }

    /// How long this scrape may wait for accounts that have no data yet: the
    /// scraper's own timeout minus the offset, never more than the API
    /// timeout.
    pub fn scrape_budget(&self, header: Option<&HeaderValue>) -> Duration {
        let from_header = header
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
            .and_then(|v| Duration::try_from_secs_f64(v).ok())
            .map(|t| t.saturating_sub(self.web.timeout_offset));
        match from_header {
            Some(budget) => budget.min(self.default_budget),
            None => self.default_budget,
        }
    }

    /// The full exposition for one scrape.
    pub async fn scrape(&self, budget: Duration) -> Bytes {
        self.cache.prepare_scrape(budget).await;
        let cache = &self.cache;
        let accounts = self.renderer.get(cache.generation(), || cache.states());
        let mut telemetry = String::with_capacity(4096);
        if self.metrics.encode(&mut telemetry).is_err() {
            tracing::error!("encoding exporter metrics failed");
        }
        metrics::encode_eof(&mut telemetry);
        let mut body = Vec::with_capacity(accounts.len() + telemetry.len());
        body.extend_from_slice(&accounts);
        body.extend_from_slice(telemetry.as_bytes());
        Bytes::from(body)
    }
}

type Body = Full<Bytes>;

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn landing_page(telemetry_path: &str) -> String {
    let path = html_escape(telemetry_path);
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Chime Exporter</title></head>\n<body>\n\
         <h1>Chime Exporter</h1>\n\
         <p>Prometheus exporter for the Amazon Chime administration API (bots and accounts).</p>\n\
         <ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n\
         <li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n<p>Version {}</p>\n</body>\n</html>\n",
        metrics::build::VERSION
    )
}

/// Routes one request.
pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    let known =
        path == app.web.telemetry_path || path == "/" || path == "/-/healthy" || path == "/-/ready";
    if !known {
        return Ok(text(StatusCode::NOT_FOUND, "404 page not found\n"));
    }
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(resp);
    }
    let mut resp = if path == app.web.telemetry_path {
        metrics_response(&app, &req).await
    } else if path == "/" {
        let mut r = Response::new(Full::new(Bytes::from(landing_page(
            &app.web.telemetry_path,
        ))));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    } else if path == "/-/healthy" {
        text(StatusCode::OK, "Healthy\n")
    } else if app.cache.is_ready() {
        text(StatusCode::OK, "Ready\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: first collection still running\n",
        )
    };
    if head {
        *resp.body_mut() = Full::new(Bytes::new());
    }
    Ok(resp)
}

async fn metrics_response(app: &App, req: &Request<Incoming>) -> Response<Body> {
    let _permit = match &app.scrape_slots {
        Some(slots) => match slots.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many concurrent scrapes (--web.max-requests)\n",
                )
            }
        },
        None => None,
    };
    let budget = app.scrape_budget(req.headers().get(SCRAPE_TIMEOUT_HEADER));
    let body = app.scrape(budget).await;
    let mut resp = Response::new(Full::new(body));
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Accepts connections until `shutdown` resolves, then lets in-flight
/// requests finish for at most [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer): (tokio::net::TcpStream, SocketAddr) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        // Out of file descriptors and the like: wait a bit
                        // rather than spin.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let app = Arc::clone(&app);
                let service = service_fn(move |req| handle(Arc::clone(&app), req));
                let conn = http.serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(err) = conn.await {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_page_escapes_the_path() {
        let page = landing_page("/m<x>");
        assert!(page.contains("href=\"/m&lt;x&gt;\""));
    }
}
