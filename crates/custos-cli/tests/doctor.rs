#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! `custos doctor` against LocalStack: it passes on a ready account (a queue fed by the
//! Config rule, a writable ledger) and fails naming the check when the queue is missing,
//! when a member role cannot be assumed (STS refuses, through the fault proxy: LocalStack
//! does not enforce trust policies) and when the ledger is read-only. The oracle is the
//! state the test made, not custos's own reading of it.

mod common;
use common::*;

use custos_testkit::proxy::{Fault, FaultProxy, Matcher};
use custos_testkit::{require_localstack, sdk};
use serde_json::Value;

/// A queue, and an EventBridge rule sending AWS Config's change events to it.
async fn queue_fed_by_the_rule(env: &Env) -> String {
    let sdk = sdk(&env.account);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name("custos-doctor")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let arn = format!("arn:aws:sqs:us-east-1:{}:custos-doctor", env.account);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    events
        .put_rule()
        .name("config-changes")
        .event_pattern(
            r#"{"source":["aws.config"],"detail-type":["Config Configuration Item Change"]}"#,
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("config-changes")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

/// The checks of `custos doctor --output json`, by name, and its exit code.
fn doctor(cmd: &mut std::process::Command) -> (i32, Vec<(String, String, String)>) {
    let out = cmd.output().unwrap();
    let checks: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let rows = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                format!("{} {}", c["detail"], c["fix"]),
            )
        })
        .collect();
    (out.status.code().unwrap(), rows)
}

fn status_of<'a>(rows: &'a [(String, String, String)], check: &str) -> &'a str {
    rows.iter()
        .find(|(c, _, _)| c == check)
        .map(|(_, s, _)| s.as_str())
        .unwrap_or_else(|| panic!("no check `{check}` in {rows:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_on_a_ready_account_and_names_each_failure() {
    require_localstack().await;
    let env = Env::new();
    let url = queue_fed_by_the_rule(&env).await;
    env.write_config(&format!("[telemetry]\nqueue_url = {url:?}\n"));

    // Ready: every check passes or does not apply.
    let (code, rows) = doctor(&mut env.command(&["--output", "json", "doctor"]));
    assert_eq!(code, 0, "{rows:#?}");
    for check in [
        "config",
        "policy",
        "ledger",
        "identity",
        "reads",
        "queue",
        "queue-rule",
    ] {
        assert_eq!(status_of(&rows, check), "pass", "{check}: {rows:#?}");
    }
    assert!(rows.iter().all(|(_, s, _)| s != "fail"), "{rows:#?}");

    // The queue missing.
    env.write_config(&format!(
        "[telemetry]\nqueue_url = {:?}\n",
        url.replace("custos-doctor", "custos-missing")
    ));
    let (code, rows) = doctor(&mut env.command(&["--output", "json", "doctor"]));
    assert_eq!(code, 3, "{rows:#?}");
    assert_eq!(status_of(&rows, "queue"), "fail");
    let failed: Vec<&str> = rows
        .iter()
        .filter(|(_, s, _)| s == "fail")
        .map(|(c, _, _)| c.as_str())
        .collect();
    assert_eq!(failed, vec!["queue"], "{rows:#?}");

    // A queue that exists but no rule feeds.
    let sqs = aws_sdk_sqs::Client::new(&sdk(&env.account));
    let unfed = sqs
        .create_queue()
        .queue_name("custos-unfed")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    env.write_config(&format!("[telemetry]\nqueue_url = {unfed:?}\n"));
    let (code, rows) = doctor(&mut env.command(&["--output", "json", "doctor"]));
    assert_eq!(code, 3, "{rows:#?}");
    assert_eq!(status_of(&rows, "queue"), "pass");
    assert_eq!(status_of(&rows, "queue-rule"), "fail");

    // A member role STS refuses to let custos assume (after the two identity calls of
    // the default account, every STS request fails).
    let other = custos_testkit::unique_account();
    env.write_config(&format!(
        "[telemetry]\nqueue_url = {url:?}\n[[aws.accounts]]\nid = \"{other}\"\nrole_arn = \"arn:aws:iam::{other}:role/custos-member\"\nexternal_id = \"0123456789abcdef\"\nregions = [\"us-east-1\"]\n"
    ));
    let sts = FaultProxy::start(&custos_testkit::endpoint()).await;
    sts.inject_after(Matcher::default(), Fault::Fail, 2, None);
    let (code, rows) = doctor(
        env.command(&["--output", "json", "doctor"])
            .env("AWS_ENDPOINT_URL_STS", &sts.url),
    );
    assert_eq!(code, 3, "{rows:#?}");
    assert_eq!(status_of(&rows, "identity"), "pass", "{rows:#?}");
    assert_eq!(
        status_of(&rows, &format!("member-role {other}")),
        "fail",
        "{rows:#?}"
    );

    // The ledger read-only.
    env.write_config(&format!("[telemetry]\nqueue_url = {url:?}\n"));
    let ledger = env.dir.path().join("ledger.db");
    assert!(ledger.exists());
    let (code, rows) = doctor(&mut env.command(&[
        "--output",
        "json",
        "--database-url",
        &format!("sqlite://{}?mode=ro", ledger.display()),
        "doctor",
    ]));
    assert_eq!(code, 3, "{rows:#?}");
    let failed: Vec<&str> = rows
        .iter()
        .filter(|(_, s, _)| s == "fail")
        .map(|(c, _, _)| c.as_str())
        .collect();
    assert_eq!(failed, vec!["ledger"], "{rows:#?}");
}

/// IAM's simulator (LocalStack's) says which declared actions a member role lacks: a
/// role holding the detect policy passes in detect mode and fails in remediate mode,
/// naming a write it would need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_simulates_the_roles_permissions_for_the_mode() {
    require_localstack().await;
    let env = Env::new();
    let other = custos_testkit::unique_account();
    let detect = std::process::Command::new(bin())
        .current_dir(repo())
        .env_remove("CUSTOS_CONFIG")
        .args(["iam-policy", "--mode", "detect"])
        .output()
        .unwrap();
    assert!(detect.status.success(), "{}", text(&detect));
    let iam = aws_sdk_iam::Client::new(&sdk(&other));
    iam.create_role()
        .role_name("custos-member")
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"sts:AssumeRole"}}]}}"#,
            env.account
        ))
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("custos-member")
        .policy_name("custos-detect")
        .policy_document(String::from_utf8(detect.stdout).unwrap())
        .send()
        .await
        .unwrap();
    env.write_config(&format!(
        "[[aws.accounts]]\nid = \"{other}\"\nrole_arn = \"arn:aws:iam::{other}:role/custos-member\"\nregions = [\"us-east-1\"]\n"
    ));
    let name = format!("permissions {other}");
    let (_, rows) = doctor(&mut env.command(&["--output", "json", "doctor", "--mode", "detect"]));
    assert_eq!(status_of(&rows, &name), "pass", "{rows:#?}");
    let (code, rows) =
        doctor(&mut env.command(&["--output", "json", "doctor", "--mode", "remediate"]));
    assert_eq!(code, 3, "{rows:#?}");
    assert_eq!(status_of(&rows, &name), "fail", "{rows:#?}");
    let detail = &rows.iter().find(|(c, _, _)| *c == name).unwrap().2;
    assert!(detail.contains("s3:PutBucketPublicAccessBlock"), "{detail}");
    assert!(
        !detail.contains("s3:GetBucketPublicAccessBlock"),
        "{detail}"
    );
}
