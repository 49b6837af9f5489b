//! The Amazon Chime API client: the official `aws-sdk-chime` with the pieces an
//! exporter needs on top of it.
//!
//! * **Pagination with a guard.** `ListBots` is followed page by page; a
//!   `NextToken` seen twice, or more pages than [`MAX_PAGES`], is an error
//!   rather than an endless loop against a misbehaving API.
//! * **Throttling is retried.** The SDK's default classifiers do not treat
//!   Chime's `429 ThrottledClientException` as retryable, so
//!   [`ThrottlingClassifier`] marks it as a throttling error and the standard
//!   retry strategy backs off (with jitter) inside `--chime.timeout`. Adaptive
//!   retry mode is deliberately not used: it was measured to stall a single
//!   call for over a minute.
//! * **Every HTTP attempt is counted.** [`ApiMetricsInterceptor`] sees each
//!   request the SDK transmits, retries included, so
//!   `chime_api_requests_total` matches what the API saw.
//! * **Errors are classified into a bounded set** ([`ErrorKind`]): the AWS
//!   error code when it is one Chime models, or a small fixed set of transport
//!   kinds. Raw error text never becomes a label value.
//! * **Secrets are dropped at the edge.** [`Bot`] has no field for
//!   `SecurityToken` or `BotEmail`: they are never copied out of the SDK's
//!   output, so no later layer can leak them.

use std::collections::HashSet;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_chime::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::{
    Error as ErasedError, FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{
    HttpRequest, HttpResponse, Metadata, OrchestratorError,
};
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::Semaphore;

use crate::bots::{Bot, BotList, BotListBuilder, BotRecord};
use crate::metrics::ApiMetrics;

/// The most `ListBots` pages followed for one account before giving up.
/// At 99 bots a page that is 99,000 bots, far beyond any real Chime account;
/// reaching it means the API is handing out tokens without end.
pub const MAX_PAGES: usize = 1000;

/// How many attempts the SDK's standard retry strategy makes per operation
/// (the first try included), all inside `--chime.timeout`.
pub const MAX_ATTEMPTS: u32 = 3;

/// The bot as the exporter reads it from the SDK's output. Borrowed, and
/// without `SecurityToken` or `BotEmail` (see [`crate::bots`]).
fn bot_from_sdk(bot: &aws_sdk_chime::types::Bot) -> Bot<'_> {
    Bot {
        bot_id: bot.bot_id(),
        user_id: bot.user_id().unwrap_or_default(),
        display_name: bot.display_name().unwrap_or_default(),
        bot_type: bot.bot_type().map(|t| t.as_str()).unwrap_or_default(),
        disabled: bot.disabled(),
        created_seconds: bot.created_timestamp().map(|t| t.as_secs_f64()),
        updated_seconds: bot.updated_timestamp().map(|t| t.as_secs_f64()),
    }
}

/// What the exporter keeps of a Chime account (ListAccounts or GetAccount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub account_id: String,
    pub name: String,
    pub account_type: String,
    pub aws_account_id: String,
    /// `Active` or `Suspended` (empty when the API does not say).
    pub status: String,
}

