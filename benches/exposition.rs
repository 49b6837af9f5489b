//! Building the exposition of the account families: 100 accounts × 100 bots
//! and 1,000 × 100, plain and gzip. This is the work done once per change of
//! the account data (never per warm scrape, which reuses the bytes).
//!
//! `cargo bench --bench exposition`

use std::sync::Arc;

use chime_exporter::cache::{AccountState, AccountView, Snapshot};
use chime_exporter::chime::BotRecord;
use chime_exporter::metrics::{encode_accounts, gzip};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn views(accounts: usize, bots: usize) -> Vec<AccountView> {
    (0..accounts)
        .map(|a| {
            let bots = (0..bots)
                .map(|b| BotRecord {
                    bot_id: Some(format!("{a:08x}-{b:04x}-4000-8000-000000000000")),
                    user_id: format!("{b:08x}-{a:04x}-4000-8000-000000000001"),
                    display_name: format!("Account {a} bot {b}"),
                    bot_type: "ChatBot".to_owned(),
                    disabled: Some(b % 9 == 0),
                    created_seconds: Some(1.6e9 + b as f64),
                    updated_seconds: Some(1.7e9 + b as f64),
                })
                .collect();
            AccountView {
                account_id: format!("{a:08x}-0000-4000-8000-00000000abcd"),
                state: AccountState {
                    snapshot: Some(Arc::new(Snapshot { bots })),
                    up: true,
                    last_success_seconds: Some(1.79e9),
                    consecutive_failures: 0,
                },
                info: None,
                aws_account_id: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("exposition");
    group.sample_size(10);
    for (accounts, bots) in [(100usize, 100usize), (1000, 100)] {
        let input = views(accounts, bots);
        let mut probe = String::new();
        encode_accounts(input.clone(), false, &mut probe).expect("encode");
        group.throughput(Throughput::Bytes(probe.len() as u64));
        let id = format!("{accounts}x{bots}");
        group.bench_with_input(BenchmarkId::new("encode", &id), &input, |b, input| {
            b.iter(|| {
                let mut out = String::with_capacity(probe.len());
                encode_accounts(input.clone(), false, &mut out).expect("encode");
                out
            })
        });
        group.bench_with_input(BenchmarkId::new("gzip", &id), &probe, |b, text| {
            b.iter(|| gzip(text.as_bytes()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
