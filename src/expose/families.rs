//! The account families: one table ([`FAMILIES`]) that says, for each
//! metric built from the API's data, its name, its help, what it is computed
//! from, and how its samples are written. The renderer walks the table
//! directly, one account at a time; the probe writes the table's per-bot
//! families for its one bot; [`encode_accounts`] writes the whole table at
//! once (the reference the renderer is held to).
//!
//! Series are built from the current snapshot of each account, never kept
//! in a registry: a registry remembers every label set it has seen, so a
//! deleted bot would be exported forever. No sample carries a timestamp:
//! cached values served later would be rejected by Prometheus as out of
//! order.

use crate::api::{AccountInfo, Bot};
use crate::collect::AccountView;
use crate::config::Collectors;

use super::text::{write_gauge_descriptor, write_sample, Value};

/// Added to the help of every family served from the cache.
macro_rules! cached {
    ($text:literal) => {
        concat!(
            $text,
            " Served from a cache refreshed every --chime.cache-ttl."
        )
    };
}

/// The labels that identify an account on its series: `account_id`, plus
/// `aws_account_id` when targets come from a config file.
pub type AccountLabels<'a> = [(&'static str, &'a str)];

/// How a family's samples are written.
#[derive(Clone, Copy)]
pub enum Encode {
    /// Samples of the account as a whole, from its view.
    Account(fn(&AccountView, &AccountLabels<'_>, &mut Samples<'_>)),
    /// One sample (at most) per bot of the account.
    Bot(fn(Bot<'_>, &AccountLabels<'_>, &mut Samples<'_>)),
}

/// One metric family of account data.
#[derive(Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    /// Built from the account's bots: it changes only when the snapshot does.
    pub from_bots: bool,
    pub encode: Encode,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.name)
            .field("from_bots", &self.from_bots)
            .finish_non_exhaustive()
    }
}

impl Family {
    /// Whether the family is exported at all: `--no-collector.bots` leaves
    /// out the per-bot families.
    pub fn shown(&self, collectors: Collectors) -> bool {
        collectors.bots || !matches!(self.encode, Encode::Bot(_))
    }

    /// `# HELP` and `# TYPE`.
    pub fn descriptor(&self, out: &mut String) {
        write_gauge_descriptor(out, self.name, self.help);
    }

    /// This family's samples for one account.
    pub fn write_account(
        &self,
        view: &AccountView,
        labels: &AccountLabels<'_>,
        collectors: Collectors,
        out: &mut String,
    ) {
        let mut samples = Samples {
            out,
            name: self.name,
            collectors,
        };
        match self.encode {
            Encode::Account(encode) => encode(view, labels, &mut samples),
            Encode::Bot(encode) => {
                if let Some(snapshot) = &view.state.snapshot {
                    for bot in snapshot.bots.iter() {
                        encode(bot, labels, &mut samples);
                    }
                }
            }
        }
    }

    /// This family's samples for one bot (the probe), if it is a per-bot
    /// family.
    pub fn write_bot(
        &self,
        bot: Bot<'_>,
        labels: &AccountLabels<'_>,
        collectors: Collectors,
        out: &mut String,
    ) {
        if let Encode::Bot(encode) = self.encode {
            encode(
                bot,
                labels,
                &mut Samples {
                    out,
                    name: self.name,
                    collectors,
                },
            );
        }
    }
}

/// Writes the samples of one family.
pub struct Samples<'a> {
    out: &'a mut String,
    name: &'static str,
    collectors: Collectors,
}

impl Samples<'_> {
    /// A sample with the account's labels, then `extra`.
    pub fn push(&mut self, account: &AccountLabels<'_>, extra: &[(&str, &str)], value: Value) {
        write_sample(self.out, self.name, account, extra, value);
    }
}

/// The account's labels (see [`AccountLabels`]).
pub fn account_labels(view: &AccountView, with_aws: bool) -> Vec<(&'static str, &str)> {
    let mut labels = vec![("account_id", &*view.account_id)];
    if with_aws {
        labels.push((
            "aws_account_id",
            view.aws_account_id.as_deref().unwrap_or(""),
        ));
    }
    labels
}

