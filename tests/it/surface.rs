//! The rest of the Chime surface: /probe (GetBot), discovery (ListAccounts,
//! GetAccount), config files with several targets and assumed roles, reload.

use std::time::{Duration, Instant};

use crate::helpers::{http, wait_for, Exporter, FakeSts, Metrics, TempDir, OPENMETRICS_ACCEPT};
use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};

fn up(m: &Metrics, account: &str) -> Option<f64> {
    m.get("chime_account_up", &[("account_id", account)])
}

async fn probe(
    exporter: &Exporter,
    query: &str,
    headers: &[(&str, &str)],
) -> crate::helpers::HttpResponse {
    http(exporter.addr, "GET", &format!("/probe?{query}"), headers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_success_unknown_bot_missing_params_and_timeout() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(31);
    fake.put_account(FakeAccount::new("pa", "Probe").with_generated_bots(&mut rng, 3, 2));
    let bot = fake.with_account("pa", |a| a.bots[1].clone()).unwrap();
    let exporter = Exporter::start(&fake.url(), &["--chime.account-id", "pa"]);
    exporter.ready(Duration::from_secs(20)).await;

    let ok = probe(
        &exporter,
        &format!("account_id=pa&bot_id={}", bot.bot_id),
        &[("Accept", OPENMETRICS_ACCEPT)],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert!(ok
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let m = Metrics::parse(&ok.body);
    assert_eq!(m.get("chime_probe_success", &[]), Some(1.0));
    assert!(m.get("chime_probe_duration_seconds", &[]).is_some());
    assert_eq!(
        m.get("chime_bot_disabled", &[("bot_id", &bot.bot_id)]),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "chime_bot_created_timestamp_seconds",
            &[("bot_id", &bot.bot_id)]
        ),
        Some(bot.created)
    );
    assert_eq!(
        m.count(
            "chime_bot_info",
            &[("account_id", "pa"), ("display_name", &bot.display_name)]
        ),
        1
    );
    assert!(!ok.body.contains(&bot.security_token));
    // The second probe is answered from the cache: one GetBot in all.
    let again = probe(
        &exporter,
        &format!("account_id=pa&bot_id={}", bot.bot_id),
        &[],
    )
    .await;
    assert_eq!(
        Metrics::parse(&again.body).get("chime_probe_success", &[]),
        Some(1.0)
    );
    assert_eq!(fake.requests("GetBot", "pa"), 1);

    // Unknown bot: a failed probe, not an HTTP error; the error is counted.
    let missing = probe(&exporter, "account_id=pa&bot_id=nope", &[]).await;
    assert_eq!(missing.status, 200);
    assert_eq!(
        Metrics::parse(&missing.body).get("chime_probe_success", &[]),
        Some(0.0)
    );
    assert_eq!(
        Metrics::parse(&missing.body).count("chime_bot_info", &[]),
        0
    );
    let m = exporter.metrics().await;
    assert!(m
        .get(
            "chime_api_errors_total",
            &[
                ("operation", "GetBot"),
                ("account_id", "pa"),
                ("error", "NotFoundException")
            ]
        )
        .is_some());
    // An account this exporter does not watch: refused, no API call.
    let calls = fake.total_requests();
    let stranger = probe(&exporter, "account_id=zz&bot_id=b", &[]).await;
    assert_eq!(stranger.status, 403, "{}", stranger.body);
    assert!(stranger.body.contains("not watched"), "{}", stranger.body);
    assert_eq!(fake.total_requests(), calls);

    // Missing, blank, overlong or odd parameters: 400 with a message.
    let long = "a".repeat(65);
    let calls = fake.total_requests();
    for query in [
        "",
        "account_id=pa",
        "bot_id=x",
        "account_id=%20&bot_id=x",
        "account_id=pa&bot_id=",
        &format!("account_id={long}&bot_id=x"),
        &format!("account_id=pa&bot_id={long}"),
        "account_id=pa&bot_id=a%2Fb",
        "account_id=pa&bot_id=a.b",
    ] {
        let r = probe(&exporter, query, &[]).await;
        assert_eq!(r.status, 400, "{query}");
        assert!(r.body.contains("account_id and bot_id"), "{query}");
    }
    assert_eq!(
        fake.total_requests(),
        calls,
        "a rejected probe calls nothing"
    );
    // 64 characters is still a probe (of a bot that does not exist).
    let r = probe(
        &exporter,
        &format!("account_id=pa&bot_id={}", &long[1..]),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        Metrics::parse(&r.body).get("chime_probe_success", &[]),
        Some(0.0)
    );

    // A hanging GetBot: the probe answers within the scraper's budget.
    fake.add_fault(FaultRule::new(Fault::Hang).operation("GetBot"));
    let started = Instant::now();
    let slow = probe(
        &exporter,
        &format!(
            "account_id=pa&bot_id={}",
            fake.with_account("pa", |a| a.bots[2].bot_id.clone())
                .unwrap()
        ),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(slow.status, 200);
    assert_eq!(
        Metrics::parse(&slow.body).get("chime_probe_success", &[]),
        Some(0.0)
    );
}

/// With `--probe.allow-unwatched-accounts`, other accounts are probed
/// through the first target; their calls are counted without an account_id
/// (it comes from the query string), so probes cannot grow /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_of_unwatched_accounts_when_allowed() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(32);
    fake.put_account(FakeAccount::new("pa", "Probe").with_generated_bots(&mut rng, 1, 0));
    fake.put_account(FakeAccount::new("zz", "Other").with_generated_bots(&mut rng, 2, 0));
    let other = fake
        .with_account("zz", |a| a.bots[1].bot_id.clone())
        .unwrap();
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "pa",
            "--probe.allow-unwatched-accounts",
        ],
    );
    exporter.ready(Duration::from_secs(20)).await;
    let found = probe(&exporter, &format!("account_id=zz&bot_id={other}"), &[]).await;
    assert_eq!(found.status, 200, "{}", found.body);
    let m = Metrics::parse(&found.body);
    assert_eq!(m.get("chime_probe_success", &[]), Some(1.0));
    assert_eq!(m.count("chime_bot_info", &[("account_id", "zz")]), 1);
    for i in 0..5 {
        let r = probe(&exporter, &format!("account_id=zz{i}&bot_id=b"), &[]).await;
        assert_eq!(
            Metrics::parse(&r.body).get("chime_probe_success", &[]),
            Some(0.0)
        );
    }
    let m = exporter.metrics().await;
    assert!(!m.text.contains("zz"), "{}", m.text);
    assert_eq!(
        m.get(
            "chime_api_errors_total",
            &[
                ("operation", "GetBot"),
                ("account_id", ""),
                ("error", "NotFoundException")
            ]
        ),
        Some(5.0),
        "{}",
        m.text
    );
}

