#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! Issue 26, acceptance 4: an alert-only finding gives a person something to apply. The
//! commands `custos findings --alert-only` prints (with this resource's values filled in
//! by custos, and the values the guidance leaves to the person, `<role-name>` and the
//! like, filled in as a person would) are run by the real AWS CLI (PyPI `awscli`, its own
//! virtualenv, `CUSTOS_AWS_CLI`) against LocalStack; the next run finds the control
//! passing. The oracle is the state read back from LocalStack with the SDK, then
//! custos's own findings.

mod common;

use common::{Env, text};
use serde_json::Value;
use std::process::Command;

/// What a person fills in where the guidance leaves a value to them.
const PERSON: [(&str, &str); 3] = [
    ("<role-name>", "sns-delivery-logs"),
    ("<Protocol>", "Lambda"),
    ("<percent>", "100"),
];

fn aws_cli() -> String {
    std::env::var("CUSTOS_AWS_CLI").unwrap_or_else(|_| {
        panic!("CUSTOS_AWS_CLI names the AWS CLI (`pip install awscli` in a virtualenv; scripts/test does it)")
    })
}

/// The open alert-only finding of `control`, on `resource` when given.
fn alert<'a>(findings: &'a [Value], control: &str, resource: Option<&str>) -> Option<&'a Value> {
    findings.iter().find(|f| {
        f["finding"]["control_id"] == control
            && resource.is_none_or(|r| f["finding"]["resource"]["resource_id"] == r)
    })
}

