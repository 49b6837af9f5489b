//! The second source: Chime SDK AppInstanceBots, through the real binary
//! and the real `aws-sdk-chimesdkidentity` over loopback against the fake
//! (pointed there by `AWS_ENDPOINT_URL_CHIME_SDK_IDENTITY`, as an operator
//! would).

use std::time::Duration;

use crate::helpers::{exporter_command, http, Exporter, Metrics, TempDir};
use chime_exporter::fake::{FakeAppInstance, FakeChime, Fault, FaultRule};

/// A recognisable string planted in every `Metadata` of the fake.
const SECRET: &str = "PLANTED-METADATA-7f3a91";

fn instance(id: &str, name: &str, bots: usize) -> FakeAppInstance {
    let mut a = FakeAppInstance::new("us-east-1", "111122223333", id, name)
        .with_bots(&format!("{name} bot"), bots);
    a.metadata = format!("{SECRET}-instance");
    for b in &mut a.bots {
        b.metadata = format!("{SECRET}-bot");
    }
    a
}

/// Starts the exporter on the fake with only the Chime SDK source.
fn start(fake: &FakeChime, args: &[&str]) -> Exporter {
    let mut full = vec![
        "--chime.endpoint-url".to_owned(),
        fake.url(),
        "--chime.rate-limit".to_owned(),
        "500".to_owned(),
        "--log.level".to_owned(),
        "debug".to_owned(),
    ];
    full.extend(args.iter().map(|s| (*s).to_owned()));
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    let url = fake.url();
    Exporter::start_with(&full, move |cmd| {
        cmd.env("AWS_ENDPOINT_URL_CHIME_SDK_IDENTITY", url);
    })
}

/// Puts `a` at the fake, starts the exporter watching it (and `extra`
/// flags), and waits until its bots are listed.
async fn watch_one(fake: &FakeChime, a: FakeAppInstance, extra: &[&str]) -> (Exporter, String) {
    let arn = a.arn.clone();
    fake.put_app_instance(a);
    let mut args = vec!["--chime-sdk.app-instance-arn", arn.as_str()];
    args.extend_from_slice(extra);
    let exporter = start(fake, &args);
    exporter
        .metrics_until(Duration::from_secs(30), "listed", |m| {
            up(m, &arn) == Some(1.0)
        })
        .await;
    (exporter, arn)
}

fn up(m: &Metrics, arn: &str) -> Option<f64> {
    m.get("chime_sdk_app_instance_up", &[("app_instance_arn", arn)])
}

