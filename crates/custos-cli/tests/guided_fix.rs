#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! Issue 26, acceptance 4: an alert-only finding gives a person something to apply. The
//! commands `custos findings --alert-only` prints (with this resource's values filled in
//! by custos, and the values the guidance leaves to the person, `<role-name>` and the
//! like, filled in as a person would) are run by the real AWS CLI (PyPI `awscli`, its own
//! virtualenv, `CUSTOS_AWS_CLI`) against LocalStack; the next run finds the control
//! passing. The oracle is the state read back from LocalStack with the SDK, then
//! custos's own findings.

mod common;

use common::Env;
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
    let cli = std::path::PathBuf::from(aws_cli());
    let path = format!(
        "{}:{}",
        cli.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
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
            assert!(cmd.starts_with("aws "), "{cmd}");
            let mut sh = Command::new("bash");
            sh.args(["-c", &cmd]).env("PATH", &path);
            for (k, v) in custos_testkit::child_env(&env.account) {
                sh.env(k, v);
            }
            // A person's shell has a region (the CLI reads AWS_DEFAULT_REGION).
            sh.env("AWS_DEFAULT_REGION", "us-east-1");
            let out = sh.output().unwrap();
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
