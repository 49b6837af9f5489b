//! The hot path and scaling out: gzip, shared renderings, shards.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use crate::helpers::{http, Exporter, Metrics};
use chime_exporter::fake::{FakeAccount, FakeChime};

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
    let plain = http(exporter.addr, "GET", "/metrics", &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    let zipped = http(
        exporter.addr,
        "GET",
        "/metrics",
        &[("Accept-Encoding", "gzip")],
    )
    .await;
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("vary"), Some("Accept-Encoding"));
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
