//! What `/status` shows: the exporter's own view of its targets and
//! accounts, for the operator (an HTML page) and for scripts
//! (`/status?format=json`). One model, [`StatusReport`], read from the same
//! state the metrics come from; its JSON is the documented schema.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::collect::{BotCache, Capacity, Discovery, SdkCache};
use crate::config::{ReloadStatus, Shard};
use crate::version;

/// The whole report (`schema` is its version).
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// `1`: this layout.
    pub schema: u32,
    /// When the report was made (Unix seconds).
    pub time: f64,
    pub build: Build,
    pub shard: ShardReport,
    pub capacity: Capacity,
    pub reloads: Reloads,
    pub targets: Vec<TargetReport>,
    /// Failing accounts first, then by name.
    pub accounts: Vec<AccountReport>,
    /// The Chime SDK source's AppInstances, failing first (empty when the
    /// source is off). Added to schema 1: a new member, nothing changed.
    pub app_instances: Vec<AppInstanceReport>,
}

/// One watched Chime SDK AppInstance.
#[derive(Debug, Clone, Serialize)]
pub struct AppInstanceReport {
    pub app_instance_arn: String,
    /// From ListAppInstances; empty when unknown.
    pub name: String,
    pub up: bool,
    /// `None` until a listing succeeded.
    pub bots: Option<usize>,
    /// Bots whose details (DescribeAppInstanceBot) are known.
    pub described_bots: Option<usize>,
    pub last_success: Option<f64>,
    pub data_age: Option<f64>,
    pub next_refresh: Option<f64>,
    pub last_error: Option<&'static str>,
    pub last_error_time: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub version: &'static str,
    pub revision: &'static str,
    pub build_date: &'static str,
    pub rustc_version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardReport {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    pub successful: bool,
    pub last_success: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reloads {
    pub config: ReloadReport,
    pub web_config: ReloadReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub name: String,
    /// Where the credentials come from: the role (ARN) if one is assumed,
    /// else the default chain. Never a secret.
    pub credentials: String,
    pub discover: bool,
    pub up: bool,
    /// Whether discovery has run once.
    pub discovered: bool,
    pub last_success: Option<f64>,
    pub last_error: Option<&'static str>,
    pub accounts: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountReport {
    pub account_id: String,
    pub name: String,
    pub aws_account_id: String,
    pub target: String,
    pub up: bool,
    /// `None` until a fetch succeeded.
    pub bots: Option<usize>,
    pub disabled_bots: Option<usize>,
    pub last_success: Option<f64>,
    /// Seconds since the last success.
    pub data_age: Option<f64>,
    /// When a scrape may fetch the account again (Unix seconds).
    pub next_refresh: Option<f64>,
    pub last_error: Option<&'static str>,
    pub last_error_time: Option<f64>,
    /// HTTP requests sent to the API for this account.
    pub api_calls: u64,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn reload(status: &ReloadStatus) -> ReloadReport {
    ReloadReport {
        successful: status.successful(),
        last_success: status.last_success_seconds(),
    }
}

/// What the report is read from.
#[derive(Debug)]
pub struct StatusSources {
    pub cache: Arc<BotCache>,
    pub discovery: Arc<Discovery>,
    pub config: Arc<ReloadStatus>,
    pub web_config: Arc<ReloadStatus>,
    pub shard: Shard,
    /// The Chime SDK source, if built.
    pub sdk: Option<Arc<SdkCache>>,
}

impl StatusSources {
    /// The report, now.
    pub fn report(&self) -> StatusReport {
        let time = now();
        let mut views = Vec::new();
        self.cache.states_into(&mut views);
        let watched = self.cache.accounts();
        let target_of: std::collections::HashMap<&str, &str> = watched
            .iter()
            .map(|w| (&*w.account_id, w.target.config.name.as_str()))
            .collect();
        let mut accounts: Vec<AccountReport> = views
            .iter()
            .map(|view| {
                let state = &view.state;
                let bots = state.snapshot.as_ref().map(|s| s.bots.len());
                AccountReport {
                    account_id: view.account_id.to_string(),
                    name: view
                        .info
                        .as_ref()
                        .map(|i| i.name().to_owned())
                        .unwrap_or_default(),
                    aws_account_id: view.aws_account_id.as_deref().unwrap_or("").to_owned(),
                    target: target_of
                        .get(&*view.account_id)
                        .copied()
                        .unwrap_or_default()
                        .to_owned(),
                    up: state.up,
                    bots,
                    disabled_bots: state.snapshot.as_ref().map(|s| s.bots.disabled_count()),
                    last_success: state.last_success_seconds,
                    data_age: state.last_success_seconds.map(|t| (time - t).max(0.0)),
                    next_refresh: state.next_refresh_seconds,
                    last_error: state.last_error.map(|(k, _)| k.as_str()),
                    last_error_time: state.last_error.map(|(_, t)| t),
                    api_calls: self.cache.api_requests_of(&view.account_id),
                }
            })
            .collect();
        // Failing accounts first, then by name and id.
        accounts
            .sort_by(|a, b| (a.up, &a.name, &a.account_id).cmp(&(b.up, &b.name, &b.account_id)));
        let targets = self
            .discovery
            .statuses()
            .into_iter()
            .map(|(t, s)| TargetReport {
                name: t.config.name.clone(),
                credentials: match &t.config.role_arn {
                    Some(role) => format!("assumed role {role}"),
                    None => "default credential chain".to_owned(),
                },
                discover: t.config.discover,
                up: s.up,
                discovered: s.ran,
                last_success: s.last_success_seconds,
                last_error: s.last_error.map(|k| k.as_str()),
                accounts: s.accounts,
            })
            .collect();
        let mut app_instances: Vec<AppInstanceReport> = self
            .sdk
            .iter()
            .flat_map(|sdk| sdk.views())
            .map(|v| {
                let state = &v.state;
                AppInstanceReport {
                    app_instance_arn: v.arn.to_string(),
                    name: v.name.as_deref().unwrap_or_default().to_owned(),
                    up: state.up,
                    bots: state.bots.as_ref().map(|b| b.len()),
                    described_bots: state
                        .bots
                        .as_ref()
                        .map(|b| b.iter().filter(|b| b.details.is_some()).count()),
                    last_success: state.last_success_seconds,
                    data_age: state.last_success_seconds.map(|t| (time - t).max(0.0)),
                    next_refresh: state.next_refresh_seconds,
                    last_error: state.last_error.map(|(k, _)| k.as_str()),
                    last_error_time: state.last_error.map(|(_, t)| t),
                }
            })
            .collect();
        app_instances.sort_by(|a, b| {
            (a.up, &a.name, &a.app_instance_arn).cmp(&(b.up, &b.name, &b.app_instance_arn))
        });
        StatusReport {
            schema: 1,
            time,
            build: Build {
                version: version::VERSION,
                revision: version::REVISION,
                build_date: version::BUILD_DATE,
                rustc_version: version::RUSTC_VERSION,
            },
            shard: ShardReport {
                index: self.shard.index,
                count: self.shard.count,
            },
            capacity: self.cache.capacity(),
            reloads: Reloads {
                config: reload(&self.config),
                web_config: reload(&self.web_config),
            },
            targets,
            accounts,
            app_instances,
        }
    }
}
