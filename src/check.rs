//! `chime_exporter check`: "will this work?", before a deploy, for CI
//! pipelines and GitOps.
//!
//! Flags and files are validated exactly as at start (same messages, exit
//! status 2 when invalid). Then, for each target: the credentials are
//! resolved (and where they come from is said), STS says whose they are,
//! and the calls the exporter itself makes are made once each: ListAccounts
//! (one page; GetAccount for each configured account when it is denied) and
//! ListBots with `max-results` 1 for each configured account (for the first
//! listed account when none is configured). One row per target and step;
//! for a refusal, the IAM action that is missing. Exit status 0 when every
//! step worked, 1 when one failed (missing credentials are a failed step,
//! not an invalid configuration). For the Chime SDK source, per target:
//! ListAppInstances, ListAppInstanceBots (one page) for each configured
//! AppInstance (the first listed when none is), and DescribeAppInstanceBot
//! for the first bot found. A Chime target with nothing to watch (only the
//! Chime SDK source was asked for) is not checked. The API limits and `--chime.timeout`
//! apply, and the whole check stops after [`CHECK_LIMIT`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::api::{ApiError, ApiLimits, ApiMetrics, ErrorKind};
use crate::collect::{SdkTarget, Target, TargetFactory};
use crate::config::Config;

/// The longest a check runs, whatever the number of targets and accounts.
pub const CHECK_LIMIT: Duration = Duration::from_secs(120);

/// How the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

/// One step of one target.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: String,
    pub step: &'static str,
    /// The account the step is about, if any.
    pub account_id: Option<String>,
    pub ok: bool,
    /// The error class (as in `chime_api_errors_total`).
    pub error: Option<&'static str>,
    /// For a refusal, the IAM action that is missing.
    pub missing_iam_action: Option<&'static str>,
    pub detail: String,
}

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub rows: Vec<Row>,
}

impl Report {
    /// The exit status: 0 when every step worked, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.ok)
    }

    pub fn render(&self, output: Output) -> String {
        match output {
            Output::Json => serde_json::to_string_pretty(self).unwrap_or_default() + "\n",
            Output::Text => {
                let mut out = String::new();
                let header = ["TARGET", "STEP", "ACCOUNT", "RESULT", "ERROR", "DETAIL"];
                let cells: Vec<[String; 6]> = self
                    .rows
                    .iter()
                    .map(|r| {
                        let detail = match r.missing_iam_action {
                            Some(action) => {
                                format!("missing IAM permission {action}: {}", r.detail)
                            }
                            None => r.detail.clone(),
                        };
                        [
                            r.target.clone(),
                            r.step.to_owned(),
                            r.account_id.clone().unwrap_or_else(|| "-".into()),
                            if r.ok { "ok" } else { "FAILED" }.to_owned(),
                            r.error.unwrap_or("-").to_owned(),
                            detail,
                        ]
                    })
                    .collect();
                let mut widths = header.map(str::len);
                for row in &cells {
                    for (w, c) in widths.iter_mut().zip(row) {
                        *w = (*w).max(c.chars().count());
                    }
                }
                let mut line = |cols: &[String]| {
                    let mut l = String::new();
                    for (i, c) in cols.iter().enumerate() {
                        if i + 1 == cols.len() {
                            l.push_str(c);
                        } else {
                            l.push_str(&format!("{c:<width$}  ", width = widths[i]));
                        }
                    }
                    out.push_str(l.trim_end());
                    out.push('\n');
                };
                line(&header.map(str::to_owned));
                for row in &cells {
                    line(row);
                }
                out.push_str(if self.ok {
                    "every step worked\n"
                } else {
                    "a step failed\n"
                });
                out
            }
        }
    }
}

