//! "Fits every setup": where the exporter listens (dual-stack, several
//! addresses, systemd's sockets), one log schema in both formats, the
//! format a scraper asks for, what can be left out, and label sets that
//! never change under a series.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::helpers::{
    http, log_field, parse_log_line, Exporter, FakeSts, Metrics, TempDir, OPENMETRICS_ACCEPT,
};
use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listens_dual_stack_on_several_addresses_and_host_names() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("l", "Listen"));
    // The harness adds 127.0.0.1:0 first; then every address and IPv6
    // loopback, a name.
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "l",
            "--web.listen-address",
            ":0",
            "--web.listen-address",
            "localhost:0",
        ],
    );
    // One line per socket, written together at start.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut listening = exporter.listening();
    while listening.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        listening = exporter.listening();
    }
    assert!(listening.len() >= 3, "{listening:?}");
    for addr in &listening {
        let r = http(*addr, "GET", "/-/healthy", &[]).await;
        assert_eq!(r.status, 200, "{addr}");
    }
    // `:0` is one socket on every address: IPv4 and IPv6 loopback both
    // reach it.
    let any = listening
        .iter()
        .find(|a| a.ip().is_unspecified())
        .expect("a listener on every address");
    let port = any.port();
    assert!(
        any.is_ipv6(),
        "one dual-stack IPv6 socket, not 0.0.0.0: {any}"
    );
    for ip in ["127.0.0.1", "::1"] {
        let addr = std::net::SocketAddr::new(ip.parse().unwrap(), port);
        let r = http(addr, "GET", "/-/healthy", &[]).await;
        assert_eq!(r.status, 200, "{addr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_activation_serves_on_the_socket_systemd_passes() {
    use std::os::fd::AsRawFd;
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("s", "Socket"));
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let passed = socket.local_addr().unwrap();
    let exporter = Exporter::start_socket_activated(
        socket.as_raw_fd(),
        &[
            "--chime.endpoint-url",
            &fake.url(),
            "--chime.account-id",
            "s",
            "--web.systemd-socket",
            // Ignored with --web.systemd-socket.
            "--web.listen-address",
            "127.0.0.1:1",
        ],
    );
    assert_eq!(exporter.listening(), vec![passed]);
    drop(socket);
    let m = exporter
        .metrics_until(Duration::from_secs(20), "s up", |m| {
            m.get("chime_account_up", &[("account_id", "s")]) == Some(1.0)
        })
        .await;
    assert!(m.text.ends_with("# EOF\n"));
}

#[test]
fn socket_activation_without_sockets_exits_naming_the_problem() {
    let home = TempDir::new("home");
    let out = crate::helpers::exporter_command(&home)
        .args(["--chime.account-id", "a", "--web.systemd-socket"])
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--web.systemd-socket: no sockets were passed"),
        "{stderr}"
    );
}