async fn discovery_with(count: usize) -> (FakeChime, Exporter) {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(count as u64);
    for i in 0..count {
        let mut a = FakeAccount::new(&format!("d-{i:03}"), &format!("Team {i:03}"))
            .with_generated_bots(&mut rng, i % 3, 0);
        if i == 0 {
            a.status = "Suspended".to_owned();
        }
        fake.put_account(a);
    }
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.discovery-ttl",
            "1s",
            "--chime.rate-limit",
            "1000",
            "--chime.concurrency",
            "16",
        ],
    );
    (fake, exporter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_of_0_1_and_250_accounts() {
    for count in [0usize, 1, 250] {
        let (fake, exporter) = discovery_with(count).await;
        exporter.ready(Duration::from_secs(60)).await;
        let m = exporter
            .metrics_until(Duration::from_secs(60), "all discovered accounts up", |m| {
                m.sum("chime_account_up", &[]) as usize == count
            })
            .await;
        assert_eq!(m.count("chime_account_info", &[]), count, "{count}");
        assert_eq!(m.count("chime_bots", &[]), count);
        // 200 accounts a page: every ListAccounts call asks for 200, and
        // each round of discovery takes exactly ceil(count / 200) pages
        // (discovery runs every second here, so there may be several).
        let calls = fake.calls("ListAccounts");
        assert!(!calls.is_empty());
        for call in &calls {
            assert_eq!(
                call.query.get("max-results").map(String::as_str),
                Some("200"),
                "{call:?}"
            );
        }
        let pages = count.div_ceil(200).max(1);
        let mut rounds: Vec<usize> = Vec::new();
        for call in &calls {
            if call.first_page() {
                rounds.push(0);
            }
            if let Some(last) = rounds.last_mut() {
                *last += 1;
            }
        }
        // The last round may still be running.
        let (last, done) = rounds.split_last().unwrap();
        assert!(
            done.iter().all(|&p| p == pages),
            "pages per round: {rounds:?}"
        );
        assert!(*last <= pages, "pages per round: {rounds:?}");
        if count > 0 {
            let info = m
                .samples
                .iter()
                .find(|(n, l, _)| n == "chime_account_info" && l["account_id"] == "d-000")
                .unwrap();
            assert_eq!(info.1["account_name"], "Team 000");
            assert_eq!(info.1["account_status"], "Suspended");
            assert_eq!(info.1["aws_account_id"], "111122223333");
            assert_eq!(info.1["account_type"], "Team");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_gone_from_discovery_disappear_and_prefix_filters() {
    let fake = FakeChime::start().await.unwrap();
    for (id, name) in [("e1", "Eng one"), ("e2", "Eng two"), ("s1", "Sales")] {
        fake.put_account(FakeAccount::new(id, name));
    }
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-name-prefix",
            "Eng",
            "--chime.discovery-ttl",
            "1s",
        ],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(30), "e1 and e2 up", |m| {
            up(m, "e1") == Some(1.0) && up(m, "e2") == Some(1.0)
        })
        .await;
    assert_eq!(up(&m, "s1"), None, "the prefix filter applies");
    fake.remove_account("e2");
    let m = exporter
        .metrics_until(Duration::from_secs(30), "e2 gone", |m| {
            !m.samples
                .iter()
                .any(|(_, l, _)| l.get("account_id").map(String::as_str) == Some("e2"))
        })
        .await;
    assert_eq!(up(&m, "e1"), Some(1.0));
}

/// An account that goes while its fetch is in flight leaves nothing behind:
/// the fetch ends after the account was forgotten, and its API counters
/// (a request, here a NotFound error) must not bring the account's series
/// back. Accounts that come and go would otherwise grow the exposition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_goes_during_its_fetch_leaves_no_series() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    fake.put_account(FakeAccount::new("e1", "Eng one"));
    // Two pages, so that the fetch sends a request after e2 went.
    fake.put_account(FakeAccount::new("e2", "Eng two").with_generated_bots(&mut rng, 120, 0));
    let exporter = Exporter::start(
        &fake.url(),
        &["--chime.discovery-ttl", "1s", "--chime.cache-ttl", "1s"],
    );
    exporter
        .metrics_until(Duration::from_secs(30), "e1 and e2 up", |m| {
            up(m, "e1") == Some(1.0) && up(m, "e2") == Some(1.0)
        })
        .await;
    // From now on ListBots for e2 answers after 2 s; scrape until such a
    // slow refresh has reached the fake.
    let before = fake.requests("ListBots", "e2");
    fake.add_fault(
        FaultRule::new(Fault::Latency(Duration::from_secs(2)))
            .account("e2")
            .operation("ListBots"),
    );
    exporter
        .metrics_until(Duration::from_secs(30), "a slow refresh of e2", |_| {
            fake.requests("ListBots", "e2") > before
        })
        .await;
    let started = fake.requests("ListBots", "e2");
    fake.remove_account("e2");
    let mentions_e2 = |m: &Metrics| {
        m.samples
            .iter()
            .any(|(_, l, _)| l.get("account_id").map(String::as_str) == Some("e2"))
    };
    exporter
        .metrics_until(Duration::from_secs(30), "e2 gone", |m| !mentions_e2(m))
        .await;
    // The slow fetch goes on: its first page is answered 2 s after it
    // started, and its second page is requested (and counted) and answered
    // 2 s later. e2 must stay gone.
    wait_for(
        Duration::from_secs(20),
        "the second page of the slow fetch",
        || fake.requests("ListBots", "e2") > started,
    )
    .await;
    wait_for(Duration::from_secs(20), "its answer", || {
        fake.in_flight() == 0
    })
    .await;
    for _ in 0..5 {
        let m = exporter.metrics().await;
        assert!(!mentions_e2(&m), "e2 came back:\n{}", m.text);
        assert_eq!(up(&m, "e1"), Some(1.0));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_with_two_targets_and_an_assumed_role() {
    let fake = FakeChime::start().await.unwrap();
    let sts = FakeSts::start().await;
    let mut prod = FakeAccount::new("p1", "Prod");
    prod.aws_account_id = "222222222222".to_owned();
    fake.put_account(prod);
    fake.put_account(FakeAccount::new("dev-a", "Dev A"));
    fake.put_account(FakeAccount::new("dev-b", "Dev B"));
    fake.put_account(FakeAccount::new("other", "Other"));
    let dir = TempDir::new("cfg");
    let file = dir.0.join("chime.yml");
    std::fs::write(
        &file,
        "defaults:\n  cache_ttl: 1h\n  discovery_ttl: 1h\ntargets:\n  - name: prod\n    role_arn: arn:aws:iam::222222222222:role/chime-reader\n    external_id: ext-123\n    cache_ttl: 30m\n    account_ids: [p1]\n  - name: dev\n    discover: true\n    account_name_prefix: Dev\n",
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
    let m = exporter
        .metrics_until(Duration::from_secs(30), "three accounts up", |m| {
            m.sum("chime_account_up", &[]) == 3.0
        })
        .await;
    // Series carry aws_account_id with a config file.
    assert_eq!(
        m.get(
            "chime_account_up",
            &[("account_id", "p1"), ("aws_account_id", "222222222222")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "chime_bots",
            &[("account_id", "dev-a"), ("aws_account_id", "111122223333")]
        ),
        Some(0.0)
    );
    assert_eq!(up(&m, "other"), None);
    // Each account's cache TTL is its target's (prod's own, dev's from the
    // defaults), with the labels of the other account families.
    assert_eq!(
        m.get(
            "chime_account_cache_ttl_seconds",
            &[("account_id", "p1"), ("aws_account_id", "222222222222")]
        ),
        Some(1800.0)
    );
    assert_eq!(
        m.get(
            "chime_account_cache_ttl_seconds",
            &[("account_id", "dev-a"), ("aws_account_id", "111122223333")]
        ),
        Some(3600.0)
    );
    assert_eq!(m.count("chime_account_cache_ttl_seconds", &[]), 3);
    // The prod target's calls were signed with the role's credentials, the
    // dev target's with the default chain's.
    assert_eq!(
        fake.signers("p1"),
        vec![crate::helpers::STS_ACCESS_KEY.to_owned()]
    );
    assert_eq!(
        fake.signers("dev-a"),
        vec!["AKIDTESTTESTTESTTEST".to_owned()]
    );
    let asked = sts.requests.lock().unwrap().join("\n");
    assert!(asked.contains("Action=AssumeRole"), "{asked}");
    assert!(asked.contains("chime-reader"), "{asked}");
    assert!(asked.contains("ExternalId=ext-123"), "{asked}");
}

#[test]
fn invalid_config_files_exit_2_naming_line_and_field() {
    let dir = TempDir::new("badcfg");
    for (text, expect) in [
        (
            "targets:\n  - name: a\n    acount_ids: [x]\n",
            ["line 3", "acount_ids"],
        ),
        (
            "targets:\n  - name: a\n    cache_ttl: soon\n",
            ["line 3", "cache_ttl"],
        ),
        (
            "defaults:\n  max_results: 500\ntargets:\n  - name: a\n",
            ["line 2", "max_results"],
        ),
    ] {
        let file = dir.0.join("chime.yml");
        std::fs::write(&file, text).unwrap();
        let out = crate::helpers::exporter_command(&dir)
            .arg("--config.file")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        for e in expect {
            assert!(stderr.contains(e), "{text}: {stderr}");
        }
        assert!(!stderr.contains("panicked"));
    }
    // A flag that the file also sets is an error, not silently ignored.
    let file = dir.0.join("chime.yml");
    std::fs::write(&file, "targets:\n  - name: a\n").unwrap();
    let out = crate::helpers::exporter_command(&dir)
        .arg("--config.file")
        .arg(&file)
        .args(["--chime.account-id", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--chime.account-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_cached_data_and_rejects_a_bad_file() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(77);
    fake.put_account(FakeAccount::new("r1", "R1").with_generated_bots(&mut rng, 5, 0));
    fake.put_account(FakeAccount::new("r2", "R2").with_generated_bots(&mut rng, 7, 0));
    let dir = TempDir::new("reload");
    let file = dir.0.join("chime.yml");
    let write = |ids: &str| {
        std::fs::write(
            &file,
            format!(
                "defaults:\n  cache_ttl: 1h\ntargets:\n  - name: main\n    account_ids: [{ids}]\n"
            ),
        )
        .unwrap()
    };
    write("r1");
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--config.file",
            file.to_str().unwrap(),
            "--web.enable-lifecycle",
        ],
    );
    let before = exporter
        .metrics_until(Duration::from_secs(20), "r1 up", |m| {
            up(m, "r1") == Some(1.0)
        })
        .await;
    let r1_fetched = before
        .get(
            "chime_account_last_success_timestamp_seconds",
            &[("account_id", "r1")],
        )
        .unwrap();
    // SIGHUP with r2 added.
    write("r1, r2");
    exporter.signal(libc::SIGHUP);
    let after = exporter
        .metrics_until(Duration::from_secs(20), "r2 up", |m| {
            up(m, "r2") == Some(1.0)
        })
        .await;
    // r1 kept its cached data: not fetched again (the TTL is an hour).
    assert_eq!(fake.requests("ListBots", "r1"), 1);
    assert_eq!(
        after.get(
            "chime_account_last_success_timestamp_seconds",
            &[("account_id", "r1")]
        ),
        Some(r1_fetched)
    );
    assert_eq!(
        after.get(
            "chime_bots",
            &[("account_id", "r2"), ("aws_account_id", "111122223333")]
        ),
        Some(7.0)
    );
    // POST /-/reload with a broken file: 500, and the old config stays.
    std::fs::write(&file, "targets:\n  - name: main\n    bogus: 1\n").unwrap();
    let r = http(exporter.addr, "POST", "/-/reload", &[]).await;
    assert_eq!(r.status, 500);
    // The client is told it failed; the log says why.
    assert!(!r.body.contains("bogus"), "{}", r.body);
    assert!(exporter.stderr().contains("bogus"));
    let m = exporter.metrics().await;
    assert_eq!(
        m.get("chime_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(
        http(exporter.addr, "GET", "/-/reload", &[]).await.status,
        405
    );
    let m = exporter.metrics().await;
    assert_eq!(up(&m, "r1"), Some(1.0));
    assert_eq!(up(&m, "r2"), Some(1.0));
    // POST /-/reload with r2 dropped: r2 goes.
    write("r1");
    assert_eq!(
        http(exporter.addr, "POST", "/-/reload", &[]).await.status,
        200
    );
    exporter
        .metrics_until(Duration::from_secs(20), "r2 gone", |m| {
            up(m, "r2").is_none()
        })
        .await;
}
