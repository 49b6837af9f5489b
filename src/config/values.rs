//! Parsers for the values flags and files share: durations, rates, listen
//! addresses, paths. One parser per kind of value, so that `5m` means the
//! same in `--chime.cache-ttl` and in the config file's `cache_ttl`.

use std::net::SocketAddr;
use std::time::Duration;

/// The default listen port. The exporter range of the Prometheus port
/// allocations page (9100-9999) is full, so no free number exists there;
/// 9891 is this exporter's, documented in the README and the Dockerfile.
pub const DEFAULT_PORT: u16 = 9891;

/// A humantime duration (`500ms`, `30s`, `5m`, `1h`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}': {e} (expected a duration such as 30s, 5m or 1h)"))
}

/// A duration that must be greater than zero (TTLs, timeouts).
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("'{s}': must be greater than zero"));
    }
    Ok(d)
}

/// API requests per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.01..=10_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "'{s}' is not a rate between 0.01 and 10000 requests per second"
        )),
    }
}

/// Parses `host:port`, `:port` (all interfaces, as Go exporters accept) or
/// `[v6]:port`.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else if s.starts_with("localhost:") {
        s.replacen("localhost", "127.0.0.1", 1)
    } else {
        s.to_owned()
    };
    full.parse::<SocketAddr>().map_err(|_| {
        format!("'{s}' is not an address such as :{DEFAULT_PORT} or 127.0.0.1:{DEFAULT_PORT}")
    })
}

/// The path the metrics are served on.
pub fn parse_telemetry_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') || s == "/" {
        return Err(format!("'{s}' must start with '/' and not be '/' itself"));
    }
    if s.starts_with("/-/") {
        return Err(format!("'{s}' is reserved for /-/healthy and /-/ready"));
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err(format!("'{s}' is not a plain URL path"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_forms() {
        assert_eq!(parse_listen_address(":9891").unwrap().port(), 9891);
        assert!(parse_listen_address("127.0.0.1:0").is_ok());
        assert!(parse_listen_address("[::1]:80").is_ok());
        assert!(parse_listen_address("localhost:80").is_ok());
        assert!(parse_listen_address("host").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration(" 5m "), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_positive_duration("0s").is_err());
        let e = parse_duration("soon").unwrap_err();
        assert!(e.contains("'soon'") && e.contains("30s"), "{e}");
    }
}