fn account_info(view: &AccountView, _: &AccountLabels<'_>, s: &mut Samples<'_>) {
    let info = view.info.as_deref();
    let field = |f: fn(&AccountInfo) -> &str| info.map_or("", f);
    // Always every label, with or without a config file: the info series
    // is what joins names to ids.
    let labels = [
        ("account_id", &*view.account_id),
        ("account_name", field(AccountInfo::name)),
        ("account_type", field(AccountInfo::account_type)),
        ("account_status", field(AccountInfo::status)),
        (
            "aws_account_id",
            view.aws_account_id.as_deref().unwrap_or(""),
        ),
    ];
    s.push(&[], &labels, Value::Int(1));
}

fn account_up(view: &AccountView, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    s.push(labels, &[], view.state.up.into());
}

fn last_success(view: &AccountView, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    if let Some(ts) = view.state.last_success_seconds {
        s.push(labels, &[], ts.into());
    }
}

fn cache_ttl(view: &AccountView, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    s.push(labels, &[], view.cache_ttl.as_secs_f64().into());
}

fn last_error(view: &AccountView, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    if let Some((kind, _)) = view.state.last_error {
        s.push(labels, &[("error", kind.as_str())], Value::Int(1));
    }
}

fn bots(view: &AccountView, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    if let Some(snapshot) = &view.state.snapshot {
        s.push(labels, &[], snapshot.bots.len().into());
    }
}

fn bots_disabled(view: &AccountView, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    if let Some(snapshot) = &view.state.snapshot {
        s.push(labels, &[], snapshot.bots.disabled_count().into());
    }
}

// A bot without a `BotId` has no per-bot series: it could not be told apart.

fn bot_info(bot: Bot<'_>, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    if let Some(id) = bot.bot_id {
        if s.collectors.display_names {
            let extra = [
                ("bot_id", id),
                ("user_id", bot.user_id),
                ("display_name", bot.display_name),
                ("bot_type", bot.bot_type),
            ];
            s.push(labels, &extra, Value::Int(1));
        } else {
            let extra = [
                ("bot_id", id),
                ("user_id", bot.user_id),
                ("bot_type", bot.bot_type),
            ];
            s.push(labels, &extra, Value::Int(1));
        }
    }
}

/// A per-bot sample labelled with its `bot_id`, when the bot has one and
/// the value is known.
fn per_bot(bot: Bot<'_>, labels: &AccountLabels<'_>, s: &mut Samples<'_>, value: Option<Value>) {
    if let (Some(id), Some(value)) = (bot.bot_id, value) {
        s.push(labels, &[("bot_id", id)], value);
    }
}

fn bot_disabled(bot: Bot<'_>, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    per_bot(bot, labels, s, bot.disabled.map(Value::from));
}

fn bot_created(bot: Bot<'_>, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    per_bot(bot, labels, s, bot.created_seconds.map(Value::from));
}

fn bot_updated(bot: Bot<'_>, labels: &AccountLabels<'_>, s: &mut Samples<'_>) {
    per_bot(bot, labels, s, bot.updated_seconds.map(Value::from));
}

