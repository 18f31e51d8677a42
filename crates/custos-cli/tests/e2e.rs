#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! End-to-end tests of the `custos` binary. Those marked LocalStack run against a real
//! LocalStack (each in its own account) and fail when it is not running.

use custos_testkit::{Fixture, make_bucket, require_localstack, s3, sdk, seed};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::*;

#[tokio::test]
async fn sandwich_end_to_end_on_localstack() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let prefix = format!("e{}", env.account);
    seed(&client, &prefix).await.unwrap();
    let b = |f: Fixture| format!("{prefix}-{}", f.suffix());

    let first = env.json(&["run", "--once"]);
    assert_eq!(
        outcome_of(&first, &b(Fixture::NoPublicAccessBlock)),
        "fixed"
    );
    assert_eq!(outcome_of(&first, &b(Fixture::NoEncryption)), "fixed");
    assert_eq!(
        outcome_of(&first, &b(Fixture::VersioningOff)),
        "awaiting_approval"
    );
    assert_eq!(outcome_of(&first, &b(Fixture::Excluded)), "denied");
    assert_eq!(
        outcome_of(&first, &b(Fixture::Production)),
        "awaiting_approval"
    );
    assert_eq!(
        outcome_of(&first, &b(Fixture::Incident)),
        "awaiting_approval"
    );
    assert_eq!(
        rows_of(&first, &b(Fixture::Compliant)).len(),
        0,
        "a compliant bucket has nothing to do"
    );
    assert!(has_pab(&client, &b(Fixture::NoPublicAccessBlock)).await);
    assert!(
        !has_pab(&client, &b(Fixture::Excluded)).await,
        "an excluded bucket was changed"
    );
    assert!(
        !has_pab(&client, &b(Fixture::Production)).await,
        "production changed without approval"
    );
    let ev1 = env.events(first["run_id"].as_str().unwrap());
    assert_eq!(count(&ev1, "action.intent"), 2);
    assert_eq!(count(&ev1, "action.executed"), 2);

    // Second run: nothing to do, zero mutating calls (no intent is ever skipped before a call).
    let second = env.json(&["run", "--once"]);
    let ev2 = env.events(second["run_id"].as_str().unwrap());
    assert_eq!(count(&ev2, "action.intent"), 0, "{ev2:#?}");
    assert_eq!(
        second["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["calls"].as_array().unwrap().len())
            .sum::<usize>(),
        0
    );
    let compliant_now: Vec<&Value> = ev2
        .iter()
        .filter(|e| {
            e["kind"] == "resource.evaluated"
                && e["resource"].as_str().unwrap().contains("AWS::S3::Bucket")
                && e["payload"]["failing"].as_array().unwrap().is_empty()
        })
        .collect();
    assert_eq!(compliant_now.len(), 3, "compliant + the two fixed buckets");
    // No duplicate approval requests either.
    let pending = env.json(&["approvals", "list"]);
    let s3_pending = pending
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["plan"]["resource"]["resource_type"] == "AWS::S3::Bucket")
        .count();
    assert_eq!(s3_pending, 3);

    // An operator may not approve; a reviewer can, and it executes.
    let prod = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["plan"]["resource"]["resource_id"] == b(Fixture::Production).as_str())
        .unwrap();
    let id = prod["id"].as_str().unwrap();
    let operator = env.custos_as("olivia", &["approvals", "approve", id]);
    assert_eq!(operator.status.code(), Some(6), "{}", text(&operator));
    assert_eq!(
        String::from_utf8_lossy(&operator.stderr).trim(),
        "error: `olivia` (roles: operator) may not approve"
    );
    let ok = env.json_as(
        "alice",
        &["approvals", "approve", id, "--comment", "SEC-12"],
    );
    assert_eq!(ok["approval"]["status"], "executed");
    assert_eq!(ok["execution"]["outcome"], "fixed");
    assert!(has_pab(&client, &b(Fixture::Production)).await);
    let again = env.custos_as("bob", &["approvals", "approve", id]);
    assert_eq!(
        again.status.code(),
        Some(5),
        "an executed approval cannot be approved twice"
    );

    // Rollback restores the exact before state (there was no public access block).
    let action = ok["execution"]["action_id"].as_str().unwrap();
    let rb = env.custos_as("alice", &["rollback", action]);
    assert_eq!(rb.status.code(), Some(0), "{}", text(&rb));
    assert!(
        !has_pab(&client, &b(Fixture::Production)).await,
        "rollback did not remove the block"
    );
    // Rolling back again is refused (the action is reverted); so is a rollback without
    // credentials.
    assert_eq!(
        env.custos_as("alice", &["rollback", action]).status.code(),
        Some(5)
    );
    let anonymous = env.custos(&["rollback", action]);
    assert_eq!(anonymous.status.code(), Some(6), "{}", text(&anonymous));
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("no credentials"));

    let hist = env.custos(&["history", "--verify", "--limit", "5"]);
    assert_eq!(hist.status.code(), Some(0), "{}", text(&hist));
    assert!(String::from_utf8_lossy(&hist.stdout).contains("hash chain intact"));
}

