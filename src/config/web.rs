//! `--web.config.file`: TLS, client certificates, basic auth, response
//! headers, HTTP/2 and a rate limit, in the format of the Prometheus
//! exporter-toolkit's `web-config.yml` (every key it documents, with its
//! meaning), so the file an admin already uses for node_exporter or
//! blackbox_exporter works here unchanged.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt            # or cert: inline PEM
//!   key_file: server.key             # or key: inline PEM
//!   client_auth_type: RequireAndVerifyClientCert   # or VerifyClientCertIfGiven, NoClientCert
//!   client_ca_file: ca.crt           # or client_ca: inline PEM
//!   client_allowed_sans: [prometheus.monitoring.svc]
//!   min_version: TLS12               # TLS12 or TLS13 (TLS10/TLS11: raised to TLS12)
//!   max_version: TLS13
//!   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
//!   prefer_server_cipher_suites: true
//!   curve_preferences: [X25519, CurveP256]
//! http_server_config:
//!   http2: true
//!   headers:
//!     X-Frame-Options: deny
//! basic_auth_users:
//!   prometheus: $2y$10$...           # bcrypt hash
//! rate_limit:
//!   interval: 1s
//!   burst: 10
//! ```
//!
//! As in the toolkit, the file (and the certificate files it names) is read
//! again for every new connection, so rotated certificates are picked up
//! without a restart; and it is looked at (its size and times) for every
//! request, so a user removed from the file is refused on the next request
//! of a connection already open. Parsing and building the TLS configuration
//! only happen when the bytes changed.
//!
//! **It can only get stricter while running.** Plain HTTP or TLS is decided
//! at start. A change that would remove TLS (or add it), weaken
//! client-certificate verification, remove `client_allowed_sans`, lower
//! `min_version`, or remove every basic-auth user — an empty or truncated
//! file, as a non-atomic save leaves it for a moment, included — is
//! refused: the last good configuration stays, the refusal is logged, and
//! `chime_exporter_web_config_last_reload_successful` goes to 0. Ordinary
//! changes (rotated certificates, a user or an allowed SAN added or removed
//! while others remain, stricter settings) apply. A file that is missing,
//! unreadable or invalid is logged when that state begins, not for every
//! connection.
//!
//! **Nothing is silently ignored.** TLS is rustls: TLS 1.2 and 1.3 only,
//! the cipher suites and curves of its aws-lc-rs provider. A value the
//! toolkit accepts but rustls cannot honour (a CBC or RSA-key-exchange
//! cipher suite, `CurveP521`, `max_version: TLS11`) stops the start
//! naming it. `min_version: TLS10`/`TLS11` is the one exception: rustls
//! refuses those versions anyway, so it is raised to TLS12 with a warning
//! (stricter than asked, never weaker). `RequestClientCert` and
//! `RequireAnyClientCert` ask for certificates without verifying them; they
//! are refused rather than silently weakened.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::tls::{cipher_suites, kx_groups, SanVerifier};

/// A web config that cannot be used, with the file and the problem.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct WebConfigError {
    pub path: String,
    pub problem: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    #[serde(default)]
    tls_server_config: Option<TlsFormat>,
    #[serde(default)]
    http_server_config: Option<HttpFormat>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
    #[serde(default)]
    rate_limit: Option<RateLimitFormat>,
}

/// A private key written inline: never printed.
#[derive(Default, Deserialize)]
#[serde(transparent)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFormat {
    cert: Option<String>,
    key: Option<Secret>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFormat {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// The toolkit's token bucket: one token per `interval` (a Go duration;
/// `0` or none turns it off), at most `burst` at once.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitFormat {
    interval: Option<String>,
    burst: Option<u32>,
}

/// Every request, all clients together, takes a token (as the toolkit's
/// `rate.Limiter`); without one it gets 429.
pub type RateLimiter = governor::DefaultDirectRateLimiter;

