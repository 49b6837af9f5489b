//! A fake Amazon Chime API, shared by `--demo` and the tests.
//!
//! It speaks the wire protocol of the AWS model (`chime/2018-05-01`,
//! rest-json) for the four operations the exporter uses, as the model
//! defines them, not as the exporter happens to call them:
//!
//! | operation | request |
//! | --- | --- |
//! | ListAccounts | `GET /accounts?name=&user-email=&max-results=1..200&next-token=` |
//! | GetAccount | `GET /accounts/{accountId}` |
//! | ListBots | `GET /accounts/{accountId}/bots?max-results=1..99&next-token=` |
//! | GetBot | `GET /accounts/{accountId}/bots/{botId}` |
//!
//! Responses are JSON with the model's member names (`Bots`, `NextToken`,
//! `Account`, …); timestamps are ISO 8601 strings (`Iso8601Timestamp`);
//! absent values are omitted. Errors carry `x-amzn-ErrorType` and a body
//! `{"Code": …, "Message": …}` with the model's HTTP status: 400
//! `BadRequestException` (e.g. `max-results` out of range, a forged
//! `next-token`), 401 `UnauthorizedClientException` (no `Authorization`
//! header), 404 `NotFoundException` (unknown account or bot), 429
//! `ThrottledClientException`. When no page size is given, the model's
//! documented defaults apply (10 bots, 100 accounts); `name` filters
//! accounts by name prefix, as the model documents.
//!
//! Faults can be injected per account or for every call, for a number of
//! calls or with a probability, to test how the exporter copes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// ListBots page size when the request gives none ("The default is 10").
pub const DEFAULT_BOTS_PAGE_SIZE: usize = 10;
/// ListAccounts page size when the request gives none ("Defaults to 100").
pub const DEFAULT_ACCOUNTS_PAGE_SIZE: usize = 100;

/// A bot as the fake API holds it, secrets included.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeBot {
    pub bot_id: String,
    pub user_id: String,
    pub display_name: String,
    pub bot_type: String,
    pub disabled: bool,
    /// Unix seconds.
    pub created: f64,
    /// Unix seconds.
    pub updated: f64,
    pub bot_email: String,
    pub security_token: String,
}

impl FakeBot {
    /// A bot with generated ids and a random security token.
    pub fn generated(rng: &mut fastrand::Rng, display_name: &str, disabled: bool) -> FakeBot {
        let bot_id = uuid_like(rng);
        let created = 1_600_000_000.0 + f64::from(rng.u32(0..100_000_000));
        FakeBot {
            user_id: uuid_like(rng),
            display_name: display_name.to_owned(),
            bot_type: "ChatBot".to_owned(),
            disabled,
            created,
            updated: created + f64::from(rng.u32(0..1_000_000)),
            bot_email: format!("{}@example.com", bot_id.split('-').next().unwrap_or("bot")),
            security_token: format!("SECRET-TOKEN-{}", uuid_like(rng)),
            bot_id,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "BotId": self.bot_id,
            "UserId": self.user_id,
            "DisplayName": self.display_name,
            "BotType": self.bot_type,
            "Disabled": self.disabled,
            "CreatedTimestamp": iso8601(self.created),
            "UpdatedTimestamp": iso8601(self.updated),
            "BotEmail": self.bot_email,
            "SecurityToken": self.security_token,
        })
    }
}

/// An account as the fake API holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAccount {
    pub account_id: String,
    pub name: String,
    pub aws_account_id: String,
    /// `Team`, `EnterpriseDirectory`, `EnterpriseLWA` or `EnterpriseOIDC`.
    pub account_type: String,
    /// `Active` or `Suspended`.
    pub status: String,
    pub created: f64,
    pub bots: Vec<FakeBot>,
}

impl FakeAccount {
    /// An active Team account with no bots.
    pub fn new(account_id: &str, name: &str) -> FakeAccount {
        FakeAccount {
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            aws_account_id: "111122223333".to_owned(),
            account_type: "Team".to_owned(),
            status: "Active".to_owned(),
            created: 1_577_836_800.0,
            bots: Vec::new(),
        }
    }

