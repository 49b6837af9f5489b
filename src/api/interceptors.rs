//! What the exporter adds inside the SDK's orchestrator: a retry classifier
//! for Chime's throttling code, a guard against empty answers, and the count
//! of every failed attempt.

use std::sync::Arc;

use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::error::{classify_attempt, header_error_type, ErrorKind};
use super::operation::{operation_of, Operation};
use super::retry::MAX_ATTEMPTS;
use super::telemetry::ApiMetrics;

type InterceptorResult = Result<(), aws_smithy_runtime_api::box_error::BoxError>;

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
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> InterceptorResult {
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
/// out of the response. (Requests themselves are counted and timed by the
/// HTTP client wrapper in `limits`, where they are actually sent.)
#[derive(Debug)]
pub struct ApiMetricsInterceptor {
    pub metrics: Arc<ApiMetrics>,
}

fn operation_name(cfg: &ConfigBag) -> Operation {
    // The label must stay bounded: map to the operations this exporter
    // calls rather than passing through whatever the metadata says.
    cfg.load::<Metadata>()
        .map(|m| Operation::named(m.name()))
        .unwrap_or(Operation::Other)
}

impl Intercept for ApiMetricsInterceptor {
    fn name(&self) -> &'static str {
        "ChimeExporterApiMetrics"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> InterceptorResult {
        let (_, account) = operation_of(context.request().uri());
        cfg.interceptor_state().store_put(AttemptAccount(account));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> InterceptorResult {
        if let Some(Err(err)) = context.output_or_error() {
            let op = operation_name(cfg);
            // The request has been handed to the HTTP client by now; its
            // account was noted before transmission.
            let account_id = cfg
                .load::<AttemptAccount>()
                .map(|a| a.0.clone())
                .or_else(|| context.request().map(|r| operation_of(r.uri()).1))
                .unwrap_or_default();
            let kind = classify_attempt(err, context.response());
            self.metrics.error(op, &account_id, kind);
        }
        Ok(())
    }

    /// An operation that failed on an error the strategy retries, before
    /// its last attempt and not by the operation timeout, was given up for
    /// want of retry quota: never silently.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> InterceptorResult {
        let Some(Err(err)) = context.output_or_error() else {
            return Ok(());
        };
        let attempts = cfg
            .load::<aws_smithy_runtime_api::client::retries::RequestAttempts>()
            .map(|a| a.attempts())
            .unwrap_or(MAX_ATTEMPTS);
        let retryable = matches!(
            classify_attempt(err, context.response()),
            ErrorKind::Throttled
                | ErrorKind::ServiceFailure
                | ErrorKind::ServiceUnavailable
                | ErrorKind::Http5xx
                | ErrorKind::Connection
        );
        if retryable && attempts < MAX_ATTEMPTS && !err.is_timeout_error() {
            tracing::warn!(
                operation = %operation_name(cfg),
                attempts,
                "the retry quota is spent: an operation gave up before its last attempt"
            );
            self.metrics.retries_exhausted();
        }
        Ok(())
    }
}
