//! The Chime API client: the official `aws-sdk-chime` with what an exporter
//! needs on top of it, wired in [`ChimeApi::connect`]:
//!
//! * **Throttling is retried.** The SDK's default classifiers do not treat
//!   Chime's `429 ThrottledClientException` as retryable; the
//!   [`ThrottlingClassifier`] does, and the standard retry strategy backs off
//!   (with jitter) inside `--chime.timeout`. Adaptive retry mode is
//!   deliberately not used: it was measured to stall a single call for over
//!   a minute.
//! * **Every HTTP attempt is counted** (see [`super::telemetry`]) and goes
//!   through the process-wide limits ([`ApiLimits`]).
//! * **Listings are followed with a guard** ([`super::paginate`]).
//! * **Secrets are dropped at the edge** ([`super::model`]).

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_chime::error::{ProvideErrorMetadata, SdkError};

use super::error::{classify_sdk_error, error_chain, ApiError, ErrorKind};
use super::interceptors::{ApiMetricsInterceptor, EmptyBodyGuard, ThrottlingClassifier};
use super::limits::{default_https_client, ApiLimits, LimitedClient, Priority};
use super::model::{bot_from_sdk, AccountInfo, Bot, BotRecord};
use super::operation::Operation;
use super::paginate::{paginate, More, PageError};
use super::retry::MAX_ATTEMPTS;
use super::telemetry::ApiMetrics;

/// The most `ListBots` pages followed for one account before giving up.
/// At 99 bots a page that is 99,000 bots, far beyond any real Chime account;
/// reaching it means the API is handing out tokens without end.
pub const MAX_PAGES: usize = 1000;

/// The most ListAccounts pages followed (200 accounts each).
pub const MAX_ACCOUNT_PAGES: usize = 500;

/// ListAccounts page size: the most the API allows.
pub const ACCOUNTS_PAGE_SIZE: i32 = 200;

/// The region every Chime API request is signed for. The Chime API is
/// global: its one endpoint is in us-east-1 whatever the region of the
/// caller, so with an endpoint override the SDK must not sign for
/// `--chime.region`.
pub const SIGNING_REGION: &str = "us-east-1";

/// Settings for [`ChimeApi::connect`].
#[derive(Clone)]
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
    /// STS's endpoint, instead of the SDK's resolution (only `--demo`: the
    /// fake answers GetCallerIdentity).
    pub sts_endpoint_url: Option<String>,
    /// The retry partition (one per target) and its quota
    /// ([`super::retry_quota`]).
    pub retry_partition: String,
    pub retry_quota: usize,
}

impl std::fmt::Debug for ApiSettings {
    /// The external id and any static secret are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("max_results", &self.max_results)
            .field("timeout", &self.timeout)
            .field("role_arn", &self.role_arn)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "static_credentials",
                &self.static_credentials.as_ref().map(|_| "<redacted>"),
            )
            .field("sts_endpoint_url", &self.sts_endpoint_url)
            .field("retry_partition", &self.retry_partition)
            .field("retry_quota", &self.retry_quota)
            .finish()
    }
}

/// What every SDK client of one target shares (the Chime client here, the
/// Chime SDK Identity client in [`super::sdk`]): aws-config's loaded
/// configuration with the timeouts and retries, the target's retry
/// partition and quota, and its credentials (the assumed role's, if any).
pub(crate) struct SharedParts {
    pub shared: aws_config::SdkConfig,
    pub partition: aws_smithy_runtime::client::retries::RetryPartition,
    pub credentials: Option<SharedCredentialsProvider>,
}

impl SharedParts {
    /// The HTTP client every SDK client of the process gets: aws-config's
    /// own (it leaves the client to the SDK's runtime plugin, so the same
    /// default is taken explicitly), wrapped so that every request, retries
    /// included, goes through `limits` and is counted in `metrics`.
    pub fn limited_http_client(
        &self,
        limits: &ApiLimits,
        metrics: &Arc<ApiMetrics>,
    ) -> LimitedClient {
        LimitedClient {
            inner: self
                .shared
                .http_client()
                .unwrap_or_else(default_https_client),
            limits: limits.clone(),
            metrics: Arc::clone(metrics),
        }
    }