    /// Adds `count` generated bots, every `disabled_every`-th one disabled
    /// (0: none).
    pub fn with_generated_bots(
        mut self,
        rng: &mut fastrand::Rng,
        count: usize,
        disabled_every: usize,
    ) -> FakeAccount {
        for i in 0..count {
            let disabled = disabled_every > 0 && i % disabled_every == disabled_every - 1;
            let name = format!("{} bot {}", self.name, i + 1);
            self.bots.push(FakeBot::generated(rng, &name, disabled));
        }
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "AwsAccountId": self.aws_account_id,
            "AccountId": self.account_id,
            "Name": self.name,
            "AccountType": self.account_type,
            "CreatedTimestamp": iso8601(self.created),
            "DefaultLicense": "Pro",
            "SupportedLicenses": ["Basic", "Pro"],
            "AccountStatus": self.status,
        })
    }
}

/// A fault the fake API can answer with instead of the right answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 `ThrottledClientException`.
    Throttle,
    /// An AWS error with the given status and `x-amzn-ErrorType`
    /// (e.g. 500 `ServiceFailureException`, 403 `ForbiddenException`).
    AwsError { status: u16, code: String },
    /// Answer correctly, but only after this delay.
    Latency(Duration),
    /// Never answer (the request stays open until the client gives up).
    Hang,
    /// Close the connection without an answer.
    CloseConnection,
    /// Reset the connection (TCP RST) without an answer.
    ResetConnection,
    /// A 200 whose body is cut in the middle.
    TruncatedJson,
    /// A 200 with an empty body.
    EmptyBody,
    /// A 200 whose body is not JSON.
    NotJson,
    /// A 200 whose fields have the wrong types.
    WrongTypes,
    /// A 502 HTML page from a proxy, without `x-amzn-ErrorType`.
    ProxyHtml,
    /// ListBots always returns the same `NextToken`.
    LoopingToken,
}

/// When and where a fault applies.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub fault: Fault,
    /// Only calls for this account (`None`: every call).
    pub account_id: Option<String>,
    /// Only this operation (`None`: every operation).
    pub operation: Option<&'static str>,
    /// Only ListBots calls that carry a `next-token` (a page after the first).
    pub later_pages_only: bool,
    /// How many more calls it applies to (`None`: until removed).
    pub remaining: Option<u32>,
    /// The chance, per matching call, that it applies.
    pub probability: f64,
}

impl FaultRule {
    /// A fault on every call, until cleared.
    pub fn new(fault: Fault) -> FaultRule {
        FaultRule {
            fault,
            account_id: None,
            operation: None,
            later_pages_only: false,
            remaining: None,
            probability: 1.0,
        }
    }

    pub fn account(mut self, account_id: &str) -> Self {
        self.account_id = Some(account_id.to_owned());
        self
    }

    pub fn operation(mut self, operation: &'static str) -> Self {
        self.operation = Some(operation);
        self
    }

    pub fn later_pages_only(mut self) -> Self {
        self.later_pages_only = true;
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }
}

