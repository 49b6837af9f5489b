//! The hot path and scaling out: gzip, shared renderings, shards.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use crate::helpers::{http, Exporter, Metrics, OPENMETRICS_ACCEPT};
use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};

fn account_ids(m: &Metrics) -> BTreeSet<String> {
    m.samples
        .iter()
        .filter(|(n, _, _)| n == "chime_account_up")
        .map(|(_, l, _)| l["account_id"].clone())
        .collect()
}

/// The account families of an exposition (everything before the telemetry,
/// which changes with every scrape): up to the first family that is not one
/// of the account families.
fn account_part(text: &str) -> &str {
    let families: Vec<&str> = chime_exporter::expose::FAMILIES
        .iter()
        .map(|f| f.name)
        .collect();
    let end = text
        .match_indices("# HELP ")
        .find(|(i, _)| {
            let name = text[i + 7..].split(' ').next().unwrap_or("");
            !families.contains(&name)
        })
        .map_or(text.len(), |(i, _)| i);
    &text[..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_is_served_to_clients_that_ask_and_decodes_to_the_same_metrics() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(3);
    fake.put_account(FakeAccount::new("g", "Gzip").with_generated_bots(&mut rng, 300, 7));
    let exporter = Exporter::start(&fake.url(), &["--chime.account-id", "g"]);
    exporter
        .metrics_until(Duration::from_secs(20), "g up", |m| {
            m.get("chime_bots", &[("account_id", "g")]) == Some(300.0)
        })
        .await;
    let plain = http(
        exporter.addr,
        "GET",
        "/metrics",
        &[("Accept", OPENMETRICS_ACCEPT)],
    )
    .await;
    assert_eq!(plain.header("content-encoding"), None);
    let zipped = http(
        exporter.addr,
        "GET",
        "/metrics",
        &[("Accept-Encoding", "gzip"), ("Accept", OPENMETRICS_ACCEPT)],
    )
    .await;
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("vary"), Some("Accept, Accept-Encoding"));
    assert!(
        zipped.raw_body.len() * 2 < plain.raw_body.len(),
        "gzip does not shrink it: {} vs {}",
        zipped.raw_body.len(),
        plain.raw_body.len()
    );
    // One gzip member (assembled from pieces compressed once each), read by
    // a decoder that stops after the first member: nothing may follow it.
    let mut text = String::new();
    let mut decoder = flate2::read::GzDecoder::new(&zipped.raw_body[..]);
    decoder.read_to_string(&mut text).unwrap();
    assert!(decoder.into_inner().is_empty(), "more than one gzip member");
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(account_part(&text), account_part(&plain.body));
    let m = Metrics::parse(&text);
    assert_eq!(m.count("chime_bot_info", &[]), 300);
    // A warm scrape calls no API.
    let before = fake.total_requests();
    for _ in 0..20 {
        http(
            exporter.addr,
            "GET",
            "/metrics",
            &[("Accept-Encoding", "gzip")],
        )
        .await;
    }
    assert_eq!(fake.total_requests(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_together_export_every_account_exactly_once() {
    let fake = FakeChime::start().await.unwrap();
    let all: BTreeSet<String> = (0..30).map(|i| format!("shard-acct-{i:02}")).collect();
    for id in &all {
        fake.put_account(FakeAccount::new(id, id));
    }
    let mut exporters = Vec::new();
    for index in 0..3 {
        // Index given both ways: a number, and a StatefulSet pod name.
        let index_arg = if index == 1 {
            "chime-exporter-1".to_owned()
        } else {
            index.to_string()
        };
        exporters.push(Exporter::start(
            &fake.url(),
            &["--shard.count", "3", "--shard.index", &index_arg],
        ));
    }
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for (index, exporter) in exporters.iter().enumerate() {
        exporter.ready(Duration::from_secs(30)).await;
        let m = exporter.metrics().await;
        assert_eq!(
            m.get("chime_exporter_shard_ordinal", &[]),
            Some(index as f64)
        );
        assert_eq!(m.get("chime_exporter_shards", &[]), Some(3.0));
        let ids = account_ids(&m);
        assert!(!ids.is_empty(), "shard {index} got nothing");
        total += ids.len();
        seen.extend(ids.iter().cloned());
        // Each shard exports the accounts rendezvous hashing gives it.
        for id in &ids {
            assert_eq!(
                chime_exporter::collect::shard_owner(id, 3),
                index as u32,
                "{id}"
            );
        }
    }
    assert_eq!(total, all.len(), "an account exported twice");
    assert_eq!(seen, all, "an account not exported");
    for id in &all {
        assert_eq!(
            fake.requests("ListBots", id),
            1,
            "{id} fetched by more than one shard"
        );
    }
}

/// The ListBots calls at the fake grouped into fetches (a first page, then
/// its next pages), per account.
fn fetches(fake: &FakeChime) -> std::collections::BTreeMap<String, Vec<usize>> {
    let mut out: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for call in fake.calls("ListBots") {
        let pages = out.entry(call.account_id.clone()).or_default();
        if call.first_page() {
            pages.push(0);
        }
        if let Some(last) = pages.last_mut() {
            *last += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_sees_exactly_the_pages_cold_and_per_ttl_whatever_the_scrapers() {
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(16);
    // Pages of 99: 1, 1, 1, 2, 2, 3.
    let sizes = [
        ("n0", 0),
        ("n1", 1),
        ("n99", 99),
        ("n100", 100),
        ("n198", 198),
        ("n250", 250),
    ];
    for (id, bots) in sizes {
        fake.put_account(FakeAccount::new(id, id).with_generated_bots(&mut rng, bots, 0));
    }
    let ids: Vec<&str> = sizes.iter().map(|(id, _)| *id).collect();
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            &ids.join(","),
            "--chime.cache-ttl",
            "2s",
            "--web.max-requests",
            "0",
        ],
    );
    exporter.ready(Duration::from_secs(20)).await;
    // Cold: the details from one ListAccounts page, no GetAccount, then one
    // fetch of each account, its pages exactly.
    assert_eq!(fake.requests("ListAccounts", ""), 1);
    assert_eq!(fake.calls("GetAccount").len(), 0);
    let first_listbots = fake.calls("ListBots")[0].at;
    assert!(
        fake.calls("ListAccounts")[0].at < first_listbots,
        "details first"
    );
    let pages = |bots: usize| bots.div_ceil(99).max(1);
    let cold = fetches(&fake);
    for (id, bots) in sizes {
        assert_eq!(cold[id], vec![pages(bots)], "{id}");
    }
    // Steady state, 1 scraper then 50 at once, each window 10 s (5 TTLs).
    for scrapers in [1usize, 50] {
        let before = fetches(&fake);
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..scrapers {
            let addr = exporter.addr;
            tasks.spawn(async move {
                while started.elapsed() < Duration::from_secs(10) {
                    http(addr, "GET", "/metrics", &[("Accept-Encoding", "gzip")]).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        // A refresh the last scrape started may be between its pages: let
        // it finish (no scrape, so no new fetch, starts meanwhile).
        let mut calls = fake.calls("ListBots").len();
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = fake.calls("ListBots").len();
            if now == calls {
                break;
            }
            calls = now;
        }
        let after = fetches(&fake);
        for (id, bots) in sizes {
            let new = &after[id][before[id].len()..];
            // Every fetch is the account's pages, never more; one fetch per
            // TTL (2 s, plus up to 10 % jitter, plus the next scrape).
            assert!(new.iter().all(|&p| p == pages(bots)), "{id}: {new:?}");
            assert!(
                (3..=6).contains(&new.len()),
                "{scrapers} scrapers, {id}: {} fetches in 10 s",
                new.len()
            );
        }
    }
    // Never two fetches of an account within its TTL.
    let mut last: std::collections::HashMap<String, std::time::Instant> = Default::default();
    for (at, account) in fake.fetch_starts() {
        if let Some(before) = last.insert(account.clone(), at) {
            let gap = (at - before).as_secs_f64();
            assert!(gap >= 1.99, "{account} fetched again after {gap:.2} s");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_200_a_page_once_per_discovery_ttl() {
    let fake = FakeChime::start().await.unwrap();
    for i in 0..450 {
        fake.put_account(FakeAccount::new(&format!("d{i:03}"), &format!("D {i:03}")));
    }
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.discovery-ttl",
            "2s",
            "--chime.cache-ttl",
            "1h",
            "--chime.rate-limit",
            "1000",
            "--chime.concurrency",
            "16",
        ],
    );
    exporter.ready(Duration::from_secs(60)).await;
    crate::helpers::wait_for(Duration::from_secs(30), "four rounds of discovery", || {
        fake.calls("ListAccounts")
            .iter()
            .filter(|c| c.first_page())
            .count()
            >= 4
    })
    .await;
    let calls = fake.calls("ListAccounts");
    let starts: Vec<std::time::Instant> = calls
        .iter()
        .filter(|c| c.first_page())
        .map(|c| c.at)
        .collect();
    let mut rounds: Vec<usize> = Vec::new();
    for c in &calls {
        if c.first_page() {
            rounds.push(0);
        }
        *rounds.last_mut().unwrap() += 1;
    }
    let (_, done) = rounds.split_last().unwrap();
    assert!(done.iter().all(|&p| p == 3), "pages per round: {rounds:?}");
    for w in starts.windows(2) {
        let gap = (w[1] - w[0]).as_secs_f64();
        assert!((1.9..=2.6).contains(&gap), "rounds {gap:.2} s apart");
    }
    // Discovered accounts need no GetAccount; each was fetched once.
    assert_eq!(fake.calls("GetAccount").len(), 0);
    assert_eq!(fetches(&fake).len(), 450);
    assert!(fetches(&fake).values().all(|f| f == &vec![1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_fetches_go_before_refreshes_and_none_starves_when_capacity_is_short() {
    let fake = FakeChime::start().await.unwrap();
    let ids: Vec<String> = (0..30).map(|i| format!("r{i:02}")).collect();
    for id in &ids {
        fake.put_account(FakeAccount::new(id, id));
    }
    fake.add_fault(FaultRule::new(Fault::Latency(Duration::from_millis(40))));
    // 30 accounts every second at 10 calls a second: a third of what they
    // need (the exporter says so).
    let exporter = Exporter::start(
        &fake.url(),
        &[
            "--chime.account-id",
            &ids.join(","),
            "--chime.cache-ttl",
            "1s",
            "--chime.rate-limit",
            "10",
            "--chime.concurrency",
            "2",
        ],
    );
    let started = std::time::Instant::now();
    let mut worst_age = 0.0f64;
    while started.elapsed() < Duration::from_secs(20) {
        let m = exporter.metrics().await;
        if started.elapsed() > Duration::from_secs(8) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            for id in &ids {
                let last = m
                    .get(
                        "chime_account_last_success_timestamp_seconds",
                        &[("account_id", id)],
                    )
                    .unwrap_or(0.0);
                worst_age = worst_age.max(now - last);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every account's first fetch came before any account's second.
    let calls = fake.calls("ListBots");
    let first_refresh = calls
        .iter()
        .enumerate()
        .find(|(i, c)| calls[..*i].iter().any(|p| p.account_id == c.account_id))
        .map(|(i, _)| i)
        .unwrap();
    let fetched_before: std::collections::BTreeSet<&str> = calls[..first_refresh]
        .iter()
        .map(|c| c.account_id.as_str())
        .collect();
    assert_eq!(
        fetched_before.len(),
        30,
        "a refresh came before some first fetch"
    );
    // The cycle is 3 s (30 calls at 10 a second): every account stays within
    // about one cycle, none starves.
    let per_account = fetches(&fake);
    let fewest = per_account.values().map(Vec::len).min().unwrap();
    let most = per_account.values().map(Vec::len).max().unwrap();
    eprintln!(
        "capacity short: worst data age {worst_age:.1} s; fetches per account {fewest}..{most}"
    );
    assert!(worst_age < 6.0, "an account went {worst_age:.1} s stale");
    assert!(most - fewest <= 2, "uneven: {fewest}..{most} fetches");
    assert!(fewest >= 4, "an account starved: {fewest} fetches");
}
