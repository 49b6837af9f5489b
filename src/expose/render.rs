//! The account part of the exposition, rendered one account at a time.
//!
//! With many accounts the data changes all the time — each account refreshes
//! on its own schedule — but only one account at a time. Rendering the whole
//! exposition on every change would cost the whole text (tens of MB at
//! 100,000 bots) in CPU and in allocations whose freed pages the allocator
//! keeps; so each account's samples are rendered once per change of that
//! account, kept per metric family (plain and/or gzip pieces, only the
//! encodings clients ask for), and the exposition is assembled from shared
//! chunks: for each family, its descriptor, then every account's samples.
//! A scrape between two changes reuses the assembled list as is; a scrape
//! after a change re-renders only the accounts that changed.
//!
//! Each family's samples come straight from the family table
//! ([`FAMILIES`]); the output is byte for byte what
//! [`encode_accounts`](super::families::encode_accounts)
//! gives for all the accounts at once (a test holds it to that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::families::{account_labels, FAMILIES};
use super::gzip::{Checksum, Compressor, Piece};
use crate::collect::AccountView;

/// The account families as chunks to send in order.
#[derive(Debug, Clone)]
pub struct AccountsPart {
    /// Plain text, or raw deflate pieces of one gzip member (see
    /// [`crate::gzip`]).
    pub chunks: Arc<[Bytes]>,
    /// For gzip: CRC-32 and length of the uncompressed text of `chunks`.
    pub checksum: Checksum,
}

/// One account's samples, per family.
#[derive(Debug)]
struct Block {
    /// What they were rendered from.
    view: AccountView,
    plain: Option<Arc<[Bytes]>>,
    gzip: Option<Arc<[Piece]>>,
    /// Per [`Encoding`]: the account's own families (`chime_account_*`) are
    /// out of date there, its bot families are current.
    stale: [bool; 2],
}

impl Block {
    /// Nothing rendered yet: each encoding is rendered when first asked for.
    fn new(view: AccountView) -> Block {
        Block {
            view,
            plain: None,
            gzip: None,
            stale: [false; 2],
        }
    }

    /// Takes a view that differs from the block's only outside the bots
    /// (see [`same_bots`]): what is rendered of the bots stays.
    fn update_account(&mut self, view: AccountView) {
        self.view = view;
        self.stale = [self.plain.is_some(), self.gzip.is_some()];
    }
}

/// Whether two views of an account render the same bot families: the same
/// snapshot (by identity; the cache keeps the snapshot when a refresh finds
/// the same bots) and the same labels. A refresh that found nothing new then
/// renders and stores only the account's own few samples (its success time
/// changed), not every bot again.
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
}

/// Brings `block` to `view`, keeping what still holds: everything when the
/// view renders the same text, the bot families when only the account's own
/// samples changed. Returns whether anything rendered was dropped.
fn refit(block: &mut Block, view: AccountView) -> bool {
    if same(&block.view, &view) {
        return false;
    }
    if same_bots(&block.view, &view) {
        block.update_account(view);
    } else {
        *block = Block::new(view);
    }
    true
}

/// Brings `blocks` in line with `views` (drained), keeping the blocks of
/// accounts whose view is the same. Returns whether any block went.
///
/// Most changes are one account refreshed, with the same accounts in the
/// same order: the blocks are then updated in place, so that a change costs
/// no allocation beyond the new block's (with a thousand accounts the block
/// list is over 100 KB, and a new one per change churned the heap).
fn update_blocks(blocks: &mut Vec<Block>, views: &mut Vec<AccountView>) -> bool {
    let same_accounts = blocks.len() == views.len()
        && blocks
            .iter()
            .zip(views.iter())
            .all(|(b, v)| b.view.account_id == v.account_id);
    if same_accounts {
        return blocks
            .iter_mut()
            .zip(views.drain(..))
            .fold(false, |replaced, (block, view)| {
                refit(block, view) | replaced
            });
    }
    let mut old: HashMap<Arc<str>, Block> = std::mem::take(blocks)
        .into_iter()
        .map(|b| (Arc::clone(&b.view.account_id), b))
        .collect();
    let mut replaced = false;
    for view in views.drain(..) {
        let block = match old.remove(&view.account_id) {
            Some(mut block) => {
                replaced |= refit(&mut block, view);
                block
            }
            None => Block::new(view),
        };
        blocks.push(block);
    }
    replaced || !old.is_empty()
}

/// What is kept between scrapes.
#[derive(Debug, Default)]
struct State {
    /// The generation of the account states the blocks are for.
    generation: Option<u64>,
    /// One block per account, in exposition order.
    blocks: Vec<Block>,
    /// The assembled lists for `generation`, once asked for.
    /// Indexed by [`Encoding`].
    assembled: [Option<AccountsPart>; 2],
    compressor: Compressor,
    /// The list `states` fills, kept (empty) between changes.
    views: Vec<AccountView>,
}

