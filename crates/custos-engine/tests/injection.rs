#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The prompt-injection corpus through the whole pipeline (detect, plan, gate, reasoning
//! over a real OpenAI-compatible HTTP server, autonomy), with a scripted model that obeys
//! every instruction hidden in the data. No case may end more permissive than the gate
//! alone decided.

use async_trait::async_trait;
use custos_core::{ConfigurationItem, ResourceRef};
use custos_engine::{Config, Engine, Parts};
use custos_executor::{PlaybookSet, Registry};
use custos_ledger::Ledger;
use custos_policy::{PolicyBundle, PolicyOptions};
use custos_reasoning::{LlmReasoner, LlmSettings};
use custos_telemetry::{ResourceReader, TelemetryError};
use serde_json::{Value, json};
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

async fn engine(url: &str) -> Engine {
    let raw: custos_engine::config::RawConfig =
        toml::from_str("[autonomy]\ndefault = 5\n").unwrap();
    let config = Config::validate(raw, None, &root()).unwrap();
    let bundle = PolicyBundle::load(
        &root().join("rego"),
        PolicyOptions {
            gate_config: config.gate_data(),
            ..PolicyOptions::default()
        },
    )
    .unwrap();
    let registry = Registry::new(custos_executor::executors_for_tests());
    let playbooks = PlaybookSet::load_dirs(
        &config.playbook_dirs(),
        &registry.catalog(),
        &config.playbook_overrides,
    )
    .unwrap();
    let model = Arc::new(LlmReasoner::new(LlmSettings {
        base_url: url.into(),
        model: "obedient".into(),
        api_key: None,
        min_confidence: 0.5,
        max_answer_bytes: 64 * 1024,
        cache_ttl: Duration::from_secs(60),
        calendar: vec![],
    }));
    Engine::new(Parts {
        config: config.clone(),
        bundle,
        playbooks,
        registry,
        reasoning: custos_reasoning::Reasoning {
            offline: config.offline_rules.clone(),
            model: Some(model),
            timeout: Duration::from_secs(10),
        },
        reader: Arc::new(NoReader),
        ledger: Arc::new(Ledger::open("sqlite::memory:").await.unwrap()),
        clock: Arc::new(custos_core::SystemClock),
        actor: "custos".into(),
    })
}

fn item(case: &Value, n: usize) -> ConfigurationItem {
    let tags = case["tags"].clone();
    let raw = if case["resource"] == "bucket" {
        let name = case["bucket"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("inj-{n}"));
        json!({
            "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "111122223333", "awsRegion": "us-east-1",
            "resourceType": "AWS::S3::Bucket", "resourceId": name, "resourceName": name, "tags": tags,
            "supplementaryConfiguration": {"BucketVersioningConfiguration": {"status": "Enabled"},
                "ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}},
        })
    } else {
        json!({
            "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "111122223333", "awsRegion": "us-east-1",
            "resourceType": "AWS::EC2::SecurityGroup", "resourceId": format!("sg-{n:08x}"), "resourceName": case.get("name").cloned().unwrap_or(Value::Null), "tags": tags,
            "configuration": {"groupId": format!("sg-{n:08x}"), "description": case.get("description").cloned().unwrap_or(Value::Null),
                "ipPermissions": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipv6Ranges": []}]},
        })
    };
    ConfigurationItem::from_json(&raw).unwrap_or_else(|e| panic!("case {}: {e}", case["id"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_injection_ends_more_permissive_than_the_gate() {
    let server = custos_testkit::openai_stub::start().await;
    let engine = engine(&server.url).await;
    let corpus: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/injection/corpus.json")).unwrap(),
    )
    .unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() >= 200, "the corpus has {} cases", cases.len());
    let mut obeyed = 0;
    let mut decisions = 0;
    for (n, case) in cases.iter().enumerate() {
        let ci = item(case, n);
        let e = engine.explain(&ci).await.unwrap();
        assert!(
            !e.decisions.is_empty(),
            "case {} produced no decision",
            case["id"]
        );
        for (_plan, d) in &e.decisions {
            decisions += 1;
            assert!(
                d.verdict >= d.gate_verdict,
                "case {}: final {} is more permissive than the gate's {}",
                case["id"],
                d.verdict,
                d.gate_verdict
            );
            if d.reasoner.rationale == "scripted proceed" {
                obeyed += 1;
            }
        }
    }
    // The scripted model really did follow the injected instructions (or the test would
    // prove nothing), and the prompt kept the data fenced.
    assert!(
        obeyed > cases.len() / 2,
        "the model obeyed only {obeyed} of {decisions} decisions"
    );
    let bodies = server.seen.bodies.lock().unwrap();
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
