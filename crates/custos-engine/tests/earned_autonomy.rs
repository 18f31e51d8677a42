#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! Earned autonomy on LocalStack, through the engine with the shipped executors and
//! scanner (issue 26, acceptance 3): at autonomy 5, a playbook with no non-production
//! history waits for a person in production; after K verified non-production fixes it
//! executes there; one rollback in production lowers the level at once, recorded with
//! its evidence. The oracle is each bucket's public access block read straight from
//! LocalStack, never the engine's records (the level's event is checked for its
//! evidence after the behaviour is).

mod common;

use custos_ledger::EventFilter;
use custos_telemetry::aws::AwsPool;
use custos_testkit::{Fixture, has_public_access_block, make_bucket, sdk, tag_bucket};
use std::collections::BTreeMap;

const CONTROL: &str = "s3-public-access-block";
const UNPROVEN: &str = "gate.unproven_in_lower_environment";

#[tokio::test]
async fn production_waits_for_lower_environment_proof_and_a_production_rollback_lowers_the_level() {
    custos_testkit::require_localstack().await;
    let account = custos_testkit::unique_account();
    let sdk = sdk(&account);
    let s3 = custos_testkit::s3(&sdk);
    let name = |n: &str| format!("earn-{n}-{account}");
    let prod = |n: &str| {
        let b = name(n);
        let s3 = s3.clone();
        async move {
            make_bucket(&s3, &b, Fixture::NoPublicAccessBlock)
                .await
                .unwrap();
            tag_bucket(&s3, &b, &[("environment", "production")])
                .await
                .unwrap();
            b
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (e, reader) = common::engine_on(
        AwsPool::with_account(sdk.clone(), account.clone(), BTreeMap::new()),
        "[autonomy]\ndefault = 5\nadjust = \"auto\"\nlower_environment_proof = 2\n[guard]\nrate_per_second = 1000\nrate_burst = 1000\n",
        dir.path(),
    )
    .await;

    // 1. No history outside production: at autonomy 5 the production bucket waits.
    let a = prod("a").await;
    let rows = common::run_read(&e, &reader, &[common::s3_bucket(&account, &a)], CONTROL).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(rows[0].approval_id.is_some(), "{rows:#?}");
    assert!(
        rows[0].reasons.iter().any(|r| r.contains(UNPROVEN)),
        "{rows:#?}"
    );
    assert!(!has_public_access_block(&s3, &a).await);

    // 2. One verified fix in development is not yet the proof (K = 2) ...
    let d1 = name("d1");
    make_bucket(&s3, &d1, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    common::run_read(&e, &reader, &[common::s3_bucket(&account, &d1)], CONTROL).await;
    assert!(has_public_access_block(&s3, &d1).await);
    let b = prod("b").await;
    common::run_read(&e, &reader, &[common::s3_bucket(&account, &b)], CONTROL).await;
    assert!(!has_public_access_block(&s3, &b).await);

    // ... two are: the next production bucket is fixed within its level.
    let d2 = name("d2");
    make_bucket(&s3, &d2, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    common::run_read(&e, &reader, &[common::s3_bucket(&account, &d2)], CONTROL).await;
    assert!(has_public_access_block(&s3, &d2).await);
    let c = prod("c").await;
    let rows = common::run_read(&e, &reader, &[common::s3_bucket(&account, &c)], CONTROL).await;
    assert!(has_public_access_block(&s3, &c).await, "{rows:#?}");
    let fix = rows[0].action_id.clone().expect("the fix's action");

    // 3. One rollback in production lowers production's level at once. The rollback
    // also voids the playbook's proof; development keeps its level (nothing went wrong
    // there) and proves the playbook again, yet the next production bucket still waits:
    // for its lowered level, not for the proof.
    e.rollback(&fix, &common::operator_olga()).await.unwrap();
    assert!(!has_public_access_block(&s3, &c).await);
    for n in ["d3", "d4"] {
        let d = name(n);
        make_bucket(&s3, &d, Fixture::NoPublicAccessBlock)
            .await
            .unwrap();
        common::run_read(&e, &reader, &[common::s3_bucket(&account, &d)], CONTROL).await;
        assert!(has_public_access_block(&s3, &d).await, "{n}");
    }
    let d = prod("d").await;
    let rows = common::run_read(&e, &reader, &[common::s3_bucket(&account, &d)], CONTROL).await;
    assert!(!has_public_access_block(&s3, &d).await, "{rows:#?}");
    assert!(
        rows[0]
            .reasons
            .iter()
            .any(|r| r.contains("autonomy.auto-lower"))
            && !rows[0].reasons.iter().any(|r| r.contains(UNPROVEN)),
        "{rows:#?}"
    );
    // The level's record names what lowered it.
    let set: Vec<_> = e
        .ledger()
        .events(&EventFilter {
            kind_prefix: Some("autonomy.set".into()),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(set.len(), 1, "{set:#?}");
    let p = &set[0].payload;
    assert_eq!(p["by"], "custos:learner");
    assert_eq!(
        (p["class"].as_str(), p["level"].as_u64()),
        (Some("s3"), Some(4))
    );
    assert_eq!(p["environment"], "production");
    let reason = p["reason"].as_str().unwrap();
    assert!(
        reason.contains(&fix) && reason.contains("reverted"),
        "{reason}"
    );
}
