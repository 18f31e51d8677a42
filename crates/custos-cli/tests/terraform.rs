#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! `terraform/`: Terraform and its providers cannot be downloaded here, so the modules
//! are checked by others' tools: every file parses (`python-hcl2`), every variable has
//! a description and a type and every output a description, `checkov` reports no failed
//! check (each skip carries its reason in the code), and the module's policy documents
//! are what `custos iam-policy` prints, byte for byte and action for action.

mod common;
use common::*;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn iam_policy(args: &[&str]) -> String {
    let out = std::process::Command::new(bin())
        .current_dir(repo())
        .env_remove("CUSTOS_CONFIG")
        .arg("iam-policy")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn tf_files(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            tf_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "tf") {
            out.push(
                p.strip_prefix(repo().join("terraform"))
                    .unwrap()
                    .display()
                    .to_string(),
            );
        }
    }
}

#[test]
fn the_modules_policies_are_what_iam_policy_prints() {
    for mode in ["detect", "remediate"] {
        let printed = iam_policy(&["--mode", mode, "--format", "terraform"]);
        let file = repo().join(format!("terraform/modules/policy/{mode}.tf"));
        let checked_in = std::fs::read_to_string(&file).unwrap();
        assert!(
            printed == checked_in,
            "{} differs from `custos iam-policy --mode {mode} --format terraform`: regenerate it with that command (from the repository's root)",
            file.display()
        );
    }
}

#[test]
fn every_file_parses_and_every_variable_and_output_is_described() {
    let parsed = custos_testkit::pytools::terraform_files(&repo().join("terraform"));
    let mut want = Vec::new();
    tf_files(&repo().join("terraform"), &mut want);
    want.sort();
    let got: Vec<String> = parsed.as_object().unwrap().keys().cloned().collect();
    assert_eq!(got, want, "every .tf file was parsed");
    let mut problems = Vec::new();
    let (mut variables, mut outputs) = (0, 0);
    for (file, f) in parsed.as_object().unwrap() {
        for (name, v) in f["variables"].as_object().unwrap() {
            variables += 1;
            for part in ["description", "type"] {
                if v[part] != true {
                    problems.push(format!("{file}: variable `{name}` has no {part}"));
                }
            }
        }
        // An output has no `type` in Terraform (its value's type is inferred).
        for (name, o) in f["outputs"].as_object().unwrap() {
            outputs += 1;
            if o["description"] != true {
                problems.push(format!("{file}: output `{name}` has no description"));
            }
        }
    }
    assert_eq!(problems, Vec::<String>::new());
    assert!(
        variables >= 30 && outputs >= 15,
        "{variables} variables, {outputs} outputs"
    );

    // The actions the module grants, read from its HCL, equal the JSON policy's.
    for mode in ["detect", "remediate"] {
        let name = format!("custos_{mode}");
        let statements = &parsed[format!("modules/policy/{mode}.tf")]["policies"][&name];
        let in_module: BTreeSet<(String, String)> = statements
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["dynamic"] == false)
            .flat_map(|s| {
                let sid = s["sid"].as_str().unwrap().to_string();
                s["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |a| (sid.clone(), a.as_str().unwrap().to_string()))
            })
            .collect();
        let json: Value = serde_json::from_str(&iam_policy(&["--mode", mode])).unwrap();
        let printed: BTreeSet<(String, String)> = json["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                let sid = s["Sid"].as_str().unwrap().to_string();
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |a| (sid.clone(), a.as_str().unwrap().to_string()))
            })
            .collect();
        assert_eq!(in_module, printed, "{mode}");
        assert!(printed.len() > 30, "{mode}: {} actions", printed.len());
    }
}

