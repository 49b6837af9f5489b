//! Untrusted input never panics: property tests over what scrapers send
//! (paths, headers, credentials) and what operators write (flags, web
//! config), and raw garbage thrown at the running server.

use std::path::Path;
use std::time::Duration;

use chime_exporter::config::Cli;
use chime_exporter::http::{route_of, scrape_budget, Route};
use clap::Parser;
use http::{HeaderValue, Method};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn scrape_budget_never_exceeds_the_default(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let default = Duration::from_secs(10);
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let budget = scrape_budget(Some(&value), Duration::from_millis(500), default);
            prop_assert!(budget <= default);
        }
    }

    #[test]
    fn numeric_timeout_headers_give_the_expected_budget(secs in 0.0f64..1000.0) {
        let value = HeaderValue::from_str(&format!("{secs}")).unwrap();
        let budget = scrape_budget(Some(&value), Duration::from_millis(500), Duration::from_secs(10));
        if secs > 0.0 {
            let want = Duration::from_secs_f64(secs).saturating_sub(Duration::from_millis(500)).min(Duration::from_secs(10));
            prop_assert_eq!(budget, want);
        }
    }

    #[test]
    fn any_path_routes_somewhere(
        path in "(/|/metrics|/probe|/-/reload|/-/healthy|/-/ready|/-/[a-z]{0,8}|/[a-z/?=&%-]{0,20}|.{0,30})",
        method in "(GET|HEAD|POST|PUT|DELETE|[A-Z]{1,10})",
    ) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let route = route_of(&method, &path, "/metrics");
        let read = method == Method::GET || method == Method::HEAD;
        let expected = match path.as_str() {
            "/-/reload" if method == Method::POST => Route::Reload,
            "/-/reload" => Route::ReloadNeedsPost,
            "/metrics" | "/" | "/-/healthy" | "/-/ready" | "/probe" if !read => Route::MethodNotAllowed,
            "/metrics" => Route::Metrics,
            "/" => Route::Landing,
            "/-/healthy" => Route::Healthy,
            "/-/ready" => Route::Ready,
            "/probe" => Route::Probe,
            _ => Route::NotFound,
        };
        prop_assert_eq!(route, expected);
    }

    #[test]
    fn any_authorization_header_is_handled(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let _ = chime_exporter::http::parse_basic(&value);
        }
    }

    #[test]
    fn any_request_uri_maps_to_a_bounded_operation(uri in ".*") {
        let op = chime_exporter::api::operation_of(&uri).0.as_str();
        prop_assert!(["ListBots", "GetBot", "ListAccounts", "GetAccount", "other"].contains(&op));
        let _ = chime_exporter::api::percent_decode(&uri);
    }

    #[test]
    fn any_web_config_text_is_accepted_or_rejected(text in ".{0,200}") {
        let _ = chime_exporter::config::parse_web_config(Path::new("/nonexistent/web.yml"), &text);
    }

    #[test]
    fn structured_web_config_garbage(
        key in "(tls_server_config|http_server_config|basic_auth_users|x)",
        sub in "(cert_file|key_file|client_auth_type|min_version|headers|u)",
        value in "[ -~]{0,20}",
    ) {
        let text = format!("{key}:\n  {sub}: {value}\n");
        let _ = chime_exporter::config::parse_web_config(Path::new("/nonexistent/web.yml"), &text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_flags_are_accepted_or_rejected(
        flags in proptest::collection::vec(
            (
                "--(chime\\.(account-id|region|endpoint-url|max-results|cache-ttl|timeout|error-backoff|concurrency|rate-limit)|web\\.(listen-address|telemetry-path|timeout-offset|max-requests)|log\\.(level|format)|demo|x)",
                ".{0,16}",
            ),
            0..6,
        )
    ) {
        let mut argv = vec!["chime_exporter".to_owned()];
        for (flag, value) in flags {
            argv.push(flag);
            argv.push(value);
        }
        if let Ok(cli) = Cli::try_parse_from(&argv) {
            let _ = cli.into_config();
        }
    }
}

/// Raw bytes that are not HTTP, half requests, huge headers, bad methods:
/// the server answers 4xx or closes, and stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_wire_does_not_hurt_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = chime_exporter::fake::FakeChime::start().await.unwrap();
    fake.put_account(chime_exporter::fake::FakeAccount::new("g", "Garbage"));
    let exporter = crate::helpers::Exporter::start(&fake.url(), &["--chime.account-id", "g"]);
    let mut rng = fastrand::Rng::with_seed(99);
    let mut cases: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\x03\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/9.9\r\n\r\n".to_vec(),
        b"GET /%zz%00 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(200_000)).into_bytes(),
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: \xff\xfe\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
    ];
    for _ in 0..40 {
        let len = rng.usize(1..400);
        cases.push((0..len).map(|_| rng.u8(..)).collect());
    }
    for case in cases {
        let Ok(mut stream) = tokio::net::TcpStream::connect(exporter.addr).await else {
            panic!("server stopped accepting");
        };
        let _ = stream.write_all(&case).await;
        let _ = stream.shutdown().await;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut buf)).await;
        if let Some(status) = String::from_utf8_lossy(&buf)
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
        {
            assert!(status < 500, "server error for garbage: {status}");
        }
    }
    let healthy = crate::helpers::http(exporter.addr, "GET", "/-/healthy", &[]).await;
    assert_eq!(healthy.status, 200);
    assert_eq!(exporter.get("/metrics").await.status, 200);
    assert!(!exporter.output().contains("panicked"));
}
