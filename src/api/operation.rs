//! Which operation an outgoing request is, read from its path as the
//! rest-json protocol maps them (`GET /accounts/{accountId}/bots` is
//! ListBots, …). The interceptors and the HTTP wrapper see only requests, so
//! this is how they name the operation and the account they count.

use std::fmt;

/// The value of the `operation` label: the operations this exporter calls,
/// and `other`. Bounded: a request of any other shape is `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    ListBots,
    GetBot,
    ListAccounts,
    GetAccount,
    /// Chime SDK Identity (the second source, see `super::sdk`).
    ListAppInstances,
    ListAppInstanceBots,
    DescribeAppInstanceBot,
    Other,
}

impl Operation {
    /// Every value, in the order the README lists them.
    pub const ALL: [Operation; 8] = [
        Operation::ListBots,
        Operation::GetBot,
        Operation::ListAccounts,
        Operation::GetAccount,
        Operation::ListAppInstances,
        Operation::ListAppInstanceBots,
        Operation::DescribeAppInstanceBot,
        Operation::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ListBots => "ListBots",
            Operation::GetBot => "GetBot",
            Operation::ListAccounts => "ListAccounts",
            Operation::GetAccount => "GetAccount",
            Operation::ListAppInstances => "ListAppInstances",
            Operation::ListAppInstanceBots => "ListAppInstanceBots",
            Operation::DescribeAppInstanceBot => "DescribeAppInstanceBot",
            Operation::Other => "other",
        }
    }

    /// The operation named `name` (the SDK's operation metadata), or
    /// `Other`.
    pub fn named(name: &str) -> Operation {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == name)
            .unwrap_or(Operation::Other)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operation and account of a Chime request, from its URI (with or
/// without scheme and host); the account is empty for ListAccounts and for
/// the Chime SDK's operations, which have no Chime account: their calls are
/// counted under an empty `account_id` (a bounded label; an AppInstance's
/// own health is `chime_sdk_app_instance_up`).
pub fn operation_of(uri: &str) -> (Operation, String) {
    let path = match uri.find("://") {
        Some(i) => {
            let rest = &uri[i + 3..];
            rest.find('/').map(|j| &rest[j..]).unwrap_or("/")
        }
        None => uri,
    };
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["accounts"] => (Operation::ListAccounts, String::new()),
        ["accounts", id] => (Operation::GetAccount, percent_decode(id)),
        ["accounts", id, "bots"] => (Operation::ListBots, percent_decode(id)),
        ["accounts", id, "bots", _] => (Operation::GetBot, percent_decode(id)),
        ["app-instances"] => (Operation::ListAppInstances, String::new()),
        ["app-instance-bots"] => (Operation::ListAppInstanceBots, String::new()),
        ["app-instance-bots", _] => (Operation::DescribeAppInstanceBot, String::new()),
        _ => (Operation::Other, String::new()),
    }
}

/// Minimal `%XX` decoding, as the SDK encodes path labels.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(uri: &str) -> String {
        operation_of(uri).1
    }

    #[test]
    fn operations_and_accounts_come_from_request_paths() {
        assert_eq!(account("/accounts/abc-1/bots"), "abc-1");
        assert_eq!(account("/accounts/abc-1/bots/b?x=1"), "abc-1");
        assert_eq!(account("/accounts/a%20b"), "a b");
        assert_eq!(account("/accounts?max-results=5"), "");
        assert_eq!(
            account("https://chime.us-east-1.amazonaws.com/accounts/x/bots?max-results=99"),
            "x"
        );
        assert_eq!(account("http://127.0.0.1:80"), "");
        assert_eq!(
            operation_of("http://h/accounts/a/bots/b").0,
            Operation::GetBot
        );
        assert_eq!(
            operation_of("/accounts/a/bots?max-results=1").0,
            Operation::ListBots
        );
        assert_eq!(operation_of("/accounts/a").0, Operation::GetAccount);
        assert_eq!(operation_of("/accounts?name=x").0, Operation::ListAccounts);
        assert_eq!(operation_of("/elsewhere").0, Operation::Other);
        assert_eq!(
            operation_of("/app-instances?max-results=50").0,
            Operation::ListAppInstances
        );
        assert_eq!(
            operation_of("http://h/app-instance-bots?app-instance-arn=arn%3Aaws").0,
            Operation::ListAppInstanceBots
        );
        assert_eq!(
            operation_of("/app-instance-bots/arn%3Aaws%3Achime"),
            (Operation::DescribeAppInstanceBot, String::new())
        );
        assert_eq!(account("/"), "");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%"), "A%");
        assert_eq!(Operation::named("GetBot"), Operation::GetBot);
        assert_eq!(Operation::named("DeleteBot"), Operation::Other);
    }
}
