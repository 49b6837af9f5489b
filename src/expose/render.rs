//! The account part of the exposition, rendered a few accounts at a time.
//!
//! With many accounts the data changes all the time — each account refreshes
//! on its own schedule — but only a few accounts at a time. Rendering the
//! whole exposition on every change would cost the whole text (tens of MB at
//! 100,000 bots) in CPU and in allocations whose freed pages the allocator
//! keeps; so the accounts are rendered in small **groups** (see
//! [`super::group`]), each group's samples kept per metric family (plain
//! and/or as gzip pieces, only the encodings clients ask for), and the
//! exposition is assembled from shared chunks: for each family, its
//! descriptor, then every group's samples. A scrape between two changes
//! reuses the assembled list as is; a scrape after a change re-renders only
//! the groups of the accounts that changed, and of those only the families
//! that changed (a refresh that found the same bots changes only the
//! account's own families, `chime_account_*`).
//!
//! Why groups rather than single accounts: a real account holds a few bots,
//! and one account's lines of one family are a line or a few. Compressed
//! alone, such a piece hardly shrinks (10,000 accounts without bots made
//! 5.7 MB of gzip for 6 MB of text), and each piece costs its own bookkeeping
//! and its own chunk in every response. A group is a run of consecutive
//! accounts holding up to [`GROUP_WEIGHT`] bots: an account with many bots
//! is a group of its own, as before; small accounts share one.
//!
//! Each family's samples come straight from the family table
//! ([`FAMILIES`]); the output is byte for byte what
//! [`encode_accounts`](super::families::encode_accounts)
//! gives for all the accounts at once (a test holds it to that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::families::{account_labels, FAMILIES};
use super::group::Grouper;
use super::gzip::{Checksum, Compressor, Piece};
use crate::collect::AccountView;
use crate::config::Collectors;

/// A group closes before an account that would take it past this many bots
/// (each account counting one more, for its own families). At about 500
/// bytes of text per bot, a group's rendering stays within about 64 KB: a
/// change costs a fraction of a millisecond, and the group compresses about
/// as well as the whole text.
pub const GROUP_WEIGHT: usize = 128;

/// A group also ends, on average, every this many accounts (where an
/// account's id hashes to a boundary), so that an account added or removed
/// moves the boundaries of its own group only.
const GROUP_SPREAD: u64 = 16;

/// The account families as chunks to send in order.
#[derive(Debug, Clone)]
pub struct AccountsPart {
    /// Plain text, or raw deflate pieces of one gzip member (see
    /// [`crate::gzip`]).
    pub chunks: Arc<[Bytes]>,
    /// For gzip: CRC-32 and length of the uncompressed text of `chunks`.
    pub checksum: Checksum,
}

/// The encodings kept; the discriminants index the arrays below.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Plain = 0,
    Gzip = 1,
}

/// One group's samples, per family: what is rendered is current; a family
/// not (or no longer) rendered is `None`.
#[derive(Debug)]
struct Group {
    /// Its accounts: `State::views[start..end]`.
    start: usize,
    end: usize,
    plain: [Option<Bytes>; FAMILIES.len()],
    gzip: [Option<Piece>; FAMILIES.len()],
}

impl Group {
    fn new(start: usize, end: usize) -> Group {
        Group {
            start,
            end,
            plain: std::array::from_fn(|_| None),
            gzip: std::array::from_fn(|_| None),
        }
    }

    /// Forgets what was rendered of `family`; whether anything was.
    fn drop_family(&mut self, family: usize) -> bool {
        let had = self.plain[family].is_some() || self.gzip[family].is_some();
        self.plain[family] = None;
        self.gzip[family] = None;
        had
    }
}

