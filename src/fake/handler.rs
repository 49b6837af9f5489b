//! Answering one request: faults first, then the operation as the model
//! defines it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::faults::{pick_fault, Fault};
use super::model::{FakeAccount, FakeBot};
use super::wire::{aws_error, bad_request, json_response, paged, parse_query, raw, Body, Route};
use super::{Call, InFlight, Shared, Store, DEFAULT_ACCOUNTS_PAGE_SIZE, DEFAULT_BOTS_PAGE_SIZE};

/// The page size asked for, or `None` when `max-results` is not an integer
/// in `1..=max` (a 400 in the real API).
fn page_size(params: &HashMap<String, String>, max: usize, default: usize) -> Option<usize> {
    match params.get("max-results") {
        None => Some(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| (1..=max).contains(n)),
    }
}

fn bad_page_size(max: usize) -> Response<Body> {
    bad_request(&format!("max-results must be between 1 and {max}"))
}

/// The model's `EmailAddress` pattern, `.+@.+\..+`: something, an `@`,
/// something, a dot, something.
fn is_email(s: &str) -> bool {
    s.char_indices().any(|(at, c)| {
        c == '@' && at > 0 && {
            let domain = &s[at + 1..];
            domain
                .char_indices()
                .any(|(dot, d)| d == '.' && dot > 0 && dot + 1 < domain.len())
        }
    })
}

enum Answer {
    Now(Response<Body>),
    After(Duration, Response<Body>),
    Hang,
    Close,
    Reset,
}

pub(super) async fn handle(
    shared: &Shared,
    control: &std::net::TcpStream,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    if req.method() == Method::POST && req.uri().path() == "/" {
        // STS's GetCallerIdentity (query protocol), for `check --demo`: the
        // only STS operation the fake knows, and not a Chime call.
        return Ok(raw(
            StatusCode::OK,
            "text/xml",
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
             <Arn>arn:aws:iam::111122223333:user/chime-exporter-demo</Arn><UserId>AIDACHIMEEXPORTERDEMO</UserId>\
             <Account>111122223333</Account></GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>fake-sts</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        ));
    }
    let _in_flight = InFlight::enter(shared);
    shared.total_requests.fetch_add(1, Ordering::AcqRel);
    let forget = shared.forget_calls.load(Ordering::Acquire);
    if !forget {
        shared
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(std::time::Instant::now());
    }
    let arrived = tokio::time::Instant::now();
    match answer(shared, &req) {
        Answer::Now(resp) => Ok(resp),
        Answer::After(delay, resp) => {
            // The answer leaves `delay` after the request arrived: the
            // fake's own work is part of the latency, as a service's is.
            wait_until(arrived + delay).await;
            Ok(resp)
        }
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(aws_error(503, "ServiceUnavailableException", "hung"))
        }
        // An error from the service makes hyper drop the connection
        // without writing a response.
        Answer::Close => Err(std::io::Error::other("fault: close connection")),
        Answer::Reset => {
            socket2::SockRef::from(control).set_linger(Some(Duration::ZERO))?;
            Err(std::io::Error::other("fault: reset connection"))
        }
    }
}

/// Waits until `deadline`, to within a few tens of microseconds. Tokio's
/// timer fires at millisecond ticks, late by up to two: a "20 ms" fake
/// answered in 21–22 ms, and benchmarks measured the fake. The last
/// millisecond is slept on a blocking thread (a sleeping thread, not a
/// spinning one).
async fn wait_until(deadline: tokio::time::Instant) {
    let coarse = deadline.checked_sub(Duration::from_millis(2));
    if let Some(coarse) = coarse {
        tokio::time::sleep_until(coarse).await;
    }
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if !left.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(left)).await;
    }
}

