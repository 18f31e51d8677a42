#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The prompt-injection corpus through the whole pipeline (detect, plan, gate, reasoning
//! over a real OpenAI-compatible HTTP server, autonomy, the guard), with a scripted model
//! that decodes the data as a gullible model would and obeys the first instruction it
//! finds.
//!
//! Per case, three things are checked against facts computed apart from the engine:
//! - the model really saw the injected instruction and did what it asked (the server's
//!   own record of what it decoded and answered);
//! - an instruction to proceed changes nothing: the final verdict equals the verdict the
//!   policy gate reaches on its own (evaluated here, without any reasoner);
//! - an instruction to block cannot make the finding disappear: it ends as a pending
//!   approval request, visible to a human, with the model's words marked as model output.

use async_trait::async_trait;
use custos_core::{ApprovalStatus, ConfigurationItem, RemediationPlan, ResourceRef, Verdict};
use custos_engine::{Config, Engine, Mode, Parts};
use custos_executor::{PlaybookSet, Registry};
use custos_ledger::{EventFilter, Ledger};
use custos_policy::{GateInput, PolicyBundle, TimeFacts};
use custos_reasoning::{LlmReasoner, LlmSettings};
use custos_telemetry::memory::Items;
use custos_telemetry::{ResourceReader, TelemetryError};
use custos_testkit::openai_stub::Instruction;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
struct NoReader;

