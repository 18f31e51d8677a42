#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The shared executor contract, run for every executor against LocalStack:
//! before/after recorded, intent written before the call, idempotent on re-run, stale
//! plans refused, and rollback restores the before state (read back from the bucket).

use async_trait::async_trait;
use custos_core::{ActionOutcome, ConfigurationItem, ExecutionRecord, ResourceRef};
use custos_executor::contract::SatisfiedVerifier;
use custos_executor::{Executor, Intent, Journal, PlaybookSet, Registry, execute, rollback};
use custos_telemetry::{ResourceReader, S3Scanner};
use custos_testkit::{Fixture, make_bucket, require_localstack, s3, sdk, unique_account};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct MemJournal {
    log: Mutex<Vec<String>>,
}

#[async_trait]
impl Journal for MemJournal {
    async fn intent(&self, i: &Intent) -> Result<(), String> {
        self.log
            .lock()
            .unwrap()
            .push(format!("intent {}", i.action_id));
        Ok(())
    }
    async fn outcome(&self, r: &ExecutionRecord) -> Result<(), String> {
        self.log
            .lock()
            .unwrap()
            .push(format!("outcome {} {}", r.action_id, r.outcome));
        Ok(())
    }
}

struct Case {
    control: &'static str,
    fixture: Fixture,
    exact_rollback: bool,
}

const CASES: [Case; 3] = [
    Case {
        control: "s3-public-access-block",
        fixture: Fixture::NoPublicAccessBlock,
        exact_rollback: true,
    },
    Case {
        control: "s3-default-encryption",
        fixture: Fixture::NoEncryption,
        exact_rollback: true,
    },
    Case {
        control: "s3-versioning",
        fixture: Fixture::VersioningOff,
        exact_rollback: false,
    },
];

async fn read(scanner: &S3Scanner, bucket: &str) -> ConfigurationItem {
    let r = ResourceRef {
        account: scanner.account().into(),
        region: "us-east-1".into(),
        resource_type: "AWS::S3::Bucket".into(),
        resource_id: bucket.into(),
    };
    scanner.read(&r).await.unwrap().unwrap()
}

async fn contract(case: &Case) {
    require_localstack().await;
    let account = unique_account();
    let sdk = sdk(&account);
    let client = s3(&sdk);
    let bucket = format!("c{account}-{}", case.fixture.suffix());
    make_bucket(&client, &bucket, case.fixture).await.unwrap();

    let registry = Registry::new(custos_executor::s3::executors(&sdk));
    let playbooks = PlaybookSet::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks"),
        &registry,
        &BTreeMap::new(),
    )
    .unwrap();
    let scanner = S3Scanner::new(sdk.clone(), 2).await.unwrap();
    assert_eq!(scanner.account(), account);
    let pb = playbooks.for_control(case.control).unwrap();
    let ex: Arc<dyn Executor> = registry.get(&pb.action).unwrap().clone();

    let before_ci = read(&scanner, &bucket).await;
    let finding = custos_core::Finding {
        control_id: case.control.into(),
        title: String::new(),
        severity: custos_core::Severity::High,
        resource: before_ci.resource_ref(),
        frameworks: BTreeMap::new(),
        message: String::new(),
        remediation: Some(pb.id.clone()),
    };
    let plan = playbooks
        .plan(&registry, &finding, &before_ci, "dev")
        .unwrap();
    let journal = MemJournal::default();
    let verifier = SatisfiedVerifier(ex.as_ref());

    // First execution: changes the bucket, records before and after, intent first.
    let rec = execute(ex.as_ref(), &scanner, &verifier, &journal, &plan, "a1")
        .await
        .unwrap();
    assert_eq!(rec.outcome, ActionOutcome::Executed, "{rec:#?}");
    assert_eq!(rec.calls, vec![pb.action.clone()]);
    assert_eq!(rec.before, plan.before);
    assert_ne!(rec.after.as_ref().unwrap()["facet"], rec.before["facet"]);
    assert_eq!(
        rec.after.as_ref().unwrap()["facet"],
        plan.desired["facet"],
        "the state read back is the planned one"
    );
    assert!(rec.verification.as_ref().unwrap().passed);
    assert!(!rec.rollback.is_empty());
    assert_eq!(
        *journal.log.lock().unwrap(),
        vec!["intent a1".to_string(), "outcome a1 executed".to_string()]
    );

    // Re-running the same plan changes nothing: a no-op without an intent or a call.
    let again = execute(ex.as_ref(), &scanner, &verifier, &journal, &plan, "a2")
        .await
        .unwrap();
    assert_eq!(again.outcome, ActionOutcome::NoOp);
    assert!(again.calls.is_empty());
    assert_eq!(
        journal.log.lock().unwrap().last().unwrap(),
        "outcome a2 no_op"
    );
    assert!(
        !journal
            .log
            .lock()
            .unwrap()
            .contains(&"intent a2".to_string())
    );

    // Rollback restores the before state, checked by reading the bucket back.
    let rb = rollback(ex.as_ref(), &scanner, &plan, &rec).await.unwrap();
    let now = ex.facet(&read(&scanner, &bucket).await);
    assert_eq!(rb.restored, now);
    if case.exact_rollback {
        assert!(rb.exact, "{rb:#?}");
        assert_eq!(now, rec.before["facet"]);
    } else {
        // Versioning cannot go back to never-enabled; the record says so up front.
        assert!(!rb.exact);
        assert!(rec.rollback.iter().all(|s| !s.exact));
        assert_eq!(now["status"], "Suspended");
    }

    // A plan whose resource changed since it was made is refused without a call.
    client
        .put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("custos:exclude")
                        .value("true")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let changed_ci = read(&scanner, &bucket).await;
    if !ex.satisfied(&ex.facet(&changed_ci), &plan.parameters) {
        let stale = execute(ex.as_ref(), &scanner, &verifier, &journal, &plan, "a3")
            .await
            .unwrap();
        assert_eq!(stale.outcome, ActionOutcome::Stale, "{stale:#?}");
        assert!(stale.calls.is_empty());
        assert!(
            !journal
                .log
                .lock()
                .unwrap()
                .contains(&"intent a3".to_string())
        );
    }
}

#[tokio::test]
async fn public_access_block_executor_meets_the_contract() {
    contract(&CASES[0]).await;
}

#[tokio::test]
async fn default_encryption_executor_meets_the_contract() {
    contract(&CASES[1]).await;
}

#[tokio::test]
async fn versioning_executor_meets_the_contract() {
    contract(&CASES[2]).await;
}

#[test]
fn every_registered_executor_has_a_contract_case() {
    let registry = Registry::new(custos_executor::s3::executors_for_tests());
    let playbooks = PlaybookSet::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks"),
        &registry,
        &BTreeMap::new(),
    )
    .unwrap();
    let covered: Vec<&str> = CASES
        .iter()
        .map(|c| playbooks.for_control(c.control).unwrap().action.as_str())
        .collect();
    for action in registry.actions() {
        assert!(
            covered.contains(&action),
            "executor `{action}` has no contract case"
        );
    }
}