fn replay_line(account: &str, bucket: &str, supp: Value, tags: Value) -> String {
    replay_line_at(account, bucket, supp, tags, "2026-11-01T10:00:00Z")
}

fn replay_line_at(account: &str, bucket: &str, supp: Value, tags: Value, at: &str) -> String {
    serde_json::json!({
        "source": "aws.config", "detail-type": "Config Configuration Item Change",
        "detail": {"configurationItem": {
            "configurationItemCaptureTime": at, "configurationItemStatus": "OK",
            "awsAccountId": account, "awsRegion": "us-east-1", "resourceType": "AWS::S3::Bucket",
            "resourceId": bucket, "tags": tags, "supplementaryConfiguration": supp,
        }}
    })
    .to_string()
}

#[tokio::test]
async fn replaying_stale_items_after_a_fix_records_no_ops() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let bucket = format!("n{}-public", env.account);
    make_bucket(&client, &bucket, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let file = env.dir.path().join("stale.ndjson");
    // As AWS Config last recorded it: encrypted and versioned, but without a public access block.
    let supp = serde_json::json!({
        "ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        "BucketVersioningConfiguration": {"status": "Enabled"},
    });
    let line = replay_line(
        &env.account,
        &bucket,
        supp.clone(),
        serde_json::json!({"environment": "dev"}),
    );
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let file = file.to_str().unwrap();

    let first = env.json(&["run", "--once", "--replay", file]);
    assert_eq!(outcome_of(&first, &bucket), "fixed");
    // The very same item again (a redelivery) is recognised and not processed twice.
    let redelivered = env.json(&["run", "--once", "--replay", file]);
    assert_eq!(redelivered["duplicates"], 1);
    assert_eq!(rows_of(&redelivered, &bucket).len(), 0, "{redelivered:#}");
    // A later notification that still shows the old state (AWS Config lags): the executor
    // reads the bucket, finds it compliant and records a no-op.
    let late = env.dir.path().join("late.ndjson");
    let line = replay_line_at(
        &env.account,
        &bucket,
        supp,
        serde_json::json!({"environment": "dev"}),
        "2026-11-01T11:00:00Z",
    );
    std::fs::write(&late, format!("{line}\n")).unwrap();
    let second = env.json(&["run", "--once", "--replay", late.to_str().unwrap()]);
    assert_eq!(
        outcome_of(&second, &bucket),
        "already_compliant",
        "{second:#}"
    );
    let ev = env.events(second["run_id"].as_str().unwrap());
    assert_eq!(count(&ev, "action.intent"), 0);
    assert_eq!(count(&ev, "action.no_op"), 1);
}

