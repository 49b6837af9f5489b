//! The exposition of one `/probe`: `chime_probe_success`,
//! `chime_probe_duration_seconds`, and the per-bot families of the account
//! table for the one bot.

use super::families::bot_families;
use super::text::{write_eof, write_gauge_descriptor, write_sample, Value};
use crate::collect::{Answered, ProbeResult};
use crate::config::Collectors;

/// Encodes a probe's answer (with `# EOF`). `with_aws`: the bot's series
/// carry `aws_account_id`, as the account's series do. The probe asks for
/// one bot by name, so `--no-collector.bots` does not apply to it; the
/// `display_name` switch does.
pub fn encode_probe(
    account_id: &str,
    result: &ProbeResult,
    with_aws: bool,
    collectors: Collectors,
) -> String {
    let collectors = Collectors {
        bots: true,
        ..collectors
    };
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
            family.write_bot(bot.as_bot(), &account, collectors, &mut out);
        }
    }
    write_eof(&mut out);
    out
}

/// `/probe?…&debug=true`, as blackbox_exporter answers it: a plain-text log
/// of the probe (how it was answered, each API attempt with its status,
/// error class and duration, the result), then the metrics it would have
/// returned.
pub fn debug_probe(
    account_id: &str,
    bot_id: &str,
    result: &ProbeResult,
    with_aws: bool,
    collectors: Collectors,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "Logs for the probe:");
    let _ = writeln!(
        out,
        "probe of bot {bot_id} in account {account_id} through target {}",
        result.target
    );
    let _ = writeln!(
        out,
        "{}",
        match result.answered {
            Answered::Cache =>
                "answered from the cache (no API call now); the call that filled it:",
            Answered::Joined => "joined the GetBot call already running for this bot:",
            Answered::Called => "made a GetBot call:",
        }
    );
    match &result.outcome {
        None => {
            let _ = writeln!(
                out,
                "  no answer within the scrape's budget (the call goes on for the next probe)"
            );
        }
        Some(outcome) => {
            if outcome.attempts.is_empty() {
                let _ = writeln!(out, "  (no attempt recorded)");
            }
            for (i, a) in outcome.attempts.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  attempt {}: {} status={} error={} duration={:.3}s",
                    i + 1,
                    a.operation,
                    a.status
                        .map_or_else(|| "none".to_owned(), |s| s.to_string()),
                    a.error.map_or("none", |e| e.as_str()),
                    a.duration.as_secs_f64()
                );
            }
            let _ = match (&outcome.bot, outcome.error) {
                (Some(_), _) => writeln!(out, "result: the bot was found"),
                (None, Some(e)) => writeln!(out, "result: failed ({e})"),
                (None, None) => writeln!(out, "result: failed"),
            };
        }
    }
    let _ = writeln!(out, "probe took {:.3}s", result.duration.as_secs_f64());
    let _ = writeln!(out, "\nMetrics that would have been returned:");
    out.push_str(&encode_probe(account_id, result, with_aws, collectors));
    out
}
