//! The dashboard, the rules and the exposition against the real tools: a real
//! Prometheus scraping the exporter in `--demo` mode, and promtool. Ignored
//! by a plain `cargo test` (they need Debian's `prometheus` package); run
//! with `--include-ignored`, where a missing tool fails them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{http, tool, Exporter, TempDir};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Prometheus {
    child: Child,
    addr: std::net::SocketAddr,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Prometheus with the generated rules, scraping the exporter's
    /// /metrics as job `chime` and /probe of one bot (`account_id`,
    /// `bot_id`) as job `chime-bots`, the jobs the mixin selects by default.
    async fn start(
        binary: &Path,
        target: std::net::SocketAddr,
        (account_id, bot_id): (&str, &str),
    ) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let rules = Path::new(ROOT).join("deploy/prometheus/rules.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: chime\n    static_configs:\n      - targets: ['{target}']\n\
             \x20 - job_name: chime-bots\n    metrics_path: /probe\n\
             \x20   params:\n      account_id: ['{account_id}']\n      bot_id: ['{bot_id}']\n\
             \x20   static_configs:\n      - targets: ['{target}']\n\
             \x20       labels:\n          account_id: '{account_id}'\n          bot_id: '{bot_id}'\n",
            rules.display()
        );
        let config_path = dir.0.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                    .await
            {
                drop(stream);
                if http(addr, "GET", "/-/ready", &[]).await.status == 200 {
                    return p;
                }
            }
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs an instant query; returns the API's `data` or its error text.
    async fn query(&self, expr: &str) -> Result<Value, String> {
        let path = format!("/api/v1/query?query={}", urlencode(expr));
        let resp = http(self.addr, "GET", &path, &[]).await;
        let body: Value = serde_json::from_str(&resp.body).map_err(|e| {
            let start: String = resp.body.chars().take(300).collect();
            format!("HTTP {}: {e}: {start}", resp.status)
        })?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body["data"].clone())
    }

    async fn series_count(&self, expr: &str) -> Result<usize, String> {
        let data = self.query(expr).await?;
        Ok(data["result"].as_array().map(Vec::len).unwrap_or(0))
    }

    async fn label_values(&self, label: &str, selector: &str) -> Vec<String> {
        let path = format!(
            "/api/v1/label/{label}/values?{}={}",
            urlencode("match[]"),
            urlencode(selector)
        );
        let resp = http(self.addr, "GET", &path, &[]).await;
        let body: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
        body["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Template variables substituted as Grafana would with "All" selected (and
/// the one job).
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$job", "chime")
        .replace("$instance", ".*")
        .replace("$target", ".*")
        .replace("$cluster", ".*")
        .replace("$account_id", ".*")
}

/// Every `expr` in the dashboard, with the panel title, template variables
/// substituted as Grafana would with "All" selected.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("dashboards/chime-bots.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let Some(targets) = panel["targets"].as_array() else {
            continue;
        };
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let expr = substitute(expr);
            assert!(!expr.contains('$'), "unsubstituted variable in {expr}");
            out.push((panel["title"].as_str().unwrap().to_owned(), expr));
        }
    }
    out
}

fn rule_exprs() -> Vec<(String, String)> {
    rule_exprs_of("deploy/prometheus/rules.yml")
}

fn rule_exprs_of(path: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let mut out = Vec::new();
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"]
                .as_str()
                .or_else(|| rule["record"].as_str())
                .unwrap()
                .to_owned();
            out.push((name, rule["expr"].as_str().unwrap().to_owned()));
        }
    }
    out
}

/// The demo, refreshing often. Its Chime SDK source is spelled out (both
/// sources, the SDK's in the demo's region) because the demo's own keeps a
/// describe TTL of 1h: with the AppInstance's four bots described again at
/// every listing, its few calls see the demo's throttling soon too (the
/// SDK API errors panel).
fn start_demo() -> Exporter {
    Exporter::start_with(
        &[
            "--demo",
            "--chime.cache-ttl",
            "2s",
            "--chime.error-backoff",
            "1s",
            "--chime.discover-accounts",
            "--chime-sdk.discover-app-instances",
            "--chime-sdk.region",
            "us-east-1",
            "--chime-sdk.describe-ttl",
            "1s",
        ],
        |_| {},
    )
}