impl AccountInfo {
    fn from_sdk(a: &aws_sdk_chime::types::Account) -> Self {
        AccountInfo {
            account_id: a.account_id().to_owned(),
            name: a.name().to_owned(),
            account_type: a
                .account_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            aws_account_id: a.aws_account_id().to_owned(),
            status: a
                .account_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// The most ListAccounts pages followed (200 accounts each).
pub const MAX_ACCOUNT_PAGES: usize = 500;

/// The bounded set of values of the `error` label.
///
/// The first group are the error codes the Chime API model declares for the
/// operations this exporter calls (plus `AccessDeniedException`, which IAM
/// answers for any AWS API); the second group are failures that have no AWS
/// error code. Anything else maps to [`ErrorKind::Other`], so a surprising
/// answer can never create a new series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    BadRequest,
    Forbidden,
    NotFound,
    ResourceLimitExceeded,
    ServiceFailure,
    ServiceUnavailable,
    Throttled,
    Unauthorized,
    AccessDenied,
    /// The operation did not finish within `--chime.timeout`.
    Timeout,
    /// The connection failed: refused, reset, closed without an answer.
    Connection,
    /// A response came back but could not be understood (bad JSON, wrong
    /// types, an empty body where one was required).
    Response,
    /// A 4xx answer without an AWS error code (a proxy, a load balancer).
    Http4xx,
    /// A 5xx answer without an AWS error code (a proxy's HTML error page).
    Http5xx,
    /// `NextToken` repeated itself or the page cap was reached.
    Pagination,
    /// No usable AWS credentials.
    Credentials,
    /// Anything else, including AWS error codes Chime does not model.
    Other,
}

impl ErrorKind {
    /// Every value, in the order the README lists them.
    pub const ALL: [ErrorKind; 17] = [
        ErrorKind::BadRequest,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::ResourceLimitExceeded,
        ErrorKind::ServiceFailure,
        ErrorKind::ServiceUnavailable,
        ErrorKind::Throttled,
        ErrorKind::Unauthorized,
        ErrorKind::AccessDenied,
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::Response,
        ErrorKind::Http4xx,
        ErrorKind::Http5xx,
        ErrorKind::Pagination,
        ErrorKind::Credentials,
        ErrorKind::Other,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "BadRequestException",
            ErrorKind::Forbidden => "ForbiddenException",
            ErrorKind::NotFound => "NotFoundException",
            ErrorKind::ResourceLimitExceeded => "ResourceLimitExceededException",
            ErrorKind::ServiceFailure => "ServiceFailureException",
            ErrorKind::ServiceUnavailable => "ServiceUnavailableException",
            ErrorKind::Throttled => "ThrottledClientException",
            ErrorKind::Unauthorized => "UnauthorizedClientException",
            ErrorKind::AccessDenied => "AccessDeniedException",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Response => "response",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::Pagination => "pagination",
            ErrorKind::Credentials => "credentials",
            ErrorKind::Other => "other",
        }
    }

    /// Maps an AWS error code (as found in `x-amzn-ErrorType`, possibly with a
    /// `:namespace` suffix) to its bounded label.
    pub fn from_aws_code(code: &str) -> ErrorKind {
        let code = code.split(':').next().unwrap_or_default().trim();
        let code = code.rsplit('#').next().unwrap_or_default();
        ErrorKind::ALL[..9]
            .iter()
            .copied()
            .find(|k| k.as_str() == code)
            .unwrap_or(ErrorKind::Other)
    }

    /// Whether a retry later may succeed without anyone changing anything.
    pub fn is_throttling(self) -> bool {
        self == ErrorKind::Throttled
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed API operation, as the rest of the exporter sees it: the bounded
/// kind plus a message that is safe to log (it never contains response
/// bodies of successful calls, so no bot secret can reach it).
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed ({kind}): {message}")]
pub struct ApiError {
    pub operation: &'static str,
    pub kind: ErrorKind,
    pub message: String,
}

/// Settings for [`ChimeApi::connect`].
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub max_results: i32,
    pub timeout: Duration,
    /// Assume this role (through STS) for the calls of this client.
    pub role_arn: Option<String>,
    /// The external id of the role, with `role_arn`.
    pub external_id: Option<String>,
    /// Static credentials instead of the default chain: only for `--demo`,
    /// whose embedded fake API accepts anything signed.
    pub static_credentials: Option<(String, String)>,
}

/// A Chime API client with pagination, retry classification and metrics.
#[derive(Debug, Clone)]
pub struct ChimeApi {
    client: aws_sdk_chime::Client,
    metrics: Arc<ApiMetrics>,
    limits: ApiLimits,
    max_results: i32,
}

impl ChimeApi {
    /// Builds the SDK client from aws-config's default chain (credentials,
    /// `AWS_ENDPOINT_URL_CHIME`/`AWS_ENDPOINT_URL`, profiles), with the
    /// region, endpoint override and timeout given.
    /// `limits` is shared by every client of the process, so that all API
    /// calls, whatever their target, go through one concurrency and one
    /// rate limit.
    pub async fn connect(
        settings: &ApiSettings,
        limits: &ApiLimits,
        metrics: Arc<ApiMetrics>,
    ) -> ChimeApi {
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(3)))
            .build();
        let retries = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(settings.timeout / 4);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .timeout_config(timeouts)
            .retry_config(retries);
        if let Some((key, secret)) = &settings.static_credentials {
            loader = loader.credentials_provider(aws_sdk_chime::config::Credentials::new(
                key.clone(),
                secret.clone(),
                None,
                None,
                "chime-exporter-demo",
            ));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_chime::config::Builder::from(&shared);
        // The endpoint override is Chime's alone: STS (for role_arn) keeps
        // its own endpoint (or AWS_ENDPOINT_URL_STS).
        if let Some(url) = &settings.endpoint_url {
            builder = builder.endpoint_url(url.clone());
        }
        if let Some(role_arn) = &settings.role_arn {
            // aws-config's assume-role provider caches the credentials and
            // refreshes them before they expire.
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                .session_name("chime-exporter")
                .configure(&shared);
            if let Some(external_id) = &settings.external_id {
                provider = provider.external_id(external_id.clone());
            }
            builder = builder.credentials_provider(provider.build().await);
        }
        // aws-config leaves the HTTP client to the SDK's runtime plugin;
        // take the same default explicitly so it can be wrapped.
        let http_client = shared
            .http_client()
            .or_else(|| Some(default_https_client()));
        match http_client {
            Some(inner) => {
                builder = builder.http_client(LimitedClient {
                    inner,
                    limits: limits.clone(),
                    metrics: metrics.clone(),
                });
            }
            None => tracing::warn!("the SDK has no HTTP client to wrap; API limits are off"),
        }
        let config = builder
            .retry_classifier(ThrottlingClassifier)
            .interceptor(EmptyBodyGuard)
            .interceptor(ApiMetricsInterceptor {
                metrics: metrics.clone(),
            })
            .build();
        ChimeApi {
            client: aws_sdk_chime::Client::from_conf(config),
            metrics,
            limits: limits.clone(),
            max_results: settings.max_results,
        }
    }

    /// Every bot of `account_id`, following `NextToken` to the last page.
    ///
    /// Either the whole list or an error: a page that fails in the middle
    /// fails the fetch, so a half list is never taken for the account's bots.
    pub async fn list_bots(&self, account_id: &str) -> Result<BotList, ApiError> {
        const OP: &str = "ListBots";
        let mut bots = BotListBuilder::default();
        let mut seen_tokens: HashSet<String> = HashSet::new();
        let mut next_token: Option<String> = None;
        let _slot = self.limits.slot().await;
        for _page in 0..MAX_PAGES {
            let request = self
                .client
                .list_bots()
                .account_id(account_id)
                .max_results(self.max_results)
                .set_next_token(next_token.take());
            let page = self
                .limits
                .run_in_slot(move || request.send())
                .await
                .map_err(|e| self.operation_failed(OP, account_id, e))?;
            for bot in page.bots() {
                bots.push(bot_from_sdk(bot))
                    .map_err(|too_large| self.malformed(OP, account_id, &too_large.to_string()))?;
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => {
                    if !seen_tokens.insert(token.to_owned()) {
                        return Err(self.pagination_failed(
                            OP,
                            account_id,
                            "the API returned a NextToken it had returned before",
                        ));
                    }
                    next_token = Some(token.to_owned());
                }
                _ => {
                    drop(page);
                    return Ok(bots.finish());
                }
            }
        }
        Err(self.pagination_failed(
            OP,
            account_id,
            "more pages than the page cap; the API keeps returning NextToken",
        ))
    }

    /// One bot (GetBot).
    pub async fn get_bot(&self, account_id: &str, bot_id: &str) -> Result<BotRecord, ApiError> {
        const OP: &str = "GetBot";
        let request = self.client.get_bot().account_id(account_id).bot_id(bot_id);
        let out = self
            .limits
            .run(move || request.send())
            .await
            .map_err(|e| self.operation_failed(OP, account_id, e))?;
        match out.bot() {
            Some(bot) => Ok(BotRecord::from(bot_from_sdk(bot))),
            None => Err(self.malformed(OP, account_id, "the answer has no Bot")),
        }
    }

    /// One account (GetAccount).
    pub async fn get_account(&self, account_id: &str) -> Result<AccountInfo, ApiError> {
        const OP: &str = "GetAccount";
        let request = self.client.get_account().account_id(account_id);
        let out = self
            .limits
            .run(move || request.send())
            .await
            .map_err(|e| self.operation_failed(OP, account_id, e))?;
        match out.account() {
            Some(account) => Ok(AccountInfo::from_sdk(account)),
            None => Err(self.malformed(OP, account_id, "the answer has no Account")),
        }
    }

    /// Every account the credentials can see (ListAccounts, 200 a page),
    /// optionally only those whose name starts with `name_prefix`.
    pub async fn list_accounts(
        &self,
        name_prefix: Option<&str>,
    ) -> Result<Vec<AccountInfo>, ApiError> {
        const OP: &str = "ListAccounts";
        let mut accounts = Vec::new();
        let mut seen_tokens: HashSet<String> = HashSet::new();
        let mut next_token: Option<String> = None;
        let _slot = self.limits.slot().await;
        for _page in 0..MAX_ACCOUNT_PAGES {
            let request = self
                .client
                .list_accounts()
                .max_results(200)
                .set_name(name_prefix.map(str::to_owned))
                .set_next_token(next_token.take());
            let page = self
                .limits
                .run_in_slot(move || request.send())
                .await
                .map_err(|e| self.operation_failed(OP, "", e))?;
            accounts.extend(page.accounts().iter().map(AccountInfo::from_sdk));
            match page.next_token() {
                Some(token) if !token.is_empty() => {
                    if !seen_tokens.insert(token.to_owned()) {
                        return Err(self.pagination_failed(
                            OP,
                            "",
                            "the API returned a NextToken it had returned before",
                        ));
                    }
                    next_token = Some(token.to_owned());
                }
                _ => return Ok(accounts),
            }
        }
        Err(self.pagination_failed(OP, "", "more pages than the page cap"))
    }

    fn malformed(&self, op: &'static str, account_id: &str, why: &str) -> ApiError {
        self.metrics.error(op, account_id, ErrorKind::Response);
        ApiError {
            operation: op,
            kind: ErrorKind::Response,
            message: why.to_owned(),
        }
    }

    fn pagination_failed(&self, op: &'static str, account_id: &str, why: &str) -> ApiError {
        self.metrics.error(op, account_id, ErrorKind::Pagination);
        ApiError {
            operation: op,
            kind: ErrorKind::Pagination,
            message: why.to_owned(),
        }
    }

    /// Turns an SDK error into an [`ApiError`]. Errors of individual HTTP
    /// attempts were already counted by the interceptor; only an operation
    /// timeout (which cancels the attempt before the interceptor sees its
    /// end) is counted here.
    fn operation_failed<E>(&self, op: &'static str, account_id: &str, err: SdkError<E>) -> ApiError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let kind = classify_sdk_error(&err);
        if matches!(err, SdkError::TimeoutError(_)) {
            self.metrics.error(op, account_id, kind);
        }
        let message = match &err {
            SdkError::ServiceError(service) => {
                let inner = service.err();
                format!(
                    "HTTP {}: {}",
                    service.raw().status().as_u16(),
                    inner.message().unwrap_or("no message")
                )
            }
            other => error_chain(other),
        };
        ApiError {
            operation: op,
            kind,
            message,
        }
    }
}

/// The error and its sources on one line, as `aws_smithy_types`'s
/// `DisplayErrorContext` would print them.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn is_credentials_error(err: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        current = e.source();
    }
    false
}

