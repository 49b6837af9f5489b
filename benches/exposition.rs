//! Building the exposition of the account families: 100 accounts × 100 bots,
//! 1,000 × 100 and 10,000 × 10 (many accounts of few bots, as real Chime
//! organisations are), plain and gzip.
//!
//! * `encode`, `gzip`: the whole text in one go (what a cold start costs);
//! * `render_cold`: the renderer's first gzip rendering, one account at a
//!   time, assembled;
//! * `render_one_changed`: a scrape after one account refreshed (the common
//!   case: accounts refresh one by one), which renders only that account;
//! * `render_one_refreshed`: the same, but the refresh found the same bots
//!   (the usual case: bots rarely change), so only the account's own
//!   families (`chime_account_*`) are rendered again;
//! * `render_warm`: a scrape with nothing changed;
//! * `calls_one_changed`: the API call counters per account
//!   (`chime_api_requests_total`, `chime_api_errors_total`) after one
//!   account's call, which renders only that account's lines.
//!
//! `cargo bench --bench exposition`

use std::sync::Arc;

use chime_exporter::api::{ApiMetrics, BotRecord, ErrorKind, Operation};
use chime_exporter::collect::{AccountState, AccountView, BotList, Snapshot};
use chime_exporter::expose::gzip::gzip;
use chime_exporter::expose::{encode_accounts, AccountsRenderer, CallsRenderer, Format};
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
                .collect::<Vec<_>>();
            AccountView {
                account_id: format!("{a:08x}-0000-4000-8000-00000000abcd").into(),
                state: AccountState {
                    snapshot: Some(Arc::new(Snapshot {
                        bots: BotList::try_from_bots(bots.iter().map(BotRecord::as_bot)).unwrap(),
                    })),
                    up: true,
                    last_success_seconds: Some(1.79e9),
                    ..AccountState::default()
                },
                info: None,
                aws_account_id: None,
                cache_ttl: std::time::Duration::from_secs(300),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("exposition");
    group.sample_size(10);
    for (accounts, bots) in [(100usize, 100usize), (1000, 100), (10_000, 10)] {
        let input = views(accounts, bots);
        let mut probe = String::new();
        encode_accounts(&input, false, &mut probe);
        group.throughput(Throughput::Bytes(probe.len() as u64));
        let id = format!("{accounts}x{bots}");
        group.bench_with_input(BenchmarkId::new("encode", &id), &input, |b, input| {
            b.iter(|| {
                let mut out = String::with_capacity(probe.len());
                encode_accounts(input, false, &mut out);
                out
            })
        });
        group.bench_with_input(BenchmarkId::new("gzip", &id), &probe, |b, text| {
            b.iter(|| gzip(text.as_bytes()))
        });
        group.bench_with_input(BenchmarkId::new("render_cold", &id), &input, |b, input| {
            b.iter(|| AccountsRenderer::new(false).get(1, true, |out| out.clone_from(input)))
        });
        // Account 0 alternates between `input` and a variant, a new
        // generation each time, so every iteration renders account 0 again:
        // with other bots (a change), or with the same snapshot and a later
        // success time (a refresh that found the same bots).
        let renderer = AccountsRenderer::new(false);
        let changed = {
            let mut v = input.clone();
            v[0] = views(1, bots).remove(0);
            v[0].account_id = input[0].account_id.clone();
            v
        };
        let refreshed = {
            let mut v = input.clone();
            v[0].state.last_success_seconds = Some(1.79e9 + 60.0);
            v
        };
        let mut generation = 0u64;
        renderer.get(generation, true, |out| out.clone_from(&input));
        for (name, variant) in [
            ("render_one_changed", &changed),
            ("render_one_refreshed", &refreshed),
        ] {
            group.bench_function(BenchmarkId::new(name, &id), |b| {
                b.iter(|| {
                    generation += 1;
                    let states = if generation.is_multiple_of(2) {
                        &input
                    } else {
                        variant
                    };
                    renderer.get(generation, true, |out| out.clone_from(states))
                })
            });
        }
        group.bench_function(BenchmarkId::new("render_warm", &id), |b| {
            b.iter(|| renderer.get(generation, true, |_| unreachable!()))
        });
        let api = Arc::new(ApiMetrics::default());
        api.set_watched(input.iter().map(|v| &*v.account_id));
        for v in &input {
            api.request(Operation::ListBots, &v.account_id);
            api.request(Operation::ListAccounts, &v.account_id);
        }
        api.error(
            Operation::ListBots,
            &input[1].account_id,
            ErrorKind::Throttled,
        );
        let calls = CallsRenderer::new(Arc::clone(&api));
        calls.get(true, Format::OpenMetrics);
        group.bench_function(BenchmarkId::new("calls_one_changed", &id), |b| {
            b.iter(|| {
                api.request(Operation::ListBots, &input[0].account_id);
                calls.get(true, Format::OpenMetrics)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