/// `promtool check rules` and `promtool test rules` in `dir`; the test's
/// output.
fn promtool_rules(promtool: &Path, dir: &Path, rules: &str, tests: &str) -> (bool, String) {
    let check = Command::new(promtool)
        .args(["check", "rules", rules])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let test = Command::new(promtool)
        .args(["test", "rules", tests])
        .current_dir(dir)
        .output()
        .unwrap();
    let out =
        String::from_utf8_lossy(&test.stdout).into_owned() + &String::from_utf8_lossy(&test.stderr);
    (test.status.success() && out.contains("SUCCESS"), out)
}

#[test]
#[ignore = "needs promtool"]
fn rules_pass_promtool_check_and_unit_tests() {
    let promtool = tool("promtool");
    for (dir, rules, tests) in [
        ("deploy/prometheus", "rules.yml", "rules_test.yml"),
        ("mixin/tests", "rules-cluster.yml", "rules-cluster_test.yml"),
    ] {
        let dir = Path::new(ROOT).join(dir);
        let (ok, out) = promtool_rules(&promtool, &dir, rules, tests);
        assert!(ok, "{tests}: {out}");
    }
    // Every alert has a case where it fires (an expected alert under its
    // name) and one where it stays silent (an empty list).
    let tests: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/rules_test.yml")).unwrap(),
    )
    .unwrap();
    let cases: Vec<&serde_norway::Value> = tests["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_sequence().unwrap())
        .collect();
    let alerts: Vec<String> = rule_exprs()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| n.starts_with("Chime"))
        .collect();
    assert!(alerts.len() >= 12, "{alerts:?}");
    for name in &alerts {
        let of = |fires: bool| {
            cases.iter().any(|c| {
                c["alertname"].as_str() == Some(name)
                    && c["exp_alerts"].as_sequence().unwrap().is_empty() != fires
            })
        };
        assert!(of(true), "{name} has no case where it fires");
        assert!(of(false), "{name} has no case where it stays silent");
    }
    // The multi-cluster variant has every alert of the single one.
    let cluster: Vec<String> = rule_exprs_of("mixin/tests/rules-cluster.yml")
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| n.starts_with("Chime"))
        .collect();
    assert_eq!(cluster, alerts);
}