/// Every line the exporter writes, in `format`, during a run with API
/// faults, a discovery target, a probe and a reload: each parses strictly
/// (no key twice) and starts with `time level source msg`.
async fn strict_logs(format: &str) {
    let fake = FakeChime::start().await.unwrap();
    for i in 0..4 {
        fake.put_account(FakeAccount::new(&format!("log-{i}"), &format!("Log {i}")));
    }
    fake.add_fault(FaultRule::new(Fault::Throttle).probability(0.3));
    fake.add_fault(
        FaultRule::new(Fault::AwsError {
            status: 500,
            code: "ServiceFailureException".into(),
        })
        .account("log-1"),
    );
    let dir = TempDir::new("logs");
    let file = dir.0.join("chime.yml");
    std::fs::write(
        &file,
        "defaults:\n  cache_ttl: 1s\n  discovery_ttl: 1s\ntargets:\n  - name: found\n    discover: true\n",
    )
    .unwrap();
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--config.file",
            file.to_str().unwrap(),
            "--log.level",
            "debug",
            "--log.format",
            format,
            "--web.enable-lifecycle",
        ],
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        exporter.metrics().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A bad config file on reload: an error line with a multi-line cause.
    std::fs::write(&file, "targets:\n  - name: [\n").unwrap();
    let r = http(exporter.addr, "POST", "/-/reload", &[]).await;
    assert!(r.status >= 400, "{}", r.status);
    let output = exporter.stderr();
    let mut levels = BTreeSet::new();
    let mut count = 0;
    for line in output.lines() {
        let record = parse_log_line(line).unwrap_or_else(|e| panic!("{format}: {e}"));
        let keys: Vec<&str> = record.iter().take(4).map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["time", "level", "source", "msg"], "{line}");
        let level = log_field(&record, "level").unwrap();
        assert!(
            ["debug", "info", "warn", "error"].contains(&level),
            "{line}"
        );
        assert!(
            humantime::parse_rfc3339(log_field(&record, "time").unwrap()).is_ok(),
            "{line}"
        );
        levels.insert(level.to_owned());
        count += 1;
    }
    assert!(count > 10, "{format}: only {count} lines");
    for level in ["debug", "info", "warn", "error"] {
        assert!(levels.contains(level), "{format}: no {level} line");
    }
    // Discovery's own `target` field is there, once.
    assert!(
        output
            .lines()
            .filter_map(|l| parse_log_line(l).ok())
            .any(|r| log_field(&r, "target") == Some("found")),
        "{format}: no line names the target"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_parses_strictly_in_logfmt() {
    strict_logs("logfmt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_parses_strictly_in_json() {
    strict_logs("json").await;
}

/// The samples of a scrape, as (name, labels) → value.
fn samples(m: &Metrics) -> BTreeMap<(String, Vec<(String, String)>), f64> {
    m.samples
        .iter()
        .filter(|(name, _, _)| {
            // Those move between two scrapes.
            !name.starts_with("process_")
                && !name.starts_with("chime_exporter_http_requests")
                && !name.starts_with("chime_exporter_scrape")
                && !name.starts_with("chime_cache_")
        })
        .map(|(n, l, v)| {
            (
                (
                    n.clone(),
                    l.iter().map(|(a, b)| (a.clone(), b.clone())).collect(),
                ),
                *v,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_to_who_asks_for_it_and_the_text_format_otherwise() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(14);
    fake.put_account(FakeAccount::new("f", "Formats").with_generated_bots(&mut rng, 5, 1));
    let exporter = Exporter::start(&fake.url(), &["--chime.account-id", "f"]);
    exporter.ready(Duration::from_secs(20)).await;
    let get = |headers: &'static [(&'static str, &'static str)]| {
        let addr = exporter.addr;
        async move { http(addr, "GET", "/metrics", headers).await }
    };
    let gunzip = |mut r: crate::helpers::HttpResponse| {
        use std::io::Read;
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(&r.raw_body[..])
            .read_to_string(&mut text)
            .unwrap();
        r.body = text;
        r
    };
    let om = get(&[("Accept", OPENMETRICS_ACCEPT)]).await;
    let om_gzip = gunzip(get(&[("Accept", OPENMETRICS_ACCEPT), ("Accept-Encoding", "gzip")]).await);
    let text = get(&[]).await;
    let text_gzip = gunzip(
        get(&[
            ("Accept", "text/plain;version=0.0.4"),
            ("Accept-Encoding", "gzip"),
        ])
        .await,
    );
    for r in [&om, &om_gzip] {
        assert_eq!(
            r.header("content-type"),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        assert!(
            r.body.ends_with("# EOF\n"),
            "{}",
            &r.body[r.body.len().saturating_sub(300)..]
        );
        assert!(r.body.contains("# TYPE chime_api_requests counter\n"));
        assert!(r
            .body
            .contains("# TYPE chime_exporter_http_requests counter\n"));
    }
    for r in [&text, &text_gzip] {
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert!(!r.body.contains("# EOF"));
        assert!(!r.body.contains("# UNIT"));
        assert!(r.body.contains("# TYPE chime_api_requests_total counter\n"));
        assert!(r
            .body
            .contains("# TYPE chime_exporter_http_requests_total counter\n"));
        // Every family's TYPE names its samples.
        for line in r.body.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(
                r.body
                    .lines()
                    .any(|l| l.starts_with(name) || l.starts_with("# ")),
                "{line}"
            );
        }
    }
    assert!(om.header("vary").unwrap().contains("Accept"));
    // The same samples in both.
    assert_eq!(
        samples(&Metrics::parse(&om.body)),
        samples(&Metrics::parse(&text.body))
    );
    assert_eq!(
        samples(&Metrics::parse(&om.body)),
        samples(&Metrics::parse(&text_gzip.body))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_bot_families_and_display_names_can_be_left_out() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(15);
    fake.put_account(FakeAccount::new("c", "Collectors").with_generated_bots(&mut rng, 4, 2));
    let bot = fake.with_account("c", |a| a.bots[0].clone()).unwrap();
    let ready = |exporter: &Exporter| {
        let exporter_addr = exporter.addr;
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let r = http(exporter_addr, "GET", "/metrics", &[]).await;
                let m = Metrics::parse(&r.body);
                if m.get("chime_bots", &[("account_id", "c")]) == Some(4.0) {
                    return m;
                }
                assert!(Instant::now() < deadline, "c never up");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // Default: both.
    let all = Exporter::start(&fake.url(), &["--chime.account-id", "c"]);
    let m = ready(&all).await;
    assert_eq!(m.count("chime_bot_info", &[]), 4);
    assert!(m
        .text
        .contains(&format!("display_name=\"{}\"", bot.display_name)));
    drop(all);
    // No per-bot families; the counts stay.
    let counts = Exporter::start(
        &fake.url(),
        &["--chime.account-id", "c", "--no-collector.bots"],
    );
    let m = ready(&counts).await;
    assert_eq!(
        m.get("chime_bots_disabled", &[("account_id", "c")]),
        Some(2.0)
    );
    assert!(!m.text.contains("chime_bot_"), "no per-bot family at all");
    drop(counts);
    // The last of --X and --no-X wins, as in node_exporter.
    let back = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "c",
            "--no-collector.bots",
            "--collector.bots",
            "--no-collector.bots.display-name",
        ],
    );
    let m = ready(&back).await;
    assert_eq!(m.count("chime_bot_info", &[]), 4);
    assert!(!m.text.contains("display_name"));
    assert!(!m.text.contains(&bot.display_name));
    // The probe leaves it out too.
    let probe = http(
        back.addr,
        "GET",
        &format!("/probe?account_id=c&bot_id={}", bot.bot_id),
        &[],
    )
    .await;
    assert_eq!(probe.status, 200);
    assert!(probe.body.contains("chime_bot_info{"));
    assert!(!probe.body.contains("display_name"));
}

/// With a config file, per-account series carry `aws_account_id`; it must
/// be the account's real one from the very first sample (a series whose
/// labels change is two series to Prometheus, and joins break).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_label_set_never_changes_from_its_first_sample() {
    let fake = FakeChime::start().await.unwrap();
    let sts = FakeSts::start().await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = format!("stable-{i}");
        let mut a = FakeAccount::new(&id, &format!("Stable {i}"));
        a.aws_account_id = format!("33333333333{i}");
        fake.put_account(a);
        ids.push(id);
    }
    // Slow answers, so that scrapes land while details and bots arrive.
    fake.add_fault(FaultRule::new(Fault::Latency(Duration::from_millis(150))));
    let dir = TempDir::new("stable");
    let file = dir.0.join("chime.yml");
    std::fs::write(
        &file,
        format!(
            "defaults:\n  cache_ttl: 2s\ntargets:\n  - name: listed\n    account_ids: [{}]\n  - name: found\n    discover: true\n    account_name_prefix: Stable 5\n",
            ids[..5].join(", ")
        ),
    )
    .unwrap();
    let sts_url = sts.url.clone();
    let exporter = Exporter::start_with(
        &[
            "--chime.endpoint-url",
            &fake.url(),
            "--config.file",
            file.to_str().unwrap(),
        ],
        |cmd| {
            cmd.env("AWS_ENDPOINT_URL_STS", &sts_url);
        },
    );
    // Scrape from the first moment; every label set seen per account and
    // family.
    let mut seen: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let started = Instant::now();
    let mut all_up = false;
    while started.elapsed() < Duration::from_secs(8) {
        let r = http(exporter.addr, "GET", "/metrics", &[]).await;
        if r.status == 200 {
            let m = Metrics::parse(&r.body);
            for (name, labels, _) in &m.samples {
                let Some(account) = labels.get("account_id") else {
                    continue;
                };
                if !name.starts_with("chime_account_") || name == "chime_account_last_error_info" {
                    continue;
                }
                seen.entry((name.clone(), account.clone()))
                    .or_default()
                    .insert(format!("{labels:?}"));
            }
            all_up |= m.sum("chime_account_up", &[]) == 6.0;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(all_up, "the accounts never all came up");
    for id in &ids {
        assert!(
            seen.contains_key(&("chime_account_up".into(), id.clone())),
            "{id} never seen"
        );
    }
    for ((name, account), sets) in &seen {
        assert_eq!(
            sets.len(),
            1,
            "{name} of {account} changed labels: {sets:?}"
        );
        let only = sets.iter().next().unwrap();
        assert!(
            !only.contains("\"aws_account_id\": \"\""),
            "{name} {account}: {only}"
        );
    }
}
