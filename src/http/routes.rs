//! The route table and the handlers: what each path answers.
//!
//! | path | methods | answer |
//! | --- | --- | --- |
//! | the telemetry path (`/metrics`) | GET, HEAD | the exposition |
//! | `/` | GET, HEAD | the landing page |
//! | `/-/healthy` | GET, HEAD | 200 while the process runs |
//! | `/-/ready` | GET, HEAD | 200 once the first collection finished |
//! | `/probe` | GET, HEAD | one bot through GetBot (`debug=true`: its log) |
//! | `/status` | GET, HEAD | targets and accounts (`format=json`: for scripts) |
//! | `/-/reload` | POST | read `--config.file` again |
//!
//! Other methods on these paths get 405, other paths 404.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::Semaphore;

use super::auth::{Authenticator, Verdict};
use super::body::Body;
use super::deadline::WRITE_MARGIN;
use super::landing::landing_page;
use super::request::{
    accepts_gzip, negotiate_format, query_params, scrape_budget, SCRAPE_TIMEOUT_HEADER,
};
use super::status::{status_page, CSP};
use crate::collect::{BotCache, ProbeRefused, Prober, Reloaded, Reloader};
use crate::config::{WebConfig, WebSettings};
use crate::expose::{debug_probe, encode_probe, Exposition, Format, HttpRequests, StatusSources};

/// The longest `account_id` or `bot_id` a probe accepts. Chime IDs are
/// 36-character UUIDs.
pub const MAX_PROBE_ID_LEN: usize = 64;

/// Whether `id` has the conservative form a probe accepts: letters, digits
/// and `-`, at most [`MAX_PROBE_ID_LEN`] long. Checked before anything else,
/// so that what a client sends reaches no cache key, log line or request
/// path unless it looks like a Chime id.
pub fn valid_probe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_PROBE_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct State {
    pub cache: Arc<BotCache>,
    pub exposition: Exposition,
    pub prober: Prober,
    pub reloader: Arc<Reloader>,
    pub web: WebSettings,
    /// The scrape budget when the scraper sends no timeout header.
    pub default_budget: Duration,
    /// Whether per-account series carry `aws_account_id`.
    pub with_aws: bool,
    /// What `/status` shows.
    pub status: StatusSources,
    /// The exporter's own answers, counted.
    pub http_requests: HttpRequests,
    auth: Authenticator,
    scrape_slots: Option<Semaphore>,
}

impl State {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cache: Arc<BotCache>,
        exposition: Exposition,
        prober: Prober,
        reloader: Arc<Reloader>,
        web: WebSettings,
        default_budget: Duration,
        with_aws: bool,
        status: StatusSources,
        http_requests: HttpRequests,
    ) -> State {
        let scrape_slots = (web.max_requests > 0).then(|| Semaphore::new(web.max_requests));
        State {
            cache,
            exposition,
            prober,
            reloader,
            web,
            default_budget,
            with_aws,
            status,
            http_requests,
            auth: Authenticator::default(),
            scrape_slots,
        }
    }

    /// How long this scrape may wait for accounts that have no data yet: the
    /// scraper's own timeout minus the offset, never more than the API
    /// timeout.
    fn budget(&self, req: &Request<Incoming>) -> Duration {
        scrape_budget(
            req.headers().get(SCRAPE_TIMEOUT_HEADER),
            self.web.timeout_offset,
            self.default_budget,
        )
    }
}

/// What a request asks for, from its method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Metrics,
    Landing,
    Healthy,
    Ready,
    Probe,
    Status,
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
            "/status" => Route::Status,
            _ => return Route::NotFound,
        }
    };
    if method == Method::GET || method == Method::HEAD {
        route
    } else {
        Route::MethodNotAllowed
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

impl Route {
    /// The `handler` label of `chime_exporter_http_requests_total`.
    pub fn handler(self) -> &'static str {
        match self {
            Route::Metrics => "metrics",
            Route::Landing => "landing",
            Route::Healthy => "healthy",
            Route::Ready => "ready",
            Route::Probe => "probe",
            Route::Status => "status",
            Route::Reload | Route::ReloadNeedsPost => "reload",
            Route::MethodNotAllowed | Route::NotFound => "other",
        }
    }
}

/// Applies the web config in force for this request (rate limit, basic
/// auth, extra headers), routes, and counts the answer.
pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let handler = route_of(req.method(), req.uri().path(), &state.web.telemetry_path).handler();
    let resp = authorize_and_route(&state, req).await;
    state.http_requests.inc(handler, resp.status().as_u16());
    Ok(resp)
}

async fn authorize_and_route(state: &State, req: Request<Incoming>) -> Response<Body> {
    let web: Arc<WebConfig> = state.web.config.latest();
    // `rate_limit` before anything costs work (bcrypt included), as the
    // toolkit: one bucket for all clients.
    if web.rate_limit.as_ref().is_some_and(|l| l.check().is_err()) {
        let mut r = text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n");
        for (name, value) in &web.headers {
            r.headers_mut().insert(name.clone(), value.clone());
        }
        return r;
    }
    let verdict = state
        .auth
        .check(&web, req.headers().get(http::header::AUTHORIZATION))
        .await;
    let mut resp = match verdict {
        Verdict::Allowed => route(state, req).await,
        Verdict::Denied => {
            let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"chime_exporter\""),
            );
            r
        }
        Verdict::Busy => {
            let mut r = text(
                StatusCode::TOO_MANY_REQUESTS,
                "429: too many new credentials being checked; try again\n",
            );
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    };
    for (name, value) in &web.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// Routes one authorized request.