/// Each threshold of mixin/config.libsonnet, moved a step either way,
/// makes the unit tests fail: the tests sit at the thresholds, so none of
/// them passes whatever the number.
#[test]
#[ignore = "needs jsonnet"]
fn moving_any_threshold_of_the_mixin_changes_a_unit_test_outcome() {
    let jsonnet = tool("jsonnet");
    let promtool = tool("promtool");
    let overrides = [
        "exporterDownFor: '4m'",
        "exporterDownFor: '6m'",
        "exporterAbsentFor: '9m'",
        "exporterAbsentFor: '11m'",
        "accountFetchFailingFor: '14m'",
        "accountFetchFailingFor: '16m'",
        "staleTTLs: 2",
        "staleTTLs: 4",
        "staleGraceSeconds: 60",
        "staleGraceSeconds: 180",
        "dataStaleFor: '4m'",
        "dataStaleFor: '6m'",
        "throttledRatio: 0.08",
        "throttledRatio: 0.12",
        "errorRatio: 0.03",
        "errorRatio: 0.07",
        "botDisabledWindow: '14m'",
        "botDisabledWindow: '16m'",
        "discoveryFailingFor: '29m'",
        "discoveryFailingFor: '31m'",
        "discoveryStaleSeconds: 3540",
        "discoveryStaleSeconds: 3660",
        "configReloadFailingFor: '9m'",
        "configReloadFailingFor: '11m'",
        "probeFailingFor: '14m'",
        "probeFailingFor: '16m'",
        "shardsMismatchFor: '14m'",
        "shardsMismatchFor: '16m'",
        "capacityRatio: 0.99",
        "capacityRatio: 1.02",
        "capacityFor: '14m'",
        "capacityFor: '16m'",
        "sdkAppInstanceDownFor: '14m'",
        "sdkAppInstanceDownFor: '16m'",
        "sdkStaleSeconds: 1140",
        "sdkStaleSeconds: 1260",
        "sdkStaleFor: '4m'",
        "sdkStaleFor: '6m'",
        // The selectors are configuration too.
        "chimeSelector: 'job=\"chime-exporter\"'",
        "chimeProbeSelector: 'job=\"probes\"'",
    ];
    let tests =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/rules_test.yml")).unwrap();
    let mut unchanged = Vec::new();
    for (i, o) in std::iter::once("").chain(overrides).enumerate() {
        let dir = TempDir::new("mixin-threshold");
        let build = Command::new(&jsonnet)
            .args(["-S", "--ext-code"])
            .arg(format!("overrides={{{o}}}"))
            .arg(Path::new(ROOT).join("mixin/tests/rules.jsonnet"))
            .output()
            .unwrap();
        assert!(
            build.status.success(),
            "{o}: {}",
            String::from_utf8_lossy(&build.stderr)
        );
        let rules_dir = dir.0.clone();
        std::fs::write(rules_dir.join("rules.yml"), &build.stdout).unwrap();
        std::fs::write(rules_dir.join("rules_test.yml"), &tests).unwrap();
        let (ok, out) = promtool_rules(&promtool, &rules_dir, "rules.yml", "rules_test.yml");
        if i == 0 {
            // Without an override the rules (those committed) pass.
            assert!(ok, "{out}");
        } else if ok {
            unchanged.push(o);
        }
    }
    assert!(
        unchanged.is_empty(),
        "the unit tests pass whatever these are: {unchanged:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs promtool"]
async fn promtool_check_metrics_reports_only_the_known_false_positive() {
    let promtool = tool("promtool");
    let exporter = start_demo();
    // Wait until an error series exists, so every family is in the check.
    let m = exporter
        .metrics_until(Duration::from_secs(90), "a throttled call", |m| {
            m.count(
                "chime_api_errors_total",
                &[("error", "ThrottledClientException")],
            ) > 0
        })
        .await;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(m.text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let counters: Vec<&str> = m
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut false_positives = 0;
    for line in report.lines().filter(|l| !l.trim().is_empty()) {
        let known = line
            .strip_suffix("_total no help text")
            .is_some_and(|family| counters.contains(&family));
        assert!(
            known,
            "promtool check metrics: {line}\nfull report:\n{report}"
        );
        false_positives += 1;
    }
    // Only counters can produce it, at most once each.
    assert!(false_positives <= counters.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus"]
async fn real_prometheus_scrapes_the_demo_and_evaluates_dashboard_and_rules() {
    let prometheus = tool("prometheus");
    let exporter = start_demo();
    // A bot to probe.
    let m = exporter
        .metrics_until(Duration::from_secs(30), "bots", |m| {
            m.count("chime_bot_info", &[]) > 0
        })
        .await;
    let (_, bot, _) = m
        .samples
        .iter()
        .find(|(name, _, _)| name == "chime_bot_info")
        .unwrap();
    let probed = (bot["account_id"].clone(), bot["bot_id"].clone());
    let prom = Prometheus::start(&prometheus, exporter.addr, (&probed.0, &probed.1)).await;

    // The target is up.
    let deadline = Instant::now() + Duration::from_secs(60);
    while prom.series_count("up{job=\"chime\"} == 1").await != Ok(1) {
        assert!(Instant::now() < deadline, "target never up");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every rule expression parses and evaluates; recording rules return
    // data (alerts, on a healthy demo, return none).
    let rules = rule_exprs();
    assert!(rules.len() >= 15);
    let deadline = Instant::now() + Duration::from_secs(60);
    for (name, expr) in &rules {
        loop {
            match prom.series_count(expr).await {
                Err(e) => panic!("rule {name} does not evaluate: {e}\n{expr}"),
                Ok(0) if !name.starts_with("Chime") => {
                    assert!(
                        Instant::now() < deadline,
                        "recording rule {name} without data"
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Ok(_) => break,
            }
        }
    }

    // Every panel query parses, evaluates, and (given time for the demo's
    // throttling to show up) returns at least one series.
    let queries = dashboard_queries();
    assert!(queries.len() >= 30, "{} queries", queries.len());
    for (title, expr) in &queries {
        assert!(
            !expr.contains("vector("),
            "{title}: {expr} masks an empty result"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut empty = Vec::new();
        for (title, expr) in &queries {
            match prom.series_count(expr).await {
                Ok(0) => empty.push(format!("{title}: {expr}")),
                Ok(_) => {}
                Err(e) => panic!("panel {title}: query does not evaluate: {e}\n{expr}"),
            }
        }
        if empty.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "panels without data after 120 s:\n{}",
            empty.join("\n")
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // The template variables have values; accounts show their names.
    let text = std::fs::read_to_string(Path::new(ROOT).join("dashboards/chime-bots.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let var = |name: &str| {
        let v = dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable {name}"));
        substitute(v["query"]["query"].as_str().unwrap())
    };
    let label_values = |q: String| {
        let inner = q
            .strip_prefix("label_values(")
            .unwrap()
            .strip_suffix(')')
            .unwrap();
        let (selector, label) = inner.rsplit_once(", ").unwrap();
        (selector.to_owned(), label.to_owned())
    };
    let (selector, label) = label_values(var("job"));
    assert_eq!(
        prom.label_values(&label, &selector).await,
        vec!["chime".to_owned()]
    );
    let (selector, label) = label_values(var("instance"));
    assert_eq!(
        prom.label_values(&label, &selector).await,
        vec![exporter.addr.to_string()]
    );
    let (selector, label) = label_values(var("target"));
    assert_eq!(
        prom.label_values(&label, &selector).await,
        vec!["default".to_owned()]
    );
    let accounts = var("account_id");
    let inner = accounts
        .strip_prefix("query_result(")
        .unwrap()
        .strip_suffix(')')
        .unwrap();
    let data = prom.query(inner).await.unwrap();
    let result = data["result"].as_array().unwrap();
    assert_eq!(result.len(), 4, "{data}");
    for series in result {
        let m = &series["metric"];
        let (name, id) = (
            m["account_name"].as_str().unwrap(),
            m["account_id"].as_str().unwrap(),
        );
        assert!(!name.is_empty());
        assert_eq!(
            m["account_label"].as_str().unwrap(),
            format!("{name} · {id}")
        );
    }
    // Legends name accounts: the demo's names are in the per-account panels.
    let named = prom
        .query(&substitute(
            &queries
                .iter()
                .find(|(t, _)| t == "Bots per account")
                .unwrap()
                .1,
        ))
        .await
        .unwrap();
    assert!(named["result"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["metric"]["account_name"] == "Engineering"));
    // The Chime SDK row names the demo's AppInstance and counts its bots.
    let sdk = prom
        .query(&substitute(
            &queries
                .iter()
                .find(|(t, _)| t == "Bots per AppInstance")
                .unwrap()
                .1,
        ))
        .await
        .unwrap();
    let sdk = sdk["result"].as_array().unwrap();
    assert_eq!(sdk.len(), 1, "{sdk:?}");
    assert_eq!(sdk[0]["metric"]["name"], "Support Chat");
    assert_eq!(sdk[0]["value"][1], "4");
    let bots = prom
        .query(&substitute(
            &queries
                .iter()
                .find(|(t, _)| t == "AppInstanceBots")
                .unwrap()
                .1,
        ))
        .await
        .unwrap();
    let bots = bots["result"].as_array().unwrap();
    assert_eq!(bots.len(), 4, "{bots:?}");
    assert!(bots
        .iter()
        .all(|b| b["metric"]["app_instance_name"] == "Support Chat"));
    // The probe panels show the probed bot.
    let probe = prom
        .query(&format!(
            "chime_probe_success{{job=\"chime-bots\", bot_id=\"{}\"}} == 1",
            probed.1
        ))
        .await
        .unwrap();
    assert_eq!(probe["result"].as_array().unwrap().len(), 1, "{probe}");

    // Prometheus itself evaluates the rule file without errors.
    let resp = http(prom.addr, "GET", "/api/v1/rules", &[]).await;
    let body: Value = serde_json::from_str(&resp.body).unwrap();
    let mut evaluated = 0;
    for group in body["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "{rule}");
            evaluated += 1;
        }
    }
    assert_eq!(evaluated, rules.len());
}
