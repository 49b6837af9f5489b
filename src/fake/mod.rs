//! A fake Amazon Chime API, shared by `--demo` and the tests. It stands
//! apart from the exporter: nothing in the product imports it but the
//! `--demo` wiring, and it shares none of the exporter's code (see
//! [`wire`]), so that it checks the exporter rather than agreeing with it.
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
//! `next-token`; an empty one is the first page, as both models allow
//! it), 401 `UnauthorizedClientException` (no `Authorization`
//! header), 404 `NotFoundException` (unknown account or bot), 429
//! `ThrottledClientException`; as AWS does for any service, a SigV4
//! credential scope for another region or service is a 403
//! `InvalidSignatureException` (the Chime API is global: `us-east-1`).
//! When no page size is given, the model's
//! documented defaults apply (10 bots, 100 accounts); `name` filters
//! accounts by name prefix, as the model documents, and is checked as the
//! model's `AccountName` (1 to 100 characters, not blank), `user-email` as
//! its `EmailAddress` (`.+@.+\..+`).
//!
//! [`FakeChime::set_sparse`] makes it leave out every optional member of
//! `Bot` and `Account`, as the model allows.
//! A test (`tests/it/model.rs`) holds all of this to botocore's copy of the
//! model.
//!
//! It also serves the three Chime SDK Identity operations of the second
//! source (`chime-sdk-identity/2021-04-20`, see [`sdk`]), on the same port
//! and with the same faults: for them, a fault's "account" is the
//! AppInstance ARN.
//!
//! Faults can be injected per account or for every call, for a number of
//! calls or with a probability, to test how the exporter copes.

mod demo;
mod faults;
mod handler;
mod model;
mod sdk;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use demo::{Demo, DemoOptions};
pub use faults::{Fault, FaultRule};
pub use model::{uuid_like, FakeAccount, FakeBot};
pub use sdk::{
    is_chime_arn, FakeAppInstance, FakeAppInstanceBot, CHIME_ARN_PATTERN, DEFAULT_SDK_PAGE_SIZE,
};

use handler::handle;

/// ListBots page size when the request gives none ("The default is 10").
pub const DEFAULT_BOTS_PAGE_SIZE: usize = 10;
/// ListAccounts page size when the request gives none ("Defaults to 100").
pub const DEFAULT_ACCOUNTS_PAGE_SIZE: usize = 100;

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: std::time::Instant,
    pub operation: &'static str,
    /// Empty for ListAccounts.
    pub account_id: String,
    /// The query parameters, decoded.
    pub query: HashMap<String, String>,
    /// The SDK's attempt number (`amz-sdk-request: attempt=N`), if sent.
    pub attempt: Option<u32>,
}

impl Call {
    /// A listing's first page (no `next-token`, or an empty one: see
    /// [`wire::next_token`]).
    pub fn first_page(&self) -> bool {
        wire::next_token(&self.query).is_none()
    }
}

#[derive(Debug, Default)]
struct Store {
    accounts: Vec<FakeAccount>,
    /// Chime SDK Identity's AppInstances (see [`sdk`]).
    app_instances: Vec<FakeAppInstance>,
    faults: Vec<FaultRule>,
    requests: HashMap<(&'static str, String), u64>,
    /// The access key id that signed requests, by account id.
    signers: HashMap<String, std::collections::BTreeSet<String>>,
    /// Every call in order of arrival.
    calls: Vec<Call>,
}

#[derive(Debug, Default)]
struct Shared {
    store: Mutex<Store>,
    /// When each request arrived (for rate measurements).
    arrivals: Mutex<Vec<std::time::Instant>>,
    total_requests: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Leave out every optional member of `Bot` and `Account`.
    sparse: AtomicBool,
    /// The region requests must be signed for.
    signing_region: Mutex<String>,
    /// Keep no log of calls and arrivals (`--demo`, which runs for as long
    /// as the exporter does: a log would grow without bound).
    forget_calls: AtomicBool,
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
        let shared = Arc::new(Shared {
            signing_region: Mutex::new("us-east-1".to_owned()),
            ..Shared::default()
        });
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

    /// Adds an AppInstance, or replaces the one with the same ARN.
    pub fn put_app_instance(&self, instance: FakeAppInstance) {
        let mut store = self.shared.lock();
        match store
            .app_instances
            .iter_mut()
            .find(|a| a.arn == instance.arn)
        {
            Some(existing) => *existing = instance,
            None => store.app_instances.push(instance),
        }
    }

    /// Runs `f` on an AppInstance (if it exists) and returns its result.
    pub fn with_app_instance<R>(
        &self,
        arn: &str,
        f: impl FnOnce(&mut FakeAppInstance) -> R,
    ) -> Option<R> {
        let mut store = self.shared.lock();
        store.app_instances.iter_mut().find(|a| a.arn == arn).map(f)
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

    /// Every call received of `operation`, in order of arrival.
    pub fn calls(&self, operation: &str) -> Vec<Call> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.operation == operation)
            .cloned()
            .collect()
    }

    /// When each fetch of an account's bots began (a ListBots call without
    /// `next-token`), with the account id, in order of arrival.
    pub fn fetch_starts(&self) -> Vec<(std::time::Instant, String)> {
        self.calls("ListBots")
            .into_iter()
            .filter(Call::first_page)
            .map(|c| (c.at, c.account_id))
            .collect()
    }

    /// The account of every ListBots call, in order of arrival.
    pub fn list_bots_order(&self) -> Vec<String> {
        self.calls("ListBots")
            .into_iter()
            .map(|c| c.account_id)
            .collect()
    }

    /// The region whose SigV4 credential scope requests must carry
    /// (`us-east-1` unless changed: the Chime API is global); others get a
    /// 403 `InvalidSignatureException`.
    pub fn set_signing_region(&self, region: &str) {
        *self
            .shared
            .signing_region
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = region.to_owned();
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Leaves out (or, with `false`, sends again) every optional member of
    /// `Bot` and `Account`: no `Disabled`, no timestamps, no `DisplayName`,
    /// no `AccountType` or `AccountStatus`.
    pub fn set_sparse(&self, sparse: bool) {
        self.shared.sparse.store(sparse, Ordering::Release);
    }

    /// The most requests that were being answered at the same time.
    /// Stops keeping the log of calls and arrivals (and forgets it): for a
    /// fake that runs for as long as its process (`--demo`).
    pub fn forget_calls(&self) {
        self.shared.forget_calls.store(true, Ordering::Release);
        self.shared.lock().calls = Vec::new();
        *self
            .shared
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Vec::new();
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::Acquire)
    }
}
