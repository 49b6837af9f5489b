//! What is read out of a request: the scrape budget, the encodings accepted,
//! query parameters. All of it is untrusted input, parsed without panics.

use std::time::Duration;

use http::HeaderValue;

use crate::expose::Format;

use crate::api::percent_decode;

/// The header Prometheus sends with its scrape timeout.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// The scrape budget from an (untrusted) `X-Prometheus-Scrape-Timeout-Seconds`
/// header: its value minus `offset`, at most `default`; `default` when the
/// header is absent or not a positive number.
pub fn scrape_budget(
    header: Option<&HeaderValue>,
    offset: Duration,
    default: Duration,
) -> Duration {
    header
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .map(|t| t.saturating_sub(offset).min(default))
        .unwrap_or(default)
}

/// The query parameters of a request, percent-decoded (`+` is a space).
pub fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*`,
/// without `q=0`).
pub fn accepts_gzip(header: Option<&HeaderValue>) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// The exposition format an `Accept` header asks for, as client_golang
/// decides it: the media types in order of preference (`q`, then the order
/// written), the first that is OpenMetrics (version 1.0.0, 0.0.1 or none)
/// or the Prometheus text format (`text/plain`, version 0.0.4, 1.0.0 or
/// none) wins; anything else, and no header, gets the text format, which
/// every scraper reads.
pub fn negotiate_format(header: Option<&HeaderValue>) -> Format {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return Format::Text;
    };
    let mut offers: Vec<(f32, usize, Option<Format>)> = Vec::new();
    for (index, item) in value.split(',').enumerate() {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        let mut version = None;
        for param in parts {
            let Some((key, val)) = param.split_once('=') else {
                continue;
            };
            let val = val.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => q = val.parse().unwrap_or(0.0),
                "version" => version = Some(val.to_owned()),
                _ => {}
            }
        }
        let format = match (media.as_str(), version.as_deref()) {
            ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => {
                Some(Format::OpenMetrics)
            }
            ("text/plain", None | Some("0.0.4" | "1.0.0")) => Some(Format::Text),
            _ => None,
        };
        if q > 0.0 {
            offers.push((q, index, format));
        }
    }
    offers.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    offers
        .into_iter()
        .find_map(|(_, _, format)| format)
        .unwrap_or(Format::Text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_negotiation() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        // What Prometheus 3 sends by default.
        let prometheus = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(negotiate_format(Some(&h(prometheus))), Format::OpenMetrics);
        // Prometheus with scrape_protocols: [PrometheusText0.0.4].
        assert_eq!(
            negotiate_format(Some(&h("text/plain;version=0.0.4;q=0.9,*/*;q=0.1"))),
            Format::Text
        );
        assert_eq!(
            negotiate_format(Some(&h(
                "text/plain;q=0.9,application/openmetrics-text;q=0.2"
            ))),
            Format::Text
        );
        assert_eq!(
            negotiate_format(Some(&h("application/openmetrics-text"))),
            Format::OpenMetrics
        );
        // A version this exporter does not write, or a refused type.
        assert_eq!(
            negotiate_format(Some(&h("application/openmetrics-text; version=2.0.0"))),
            Format::Text
        );
        assert_eq!(
            negotiate_format(Some(&h("application/openmetrics-text;q=0"))),
            Format::Text
        );
        assert_eq!(negotiate_format(Some(&h("*/*"))), Format::Text);
        assert_eq!(negotiate_format(None), Format::Text);
    }

    #[test]
    fn gzip_negotiation() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert!(accepts_gzip(Some(&h("gzip"))));
        assert!(accepts_gzip(Some(&h("deflate, GZIP;q=0.5"))));
        assert!(accepts_gzip(Some(&h("*"))));
        assert!(!accepts_gzip(Some(&h("gzip;q=0"))));
        assert!(!accepts_gzip(Some(&h("identity"))));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn budget_from_the_scrape_timeout_header() {
        let d = Duration::from_secs(10);
        let o = Duration::from_millis(500);
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(scrape_budget(None, o, d), d);
        assert_eq!(
            scrape_budget(Some(&h("4")), o, d),
            Duration::from_millis(3500)
        );
        assert_eq!(scrape_budget(Some(&h("60")), o, d), d);
        assert_eq!(scrape_budget(Some(&h("0.2")), o, d), Duration::ZERO);
        for bad in ["-1", "NaN", "inf", "", "abc", "1e400"] {
            assert_eq!(scrape_budget(Some(&h(bad)), o, d), d, "{bad}");
        }
    }

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_params(Some("a=1&b=x+y&c=%41&&d")),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "A".into()),
                ("d".into(), "".into())
            ]
        );
        assert!(query_params(None).is_empty());
    }
}