#[derive(Debug, Default)]
struct Store {
    accounts: Vec<FakeAccount>,
    faults: Vec<FaultRule>,
    requests: HashMap<(&'static str, String), u64>,
    /// The access key id that signed requests, by account id.
    signers: HashMap<String, std::collections::BTreeSet<String>>,
    /// Every ListBots call in order of arrival: when, for which account,
    /// and whether it asked for a first page (no `next-token`).
    list_bots_calls: Vec<(std::time::Instant, String, bool)>,
}

#[derive(Debug, Default)]
struct Shared {
    store: Mutex<Store>,
    /// When each request arrived (for rate measurements).
    arrivals: Mutex<Vec<std::time::Instant>>,
    total_requests: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake Chime API on a loopback port.
#[derive(Debug)]
pub struct FakeChime {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakeChime {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn split_control(
    stream: tokio::net::TcpStream,
) -> Option<(tokio::net::TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std().ok()?;
    let control = std_stream.try_clone().ok()?;
    std_stream.set_nonblocking(true).ok()?;
    let stream = tokio::net::TcpStream::from_std(std_stream).ok()?;
    Some((stream, control))
}

struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::AcqRel);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl FakeChime {
    /// Starts the fake on an ephemeral port of 127.0.0.1.
    pub async fn start() -> std::io::Result<FakeChime> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the fake on the given address.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeChime> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let shared = Arc::clone(&accept_shared);
                tokio::spawn(async move {
                    // A second handle on the socket lets a fault reset the
                    // connection (SO_LINGER 0) while hyper owns the stream.
                    let Some((stream, control)) = split_control(stream) else {
                        return;
                    };
                    let control = Arc::new(control);
                    let service = service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        let control = Arc::clone(&control);
                        async move { handle(&shared, &control, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FakeChime { shared, addr, task })
    }

    /// The endpoint URL to give the SDK.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds an account, or replaces the one with the same id.
    pub fn put_account(&self, account: FakeAccount) {
        let mut store = self.shared.lock();
        match store
            .accounts
            .iter_mut()
            .find(|a| a.account_id == account.account_id)
        {
            Some(existing) => *existing = account,
            None => store.accounts.push(account),
        }
    }

    pub fn remove_account(&self, account_id: &str) {
        self.shared
            .lock()
            .accounts
            .retain(|a| a.account_id != account_id);
    }

    /// Runs `f` on an account's data (if it exists) and returns its result.
    pub fn with_account<R>(
        &self,
        account_id: &str,
        f: impl FnOnce(&mut FakeAccount) -> R,
    ) -> Option<R> {
        let mut store = self.shared.lock();
        store
            .accounts
            .iter_mut()
            .find(|a| a.account_id == account_id)
            .map(f)
    }

    /// The ids of all accounts.
    pub fn account_ids(&self) -> Vec<String> {
        self.shared
            .lock()
            .accounts
            .iter()
            .map(|a| a.account_id.clone())
            .collect()
    }

    /// Every security token the fake holds (for leak checks).
    pub fn security_tokens(&self) -> Vec<String> {
        self.shared
            .lock()
            .accounts
            .iter()
            .flat_map(|a| a.bots.iter().map(|b| b.security_token.clone()))
            .collect()
    }

    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.lock().faults.push(rule);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Requests received for one operation and account id (`""` for
    /// ListAccounts), faulted ones included.
    pub fn requests(&self, operation: &str, account_id: &str) -> u64 {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|((op, acc), _)| *op == operation && acc == account_id)
            .map(|(_, n)| *n)
            .sum()
    }

    /// The access key ids that signed requests for an account (`""` for
    /// ListAccounts).
    pub fn signers(&self, account_id: &str) -> Vec<String> {
        self.shared
            .lock()
            .signers
            .get(account_id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Requests received in total.
    pub fn total_requests(&self) -> u64 {
        self.shared.total_requests.load(Ordering::Acquire)
    }

    /// When each request arrived, in order.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        self.shared
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// When each fetch of an account's bots began (a ListBots call without
    /// `next-token`), with the account id, in order of arrival.
    pub fn fetch_starts(&self) -> Vec<(std::time::Instant, String)> {
        self.shared
            .lock()
            .list_bots_calls
            .iter()
            .filter(|(_, _, first)| *first)
            .map(|(at, account, _)| (*at, account.clone()))
            .collect()
    }

    /// The account of every ListBots call, in order of arrival.
    pub fn list_bots_order(&self) -> Vec<String> {
        self.shared
            .lock()
            .list_bots_calls
            .iter()
            .map(|(_, account, _)| account.clone())
            .collect()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::Acquire)
    }
}

/// Formats Unix seconds as the model's `Iso8601Timestamp`.
pub fn iso8601(secs: f64) -> String {
    aws_smithy_types::DateTime::from_secs_f64(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

fn uuid_like(rng: &mut fastrand::Rng) -> String {
    let mut hex = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            hex.push('-');
        }
        hex.push(char::from_digit(rng.u32(0..16), 16).unwrap_or('0'));
    }
    hex
}

type Body = Full<Bytes>;

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

/// An AWS error answer: status, `x-amzn-ErrorType`, and the model's body.
fn aws_error(status: u16, code: &str, message: &str) -> Response<Body> {
    let short = code
        .trim_end_matches("Exception")
        .trim_end_matches("Client");
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(status, &json!({"Code": short, "Message": message}));
    if let Ok(v) = HeaderValue::from_str(code) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    resp
}

fn raw(status: StatusCode, content_type: &'static str, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    resp
}

/// Which operation a request is, and its path parameters.
#[derive(Debug, PartialEq)]
enum Route {
    ListAccounts,
    GetAccount(String),
    ListBots(String),
    GetBot(String, String),
}

impl Route {
    fn operation(&self) -> &'static str {
        match self {
            Route::ListAccounts => "ListAccounts",
            Route::GetAccount(_) => "GetAccount",
            Route::ListBots(_) => "ListBots",
            Route::GetBot(..) => "GetBot",
        }
    }

    fn account_id(&self) -> &str {
        match self {
            Route::ListAccounts => "",
            Route::GetAccount(a) | Route::ListBots(a) | Route::GetBot(a, _) => a,
        }
    }

    fn parse(path: &str) -> Option<Route> {
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(crate::chime::percent_decode)
            .collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["accounts"] => Some(Route::ListAccounts),
            ["accounts", a] if !a.trim().is_empty() => Some(Route::GetAccount((*a).to_owned())),
            ["accounts", a, "bots"] if !a.trim().is_empty() => {
                Some(Route::ListBots((*a).to_owned()))
            }
            ["accounts", a, "bots", b] if !a.trim().is_empty() && !b.trim().is_empty() => {
                Some(Route::GetBot((*a).to_owned(), (*b).to_owned()))
            }
            _ => None,
        }
    }
}

/// The query parameters, percent-decoded (as the server parses them).
fn query_params(query: Option<&str>) -> HashMap<String, String> {
    crate::server::query_params(query).into_iter().collect()
}

/// Page tokens are opaque to clients; here they carry the offset and are
/// bound to the listing they belong to, so a forged or foreign token is a
/// 400 as in the real API.
fn make_token(scope: &str, offset: usize) -> String {
    format!("{offset}.{:x}", fnv(scope, offset))
}

fn read_token(scope: &str, token: &str) -> Option<usize> {
    let (offset, check) = token.split_once('.')?;
    let offset: usize = offset.parse().ok()?;
    (make_token(scope, offset) == format!("{offset}.{check}")).then_some(offset)
}

fn fnv(scope: &str, offset: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scope.bytes().chain(offset.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The page size asked for, or `None` when `max-results` is not an integer
/// in `1..=max` (a 400 in the real API).
fn page_size(params: &HashMap<String, String>, max: usize, default: usize) -> Option<usize> {
    match params.get("max-results") {
        None => Some(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| (1..=max).contains(n)),
    }
}

fn bad_page_size(max: usize) -> Response<Body> {
    aws_error(
        400,
        "BadRequestException",
        &format!("max-results must be between 1 and {max}"),
    )
}

/// Picks the faults for this call and uses up their counts: the delay of
/// every latency rule that applies, plus the first other fault that does.
fn pick_fault(
    store: &mut Store,
    route: &Route,
    params: &HashMap<String, String>,
) -> (Duration, Option<Fault>) {
    let mut delay = Duration::ZERO;
    let op = route.operation();
    let account = route.account_id();
    let has_token = params.contains_key("next-token");
    let mut chosen = None;
    for rule in store.faults.iter_mut() {
        if rule.account_id.as_deref().is_some_and(|a| a != account)
            || rule.operation.is_some_and(|o| o != op)
            || (rule.later_pages_only && !has_token)
            || rule.remaining == Some(0)
        {
            continue;
        }
        if rule.probability < 1.0 && fastrand::f64() >= rule.probability {
            continue;
        }
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        if let Fault::Latency(d) = rule.fault {
            delay += d;
            continue;
        }
        chosen = Some(rule.fault.clone());
        break;
    }
    store.faults.retain(|r| r.remaining != Some(0));
    (delay, chosen)
}

enum Answer {
    Now(Response<Body>),
    After(Duration, Response<Body>),
    Hang,
    Close,
    Reset,
}

async fn handle(
    shared: &Shared,
    control: &std::net::TcpStream,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let _in_flight = InFlight::enter(shared);
    shared.total_requests.fetch_add(1, Ordering::AcqRel);
    shared
        .arrivals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(std::time::Instant::now());
    match answer(shared, &req) {
        Answer::Now(resp) => Ok(resp),
        Answer::After(delay, resp) => {
            tokio::time::sleep(delay).await;
            Ok(resp)
        }
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(aws_error(503, "ServiceUnavailableException", "hung"))
        }
        // An error from the service makes hyper drop the connection
        // without writing a response.
        Answer::Close => Err(std::io::Error::other("fault: close connection")),
        Answer::Reset => {
            socket2::SockRef::from(control).set_linger(Some(Duration::ZERO))?;
            Err(std::io::Error::other("fault: reset connection"))
        }
    }
}

fn answer(shared: &Shared, req: &Request<Incoming>) -> Answer {
    let Some(route) = Route::parse(req.uri().path()) else {
        return Answer::Now(aws_error(
            404,
            "UnknownOperationException",
            "no such operation",
        ));
    };
    if req.method() != Method::GET {
        return Answer::Now(aws_error(
            404,
            "UnknownOperationException",
            "no such operation",
        ));
    }
    let params = query_params(req.uri().query());
    let mut store = shared.lock();
    *store
        .requests
        .entry((route.operation(), route.account_id().to_owned()))
        .or_default() += 1;
    if let Route::ListBots(account) = &route {
        let first = !params.contains_key("next-token");
        store
            .list_bots_calls
            .push((std::time::Instant::now(), account.clone(), first));
    }
    if let Some(key) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split('/').next())
    {
        store
            .signers
            .entry(route.account_id().to_owned())
            .or_default()
            .insert(key.to_owned());
    }
    if !req.headers().contains_key("authorization") {
        return Answer::Now(aws_error(
            401,
            "UnauthorizedClientException",
            "missing Authorization header",
        ));
    }
    let (delay, fault) = pick_fault(&mut store, &route, &params);
    let delay = (!delay.is_zero()).then_some(delay);
    match fault {
        None | Some(Fault::Latency(_)) => {}
        Some(Fault::Throttle) => {
            return Answer::Now(aws_error(429, "ThrottledClientException", "Rate exceeded"))
        }
        Some(Fault::AwsError { status, code }) => {
            return Answer::Now(aws_error(status, &code, "injected fault"))
        }
        Some(Fault::Hang) => return Answer::Hang,
        Some(Fault::CloseConnection) => return Answer::Close,
        Some(Fault::ResetConnection) => return Answer::Reset,
        Some(Fault::TruncatedJson) => {
            return Answer::Now(raw(
                StatusCode::OK,
                "application/json",
                "{\"Bots\": [{\"BotId\": \"abc\", \"Display",
            ))
        }
        Some(Fault::EmptyBody) => return Answer::Now(raw(StatusCode::OK, "application/json", "")),
        Some(Fault::NotJson) => {
            return Answer::Now(raw(StatusCode::OK, "text/plain", "this is not json"))
        }
        Some(Fault::WrongTypes) => {
            return Answer::Now(raw(
                StatusCode::OK,
                "application/json",
                "{\"Bots\": {\"BotId\": 7}, \"NextToken\": 12, \"Account\": [1]}",
            ))
        }
        Some(Fault::ProxyHtml) => {
            return Answer::Now(raw(
                StatusCode::BAD_GATEWAY,
                "text/html",
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            ))
        }
        Some(Fault::LoopingToken) => {
            if let Route::ListBots(_) = route {
                return Answer::Now(json_response(
                    StatusCode::OK,
                    &json!({"Bots": [], "NextToken": "loop"}),
                ));
            }
        }
    }
    let resp = route_answer(&store, &route, &params);
    match delay {
        Some(d) => Answer::After(d, resp),
        None => Answer::Now(resp),
    }
}

fn route_answer(store: &Store, route: &Route, params: &HashMap<String, String>) -> Response<Body> {
    let find = |id: &str| store.accounts.iter().find(|a| a.account_id == id);
    match route {
        Route::ListAccounts => {
            let Some(size) = page_size(params, 200, DEFAULT_ACCOUNTS_PAGE_SIZE) else {
                return bad_page_size(200);
            };
            let name = params.get("name");
            let email = params.get("user-email");
            let matching: Vec<&FakeAccount> = store
                .accounts
                .iter()
                .filter(|a| name.is_none_or(|n| a.name.starts_with(n.as_str())))
                .filter(|_| email.is_none())
                .collect();
            let scope = format!(
                "accounts/{}/{}",
                name.map(String::as_str).unwrap_or_default(),
                email.map(String::as_str).unwrap_or_default()
            );
            paged(params, &scope, &matching, size, "Accounts", |a| a.to_json())
        }
        Route::GetAccount(id) => match find(id) {
            Some(a) => json_response(StatusCode::OK, &json!({"Account": a.to_json()})),
            None => aws_error(404, "NotFoundException", "account not found"),
        },
        Route::ListBots(id) => {
            let Some(size) = page_size(params, 99, DEFAULT_BOTS_PAGE_SIZE) else {
                return bad_page_size(99);
            };
            match find(id) {
                Some(a) => {
                    let bots: Vec<&FakeBot> = a.bots.iter().collect();
                    paged(params, &format!("bots/{id}"), &bots, size, "Bots", |b| {
                        b.to_json()
                    })
                }
                None => aws_error(404, "NotFoundException", "account not found"),
            }
        }
        Route::GetBot(id, bot_id) => match find(id) {
            Some(a) => match a.bots.iter().find(|b| b.bot_id == *bot_id) {
                Some(b) => json_response(StatusCode::OK, &json!({"Bot": b.to_json()})),
                None => aws_error(404, "NotFoundException", "bot not found"),
            },
            None => aws_error(404, "NotFoundException", "account not found"),
        },
    }
}

fn paged<T>(
    params: &HashMap<String, String>,
    scope: &str,
    items: &[T],
    size: usize,
    member: &str,
    to_json: impl Fn(&T) -> Value,
) -> Response<Body> {
    let offset = match params.get("next-token") {
        None => 0,
        Some(token) => match read_token(scope, token) {
            Some(o) if o <= items.len() => o,
            _ => return aws_error(400, "BadRequestException", "invalid next-token"),
        },
    };
    let end = (offset + size).min(items.len());
    let mut body = Map::new();
    body.insert(
        member.to_owned(),
        Value::Array(items[offset..end].iter().map(to_json).collect()),
    );
    if end < items.len() {
        body.insert(
            "NextToken".to_owned(),
            Value::String(make_token(scope, end)),
        );
    }
    json_response(StatusCode::OK, &Value::Object(body))
}

/// The data and behaviour of `--demo`: a handful of accounts (one empty,
/// one with more than 99 bots so pagination runs), some disabled bots, a bot
/// toggled or replaced now and then so graphs move, and an occasional
/// throttled call so error panels have data.
#[derive(Debug)]
pub struct Demo {
    pub fake: FakeChime,
    changer: JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.changer.abort();
    }
}

/// The demo's accounts: (name, bots, every n-th disabled).
const DEMO_ACCOUNTS: [(&str, usize, usize); 4] = [
    ("Engineering", 150, 9),
    ("Sales", 12, 4),
    ("Support", 0, 0),
    ("Marketing", 37, 5),
];

/// The share of demo API calls that are throttled.
pub const DEMO_THROTTLE_PROBABILITY: f64 = 0.05;

/// The shape of the demo data; the defaults are the small demo above, the
/// `--demo.*` flags make large ones for benchmarks.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Generated accounts of `bots_per_account` bots each, instead of the
    /// four named demo accounts.
    pub accounts: Option<usize>,
    pub bots_per_account: usize,
    /// Added to every API answer.
    pub latency: Duration,
    /// The share of calls answered with a 429.
    pub throttle_ratio: f64,
    /// How often a bot changes.
    pub change_every: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            accounts: None,
            bots_per_account: 100,
            latency: Duration::ZERO,
            throttle_ratio: DEMO_THROTTLE_PROBABILITY,
            change_every: Duration::from_secs(15),
        }
    }
}

