//! What is read out of a request: the scrape budget, the encodings accepted,
//! query parameters. All of it is untrusted input, parsed without panics.

use std::time::Duration;

use http::HeaderValue;

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

#[cfg(test)]
mod tests {
    use super::*;

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