fn status_kind(status: u16) -> ErrorKind {
    match status {
        400..=499 => ErrorKind::Http4xx,
        500..=599 => ErrorKind::Http5xx,
        _ => ErrorKind::Response,
    }
}

/// Classifies a failed operation as seen by the caller.
pub fn classify_sdk_error<E>(err: &SdkError<E>) -> ErrorKind
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match err {
        SdkError::TimeoutError(_) => ErrorKind::Timeout,
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                ErrorKind::Timeout
            } else if d.is_io() {
                ErrorKind::Connection
            } else if is_credentials_error(err) {
                ErrorKind::Credentials
            } else {
                ErrorKind::Other
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status();
            if status.is_success() {
                ErrorKind::Response
            } else {
                status_kind(status.as_u16())
            }
        }
        SdkError::ServiceError(service) => match service.err().code() {
            Some(code) => ErrorKind::from_aws_code(code),
            None => status_kind(service.raw().status().as_u16()),
        },
        _ if is_credentials_error(err) => ErrorKind::Credentials,
        _ => match err.raw_response().map(|r| r.status()) {
            Some(status) if status.is_success() => ErrorKind::Response,
            Some(status) => status_kind(status.as_u16()),
            None => ErrorKind::Other,
        },
    }
}

fn header_error_type(response: &HttpResponse) -> Option<&str> {
    response.headers().get("x-amzn-ErrorType")
}