/// How client certificates are checked, weakest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientAuth {
    #[default]
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// The response headers the exporter-toolkit allows.
pub const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// A loaded, validated web config.
#[derive(Default)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub client_auth: ClientAuth,
    /// user → bcrypt hash.
    pub users: HashMap<String, String>,
    /// The highest bcrypt cost among the users: unknown users are checked
    /// against a hash of the same cost, so they take as long.
    pub max_cost: u32,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The lowest TLS version accepted (12 or 13); 0 without TLS.
    pub min_version: u8,
    /// `client_allowed_sans`: empty when any verified certificate will do.
    pub allowed_sans: Vec<String>,
    /// Whether TLS connections may negotiate HTTP/2 (ALPN `h2`).
    pub http2: bool,
    /// `rate_limit`, when on: shared by every connection under this config.
    pub rate_limit: Option<Arc<RateLimiter>>,
}

impl std::fmt::Debug for WebConfig {
    /// User names, never their hashes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut users: Vec<&String> = self.users.keys().collect();
        users.sort();
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("client_auth", &self.client_auth)
            .field("users", &users)
            .field("headers", &self.headers)
            .field("min_version", &self.min_version)
            .field("allowed_sans", &self.allowed_sans)
            .field("http2", &self.http2)
            .field("rate_limit", &self.rate_limit.is_some())
            .finish()
    }
}

impl WebConfig {
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Why `self` may not replace `current` while running, if it may not
    /// (see the module documentation).
    pub fn weakens(&self, current: &WebConfig) -> Option<&'static str> {
        if self.tls.is_some() != current.tls.is_some() {
            return Some(if current.tls.is_some() {
                "it would turn TLS off (plain or TLS is decided at start)"
            } else {
                "it would turn TLS on (plain or TLS is decided at start)"
            });
        }
        if self.client_auth < current.client_auth {
            return Some("it would weaken client certificate verification");
        }
        if !current.allowed_sans.is_empty() && self.allowed_sans.is_empty() {
            return Some("it would remove client_allowed_sans (any verified certificate would do)");
        }
        if self.min_version < current.min_version {
            return Some("it would lower min_version");
        }
        if current.requires_auth() && !self.requires_auth() {
            return Some("it would remove every basic auth user");
        }
        None
    }
}

