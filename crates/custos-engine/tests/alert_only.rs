#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! Alert-only controls never execute: one test per shipped `alert` control, at every
//! autonomy level, with everything an operator could add to make it execute: a playbook
//! for it (which `custos policy check` refuses, and this test adds behind its back), an
//! overlay gate rule that says `execute`, and an always-approve list left empty.
//!
//! The oracle is the fake cloud's record of calls (every shipped action and the test's
//! own go to it), never the engine's verdict. Liveness: the same set-up with a control
//! of class `auto` on the same resource and action executes, so "no call" is a finding.

mod common;

use async_trait::async_trait;
use custos_core::{ActionKind, ConfigurationItem, ResourceRef, Risk, RollbackStep};
use custos_engine::{Engine, Mode, Parts};
use custos_executor::fake::{FakeCloud, FakeExecutor};
use custos_executor::{
    Action, ActionProperties, ExecError, Executor, Operations, PlaybookSet, Registry,
};
use custos_policy::{PolicyBundle, RemediationClass};
use custos_telemetry::memory::Items;
use custos_telemetry::{ResourceReader, TelemetryError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Every call any executor made.
#[derive(Debug, Default)]
struct World {
    calls: Mutex<Vec<String>>,
    items: Mutex<BTreeMap<String, ConfigurationItem>>,
}

#[async_trait]
impl FakeCloud for World {
    async fn call(
        &self,
        r: &ResourceRef,
        _restore: Option<&Value>,
    ) -> Result<Vec<String>, ExecError> {
        self.calls.lock().unwrap().push(r.resource_id.clone());
        Ok(vec!["fake".into()])
    }
}

#[derive(Debug)]
struct Reader(Arc<World>);

#[async_trait]
impl ResourceReader for Reader {
    async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        Ok(self.0.items.lock().unwrap().get(&r.resource_id).cloned())
    }
}

/// A test action on any resource type: never satisfied, its calls recorded.
#[derive(Debug)]
struct Anything {
    action: &'static str,
    types: &'static [&'static str],
    world: Arc<World>,
}

impl Action for Anything {
    fn action(&self) -> &'static str {
        self.action
    }
    fn resource_types(&self) -> &'static [&'static str] {
        self.types
    }
    fn properties(&self) -> ActionProperties {
        ActionProperties {
            reversible: true,
            risk: Risk::Low,
            kinds: vec![ActionKind::Configure],
            requires_approval: false,
        }
    }
    fn operations(&self) -> Operations {
        Operations {
            read: &[],
            write: &["test:Fix"],
            rollback: &["test:Undo"],
            needs: &[],
        }
    }
    fn validate_params(&self, _params: &Value) -> Result<(), String> {
        Ok(())
    }
    fn facet(&self, ci: &ConfigurationItem) -> Value {
        json!({"fixed": ci.configuration.get("fixed") == Some(&json!(true))})
    }
    fn satisfied(&self, facet: &Value, _params: &Value) -> bool {
        facet["fixed"] == true
    }
    fn desired(&self, _facet: &Value, _params: &Value) -> Value {
        json!({"fixed": true})
    }
    fn rollback_steps(&self, before: &Value) -> Vec<RollbackStep> {
        vec![RollbackStep {
            action: "test:Undo".into(),
            description: "undo".into(),
            parameters: before.clone(),
            exact: true,
        }]
    }
}

#[async_trait]
impl Executor for Anything {
    async fn apply(
        &self,
        r: &ResourceRef,
        _p: &Value,
        _b: &Value,
    ) -> Result<Vec<String>, ExecError> {
        self.world.call(r, None).await
    }
    async fn restore(&self, r: &ResourceRef, before: &Value) -> Result<Vec<String>, ExecError> {
        self.world.call(r, Some(before)).await
    }
}

/// The account-level additions (`supplementaryConfiguration`) for an account item that
/// violates `control` only.
fn supplementary(control: &str) -> Value {
    let trail = json!({"name": "org", "homeRegion": "us-east-1", "isMultiRegionTrail": true, "isLogging": true, "managementEvents": true});
    let recorder = json!({"name": "default", "recording": true});
    match control {
        "cloudtrail-enabled" => json!({"Trails": [], "ConfigurationRecorders": [recorder]}),
        "config-enabled" => json!({"Trails": [trail], "ConfigurationRecorders": []}),
        _ => json!({}),
    }
}