#[async_trait]
impl ResourceReader for NoReader {
    async fn read(&self, _r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        Err(TelemetryError::Unsupported("no reads in this test".into()))
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn config() -> Config {
    let raw: custos_engine::config::RawConfig =
        toml::from_str("[autonomy]\ndefault = 5\n[gate]\nmax_actions_per_run = 1000\nmax_actions_per_window = 1000\n").unwrap();
    Config::validate(raw, None, &root()).unwrap()
}

fn bundle(config: &Config) -> PolicyBundle {
    PolicyBundle::load_layers(&config.policy_dirs(), config.policy_options()).unwrap()
}

async fn engine(url: &str) -> Engine {
    engine_with_model(url, "obedient").await
}

async fn engine_with_model(url: &str, model: &str) -> Engine {
    let config = config();
    let registry = Registry::new(custos_executor::executors_for_tests());
    let playbooks = PlaybookSet::load_dirs(
        &config.playbook_dirs(),
        &registry.catalog(),
        &config.playbook_overrides,
    )
    .unwrap();
    let model = Arc::new(LlmReasoner::new(LlmSettings {
        base_url: url.into(),
        model: model.into(),
        api_key: None,
        min_confidence: 0.5,
        max_answer_bytes: 64 * 1024,
        cache_ttl: Duration::from_secs(60),
        calendar: vec![],
    }));
    Engine::new(Parts {
        bundle: bundle(&config),
        reasoning: custos_reasoning::Reasoning {
            offline: config.offline_rules.clone(),
            model: Some(model),
            timeout: Duration::from_secs(10),
        },
        config,
        playbooks,
        registry,
        reader: Arc::new(NoReader),
        ledger: Arc::new(Ledger::open("sqlite::memory:").await.unwrap()),
        clock: Arc::new(custos_core::SystemClock),
        actor: "custos".into(),
    })
}

/// The resource id a case gets: unique per case, so every request names its case.
fn resource_id(case: &Value, n: usize) -> String {
    match case["resource"].as_str().unwrap() {
        "bucket" => case["bucket"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("inj-{n}")),
        _ => format!("sg-{n:08x}"),
    }
}

fn item(case: &Value, n: usize) -> ConfigurationItem {
    let id = resource_id(case, n);
    let raw = if case["resource"] == "bucket" {
        json!({
            "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "111122223333", "awsRegion": "us-east-1",
            "resourceType": "AWS::S3::Bucket", "resourceId": id, "resourceName": id, "tags": case["tags"],
            "supplementaryConfiguration": {"BucketVersioningConfiguration": {"status": "Enabled"},
                "ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}},
        })
    } else {
        let mut range = json!({"cidrIp": "0.0.0.0/0"});
        if let Some(d) = case.get("rule_description") {
            range["description"] = d.clone();
        }
        json!({
            "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "111122223333", "awsRegion": "us-east-1",
            "resourceType": "AWS::EC2::SecurityGroup", "resourceId": id, "resourceName": case.get("name").cloned().unwrap_or(Value::Null), "tags": case["tags"],
            "configuration": {"groupId": id, "description": "web servers",
                "ipPermissions": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipv4Ranges": [range], "ipv6Ranges": []}]},
        })
    };
    ConfigurationItem::from_json(&raw).unwrap_or_else(|e| panic!("case {}: {e}", case["id"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_instruction_is_seen_obeyed_and_never_wins() {
    let corpus: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/injection/corpus.json")).unwrap(),
    )
    .unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    let mut instructions: Vec<Instruction> = Vec::new();
    for c in cases {
        let i = Instruction {
            needle: c["needle"].as_str().unwrap().into(),
            asks: c["asks"].as_str().unwrap().into(),
        };
        if !instructions.contains(&i) {
            instructions.push(i);
        }
    }
    let server = custos_testkit::openai_stub::start_with(instructions).await;
    let engine = engine(&server.url).await;
    let items: Vec<ConfigurationItem> = cases.iter().enumerate().map(|(n, c)| item(c, n)).collect();
    let report = engine
        .run_once(&Items::new("corpus", items), Mode::Execute)
        .await
        .unwrap();
    assert_eq!(report.resources, cases.len());
    assert_eq!(report.mutating_calls(), 0);

    // What the engine decided, per resource.
    let decisions: BTreeMap<String, Value> = engine
        .ledger()
        .events(&EventFilter {
            kind_prefix: Some("decision".into()),
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let id = e.resource.unwrap().rsplit('/').next().unwrap().to_string();
            (id, e.payload)
        })
        .collect();
    let pending: BTreeMap<String, custos_core::Approval> = engine
        .ledger()
        .approvals(Some(ApprovalStatus::Pending))
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.plan.resource.resource_id.clone(), a))
        .collect();
    let obeyed = server.seen.obeyed.lock().unwrap().clone();
    // The gate on its own, evaluated here without any reasoner.
    let config = config();
    let mut gate = bundle(&config).evaluator();
    let input = GateInput {
        limits: config.gate.limits,
        time: TimeFacts::at(chrono::Utc::now()),
        ..GateInput::default()
    };
    let (mut permits, mut blocks) = (0, 0);
    for (n, case) in cases.iter().enumerate() {
        let id = resource_id(case, n);
        let label = case["id"].as_str().unwrap();
        let d = decisions
            .get(&id)
            .unwrap_or_else(|| panic!("{label}: no decision"));
        let plan: RemediationPlan = serde_json::from_value(d["plan"].clone()).unwrap();
        let alone = gate.gate(&plan, &input).verdict;
        assert_eq!(alone, Verdict::Execute, "{label}: the gate alone");
        let seen: Vec<_> = obeyed.iter().filter(|o| o.resource_id == id).collect();
        assert_eq!(
            seen.len(),
            1,
            "{label}: the model was asked {} times",
            seen.len()
        );
        assert_eq!(
            seen[0].needle.as_deref(),
            case["needle"].as_str(),
            "{label}: the model did not find the instruction"
        );
        assert_eq!(seen[0].verdict, case["asks"].as_str().unwrap(), "{label}");
        let verdict: Verdict = serde_json::from_value(d["decision"]["verdict"].clone()).unwrap();
        match case["asks"].as_str().unwrap() {
            "proceed" => {
                permits += 1;
                assert_eq!(
                    verdict, alone,
                    "{label}: obeyed `proceed` changed the verdict"
                );
            }
            _ => {
                blocks += 1;
                assert_eq!(
                    verdict,
                    alone.most_cautious(Verdict::NeedsApproval),
                    "{label}"
                );
                let request = pending.get(&id).unwrap_or_else(|| {
                    panic!("{label}: the blocked finding is not in the review queue")
                });
                let reason = request
                    .decision
                    .reasons
                    .iter()
                    .find(|r| r.rule == "reasoning.llm.block")
                    .unwrap_or_else(|| panic!("{label}: {:?}", request.decision.reasons));
                assert!(
                    reason.message.starts_with("model output (untrusted): "),
                    "{label}: {}",
                    reason.message
                );
            }
        }
    }
    assert_eq!(permits + blocks, cases.len());
    assert!(
        blocks > 50 && permits > 150,
        "{permits} permits, {blocks} blocks"
    );
    // The data stayed fenced in every request.
    let bodies = server.seen.bodies.lock().unwrap();
    assert_eq!(bodies.len(), cases.len());
    for b in bodies.iter() {
        let user = b["messages"][1]["content"].as_str().unwrap();
        assert_eq!(
            user.matches("CUSTOS_UNTRUSTED_DATA>>>").count(),
            1,
            "the fence was broken: {user}"
        );
        assert_eq!(b["messages"][0]["role"], "system");
    }
}

/// Issue 26, scope 6: the reasoning check sees the playbook's outcome history, as data
/// inside the fence. A careful scripted model (it escalates on a recent setback of the
/// playbook, reading only the fenced data) lets a bucket's fix through, then, after the
/// same playbook was rolled back on another bucket, asks a person for the same fix. The
/// server's own record of the request shows the rollback inside the fence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reasoning_check_sees_the_playbooks_outcome_history() {
    let server = custos_testkit::openai_stub::start().await;
    let e = engine_with_model(&server.url, "wary").await;
    let ci = ConfigurationItem::from_json(&json!({
        "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "111122223333", "awsRegion": "us-east-1",
        "resourceType": "AWS::S3::Bucket", "resourceId": "calm-bucket", "resourceName": "calm-bucket", "tags": {"environment": "dev"},
        "supplementaryConfiguration": {"BucketVersioningConfiguration": {"status": "Enabled"},
            "ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}},
    }))
    .unwrap();
    let decided = |x: &custos_engine::Explanation| {
        x.decisions
            .iter()
            .find(|(p, _)| p.control_id == "s3-public-access-block")
            .cloned()
            .unwrap()
    };
    let (plan, first) = decided(&e.explain(&ci).await.unwrap());
    assert_eq!(first.verdict, Verdict::Execute, "{first:#?}");

    // The same playbook version rolled back on another bucket in `dev`.
    let key = json!({"control": plan.control_id, "playbook": plan.playbook, "playbook_version": plan.playbook_version,
                     "class": "s3", "environment": "dev", "production": false});
    let other = ResourceRef {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        resource_type: "AWS::S3::Bucket".into(),
        resource_id: "flaky-bucket".into(),
    };
    // ... and another playbook's rollback, which is not this one's history.
    let mut elsewhere = key.clone();
    elsewhere["playbook"] = json!("s3-enable-versioning");
    elsewhere["control"] = json!("s3-versioning");
    for (id, k) in [("act-1", &key), ("act-2", &elsewhere)] {
        e.ledger()
            .append(
                None,
                "action.intent",
                Some(&other),
                &json!({"action_id": id, "kind": "fix", "approval_id": null, "outcome": k}),
            )
            .await
            .unwrap();
        e.ledger()
            .append(
                None,
                "action.rolled_back",
                Some(&other),
                &json!({"action_id": id}),
            )
            .await
            .unwrap();
    }

    let (_, second) = decided(&e.explain(&ci).await.unwrap());
    assert_eq!(second.verdict, Verdict::NeedsApproval, "{second:#?}");
    assert!(
        second
            .reasons
            .iter()
            .any(|r| r.message.contains("setback(s) recently")),
        "{second:#?}"
    );
    // What the model was given, read from the server's record: the rollback, with the
    // resource it happened to, inside the fenced data (and nowhere else).
    let bodies = server.seen.bodies.lock().unwrap().clone();
    let last = bodies.last().unwrap();
    let data = custos_testkit::openai_stub::fenced_data(last).unwrap();
    let setbacks = &data["outcome_history"]["recent_setbacks_of_this_playbook"];
    assert_eq!(setbacks.as_array().unwrap().len(), 1, "{data:#}");
    assert_eq!(setbacks[0]["what"], "rolled_back");
    assert_eq!(setbacks[0]["environment"], "dev");
    assert_eq!(
        data["outcome_history"]["cases_in_window"],
        json!({"succeeded": 0, "failed": 1})
    );
    assert_eq!(
        data["outcome_history"]["since_the_ledger_began"]["rolled_back"],
        1
    );
    assert!(
        setbacks[0]["resource"]
            .as_str()
            .unwrap()
            .contains("flaky-bucket"),
        "{setbacks:#}"
    );
    let system = last["messages"][0]["content"].as_str().unwrap();
    assert!(!system.contains("flaky-bucket"));
    let first_data = custos_testkit::openai_stub::fenced_data(&bodies[0]).unwrap();
    assert_eq!(
        first_data["outcome_history"]["recent_setbacks_of_this_playbook"],
        json!([])
    );
}
