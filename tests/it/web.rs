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
    setup_with(|_, _, _| config.to_owned()).await
}

/// Starts the exporter with the web config `config` writes from the test
/// CA and the server's certificate and key (PEM), for inline keys.
pub async fn setup_with(config: impl FnOnce(&Ca, &str, &str) -> String) -> Setup {
    let dir = TempDir::new("web");
    let ca = new_ca("chime test ca");
    let (cert, key) = leaf(&ca, "server-one", false);
    write(&dir.0, "ca.crt", &ca.pem());
    write(&dir.0, "server.crt", &cert);
    write(&dir.0, "server.key", &key);
    write(&dir.0, "web.yml", &config(&ca, &cert, &key));
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

// The exporter-toolkit's web-config.yml, every key.

/// A client certificate signed by `ca` with exactly these SANs.
pub fn client_leaf(ca: &Ca, sans: Vec<rcgen::SanType>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "client");
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn dns(name: &str) -> rcgen::SanType {
    rcgen::SanType::DnsName(name.try_into().unwrap())
}

fn uri(name: &str) -> rcgen::SanType {
    rcgen::SanType::URI(name.try_into().unwrap())
}

/// `text` as a YAML block scalar under a key indented by `indent` spaces.
fn block(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let mut out = String::from("|\n");
    for line in text.lines() {
        out.push_str(&pad);
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A client config limited to `versions` and offering `alpn`.
fn tuned_client(
    ca_pem: &str,
    client: (&str, &str),
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            CertificateDer::pem_slice_iter(client.0.as_bytes())
                .map(Result::unwrap)
                .collect(),
            PrivateKeyDer::from_pem_slice(client.1.as_bytes()).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

const ALLOWED_SAN: &str = "prometheus.monitoring.svc";
const ALLOWED_URI: &str = "spiffe://cluster.local/ns/monitoring/sa/prometheus";

/// Every key of the toolkit's documentation, in its form (inline PEM for
/// the server and the client CA; the `_file` forms are the other tests').
fn every_key(ca: &Ca, cert: &str, key: &str, hash: &str) -> String {
    format!(
        "tls_server_config:
  cert: {cert}
  key: {key}
  client_auth_type: RequireAndVerifyClientCert
  client_ca: {ca}
  client_allowed_sans:
    - {ALLOWED_SAN}
    - {ALLOWED_URI}
    - 10.0.0.1
    - prometheus@example.com
  min_version: TLS13
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
  prefer_server_cipher_suites: true
  curve_preferences:
    - X25519
    - CurveP256
    - CurveP384

http_server_config:
  http2: true
  headers:
    Content-Security-Policy: default-src 'self'
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    X-XSS-Protection: 1; mode=block
    Strict-Transport-Security: max-age=31536000; includeSubDomains

basic_auth_users:
  prometheus: {hash}

rate_limit:
  interval: 1h
  burst: 5
",
        cert = block(cert, 2),
        key = block(key, 2),
        ca = block(&ca.pem(), 2),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_toolkit_key_has_its_effect() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let s = setup_with(|ca, cert, key| every_key(ca, cert, key, &hash)).await;
    let addr = s.exporter.addr;
    let ca_pem = s.ca.pem();
    let auth = crate::helpers::basic_auth("prometheus", "s3cret");
    let with_auth = [("Authorization", auth.as_str())];
    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let (cert, key) = client_leaf(&s.ca, vec![dns(ALLOWED_SAN)]);
    let mut served = 0;

    // client_allowed_sans: an exact DNS SAN match is served…
    let (resp, _) = https_get(
        addr,
        tuned_client(&ca_pem, (&cert, &key), tls13, &[]),
        "/metrics",
        &with_auth,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    served += 1;
    // …and http_server_config.headers: the toolkit's five.
    for (name, value) in [
        ("Content-Security-Policy", "default-src 'self'"),
        ("X-Frame-Options", "deny"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-XSS-Protection", "1; mode=block"),
        (
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ),
    ] {
        assert_eq!(resp.header(name), Some(value), "{name}");
    }
    // So is a URI, an IP address or an e-mail SAN match (beside others).
    for sans in [
        vec![dns("other.example"), uri(ALLOWED_URI)],
        vec![rcgen::SanType::IpAddress([10, 0, 0, 1].into())],
        vec![rcgen::SanType::Rfc822Name(
            "prometheus@example.com".try_into().unwrap(),
        )],
    ] {
        let (c, k) = client_leaf(&s.ca, sans.clone());
        let (resp, _) = https_get(
            addr,
            tuned_client(&ca_pem, (&c, &k), tls13, &[]),
            "/-/healthy",
            &with_auth,
        )
        .await
        .unwrap_or_else(|e| panic!("{sans:?}: {e}"));
        assert_eq!(resp.status, 200);
        served += 1;
    }
    // A certificate of the right CA without an allowed SAN: refused (a
    // near miss too: SANs match exactly).
    for sans in [
        vec![dns("grafana.monitoring.svc")],
        vec![dns("prometheus.monitoring.svc.evil")],
        vec![],
    ] {
        let (c, k) = client_leaf(&s.ca, sans.clone());
        let refused = https_get(
            addr,
            tuned_client(&ca_pem, (&c, &k), tls13, &[]),
            "/metrics",
            &with_auth,
        )
        .await;
        assert_alert(
            &refused,
            "AccessDenied",
            &format!("a client with SANs {sans:?}"),
        );
    }
    // min_version: TLS13: a TLS 1.2 client is refused, with an allowed SAN.
    let tls12 = https_get(
        addr,
        tuned_client(&ca_pem, (&cert, &key), &[&rustls::version::TLS12], &[]),
        "/metrics",
        &with_auth,
    )
    .await;
    assert_alert(
        &tls12,
        "ProtocolVersion",
        "a TLS 1.2 client under min_version: TLS13",
    );

    // http2: negotiated by ALPN, and a request over it served.
    let config = tuned_client(&ca_pem, (&cert, &key), tls13, &[b"h2", b"http/1.1"]);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get("https://localhost/metrics")
        .header("authorization", &auth)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    served += 1;
    drop(sender);

    // rate_limit: a burst of 5, then one token an hour: the sixth request
    // gets 429, whatever the path.
    loop {
        let (resp, _) = https_get(
            addr,
            tuned_client(&ca_pem, (&cert, &key), tls13, &[]),
            "/-/healthy",
            &with_auth,
        )
        .await
        .unwrap();
        if resp.status == 429 {
            break;
        }
        assert_eq!(resp.status, 200);
        served += 1;
        assert!(served <= 5, "more than the burst of 5 served");
    }
    assert_eq!(served, 5, "the burst is 5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_certificates_serve_tls() {
    let s = setup_with(|_, cert, key| {
        format!(
            "tls_server_config:\n  cert: {}  key: {}",
            block(cert, 2),
            block(key, 2)
        )
    })
    .await;
    let (resp, presented) = https_get(
        s.exporter.addr,
        client_config(&s.ca.pem(), None),
        "/metrics",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    assert!(contains(&presented, "server-one"));
}

#[test]
fn toolkit_values_that_cannot_be_honoured_exit_2_naming_them() {
    let dir = TempDir::new("toolkit-web");
    let ca = new_ca("ca");
    let (cert, key) = leaf(&ca, "server", false);
    write(&dir.0, "ca.crt", &ca.pem());
    write(&dir.0, "server.crt", &cert);
    write(&dir.0, "server.key", &key);
    let inline_cert = format!("  cert: {}", block(&cert, 2));
    let inline_key = format!("  key: {}", block(&key, 2));
    let inline_ca = format!("  client_ca: {}", block(&ca.pem(), 2));
    let mtls = "  client_auth_type: RequireAndVerifyClientCert\n";
    for (text, expect) in [
        (format!("{TLS}{inline_cert}"), "cert_file"),
        (format!("{TLS}{inline_key}"), "key_file"),
        (
            format!("{TLS}{mtls}  client_ca_file: ca.crt\n{inline_ca}"),
            "client_ca_file",
        ),
        (
            format!("{TLS}  cipher_suites:\n    - TLS_RSA_WITH_AES_128_CBC_SHA\n"),
            "TLS_RSA_WITH_AES_128_CBC_SHA",
        ),
        (
            format!("{TLS}  cipher_suites:\n    - TLS_MADE_UP\n"),
            "TLS_MADE_UP",
        ),
        (
            format!("{TLS}  curve_preferences:\n    - CurveP521\n"),
            "CurveP521",
        ),
        (format!("{TLS}  max_version: TLS11\n"), "TLS11"),
        (
            format!(
                "{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n  client_allowed_sans: [a.example]\n"
            ),
            "client_allowed_sans",
        ),
        (
            "rate_limit:\n  interval: 1s\n  burst: 0\n".to_owned(),
            "rate_limit.burst",
        ),
        ("rate_limit:\n  interval: soon\n".to_owned(), "rate_limit.interval"),
    ] {
        write(&dir.0, "web.yml", &text);
        let mut cmd = crate::helpers::exporter_command(&dir);
        cmd.args(["--chime.account-id", "a", "--web.listen-address", "127.0.0.1:0"])
            .args(["--web.config.file"])
            .arg(dir.0.join("web.yml"));
        let (code, stderr) = exit_within(cmd, Duration::from_secs(10));
        assert_eq!(code, Some(2), "{text}: {stderr}");
        assert!(stderr.contains(expect), "{text}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Runs the binary until it exits, at most `limit` (an exporter that
/// started when it should have refused is killed, and the test fails).
fn exit_within(mut cmd: std::process::Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read as _;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, "still running: the file was accepted".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A billion-laughs file: nine levels of ten aliases each.
fn billion_laughs(under: &str) -> String {
    let mut text =
        format!("{under}\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        let p = i - 1;
        text.push_str(&format!(
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text
}

#[test]
fn alias_bombs_and_deep_nesting_fail_fast_in_both_files() {
    let dir = TempDir::new("yaml-bombs");
    let deep = format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let cases = [
        ("--config.file", billion_laughs("defaults:")),
        ("--config.file", format!("targets: {deep}")),
        ("--web.config.file", billion_laughs("basic_auth_users:")),
        ("--web.config.file", format!("tls_server_config: {deep}")),
    ];
    for (flag, text) in cases {
        write(&dir.0, "file.yml", &text);
        let started = std::time::Instant::now();
        let mut cmd = crate::helpers::exporter_command(&dir);
        if flag == "--web.config.file" {
            cmd.args(["--chime.account-id", "a"]);
        }
        let out = cmd
            .args(["--web.listen-address", "127.0.0.1:0", flag])
            .arg(dir.0.join("file.yml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{flag}: took {:?}",
            started.elapsed()
        );
        assert!(stderr.contains(flag), "{stderr}");
        assert!(stderr.contains("line "), "{flag}: no line in {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("overflow"),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_allowed_sans_or_lowering_min_version_is_refused_while_running() {
    let mtls =
        format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n");
    let strict =
        |san: &str| format!("{mtls}  min_version: TLS13\n  client_allowed_sans: [{san}]\n");
    let s = setup(&strict(ALLOWED_SAN)).await;
    let addr = s.exporter.addr;
    let ca_pem = s.ca.pem();
    let (good_c, good_k) = client_leaf(&s.ca, vec![dns(ALLOWED_SAN)]);
    let (other_c, other_k) = client_leaf(&s.ca, vec![dns("grafana.monitoring.svc")]);
    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let tls12: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    let get = |cert: &str, key: &str, versions| {
        https_get(
            addr,
            tuned_client(&ca_pem, (cert, key), versions, &[]),
            "/metrics",
            &[],
        )
    };
    let reload_ok = |body: &str| {
        crate::helpers::Metrics::parse(body)
            .get("chime_exporter_web_config_last_reload_successful", &[])
    };
    let (resp, _) = get(&good_c, &good_k, tls13).await.unwrap();
    assert_eq!(reload_ok(&resp.body), Some(1.0));
    for (what, text) in [
        (
            "without client_allowed_sans",
            format!("{mtls}  min_version: TLS13\n"),
        ),
        (
            "with min_version lowered",
            format!("{mtls}  min_version: TLS12\n  client_allowed_sans: [{ALLOWED_SAN}]\n"),
        ),
    ] {
        write(&s.dir.0, "web.yml", &text);
        let other = get(&other_c, &other_k, tls13).await;
        assert_alert(
            &other,
            "AccessDenied",
            &format!("{what}: a SAN not allowed"),
        );
        let old = get(&good_c, &good_k, tls12).await;
        assert_alert(&old, "ProtocolVersion", &format!("{what}: TLS 1.2"));
        let (resp, _) = get(&good_c, &good_k, tls13).await.unwrap();
        assert_eq!(resp.status, 200, "{what}");
        assert_eq!(reload_ok(&resp.body), Some(0.0), "{what}: refusal shows");
    }
    assert!(s.exporter.stderr().contains("client_allowed_sans"));
    assert!(s.exporter.stderr().contains("min_version"));
    // An allowed SAN for another applies, as a user for another does.
    write(&s.dir.0, "web.yml", &strict("grafana.monitoring.svc"));
    let (resp, _) = get(&other_c, &other_k, tls13).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(reload_ok(&resp.body), Some(1.0));
    let old = get(&good_c, &good_k, tls13).await;
    assert_alert(&old, "AccessDenied", "the SAN no longer allowed");
}

/// A client with exactly these TLS 1.2 cipher suites and curves.
fn picky_client(
    ca_pem: &str,
    suites: Vec<rustls::SupportedCipherSuite>,
    groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites = suites;
    provider.kx_groups = groups;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cipher_suites_curves_and_server_order_are_honoured() {
    use rustls::crypto::aws_lc_rs::{cipher_suite as cs, kx_group};
    let s = setup(&format!(
        "{TLS}  max_version: TLS12\n  cipher_suites:\n    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n  prefer_server_cipher_suites: true\n  curve_preferences:\n    - CurveP384\n"
    ))
    .await;
    let ca_pem = s.ca.pem();
    let connect = |config| async move {
        let tcp = tokio::net::TcpStream::connect(s.exporter.addr)
            .await
            .unwrap();
        tokio_rustls::TlsConnector::from(config)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
    };
    // The client prefers AES-128 and X25519 first; the server's order and
    // its only curve win.
    let tls = connect(picky_client(
        &ca_pem,
        vec![
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ],
        vec![kx_group::X25519, kx_group::SECP384R1],
    ))
    .await
    .unwrap();
    let conn = tls.get_ref().1;
    assert_eq!(
        conn.negotiated_cipher_suite().map(|c| c.suite()),
        Some(cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384.suite())
    );
    assert_eq!(
        conn.negotiated_key_exchange_group().map(|g| g.name()),
        Some(kx_group::SECP384R1.name())
    );
    // A suite or a curve outside the lists: no handshake.
    let suite = connect(picky_client(
        &ca_pem,
        vec![cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256],
        vec![kx_group::SECP384R1],
    ))
    .await;
    assert!(suite.is_err(), "a cipher suite not in cipher_suites");
    let curve = connect(picky_client(
        &ca_pem,
        vec![cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384],
        vec![kx_group::X25519, kx_group::SECP256R1],
    ))
    .await;
    assert!(curve.is_err(), "a curve not in curve_preferences");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_on_by_default_and_off_when_asked() {
    for (config, expect) in [
        (TLS.to_owned(), &b"h2"[..]),
        (
            format!("{TLS}http_server_config:\n  http2: false\n"),
            &b"http/1.1"[..],
        ),
    ] {
        let s = setup(&config).await;
        let mut client = (*client_config(&s.ca.pem(), None)).clone();
        client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect(s.exporter.addr)
            .await
            .unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(expect), "{config}");
    }
}

/// hyper's HTTP/2 server has no timeout for the preface or an idle
/// connection, and its flow control stops the body's and the socket's
/// write deadlines from firing. An HTTP/2 connection that asks nothing, or
/// a stream whose window the client never opens, must not hold a
/// `--web.max-connections` slot (and a snapshot of the exposition) forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_connections_that_idle_or_never_read_are_closed() {
    use tokio::io::AsyncReadExt;
    let s = setup(TLS).await;
    let connect = || async {
        let mut client = (*client_config(&s.ca.pem(), None)).clone();
        client.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(s.exporter.addr)
            .await
            .unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        tls
    };
    // Idle: the handshake, then not even the preface.
    let idle = async {
        let mut tls = connect().await;
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(25), tls.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "an idle HTTP/2 connection stayed open 25 s");
        started.elapsed()
    };
    // Stalled: a /metrics stream whose window stays 0.
    let stalled = async {
        let tls = connect().await;
        let (mut sender, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .initial_stream_window_size(0)
                .handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        let connection = tokio::spawn(conn);
        let req = http::Request::get("https://localhost/metrics")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let started = std::time::Instant::now();
        // The default budget (--chime.timeout, 10 s) plus the write margin
        // (20 s) is as long as any response may take.
        let ended = tokio::time::timeout(Duration::from_secs(45), connection).await;
        assert!(
            ended.is_ok(),
            "a stalled HTTP/2 stream held its connection 45 s"
        );
        drop(resp);
        started.elapsed()
    };
    let (idle_for, stalled_for) = tokio::join!(idle, stalled);
    assert!(
        idle_for >= Duration::from_secs(9),
        "closed too early: {idle_for:?}"
    );
    assert!(
        stalled_for >= Duration::from_secs(25),
        "closed too early: {stalled_for:?}"
    );
}