impl Demo {
    /// Starts the fake API with generated data and its background changes.
    pub async fn start(options: &DemoOptions) -> std::io::Result<Demo> {
        let fake = FakeChime::start().await?;
        let mut rng = fastrand::Rng::with_seed(0x0c41_3e00);
        match options.accounts {
            None => {
                for (name, bots, disabled_every) in DEMO_ACCOUNTS {
                    let mut account = FakeAccount::new(&uuid_like(&mut rng), name)
                        .with_generated_bots(&mut rng, bots, disabled_every);
                    account.account_type = "EnterpriseLWA".to_owned();
                    fake.put_account(account);
                }
            }
            Some(n) => {
                for i in 0..n {
                    let name = format!("Account {i:05}");
                    let account = FakeAccount::new(&uuid_like(&mut rng), &name)
                        .with_generated_bots(&mut rng, options.bots_per_account, 9);
                    fake.put_account(account);
                }
            }
        }
        if !options.latency.is_zero() {
            fake.add_fault(FaultRule::new(Fault::Latency(options.latency)));
        }
        if options.throttle_ratio > 0.0 {
            fake.add_fault(FaultRule::new(Fault::Throttle).probability(options.throttle_ratio));
        }
        let change_every = options.change_every;
        let shared = Arc::clone(&fake.shared);
        let changer = tokio::spawn(async move {
            let mut rng = fastrand::Rng::new();
            let mut tick = tokio::time::interval(change_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let mut store = shared.lock();
                demo_change(&mut store.accounts, &mut rng);
            }
        });
        Ok(Demo { fake, changer })
    }
}

