#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! Notifications on LocalStack: a Slack-compatible webhook hears of every new approval
//! request and of an opened circuit breaker; failed deliveries are retried with backoff
//! and their outcome recorded; a webhook that never answers well never blocks a decision.
//! The webhook URL (a credential) never reaches the ledger.

mod common;
use common::*;

use custos_testkit::proxy::{Fault, FaultProxy, Matcher, Method};
use custos_testkit::{
    Fixture, endpoint, make_bucket, make_buckets, require_localstack, s3, sdk, webhook,
};
use serde_json::Value;

const VAR: &str = "CUSTOS_TEST_WEBHOOK";

/// The webhook, and account-level settings left to observation (EBS default encryption)
/// or excluded (the account's S3 Block Public Access, whose id is the account's twelve
/// digits), so the only notifications are the ones each test provokes.
fn config(attempts: u32) -> String {
    format!(
        "[gate]\nexclusions = [\"{twelve}\"]\n[autonomy.classes.account]\n\"*\" = 1\n[autonomy.classes.iam]\n\"*\" = 1\n[autonomy.classes.ec2]\n\"*\" = 1\n[notifications]\nwebhook_url_env = \"{VAR}\"\nattempts = {attempts}\nbackoff_ms = 10\npage_url = \"https://custos.example/ui\"\n",
        twelve = "[0-9]".repeat(12)
    )
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn no_secret_in(env: &Env, url: &str) {
    let all = serde_json::to_string(&env.all_events()).unwrap();
    assert!(
        !all.contains("B000/secret"),
        "the webhook path reached the ledger"
    );
    assert!(!all.contains(url));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_request_is_sent_after_retries_and_recorded() {
    require_localstack().await;
    let hook = webhook::start(&[503, 503]).await;
    let env = Env::with_config(&config(4));
    let client = s3(&sdk(&env.account));
    let bucket = format!("n{}", env.account);
    make_bucket(&client, &bucket, Fixture::Production)
        .await
        .unwrap();
    let out = env
        .command_as("alice", &["--output", "json", "run", "--once"])
        .env(VAR, &hook.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome_of(&run, &bucket), "awaiting_approval");
    let id = rows_of(&run, &bucket)[0]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Two 503s, then delivered: three identical bodies.
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 3, "{bodies:#?}");
    assert!(bodies.iter().all(|b| b == &bodies[0]));
    let b = &bodies[0];
    assert_eq!(b["custos"]["event"], "approval_requested");
    assert_eq!(b["custos"]["approval_id"], id.as_str());
    assert_eq!(b["custos"]["control_id"], "s3-public-access-block");
    let text = b["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!(
            "custos asks for approval {id}: fix `s3-public-access-block` on {bucket} ("
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(" https://custos.example/ui/approvals/{id}")),
        "{text}"
    );

    let events = env.all_events();
    let sent = of_kind(&events, "notification.sent");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["payload"]["attempts"], 3);
    assert_eq!(sent[0]["payload"]["status"], 200);
    assert_eq!(sent[0]["payload"]["host"], "127.0.0.1");
    assert_eq!(sent[0]["payload"]["approval_id"], id.as_str());
    no_secret_in(&env, &hook.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_is_recorded_and_blocks_nothing() {
    require_localstack().await;
    // The first delivery hangs until custos gives up on it; the retry gets a 500.
    let hook = webhook::start(&[0, 500, 500]).await;
    let env = Env::with_config(&format!("{}timeout_seconds = 1\n", config(2)));
    let client = s3(&sdk(&env.account));
    let bucket = format!("m{}", env.account);
    make_bucket(&client, &bucket, Fixture::Production)
        .await
        .unwrap();
    let fixed = format!("f{}", env.account);
    make_bucket(&client, &fixed, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let out = env
        .command_as("alice", &["--output", "json", "run", "--once"])
        .env(VAR, &hook.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The decisions went on: the request is open, the dev bucket fixed.
    assert_eq!(outcome_of(&run, &bucket), "awaiting_approval");
    assert_eq!(outcome_of(&run, &fixed), "fixed");
    assert!(has_pab(&client, &fixed).await);
    assert_eq!(hook.bodies().len(), 2);
    let events = env.all_events();
    let failed = of_kind(&events, "notification.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["payload"]["attempts"], 2);
    assert_eq!(failed[0]["payload"]["error"], "HTTP 500");
    assert_eq!(failed[0]["payload"]["event"], "approval_requested");
    assert_eq!(of_kind(&events, "notification.sent").len(), 0);
    // The run did not wait for the webhook: it finished (every item decided, the fix
    // made) before the delivery's outcome, which took a hung attempt of a second.
    let seq = |e: &Value| e["seq"].as_i64().unwrap();
    let finished = of_kind(&events, "run.finished");
    assert_eq!(finished.len(), 1);
    assert!(
        seq(finished[0]) < seq(failed[0]),
        "the run waited for the webhook"
    );
    no_secret_in(&env, &hook.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opened_breaker_is_announced() {
    require_localstack().await;
    let hook = webhook::start(&[]).await;
    let proxy = FaultProxy::start(&endpoint()).await;
    let env = Env::with_config(&config(3)).via(&proxy.url);
    let client = s3(&sdk(&env.account));
    let names: Vec<String> = (0..6).map(|i| format!("b{}-{i}", env.account)).collect();
    make_buckets(&client, &names, Fixture::NoPublicAccessBlock, 6)
        .await
        .unwrap();
    let puts = Matcher {
        method: Some(Method::PUT),
        path_prefix: None,
        query: Some("publicAccessBlock".into()),
    };
    proxy.inject(puts, Fault::Fail, None);
    let out = env
        .command(&["--output", "json", "run", "--once"])
        .env(VAR, &hook.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert_eq!(bodies[0]["custos"]["event"], "breaker_opened");
    assert_eq!(
        bodies[0]["custos"]["reason"],
        "5 failed actions in the last 60 minutes (the limit is 5)"
    );
    let events = env.all_events();
    assert_eq!(of_kind(&events, "guard.breaker_opened").len(), 1);
    let sent = of_kind(&events, "notification.sent");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["payload"]["event"], "breaker_opened");
}
