//! Logging in the two formats Prometheus exporters use: logfmt (the
//! default) and JSON, to standard error.
//!
//! The level applies to this crate. Dependencies (the AWS SDK, hyper) log
//! at `warn` at most, whatever the level: their debug output can include
//! request and response details that have no place in an exporter's logs.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogLevel};

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

/// The filter: `level` for this crate, at most `warn` for the rest.
pub fn filter(level: LogLevel) -> EnvFilter {
    let deps = match level {
        LogLevel::Error => "error",
        _ => "warn",
    };
    EnvFilter::new(format!("{deps},chime_exporter={}", level_name(level)))
}

/// Installs the global subscriber. Safe to call more than once (later calls
/// do nothing), which keeps tests that start several servers simple.
pub fn init(level: LogLevel, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
}

/// A logfmt event formatter: `ts=… level=… target=… msg="…" key=value …`.
pub struct Logfmt;

/// Writes `value` as a logfmt value, quoted when it has to be.
fn write_value(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if !needs_quotes {
        return out.write_str(value);
    }
    out.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c.is_control() => write!(out, "\\u{{{:x}}}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

#[derive(Default)]
struct LogfmtVisitor {
    message: String,
    fields: Vec<(&'static str, String)>,
}

impl Visit for LogfmtVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.push((field.name(), text));
        }
    }
}

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut visitor = LogfmtVisitor::default();
        event.record(&mut visitor);
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        write!(
            writer,
            "ts={ts} level={} target=",
            meta.level().as_str().to_ascii_lowercase()
        )?;
        write_value(&mut writer, meta.target())?;
        writer.write_str(" msg=")?;
        write_value(&mut writer, &visitor.message)?;
        for (key, value) in &visitor.fields {
            write!(writer, " {key}=")?;
            write_value(&mut writer, value)?;
        }
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> String {
        let mut out = String::new();
        write_value(&mut out, s).unwrap();
        out
    }

    #[test]
    fn logfmt_values_are_quoted_when_needed() {
        assert_eq!(value("plain"), "plain");
        assert_eq!(value(""), "\"\"");
        assert_eq!(value("two words"), "\"two words\"");
        assert_eq!(value("a=b"), "\"a=b\"");
        assert_eq!(value("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
    }
}
