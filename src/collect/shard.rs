//! Sharding accounts over several exporters (`--shard.count`,
//! `--shard.index`), for when one exporter is not enough or may not hold
//! every account's credentials.
//!
//! Accounts are assigned by rendezvous (highest-random-weight) hashing: each
//! shard scores each account, the highest score owns it. Every account has
//! exactly one owner, and going from N to N+1 shards moves only the accounts
//! the new shard wins, about 1/(N+1) of them; hash-modulo would move most.
//! The hash is FNV-1a with a 64-bit finalizer: stable across builds and
//! platforms (std's hasher is not), so every replica agrees.

use crate::config::Shard;

fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// splitmix64's finalizer: spreads FNV's weak low bits over the word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn score(account_id: &str, shard: u32) -> u64 {
    mix(fnv1a(account_id.bytes().chain(shard.to_le_bytes())))
}

/// The shard (of `count`) that owns `account_id`.
pub fn owner(account_id: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|&i| (score(account_id, i), i))
        .unwrap_or(0)
}

/// Whether `shard` owns `account_id`.
pub fn owns(shard: &Shard, account_id: &str) -> bool {
    shard.count <= 1 || owner(account_id, shard.count) == shard.index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("acct-{i:05}-{:x}", i * 7919))
            .collect()
    }

    #[test]
    fn every_account_has_exactly_one_shard() {
        let ids = ids(10_000);
        for count in 1..=8u32 {
            let mut per_shard = vec![0usize; count as usize];
            for id in &ids {
                let owners: Vec<u32> = (0..count)
                    .filter(|&i| owns(&Shard { index: i, count }, id))
                    .collect();
                assert_eq!(owners.len(), 1, "{id} with {count} shards: {owners:?}");
                per_shard[owners[0] as usize] += 1;
            }
            // And the load is even (within 10 % of the mean).
            let mean = ids.len() as f64 / f64::from(count);
            for n in per_shard {
                assert!((n as f64 - mean).abs() < mean * 0.1, "{n} vs {mean}");
            }
        }
    }

    #[test]
    fn adding_a_shard_moves_about_one_in_n_plus_1() {
        let ids = ids(10_000);
        for n in 1..=7u32 {
            let moved = ids
                .iter()
                .filter(|id| owner(id, n) != owner(id, n + 1))
                .count();
            let expected = ids.len() as f64 / f64::from(n + 1);
            assert!(
                (moved as f64 - expected).abs() < expected * 0.15,
                "{n} -> {}: moved {moved}, expected about {expected}",
                n + 1
            );
            // Every moved account went to the new shard.
            assert!(ids
                .iter()
                .filter(|id| owner(id, n) != owner(id, n + 1))
                .all(|id| owner(id, n + 1) == n));
            // Hash-modulo, for comparison, moves most accounts.
            let modulo = ids
                .iter()
                .filter(|id| {
                    fnv1a(id.bytes()) % u64::from(n) != fnv1a(id.bytes()) % u64::from(n + 1)
                })
                .count();
            if n >= 2 {
                assert!(
                    modulo as f64 > ids.len() as f64 * 0.5,
                    "modulo moved {modulo}"
                );
            }
        }
    }
}
