//! Writing the text exposition of the families this exporter renders itself
//! (account data and probes): descriptor lines and sample lines, with label
//! values escaped as both the OpenMetrics and the Prometheus text format
//! want them (`\\`, `\"`, `\n`).

use std::fmt::Write as _;

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(i64::from(v))
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

/// The `# TYPE` of a family written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    /// Named without `_total` in `# HELP` and `# TYPE`, as OpenMetrics
    /// wants; its samples carry the suffix.
    Counter,
}

/// `# HELP` and `# TYPE` of a gauge.
pub fn write_gauge_descriptor(out: &mut String, name: &str, help: &str) {
    write_descriptor(out, name, help, MetricType::Gauge);
}

/// `# HELP` and `# TYPE` of a family.
pub fn write_descriptor(out: &mut String, name: &str, help: &str, kind: MetricType) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push_str(match kind {
        MetricType::Gauge => " gauge\n",
        MetricType::Counter => " counter\n",
    });
}

/// One sample line: `name{a="x",b="y"} value`. Labels are written in the
/// order given: `base` first, then `extra`.
pub fn write_sample(
    out: &mut String,
    name: &str,
    base: &[(&str, &str)],
    extra: &[(&str, &str)],
    value: Value,
) {
    out.push_str(name);
    let mut labels = base.iter().chain(extra).peekable();
    if labels.peek().is_some() {
        out.push('{');
        let mut first = true;
        for (key, value) in labels {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(key);
            out.push_str("=\"");
            push_escaped(out, value);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    match value {
        Value::Int(v) => out.push_str(itoa::Buffer::new().format(v)),
        Value::Float(v) if v.is_nan() => out.push_str("NaN"),
        Value::Float(v) if v.is_infinite() => out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" }),
        Value::Float(v) => out.push_str(dtoa::Buffer::new().format_finite(v)),
    }
    out.push('\n');
}

fn push_escaped(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends the OpenMetrics end marker.
pub fn write_eof(out: &mut String) {
    let _ = out.write_str("# EOF\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_and_escaping() {
        let mut out = String::new();
        write_gauge_descriptor(&mut out, "g", "Help \\ with\nnewline.");
        write_sample(&mut out, "g", &[], &[], Value::Int(3));
        write_sample(
            &mut out,
            "g",
            &[("a", "x")],
            &[("b", "q\"b\\n\nl")],
            Value::Float(1.5),
        );
        write_sample(&mut out, "g", &[("a", "")], &[], Value::Float(1.6e9));
        write_sample(&mut out, "g", &[], &[], Value::Float(f64::INFINITY));
        write_sample(&mut out, "g", &[], &[], Value::Float(f64::NAN));
        assert_eq!(
            out,
            "# HELP g Help \\\\ with\\nnewline.\n# TYPE g gauge\ng 3\n\
             g{a=\"x\",b=\"q\\\"b\\\\n\\nl\"} 1.5\ng{a=\"\"} 1600000000.0\ng +Inf\ng NaN\n"
        );
    }
}
