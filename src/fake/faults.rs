//! Faults the fake API injects instead of the right answer: per account or
//! operation, for a number of calls or with a probability.

use std::collections::HashMap;
use std::time::Duration;

use super::wire::Route;

/// A fault the fake API can answer with instead of the right answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 `ThrottledClientException`.
    Throttle,
    /// An AWS error with the given status and `x-amzn-ErrorType`
    /// (e.g. 500 `ServiceFailureException`, 403 `ForbiddenException`).
    AwsError { status: u16, code: String },
    /// Answer correctly, this long after the request arrived.
    Latency(Duration),
    /// Never answer (the request stays open until the client gives up).
    Hang,
    /// Close the connection without an answer.
    CloseConnection,
    /// Reset the connection (TCP RST) without an answer.
    ResetConnection,
    /// A 200 whose body is cut in the middle.
    TruncatedJson,
    /// A 200 with an empty body.
    EmptyBody,
    /// A 200 whose body is not JSON.
    NotJson,
    /// A 200 whose fields have the wrong types.
    WrongTypes,
    /// A 502 HTML page from a proxy, without `x-amzn-ErrorType`.
    ProxyHtml,
    /// ListBots, ListAppInstances and ListAppInstanceBots always return
    /// the same `NextToken` (with an empty page).
    LoopingToken,
}

/// When and where a fault applies.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub fault: Fault,
    /// Only calls for this account (`None`: every call).
    pub account_id: Option<String>,
    /// Only this operation (`None`: every operation).
    pub operation: Option<&'static str>,
    /// Only listing calls that carry a non-empty `next-token` (a page after
    /// the first).
    pub later_pages_only: bool,
    /// How many more calls it applies to (`None`: until removed).
    pub remaining: Option<u32>,
    /// The chance, per matching call, that it applies.
    pub probability: f64,
}

impl FaultRule {
    /// A fault on every call, until cleared.
    pub fn new(fault: Fault) -> FaultRule {
        FaultRule {
            fault,
            account_id: None,
            operation: None,
            later_pages_only: false,
            remaining: None,
            probability: 1.0,
        }
    }

    pub fn account(mut self, account_id: &str) -> Self {
        self.account_id = Some(account_id.to_owned());
        self
    }

    pub fn operation(mut self, operation: &'static str) -> Self {
        self.operation = Some(operation);
        self
    }

    pub fn later_pages_only(mut self) -> Self {
        self.later_pages_only = true;
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }
}

/// Picks the faults for this call and uses up their counts: the delay of
/// every latency rule that applies, plus the first other fault that does.
pub(crate) fn pick_fault(
    faults: &mut Vec<FaultRule>,
    route: &Route,
    params: &HashMap<String, String>,
) -> (Duration, Option<Fault>) {
    let mut delay = Duration::ZERO;
    let op = route.operation();
    let account = route.account_id();
    // An empty token asks for the first page (see `wire::next_token`).
    let has_token = super::wire::next_token(params).is_some();
    let mut chosen = None;
    for rule in faults.iter_mut() {
        if rule.account_id.as_deref().is_some_and(|a| a != account)
            || rule.operation.is_some_and(|o| o != op)
            || (rule.later_pages_only && !has_token)
            || rule.remaining == Some(0)
        {
            continue;
        }
        if rule.probability < 1.0 && fastrand::f64() >= rule.probability {
            continue;
        }
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        if let Fault::Latency(d) = rule.fault {
            delay += d;
            continue;
        }
        chosen = Some(rule.fault.clone());
        break;
    }
    faults.retain(|r| r.remaining != Some(0));
    (delay, chosen)
}
