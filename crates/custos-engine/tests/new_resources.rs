#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! The new-resource grace period on LocalStack (issue 26, scope 5): a pipeline tags and
//! configures a resource right after creating it, so with `[gate]
//! new_resource_grace_minutes = 60` a bucket AWS Config reports as just created (its
//! item as the shipped scanner reads it, with `resourceCreationTime` as Config's
//! notification carries it) is not fixed, even at autonomy 5, and the decision gives
//! the person the guided fix; once the period has passed (the engine's clock moved 61
//! minutes on) the next notification is fixed. The oracle is the bucket's public access
//! block read back from LocalStack.

mod common;

use custos_core::ManualClock;
use custos_engine::Mode;
use custos_telemetry::Inventory;
use custos_telemetry::ResourceReader;
use custos_telemetry::aws::AwsPool;
use custos_telemetry::memory::Items;
use custos_testkit::{Fixture, has_public_access_block, make_bucket, sdk};
use std::collections::BTreeMap;
use std::sync::Arc;

const CONTROL: &str = "s3-public-access-block";

#[tokio::test]
async fn a_new_bucket_is_left_alone_until_its_grace_period_ends() {
    custos_testkit::require_localstack().await;
    let account = custos_testkit::unique_account();
    let sdk = sdk(&account);
    let s3 = custos_testkit::s3(&sdk);
    let bucket = format!("fresh-{account}");
    make_bucket(&s3, &bucket, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let pool = || AwsPool::with_account(sdk.clone(), account.clone(), BTreeMap::new());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let dir = tempfile::tempdir().unwrap();
    let (e, _) = common::engine_on_at(
        pool(),
        "[autonomy]\ndefault = 5\nlower_environment_proof = 0\n[gate]\nnew_resource_grace_minutes = 60\n[guard]\nrate_per_second = 1000\nrate_burst = 1000\n",
        dir.path(),
        clock.clone(),
    )
    .await;
    // Config's notification of the bucket: the item as read now, created when the test
    // made it.
    let reader = Inventory::new(Arc::new(pool()), &[], 2);
    let created = chrono::Utc::now() - chrono::Duration::seconds(5);
    let notice = || async {
        let mut ci = reader
            .read(&common::s3_bucket(&account, &bucket))
            .await
            .unwrap()
            .unwrap();
        ci.resource_creation_time = Some(created);
        Items::new("sqs:config", vec![ci])
    };
    let rows_of = |report: custos_engine::RunReport| -> Vec<custos_engine::RunRow> {
        report
            .rows
            .into_iter()
            .filter(|r| r.control == CONTROL && r.resource.resource_id == bucket)
            .collect()
    };

    // 1. Just created: deferred, no request, the guided fix given; the bucket untouched.
    let rows = rows_of(e.run_once(&notice().await, Mode::Execute).await.unwrap());
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = &rows[0];
    assert_eq!(
        r.verdict,
        Some(custos_core::Verdict::RecommendOnly),
        "{r:#?}"
    );
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("gate.new_resource_grace")),
        "{r:#?}"
    );
    assert_eq!((r.approval_id.as_ref(), r.action_id.as_ref()), (None, None));
    assert!(
        r.guidance.as_ref().is_some_and(|g| !g.cli.is_empty()),
        "{r:#?}"
    );
    assert!(!has_public_access_block(&s3, &bucket).await);

    // 2. Still inside the period 59 minutes on.
    clock.advance(chrono::Duration::minutes(59));
    let rows = rows_of(e.run_once(&notice().await, Mode::Execute).await.unwrap());
    assert!(
        rows[0]
            .reasons
            .iter()
            .any(|x| x.contains("gate.new_resource_grace")),
        "{rows:#?}"
    );
    assert!(!has_public_access_block(&s3, &bucket).await);

    // 3. Past it: fixed, and LocalStack holds the block.
    clock.advance(chrono::Duration::minutes(2));
    let rows = rows_of(e.run_once(&notice().await, Mode::Execute).await.unwrap());
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(rows[0].action_id.is_some(), "{rows:#?}");
    assert!(
        !rows[0]
            .reasons
            .iter()
            .any(|x| x.contains("gate.new_resource_grace")),
        "{rows:#?}"
    );
    assert!(has_public_access_block(&s3, &bucket).await);
}
