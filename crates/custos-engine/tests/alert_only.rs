#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! Alert-only controls never execute: one test per shipped `alert` control, at every
//! autonomy level, with everything an operator could add to make it execute: a playbook
//! for it (which `custos policy check` refuses, and this test adds behind its back), an
//! overlay gate rule that says `execute`, and an always-approve list left empty.
//!
//! The oracle is the fake cloud's record of calls (every shipped action and the test's
//! own go to it), never the engine's verdict. Liveness: the same set-up with a control
//! of class `auto` on the same resource and action executes, so "no call" is a finding
//! (identity resources, which the floor never lets custos change: on a network interface).

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
    /// What a (non-restoring) call does to the resource, when a test says.
    effect: Mutex<Option<fn(&mut ConfigurationItem)>>,
}

#[async_trait]
impl FakeCloud for World {
    async fn call(
        &self,
        r: &ResourceRef,
        restore: Option<&Value>,
    ) -> Result<Vec<String>, ExecError> {
        self.calls.lock().unwrap().push(r.resource_id.clone());
        if restore.is_none()
            && let Some(effect) = *self.effect.lock().unwrap()
            && let Some(item) = self.items.lock().unwrap().get_mut(&r.resource_id)
        {
            effect(item);
        }
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
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _params: &Value,
        _before: &Value,
    ) -> Vec<custos_executor::CliRequest> {
        vec![custos_executor::CliRequest::new(
            "test",
            "fix",
            json!({"Id": ci.resource_id}),
        )]
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
        "rds-snapshot-encrypted" => {
            json!({"DBSnapshotAttributes": [{"attributeName": "restore", "attributeValues": []}]})
        }
        "iam-user-console-mfa" => {
            json!({"Credentials": {"passwordEnabled": true, "mfaActive": false, "accessKeys": []}})
        }
        "iam-access-key-rotation" => {
            json!({"Credentials": {"passwordEnabled": false, "mfaActive": false, "accessKeys": [
                {"accessKeyId": "AKIAOLD", "status": "Active", "createDate": days_ago(200), "lastUsedDate": days_ago(1)}
            ]}})
        }
        "iam-access-key-unused" => {
            json!({"Credentials": {"passwordEnabled": false, "mfaActive": false, "accessKeys": [
                {"accessKeyId": "AKIAOLD", "status": "Active", "createDate": days_ago(200), "lastUsedDate": days_ago(120)}
            ]}})
        }
        "iam-user-no-attached-policies" => {
            json!({"Credentials": {"passwordEnabled": false, "mfaActive": false, "accessKeys": []}})
        }
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
        "rds-storage-encrypted" => (
            "AWS::RDS::DBInstance",
            database(&[("storageEncrypted", false)]),
        ),
        "rds-multi-az" => ("AWS::RDS::DBInstance", database(&[("multiAZ", false)])),
        "rds-iam-authentication" => (
            "AWS::RDS::DBInstance",
            database(&[("iAMDatabaseAuthenticationEnabled", false)]),
        ),
        "rds-snapshot-encrypted" => (
            "AWS::RDS::DBSnapshot",
            json!({"dBSnapshotIdentifier": "s", "snapshotType": "manual", "encrypted": false}),
        ),
        "iam-user-console-mfa" | "iam-access-key-rotation" => (
            "AWS::IAM::User",
            json!({"userName": "u", "attachedManagedPolicies": [], "userPolicyList": [], "groupList": []}),
        ),
        "iam-user-no-attached-policies" => (
            "AWS::IAM::User",
            json!({"userName": "u", "attachedManagedPolicies": [{"policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "policyName": "ReadOnlyAccess"}], "userPolicyList": [], "groupList": []}),
        ),
        "iam-policy-no-admin" => (
            "AWS::IAM::Policy",
            json!({"policyName": "p", "attachmentCount": 1, "defaultVersionId": "v1", "policyVersionList": [
                {"versionId": "v1", "isDefaultVersion": true, "document": "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"}
            ]}),
        ),
        "iam-root-access-keys" => ("Custos::IAM::Account", iam_account(1, 1)),
        "iam-password-policy" => {
            let mut a = iam_account(1, 0);
            a["PasswordPolicy"] = Value::Null;
            ("Custos::IAM::Account", a)
        }
        "iam-access-key-unused" => (
            "AWS::IAM::User",
            json!({"userName": "u", "attachedManagedPolicies": [], "userPolicyList": [], "groupList": []}),
        ),
        "iam-root-mfa" => ("Custos::IAM::Account", iam_account(0, 0)),
        "acm-certificate-expiry" => (
            "AWS::ACM::Certificate",
            json!({"certificateArn": "r-1", "type": "IMPORTED", "status": "ISSUED", "keyAlgorithm": "RSA_2048", "notAfter": days_ago(-5), "inUseBy": []}),
        ),
        "acm-rsa-key-length" => (
            "AWS::ACM::Certificate",
            json!({"certificateArn": "r-1", "type": "AMAZON_ISSUED", "status": "ISSUED", "keyAlgorithm": "RSA_1024", "notAfter": days_ago(-300), "inUseBy": []}),
        ),
        other => panic!("no item for alert control `{other}`: add one here"),
    }
}

/// RFC 3339 time `days` before now (negative: after).
fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A DB instance compliant with every RDS control but for `unset`.
fn database(unset: &[(&str, bool)]) -> Value {
    let mut db = json!({"dBInstanceIdentifier": "db", "engine": "postgres", "publiclyAccessible": false, "storageEncrypted": true, "backupRetentionPeriod": 7, "deletionProtection": true, "autoMinorVersionUpgrade": true, "multiAZ": true, "iAMDatabaseAuthenticationEnabled": true, "copyTagsToSnapshot": true});
    for (k, v) in unset {
        db[*k] = json!(v);
    }
    db
}

/// IAM's account settings with a strong password policy.
fn iam_account(mfa: i64, keys: i64) -> Value {
    json!({
        "AccountSummary": {"AccountMFAEnabled": mfa, "AccountAccessKeysPresent": keys},
        "PasswordPolicy": {"MinimumPasswordLength": 14, "RequireSymbols": true, "RequireNumbers": true, "RequireUppercaseCharacters": true, "RequireLowercaseCharacters": true, "AllowUsersToChangePassword": true, "ExpirePasswords": false, "PasswordReusePrevention": 24},
        "Unread": []
    })
}

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001";

/// Run one engine at `level` over an item violating `control`, with a playbook for it
/// on the test action and an overlay that says `execute`. Returns the calls made and the
/// approval requests left pending.
/// What the attempt adds to the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Try {
    /// A playbook for the alert control, slipped in behind `custos policy check`.
    SlippedIn,
    /// An `auto` control of the operator's on the same item and action (liveness).
    Auto,
    /// The same as `Auto` on an item of another resource type (liveness where the
    /// floor denies every change to the item's class: identity).
    AutoOn(&'static str),
}

async fn attempt(control: &str, level: u8, how: Try) -> (Vec<String>, usize) {
    let (engine, world, _dir) = run(control, level, how).await;
    let pending = pending_of(&engine).await.len();
    let calls = world.calls.lock().unwrap().clone();
    (calls, pending)
}

/// The engine after one run over the item, with its fake cloud (and the directory its
/// ledger lives in).
async fn run(control: &str, level: u8, how: Try) -> (Engine, Arc<World>, tempfile::TempDir) {
    let also_auto = matches!(how, Try::Auto | Try::AutoOn(_));
    let (mut resource_type, configuration) = item(control);
    if let Try::AutoOn(other) = how {
        resource_type = other;
    }
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
        .any(|e| e.payload["control_id"] == target);
    assert!(fired, "`{target}` raised no finding on its test item");
    (engine, world, dir)
}

async fn never_executes(control: &str) {
    for level in 1..=5 {
        let (calls, pending) = attempt(control, level, Try::SlippedIn).await;
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
    // KMS is a never-automated class: there the same set-up reaches an approval request,
    // which an approval would execute; the alert control reaches none. Identity is denied
    // by the floor whatever the control: there the operator's `auto` control calls nothing
    // and asks no one, and the same set-up on a network interface (no shipped control) executes.
    let (calls, pending) = attempt(control, 5, Try::Auto).await;
    let kind = item(control).0;
    if kind.starts_with("AWS::IAM::") || kind.starts_with("Custos::IAM::") {
        assert_eq!(
            (calls, pending),
            (Vec::<String>::new(), 0),
            "an operator's `auto` control changed or asked about identity resource `{kind}`"
        );
        // A plan was made and the floor's identity rule refused it (not, say, no plan).
        let (engine, _world, _dir) = run(control, 5, Try::Auto).await;
        let denied = engine
            .ledger()
            .events(&custos_ledger::EventFilter {
                kind_prefix: Some("decision".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .iter()
            .any(|e| e.payload.to_string().contains("floor.identity"));
        assert!(denied, "no `floor.identity` denial for `{control}`");
        let (calls, _) = attempt(control, 5, Try::AutoOn("AWS::EC2::NetworkInterface")).await;
        assert_eq!(
            calls,
            vec!["r-1".to_string()],
            "the set-up for `{control}` can execute nothing: the test would prove nothing"
        );
    } else {
        let kms = kind.starts_with("AWS::KMS::");
        assert!(
            calls == vec!["r-1".to_string()] || (kms && calls.is_empty() && pending == 1),
            "the set-up for `{control}` can execute nothing (calls {calls:?}, {pending} pending): the test would prove nothing"
        );
    }
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
    rds_storage_encryption_never_executes => "rds-storage-encrypted",
    rds_multi_az_never_executes => "rds-multi-az",
    rds_iam_authentication_never_executes => "rds-iam-authentication",
    rds_snapshot_encryption_never_executes => "rds-snapshot-encrypted",
    iam_user_console_mfa_never_executes => "iam-user-console-mfa",
    iam_access_key_rotation_never_executes => "iam-access-key-rotation",
    iam_user_policies_never_executes => "iam-user-no-attached-policies",
    iam_admin_policy_never_executes => "iam-policy-no-admin",
    iam_root_access_keys_never_executes => "iam-root-access-keys",
    iam_root_mfa_never_executes => "iam-root-mfa",
    iam_access_key_unused_never_executes => "iam-access-key-unused",
    iam_password_policy_never_executes => "iam-password-policy",
    acm_certificate_expiry_never_executes => "acm-certificate-expiry",
    acm_rsa_key_length_never_executes => "acm-rsa-key-length",
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

/// The approval requests waiting.
async fn pending_of(engine: &Engine) -> Vec<custos_core::Approval> {
    engine
        .ledger()
        .approvals(Some(custos_core::ApprovalStatus::Pending))
        .await
        .unwrap()
}
