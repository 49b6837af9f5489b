//! See it and check it: the exporter's metrics about itself, `/status` (in
//! a real browser too), `check`, debug probes, the landing page, --version.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};
use serde_json::Value;

use crate::helpers::{basic_auth, exporter_command, http, Exporter, FakeSts, Metrics, TempDir};

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[cfg(target_os = "linux")]
fn proc_kb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_and_reload_metrics_are_always_there() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("p1", "P1"));
    let started = unix_now();
    let exporter = Exporter::start(&fake.url(), &["--chime.account-id", "p1"]);
    exporter.ready(Duration::from_secs(20)).await;
    let m = exporter.metrics().await;
    let rss = m.get("process_resident_memory_bytes", &[]).expect("RSS");
    let vm_rss = proc_kb(exporter.pid(), "VmRSS:") * 1024.0;
    assert!(
        (rss - vm_rss).abs() <= 0.2 * vm_rss,
        "RSS {rss} vs VmRSS {vm_rss}"
    );
    let start = m
        .get("process_start_time_seconds", &[])
        .expect("start time");
    assert!((start - started).abs() <= 2.0, "start {start} vs {started}");
    for name in [
        "process_cpu_seconds_total",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_threads",
    ] {
        assert!(m.get(name, &[]).is_some_and(|v| v > 0.0), "{name}");
    }
    // No files: still a success, at the start.
    for prefix in ["chime_exporter_config", "chime_exporter_web_config"] {
        assert_eq!(
            m.get(&format!("{prefix}_last_reload_successful"), &[]),
            Some(1.0)
        );
        let ts = m
            .get(
                &format!("{prefix}_last_reload_success_timestamp_seconds"),
                &[],
            )
            .unwrap();
        assert!((ts - started).abs() <= 5.0, "{prefix}: {ts}");
    }
    // The flags make one target, named default.
    assert_eq!(
        m.get("chime_target_up", &[("target", "default")]),
        Some(1.0)
    );
    assert!(m
        .get(
            "chime_discovery_last_success_timestamp_seconds",
            &[("target", "default")]
        )
        .is_some_and(|t| t >= started - 1.0));
    assert!(m
        .get("chime_exporter_refresh_capacity_ratio", &[])
        .is_some_and(|r| r > 0.0 && r < 1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_target_and_a_failing_account_say_why() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("good", "Good"));
    fake.put_account(FakeAccount::new("flaky", "Flaky"));
    fake.add_fault(
        FaultRule::new(Fault::AwsError {
            status: 403,
            code: "ForbiddenException".into(),
        })
        .account("flaky")
        .operation("ListBots"),
    );
    // The listing of account details fails: the target is down, its
    // accounts still collected (details by GetAccount).
    fake.add_fault(
        FaultRule::new(Fault::AwsError {
            status: 500,
            code: "ServiceFailureException".into(),
        })
        .operation("ListAccounts"),
    );
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "good,flaky",
            "--chime.cache-ttl",
            "1s",
            "--chime.error-backoff",
            "1s",
        ],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(20), "flaky failed", |m| {
            m.get("chime_account_last_error_info", &[("account_id", "flaky")])
                .is_some()
        })
        .await;
    assert_eq!(
        m.get(
            "chime_account_last_error_info",
            &[("account_id", "flaky"), ("error", "ForbiddenException")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.count("chime_account_last_error_info", &[("account_id", "good")]),
        0
    );
    assert_eq!(
        m.get("chime_target_up", &[("target", "default")]),
        Some(0.0)
    );
    // The account recovers: the series goes.
    fake.clear_faults();
    exporter
        .metrics_until(Duration::from_secs(30), "flaky recovered", |m| {
            m.get("chime_account_up", &[("account_id", "flaky")]) == Some(1.0)
                && m.count("chime_account_last_error_info", &[]) == 0
        })
        .await;
}

/// A least-privilege policy without `chime:ListAccounts`: configured
/// accounts get their details from GetAccount, once per discovery TTL, and
/// the target is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_list_accounts_details_come_from_get_account_and_the_target_is_up() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("lp1", "Least One"));
    fake.put_account(FakeAccount::new("lp2", "Least Two"));
    fake.add_fault(
        FaultRule::new(Fault::AwsError {
            status: 403,
            code: "AccessDeniedException".into(),
        })
        .operation("ListAccounts"),
    );
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "lp1,lp2",
            "--chime.discovery-ttl",
            "2s",
        ],
    );
    exporter.ready(Duration::from_secs(20)).await;
    let m = exporter.metrics().await;
    assert_eq!(
        m.get("chime_target_up", &[("target", "default")]),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "chime_account_info",
            &[("account_id", "lp2"), ("account_name", "Least Two")]
        ),
        Some(1.0)
    );
    // Each round: one denied listing, one GetAccount per account.
    crate::helpers::wait_for(Duration::from_secs(20), "three rounds", || {
        fake.calls("ListAccounts").len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rounds = fake.calls("ListAccounts").len();
    let lookups = fake.calls("GetAccount").len();
    assert!(
        (2 * rounds - 2..=2 * rounds).contains(&lookups),
        "{rounds} rounds, {lookups} GetAccount calls"
    );
    assert_eq!(
        exporter
            .metrics()
            .await
            .get("chime_target_up", &[("target", "default")]),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_answers_are_counted_by_handler_and_code() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("h1", "H1"));
    let dir = TempDir::new("counted");
    let hash = bcrypt::hash("pw", 4).unwrap();
    std::fs::write(
        dir.0.join("web.yml"),
        format!("basic_auth_users:\n  u: '{hash}'\n"),
    )
    .unwrap();
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "h1",
            "--web.config.file",
            dir.0.join("web.yml").to_str().unwrap(),
        ],
    );
    let auth = basic_auth("u", "pw");
    let with = [("Authorization", auth.as_str())];
    assert_eq!(http(exporter.addr, "GET", "/nope", &with).await.status, 404);
    assert_eq!(
        http(exporter.addr, "GET", "/metrics", &[]).await.status,
        401
    );
    assert_eq!(
        http(exporter.addr, "GET", "/-/healthy", &with).await.status,
        200
    );
    let r = http(exporter.addr, "GET", "/metrics", &with).await;
    let m = Metrics::parse(&r.body);
    let count = |handler: &str, code: &str| {
        m.get(
            "chime_exporter_http_requests_total",
            &[("handler", handler), ("code", code)],
        )
    };
    assert_eq!(count("other", "404"), Some(1.0));
    assert_eq!(count("metrics", "401"), Some(1.0));
    assert_eq!(count("healthy", "200"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capacity_is_said_out_loud() {
    let fake = FakeChime::start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..25 {
        let id = format!("cap-{i:02}");
        fake.put_account(FakeAccount::new(&id, &id));
        ids.push(id);
    }
    let ids = ids.join(",");
    // 25 accounts every second at 10 calls/s: cannot fit.
    let tight = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            &ids,
            "--chime.cache-ttl",
            "1s",
            "--chime.rate-limit",
            "10",
        ],
    );
    // The same accounts every 5 minutes: fits easily.
    let roomy = Exporter::start(&fake.url(), &["--chime.account-id", &ids]);
    tight.ready(Duration::from_secs(30)).await;
    roomy.ready(Duration::from_secs(30)).await;
    let ratio = tight
        .metrics()
        .await
        .get("chime_exporter_refresh_capacity_ratio", &[])
        .unwrap();
    assert!(ratio > 2.4 && ratio < 2.7, "{ratio}");
    let logs = tight.stderr();
    let warning = logs
        .lines()
        .find(|l| l.contains("level=warn") && l.contains("cannot keep every account"))
        .unwrap_or_else(|| panic!("no capacity warning:\n{logs}"));
    for advice in [
        "--chime.rate-limit to 28",
        "--chime.cache-ttl to 3s",
        "3 shards",
    ] {
        assert!(warning.contains(advice), "{warning}");
    }
    let ratio = roomy
        .metrics()
        .await
        .get("chime_exporter_refresh_capacity_ratio", &[])
        .unwrap();
    assert!(ratio < 0.05, "{ratio}");
    assert!(!roomy.stderr().contains("cannot keep every account"));
}

