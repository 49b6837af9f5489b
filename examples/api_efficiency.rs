//! Benchmark: API efficiency and memory of the release binary.
//!
//! Run with `scripts/bench.sh` (or `cargo build --release && cargo run
//! --release --example api_efficiency`). It starts the project's fake Chime
//! API in this process, starts `target/release/chime_exporter` against it
//! (discovering every account), and measures at the fake:
//! * the time to the first complete /metrics (cold), against the ideal of
//!   all API calls (ListBots pages and ListAccounts pages) × latency /
//!   concurrency;
//! * API calls per cache TTL with 1, 10 and 100 concurrent scrapers (the
//!   ideal is the number of ListBots pages, whatever the scrapers), in the
//!   steady state: each account's refresh interval is measured at the fake
//!   (from one fetch's first page to the next), so the figure does not depend
//!   on where a window falls among the staggered refreshes;
//! * the peak number of calls in flight against `--chime.concurrency`;
//! * resident memory after the full collection, and after a run of scrapes.
//!
//! Two profiles (`BENCH_PROFILE`):
//! * `bots` (the default): 1,000 accounts of 120 bots, 50 ms a call,
//!   concurrency 4, 10,000 scrapes for memory;
//! * `accounts`: 10,000 accounts of 10 bots (the shape of a large
//!   organisation: Chime allows 10 chatbots an account), 20 ms a call,
//!   concurrency 8, 2,000 scrapes for memory while 1 % of the accounts
//!   change their bots every TTL.
//!
//! `BENCH_ACCOUNTS`, `BENCH_BOTS`, `BENCH_LATENCY_MS`, `BENCH_CONCURRENCY`,
//! `BENCH_TTL_SECS`, `BENCH_SCRAPES` and `BENCH_CHURN_PERCENT` override a
//! profile's values. Numbers are printed as a Markdown table. Loopback only,
//! bounded in time.
//!
//! For memory work: `BENCH_MEMORY_ONLY=1` runs only the collection and
//! twice the scrapes, logging RSS as it goes; `BENCH_WRAPPER=heaptrack` (any
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

/// What one run measures, and its targets.
#[derive(Debug, Clone)]
struct Profile {
    accounts: usize,
    bots: usize,
    latency: Duration,
    concurrency: usize,
    /// Long enough for one full collection.
    ttl_secs: u64,
    /// Scrapes (16 at a time, gzip) for the memory figure.
    scrapes: u64,
    /// Accounts whose bots change once per TTL, in percent.
    churn_percent: f64,
    /// The cold collection's target: this × the ideal.
    cold_factor: f64,
    /// The RSS target after the collection.
    rss_limit_mib: u64,
    /// In the steady state, each scraper waits this long between its
    /// scrapes (a Prometheus scraping every second, or every 15 s), its
    /// first scrape at a random point of it. Back-to-back scrapes of many
    /// MB from 100 threads would starve the fake API (in this process) of
    /// CPU on a 2-core machine and measure that instead: at 10,000 accounts
    /// a scrape is 21 MB of gzip.
    scrape_pause: Duration,
}

impl Profile {
    fn from_env() -> Profile {
        let mut p = match std::env::var("BENCH_PROFILE").as_deref() {
            Ok("accounts") => Profile {
                accounts: 10_000,
                bots: 10,
                latency: Duration::from_millis(20),
                concurrency: 8,
                ttl_secs: 60,
                scrapes: 2_000,
                churn_percent: 1.0,
                cold_factor: 1.1,
                rss_limit_mib: 64,
                scrape_pause: Duration::from_secs(15),
            },
            _ => Profile {
                accounts: 1000,
                bots: 120,
                latency: Duration::from_millis(50),
                concurrency: 4,
                ttl_secs: 60,
                scrapes: 10_000,
                churn_percent: 0.0,
                cold_factor: 1.2,
                rss_limit_mib: 200,
                scrape_pause: Duration::from_secs(1),
            },
        };
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
        if let Some(v) = var("BENCH_ACCOUNTS") {
            p.accounts = v as usize;
        }
        if let Some(v) = var("BENCH_BOTS") {
            p.bots = v as usize;
        }
        if let Some(v) = var("BENCH_LATENCY_MS") {
            p.latency = Duration::from_secs_f64(v / 1000.0);
        }
        if let Some(v) = var("BENCH_CONCURRENCY") {
            p.concurrency = v as usize;
        }
        if let Some(v) = var("BENCH_TTL_SECS") {
            p.ttl_secs = v as u64;
        }
        if let Some(v) = var("BENCH_SCRAPES") {
            p.scrapes = v as u64;
        }
        if let Some(v) = var("BENCH_CHURN_PERCENT") {
            p.churn_percent = v;
        }
        p
    }