/// The AWS error code of a type-erased operation error, via the SDK's own
/// parse of the response (header or body).
fn erased_error_code(err: &ErasedError) -> Option<&str> {
    use aws_sdk_chime::operation::{
        get_account::GetAccountError, get_bot::GetBotError, list_accounts::ListAccountsError,
        list_bots::ListBotsError,
    };
    if let Some(e) = err.downcast_ref::<ListBotsError>() {
        return e.code();
    }
    if let Some(e) = err.downcast_ref::<GetBotError>() {
        return e.code();
    }
    if let Some(e) = err.downcast_ref::<ListAccountsError>() {
        return e.code();
    }
    if let Some(e) = err.downcast_ref::<GetAccountError>() {
        return e.code();
    }
    None
}

/// Classifies one failed HTTP attempt inside the SDK's orchestrator.
fn classify_attempt(
    err: &OrchestratorError<ErasedError>,
    response: Option<&HttpResponse>,
) -> ErrorKind {
    if err.is_timeout_error() {
        return ErrorKind::Timeout;
    }
    if let Some(connector) = err.as_connector_error() {
        return if connector.is_timeout() {
            ErrorKind::Timeout
        } else if connector.is_io() {
            ErrorKind::Connection
        } else if is_credentials_error(err) {
            ErrorKind::Credentials
        } else {
            ErrorKind::Connection
        };
    }
    if let Some(code) = err.as_operation_error().and_then(erased_error_code) {
        return ErrorKind::from_aws_code(code);
    }
    if let Some(response) = response {
        if let Some(code) = header_error_type(response) {
            return ErrorKind::from_aws_code(code);
        }
        let status = response.status();
        return if status.is_success() {
            ErrorKind::Response
        } else {
            status_kind(status.as_u16())
        };
    }
    if err.is_response_error() {
        return ErrorKind::Response;
    }
    if is_credentials_error(err) {
        return ErrorKind::Credentials;
    }
    ErrorKind::Other
}

