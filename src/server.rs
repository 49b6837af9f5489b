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
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cache::BotCache;
use crate::config::WebSettings;
use crate::discovery::{Discovery, TargetFactory};
use crate::gzip::{self, CompressorPool};
use crate::metrics::{self, ExporterMetrics};
use crate::probe::Prober;
use crate::render::AccountsRenderer;
use crate::webconfig::WebConfig;

/// How long a client may take to send its request headers (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long in-flight requests get to finish after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// The header Prometheus sends with its scrape timeout.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// The longest `account_id` or `bot_id` a probe accepts, in bytes. Chime IDs
/// are 36-character UUIDs; the probe cache keeps up to 100,000 keys, and
/// keys as long as a request line (hundreds of KB) would make that bound
/// meaningless.
pub const MAX_PROBE_ID_BYTES: usize = 256;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    pub cache: Arc<BotCache>,
    pub discovery: Arc<Discovery>,
    pub factory: TargetFactory,
    pub metrics: Arc<ExporterMetrics>,
    pub web: WebSettings,
    /// The scrape budget when the scraper sends no timeout header.
    pub default_budget: Duration,
    /// The file `/-/reload` and SIGHUP read again.
    pub config_file: Option<std::path::PathBuf>,
    prober: Prober,
    renderer: AccountsRenderer,
    compressors: CompressorPool,
    scrape_slots: Option<Semaphore>,
    reloading: tokio::sync::Mutex<()>,
}

