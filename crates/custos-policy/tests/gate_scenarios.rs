#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! Data-driven gate tests: every file in tests/fixtures/gate/ is one scenario (a plan,
//! the gate context, gate settings -> the expected verdict and rule ids). Every rule id in
//! the shipped gate must have an allowed and a blocked scenario.

use custos_core::testing::sample_plan;
use custos_core::{RemediationPlan, Verdict};
use custos_policy::{GateInput, PolicyBundle, PolicyOptions};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    rule_under_test: String,
    case: String,
    config: Value,
    plan: Value,
    context: Value,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    verdict: Verdict,
    rules: Vec<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn scenarios() -> Vec<(String, Scenario)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/gate"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let s: Scenario =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), s)
        })
        .collect()
}

#[test]
fn every_gate_scenario_holds() {
    let mut failures = Vec::new();
    let all = scenarios();
    assert!(all.len() >= 30);
    for (file, s) in &all {
        let bundle = PolicyBundle::load(
            &root().join("rego"),
            PolicyOptions {
                gate_config: s.config.clone(),
                ..PolicyOptions::default()
            },
        )
        .unwrap();
        let mut plan = serde_json::to_value(sample_plan(&[])).unwrap();
        merge(&mut plan, &s.plan);
        let plan: RemediationPlan =
            serde_json::from_value(plan).unwrap_or_else(|e| panic!("{file}: plan: {e}"));
        let mut ctx = serde_json::to_value(GateInput::default()).unwrap();
        merge(&mut ctx, &s.context);
        let ctx: GateInput =
            serde_json::from_value(ctx).unwrap_or_else(|e| panic!("{file}: context: {e}"));
        let out = bundle.evaluator().gate(&plan, &ctx);
        let got: BTreeSet<&str> = out.reasons.iter().map(|r| r.rule.as_str()).collect();
        let want: BTreeSet<&str> = s.expect.rules.iter().map(String::as_str).collect();
        if out.verdict != s.expect.verdict || got != want {
            failures.push(format!(
                "{file} ({}): want {} {want:?}, got {} {got:?}: {:?}",
                s.description, s.expect.verdict, out.verdict, out.reasons
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_gate_rule_has_an_allowed_and_a_blocked_scenario() {
    // The operator gate that ships and the floor compiled into custos.
    let gate = std::fs::read_to_string(root().join("rego/gate/gate.rego")).unwrap()
        + &std::fs::read_to_string(root().join("crates/custos-policy/floor/floor.rego")).unwrap();
    let rules: BTreeSet<String> = gate
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("\"rule\": \"")
                .and_then(|r| r.split('"').next())
                .map(str::to_string)
        })
        .collect();
    assert_eq!(rules.len(), 23, "{rules:?}");
    let mut cases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, s) in scenarios() {
        assert!(
            s.case == "allowed" || s.case == "blocked",
            "case must be allowed or blocked"
        );
        cases
            .entry(s.rule_under_test.clone())
            .or_default()
            .insert(s.case.clone());
    }
    for r in &rules {
        let c = cases.get(r).cloned().unwrap_or_default();
        assert!(
            c.contains("allowed") && c.contains("blocked"),
            "gate rule `{r}` needs an allowed and a blocked scenario (has {c:?})"
        );
    }
}