fn bots(m: &Metrics, arn: &str) -> Option<f64> {
    m.get("chime_sdk_app_instance_bots", &[("app_instance_arn", arn)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_series_for_0_1_50_and_51_bots_with_timestamps_and_no_metadata() {
    let fake = FakeChime::start().await.unwrap();
    let sizes = [0usize, 1, 50, 51];
    let instances: Vec<FakeAppInstance> = sizes
        .iter()
        .map(|&n| instance(&format!("inst-{n}"), &format!("Inst{n}"), n))
        .collect();
    for a in &instances {
        fake.put_app_instance(a.clone());
    }
    let exporter = start(&fake, &["--chime-sdk.discover-app-instances"]);
    let m = exporter
        .metrics_until(Duration::from_secs(30), "every AppInstance listed", |m| {
            instances.iter().all(|a| up(m, &a.arn) == Some(1.0))
        })
        .await;
    for (a, &n) in instances.iter().zip(&sizes) {
        let arn = a.arn.as_str();
        let by = [("app_instance_arn", arn)];
        assert_eq!(bots(&m, arn), Some(n as f64), "{arn}");
        assert_eq!(m.count("chime_sdk_app_instance_bot_info", &by), n, "{arn}");
        assert_eq!(
            m.count("chime_sdk_app_instance_bot_created_timestamp_seconds", &by),
            n
        );
        assert_eq!(
            m.count("chime_sdk_app_instance_bot_updated_timestamp_seconds", &by),
            n
        );
        assert_eq!(
            m.get(
                "chime_sdk_app_instance_info",
                &[("app_instance_arn", arn), ("name", a.name.as_str())]
            ),
            Some(1.0)
        );
        assert!(m
            .get("chime_sdk_app_instance_last_success_timestamp_seconds", &by)
            .is_some());
        for b in &a.bots {
            let bot = [
                ("app_instance_arn", arn),
                ("app_instance_bot_arn", b.arn.as_str()),
            ];
            // Exact, from the epoch seconds on the wire.
            assert_eq!(
                m.get("chime_sdk_app_instance_bot_created_timestamp_seconds", &bot),
                Some(b.created)
            );
            assert_eq!(
                m.get("chime_sdk_app_instance_bot_updated_timestamp_seconds", &bot),
                Some(b.updated)
            );
            assert_eq!(
                m.get(
                    "chime_sdk_app_instance_bot_info",
                    &[
                        ("app_instance_bot_arn", b.arn.as_str()),
                        ("name", b.name.as_str()),
                        ("lex_bot_alias_arn", b.lex_bot_alias_arn.as_str()),
                        ("locale_id", "en_US"),
                        ("standard_messages", b.standard_messages.as_str()),
                        ("targeted_messages", b.targeted_messages.as_str()),
                    ]
                ),
                Some(1.0),
                "{}",
                b.arn
            );
        }
    }
    // 51 bots are two pages of 50; the others one each.
    let pages = |arn: &str| {
        fake.calls("ListAppInstanceBots")
            .iter()
            .filter(|c| c.account_id == arn)
            .count()
    };
    assert_eq!(pages(&instances[3].arn), 2);
    assert_eq!(pages(&instances[2].arn), 1);
    for c in fake.calls("ListAppInstanceBots") {
        assert_eq!(c.query.get("max-results").map(String::as_str), Some("50"));
    }
    // One Describe per bot.
    assert_eq!(fake.calls("DescribeAppInstanceBot").len(), 102);
    // The three operations are counted under bounded labels.
    for op in [
        "ListAppInstances",
        "ListAppInstanceBots",
        "DescribeAppInstanceBot",
    ] {
        assert!(
            m.sum("chime_api_requests_total", &[("operation", op)]) >= 1.0,
            "{op} not counted"
        );
    }
    assert_eq!(
        m.sum(
            "chime_api_requests_total",
            &[("operation", "DescribeAppInstanceBot")]
        ),
        102.0
    );
    // The status page lists the AppInstances; the capacity counts their
    // list pages (5 per 5 min TTL) and ListAppInstances (1 per 15 min).
    let status = exporter.get("/status?format=json").await;
    let report: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    let listed = report["app_instances"].as_array().unwrap();
    assert_eq!(listed.len(), 4);
    for (a, &n) in instances.iter().zip(&sizes) {
        let entry = listed
            .iter()
            .find(|e| e["app_instance_arn"] == a.arn.as_str())
            .unwrap();
        assert_eq!(entry["bots"], n);
        assert_eq!(entry["described_bots"], n);
        assert_eq!(entry["up"], true);
        assert_eq!(entry["name"], a.name.as_str());
    }
    let needed = report["capacity"]["needed_per_second"].as_f64().unwrap();
    assert!(
        (needed - (5.0 / 300.0 + 1.0 / 900.0)).abs() < 1e-9,
        "needed {needed}"
    );
    let html = exporter.get("/status").await;
    assert!(
        html.body.contains("Chime SDK AppInstances (4"),
        "{}",
        html.body
    );
    // Metadata is sensitive: never in /metrics, never in the logs.
    assert!(!m.text.contains(SECRET), "Metadata in /metrics");
    assert!(!status.body.contains(SECRET), "Metadata in /status");
    assert!(!exporter.output().contains(SECRET), "Metadata in the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_follow_the_cache_ttl_describes_the_describe_ttl_and_deleted_bots_go() {
    let fake = FakeChime::start().await.unwrap();
    let (exporter, arn) = watch_one(
        &fake,
        instance("ttl", "Ttl", 3),
        &["--chime.cache-ttl", "1s", "--chime-sdk.describe-ttl", "1h"],
    )
    .await;
    // Scrape for a while: the list is called again every TTL (1 s), the
    // details never again (1 h).
    let lists = || fake.requests("ListAppInstanceBots", &arn);
    let started = lists();
    let t0 = std::time::Instant::now();
    let deadline = t0 + Duration::from_secs(20);
    while lists() < started + 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the list was not refreshed"
        );
        exporter.metrics().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Scraped every 200 ms, listed once per TTL: three lists take at least
    // two whole TTLs (the first may be due at once).
    assert!(
        t0.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(fake.requests("DescribeAppInstanceBot", &arn), 3);

    // A bot deleted disappears; a bot added is described once.
    let gone = fake
        .with_app_instance(&arn, |a| {
            let gone = a.bots.remove(0).arn;
            let new = a.bot("added", "Added bot");
            a.bots.push(new);
            gone
        })
        .unwrap();
    let m = exporter
        .metrics_until(Duration::from_secs(20), "the deleted bot gone", |m| {
            m.count(
                "chime_sdk_app_instance_bot_info",
                &[("app_instance_bot_arn", gone.as_str())],
            ) == 0
                && m.count("chime_sdk_app_instance_bot_info", &[("name", "Added bot")]) == 1
        })
        .await;
    assert_eq!(bots(&m, &arn), Some(3.0));
    assert_eq!(
        m.count(
            "chime_sdk_app_instance_bot_created_timestamp_seconds",
            &[("app_instance_bot_arn", gone.as_str())]
        ),
        0
    );
    assert_eq!(fake.requests("DescribeAppInstanceBot", &arn), 4);
    // Configured without discovery: ListAppInstances still names it.
    assert_eq!(
        m.get(
            "chime_sdk_app_instance_info",
            &[("app_instance_arn", arn.as_str()), ("name", "Ttl")]
        ),
        Some(1.0)
    );
}

/// A bot still listed whose DescribeAppInstanceBot answers 404
/// `NotFoundException` was deleted between the list and the Describe (the
/// only operation whose model has that error): the bot is left out, the
/// listing still succeeded so the AppInstance stays up, the other bots keep
/// their details, and the 404 is counted as an API error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_whose_describe_answers_404_is_left_out_and_the_instance_stays_up() {
    let fake = FakeChime::start().await.unwrap();
    let a = instance("vanishing", "Vanishing", 3);
    let arn = a.arn.clone();
    let gone = a.bots[0].arn.clone();
    fake.put_app_instance(a);
    // Bots are described in listed order, one at a time: the first
    // Describe of the instance is that of the first bot.
    fake.add_fault(
        FaultRule::new(Fault::AwsError {
            status: 404,
            code: "NotFoundException".into(),
        })
        .account(&arn)
        .operation("DescribeAppInstanceBot")
        .times(1),
    );
    // A long TTL: the listing is not redone (which would describe the bot
    // again) while the test looks.
    let exporter = start(
        &fake,
        &[
            "--chime-sdk.app-instance-arn",
            &arn,
            "--chime.cache-ttl",
            "1h",
        ],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(30), "listed", |m| {
            up(m, &arn) == Some(1.0)
        })
        .await;
    assert_eq!(
        up(&m, &arn),
        Some(1.0),
        "a 404 on Describe is not a failed listing"
    );
    assert_eq!(bots(&m, &arn), Some(2.0), "{}", m.text);
    assert_eq!(
        m.count(
            "chime_sdk_app_instance_bot_info",
            &[("app_instance_bot_arn", gone.as_str())]
        ),
        0,
        "{}",
        m.text
    );
    assert_eq!(
        m.count(
            "chime_sdk_app_instance_bot_created_timestamp_seconds",
            &[("app_instance_arn", arn.as_str())]
        ),
        2
    );
    // The other two were described and keep their Lex configuration.
    assert_eq!(
        m.samples
            .iter()
            .filter(|(n, l, _)| n == "chime_sdk_app_instance_bot_info"
                && l.get("locale_id").is_some_and(|v| v == "en_US"))
            .count(),
        2
    );
    assert!(
        m.sum(
            "chime_api_errors_total",
            &[
                ("operation", "DescribeAppInstanceBot"),
                ("error", "NotFoundException")
            ]
        ) >= 1.0,
        "the 404 is not counted"
    );
    // Not retried: one Describe per bot.
    assert_eq!(fake.requests("DescribeAppInstanceBot", &arn), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_are_fetched_again_after_the_describe_ttl() {
    let fake = FakeChime::start().await.unwrap();
    let (exporter, arn) = watch_one(
        &fake,
        instance("again", "Again", 2),
        &["--chime.cache-ttl", "1s", "--chime-sdk.describe-ttl", "3s"],
    )
    .await;
    let t0 = std::time::Instant::now();
    let deadline = t0 + Duration::from_secs(30);
    while fake.requests("DescribeAppInstanceBot", &arn) < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "details never fetched again"
        );
        exporter.metrics().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Twice per bot, and not before the describe TTL passed.
    assert!(
        t0.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
    assert!(fake.requests("ListAppInstanceBots", &arn) >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_failing_or_garbled_instance_keeps_its_data_goes_down_counts_errors_and_recovers(
) {
    let fake = FakeChime::start().await.unwrap();
    let victim = instance("victim", "Victim", 51);
    let bystander = instance("bystander", "Bystander", 2);
    let (varn, barn) = (victim.arn.clone(), bystander.arn.clone());
    fake.put_app_instance(victim);
    fake.put_app_instance(bystander);
    let exporter = start(
        &fake,
        &[
            "--chime-sdk.app-instance-arn",
            &varn,
            "--chime-sdk.app-instance-arn",
            &barn,
            "--chime.cache-ttl",
            "1s",
            "--chime.error-backoff",
            "500ms",
            "--chime.timeout",
            "2s",
        ],
    );
    exporter
        .metrics_until(Duration::from_secs(30), "both up", |m| {
            up(m, &varn) == Some(1.0) && up(m, &barn) == Some(1.0)
        })
        .await;
    for (fault, error) in [
        (Fault::Throttle, "ThrottledClientException"),
        (
            Fault::AwsError {
                status: 500,
                code: "ServiceFailureException".into(),
            },
            "ServiceFailureException",
        ),
        // Bad answers are counted and survived as well.
        (Fault::WrongTypes, "response"),
        (Fault::EmptyBody, "response"),
        (Fault::TruncatedJson, "response"),
    ] {
        let errors = |m: &Metrics| {
            m.sum(
                "chime_api_errors_total",
                &[("operation", "ListAppInstanceBots"), ("error", error)],
            )
        };
        let before = errors(&exporter.metrics().await);
        fake.add_fault(
            FaultRule::new(fault)
                .account(&varn)
                .operation("ListAppInstanceBots"),
        );
        let m = exporter
            .metrics_until(Duration::from_secs(30), "victim down", |m| {
                up(m, &varn) == Some(0.0)
            })
            .await;
        assert_eq!(bots(&m, &varn), Some(51.0), "the last good data stays");
        assert_eq!(
            m.count(
                "chime_sdk_app_instance_bot_info",
                &[("app_instance_arn", varn.as_str())]
            ),
            51
        );
        assert_eq!(up(&m, &barn), Some(1.0));
        assert!(errors(&m) > before, "{error} not counted");
        fake.clear_faults();
        let m = exporter
            .metrics_until(Duration::from_secs(30), "victim recovers", |m| {
                up(m, &varn) == Some(1.0)
            })
            .await;
        assert_eq!(bots(&m, &varn), Some(51.0));
    }
}

/// ListAppInstanceBots answering the same `NextToken` forever: the
/// pagination guard stops the listing, which is counted as a `pagination`
/// error and survived like any failed listing (the last good bots stay,
/// `up` goes to 0), and the instance recovers once the API does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_token_on_list_app_instance_bots_is_counted_survived_and_recovers() {
    let fake = FakeChime::start().await.unwrap();
    let victim = instance("looping", "Looping", 3);
    let varn = victim.arn.clone();
    fake.put_app_instance(victim);
    let exporter = start(
        &fake,
        &[
            "--chime-sdk.app-instance-arn",
            &varn,
            "--chime.cache-ttl",
            "1s",
            "--chime.error-backoff",
            "500ms",
        ],
    );
    exporter
        .metrics_until(Duration::from_secs(30), "up", |m| up(m, &varn) == Some(1.0))
        .await;
    let errors = |m: &Metrics| {
        m.sum(
            "chime_api_errors_total",
            &[
                ("operation", "ListAppInstanceBots"),
                ("error", "pagination"),
            ],
        )
    };
    let before = errors(&exporter.metrics().await);
    let pages_before = fake.requests("ListAppInstanceBots", &varn);
    fake.add_fault(
        FaultRule::new(Fault::LoopingToken)
            .account(&varn)
            .operation("ListAppInstanceBots"),
    );
    let m = exporter
        .metrics_until(Duration::from_secs(30), "down", |m| {
            up(m, &varn) == Some(0.0)
        })
        .await;
    assert!(errors(&m) > before, "the looping token is not counted");
    assert_eq!(bots(&m, &varn), Some(3.0), "the last good data stays");
    assert_eq!(
        m.count(
            "chime_sdk_app_instance_bot_info",
            &[("app_instance_arn", varn.as_str())]
        ),
        3
    );
    // The token was followed (more than one page per listing), then given up.
    assert!(fake.requests("ListAppInstanceBots", &varn) >= pages_before + 2);
    fake.clear_faults();
    let m = exporter
        .metrics_until(Duration::from_secs(30), "recovers", |m| {
            up(m, &varn) == Some(1.0)
        })
        .await;
    assert_eq!(bots(&m, &varn), Some(3.0));
}

#[test]
fn a_bad_app_instance_arn_exits_2_naming_it() {
    let home = TempDir::new("sdk-arn");
    for bad in [
        "arn:aws:chime:us-east-1:123:app-instance/x",
        "not-an-arn",
        "arn:aws:chime:us-east-1:123456789012:app-instance/x/bot/y",
    ] {
        let out = exporter_command(&home)
            .args(["--chime-sdk.app-instance-arn", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("chime-sdk.app-instance-arn") && err.contains(bad),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_both_sources() {
    let exporter = Exporter::start_with(&["--demo"], |_| {});
    let m = exporter
        .metrics_until(Duration::from_secs(30), "both sources", |m| {
            m.count("chime_sdk_app_instance_up", &[]) == 1
                && m.sum("chime_sdk_app_instance_up", &[]) == 1.0
                && m.sum("chime_account_up", &[]) >= 1.0
        })
        .await;
    assert_eq!(m.sum("chime_sdk_app_instance_bots", &[]), 4.0);
    assert_eq!(m.count("chime_sdk_app_instance_bot_info", &[]), 4);
    assert_eq!(
        m.count("chime_sdk_app_instance_info", &[("name", "Support Chat")]),
        1
    );
    let named = m
        .samples
        .iter()
        .filter(|(n, l, _)| n == "chime_sdk_app_instance_bot_info" && l.contains_key("name"))
        .count();
    assert_eq!(named, 4);
    drop(exporter);
    // The display-name switch leaves the bots' names out, as for Chime bots.
    let unnamed = Exporter::start_with(&["--demo", "--no-collector.bots.display-name"], |_| {});
    let m = unnamed
        .metrics_until(Duration::from_secs(30), "SDK bots", |m| {
            m.count("chime_sdk_app_instance_bot_info", &[]) == 4
        })
        .await;
    assert!(m
        .samples
        .iter()
        .filter(|(n, _, _)| n == "chime_sdk_app_instance_bot_info")
        .all(|(_, l, _)| !l.contains_key("name")));
    assert!(!m.text.contains("display_name="));
    // The AppInstance's `Name` is sensitive in the model as well
    // (NonEmptyResourceName): the switch leaves it out too, but the series
    // stays, so the instance is still seen.
    assert_eq!(m.count("chime_sdk_app_instance_info", &[]), 1);
    assert!(m
        .samples
        .iter()
        .filter(|(n, _, _)| n == "chime_sdk_app_instance_info")
        .all(|(_, l, _)| !l.contains_key("name")));
    assert!(!m.text.contains("Support Chat"), "{}", m.text);
}

/// `check` with only the Chime SDK source: its three operations, once each.
fn check(fake: &FakeChime, arn: &str) -> (Option<i32>, serde_json::Value) {
    let home = TempDir::new("sdk-check");
    let out = exporter_command(&home)
        .arg("check")
        .args(["--chime.endpoint-url", &fake.url()])
        .args(["--chime-sdk.app-instance-arn", arn, "--output", "json"])
        .env("AWS_ENDPOINT_URL_CHIME_SDK_IDENTITY", fake.url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code(),
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_tries_the_three_operations_and_names_a_missing_action() {
    let fake = FakeChime::start().await.unwrap();
    let a = instance("checked", "Checked", 2);
    let arn = a.arn.clone();
    fake.put_app_instance(a);
    let (code, report) = tokio::task::block_in_place(|| check(&fake, &arn));
    assert_eq!(code, Some(0), "{report}");
    let steps: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    // Only the SDK source was asked for: Chime is not called.
    assert_eq!(
        steps,
        [
            "ListAppInstances",
            "ListAppInstanceBots",
            "DescribeAppInstanceBot"
        ]
    );
    assert_eq!(fake.requests("ListAccounts", ""), 0);

    fake.add_fault(
        FaultRule::new(Fault::AwsError {
            status: 403,
            code: "ForbiddenException".into(),
        })
        .operation("DescribeAppInstanceBot"),
    );
    let (code, report) = tokio::task::block_in_place(|| check(&fake, &arn));
    assert_eq!(code, Some(1), "{report}");
    let describe = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["step"] == "DescribeAppInstanceBot")
        .unwrap();
    assert_eq!(describe["ok"], false);
    assert_eq!(
        describe["missing_iam_action"],
        "chime:DescribeAppInstanceBot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_target_watches_app_instances_with_its_chime_sdk_section() {
    let fake = FakeChime::start().await.unwrap();
    let a = instance("from-file", "FromFile", 2);
    let arn = a.arn.clone();
    fake.put_app_instance(a);
    let dir = TempDir::new("sdk-file");
    let file = dir.0.join("targets.yml");
    std::fs::write(
        &file,
        format!(
            "targets:\n  - name: messaging\n    chime_sdk:\n      app_instance_arns: [\"{arn}\"]\n      describe_ttl: 2h\n"
        ),
    )
    .unwrap();
    let file = file.to_string_lossy().into_owned();
    let exporter = start(&fake, &["--config.file", &file]);
    let m = exporter
        .metrics_until(Duration::from_secs(30), "listed", |m| {
            up(m, &arn) == Some(1.0)
        })
        .await;
    assert_eq!(bots(&m, &arn), Some(2.0));
    // The target names no Chime account: Chime is not called.
    assert_eq!(fake.requests("ListAccounts", ""), 0);
    // The file and the flags it covers exclude each other.
    let out = exporter_command(&dir)
        .args(["--config.file", &file, "--chime-sdk.region", "eu-west-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chime-sdk.region"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_app_instances_between_them() {
    let fake = FakeChime::start().await.unwrap();
    let arns: Vec<String> = (0..12)
        .map(|i| {
            let a = instance(&format!("shard-{i}"), &format!("S{i}"), 1);
            let arn = a.arn.clone();
            fake.put_app_instance(a);
            arn
        })
        .collect();
    let mut seen: Vec<Vec<String>> = Vec::new();
    for index in ["0", "1"] {
        let exporter = start(
            &fake,
            &[
                "--chime-sdk.discover-app-instances",
                "--shard.count",
                "2",
                "--shard.index",
                index,
            ],
        );
        let m = exporter
            .metrics_until(Duration::from_secs(30), "listed", |m| {
                let n = m.count("chime_sdk_app_instance_up", &[]);
                n > 0 && m.sum("chime_sdk_app_instance_up", &[]) == n as f64
            })
            .await;
        seen.push(
            m.samples
                .iter()
                .filter(|(n, _, _)| n == "chime_sdk_app_instance_up")
                .map(|(_, l, _)| l["app_instance_arn"].clone())
                .collect(),
        );
    }
    let mut all: Vec<String> = seen.concat();
    all.sort();
    let mut expected = arns.clone();
    expected.sort();
    assert_eq!(all, expected, "each AppInstance in exactly one shard");
    assert!(seen.iter().all(|s| !s.is_empty()), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_discovery_round_is_tried_again_after_the_backoff() {
    let fake = FakeChime::start().await.unwrap();
    let a = instance("late", "Late", 1);
    let arn = a.arn.clone();
    fake.put_app_instance(a);
    // More failures than one round's attempts: the first round fails.
    fake.add_fault(
        FaultRule::new(Fault::AwsError {
            status: 500,
            code: "ServiceFailureException".into(),
        })
        .operation("ListAppInstances")
        .times(4),
    );
    let exporter = start(
        &fake,
        &[
            "--chime-sdk.discover-app-instances",
            "--chime.error-backoff",
            "500ms",
            "--chime.timeout",
            "3s",
        ],
    );
    let started = std::time::Instant::now();
    exporter
        .metrics_until(
            Duration::from_secs(20),
            "discovered after the backoff",
            |m| up(m, &arn) == Some(1.0),
        )
        .await;
    // Not a whole discovery TTL (15 min) later.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(fake.requests("ListAppInstances", "") >= 4);
    let m = exporter.metrics().await;
    assert!(
        m.sum(
            "chime_api_errors_total",
            &[
                ("operation", "ListAppInstances"),
                ("error", "ServiceFailureException")
            ]
        ) >= 3.0
    );
}

/// Discovery's ListAppInstances answering the same `NextToken` forever is
/// stopped by the pagination guard and counted, and the next round after
/// the backoff discovers the AppInstance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_token_on_list_app_instances_is_counted_and_discovery_recovers() {
    let fake = FakeChime::start().await.unwrap();
    let a = instance("looped", "Looped", 1);
    let arn = a.arn.clone();
    fake.put_app_instance(a);
    fake.add_fault(FaultRule::new(Fault::LoopingToken).operation("ListAppInstances"));
    let exporter = start(
        &fake,
        &[
            "--chime-sdk.discover-app-instances",
            "--chime.error-backoff",
            "500ms",
        ],
    );
    let m = exporter
        .metrics_until(Duration::from_secs(20), "the loop counted", |m| {
            m.sum(
                "chime_api_errors_total",
                &[("operation", "ListAppInstances"), ("error", "pagination")],
            ) >= 1.0
        })
        .await;
    assert_eq!(up(&m, &arn), None, "nothing discovered through a loop");
    fake.clear_faults();
    exporter
        .metrics_until(Duration::from_secs(20), "discovered", |m| {
            up(m, &arn) == Some(1.0)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_region_flag_the_sdk_resolves_the_region_and_signs_for_it() {
    let fake = FakeChime::start().await.unwrap();
    fake.set_signing_region("eu-west-1");
    let a = instance("regional", "Regional", 1);
    let arn = a.arn.clone();
    fake.put_app_instance(a);
    let url = fake.url();
    let exporter = Exporter::start_with(
        &[
            "--chime.endpoint-url",
            &url,
            "--chime-sdk.app-instance-arn",
            &arn,
        ],
        |cmd| {
            cmd.env("AWS_ENDPOINT_URL_CHIME_SDK_IDENTITY", &url)
                .env("AWS_REGION", "eu-west-1");
        },
    );
    // Signed for AWS_REGION (the SDK's resolution), not the ARN's us-east-1:
    // the fake answers 403 to any other scope.
    exporter
        .metrics_until(Duration::from_secs(30), "listed", |m| {
            up(m, &arn) == Some(1.0)
        })
        .await;
    assert!(exporter.output().contains("region=eu-west-1"));
}

/// Names come from whoever may name an AppInstance or a bot: one that
/// looks like an OpenMetrics exemplar (` # {`) must reach the text format
/// whole, not cut where an exemplar would start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_look_like_exemplars_survive_the_text_format() {
    let fake = FakeChime::start().await.unwrap();
    let name = "Help # {x=\"1\"} 2";
    let a = instance("exemplar", name, 1);
    let arn = a.arn.clone();
    fake.put_app_instance(a);
    let exporter = start(&fake, &["--chime-sdk.app-instance-arn", &arn]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        // No Accept: the text format.
        let r = http(exporter.addr, "GET", "/metrics", &[]).await;
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
        let m = Metrics::parse(&r.body);
        if m.count("chime_sdk_app_instance_bot_info", &[]) == 1 {
            assert_eq!(
                m.count("chime_sdk_app_instance_info", &[("name", name)]),
                1,
                "{}",
                r.body
            );
            assert_eq!(
                m.count(
                    "chime_sdk_app_instance_bot_info",
                    &[("name", &format!("{name} bot 0"))]
                ),
                1,
                "{}",
                r.body
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
