//! Benchmark: API efficiency and memory of the release binary.
//!
//! Run with `scripts/bench.sh` (or `cargo build --release && cargo run
//! --release --example api_efficiency`). It starts the project's fake Chime
//! API in this process (1,000 accounts of 120 bots, 50 ms added to every
//! answer), starts `target/release/chime_exporter` against it, and measures
//! at the fake:
//! * the time to the first complete /metrics (cold), against the ideal of
//!   all API calls × latency / concurrency;
//! * API calls per cache TTL with 1, 10 and 100 concurrent scrapers (the
//!   ideal is the number of ListBots pages, whatever the scrapers), in the
//!   steady state: each account's refresh interval is measured at the fake
//!   (from one fetch's first page to the next), so the figure does not depend
//!   on where a window falls among the staggered refreshes;
//! * the peak number of calls in flight against `--chime.concurrency`;
//! * resident memory after the full collection, and after 10,000 scrapes.
//!
//! Numbers are printed as a Markdown table. Loopback only, bounded in time.
//!
//! For memory work: `BENCH_MEMORY_ONLY=1` runs only the collection and
//! 20,000 scrapes, logging RSS as it goes; `BENCH_WRAPPER=heaptrack` (any
//! program that takes the command line after it) runs the exporter under it.
//! `BENCH_CHURN=1` changes one bot of every account every second once the
//! collection is done, so that every refresh finds new data (the worst case
//! for memory; by default the bots stay as they are, as they mostly do).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};

const ACCOUNTS: usize = 1000;
const BOTS: usize = 120;
const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: usize = 4;
/// Long enough for one full collection (2,000 pages × 50 ms / 4 = 25 s).
const TTL_SECS: u64 = 60;
/// Each scraper waits this long between its scrapes (a Prometheus scraping
/// every second); back-to-back 16 MB scrapes from 100 threads would starve
/// the fake API of CPU on a 2-core machine and measure that instead.
const SCRAPE_PAUSE: Duration = Duration::from_secs(1);

fn get(addr: SocketAddr, path: &str, gzip: bool) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).ok()?;
    let enc = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{enc}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    buf.starts_with(b"HTTP/1.1 200")
        .then(|| buf[split + 4..].to_vec())
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn gunzip(body: &[u8]) -> String {
    let mut text = String::new();
    let _ = flate2::read::GzDecoder::new(body).read_to_string(&mut text);
    text
}

fn up_accounts(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("chime_account_up{") && l.ends_with(" 1"))
        .count()
}

