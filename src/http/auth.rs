//! Basic auth against the web config's users.
//!
//! bcrypt is deliberately slow (tens of milliseconds); Prometheus sends the
//! same credentials every scrape. Verified results are remembered under a
//! keyed hash of (user, password, bcrypt hash), never the password itself.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use http::HeaderValue;

use crate::config::WebConfig;

/// Checks `Authorization` headers, with a cache of verified credentials.
#[derive(Debug, Default)]
pub struct Authenticator {
    seed: RandomState,
    known: Mutex<HashMap<u64, bool>>,
}

/// `Basic base64(user:password)` → (user, password).
pub fn parse_basic(header: &HeaderValue) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A bcrypt hash of a random string, checked for unknown users so that they
/// take as long as known ones.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let random = format!("{:x}{:x}", fastrand::u64(..), fastrand::u64(..));
        bcrypt::hash(random, bcrypt::DEFAULT_COST).unwrap_or_default()
    })
}

impl Authenticator {
    /// Whether a request with this `Authorization` header may pass.
    pub fn authorized(&self, config: &WebConfig, header: Option<&HeaderValue>) -> bool {
        if !config.requires_auth() {
            return true;
        }
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        self.check(config, &user, &password)
    }

    fn check(&self, config: &WebConfig, user: &str, password: &str) -> bool {
        let hash = config.users.get(user);
        let key = self.seed.hash_one((user, password, hash));
        if let Some(ok) = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return *ok;
        }
        let ok = match hash {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(password, dummy_hash());
                false
            }
        };
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() > 1024 {
            known.clear();
        }
        known.insert(key, ok);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_header_parsing() {
        let v = HeaderValue::from_static("Basic dXNlcjpwYTpzcw==");
        assert_eq!(parse_basic(&v), Some(("user".into(), "pa:ss".into())));
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer x")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic !!!")), None);
    }

    #[test]
    fn the_dummy_hash_is_a_valid_bcrypt_hash() {
        assert!(bcrypt::verify("anything", dummy_hash()).is_ok());
    }

    #[test]
    fn auth_checks_and_caches() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let config = WebConfig {
            users: HashMap::from([("prom".to_owned(), hash)]),
            ..WebConfig::default()
        };
        let auth = Authenticator::default();
        let header = |s: &str| {
            use base64::Engine as _;
            HeaderValue::from_str(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            ))
            .unwrap()
        };
        for _ in 0..2 {
            assert!(auth.authorized(&config, Some(&header("prom:secret"))));
            assert!(!auth.authorized(&config, Some(&header("prom:wrong"))));
            assert!(!auth.authorized(&config, Some(&header("other:secret"))));
            assert!(!auth.authorized(&config, None));
        }
    }
}