/// Whether two views of an account render the same bot families: the same
/// snapshot (by identity; the cache keeps the snapshot when a refresh finds
/// the same bots) and the same labels. A refresh that found nothing new then
/// renders again only the account's own few samples, not every bot.
fn same_bots(a: &AccountView, b: &AccountView) -> bool {
    let snapshots = match (&a.state.snapshot, &b.state.snapshot) {
        (Some(x), Some(y)) => Arc::ptr_eq(x, y),
        (None, None) => true,
        _ => false,
    };
    snapshots && a.account_id == b.account_id && a.aws_account_id == b.aws_account_id
}

/// Whether two views of an account render the same text. Snapshots are
/// compared by identity: a refresh that found other bots makes a new one.
fn same(a: &AccountView, b: &AccountView) -> bool {
    same_bots(a, b)
        && a.state.up == b.state.up
        && a.state.last_success_seconds.map(f64::to_bits)
            == b.state.last_success_seconds.map(f64::to_bits)
        && a.state.last_error.map(|(kind, _)| kind) == b.state.last_error.map(|(kind, _)| kind)
        && a.info == b.info
        && a.cache_ttl == b.cache_ttl
}

/// What is kept between scrapes.
#[derive(Debug, Default)]
struct State {
    /// The generation of the account states the groups are for.
    generation: Option<u64>,
    /// Every account's view, in exposition order.
    views: Vec<AccountView>,
    /// The groups, in order; together they cover `views`.
    groups: Vec<Group>,
    /// The assembled lists for `generation`, once asked for, by encoding.
    assembled: [Option<AccountsPart>; 2],
    compressor: Compressor,
    /// The list `states` fills, kept (empty) between changes.
    incoming: Vec<AccountView>,
}

/// Keeps the rendered account families between scrapes; see the module
/// documentation.
#[derive(Debug)]
pub struct AccountsRenderer {
    /// Whether per-account series carry `aws_account_id`.
    with_aws: bool,
    /// What is left out.
    collectors: Collectors,
    /// Each family's descriptor lines, plain and compressed.
    headers: Vec<Bytes>,
    header_pieces: Vec<Piece>,
    /// Per family: whether it is built from the bots (`chime_bots`,
    /// `chime_bots_disabled`, `chime_bot_*`) rather than from the account
    /// alone (`chime_account_*`).
    bot_families: [bool; FAMILIES.len()],
    state: Mutex<State>,
}

impl AccountsRenderer {
    /// `with_aws`: per-account series carry `aws_account_id`.
    pub fn new(with_aws: bool) -> AccountsRenderer {
        AccountsRenderer::with_collectors(with_aws, Collectors::default())
    }

    /// [`AccountsRenderer::new`], with some account data left out (see
    /// [`Collectors`]).
    pub fn with_collectors(with_aws: bool, collectors: Collectors) -> AccountsRenderer {
        let headers: Vec<Bytes> = FAMILIES
            .iter()
            .map(|family| {
                let mut text = String::new();
                family.descriptor(&mut text);
                Bytes::from(text)
            })
            .collect();
        let mut compressor = Compressor::new();
        let header_pieces = headers.iter().map(|h| compressor.piece(h)).collect();
        AccountsRenderer {
            with_aws,
            collectors,
            headers,
            header_pieces,
            bot_families: FAMILIES.map(|f| f.from_bots),
            state: Mutex::new(State {
                compressor,
                ..State::default()
            }),
        }
    }

    /// The samples of `family` for `views`.
    fn render(&self, views: &[AccountView], family: usize) -> String {
        let mut text = String::new();
        if !FAMILIES[family].shown(self.collectors) {
            return text;
        }
        for view in views {
            let labels = account_labels(view, self.with_aws);
            FAMILIES[family].write_account(view, &labels, self.collectors, &mut text);
        }
        text
    }

