//! The second source's configuration: Chime SDK AppInstances to watch
//! (`--chime-sdk.*`). Off unless asked: no flag, no SDK target.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// An AppInstance ARN, checked once where it enters the exporter.
///
/// Conservative on purpose (it ends up in request queries, label values and
/// logs): `arn:PARTITION:chime:REGION:ACCOUNT:app-instance/ID`, with a
/// partition and region of lowercase letters, digits and `-`, a 12-digit
/// AWS account and an id of letters, digits and `-` (AppInstance ids are
/// UUIDs), at most 1600 bytes as the model's `ChimeArn`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppInstanceArn(Arc<str>);

impl AppInstanceArn {
    pub fn parse(raw: &str) -> Result<AppInstanceArn, String> {
        let arn = raw.trim();
        let bad = || {
            format!(
                "'{}' is not an AppInstance ARN (arn:aws:chime:us-east-1:123456789012:app-instance/ID)",
                arn.escape_debug()
            )
        };
        if arn.len() > 1600 {
            return Err(bad());
        }
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let token = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && token(parts[1])
            && parts[2] == "chime"
            && token(parts[3])
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && parts[5].strip_prefix("app-instance/").is_some_and(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            return Err(bad());
        }
        Ok(AppInstanceArn(Arc::from(arn)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }

    /// The region in the ARN.
    pub fn region(&self) -> &str {
        self.0.split(':').nth(3).unwrap_or_default()
    }
}

impl fmt::Display for AppInstanceArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AppInstanceArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// AppInstances watched with one set of credentials in one region.
#[derive(Clone, PartialEq)]
pub struct SdkTargetConfig {
    pub name: String,
    /// The region the SDK client calls and signs for; with
    /// `resolve_region`, only the fallback.
    pub region: String,
    /// No region was given (`--chime-sdk.region` absent): the SDK's own
    /// resolution (`AWS_REGION`, the profile, the instance's) decides, and
    /// `region` (the first ARN's region, else `--chime.region`) applies only
    /// when it finds none.
    pub resolve_region: bool,
    /// The role assumed (a config file target's `role_arn`).
    pub role_arn: Option<String>,
    /// With `role_arn`; a shared secret, never printed.
    pub external_id: Option<String>,
    /// Watch these AppInstances (`--chime-sdk.app-instance-arn`).
    pub app_instance_arns: Vec<AppInstanceArn>,
    /// Watch every AppInstance ListAppInstances shows
    /// (`--chime-sdk.discover-app-instances`).
    pub discover: bool,
    /// How long an AppInstance's bot list is reused (the Chime cache TTL).
    pub cache_ttl: Duration,
    /// How long a bot's details (DescribeAppInstanceBot) are reused.
    pub describe_ttl: Duration,
    /// How long the discovered AppInstances are reused.
    pub discovery_ttl: Duration,
}

impl fmt::Debug for SdkTargetConfig {
    /// `external_id` is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkTargetConfig")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("resolve_region", &self.resolve_region)
            .field("role_arn", &self.role_arn)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "<redacted>"),
            )
            .field("app_instance_arns", &self.app_instance_arns)
            .field("discover", &self.discover)
            .field("cache_ttl", &self.cache_ttl)
            .field("describe_ttl", &self.describe_ttl)
            .field("discovery_ttl", &self.discovery_ttl)
            .finish()
    }
}

/// Parses ARNs and drops repeats (the first stays).
pub fn parse_app_instance_arns<'a>(
    raw: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<AppInstanceArn>, String> {
    let mut out: Vec<AppInstanceArn> = Vec::new();
    for r in raw {
        let arn = AppInstanceArn::parse(r)?;
        if !out.contains(&arn) {
            out.push(arn);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_instance_arns_are_checked_conservatively() {
        let ok = "arn:aws:chime:us-east-1:123456789012:app-instance/abc-123";
        assert_eq!(AppInstanceArn::parse(ok).unwrap().as_str(), ok);
        assert_eq!(AppInstanceArn::parse(ok).unwrap().region(), "us-east-1");
        for bad in [
            "",
            "arn:aws:chime:us-east-1:123456789012:app-instance/",
            "arn:aws:chime:us-east-1:12345678901:app-instance/a",
            "arn:aws:lex:us-east-1:123456789012:app-instance/a",
            "arn:aws:chime:us-east-1:123456789012:app-instance/a/bot/b",
            "arn:aws:chime:us-east-1:123456789012:user/a",
            "arn:aws:chime::123456789012:app-instance/a",
            "arn:aws:chime:us-east-1:123456789012:app-instance/a\nb",
            "arn:aws:chime:US-EAST-1:123456789012:app-instance/a",
        ] {
            assert!(AppInstanceArn::parse(bad).is_err(), "{bad:?}");
        }
        let arns = parse_app_instance_arns([ok, ok]).unwrap();
        assert_eq!(arns.len(), 1);
    }
}
