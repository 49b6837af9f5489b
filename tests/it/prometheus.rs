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
    async fn start(binary: &Path, target: std::net::SocketAddr) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let rules = Path::new(ROOT).join("deploy/prometheus/rules.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: chime\n    static_configs:\n      - targets: ['{target}']\n",
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
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$job", "chime")
                .replace("$account_id", ".*");
            assert!(!expr.contains('$'), "unsubstituted variable in {expr}");
            out.push((panel["title"].as_str().unwrap().to_owned(), expr));
        }
    }
    out
}

fn rule_exprs() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/rules.yml")).unwrap();
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

fn start_demo() -> Exporter {
    Exporter::start_with(
        &[
            "--demo",
            "--chime.cache-ttl",
            "2s",
            "--chime.error-backoff",
            "1s",
        ],
        |_| {},
    )
}

#[test]
#[ignore = "needs promtool"]
fn rules_pass_promtool_check_and_unit_tests() {
    let promtool = tool("promtool");
    let dir = Path::new(ROOT).join("deploy/prometheus");
    let check = Command::new(&promtool)
        .args(["check", "rules", "rules.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let test = Command::new(&promtool)
        .args(["test", "rules", "rules_test.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let out =
        String::from_utf8_lossy(&test.stdout).into_owned() + &String::from_utf8_lossy(&test.stderr);
    assert!(test.status.success(), "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert is unit-tested.
    let tests = std::fs::read_to_string(dir.join("rules_test.yml")).unwrap();
    for (name, _) in rule_exprs().iter().filter(|(n, _)| n.starts_with("Chime")) {
        assert!(
            tests.contains(&format!("alertname: {name}")),
            "{name} has no unit test"
        );
    }
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
    let prom = Prometheus::start(&prometheus, exporter.addr).await;

    // The target is up.
    let deadline = Instant::now() + Duration::from_secs(60);
    while prom.series_count("up{job=\"chime\"} == 1").await != Ok(1) {
        assert!(Instant::now() < deadline, "target never up");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every rule expression parses and evaluates.
    let rules = rule_exprs();
    assert!(rules.len() >= 7);
    for (name, expr) in &rules {
        if let Err(e) = prom.query(expr).await {
            panic!("rule {name} does not evaluate: {e}\n{expr}");
        }
    }

    // Every panel query parses, evaluates, and (given time for the demo's
    // throttling to show up) returns at least one series.
    let queries = dashboard_queries();
    assert!(queries.len() >= 18, "{} queries", queries.len());
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

    // The template variables have values.
    let jobs = prom.label_values("job", "chime_exporter_build_info").await;
    assert_eq!(jobs, vec!["chime".to_owned()]);
    let accounts = prom
        .label_values("account_id", "chime_account_up{job=~\"chime\"}")
        .await;
    assert_eq!(accounts.len(), 4, "{accounts:?}");

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
