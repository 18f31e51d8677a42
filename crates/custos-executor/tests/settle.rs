#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! RDS answers `ModifyDBInstance` before the change lands: the instance goes `modifying`
//! (public access) or holds the value under `pendingModifiedValues` (backup retention)
//! until it does. No emulator behaves so (moto applies a modification at once; LocalStack's
//! community edition has no RDS), so here the RDS API is played by `aws-smithy-mocks` in
//! `DescribeDBInstances`' own shapes, under custos' real scanner, executor and contract.
//! The oracle is the mock's own count of requests: how often the instance was read, and
//! that nothing was sent to undo a change still landing.

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
use aws_sdk_rds::types::{DbInstance, PendingModifiedValues};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, mock};
use custos_core::{ActionOutcome, ConfigurationItem, ExecutionRecord, Finding, ResourceRef};
use custos_executor::contract::{
    Intent, IntentDecision, Journal, SatisfiedVerifier, Settle, execute,
};
use custos_executor::{PlaybookSet, Registry};
use custos_telemetry::aws::AwsPool;
use custos_telemetry::{Inventory, ResourceReader};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const ACCOUNT: &str = "111122223333";
const ID: &str = "db-ABCDEFGHIJKLMNOPQRSTUVWXY";

/// The instance as `DescribeDBInstances` shows it.
fn db(status: &str, public: bool, retention: i32, pending_retention: Option<i32>) -> DbInstance {
    let mut b = DbInstance::builder()
        .db_instance_identifier("orders")
        .dbi_resource_id(ID)
        .db_instance_arn(format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders"))
        .db_instance_status(status)
        .engine("postgres")
        .publicly_accessible(public)
        .backup_retention_period(retention);
    if let Some(days) = pending_retention {
        b = b.pending_modified_values(
            PendingModifiedValues::builder()
                .backup_retention_period(days)
                .build(),
        );
    }
    b.build()
}

/// `DescribeDBInstances` answering `states` in turn, the last one from then on.
fn describe(mut states: Vec<DbInstance>) -> Rule {
    let answer = |s: DbInstance| {
        move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(s.clone())
                .build()
        }
    };
    let last = states.pop().unwrap();
    let mut seq = mock!(Client::describe_db_instances).sequence();
    for s in states {
        seq = seq.output(answer(s));
    }
    seq.output(answer(last)).repeatedly().build()
}

#[derive(Default)]
struct Log(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl Journal for Log {
    async fn intent(&self, _: &Intent) -> Result<IntentDecision, String> {
        Ok(IntentDecision::Written)
    }
    async fn may_call(&self) -> Result<(), String> {
        Ok(())
    }
    async fn outcome(&self, r: &ExecutionRecord) -> Result<(), String> {
        self.0.lock().unwrap().push(r.outcome.to_string());
        Ok(())
    }
}

/// Fix `control` on the instance RDS plays from `states` (the first is what the fix is
/// decided on); returns the record and the mock's rules (describe, modify).
async fn fix(
    control: &str,
    states: Vec<DbInstance>,
    settle: Settle,
) -> (ExecutionRecord, Rule, Rule) {
    let describe = describe(states);
    let modify =
        mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build());
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_rds::config::SharedCredentialsProvider::new(
            aws_sdk_rds::config::Credentials::for_tests(),
        ))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .build();
    let pool = Arc::new(
        AwsPool::with_account(sdk, ACCOUNT.into(), BTreeMap::new()).with_interceptor(
            MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(&describe)
                .with_rule(&modify),
        ),
    );
    let registry = Registry::new(custos_executor::all_executors(pool.clone()));
    let reader = Inventory::new(pool, &[], 1);
    let r = ResourceRef {
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        resource_type: "AWS::RDS::DBInstance".into(),
        resource_id: ID.into(),
    };
    let before: ConfigurationItem = reader.read(&r).await.unwrap().unwrap();
    let playbooks = PlaybookSet::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks"),
        &registry.catalog(),
        &BTreeMap::new(),
    )
    .unwrap();
    let pb = playbooks.baseline(control).unwrap();
    let finding = Finding {
        control_id: control.into(),
        title: String::new(),
        severity: custos_core::Severity::High,
        resource: r.clone(),
        frameworks: BTreeMap::new(),
        message: String::new(),
        remediation: Some(pb.id.clone()),
        guidance: None,
        terraform: None,
    };
    let dev = custos_core::Environments::default().classify("dev");
    let plan = playbooks
        .plan(&registry.catalog(), &finding, &before, &dev)
        .unwrap();
    let ex = registry.get(&pb.action).unwrap().clone();
    let record = execute(
        ex.as_ref(),
        &reader,
        &SatisfiedVerifier(ex.as_ref()),
        &Log::default(),
        &plan,
        &before,
        &plan.before_digest,
        "a1",
        &settle,
    )
    .await
    .unwrap();
    (record, describe, modify)
}

const QUICK: Settle = Settle {
    reads: 5,
    every: Duration::from_millis(1),
};

#[tokio::test]
async fn public_access_is_verified_once_the_modification_lands() {
    let (rec, describe, modify) = fix(
        "rds-instance-public-access",
        vec![
            db("available", true, 7, None),
            db("modifying", true, 7, None),
            db("modifying", true, 7, None),
            db("available", false, 7, None),
        ],
        QUICK,
    )
    .await;
    assert_eq!(rec.outcome, ActionOutcome::Executed, "{rec:#?}");
    // Read to decide, then after the call: twice `modifying`, once landed.
    assert_eq!((describe.num_calls(), modify.num_calls()), (4, 1));
}

#[tokio::test]
async fn a_pending_retention_is_waited_for() {
    let (rec, describe, modify) = fix(
        "rds-backup-retention",
        vec![
            db("available", false, 1, None),
            db("available", false, 1, Some(7)),
            db("available", false, 7, None),
        ],
        QUICK,
    )
    .await;
    assert_eq!(rec.outcome, ActionOutcome::Executed, "{rec:#?}");
    assert_eq!((describe.num_calls(), modify.num_calls()), (3, 1));
}

#[tokio::test]
async fn a_modification_that_never_lands_in_the_wait_is_neither_verified_nor_undone() {
    let (rec, describe, modify) = fix(
        "rds-instance-public-access",
        vec![
            db("available", true, 7, None),
            db("modifying", true, 7, None),
        ],
        QUICK,
    )
    .await;
    assert_eq!(rec.outcome, ActionOutcome::Failed, "{rec:#?}");
    let error = rec.error.clone().unwrap();
    assert!(
        error.contains("still applying a change (instance status `modifying`)")
            && error.contains("not restored"),
        "{error}"
    );
    // Read to decide, once after the call and five more times; one request only: the
    // change still landing was not undone.
    assert_eq!((describe.num_calls(), modify.num_calls()), (7, 1));
}
