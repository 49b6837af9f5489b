//! `--web.config.file`: TLS, mTLS, basic auth, headers and certificate
//! rotation, with certificates generated for the test.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{Exporter, TempDir};
use chime_exporter::fake::{FakeAccount, FakeChime};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub type Ca = CertifiedIssuer<'static, KeyPair>;

pub fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate signed by `ca`: (cert PEM, key PEM).
pub fn leaf(ca: &Ca, common_name: &str, client: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

pub struct Setup {
    pub dir: TempDir,
    pub ca: Ca,
    pub _fake: FakeChime,
    pub exporter: Exporter,
}

pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Starts the exporter with a web config file written by `config`.
pub async fn setup(config: &str) -> Setup {
    let dir = TempDir::new("web");
    let ca = new_ca("chime test ca");
    let (cert, key) = leaf(&ca, "server-one", false);
    write(&dir.0, "ca.crt", &ca.pem());
    write(&dir.0, "server.crt", &cert);
    write(&dir.0, "server.key", &key);
    write(&dir.0, "web.yml", config);
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("w", "Web"));
    let web_yml = dir.0.join("web.yml");
    let args = [
        "--chime.account-id",
        "w",
        "--web.config.file",
        web_yml.to_str().unwrap(),
    ];
    let exporter = Exporter::start(&fake.url(), &args);
    Setup {
        dir,
        ca,
        _fake: fake,
        exporter,
    }
}

pub fn client_config(ca_pem: &str, client: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    Arc::new(config)
}

/// One HTTPS request; `Err` when the TLS session or the request failed.
/// Also returns the common name of the certificate the server presented.
pub async fn https_get(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(crate::helpers::HttpResponse, Vec<u8>), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_owned())?
        .map_err(|e| format!("handshake: {e}"))?;
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tls.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut raw))
        .await
        .map_err(|_| "read timed out".to_owned())?;
    if let Err(e) = read {
        if raw.is_empty() {
            return Err(format!("read: {e}"));
        }
    }
    if raw.is_empty() {
        return Err("no response".to_owned());
    }
    Ok((crate::helpers::parse_response(&raw), presented))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The request failed because the server sent a TLS alert naming `alert`.
fn assert_alert(
    result: &Result<(crate::helpers::HttpResponse, Vec<u8>), String>,
    alert: &str,
    what: &str,
) {
    match result {
        Ok((resp, _)) => panic!("served {what}: HTTP {}", resp.status),
        Err(e) => assert!(
            e.contains("received fatal alert") && e.contains(alert),
            "{what}: expected a fatal {alert} alert, got: {e}"
        ),
    }
}

pub const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_metrics_and_plain_http_fails_cleanly() {
    let s = setup(TLS).await;
    let client = client_config(&s.ca.pem(), None);
    let (resp, presented) = https_get(s.exporter.addr, client, "/metrics", &[])
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.body.contains("chime_account_up"));
    assert!(contains(&presented, "server-one"));
    // Plain HTTP to the TLS port: a clear 400, no hang, no crash.
    let plain = crate::helpers::http(s.exporter.addr, "GET", "/metrics", &[]).await;
    assert_eq!(plain.status, 400);
    assert!(plain.body.contains("HTTP request to an HTTPS server"));
    // Still serving afterwards.
    let client = client_config(&s.ca.pem(), None);
    assert!(https_get(s.exporter.addr, client, "/-/healthy", &[])
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_rejects_clients_without_a_valid_certificate() {
    let s = setup(&format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS12\n"
    ))
    .await;
    let ca_pem = s.ca.pem();
    // No client certificate: refused by the TLS layer with an alert (not
    // a timeout, not an HTTP answer).
    let without = https_get(
        s.exporter.addr,
        client_config(&ca_pem, None),
        "/metrics",
        &[],
    )
    .await;
    assert_alert(
        &without,
        "CertificateRequired",
        "without a client certificate",
    );
    // A certificate from another CA: refused.
    let stranger = new_ca("someone else");
    let (cert, key) = leaf(&stranger, "intruder", true);
    let foreign = https_get(
        s.exporter.addr,
        client_config(&ca_pem, Some((&cert, &key))),
        "/metrics",
        &[],
    )
    .await;
    assert_alert(&foreign, "UnknownCA", "with a certificate of another CA");
    // A certificate from the configured CA: served.
    let (cert, key) = leaf(&s.ca, "prometheus", true);
    let (resp, _) = https_get(
        s.exporter.addr,
        client_config(&ca_pem, Some((&cert, &key))),
        "/metrics",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_headers() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let s = setup(&format!(
        "basic_auth_users:\n  prometheus: '{hash}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    ))
    .await;
    let addr = s.exporter.addr;
    use base64::Engine as _;
    let auth = |creds: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    };
    for path in ["/metrics", "/", "/-/ready"] {
        let none = crate::helpers::http(addr, "GET", path, &[]).await;
        assert_eq!(none.status, 401, "{path}");
        assert!(none
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic"));
        let wrong = crate::helpers::http(
            addr,
            "GET",
            path,
            &[("Authorization", &auth("prometheus:nope"))],
        )
        .await;
        assert_eq!(wrong.status, 401);
        let unknown = crate::helpers::http(
            addr,
            "GET",
            path,
            &[("Authorization", &auth("root:s3cret"))],
        )
        .await;
        assert_eq!(unknown.status, 401);
    }
    let ok = crate::helpers::http(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", &auth("prometheus:s3cret"))],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert!(ok.body.contains("chime_account_up"));
    assert_eq!(ok.header("x-frame-options"), Some("deny"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificates_are_picked_up_without_a_restart() {
    let s = setup(TLS).await;
    let client = || client_config(&s.ca.pem(), None);
    let (_, first) = https_get(s.exporter.addr, client(), "/-/healthy", &[])
        .await
        .unwrap();
    assert!(contains(&first, "server-one"));
    let (cert, key) = leaf(&s.ca, "server-two", false);
    write(&s.dir.0, "server.crt", &cert);
    write(&s.dir.0, "server.key", &key);
    let (resp, second) = https_get(s.exporter.addr, client(), "/-/healthy", &[])
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(contains(&second, "server-two"), "still the old certificate");
    // A broken file does not take the server down: the last good config stays.
    write(&s.dir.0, "server.key", "not a key");
    let (resp, third) = https_get(s.exporter.addr, client(), "/-/healthy", &[])
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(contains(&third, "server-two"));
}

#[test]
fn invalid_web_config_exits_2_naming_the_problem() {
    let dir = TempDir::new("badweb");
    for (text, expect) in [
        (
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  unknown_key: 1\n",
            "unknown_key",
        ),
        ("basic_auth_users:\n  prom: not-a-hash\n", "bcrypt"),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            "missing.crt",
        ),
        ("tls_server_config: [1, 2\n", "web.yml"),
    ] {
        std::fs::write(dir.0.join("web.yml"), text).unwrap();
        let out = crate::helpers::exporter_command(&dir)
            .args(["--chime.account-id", "a", "--web.config.file"])
            .arg(dir.0.join("web.yml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains("--web.config.file"), "{stderr}");
        assert!(stderr.contains(expect), "{text}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}
