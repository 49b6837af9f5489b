//! The second source: the Amazon Chime SDK Identity API
//! (`chime-sdk-identity`, 2021-04-20) through the official
//! `aws-sdk-chimesdkidentity`, for the AppInstanceBots (Amazon Lex V2 bots)
//! of Chime SDK messaging AppInstances.
//!
//! It goes through everything the Chime client does ([`super::ChimeApi`]):
//! the same process-wide [`ApiLimits`] (one concurrency and one rate limit
//! for both sources, retries included), the same retry classifier, empty
//! body guard and counters ([`ApiMetrics`], with the three operations as
//! bounded `operation` values), and the same pagination guard.
//!
//! Unlike Chime, the endpoint is regional (`identity-chime.{region}…`) and
//! requests are signed for the configured region (signing name `chime`);
//! `AWS_ENDPOINT_URL_CHIME_SDK_IDENTITY` overrides the endpoint (aws-config
//! reads it).
//!
//! `Metadata` is sensitive in the model and has no field here: it is never
//! copied out of the SDK's answers, so nothing above can export or log it.
//! `Name` (of AppInstances and of bots, `NonEmptyResourceName`) is
//! sensitive as well, but is what makes the series readable: it is kept,
//! and the renderer leaves it out under `--no-collector.bots.display-name`
//! (`crate::expose::SdkRenderSettings::drop_names`).

use std::sync::Arc;

use aws_config::Region;
use aws_sdk_chimesdkidentity::error::{ProvideErrorMetadata, SdkError};

use super::client::{ApiSettings, SharedParts};
use super::error::{classify_sdk_error, error_chain, ApiError, ErrorKind};
use super::interceptors::{ApiMetricsInterceptor, EmptyBodyGuard, ThrottlingClassifier};
use super::limits::{ApiLimits, Priority};
use super::operation::Operation;
use super::paginate::{paginate, More, PageError};
use super::telemetry::ApiMetrics;

/// Page size of both listings: the most the model allows (`MaxResults`,
/// 1 to 50).
pub const SDK_PAGE_SIZE: i32 = 50;

/// The most pages followed for one listing: 50,000 bots or AppInstances,
/// far beyond the service's quotas; reaching it means tokens without end.
pub const SDK_MAX_PAGES: usize = 1000;

/// An AppInstance (ListAppInstances): its ARN and name, no `Metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInstance {
    pub arn: String,
    pub name: String,
}

/// A bot as ListAppInstanceBots lists it: ARN and name, no `Metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInstanceBotSummary {
    pub arn: String,
    pub name: String,
}

/// What DescribeAppInstanceBot tells beyond the list: its Lex
/// configuration and timestamps. No `Metadata`; `RespondsTo` (deprecated)
/// and `WelcomeIntent` are not exported and not kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppInstanceBotDetails {
    pub name: String,
    pub lex_bot_alias_arn: String,
    pub locale_id: String,
    /// `InvokedBy.StandardMessages` (AUTO, ALL, MENTIONS, NONE), empty when
    /// the API did not say.
    pub standard_messages: String,
    /// `InvokedBy.TargetedMessages` (ALL, NONE), empty when not said.
    pub targeted_messages: String,
    pub created_seconds: Option<f64>,
    pub updated_seconds: Option<f64>,
}

/// The region the SDK's default chain resolves (`AWS_REGION`,
/// `AWS_DEFAULT_REGION`, the profile, the instance's metadata), or
/// `fallback` when it finds none.
pub async fn resolve_region(fallback: &str) -> String {
    aws_config::default_provider::region::DefaultRegionChain::builder()
        .build()
        .region()
        .await
        .map(|r| r.as_ref().to_owned())
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| fallback.to_owned())
}

/// A Chime SDK Identity client (see the module documentation).
#[derive(Debug, Clone)]
pub struct ChimeSdkApi {
    client: aws_sdk_chimesdkidentity::Client,
    metrics: Arc<ApiMetrics>,
    limits: ApiLimits,
}