fn err(path: &Path, problem: impl Into<String>) -> WebConfigError {
    WebConfigError {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// Resolves a path named in the file relative to the file's folder, as the
/// toolkit does.
fn relative_to(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, WebConfigError> {
    std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))
}

fn tls_versions(
    path: &Path,
    min: Option<&str>,
    max: Option<&str>,
) -> Result<(u8, Vec<&'static rustls::SupportedProtocolVersion>), WebConfigError> {
    let rank = |field: &str, v: &str| {
        match v {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(err(
            path,
            format!("tls_server_config.{field}: unknown version '{other}' (TLS10, TLS11, TLS12 or TLS13)"),
        )),
    }
    };
    let mut lo = min
        .map(|v| rank("min_version", v))
        .transpose()?
        .unwrap_or(12);
    let hi = max
        .map(|v| rank("max_version", v))
        .transpose()?
        .unwrap_or(13);
    if hi < 12 {
        return Err(err(
            path,
            format!(
                "tls_server_config.max_version: TLS{hi} cannot be honoured: rustls speaks TLS 1.2 and 1.3 only"
            ),
        ));
    }
    if lo < 12 {
        // Stricter than asked, never weaker: no client is let in that the
        // file would have refused.
        tracing::warn!(file = %path.display(), min_version = %format!("TLS{lo}"), "raised to TLS12: rustls speaks TLS 1.2 and 1.3 only");
        lo = 12;
    }
    if lo > hi {
        return Err(err(
            path,
            "tls_server_config: min_version is above max_version",
        ));
    }
    let mut versions = Vec::new();
    if lo <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if hi >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    Ok((lo, versions))
}

/// Where one PEM item comes from: inline in the file or a file it names.
enum Pem {
    Inline(&'static str, Vec<u8>),
    File(PathBuf, Vec<u8>),
}

impl Pem {
    /// The inline key or the `_file` key, never both (as the toolkit).
    fn of(
        path: &Path,
        inline_field: &'static str,
        inline: Option<&str>,
        file_field: &str,
        file: Option<&PathBuf>,
    ) -> Result<Option<Pem>, WebConfigError> {
        match (inline, file) {
            (Some(_), Some(_)) => Err(err(
                path,
                format!("tls_server_config: {inline_field} and {file_field} are both set; use one"),
            )),
            (Some(text), None) => Ok(Some(Pem::Inline(inline_field, text.as_bytes().to_vec()))),
            (None, Some(f)) => {
                let p = relative_to(path, f);
                let bytes = read(&p)?;
                Ok(Some(Pem::File(p, bytes)))
            }
            (None, None) => Ok(None),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Pem::Inline(_, b) | Pem::File(_, b) => b,
        }
    }

    /// An error about this item: in its file, or at its key in the config.
    fn err(&self, config: &Path, problem: impl std::fmt::Display) -> WebConfigError {
        match self {
            Pem::Inline(field, _) => err(config, format!("tls_server_config.{field}: {problem}")),
            Pem::File(p, _) => err(p, problem.to_string()),
        }
    }
}

/// A validated `tls_server_config`.
struct Tls {
    config: Arc<rustls::ServerConfig>,
    min_version: u8,
    allowed_sans: Vec<String>,
}

/// The client certificate policy a `client_auth_type` names.
fn client_auth(tls: &TlsFormat) -> ClientAuth {
    match tls.client_auth_type.as_deref() {
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerifyClientCert,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyClientCertIfGiven,
        _ => ClientAuth::NoClientCert,
    }
}

fn build_tls(path: &Path, tls: &TlsFormat, http2: bool) -> Result<Tls, WebConfigError> {
    // Every value is checked before any certificate is read, so the error
    // names the value, not a file it would have read next.
    let has_cert = tls.cert.is_some() || tls.cert_file.is_some();
    let has_key = tls.key.is_some() || tls.key_file.is_some();
    if !has_cert || !has_key {
        return Err(err(
            path,
            "tls_server_config: a certificate (cert_file or cert) and a key (key_file or key) are both required",
        ));
    }
    for (a, a_set, b, b_set) in [
        (
            "cert",
            tls.cert.is_some(),
            "cert_file",
            tls.cert_file.is_some(),
        ),
        ("key", tls.key.is_some(), "key_file", tls.key_file.is_some()),
        (
            "client_ca",
            tls.client_ca.is_some(),
            "client_ca_file",
            tls.client_ca_file.is_some(),
        ),
    ] {
        if a_set && b_set {
            return Err(err(
                path,
                format!("tls_server_config: {a} and {b} are both set; use one"),
            ));
        }
    }
    let (min_version, versions) =
        tls_versions(path, tls.min_version.as_deref(), tls.max_version.as_deref())?;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(names) = &tls.cipher_suites {
        provider.cipher_suites = cipher_suites(names)
            .map_err(|e| err(path, format!("tls_server_config.cipher_suites: {e}")))?;
    }
    if let Some(names) = &tls.curve_preferences {
        provider.kx_groups = kx_groups(names)
            .map_err(|e| err(path, format!("tls_server_config.curve_preferences: {e}")))?;
    }
    let provider = Arc::new(provider);
    let auth = tls.client_auth_type.as_deref().unwrap_or("");
    let has_ca = tls.client_ca.is_some() || tls.client_ca_file.is_some();
    if auth.is_empty() && has_ca {
        // As the exporter-toolkit: a CA without a policy would silently
        // mean "no client certificates".
        return Err(err(
            path,
            "tls_server_config: a client CA (client_ca_file or client_ca) is set without client_auth_type (RequireAndVerifyClientCert or VerifyClientCertIfGiven)",
        ));
    }
    let allowed_sans = tls.client_allowed_sans.clone().unwrap_or_default();
    if !allowed_sans.is_empty() && auth != "RequireAndVerifyClientCert" {
        // As the toolkit documents: any other policy lets a client in
        // without a certificate, with no SAN to match.
        return Err(err(
            path,
            "tls_server_config.client_allowed_sans needs client_auth_type: RequireAndVerifyClientCert",
        ));
    }
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err(path, format!("tls_server_config: {e}")))?;
    let builder = match auth {
        "" | "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca) = Pem::of(
                path,
                "client_ca",
                tls.client_ca.as_deref(),
                "client_ca_file",
                tls.client_ca_file.as_ref(),
            )?
            else {
                return Err(err(
                    path,
                    format!("tls_server_config: client_auth_type {auth} needs client_ca_file (or client_ca)"),
                ));
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.bytes()) {
                let cert = cert.map_err(|e| ca.err(path, format!("not a PEM certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ca.err(path, format!("unusable CA certificate: {e}")))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| ca.err(path, format!("client CA: {e}")))?;
            if allowed_sans.is_empty() {
                builder.with_client_cert_verifier(verifier)
            } else {
                builder.with_client_cert_verifier(Arc::new(SanVerifier::new(
                    verifier,
                    allowed_sans.clone(),
                )))
            }
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(err(
                path,
                format!(
                    "tls_server_config.client_auth_type {auth} is not supported: it accepts unverified certificates; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                ),
            ))
        }
        other => {
            return Err(err(
                path,
                format!("tls_server_config.client_auth_type: unknown value '{other}'"),
            ))
        }
    };
    let cert = Pem::of(
        path,
        "cert",
        tls.cert.as_deref(),
        "cert_file",
        tls.cert_file.as_ref(),
    )?;
    let key = Pem::of(
        path,
        "key",
        tls.key.as_ref().map(|k| k.0.as_str()),
        "key_file",
        tls.key_file.as_ref(),
    )?;
    let (Some(cert), Some(key)) = (cert, key) else {
        return Err(err(path, "tls_server_config: certificate or key missing"));
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| cert.err(path, format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(cert.err(path, "no certificate in it"));
    }
    let private = PrivateKeyDer::from_pem_slice(key.bytes())
        .map_err(|e| key.err(path, format!("not a PEM private key: {e}")))?;
    let mut config = builder
        .with_single_cert(certs, private)
        .map_err(|e| cert.err(path, format!("certificate and key do not fit: {e}")))?;
    // The toolkit's default: the server's order of cipher_suites decides.
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Tls {
        config: Arc::new(config),
        min_version,
        allowed_sans,
    })
}

/// The limiter `rate_limit` asks for, if any.
fn rate_limiter(
    path: &Path,
    limit: Option<&RateLimitFormat>,
) -> Result<Option<Arc<RateLimiter>>, WebConfigError> {
    let Some(limit) = limit else {
        return Ok(None);
    };
    let interval = match limit.interval.as_deref().map(str::trim) {
        None | Some("0") => return Ok(None),
        Some(text) => humantime::parse_duration(text).map_err(|e| {
            err(
                path,
                format!(
                    "rate_limit.interval: '{text}' is not a duration ({e}); e.g. 1s, 500ms, 1m"
                ),
            )
        })?,
    };
    // A zero interval turns the limiter off, as in the toolkit.
    let Some(quota) = governor::Quota::with_period(interval) else {
        return Ok(None);
    };
    let Some(burst) = limit.burst.and_then(std::num::NonZeroU32::new) else {
        return Err(err(
            path,
            "rate_limit.burst: must be at least 1 when rate_limit.interval is set (0 would refuse every request)",
        ));
    };
    // governor keeps time in u64 nanoseconds (584 years) and panics past
    // them: a bucket that takes more than a century to fill is refused.
    const CENTURY_NS: u128 = 100 * 365 * 24 * 3600 * 1_000_000_000;
    if interval.as_nanos().saturating_mul(u128::from(burst.get())) > CENTURY_NS {
        return Err(err(
            path,
            "rate_limit: interval × burst is over a hundred years; use a shorter interval or a smaller burst",
        ));
    }
    Ok(Some(Arc::new(governor::RateLimiter::direct(
        quota.allow_burst(burst),
    ))))
}

/// Parses and validates the file's contents.
pub fn parse(path: &Path, text: &str) -> Result<WebConfig, WebConfigError> {
    let file: FileFormat = if text.trim().is_empty() {
        FileFormat::default()
    } else {
        serde_norway::from_str(text)
            .map_err(|e| err(path, super::values::redact_quoted_values(&e.to_string())))?
    };
    let http2 = file
        .http_server_config
        .as_ref()
        .and_then(|h| h.http2)
        .unwrap_or(true);
    let tls = file
        .tls_server_config
        .as_ref()
        .map(|t| build_tls(path, t, http2))
        .transpose()?;
    let rate_limit = rate_limiter(path, file.rate_limit.as_ref())?;
    let client_auth = file
        .tls_server_config
        .as_ref()
        .map(client_auth)
        .unwrap_or_default();
    let mut users = HashMap::new();
    let mut max_cost = 0;
    for (user, hash) in file.basic_auth_users.unwrap_or_default() {
        if user.is_empty() || user.contains(':') {
            return Err(err(
                path,
                format!("basic_auth_users: invalid user name '{user}'"),
            ));
        }
        // The hash's form, read without the cost of checking a password.
        let parts: bcrypt::HashParts = hash
            .parse()
            .map_err(|_| err(path, format!("basic_auth_users.{user}: not a bcrypt hash")))?;
        max_cost = max_cost.max(parts.get_cost());
        users.insert(user, hash);
    }
    let mut headers = Vec::new();
    if let Some(http) = file.http_server_config {
        for (name, value) in http.headers.unwrap_or_default() {
            if !ALLOWED_HEADERS
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&name))
            {
                return Err(err(
                    path,
                    format!(
                        "http_server_config.headers: '{name}' is not one of the headers the exporter-toolkit allows ({})",
                        ALLOWED_HEADERS.join(", ")
                    ),
                ));
            }
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                err(
                    path,
                    format!("http_server_config.headers: invalid header name '{name}'"),
                )
            })?;
            // The values the toolkit allows where it allows only some.
            let allowed: &[&str] = if n == "x-frame-options" {
                &["deny", "sameorigin"]
            } else if n == "x-content-type-options" {
                &["nosniff"]
            } else {
                &[]
            };
            if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&value)) {
                return Err(err(
                    path,
                    format!(
                        "http_server_config.headers.{name}: '{value}' is not allowed ({})",
                        allowed.join(" or ")
                    ),
                ));
            }
            let v = HeaderValue::from_str(&value).map_err(|_| {
                err(
                    path,
                    format!("http_server_config.headers.{name}: invalid value"),
                )
            })?;
            headers.push((n, v));
        }
    }
    Ok(WebConfig {
        min_version: tls.as_ref().map_or(0, |t| t.min_version),
        allowed_sans: tls
            .as_ref()
            .map(|t| t.allowed_sans.clone())
            .unwrap_or_default(),
        tls: tls.map(|t| t.config),
        client_auth,
        users,
        max_cost,
        headers,
        http2,
        rate_limit,
    })
}

