//! Where the groups of accounts that are rendered together begin and end.
//!
//! Accounts are rendered (and compressed) in runs of consecutive accounts:
//! see [`super::render`] and [`super::calls`]. The boundaries must be
//! stable, so that the same accounts make the same groups from one scrape
//! to the next and an account that comes or goes changes its own group
//! only: a group ends after an account whose id hashes to a boundary
//! (content-defined, like the chunk boundaries of rsync or restic, rather
//! than every n-th account, which would shift every later group), or
//! before an account that would make it too heavy.

/// Walks a list of accounts, saying where groups end.
#[derive(Debug, Clone)]
pub struct Grouper {
    max_weight: usize,
    spread: u64,
    weight: usize,
}

/// FNV-1a, 64 bits: cheap, and stable across runs and builds (the
/// standard library's hasher is seeded per process).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Grouper {
    /// Groups of at most `max_weight` (unless one account weighs more),
    /// ending on average every `spread` accounts.
    pub fn new(max_weight: usize, spread: u64) -> Grouper {
        Grouper {
            max_weight,
            spread: spread.max(1),
            weight: 0,
        }
    }

    /// Called before each account with its weight: whether the group so far
    /// must end before it (it is then the first of a new group).
    pub fn before(&mut self, weight: usize) -> bool {
        let split = self.weight > 0 && self.weight + weight > self.max_weight;
        if split {
            self.weight = 0;
        }
        self.weight += weight;
        split
    }

    /// Called after each account: whether the group ends with it.
    pub fn after(&mut self, account_id: &str) -> bool {
        let end = fnv1a(account_id).is_multiple_of(self.spread);
        if end {
            self.weight = 0;
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The groups of `ids` (weights all `w`), as lists of ids.
    fn groups(ids: &[String], w: usize) -> Vec<Vec<String>> {
        let mut g = Grouper::new(128, 16);
        let mut out: Vec<Vec<String>> = vec![Vec::new()];
        for id in ids {
            if g.before(w) {
                out.push(Vec::new());
            }
            out.last_mut().unwrap().push(id.clone());
            if g.after(id) {
                out.push(Vec::new());
            }
        }
        out.retain(|g| !g.is_empty());
        out
    }

    #[test]
    fn heavy_accounts_are_alone_and_light_ones_share() {
        let ids: Vec<String> = (0..1000).map(|i| format!("acct-{i}")).collect();
        // 100 bots each: every account is a group.
        assert!(groups(&ids, 101).iter().all(|g| g.len() == 1));
        // 10 bots each: never over the weight, about 16 accounts or fewer.
        let light = groups(&ids, 11);
        assert!(light.iter().all(|g| g.len() * 11 <= 128));
        let mean = ids.len() as f64 / light.len() as f64;
        assert!((5.0..=12.0).contains(&mean), "mean group of {mean:.1}");
    }

    #[test]
    fn an_account_added_moves_only_its_own_group() {
        let ids: Vec<String> = (0..2000).map(|i| format!("acct-{i}")).collect();
        let before = groups(&ids, 1);
        let mut more = ids.clone();
        more.insert(1000, "acct-new".to_owned());
        let after = groups(&more, 1);
        let changed = after.iter().filter(|g| !before.contains(g)).count();
        assert!(changed <= 2, "{changed} groups changed");
    }
}
