//! The second source's families: Chime SDK AppInstances and their
//! AppInstanceBots, rendered from [`SdkCache`]'s views.
//!
//! AppInstances are few (a service quota of 100 per account), so the text
//! is rendered whole, again only when the cache's generation moved, and
//! kept between scrapes. As for accounts, series come from the current
//! state: a bot gone from the list is gone from the text. No sample carries
//! a timestamp. `Metadata` never reaches this layer (see
//! `crate::api::AppInstanceBotDetails`).

use std::sync::{Arc, Mutex};

use super::text::{write_gauge_descriptor, write_sample, Value};
use crate::collect::{InstanceView, SdkCache};

/// What the renderer leaves out or keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct SdkRenderSettings {
    /// Leave the `name` label out of both the AppInstance series
    /// (`chime_sdk_app_instance_info`) and the bot series (the same switch
    /// as `display_name` for Chime bots): names can be personal or
    /// sensitive, and the model marks both `Name`s sensitive
    /// (`NonEmptyResourceName`, `sensitive: true`, for `AppInstanceSummary`
    /// and `AppInstanceBotSummary` alike). The series themselves stay, so
    /// the instances and bots are still counted and joined on their ARNs.
    pub drop_names: bool,
}

/// The families, in order: (name, help).
pub const SDK_FAMILIES: [(&str, &str); 7] = [
    (
        "chime_sdk_app_instance_info",
        "A watched Chime SDK AppInstance, with its name (from ListAppInstances; empty when unknown; left out under --no-collector.bots.display-name). Always 1.",
    ),
    (
        "chime_sdk_app_instance_up",
        "Whether the last listing of the AppInstance's bots succeeded (1) or failed (0). Served from a cache refreshed every --chime.cache-ttl.",
    ),
    (
        "chime_sdk_app_instance_bots",
        "AppInstanceBots of the AppInstance, as of its last successful listing. Served from a cache refreshed every --chime.cache-ttl.",
    ),
    (
        "chime_sdk_app_instance_bot_info",
        "An AppInstanceBot and its Lex configuration (DescribeAppInstanceBot, refreshed every --chime-sdk.describe-ttl). Always 1.",
    ),
    (
        "chime_sdk_app_instance_bot_created_timestamp_seconds",
        "When the AppInstanceBot was created (Unix seconds).",
    ),
    (
        "chime_sdk_app_instance_bot_updated_timestamp_seconds",
        "When the AppInstanceBot was last updated (Unix seconds).",
    ),
    (
        "chime_sdk_app_instance_last_success_timestamp_seconds",
        "When the AppInstance's bots were last listed successfully (Unix seconds).",
    ),
];

/// Writes every family for `views` into `out`.
pub fn encode_sdk(views: &[InstanceView], settings: SdkRenderSettings, out: &mut String) {
    let [info, up, bots, bot_info, created, updated, last] = SDK_FAMILIES;
    write_gauge_descriptor(out, info.0, info.1);
    for v in views {
        let name = v.name.as_deref().unwrap_or_default();
        let mut labels: Vec<(&str, &str)> = vec![("app_instance_arn", &v.arn)];
        if !settings.drop_names {
            labels.push(("name", name));
        }
        write_sample(out, info.0, &labels, &[], Value::Int(1));
    }
    write_gauge_descriptor(out, up.0, up.1);
    for v in views {
        let labels = [("app_instance_arn", &*v.arn)];
        write_sample(out, up.0, &labels, &[], Value::Int(i64::from(v.state.up)));
    }
    write_gauge_descriptor(out, bots.0, bots.1);
    for v in views {
        if let Some(list) = &v.state.bots {
            let n = i64::try_from(list.len()).unwrap_or(i64::MAX);
            write_sample(
                out,
                bots.0,
                &[("app_instance_arn", &v.arn)],
                &[],
                Value::Int(n),
            );
        }
    }
    write_gauge_descriptor(out, bot_info.0, bot_info.1);
    for v in views {
        for bot in v.state.bots.iter().flat_map(|b| b.iter()) {
            let d = bot.details.as_deref();
            let name = d.map_or(bot.name.as_str(), |d| {
                if d.name.is_empty() {
                    bot.name.as_str()
                } else {
                    d.name.as_str()
                }
            });
            let field = |f: fn(&crate::api::AppInstanceBotDetails) -> &str| d.map_or("", f);
            let mut labels: Vec<(&str, &str)> = vec![
                ("app_instance_arn", &v.arn),
                ("app_instance_bot_arn", &bot.arn),
            ];
            if !settings.drop_names {
                labels.push(("name", name));
            }
            labels.extend([
                ("lex_bot_alias_arn", field(|d| &d.lex_bot_alias_arn)),
                ("locale_id", field(|d| &d.locale_id)),
                ("standard_messages", field(|d| &d.standard_messages)),
                ("targeted_messages", field(|d| &d.targeted_messages)),
            ]);
            write_sample(out, bot_info.0, &labels, &[], Value::Int(1));
        }
    }
    for (family, pick) in [
        (
            created,
            (|d: &crate::api::AppInstanceBotDetails| d.created_seconds) as fn(_) -> _,
        ),
        (updated, |d: &crate::api::AppInstanceBotDetails| {
            d.updated_seconds
        }),
    ] {
        write_gauge_descriptor(out, family.0, family.1);
        for v in views {
            for bot in v.state.bots.iter().flat_map(|b| b.iter()) {
                if let Some(t) = bot.details.as_deref().and_then(pick) {
                    write_sample(
                        out,
                        family.0,
                        &[
                            ("app_instance_arn", &v.arn),
                            ("app_instance_bot_arn", &bot.arn),
                        ],
                        &[],
                        Value::Float(t),
                    );
                }
            }
        }
    }
    write_gauge_descriptor(out, last.0, last.1);
    for v in views {
        if let Some(t) = v.state.last_success_seconds {
            write_sample(
                out,
                last.0,
                &[("app_instance_arn", &v.arn)],
                &[],
                Value::Float(t),
            );
        }
    }
}