    pub async fn load(settings: &ApiSettings) -> SharedParts {
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
        let partition = aws_smithy_runtime::client::retries::RetryPartition::custom(format!(
            "chime-exporter/{}",
            settings.retry_partition
        ))
        .token_bucket(
            aws_smithy_runtime::client::retries::TokenBucket::builder()
                .capacity(settings.retry_quota)
                .build(),
        )
        .build();
        let mut credentials = shared.credentials_provider();
        if let Some(role_arn) = &settings.role_arn {
            // aws-config's assume-role provider caches the credentials and
            // refreshes them before they expire.
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                .session_name("chime-exporter")
                .configure(&shared);
            if let Some(external_id) = &settings.external_id {
                provider = provider.external_id(external_id.clone());
            }
            credentials = Some(SharedCredentialsProvider::new(provider.build().await));
        }
        SharedParts {
            shared,
            partition,
            credentials,
        }
    }
}

/// A Chime API client with pagination, retry classification and metrics.
#[derive(Debug, Clone)]
pub struct ChimeApi {
    client: aws_sdk_chime::Client,
    /// STS with the same credentials, for `check` (who am I?).
    sts: aws_sdk_sts::Client,
    metrics: Arc<ApiMetrics>,
    limits: ApiLimits,
    max_results: i32,
    /// The credentials provider of both clients.
    credentials: Option<SharedCredentialsProvider>,
    /// The role assumed, if one is; see [`ChimeApi::credential_source`].
    assumed_role: Option<String>,
    /// Static (demo) credentials.
    static_credentials: bool,
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
        let parts = SharedParts::load(settings).await;
        // `--chime.region` stays the region of the credential providers
        // (STS for assumed roles); Chime itself is signed for us-east-1.
        let mut builder = aws_sdk_chime::config::Builder::from(&parts.shared)
            .region(Region::new(SIGNING_REGION))
            .retry_partition(parts.partition.clone());
        // The endpoint override is Chime's alone: STS (for role_arn) keeps
        // its own endpoint (or AWS_ENDPOINT_URL_STS).
        if let Some(url) = &settings.endpoint_url {
            builder = builder.endpoint_url(url.clone());
        }
        let credentials = parts.credentials.clone();
        if settings.role_arn.is_some() {
            builder.set_credentials_provider(credentials.clone());
        }
        builder = builder.http_client(parts.limited_http_client(limits, &metrics));
        let shared = parts.shared;
        let config = builder
            .retry_classifier(ThrottlingClassifier)
            .interceptor(EmptyBodyGuard)
            .interceptor(ApiMetricsInterceptor {
                metrics: metrics.clone(),
            })
            .build();
        // STS answers "who am I" with the same credentials as Chime (the
        // role's, if assumed); its endpoint stays STS's own.
        let mut sts = aws_sdk_sts::config::Builder::from(&shared);
        sts.set_credentials_provider(credentials.clone());
        if let Some(url) = &settings.sts_endpoint_url {
            sts.set_endpoint_url(Some(url.clone()));
        }
        ChimeApi {
            client: aws_sdk_chime::Client::from_conf(config),
            sts: aws_sdk_sts::Client::from_conf(sts.build()),
            credentials,
            assumed_role: settings.role_arn.clone(),
            static_credentials: settings.static_credentials.is_some(),
            metrics,
            limits: limits.clone(),
            max_results: settings.max_results,
        }
    }

    /// Every bot of `account_id`, handed to `take` one at a time as the
    /// pages arrive (so the caller can pack them while each page is freed).
    ///
    /// Either every bot, or an error: a page that fails in the middle fails
    /// the fetch, so a half list is never taken for the account's bots. An
    /// error from `take` (the caller cannot keep the bots) fails it too.
    ///
    /// `priority`: [`Priority::First`] for an account without data,
    /// [`Priority::Refresh`] otherwise.
    pub async fn list_bots(
        &self,
        account_id: &str,
        priority: Priority,
        mut take: impl FnMut(Bot<'_>) -> Result<(), String>,
    ) -> Result<(), ApiError> {
        const OP: Operation = Operation::ListBots;
        let result = paginate(
            &self.limits,
            priority,
            MAX_PAGES,
            |token| {
                let request = self
                    .client
                    .list_bots()
                    .account_id(account_id)
                    .max_results(self.max_results)
                    .set_next_token(token);
                async move {
                    request
                        .send()
                        .await
                        .map_err(|e| self.operation_failed(OP, account_id, e))
                }
            },
            |page| {
                page.bots()
                    .iter()
                    .try_for_each(|bot| take(bot_from_sdk(bot)))
                    .map(|()| More::All)
                    .map_err(|why| self.malformed(OP, account_id, &why))
            },
            |page| page.next_token(),
        )
        .await;
        self.listing_result(OP, account_id, result)
    }

    /// One bot (GetBot), for a probe: behind every collection call (see
    /// [`Priority`]).
    pub async fn get_bot(&self, account_id: &str, bot_id: &str) -> Result<BotRecord, ApiError> {
        let request = self.client.get_bot().account_id(account_id).bot_id(bot_id);
        let out = self
            .limits
            .run(Priority::Probe, move || request.send())
            .await;
        self.one(Operation::GetBot, account_id, out, |out| {
            out.bot().map(|bot| BotRecord::from(bot_from_sdk(bot)))
        })
    }

    /// One account (GetAccount).
    pub async fn get_account(&self, account_id: &str) -> Result<AccountInfo, ApiError> {
        let request = self.client.get_account().account_id(account_id);
        let out = self
            .limits
            .run(Priority::First, move || request.send())
            .await;
        self.one(Operation::GetAccount, account_id, out, |out| {
            out.account().map(AccountInfo::from_sdk)
        })
    }

    /// The answer of an operation that answers with one thing: its error
    /// classified, and an answer without the thing refused.
    fn one<T, O, E>(
        &self,
        op: Operation,
        account_id: &str,
        out: Result<O, SdkError<E>>,
        pick: impl FnOnce(&O) -> Option<T>,
    ) -> Result<T, ApiError>
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let out = out.map_err(|e| self.operation_failed(op, account_id, e))?;
        pick(&out)
            .ok_or_else(|| self.malformed(op, account_id, &format!("the {op} answer is empty")))
    }

    /// Every account the credentials can see (ListAccounts, 200 a page),
    /// optionally only those whose name starts with `name_prefix`; with
    /// `wanted`, only until every account in it was seen.
    pub async fn list_accounts(
        &self,
        name_prefix: Option<&str>,
        wanted: Option<&std::collections::HashSet<&str>>,
    ) -> Result<Vec<AccountInfo>, ApiError> {
        const OP: Operation = Operation::ListAccounts;
        let mut accounts = Vec::new();
        let mut missing = wanted.cloned();
        let result = paginate(
            &self.limits,
            Priority::First,
            MAX_ACCOUNT_PAGES,
            |token| {
                let request = self
                    .client
                    .list_accounts()
                    .max_results(ACCOUNTS_PAGE_SIZE)
                    .set_name(name_prefix.map(str::to_owned))
                    .set_next_token(token);
                async move {
                    request
                        .send()
                        .await
                        .map_err(|e| self.operation_failed(OP, "", e))
                }
            },
            |page| {
                for account in page.accounts() {
                    if let Some(missing) = missing.as_mut() {
                        missing.remove(account.account_id());
                    }
                    accounts.push(AccountInfo::from_sdk(account));
                }
                Ok(match &missing {
                    Some(m) if m.is_empty() => More::Enough,
                    _ => More::All,
                })
            },
            |page| page.next_token(),
        )
        .await;
        self.listing_result(OP, "", result).map(|()| accounts)
    }

    /// One page of at most `max_results` bots of `account_id`: whether
    /// ListBots works, for `check` (how many bots came back).
    pub async fn list_bots_page(
        &self,
        account_id: &str,
        max_results: i32,
    ) -> Result<usize, ApiError> {
        let request = self
            .client
            .list_bots()
            .account_id(account_id)
            .max_results(max_results);
        let out = self
            .limits
            .run(Priority::First, move || request.send())
            .await;
        self.one(Operation::ListBots, account_id, out, |out| {
            Some(out.bots().len())
        })
    }

    /// One page of ListAccounts, for `check`: how many accounts came back,
    /// and the first one's id.
    pub async fn list_accounts_page(&self) -> Result<(usize, Option<String>), ApiError> {
        let request = self.client.list_accounts().max_results(ACCOUNTS_PAGE_SIZE);
        let out = self
            .limits
            .run(Priority::First, move || request.send())
            .await;
        self.one(Operation::ListAccounts, "", out, |out| {
            let first = out.accounts().first().map(|a| a.account_id().to_owned());
            Some((out.accounts().len(), first))
        })
    }

    /// Where the credentials come from, by resolving them once: an assumed
    /// role, or the link of the default chain that answered (environment,
    /// profile, SSO, web identity, container, instance role). Never a
    /// secret.
    pub async fn credential_source(&self) -> Result<String, ApiError> {
        use aws_credential_types::credential_feature::AwsCredentialFeature as F;
        use aws_credential_types::provider::ProvideCredentials;
        let failed = |message: String| ApiError {
            operation: Operation::Other,
            kind: ErrorKind::Credentials,
            message,
        };
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| failed("no credentials provider".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| failed(error_chain(&e)))?;
        let features = credentials
            .get_property::<Vec<F>>()
            .cloned()
            .unwrap_or_default();
        let link = features.iter().rev().find_map(|f| {
            Some(match f {
                F::CredentialsEnvVars => "environment",
                F::CredentialsEnvVarsStsWebIdToken | F::CredentialsProfileStsWebIdToken => {
                    "web identity"
                }
                F::CredentialsProfile
                | F::CredentialsProfileSourceProfile
                | F::CredentialsProfileNamedProvider => "profile",
                F::CredentialsProfileSso | F::CredentialsSso => "SSO",
                F::CredentialsProfileProcess | F::CredentialsProcess => "credential process",
                F::CredentialsHttp => "container (ECS/EKS)",
                F::CredentialsImds => "instance role (IMDS)",
                F::CredentialsCode => "static",
                _ => return None,
            })
        });
        let base = match link {
            Some(link) => link,
            None if self.static_credentials => "static (demo)",
            None => "default chain",
        };
        Ok(match &self.assumed_role {
            Some(role) => format!("assumed role {role}"),
            None => base.to_owned(),
        })
    }

    /// STS GetCallerIdentity with these credentials: the AWS account and
    /// the ARN they act as.
    pub async fn caller_identity(&self) -> Result<(String, String), ApiError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| ApiError {
                operation: Operation::Other,
                kind: classify_sdk_error(&e),
                message: error_chain(&e),
            })?;
        Ok((
            out.account().unwrap_or_default().to_owned(),
            out.arn().unwrap_or_default().to_owned(),
        ))
    }

    /// The end of a listing: a looping one is counted as a `pagination`
    /// error (no attempt failed, so nothing else counted it).
    fn listing_result(
        &self,
        op: Operation,
        account_id: &str,
        result: Result<(), PageError>,
    ) -> Result<(), ApiError> {
        match result {
            Ok(()) => Ok(()),
            Err(PageError::Api(err)) => Err(err),
            Err(PageError::Looping(why)) => {
                Err(self.counted(op, account_id, ErrorKind::Pagination, why))
            }
        }
    }

    /// An answer that parsed but cannot be used.
    fn malformed(&self, op: Operation, account_id: &str, why: &str) -> ApiError {
        self.counted(op, account_id, ErrorKind::Response, why)
    }

    /// A failure that no attempt reported, counted here.
    fn counted(&self, op: Operation, account_id: &str, kind: ErrorKind, why: &str) -> ApiError {
        self.metrics.error(op, account_id, kind);
        ApiError {
            operation: op,
            kind,
            message: why.to_owned(),
        }
    }

    /// Turns an SDK error into an [`ApiError`]. Errors of individual HTTP
    /// attempts were already counted by the interceptor; only an operation
    /// timeout (which cancels the attempt before the interceptor sees its
    /// end) is counted here.
    fn operation_failed<E>(&self, op: Operation, account_id: &str, err: SdkError<E>) -> ApiError
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