/// The IAM action a refused step needs.
fn missing_action(err: &ApiError, action: &'static str) -> Option<&'static str> {
    matches!(
        err.kind,
        ErrorKind::AccessDenied | ErrorKind::Forbidden | ErrorKind::Unauthorized
    )
    .then_some(action)
}

struct Steps {
    rows: Arc<Mutex<Vec<Row>>>,
    target: String,
}

impl Steps {
    fn push(
        &self,
        step: &'static str,
        account: Option<&str>,
        result: Result<String, (ApiError, &'static str)>,
    ) -> bool {
        let ok = result.is_ok();
        let row = match result {
            Ok(detail) => Row {
                target: self.target.clone(),
                step,
                account_id: account.map(str::to_owned),
                ok: true,
                error: None,
                missing_iam_action: None,
                detail,
            },
            Err((err, action)) => Row {
                target: self.target.clone(),
                step,
                account_id: account.map(str::to_owned),
                ok: false,
                error: Some(err.kind.as_str()),
                missing_iam_action: missing_action(&err, action),
                detail: err.message,
            },
        };
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(row);
        ok
    }
}

/// Checks one target.
async fn check_target(target: Arc<Target>, steps: Steps) {
    let api = &target.api;
    let credentials = api.credential_source().await;
    if !steps.push("credentials", None, credentials.map_err(|e| (e, "-"))) {
        return;
    }
    let identity = api
        .caller_identity()
        .await
        .map(|(account, arn)| format!("{arn} (AWS account {account})"));
    steps.push(
        "identity",
        None,
        identity.map_err(|e| (e, "sts:GetCallerIdentity")),
    );
    let configured: Vec<String> = target
        .config
        .account_ids
        .iter()
        .map(|id| id.to_string())
        .collect();
    let mut listed_first: Option<String> = None;
    let listing = api.list_accounts_page().await;
    let listed = match listing {
        Ok((count, first)) => {
            listed_first = first;
            steps.push(
                "ListAccounts",
                None,
                Ok(format!("{count} accounts on the first page")),
            );
            true
        }
        Err(err) => {
            steps.push("ListAccounts", None, Err((err, "chime:ListAccounts")));
            false
        }
    };
    if !listed {
        // As the exporter does: details from GetAccount when the listing is
        // denied.
        for id in &configured {
            let result = api
                .get_account(id)
                .await
                .map(|info| format!("{} ({})", info.name(), info.status()))
                .map_err(|e| (e, "chime:GetAccount"));
            steps.push("GetAccount", Some(id), result);
        }
    }
    let accounts: Vec<String> = if configured.is_empty() {
        listed_first.into_iter().collect()
    } else {
        configured
    };
    for id in &accounts {
        let result = api
            .list_bots_page(id, 1)
            .await
            .map(|n| format!("{n} bot(s) on a page of 1"))
            .map_err(|e| (e, "chime:ListBots"));
        steps.push("ListBots", Some(id), result);
    }
}

/// Checks one Chime SDK target: the three operations it calls.
async fn check_sdk_target(target: Arc<SdkTarget>, steps: Steps) {
    let api = &target.api;
    let configured: Vec<String> = target
        .config
        .app_instance_arns
        .iter()
        .map(|a| a.to_string())
        .collect();
    let listed = api.list_app_instances().await;
    let first_listed = match listed {
        Ok(found) => {
            steps.push(
                "ListAppInstances",
                None,
                Ok(format!("{} AppInstance(s)", found.len())),
            );
            found.into_iter().next().map(|a| a.arn)
        }
        Err(err) => {
            steps.push(
                "ListAppInstances",
                None,
                Err((err, "chime:ListAppInstances")),
            );
            None
        }
    };
    let instances: Vec<String> = if configured.is_empty() {
        first_listed.into_iter().collect()
    } else {
        configured
    };
    let mut first_bot: Option<String> = None;
    for arn in &instances {
        let result = api.list_app_instance_bots_page(arn).await;
        let result = result
            .map(|(n, first)| {
                first_bot = first_bot.take().or(first);
                format!("{n} bot(s) on the first page")
            })
            .map_err(|e| (e, "chime:ListAppInstanceBots"));
        steps.push("ListAppInstanceBots", Some(arn), result);
    }
    if let Some(bot) = first_bot {
        let result = api
            .describe_app_instance_bot(&bot, crate::api::Priority::First)
            .await
            .map(|d| format!("Lex locale {}", d.locale_id))
            .map_err(|e| (e, "chime:DescribeAppInstanceBot"));
        steps.push("DescribeAppInstanceBot", Some(&bot), result);
    }
}

/// Runs the check for `config`; `endpoint` and `static_credentials` are the
/// demo's when `--demo` is given.
pub async fn run(
    config: &Config,
    endpoint_url: Option<String>,
    static_credentials: Option<(String, String)>,
) -> Report {
    let factory = TargetFactory {
        endpoint_url: endpoint_url.clone().or_else(|| config.endpoint_url.clone()),
        timeout: config.timeout,
        error_backoff: config.error_backoff,
        rate_limit: config.rate_limit,
        sts_endpoint_url: static_credentials.as_ref().and(endpoint_url.clone()),
        static_credentials,
        limits: ApiLimits::new(config.concurrency, config.rate_limit),
        metrics: Arc::new(ApiMetrics::default()),
    };
    let rows = Arc::new(Mutex::new(Vec::new()));
    let targets = factory.build_all(&config.targets).await;
    let mut sdk_targets = Vec::new();
    for target in config.effective_sdk_targets() {
        sdk_targets.push(SdkTarget::build(&target, &factory).await);
    }
    let all = async {
        for target in targets {
            if !target.config.discover && target.config.account_ids.is_empty() {
                continue;
            }
            let steps = Steps {
                rows: Arc::clone(&rows),
                target: target.config.name.clone(),
            };
            check_target(target, steps).await;
        }
        for target in sdk_targets {
            let steps = Steps {
                rows: Arc::clone(&rows),
                target: format!("chime-sdk/{}", target.config.name),
            };
            check_sdk_target(target, steps).await;
        }
    };
    let finished = tokio::time::timeout(CHECK_LIMIT, all).await.is_ok();
    let mut rows = std::mem::take(&mut *rows.lock().unwrap_or_else(|e| e.into_inner()));
    if !finished {
        rows.push(Row {
            target: "-".into(),
            step: "check",
            account_id: None,
            ok: false,
            error: Some(ErrorKind::Timeout.as_str()),
            missing_iam_action: None,
            detail: format!("the check did not finish within {}s", CHECK_LIMIT.as_secs()),
        });
    }
    Report {
        ok: rows.iter().all(|r| r.ok),
        rows,
    }
}
