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
//! without a restart. Reading is cheap; parsing and building the TLS
//! configuration only happen when the bytes changed. A file that became
//! invalid is logged and the last good configuration stays in force.
//!
//! TLS is rustls: TLS 1.2 and 1.3 only, its own cipher-suite and curve
//! choices (`cipher_suites`, `curve_preferences` and
//! `prefer_server_cipher_suites` are accepted and ignored with a warning).
//! `RequestClientCert` and `RequireAnyClientCert` ask for certificates
//! without verifying them; they are refused rather than silently weakened.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// A loaded, validated web config.
#[derive(Debug, Default)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// user → bcrypt hash.
    pub users: HashMap<String, String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl WebConfig {
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
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
    let auth = tls.client_auth_type.as_deref().unwrap_or("NoClientCert");
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
    let mut users = HashMap::new();
    for (user, hash) in file.basic_auth_users.unwrap_or_default() {
        if user.is_empty() || user.contains(':') {
            return Err(err(
                path,
                format!("basic_auth_users: invalid user name '{user}'"),
            ));
        }
        if bcrypt::verify("", &hash).is_err() {
            return Err(err(
                path,
                format!("basic_auth_users.{user}: not a bcrypt hash"),
            ));
        }
        users.insert(user, hash);
    }
    let mut headers = Vec::new();
    if let Some(http) = file.http_server_config {
        if http.http2 == Some(true) {
            tracing::warn!(file = %path.display(), "http_server_config.http2 is ignored: HTTP/1.1 only");
        }
        for (name, value) in http.headers.unwrap_or_default() {
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
        users,
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

/// The web config file, re-read for every connection.
#[derive(Debug)]
pub struct WebConfigSource {
    path: Option<PathBuf>,
    current: Mutex<(u64, Arc<WebConfig>)>,
}

impl WebConfigSource {
    /// No file: plain HTTP, no auth.
    pub fn none() -> WebConfigSource {
        WebConfigSource {
            path: None,
            current: Mutex::new((0, Arc::new(WebConfig::default()))),
        }
    }

    /// Loads the file once; an error here stops the exporter at start.
    pub fn load(path: &Path) -> Result<WebConfigSource, WebConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
        let config = parse(path, &text)?;
        Ok(WebConfigSource {
            path: Some(path.to_path_buf()),
            current: Mutex::new((fingerprint(path, &text), Arc::new(config))),
        })
    }

    /// The config in force now: re-read from disk, rebuilt if anything
    /// changed, the last good one if the file became invalid.
    pub fn current(&self) -> Arc<WebConfig> {
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = &self.path else {
            return guard.1.clone();
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot re-read the web config; keeping the last good one");
                return guard.1.clone();
            }
        };
        let print = fingerprint(path, &text);
        if print == guard.0 {
            return guard.1.clone();
        }
        match parse(path, &text) {
            Ok(config) => {
                tracing::info!(file = %path.display(), "web config reloaded");
                *guard = (print, Arc::new(config));
            }
            Err(e) => {
                tracing::error!(error = %e, "invalid web config; keeping the last good one");
                // Do not parse the same bad bytes on every connection.
                guard.0 = print;
            }
        }
        guard.1.clone()
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