#[tokio::test]
async fn malformed_replay_items_are_dead_lettered_and_good_ones_processed() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let good = format!("m{}-public", env.account);
    make_bucket(&client, &good, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let acct = env.account.clone();
    let lines = [
        replay_line(&acct, &good, serde_json::json!({}), serde_json::json!({"environment": "dev"})),
        "{\"resourceType\": ".to_string(),
        replay_line(&acct, &good, serde_json::json!({}), serde_json::json!({})).replace("\"resourceId\":", "\"resourceIdX\":"),
        replay_line(&acct, "x", serde_json::json!({}), serde_json::json!({})).replace("2026-11-01T10:00:00Z", "last tuesday"),
        replay_line("12", "x", serde_json::json!({}), serde_json::json!({})),
        replay_line(&acct, "x", serde_json::json!({}), serde_json::json!({"k": "v".repeat(300)})),
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}"#.to_string(),
        r#"{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":{"configurationItemSummary":{"resourceId":"big"}}}"#.to_string(),
    ];
    let file = env.dir.path().join("mixed.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = env.custos(&["run", "--once", "--replay", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("7 input(s) rejected"), "{stdout}");
    let name = file.display().to_string();
    for (line, field) in [
        (2, None),
        (3, Some("detail.configurationItem.resourceId")),
        (
            4,
            Some("detail.configurationItem.configurationItemCaptureTime"),
        ),
        (5, Some("detail.configurationItem.awsAccountId")),
        (6, Some("detail.configurationItem.tags.k")),
        (7, Some("detail-type")),
        (8, Some("detail.configurationItemSummary.resourceType")),
    ] {
        let loc = format!("{name}:{line}");
        assert!(stdout.contains(&loc), "missing {loc} in {stdout}");
        if let Some(f) = field {
            assert!(
                stdout.contains(&format!("field `{f}`")),
                "missing field {f} in {stdout}"
            );
        }
    }
    assert!(
        has_pab(&client, &good).await,
        "the good item was not processed"
    );
    let dls = env.json(&["dead-letters"]);
    let dls = dls.as_array().unwrap();
    assert_eq!(dls.len(), 7);
    assert!(dls.iter().all(|d| !d["raw"].as_str().unwrap().is_empty()
        && d["location"].as_str().unwrap().starts_with(&name)));
}

fn offline(args: &[&str], config: Option<&Path>) -> Output {
    let mut cmd = Command::new(bin());
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.current_dir(repo())
        .args(args)
        .env_remove("CUSTOS_CONFIG")
        .env_remove("CUSTOS_DATABASE_URL");
    cmd.output().unwrap()
}

