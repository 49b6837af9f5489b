//! The API misbehaves; the exporter doesn't. Every fault is injected by the
//! project's fake Chime API and seen through the real SDK in the real binary.

use std::time::{Duration, Instant};

use crate::helpers::{wait_for, Exporter, Metrics};
use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};

const VICTIM: &str = "victim";
const BYSTANDER: &str = "bystander";

fn value(m: &Metrics, name: &str, account: &str) -> Option<f64> {
    m.get(name, &[("account_id", account)])
}

async fn setup(extra: &[&str]) -> (FakeChime, Exporter) {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(42);
    // 120 bots: two ListBots pages, so faults can hit the middle of a listing.
    fake.put_account(FakeAccount::new(VICTIM, "Victim").with_generated_bots(&mut rng, 120, 6));
    fake.put_account(FakeAccount::new(BYSTANDER, "Bystander").with_generated_bots(&mut rng, 10, 0));
    let mut args = vec![
        "--chime.account-id",
        VICTIM,
        "--chime.account-id",
        BYSTANDER,
        "--chime.cache-ttl",
        "1s",
        "--chime.error-backoff",
        "500ms",
        "--chime.timeout",
        "2s",
        "--chime.rate-limit",
        "200",
    ];
    args.extend_from_slice(extra);
    let exporter = Exporter::start(&fake.url(), &args);
    exporter
        .metrics_until(Duration::from_secs(20), "both accounts up", |m| {
            value(m, "chime_account_up", VICTIM) == Some(1.0)
                && value(m, "chime_account_up", BYSTANDER) == Some(1.0)
        })
        .await;
    (fake, exporter)
}

/// Injects `rule` for the victim, checks the exporter degrades as it should,
/// lifts the fault and checks it recovers on its own.
async fn survives(rule: FaultRule, expected_error: &str) {
    let (fake, exporter) = setup(&[]).await;
    fake.add_fault(rule.account(VICTIM));
    let m = exporter
        .metrics_until(Duration::from_secs(30), "victim down", |m| {
            value(m, "chime_account_up", VICTIM) == Some(0.0)
        })
        .await;
    // The last good data stays, whole: never a half list, never "0 bots".
    assert_eq!(
        value(&m, "chime_bots", VICTIM),
        Some(120.0),
        "{expected_error}"
    );
    assert_eq!(value(&m, "chime_bots_disabled", VICTIM), Some(20.0));
    assert_eq!(m.count("chime_bot_info", &[("account_id", VICTIM)]), 120);
    // Only the victim is affected.
    assert_eq!(value(&m, "chime_account_up", BYSTANDER), Some(1.0));
    assert_eq!(value(&m, "chime_bots", BYSTANDER), Some(10.0));
    // The error is counted under its bounded label.
    let errors = m.sum(
        "chime_api_errors_total",
        &[("account_id", VICTIM), ("error", expected_error)],
    );
    assert!(
        errors >= 1.0,
        "no {expected_error} counted; errors: {:?}",
        m.samples
            .iter()
            .filter(|(n, _, _)| n == "chime_api_errors_total")
            .collect::<Vec<_>>()
    );
    for (name, labels, _) in &m.samples {
        if name == "chime_api_errors_total" {
            let e = labels["error"].as_str();
            assert!(
                chime_exporter::api::ErrorKind::ALL
                    .iter()
                    .any(|k| k.as_str() == e),
                "unbounded error label {e}"
            );
        }
    }
    // Recovery without anyone restarting anything.
    fake.clear_faults();
    let m = exporter
        .metrics_until(Duration::from_secs(30), "victim recovers", |m| {
            value(m, "chime_account_up", VICTIM) == Some(1.0)
        })
        .await;
    assert_eq!(value(&m, "chime_bots", VICTIM), Some(120.0));
}