impl ChimeSdkApi {
    /// Builds the client: `settings.region` is both the endpoint's region
    /// and the signing region; `settings.endpoint_url` (only `--demo`)
    /// overrides the endpoint, as `AWS_ENDPOINT_URL_CHIME_SDK_IDENTITY`
    /// does.
    pub async fn connect(
        settings: &ApiSettings,
        limits: &ApiLimits,
        metrics: Arc<ApiMetrics>,
    ) -> ChimeSdkApi {
        let parts = SharedParts::load(settings).await;
        let mut builder = aws_sdk_chimesdkidentity::config::Builder::from(&parts.shared)
            .region(Region::new(settings.region.clone()))
            .retry_partition(parts.partition.clone());
        if let Some(url) = &settings.endpoint_url {
            builder = builder.endpoint_url(url.clone());
        }
        if settings.role_arn.is_some() {
            builder.set_credentials_provider(parts.credentials.clone());
        }
        builder = builder.http_client(parts.limited_http_client(limits, &metrics));
        let config = builder
            .retry_classifier(ThrottlingClassifier)
            .interceptor(EmptyBodyGuard)
            .interceptor(ApiMetricsInterceptor {
                metrics: metrics.clone(),
            })
            .build();
        ChimeSdkApi {
            client: aws_sdk_chimesdkidentity::Client::from_conf(config),
            metrics,
            limits: limits.clone(),
        }
    }

    /// Every AppInstance the credentials see (ListAppInstances, 50 a page).
    pub async fn list_app_instances(&self) -> Result<Vec<AppInstance>, ApiError> {
        const OP: Operation = Operation::ListAppInstances;
        let mut out = Vec::new();
        let result = paginate(
            &self.limits,
            Priority::First,
            SDK_MAX_PAGES,
            |token| {
                let request = self
                    .client
                    .list_app_instances()
                    .max_results(SDK_PAGE_SIZE)
                    .set_next_token(token);
                async move { request.send().await.map_err(|e| self.failed(OP, e)) }
            },
            |page| {
                for instance in page.app_instances() {
                    let Some(arn) = instance.app_instance_arn() else {
                        return Err(self.counted(
                            OP,
                            ErrorKind::Response,
                            "an AppInstance without ARN",
                        ));
                    };
                    out.push(AppInstance {
                        arn: arn.to_owned(),
                        name: instance.name().unwrap_or_default().to_owned(),
                    });
                }
                Ok(More::All)
            },
            |page| page.next_token(),
        )
        .await;
        self.listing(OP, result).map(|()| out)
    }

    /// Every bot of one AppInstance (ListAppInstanceBots, 50 a page): all
    /// pages or an error, never half a list.
    pub async fn list_app_instance_bots(
        &self,
        app_instance_arn: &str,
        priority: Priority,
    ) -> Result<Vec<AppInstanceBotSummary>, ApiError> {
        const OP: Operation = Operation::ListAppInstanceBots;
        let mut out = Vec::new();
        let result = paginate(
            &self.limits,
            priority,
            SDK_MAX_PAGES,
            |token| {
                let request = self
                    .client
                    .list_app_instance_bots()
                    .app_instance_arn(app_instance_arn)
                    .max_results(SDK_PAGE_SIZE)
                    .set_next_token(token);
                async move { request.send().await.map_err(|e| self.failed(OP, e)) }
            },
            |page| {
                for bot in page.app_instance_bots() {
                    let Some(arn) = bot.app_instance_bot_arn() else {
                        return Err(self.counted(OP, ErrorKind::Response, "a bot without ARN"));
                    };
                    out.push(AppInstanceBotSummary {
                        arn: arn.to_owned(),
                        name: bot.name().unwrap_or_default().to_owned(),
                    });
                }
                Ok(More::All)
            },
            |page| page.next_token(),
        )
        .await;
        self.listing(OP, result).map(|()| out)
    }

