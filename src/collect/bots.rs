//! What the exporter keeps of bots between two fetches, and how compactly.
//! (What is read of a bot at all is decided in [`crate::api`]: no secret
//! reaches this far.)
//!
//! An account's bots are kept for a TTL and then replaced, one account at a
//! time, while scrapes allocate and free their own buffers in between. Kept
//! as one `String` per field, 100,000 bots were 400,000 small long-lived
//! allocations renewed every TTL; each one the allocator places between
//! short-lived buffers keeps that page resident after the buffers are freed.
//! A [`BotList`] is two allocations per account whatever its size: every
//! bot's text in one string, and one fixed-size entry per bot pointing into
//! it. It also halves the memory per bot (see the README's Performance
//! section).

use std::fmt;

use crate::api::Bot;

/// An account's bots packed into two allocations (see the module docs).
#[derive(Clone, Default)]
pub struct BotList {
    /// Every bot's `BotId`, `UserId`, `DisplayName` and `BotType`, one after
    /// the other.
    text: Box<str>,
    entries: Box<[Entry]>,
}

/// One bot in a [`BotList`]: where its four strings end in the text (each
/// starts where the one before it ends; the first bot's first at 0), and its
/// other fields. 40 bytes.
#[derive(Clone, Copy)]
struct Entry {
    ends: [u32; 4],
    /// Unix seconds; NaN when the API left it out (the API's timestamps are
    /// never NaN).
    created: f64,
    updated: f64,
    flags: u8,
}

const HAS_BOT_ID: u8 = 1;
const DISABLED_KNOWN: u8 = 2;
const DISABLED: u8 = 4;
/// `BotType` is `ChatBot`, the one value the API's model has: not kept in
/// the text (7 bytes of every bot).
const CHAT_BOT: u8 = 8;

/// The one `BotType` the API's model knows.
const CHAT_BOT_TYPE: &str = "ChatBot";

/// The bots' text of one account would pass 4 GiB: no real account comes
/// near it (that is 40 KB of text for each of `api::MAX_PAGES` × 99 bots), so it
/// is taken for a broken answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the bots' text is larger than 4 GiB")
    }
}

impl std::error::Error for TooLarge {}

impl BotList {
    /// Packs `bots` (tests, benches, probes; the API client uses
    /// [`BotListBuilder`] page by page).
    pub fn try_from_bots<'a>(bots: impl IntoIterator<Item = Bot<'a>>) -> Result<Self, TooLarge> {
        let mut builder = BotListBuilder::default();
        for bot in bots {
            builder.push(bot)?;
        }
        Ok(builder.finish())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `index`th bot, in the order the API listed them.
    pub fn get(&self, index: usize) -> Option<Bot<'_>> {
        let entry = self.entries.get(index)?;
        let start = match index.checked_sub(1) {
            Some(before) => self.entries[before].ends[3],
            None => 0,
        };
        Some(self.unpack(start, entry))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Bot<'_>> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |entry| {
            let bot = self.unpack(start, entry);
            start = entry.ends[3];
            bot
        })
    }

    /// Bots with `Disabled` true.
    pub fn disabled_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.flags & (DISABLED_KNOWN | DISABLED) == DISABLED_KNOWN | DISABLED)
            .count()
    }

    /// Heap bytes held (the two allocations).
    pub fn heap_bytes(&self) -> usize {
        self.text.len() + std::mem::size_of_val::<[Entry]>(&self.entries)
    }

    fn unpack(&self, start: u32, entry: &Entry) -> Bot<'_> {
        // The ends were checked against the text as it was pushed, and the
        // text is never changed after: slicing cannot fail. `get` keeps that
        // a non-panicking path all the same.
        let field = |from: u32, to: u32| self.text.get(from as usize..to as usize).unwrap_or("");
        let [id_end, user_end, name_end, type_end] = entry.ends;
        let timestamp = |t: f64| (!t.is_nan()).then_some(t);
        Bot {
            bot_id: (entry.flags & HAS_BOT_ID != 0).then(|| field(start, id_end)),
            user_id: field(id_end, user_end),
            display_name: field(user_end, name_end),
            bot_type: if entry.flags & CHAT_BOT != 0 {
                CHAT_BOT_TYPE
            } else {
                field(name_end, type_end)
            },
            disabled: (entry.flags & DISABLED_KNOWN != 0).then_some(entry.flags & DISABLED != 0),
            created_seconds: timestamp(entry.created),
            updated_seconds: timestamp(entry.updated),
        }
    }
}