/// Every file the config depends on, for change detection.
fn fingerprint(path: &Path, text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    for p in named_files(path, text) {
        std::fs::read(p).ok().hash(&mut h);
    }
    h.finish()
}

/// The certificate and key files the config in `text` names.
fn named_files(path: &Path, text: &str) -> Vec<PathBuf> {
    let Ok(file) = serde_norway::from_str::<FileFormat>(text) else {
        return Vec::new();
    };
    let Some(tls) = file.tls_server_config else {
        return Vec::new();
    };
    [tls.cert_file, tls.key_file, tls.client_ca_file]
        .into_iter()
        .flatten()
        .map(|p| relative_to(path, &p))
        .collect()
}

fn stamped(files: Vec<PathBuf>) -> Vec<(PathBuf, Option<Stamp>)> {
    files
        .into_iter()
        .map(|p| {
            let stamp = Stamp::of(&p);
            (p, stamp)
        })
        .collect()
}

/// What the file's metadata says of its bytes: a change of content changes
/// at least one of these (checked per request, so cheap: one `stat`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: u64,
    #[cfg(unix)]
    changed_ns: i64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Some(Stamp {
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            inode: m.ino(),
            #[cfg(unix)]
            changed_ns: m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec(),
        })
    }
}

/// The state of the last reload of a file: for
/// `chime_exporter_web_config_last_reload_*` and
/// `chime_exporter_config_last_reload_*`.
#[derive(Debug)]
pub struct ReloadStatus {
    ok: AtomicBool,
    /// Unix seconds (`f64` bits) of the last successful load.
    last_success: AtomicU64,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

impl Default for ReloadStatus {
    /// A success, now: what a file loaded at start (or no file) is.
    fn default() -> Self {
        ReloadStatus::succeeded()
    }
}

impl ReloadStatus {
    fn succeeded() -> ReloadStatus {
        ReloadStatus {
            ok: AtomicBool::new(true),
            last_success: AtomicU64::new(unix_now().to_bits()),
        }
    }

