//! `--web.config.file`: TLS, client certificates, basic auth and response
//! headers, in the format of the Prometheus exporter-toolkit's
//! `web-config.yml`, so the file an admin already uses for node_exporter or
//! blackbox_exporter works here unchanged.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or VerifyClientCertIfGiven, NoClientCert
//!   client_ca_file: ca.crt
//!   min_version: TLS12                              # TLS12 or TLS13
//! http_server_config:
//!   headers:
//!     X-Frame-Options: deny
//! basic_auth_users:
//!   prometheus: $2y$10$...                          # bcrypt hash
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
//! client-certificate verification, or remove every basic-auth user — an
//! empty or truncated file, as a non-atomic save leaves it for a moment,
//! included — is refused: the last good configuration stays, the refusal
//! is logged, and `chime_exporter_web_config_last_reload_successful` goes
//! to 0. Ordinary changes (rotated certificates, a user added or removed
//! while others remain, stricter settings) apply. A file that is missing,
//! unreadable or invalid is logged when that state begins, not for every
//! connection.
//!
//! TLS is rustls: TLS 1.2 and 1.3 only, its own cipher-suite and curve
//! choices (`cipher_suites`, `curve_preferences` and
//! `prefer_server_cipher_suites` are accepted and ignored with a warning).
//! `RequestClientCert` and `RequireAnyClientCert` ask for certificates
//! without verifying them; they are refused rather than silently weakened.

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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFormat {
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
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, WebConfigError> {
    let rank = |field: &str, v: &str| match v {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(err(
            path,
            format!("tls_server_config.{field}: {v} is not supported (TLS 1.2 and 1.3 only)"),
        )),
        other => Err(err(
            path,
            format!("tls_server_config.{field}: unknown version '{other}' (TLS12 or TLS13)"),
        )),
    };
    let lo = min
        .map(|v| rank("min_version", v))
        .transpose()?
        .unwrap_or(12);
    let hi = max
        .map(|v| rank("max_version", v))
        .transpose()?
        .unwrap_or(13);
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
    Ok(versions)
}

/// The client certificate policy a `client_auth_type` names.
fn client_auth(tls: &TlsFormat) -> ClientAuth {
    match tls.client_auth_type.as_deref() {
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerifyClientCert,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyClientCertIfGiven,
        _ => ClientAuth::NoClientCert,
    }
}

fn build_tls(path: &Path, tls: &TlsFormat) -> Result<Arc<rustls::ServerConfig>, WebConfigError> {
    let (Some(cert_file), Some(key_file)) = (&tls.cert_file, &tls.key_file) else {
        return Err(err(
            path,
            "tls_server_config: cert_file and key_file are both required",
        ));
    };
    if tls
        .client_allowed_sans
        .as_ref()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(err(
            path,
            "tls_server_config.client_allowed_sans is not supported",
        ));
    }
    for (field, set) in [
        ("cipher_suites", tls.cipher_suites.is_some()),
        ("curve_preferences", tls.curve_preferences.is_some()),
        (
            "prefer_server_cipher_suites",
            tls.prefer_server_cipher_suites.is_some(),
        ),
    ] {
        if set {
            tracing::warn!(file = %path.display(), field, "ignored: rustls chooses cipher suites and curves itself");
        }
    }
    let cert_path = relative_to(path, cert_file);
    let key_path = relative_to(path, key_file);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&cert_path)?)
        .collect::<Result<_, _>>()
        .map_err(|e| err(&cert_path, format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(err(&cert_path, "no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&key_path)?)
        .map_err(|e| err(&key_path, format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions = tls_versions(path, tls.min_version.as_deref(), tls.max_version.as_deref())?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err(path, format!("tls_server_config: {e}")))?;
    let auth = tls.client_auth_type.as_deref().unwrap_or("");
    if auth.is_empty() && tls.client_ca_file.is_some() {
        // As the exporter-toolkit: a CA without a policy would silently
        // mean "no client certificates".
        return Err(err(
            path,
            "tls_server_config: client_ca_file is set without client_auth_type (RequireAndVerifyClientCert or VerifyClientCertIfGiven)",
        ));
    }
    let builder = match auth {
        "" | "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca_file) = &tls.client_ca_file else {
                return Err(err(
                    path,
                    format!("tls_server_config: client_auth_type {auth} needs client_ca_file"),
                ));
            };
            let ca_path = relative_to(path, ca_file);
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&read(&ca_path)?) {
                let cert = cert.map_err(|e| err(&ca_path, format!("not a PEM certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| err(&ca_path, format!("unusable CA certificate: {e}")))?;
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
                .map_err(|e| err(&ca_path, format!("client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
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
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| err(&cert_path, format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Parses and validates the file's contents.
pub fn parse(path: &Path, text: &str) -> Result<WebConfig, WebConfigError> {
    let file: FileFormat = if text.trim().is_empty() {
        FileFormat::default()
    } else {
        serde_yaml::from_str(text).map_err(|e| err(path, e.to_string()))?
    };
    let tls = file
        .tls_server_config
        .as_ref()
        .map(|t| build_tls(path, t))
        .transpose()?;
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
        if http.http2 == Some(true) {
            tracing::warn!(file = %path.display(), "http_server_config.http2 is ignored: HTTP/1.1 only");
        }
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
        tls,
        client_auth,
        users,
        max_cost,
        headers,
    })
}

/// Every file the config depends on, for change detection.
fn fingerprint(path: &Path, text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    if let Ok(file) = serde_yaml::from_str::<FileFormat>(text) {
        if let Some(tls) = file.tls_server_config {
            for p in [tls.cert_file, tls.key_file, tls.client_ca_file]
                .into_iter()
                .flatten()
            {
                std::fs::read(relative_to(path, &p)).ok().hash(&mut h);
            }
        }
    }
    h.finish()
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
    pub fn current(&self) -> Arc<WebConfig> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = &self.path else {
            return Arc::clone(&live.config);
        };
        self.refresh(path, &mut live);
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
    }

    #[test]
    fn the_toolkit_header_set_only() {
        for name in ALLOWED_HEADERS {
            let text = format!("http_server_config:\n  headers:\n    {name}: x\n");
            assert!(parse(p(), &text).is_ok(), "{name}");
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
        assert_eq!(tls_versions(p(), None, None).unwrap().len(), 2);
        assert_eq!(tls_versions(p(), Some("TLS13"), None).unwrap().len(), 1);
        assert!(tls_versions(p(), Some("TLS10"), None).is_err());
        assert!(tls_versions(p(), Some("TLS13"), Some("TLS12")).is_err());
        assert!(tls_versions(p(), Some("SSL3"), None).is_err());
    }
}
