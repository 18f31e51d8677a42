#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! A function whose policy has two permissions that let anyone invoke it (Lambda.1), on
//! the moto server, through the engine with the shipped executors: one intent is one
//! request, so each permission is a plan of its own, waits for an approval of its own,
//! and is verified on itself while the other is still open. The oracle is the function's
//! policy read straight from moto, never the engine's records.

mod common;

use custos_core::{ApprovalStatus, ConfigurationItem, ResourceRef};
use custos_engine::Engine;
use custos_telemetry::aws::AwsPool;
use custos_telemetry::{Inventory, ResourceReader};
use custos_testkit::{MotoAccount, policies, sdk, unique_account};
use std::collections::BTreeMap;

const CONTROL: &str = "lambda-function-public-access";

/// Run once over the function as read now; the approval requests then pending for it.
async fn run(e: &Engine, reader: &Inventory, r: &ResourceRef) -> Vec<custos_core::Approval> {
    let item: ConfigurationItem = reader.read(r).await.unwrap().unwrap();
    common::run_then_pending(e, vec![item])
        .await
        .into_iter()
        .filter(|a| a.plan.control_id == CONTROL)
        .collect()
}

#[tokio::test]
async fn each_open_permission_waits_for_its_own_approval_and_goes_alone() {
    let account = unique_account();
    let sdk = sdk(&account);
    let name = format!("fn{account}");
    policies::make_public_function(&sdk, &account, &name)
        .await
        .unwrap();
    let r = ResourceRef {
        account: account.clone(),
        region: "us-east-1".into(),
        resource_type: "AWS::Lambda::Function".into(),
        resource_id: name.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let (e, reader) = common::engine_on(
        AwsPool::with_account(sdk.clone(), account.clone(), BTreeMap::new())
            .with_interceptor(MotoAccount(account.clone())),
        "[autonomy]\ndefault = 5\n[guard]\nrate_per_second = 1000\nrate_burst = 1000\n[approvals]\nreviewers = 1\n",
        dir.path(),
    )
    .await;
    let sids = || async { policies::sids(&policies::policy(&r, &sdk).await.unwrap()) };
    assert_eq!(sids().await, ["Anyone", "Uploads", "Account"]);

    // Autonomy 5 and a human control: nothing changes before a person approves.
    let first = run(&e, &reader, &r).await;
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(sids().await, ["Anyone", "Uploads", "Account"]);
    let (approval, row) = e
        .approve(&first[0].id, &common::reviewer("rita"), None, None, true)
        .await
        .unwrap();
    assert_eq!(approval.status, ApprovalStatus::Executed, "{row:#?}");
    // The approved permission went, alone; the other open one is still there.
    assert_eq!(sids().await, ["Uploads", "Account"]);

    // The next run asks again, for the other permission, with a request of its own.
    let second = run(&e, &reader, &r).await;
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_ne!(second[0].id, first[0].id);
    assert_eq!(sids().await, ["Uploads", "Account"]);
    let (approval, row) = e
        .approve(&second[0].id, &common::reviewer("rita"), None, None, true)
        .await
        .unwrap();
    assert_eq!(approval.status, ApprovalStatus::Executed, "{row:#?}");
    assert_eq!(sids().await, ["Account"]);

    // Nothing is left to ask for.
    assert_eq!(run(&e, &reader, &r).await.len(), 0);
    assert_eq!(sids().await, ["Account"]);
}