/// Renders the SDK families, again only when the cache changed.
#[derive(Debug)]
pub struct SdkRenderer {
    cache: Arc<SdkCache>,
    settings: SdkRenderSettings,
    last: Mutex<Option<(u64, Arc<str>)>>,
}

impl SdkRenderer {
    pub fn new(cache: Arc<SdkCache>, settings: SdkRenderSettings) -> SdkRenderer {
        SdkRenderer {
            cache,
            settings,
            last: Mutex::new(None),
        }
    }

    /// The cache (for the scrape to prepare).
    pub fn cache(&self) -> &Arc<SdkCache> {
        &self.cache
    }

    /// The text of the families (empty when the source is off).
    pub fn text(&self) -> Arc<str> {
        if !self.cache.is_enabled() {
            return Arc::from("");
        }
        let generation = self.cache.generation();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, text)) = &*last {
            if *at == generation {
                return text.clone();
            }
        }
        let mut out = String::with_capacity(4096);
        encode_sdk(&self.cache.views(), self.settings, &mut out);
        let text: Arc<str> = Arc::from(out);
        *last = Some((generation, Arc::clone(&text)));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AppInstanceBotDetails;
    use crate::collect::{InstanceState, SdkBot};

    fn views() -> Vec<InstanceView> {
        let details = AppInstanceBotDetails {
            name: "Helper".into(),
            lex_bot_alias_arn: "arn:aws:lex:us-east-1:111122223333:bot-alias/AAAAAAAAAA/BBBBBBBBBB"
                .into(),
            locale_id: "en_US".into(),
            standard_messages: "AUTO".into(),
            targeted_messages: "ALL".into(),
            created_seconds: Some(1_650_000_000.0),
            updated_seconds: None,
        };
        vec![InstanceView {
            arn: Arc::from("arn:aws:chime:us-east-1:111122223333:app-instance/a"),
            name: Some(Arc::from("Chat")),
            state: InstanceState {
                bots: Some(Arc::new(vec![
                    SdkBot::new(
                        "arn:aws:chime:us-east-1:111122223333:app-instance/a/bot/1",
                        "Helper",
                        Some(details),
                    ),
                    SdkBot::new(
                        "arn:aws:chime:us-east-1:111122223333:app-instance/a/bot/2",
                        "Undescribed",
                        None,
                    ),
                ])),
                up: true,
                last_success_seconds: Some(1_700_000_000.0),
                ..InstanceState::default()
            },
        }]
    }

    #[test]
    fn families_are_written_from_the_views_and_names_can_be_left_out() {
        let mut out = String::new();
        encode_sdk(&views(), SdkRenderSettings::default(), &mut out);
        assert_eq!(out.matches("chime_sdk_app_instance_bot_info{").count(), 2);
        assert!(
            out.contains(",name=\"Helper\",lex_bot_alias_arn=\"arn:aws:lex:"),
            "{out}"
        );
        assert!(
            out.contains("name=\"Undescribed\",lex_bot_alias_arn=\"\""),
            "{out}"
        );
        // Only what is known: one created timestamp, no updated one.
        assert_eq!(
            out.matches("chime_sdk_app_instance_bot_created_timestamp_seconds{")
                .count(),
            1
        );
        assert_eq!(
            out.matches("chime_sdk_app_instance_bot_updated_timestamp_seconds{")
                .count(),
            0
        );
        assert!(out.contains("chime_sdk_app_instance_bots{app_instance_arn=\"arn:aws:chime:us-east-1:111122223333:app-instance/a\"} 2\n"));
        for (name, _) in SDK_FAMILIES {
            assert!(out.contains(&format!("# TYPE {name} gauge\n")), "{name}");
        }

        let mut out = String::new();
        encode_sdk(&views(), SdkRenderSettings { drop_names: true }, &mut out);
        let bot_lines: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("chime_sdk_app_instance_bot_info{"))
            .collect();
        assert_eq!(bot_lines.len(), 2);
        assert!(
            bot_lines.iter().all(|l| !l.contains("name=\"")),
            "{bot_lines:?}"
        );
        // The AppInstance's name goes too (sensitive in the model), not
        // its series.
        assert!(!out.contains("name=\"Chat\""), "{out}");
        assert!(out.contains("chime_sdk_app_instance_info{app_instance_arn=\"arn:aws:chime:us-east-1:111122223333:app-instance/a\"} 1\n"), "{out}");
    }
}
