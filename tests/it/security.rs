//! Safe by default: what a client on the network can do, tried as an
//! attacker would. Every test here failed on the exporter before the issue
//! "Safe by default" (see the note on that issue).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};

use crate::helpers::{
    basic_auth, exchange, exporter_command, http, wait_for, Exporter, Metrics, TempDir,
};
use crate::web::{client_config, https_get, setup, write, TLS};

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The most calls the fake saw in any window of `window`.
fn busiest(arrivals: &[Instant], window: Duration) -> usize {
    arrivals
        .iter()
        .enumerate()
        .map(|(i, start)| {
            arrivals[i..]
                .iter()
                .take_while(|t| t.duration_since(*start) < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

// 1. /probe cannot starve collection or reach beyond the exporter's scope.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_flood_neither_starves_collection_nor_reaches_other_accounts() {
    let _alone = crate::helpers::alone();
    const TTL: f64 = 2.0;
    const RATE: f64 = 20.0;
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(21);
    let watched = ["w1", "w2", "w3"];
    for id in watched {
        fake.put_account(FakeAccount::new(id, id).with_generated_bots(&mut rng, 2, 0));
    }
    fake.put_account(FakeAccount::new("other", "Other").with_generated_bots(&mut rng, 2, 0));
    let other_bot = fake
        .with_account("other", |a| a.bots[0].bot_id.clone())
        .unwrap();
    fake.add_fault(FaultRule::new(Fault::Latency(Duration::from_millis(20))));
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "w1,w2,w3",
            "--chime.cache-ttl",
            "2s",
            "--chime.error-backoff",
            "1s",
            "--chime.rate-limit",
            "20",
            "--chime.concurrency",
            "4",
        ],
    );
    exporter
        .metrics_until(Duration::from_secs(20), "all watched accounts up", |m| {
            m.sum("chime_account_up", &[]) == 3.0
        })
        .await;

    // An account this exporter does not watch: refused, no API call.
    let r = http(
        exporter.addr,
        "GET",
        &format!("/probe?account_id=other&bot_id={other_bot}"),
        &[],
    )
    .await;
    assert!((400..500).contains(&r.status), "{} {}", r.status, r.body);
    assert!(r.body.contains("not watched"), "{}", r.body);
    // Ids outside the conservative format: refused before anything else.
    let calls = fake.total_requests();
    for bad in ["a%2Fb", "a%20b", &"x".repeat(65), "%C3%A9t%C3%A9", "a.b"] {
        let r = http(
            exporter.addr,
            "GET",
            &format!("/probe?account_id=w1&bot_id={bad}"),
            &[],
        )
        .await;
        assert_eq!(r.status, 400, "bot_id={bad}: {}", r.body);
    }
    assert_eq!(
        fake.total_requests(),
        calls,
        "refused probes called the API"
    );
    assert_eq!(fake.requests("GetBot", "other"), 0);

    // The flood: 10,000 distinct probes of a watched account, 64 at a time,
    // while a monitor scrapes and records each account's data age.
    let started_at = fake.arrivals().len();
    let flood_started = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let monitor = {
        let (addr, done) = (exporter.addr, std::sync::Arc::clone(&done));
        tokio::spawn(async move {
            let mut worst = 0.0f64;
            let mut scrapes = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let m = Metrics::parse(&http(addr, "GET", "/metrics", &[]).await.body);
                for id in ["w1", "w2", "w3"] {
                    let last = m
                        .get(
                            "chime_account_last_success_timestamp_seconds",
                            &[("account_id", id)],
                        )
                        .unwrap_or(0.0);
                    worst = worst.max(unix_now() - last);
                }
                scrapes += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (worst, scrapes)
        })
    };
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (addr, next) = (exporter.addr, std::sync::Arc::clone(&next));
        workers.spawn(async move {
            let mut seen: Vec<(u16, Duration)> = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                if i >= 10_000 {
                    return seen;
                }
                let started = Instant::now();
                let r = http(
                    addr,
                    "GET",
                    &format!("/probe?account_id=w1&bot_id=flood-{i:05}"),
                    &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
                )
                .await;
                seen.push((r.status, started.elapsed()));
            }
        });
    }
    let mut answers = Vec::new();
    while let Some(seen) = workers.join_next().await {
        answers.extend(seen.unwrap());
    }
    // Collection goes on after the flood too; watch one more TTL.
    tokio::time::sleep(Duration::from_secs(3)).await;
    done.store(true, std::sync::atomic::Ordering::Release);
    let (worst_age, scrapes) = monitor.await.unwrap();
    let flood = flood_started.elapsed();

    assert_eq!(answers.len(), 10_000);
    let refused: Vec<Duration> = answers
        .iter()
        .filter(|(s, _)| *s == 503)
        .map(|(_, d)| *d)
        .collect();
    let served = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(served + refused.len(), 10_000, "only 200 and 503 answers");
    assert!(
        refused.len() > 5_000,
        "the flood's excess was refused: {} of 10000",
        refused.len()
    );
    let slowest_refusal = refused.iter().max().copied().unwrap_or_default();
    assert!(
        slowest_refusal < Duration::from_secs(2),
        "a refusal took {slowest_refusal:?}"
    );
    // Collection kept every account fresh: within one TTL (plus its jitter)
    // and one refresh.
    assert!(scrapes > 10, "{scrapes} monitor scrapes");
    assert!(
        worst_age <= TTL * 1.1 + 3.0,
        "data went {worst_age:.1} s stale during the flood ({flood:?})"
    );
    // And the API limits held throughout.
    assert!(
        fake.max_in_flight() <= 4,
        "{} calls in flight",
        fake.max_in_flight()
    );
    let arrivals = fake.arrivals();
    let during = &arrivals[started_at..];
    let worst = busiest(during, Duration::from_secs(1));
    assert!(
        worst as f64 <= RATE + 3.0,
        "{worst} calls in one second (limit {RATE})"
    );
    eprintln!(
        "probe flood: {served} served, {} refused (slowest {slowest_refusal:?}) in {flood:?}; worst data age {worst_age:.1} s; {} GetBot calls, at most {worst} calls/s",
        refused.len(),
        fake.requests("GetBot", "w1")
    );
}

