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

/// Where to listen, parsed once from `--web.listen-address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:port`: every IPv4 and IPv6 address of the host (one dual-stack
    /// socket where the host has IPv6).
    Any(u16),
    /// `127.0.0.1:port`, `[::1]:port`: that address.
    Socket(SocketAddr),
    /// `name:port`: every address the name resolves to at start.
    Host(String, u16),
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddress::Any(port) => write!(f, ":{port}"),
            ListenAddress::Socket(addr) => write!(f, "{addr}"),
            ListenAddress::Host(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// Parses `:port` (every address, as Go exporters accept), `ip:port`,
/// `[v6]:port` or `host:port`.
pub fn parse_listen_address(s: &str) -> Result<ListenAddress, String> {
    let s = s.trim();
    let bad = || {
        format!("'{s}' is not an address such as :{DEFAULT_PORT}, 127.0.0.1:{DEFAULT_PORT}, [::1]:{DEFAULT_PORT} or localhost:{DEFAULT_PORT}")
    };
    if let Some(port) = s.strip_prefix(':') {
        return port.parse().map(ListenAddress::Any).map_err(|_| bad());
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(ListenAddress::Socket(addr));
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    // A DNS name: labels of letters, digits and '-', separated by dots.
    let is_name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !is_name {
        return Err(bad());
    }
    Ok(ListenAddress::Host(host.to_ascii_lowercase(), port))
}

/// A YAML parser's message without the values it quotes: serde says
/// `invalid type: string "…", expected …`, and the string can be a whole
/// inline private key or a password hash given where a map was expected.
/// Such messages go to the log and to standard error.
pub fn redact_quoted_values(message: &str) -> String {
    const QUOTED: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(QUOTED) {
        out.push_str(&rest[..at]);
        out.push_str("string (value not shown)");
        let mut chars = rest[at + QUOTED.len()..].char_indices();
        let mut end = rest.len() - at - QUOTED.len();
        let mut escaped = false;
        for (i, c) in chars.by_ref() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &rest[at + QUOTED.len() + end..];
    }
    out.push_str(rest);
    out
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
    fn quoted_values_are_left_out_of_parser_messages() {
        assert_eq!(
            redact_quoted_values(
                "tls_server_config: invalid type: string \"-----BEGIN PRIVATE KEY-----\\nMIIE\\\"x\", expected a map at line 2"
            ),
            "tls_server_config: invalid type: string (value not shown), expected a map at line 2"
        );
        assert_eq!(
            redact_quoted_values("unknown field `x`"),
            "unknown field `x`"
        );
        assert_eq!(
            redact_quoted_values("a string \"unterminated"),
            "a string (value not shown)"
        );
    }

    #[test]
    fn listen_address_forms() {
        assert_eq!(parse_listen_address(":9891"), Ok(ListenAddress::Any(9891)));
        assert_eq!(
            parse_listen_address("127.0.0.1:0"),
            Ok(ListenAddress::Socket("127.0.0.1:0".parse().unwrap()))
        );
        assert_eq!(
            parse_listen_address("[::1]:80"),
            Ok(ListenAddress::Socket("[::1]:80".parse().unwrap()))
        );
        assert_eq!(
            parse_listen_address("LocalHost:80"),
            Ok(ListenAddress::Host("localhost".into(), 80))
        );
        for bad in [
            "host", ":", ":99999", "a b:80", "-x:80", "x:", "[::1]", "::1:80x",
        ] {
            assert!(parse_listen_address(bad).is_err(), "{bad}");
        }
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