/// One change to the demo data: usually a bot toggled, sometimes a bot
/// deleted and another created.
fn demo_change(accounts: &mut [FakeAccount], rng: &mut fastrand::Rng) {
    let candidates: Vec<usize> = (0..accounts.len())
        .filter(|&i| !accounts[i].bots.is_empty())
        .collect();
    let Some(&ai) = candidates.get(rng.usize(0..candidates.len().max(1))) else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let account = &mut accounts[ai];
    let bi = rng.usize(0..account.bots.len());
    if rng.u8(0..10) == 0 {
        account.bots.remove(bi);
        let name = format!("{} bot {}", account.name, rng.u32(1000..9999));
        let mut bot = FakeBot::generated(rng, &name, false);
        bot.created = now;
        bot.updated = now;
        account.bots.push(bot);
    } else {
        let bot = &mut account.bots[bi];
        bot.disabled = !bot.disabled;
        bot.updated = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_model_paths() {
        assert_eq!(Route::parse("/accounts"), Some(Route::ListAccounts));
        assert_eq!(
            Route::parse("/accounts/a"),
            Some(Route::GetAccount("a".into()))
        );
        assert_eq!(
            Route::parse("/accounts/a/bots"),
            Some(Route::ListBots("a".into()))
        );
        assert_eq!(
            Route::parse("/accounts/a/bots/b"),
            Some(Route::GetBot("a".into(), "b".into()))
        );
        assert_eq!(Route::parse("/accounts/%20/bots"), None);
        assert_eq!(Route::parse("/other"), None);
    }

    #[test]
    fn tokens_are_bound_to_their_listing() {
        let t = make_token("bots/a", 99);
        assert_eq!(read_token("bots/a", &t), Some(99));
        assert_eq!(read_token("bots/b", &t), None);
        assert_eq!(read_token("bots/a", "99.0"), None);
        assert_eq!(read_token("bots/a", "garbage"), None);
    }

    #[test]
    fn timestamps_are_iso8601() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_555_527_086.5), "2019-04-17T18:51:26.5Z");
    }
}
