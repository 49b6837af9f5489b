//! The exposition of one `/probe`: `chime_probe_success`,
//! `chime_probe_duration_seconds`, and the per-bot families of the account
//! table for the one bot.

use super::families::bot_families;
use super::text::{write_eof, write_gauge_descriptor, write_sample, Value};
use crate::collect::ProbeResult;

/// Encodes a probe's answer (with `# EOF`). `with_aws`: the bot's series
/// carry `aws_account_id`, as the account's series do.
pub fn encode_probe(account_id: &str, result: &ProbeResult, with_aws: bool) -> String {
    let mut out = String::new();
    let bot = result.bot();
    write_gauge_descriptor(
        &mut out,
        "chime_probe_success",
        "Whether GetBot found the bot (1) or not (0).",
    );
    write_sample(
        &mut out,
        "chime_probe_success",
        &[],
        &[],
        bot.is_some().into(),
    );
    write_gauge_descriptor(
        &mut out,
        "chime_probe_duration_seconds",
        "How long the probe took (near zero when answered from the cache).",
    );
    write_sample(
        &mut out,
        "chime_probe_duration_seconds",
        &[],
        &[],
        Value::Float(result.duration.as_secs_f64()),
    );
    let mut account = vec![("account_id", account_id)];
    if with_aws {
        account.push((
            "aws_account_id",
            result.aws_account_id.as_deref().unwrap_or(""),
        ));
    }
    for family in bot_families() {
        family.descriptor(&mut out);
        if let Some(bot) = bot {
            family.write_bot(bot.as_bot(), &account, &mut out);
        }
    }
    write_eof(&mut out);
    out
}
