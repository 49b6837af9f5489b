//! End-to-end tests of issue "The exporter, end to end": the real binary,
//! the real aws-sdk-chime client inside it, over loopback HTTP against the
//! project's fake Chime API.

use std::time::Duration;

use crate::helpers::{http, wait_for, Exporter, Metrics, OPENMETRICS_ACCEPT};
use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};

fn account(rng: &mut fastrand::Rng, id: &str, bots: usize, disabled_every: usize) -> FakeAccount {
    FakeAccount::new(id, &format!("Account {id}")).with_generated_bots(rng, bots, disabled_every)
}

fn pages(bots: usize, page: usize) -> u64 {
    bots.div_ceil(page).max(1) as u64
}

fn bots_of(m: &Metrics, account: &str) -> Option<f64> {
    m.get("chime_bots", &[("account_id", account)])
}

fn up(m: &Metrics, account: &str) -> Option<f64> {
    m.get("chime_account_up", &[("account_id", account)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_counts_for_0_1_99_100_and_1000_bots() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(1);
    let sizes = [
        ("a0", 0, 0),
        ("a1", 1, 1),
        ("a99", 99, 3),
        ("a100", 100, 10),
        ("a1000", 1000, 7),
    ];
    for (id, n, every) in sizes {
        fake.put_account(account(&mut rng, id, n, every));
    }
    let mut args = vec!["--chime.cache-ttl", "1h"];
    for (id, _, _) in sizes {
        args.extend(["--chime.account-id", id]);
    }
    let exporter = Exporter::start(&fake.url(), &args);
    let m = exporter
        .metrics_until(Duration::from_secs(20), "all accounts up", |m| {
            sizes.iter().all(|(id, _, _)| up(m, id) == Some(1.0))
        })
        .await;
    for (id, n, every) in sizes {
        let disabled = n.checked_div(every).unwrap_or(0);
        assert_eq!(bots_of(&m, id), Some(n as f64), "chime_bots {id}");
        assert_eq!(
            m.get("chime_bots_disabled", &[("account_id", id)]),
            Some(disabled as f64),
            "chime_bots_disabled {id}"
        );
        assert_eq!(
            m.count("chime_bot_info", &[("account_id", id)]),
            n,
            "bot_info {id}"
        );
        assert_eq!(m.count("chime_bot_disabled", &[("account_id", id)]), n);
        assert_eq!(
            m.sum("chime_bot_disabled", &[("account_id", id)]),
            disabled as f64
        );
        assert_eq!(
            m.count("chime_bot_created_timestamp_seconds", &[("account_id", id)]),
            n
        );
        // One page per 99 bots, as the API saw and as the exporter counted.
        assert_eq!(fake.requests("ListBots", id), pages(n, 99), "pages {id}");
        assert_eq!(
            m.get(
                "chime_api_requests_total",
                &[("operation", "ListBots"), ("account_id", id)]
            ),
            Some(pages(n, 99) as f64)
        );
        assert!(
            m.get(
                "chime_account_last_success_timestamp_seconds",
                &[("account_id", id)]
            )
            .unwrap()
                > 1.6e9
        );
    }
    // The per-bot values are the API's.
    let bot = fake
        .with_account("a100", |a| a.bots[9].clone())
        .expect("account a100");
    assert!(bot.disabled);
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
        m.get(
            "chime_bot_updated_timestamp_seconds",
            &[("bot_id", &bot.bot_id)]
        ),
        Some(bot.updated)
    );
    let info = m
        .samples
        .iter()
        .find(|(n, l, _)| n == "chime_bot_info" && l.get("bot_id") == Some(&bot.bot_id))
        .expect("bot_info");
    assert_eq!(info.1.get("user_id"), Some(&bot.user_id));
    assert_eq!(info.1.get("display_name"), Some(&bot.display_name));
    assert_eq!(info.1.get("bot_type").map(String::as_str), Some("ChatBot"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_results_sets_the_page_size() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(2);
    fake.put_account(account(&mut rng, "p", 25, 0));
    let exporter = Exporter::start(
        &fake.url(),
        &["--chime.account-id", "p", "--chime.max-results", "10"],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(20), "account up", |m| {
            up(m, "p") == Some(1.0)
        })
        .await;
    assert_eq!(bots_of(&m, "p"), Some(25.0));
    assert_eq!(fake.requests("ListBots", "p"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scrapes_share_one_fetch_per_account_per_ttl() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(3);
    let ids = ["c1", "c2", "c3", "c4", "c5"];
    for (i, id) in ids.iter().enumerate() {
        fake.put_account(account(&mut rng, id, 50 + 60 * i, 0));
    }
    // Slow answers, so that every scrape arrives while fetches are running.
    fake.add_fault(FaultRule::new(Fault::Latency(Duration::from_millis(400))));
    let mut args = vec!["--chime.cache-ttl", "3s", "--web.max-requests", "0"];
    for id in ids {
        args.extend(["--chime.account-id", id]);
    }
    let exporter = Exporter::start(&fake.url(), &args);
    let scrape_all = || async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let addr = exporter.addr;
            set.spawn(async move { http(addr, "GET", "/metrics", &[]).await });
        }
        let mut ok = 0;
        while let Some(r) = set.join_next().await {
            if r.unwrap().status == 200 {
                ok += 1;
            }
        }
        ok
    };
    // Cold: 100 scrapes while the first fetches are in flight (the accounts
    // are published after the first round of discovery).
    wait_for(Duration::from_secs(20), "the first fetch under way", || {
        fake.requests("ListBots", ids[0]) >= 1
    })
    .await;
    assert_eq!(scrape_all().await, 100);
    let m = exporter
        .metrics_until(Duration::from_secs(20), "all up", |m| {
            ids.iter().all(|id| up(m, id) == Some(1.0))
        })
        .await;
    let expected: Vec<u64> = ids
        .iter()
        .enumerate()
        .map(|(i, _)| pages(50 + 60 * i, 99))
        .collect();
    for (id, want) in ids.iter().zip(&expected) {
        assert_eq!(fake.requests("ListBots", id), *want, "cold fetch of {id}");
    }
    // Within the TTL: no API call at all.
    assert_eq!(scrape_all().await, 100);
    for (id, want) in ids.iter().zip(&expected) {
        assert_eq!(fake.requests("ListBots", id), *want, "warm scrapes of {id}");
    }
    drop(m);
    assert!(
        exporter
            .metrics()
            .await
            .get("chime_cache_hits_total", &[])
            .unwrap()
            > 0.0
    );
    // After the TTL (3 s plus its 10 % jitter): exactly one more fetch each.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(scrape_all().await, 100);
    wait_for(
        Duration::from_secs(20),
        "one more fetch of every account",
        || {
            ids.iter()
                .zip(&expected)
                .all(|(id, want)| fake.requests("ListBots", id) >= 2 * want)
        },
    )
    .await;
    for (id, want) in ids.iter().zip(&expected) {
        assert_eq!(fake.requests("ListBots", id), 2 * want, "refetch of {id}");
    }
    let m = exporter.metrics().await;
    let requests = m.get("chime_cache_requests_total", &[]).unwrap();
    let hits = m.get("chime_cache_hits_total", &[]).unwrap();
    assert!(requests >= 301.0 * ids.len() as f64, "{requests}");
    assert!(hits < requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_account_keeps_its_data_backs_off_and_recovers() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(4);
    fake.put_account(account(&mut rng, "t", 120, 4));
    fake.put_account(account(&mut rng, "ok", 7, 0));
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "t",
            "--chime.account-id",
            "ok",
            "--chime.cache-ttl",
            "1s",
            "--chime.error-backoff",
            "2s",
            "--chime.timeout",
            "5s",
        ],
    );
    exporter
        .metrics_until(Duration::from_secs(20), "t up", |m| up(m, "t") == Some(1.0))
        .await;
    fake.add_fault(FaultRule::new(Fault::Throttle).account("t"));
    let m = exporter
        .metrics_until(Duration::from_secs(30), "t down", |m| {
            up(m, "t") == Some(0.0)
        })
        .await;
    // The last good data stays; the other account is untouched.
    assert_eq!(bots_of(&m, "t"), Some(120.0));
    assert_eq!(
        m.get("chime_bots_disabled", &[("account_id", "t")]),
        Some(30.0)
    );
    assert_eq!(m.count("chime_bot_info", &[("account_id", "t")]), 120);
    assert_eq!(up(&m, "ok"), Some(1.0));
    let throttles = m
        .get(
            "chime_api_errors_total",
            &[
                ("operation", "ListBots"),
                ("account_id", "t"),
                ("error", "ThrottledClientException"),
            ],
        )
        .unwrap();
    // The SDK retried the 429s before giving up on the fetch.
    assert!(throttles >= 2.0, "throttles counted: {throttles}");
    // While throttled, scrapes every 50 ms do not hammer the API: the
    // failed fetch is not repeated before the backoff.
    let before = fake.requests("ListBots", "t");
    for _ in 0..40 {
        let m = exporter.metrics().await;
        assert_eq!(bots_of(&m, "t"), Some(120.0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let during = fake.requests("ListBots", "t") - before;
    // ~2.5 s of scraping: at most two fetches of at most 3 attempts each.
    assert!(during <= 6, "{during} calls while backing off");
    // The fault ends; the account recovers on its own.
    fake.clear_faults();
    let m = exporter
        .metrics_until(Duration::from_secs(30), "t up again", |m| {
            up(m, "t") == Some(1.0)
        })
        .await;
    assert_eq!(bots_of(&m, "t"), Some(120.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_account_counts_not_found() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    fake.put_account(account(&mut rng, "real", 3, 0));
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "real",
            "--chime.account-id",
            "missing",
        ],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(20), "not found counted", |m| {
            m.get(
                "chime_api_errors_total",
                &[
                    ("operation", "ListBots"),
                    ("account_id", "missing"),
                    ("error", "NotFoundException"),
                ],
            )
            .is_some()
        })
        .await;
    assert_eq!(up(&m, "missing"), Some(0.0));
    assert_eq!(bots_of(&m, "missing"), None, "no data is not zero bots");
    assert_eq!(up(&m, "real"), Some(1.0));
    assert_eq!(bots_of(&m, "real"), Some(3.0));
    // A 404 is not retried.
    assert_eq!(fake.requests("ListBots", "missing"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_bot_disappears_and_changes_show() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(6);
    fake.put_account(account(&mut rng, "d", 5, 0));
    let exporter = Exporter::start(
        &fake.url(),
        &["--chime.account-id", "d", "--chime.cache-ttl", "1s"],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(20), "d up", |m| {
            bots_of(m, "d") == Some(5.0)
        })
        .await;
    let (gone, toggled) = fake
        .with_account("d", |a| {
            let gone = a.bots.remove(0).bot_id;
            a.bots[0].disabled = true;
            (gone, a.bots[0].bot_id.clone())
        })
        .unwrap();
    assert_eq!(m.count("chime_bot_info", &[("bot_id", &gone)]), 1);
    let m = exporter
        .metrics_until(Duration::from_secs(20), "bot deleted", |m| {
            bots_of(m, "d") == Some(4.0)
        })
        .await;
    for family in [
        "chime_bot_info",
        "chime_bot_disabled",
        "chime_bot_created_timestamp_seconds",
        "chime_bot_updated_timestamp_seconds",
    ] {
        assert_eq!(
            m.count(family, &[("bot_id", &gone)]),
            0,
            "{family} of the deleted bot"
        );
    }
    assert_eq!(
        m.get("chime_bot_disabled", &[("bot_id", &toggled)]),
        Some(1.0)
    );
    assert_eq!(
        m.get("chime_bots_disabled", &[("account_id", "d")]),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_tokens_and_emails_never_leave_the_exporter() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut acc = account(&mut rng, "s", 120, 2);
    // Awkward display names must be escaped, not break the exposition.
    acc.bots[0].display_name = "quote \" backslash \\ newline \n end".to_owned();
    fake.put_account(acc);
    // Throttle now and then, so error paths are logged too.
    fake.add_fault(FaultRule::new(Fault::Throttle).probability(0.3));
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "s",
            "--chime.account-id",
            "unknown",
            "--chime.cache-ttl",
            "1s",
            "--chime.error-backoff",
            "1s",
            "--log.level",
            "debug",
        ],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(30), "s up", |m| {
            bots_of(m, "s") == Some(120.0)
        })
        .await;
    // A few more refreshes (2 pages each, throttled calls retried), so that
    // successes and failures of every kind went through the logs.
    let fetched = fake.requests("ListBots", "s");
    let unknown = fake.requests("ListBots", "unknown");
    // (Refreshes are started by scrapes.)
    exporter
        .metrics_until(Duration::from_secs(30), "three more refreshes", |_| {
            fake.requests("ListBots", "s") >= fetched + 6
                && fake.requests("ListBots", "unknown") > unknown
        })
        .await;
    let body = exporter.get("/metrics").await.body;
    let logs = exporter.stderr();
    assert!(logs.contains("level=debug"), "debug logging is on");
    let (tokens, emails): (Vec<String>, Vec<String>) = fake
        .with_account("s", |a| {
            a.bots
                .iter()
                .map(|b| (b.security_token.clone(), b.bot_email.clone()))
                .unzip()
        })
        .unwrap();
    assert_eq!(tokens.len(), 120);
    for secret in tokens.iter().chain(&emails) {
        assert!(!body.contains(secret.as_str()), "secret in /metrics");
        assert!(!logs.contains(secret.as_str()), "secret in logs");
    }
    assert!(!body.contains("SECRET-TOKEN") && !logs.contains("SECRET-TOKEN"));
    let odd = m
        .samples
        .iter()
        .find(|(n, l, _)| n == "chime_bot_info" && l["display_name"].starts_with("quote"))
        .expect("escaped display name");
    assert_eq!(
        odd.1["display_name"],
        "quote \" backslash \\ newline \n end"
    );
    assert!(m
        .text
        .contains(r#"display_name="quote \" backslash \\ newline \n end""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes_methods_and_content_type() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(8);
    fake.put_account(account(&mut rng, "h", 2, 0));
    let exporter = Exporter::start(
        &fake.url(),
        &["--chime.account-id", "h", "--web.telemetry-path", "/custom"],
    );
    let addr = exporter.addr;
    let metrics = http(addr, "GET", "/custom", &[("Accept", OPENMETRICS_ACCEPT)]).await;
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(metrics.body.ends_with("# EOF\n"));
    assert_eq!(metrics.body.matches("# EOF").count(), 1);
    assert!(metrics
        .body
        .contains("chime_exporter_build_info{version=\""));
    let head = http(addr, "HEAD", "/custom", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(http(addr, "GET", "/metrics", &[]).await.status, 404);
    assert_eq!(http(addr, "GET", "/nope", &[]).await.status, 404);
    let post = http(addr, "POST", "/custom", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(http(addr, "DELETE", "/", &[]).await.status, 405);
    let landing = http(addr, "GET", "/", &[]).await;
    assert_eq!(landing.status, 200);
    assert!(landing.body.contains("href=\"custom\""));
    assert_eq!(http(addr, "GET", "/-/healthy", &[]).await.status, 200);
    exporter.ready(Duration::from_secs(20)).await;
    // No sample carries a timestamp: after the series (name and labels, whose
    // quoted values may hold spaces) comes exactly one field, the value.
    let metrics = http(addr, "GET", "/custom", &[]).await;
    let mut labelled = 0;
    for line in metrics.body.lines().filter(|l| !l.starts_with('#')) {
        let rest = match line.find('{') {
            Some(open) => {
                labelled += 1;
                &line[label_block_end(line, open)
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"))..]
            }
            None => line.split_once(' ').map_or("", |(_, v)| v),
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        assert_eq!(
            fields.len(),
            1,
            "a value and nothing else after the series: {line}"
        );
        assert!(
            fields[0].parse::<f64>().is_ok() || fields[0] == "+Inf",
            "{line}"
        );
    }
    assert!(labelled > 10, "labelled samples were checked");
}

/// Where the label block that opens at `open` ends (after its `}`), with
/// quoted values and their escapes skipped.
fn label_block_end(line: &str, open: usize) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(open + i + 1),
            _ => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_the_first_collection_finished() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(9);
    fake.put_account(account(&mut rng, "slow", 2, 0));
    fake.add_fault(
        FaultRule::new(Fault::Latency(Duration::from_secs(2)))
            .operation("ListBots")
            .times(1),
    );
    let exporter = Exporter::start(&fake.url(), &["--chime.account-id", "slow"]);
    assert_eq!(exporter.get("/-/ready").await.status, 503);
    assert_eq!(exporter.get("/-/healthy").await.status, 200);
    // Ready once the slow first fetch is answered, not before.
    wait_for(Duration::from_secs(10), "the first fetch", || {
        fake.requests("ListBots", "slow") == 1 && fake.in_flight() == 1
    })
    .await;
    assert_eq!(
        exporter.get("/-/ready").await.status,
        503,
        "ready during the first fetch"
    );
    exporter.ready(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_endpoint_environment_variable_works_without_the_flag() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(10);
    fake.put_account(account(&mut rng, "env", 4, 0));
    let url = fake.url();
    let exporter = Exporter::start_with(&["--chime.account-id", "env"], |cmd| {
        cmd.env("AWS_ENDPOINT_URL_CHIME", &url);
    });
    let m = exporter
        .metrics_until(Duration::from_secs(20), "env up", |m| {
            up(m, "env") == Some(1.0)
        })
        .await;
    assert_eq!(bots_of(&m, "env"), Some(4.0));
}

#[test]
fn invalid_flags_exit_2_with_a_message_naming_the_flag() {
    let home = crate::helpers::TempDir::new("flags");
    for (args, flag) in [
        (
            vec!["--chime.account-id", "a", "--chime.max-results", "0"],
            "--chime.max-results",
        ),
        (
            vec!["--chime.account-id", "a", "--chime.max-results", "100"],
            "--chime.max-results",
        ),
        (
            vec!["--chime.account-id", "a", "--chime.cache-ttl", "abc"],
            "--chime.cache-ttl",
        ),
        (vec!["--chime.account-id", ""], "--chime.account-id"),
        (
            vec!["--chime.account-id", "a", "--log.format", "xml"],
            "--log.format",
        ),
        (
            vec!["--chime.account-id", "a", "--web.listen-address", "nowhere"],
            "--web.listen-address",
        ),
        (vec!["--no-such-flag"], "--no-such-flag"),
    ] {
        let out = crate::helpers::exporter_command(&home)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.lines().count() <= 6,
            "{args:?}: short message: {stderr}"
        );
    }
}

#[test]
fn empty_account_env_var_is_rejected() {
    let home = crate::helpers::TempDir::new("envflags");
    let out = crate::helpers::exporter_command(&home)
        .env("CHIME_EXPORTER_ACCOUNT_IDS", "a,,b")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chime.account-id"));
}

#[test]
fn sigterm_exits_cleanly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeChime::start()).unwrap();
    fake.put_account(FakeAccount::new("x", "x"));
    let mut exporter = Exporter::start(&fake.url(), &["--chime.account-id", "x"]);
    exporter.signal(libc::SIGTERM);
    let exit = exporter
        .wait_exit(Duration::from_secs(5))
        .expect("exited within 5 s");
    assert!(exit.success(), "{exit:?}");
    drop(rt);
}

/// The model makes every member of `Bot` optional, and all of `Account` but
/// its ids and name. Through a fake that sends only what it must, the
/// exporter exports what it knows and nothing made up: empty label values
/// for absent strings, no series for an absent `Disabled` or timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparse_answers_export_what_is_known_and_nothing_made_up() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(12);
    fake.put_account(account(&mut rng, "sp", 4, 2));
    fake.set_sparse(true);
    let exporter = Exporter::start(
        &fake.url(),
        &["--chime.account-id", "sp", "--chime.discover-accounts"],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(20), "sp up with its details", |m| {
            up(m, "sp") == Some(1.0)
                && m.count("chime_account_info", &[("account_name", "Account sp")]) == 1
        })
        .await;
    assert_eq!(bots_of(&m, "sp"), Some(4.0));
    // Disabled unknown: not counted as disabled, and no per-bot series.
    assert_eq!(
        m.get("chime_bots_disabled", &[("account_id", "sp")]),
        Some(0.0)
    );
    assert_eq!(m.count("chime_bot_disabled", &[]), 0);
    assert_eq!(m.count("chime_bot_created_timestamp_seconds", &[]), 0);
    assert_eq!(m.count("chime_bot_updated_timestamp_seconds", &[]), 0);
    // The info series stay, with empty values for what the API left out.
    assert_eq!(
        m.count(
            "chime_bot_info",
            &[("account_id", "sp"), ("display_name", ""), ("bot_type", "")]
        ),
        4
    );
    let info = m
        .samples
        .iter()
        .find(|(n, l, _)| n == "chime_account_info" && l["account_id"] == "sp")
        .unwrap();
    assert_eq!(info.1["account_type"], "");
    assert_eq!(info.1["account_status"], "");
    assert_eq!(info.1["aws_account_id"], "111122223333");
}
