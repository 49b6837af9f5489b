//! A bounded soak on loopback: 200 concurrent scrapers for 60 seconds while
//! the fake API throttles and resets connections. No scrape fails, and
//! afterwards the process holds no more file descriptors or threads than
//! before, and about the same memory.
//!
//! It takes the machine alone (see `helpers::alone`), so that it does not
//! share it with the timing-sensitive tests.

use std::time::{Duration, Instant};

use crate::helpers::Exporter;
use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};

const SCRAPERS: usize = 200;
const DURATION: Duration = Duration::from_secs(60);
/// API calls in flight at once; the SDK may keep as many pooled connections.
const CONCURRENCY: usize = 4;

fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// `SCRAPERS` clients scraping back to back for `duration`: (ok, failed).
async fn scrape_for(exporter: &Exporter, duration: Duration) -> (u64, u64) {
    let started = Instant::now();
    let mut scrapers = tokio::task::JoinSet::new();
    for _ in 0..SCRAPERS {
        let addr = exporter.addr;
        scrapers.spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while started.elapsed() < duration {
                let r = crate::helpers::http(
                    addr,
                    "GET",
                    "/metrics",
                    &[("Accept", crate::helpers::OPENMETRICS_ACCEPT)],
                )
                .await;
                if r.status == 200 && r.body.ends_with("# EOF\n") {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            (ok, failed)
        });
    }
    let (mut ok, mut failed) = (0, 0);
    while let Some(r) = scrapers.join_next().await {
        let (o, f) = r.unwrap();
        ok += o;
        failed += f;
    }
    (ok, failed)
}

/// Waits until the process's descriptor count has not changed for 2 s (the
/// scrapers' connections closed, the API connections back in their pool).
async fn settled_fds(pid: u32) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = open_fds(pid);
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = open_fds(pid);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_secs(2) {
            return now;
        }
        assert!(Instant::now() < deadline, "descriptors never settled");
    }
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_200_scrapers_for_60_seconds_under_faults() {
    let _alone = crate::helpers::alone();
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    let mut args: Vec<String> = vec![
        "--web.max-requests".into(),
        "400".into(),
        "--chime.cache-ttl".into(),
        "2s".into(),
        "--chime.error-backoff".into(),
        "500ms".into(),
        "--chime.rate-limit".into(),
        "100".into(),
        "--chime.concurrency".into(),
        CONCURRENCY.to_string(),
    ];
    for i in 0..20 {
        let id = format!("soak-{i}");
        fake.put_account(FakeAccount::new(&id, &id).with_generated_bots(&mut rng, 50 + i * 10, 4));
        args.push("--chime.account-id".into());
        args.push(id);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exporter = Exporter::start(&fake.url(), &args);
    let pid = exporter.pid();
    // Warm up: every account fetched, the first wave of connections served.
    exporter
        .metrics_until(Duration::from_secs(30), "all accounts up", |m| {
            m.sum("chime_account_up", &[]) == 20.0
        })
        .await;
    fake.add_fault(FaultRule::new(Fault::Throttle).probability(0.2));
    fake.add_fault(FaultRule::new(Fault::ResetConnection).probability(0.1));
    // The same load for 10 s first: the allocator reaches its working set
    // (memory it keeps for reuse), so what is compared below is growth
    // during the soak, not the first touch of the working set.
    let _ = scrape_for(&exporter, Duration::from_secs(10)).await;
    let fds_before = settled_fds(pid).await;
    let (threads_before, rss_before) = (proc_status(pid, "Threads:"), proc_status(pid, "VmRSS:"));

    let (ok, failed) = scrape_for(&exporter, DURATION).await;
    fake.clear_faults();
    let m = exporter.metrics().await;
    let api_errors = m.sum("chime_api_errors_total", &[]);
    let fds_after = settled_fds(pid).await;
    let (threads_after, rss_after) = (proc_status(pid, "Threads:"), proc_status(pid, "VmRSS:"));
    eprintln!(
        "soak: {ok} scrapes ({:.0}/s), {failed} failed, {api_errors} API errors; fds {fds_before} -> {fds_after}, threads {threads_before} -> {threads_after}, RSS {rss_before} kB -> {rss_after} kB",
        ok as f64 / DURATION.as_secs_f64()
    );
    assert_eq!(failed, 0, "failed scrapes");
    assert!(ok > 1000, "only {ok} scrapes");
    assert!(api_errors > 0.0, "the faults were not exercised");
    // Descriptors may differ only by the SDK's pooled keep-alive connections
    // to the API (at most one per concurrent call).
    assert!(
        fds_after <= fds_before + CONCURRENCY,
        "fds {fds_before} -> {fds_after}"
    );
    assert!(
        threads_after <= threads_before,
        "threads {threads_before} -> {threads_after}"
    );
    assert!(
        (rss_after as f64) <= rss_before as f64 * 1.10,
        "RSS {rss_before} kB -> {rss_after} kB"
    );
}
