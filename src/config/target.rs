//! Targets: one set of Chime accounts reached with one set of AWS
//! credentials. The flags make one target (named `default`); a config file
//! any number. Both build the same [`TargetConfig`] from the same checks: an
//! account id is an [`AccountId`] wherever it comes from, and a setting a
//! file leaves out takes the flag's default ([`TargetDefaults`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The longest account id accepted, in bytes. Chime account ids are
/// 36-character UUIDs; the model only says "not blank", and an id ends up in
/// request paths, label values and logs, so it is bounded here.
pub const MAX_ACCOUNT_ID_BYTES: usize = 256;

/// A Chime account id, checked once where it enters the exporter.
///
/// It accepts what the AWS model accepts for an account id
/// (`NonEmptyString`: anything not blank), without control characters (they
/// would end up in logs and label values) and at most
/// [`MAX_ACCOUNT_ID_BYTES`] long. Surrounding whitespace is dropped. Cheap to
/// clone: the text is shared.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(Arc<str>);

impl AccountId {
    pub fn parse(raw: &str) -> Result<AccountId, String> {
        let id = raw.trim();
        if id.is_empty() {
            return Err("an account id must not be empty".into());
        }
        if id.chars().any(char::is_control) {
            return Err(format!(
                "'{}' contains control characters",
                id.escape_debug()
            ));
        }
        if id.len() > MAX_ACCOUNT_ID_BYTES {
            return Err(format!(
                "an account id is at most {MAX_ACCOUNT_ID_BYTES} bytes (this one has {})",
                id.len()
            ));
        }
        Ok(AccountId(Arc::from(id)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared text (the exporter's views of an account share it).
    pub fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }
}

impl std::ops::Deref for AccountId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Parses account ids and drops repeats (the first one stays, so the order
/// given is the order exported).
pub fn parse_account_ids<'a>(
    raw: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<AccountId>, String> {
    let mut out: Vec<AccountId> = Vec::new();
    for r in raw {
        let id = AccountId::parse(r)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The settings a target takes unless it says otherwise: the values of the
/// `--chime.*` flags (their defaults when a config file is used, since the
/// file and those flags exclude each other).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetDefaults {
    pub region: String,
    pub cache_ttl: Duration,
    pub discovery_ttl: Duration,
    pub max_results: i32,
}

/// One set of Chime accounts reached with one set of AWS credentials.
#[derive(Clone, PartialEq)]
pub struct TargetConfig {
    pub name: String,
    pub region: String,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub account_ids: Vec<AccountId>,
    pub discover: bool,
    pub account_name_prefix: Option<String>,
    pub cache_ttl: Duration,
    pub discovery_ttl: Duration,
    pub max_results: i32,
}

impl fmt::Debug for TargetConfig {
    /// `external_id` is a shared secret between the exporter and the role's
    /// owner: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetConfig")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("role_arn", &self.role_arn)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "<redacted>"),
            )
            .field("account_ids", &self.account_ids)
            .field("discover", &self.discover)
            .field("account_name_prefix", &self.account_name_prefix)
            .field("cache_ttl", &self.cache_ttl)
            .field("discovery_ttl", &self.discovery_ttl)
            .field("max_results", &self.max_results)
            .finish()
    }
}

impl TargetConfig {
    /// The AWS account of the role this target assumes, if it assumes one.
    pub fn role_aws_account(&self) -> Option<&str> {
        self.role_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_checked_the_same_everywhere() {
        assert_eq!(AccountId::parse(" abc ").unwrap().as_str(), "abc");
        assert_eq!(
            AccountId::parse("with space").unwrap().as_str(),
            "with space"
        );
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("   ").is_err());
        assert!(AccountId::parse("a\nb").is_err());
        assert!(AccountId::parse("a\u{7f}").is_err());
        assert!(AccountId::parse(&"x".repeat(MAX_ACCOUNT_ID_BYTES)).is_ok());
        assert!(AccountId::parse(&"x".repeat(MAX_ACCOUNT_ID_BYTES + 1)).is_err());
        let ids = parse_account_ids(["b", "a", " b", "c"]).unwrap();
        let ids: Vec<&str> = ids.iter().map(AccountId::as_str).collect();
        assert_eq!(ids, ["b", "a", "c"]);
    }

    #[test]
    fn debug_never_prints_the_external_id() {
        let t = TargetConfig {
            name: "prod".into(),
            region: "us-east-1".into(),
            role_arn: Some("arn:aws:iam::111111111111:role/r".into()),
            external_id: Some("very-secret-external-id".into()),
            account_ids: vec![],
            discover: true,
            account_name_prefix: None,
            cache_ttl: Duration::from_secs(1),
            discovery_ttl: Duration::from_secs(1),
            max_results: 99,
        };
        let text = format!("{t:?}");
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("<redacted>"));
        assert_eq!(t.role_aws_account(), Some("111111111111"));
    }
}