    /// One page of ListAppInstanceBots (for `check`): how many bots came
    /// back, and the first one's ARN.
    pub async fn list_app_instance_bots_page(
        &self,
        app_instance_arn: &str,
    ) -> Result<(usize, Option<String>), ApiError> {
        const OP: Operation = Operation::ListAppInstanceBots;
        let request = self
            .client
            .list_app_instance_bots()
            .app_instance_arn(app_instance_arn)
            .max_results(SDK_PAGE_SIZE);
        let out = self
            .limits
            .run(Priority::First, move || request.send())
            .await
            .map_err(|e| self.failed(OP, e))?;
        let first = out
            .app_instance_bots()
            .first()
            .and_then(|b| b.app_instance_bot_arn())
            .map(str::to_owned);
        Ok((out.app_instance_bots().len(), first))
    }

    /// One bot's details (DescribeAppInstanceBot).
    pub async fn describe_app_instance_bot(
        &self,
        bot_arn: &str,
        priority: Priority,
    ) -> Result<AppInstanceBotDetails, ApiError> {
        const OP: Operation = Operation::DescribeAppInstanceBot;
        let request = self
            .client
            .describe_app_instance_bot()
            .app_instance_bot_arn(bot_arn);
        let out = self
            .limits
            .run(priority, move || request.send())
            .await
            .map_err(|e| self.failed(OP, e))?;
        let Some(bot) = out.app_instance_bot() else {
            return Err(self.counted(OP, ErrorKind::Response, "the answer has no AppInstanceBot"));
        };
        let lex = bot.configuration().and_then(|c| c.lex());
        let invoked = lex.and_then(|l| l.invoked_by());
        Ok(AppInstanceBotDetails {
            name: bot.name().unwrap_or_default().to_owned(),
            lex_bot_alias_arn: lex
                .map(|l| l.lex_bot_alias_arn().to_owned())
                .unwrap_or_default(),
            locale_id: lex.map(|l| l.locale_id().to_owned()).unwrap_or_default(),
            standard_messages: invoked
                .map(|i| i.standard_messages().as_str().to_owned())
                .unwrap_or_default(),
            targeted_messages: invoked
                .map(|i| i.targeted_messages().as_str().to_owned())
                .unwrap_or_default(),
            created_seconds: bot.created_timestamp().map(|t| t.as_secs_f64()),
            updated_seconds: bot.last_updated_timestamp().map(|t| t.as_secs_f64()),
        })
    }

    fn listing(&self, op: Operation, result: Result<(), PageError>) -> Result<(), ApiError> {
        match result {
            Ok(()) => Ok(()),
            Err(PageError::Api(err)) => Err(err),
            Err(PageError::Looping(why)) => Err(self.counted(op, ErrorKind::Pagination, why)),
        }
    }

    /// A failure no attempt reported (a malformed answer, a looping
    /// listing), counted here.
    fn counted(&self, op: Operation, kind: ErrorKind, why: &str) -> ApiError {
        self.metrics.error(op, "", kind);
        ApiError {
            operation: op,
            kind,
            message: why.to_owned(),
        }
    }

    /// An SDK error as an [`ApiError`]; attempts were counted by the
    /// interceptor, an operation timeout is counted here (as for Chime).
    /// The message is the status and the service's message, never a
    /// response body.
    fn failed<E>(&self, op: Operation, err: SdkError<E>) -> ApiError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let kind = classify_sdk_error(&err);
        if matches!(err, SdkError::TimeoutError(_)) {
            self.metrics.error(op, "", kind);
        }
        let message = match &err {
            SdkError::ServiceError(service) => format!(
                "HTTP {}: {}",
                service.raw().status().as_u16(),
                service.err().message().unwrap_or("no message")
            ),
            other => error_chain(other),
        };
        ApiError {
            operation: op,
            kind,
            message,
        }
    }
}