/// Every account family, in exposition order.
pub const FAMILIES: [Family; 11] = [
    Family {
        name: "chime_account_info",
        help: cached!("Information about a watched Chime account, value 1."),
        from_bots: false,
        encode: Encode::Account(account_info),
    },
    Family {
        name: "chime_account_up",
        help: cached!("Whether the last fetch of the account's bots succeeded (1) or not (0)."),
        from_bots: false,
        encode: Encode::Account(account_up),
    },
    Family {
        name: "chime_account_last_success_timestamp_seconds",
        help: cached!("Unix time of the last successful fetch of the account's bots."),
        from_bots: false,
        encode: Encode::Account(last_success),
    },
    Family {
        name: "chime_account_cache_ttl_seconds",
        help: "The cache TTL the exporter uses for the account (its target's cache TTL): data older than this is due for a refresh.",
        from_bots: false,
        encode: Encode::Account(cache_ttl),
    },
    Family {
        name: "chime_account_last_error_info",
        help: cached!("Why the last fetch of the account's bots failed (error, from the bounded set of chime_api_errors_total), value 1; absent once a fetch succeeds."),
        from_bots: false,
        encode: Encode::Account(last_error),
    },
    Family {
        name: "chime_bots",
        help: cached!("Number of bots in the account."),
        from_bots: true,
        encode: Encode::Account(bots),
    },
    Family {
        name: "chime_bots_disabled",
        help: cached!("Number of disabled bots in the account."),
        from_bots: true,
        encode: Encode::Account(bots_disabled),
    },
    Family {
        name: "chime_bot_info",
        help: cached!("Information about a bot, value 1."),
        from_bots: true,
        encode: Encode::Bot(bot_info),
    },
    Family {
        name: "chime_bot_disabled",
        help: cached!("Whether the bot is disabled (1) or not (0)."),
        from_bots: true,
        encode: Encode::Bot(bot_disabled),
    },
    Family {
        name: "chime_bot_created_timestamp_seconds",
        help: cached!("Unix time the bot was created."),
        from_bots: true,
        encode: Encode::Bot(bot_created),
    },
    Family {
        name: "chime_bot_updated_timestamp_seconds",
        help: cached!("Unix time the bot was last updated."),
        from_bots: true,
        encode: Encode::Bot(bot_updated),
    },
];

/// The per-bot families (what a probe answers for its bot).
pub fn bot_families() -> impl Iterator<Item = &'static Family> {
    FAMILIES
        .iter()
        .filter(|f| matches!(f.encode, Encode::Bot(_)))
}

/// Every family for the given accounts, at once: each family's descriptor,
/// then every account's samples (without `# EOF`).
pub fn encode_accounts(accounts: &[AccountView], with_aws: bool, out: &mut String) {
    encode_accounts_with(accounts, with_aws, Collectors::default(), out);
}

/// [`encode_accounts`] with some account data left out (see
/// [`Collectors`]).
pub fn encode_accounts_with(
    accounts: &[AccountView],
    with_aws: bool,
    collectors: Collectors,
    out: &mut String,
) {
    for family in FAMILIES.iter().filter(|f| f.shown(collectors)) {
        family.descriptor(out);
        for view in accounts {
            family.write_account(view, &account_labels(view, with_aws), collectors, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_unique_gauges_with_one_period() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len());
        for f in &FAMILIES {
            assert!(f.name.starts_with("chime_"), "{}", f.name);
            assert!(
                f.help.ends_with('.') && !f.help.contains(".."),
                "{}",
                f.help
            );
            // What is built from the bots is named after them.
            assert_eq!(f.from_bots, f.name.starts_with("chime_bot"), "{}", f.name);
        }
        assert_eq!(bot_families().count(), 4);
    }

    #[test]
    fn cache_ttl_has_the_labels_of_the_other_account_families() {
        let view = AccountView {
            account_id: "a-1".into(),
            state: crate::collect::AccountState::default(),
            info: None,
            aws_account_id: Some("123456789012".into()),
            cache_ttl: std::time::Duration::from_secs(120),
        };
        let family = FAMILIES
            .iter()
            .find(|f| f.name == "chime_account_cache_ttl_seconds")
            .unwrap();
        let up = FAMILIES
            .iter()
            .find(|f| f.name == "chime_account_up")
            .unwrap();
        for (with_aws, labels) in [
            (false, "{account_id=\"a-1\"}"),
            (true, "{account_id=\"a-1\",aws_account_id=\"123456789012\"}"),
        ] {
            let (mut ttl, mut up_text) = (String::new(), String::new());
            family.write_account(
                &view,
                &account_labels(&view, with_aws),
                Collectors::default(),
                &mut ttl,
            );
            up.write_account(
                &view,
                &account_labels(&view, with_aws),
                Collectors::default(),
                &mut up_text,
            );
            assert_eq!(
                ttl,
                format!("chime_account_cache_ttl_seconds{labels} 120.0\n")
            );
            // The same label set as chime_account_up.
            assert_eq!(up_text, format!("chime_account_up{labels} 0\n"));
        }
        // Written even before the first fetch: the TTL is known from the start.
        assert!(!family.from_bots);
    }
}
