//! The route table and the handlers: what each path answers.
//!
//! | path | methods | answer |
//! | --- | --- | --- |
//! | the telemetry path (`/metrics`) | GET, HEAD | the exposition |
//! | `/` | GET, HEAD | the landing page |
//! | `/-/healthy` | GET, HEAD | 200 while the process runs |
//! | `/-/ready` | GET, HEAD | 200 once the first collection finished |
//! | `/probe` | GET, HEAD | one bot through GetBot |
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

use super::auth::Authenticator;
use super::body::Body;
use super::landing::landing_page;
use super::request::{accepts_gzip, query_params, scrape_budget, SCRAPE_TIMEOUT_HEADER};
use crate::collect::{BotCache, Prober, ReloadError, Reloader};
use crate::config::{WebConfig, WebSettings};
use crate::expose::{encode_probe, Exposition, OPENMETRICS_CONTENT_TYPE};

/// The longest `account_id` or `bot_id` a probe accepts, in bytes. Chime IDs
/// are 36-character UUIDs; the probe cache keeps up to 100,000 keys, and
/// keys as long as a request line (hundreds of KB) would make that bound
/// meaningless.
pub const MAX_PROBE_ID_BYTES: usize = 256;

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

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_owned()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Applies the web config (basic auth, extra headers), then routes.
pub async fn handle(
    state: Arc<State>,
    web: Arc<WebConfig>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let mut resp = if state
        .auth
        .authorized(&web, req.headers().get(http::header::AUTHORIZATION))
    {
        route(&state, req).await
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
        Route::Reload => reload(state).await,
        Route::Metrics => metrics(state, &req).await,
        Route::Probe => probe(state, &req).await,
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

async fn reload(state: &State) -> Response<Body> {
    match state.reloader.reload().await {
        Ok(n) => text(StatusCode::OK, &format!("reloaded: {n} targets\n")),
        Err(e @ ReloadError::NoFile) => text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
        Err(e) => {
            tracing::error!(error = %e, "reload failed; the previous configuration stays");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("reload failed, the previous configuration stays: {e}\n"),
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
    let chunks = state.exposition.scrape(state.budget(req), gzipped).await;
    let mut resp = Response::new(Body::from_lists(chunks));
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
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
    if account_id.len() > MAX_PROBE_ID_BYTES || bot_id.len() > MAX_PROBE_ID_BYTES {
        return text(
            StatusCode::BAD_REQUEST,
            &format!(
                "400: account_id and bot_id are at most {MAX_PROBE_ID_BYTES} bytes (Chime IDs are UUIDs)\n"
            ),
        );
    }
    let Ok(result) = state
        .prober
        .probe(account_id, bot_id, state.budget(req))
        .await
    else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "no target configured\n");
    };
    let body = encode_probe(account_id, &result, state.with_aws);
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
    );
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
        assert_eq!(route_of(&Method::POST, "/-/reload", m), Route::Reload);
        assert_eq!(
            route_of(&Method::GET, "/-/reload", m),
            Route::ReloadNeedsPost
        );
    }
}