fn answer(shared: &Shared, req: &Request<Incoming>) -> Answer {
    let Some(route) = Route::parse(req.uri().path()) else {
        return Answer::Now(aws_error(
            404,
            "UnknownOperationException",
            "no such operation",
        ));
    };
    if req.method() != Method::GET {
        return Answer::Now(aws_error(
            404,
            "UnknownOperationException",
            "no such operation",
        ));
    }
    let Some(params) = parse_query(req.uri().query()) else {
        return Answer::Now(bad_request("the query string cannot be decoded"));
    };
    // ListAppInstanceBots names its AppInstance in the query.
    let route = route.with_query(&params);
    let sparse = shared.sparse.load(Ordering::Acquire);
    let mut store = shared.lock();
    *store
        .requests
        .entry((route.operation(), route.account_id().to_owned()))
        .or_default() += 1;
    // The SDK numbers its attempts: `amz-sdk-request: attempt=N; max=M`.
    let attempt = req
        .headers()
        .get("amz-sdk-request")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .and_then(|a| a.trim().strip_prefix("attempt="))
        .and_then(|n| n.parse().ok());
    if !shared.forget_calls.load(Ordering::Acquire) {
        store.calls.push(Call {
            at: std::time::Instant::now(),
            operation: route.operation(),
            account_id: route.account_id().to_owned(),
            query: params.clone(),
            attempt,
        });
    }
    let Some(credential) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split([',', ' ']).next())
    else {
        return Answer::Now(aws_error(
            401,
            "UnauthorizedClientException",
            "missing Authorization header",
        ));
    };
    // SigV4's credential scope: KEY/DATE/REGION/SERVICE/aws4_request. The
    // signature itself is not checked (the fake holds no secret keys), but
    // the scope is: the Chime API is global and signed for us-east-1.
    let scope: Vec<&str> = credential.split('/').collect();
    if let Some(key) = scope.first() {
        store
            .signers
            .entry(route.account_id().to_owned())
            .or_default()
            .insert((*key).to_owned());
    }
    let expected = shared
        .signing_region
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if scope.len() != 5 || scope[2] != expected || scope[3] != "chime" || scope[4] != "aws4_request"
    {
        return Answer::Now(aws_error(
            403,
            "InvalidSignatureException",
            &format!(
                "Credential should be scoped to a valid region ('{expected}') and service ('chime')"
            ),
        ));
    }
    let (delay, fault) = pick_fault(&mut store.faults, &route, &params);
    let delay = (!delay.is_zero()).then_some(delay);
    match fault {
        None | Some(Fault::Latency(_)) => {}
        Some(Fault::Throttle) => {
            return Answer::Now(aws_error(429, "ThrottledClientException", "Rate exceeded"))
        }
        Some(Fault::AwsError { status, code }) => {
            return Answer::Now(aws_error(status, &code, "injected fault"))
        }
        Some(Fault::Hang) => return Answer::Hang,
        Some(Fault::CloseConnection) => return Answer::Close,
        Some(Fault::ResetConnection) => return Answer::Reset,
        Some(Fault::TruncatedJson) => {
            return Answer::Now(raw(
                StatusCode::OK,
                "application/json",
                "{\"Bots\": [{\"BotId\": \"abc\", \"Display",
            ))
        }
        Some(Fault::EmptyBody) => return Answer::Now(raw(StatusCode::OK, "application/json", "")),
        Some(Fault::NotJson) => {
            return Answer::Now(raw(StatusCode::OK, "text/plain", "this is not json"))
        }
        Some(Fault::WrongTypes) => {
            return Answer::Now(raw(
                StatusCode::OK,
                "application/json",
                "{\"Bots\": {\"BotId\": 7}, \"NextToken\": 12, \"Account\": [1]}",
            ))
        }
        Some(Fault::ProxyHtml) => {
            return Answer::Now(raw(
                StatusCode::BAD_GATEWAY,
                "text/html",
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            ))
        }
        // Every listing the exporter follows can loop, not only Chime's:
        // an empty page whose `NextToken` never changes, in each listing's
        // own shape. (The other routes answer normally.)
        Some(Fault::LoopingToken) => {
            let body = match &route {
                Route::ListBots(_) => Some(json!({"Bots": [], "NextToken": "loop"})),
                Route::ListAppInstances => Some(json!({"AppInstances": [], "NextToken": "loop"})),
                Route::ListAppInstanceBots(arn) => Some(json!({
                    "AppInstanceArn": arn,
                    "AppInstanceBots": [],
                    "NextToken": "loop",
                })),
                _ => None,
            };
            if let Some(body) = body {
                return Answer::Now(json_response(StatusCode::OK, &body));
            }
        }
    }
    let resp = route_answer(&store, &route, &params, sparse);
    match delay {
        Some(d) => Answer::After(d, resp),
        None => Answer::Now(resp),
    }
}