#[test]
fn checkov_finds_nothing_failed_and_every_skip_says_why() {
    let report = custos_testkit::pytools::checkov(&repo().join("terraform"));
    let summary = &report["summary"];
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {} ({})", c["check_id"], c["resource"], c["file_path"]))
        .collect();
    assert_eq!(failed, Vec::<String>::new(), "{summary}");
    assert_eq!(summary["parsing_errors"], 0, "{summary}");
    assert!(summary["passed"].as_u64().unwrap() > 200, "{summary}");
    for skip in report["results"]["skipped_checks"].as_array().unwrap() {
        let why = skip["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or("");
        assert!(
            why.len() > 20,
            "{} on {} is skipped without a reason",
            skip["check_id"],
            skip["resource"]
        );
    }
}

/// The module configures the task through the environment: the configuration's text
/// (`CUSTOS_CONFIG_TOML`) and the queue (`CUSTOS_QUEUE_URL`); errors name them.
#[test]
fn a_container_is_configured_through_its_environment() {
    let run = |config: &str, queue: &str| {
        std::process::Command::new(bin())
            .current_dir(repo())
            .env_remove("CUSTOS_CONFIG")
            .env("CUSTOS_CONFIG_TOML", config)
            .env("CUSTOS_QUEUE_URL", queue)
            .args(["policy", "check"])
            .output()
            .unwrap()
    };
    let ok = run(
        "[autonomy]\ndefault = 1\nceiling = 1\n",
        "https://sqs.us-east-1.amazonaws.com/111122223333/custos-events",
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let bad = run(
        "[autonomy]\ndefault = 9\n",
        "https://sqs.us-east-1.amazonaws.com/111122223333/q",
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("CUSTOS_CONFIG_TOML: autonomy.default"),
        "{}",
        text(&bad)
    );
    let queue = run("", "ftp://example.com/q");
    assert_eq!(queue.status.code(), Some(2), "{}", text(&queue));
    assert!(
        text(&queue).contains("CUSTOS_QUEUE_URL: `ftp://example.com/q` is not a queue URL"),
        "{}",
        text(&queue)
    );
}

/// A candidate that is not offered (its administrative ranges not configured) adds no
/// permission: `ec2:AuthorizeSecurityGroupIngress` is granted for rollbacks only. Once
/// `adminCidrs` is set, narrowing calls it to fix, and the policy says so.
#[test]
fn a_candidate_is_granted_its_writes_only_once_configured() {
    let statements = |args: &[&str]| -> Vec<(String, BTreeSet<String>)> {
        let doc: Value = serde_json::from_str(&iam_policy(args)).unwrap();
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let actions = match &s["Action"] {
                    Value::String(a) => [a.clone()].into(),
                    v => v
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string())
                        .collect(),
                };
                (s["Sid"].as_str().unwrap_or_default().to_string(), actions)
            })
            .collect()
    };
    let with = |list: &[(String, BTreeSet<String>)]| -> BTreeSet<String> {
        list.iter()
            .filter(|(_, a)| a.contains("ec2:AuthorizeSecurityGroupIngress"))
            .map(|(sid, _)| sid.clone())
            .collect()
    };
    let plain = statements(&["--mode", "remediate"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("custos.toml");
    std::fs::write(
        &cfg,
        format!(
            "[policy]\ndir = {:?}\n[playbooks]\ndir = {:?}\n[playbooks.overrides.ec2-narrow-open-ingress]\nadminCidrs = [\"203.0.113.0/24\"]\n",
            repo().join("rego"),
            repo().join("playbooks")
        ),
    )
    .unwrap();
    let configured = statements(&["--config", cfg.to_str().unwrap(), "--mode", "remediate"]);
    let (before, after) = (with(&plain), with(&configured));
    // The deny on excluded resources names it either way.
    assert_eq!(
        before,
        ["CustosNeverChangesExcluded", "CustosRollback"]
            .map(String::from)
            .into(),
        "{plain:#?}"
    );
    // Configured, it is a write of the fix (the rollback statement lists only what the
    // fixes do not already grant).
    assert_eq!(
        after,
        ["CustosNeverChangesExcluded", "CustosRemediate"]
            .map(String::from)
            .into(),
        "{configured:#?}"
    );
}