// 2. The web config can only get stricter while running.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_or_weakened_web_config_does_not_open_the_exporter() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let config = format!("{TLS}basic_auth_users:\n  prometheus: '{hash}'\n");
    let s = setup(&config).await;
    let client = || client_config(&s.ca.pem(), None);
    let auth = basic_auth("prometheus", "s3cret");
    let with_auth = [("Authorization", auth.as_str())];
    let (ok, _) = https_get(s.exporter.addr, client(), "/metrics", &with_auth)
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let reload_ok = |body: &str| {
        Metrics::parse(body).get("chime_exporter_web_config_last_reload_successful", &[])
    };
    assert_eq!(reload_ok(&ok.body), Some(1.0));

    // What a non-atomic save or `cat >` leaves for a moment: an empty file,
    // then a truncated one; then one without TLS; then one without users.
    for (what, text) in [
        ("empty", String::new()),
        (
            "truncated",
            "tls_server_config:\n  cert_file: server.crt\n".to_owned(),
        ),
        (
            "without TLS",
            format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
        ),
        ("without users", TLS.to_owned()),
    ] {
        write(&s.dir.0, "web.yml", &text);
        let plain = http(s.exporter.addr, "GET", "/metrics", &[]).await;
        assert_ne!(plain.status, 200, "{what}: plain HTTP got the metrics");
        let (anonymous, _) = https_get(s.exporter.addr, client(), "/metrics", &[])
            .await
            .unwrap();
        assert_eq!(
            anonymous.status, 401,
            "{what}: no credentials got {}",
            anonymous.status
        );
        let (metrics, _) = https_get(s.exporter.addr, client(), "/metrics", &with_auth)
            .await
            .unwrap();
        assert_eq!(metrics.status, 200, "{what}");
        assert_eq!(
            reload_ok(&metrics.body),
            Some(0.0),
            "{what}: the failed reload shows"
        );
    }
    assert!(
        s.exporter.stderr().contains("refused"),
        "a refused change is logged"
    );

    // An ordinary change applies: a second user, the first one kept.
    let second = bcrypt::hash("other", 4).unwrap();
    write(
        &s.dir.0,
        "web.yml",
        &format!("{TLS}basic_auth_users:\n  prometheus: '{hash}'\n  second: '{second}'\n"),
    );
    let auth2 = basic_auth("second", "other");
    let (r, _) = https_get(
        s.exporter.addr,
        client(),
        "/metrics",
        &[("Authorization", &auth2)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "the added user is accepted");
    assert_eq!(reload_ok(&r.body), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_user_is_refused_on_an_open_connection() {
    let a = bcrypt::hash("pa", 4).unwrap();
    let b = bcrypt::hash("pb", 4).unwrap();
    let s = setup(&format!(
        "basic_auth_users:\n  alice: '{a}'\n  bob: '{b}'\n"
    ))
    .await;
    let mut conn = tokio::net::TcpStream::connect(s.exporter.addr)
        .await
        .unwrap();
    let alice = basic_auth("alice", "pa");
    let first = exchange(&mut conn, "GET", "/-/healthy", &[("Authorization", &alice)])
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    // Alice is removed; Bob stays.
    write(
        &s.dir.0,
        "web.yml",
        &format!("basic_auth_users:\n  bob: '{b}'\n"),
    );
    let second = exchange(&mut conn, "GET", "/-/healthy", &[("Authorization", &alice)]).await;
    match second {
        Ok(r) => assert_eq!(
            r.status, 401,
            "a removed user kept access on an open connection"
        ),
        Err(e) => panic!("the connection should stay usable and answer 401: {e}"),
    }
    let bob = basic_auth("bob", "pb");
    let third = exchange(&mut conn, "GET", "/-/healthy", &[("Authorization", &bob)])
        .await
        .unwrap();
    assert_eq!(third.status, 200);
}

/// Runs the binary until it exits, at most `limit`.
fn exit_of(mut cmd: std::process::Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
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
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, "still running".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_client_ca_without_a_policy_or_an_unknown_header_stops_the_start() {
    let dir = TempDir::new("strict-web");
    let ca = crate::web::new_ca("ca");
    let (cert, key) = crate::web::leaf(&ca, "server", false);
    write(&dir.0, "ca.crt", &ca.pem());
    write(&dir.0, "server.crt", &cert);
    write(&dir.0, "server.key", &key);
    for (text, expect) in [
        (
            format!("{TLS}  client_ca_file: ca.crt\n"),
            "client_auth_type",
        ),
        (
            "http_server_config:\n  headers:\n    X-Custom-Header: hello\n".to_owned(),
            "X-Custom-Header",
        ),
    ] {
        write(&dir.0, "web.yml", &text);
        let mut cmd = exporter_command(&dir);
        cmd.args([
            "--chime.account-id",
            "a",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
        ])
        .arg(dir.0.join("web.yml"));
        let (code, stderr) = exit_of(cmd, Duration::from_secs(10));
        assert_eq!(code, Some(2), "{text}: {stderr}");
        assert!(stderr.contains(expect), "{text}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_web_config_is_logged_once_not_per_connection() {
    let hash = bcrypt::hash("pw", 4).unwrap();
    let s = setup(&format!("basic_auth_users:\n  u: '{hash}'\n")).await;
    let auth = basic_auth("u", "pw");
    std::fs::remove_file(s.dir.0.join("web.yml")).unwrap();
    for _ in 0..20 {
        let r = http(
            s.exporter.addr,
            "GET",
            "/-/healthy",
            &[("Authorization", &auth)],
        )
        .await;
        assert_eq!(r.status, 200, "the last good config stays");
    }
    let logs = s.exporter.stderr();
    let mentions = logs
        .lines()
        .filter(|l| l.contains("web.yml") && l.contains("level=error"))
        .count();
    assert_eq!(mentions, 1, "{logs}");
    // When it comes back, that is logged too.
    write(
        &s.dir.0,
        "web.yml",
        &format!("basic_auth_users:\n  u: '{hash}'\n"),
    );
    let r = http(
        s.exporter.addr,
        "GET",
        "/-/healthy",
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, 200);
}

// 3. Wrong passwords cannot stall the server.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_wait_in_a_bounded_queue() {
    // A real cost: each wrong password takes a bcrypt of tens of ms.
    let hash = bcrypt::hash("right", 10).unwrap();
    let s = setup(&format!("basic_auth_users:\n  prometheus: '{hash}'\n")).await;
    let right = basic_auth("prometheus", "right");
    assert_eq!(
        http(
            s.exporter.addr,
            "GET",
            "/-/healthy",
            &[("Authorization", &right)]
        )
        .await
        .status,
        200
    );
    let mut attackers = tokio::task::JoinSet::new();
    for c in 0..64 {
        let addr = s.exporter.addr;
        attackers.spawn(async move {
            let mut statuses = BTreeMap::new();
            for i in 0..10 {
                let wrong = basic_auth("prometheus", &format!("wrong-{c}-{i}"));
                let r = http(addr, "GET", "/-/healthy", &[("Authorization", &wrong)]).await;
                *statuses.entry(r.status).or_insert(0) += 1;
            }
            statuses
        });
    }
    // Meanwhile, the real scraper is answered from the cache.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let r = http(
            s.exporter.addr,
            "GET",
            "/-/healthy",
            &[("Authorization", &right)],
        )
        .await;
        assert_eq!(r.status, 200);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    while let Some(s) = attackers.join_next().await {
        for (status, n) in s.unwrap() {
            *statuses.entry(status).or_insert(0) += n;
        }
    }
    eprintln!("wrong passwords: {statuses:?}; slowest right scrape {slowest:?}");
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![401, 429],
        "{statuses:?}"
    );
}

// 4. Lifecycle endpoints are opt-in.

async fn config_file_exporter(extra: &[&str]) -> (FakeChime, Exporter, TempDir) {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("r1", "R1"));
    let dir = TempDir::new("lifecycle");
    let file = dir.0.join("chime.yml");
    std::fs::write(&file, "targets:\n  - name: main\n    account_ids: [r1]\n").unwrap();
    let mut args = vec!["--config.file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let exporter = Exporter::start(&fake.url(), &args);
    exporter.ready(Duration::from_secs(20)).await;
    (fake, exporter, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_over_http_is_off_unless_enabled() {
    let (fake, exporter, _dir) = config_file_exporter(&[]).await;
    let before = fake.requests("GetAccount", "r1");
    for _ in 0..5 {
        let r = http(exporter.addr, "POST", "/-/reload", &[]).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("--web.enable-lifecycle"), "{}", r.body);
    }
    // SIGHUP still works.
    exporter.signal(libc::SIGHUP);
    exporter
        .metrics_until(Duration::from_secs(10), "the SIGHUP reload", |_| {
            exporter.stderr().contains("configuration reloaded")
                || exporter.stderr().contains("configuration unchanged")
        })
        .await;
    assert_eq!(
        fake.requests("GetAccount", "r1"),
        before,
        "an unchanged file rebuilt targets"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_refuses_cross_site_requests_and_tells_clients_nothing() {
    let (fake, exporter, dir) = config_file_exporter(&["--web.enable-lifecycle"]).await;
    let host = exporter.addr.to_string();
    let own_origin = format!("http://{host}");
    for (headers, status) in [
        (vec![("Sec-Fetch-Site", "cross-site")], 403),
        (vec![("Origin", "http://evil.example")], 403),
        (vec![("Origin", "null")], 403),
        (
            vec![
                ("Sec-Fetch-Site", "same-origin"),
                ("Origin", own_origin.as_str()),
            ],
            200,
        ),
        (vec![], 200),
    ] {
        let r = http(exporter.addr, "POST", "/-/reload", &headers).await;
        assert_eq!(r.status, status, "{headers:?}: {}", r.body);
    }
    // Thirty posts of an unchanged file rebuild nothing and call nothing.
    let calls = fake.total_requests();
    for _ in 0..30 {
        assert_eq!(
            http(exporter.addr, "POST", "/-/reload", &[]).await.status,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fake.total_requests(),
        calls,
        "an unchanged file caused API calls"
    );
    // A broken file: a generic answer; the details go to the log.
    let file = dir.0.join("chime.yml");
    std::fs::write(&file, "targets:\n  - name: main\n    bogus_key: 1\n").unwrap();
    let r = http(exporter.addr, "POST", "/-/reload", &[]).await;
    assert_eq!(r.status, 500);
    assert!(
        !r.body.contains("bogus_key") && !r.body.contains(file.to_str().unwrap()),
        "{}",
        r.body
    );
    assert!(
        exporter.stderr().contains("bogus_key"),
        "the details are logged"
    );
}

// 5. Slow readers and connection floods.

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_are_dropped_and_connections_are_capped() {
    use tokio::io::AsyncWriteExt;
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    fake.put_account(FakeAccount::new("big", "Big").with_generated_bots(&mut rng, 20_000, 3));
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "big",
            "--chime.timeout",
            "2s",
            "--web.max-connections",
            "40",
        ],
    );
    exporter
        .metrics_until(Duration::from_secs(60), "big up", |m| {
            m.get("chime_bots", &[("account_id", "big")]) == Some(20_000.0)
        })
        .await;
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", exporter.pid()))
            .unwrap()
            .count()
    };
    let idle_fds = fds();
    // 20 clients ask for the whole plain exposition and never read it.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        stalled.push(s);
    }
    wait_for(
        Duration::from_secs(10),
        "the stalled connections open",
        || fds() >= idle_fds + 20,
    )
    .await;
    // Normal scrapes keep answering meanwhile.
    for _ in 0..3 {
        let r = http(
            exporter.addr,
            "GET",
            "/metrics",
            &[("Accept-Encoding", "gzip")],
        )
        .await;
        assert_eq!(r.status, 200);
    }
    // The stalled ones are dropped once their write deadline passes (the
    // scrape budget, 2 s here, plus a margin), well within a minute.
    let started = Instant::now();
    wait_for(
        Duration::from_secs(50),
        "the stalled connections dropped",
        || fds() <= idle_fds + 2,
    )
    .await;
    eprintln!("slow readers dropped after {:?}", started.elapsed());
    drop(stalled);

    // Past --web.max-connections, a new connection is refused at once.
    let mut open = Vec::new();
    for _ in 0..40 {
        open.push(tokio::net::TcpStream::connect(exporter.addr).await.unwrap());
    }
    wait_for(Duration::from_secs(10), "40 connections held", || {
        fds() >= idle_fds + 40
    })
    .await;
    let started = Instant::now();
    let refused = http(exporter.addr, "GET", "/-/healthy", &[]).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(open);
    wait_for(Duration::from_secs(10), "the connections closed", || {
        fds() <= idle_fds + 2
    })
    .await;
    assert_eq!(exporter.get("/-/healthy").await.status, 200);
}

// 6. The API side.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_discovery_backs_off_exponentially() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("d1", "D1"));
    fake.add_fault(
        FaultRule::new(Fault::AwsError {
            status: 403,
            code: "ForbiddenException".into(),
        })
        .operation("ListAccounts"),
    );
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.error-backoff",
            "500ms",
            "--chime.discovery-ttl",
            "1h",
        ],
    );
    wait_for(Duration::from_secs(30), "six ListAccounts calls", || {
        fake.requests("ListAccounts", "") >= 6
    })
    .await;
    let times: Vec<Instant> = fake.calls("ListAccounts").iter().map(|c| c.at).collect();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    // Each wait at least 1.6 times the one before (doubling, less the
    // backoff's jitter of up to 25 %).
    for w in gaps.windows(2) {
        assert!(
            w[1] >= 1.6 * w[0],
            "waits between ListAccounts calls: {gaps:?}"
        );
    }
    drop(exporter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_class_is_tried_as_often_as_documented() {
    let fake = FakeChime::start().await.unwrap();
    let classes: [(&str, u16, &str, u32); 7] = [
        ("c400", 400, "BadRequestException", 1),
        ("c401", 401, "UnauthorizedClientException", 1),
        ("c403", 403, "ForbiddenException", 1),
        ("c404", 404, "NotFoundException", 1),
        ("c429", 429, "ThrottledClientException", 3),
        ("c500", 500, "ServiceFailureException", 3),
        ("c503", 503, "ServiceUnavailableException", 3),
    ];
    let mut args = vec![
        "--chime.cache-ttl".to_owned(),
        "1h".into(),
        "--chime.error-backoff".into(),
        "1h".into(),
    ];
    for (id, status, code, _) in classes {
        fake.put_account(FakeAccount::new(id, id));
        fake.add_fault(
            FaultRule::new(Fault::AwsError {
                status,
                code: code.into(),
            })
            .account(id)
            .operation("ListBots"),
        );
        args.extend(["--chime.account-id".to_owned(), id.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exporter = Exporter::start(&fake.url(), &args);
    exporter.ready(Duration::from_secs(60)).await;
    for (id, status, _, attempts) in classes {
        let calls: Vec<Option<u32>> = fake
            .calls("ListBots")
            .iter()
            .filter(|c| c.account_id == id)
            .map(|c| c.attempt)
            .collect();
        let expected: Vec<Option<u32>> = (1..=attempts).map(Some).collect();
        assert_eq!(calls, expected, "{status}: attempts of one fetch");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_signed_for_us_east_1_whatever_the_region() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("g1", "Global"));
    let exporter = Exporter::start(
        &fake.url(),
        &["--chime.account-id", "g1", "--chime.region", "eu-west-1"],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(20), "g1 fetched or failed", |m| {
            m.get("chime_account_up", &[("account_id", "g1")]) == Some(1.0)
                || m.sum("chime_api_errors_total", &[("account_id", "g1")]) > 0.0
        })
        .await;
    assert_eq!(
        m.get("chime_account_up", &[("account_id", "g1")]),
        Some(1.0),
        "signed for the wrong region:\n{}",
        m.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_do_not_stop_silently_in_a_throttle_storm() {
    let _alone = crate::helpers::alone();
    let fake = FakeChime::start().await.unwrap();
    let mut args: Vec<String> = [
        "--chime.cache-ttl",
        "1s",
        "--chime.error-backoff",
        "1s",
        "--chime.rate-limit",
        "100",
        "--chime.concurrency",
        "8",
        "--chime.timeout",
        "20s",
    ]
    .map(str::to_owned)
    .to_vec();
    for i in 0..200 {
        let id = format!("storm-{i:03}");
        fake.put_account(FakeAccount::new(&id, &id));
        args.extend(["--chime.account-id".to_owned(), id]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exporter = Exporter::start(&fake.url(), &args);
    exporter
        .metrics_until(Duration::from_secs(60), "all accounts up", |m| {
            m.sum("chime_account_up", &[]) == 200.0
        })
        .await;
    // Half of all calls throttled, for 60 s, while Prometheus scrapes.
    fake.add_fault(FaultRule::new(Fault::Throttle).probability(0.5));
    let storm = Instant::now();
    let first_call = fake.calls("ListBots").len();
    while storm.elapsed() < Duration::from_secs(60) {
        let _ = exporter.get("/metrics").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    fake.clear_faults();
    let calls = fake.calls("ListBots");
    let last = Instant::now() - Duration::from_secs(20);
    let late: Vec<_> = calls[first_call..]
        .iter()
        .filter(|c| c.at >= last)
        .collect();
    let first_tries = late.iter().filter(|c| c.attempt == Some(1)).count();
    let retries = late
        .iter()
        .filter(|c| c.attempt.is_some_and(|a| a > 1))
        .count();
    eprintln!("last 20 s of the storm: {first_tries} first tries, {retries} retries");
    assert!(first_tries > 100, "{first_tries} first tries");
    // Half the first tries throttled are retried, half of those again: 0.75
    // retries per first try while retries go on, 0 once they stopped.
    assert!(
        retries as f64 >= 0.5 * first_tries as f64,
        "retries stopped: {retries} retries for {first_tries} first tries"
    );
    let m = exporter.metrics().await;
    assert_eq!(
        m.sum("chime_api_retries_exhausted_total", &[]),
        0.0,
        "{}",
        m.text
    );
}
