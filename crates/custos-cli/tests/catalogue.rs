#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! The control kit's catalogue test: every shipped control is whole. Rego tests both
//! ways (a `*_passes` case and a `*_fails` case in its `_test.rego`, all passing); a
//! playbook and a registered action for `auto` and `human`, approval required for
//! `human`; no playbook and a place in the compiled floor's alert-only list for
//! `alert`; an action that declares the IAM actions it writes (and rolls back with);
//! Terraform for every control (the guided fix's AWS CLI commands come from the action,
//! and the contract test runs them).
//! That each action's requests match its declaration is the contract test's part
//! (`custos-executor/tests/contract.rs`, recorded through an interceptor).
//!
//! And README's control table is what `custos policy list --format markdown` prints.

use custos_core::testing::sample_plan;
use custos_executor::{PlaybookSet, offline_catalog};
use custos_policy::{GateInput, PolicyBundle, PolicyOptions, RemediationClass};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn problems() -> Vec<String> {
    let bundle = PolicyBundle::load(&root().join("rego"), PolicyOptions::default()).unwrap();
    let catalog = offline_catalog();
    let playbooks =
        PlaybookSet::load(&root().join("playbooks"), &catalog, &BTreeMap::new()).unwrap();
    let report = bundle.run_tests();
    let mut problems = Vec::new();
    for c in bundle.controls() {
        let id = &c.id;
        // Rego tests, both ways, passing.
        let test_file = c.file.replace(".rego", "_test.rego");
        let cases: Vec<_> = report
            .cases
            .iter()
            .filter(|t| t.file == test_file)
            .collect();
        if !cases.iter().any(|t| t.name.contains("pass")) {
            problems.push(format!(
                "`{id}`: no Rego test of a compliant resource (`test_*_passes`) in `{test_file}`"
            ));
        }
        if !cases.iter().any(|t| t.name.contains("fail")) {
            problems.push(format!(
                "`{id}`: no Rego test of a violating resource (`test_*_fails`) in `{test_file}`"
            ));
        }
        for t in cases.iter().filter(|t| !t.passed) {
            problems.push(format!(
                "`{id}`: Rego test `{}` fails: {:?}",
                t.name, t.error
            ));
        }
        // The floor: alert-only exactly for class `alert`.
        let mut plan = sample_plan(&[]);
        plan.control_id = id.clone();
        let gate = bundle.evaluator().gate(&plan, &GateInput::default());
        let held = gate.reasons.iter().any(|r| r.rule == "floor.alert_only");
        let playbook = playbooks.iter().find(|p| &p.control == id);
        match c.class {
            RemediationClass::Alert => {
                if !held {
                    problems.push(format!("`{id}`: class `alert`, but the compiled floor's `alert_only_controls` does not name it"));
                }
                if let Some(p) = playbook {
                    problems.push(format!(
                        "`{id}`: class `alert`, but playbook `{}` fixes it",
                        p.id
                    ));
                }
            }
            RemediationClass::Auto | RemediationClass::Human => {
                // The code change beside the guided fix (the plan's AWS CLI commands).
                if c.terraform.as_deref().is_none_or(|t| t.trim().is_empty()) {
                    problems.push(format!(
                        "`{id}`: class `{}` without `terraform` (the code change a person makes instead)",
                        c.class.as_str()
                    ));
                }
                if held {
                    problems.push(format!(
                        "`{id}`: class `{}`, but the floor holds it alert-only",
                        c.class.as_str()
                    ));
                }
                let Some(named) = c.remediation.as_deref().and_then(|r| playbooks.get(r)) else {
                    problems.push(format!(
                        "`{id}`: class `{}` without a playbook (`remediation`)",
                        c.class.as_str()
                    ));
                    continue;
                };
                if playbooks.baseline(id).map(|b| &b.id) != Some(&named.id) {
                    problems.push(format!(
                        "`{id}`: `remediation` names `{}`, which is not the control's baseline playbook",
                        named.id
                    ));
                }
                // The baseline and every candidate: each is a whole fix on its own.
                for p in playbooks.for_control(id) {
                    let Some(action) = catalog.get(&p.action) else {
                        problems.push(format!(
                            "`{id}`: playbook `{}` names action `{}`, which no executor registers",
                            p.id, p.action
                        ));
                        continue;
                    };
                    let ops = action.operations();
                    if ops.write.is_empty() {
                        problems.push(format!(
                            "`{id}`: action `{}` declares no IAM action it writes with",
                            p.action
                        ));
                    }
                    if ops.rollback.is_empty() {
                        problems.push(format!(
                            "`{id}`: action `{}` declares no IAM action its rollback calls",
                            p.action
                        ));
                    }
                    for a in ops.all() {
                        let ok = a.split_once(':').is_some_and(|(svc, op)| {
                            !svc.is_empty()
                                && op.chars().next().is_some_and(|ch| ch.is_ascii_uppercase())
                        });
                        if !ok {
                            problems.push(format!(
                                "`{id}`: `{a}` is not an IAM action name (`service:Action`)"
                            ));
                        }
                    }
                    let approval =
                        p.requires_approval == Some(true) || action.properties().requires_approval;
                    if c.class == RemediationClass::Human && !approval {
                        problems.push(format!(
                            "`{id}`: class `human`, but playbook `{}` can execute without approval",
                            p.id
                        ));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn every_shipped_control_is_whole() {
    let problems = problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// README's "tested on" column says where each action's contract test runs; it must
/// agree with where the tests send the service (`custos_testkit::ON_MOTO`).
#[test]
fn the_backend_column_matches_the_tests_routing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["policy", "list", "--format", "json"])
        .current_dir(root())
        .env_remove("CUSTOS_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 59, "controls shipped");
    fn service(t: &str) -> &str {
        match t.split("::").nth(1).unwrap_or_default() {
            "Logs" => "CloudWatch Logs",
            other => other,
        }
    }
    for r in rows.iter().filter(|r| r["class"] != "alert") {
        // The backends of the control's types, as the tests route their services; a
        // control over several services (required tags) names each once.
        let mut want = std::collections::BTreeSet::new();
        for t in r["resource_types"].as_array().unwrap() {
            let on_moto = custos_testkit::ON_MOTO
                .iter()
                .any(|(id, _)| *id == service(t.as_str().unwrap()));
            want.insert(if on_moto { "moto" } else { "LocalStack" });
        }
        let said = r["tested_on"].as_str().unwrap();
        let named: std::collections::BTreeSet<&str> = ["moto", "LocalStack"]
            .into_iter()
            .filter(|b| said.contains(b))
            .collect();
        assert_eq!(named, want, "{}: tested on `{said}`", r["id"]);
    }
}

#[test]
fn readme_control_table_is_what_the_bundle_says() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["policy", "list", "--format", "markdown"])
        .current_dir(root())
        .env_remove("CUSTOS_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(
        generated.contains("| `s3-public-access-block` "),
        "{generated}"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let begin =
        readme.find("<!-- controls:begin -->\n").unwrap() + "<!-- controls:begin -->\n".len();
    let end = readme.find("<!-- controls:end -->").unwrap();
    assert_eq!(
        &readme[begin..end],
        generated,
        "README's control table differs from the bundle: run `custos policy list --format markdown` and paste it between the markers"
    );
}

/// The Rego that finds a public policy statement and the Rust that removes one agree,
/// statement by statement, over one corpus of real-shaped statements: the fix never
/// removes a statement the control does not report, nor leaves one it does.
#[test]
fn rust_and_rego_agree_on_which_statements_are_public() {
    use serde_json::json;
    let bundle = PolicyBundle::load(&root().join("rego"), PolicyOptions::default()).unwrap();
    let mut ev = bundle.evaluator();
    let principals = [
        json!("*"),
        json!({"AWS": "*"}),
        json!({"AWS": ["arn:aws:iam::111122223333:root", "*"]}),
        json!({"CanonicalUser": "*"}),
        json!({"AWS": "arn:aws:iam::111122223333:root"}),
        json!({"Service": "cloudtrail.amazonaws.com"}),
    ];
    let conditions = [
        None,
        Some(json!({})),
        Some(json!({"Bool": {"aws:SecureTransport": "true"}})),
        Some(json!({"StringEquals": {"aws:SourceAccount": "111122223333"}})),
        Some(json!({"StringEquals": {"aws:SourceAccount": 111_122_223_333_u64}})),
        Some(json!({"StringEquals": {"aws:SourceAccount": true}})),
        Some(json!({"StringEquals": {"AWS:SourceOwner": ["111122223333", "*"]}})),
        Some(json!({"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}})),
        Some(json!({"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ["o-a1b2c3d4e5"]}})),
        Some(json!({"ForAnyValue:StringEquals": {"aws:PrincipalOrgID": ["o-a1b2c3d4e5"]}})),
        Some(json!({"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}})),
        Some(json!({"StringLike": {"aws:SourceVpce": "vpce-*"}})),
        Some(json!({"StringLike": {"aws:SourceArn": "arn:aws:sns:*:111122223333:*"}})),
        Some(json!({"StringLike": {"aws:PrincipalOrgID": "o-*"}})),
        Some(json!({"ArnLike": {"aws:SourceArn": "arn:*"}})),
        Some(json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})),
        Some(json!({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "0.0.0.0/1"]}})),
        Some(json!({"IpAddress": {"aws:SourceIp": "2001:db8::/15"}})),
        Some(json!({"IpAddress": {"aws:SourceIp": "198.51.100.7"}})),
        Some(json!({"StringEquals": {"aws:SourceAccount": ""}})),
        Some(json!({"StringEquals": {"aws:SourceAccount": {"x": "111122223333"}}})),
        Some(
            json!({"StringLi\u{212A}e": {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:t"}}),
        ),
        Some(json!({"stringequals": {"AWS:SOURCEACCOUNT": "111122223333"}})),
        Some(json!({"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:role/111122223333"}})),
        Some(json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/*"}})),
        Some(json!({"StringLike": {"aws:SourceArn": "arn:aws:s3:::logs-111122223333-?"}})),
        Some(json!({"StringEquals": {"aws:username": "alice"}})),
        Some(json!({"StringEquals": {"aws:SourceAccount": 111_122_223_333.0}})),
    ];
    // Every principal with every condition, allowed and denied.
    let statements = |principals: &[serde_json::Value], action: &str, resource: &str| {
        let mut out = Vec::new();
        for p in principals {
            for c in &conditions {
                for effect in ["Allow", "Deny"] {
                    let mut s = json!({"Effect": effect, "Principal": p, "Action": action, "Resource": resource});
                    if let Some(c) = c {
                        s["Condition"] = c.clone();
                    }
                    out.push(s);
                }
            }
        }
        out
    };
    // `(agreed true, agreed false)` of the control `control` on a `resource_type` item
    // whose policy (under `key`) is each statement alone, and `rust` on the statement.
    let mut agree = |cases: &[serde_json::Value],
                     (resource_type, key, control): (&str, &str, &str),
                     rust: fn(&serde_json::Value) -> bool| {
        let (mut yes, mut no) = (0, 0);
        for s in cases {
            let item = custos_core::ConfigurationItem::from_json(&json!({
                "configurationItemCaptureTime": "2026-12-04T00:00:00Z",
                "configurationItemStatus": "OK", "awsAccountId": "111122223333",
                "awsRegion": "us-east-1", "resourceType": resource_type, "resourceId": "r",
                "configuration": {},
                "supplementaryConfiguration": {key: {"policyText": json!({"Version": "2012-10-17", "Statement": [s]}).to_string()}}
            }))
            .unwrap();
            let rego = ev
                .detect(&item)
                .unwrap()
                .iter()
                .any(|f| f.control_id == control);
            let rust = rust(s);
            assert_eq!(rego, rust, "{control}: Rego says {rego}, Rust {rust}: {s}");
            if rust { yes += 1 } else { no += 1 }
        }
        (yes, no)
    };
    let mut cases = statements(&principals, "s3:GetObject", "arn:aws:s3:::b/*");
    cases.push(json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "*"}));
    // Both kinds occur, as counted when the corpus was written: a corpus all of one kind
    // would prove nothing.
    let bucket = ("AWS::S3::Bucket", "BucketPolicy", "s3-bucket-policy-public");
    let (public, private) = agree(&cases, bucket, custos_executor::public_policy::public);
    assert_eq!(
        (public, private),
        (69, 268),
        "{public} public, {private} not"
    );

    // A function's permissions: the same statements, and Amazon S3 as the principal
    // (open unless `AWS:SourceAccount` names the bucket owner), through
    // `lambda-function-public-access` and `function_policy::open`.
    cases.extend(statements(
        &[
            json!({"Service": "s3.amazonaws.com"}),
            json!({"Service": ["sns.amazonaws.com", "s3.amazonaws.com"]}),
        ],
        "lambda:InvokeFunction",
        "arn:aws:lambda:us-east-1:111122223333:function:f",
    ));
    let function = (
        "AWS::Lambda::Function",
        "Policy",
        "lambda-function-public-access",
    );
    let (open, closed) = agree(&cases, function, custos_executor::function_policy::open);
    assert_eq!((open, closed), (115, 334), "{open} open, {closed} not");
}
