//! The fake Chime API held to the AWS model: botocore's
//! `chime/2018-05-01/service-2.json` (the same model the SDK is generated
//! from), read from the installed `botocore` package. For ListBots, GetBot,
//! ListAccounts and GetAccount: method and path, query names, ranges and
//! required members, the declared errors with their HTTP status, and every
//! member of every answer, in full and sparse form, against the output
//! shape. The second source's three operations (ListAppInstances,
//! ListAppInstanceBots, DescribeAppInstanceBot) likewise against
//! `chime-sdk-identity/2021-04-20`. Needs Python's `botocore` (`pip install botocore`), so it is
//! ignored by a plain `cargo test`.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::PathBuf;

use chime_exporter::fake::{FakeAccount, FakeChime, Fault, FaultRule};
use serde_json::Value;

use crate::helpers::{http, HttpResponse};

/// botocore's data folder, or a failure saying how to get it.
fn botocore_data() -> PathBuf {
    let python = crate::helpers::tool("python3");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import botocore, os; print(os.path.join(os.path.dirname(botocore.__file__), 'data'))",
        ])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "botocore is not installed (pip install botocore): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A service model of botocore's, `service-2.json` or its `.gz`.
pub fn load_model(service: &str, version: &str) -> Value {
    let dir = botocore_data().join(service).join(version);
    let plain = dir.join("service-2.json");
    let text = if plain.exists() {
        std::fs::read_to_string(&plain).unwrap()
    } else {
        let mut text = String::new();
        let file = std::fs::File::open(dir.join("service-2.json.gz"))
            .unwrap_or_else(|e| panic!("no model in {}: {e}", dir.display()));
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    serde_json::from_str(&text).unwrap()
}

const AUTH: (&str, &str) = (
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=AKIDMODELTEST/20260101/us-east-1/chime/aws4_request, SignedHeaders=host, Signature=0",
);

struct Model(Value);

impl Model {
    fn shape(&self, name: &str) -> &Value {
        let s = &self.0["shapes"][name];
        assert!(s.is_object(), "no shape {name}");
        s
    }

    fn op(&self, name: &str) -> &Value {
        &self.0["operations"][name]
    }

    /// The declared errors of an operation: (name, HTTP status).
    fn errors(&self, op: &str) -> Vec<(String, u16)> {
        self.op(op)["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let name = e["shape"].as_str().unwrap().to_owned();
                let status = self.shape(&name)["error"]["httpStatusCode"]
                    .as_u64()
                    .unwrap() as u16;
                (name, status)
            })
            .collect()
    }

    /// The query parameter names of an operation's input, by member.
    fn query_name(&self, op: &str, member: &str) -> String {
        let input = self.op(op)["input"]["shape"].as_str().unwrap();
        let m = &self.shape(input)["members"][member];
        assert_eq!(m["location"], "querystring", "{op}.{member}");
        m["locationName"].as_str().unwrap().to_owned()
    }

    /// The (min, max) of an operation's input member.
    fn range(&self, op: &str, member: &str) -> (i64, i64) {
        let input = self.op(op)["input"]["shape"].as_str().unwrap();
        let member_shape = self.shape(input)["members"][member]["shape"]
            .as_str()
            .unwrap();
        let shape = self.shape(member_shape);
        (
            shape["min"].as_i64().unwrap(),
            shape["max"].as_i64().unwrap(),
        )
    }

    /// The shape of an operation's input member.
    fn member_shape(&self, op: &str, member: &str) -> &Value {
        let input = self.op(op)["input"]["shape"].as_str().unwrap();
        let name = self.shape(input)["members"][member]["shape"]
            .as_str()
            .unwrap();
        self.shape(name)
    }

    /// Whether a string member may be empty: its shape has no `min`, or a
    /// `min` of 0 (Chime's `NextToken` is a plain `String`; Chime SDK's is
    /// `NextToken`, `min: 0`).
    fn may_be_empty(&self, op: &str, member: &str) -> bool {
        self.member_shape(op, member)["min"]
            .as_i64()
            .is_none_or(|min| min == 0)
    }

    /// Checks `value` against shape `name`; problems go to `out`.
    fn check(&self, name: &str, value: &Value, at: &str, out: &mut Vec<String>) {
        let shape = self.shape(name);
        let kind = shape["type"].as_str().unwrap();
        let mut bad = |why: String| out.push(format!("{at}: {why}"));
        match kind {
            "structure" => {
                let Some(object) = value.as_object() else {
                    return bad(format!("{name} should be an object, is {value}"));
                };
                let members = shape["members"].as_object().unwrap();
                for (key, v) in object {
                    match members.get(key) {
                        Some(m) => {
                            let member_shape = m["shape"].as_str().unwrap().to_owned();
                            self.check(&member_shape, v, &format!("{at}.{key}"), out);
                        }
                        None => out.push(format!("{at}: {key} is not a member of {name}")),
                    }
                }
                for required in shape["required"].as_array().into_iter().flatten() {
                    let required = required.as_str().unwrap();
                    if !object.contains_key(required) {
                        out.push(format!(
                            "{at}: required member {required} of {name} is missing"
                        ));
                    }
                }
            }
            "list" => match value.as_array() {
                Some(items) => {
                    let member = shape["member"]["shape"].as_str().unwrap().to_owned();
                    for (i, item) in items.iter().enumerate() {
                        self.check(&member, item, &format!("{at}[{i}]"), out);
                    }
                }
                None => bad(format!("{name} should be a list")),
            },
            "string" => match value.as_str() {
                Some(s) => {
                    if let Some(values) = shape["enum"].as_array() {
                        if !values.iter().any(|v| v == s) {
                            bad(format!("'{s}' is not one of {name}'s values"));
                        }
                    }
                }
                None => bad(format!("{name} should be a string")),
            },
            "boolean" => {
                if !value.is_boolean() {
                    bad(format!("{name} should be a boolean"));
                }
            }
            "integer" | "long" => {
                if !value.is_i64() {
                    bad(format!("{name} should be an integer"));
                }
            }
            "timestamp" => {
                // rest-json: the shape's timestampFormat, epoch seconds when
                // it names none.
                let format = shape["timestampFormat"].as_str().unwrap_or("unixTimestamp");
                let ok = match format {
                    "iso8601" => value.as_str().is_some_and(is_iso8601),
                    _ => value.is_number(),
                };
                if !ok {
                    bad(format!("{value} is not a {format} timestamp"));
                }
            }
            other => bad(format!("shape type {other} not handled by this test")),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
fn is_iso8601(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && s.ends_with('Z')
        && (b.len() == 20 || (b[19] == b'.' && digits(20..b.len() - 1)))
}

async fn get(fake: &FakeChime, path: &str) -> HttpResponse {
    let addr = fake.url().trim_start_matches("http://").parse().unwrap();
    http(addr, "GET", path, &[AUTH]).await
}

/// The answers every operation gives alike — unsigned, throttled, failing,
/// unavailable, forbidden — each checked against the operation's declared
/// errors.
async fn check_error_answers(
    fake: &FakeChime,
    model: &Model,
    op: &str,
    path: &str,
    problems: &mut Vec<String>,
) {
    let addr = fake.url().trim_start_matches("http://").parse().unwrap();
    let unsigned = http(addr, "GET", path, &[]).await;
    assert_eq!(unsigned.status, 401, "{op} without Authorization");
    check_answer(model, op, &unsigned, "unsigned", problems);
    for fault in [
        Fault::Throttle,
        Fault::AwsError {
            status: 500,
            code: "ServiceFailureException".into(),
        },
        Fault::AwsError {
            status: 503,
            code: "ServiceUnavailableException".into(),
        },
        Fault::AwsError {
            status: 403,
            code: "ForbiddenException".into(),
        },
    ] {
        fake.add_fault(FaultRule::new(fault.clone()).times(1));
        let resp = get(fake, path).await;
        check_answer(model, op, &resp, &format!("{fault:?}"), problems);
    }
}

/// An answer checked against the operation's output shape, or, for an
/// error, against its declared errors.
fn check_answer(
    model: &Model,
    op: &str,
    resp: &HttpResponse,
    what: &str,
    problems: &mut Vec<String>,
) {
    let at = format!("{op} {what}");
    let body: Value = match serde_json::from_str(&resp.body) {
        Ok(v) => v,
        Err(e) => return problems.push(format!("{at}: not JSON ({e}): {}", resp.body)),
    };
    if resp.status == 200 {
        let output = model.op(op)["output"]["shape"].as_str().unwrap();
        model.check(output, &body, &at, problems);
        return;
    }
    let Some(code) = resp.header("x-amzn-ErrorType") else {
        return problems.push(format!(
            "{at}: HTTP {} without x-amzn-ErrorType",
            resp.status
        ));
    };
    match model.errors(op).iter().find(|(name, _)| name == code) {
        Some((_, status)) if *status == resp.status => {}
        Some((_, status)) => problems.push(format!(
            "{at}: {code} with HTTP {}, the model says {status}",
            resp.status
        )),
        None => problems.push(format!("{at}: {code} is not an error {op} declares")),
    }
    // The error body is the error shape (Code from the ErrorCode enum).
    model.check(code, &body, &format!("{at} error body"), problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs botocore (pip install botocore)"]
async fn the_fake_follows_the_chime_model() {
    let model = Model(load_model("chime", "2018-05-01"));
    assert_eq!(model.0["metadata"]["protocol"], "rest-json");
    let fake = FakeChime::start().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    fake.put_account(FakeAccount::new("acct-1", "Engineering").with_generated_bots(&mut rng, 3, 2));
    for i in 0..5 {
        fake.put_account(FakeAccount::new(
            &format!("acct-x{i}"),
            &format!("Other {i}"),
        ));
    }
    let bot = fake
        .with_account("acct-1", |a| a.bots[0].bot_id.clone())
        .unwrap();
    let mut problems = Vec::new();

    // Method and path: each operation, as the model's requestUri says.
    let cases = [
        ("ListBots", vec![("accountId", "acct-1")]),
        (
            "GetBot",
            vec![("accountId", "acct-1"), ("botId", bot.as_str())],
        ),
        ("ListAccounts", vec![]),
        ("GetAccount", vec![("accountId", "acct-1")]),
    ];
    for (op, labels) in &cases {
        let http_def = &model.op(op)["http"];
        assert_eq!(http_def["method"], "GET", "{op}");
        let mut path = http_def["requestUri"].as_str().unwrap().to_owned();
        for (label, value) in labels {
            path = path.replace(&format!("{{{label}}}"), value);
        }
        assert!(!path.contains('{'), "{op}: {path}");
        for sparse in [false, true] {
            fake.set_sparse(sparse);
            let resp = get(&fake, &path).await;
            assert_eq!(resp.status, 200, "{op} {path}: {}", resp.body);
            check_answer(
                &model,
                op,
                &resp,
                &format!("{path} (sparse: {sparse})"),
                &mut problems,
            );
        }
        fake.set_sparse(false);
        // A path label the model requires (NonEmptyString), left blank.
        if !labels.is_empty() {
            let blank = path.replace("acct-1", "%20");
            let resp = get(&fake, &blank).await;
            assert_ne!(resp.status, 200, "{op} with a blank label: {}", resp.body);
        }
        // The errors the fake answers with are the operation's own.
        let not_found = path.replace("acct-1", "no-such-account");
        if not_found != path {
            let resp = get(&fake, &not_found).await;
            assert_eq!(resp.status, 404, "{op}");
            check_answer(&model, op, &resp, "unknown account", &mut problems);
        }
        check_error_answers(&fake, &model, op, &path, &mut problems).await;
    }

    // Query names and ranges of the listings.
    for (op, path, member, max_items) in [
        ("ListBots", "/accounts/acct-1/bots", "MaxResults", 3),
        ("ListAccounts", "/accounts", "MaxResults", 6),
    ] {
        let max_results = model.query_name(op, member);
        let next_token = model.query_name(op, "NextToken");
        assert_eq!(max_results, "max-results");
        assert_eq!(next_token, "next-token");
        let (min, max) = model.range(op, member);
        for (n, ok) in [(min - 1, false), (min, true), (max, true), (max + 1, false)] {
            let resp = get(&fake, &format!("{path}?{max_results}={n}")).await;
            assert_eq!(
                resp.status == 200,
                ok,
                "{op} {max_results}={n}: {}",
                resp.body
            );
            check_answer(
                &model,
                op,
                &resp,
                &format!("{max_results}={n}"),
                &mut problems,
            );
        }
        // Page by page with the smallest page: every item once, then no token.
        let member_name = if op == "ListBots" { "Bots" } else { "Accounts" };
        let mut seen = 0;
        let mut token: Option<String> = None;
        for _ in 0..20 {
            let mut query = format!("{max_results}={min}");
            if let Some(t) = &token {
                query.push_str(&format!("&{next_token}={t}"));
            }
            let resp = get(&fake, &format!("{path}?{query}")).await;
            assert_eq!(resp.status, 200, "{}", resp.body);
            let body: Value = serde_json::from_str(&resp.body).unwrap();
            seen += body[member_name].as_array().unwrap().len();
            token = body["NextToken"].as_str().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, max_items, "{op}: every item once");
        let forged = get(&fake, &format!("{path}?{next_token}=forged")).await;
        assert_eq!(forged.status, 400);
        check_answer(&model, op, &forged, "forged token", &mut problems);
        // An empty token is valid as the model has it: the first page.
        assert!(model.may_be_empty(op, "NextToken"), "{op}");
        let first = get(&fake, &format!("{path}?{max_results}={min}")).await;
        let empty = get(&fake, &format!("{path}?{max_results}={min}&{next_token}=")).await;
        assert_eq!(empty.status, 200, "{op} empty token: {}", empty.body);
        assert_eq!(
            empty.body, first.body,
            "{op}: an empty token is the first page"
        );
        check_answer(&model, op, &empty, "empty token", &mut problems);
    }

    // ListAccounts' filters, as their shapes say.
    let name = model.query_name("ListAccounts", "Name");
    let email = model.query_name("ListAccounts", "UserEmail");
    let name_shape = model.shape("AccountName");
    assert_eq!(
        (name_shape["min"].as_i64(), name_shape["max"].as_i64()),
        (Some(1), Some(100))
    );
    assert_eq!(model.shape("EmailAddress")["pattern"], ".+@.+\\..+");
    let long = "n".repeat(100);
    let too_long = "n".repeat(101);
    for (query, ok) in [
        (format!("{name}=Eng"), true),
        (format!("{name}={long}"), true),
        (format!("{name}={too_long}"), false),
        (format!("{name}="), false),
        (format!("{name}=%20%20"), false),
        (format!("{email}=a%40b.example"), true),
        (format!("{email}=not-an-email"), false),
        (format!("{email}=a%40b"), false),
    ] {
        let resp = get(&fake, &format!("/accounts?{query}")).await;
        assert_eq!(
            resp.status == 200,
            ok,
            "ListAccounts?{query}: {}",
            resp.body
        );
        check_answer(&model, "ListAccounts", &resp, &query, &mut problems);
    }
    let filtered = get(&fake, &format!("/accounts?{name}=Eng")).await;
    let body: Value = serde_json::from_str(&filtered.body).unwrap();
    let names: BTreeSet<&str> = body["Accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["Engineering"]),
        "name is a prefix filter"
    );

    assert!(
        problems.is_empty(),
        "the fake departs from the model:\n{}",
        problems.join("\n")
    );
}

/// Percent-encodes everything but RFC 3986's unreserved characters (as the
/// SDK does for path labels and query values).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The second source's operations held to botocore's
/// `chime-sdk-identity/2021-04-20/service-2.json`, as the Chime ones above:
/// method and path, query names and ranges, the required AppInstanceArn,
/// the declared errors with their status (404 only on Describe), epoch
/// seconds timestamps, and every answer, full and sparse, against its
/// output shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs botocore (pip install botocore)"]
async fn the_fake_follows_the_chime_sdk_identity_model() {
    use chime_exporter::fake::FakeAppInstance;
    let model = Model(load_model("chime-sdk-identity", "2021-04-20"));
    assert_eq!(model.0["metadata"]["protocol"], "rest-json");
    assert_eq!(model.0["metadata"]["signingName"], "chime");
    let fake = FakeChime::start().await.unwrap();
    let instance = FakeAppInstance::new("us-east-1", "111122223333", "inst-1", "Messaging")
        .with_bots("Lex", 3);
    let arn = instance.arn.clone();
    let bot = instance.bots[0].arn.clone();
    fake.put_app_instance(instance);
    for i in 0..5 {
        fake.put_app_instance(FakeAppInstance::new(
            "us-east-1",
            "111122223333",
            &format!("other-{i}"),
            &format!("Other {i}"),
        ));
    }
    let mut problems = Vec::new();
    let list_bots = format!("/app-instance-bots?app-instance-arn={}", enc(&arn));
    let describe = format!("/app-instance-bots/{}", enc(&bot));
    for (op, path) in [
        ("ListAppInstances", "/app-instances".to_owned()),
        ("ListAppInstanceBots", list_bots.clone()),
        ("DescribeAppInstanceBot", describe.clone()),
    ] {
        let http_def = &model.op(op)["http"];
        assert_eq!(http_def["method"], "GET", "{op}");
        let uri = http_def["requestUri"].as_str().unwrap();
        let expected = uri.replace("{appInstanceBotArn}", &enc(&bot));
        assert_eq!(path.split('?').next(), Some(expected.as_str()), "{op}");
        for sparse in [false, true] {
            fake.set_sparse(sparse);
            let resp = get(&fake, &path).await;
            assert_eq!(resp.status, 200, "{op} {path}: {}", resp.body);
            check_answer(
                &model,
                op,
                &resp,
                &format!("sparse: {sparse}"),
                &mut problems,
            );
        }
        fake.set_sparse(false);
        check_error_answers(&fake, &model, op, &path, &mut problems).await;
    }
    // The Describe path, independently of `enc` above (which also built
    // the expected path): the label `{appInstanceBotArn}` is one segment,
    // not greedy (`{…+}`), so the ARN's `/` must come percent-encoded.
    let uri = model.op("DescribeAppInstanceBot")["http"]["requestUri"]
        .as_str()
        .unwrap();
    assert_eq!(uri, "/app-instance-bots/{appInstanceBotArn}");
    let by_hand = bot.replace(':', "%3A").replace('/', "%2F");
    let resp = get(&fake, &uri.replace("{appInstanceBotArn}", &by_hand)).await;
    assert_eq!(resp.status, 200, "%3A and %2F decode: {}", resp.body);
    let body: Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(
        body["AppInstanceBot"]["AppInstanceBotArn"].as_str(),
        Some(bot.as_str())
    );
    // `:` may also come raw (RFC 3986 allows it in a segment).
    let raw_colons = bot.replace('/', "%2F");
    let resp = get(&fake, &format!("/app-instance-bots/{raw_colons}")).await;
    assert_eq!(resp.status, 200, "raw ':': {}", resp.body);
    // A raw `/` splits the label into several segments: no operation's
    // path, so no bot (and never another bot's or the listing's answer).
    for raw in [
        format!("/app-instance-bots/{bot}"),
        format!("/app-instance-bots/{}", bot.replace(':', "%3A")),
    ] {
        let resp = get(&fake, &raw).await;
        assert_eq!(resp.status, 404, "{raw}: {}", resp.body);
        assert_eq!(
            resp.header("x-amzn-ErrorType"),
            Some("UnknownOperationException"),
            "{raw}"
        );
    }

    // ListAppInstanceBots for an AppInstance that does not exist: the
    // operation declares no NotFoundException (no 404), so it is a
    // BadRequestException, 400, which it declares.
    let unknown = format!("{}-gone", arn);
    let resp = get(
        &fake,
        &format!("/app-instance-bots?app-instance-arn={}", enc(&unknown)),
    )
    .await;
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert_eq!(resp.header("x-amzn-ErrorType"), Some("BadRequestException"));
    check_answer(
        &model,
        "ListAppInstanceBots",
        &resp,
        "unknown AppInstance",
        &mut problems,
    );

    // Timestamps are epoch seconds on the wire (the shape names no format).
    assert!(model.shape("Timestamp")["timestampFormat"].is_null());
    let described: Value = serde_json::from_str(&get(&fake, &describe).await.body).unwrap();
    assert!(described["AppInstanceBot"]["CreatedTimestamp"].is_number());
    // 404 only on Describe, and declared there.
    let gone = format!("/app-instance-bots/{}", enc(&format!("{arn}/bot/gone")));
    let resp = get(&fake, &gone).await;
    assert_eq!(resp.status, 404);
    check_answer(
        &model,
        "DescribeAppInstanceBot",
        &resp,
        "unknown bot",
        &mut problems,
    );
    for op in ["ListAppInstances", "ListAppInstanceBots"] {
        assert!(
            !model.errors(op).iter().any(|(_, status)| *status == 404),
            "{op}"
        );
    }
    // The required AppInstanceArn, missing: a 400 the operation declares.
    let input = model.op("ListAppInstanceBots")["input"]["shape"]
        .as_str()
        .unwrap();
    assert!(model.shape(input)["required"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "AppInstanceArn"));
    assert_eq!(
        model.query_name("ListAppInstanceBots", "AppInstanceArn"),
        "app-instance-arn"
    );
    let resp = get(&fake, "/app-instance-bots").await;
    assert_eq!(resp.status, 400);
    check_answer(
        &model,
        "ListAppInstanceBots",
        &resp,
        "no ARN",
        &mut problems,
    );

    // ARNs as the model's `ChimeArn` has them (5 to 1600 characters, the
    // pattern), for both the query's AppInstanceArn and Describe's path
    // label: a malformed one is a 400 BadRequestException, which both
    // operations declare.
    let chime_arn = model.shape("ChimeArn");
    assert_eq!(
        (chime_arn["min"].as_i64(), chime_arn["max"].as_i64()),
        (Some(5), Some(1600))
    );
    assert_eq!(
        chime_arn["pattern"].as_str(),
        Some(chime_exporter::fake::CHIME_ARN_PATTERN),
        "the fake implements another ChimeArn pattern"
    );
    for op in ["ListAppInstanceBots", "DescribeAppInstanceBot"] {
        let member = if op == "DescribeAppInstanceBot" {
            "AppInstanceBotArn"
        } else {
            "AppInstanceArn"
        };
        let input = model.op(op)["input"]["shape"].as_str().unwrap();
        assert_eq!(
            model.shape(input)["members"][member]["shape"],
            "ChimeArn",
            "{op}"
        );
    }
    // Query names and ranges of the listings; every item once, page by page.
    for (op, path, member_name, items) in [
        (
            "ListAppInstances",
            "/app-instances?".to_owned(),
            "AppInstances",
            6,
        ),
        (
            "ListAppInstanceBots",
            format!("{list_bots}&"),
            "AppInstanceBots",
            3,
        ),
    ] {
        let max_results = model.query_name(op, "MaxResults");
        let next_token = model.query_name(op, "NextToken");
        assert_eq!(
            (max_results.as_str(), next_token.as_str()),
            ("max-results", "next-token")
        );
        let (min, max) = model.range(op, "MaxResults");
        assert_eq!((min, max), (1, 50));
        for (n, ok) in [(min - 1, false), (min, true), (max, true), (max + 1, false)] {
            let resp = get(&fake, &format!("{path}{max_results}={n}")).await;
            assert_eq!(
                resp.status == 200,
                ok,
                "{op} {max_results}={n}: {}",
                resp.body
            );
            check_answer(
                &model,
                op,
                &resp,
                &format!("{max_results}={n}"),
                &mut problems,
            );
        }
        let mut seen = 0;
        let mut token: Option<String> = None;
        for _ in 0..20 {
            let mut query = format!("{path}{max_results}={min}");
            if let Some(t) = &token {
                query.push_str(&format!("&{next_token}={}", enc(t)));
            }
            let resp = get(&fake, &query).await;
            assert_eq!(resp.status, 200, "{}", resp.body);
            let body: Value = serde_json::from_str(&resp.body).unwrap();
            seen += body[member_name].as_array().unwrap().len();
            token = body["NextToken"].as_str().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, items, "{op}: every item once");
        let forged = get(&fake, &format!("{path}{next_token}=forged")).await;
        assert_eq!(forged.status, 400);
        check_answer(&model, op, &forged, "forged token", &mut problems);
        // `NextToken` is `min: 0` here: an empty one is the first page.
        assert!(model.may_be_empty(op, "NextToken"), "{op}");
        let first = get(&fake, &format!("{path}{max_results}={min}")).await;
        let empty = get(&fake, &format!("{path}{max_results}={min}&{next_token}=")).await;
        assert_eq!(empty.status, 200, "{op} empty token: {}", empty.body);
        assert_eq!(
            empty.body, first.body,
            "{op}: an empty token is the first page"
        );
        check_answer(&model, op, &empty, "empty token", &mut problems);
    }
    // (After the paging above: these add AppInstances.)
    let long_field = format!(
        "arn:{}:chime:us-east-1:111122223333:app-instance/x",
        "a".repeat(64)
    );
    for bad in [
        // Upper case, `_` or an empty partition: outside `[a-z0-9-\.]{1,63}`.
        "arn:AWS:chime:us-east-1:111122223333:app-instance/inst-1".to_owned(),
        "arn:aws:chime:us_east_1:111122223333:app-instance/inst-1".to_owned(),
        "arn::chime:us-east-1:111122223333:app-instance/inst-1".to_owned(),
        long_field,
        // The resource may not start with `/`, nor be empty.
        "arn:aws:chime:us-east-1:111122223333:/app-instance/inst-1".to_owned(),
        "arn:aws:chime:us-east-1:111122223333:".to_owned(),
        "arn:aws:chime:us-east-1:111122223333".to_owned(),
    ] {
        assert!(!chime_exporter::fake::is_chime_arn(&bad), "{bad}");
        // Planted under that very ARN, so that only the ARN check stands
        // between the request and an answer with data (not "no such
        // AppInstance" or "bot not found").
        let mut planted = FakeAppInstance::new("us-east-1", "111122223333", "planted", "Planted")
            .with_bots("Planted", 1);
        planted.arn = bad.clone();
        planted.bots[0].arn = format!("{bad}/bot/b");
        fake.put_app_instance(planted);
        for (op, path) in [
            (
                "ListAppInstanceBots",
                format!("/app-instance-bots?app-instance-arn={}", enc(&bad)),
            ),
            (
                "DescribeAppInstanceBot",
                format!("/app-instance-bots/{}", enc(&format!("{bad}/bot/b"))),
            ),
        ] {
            // (Describe's bad ARNs stay bad with `/bot/b` appended: the
            // fields before the resource do not change.)
            let resp = get(&fake, &path).await;
            assert_eq!(resp.status, 400, "{op} {bad}: {}", resp.body);
            assert_eq!(
                resp.header("x-amzn-ErrorType"),
                Some("BadRequestException"),
                "{op} {bad}"
            );
            check_answer(
                &model,
                op,
                &resp,
                &format!("malformed ARN {bad}"),
                &mut problems,
            );
        }
    }

    assert!(
        problems.is_empty(),
        "the fake departs from the model:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_model_reader_catches_departures() {
    // The checker itself, on a small hand-made model: it must fail on what
    // it is meant to catch, or its silence above means nothing.
    let model = Model(serde_json::json!({
        "shapes": {
            "Out": {"type": "structure", "required": ["Id"], "members": {
                "Id": {"shape": "S"}, "When": {"shape": "T"}, "Kind": {"shape": "E"}, "N": {"shape": "I"}
            }},
            "S": {"type": "string"},
            "T": {"type": "timestamp", "timestampFormat": "iso8601"},
            "E": {"type": "string", "enum": ["A", "B"]},
            "I": {"type": "integer"}
        }
    }));
    let check = |v: Value| {
        let mut p = Vec::new();
        model.check("Out", &v, "x", &mut p);
        p
    };
    assert!(check(
        serde_json::json!({"Id": "1", "When": "2020-01-02T03:04:05.5Z", "Kind": "A", "N": 3})
    )
    .is_empty());
    assert_eq!(
        check(serde_json::json!({"When": "2020-01-02T03:04:05Z"})).len(),
        1,
        "required"
    );
    assert_eq!(
        check(serde_json::json!({"Id": "1", "Extra": 1})).len(),
        1,
        "unknown member"
    );
    assert_eq!(
        check(serde_json::json!({"Id": "1", "When": 1577934245})).len(),
        1,
        "epoch for iso8601"
    );
    assert_eq!(
        check(serde_json::json!({"Id": "1", "Kind": "C"})).len(),
        1,
        "enum"
    );
    assert_eq!(check(serde_json::json!({"Id": 1})).len(), 1, "type");
    assert!(is_iso8601("2019-04-17T18:51:26Z") && !is_iso8601("2019-04-17 18:51:26Z"));
}