/// Keeps the rendered account families between scrapes; see the module
/// documentation.
#[derive(Debug)]
pub struct AccountsRenderer {
    /// Whether per-account series carry `aws_account_id`.
    with_aws: bool,
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
            headers,
            header_pieces,
            bot_families: FAMILIES.map(|f| f.from_bots),
            state: Mutex::new(State {
                compressor,
                ..State::default()
            }),
        }
    }

    /// One account's sample lines, per family: every family, or with
    /// `account_only` only those not built from the bots (the others empty).
    /// The text is one allocation; each family's chunk is a slice of it.
    fn render(&self, view: &AccountView, account_only: bool) -> Arc<[Bytes]> {
        let labels = account_labels(view, self.with_aws);
        let mut text = String::new();
        let mut ends = [0usize; FAMILIES.len()];
        for (family, end) in FAMILIES.iter().zip(&mut ends) {
            if !(account_only && family.from_bots) {
                family.write_account(view, &labels, &mut text);
            }
            *end = text.len();
        }
        let text = Bytes::from(text);
        let mut start = 0;
        ends.iter()
            .map(|&end| {
                let chunk = text.slice(start..end);
                start = end;
                chunk
            })
            .collect()
    }

    /// The account families for `generation` of the account states, plain or
    /// as gzip pieces. `states` (which fills the list it is given with every
    /// account's view, in order) is called only when the generation changed
    /// since the last call; only the accounts whose state changed are
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
            let mut views = std::mem::take(&mut state.views);
            states(&mut views);
            if update_blocks(&mut state.blocks, &mut views) {
                // The old blocks (and the snapshots they held) went.
                crate::memory::note_freed();
            }
            // Empty, but its capacity is kept for the next change.
            state.views = views;
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
        for block in &mut state.blocks {
            self.fill(block, encoding, &mut state.compressor);
        }
        let part = self.assemble(state, encoding);
        state.assembled[encoding as usize] = Some(part.clone());
        part
    }

    /// Renders what `block` lacks in `encoding`: everything, or only the
    /// account's own families when its bot families are current.
    fn fill(&self, block: &mut Block, encoding: Encoding, compressor: &mut Compressor) {
        let stale = std::mem::take(&mut block.stale[encoding as usize]);
        match encoding {
            Encoding::Plain => match &block.plain {
                None => block.plain = Some(self.render(&block.view, false)),
                Some(old) if stale => {
                    let fresh = self.render(&block.view, true);
                    block.plain = Some(self.merge(old, fresh.to_vec()));
                }
                Some(_) => {}
            },
            Encoding::Gzip => match &block.gzip {
                None => {
                    // A current plain rendering is reused; the plain text is
                    // not kept for this (clients that take gzip never need it).
                    let plain = match &block.plain {
                        Some(plain) if !block.stale[Encoding::Plain as usize] => plain.clone(),
                        _ => self.render(&block.view, false),
                    };
                    block.gzip = Some(compressor.pieces(&plain).into());
                }
                Some(old) if stale => {
                    let fresh = self.render(&block.view, true);
                    // Only the account's families are compressed again.
                    let texts: Vec<&[u8]> = fresh
                        .iter()
                        .zip(&self.bot_families)
                        .map(|(text, &bots)| if bots { &[][..] } else { &text[..] })
                        .collect();
                    block.gzip = Some(self.merge(old, compressor.pieces(&texts)));
                }
                Some(_) => {}
            },
        }
    }

    /// Per family: `old`'s for the bot families, `fresh`'s for the others.
    fn merge<T: Clone>(&self, old: &[T], fresh: Vec<T>) -> Arc<[T]> {
        fresh
            .into_iter()
            .zip(old)
            .zip(&self.bot_families)
            .map(|((fresh, old), &bots)| if bots { old.clone() } else { fresh })
            .collect()
    }

    /// For each family: its descriptor, then each account's samples.
    fn assemble(&self, state: &State, encoding: Encoding) -> AccountsPart {
        let mut chunks = Vec::with_capacity(self.headers.len() * (state.blocks.len() + 1));
        let mut checksum = Checksum::default();
        let mut push_piece = |chunks: &mut Vec<Bytes>, piece: &Piece| {
            if piece.text_len() > 0 {
                checksum.push(piece);
                chunks.push(piece.data.clone());
            }
        };
        for family in 0..self.headers.len() {
            match encoding {
                Encoding::Plain => chunks.push(self.headers[family].clone()),
                Encoding::Gzip => push_piece(&mut chunks, &self.header_pieces[family]),
            }
            for block in &state.blocks {
                match encoding {
                    Encoding::Plain => {
                        if let Some(text) = block.plain.as_ref().and_then(|p| p.get(family)) {
                            if !text.is_empty() {
                                chunks.push(text.clone());
                            }
                        }
                    }
                    Encoding::Gzip => {
                        if let Some(piece) = block.gzip.as_ref().and_then(|g| g.get(family)) {
                            push_piece(&mut chunks, piece);
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

/// The encodings kept; the discriminants index `State::assembled`.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Plain = 0,
    Gzip = 1,
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
                Arc::new(AccountInfo {
                    account_id: format!("acct-{account}"),
                    name: format!("name {account}"),
                    account_type: "EnterpriseDirectory".to_owned(),
                    status: "Active".to_owned(),
                    aws_account_id: "123456789012".to_owned(),
                })
            }),
            aws_account_id: Some("123456789012".into()),
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

    #[test]
    fn a_change_renders_only_the_account_that_changed() {
        let mut states = views();
        let renderer = AccountsRenderer::new(false);
        let before = renderer.get(1, true, |out| out.clone_from(&states));
        let before_plain = renderer.get(1, false, |_| unreachable!());

        // Account 5 refreshed with other bots; account 8 went away.
        states[5] = view(5, 3, "changed");
        states.remove(8);
        let after = renderer.get(2, true, |out| out.clone_from(&states));
        let after_plain = renderer.get(2, false, |_| unreachable!());
        assert_eq!(gunzip(&after), whole(&states, false));
        assert_eq!(plain(&after_plain), whole(&states, false));

        // Pieces are shared, not re-made, for accounts that did not change.
        let ptrs = |p: &AccountsPart| -> std::collections::HashSet<usize> {
            p.chunks.iter().map(|c| c.as_ptr() as usize).collect()
        };
        for (b, a) in [(&before, &after), (&before_plain, &after_plain)] {
            let (b, a) = (ptrs(b), ptrs(a));
            let kept = a.intersection(&b).count();
            let new = a.difference(&b).count();
            // Account 5's samples in the families where it has some; every
            // other chunk (descriptors, 10 unchanged accounts) is the same.
            assert!(new > 0 && new <= 9, "new chunks: {new}");
            assert!(kept >= a.len() - 9, "kept {kept} of {}", a.len());
        }
        // Nothing is kept for the account that went.
        let state = renderer.state.lock().unwrap();
        assert_eq!(state.blocks.len(), states.len());
        assert!(!state.blocks.iter().any(|b| &*b.view.account_id == "acct-8"));
    }

    #[test]
    fn a_refresh_updates_the_blocks_in_place_and_a_new_order_is_followed() {
        let mut states = views();
        let renderer = AccountsRenderer::new(true);
        renderer.get(1, true, |out| out.clone_from(&states));
        let blocks_at = renderer.state.lock().unwrap().blocks.as_ptr();

        // Same accounts, same order, one refreshed: the block list is
        // updated where it is, and the text follows the change.
        states[4] = view(4, 9, "refreshed");
        let after = renderer.get(2, true, |out| out.clone_from(&states));
        assert_eq!(gunzip(&after), whole(&states, true));
        let state = renderer.state.lock().unwrap();
        assert_eq!(state.blocks.as_ptr(), blocks_at);
        assert!(state.views.is_empty() && state.views.capacity() >= states.len());
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
        let ptrs = |p: &AccountsPart| -> std::collections::HashSet<usize> {
            p.chunks.iter().map(|c| c.as_ptr() as usize).collect()
        };
        let mut states = views();
        let renderer = AccountsRenderer::new(true);
        let before_gzip = renderer.get(1, true, |out| out.clone_from(&states));
        let before_plain = renderer.get(1, false, |_| unreachable!());

        // Account 6 refreshed and found the same bots (the cache keeps the
        // snapshot); account 7 went down, keeping its last good bots.
        states[6].state.last_success_seconds = Some(2.0e9);
        states[7].state.up = !states[7].state.up;
        let after_plain = renderer.get(2, false, |out| out.clone_from(&states));
        let after_gzip = renderer.get(2, true, |_| unreachable!());
        assert_eq!(plain(&after_plain), whole(&states, true));
        assert_eq!(gunzip(&after_gzip), whole(&states, true));
        for (b, a) in [(&before_plain, &after_plain), (&before_gzip, &after_gzip)] {
            let (b, a) = (ptrs(b), ptrs(a));
            // At most the four account families of the two accounts are
            // new; every bot family chunk (72 here) is the one from before.
            let new = a.difference(&b).count();
            assert!(new > 0 && new <= 8, "new chunks: {new}");
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
        let mut view = view(1, 5, "x");
        let with = renderer.render(&view, false);
        assert_eq!(renderer.render(&view, true).len(), with.len());
        view.state.snapshot = None;
        let without = renderer.render(&view, false);
        for (f, &bots) in renderer.bot_families.iter().enumerate() {
            // A family is a bot family exactly when the bots are all it has.
            assert_eq!(bots, without[f].is_empty(), "family {f}");
            assert!(!with[f].is_empty(), "family {f}");
        }
        assert_eq!(renderer.bot_families.iter().filter(|&&b| b).count(), 6);
        assert_eq!(renderer.bot_families.len(), FAMILIES.len());
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