/// A violating item for each alert control, compliant with every other shipped control.
fn item(control: &str) -> (&'static str, Value) {
    match control {
        "ec2-ebs-volume-encrypted" => (
            "AWS::EC2::Volume",
            json!({"volumeId": "vol-1", "encrypted": false}),
        ),
        "ec2-ebs-snapshot-encrypted" => (
            "AWS::EC2::Snapshot",
            json!({"snapshotId": "snap-1", "encrypted": false}),
        ),
        "kms-key-not-pending-deletion" => (
            "AWS::KMS::Key",
            json!({"keyId": "k", "keyManager": "CUSTOMER", "keySpec": "SYMMETRIC_DEFAULT", "keyState": "PendingDeletion"}),
        ),
        "cloudtrail-cloudwatch-logs" => (
            "AWS::CloudTrail::Trail",
            json!({"name": "t", "logFileValidationEnabled": true, "isMultiRegionTrail": true, "includeGlobalServiceEvents": true, "kmsKeyId": KEY}),
        ),
        "config-recorder-all-resources" => (
            "AWS::Config::ConfigurationRecorder",
            json!({"Name": "default", "Recording": true, "RecordingGroup": {"AllSupported": false}}),
        ),
        "logs-kms-encryption" => ("AWS::Logs::LogGroup", json!({"logGroupName": "g"})),
        "sns-topic-delivery-logging" => (
            "AWS::SNS::Topic",
            json!({"TopicArn": "arn:aws:sns:us-east-1:111122223333:t", "KmsMasterKeyId": "alias/aws/sns"}),
        ),
        "cloudtrail-enabled" => ("AWS::::Account", json!({"ebsEncryptionByDefault": true})),
        "config-enabled" => ("AWS::::Account", json!({"ebsEncryptionByDefault": true})),
        other => panic!("no item for alert control `{other}`: add one here"),
    }
}

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001";