    /// The account families for `generation` of the account states, plain or
    /// as gzip pieces. `states` (which fills the list it is given with every
    /// account's view, in order) is called only when the generation changed
    /// since the last call; only the groups whose accounts changed are
    /// rendered again.
    pub fn get(
        &self,
        generation: u64,
        gzipped: bool,
        states: impl FnOnce(&mut Vec<AccountView>),
    ) -> AccountsPart {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *guard;
        if state.generation != Some(generation) {
            let mut incoming = std::mem::take(&mut state.incoming);
            states(&mut incoming);
            if self.update(state, incoming) {
                // Renderings (and the snapshots they were made of) went.
                crate::memory::note_freed();
            }
            state.generation = Some(generation);
            state.assembled = [None, None];
        }
        let encoding = if gzipped {
            Encoding::Gzip
        } else {
            Encoding::Plain
        };
        if let Some(part) = &state.assembled[encoding as usize] {
            return part.clone();
        }
        for g in 0..state.groups.len() {
            self.fill(state, g, encoding);
        }
        let part = self.assemble(state, encoding);
        state.assembled[encoding as usize] = Some(part.clone());
        part
    }

    /// Takes the accounts' new views: groups them again and keeps, of each
    /// group that has the same accounts as before, every family none of its
    /// accounts changed. Returns whether anything rendered was dropped.
    fn update(&self, state: &mut State, mut incoming: Vec<AccountView>) -> bool {
        // The groups of the new list, by their first account.
        let mut grouper = Grouper::new(GROUP_WEIGHT, GROUP_SPREAD);
        let mut bounds = Vec::with_capacity(state.groups.len().max(1));
        let mut start = 0;
        for (i, view) in incoming.iter().enumerate() {
            let bots = view.state.snapshot.as_ref().map_or(0, |s| s.bots.len());
            if grouper.before(bots + 1) && i > start {
                bounds.push((start, i));
                start = i;
            }
            if grouper.after(&view.account_id) {
                bounds.push((start, i + 1));
                start = i + 1;
            }
        }
        if start < incoming.len() {
            bounds.push((start, incoming.len()));
        }
        let old_views = std::mem::take(&mut state.views);
        let mut old: HashMap<&str, Group> = std::mem::take(&mut state.groups)
            .into_iter()
            .filter(|g| g.end > g.start)
            .map(|g| (&*old_views[g.start].account_id, g))
            .collect();
        let mut dropped = false;
        let mut groups = Vec::with_capacity(bounds.len());
        for (start, end) in bounds {
            let new = &incoming[start..end];
            let kept = old.remove(&*new[0].account_id).filter(|g| {
                let before = &old_views[g.start..g.end];
                before.len() == new.len()
                    && before
                        .iter()
                        .zip(new)
                        .all(|(a, b)| a.account_id == b.account_id)
            });
            let group = match kept {
                Some(mut group) => {
                    let before = &old_views[group.start..group.end];
                    let (mut accounts, mut bots) = (false, false);
                    for (a, b) in before.iter().zip(new) {
                        if !same(a, b) {
                            accounts = true;
                            bots |= !same_bots(a, b);
                        }
                    }
                    for (family, &from_bots) in self.bot_families.iter().enumerate() {
                        if (from_bots && bots) || (!from_bots && accounts) {
                            dropped |= group.drop_family(family);
                        }
                    }
                    group.start = start;
                    group.end = end;
                    group
                }
                None => Group::new(start, end),
            };
            groups.push(group);
        }
        dropped |= !old.is_empty();
        drop(old);
        state.groups = groups;
        state.views = std::mem::replace(&mut incoming, old_views);
        // Empty, but its capacity is kept for the next change while it is
        // small (a fresh list each time was a short-lived allocation among
        // long-lived ones in the heap); a large one is mapped on its own
        // (see `crate::memory`), so it is freed rather than kept idle (1 MB
        // at 10,000 accounts).
        incoming.clear();
        if std::mem::size_of_val(incoming.spare_capacity_mut()) >= crate::memory::MMAP_THRESHOLD {
            incoming = Vec::new();
        }
        state.incoming = incoming;
        dropped
    }

