//! The fake's second service: Amazon Chime SDK Identity
//! (`chime-sdk-identity/2021-04-20`, rest-json), the three operations the
//! exporter uses, as the model defines them:
//!
//! | operation | request |
//! | --- | --- |
//! | ListAppInstances | `GET /app-instances?max-results=1..50&next-token=` |
//! | ListAppInstanceBots | `GET /app-instance-bots?app-instance-arn=A&max-results=1..50&next-token=` (A required) |
//! | DescribeAppInstanceBot | `GET /app-instance-bots/{appInstanceBotArn}` |
//!
//! Timestamps are epoch seconds (numbers: the protocol's default for
//! `Timestamp` in rest-json bodies), not ISO 8601 as in Chime's model.
//! Errors as for Chime (`x-amzn-ErrorType`, `{"Code","Message"}`); a 404
//! `NotFoundException` only on Describe (the listings' model has none: an
//! unknown AppInstance is a 400). `Metadata` (sensitive in the model) is
//! sent, so tests can check that the exporter never shows it; so are the
//! `Name`s (sensitive too), so tests can check that
//! `--no-collector.bots.display-name` leaves them out.

use std::collections::HashMap;

use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::wire::{aws_error, bad_request, instance_of_bot, json_response, Body};
use super::Store;

/// Page size when the request gives none. (The model gives no default; the
/// service's documentation does not either. 10, as Chime's ListBots.)
pub const DEFAULT_SDK_PAGE_SIZE: usize = 10;

/// An AppInstance as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAppInstance {
    pub arn: String,
    pub name: String,
    pub metadata: String,
    pub bots: Vec<FakeAppInstanceBot>,
}

/// An AppInstanceBot (a Lex V2 bot attached to an AppInstance).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAppInstanceBot {
    pub arn: String,
    pub name: String,
    pub metadata: String,
    /// Unix seconds (whole: the wire carries epoch seconds).
    pub created: f64,
    pub updated: f64,
    pub lex_bot_alias_arn: String,
    pub locale_id: String,
    /// AUTO, ALL, MENTIONS or NONE.
    pub standard_messages: String,
    /// ALL or NONE.
    pub targeted_messages: String,
}

impl FakeAppInstance {
    /// An AppInstance `id` of AWS account `aws_account` in `region`.
    pub fn new(region: &str, aws_account: &str, id: &str, name: &str) -> FakeAppInstance {
        FakeAppInstance {
            arn: format!("arn:aws:chime:{region}:{aws_account}:app-instance/{id}"),
            name: name.to_owned(),
            metadata: String::new(),
            bots: Vec::new(),
        }
    }

    /// Adds `n` generated Lex bots named `{prefix} {i}`.
    pub fn with_bots(mut self, prefix: &str, n: usize) -> FakeAppInstance {
        for i in 0..n {
            let bot = self.bot(&format!("bot-{i:04}"), &format!("{prefix} {i}"));
            self.bots.push(bot);
        }
        self
    }

    /// A bot of this AppInstance (not added), with deterministic values.
    pub fn bot(&self, id: &str, name: &str) -> FakeAppInstanceBot {
        let seq = self.bots.len() as u32;
        let created = 1_650_000_000.0 + f64::from(seq) * 3_600.0;
        let standard = ["AUTO", "ALL", "MENTIONS", "NONE"][seq as usize % 4];
        let targeted = ["ALL", "NONE"][seq as usize % 2];
        FakeAppInstanceBot {
            arn: format!("{}/bot/{id}", self.arn),
            name: name.to_owned(),
            metadata: String::new(),
            created,
            updated: created + 86_400.0,
            lex_bot_alias_arn: format!(
                "arn:aws:lex:us-east-1:111122223333:bot-alias/BOT{:07}/ALIAS{:05}",
                seq, seq
            ),
            locale_id: "en_US".to_owned(),
            standard_messages: standard.to_owned(),
            targeted_messages: targeted.to_owned(),
        }
    }

    fn summary_json(&self, sparse: bool) -> Value {
        if sparse {
            return json!({"AppInstanceArn": self.arn});
        }
        json!({"AppInstanceArn": self.arn, "Name": self.name, "Metadata": self.metadata})
    }
}

impl FakeAppInstanceBot {
    fn summary_json(&self, sparse: bool) -> Value {
        if sparse {
            return json!({"AppInstanceBotArn": self.arn});
        }
        json!({"AppInstanceBotArn": self.arn, "Name": self.name, "Metadata": self.metadata})
    }

    /// The model's `AppInstanceBot`: `Configuration.Lex` with its required
    /// members always; `sparse` leaves out every optional one.
    fn to_json(&self, sparse: bool) -> Value {
        let mut lex = json!({
            "LexBotAliasArn": self.lex_bot_alias_arn,
            "LocaleId": self.locale_id,
        });
        if sparse {
            return json!({
                "AppInstanceBotArn": self.arn,
                "Configuration": {"Lex": lex},
            });
        }
        lex["InvokedBy"] = json!({
            "StandardMessages": self.standard_messages,
            "TargetedMessages": self.targeted_messages,
        });
        lex["WelcomeIntent"] = json!("Welcome");
        json!({
            "AppInstanceBotArn": self.arn,
            "Name": self.name,
            "Metadata": self.metadata,
            "Configuration": {"Lex": lex},
            "CreatedTimestamp": self.created,
            "LastUpdatedTimestamp": self.updated,
        })
    }
}

