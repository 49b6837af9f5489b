//! Targets at run time: a [`TargetConfig`] made into an SDK client with its
//! credentials ([`Target`], built by the [`TargetFactory`]), and the
//! accounts watched through them ([`Watched`]).

use std::sync::Arc;
use std::time::Duration;

use crate::api::{retry_quota, AccountInfo, ApiLimits, ApiMetrics, ApiSettings, ChimeApi};
use crate::config::{AccountId, TargetConfig};

/// How often an account's bots are fetched, and how a failure backs off.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// How long a successful fetch is reused.
    pub ttl: Duration,
    /// The first backoff after a failure; it doubles with each consecutive
    /// failure up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl CacheSettings {
    /// The TTL with up to 10 % added at random, so refreshes spread out.
    pub fn ttl_with_jitter(&self) -> Duration {
        self.ttl + self.ttl.mul_f64(fastrand::f64() * 0.1)
    }

    /// Exponential backoff with jitter: never shorter than `backoff_min`,
    /// so a failing API is not called again by the next scrape.
    pub fn backoff(&self, consecutive_failures: u32) -> Duration {
        let exp = consecutive_failures.saturating_sub(1).min(20);
        let base = self
            .backoff_min
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max.max(self.backoff_min));
        base + base.mul_f64(fastrand::f64() * 0.25)
    }
}

/// One set of accounts reached with one client (one set of credentials).
#[derive(Debug)]
pub struct Target {
    pub config: TargetConfig,
    pub api: ChimeApi,
    pub settings: CacheSettings,
}

/// Builds a [`Target`] (an SDK client with its credentials) from its
/// configuration and the settings every target shares.
#[derive(Debug, Clone)]
pub struct TargetFactory {
    pub endpoint_url: Option<String>,
    pub timeout: Duration,
    pub error_backoff: Duration,
    /// `--chime.rate-limit`, which sizes each target's retry quota.
    pub rate_limit: f64,
    pub static_credentials: Option<(String, String)>,
    /// STS's endpoint (only `--demo`).
    pub sts_endpoint_url: Option<String>,
    pub limits: ApiLimits,
    pub metrics: Arc<ApiMetrics>,
}

impl TargetFactory {
    pub async fn build(&self, config: &TargetConfig) -> Arc<Target> {
        let settings = ApiSettings {
            region: config.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            max_results: config.max_results,
            timeout: self.timeout,
            role_arn: config.role_arn.clone(),
            external_id: config.external_id.clone(),
            static_credentials: self.static_credentials.clone(),
            sts_endpoint_url: self.sts_endpoint_url.clone(),
            retry_partition: config.name.clone(),
            retry_quota: retry_quota(self.rate_limit),
        };
        let api = ChimeApi::connect(&settings, &self.limits, Arc::clone(&self.metrics)).await;
        Arc::new(Target {
            config: config.clone(),
            api,
            settings: CacheSettings {
                ttl: config.cache_ttl,
                backoff_min: self.error_backoff,
                backoff_max: config.cache_ttl.max(self.error_backoff),
            },
        })
    }

    pub async fn build_all(&self, configs: &[TargetConfig]) -> Vec<Arc<Target>> {
        let mut targets = Vec::with_capacity(configs.len());
        for config in configs {
            targets.push(self.build(config).await);
        }
        targets
    }
}

/// A watched account: which target reaches it, and what is known of it.
///
/// Its strings are shared (`Arc`), so the views made of it for every change
/// of the data cost no allocation: with hundreds of accounts those copies
/// were thousands of small allocations per change, and the ones the renderer
/// kept pinned heap pages among them.
#[derive(Debug, Clone)]
pub struct Watched {
    pub account_id: Arc<str>,
    pub target: Arc<Target>,
    /// From ListAccounts (discovered) or GetAccount (configured).
    pub info: Option<Arc<AccountInfo>>,
    /// Whether the account came from discovery (rather than configuration).
    pub discovered: bool,
    /// See [`Watched::aws_account_id`].
    aws_account_id: Option<Arc<str>>,
}

impl Watched {
    pub fn new(
        account_id: Arc<str>,
        target: Arc<Target>,
        info: Option<Arc<AccountInfo>>,
        discovered: bool,
    ) -> Watched {
        let aws_account_id = info
            .as_ref()
            .map(|i| i.aws_account_id())
            .filter(|a| !a.is_empty())
            .or_else(|| target.config.role_aws_account())
            .map(Arc::from);
        Watched {
            account_id,
            target,
            info,
            discovered,
            aws_account_id,
        }
    }

    /// A configured account, before anything is known of it.
    pub fn configured(id: &AccountId, target: &Arc<Target>) -> Watched {
        Watched::new(id.shared(), Arc::clone(target), None, false)
    }

    /// The AWS account that owns the Chime account: from the API when known,
    /// else from the target's role ARN.
    pub fn aws_account_id(&self) -> Option<&str> {
        self.aws_account_id.as_deref()
    }

    /// The same, shared.
    pub fn aws_account_id_shared(&self) -> Option<Arc<str>> {
        self.aws_account_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_never_below_minimum() {
        let s = CacheSettings {
            ttl: Duration::from_secs(300),
            backoff_min: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
        };
        for _ in 0..100 {
            let first = s.backoff(1);
            assert!(first >= Duration::from_secs(10) && first <= Duration::from_millis(12_500));
            let third = s.backoff(3);
            assert!(third >= Duration::from_secs(40) && third <= Duration::from_secs(50));
            let many = s.backoff(1000);
            assert!(many >= Duration::from_secs(300) && many <= Duration::from_secs(375));
        }
    }

    #[test]
    fn ttl_jitter_only_lengthens() {
        let s = CacheSettings {
            ttl: Duration::from_secs(100),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let t = s.ttl_with_jitter();
            assert!(t >= Duration::from_secs(100) && t <= Duration::from_secs(110));
        }
    }
}