    /// Records the outcome of a reload.
    pub fn set(&self, ok: bool) {
        self.ok.store(ok, Ordering::Release);
        if ok {
            self.last_success
                .store(unix_now().to_bits(), Ordering::Release);
        }
    }

    /// Whether the last attempt to load a changed file succeeded.
    pub fn successful(&self) -> bool {
        self.ok.load(Ordering::Acquire)
    }

    /// When the file was last loaded successfully (the start when there is
    /// no file), in Unix seconds.
    pub fn last_success_seconds(&self) -> f64 {
        f64::from_bits(self.last_success.load(Ordering::Acquire))
    }
}

/// The config in force and what was last seen of the file.
#[derive(Debug)]
struct Live {
    config: Arc<WebConfig>,
    /// Of the file and the certificate files it names.
    fingerprint: u64,
    stamp: Option<Stamp>,
    /// The problem last logged, so that one is logged once, not per
    /// connection.
    problem: Option<String>,
    /// The certificate and key files the file names, with their stamps
    /// when last read (see [`WebConfigSource::current`]).
    named: Vec<(PathBuf, Option<Stamp>)>,
}

/// The web config file, re-read while running.
#[derive(Debug)]
pub struct WebConfigSource {
    path: Option<PathBuf>,
    live: Mutex<Live>,
    status: Arc<ReloadStatus>,
}

impl WebConfigSource {
    /// No file: plain HTTP, no auth.
    pub fn none() -> WebConfigSource {
        WebConfigSource {
            path: None,
            live: Mutex::new(Live {
                config: Arc::new(WebConfig::default()),
                fingerprint: 0,
                stamp: None,
                problem: None,
                named: Vec::new(),
            }),
            status: Arc::default(),
        }
    }

