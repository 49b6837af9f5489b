//! `--config.file`: many AWS accounts (targets) in one exporter, in the
//! style of YACE and cloudwatch_exporter.
//!
//! ```yaml
//! defaults:                 # optional; applies to every target unless it overrides it
//!   region: us-east-1
//!   cache_ttl: 5m
//!   discovery_ttl: 15m
//!   max_results: 99
//! targets:
//!   - name: prod            # required, unique; used in logs and errors
//!     role_arn: arn:aws:iam::111111111111:role/chime-exporter   # optional, assumed through STS
//!     external_id: example  # optional, with role_arn
//!     account_ids: ["3a7b...", "91c0..."]   # and/or:
//!     discover: true        # ListAccounts in this target's AWS account
//!     account_name_prefix: Eng
//!     chime_sdk:            # optional: the Chime SDK source, with the same credentials
//!       app_instance_arns: ["arn:aws:chime:us-east-1:111111111111:app-instance/..."]
//!       discover_app_instances: true
//!       region: us-east-1   # default: the target's region
//!       describe_ttl: 1h    # default: --chime-sdk.describe-ttl
//! ```
//!
//! A target with `chime_sdk` and no `account_ids` does not discover Chime
//! accounts unless it says `discover: true` (the Chime service has ended;
//! a target for AppInstanceBots alone should not call it). The `chime_sdk`
//! sections are read at start: a reload leaves the AppInstances as they
//! were.
//!
//! Every key of `defaults` may also be set on a target; what neither says
//! takes the default of the matching `--chime.*` flag ([`TargetDefaults`]).
//! Unknown keys are errors; every error names the line and the field.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::sdk::{parse_app_instance_arns, AppInstanceArn, SdkTargetConfig};
use super::target::{parse_account_ids, AccountId, TargetConfig, TargetDefaults};
use super::values::parse_positive_duration;

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ConfigFileError {
    pub path: String,
    pub problem: String,
}

fn duration(field: &str, text: &str) -> Result<Option<Duration>, String> {
    parse_positive_duration(text)
        .map(Some)
        .map_err(|e| format!("{field}: invalid duration {e}"))
}

fn cache_ttl<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration("cache_ttl", &String::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn discovery_ttl<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration("discovery_ttl", &String::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn max_results<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let n = i64::deserialize(d)?;
    if !(1..=99).contains(&n) {
        return Err(serde::de::Error::custom(format!(
            "max_results: must be between 1 and 99, not {n}"
        )));
    }
    Ok(Some(n as i32))
}

fn role_arn<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let arn = String::deserialize(d)?;
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].starts_with("role/");
    if !ok {
        return Err(serde::de::Error::custom(format!(
            "role_arn: '{arn}' is not an IAM role ARN (arn:aws:iam::123456789012:role/name)"
        )));
    }
    Ok(Some(arn))
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(serde::de::Error::custom("a value must not be empty"));
    }
    Ok(s.trim().to_owned())
}

fn account_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AccountId>, D::Error> {
    let ids = Vec::<String>::deserialize(d)?;
    parse_account_ids(ids.iter().map(String::as_str))
        .map_err(|e| serde::de::Error::custom(format!("account_ids: {e}")))
}

/// As `--chime.account-name-prefix`: the API's `name` filter takes 1 to 100
/// characters that are not all blank.
fn name_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let prefix = String::deserialize(d)?;
    if prefix.trim().is_empty() || prefix.chars().count() > 100 {
        return Err(serde::de::Error::custom(
            "account_name_prefix: must be 1 to 100 characters, not all blank",
        ));
    }
    Ok(Some(prefix))
}

fn app_instance_arns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AppInstanceArn>, D::Error> {
    let arns = Vec::<String>::deserialize(d)?;
    parse_app_instance_arns(arns.iter().map(String::as_str))
        .map_err(|e| serde::de::Error::custom(format!("app_instance_arns: {e}")))
}

