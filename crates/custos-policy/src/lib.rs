//! The Rego layer: detection controls and the policy gate, evaluated with `regorus`.
//!
//! A [`PolicyBundle`] is loaded once from a directory of `.rego` files, validated as a
//! whole (any error refuses the whole bundle) and digested. Evaluation happens in an
//! [`Evaluator`], a cheap clone of the bundle's engine, one per worker. Every evaluation
//! has a time limit; a gate evaluation that fails becomes an escalation, never an allow.

mod bundle;
mod eval;
mod guidance;
mod testing;

pub use bundle::{ControlMeta, PolicyBundle, PolicyOptions, PolicySnapshot, RemediationClass};
pub use custos_core::Guidance;
pub use eval::{
    Evaluator, GateInput, GateOutcome, HistoryFacts, Limits, RolloutFacts, RunContext, TimeFacts,
    WindowCounts, WindowFacts, gate_view, input_value,
};
pub use testing::{TestCase, TestReport};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy directory `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy directory `{0}` holds no .rego files")]
    Empty(PathBuf),
    #[error("{0}")]
    Parse(String),
    #[error("`{path}`: {message}")]
    Invalid { path: String, message: String },
    #[error("evaluating `{rule}` failed: {message}")]
    Eval { rule: String, message: String },
}

/// Several bundle errors at once, so an operator fixes them in one pass.
#[derive(Debug, thiserror::Error)]
#[error("policy bundle is invalid:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct BundleErrors(pub Vec<PolicyError>);

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::testing::sample_plan;
    use custos_core::{ConfigurationItem, Stage, Verdict};
    use serde_json::json;
    use std::path::Path;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rego")
    }

    fn bundle() -> PolicyBundle {
        PolicyBundle::load(
            &shipped(),
            PolicyOptions {
                gate_config: json!({"exclusion_tag": "custos:exclude", "exclusions": ["legacy-*"]}),
                ..PolicyOptions::default()
            },
        )
        .unwrap()
    }

    /// A valid gate context: now, no windows, no counts, limit of 3 per run.
    fn ctx() -> GateInput {
        GateInput {
            time: TimeFacts::at(
                chrono::DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
                    .unwrap()
                    .with_timezone(&chrono::Utc),
            ),
            limits: Limits {
                per_run: 3,
                ..Limits::default()
            },
            ..GateInput::default()
        }
    }

    fn bucket(supp: serde_json::Value) -> ConfigurationItem {
        ConfigurationItem::from_json(&json!({
            "configurationItemCaptureTime": "2026-11-01T00:00:00Z",
            "awsAccountId": "000000000000",
            "awsRegion": "us-east-1",
            "resourceType": "AWS::S3::Bucket",
            "resourceId": "b1",
            "supplementaryConfiguration": supp,
        }))
        .unwrap()
    }

    /// A control file as it was before the placeholder check: a recorded snapshot holding
    /// it must still rebuild (replay, export), while loading it from files is refused.
    #[test]
    fn a_snapshot_from_before_an_authoring_check_still_loads() {
        let new = r#"--description "before encrypting "{resource_id}"#;
        let old = r#"--description "before encrypting {resource_id}""#;
        let mut snap = bundle().snapshot().clone();
        let file = snap
            .files
            .iter_mut()
            .find(|(p, _)| p.ends_with("ec2_ebs_volume_encrypted.rego"))
            .unwrap();
        assert!(file.1.contains(new));
        file.1 = file.1.replace(new, old);
        let text = file.1.clone();
        PolicyBundle::from_snapshot(&snap, std::time::Duration::from_secs(5)).unwrap();

        let dir = tempfile::tempdir().unwrap();
        for sub in ["controls", "gate"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            for entry in std::fs::read_dir(shipped().join(sub)).unwrap() {
                let path = entry.unwrap().path();
                std::fs::copy(&path, dir.path().join(sub).join(path.file_name().unwrap())).unwrap();
            }
        }
        std::fs::write(
            dir.path().join("controls/ec2_ebs_volume_encrypted.rego"),
            text,
        )
        .unwrap();
        let err = PolicyBundle::load(dir.path(), PolicyOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ec2_ebs_volume_encrypted.rego") && err.contains("inside quotes"),
            "{err}"
        );
    }

    #[test]
    fn shipped_bundle_loads_and_its_rego_tests_pass() {
        let b = bundle();
        assert!(b.controls().len() >= 3);
        assert!(b.digest().as_str().starts_with("sha256:"));
        let report = b.run_tests();
        let failed: Vec<_> = report.cases.iter().filter(|c| !c.passed).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        assert!(
            report.passed() >= 15,
            "only {} rego tests ran",
            report.passed()
        );
        assert!(
            report
                .cases
                .iter()
                .any(|c| c.file.contains("<custos floor>")
                    && c.name == "test_missing_input_fails_closed"),
            "the floor's own tests did not run"
        );
    }

    #[test]
    fn detect_finds_each_control() {
        let mut ev = bundle().evaluator();
        let findings = ev.detect(&bucket(json!({}))).unwrap();
        let mut ids: Vec<_> = findings.iter().map(|f| f.control_id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids,
            [
                "s3-default-encryption",
                "s3-public-access-block",
                "s3-versioning"
            ]
        );
        let f = &findings[0];
        assert!(!f.frameworks.is_empty());
    }

    #[test]
    fn compliant_bucket_has_no_findings() {
        let mut ev = bundle().evaluator();
        let ci = bucket(json!({
            "PublicAccessBlockConfiguration": {"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true, "restrictPublicBuckets": true},
            "ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
            "BucketVersioningConfiguration": {"status": "Enabled"}
        }));
        assert_eq!(ev.detect(&ci).unwrap(), vec![]);
    }

    #[test]
    fn gate_rules_fire_with_ids() {
        let mut ev = bundle().evaluator();
        let ok = ev.gate(&sample_plan(&[]), &ctx());
        assert_eq!(ok.verdict, Verdict::Execute, "{ok:?}");
        let excluded = ev.gate(&sample_plan(&[("custos:exclude", "true")]), &ctx());
        assert_eq!(excluded.verdict, Verdict::Deny);
        assert_eq!(excluded.reasons[0].rule, "gate.exclusion_tag");
        let over = ev.gate(
            &sample_plan(&[]),
            &GateInput {
                run: RunContext {
                    executions_so_far: 3,
                    ..RunContext::default()
                },
                ..ctx()
            },
        );
        assert_eq!(over.verdict, Verdict::RecommendOnly);
        assert_eq!(over.reasons[0].rule, "gate.blast_radius.run");
    }

    #[test]
    fn an_empty_context_fails_closed() {
        let out = bundle()
            .evaluator()
            .gate(&sample_plan(&[]), &GateInput::default());
        assert_eq!(out.verdict, Verdict::Deny, "{out:?}");
        assert_eq!(out.reasons[0].rule, "floor.input_invalid");
        assert!(out.reasons[0].message.contains("time.today"), "{out:?}");
    }

    /// A `policy.dir` whose gate has none of the shipped rules: the compiled floor still
    /// denies the excluded resource, defers in a blackout and escalates the never-automate
    /// class.
    #[test]
    fn no_policy_dir_can_remove_the_floor() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "gate/gate.rego",
            "package custos.gate\n\ndecisions := set()\n",
        );
        let b = PolicyBundle::load(
            tmp.path(),
            PolicyOptions {
                gate_config: json!({"exclusions": ["legacy-*"]}),
                ..PolicyOptions::default()
            },
        )
        .unwrap();
        let mut ev = b.evaluator();
        let tag = ev.gate(&sample_plan(&[("custos:exclude", "true")]), &ctx());
        assert_eq!(tag.verdict, Verdict::Deny, "{tag:?}");
        let mut legacy = sample_plan(&[]);
        legacy.resource.resource_id = "legacy-1".into();
        assert_eq!(ev.gate(&legacy, &ctx()).verdict, Verdict::Deny);
        let mut blackout = ctx();
        blackout.time.blackouts_active = vec!["freeze".into()];
        assert_eq!(
            ev.gate(&sample_plan(&[]), &blackout).reasons[0].rule,
            "gate.blackout"
        );
        // Identity is denied by the floor; another never-automated class waits for a person.
        let mut iam = sample_plan(&[]);
        iam.resource.resource_type = "AWS::IAM::Role".into();
        assert_eq!(ev.gate(&iam, &ctx()).verdict, Verdict::Deny);
        let mut kms = sample_plan(&[]);
        kms.resource.resource_type = "AWS::KMS::Key".into();
        assert_eq!(ev.gate(&kms, &ctx()).verdict, Verdict::NeedsApproval);
    }

    #[test]
    fn a_gate_without_decisions_and_foreign_packages_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "gate/gate.rego",
            "package custos.gate\n\ndecision contains {\"rule\": \"x\", \"verdict\": \"deny\", \"message\": \"m\"} if false\n",
        );
        write(
            tmp.path(),
            "floor.rego",
            "package custos.floor\n\ndecisions := set()\n",
        );
        write(tmp.path(), "lib.rego", "package acme.helpers\n\nx := 1\n");
        let err = PolicyBundle::load(tmp.path(), PolicyOptions::default()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 2, "{text}");
        assert!(
            text.contains("floor.rego") && text.contains("`custos.floor` is not allowed"),
            "{text}"
        );
        assert!(
            text.contains("lib.rego") && text.contains("`acme.helpers` is not allowed"),
            "{text}"
        );
        std::fs::remove_file(tmp.path().join("floor.rego")).unwrap();
        std::fs::remove_file(tmp.path().join("lib.rego")).unwrap();
        let err = PolicyBundle::load(tmp.path(), PolicyOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("gate.rego")
                && err.to_string().contains("declares no `decisions`"),
            "{err}"
        );
    }

    #[test]
    fn an_overlay_cannot_replace_the_gate() {
        let overlay = tempfile::tempdir().unwrap();
        write(
            overlay.path(),
            "gate.rego",
            "package custos.gate\n\ndecisions := set()\n",
        );
        let err = PolicyBundle::load_layers(
            &[shipped(), overlay.path().to_path_buf()],
            PolicyOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("only come from `policy.dir`"),
            "{err}"
        );
    }

    /// One operator package that fails to evaluate escalates; it cannot hide the floor's
    /// deny or another package's verdict.
    #[test]
    fn a_failing_operator_rule_cannot_hide_another_verdict() {
        let overlay = tempfile::tempdir().unwrap();
        write(
            overlay.path(),
            "broken.rego",
            "package custos.gate_rules.broken\n\ndecisions contains d if {\n  n := to_number(input.plan.tags.owner)\n  d := {\"rule\": \"acme.n\", \"verdict\": \"execute\", \"message\": sprintf(\"%d\", [n])}\n}\n",
        );
        write(
            overlay.path(),
            "cab.rego",
            "package custos.gate_rules.cab\n\ndecisions contains {\"rule\": \"acme.cab\", \"verdict\": \"recommend_only\", \"message\": \"waits for the CAB\"} if input.plan.production\n",
        );
        let b = PolicyBundle::load_layers(
            &[shipped(), overlay.path().to_path_buf()],
            PolicyOptions::default(),
        )
        .unwrap();
        assert_eq!(b.gate_rule_packages().len(), 2);
        // Kept as a snapshot and rebuilt elsewhere, the bundle is the same bundle: same
        // digest, the overlay still an overlay, the same verdicts.
        let again =
            PolicyBundle::from_snapshot(b.snapshot(), std::time::Duration::from_millis(250))
                .unwrap();
        assert_eq!(again.digest(), b.digest());
        assert_eq!(again.gate_rule_packages(), b.gate_rule_packages());
        assert_eq!(again.snapshot(), b.snapshot());
        let mut ev = again.evaluator();
        let out = ev.gate(
            &sample_plan(&[("owner", "not a number"), ("custos:exclude", "true")]),
            &ctx(),
        );
        let rules: Vec<(&str, Verdict)> = out
            .reasons
            .iter()
            .map(|r| (r.rule.as_str(), r.verdict))
            .collect();
        assert_eq!(out.verdict, Verdict::Deny, "{rules:?}");
        assert!(
            rules.contains(&("gate.exclusion_tag", Verdict::Deny)),
            "{rules:?}"
        );
        assert!(
            rules.contains(&("gate_rules.cab.acme.cab", Verdict::RecommendOnly)),
            "{rules:?}"
        );
        assert!(
            rules.contains(&("gate.error", Verdict::NeedsApproval)),
            "{rules:?}"
        );
        let err = out.reasons.iter().find(|r| r.rule == "gate.error").unwrap();
        assert!(
            err.message.contains("custos.gate_rules.broken"),
            "{}",
            err.message
        );
    }

    /// Reason ids are owned by the stage that produced them: an operator package cannot
    /// produce an id the engine reads meaning into (`approval.granted` lifts
    /// `needs_approval`). Every id of `custos.gate_rules.<pkg>` is put under
    /// `gate_rules.<pkg>.`, every id of `custos.gate` under `gate.`.
    #[test]
    fn operator_rule_ids_are_put_under_their_package() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("gate")).unwrap();
        write(
            dir.path(),
            "gate/gate.rego",
            "package custos.gate\n\ndecisions contains {\"rule\": \"operator.requested\", \"verdict\": \"execute\", \"message\": \"me\"} if true\ndecisions contains {\"rule\": \"gate.own\", \"verdict\": \"needs_approval\", \"message\": \"mine\"} if true\n",
        );
        write(
            dir.path(),
            "sneaky.rego",
            "package custos.gate_rules.sneaky\n\ndecisions contains {\"rule\": \"approval.granted\", \"verdict\": \"execute\", \"message\": \"approved, trust me\"} if true\n",
        );
        let b = PolicyBundle::load_layers(&[dir.path().to_path_buf()], PolicyOptions::default())
            .unwrap();
        let out = b.evaluator().gate(&sample_plan(&[]), &ctx());
        let mut rules: Vec<&str> = out.reasons.iter().map(|r| r.rule.as_str()).collect();
        rules.sort_unstable();
        assert_eq!(
            rules,
            vec![
                "gate.operator.requested",
                "gate.own",
                "gate_rules.sneaky.approval.granted"
            ],
            "{out:?}"
        );
        assert!(out.reasons.iter().all(|r| r.stage == Stage::Gate));
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn broken_file_is_named_with_its_line_and_nothing_loads() {
        let tmp = tempfile::tempdir().unwrap();
        for f in ["gate/gate.rego", "controls/s3_versioning.rego"] {
            std::fs::create_dir_all(tmp.path().join(f).parent().unwrap()).unwrap();
            std::fs::copy(shipped().join(f), tmp.path().join(f)).unwrap();
        }
        write(
            tmp.path(),
            "controls/broken.rego",
            "package custos.controls.broken\n\nviolations contains msg if {\n  msg := \n}\n",
        );
        let err = PolicyBundle::load(tmp.path(), PolicyOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("broken.rego:"), "{text}");
        assert!(
            text.contains("broken.rego:4") || text.contains("broken.rego:5"),
            "{text}"
        );
    }

    #[test]
    fn missing_gate_and_bad_metadata_are_all_reported() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "controls/x.rego",
            "package custos.controls.x\n\nmetadata := {\"id\": \"x\"}\n\nviolations contains \"m\" if false\n",
        );
        let err = PolicyBundle::load(tmp.path(), PolicyOptions::default()).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        let text = err.to_string();
        assert!(text.contains("custos.gate"), "{text}");
        assert!(text.contains("x.rego"), "{text}");
    }

    #[test]
    fn a_failing_rego_test_is_reported_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("gate")).unwrap();
        std::fs::copy(
            shipped().join("gate/gate.rego"),
            tmp.path().join("gate/gate.rego"),
        )
        .unwrap();
        write(
            tmp.path(),
            "gate/extra_test.rego",
            "package custos.extra_test\n\ntest_good if { 1 == 1 }\n\ntest_bad if { 1 == 2 }\n",
        );
        let report = PolicyBundle::load(tmp.path(), PolicyOptions::default())
            .unwrap()
            .run_tests();
        let floor = report
            .cases
            .iter()
            .filter(|c| c.file.starts_with("<custos floor>"))
            .count();
        assert_eq!(report.passed(), floor + 1);
        assert_eq!(report.failed(), 1);
        assert!(!report.ok());
        assert_eq!(
            report.cases.iter().find(|c| !c.passed).unwrap().name,
            "test_bad"
        );
    }

    #[test]
    fn evaluation_time_is_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("gate")).unwrap();
        write(
            tmp.path(),
            "gate/gate.rego",
            "package custos.gate\n\ndecisions contains d if {\n  input.plan.id\n  n := numbers.range(1, 100000)\n  count([x | some x in n; some y in n; x > y]) > 0\n  d := {\"rule\": \"slow\", \"verdict\": \"deny\", \"message\": \"m\"}\n}\n",
        );
        let b = PolicyBundle::load(
            tmp.path(),
            PolicyOptions {
                eval_timeout: std::time::Duration::from_millis(50),
                ..PolicyOptions::default()
            },
        )
        .unwrap();
        let out = b.evaluator().gate(&sample_plan(&[]), &ctx());
        assert_eq!(out.verdict, Verdict::NeedsApproval);
        assert_eq!(out.reasons[0].rule, "gate.error");
    }
}

#[cfg(test)]
mod framework_tests {
    use super::*;
    use std::path::Path;

    /// The compliance team's source of truth: every shipped control states its mapping to
    /// each framework custos reports on (an empty list where the framework has no such
    /// requirement, said explicitly).
    #[test]
    fn every_shipped_control_maps_to_every_framework() {
        let b = PolicyBundle::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rego"),
            PolicyOptions::default(),
        )
        .unwrap();
        let frameworks = [
            "aws-fsbp",
            "cis-aws-foundations-v3.0",
            "nist-800-53-r5",
            "nist-800-171-r2",
            "fedramp-moderate",
            "cmmc-2.0-l2",
        ];
        for c in b.controls() {
            for f in frameworks {
                assert!(
                    c.frameworks.contains_key(f),
                    "control `{}` ({}) has no `{f}` mapping",
                    c.id,
                    c.file
                );
            }
            for f in &frameworks[2..] {
                // NIST 800-171 (and CMMC, built on it) protects the confidentiality of
                // CUI: availability controls have no counterpart there.
                let availability_only = c.id == "rds-multi-az";
                if availability_only && matches!(*f, "nist-800-171-r2" | "cmmc-2.0-l2") {
                    continue;
                }
                assert!(
                    !c.frameworks[*f].is_empty(),
                    "control `{}` maps to no `{f}` requirement",
                    c.id
                );
            }
        }
    }
}