    /// Loads the file once; an error here stops the exporter at start.
    pub fn load(path: &Path) -> Result<WebConfigSource, WebConfigError> {
        let stamp = Stamp::of(path);
        let text =
            std::fs::read_to_string(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
        let config = parse(path, &text)?;
        Ok(WebConfigSource {
            path: Some(path.to_path_buf()),
            live: Mutex::new(Live {
                config: Arc::new(config),
                fingerprint: fingerprint(path, &text),
                stamp,
                problem: None,
                named: stamped(named_files(path, &text)),
            }),
            status: Arc::default(),
        })
    }

    /// The state of the last reload.
    pub fn status(&self) -> Arc<ReloadStatus> {
        Arc::clone(&self.status)
    }

    /// The config in force for a new connection: the file and the
    /// certificates it names read again, and applied if they changed and
    /// the change is allowed.
    ///
    /// Read again only when the file or one of the certificate and key
    /// files it names changed (a `stat` of each): every new connection
    /// used to read them all and parse the YAML, under this lock, on an
    /// async worker, so a flood of connections opened and closed at once
    /// became file reads and parsing on every core.
    pub fn current(&self) -> Arc<WebConfig> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = &self.path else {
            return Arc::clone(&live.config);
        };
        let unchanged = Stamp::of(path) == live.stamp
            && live.named.iter().all(|(p, stamp)| Stamp::of(p) == *stamp);
        if !unchanged {
            self.refresh(path, &mut live);
        }
        Arc::clone(&live.config)
    }

