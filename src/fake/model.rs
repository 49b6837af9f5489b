//! The data the fake API holds: accounts and their bots, secrets included,
//! and their JSON in the model's shapes.

use serde_json::{json, Value};

use super::wire::iso8601;

/// A bot as the fake API holds it, secrets included.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeBot {
    pub bot_id: String,
    pub user_id: String,
    pub display_name: String,
    pub bot_type: String,
    pub disabled: bool,
    /// Unix seconds.
    pub created: f64,
    /// Unix seconds.
    pub updated: f64,
    pub bot_email: String,
    pub security_token: String,
}

impl FakeBot {
    /// A bot with generated ids and a random security token.
    pub fn generated(rng: &mut fastrand::Rng, display_name: &str, disabled: bool) -> FakeBot {
        let bot_id = uuid_like(rng);
        let created = 1_600_000_000.0 + f64::from(rng.u32(0..100_000_000));
        FakeBot {
            user_id: uuid_like(rng),
            display_name: display_name.to_owned(),
            bot_type: "ChatBot".to_owned(),
            disabled,
            created,
            updated: created + f64::from(rng.u32(0..1_000_000)),
            bot_email: format!("{}@example.com", bot_id.split('-').next().unwrap_or("bot")),
            security_token: format!("SECRET-TOKEN-{}", uuid_like(rng)),
            bot_id,
        }
    }

    /// The model's `Bot` shape. Every member of it is optional; `sparse`
    /// leaves out all but `BotId` and `UserId` (and the secrets, which must
    /// be dropped whatever else comes).
    pub(crate) fn to_json(&self, sparse: bool) -> Value {
        if sparse {
            return json!({
                "BotId": self.bot_id,
                "UserId": self.user_id,
                "BotEmail": self.bot_email,
                "SecurityToken": self.security_token,
            });
        }
        json!({
            "BotId": self.bot_id,
            "UserId": self.user_id,
            "DisplayName": self.display_name,
            "BotType": self.bot_type,
            "Disabled": self.disabled,
            "CreatedTimestamp": iso8601(self.created),
            "UpdatedTimestamp": iso8601(self.updated),
            "BotEmail": self.bot_email,
            "SecurityToken": self.security_token,
        })
    }
}

/// An account as the fake API holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAccount {
    pub account_id: String,
    pub name: String,
    pub aws_account_id: String,
    /// `Team`, `EnterpriseDirectory`, `EnterpriseLWA` or `EnterpriseOIDC`.
    pub account_type: String,
    /// `Active` or `Suspended`.
    pub status: String,
    pub created: f64,
    pub bots: Vec<FakeBot>,
}

impl FakeAccount {
    /// An active Team account with no bots.
    pub fn new(account_id: &str, name: &str) -> FakeAccount {
        FakeAccount {
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            aws_account_id: "111122223333".to_owned(),
            account_type: "Team".to_owned(),
            status: "Active".to_owned(),
            created: 1_577_836_800.0,
            bots: Vec::new(),
        }
    }

    /// Adds `count` generated bots, every `disabled_every`-th one disabled
    /// (0: none).
    pub fn with_generated_bots(
        mut self,
        rng: &mut fastrand::Rng,
        count: usize,
        disabled_every: usize,
    ) -> FakeAccount {
        for i in 0..count {
            let disabled = disabled_every > 0 && i % disabled_every == disabled_every - 1;
            let name = format!("{} bot {}", self.name, i + 1);
            self.bots.push(FakeBot::generated(rng, &name, disabled));
        }
        self
    }

    /// The model's `Account` shape; `sparse` sends only its required
    /// members (`AwsAccountId`, `AccountId`, `Name`).
    pub(crate) fn to_json(&self, sparse: bool) -> Value {
        if sparse {
            return json!({
                "AwsAccountId": self.aws_account_id,
                "AccountId": self.account_id,
                "Name": self.name,
            });
        }
        json!({
            "AwsAccountId": self.aws_account_id,
            "AccountId": self.account_id,
            "Name": self.name,
            "AccountType": self.account_type,
            "CreatedTimestamp": iso8601(self.created),
            "DefaultLicense": "Pro",
            "SupportedLicenses": ["Basic", "Pro"],
            "AccountStatus": self.status,
        })
    }
}

/// A random id in the form of the service's (a UUID's layout).
pub fn uuid_like(rng: &mut fastrand::Rng) -> String {
    let mut hex = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            hex.push('-');
        }
        hex.push(char::from_digit(rng.u32(0..16), 16).unwrap_or('0'));
    }
    hex
}