fn route_answer(
    store: &Store,
    route: &Route,
    params: &HashMap<String, String>,
    sparse: bool,
) -> Response<Body> {
    if let Some(response) = super::sdk::answer(store, route, params, sparse) {
        return response;
    }
    let find = |id: &str| store.accounts.iter().find(|a| a.account_id == id);
    match route {
        Route::ListAccounts => {
            let Some(size) = page_size(params, 200, DEFAULT_ACCOUNTS_PAGE_SIZE) else {
                return bad_page_size(200);
            };
            let name = params.get("name");
            let email = params.get("user-email");
            // AccountName: 1 to 100 characters, pattern `.*\S.*`.
            if name.is_some_and(|n| !(1..=100).contains(&n.chars().count()) || n.trim().is_empty())
            {
                return bad_request("name must be 1 to 100 characters, not all blank");
            }
            // EmailAddress: pattern `.+@.+\..+`.
            if email.is_some_and(|e| !is_email(e)) {
                return bad_request("user-email is not an email address");
            }
            let matching: Vec<&FakeAccount> = store
                .accounts
                .iter()
                .filter(|a| name.is_none_or(|n| a.name.starts_with(n.as_str())))
                .filter(|_| email.is_none())
                .collect();
            let scope = format!(
                "accounts/{}/{}",
                name.map(String::as_str).unwrap_or_default(),
                email.map(String::as_str).unwrap_or_default()
            );
            paged(params, &scope, &matching, size, "Accounts", |a| {
                a.to_json(sparse)
            })
        }
        Route::GetAccount(id) => match find(id) {
            Some(a) => json_response(StatusCode::OK, &json!({"Account": a.to_json(sparse)})),
            None => aws_error(404, "NotFoundException", "account not found"),
        },
        Route::ListBots(id) => {
            let Some(size) = page_size(params, 99, DEFAULT_BOTS_PAGE_SIZE) else {
                return bad_page_size(99);
            };
            match find(id) {
                Some(a) => {
                    let bots: Vec<&FakeBot> = a.bots.iter().collect();
                    paged(params, &format!("bots/{id}"), &bots, size, "Bots", |b| {
                        b.to_json(sparse)
                    })
                }
                None => aws_error(404, "NotFoundException", "account not found"),
            }
        }
        Route::GetBot(id, bot_id) => match find(id) {
            Some(a) => match a.bots.iter().find(|b| b.bot_id == *bot_id) {
                Some(b) => json_response(StatusCode::OK, &json!({"Bot": b.to_json(sparse)})),
                None => aws_error(404, "NotFoundException", "bot not found"),
            },
            None => aws_error(404, "NotFoundException", "account not found"),
        },
        // Answered above.
        Route::ListAppInstances
        | Route::ListAppInstanceBots(_)
        | Route::DescribeAppInstanceBot(_) => {
            aws_error(404, "UnknownOperationException", "no such operation")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_pattern_as_the_model_says() {
        for ok in ["a@b.c", "x.y@z.example.com", "a@@b.c"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["", "a@b", "@b.c", "a@.c", "a@b.", "abc"] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