#[test]
fn plan_output_is_a_readable_table() {
    let out = offline(
        &[
            "plan",
            "--replay",
            "tests/fixtures/replay/demo-buckets.ndjson",
        ],
        Some(&repo().join("localstack/custos.toml")),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn scan_output_is_a_readable_table() {
    let out = offline(
        &[
            "scan",
            "--replay",
            "tests/fixtures/replay/demo-buckets.ndjson",
            "--fail-on-findings",
        ],
        Some(&repo().join("localstack/custos.toml")),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

fn bundle_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["rego/controls", "rego/gate", "playbooks"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for e in std::fs::read_dir(repo().join(sub)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, dir.path().join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        dir.path().join("custos.toml"),
        "[policy]\ndir = \"rego\"\n[playbooks]\ndir = \"playbooks\"\n",
    )
    .unwrap();
    dir
}

#[test]
fn a_broken_rego_file_refuses_to_start_naming_file_and_line() {
    let dir = bundle_copy();
    std::fs::write(dir.path().join("rego/controls/broken.rego"), "package custos.controls.broken\n\nviolations contains msg if {\n    msg := sprintf(\"x\", [\n}\n").unwrap();
    let out = offline(
        &[
            "plan",
            "--replay",
            "tests/fixtures/replay/demo-buckets.ndjson",
        ],
        Some(&dir.path().join("custos.toml")),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.rego:4:"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing may run with a partial policy set"
    );
}

#[test]
fn a_broken_playbook_refuses_to_start_naming_file_and_line() {
    let dir = bundle_copy();
    let p = dir.path().join("playbooks/s3-enable-versioning.toml");
    let text_in = std::fs::read_to_string(&p)
        .unwrap()
        .replace("risk = \"medium\"", "risk = \"medium\"\nretries = \"many\"");
    std::fs::write(&p, text_in).unwrap();
    let out = offline(
        &[
            "run",
            "--once",
            "--replay",
            "tests/fixtures/replay/demo-buckets.ndjson",
        ],
        Some(&dir.path().join("custos.toml")),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("s3-enable-versioning.toml")
            && err.contains("line 9")
            && err.contains("retries"),
        "{err}"
    );
}

#[test]
fn a_control_without_its_playbook_refuses_to_start() {
    let dir = bundle_copy();
    std::fs::remove_file(dir.path().join("playbooks/s3-default-encryption.toml")).unwrap();
    let out = offline(&["policy", "check"], Some(&dir.path().join("custos.toml")));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("s3_default_encryption.rego"));
}

#[test]
fn policy_test_reports_failures_by_name() {
    let out = offline(
        &["policy", "test"],
        Some(&repo().join("localstack/custos.toml")),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PASS:"));
    let dir = bundle_copy();
    std::fs::write(
        dir.path().join("rego/gate/extra_test.rego"),
        "package custos.extra_test\n\ntest_that_fails if { 1 == 2 }\n",
    )
    .unwrap();
    let out = offline(&["policy", "test"], Some(&dir.path().join("custos.toml")));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAIL")
            && String::from_utf8_lossy(&out.stdout).contains("test_that_fails")
    );
}

#[test]
fn every_config_error_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("custos.toml");
    std::fs::write(
        &p,
        "[autonomy]\ndefault = 7\n[approvals]\nttl_hours = -1\n[gate]\nmax_actions_per_run = -5\n",
    )
    .unwrap();
    let out = offline(&["policy", "check"], Some(&p));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for f in [
        "autonomy.default",
        "approvals.ttl_hours",
        "gate.max_actions_per_run",
    ] {
        assert!(err.contains(f), "{f} missing from {err}");
    }
}

#[tokio::test]
async fn several_accounts_and_regions_through_an_assumed_role() {
    require_localstack().await;
    let other = custos_testkit::unique_account();
    let env = Env::new();
    env.write_config(&format!(
        "[aws]\nregions = [\"us-east-1\", \"eu-west-1\"]\n[[aws.accounts]]\nid = \"{other}\"\nrole_arn = \"arn:aws:iam::{other}:role/custos-remediation\"\nregions = [\"us-east-1\"]\n[autonomy.classes.ec2]\n\"*\" = 4\n"
    ));
    // A bucket in the other account (reached only through the role) and an open security
    // group in the home account's second region.
    let bucket = format!("x{other}-public");
    make_bucket(&s3(&sdk(&other)), &bucket, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let eu = sdk(&env.account)
        .to_builder()
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    let sg = custos_testkit::make_open_security_group(&custos_testkit::ec2(&eu), "eu-open")
        .await
        .unwrap();

    let report = env.json(&["run", "--once"]);
    let row = |id: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"]["resource_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {id}: {report:#}"))
    };
    let b = row(&bucket);
    assert_eq!(b["resource"]["account"], other.as_str());
    assert_eq!(b["outcome"], "fixed");
    let g = row(&sg);
    assert_eq!(g["resource"]["account"], env.account.as_str());
    assert_eq!(g["resource"]["region"], "eu-west-1");
    assert_eq!(g["outcome"], "fixed");
    assert!(
        s3(&sdk(&other))
            .get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .is_ok()
    );
}

#[test]
fn policy_explain_shows_controls_gate_rules_and_the_verdict() {
    let out = offline(
        &[
            "policy",
            "explain",
            "--replay",
            "tests/fixtures/replay/demo-buckets.ndjson",
            "--resource",
            "replay-excluded",
        ],
        Some(&repo().join("localstack/custos.toml")),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn overlays_add_controls_and_gate_rules_and_clashes_refuse_to_start() {
    let dir = bundle_copy();
    std::fs::create_dir_all(dir.path().join("overlay/rego")).unwrap();
    std::fs::create_dir_all(dir.path().join("overlay/playbooks")).unwrap();
    std::fs::write(
        dir.path().join("overlay/rego/naming.rego"),
        "package custos.controls.s3_naming\n\nmetadata := {\"id\": \"acme-s3-naming\", \"title\": \"Bucket names carry the team prefix\", \"severity\": \"low\", \"resource_types\": [\"AWS::S3::Bucket\"], \"frameworks\": {}, \"class\": \"alert\", \"guidance\": \"rename the bucket with the `acme-` prefix\", \"cli\": [\"aws s3 mb s3://acme-{resource_name}\"], \"terraform\": \"resource \\\"aws_s3_bucket\\\" \\\"b\\\" { bucket = \\\"acme-<name>\\\" }\"}\n\nviolations contains \"name lacks the `acme-` prefix\" if not startswith(input.resourceId, \"acme-\")\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("overlay/rego/weekend.rego"),
        "package custos.gate_rules.acme\n\ndecisions contains {\"rule\": \"acme.no_prod_fixes\", \"verdict\": \"needs_approval\", \"message\": \"acme: production waits for the CAB\"} if input.plan.environment == \"production\"\n",
    )
    .unwrap();
    let cfg = dir.path().join("custos.toml");
    std::fs::write(&cfg, "[policy]\ndir = \"rego\"\noverlay = \"overlay/rego\"\n[playbooks]\ndir = \"playbooks\"\noverlay = \"overlay/playbooks\"\n").unwrap();
    let check = offline(&["policy", "check"], Some(&cfg));
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let shipped = offline(
        &["policy", "check"],
        Some(&repo().join("localstack/custos.toml")),
    );
    let count = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .split(" controls")
            .next()
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    assert_eq!(count(&check), count(&shipped) + 1, "{}", text(&check));
    let scan = offline(
        &[
            "scan",
            "--replay",
            "tests/fixtures/replay/demo-buckets.ndjson",
        ],
        Some(&cfg),
    );
    assert!(
        String::from_utf8_lossy(&scan.stdout).contains("acme-s3-naming"),
        "{}",
        text(&scan)
    );
    let plan = offline(
        &[
            "--output",
            "json",
            "plan",
            "--replay",
            "tests/fixtures/replay/demo-buckets.ndjson",
        ],
        Some(&cfg),
    );
    let v: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let prod = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["resource"]["resource_id"] == "replay-prod"
                && r["control"] == "s3-public-access-block"
        })
        .unwrap();
    assert!(
        prod["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "gate_rules.acme.acme.no_prod_fixes"),
        "{prod:#}"
    );

    // An overlay that redefines a shipped package is refused, naming both files.
    std::fs::write(
        dir.path().join("overlay/rego/versioning.rego"),
        "package custos.controls.s3_versioning\n\nmetadata := {}\n",
    )
    .unwrap();
    let clash = offline(&["policy", "check"], Some(&cfg));
    assert_eq!(clash.status.code(), Some(2), "{}", text(&clash));
    let err = String::from_utf8_lossy(&clash.stderr);
    assert!(
        err.contains("overlay/rego/versioning.rego") && err.contains("s3_versioning.rego"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("overlay/rego/versioning.rego")).unwrap();

    // So is a playbook claiming an id that ships.
    std::fs::copy(
        dir.path().join("playbooks/s3-enable-versioning.toml"),
        dir.path().join("overlay/playbooks/mine.toml"),
    )
    .unwrap();
    let clash = offline(&["policy", "check"], Some(&cfg));
    assert_eq!(clash.status.code(), Some(2), "{}", text(&clash));
    assert!(String::from_utf8_lossy(&clash.stderr).contains("mine.toml"));
}
