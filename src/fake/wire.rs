//! The fake's side of the wire: its own request decoding and response
//! encoding, written for the fake alone. Nothing here is shared with the
//! exporter, so that a decoding bug in one cannot hide the same bug in the
//! other (the exporter's path parsing could agree with itself and both be
//! wrong).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Map, Value};

pub type Body = Full<Bytes>;

/// Which operation a request is, and its path parameters (the model's
/// `requestUri`s).
#[derive(Debug, PartialEq)]
pub enum Route {
    ListAccounts,
    GetAccount(String),
    ListBots(String),
    GetBot(String, String),
    /// Chime SDK Identity (see `super::sdk`).
    ListAppInstances,
    /// The AppInstance ARN, from the query (see [`Route::with_query`]);
    /// empty when the request gave none.
    ListAppInstanceBots(String),
    /// The bot's ARN.
    DescribeAppInstanceBot(String),
}

impl Route {
    pub fn operation(&self) -> &'static str {
        match self {
            Route::ListAccounts => "ListAccounts",
            Route::GetAccount(_) => "GetAccount",
            Route::ListBots(_) => "ListBots",
            Route::GetBot(..) => "GetBot",
            Route::ListAppInstances => "ListAppInstances",
            Route::ListAppInstanceBots(_) => "ListAppInstanceBots",
            Route::DescribeAppInstanceBot(_) => "DescribeAppInstanceBot",
        }
    }

    /// The account the request is about: for the Chime SDK's operations,
    /// the AppInstance ARN (so that faults and counts apply per
    /// AppInstance); empty for the account-wide listings.
    pub fn account_id(&self) -> &str {
        match self {
            Route::ListAccounts | Route::ListAppInstances => "",
            Route::GetAccount(a) | Route::ListBots(a) | Route::GetBot(a, _) => a,
            Route::ListAppInstanceBots(arn) => arn,
            Route::DescribeAppInstanceBot(bot) => instance_of_bot(bot),
        }
    }

    /// Takes the query's part of the route (ListAppInstanceBots'
    /// `app-instance-arn`).
    pub fn with_query(self, params: &HashMap<String, String>) -> Route {
        match self {
            Route::ListAppInstanceBots(_) => Route::ListAppInstanceBots(
                params.get("app-instance-arn").cloned().unwrap_or_default(),
            ),
            other => other,
        }
    }

    /// The route of a request path. Path labels are `NonEmptyString` in the
    /// model (`.*\S.*`): a blank one matches no operation.
    pub fn parse(path: &str) -> Option<Route> {
        let segments: Vec<String> = path
            .strip_prefix('/')?
            .split('/')
            .map(|s| decode_component(s, false))
            .collect::<Option<_>>()?;
        let label = |s: &String| (!s.trim().is_empty()).then(|| s.clone());
        match segments.as_slice() {
            [a] if a == "accounts" => Some(Route::ListAccounts),
            [a, id] if a == "accounts" => label(id).map(Route::GetAccount),
            [a, id, b] if a == "accounts" && b == "bots" => label(id).map(Route::ListBots),
            [a, id, b, bot] if a == "accounts" && b == "bots" => {
                Some(Route::GetBot(label(id)?, label(bot)?))
            }
            [a] if a == "app-instances" => Some(Route::ListAppInstances),
            [a] if a == "app-instance-bots" => Some(Route::ListAppInstanceBots(String::new())),
            [a, arn] if a == "app-instance-bots" => label(arn).map(Route::DescribeAppInstanceBot),
            _ => None,
        }
    }
}

/// RFC 3986 percent-decoding of one path segment or query component; `+`
/// is a space in a query. `None` for a broken escape or bytes that are not
/// UTF-8 (the real service answers such a request with a 400 or 404, never
/// with data).
pub fn decode_component(s: &str, query: bool) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = (bytes.next()? as char).to_digit(16)?;
                let lo = (bytes.next()? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            b'+' if query => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// The query string as a map (the last value of a repeated name wins);
/// `None` when a component cannot be decoded.
pub fn parse_query(query: Option<&str>) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(decode_component(k, true)?, decode_component(v, true)?);
    }
    Some(out)
}

/// Formats Unix seconds as the model's `Iso8601Timestamp`
/// (`2019-04-17T18:51:26.5Z`), from the civil calendar (days from the epoch
/// to year, month, day as in Howard Hinnant's `civil_from_days`).
pub fn iso8601(secs: f64) -> String {
    let whole = secs.floor();
    let frac = secs - whole;
    let total = whole as i64;
    let days = total.div_euclid(86_400);
    let rest = total.rem_euclid(86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if frac > 0.0 {
        // Milliseconds at most, trailing zeros dropped.
        let millis = format!("{:03}", ((frac * 1000.0).round() as u32).min(999));
        let millis = millis.trim_end_matches('0');
        if !millis.is_empty() {
            out.push('.');
            out.push_str(millis);
        }
    }
    out.push('Z');
    out
}

/// Page tokens are opaque to clients; here they carry the offset and are
/// bound to the listing they belong to, so a forged or foreign token is a
/// 400 as in the real API.
pub fn make_token(scope: &str, offset: usize) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (scope, offset).hash(&mut h);
    format!("{offset}.{:x}", h.finish())
}