impl PartialEq for BotList {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for BotList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Builds a [`BotList`] one bot at a time (one API page after another).
#[derive(Default)]
pub struct BotListBuilder {
    text: String,
    entries: Vec<Entry>,
}

impl BotListBuilder {
    pub fn push(&mut self, bot: Bot<'_>) -> Result<(), TooLarge> {
        let mut ends = [0u32; 4];
        let chat_bot = bot.bot_type == CHAT_BOT_TYPE;
        let fields = [
            bot.bot_id.unwrap_or(""),
            bot.user_id,
            bot.display_name,
            if chat_bot { "" } else { bot.bot_type },
        ];
        let mark = self.text.len();
        for (end, field) in ends.iter_mut().zip(fields) {
            self.text.push_str(field);
            match u32::try_from(self.text.len()) {
                Ok(at) => *end = at,
                Err(_) => {
                    self.text.truncate(mark);
                    return Err(TooLarge);
                }
            }
        }
        let mut flags = 0;
        if chat_bot {
            flags |= CHAT_BOT;
        }
        if bot.bot_id.is_some() {
            flags |= HAS_BOT_ID;
        }
        if let Some(disabled) = bot.disabled {
            flags |= DISABLED_KNOWN;
            if disabled {
                flags |= DISABLED;
            }
        }
        self.entries.push(Entry {
            ends,
            created: bot.created_seconds.unwrap_or(f64::NAN),
            updated: bot.updated_seconds.unwrap_or(f64::NAN),
            flags,
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The list, copied into allocations of exactly its size. Made once the
    /// API's pages are freed, so the copies are packed into the space the
    /// pages left rather than placed after them (and the growing buffers'
    /// spare capacity is not kept for a TTL).
    pub fn finish(self) -> BotList {
        BotList {
            text: Box::from(self.text.as_str()),
            entries: Box::from(self.entries.as_slice()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::BotRecord;

    fn record(i: usize) -> BotRecord {
        BotRecord {
            bot_id: (i % 7 != 3).then(|| format!("bot-{i}")),
            user_id: if i.is_multiple_of(5) {
                String::new()
            } else {
                format!("user-{i}")
            },
            display_name: format!("Bot “{i}” \"quoted\"\n"),
            bot_type: if i % 11 == 10 { "Other" } else { "ChatBot" }.to_owned(),
            disabled: match i % 3 {
                0 => None,
                1 => Some(false),
                _ => Some(true),
            },
            created_seconds: (!i.is_multiple_of(4)).then_some(1.6e9 + i as f64 + 0.25),
            updated_seconds: (!i.is_multiple_of(6)).then_some(1.7e9 + i as f64),
        }
    }

    #[test]
    fn packed_bots_read_back_as_they_went_in() {
        let records: Vec<BotRecord> = (0..50).map(record).collect();
        let list = BotList::try_from_bots(records.iter().map(BotRecord::as_bot)).unwrap();
        assert_eq!(list.len(), 50);
        let back: Vec<BotRecord> = list.iter().map(BotRecord::from).collect();
        assert_eq!(back, records);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(list.get(i), Some(r.as_bot()), "bot {i}");
        }
        assert_eq!(list.get(50), None);
        let disabled = records.iter().filter(|r| r.disabled == Some(true)).count();
        assert_eq!(list.disabled_count(), disabled);
        assert!(disabled > 0 && disabled < 50);
    }

    #[test]
    fn an_absent_bot_id_is_not_an_empty_one() {
        let mut with_empty = record(1);
        with_empty.bot_id = Some(String::new());
        let mut without = record(1);
        without.bot_id = None;
        let list = BotList::try_from_bots([with_empty.as_bot(), without.as_bot()]).unwrap();
        assert_eq!(list.get(0).unwrap().bot_id, Some(""));
        assert_eq!(list.get(1).unwrap().bot_id, None);
        assert_ne!(list.get(0), list.get(1));
    }

    #[test]
    fn equality_compares_bots_including_absent_timestamps() {
        let records: Vec<BotRecord> = (0..10).map(record).collect();
        let a = BotList::try_from_bots(records.iter().map(BotRecord::as_bot)).unwrap();
        let b = BotList::try_from_bots(records.iter().map(BotRecord::as_bot)).unwrap();
        assert_eq!(a, b, "absent timestamps (NaN inside) still compare equal");
        let mut changed = records.clone();
        changed[4].disabled = Some(true);
        let c = BotList::try_from_bots(changed.iter().map(BotRecord::as_bot)).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn the_list_is_two_exact_allocations() {
        let records: Vec<BotRecord> = (0..120).map(record).collect();
        let list = BotList::try_from_bots(records.iter().map(BotRecord::as_bot)).unwrap();
        // `ChatBot`, the model's one bot type, takes no text.
        let text: usize = records
            .iter()
            .map(|r| {
                r.bot_id.as_deref().unwrap_or("").len()
                    + r.user_id.len()
                    + r.display_name.len()
                    + if r.bot_type == "ChatBot" {
                        0
                    } else {
                        r.bot_type.len()
                    }
            })
            .sum();
        assert_eq!(list.heap_bytes(), text + 120 * std::mem::size_of::<Entry>());
        assert_eq!(std::mem::size_of::<Entry>(), 40);
    }

    #[test]
    fn an_empty_list_is_empty() {
        let list = BotList::try_from_bots([]).unwrap();
        assert!(list.is_empty());
        assert_eq!(list.iter().count(), 0);
        assert_eq!(list, BotList::default());
    }
}
