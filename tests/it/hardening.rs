//! The HTTP side under abuse, and secrets under every fault.

use std::time::{Duration, Instant};

use crate::helpers::Exporter;
use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_cannot_pin_connections() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("s", "Slow"));
    let exporter = Exporter::start(&fake.url(), &["--chime.account-id", "s"]);
    // Slowloris: half a request, then nothing.
    let mut slow = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Idle keep-alive: one request, then nothing.
    let mut idle = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
    idle.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    for (name, stream) in [("slow", &mut slow), ("idle", &mut idle)] {
        let closed = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "{name} connection still open after 20 s");
    }
    // Closed by the 10 s header read timeout, not before.
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(exporter.get("/-/healthy").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_above_max_requests_get_503_at_once() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("busy", "Busy"));
    // The API hangs and the account has no data, so scrapes wait their budget.
    fake.add_fault(FaultRule::new(Fault::Hang));
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "busy",
            "--web.max-requests",
            "3",
            "--chime.timeout",
            "30s",
        ],
    );
    // Three scrapes that wait their 3.5 s budget for the hanging account.
    // (One that finds the slots taken by a probe below tries again.)
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let addr = exporter.addr;
        waiting.push(tokio::spawn(async move {
            loop {
                let resp = crate::helpers::http(
                    addr,
                    "GET",
                    "/metrics",
                    &[("X-Prometheus-Scrape-Timeout-Seconds", "4")],
                )
                .await;
                if resp.status != 503 {
                    return resp;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    // Once the three scrapes hold their slots, the next one is refused at
    // once. (Until then a probe scrape takes a free slot and gives up
    // after its 0.5 s budget.)
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let started = Instant::now();
        let resp = crate::helpers::http(
            exporter.addr,
            "GET",
            "/metrics",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "0.6")],
        )
        .await;
        if resp.status == 503 {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "503 was not immediate: {:?}",
                started.elapsed()
            );
            break;
        }
        assert_eq!(resp.status, 200);
        assert!(Instant::now() < deadline, "never refused");
    }
    // Health checks are not scrapes: they still answer.
    assert_eq!(exporter.get("/-/healthy").await.status, 200);
    for w in waiting {
        assert_eq!(w.await.unwrap().status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_written_under_any_fault() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(1234);
    for id in ["sa", "sb"] {
        fake.put_account(FakeAccount::new(id, id).with_generated_bots(&mut rng, 130, 3));
    }
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "sa",
            "--chime.account-id",
            "sb",
            "--chime.cache-ttl",
            "300ms",
            "--chime.error-backoff",
            "200ms",
            "--chime.timeout",
            "1s",
            "--chime.rate-limit",
            "500",
            "--log.level",
            "debug",
        ],
    );
    let aws = |status: u16, code: &str| Fault::AwsError {
        status,
        code: code.to_owned(),
    };
    let faults = [
        Fault::Throttle,
        aws(500, "ServiceFailureException"),
        aws(503, "ServiceUnavailableException"),
        aws(403, "ForbiddenException"),
        aws(401, "UnauthorizedClientException"),
        Fault::ResetConnection,
        Fault::CloseConnection,
        Fault::Hang,
        Fault::TruncatedJson,
        Fault::EmptyBody,
        Fault::NotJson,
        Fault::WrongTypes,
        Fault::ProxyHtml,
        Fault::LoopingToken,
    ];
    let mut bodies = String::new();
    for fault in faults {
        // Half the calls fault, so successes (carrying tokens) and failures
        // interleave; later pages fail too, mid-listing.
        fake.add_fault(FaultRule::new(fault).probability(0.5));
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            bodies.push_str(&exporter.get("/metrics").await.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        fake.clear_faults();
    }
    bodies.push_str(&exporter.get("/metrics").await.body);
    let output = exporter.output();
    assert!(output.contains("level=debug"), "debug logs were on");
    assert!(output.contains("level=warn"), "failures were logged");
    let tokens = fake.security_tokens();
    assert_eq!(tokens.len(), 260);
    for secret in tokens
        .iter()
        .map(String::as_str)
        .chain([crate::helpers::AWS_SECRET])
    {
        assert!(!bodies.contains(secret), "secret in /metrics");
        assert!(!output.contains(secret), "secret in the exporter's output");
    }
    assert!(!output.contains("SECRET-TOKEN") && !bodies.contains("SECRET-TOKEN"));
    assert!(!output.contains("panicked"));
}