fn describe_ttl<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration("describe_ttl", &String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// A target's `chime_sdk` section (the `--chime-sdk.*` flags' keys).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SdkSection {
    #[serde(default, deserialize_with = "app_instance_arns")]
    app_instance_arns: Vec<AppInstanceArn>,
    #[serde(default)]
    discover_app_instances: bool,
    #[serde(default, deserialize_with = "opt_non_empty")]
    region: Option<String>,
    #[serde(default, deserialize_with = "describe_ttl")]
    describe_ttl: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default, deserialize_with = "opt_non_empty")]
    region: Option<String>,
    #[serde(default, deserialize_with = "cache_ttl")]
    cache_ttl: Option<Duration>,
    #[serde(default, deserialize_with = "discovery_ttl")]
    discovery_ttl: Option<Duration>,
    #[serde(default, deserialize_with = "max_results")]
    max_results: Option<i32>,
}

fn opt_non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    non_empty(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    #[serde(deserialize_with = "non_empty")]
    name: String,
    #[serde(default, deserialize_with = "role_arn")]
    role_arn: Option<String>,
    #[serde(default, deserialize_with = "opt_non_empty")]
    external_id: Option<String>,
    #[serde(default, deserialize_with = "account_ids")]
    account_ids: Vec<AccountId>,
    #[serde(default)]
    discover: Option<bool>,
    #[serde(default, deserialize_with = "name_prefix")]
    account_name_prefix: Option<String>,
    #[serde(default, deserialize_with = "opt_non_empty")]
    region: Option<String>,
    #[serde(default, deserialize_with = "cache_ttl")]
    cache_ttl: Option<Duration>,
    #[serde(default, deserialize_with = "discovery_ttl")]
    discovery_ttl: Option<Duration>,
    #[serde(default, deserialize_with = "max_results")]
    max_results: Option<i32>,
    #[serde(default)]
    chime_sdk: Option<SdkSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Settings,
    targets: Vec<Target>,
}

/// Field names, the nested ones (`chime_sdk`'s) first: an error inside
/// `chime_sdk` names both, and the inner one is the line to point at.
const FIELDS: [&str; 15] = [
    "app_instance_arns",
    "discover_app_instances",
    "describe_ttl",
    "chime_sdk",
    "name",
    "role_arn",
    "external_id",
    "account_ids",
    "discover",
    "account_name_prefix",
    "region",
    "cache_ttl",
    "discovery_ttl",
    "max_results",
    "targets",
];

/// serde_norway (as serde_yaml before it) places errors raised while
/// checking a value at the mapping that holds it; point at the field's own
/// line instead.
fn locate(text: &str, err: &serde_norway::Error) -> String {
    let message = super::values::redact_quoted_values(&err.to_string());
    let Some(location) = err.location() else {
        return message;
    };
    let unknown = message
        .split("unknown field `")
        .nth(1)
        .and_then(|rest| rest.split('`').next());
    let field = unknown.or_else(|| {
        FIELDS
            .iter()
            .find(|f| message.contains(&format!("{f}: ")))
            .copied()
    });
    // The line of that field nearest to where the parser stopped.
    let line = field
        .and_then(|f| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| {
                    let l = l.trim_start().trim_start_matches("- ");
                    l.starts_with(&format!("{f}:"))
                })
                .map(|(i, _)| i + 1)
                .min_by_key(|l| (l.abs_diff(location.line()), usize::MAX - l))
        })
        .unwrap_or(location.line());
    // Drop the parser's own "at line N column M" and say the field's line.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    format!("line {line}: {message}")
}

/// The line of `needle` in `text` (1-based), for errors found after parsing.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// Parses the file's text into targets.
pub fn parse(
    path: &Path,
    text: &str,
    defaults: &TargetDefaults,
) -> Result<Vec<TargetConfig>, ConfigFileError> {
    parse_all(path, text, defaults, Duration::from_secs(3600)).map(|(chime, _)| chime)
}