/// The model's `ChimeArn` pattern, as written in `service-2.json`
/// (checked against it by the model test).
pub const CHIME_ARN_PATTERN: &str =
    r"arn:[a-z0-9-\.]{1,63}:[a-z0-9-\.]{0,63}:[a-z0-9-\.]{0,63}:[a-z0-9-\.]{0,63}:[^/].{0,1023}";

/// Whether `s` is a `ChimeArn` as the model defines it: 5 to 1600
/// characters matching [`CHIME_ARN_PATTERN`] whole (the service validates
/// the whole value, and the exporter must not get away with less from the
/// fake than from AWS). Written by hand, as the crate has no regex engine:
/// the four fields after `arn:` cannot hold a `:`, so splitting at the
/// first five colons is the only way the pattern can match. In the tail,
/// `.` is any character but a line terminator (`\n`, `\r`, U+2028,
/// U+2029: those of both Java's and ECMAScript's `.`), while its first
/// character, `[^/]`, is anything but `/`.
pub fn is_chime_arn(s: &str) -> bool {
    let field = |f: &str, min: usize| {
        (min..=63).contains(&f.len())
            && f.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    let chars = s.chars().count();
    if !(5..=1600).contains(&chars) {
        return false;
    }
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(tail)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let mut rest = tail.chars();
    let Some(first) = rest.next() else {
        return false;
    };
    field(partition, 1)
        && field(service, 0)
        && field(region, 0)
        && field(account, 0)
        && first != '/'
        && rest.clone().count() <= 1023
        && rest.all(|c| !matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}'))
}

/// The answer to a Chime SDK route (`None`: not one of them).
pub(super) fn answer(
    store: &Store,
    route: &super::wire::Route,
    params: &HashMap<String, String>,
    sparse: bool,
) -> Option<Response<Body>> {
    use super::wire::Route;
    let page = |default: usize| -> Option<usize> {
        match params.get("max-results") {
            None => Some(default),
            Some(v) => v.parse::<usize>().ok().filter(|n| (1..=50).contains(n)),
        }
    };
    Some(match route {
        Route::ListAppInstances => {
            let Some(size) = page(DEFAULT_SDK_PAGE_SIZE) else {
                return Some(bad_request("max-results must be between 1 and 50"));
            };
            let list: Vec<&FakeAppInstance> = store.app_instances.iter().collect();
            super::wire::paged(params, "app-instances", &list, size, "AppInstances", |a| {
                a.summary_json(sparse)
            })
        }
        Route::ListAppInstanceBots(arn) => {
            if arn.is_empty() {
                return Some(bad_request("app-instance-arn is required"));
            }
            if !is_chime_arn(arn) {
                return Some(bad_request("app-instance-arn is not an ARN"));
            }
            let Some(size) = page(DEFAULT_SDK_PAGE_SIZE) else {
                return Some(bad_request("max-results must be between 1 and 50"));
            };
            let Some(instance) = store.app_instances.iter().find(|a| a.arn == *arn) else {
                return Some(bad_request("no such AppInstance"));
            };
            let bots: Vec<&FakeAppInstanceBot> = instance.bots.iter().collect();
            match super::wire::paged_map(
                params,
                &format!("app-instance-bots/{arn}"),
                &bots,
                size,
                "AppInstanceBots",
                |b| b.summary_json(sparse),
            ) {
                Ok(mut body) => {
                    body.insert("AppInstanceArn".to_owned(), json!(instance.arn));
                    json_response(StatusCode::OK, &Value::Object(body))
                }
                Err(why) => bad_request(why),
            }
        }
        Route::DescribeAppInstanceBot(bot_arn) => {
            if !is_chime_arn(bot_arn) {
                return Some(bad_request("appInstanceBotArn is not an ARN"));
            }
            let bot = store
                .app_instances
                .iter()
                .find(|a| a.arn == instance_of_bot(bot_arn))
                .and_then(|a| a.bots.iter().find(|b| b.arn == *bot_arn));
            match bot {
                Some(b) => json_response(
                    StatusCode::OK,
                    &json!({"AppInstanceBot": b.to_json(sparse)}),
                ),
                None => aws_error(404, "NotFoundException", "bot not found"),
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::is_chime_arn;

    #[test]
    fn arns_follow_the_model_pattern() {
        let ok = "arn:aws:chime:us-east-1:111122223333:app-instance/a/bot/b";
        assert!(is_chime_arn(ok));
        assert!(is_chime_arn("arn:a::::x"));
        assert!(is_chime_arn("arn:aws-cn.x:chime:::a:b/c"));
        let long_field = format!("arn:{}:chime:us-east-1:1:x", "a".repeat(64));
        let long_tail = format!("arn:aws:chime:us-east-1:1:{}", "x".repeat(1025));
        let tail_at_max = format!("arn:aws:chime:us-east-1:1:{}", "x".repeat(1024));
        assert!(is_chime_arn(&tail_at_max));
        for bad in [
            "",
            "arn:",
            "arn:aws:chime:us-east-1:111122223333",
            "arn:aws:chime:us-east-1:111122223333:",
            "arn::chime:us-east-1:111122223333:app-instance/a",
            "arn:AWS:chime:us-east-1:111122223333:app-instance/a",
            "arn:aws:chime:us_east_1:111122223333:app-instance/a",
            "arn:aws:chime:us-east-1:111122223333:/app-instance/a",
            "arn:aws:chime:us-east-1:111122223333:app-instance/a\nb",
            "xarn:aws:chime:us-east-1:111122223333:app-instance/a",
            "not-an-arn",
            &long_field,
            &long_tail,
        ] {
            assert!(!is_chime_arn(bad), "{bad:?}");
        }
    }
}