    /// Renders what group `g` lacks in `encoding`. For gzip, a current
    /// plain rendering is compressed rather than rendered again; the plain
    /// text is not kept for it (clients that take gzip never need it).
    fn fill(&self, state: &mut State, g: usize, encoding: Encoding) {
        let group = &state.groups[g];
        let views = &state.views[group.start..group.end];
        match encoding {
            Encoding::Plain => {
                let missing: Vec<usize> = (0..FAMILIES.len())
                    .filter(|&f| group.plain[f].is_none())
                    .collect();
                let rendered: Vec<(usize, Bytes)> = missing
                    .into_iter()
                    .map(|f| (f, Bytes::from(self.render(views, f))))
                    .collect();
                let group = &mut state.groups[g];
                for (f, text) in rendered {
                    group.plain[f] = Some(text);
                }
            }
            Encoding::Gzip => {
                let missing: Vec<usize> = (0..FAMILIES.len())
                    .filter(|&f| group.gzip[f].is_none())
                    .collect();
                if missing.is_empty() {
                    return;
                }
                let texts: Vec<Bytes> = missing
                    .iter()
                    .map(|&f| match &group.plain[f] {
                        Some(plain) => plain.clone(),
                        None => Bytes::from(self.render(views, f)),
                    })
                    .collect();
                // One buffer for the group's new pieces.
                let pieces = state.compressor.pieces(&texts);
                let group = &mut state.groups[g];
                for (f, piece) in missing.into_iter().zip(pieces) {
                    group.gzip[f] = Some(piece);
                }
            }
        }
    }