/// Parses the file's text into the Chime targets and the Chime SDK targets
/// (from the targets' `chime_sdk` sections; `describe_ttl` is the flag's
/// value, for sections that do not say).
pub fn parse_all(
    path: &Path,
    text: &str,
    defaults: &TargetDefaults,
    describe_ttl: Duration,
) -> Result<(Vec<TargetConfig>, Vec<SdkTargetConfig>), ConfigFileError> {
    let fail = |problem: String| ConfigFileError {
        path: path.display().to_string(),
        problem,
    };
    let file: File = serde_norway::from_str(text).map_err(|e| fail(locate(text, &e)))?;
    let mut sdk_targets = Vec::new();
    if file.targets.is_empty() {
        return Err(fail("targets: at least one target is required".into()));
    }
    let mut out: Vec<TargetConfig> = Vec::new();
    for t in file.targets {
        let at = |field: &str| {
            let line = line_of(text, &format!("name: {}", t.name))
                .map(|l| format!("line {l}: "))
                .unwrap_or_default();
            format!("{line}target '{}': {field}", t.name)
        };
        if out.iter().any(|o| o.name == t.name) {
            return Err(fail(format!("{}: the name is used twice", at("name"))));
        }
        if t.external_id.is_some() && t.role_arn.is_none() {
            return Err(fail(format!("{} needs role_arn", at("external_id"))));
        }
        if t.account_name_prefix.is_some() && t.discover == Some(false) {
            return Err(fail(format!(
                "{} only applies with discovery",
                at("account_name_prefix")
            )));
        }
        let d = &file.defaults;
        let region = t
            .region
            .clone()
            .or_else(|| d.region.clone())
            .unwrap_or_else(|| defaults.region.clone());
        let cache_ttl = t.cache_ttl.or(d.cache_ttl).unwrap_or(defaults.cache_ttl);
        let discovery_ttl = t
            .discovery_ttl
            .or(d.discovery_ttl)
            .unwrap_or(defaults.discovery_ttl);
        if let Some(sdk) = &t.chime_sdk {
            if sdk.app_instance_arns.is_empty() && !sdk.discover_app_instances {
                return Err(fail(format!(
                    "{} names no app_instance_arns and does not discover_app_instances",
                    at("chime_sdk")
                )));
            }
            sdk_targets.push(SdkTargetConfig {
                name: t.name.clone(),
                region: sdk.region.clone().unwrap_or_else(|| region.clone()),
                resolve_region: false,
                role_arn: t.role_arn.clone(),
                external_id: t.external_id.clone(),
                app_instance_arns: sdk.app_instance_arns.clone(),
                discover: sdk.discover_app_instances,
                cache_ttl,
                describe_ttl: sdk.describe_ttl.unwrap_or(describe_ttl),
                discovery_ttl,
            });
        }
        out.push(TargetConfig {
            discover: t
                .discover
                .unwrap_or(t.account_ids.is_empty() && t.chime_sdk.is_none()),
            name: t.name.clone(),
            region: t
                .region
                .clone()
                .or_else(|| d.region.clone())
                .unwrap_or_else(|| defaults.region.clone()),
            role_arn: t.role_arn.clone(),
            external_id: t.external_id.clone(),
            account_ids: t.account_ids.clone(),
            account_name_prefix: t.account_name_prefix.clone(),
            cache_ttl: t.cache_ttl.or(d.cache_ttl).unwrap_or(defaults.cache_ttl),
            discovery_ttl: t
                .discovery_ttl
                .or(d.discovery_ttl)
                .unwrap_or(defaults.discovery_ttl),
            max_results: t
                .max_results
                .or(d.max_results)
                .unwrap_or(defaults.max_results),
        });
    }
    Ok((out, sdk_targets))
}

/// Reads and parses the file (both sources' targets).
pub fn load_all(
    path: &Path,
    defaults: &TargetDefaults,
    describe_ttl: Duration,
) -> Result<(Vec<TargetConfig>, Vec<SdkTargetConfig>), ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
        path: path.display().to_string(),
        problem: format!("cannot read: {e}"),
    })?;
    parse_all(path, &text, defaults, describe_ttl)
}