impl App {
    pub fn new(
        discovery: Arc<Discovery>,
        factory: TargetFactory,
        metrics: Arc<ExporterMetrics>,
        web: WebSettings,
        default_budget: Duration,
        config_file: Option<std::path::PathBuf>,
    ) -> App {
        let scrape_slots = (web.max_requests > 0).then(|| Semaphore::new(web.max_requests));
        App {
            cache: discovery.cache(),
            renderer: AccountsRenderer::new(config_file.is_some()),
            compressors: CompressorPool::default(),
            discovery,
            factory,
            metrics,
            web,
            default_budget,
            config_file,
            prober: Prober::default(),
            scrape_slots,
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads the config file again and switches to its targets. Accounts
    /// that stay keep their cached data. A bad file changes nothing.
    pub async fn reload(&self) -> Result<usize, String> {
        let Some(path) = &self.config_file else {
            return Err("there is no --config.file to reload".into());
        };
        let _one_at_a_time = self.reloading.lock().await;
        let configs = crate::config_file::load(path).map_err(|e| e.to_string())?;
        let targets = self.factory.build_all(&configs).await;
        let count = targets.len();
        self.discovery.replace_targets(targets);
        tracing::info!(file = %path.display(), targets = count, "configuration reloaded");
        Ok(count)
    }

    /// Answers `/probe`.
    async fn probe(&self, req: &Request<Incoming>) -> Response<Body> {
        let params = query_params(req.uri().query());
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        let (Some(account_id), Some(bot_id)) = (param("account_id"), param("bot_id")) else {
            return text(
                StatusCode::BAD_REQUEST,
                "400: the account_id and bot_id parameters are required, e.g. /probe?account_id=A&bot_id=B\n",
            );
        };
        if account_id.len() > MAX_PROBE_ID_BYTES || bot_id.len() > MAX_PROBE_ID_BYTES {
            return text(
                StatusCode::BAD_REQUEST,
                &format!(
                    "400: account_id and bot_id are at most {MAX_PROBE_ID_BYTES} bytes (Chime IDs are UUIDs)\n"
                ),
            );
        }
        // The account's own target if it is watched; otherwise the first.
        let target = match self
            .cache
            .target_of(account_id)
            .or_else(|| self.discovery.targets().into_iter().next())
        {
            Some(t) => t,
            None => return text(StatusCode::SERVICE_UNAVAILABLE, "no target configured\n"),
        };
        let budget = self.scrape_budget(req.headers().get(SCRAPE_TIMEOUT_HEADER));
        let result = self
            .prober
            .probe(
                target.api.clone(),
                account_id,
                bot_id,
                target.settings.ttl,
                target.settings.backoff_min,
                budget,
            )
            .await;
        let aws = self.config_file.is_some().then(|| {
            self.cache
                .accounts()
                .iter()
                .find(|w| &*w.account_id == account_id)
                .and_then(|w| w.aws_account_id().map(str::to_owned))
                .or_else(|| target.role_aws_account().map(str::to_owned))
                .unwrap_or_default()
        });
        let body = crate::probe::encode(account_id, aws, result);
        let mut resp = Response::new(Body::from(body));
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        );
        resp
    }

    /// How long this scrape may wait for accounts that have no data yet: the
    /// scraper's own timeout minus the offset, never more than the API
    /// timeout.
    pub fn scrape_budget(&self, header: Option<&HeaderValue>) -> Duration {
        scrape_budget(header, self.web.timeout_offset, self.default_budget)
    }

    /// The full exposition for one scrape: the account families (shared
    /// chunks, rendered once per change of each account) and the exporter's
    /// telemetry (rendered per scrape, its counters move). Compressed, it is
    /// one gzip member made of pieces compressed once (see [`crate::gzip`]).
    pub async fn scrape(&self, budget: Duration, gzipped: bool) -> Body {
        self.cache.prepare_scrape(budget).await;
        let cache = &self.cache;
        let accounts = self
            .renderer
            .get(cache.generation(), gzipped, |out| cache.states_into(out));
        let mut telemetry = String::with_capacity(4096);
        if self.metrics.encode(&mut telemetry).is_err() {
            tracing::error!("encoding exporter metrics failed");
        }
        metrics::encode_eof(&mut telemetry);
        if !gzipped {
            return Body::from_lists([accounts.chunks, Arc::from([Bytes::from(telemetry)])]);
        }
        let telemetry = self.compressors.piece(telemetry.as_bytes());
        let mut checksum = accounts.checksum;
        checksum.push(&telemetry);
        Body::from_lists([
            Arc::from([Bytes::from_static(&gzip::HEADER)]),
            accounts.chunks,
            Arc::from([telemetry.data, gzip::trailer(checksum)]),
        ])
    }
}

/// The scrape budget from an (untrusted) `X-Prometheus-Scrape-Timeout-Seconds`
/// header: its value minus `offset`, at most `default`; `default` when the
/// header is absent or not a positive number.
pub fn scrape_budget(
    header: Option<&HeaderValue>,
    offset: Duration,
    default: Duration,
) -> Duration {
    header
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .map(|t| t.saturating_sub(offset).min(default))
        .unwrap_or(default)
}

/// The query parameters of a request, percent-decoded (`+` is a space).
pub fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (
                crate::chime::percent_decode(&k.replace('+', " ")),
                crate::chime::percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*`,
/// without `q=0`).
pub fn accepts_gzip(header: Option<&HeaderValue>) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// What a request asks for, from its method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Metrics,
    Landing,
    Healthy,
    Ready,
    Probe,
    Reload,
    /// `/-/reload` with a method other than POST.
    ReloadNeedsPost,
    /// A known path with a method other than GET or HEAD.
    MethodNotAllowed,
    NotFound,
}

/// Routes a request (the paths are matched exactly; the query is ignored).
pub fn route_of(method: &Method, path: &str, telemetry_path: &str) -> Route {
    if path == "/-/reload" {
        return if method == Method::POST {
            Route::Reload
        } else {
            Route::ReloadNeedsPost
        };
    }
    let route = if path == telemetry_path {
        Route::Metrics
    } else {
        match path {
            "/" => Route::Landing,
            "/-/healthy" => Route::Healthy,
            "/-/ready" => Route::Ready,
            "/probe" => Route::Probe,
            _ => return Route::NotFound,
        }
    };
    if method == Method::GET || method == Method::HEAD {
        route
    } else {
        Route::MethodNotAllowed
    }
}

/// A response body made of shared chunks: the account families (rendered
/// once per change and shared by every scrape) and the per-scrape telemetry.
/// Large chunks go out as they are, without copying; runs of small ones
/// (one account's few lines, or their gzip pieces) are gathered into one
/// frame so that writing them does not take a system call each.
#[derive(Debug, Default)]
pub struct Body {
    lists: std::collections::VecDeque<Arc<[Bytes]>>,
    /// Position in the first list.
    next: usize,
    remaining: u64,
}

/// Chunks at least this long are sent as they are: hyper queues them
/// (referenced, not copied) and writes up to 16 at a time with one `writev`.
/// Most of a gzip exposition is pieces of a few KB, one per account and
/// family, so copying them would put hundreds of KB of transient buffers on
/// every connection being written.
const SMALL_CHUNK: usize = 1024;
/// Runs of smaller chunks (an account's one-line families) are gathered into
/// frames of up to this size.
const FRAME: usize = 16 * 1024;

impl Body {
    pub fn empty() -> Body {
        Body::default()
    }

    pub fn from_chunks(chunks: impl IntoIterator<Item = Bytes>) -> Body {
        let list: Arc<[Bytes]> = chunks.into_iter().collect();
        Body::from_lists([list])
    }

    /// A body made of the chunks of each list, in order.
    pub fn from_lists(lists: impl IntoIterator<Item = Arc<[Bytes]>>) -> Body {
        let lists: std::collections::VecDeque<Arc<[Bytes]>> = lists.into_iter().collect();
        let remaining = lists
            .iter()
            .flat_map(|l| l.iter())
            .map(|c| c.len() as u64)
            .sum();
        Body {
            lists,
            next: 0,
            remaining,
        }
    }

    /// The next non-empty chunk, without taking it.
    fn peek(&mut self) -> Option<&Bytes> {
        loop {
            let front = self.lists.front()?;
            match front.get(self.next) {
                Some(chunk) if chunk.is_empty() => self.next += 1,
                Some(_) => break,
                None => {
                    self.lists.pop_front();
                    self.next = 0;
                }
            }
        }
        self.lists.front().and_then(|l| l.get(self.next))
    }

    fn take(&mut self) -> Option<Bytes> {
        let chunk = self.peek()?.clone();
        self.next += 1;
        self.remaining -= chunk.len() as u64;
        Some(chunk)
    }

    /// The next frame: a large chunk as it is, or small chunks gathered.
    fn next_frame(&mut self) -> Option<Bytes> {
        let first = self.take()?;
        if first.len() >= SMALL_CHUNK {
            return Some(first);
        }
        let mut gathered: Option<bytes::BytesMut> = None;
        while let Some(len) = self.peek().map(Bytes::len) {
            let so_far = gathered.as_ref().map_or(first.len(), |g| g.len());
            if len >= SMALL_CHUNK || so_far + len > FRAME {
                break;
            }
            let buf = gathered.get_or_insert_with(|| {
                let cap =
                    usize::try_from(self.remaining).map_or(FRAME, |r| r.min(FRAME) + first.len());
                let mut buf = bytes::BytesMut::with_capacity(cap);
                buf.extend_from_slice(&first);
                buf
            });
            if let Some(chunk) = self.take() {
                buf.extend_from_slice(&chunk);
            }
        }
        Some(gathered.map_or(first, bytes::BytesMut::freeze))
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body::from_chunks([bytes])
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.next_frame().map(|c| Ok(hyper::body::Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_owned()));
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

/// Applies the web config (basic auth, extra headers), then routes.
pub async fn handle(
    app: Arc<App>,
    web: Arc<WebConfig>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let mut resp = if app
        .web
        .config
        .authorized(&web, req.headers().get(http::header::AUTHORIZATION))
    {
        route(&app, req).await
    } else {
        let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"chime_exporter\""),
        );
        r
    };
    for (name, value) in &web.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(resp)
}

/// Routes one authorized request.
async fn route(app: &Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let mut resp = match route_of(req.method(), req.uri().path(), &app.web.telemetry_path) {
        Route::NotFound => return text(StatusCode::NOT_FOUND, "404 page not found\n"),
        Route::MethodNotAllowed => {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        Route::ReloadNeedsPost => {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "405: use POST\n");
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return resp;
        }
        Route::Reload => match app.reload().await {
            Ok(n) => text(StatusCode::OK, &format!("reloaded: {n} targets\n")),
            Err(e) if app.config_file.is_none() => text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("reload failed, the previous configuration stays: {e}\n"),
            ),
        },
        Route::Metrics => metrics_response(app, &req).await,
        Route::Probe => app.probe(&req).await,
        Route::Landing => {
            let page = landing_page(&app.web.telemetry_path);
            let mut r = Response::new(Body::from(page));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Route::Healthy => text(StatusCode::OK, "Healthy\n"),
        Route::Ready if app.cache.is_ready() => text(StatusCode::OK, "Ready\n"),
        Route::Ready => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: first collection still running\n",
        ),
    };
    if req.method() == Method::HEAD {
        *resp.body_mut() = Body::empty();
    }
    resp
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
    let gzipped = accepts_gzip(req.headers().get(http::header::ACCEPT_ENCODING));
    let body = app.scrape(budget, gzipped).await;
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        http::header::VARY,
        HeaderValue::from_static("Accept-Encoding"),
    );
    if gzipped {
        headers.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
    }
    resp
}

/// Answers a plain-HTTP request on the TLS port with a 400, as Go's servers
/// do, and completes the TLS handshake otherwise (within the header read
/// timeout, so a silent client cannot hold the connection).
async fn tls_handshake(
    stream: tokio::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    use tokio::io::AsyncWriteExt;
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return None;
    }
    // Every TLS connection starts with a handshake record (0x16).
    if first[0] != 0x16 {
        let mut stream = stream;
        let _ = stream
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
            )
            .await;
        let _ = stream.shutdown().await;
        return None;
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
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
                // Responses end with a small chunk (the telemetry) after a
                // large one: without TCP_NODELAY, Nagle's algorithm holds it
                // until the client's delayed ACK, 40 ms later.
                let _ = stream.set_nodelay(true);
                let app = Arc::clone(&app);
                let http = http.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    // The web config is read again for every connection, so
                    // rotated certificates and changed users apply at once.
                    let web = app.web.config.current();
                    let service = {
                        let (app, web) = (Arc::clone(&app), Arc::clone(&web));
                        service_fn(move |req| handle(Arc::clone(&app), Arc::clone(&web), req))
                    };
                    let result = match web.tls.clone() {
                        None => watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await,
                        Some(tls) => match tls_handshake(stream, tls).await {
                            Some(tls_stream) => {
                                watcher.watch(http.serve_connection(TokioIo::new(tls_stream), service)).await
                            }
                            None => Ok(()),
                        },
                    };
                    if let Err(err) = result {
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
    fn body_sends_large_chunks_as_they_are_and_gathers_small_ones() {
        let big = Bytes::from(vec![b'b'; 100_000]);
        let small: Vec<Bytes> = (0..5000u32)
            .map(|i| Bytes::from(format!("line {i}\n")))
            .collect();
        let mut expected = Vec::new();
        let mut lists: Vec<Arc<[Bytes]>> = vec![Arc::from(small.clone()), Arc::from([])];
        lists.push(Arc::from([
            Bytes::new(),
            big.clone(),
            Bytes::from_static(b"# EOF\n"),
        ]));
        for c in lists.iter().flat_map(|l| l.iter()) {
            expected.extend_from_slice(c);
        }
        let mut body = Body::from_lists(lists);
        assert_eq!(
            hyper::body::Body::size_hint(&body).exact(),
            Some(expected.len() as u64)
        );
        let mut frames = Vec::new();
        while let Some(frame) = body.next_frame() {
            frames.push(frame);
        }
        assert!(hyper::body::Body::is_end_stream(&body));
        assert_eq!(frames.concat(), expected);
        // 5,000 small chunks went out in a few frames of at most FRAME bytes.
        assert!(frames.len() < 10, "{} frames", frames.len());
        assert!(frames
            .iter()
            .all(|f| f.len() <= FRAME || f.len() == big.len()));
        // The large chunk was not copied.
        assert!(frames.iter().any(|f| f.as_ptr() == big.as_ptr()));
    }

    #[test]
    fn routes() {
        let m = "/metrics";
        assert_eq!(route_of(&Method::GET, "/metrics", m), Route::Metrics);
        assert_eq!(route_of(&Method::HEAD, "/", m), Route::Landing);
        assert_eq!(
            route_of(&Method::POST, "/-/ready", m),
            Route::MethodNotAllowed
        );
        assert_eq!(route_of(&Method::GET, "/metrics/", m), Route::NotFound);
        assert_eq!(route_of(&Method::GET, "/probe", m), Route::Probe);
        assert_eq!(route_of(&Method::POST, "/-/reload", m), Route::Reload);
        assert_eq!(
            route_of(&Method::GET, "/-/reload", m),
            Route::ReloadNeedsPost
        );
    }

    #[test]
    fn gzip_negotiation() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert!(accepts_gzip(Some(&h("gzip"))));
        assert!(accepts_gzip(Some(&h("deflate, GZIP;q=0.5"))));
        assert!(accepts_gzip(Some(&h("*"))));
        assert!(!accepts_gzip(Some(&h("gzip;q=0"))));
        assert!(!accepts_gzip(Some(&h("identity"))));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn budget_from_the_scrape_timeout_header() {
        let d = Duration::from_secs(10);
        let o = Duration::from_millis(500);
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(scrape_budget(None, o, d), d);
        assert_eq!(
            scrape_budget(Some(&h("4")), o, d),
            Duration::from_millis(3500)
        );
        assert_eq!(scrape_budget(Some(&h("60")), o, d), d);
        assert_eq!(scrape_budget(Some(&h("0.2")), o, d), Duration::ZERO);
        for bad in ["-1", "NaN", "inf", "", "abc", "1e400"] {
            assert_eq!(scrape_budget(Some(&h(bad)), o, d), d, "{bad}");
        }
    }

    #[test]
    fn landing_page_escapes_the_path() {
        let page = landing_page("/m<x>");
        assert!(page.contains("href=\"/m&lt;x&gt;\""));
    }
}