    /// For each family: its descriptor, then each group's samples.
    fn assemble(&self, state: &State, encoding: Encoding) -> AccountsPart {
        let mut chunks = Vec::with_capacity(self.headers.len() * (state.groups.len() + 1));
        let mut checksum = Checksum::default();
        let shown = FAMILIES
            .iter()
            .enumerate()
            .filter(|(_, f)| f.shown(self.collectors))
            .map(|(i, _)| i);
        for family in shown {
            match encoding {
                Encoding::Plain => chunks.push(self.headers[family].clone()),
                Encoding::Gzip => {
                    checksum.push(&self.header_pieces[family]);
                    chunks.push(self.header_pieces[family].data.clone());
                }
            }
            for group in &state.groups {
                match encoding {
                    Encoding::Plain => {
                        if let Some(text) = group.plain[family].as_ref().filter(|t| !t.is_empty()) {
                            chunks.push(text.clone());
                        }
                    }
                    Encoding::Gzip => {
                        if let Some(piece) =
                            group.gzip[family].as_ref().filter(|p| p.text_len() > 0)
                        {
                            checksum.push(piece);
                            chunks.push(piece.data.clone());
                        }
                    }
                }
            }
        }
        AccountsPart {
            chunks: chunks.into(),
            checksum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AccountInfo, BotRecord};
    use crate::collect::{AccountState, BotList, Snapshot};
    use crate::expose::families::encode_accounts;
    use std::io::Read as _;

    fn view(account: usize, bots: usize, name_suffix: &str) -> AccountView {
        let bots = (0..bots)
            .map(|b| BotRecord {
                bot_id: Some(format!("bot-{account}-{b}")),
                user_id: format!("user-{account}-{b}"),
                display_name: format!("Bot \"{b}\"\n\\ {name_suffix}"),
                bot_type: "ChatBot".to_owned(),
                disabled: (b % 3 != 0).then_some(b % 2 == 0),
                created_seconds: Some(1.6e9 + b as f64),
                updated_seconds: (b % 4 != 0).then_some(1.7e9 + b as f64),
            })
            .collect::<Vec<_>>();
        AccountView {
            account_id: format!("acct-{account}").into(),
            state: AccountState {
                snapshot: Some(Arc::new(Snapshot {
                    bots: BotList::try_from_bots(bots.iter().map(BotRecord::as_bot)).unwrap(),
                })),
                up: account % 5 != 1,
                last_success_seconds: Some(1.79e9 + account as f64),
                consecutive_failures: 0,
                last_error: (account % 5 == 1).then_some((crate::api::ErrorKind::Throttled, 1.8e9)),
                next_refresh_seconds: None,
            },
            info: account.is_multiple_of(2).then(|| {
                Arc::new(AccountInfo::new(
                    &format!("acct-{account}"),
                    &format!("name {account}"),
                    "EnterpriseDirectory",
                    "123456789012",
                    "Active",
                ))
            }),
            aws_account_id: Some("123456789012".into()),
            cache_ttl: std::time::Duration::from_secs(300),
        }
    }

    fn views() -> Vec<AccountView> {
        let mut v: Vec<AccountView> = (0..12).map(|a| view(a, a * 7 % 40, "x")).collect();
        // An account never fetched: no snapshot, no bot series.
        v[3].state = AccountState::default();
        v
    }

    fn whole(states: &[AccountView], with_aws: bool) -> String {
        let mut out = String::new();
        encode_accounts(states, with_aws, &mut out);
        out
    }

    fn plain(part: &AccountsPart) -> String {
        String::from_utf8(part.chunks.concat()).unwrap()
    }

    fn gunzip(part: &AccountsPart) -> String {
        let mut member = crate::expose::gzip::HEADER.to_vec();
        member.extend_from_slice(&part.chunks.concat());
        member.extend_from_slice(&crate::expose::gzip::trailer(part.checksum));
        let mut out = String::new();
        flate2::read::GzDecoder::new(&member[..])
            .read_to_string(&mut out)
            .expect("one valid gzip member");
        out
    }

    #[test]
    fn assembled_text_is_the_whole_encoding_plain_and_gzip() {
        for with_aws in [false, true] {
            let states = views();
            let renderer = AccountsRenderer::new(with_aws);
            let expected = whole(&states, with_aws);
            assert!(expected.contains("chime_bot_info{"), "{expected}");
            assert_eq!(
                plain(&renderer.get(1, false, |out| out.clone_from(&states))),
                expected
            );
            assert_eq!(gunzip(&renderer.get(1, true, |_| unreachable!())), expected);
            // No accounts at all: the descriptors alone.
            let empty = AccountsRenderer::new(with_aws);
            assert_eq!(plain(&empty.get(0, false, |_| {})), whole(&[], with_aws));
            assert_eq!(gunzip(&empty.get(0, true, |_| {})), whole(&[], with_aws));
        }
    }

    /// The chunks of a part, by address.
    fn ptrs(p: &AccountsPart) -> std::collections::HashSet<usize> {
        p.chunks.iter().map(|c| c.as_ptr() as usize).collect()
    }

    /// The group of each account, by id.
    fn group_of(renderer: &AccountsRenderer) -> HashMap<String, usize> {
        let state = renderer.state.lock().unwrap();
        state
            .groups
            .iter()
            .enumerate()
            .flat_map(|(g, group)| {
                state.views[group.start..group.end]
                    .iter()
                    .map(move |v| (v.account_id.to_string(), g))
            })
            .collect()
    }

    /// 60 accounts of 0 to 9 bots: groups of several accounts.
    fn many() -> Vec<AccountView> {
        (0..60).map(|a| view(a, a % 10, "m")).collect()
    }

    #[test]
    fn small_accounts_share_groups_and_large_ones_are_alone() {
        let renderer = AccountsRenderer::new(false);
        let states = many();
        renderer.get(1, true, |out| out.clone_from(&states));
        let groups = renderer.state.lock().unwrap().groups.len();
        assert!(groups < 30, "{groups} groups for 60 small accounts");
        let large: Vec<AccountView> = (0..5).map(|a| view(a, 200, "l")).collect();
        let renderer = AccountsRenderer::new(false);
        renderer.get(1, true, |out| out.clone_from(&large));
        assert_eq!(renderer.state.lock().unwrap().groups.len(), 5);
    }

    #[test]
    fn a_change_renders_only_the_group_that_changed() {
        let mut states = many();
        let renderer = AccountsRenderer::new(false);
        let before = renderer.get(1, true, |out| out.clone_from(&states));
        let before_plain = renderer.get(1, false, |_| unreachable!());
        let groups = group_of(&renderer);
        let group_count = renderer.state.lock().unwrap().groups.len();

        // Account 25 refreshed with other bots.
        states[25] = view(25, 3, "changed");
        let after = renderer.get(2, true, |out| out.clone_from(&states));
        let after_plain = renderer.get(2, false, |_| unreachable!());
        assert_eq!(gunzip(&after), whole(&states, false));
        assert_eq!(plain(&after_plain), whole(&states, false));
        assert_eq!(group_of(&renderer), groups, "same groups");

        // Only the chunks of account 25's group are new: at most one per
        // family; everything else (descriptors, other groups) is shared.
        for (b, a) in [(&before, &after), (&before_plain, &after_plain)] {
            let (b, a) = (ptrs(b), ptrs(a));
            let new = a.difference(&b).count();
            assert!(new > 0 && new <= FAMILIES.len(), "new chunks: {new}");
            assert!(a.len() >= group_count, "{} chunks", a.len());
        }

        // Account 40 goes: only its group changes; nothing is kept of it.
        let gone_group = groups["acct-40"];
        states.remove(40);
        let removed = renderer.get(3, true, |out| out.clone_from(&states));
        assert_eq!(gunzip(&removed), whole(&states, false));
        let new = ptrs(&removed).difference(&ptrs(&after)).count();
        assert!(new <= 2 * FAMILIES.len(), "new chunks: {new}");
        let now = group_of(&renderer);
        assert!(!now.contains_key("acct-40"));
        let moved = groups
            .iter()
            .filter(|(id, &g)| g != gone_group && !now.contains_key(*id))
            .count();
        assert_eq!(moved, 0);
    }

    #[test]
    fn a_refresh_updates_the_groups_and_a_new_order_is_followed() {
        let mut states = views();
        let renderer = AccountsRenderer::new(true);
        renderer.get(1, true, |out| out.clone_from(&states));

        states[4] = view(4, 9, "refreshed");
        let after = renderer.get(2, true, |out| out.clone_from(&states));
        assert_eq!(gunzip(&after), whole(&states, true));
        let state = renderer.state.lock().unwrap();
        // A small list's capacity is kept for the next change.
        assert!(state.incoming.is_empty() && state.incoming.capacity() >= states.len());
        drop(state);

        // The same accounts in another order, one added: the exposition
        // follows the new order.
        states.reverse();
        states.insert(2, view(40, 2, "new"));
        let reordered = renderer.get(3, false, |out| out.clone_from(&states));
        assert_eq!(plain(&reordered), whole(&states, true));
        let again = renderer.get(3, true, |_| unreachable!());
        assert_eq!(gunzip(&again), whole(&states, true));
    }

    #[test]
    fn a_refresh_that_found_the_same_bots_renders_only_the_account_families() {
        let mut states = many();
        let renderer = AccountsRenderer::new(true);
        let before_gzip = renderer.get(1, true, |out| out.clone_from(&states));
        let before_plain = renderer.get(1, false, |_| unreachable!());

        // Account 16 refreshed and found the same bots (the cache keeps the
        // snapshot); account 47 went down, keeping its last good bots.
        states[16].state.last_success_seconds = Some(2.0e9);
        states[47].state.up = !states[47].state.up;
        let after_plain = renderer.get(2, false, |out| out.clone_from(&states));
        let after_gzip = renderer.get(2, true, |_| unreachable!());
        assert_eq!(plain(&after_plain), whole(&states, true));
        assert_eq!(gunzip(&after_gzip), whole(&states, true));
        let account_families = FAMILIES.iter().filter(|f| !f.from_bots).count();
        for (b, a) in [(&before_plain, &after_plain), (&before_gzip, &after_gzip)] {
            let (b, a) = (ptrs(b), ptrs(a));
            // At most the account families of the two groups are new; every
            // bot family chunk is the one from before.
            let new = a.difference(&b).count();
            assert!(new > 0 && new <= 2 * account_families, "new chunks: {new}");
        }

        // A rendering that is out of date for the account's families is not
        // used for another encoding: gzip asked for first after the change.
        let renderer = AccountsRenderer::new(true);
        let mut states = views();
        renderer.get(1, false, |out| out.clone_from(&states));
        states[6].state.last_success_seconds = Some(2.5e9);
        let gz = renderer.get(2, true, |out| out.clone_from(&states));
        assert_eq!(gunzip(&gz), whole(&states, true));
        assert_eq!(
            plain(&renderer.get(2, false, |_| unreachable!())),
            whole(&states, true)
        );
    }

    #[test]
    fn bot_families_are_those_built_from_the_bots() {
        let renderer = AccountsRenderer::new(true);
        // Account 1 has every family: bots, and a last error.
        let with = vec![view(1, 5, "x")];
        let mut without = with.clone();
        without[0].state.snapshot = None;
        for (f, &bots) in renderer.bot_families.iter().enumerate() {
            // A family is a bot family exactly when the bots are all it has.
            assert_eq!(bots, renderer.render(&without, f).is_empty(), "family {f}");
            assert!(!renderer.render(&with, f).is_empty(), "family {f}");
        }
        assert_eq!(renderer.bot_families.iter().filter(|&&b| b).count(), 6);
        assert_eq!(renderer.bot_families.len(), FAMILIES.len());
    }

    #[test]
    fn bots_and_display_names_can_be_left_out() {
        let states = views();
        for collectors in [
            Collectors {
                bots: false,
                display_names: true,
            },
            Collectors {
                bots: true,
                display_names: false,
            },
        ] {
            let renderer = AccountsRenderer::with_collectors(true, collectors);
            let text = plain(&renderer.get(1, false, |out| out.clone_from(&states)));
            let mut expected = String::new();
            crate::expose::families::encode_accounts_with(&states, true, collectors, &mut expected);
            assert_eq!(text, expected);
            assert!(text.contains("chime_bots{"), "the counts stay");
            assert_eq!(text.contains("chime_bot_info"), collectors.bots);
            assert_eq!(text.contains("chime_bot_created"), collectors.bots);
            assert!(!text.contains("display_name"));
            assert_eq!(text.contains("bot_type="), collectors.bots);
        }
    }

    #[test]
    fn a_new_cache_ttl_is_rendered_again() {
        // A reload that changed only the target's TTL changes nothing else
        // of the view: the comparison must still see it.
        let renderer = AccountsRenderer::new(true);
        let mut states = views();
        renderer.get(1, false, |out| out.clone_from(&states));
        states[6].cache_ttl = std::time::Duration::from_millis(90_500);
        let after = plain(&renderer.get(2, false, |out| out.clone_from(&states)));
        assert_eq!(after, whole(&states, true));
        assert!(after.contains(
            "chime_account_cache_ttl_seconds{account_id=\"acct-6\",aws_account_id=\"123456789012\"} 90.5\n"
        ));
    }

    #[test]
    fn same_generation_reuses_the_assembled_list() {
        let states = views();
        let renderer = AccountsRenderer::new(false);
        let a = renderer.get(7, true, |out| out.clone_from(&states));
        let b = renderer.get(7, true, |_| panic!("states read again"));
        assert!(Arc::ptr_eq(&a.chunks, &b.chunks));
        assert_eq!(a.checksum, b.checksum);
        // A new generation with the same states: nothing rendered again.
        let c = renderer.get(8, true, |out| out.clone_from(&states));
        assert_eq!(
            a.chunks.iter().map(|c| c.as_ptr()).collect::<Vec<_>>(),
            c.chunks.iter().map(|c| c.as_ptr()).collect::<Vec<_>>()
        );
    }
}
