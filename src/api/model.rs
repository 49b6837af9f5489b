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

/// What the exporter keeps of a Chime account (ListAccounts or GetAccount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub account_id: String,
    pub name: String,
    pub account_type: String,
    pub aws_account_id: String,
    /// `Active` or `Suspended` (empty when the API does not say).
    pub status: String,
}

impl AccountInfo {
    pub(crate) fn from_sdk(a: &aws_sdk_chime::types::Account) -> Self {
        AccountInfo {
            account_id: a.account_id().to_owned(),
            name: a.name().to_owned(),
            account_type: a
                .account_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            aws_account_id: a.aws_account_id().to_owned(),
            status: a
                .account_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
        }
    }
}