    /// The config in force for a request: read again only when the file's
    /// size or times changed since it was last read (one `stat`).
    pub fn latest(&self) -> Arc<WebConfig> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = &self.path else {
            return Arc::clone(&live.config);
        };
        if Stamp::of(path) != live.stamp {
            self.refresh(path, &mut live);
        }
        Arc::clone(&live.config)
    }

    fn refresh(&self, path: &Path, live: &mut Live) {
        live.stamp = Stamp::of(path);
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.problem(
                    live,
                    format!("cannot read the web config ({e}); keeping the last good one"),
                );
                return;
            }
        };
        // Stamped before they are read: a change while they are read is
        // seen at the next connection.
        live.named = stamped(named_files(path, &text));
        let print = fingerprint(path, &text);
        if print == live.fingerprint {
            return;
        }
        // Whatever the outcome, these bytes are not parsed again.
        live.fingerprint = print;
        match parse(path, &text) {
            Ok(config) => match config.weakens(&live.config) {
                None => {
                    tracing::info!(file = %path.display(), "web config reloaded");
                    live.config = Arc::new(config);
                    live.problem = None;
                    self.status.set(true);
                }
                Some(why) => self.problem(
                    live,
                    format!("web config change refused, {why}; keeping the last good one"),
                ),
            },
            Err(e) => self.problem(
                live,
                format!("invalid web config ({e}); keeping the last good one"),
            ),
        }
    }

    /// Logs a problem with the file once (until it changes), and shows it
    /// in the reload status.
    fn problem(&self, live: &mut Live, message: String) {
        self.status.set(false);
        if live.problem.as_deref() != Some(message.as_str()) {
            let file = self.path.as_deref().unwrap_or(Path::new(""));
            tracing::error!(file = %file.display(), "{message}");
            live.problem = Some(message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/nonexistent/web.yml")
    }

    #[test]
    fn empty_file_means_plain_http() {
        let c = parse(p(), "").unwrap();
        assert!(c.tls.is_none() && c.users.is_empty());
    }

    #[test]
    fn only_stricter_changes_are_allowed() {
        let users = |names: &[&str]| WebConfig {
            users: names
                .iter()
                .map(|n| ((*n).to_owned(), String::new()))
                .collect(),
            ..WebConfig::default()
        };
        assert!(
            users(&[]).weakens(&users(&["a"])).is_some(),
            "all users removed"
        );
        assert!(
            users(&["b"]).weakens(&users(&["a"])).is_none(),
            "one user for another"
        );
        assert!(users(&["a"]).weakens(&users(&[])).is_none(), "users added");
        let auth = |client_auth| WebConfig {
            client_auth,
            ..WebConfig::default()
        };
        assert!(auth(ClientAuth::VerifyClientCertIfGiven)
            .weakens(&auth(ClientAuth::RequireAndVerifyClientCert))
            .is_some());
        assert!(auth(ClientAuth::RequireAndVerifyClientCert)
            .weakens(&auth(ClientAuth::NoClientCert))
            .is_none());
        let sans = |list: &[&str]| WebConfig {
            allowed_sans: list.iter().map(|s| (*s).to_owned()).collect(),
            ..WebConfig::default()
        };
        assert!(sans(&[]).weakens(&sans(&["a"])).is_some(), "SANs removed");
        assert!(
            sans(&["b"]).weakens(&sans(&["a"])).is_none(),
            "one for another"
        );
        let min = |min_version| WebConfig {
            min_version,
            ..WebConfig::default()
        };
        assert!(min(12).weakens(&min(13)).is_some(), "min_version lowered");
        assert!(min(13).weakens(&min(12)).is_none(), "min_version raised");
    }

    #[test]
    fn rate_limit_takes_the_toolkit_form() {
        let c = parse(p(), "rate_limit:\n  interval: 1s\n  burst: 2\n").unwrap();
        let limiter = c.rate_limit.expect("a limiter");
        assert!(limiter.check().is_ok() && limiter.check().is_ok());
        assert!(limiter.check().is_err(), "the third within a second");
        for off in [
            "rate_limit:\n  interval: 0s\n  burst: 0\n",
            "rate_limit: {}\n",
        ] {
            assert!(parse(p(), off).unwrap().rate_limit.is_none(), "{off}");
        }
        assert!(parse(p(), "rate_limit:\n  interval: 1s\n").is_err());
        // Extremes are a limiter or an error, never a panic.
        assert!(parse(p(), "rate_limit:\n  interval: 500000y\n  burst: 1\n").is_err());
        for text in [
            "rate_limit:\n  interval: 500000y\n  burst: 4294967295\n",
            "rate_limit:\n  interval: 1ns\n  burst: 4294967295\n",
            "rate_limit:\n  interval: 99999999999999999999y\n  burst: 1\n",
        ] {
            if let Ok(c) = parse(p(), text) {
                let _ = c.rate_limit.map(|l| l.check());
            }
        }
        assert!(parse(p(), "rate_limit:\n  interval: 1s\n  burst: 1\n  extra: 1\n").is_err());
    }

    #[test]
    fn inline_and_file_for_one_thing_is_an_error() {
        let e = parse(
            p(),
            "tls_server_config:\n  cert: x\n  cert_file: a\n  key_file: b\n",
        )
        .unwrap_err();
        assert!(e.problem.contains("cert and cert_file"), "{e}");
    }

    #[test]
    fn the_toolkit_header_set_only() {
        for (name, value) in [
            ("Strict-Transport-Security", "max-age=1"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "SAMEORIGIN"),
            ("X-XSS-Protection", "0"),
            ("Content-Security-Policy", "default-src 'self'"),
        ] {
            let text = format!("http_server_config:\n  headers:\n    {name}: \"{value}\"\n");
            assert!(parse(p(), &text).is_ok(), "{name}");
        }
        for (name, value) in [
            ("X-Frame-Options", "allow"),
            ("X-Content-Type-Options", "x"),
        ] {
            let text = format!("http_server_config:\n  headers:\n    {name}: {value}\n");
            let e = parse(p(), &text).unwrap_err();
            assert!(e.problem.contains(name), "{e}");
        }
        let e = parse(
            p(),
            "http_server_config:\n  headers:\n    X-Powered-By: me\n",
        )
        .unwrap_err();
        assert!(e.problem.contains("X-Powered-By"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let e = parse(p(), "basic_auth_users: {}\ntls_server_conf: {}\n").unwrap_err();
        assert!(e.problem.contains("tls_server_conf"), "{e}");
        assert!(e.problem.contains("line 2"), "{e}");
    }

    #[test]
    fn bad_values_are_errors() {
        for text in [
            "basic_auth_users:\n  u: plaintext\n",
            "http_server_config:\n  headers:\n    'bad header': x\n",
            "tls_server_config:\n  cert_file: a\n",
            "tls_server_config:\n  cert_file: a\n  key_file: b\n",
        ] {
            assert!(parse(p(), text).is_err(), "{text}");
        }
    }

    #[test]
    fn tls_versions_are_checked() {
        assert_eq!(tls_versions(p(), None, None).unwrap().1.len(), 2);
        assert_eq!(tls_versions(p(), Some("TLS13"), None).unwrap().1.len(), 1);
        // Raised to TLS 1.2, never below it.
        let (min, versions) = tls_versions(p(), Some("TLS10"), None).unwrap();
        assert_eq!((min, versions.len()), (12, 2));
        assert!(tls_versions(p(), None, Some("TLS11")).is_err());
        assert!(tls_versions(p(), Some("TLS13"), Some("TLS12")).is_err());
        assert!(tls_versions(p(), Some("SSL3"), None).is_err());
    }
}