/// Run one engine at `level` over an item violating `control`, with a playbook for it
/// on the test action and an overlay that says `execute`. Returns the calls made and the
/// approval requests left pending.
async fn attempt(control: &str, level: u8, also_auto: bool) -> (Vec<String>, usize) {
    let (resource_type, configuration) = item(control);
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("rego");
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(
        overlay.join("allow.rego"),
        "package custos.gate_rules.allow\n\ndecisions contains {\"rule\": \"allow\", \"verdict\": \"execute\", \"message\": \"let it run\"} if true\n",
    )
    .unwrap();
    let mut target = control.to_string();
    if also_auto {
        // Liveness: an operator control of class `auto` on the same item and action.
        std::fs::write(
            overlay.join("same.rego"),
            format!("package custos.controls.same\n\nmetadata := {{\"id\": \"same-but-auto\", \"title\": \"t\", \"severity\": \"low\", \"resource_types\": [\"{resource_type}\"], \"frameworks\": {{}}, \"remediation\": \"try-same\", \"class\": \"auto\"}}\n\nviolations contains \"not fixed\" if not input.configuration.fixed\n"),
        )
        .unwrap();
        target = "same-but-auto".into();
    }
    let id = if also_auto { "try-same" } else { "try-alert" };
    std::fs::write(
        playbooks.join(format!("{id}.toml")),
        format!("id = \"{id}\"\nversion = \"1\"\ntitle = \"t\"\ncontrol = \"{target}\"\nresource_types = [\"{resource_type}\"]\naction = \"test:Anything\"\nkinds = [\"configure\"]\nrisk = \"low\"\nreversible = true\ndescription = \"d\"\n[parameters]\n[rollback]\ndescription = \"r\"\n[verification]\nmethod = \"control\"\ndescription = \"v\"\n"),
    )
    .unwrap();
    let config = common::config(&format!(
        "[autonomy]\ndefault = {level}\nceiling = 5\n[guard]\nrate_per_second = 1000\nrate_burst = 1000\n[policy]\noverlay = {overlay:?}\n[playbooks]\noverlay = {playbooks:?}\n[controls]\nkms_key = \"{KEY}\"\n"
    ));
    let world = Arc::new(World::default());
    let ci = ConfigurationItem::from_json(&json!({
        "configurationItemCaptureTime": chrono::Utc::now().to_rfc3339(),
        "configurationItemStatus": "OK",
        "awsAccountId": common::ACCOUNT, "awsRegion": common::REGION,
        "resourceType": resource_type, "resourceId": "r-1",
        "tags": {"environment": "dev"}, "configuration": configuration,
        "supplementaryConfiguration": supplementary(control),
    }))
    .unwrap();
    world.items.lock().unwrap().insert("r-1".into(), ci.clone());
    // Every shipped action and the test's own send their calls to the world.
    let mut executors: Vec<Arc<dyn Executor>> = custos_executor::offline_catalog()
        .actions()
        .map(|a| Arc::new(FakeExecutor::new(a, world.clone()).unwrap()) as Arc<dyn Executor>)
        .collect();
    executors.push(Arc::new(Anything {
        action: "test:Anything",
        types: Box::leak(
            vec![Box::leak(resource_type.to_string().into_boxed_str()) as &'static str]
                .into_boxed_slice(),
        ),
        world: world.clone(),
    }));
    let registry = Registry::new(executors);
    let bundle = PolicyBundle::load_layers(&config.policy_dirs(), config.policy_options()).unwrap();
    let playbooks = PlaybookSet::load_dirs(
        &config.playbook_dirs(),
        &registry.catalog(),
        &config.playbook_overrides,
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let engine = Engine::new(Parts {
        bundle,
        reasoning: custos_reasoning::Reasoning {
            offline: config.offline_rules.clone(),
            model: None,
            timeout: std::time::Duration::from_secs(10),
        },
        config,
        playbooks,
        registry,
        reader: Arc::new(Reader(world.clone())),
        ledger: Arc::new(custos_ledger::Ledger::open(&db).await.unwrap()),
        clock: Arc::new(custos_core::SystemClock),
        actor: "custos".into(),
    });
    engine
        .run_once(&Items::new("sqs:test", vec![ci]), Mode::Execute)
        .await
        .unwrap();
    let pending = engine
        .ledger()
        .approvals(Some(custos_core::ApprovalStatus::Pending))
        .await
        .unwrap()
        .len();
    let calls = world.calls.lock().unwrap().clone();
    // The alert control did fire on the item (read from the ledger's findings): a test
    // whose item drifted from what the Rego reads would otherwise prove nothing.
    let fired = engine
        .ledger()
        .events(&custos_ledger::EventFilter {
            kind_prefix: Some("finding".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .any(|e| e.payload["control_id"] == control);
    assert!(fired, "`{control}` raised no finding on its test item");
    (calls, pending)
}

async fn never_executes(control: &str) {
    for level in 1..=5 {
        let (calls, pending) = attempt(control, level, false).await;
        assert_eq!(
            calls,
            Vec::<String>::new(),
            "`{control}` executed at autonomy {level}"
        );
        assert_eq!(
            pending, 0,
            "`{control}` asked for an approval at autonomy {level}: an approval could make it execute"
        );
    }
    // Liveness: the same item, action and overlay with an `auto` control execute.
    // (KMS is a never-automated class: there the same set-up reaches an approval request,
    // which an approval would execute; the alert control reaches none.)
    let (calls, pending) = attempt(control, 5, true).await;
    let kms = item(control).0.starts_with("AWS::KMS::");
    assert!(
        calls == vec!["r-1".to_string()] || (kms && calls.is_empty() && pending == 1),
        "the set-up for `{control}` can execute nothing (calls {calls:?}, {pending} pending): the test would prove nothing"
    );
}

macro_rules! alert_tests {
    ($($name:ident => $control:literal),* $(,)?) => {
        const TESTED: &[&str] = &[$($control),*];
        $(
            #[tokio::test]
            async fn $name() {
                never_executes($control).await;
            }
        )*
    };
}

alert_tests! {
    ebs_volume_encryption_never_executes => "ec2-ebs-volume-encrypted",
    ebs_snapshot_encryption_never_executes => "ec2-ebs-snapshot-encrypted",
    kms_pending_deletion_never_executes => "kms-key-not-pending-deletion",
    cloudtrail_cloudwatch_logs_never_executes => "cloudtrail-cloudwatch-logs",
    config_recorder_scope_never_executes => "config-recorder-all-resources",
    log_group_kms_never_executes => "logs-kms-encryption",
    sns_delivery_logging_never_executes => "sns-topic-delivery-logging",
    cloudtrail_enabled_never_executes => "cloudtrail-enabled",
    config_enabled_never_executes => "config-enabled",
}

#[test]
fn every_shipped_alert_control_has_a_test_here() {
    let bundle = PolicyBundle::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rego"),
        Default::default(),
    )
    .unwrap();
    let shipped: Vec<&str> = bundle
        .controls()
        .iter()
        .filter(|c| c.class == RemediationClass::Alert)
        .map(|c| c.id.as_str())
        .collect();
    let mut tested = TESTED.to_vec();
    tested.sort_unstable();
    let mut shipped = shipped;
    shipped.sort_unstable();
    assert_eq!(tested, shipped);
}