    /// ListBots pages of one fetch of every account.
    fn pages(&self) -> u64 {
        (self.accounts * self.bots.div_ceil(99).max(1)) as u64
    }

    /// ListAccounts pages of one round of discovery.
    fn account_pages(&self) -> u64 {
        self.accounts.div_ceil(200).max(1) as u64
    }
}

/// What Prometheus sends: OpenMetrics first.
const OPENMETRICS: &str =
    "Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2\r\n";

fn get(addr: SocketAddr, path: &str, gzip: bool) -> Option<Vec<u8>> {
    get_as(addr, path, gzip, OPENMETRICS)
}

/// `accept`: the `Accept` header line, or "" for none (the text format).
fn get_as(addr: SocketAddr, path: &str, gzip: bool, accept: &str) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).ok()?;
    let enc = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{enc}{accept}Connection: close\r\n\r\n"
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

/// `n` scrapers scraping for `dur`, each starting at a random point of
/// `pause` and pausing `pause` after each scrape; returns the scrapes made.
/// Half the scrapes ask for OpenMetrics (as Prometheus does), half for the
/// text format (older agents), so that both are kept rendered, as they
/// are where both kinds of clients scrape.
fn scrape_for(addr: SocketAddr, n: usize, dur: Duration, gzip: bool, pause: Duration) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + dur;
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                // Spread over the pause, as independent scrapers are.
                std::thread::sleep(pause.mul_f64(fastrand::f64()));
                while Instant::now() < until {
                    let accept = if fastrand::bool() { OPENMETRICS } else { "" };
                    if get_as(addr, "/metrics", gzip, accept).is_some() {
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
    let p = Profile::from_env();
    eprintln!("profile: {p:?}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = Arc::new(runtime.block_on(FakeChime::start()).expect("fake API"));
    let mut rng = fastrand::Rng::with_seed(6);
    for i in 0..p.accounts {
        fake.put_account(
            FakeAccount::new(&format!("bench-{i:05}"), &format!("Bench {i:05}"))
                .with_generated_bots(&mut rng, p.bots, 9),
        );
    }
    fake.add_fault(FaultRule::new(Fault::Latency(p.latency)));
    let pages_per_ttl = p.pages();
    let latency_ms = p.latency.as_millis();

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
            &p.concurrency.to_string(),
            // Out of the way: the highest the flag takes.
            "--chime.rate-limit",
            "10000",
            "--chime.cache-ttl",
            &format!("{}s", p.ttl_secs),
            // Discovery as often as the bots: per TTL, the API then sees
            // every ListBots page and every ListAccounts page once.
            "--chime.discovery-ttl",
            &format!("{}s", p.ttl_secs),
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
    // as Prometheus does. Until the exporter says it is ready (every
    // account fetched once), only `/-/ready` is asked every 50 ms: reading
    // and counting a large exposition ten times a second would take a core
    // from the fake API and the exporter, and measure that.
    let cold = loop {
        if get(addr, "/-/ready", false).is_some() {
            if let Some(body) = get(addr, "/metrics", true) {
                // When the answer was in, not once it was read through.
                let at = started.elapsed();
                if up_accounts(&gunzip(&body)) == p.accounts {
                    break at;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let cold_calls = fake.total_requests();
    let all_calls = pages_per_ttl + p.account_pages();
    let ideal =
        Duration::from_secs_f64(all_calls as f64 * p.latency.as_secs_f64() / p.concurrency as f64);
    let rss_collected = rss_kib(pid);
    // Where the cold time went, at the fake.
    let since = |t: Instant| (t - started).as_secs_f64();
    let listings = fake.calls("ListAccounts");
    let bots = fake.calls("ListBots");
    let span = |calls: &[chime_exporter::fake::Call]| {
        calls
            .first()
            .zip(calls.last())
            .map(|(a, b)| format!("{:.2}–{:.2} s", since(a.at), since(b.at)))
            .unwrap_or_default()
    };
    let cold_breakdown = format!("ListAccounts {}, ListBots {}", span(&listings), span(&bots));
    eprintln!(
        "collected in {:.1} s, RSS {} MiB; at the fake: {cold_breakdown}",
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
    } else if p.churn_percent > 0.0 {
        // `churn_percent` of the accounts, a different slice each time,
        // change one bot, spread evenly over each TTL.
        let fake = Arc::clone(&fake);
        let ids = fake.account_ids();
        let per_ttl = ((ids.len() as f64 * p.churn_percent / 100.0).ceil() as usize).max(1);
        let pause = Duration::from_secs_f64(p.ttl_secs as f64 / per_ttl as f64);
        std::thread::spawn(move || {
            for (n, id) in ids.iter().cycle().step_by(97).enumerate() {
                fake.with_account(id, |a| {
                    let count = a.bots.len();
                    if let Some(bot) = a.bots.get_mut(n % count.max(1)) {
                        bot.disabled = !bot.disabled;
                        bot.updated += 1.0;
                    }
                });
                std::thread::sleep(pause);
            }
        });
        eprintln!(
            "churn: {per_ttl} accounts ({} %) change a bot every TTL",
            p.churn_percent
        );
    }

    // Memory after `scrapes` scrapes (16 at a time, gzip, as fast as they
    // go), right after the collection: accounts start refreshing meanwhile,
    // so this also covers re-rendering. RSS is logged as it goes.
    let t = Instant::now();
    let mut scraped = 0;
    while scraped < p.scrapes {
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
        // As many again, to tell a working set from growth.
        let mut more = 0;
        while more < p.scrapes {
            more += scrape_for(addr, 16, Duration::from_secs(5), true, Duration::ZERO);
            eprintln!("{more} more scrapes, RSS {} MiB", rss_kib(pid) / 1024);
        }
        let _ = child.kill();
        let _ = child.wait();
        return;
    }

    // One TTL of a single scraper first: the cold collection's fetches,
    // spread over the collection, expire and are refreshed once before
    // measuring.
    let _ = scrape_for(
        addr,
        1,
        Duration::from_secs(p.ttl_secs),
        true,
        p.scrape_pause,
    );
    // Two TTLs each with 1, 10 and 100 scrapers.
    let mut per_ttl = Vec::new();
    for scrapers in [1usize, 10, 100] {
        let list_bots = || fake.calls("ListBots").len() as u64;
        let before = list_bots();
        let from = Instant::now();
        let scrapes = scrape_for(
            addr,
            scrapers,
            Duration::from_secs(2 * p.ttl_secs),
            true,
            p.scrape_pause,
        );
        let to = Instant::now();
        let calls = list_bots() - before;
        per_ttl.push(steady_state(
            &p,
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
    // Rounds of discovery over the whole run, and their pages.
    let listings = fake.calls("ListAccounts");
    let rounds = listings.iter().filter(|c| c.first_page()).count();
    let run_secs = started.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&home);

    let (accounts, bots, concurrency, ttl) = (p.accounts, p.bots, p.concurrency, p.ttl_secs);
    println!("| measure | figure | target | met |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| cold: first complete /metrics, {accounts} accounts × {bots} bots, {latency_ms} ms per call | {:.1} s ({cold_calls} calls at the fake; ideal {:.1} s = {all_calls} calls ({pages_per_ttl} ListBots + {} ListAccounts) × {latency_ms} ms / {concurrency}) | ≤ {:.1} × ideal | {} |",
        cold.as_secs_f64(),
        ideal.as_secs_f64(),
        p.account_pages(),
        p.cold_factor,
        if cold.as_secs_f64() <= ideal.as_secs_f64() * p.cold_factor { "yes" } else { "no" }
    );
    // TTLs get 0–10 % jitter on purpose (refreshes spread out): an account
    // is fetched every TTL × 1.05 on average, so the steady state is the
    // page count / 1.05 per TTL.
    let expected = pages_per_ttl as f64 / 1.05;
    for w in &per_ttl {
        println!(
            "| API calls per TTL ({ttl} s), {} scraper(s) scraping every {:.0} s ({} gzip scrapes in {:.0} s) | {:.0} ({} ListBots calls in the window; {:.2} pages per fetch; mean refresh every {:.1} s, shortest {:.1} s) | never more than the pages ({pages_per_ttl}; {expected:.0} with the TTL's jitter); never two fetches of an account within one TTL; each account refreshed within TTL + jitter + one scrape interval (a refresh starts at the first scrape after expiry) | {} |",
            w.scrapers,
            p.scrape_pause.as_secs_f64(),
            w.scrapes,
            w.window_secs,
            w.calls_per_ttl,
            w.calls,
            w.pages_per_fetch,
            w.mean_interval,
            w.min_interval,
            if w.calls_per_ttl <= expected * 1.05
                && w.min_interval >= ttl as f64
                && w.mean_interval <= ttl as f64 * 1.1 + p.scrape_pause.as_secs_f64()
            {
                "yes"
            } else {
                "no"
            }
        );
    }
    println!(
        "| ListAccounts pages per round of discovery ({rounds} rounds in {run_secs:.0} s, discovery TTL {ttl} s) | {:.2} | = ⌈accounts / 200⌉ = {} | {} |",
        listings.len() as f64 / rounds.max(1) as f64,
        p.account_pages(),
        if rounds > 0 && listings.len() as u64 == rounds as u64 * p.account_pages() { "yes" } else { "no" }
    );
    println!(
        "| peak API calls in flight | {peak_in_flight} | ≤ --chime.concurrency ({concurrency}) | {} |",
        if peak_in_flight <= concurrency { "yes" } else { "no" }
    );
    println!(
        "| RSS after full collection ({} bots; exposition {:.1} MB, gzip {:.1} MB) | {:.0} MiB | < {} MiB | {} |",
        accounts * bots,
        plain_len as f64 / 1e6,
        body_gz.len() as f64 / 1e6,
        rss_collected as f64 / 1024.0,
        p.rss_limit_mib,
        if rss_collected < p.rss_limit_mib * 1024 { "yes" } else { "no" }
    );
    let churn = if p.churn_percent > 0.0 {
        format!(", {} % of accounts changing per TTL", p.churn_percent)
    } else {
        String::new()
    };
    println!(
        "| RSS after {} more scrapes ({scraped} gzip scrapes in {scrape_secs:.0} s, half OpenMetrics and half text 0.0.4{churn}) | {:.0} MiB ({:+.1} %) | < 10 % growth | {} |",
        p.scrapes,
        rss_after as f64 / 1024.0,
        (rss_after as f64 / rss_collected as f64 - 1.0) * 100.0,
        if (rss_after as f64) < rss_collected as f64 * 1.1 { "yes" } else { "no" }
    );
    let later: u64 = per_ttl.iter().map(|w| w.scrapes).sum();
    println!(
        "| RSS at the end (after {later} more scrapes over {:.0} min, 100 scrapers at the last) | {:.0} MiB ({:+.1} % over the collection) | — | — |",
        (7 * ttl) as f64 / 60.0,
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
    p: &Profile,
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
        calls_per_ttl: p.accounts as f64 * pages_per_fetch * p.ttl_secs as f64 / mean_interval,
    }
}
