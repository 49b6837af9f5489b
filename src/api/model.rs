//! What the exporter reads out of the SDK's answers, and nothing more.
//!
//! `SecurityToken` and `BotEmail` have no field anywhere here on purpose:
//! they are a secret and personal data, and they are never copied out of the
//! SDK's response, so no later layer can leak them.

/// One bot, borrowed: what the metrics are built from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bot<'a> {
    /// `None` when the API left it out (such a bot has no per-bot series).
    pub bot_id: Option<&'a str>,
    pub user_id: &'a str,
    pub display_name: &'a str,
    pub bot_type: &'a str,
    /// `Disabled` is a nullable boolean in the model; `None` means the API
    /// did not say.
    pub disabled: Option<bool>,
    pub created_seconds: Option<f64>,
    pub updated_seconds: Option<f64>,
}

/// One bot, owned: a GetBot answer, or a bot built by hand (tests, benches).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BotRecord {
    pub bot_id: Option<String>,
    pub user_id: String,
    pub display_name: String,
    pub bot_type: String,
    pub disabled: Option<bool>,
    pub created_seconds: Option<f64>,
    pub updated_seconds: Option<f64>,
}

impl BotRecord {
    pub fn as_bot(&self) -> Bot<'_> {
        Bot {
            bot_id: self.bot_id.as_deref(),
            user_id: &self.user_id,
            display_name: &self.display_name,
            bot_type: &self.bot_type,
            disabled: self.disabled,
            created_seconds: self.created_seconds,
            updated_seconds: self.updated_seconds,
        }
    }
}

impl From<Bot<'_>> for BotRecord {
    fn from(bot: Bot<'_>) -> Self {
        BotRecord {
            bot_id: bot.bot_id.map(str::to_owned),
            user_id: bot.user_id.to_owned(),
            display_name: bot.display_name.to_owned(),
            bot_type: bot.bot_type.to_owned(),
            disabled: bot.disabled,
            created_seconds: bot.created_seconds,
            updated_seconds: bot.updated_seconds,
        }
    }
}

/// The bot as the exporter reads it from the SDK's output: borrowed, and
/// without `SecurityToken` or `BotEmail`.
pub(crate) fn bot_from_sdk(bot: &aws_sdk_chime::types::Bot) -> Bot<'_> {
    Bot {
        bot_id: bot.bot_id(),
        user_id: bot.user_id().unwrap_or_default(),
        display_name: bot.display_name().unwrap_or_default(),
        bot_type: bot.bot_type().map(|t| t.as_str()).unwrap_or_default(),
        disabled: bot.disabled(),
        created_seconds: bot.created_timestamp().map(|t| t.as_secs_f64()),
        updated_seconds: bot.updated_timestamp().map(|t| t.as_secs_f64()),
    }
}

/// What the exporter keeps of a Chime account (ListAccounts or GetAccount):
/// its id, name, type, AWS account id and status, packed into one string.
/// Kept for every watched account between two rounds of discovery; as five
/// `String`s it was five allocations and about 300 bytes an account, most of
/// the memory ten thousand accounts without bots take.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountInfo {
    text: Box<str>,
    /// Where each field ends in `text` (each starts where the one before
    /// ends).
    ends: [u32; 5],
}

/// Longest field kept, in bytes: the model allows 100 characters for a
/// name, and fixed forms for the rest. A longer value (a broken or hostile
/// endpoint) is cut at a character boundary, so one answer cannot make an
/// account weigh megabytes.
pub const MAX_FIELD: usize = 1024;

impl AccountInfo {
    pub fn new(
        account_id: &str,
        name: &str,
        account_type: &str,
        aws_account_id: &str,
        status: &str,
    ) -> AccountInfo {
        let fields = [account_id, name, account_type, aws_account_id, status].map(|f| {
            let mut end = f.len().min(MAX_FIELD);
            while !f.is_char_boundary(end) {
                end -= 1;
            }
            &f[..end]
        });
        let mut text = String::with_capacity(fields.iter().map(|f| f.len()).sum());
        let mut ends = [0u32; 5];
        for (end, field) in ends.iter_mut().zip(fields) {
            text.push_str(field);
            // At most 5 × MAX_FIELD bytes: fits.
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        AccountInfo {
            text: text.into_boxed_str(),
            ends,
        }
    }

    fn field(&self, index: usize) -> &str {
        let start = index
            .checked_sub(1)
            .map_or(0, |before| self.ends[before] as usize);
        self.text
            .get(start..self.ends[index] as usize)
            .unwrap_or("")
    }

    pub fn account_id(&self) -> &str {
        self.field(0)
    }

    pub fn name(&self) -> &str {
        self.field(1)
    }

    pub fn account_type(&self) -> &str {
        self.field(2)
    }

    pub fn aws_account_id(&self) -> &str {
        self.field(3)
    }

    /// `Active` or `Suspended` (empty when the API does not say).
    pub fn status(&self) -> &str {
        self.field(4)
    }

    pub(crate) fn from_sdk(a: &aws_sdk_chime::types::Account) -> Self {
        AccountInfo::new(
            a.account_id(),
            a.name(),
            a.account_type().map_or("", |t| t.as_str()),
            a.aws_account_id(),
            a.account_status().map_or("", |s| s.as_str()),
        )
    }
}

impl std::fmt::Debug for AccountInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountInfo")
            .field("account_id", &self.account_id())
            .field("name", &self.name())
            .field("account_type", &self.account_type())
            .field("aws_account_id", &self.aws_account_id())
            .field("status", &self.status())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_fields_read_back_and_a_huge_one_is_cut_at_a_character() {
        let info = AccountInfo::new("a-1", "Ünïcode name", "Team", "123456789012", "");
        assert_eq!(info.account_id(), "a-1");
        assert_eq!(info.name(), "Ünïcode name");
        assert_eq!(info.account_type(), "Team");
        assert_eq!(info.aws_account_id(), "123456789012");
        assert_eq!(info.status(), "");
        let huge = "é".repeat(MAX_FIELD);
        let cut = AccountInfo::new("a-2", &huge, "Team", "1", "Active");
        assert!(cut.name().len() <= MAX_FIELD && cut.name().len() >= MAX_FIELD - 1);
        assert!(cut.name().chars().all(|c| c == 'é'));
        assert_eq!(cut.status(), "Active");
        assert_ne!(info, cut);
        assert_eq!(info.clone(), info);
    }
}
