//! Errors of the API, as the rest of the exporter sees them: a bounded
//! [`ErrorKind`] (the `error` label) and a message that is safe to log.
//!
//! A failure is seen twice: once per HTTP attempt, inside the SDK (to count
//! it), and once per operation, by the caller (to decide what to do). Both
//! are reduced to the same [`Failure`] facts and classified by the one
//! function [`classify`], so an attempt and the operation it ended can never
//! be given different kinds.

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_chime::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::interceptors::context::Error as ErasedError;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::ConnectorError;

use super::operation::Operation;

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

    /// The AWS error codes among them.
    const AWS_CODES: [ErrorKind; 9] = [
        ErrorKind::BadRequest,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::ResourceLimitExceeded,
        ErrorKind::ServiceFailure,
        ErrorKind::ServiceUnavailable,
        ErrorKind::Throttled,
        ErrorKind::Unauthorized,
        ErrorKind::AccessDenied,
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
    /// `:namespace` suffix or a `namespace#` prefix) to its bounded label.
    pub fn from_aws_code(code: &str) -> ErrorKind {
        let code = code.split(':').next().unwrap_or_default().trim();
        let code = code.rsplit('#').next().unwrap_or_default();
        ErrorKind::AWS_CODES
            .into_iter()
            .find(|k| k.as_str() == code)
            .unwrap_or(ErrorKind::Other)
    }

    /// Whether the caller is not allowed the call (IAM, or Chime's own
    /// `ForbiddenException`).
    pub fn is_denied(self) -> bool {
        matches!(self, ErrorKind::AccessDenied | ErrorKind::Forbidden)
    }

    /// Whether the API asked the caller to slow down.
    pub fn is_throttling(self) -> bool {
        self == ErrorKind::Throttled
    }

    /// The kind of an HTTP error status that carries no AWS error code.
    fn of_status(status: u16) -> ErrorKind {
        match status {
            400..=499 => ErrorKind::Http4xx,
            500..=599 => ErrorKind::Http5xx,
            _ => ErrorKind::Response,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed API operation: the bounded kind plus a message that is safe to
/// log (it never contains response bodies of successful calls, so no bot
/// secret can reach it).
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed ({kind}): {message}")]
pub struct ApiError {
    pub operation: Operation,
    pub kind: ErrorKind,
    pub message: String,
}

/// What is known of one failure, whichever side looks at it.
pub(crate) struct Failure<'a> {
    /// The SDK's own operation or attempt timeout fired.
    pub timeout: bool,
    /// The connection failed (no response).
    pub connector: Option<&'a ConnectorError>,
    /// The AWS error code the SDK parsed, or the `x-amzn-ErrorType` header.
    pub code: Option<&'a str>,
    /// The status of the response, when one came.
    pub status: Option<u16>,
    /// A response came but the SDK could not read it.
    pub unreadable: bool,
    /// The error itself, searched for a credentials error.
    pub error: &'a (dyn StdError + 'static),
}

/// The one classifier (see the module documentation).
pub(crate) fn classify(f: &Failure<'_>) -> ErrorKind {
    if f.timeout {
        return ErrorKind::Timeout;
    }
    if let Some(connector) = f.connector {
        return if connector.is_timeout() {
            ErrorKind::Timeout
        } else if is_credentials_error(f.error) {
            ErrorKind::Credentials
        } else {
            // Refused, reset, closed, or any other failure to get an answer.
            ErrorKind::Connection
        };
    }
    if let Some(code) = f.code {
        return ErrorKind::from_aws_code(code);
    }
    match f.status {
        Some(status) if (200..300).contains(&status) => ErrorKind::Response,
        Some(status) => ErrorKind::of_status(status),
        None if f.unreadable => ErrorKind::Response,
        None if is_credentials_error(f.error) => ErrorKind::Credentials,
        None => ErrorKind::Other,
    }
}

/// Classifies a failed operation as the caller sees it.
pub(crate) fn classify_sdk_error<E>(err: &SdkError<E>) -> ErrorKind
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let response = err.raw_response();
    classify(&Failure {
        timeout: matches!(err, SdkError::TimeoutError(_)),
        connector: match err {
            SdkError::DispatchFailure(d) => d.as_connector_error(),
            _ => None,
        },
        code: match err {
            SdkError::ServiceError(service) => service
                .err()
                .code()
                .or_else(|| header_error_type(service.raw())),
            _ => response.and_then(header_error_type),
        },
        status: response.map(|r| r.status().as_u16()),
        unreadable: matches!(err, SdkError::ResponseError(_)),
        error: err,
    })
}

/// Classifies one failed HTTP attempt inside the SDK's orchestrator.
pub(crate) fn classify_attempt(
    err: &OrchestratorError<ErasedError>,
    response: Option<&HttpResponse>,
) -> ErrorKind {
    classify(&Failure {
        timeout: err.is_timeout_error(),
        connector: err.as_connector_error(),
        code: err
            .as_operation_error()
            .and_then(erased_error_code)
            .or_else(|| response.and_then(header_error_type)),
        status: response.map(|r| r.status().as_u16()),
        unreadable: err.is_response_error(),
        error: err,
    })
}

pub(crate) fn header_error_type(response: &HttpResponse) -> Option<&str> {
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

/// The error and its sources on one line, as `aws_smithy_types`'s
/// `DisplayErrorContext` would print them.
pub(crate) fn error_chain(err: &(dyn StdError + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

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

    fn facts<'a>(error: &'a (dyn StdError + 'static)) -> Failure<'a> {
        Failure {
            timeout: false,
            connector: None,
            code: None,
            status: None,
            unreadable: false,
            error,
        }
    }

    #[test]
    fn one_classifier_for_attempts_and_operations() {
        let io = std::io::Error::other("reset");
        // A connector error that is neither a timeout nor credentials is a
        // connection failure, whichever side sees it.
        let other = ConnectorError::other(Box::new(std::io::Error::other("x")), None);
        let reset = ConnectorError::io(Box::new(std::io::Error::other("reset")));
        let slow = ConnectorError::timeout(Box::new(std::io::Error::other("slow")));
        let cases: [(Failure<'_>, ErrorKind); 9] = [
            (
                Failure {
                    connector: Some(&other),
                    ..facts(&io)
                },
                ErrorKind::Connection,
            ),
            (
                Failure {
                    connector: Some(&reset),
                    ..facts(&io)
                },
                ErrorKind::Connection,
            ),
            (
                Failure {
                    connector: Some(&slow),
                    ..facts(&io)
                },
                ErrorKind::Timeout,
            ),
            (
                Failure {
                    code: Some("ThrottledClientException"),
                    status: Some(429),
                    ..facts(&io)
                },
                ErrorKind::Throttled,
            ),
            (
                Failure {
                    status: Some(502),
                    ..facts(&io)
                },
                ErrorKind::Http5xx,
            ),
            (
                Failure {
                    status: Some(404),
                    ..facts(&io)
                },
                ErrorKind::Http4xx,
            ),
            (
                Failure {
                    status: Some(200),
                    ..facts(&io)
                },
                ErrorKind::Response,
            ),
            (
                Failure {
                    unreadable: true,
                    ..facts(&io)
                },
                ErrorKind::Response,
            ),
            (
                Failure {
                    timeout: true,
                    ..facts(&io)
                },
                ErrorKind::Timeout,
            ),
        ];
        for (i, (failure, kind)) in cases.iter().enumerate() {
            assert_eq!(classify(failure), *kind, "case {i}");
        }
        assert_eq!(classify(&facts(&io)), ErrorKind::Other);
    }
}
