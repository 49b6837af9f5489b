//! Logging in the two formats Prometheus exporters use, logfmt (the
//! default) and JSON, to standard error, with one schema: the keys
//! Prometheus's own components write (`time`, `level` in lower case,
//! `source`, `msg`), then the event's fields, and no key twice in a line
//! (strict parsers, Elasticsearch's among them, reject a JSON object with a
//! duplicate key). A field named like one of the four is written as
//! `field_<name>`.
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(std::io::stderr)
        .event_format(Schema {
            json: format == LogFormat::Json,
        })
        .try_init();
}

/// The keys every line starts with.
const RESERVED: [&str; 4] = ["time", "level", "source", "msg"];

/// The event formatter: see the module documentation.
pub struct Schema {
    pub json: bool,
}

/// A field's value, typed so that JSON keeps numbers and booleans.
#[derive(Debug, Clone, PartialEq)]
enum FieldValue {
    Text(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Text(s) => f.write_str(s),
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::UInt(v) => write!(f, "{v}"),
            FieldValue::Float(v) => write!(f, "{v}"),
            FieldValue::Bool(v) => write!(f, "{v}"),
        }
    }
}

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

/// Writes `value` as a JSON string.
fn write_json_string(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    match serde_json::to_string(value) {
        Ok(quoted) => out.write_str(&quoted),
        Err(_) => out.write_str("\"\""),
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(String, FieldValue)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: FieldValue) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.add(field.name(), value);
        }
    }

    fn add(&mut self, name: &str, value: FieldValue) {
        // No key twice: a reserved name or a repeat gets a prefix.
        let mut key = name.to_owned();
        while RESERVED.contains(&key.as_str()) || self.fields.iter().any(|(k, _)| *k == key) {
            key = format!("field_{key}");
        }
        self.fields.push((key, value));
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, FieldValue::Text(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::UInt(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::Float(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, FieldValue::Text(format!("{value:?}")));
    }
}

/// `file:line` of the log call: the crate's own path for this crate
/// (`src/collect/cache.rs:42`), `crate-version/path` for a dependency.
fn source(meta: &tracing::Metadata<'_>) -> String {
    let file = meta.file().unwrap_or("?");
    let file = match file.find("/registry/src/") {
        Some(at) => {
            let rest = &file[at + "/registry/src/".len()..];
            rest.split_once('/').map(|(_, p)| p).unwrap_or(rest)
        }
        None => file,
    };
    match meta.line() {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    }
}

/// One line in the schema, without the newline.
fn format_line(
    out: &mut impl fmt::Write,
    json: bool,
    time: &str,
    level: &str,
    source: &str,
    fields: &Fields,
) -> fmt::Result {
    let head = [("time", time), ("level", level), ("source", source)];
    if json {
        out.write_char('{')?;
        for (key, value) in head.iter().chain([("msg", fields.message.as_str())].iter()) {
            if *key != "time" {
                out.write_char(',')?;
            }
            write!(out, "\"{key}\":")?;
            write_json_string(out, value)?;
        }
        for (key, value) in &fields.fields {
            out.write_char(',')?;
            write_json_string(out, key)?;
            out.write_char(':')?;
            match value {
                FieldValue::Text(s) => write_json_string(out, s)?,
                FieldValue::Float(v) if !v.is_finite() => write_json_string(out, &v.to_string())?,
                other => write!(out, "{other}")?,
            }
        }
        out.write_char('}')
    } else {
        for (key, value) in head {
            write!(out, "{key}=")?;
            write_value(out, value)?;
            out.write_char(' ')?;
        }
        out.write_str("msg=")?;
        write_value(out, &fields.message)?;
        for (key, value) in &fields.fields {
            write!(out, " {key}=")?;
            write_value(out, &value.to_string())?;
        }
        Ok(())
    }
}

impl<S, N> FormatEvent<S, N> for Schema
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
        let mut fields = Fields::default();
        event.record(&mut fields);
        let time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let level = meta.level().as_str().to_ascii_lowercase();
        format_line(
            &mut writer,
            self.json,
            &time,
            &level,
            &source(meta),
            &fields,
        )?;
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

    fn line(json: bool, fields: &[(&str, FieldValue)]) -> String {
        let mut f = Fields {
            message: "hello \"you\"".into(),
            fields: Vec::new(),
        };
        for (k, v) in fields {
            f.add(k, v.clone());
        }
        let mut out = String::new();
        format_line(
            &mut out,
            json,
            "2026-01-02T03:04:05.678Z",
            "warn",
            "src/x.rs:1",
            &f,
        )
        .unwrap();
        out
    }

    #[test]
    fn both_formats_write_one_schema() {
        let fields = [
            ("target", FieldValue::Text("default".into())),
            ("accounts", FieldValue::UInt(3)),
            ("ratio", FieldValue::Float(0.5)),
            ("level", FieldValue::Text("x".into())),
        ];
        assert_eq!(
            line(false, &fields),
            "time=2026-01-02T03:04:05.678Z level=warn source=src/x.rs:1 msg=\"hello \\\"you\\\"\" target=default accounts=3 ratio=0.5 field_level=x"
        );
        let json: serde_json::Value = serde_json::from_str(&line(true, &fields)).unwrap();
        assert_eq!(json["time"], "2026-01-02T03:04:05.678Z");
        assert_eq!(json["level"], "warn");
        assert_eq!(json["source"], "src/x.rs:1");
        assert_eq!(json["msg"], "hello \"you\"");
        assert_eq!(json["target"], "default");
        assert_eq!(json["accounts"], 3);
        assert_eq!(json["ratio"], 0.5);
        assert_eq!(json["field_level"], "x");
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