fn aws(status: u16, code: &str) -> Fault {
    Fault::AwsError {
        status,
        code: code.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_429() {
    survives(FaultRule::new(Fault::Throttle), "ThrottledClientException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_failure_500() {
    survives(
        FaultRule::new(aws(500, "ServiceFailureException")),
        "ServiceFailureException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_unavailable_503() {
    survives(
        FaultRule::new(aws(503, "ServiceUnavailableException")),
        "ServiceUnavailableException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_403() {
    survives(
        FaultRule::new(aws(403, "ForbiddenException")),
        "ForbiddenException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_reset() {
    survives(FaultRule::new(Fault::ResetConnection), "connection").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_closed_without_answer() {
    survives(FaultRule::new(Fault::CloseConnection), "connection").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_longer_than_the_timeout() {
    survives(FaultRule::new(Fault::Hang), "timeout").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json() {
    survives(FaultRule::new(Fault::TruncatedJson), "response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_body_is_not_zero_bots() {
    survives(FaultRule::new(Fault::EmptyBody), "response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_that_is_not_json() {
    survives(FaultRule::new(Fault::NotJson), "response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_of_the_wrong_type() {
    survives(FaultRule::new(Fault::WrongTypes), "response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_error_page_from_a_proxy() {
    survives(FaultRule::new(Fault::ProxyHtml), "http_5xx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_token_that_loops() {
    survives(FaultRule::new(Fault::LoopingToken), "pagination").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_failing_in_the_middle_of_pagination() {
    survives(
        FaultRule::new(aws(500, "ServiceFailureException")).later_pages_only(),
        "ServiceFailureException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_do_not_wait_for_a_hanging_api_once_data_exists() {
    let (fake, exporter) = setup(&[]).await;
    fake.add_fault(FaultRule::new(Fault::Hang));
    // Scrape until both accounts' refreshes hang at the API (the TTL is 1 s;
    // refreshes are started by scrapes).
    let before = fake.total_requests();
    exporter
        .metrics_until(Duration::from_secs(20), "both refreshes hanging", |_| {
            fake.in_flight() >= 2 && fake.total_requests() >= before + 2
        })
        .await;
    // Every account is being refreshed against a hanging API, yet scrapes
    // answer from the last snapshot at once.
    let started = Instant::now();
    for _ in 0..5 {
        let m = exporter.metrics().await;
        assert_eq!(value(&m, "chime_bots", VICTIM), Some(120.0));
    }
    let elapsed = started.elapsed();
    // Five scrapes well inside one API timeout: none of them waited for it.
    assert!(
        elapsed < Duration::from_secs(4),
        "scrapes waited: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_scrape_waits_only_for_the_scrapers_budget() {
    let fake = FakeChime::start().await.unwrap();
    fake.put_account(FakeAccount::new("fast", "Fast"));
    fake.put_account(FakeAccount::new("stuck", "Stuck"));
    fake.add_fault(FaultRule::new(Fault::Hang).account("stuck"));
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            "fast",
            "--chime.account-id",
            "stuck",
            "--chime.timeout",
            "30s",
            "--web.timeout-offset",
            "500ms",
        ],
    );
    let started = Instant::now();
    let resp = crate::helpers::http(
        exporter.addr,
        "GET",
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(resp.status, 200);
    // Answered after the budget (2 s - 0.5 s), not after the 30 s timeout.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let m = Metrics::parse(&resp.body);
    assert_eq!(value(&m, "chime_account_up", "stuck"), Some(0.0));
    assert_eq!(value(&m, "chime_bots", "stuck"), None);
    assert_eq!(value(&m, "chime_account_up", "fast"), Some(1.0));
    assert_eq!(value(&m, "chime_bots", "fast"), Some(0.0));
}

/// A listing keeps its concurrency slot from its first page to its last: with
/// one slot, each account's pages arrive together, not behind other
/// accounts' first pages (which would keep many accounts half-fetched, each
/// holding its pages, at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_keeps_its_slot_from_first_page_to_last() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    let ids: Vec<String> = (0..6).map(|i| format!("paged-{i}")).collect();
    let mut args = vec!["--chime.concurrency", "1", "--chime.max-results", "10"];
    for id in &ids {
        fake.put_account(FakeAccount::new(id, id).with_generated_bots(&mut rng, 25, 3));
        args.extend(["--chime.account-id", id.as_str()]);
    }
    fake.add_fault(FaultRule::new(Fault::Latency(Duration::from_millis(10))));
    let exporter = Exporter::start(&fake.url(), &args);
    exporter
        .metrics_until(Duration::from_secs(30), "all accounts up", |m| {
            ids.iter()
                .all(|id| m.get("chime_bots", &[("account_id", id)]) == Some(25.0))
        })
        .await;
    let order = fake.list_bots_order();
    assert_eq!(order.len(), ids.len() * 3, "{order:?}");
    for run in order.chunks(3) {
        assert!(
            run.iter().all(|a| a == &run[0]),
            "pages of different accounts interleaved: {order:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_limits_hold_with_200_accounts_throttling_and_50_scrapers() {
    // It measures arrival times at the fake: no other test loads the
    // machine meanwhile.
    let _alone = crate::helpers::alone();
    const CONCURRENCY: usize = 4;
    const RATE: f64 = 40.0;
    let fake = FakeChime::start().await.unwrap();
    let mut args: Vec<String> = vec![
        "--chime.concurrency".into(),
        CONCURRENCY.to_string(),
        "--chime.rate-limit".into(),
        RATE.to_string(),
        "--chime.cache-ttl".into(),
        "5s".into(),
        "--chime.error-backoff".into(),
        "1s".into(),
        "--chime.timeout".into(),
        "30s".into(),
        "--web.max-requests".into(),
        "0".into(),
    ];
    for i in 0..200 {
        let id = format!("acct-{i:03}");
        fake.put_account(FakeAccount::new(&id, &id));
        args.push("--chime.account-id".into());
        args.push(id);
    }
    fake.add_fault(FaultRule::new(Fault::Latency(Duration::from_millis(20))).probability(0.7));
    fake.add_fault(FaultRule::new(Fault::Throttle).probability(0.3));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exporter = Exporter::start(&fake.url(), &args);
    let started = Instant::now();
    let mut scrapers = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let addr = exporter.addr;
        scrapers.spawn(async move {
            let mut failed = 0;
            while started.elapsed() < Duration::from_secs(12) {
                let r = crate::helpers::http(addr, "GET", "/metrics", &[]).await;
                if r.status != 200 {
                    failed += 1;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            failed
        });
    }
    while let Some(failed) = scrapers.join_next().await {
        assert_eq!(failed.unwrap(), 0, "a scrape failed");
    }
    let calls = fake.total_requests();
    assert!(calls > 200, "only {calls} calls");
    // Never more calls in flight than the limit.
    assert!(
        fake.max_in_flight() <= CONCURRENCY,
        "{} in flight",
        fake.max_in_flight()
    );
    // Never more calls per second than the rate. The limiter (GCRA, burst
    // one) hands out at most rate x T + 1 permits in any window of length T.
    // Arrival times at the fake add the transport's jitter under this load
    // (a request on a new connection arrives later than one on a pooled
    // connection), which can move a couple of calls across a window's edge:
    // so a one-second window may show up to rate + 3, a five-second window
    // five times the rate + 3, and the average is at most the rate.
    let arrivals = fake.arrivals();
    let worst_in = |window: Duration| {
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
    };
    let worst = worst_in(Duration::from_secs(1));
    let worst5 = worst_in(Duration::from_secs(5));
    let span = arrivals
        .last()
        .unwrap()
        .duration_since(arrivals[0])
        .as_secs_f64();
    let average = (arrivals.len() - 1) as f64 / span;
    eprintln!(
        "limits: {calls} API calls, at most {} in flight (limit {CONCURRENCY}), at most {worst} in one second and {worst5} in five (limit {RATE}/s), {average:.1}/s on average",
        fake.max_in_flight()
    );
    assert!(
        worst as f64 <= RATE + 3.0,
        "{worst} calls in one second (limit {RATE})"
    );
    assert!(
        worst5 as f64 <= 5.0 * RATE + 3.0,
        "{worst5} calls in five seconds (limit {RATE}/s)"
    );
    assert!(
        average <= RATE,
        "{average:.1} calls per second on average (limit {RATE})"
    );
    // Throttled calls happened, were retried, and the accounts got their data.
    let m = exporter.metrics().await;
    assert!(
        m.sum(
            "chime_api_errors_total",
            &[("error", "ThrottledClientException")]
        ) > 10.0
    );
    let up = m.sum("chime_account_up", &[]);
    assert!(up >= 150.0, "only {up} of 200 accounts up");
}

#[test]
fn sigterm_exits_within_5s_while_an_api_call_hangs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeChime::start()).unwrap();
    fake.put_account(FakeAccount::new("h", "Hang"));
    fake.add_fault(FaultRule::new(Fault::Hang));
    let mut exporter = Exporter::start(
        &fake.url(),
        &["--chime.account-id", "h", "--chime.timeout", "60s"],
    );
    // A scrape is waiting on the hanging account when the signal comes.
    let addr = exporter.addr;
    let scrape = rt.spawn(async move { crate::helpers::http(addr, "GET", "/metrics", &[]).await });
    rt.block_on(wait_for(
        Duration::from_secs(10),
        "the API call hanging",
        || fake.in_flight() >= 1,
    ));
    let started = Instant::now();
    exporter.signal(libc::SIGTERM);
    let status = exporter
        .wait_exit(Duration::from_secs(5))
        .expect("exited within 5 s");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    scrape.abort();
    drop(rt);
}