/// Marks Chime's `429 ThrottledClientException` as a throttling error so the
/// standard retry strategy retries it with backoff; the SDK's defaults only
/// know the generic AWS throttling codes.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlingClassifier;

impl ClassifyRetry for ThrottlingClassifier {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        if !matches!(ctx.output_or_error(), Some(Err(_))) {
            return RetryAction::NoActionIndicated;
        }
        let Some(response) = ctx.response() else {
            return RetryAction::NoActionIndicated;
        };
        let throttled = response.status().as_u16() == 429
            || header_error_type(response)
                .map(|code| ErrorKind::from_aws_code(code).is_throttling())
                .unwrap_or(false);
        if throttled {
            RetryAction::throttling_error()
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "ChimeThrottledClientException"
    }
}

/// Rejects a `200` with an empty body. The rest-json deserializer reads an
/// empty body as `{}`, which for ListBots would mean "no bots": an answer
/// cut off by a proxy would wipe an account's data. Every answer of these
/// operations carries a JSON object, so an empty one is a broken response.
#[derive(Debug)]
pub struct EmptyBodyGuard;

impl Intercept for EmptyBodyGuard {
    fn name(&self) -> &'static str {
        "ChimeExporterEmptyBodyGuard"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let response = context.response();
        let empty = response
            .body()
            .bytes()
            .is_some_and(|b| b.iter().all(u8::is_ascii_whitespace));
        if response.status().is_success() && empty {
            return Err("the API answered with an empty body".into());
        }
        Ok(())
    }
}