async fn route(state: &State, req: Request<Incoming>) -> Response<Body> {
    let mut resp = match route_of(req.method(), req.uri().path(), &state.web.telemetry_path) {
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
        Route::Reload => reload(state, &req).await,
        Route::Metrics => metrics(state, &req).await,
        Route::Probe => probe(state, &req).await,
        Route::Status => status(state, &req),
        Route::Landing => {
            let page = landing_page(&state.web.telemetry_path);
            let mut r = Response::new(Body::from(page));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Route::Healthy => text(StatusCode::OK, "Healthy\n"),
        Route::Ready if state.cache.is_ready() => text(StatusCode::OK, "Ready\n"),
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

/// Whether a request comes from another site, as a browser says it: a
/// `Sec-Fetch-Site: cross-site`, or an `Origin` that is not this server's
/// own (`null` included). Requests with neither header (curl, reloader
/// sidecars) are not cross-site.
fn cross_site(req: &Request<Incoming>) -> bool {
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return false;
    };
    // HTTP/2 carries the host in the URI (`:authority`), not in `Host`.
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    !matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

async fn reload(state: &State, req: &Request<Incoming>) -> Response<Body> {
    if !state.web.enable_lifecycle {
        return text(
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled (--web.enable-lifecycle); SIGHUP reloads\n",
        );
    }
    if cross_site(req) {
        return text(StatusCode::FORBIDDEN, "cross-site reload refused\n");
    }
    if !state.reloader.has_file() {
        return text(
            StatusCode::BAD_REQUEST,
            "there is no --config.file to reload\n",
        );
    }
    match state.reloader.reload().await {
        Ok(Reloaded::Changed(n)) => text(StatusCode::OK, &format!("reloaded: {n} targets\n")),
        Ok(Reloaded::Unchanged) => text(StatusCode::OK, "unchanged\n"),
        // The reason (a path, mistyped values) is for the log, not the client.
        Err(e) => {
            tracing::error!(error = %e, "reload failed; the previous configuration stays");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reload failed; the previous configuration stays (the exporter's log says why)\n",
            )
        }
    }
}

async fn metrics(state: &State, req: &Request<Incoming>) -> Response<Body> {
    let _permit = match &state.scrape_slots {
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
    let gzipped = accepts_gzip(req.headers().get(http::header::ACCEPT_ENCODING));
    let budget = state.budget(req);
    let format = negotiate_format(req.headers().get(http::header::ACCEPT));
    let chunks = state.exposition.scrape(budget, gzipped, format).await;
    let deadline = std::time::Instant::now() + budget + WRITE_MARGIN;
    let mut resp = Response::new(Body::from_lists(chunks).with_deadline(deadline));
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        http::header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzipped {
        headers.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
    }
    resp
}

fn status(state: &State, req: &Request<Incoming>) -> Response<Body> {
    let report = state.status.report();
    let json = query_params(req.uri().query())
        .iter()
        .any(|(k, v)| k == "format" && v == "json");
    let (body, content_type) = if json {
        (
            serde_json::to_string_pretty(&report).unwrap_or_default(),
            "application/json",
        )
    } else {
        (status_page(&report), "text/html; charset=utf-8")
    };
    let mut resp = Response::new(Body::from(body));
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

async fn probe(state: &State, req: &Request<Incoming>) -> Response<Body> {
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
    if !valid_probe_id(account_id) || !valid_probe_id(bot_id) {
        return text(
            StatusCode::BAD_REQUEST,
            &format!(
                "400: account_id and bot_id are letters, digits and '-', at most {MAX_PROBE_ID_LEN} characters (Chime IDs are UUIDs)\n"
            ),
        );
    }
    let result = match state.prober.probe(account_id, bot_id, state.budget(req)).await {
        Ok(result) => result,
        Err(ProbeRefused::NotWatched) => {
            return text(
                StatusCode::FORBIDDEN,
                "403: this account is not watched by this exporter; only watched accounts are probed (--probe.allow-unwatched-accounts)\n",
            )
        }
        Err(ProbeRefused::Busy) => {
            let mut resp = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "503: too many probes calling the API at once (--probe.concurrency); try again\n",
            );
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            return resp;
        }
        Err(ProbeRefused::NoTarget) => {
            return text(StatusCode::SERVICE_UNAVAILABLE, "no target configured\n")
        }
        Err(ProbeRefused::Starting) => {
            let mut resp = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "503: starting: the watched accounts are not known yet; try again\n",
            );
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            return resp;
        }
    };
    if param("debug") == Some("true") {
        return text(
            StatusCode::OK,
            &debug_probe(
                account_id,
                bot_id,
                &result,
                state.with_aws,
                state.exposition.collectors(),
            ),
        );
    }
    // The probe's families are gauges: the two formats differ only in
    // the end marker.
    let format = negotiate_format(req.headers().get(http::header::ACCEPT));
    let mut body = encode_probe(
        account_id,
        &result,
        state.with_aws,
        state.exposition.collectors(),
    );
    if format == Format::Text {
        body.truncate(body.strip_suffix("# EOF\n").map_or(body.len(), str::len));
    }
    let mut resp = Response::new(Body::from(body));
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(http::header::VARY, HeaderValue::from_static("Accept"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(route_of(&Method::GET, "/status", m), Route::Status);
        assert_eq!(route_of(&Method::POST, "/-/reload", m), Route::Reload);
        assert_eq!(
            route_of(&Method::GET, "/-/reload", m),
            Route::ReloadNeedsPost
        );
    }

    #[test]
    fn probe_ids_have_a_conservative_form() {
        for ok in ["3a7b0000-1111-2222-3333-444455556666", "a", &"x".repeat(64)] {
            assert!(valid_probe_id(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a/b",
            "a.b",
            "été",
            "a%2F",
            &"x".repeat(65),
            "a\n",
        ] {
            assert!(!valid_probe_id(bad), "{bad:?}");
        }
    }
}