/// `n` scrapers scraping for `dur`, pausing `pause` after each scrape;
/// returns the scrapes made.
fn scrape_for(addr: SocketAddr, n: usize, dur: Duration, gzip: bool, pause: Duration) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + dur;
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                while Instant::now() < until {
                    if get(addr, "/metrics", gzip).is_some() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(pause);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    done.load(Ordering::Relaxed)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = Arc::new(runtime.block_on(FakeChime::start()).expect("fake API"));
    let mut rng = fastrand::Rng::with_seed(6);
    for i in 0..ACCOUNTS {
        fake.put_account(
            FakeAccount::new(&format!("bench-{i:04}"), &format!("Bench {i:04}"))
                .with_generated_bots(&mut rng, BOTS, 9),
        );
    }
    fake.add_fault(FaultRule::new(Fault::Latency(LATENCY)));
    let pages_per_ttl = (ACCOUNTS * BOTS.div_ceil(99)) as u64;

    let binary = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/chime_exporter");
    let home = std::env::temp_dir().join(format!("chime-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);
    let mut cmd = match std::env::var("BENCH_WRAPPER") {
        Ok(w) => {
            let mut c = Command::new(w);
            c.arg(binary);
            c
        }
        Err(_) => Command::new(binary),
    };
    let mut child = cmd
        .args([
            "--chime.endpoint-url",
            &fake.url(),
            "--chime.concurrency",
            &CONCURRENCY.to_string(),
            "--chime.rate-limit",
            "10000",
            "--chime.cache-ttl",
            &format!("{TTL_SECS}s"),
            "--chime.timeout",
            "60s",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.max-requests",
            "0",
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start target/release/chime_exporter (cargo build --release first)");
    let started = Instant::now();
    let stderr = child.stderr.take().expect("stderr");
    let mut addr = None;
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    for line in lines.by_ref() {
        if let Some(a) = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("address="))
        {
            addr = a.parse::<SocketAddr>().ok();
            break;
        }
    }
    let addr = addr.expect("listening address");
    // Keep draining the log so the exporter never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let pid = child.id();

    // Cold: until one /metrics has every account up. Scrapes ask for gzip,
    // as Prometheus does.
    loop {
        if let Some(body) = get(addr, "/metrics", true) {
            if up_accounts(&gunzip(&body)) == ACCOUNTS {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let cold = started.elapsed();
    let cold_calls = fake.total_requests();
    let ideal =
        Duration::from_secs_f64(cold_calls as f64 * LATENCY.as_secs_f64() / CONCURRENCY as f64);
    let rss_collected = rss_kib(pid);
    eprintln!(
        "collected in {:.1} s, RSS {} MiB",
        cold.as_secs_f64(),
        rss_collected / 1024
    );
    let body_gz = get(addr, "/metrics", true).unwrap_or_default();
    let plain_len = gunzip(&body_gz).len();
    if std::env::var_os("BENCH_CHURN").is_some() {
        let fake = Arc::clone(&fake);
        std::thread::spawn(move || {
            for round in 0usize.. {
                for id in fake.account_ids() {
                    fake.with_account(&id, |a| {
                        let count = a.bots.len();
                        if let Some(bot) = a.bots.get_mut(round % count.max(1)) {
                            bot.disabled = !bot.disabled;
                            bot.updated += 1.0;
                        }
                    });
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        eprintln!("churn: one bot of every account changes every second");
    }

    // Memory after 10,000 scrapes (16 at a time, gzip, as fast as they go),
    // right after the collection: accounts start refreshing meanwhile, so
    // this also covers re-rendering. RSS is logged as it goes.
    let t = Instant::now();
    let mut scraped = 0;
    while scraped < 10_000 {
        scraped += scrape_for(addr, 16, Duration::from_secs(5), true, Duration::ZERO);
        eprintln!(
            "{:>4.0} s: {scraped} scrapes, RSS {} MiB",
            t.elapsed().as_secs_f64(),
            rss_kib(pid) / 1024
        );
    }
    let scrape_secs = t.elapsed().as_secs_f64();
    let rss_after = rss_kib(pid);
    if std::env::var_os("BENCH_MEMORY_ONLY").is_some() {
        // A second 10,000, to tell a working set from growth.
        let mut more = 0;
        while more < 10_000 {
            more += scrape_for(addr, 16, Duration::from_secs(5), true, Duration::ZERO);
            eprintln!("{more} more scrapes, RSS {} MiB", rss_kib(pid) / 1024);
        }
        let _ = child.kill();
        let _ = child.wait();
        return;
    }

    // One TTL of a single scraper first: the cold collection's fetches,
    // spread over its 27 s, expire and are refreshed once before measuring.
    let _ = scrape_for(addr, 1, Duration::from_secs(TTL_SECS), true, SCRAPE_PAUSE);
    // Two TTLs each with 1, 10 and 100 scrapers.
    let mut per_ttl = Vec::new();
    for scrapers in [1usize, 10, 100] {
        let before = fake.total_requests();
        let from = Instant::now();
        let scrapes = scrape_for(
            addr,
            scrapers,
            Duration::from_secs(2 * TTL_SECS),
            true,
            SCRAPE_PAUSE,
        );
        let to = Instant::now();
        let calls = fake.total_requests() - before;
        per_ttl.push(steady_state(
            &fake.fetch_starts(),
            from,
            to,
            scrapers,
            scrapes,
            calls,
        ));
    }
    let rss_end = rss_kib(pid);
    let peak_in_flight = fake.max_in_flight();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&home);

    println!("| measure | figure | target | met |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| cold: first complete /metrics, {ACCOUNTS} accounts × {BOTS} bots, 50 ms per call | {:.1} s ({cold_calls} calls; ideal {:.1} s = calls × 50 ms / {CONCURRENCY}) | within 20 % of ideal | {} |",
        cold.as_secs_f64(),
        ideal.as_secs_f64(),
        if cold.as_secs_f64() <= ideal.as_secs_f64() * 1.2 { "yes" } else { "no" }
    );
    // TTLs get 0–10 % jitter on purpose (refreshes spread out): an account
    // is fetched every TTL × 1.05 on average, so the steady state is the
    // page count / 1.05 per TTL.
    let expected = pages_per_ttl as f64 / 1.05;
    for w in &per_ttl {
        println!(
            "| API calls per TTL ({TTL_SECS} s), {} scraper(s) scraping every second ({} gzip scrapes in {:.0} s) | {:.0} ({} calls in the window; {:.2} pages per fetch; mean refresh every {:.1} s, shortest {:.1} s) | = pages ({pages_per_ttl}; {expected:.0} with the TTL's jitter); never two fetches of an account within one TTL | {} |",
            w.scrapers,
            w.scrapes,
            w.window_secs,
            w.calls_per_ttl,
            w.calls,
            w.pages_per_fetch,
            w.mean_interval,
            w.min_interval,
            if (w.calls_per_ttl - expected).abs() <= expected * 0.05
                && w.min_interval >= TTL_SECS as f64
            {
                "yes"
            } else {
                "no"
            }
        );
    }
    println!(
        "| peak API calls in flight | {peak_in_flight} | ≤ --chime.concurrency ({CONCURRENCY}) | {} |",
        if peak_in_flight <= CONCURRENCY { "yes" } else { "no" }
    );
    println!(
        "| RSS after full collection ({} bots; exposition {:.1} MB, gzip {:.1} MB) | {:.0} MiB | < 200 MiB | {} |",
        ACCOUNTS * BOTS,
        plain_len as f64 / 1e6,
        body_gz.len() as f64 / 1e6,
        rss_collected as f64 / 1024.0,
        if rss_collected < 200 * 1024 { "yes" } else { "no" }
    );
    println!(
        "| RSS after 10,000 more scrapes ({scraped} gzip scrapes in {scrape_secs:.0} s) | {:.0} MiB ({:+.1} %) | < 10 % growth | {} |",
        rss_after as f64 / 1024.0,
        (rss_after as f64 / rss_collected as f64 - 1.0) * 100.0,
        if (rss_after as f64) < rss_collected as f64 * 1.1 { "yes" } else { "no" }
    );
    let later: u64 = per_ttl.iter().map(|w| w.scrapes).sum();
    println!(
        "| RSS at the end (after {later} more scrapes over 6 min, 100 scrapers at the last) | {:.0} MiB ({:+.1} % over the collection) | — | — |",
        rss_end as f64 / 1024.0,
        (rss_end as f64 / rss_collected as f64 - 1.0) * 100.0,
    );
}

/// What one scraper count did to the API, in the steady state.
struct Window {
    scrapers: usize,
    scrapes: u64,
    window_secs: f64,
    calls: u64,
    pages_per_fetch: f64,
    /// Mean and shortest time between two fetches of the same account.
    mean_interval: f64,
    min_interval: f64,
    /// Accounts × pages per fetch × TTL / mean interval.
    calls_per_ttl: f64,
}

/// Reads the fetches of each account (first pages, at the fake) that began
/// between `from` and `to`.
fn steady_state(
    starts: &[(Instant, String)],
    from: Instant,
    to: Instant,
    scrapers: usize,
    scrapes: u64,
    calls: u64,
) -> Window {
    let mut by_account: std::collections::HashMap<&str, Vec<Instant>> = Default::default();
    for (at, account) in starts.iter().filter(|(at, _)| *at >= from && *at < to) {
        by_account.entry(account).or_default().push(*at);
    }
    let fetches: usize = by_account.values().map(Vec::len).sum();
    let intervals: Vec<f64> = by_account
        .values()
        .flat_map(|ts| ts.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()))
        .collect();
    let mean_interval = intervals.iter().sum::<f64>() / intervals.len().max(1) as f64;
    let min_interval = intervals.iter().cloned().fold(f64::INFINITY, f64::min);
    let pages_per_fetch = calls as f64 / fetches.max(1) as f64;
    Window {
        scrapers,
        scrapes,
        window_secs: (to - from).as_secs_f64(),
        calls,
        pages_per_fetch,
        mean_interval,
        min_interval,
        calls_per_ttl: ACCOUNTS as f64 * pages_per_fetch * TTL_SECS as f64 / mean_interval,
    }
}