/// The account of the attempt in flight, noted before transmission.
#[derive(Debug, Clone)]
struct AttemptAccount(String);

impl aws_smithy_types::config_bag::Storable for AttemptAccount {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// Counts the failures of every HTTP attempt, with the error the SDK parsed
/// out of the response. (Requests themselves are counted and timed by
/// [`LimitedConnector`], where they are actually sent.)
#[derive(Debug)]
pub struct ApiMetricsInterceptor {
    metrics: Arc<ApiMetrics>,
}

/// Every value of the `operation` label: the four operations this exporter
/// calls, and `other`.
pub const OPERATIONS: [&str; 5] = ["ListBots", "GetBot", "ListAccounts", "GetAccount", "other"];

fn operation_name(cfg: &ConfigBag) -> &'static str {
    // The label must stay bounded: map to the operations this exporter
    // calls rather than passing through whatever the metadata says.
    let name = cfg.load::<Metadata>().map(|m| m.name());
    OPERATIONS
        .into_iter()
        .find(|op| Some(*op) == name)
        .unwrap_or("other")
}

/// The account id in a Chime request URI, percent-decoded; empty for
/// `ListAccounts`.
pub fn account_from_path(uri: &str) -> String {
    operation_of(uri).1
}

/// Minimal `%XX` decoding, as the SDK encodes path labels.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Intercept for ApiMetricsInterceptor {
    fn name(&self) -> &'static str {
        "ChimeExporterApiMetrics"
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let account = account_from_path(context.request().uri());
        cfg.interceptor_state().store_put(AttemptAccount(account));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(Err(err)) = context.output_or_error() {
            let op = operation_name(cfg);
            // The request has been handed to the HTTP client by now; its
            // account was noted before transmission.
            let account_id = cfg
                .load::<AttemptAccount>()
                .map(|a| a.0.clone())
                .or_else(|| context.request().map(|r| account_from_path(r.uri())))
                .unwrap_or_default();
            let kind = classify_attempt(err, context.response());
            self.metrics.error(op, &account_id, kind);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_codes_map_to_bounded_labels() {
        assert_eq!(
            ErrorKind::from_aws_code("ThrottledClientException"),
            ErrorKind::Throttled
        );
        assert_eq!(
            ErrorKind::from_aws_code("NotFoundException:http://internal.amazon.com/coral/"),
            ErrorKind::NotFound
        );
        assert_eq!(
            ErrorKind::from_aws_code("aws.chime#ForbiddenException"),
            ErrorKind::Forbidden
        );
        assert_eq!(
            ErrorKind::from_aws_code("SomethingNewException"),
            ErrorKind::Other
        );
        assert_eq!(ErrorKind::from_aws_code(""), ErrorKind::Other);
        assert_eq!(ErrorKind::from_aws_code("timeout"), ErrorKind::Other);
    }

    #[test]
    fn every_label_value_is_distinct() {
        let values: HashSet<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(values.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn account_ids_come_from_request_paths() {
        assert_eq!(account_from_path("/accounts/abc-1/bots"), "abc-1");
        assert_eq!(account_from_path("/accounts/abc-1/bots/b?x=1"), "abc-1");
        assert_eq!(account_from_path("/accounts/a%20b"), "a b");
        assert_eq!(account_from_path("/accounts?max-results=5"), "");
        assert_eq!(
            account_from_path(
                "https://chime.us-east-1.amazonaws.com/accounts/x/bots?max-results=99"
            ),
            "x"
        );
        assert_eq!(account_from_path("http://127.0.0.1:80"), "");
        assert_eq!(operation_of("http://h/accounts/a/bots/b").0, "GetBot");
        assert_eq!(operation_of("/accounts/a/bots?max-results=1").0, "ListBots");
        assert_eq!(operation_of("/accounts/a").0, "GetAccount");
        assert_eq!(operation_of("/accounts?name=x").0, "ListAccounts");
        assert_eq!(account_from_path("/"), "");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%"), "A%");
    }
}

/// The SDK's own default HTTPS client (hyper 1.x, rustls with aws-lc, proxy
/// settings from the environment), built the way its runtime plugin builds
/// it, so that it can be wrapped in [`LimitedClient`].
fn default_https_client() -> SharedHttpClient {
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

/// The limits every API request goes through, retries included: at most
/// `--chime.concurrency` operations in flight, at most `--chime.rate-limit`
/// requests per second (a GCRA limiter from `governor` with a burst of one).
///
/// An operation waits for its slot and its first request's permit *before*
/// the SDK starts it ([`ApiLimits::run`]), so time spent queueing behind
/// other accounts does not count against `--chime.timeout`; retries wait
/// for their permits inside the SDK call, in [`LimitedConnector`].
#[derive(Debug, Clone)]
pub struct ApiLimits {
    slots: Arc<Semaphore>,
    rate: Arc<governor::DefaultDirectRateLimiter>,
}

impl ApiLimits {
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
        self.rate.until_ready().await;
        Box::pin(operation()).await
    }

    pub fn new(concurrency: usize, per_second: f64) -> ApiLimits {
        let period = Duration::from_secs_f64(1.0 / per_second.max(0.001));
        let quota = governor::Quota::with_period(period)
            .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN));
        ApiLimits {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            rate: Arc::new(governor::RateLimiter::direct(quota)),
        }
    }
}

/// Wraps the SDK's HTTP client so that every retry waits for its rate
/// permit (see [`ApiLimits`]), and every request is counted and timed as it
/// goes out.
#[derive(Debug)]
struct LimitedClient {
    inner: SharedHttpClient,
    limits: ApiLimits,
    metrics: Arc<ApiMetrics>,
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
            result
        })
    }
}

/// The operation and account of a Chime request, from its path (the same
/// mapping the rest-json protocol defines).
pub fn operation_of(uri: &str) -> (&'static str, String) {
    let path = match uri.find("://") {
        Some(i) => {
            let rest = &uri[i + 3..];
            rest.find('/').map(|j| &rest[j..]).unwrap_or("/")
        }
        None => uri,
    };
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["accounts"] => ("ListAccounts", String::new()),
        ["accounts", id] => ("GetAccount", percent_decode(id)),
        ["accounts", id, "bots"] => ("ListBots", percent_decode(id)),
        ["accounts", id, "bots", _] => ("GetBot", percent_decode(id)),
        _ => ("other", String::new()),
    }
}