/// The demo-like setup the status tests share: a healthy account, a failing
/// one, and one whose name is markup.
async fn status_setup() -> (FakeChime, Exporter) {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(13);
    fake.put_account(FakeAccount::new("ok-1", "Alpha").with_generated_bots(&mut rng, 4, 2));
    fake.put_account(FakeAccount::new("bad-1", "Zulu broken"));
    fake.put_account(
        FakeAccount::new("xss-1", "<script>alert(1)</script>").with_generated_bots(&mut rng, 1, 0),
    );
    fake.add_fault(
        FaultRule::new(Fault::Throttle)
            .account("bad-1")
            .operation("ListBots"),
    );
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "ok-1,bad-1,xss-1",
            "--chime.timeout",
            "2s",
        ],
    );
    exporter
        .metrics_until(Duration::from_secs(30), "bad-1 down, the others up", |m| {
            m.get("chime_account_up", &[("account_id", "bad-1")]) == Some(0.0)
                && m.sum("chime_account_up", &[]) == 2.0
        })
        .await;
    (fake, exporter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_and_its_json() {
    let (_fake, exporter) = status_setup().await;
    let json = exporter.get("/status?format=json").await;
    assert_eq!(json.status, 200);
    assert_eq!(json.header("content-type"), Some("application/json"));
    let report: Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(report["schema"], 1);
    let accounts = report["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 3);
    assert_eq!(accounts[0]["account_id"], "bad-1", "failing first");
    assert_eq!(accounts[0]["up"], false);
    assert_eq!(accounts[0]["last_error"], "ThrottledClientException");
    let ok = accounts.iter().find(|a| a["account_id"] == "ok-1").unwrap();
    assert_eq!(ok["bots"], 4);
    assert_eq!(ok["disabled_bots"], 2);
    assert!(ok["api_calls"].as_u64().unwrap() >= 1);
    assert!(ok["data_age"].as_f64().unwrap() < 60.0);
    assert_eq!(report["targets"][0]["name"], "default");
    assert!(report["capacity"]["ratio"].as_f64().unwrap() > 0.0);
    assert_eq!(report["reloads"]["config"]["successful"], true);

    let html = exporter.get("/status").await;
    assert_eq!(html.status, 200);
    assert!(html
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    assert!(!html.body.contains("<script>"), "unescaped markup");
    assert!(html.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let bad = html.body.find("data-account=\"bad-1\"").unwrap();
    let good = html.body.find("data-account=\"ok-1\"").unwrap();
    assert!(bad < good, "the failing account is listed first");
}

/// A WebDriver session on Debian's chromium, headless.
async fn browser() -> (std::process::Child, fantoccini::Client) {
    let driver = crate::helpers::tool("chromedriver");
    let chromium = crate::helpers::tool("chromium");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile =
        std::env::temp_dir().join(format!("chime-chromium-{}-{port}", std::process::id()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1400,900",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    caps.insert(
        "goog:loggingPrefs".into(),
        serde_json::json!({"browser": "ALL"}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match fantoccini::ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (child, client),
            Err(e) => {
                assert!(Instant::now() < deadline, "no WebDriver session: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The browser's console messages (chromedriver's log endpoint).
async fn console(client: &fantoccini::Client) -> Vec<Value> {
    #[derive(Debug)]
    struct Logs;
    impl fantoccini::wd::WebDriverCompatibleCommand for Logs {
        fn endpoint(
            &self,
            base: &url::Url,
            session: Option<&str>,
        ) -> Result<url::Url, url::ParseError> {
            base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
        }
        fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
            (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
        }
    }
    client
        .issue_cmd(Logs)
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn the_status_page_in_a_real_browser() {
    let (_fake, exporter) = status_setup().await;
    let (mut driver, client) = browser().await;
    let result = async {
        client
            .goto(&format!("http://{}/status", exporter.addr))
            .await?;
        let rows = client
            .find_all(fantoccini::Locator::Css("#accounts tr[data-account]"))
            .await?;
        let mut seen = Vec::new();
        for row in &rows {
            let id = row.attr("data-account").await?.unwrap_or_default();
            let name = row
                .find(fantoccini::Locator::Css("td.name"))
                .await?
                .text()
                .await?;
            let state = row
                .find(fantoccini::Locator::Css("td.state"))
                .await?
                .text()
                .await?;
            let bots = row
                .find(fantoccini::Locator::Css("td.bots"))
                .await?
                .text()
                .await?;
            seen.push((id, name, state, bots));
        }
        let png = client.screenshot().await?;
        let logs = console(&client).await;
        Ok::<_, fantoccini::error::CmdError>((seen, png, logs))
    }
    .await;
    let _ = client.close().await;
    let _ = driver.kill();
    let _ = driver.wait();
    let (seen, png, logs) = result.expect("the browser session");
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].0, "bad-1", "failing first: {seen:?}");
    assert_eq!(seen[0].2, "down");
    let xss = seen.iter().find(|r| r.0 == "xss-1").unwrap();
    assert_eq!(
        xss.1, "<script>alert(1)</script>",
        "the name is shown as text"
    );
    assert_eq!(xss.2, "up");
    let ok = seen.iter().find(|r| r.0 == "ok-1").unwrap();
    assert_eq!((ok.1.as_str(), ok.3.as_str()), ("Alpha", "4"));
    let errors: Vec<&Value> = logs
        .iter()
        .filter(|l| l["level"] == "SEVERE" || l["level"] == "ERROR")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    assert!(png.starts_with(b"\x89PNG"), "a screenshot");
    if let Ok(path) = std::env::var("CHIME_EXPORTER_STATUS_SCREENSHOT") {
        std::fs::write(path, &png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debug_probe_says_what_happened() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(14);
    fake.put_account(FakeAccount::new("d1", "D1").with_generated_bots(&mut rng, 2, 0));
    let bot = fake
        .with_account("d1", |a| a.bots[0].bot_id.clone())
        .unwrap();
    fake.add_fault(FaultRule::new(Fault::Throttle).operation("GetBot").times(1));
    let exporter = Exporter::start(&fake.url(), &["--chime.account-id", "d1"]);
    exporter.ready(Duration::from_secs(20)).await;
    let query = format!("/probe?account_id=d1&bot_id={bot}&debug=true");
    let first = exporter.get(&query).await;
    assert_eq!(first.status, 200);
    assert!(first
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let log = &first.body;
    assert!(log.contains("made a GetBot call"), "{log}");
    assert!(
        log.contains("attempt 1: GetBot status=429 error=ThrottledClientException"),
        "{log}"
    );
    assert!(
        log.contains("attempt 2: GetBot status=200 error=none"),
        "{log}"
    );
    assert!(log.contains("result: the bot was found"), "{log}");
    assert!(log.contains("chime_probe_success 1"), "{log}");
    let second = exporter.get(&query).await;
    assert!(
        second.body.contains("answered from the cache"),
        "{}",
        second.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_and_the_version() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("l1", "L1"));
    let exporter = Exporter::start(&fake.url(), &["--chime.account-id", "l1"]);
    let page = exporter.get("/").await.body;
    for link in [
        "href=\"metrics\"",
        "href=\"status\"",
        "href=\"-/healthy\"",
        "href=\"-/ready\"",
        "action=\"probe\"",
    ] {
        assert!(page.contains(link), "{link}: {page}");
    }
    assert!(!page.contains("href=\"/"), "absolute links: {page}");
    let dir = TempDir::new("version");
    let out = exporter_command(&dir).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for part in [
        "chime_exporter 0.",
        "revision:",
        "build date:",
        "rustc version: 1.",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
}

/// `chime_exporter check …` with the fake API and the fake STS: (exit
/// status, standard output).
async fn check(
    fake: &FakeChime,
    sts: &FakeSts,
    args: &[&str],
    env: &[(&str, Option<&str>)],
) -> (Option<i32>, String) {
    let dir = TempDir::new("check");
    let mut cmd = exporter_command(&dir);
    cmd.arg("check")
        .args(["--chime.endpoint-url", &fake.url()])
        .args(args)
        .env("AWS_ENDPOINT_URL_STS", &sts.url);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_answers_will_this_work() {
    let fake = FakeChime::start().await.unwrap();
    let sts = FakeSts::start().await;
    let mut rng = fastrand::Rng::with_seed(15);
    fake.put_account(FakeAccount::new("c1", "C1").with_generated_bots(&mut rng, 3, 0));
    fake.put_account(FakeAccount::new("c2", "C2"));

    // All good.
    let (code, out) = check(
        &fake,
        &sts,
        &["--chime.account-id", "c1,c2", "--output", "json"],
        &[],
    )
    .await;
    assert_eq!(code, Some(0), "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true);
    let steps: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "credentials",
            "identity",
            "ListAccounts",
            "ListBots",
            "ListBots"
        ],
        "{out}"
    );
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows[0]["detail"], "environment");
    assert!(rows[1]["detail"].as_str().unwrap().contains("333333333333"));
    let listbots = fake.calls("ListBots");
    assert!(listbots
        .iter()
        .all(|c| c.query.get("max-results").map(String::as_str) == Some("1")));

    // One account refused: the IAM action is named, exit 1.
    fake.add_fault(
        FaultRule::new(Fault::AwsError {
            status: 403,
            code: "ForbiddenException".into(),
        })
        .account("c2")
        .operation("ListBots"),
    );
    let (code, out) = check(&fake, &sts, &["--chime.account-id", "c1,c2"], &[]).await;
    assert_eq!(code, Some(1), "{out}");
    let line = out.lines().find(|l| l.contains("c2")).unwrap();
    assert!(
        line.contains("FAILED") && line.contains("ForbiddenException"),
        "{out}"
    );
    assert!(
        line.contains("missing IAM permission chime:ListBots"),
        "{out}"
    );
    fake.clear_faults();

    // No credentials: a failed step, not an invalid configuration.
    let (code, out) = check(
        &fake,
        &sts,
        &["--chime.account-id", "c1"],
        &[("AWS_ACCESS_KEY_ID", None), ("AWS_SECRET_ACCESS_KEY", None)],
    )
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("credentials") && l.contains("FAILED")),
        "{out}"
    );

    // An invalid file: exit 2, with start-up's message.
    let dir = TempDir::new("badcheck");
    let file = dir.0.join("chime.yml");
    std::fs::write(&file, "targets:\n  - name: a\n    bogus: 1\n").unwrap();
    let mut cmd = exporter_command(&dir);
    cmd.args(["check", "--config.file"]).arg(&file);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
}