/// Reads and parses the file.
pub fn load(path: &Path, defaults: &TargetDefaults) -> Result<Vec<TargetConfig>, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
        path: path.display().to_string(),
        problem: format!("cannot read: {e}"),
    })?;
    parse(path, &text, defaults)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> TargetDefaults {
        TargetDefaults {
            region: "us-east-1".into(),
            cache_ttl: Duration::from_secs(300),
            discovery_ttl: Duration::from_secs(900),
            max_results: 99,
        }
    }

    fn p(text: &str) -> Result<Vec<TargetConfig>, String> {
        parse(Path::new("chime.yml"), text, &defaults()).map_err(|e| e.to_string())
    }

    #[test]
    fn full_example() {
        let t = p("defaults:\n  region: eu-west-1\n  cache_ttl: 2m\ntargets:\n  - name: prod\n    role_arn: arn:aws:iam::111111111111:role/chime\n    external_id: x\n    account_ids: [a, b]\n    discover: true\n    account_name_prefix: Eng\n  - name: dev\n    cache_ttl: 30s\n    max_results: 10\n").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].region, "eu-west-1");
        assert_eq!(t[0].cache_ttl, Duration::from_secs(120));
        assert!(t[0].discover);
        let ids: Vec<&str> = t[0].account_ids.iter().map(AccountId::as_str).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(t[1].cache_ttl, Duration::from_secs(30));
        assert_eq!(t[1].max_results, 10);
        assert!(t[1].discover, "no account ids means discovery");
        assert_eq!(t[1].discovery_ttl, defaults().discovery_ttl);
        assert_eq!(t[1].region, "eu-west-1", "from defaults:");
    }

    #[test]
    fn chime_sdk_sections_make_sdk_targets_with_the_targets_credentials() {
        let text = "defaults:\n  region: eu-west-1\ntargets:\n  - name: msg\n    role_arn: arn:aws:iam::111111111111:role/r\n    chime_sdk:\n      app_instance_arns: [\"arn:aws:chime:us-east-1:111111111111:app-instance/a-1\"]\n      describe_ttl: 2h\n  - name: both\n    account_ids: [x]\n    chime_sdk:\n      discover_app_instances: true\n      region: us-east-1\n";
        let (chime, sdk) = parse_all(
            Path::new("chime.yml"),
            text,
            &defaults(),
            Duration::from_secs(3600),
        )
        .unwrap();
        assert_eq!(chime.len(), 2);
        assert!(
            !chime[0].discover,
            "an SDK-only target does not discover Chime accounts"
        );
        assert_eq!(sdk.len(), 2);
        assert_eq!(sdk[0].region, "eu-west-1");
        assert_eq!(
            sdk[0].role_arn.as_deref(),
            Some("arn:aws:iam::111111111111:role/r")
        );
        assert_eq!(sdk[0].describe_ttl, Duration::from_secs(7200));
        assert_eq!(sdk[0].app_instance_arns.len(), 1);
        assert!(sdk[1].discover && sdk[1].app_instance_arns.is_empty());
        assert_eq!(sdk[1].region, "us-east-1");
        assert_eq!(sdk[1].describe_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        for (text, line, field) in [
            (
                "targets:\n  - name: a\n    rolearn: x\n",
                "line 3",
                "rolearn",
            ),
            (
                "targets:\n  - name: a\n    cache_ttl: abc\n",
                "line 3",
                "abc",
            ),
            (
                "defaults:\n  max_results: 100\ntargets:\n  - name: a\n",
                "line 2",
                "max_results",
            ),
            (
                "targets:\n  - name: a\n    role_arn: nope\n",
                "line 3",
                "IAM role ARN",
            ),
            ("targets:\n  - name: a\n  - name: a\n", "line 2", "name"),
            (
                "targets:\n  - name: a\n    external_id: x\n",
                "line 2",
                "external_id",
            ),
            ("defaults: {}\n", "", "targets"),
            ("targets: []\n", "", "targets"),
            ("bogus: 1\ntargets: []\n", "line 1", "bogus"),
            (
                "targets:\n  - name: a\n    account_name_prefix: '  '\n",
                "line 3",
                "account_name_prefix",
            ),
            (
                "targets:\n  - name: a\n    account_ids: [\"x\\ny\"]\n",
                "line 3",
                "control characters",
            ),
            (
                "targets:\n  - name: a\n    chime_sdk:\n      app_instance_arns: [nope]\n",
                "line 4",
                "nope",
            ),
            (
                "targets:\n  - name: a\n    chime_sdk:\n      bogus: 1\n",
                "line 4",
                "bogus",
            ),
            (
                "targets:\n  - name: a\n    chime_sdk: {}\n",
                "line 2",
                "chime_sdk",
            ),
        ] {
            let e = p(text).expect_err(text);
            assert!(e.contains(line), "{text}: {e}");
            assert!(e.contains(field), "{text}: {e}");
        }
    }
}
