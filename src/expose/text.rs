//! Writing the text exposition of the families this exporter renders itself
//! (account data and probes): descriptor lines and sample lines, with label
//! values escaped as both the OpenMetrics and the Prometheus text format
//! want them (`\\`, `\"`, `\n`).

use std::fmt::Write as _;

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two formats a scrape can ask for (see `http::negotiate`).
///
/// The exporter's own families are gauges and counters only, so the two
/// differ in little: OpenMetrics names a counter family without `_total`
/// in `# HELP`/`# TYPE` and ends with `# EOF`; the text format names it as
/// its samples and has no end marker. The account families (all gauges)
/// are therefore the same bytes in both, and only the descriptors of the
/// counters and the small telemetry part are written twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    OpenMetrics = 0,
    /// The Prometheus text format 0.0.4.
    Text = 1,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text => TEXT_CONTENT_TYPE,
        }
    }
}

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

/// `# HELP` and `# TYPE` of a family, in OpenMetrics.
pub fn write_descriptor(out: &mut String, name: &str, help: &str, kind: MetricType) {
    write_descriptor_in(out, name, help, kind, Format::OpenMetrics);
}

/// `# HELP` and `# TYPE` of a family in `format`: `name` is the family's
/// OpenMetrics name (a counter's without `_total`).
pub fn write_descriptor_in(
    out: &mut String,
    name: &str,
    help: &str,
    kind: MetricType,
    format: Format,
) {
    let total = if kind == MetricType::Counter && format == Format::Text {
        "_total"
    } else {
        ""
    };
    out.push_str("# HELP ");
    out.push_str(name);
    out.push_str(total);
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
    out.push_str(total);
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

/// Rewrites OpenMetrics text (as prometheus-client encodes the telemetry)
/// into the Prometheus text format: counter families named with `_total`,
/// `info` families as gauges named with `_info`, no `# UNIT`, no `_created`
/// samples, no `# EOF`.
pub fn openmetrics_to_text(om: &str, out: &mut String) {
    use std::collections::HashMap;
    let types: HashMap<&str, &str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = line
            .strip_prefix("# HELP ")
            .map(|rest| ("# HELP ", rest))
            .or_else(|| line.strip_prefix("# TYPE ").map(|rest| ("# TYPE ", rest)));
        if let Some((kind, rest)) = descriptor {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let (suffix, tail) = match (types.get(name).copied(), kind) {
                (Some("counter"), _) => ("_total", tail),
                (Some("info"), "# TYPE ") => ("_info", "gauge"),
                (Some("info"), _) => ("_info", tail),
                (Some("stateset"), "# TYPE ") => ("", "gauge"),
                (Some("unknown"), "# TYPE ") => ("", "untyped"),
                _ => ("", tail),
            };
            out.push_str(kind);
            out.push_str(name);
            out.push_str(suffix);
            out.push(' ');
            out.push_str(tail);
            out.push('\n');
            continue;
        }
        let sample = line.split(['{', ' ']).next().unwrap_or("");
        if let Some(family) = sample.strip_suffix("_created") {
            if matches!(
                types.get(family).copied(),
                Some("counter" | "histogram" | "summary")
            ) {
                continue;
            }
        }
        // An exemplar (` # {...} v`) exists only in OpenMetrics.
        let line = match line.find(" # {") {
            Some(at) if !line.starts_with('#') => &line[..at],
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_becomes_the_text_format() {
        let om = "# HELP c A counter.\n# TYPE c counter\nc_total{a=\"x\"} 3\nc_created{a=\"x\"} 1.7e9\n\
                  # HELP b Build.\n# TYPE b info\nb_info{v=\"1\"} 1\n\
                  # HELP g A gauge.\n# TYPE g gauge\n# UNIT g seconds\ng 1.5\n\
                  # HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2 # {t=\"1\"} 0.5\nh_sum 1.0\nh_count 2\n# EOF\n";
        let mut text = String::new();
        openmetrics_to_text(om, &mut text);
        assert_eq!(
            text,
            "# HELP c_total A counter.\n# TYPE c_total counter\nc_total{a=\"x\"} 3\n\
             # HELP b_info Build.\n# TYPE b_info gauge\nb_info{v=\"1\"} 1\n\
             # HELP g A gauge.\n# TYPE g gauge\ng 1.5\n\
             # HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.0\nh_count 2\n"
        );
    }

    #[test]
    fn counter_descriptors_in_both_formats() {
        let mut om = String::new();
        write_descriptor_in(&mut om, "c", "C.", MetricType::Counter, Format::OpenMetrics);
        let mut text = String::new();
        write_descriptor_in(&mut text, "c", "C.", MetricType::Counter, Format::Text);
        assert_eq!(om, "# HELP c C.\n# TYPE c counter\n");
        assert_eq!(text, "# HELP c_total C.\n# TYPE c_total counter\n");
    }

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