/// Run one command of a guidance in a person's shell (bash, the AWS CLI on the path,
/// the account's credentials and a default region).
fn as_a_person(env: &Env, cmd: &str) -> std::process::Output {
    assert!(cmd.starts_with("aws "), "{cmd}");
    let cli = std::path::PathBuf::from(aws_cli());
    let path = format!(
        "{}:{}",
        cli.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut sh = Command::new("bash");
    sh.args(["-c", cmd]).env("PATH", &path);
    for (k, v) in custos_testkit::child_env(&env.account) {
        sh.env(k, v);
    }
    // A person's shell has a region (the CLI reads AWS_DEFAULT_REGION).
    sh.env("AWS_DEFAULT_REGION", "us-east-1");
    sh.output().unwrap()
}

#[tokio::test]
async fn the_guided_fix_commands_make_the_control_pass() {
    custos_testkit::require_localstack().await;
    let env = Env::new();
    let sdk = custos_testkit::sdk(&env.account);
    let topic =
        custos_testkit::services::make_unencrypted_topic(&sdk, &format!("guided-{}", env.account))
            .await
            .unwrap();
    env.json_as("alice", &["run", "--once"]);
    let before = env.json(&["findings", "--alert-only"])["findings"]
        .as_array()
        .unwrap()
        .clone();
    for (control, resource) in [
        ("iam-password-policy", None),
        ("sns-topic-delivery-logging", Some(topic.as_str())),
    ] {
        let f = alert(&before, control, resource)
            .unwrap_or_else(|| panic!("no open `{control}` finding: {before:#?}"));
        let commands = f["finding"]["guidance"]["cli"].as_array().unwrap();
        assert!(!commands.is_empty(), "{f:#}");
        for c in commands {
            let mut cmd = c.as_str().unwrap().to_string();
            for (hole, value) in PERSON {
                cmd = cmd.replace(hole, value);
            }
            // custos fills `{region}` and the like; the person, `<role-name>` and the like.
            let custos_holes = [
                "{region}",
                "{resource_id}",
                "{resource_name}",
                "{account}",
                "{arn}",
            ];
            assert!(
                !cmd.contains('<') && !custos_holes.iter().any(|h| cmd.contains(h)),
                "a value left unfilled in `{cmd}`"
            );
            let out = as_a_person(&env, &cmd);
            // A read the guidance starts with may find nothing yet (no password policy in
            // a new account): the person reads that and goes on. Every change must work.
            let verb = cmd.split_whitespace().nth(2).unwrap_or_default();
            let read = ["get-", "describe-", "list-"]
                .iter()
                .any(|p| verb.starts_with(p));
            assert!(
                read || out.status.success(),
                "`{cmd}`: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    // LocalStack holds what the commands set.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let policy = iam
        .get_account_password_policy()
        .send()
        .await
        .unwrap()
        .password_policy
        .unwrap();
    assert_eq!(
        (
            policy.minimum_password_length,
            policy.password_reuse_prevention,
            policy.require_symbols
        ),
        (Some(14), Some(24), true)
    );
    let attrs = custos_testkit::services::sns(&sdk)
        .get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(
        attrs
            .get("LambdaFailureFeedbackRoleArn")
            .map(String::as_str),
        Some(format!("arn:aws:iam::{}:role/sns-delivery-logs", env.account).as_str()),
        "{attrs:#?}"
    );

    // The next run sees both fixed: neither finding is open.
    env.json_as("alice", &["run", "--once"]);
    let after = env.json(&["findings", "--alert-only"])["findings"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        alert(&after, "iam-password-policy", None).is_none(),
        "{after:#?}"
    );
    assert!(
        alert(&after, "sns-topic-delivery-logging", Some(&topic)).is_none(),
        "{after:#?}"
    );
    assert_eq!(after.len(), before.len() - 2, "{after:#?}");
}

/// Issue 26, scope 5: a fixable finding custos leaves to a person (a production bucket
/// waits for approval) shows its guided fix in `custos findings`; the person runs it; the
/// next run sees the bucket fixed, and `custos autonomy report` counts one fix made
/// outside custos with its time to fix, and none by custos. The oracle is the public
/// access block read back from LocalStack, then custos's own findings and report.
#[tokio::test]
async fn a_guided_fix_a_person_applies_is_counted_with_its_time_to_fix() {
    const CONTROL: &str = "s3-public-access-block";
    custos_testkit::require_localstack().await;
    let env = Env::new();
    // Level 3: every fix waits for a person.
    env.write_config_with("[autonomy]\ndefault = 3\n", "");
    let sdk = custos_testkit::sdk(&env.account);
    let s3 = custos_testkit::s3(&sdk);
    let bucket = format!("by-hand-{}", env.account);
    custos_testkit::make_bucket(&s3, &bucket, custos_testkit::Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    env.json_as("alice", &["run", "--once"]);
    let open = env.json(&["findings", "--control", CONTROL])["findings"]
        .as_array()
        .unwrap()
        .clone();
    let f = open
        .iter()
        .find(|f| f["finding"]["resource"]["resource_id"] == bucket.as_str())
        .unwrap_or_else(|| panic!("no open finding on `{bucket}`: {open:#?}"));
    assert_eq!(f["decided"], "needs_approval", "{f:#}");
    let commands = f["guided"]["cli"].as_array().unwrap();
    assert_eq!(commands.len(), 1, "{f:#}");
    let table = text(&env.custos(&["findings", "--control", CONTROL]));
    assert!(
        table.contains("guided fix: what a person runs")
            && table.contains("put-public-access-block"),
        "{table}"
    );
    assert!(!custos_testkit::has_public_access_block(&s3, &bucket).await);
    let out = as_a_person(&env, commands[0].as_str().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(custos_testkit::has_public_access_block(&s3, &bucket).await);

    env.json_as("alice", &["run", "--once"]);
    let still = env.json(&["findings", "--control", CONTROL])["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["finding"]["resource"]["resource_id"] == bucket.as_str())
        .count();
    assert_eq!(still, 0);
    let report = env.json(&["autonomy", "report"]);
    let times = report["fix_times"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["control"] == CONTROL)
        .unwrap_or_else(|| panic!("no time to fix for `{CONTROL}`: {report:#}"))
        .clone();
    assert_eq!(
        (
            times["outside"]["count"].as_u64(),
            times["by_custos"]["count"].as_u64()
        ),
        (Some(1), Some(0)),
        "{times:#}"
    );
    assert!(times["outside"]["median_seconds"].is_u64(), "{times:#}");
}