pub fn read_token(scope: &str, token: &str) -> Option<usize> {
    let (offset, _) = token.split_once('.')?;
    let offset: usize = offset.parse().ok()?;
    (make_token(scope, offset) == token).then_some(offset)
}

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

/// An AWS error answer: the model's status, `x-amzn-ErrorType`, and the
/// model's body (`Code` from the `ErrorCode` enum, `Message`).
pub fn aws_error(status: u16, code: &str, message: &str) -> Response<Body> {
    let short = code
        .trim_end_matches("Exception")
        .trim_end_matches("Client");
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(status, &json!({"Code": short, "Message": message}));
    if let Ok(v) = HeaderValue::from_str(code) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    resp
}

pub fn bad_request(message: &str) -> Response<Body> {
    aws_error(400, "BadRequestException", message)
}

pub fn raw(status: StatusCode, content_type: &'static str, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    resp
}

pub fn paged<T>(
    params: &HashMap<String, String>,
    scope: &str,
    items: &[T],
    size: usize,
    member: &str,
    to_json: impl Fn(&T) -> Value,
) -> Response<Body> {
    match paged_map(params, scope, items, size, member, to_json) {
        Ok(body) => json_response(StatusCode::OK, &Value::Object(body)),
        Err(why) => bad_request(why),
    }
}

/// The request's `next-token`, `None` when absent or empty. Both models
/// allow an empty token (Chime's is a plain `String`, no `min`; Chime SDK's
/// `NextToken` has `min: 0`), so it cannot be refused as malformed; with
/// nothing to continue from, it asks for the first page, as no token does.
pub fn next_token(params: &HashMap<String, String>) -> Option<&str> {
    params
        .get("next-token")
        .map(String::as_str)
        .filter(|t| !t.is_empty())
}

/// One page's body (`member` and `NextToken`), or why the request is a
/// 400 (a bad token; an empty one is the first page, see [`next_token`]).
pub fn paged_map<T>(
    params: &HashMap<String, String>,
    scope: &str,
    items: &[T],
    size: usize,
    member: &str,
    to_json: impl Fn(&T) -> Value,
) -> Result<Map<String, Value>, &'static str> {
    let offset = match next_token(params) {
        None => 0,
        Some(token) => match read_token(scope, token) {
            Some(o) if o <= items.len() => o,
            _ => return Err("invalid next-token"),
        },
    };
    let end = (offset + size).min(items.len());
    let mut body = Map::new();
    body.insert(
        member.to_owned(),
        Value::Array(items[offset..end].iter().map(to_json).collect()),
    );
    if end < items.len() {
        body.insert(
            "NextToken".to_owned(),
            Value::String(make_token(scope, end)),
        );
    }
    Ok(body)
}

/// The AppInstance of a bot ARN (`…:app-instance/ID/bot/BOT`).
pub fn instance_of_bot(bot_arn: &str) -> &str {
    bot_arn.split("/bot/").next().unwrap_or(bot_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_model_paths() {
        assert_eq!(Route::parse("/accounts"), Some(Route::ListAccounts));
        assert_eq!(
            Route::parse("/accounts/a"),
            Some(Route::GetAccount("a".into()))
        );
        assert_eq!(
            Route::parse("/accounts/a%2Fb/bots"),
            Some(Route::ListBots("a/b".into()))
        );
        assert_eq!(
            Route::parse("/accounts/a/bots/b"),
            Some(Route::GetBot("a".into(), "b".into()))
        );
        assert_eq!(Route::parse("/accounts/%20/bots"), None);
        assert_eq!(Route::parse("/accounts/%zz/bots"), None);
        assert_eq!(Route::parse("/other"), None);
        assert_eq!(Route::parse("accounts"), None);
    }

    #[test]
    fn queries_are_decoded() {
        let q = parse_query(Some("name=a+b%21&max-results=5&empty")).unwrap();
        assert_eq!(q["name"], "a b!");
        assert_eq!(q["max-results"], "5");
        assert_eq!(q["empty"], "");
        assert!(parse_query(Some("x=%f")).is_none());
    }

    #[test]
    fn an_empty_token_is_the_first_page() {
        let items = [1, 2, 3];
        let page = |q: &str| {
            let params = parse_query(Some(q)).unwrap_or_default();
            paged_map(&params, "s", &items, 2, "Items", |n| Value::from(*n))
        };
        let first = page("");
        assert!(first.is_ok());
        assert_eq!(page("next-token="), first);
        assert_eq!(page("next-token"), first);
        assert!(page("next-token=forged").is_err());
    }

    #[test]
    fn tokens_are_bound_to_their_listing() {
        let t = make_token("bots/a", 99);
        assert_eq!(read_token("bots/a", &t), Some(99));
        assert_eq!(read_token("bots/b", &t), None);
        assert_eq!(read_token("bots/a", "99.0"), None);
        assert_eq!(read_token("bots/a", "garbage"), None);
    }

    #[test]
    fn timestamps_are_iso8601() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_555_527_086.5), "2019-04-17T18:51:26.5Z");
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(4_107_542_400.25), "2100-03-01T00:00:00.25Z");
        assert_eq!(iso8601(1_700_000_000.0), "2023-11-14T22:13:20Z");
    }
}
