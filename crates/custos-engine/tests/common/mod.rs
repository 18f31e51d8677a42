//! What the engine's integration tests share: an engine whose public access block action
//! calls a fake cloud the test keeps, and S3 bucket items in AWS Config's shape.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use custos_core::ConfigurationItem;
use custos_engine::{Config, Engine, Parts};
use custos_executor::fake::{FakeCloud, FakeExecutor};
use custos_executor::{Executor, PlaybookSet, Registry};
use custos_ledger::Ledger;
use custos_policy::PolicyBundle;
use custos_telemetry::ResourceReader;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";
pub const PAB: &str = "s3:PutPublicAccessBlock";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A configuration from TOML text, validated as `custos.toml` is.
pub fn config(text: &str) -> Config {
    let raw: custos_engine::config::RawConfig = toml::from_str(text).unwrap();
    Config::validate(raw, None, &root()).unwrap()
}

/// An engine on the ledger at `db`: shipped policy and playbooks, the shipped actions
/// but the public access block, whose calls go to `cloud`; resources read by `reader`.
pub async fn engine(
    config: Config,
    cloud: Arc<dyn FakeCloud>,
    reader: Arc<dyn ResourceReader>,
    db: &str,
) -> Engine {
    let executors: Vec<Arc<dyn Executor>> = custos_executor::executors_for_tests()
        .into_iter()
        .map(|spec| -> Arc<dyn Executor> {
            if spec.action() == PAB {
                Arc::new(FakeExecutor::new(PAB, cloud.clone()).unwrap())
            } else {
                spec
            }
        })
        .collect();
    engine_with(config, Registry::new(executors), reader, db).await
}

/// An engine on the ledger at `db` with the shipped policy and playbooks over `registry`.
pub async fn engine_with(
    config: Config,
    registry: Registry,
    reader: Arc<dyn ResourceReader>,
    db: &str,
) -> Engine {
    engine_at(
        config,
        registry,
        reader,
        db,
        Arc::new(custos_core::SystemClock),
    )
    .await
}

/// [`engine_with`] on `clock` (the ledger's clock too).
pub async fn engine_at(
    config: Config,
    registry: Registry,
    reader: Arc<dyn ResourceReader>,
    db: &str,
    clock: Arc<dyn custos_core::Clock>,
) -> Engine {
    let bundle = PolicyBundle::load_layers(&config.policy_dirs(), config.policy_options()).unwrap();
    let playbooks = PlaybookSet::load_dirs(
        &config.playbook_dirs(),
        &registry.catalog(),
        &config.playbook_overrides,
    )
    .unwrap();
    Engine::new(Parts {
        bundle,
        reasoning: custos_reasoning::Reasoning {
            offline: config.offline_rules.clone(),
            model: None,
            timeout: std::time::Duration::from_secs(10),
        },
        config,
        playbooks,
        registry,
        reader,
        ledger: Arc::new(Ledger::open_with_clock(db, clock.clone()).await.unwrap()),
        clock,
        actor: "custos".into(),
    })
}

/// An engine with the shipped executors and scanner on `pool` (an emulator's account),
/// its ledger in `dir`: the engine and the reader it reads with.
pub async fn engine_on(
    pool: custos_telemetry::aws::AwsPool,
    config: &str,
    dir: &Path,
) -> (Engine, Arc<custos_telemetry::Inventory>) {
    engine_on_at(pool, config, dir, Arc::new(custos_core::SystemClock)).await
}

/// [`engine_on`] on `clock` (the ledger's clock too).
pub async fn engine_on_at(
    pool: custos_telemetry::aws::AwsPool,
    config: &str,
    dir: &Path,
    clock: Arc<dyn custos_core::Clock>,
) -> (Engine, Arc<custos_telemetry::Inventory>) {
    let pool = Arc::new(pool);
    let reader = Arc::new(custos_telemetry::Inventory::new(pool.clone(), &[], 2));
    let db = format!("sqlite://{}", dir.join("l.db").display());
    let e = engine_at(
        self::config(config),
        Registry::new(custos_executor::all_executors(pool)),
        reader.clone(),
        &db,
        clock,
    )
    .await;
    (e, reader)
}

/// A Config item as AWS Config records an S3 bucket: encrypted, versioned, its public
/// access blocked or not, tagged `environment`.
pub fn bucket_item(bucket: &str, blocked: bool, environment: &str) -> ConfigurationItem {
    let mut supp = json!({
        "ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        "BucketVersioningConfiguration": {"status": "Enabled"},
    });
    if blocked {
        supp["PublicAccessBlockConfiguration"] = json!({"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true, "restrictPublicBuckets": true});
    }
    ConfigurationItem::from_json(&json!({
        "configurationItemCaptureTime": chrono::Utc::now().to_rfc3339(),
        "configurationItemStatus": "OK",
        "awsAccountId": ACCOUNT, "awsRegion": REGION,
        "resourceType": "AWS::S3::Bucket", "resourceId": bucket, "resourceName": bucket,
        "ARN": format!("arn:aws:s3:::{bucket}"),
        "tags": {"environment": environment}, "supplementaryConfiguration": supp,
    }))
    .unwrap()
}

/// A reviewer signed in with a token.
pub fn reviewer(name: &str) -> custos_core::Principal {
    custos_core::Principal {
        name: name.into(),
        roles: [custos_core::Role::Reviewer].into_iter().collect(),
        via: custos_core::AuthMethod::Token {
            token_id: format!("tok-{name}"),
        },
    }
}

/// Run once over `items`; the approval requests then pending.
pub async fn run_then_pending(
    e: &Engine,
    items: Vec<ConfigurationItem>,
) -> Vec<custos_core::Approval> {
    e.run_once(
        &custos_telemetry::memory::Items::new("sqs:test", items),
        custos_engine::Mode::Execute,
    )
    .await
    .unwrap();
    e.ledger()
        .approvals(Some(custos_core::ApprovalStatus::Pending))
        .await
        .unwrap()
}

/// An S3 bucket of `account` in us-east-1.
pub fn s3_bucket(account: &str, name: &str) -> custos_core::ResourceRef {
    custos_core::ResourceRef {
        account: account.into(),
        region: "us-east-1".into(),
        resource_type: "AWS::S3::Bucket".into(),
        resource_id: name.into(),
    }
}

/// Run once over `resources` as `reader` reads them now; the rows of `control`.
pub async fn run_read(
    e: &Engine,
    reader: &custos_telemetry::Inventory,
    resources: &[custos_core::ResourceRef],
    control: &str,
) -> Vec<custos_engine::RunRow> {
    let mut items: Vec<ConfigurationItem> = Vec::new();
    for r in resources {
        items.push(reader.read(r).await.unwrap().unwrap());
    }
    let report = e
        .run_once(
            &custos_telemetry::memory::Items::new("sqs:test", items),
            custos_engine::Mode::Execute,
        )
        .await
        .unwrap();
    report
        .rows
        .into_iter()
        .filter(|r| r.control == control)
        .collect()
}

/// An operator (who may roll back), by token.
pub fn operator_olga() -> custos_core::Principal {
    custos_core::Principal {
        name: "olga".into(),
        roles: [custos_core::Role::Operator].into_iter().collect(),
        via: custos_core::AuthMethod::Token {
            token_id: "tok-olga".into(),
        },
    }
}
