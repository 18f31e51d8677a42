#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! Staged rollout on LocalStack, through the engine with the shipped executors and
//! scanner (issue 26, scope 3): with `rollout = "staged"` at autonomy 5, a playbook
//! version starts in shadow (every fix waits for a person, the decision says custos would
//! have executed it), its approved fixes promote it to limited, where at most the
//! configured count of fixes run without a person, and one operator's undo demotes it to
//! shadow at once. The oracle is each bucket's public access block read from LocalStack
//! and this test's own count of the approvals it gave; the stage events are checked for
//! their evidence after the behaviour is.

mod common;

use custos_core::{ApprovalStatus, ResourceRef};
use custos_engine::Engine;
use custos_ledger::EventFilter;
use custos_telemetry::aws::AwsPool;
use custos_testkit::{Fixture, has_public_access_block, make_bucket, sdk};
use std::collections::BTreeMap;

const CONTROL: &str = "s3-public-access-block";

fn refs(account: &str, names: &[String]) -> Vec<ResourceRef> {
    names
        .iter()
        .map(|n| common::s3_bucket(account, n))
        .collect()
}

async fn blocked(s3: &aws_sdk_s3::Client, names: &[String]) -> usize {
    let mut n = 0;
    for b in names {
        n += usize::from(has_public_access_block(s3, b).await);
    }
    n
}

async fn stages(e: &Engine) -> Vec<serde_json::Value> {
    e.ledger()
        .events(&EventFilter {
            kind_prefix: Some("rollout.set".into()),
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|ev| ev.payload)
        .collect()
}

#[tokio::test]
async fn a_version_earns_its_stages_and_one_undo_sends_it_back_to_shadow() {
    custos_testkit::require_localstack().await;
    let account = custos_testkit::unique_account();
    let sdk = sdk(&account);
    let s3 = custos_testkit::s3(&sdk);
    let make = |prefix: &str, n: usize| {
        let s3 = s3.clone();
        let names: Vec<String> = (0..n)
            .map(|i| format!("roll-{prefix}{i}-{account}"))
            .collect();
        async move {
            for b in &names {
                make_bucket(&s3, b, Fixture::NoPublicAccessBlock)
                    .await
                    .unwrap();
            }
            names
        }
    };
    let dir = tempfile::tempdir().unwrap();
    // Four successes with none failed promote (the 95 % lower bound of Beta(5, 1) is
    // 0.549); in limited every resource is in the share and two may go without a person.
    let (e, reader) = common::engine_on(
        AwsPool::with_account(sdk.clone(), account.clone(), BTreeMap::new()),
        "[autonomy]\ndefault = 5\nadjust = \"auto\"\nlower_environment_proof = 0\nraise_min_cases = 4\nraise_threshold = 0.5\nrollout = \"staged\"\nrollout_limited_percent = 100\nrollout_limited_count = 2\n[guard]\nrate_per_second = 1000\nrate_burst = 1000\n",
        dir.path(),
    )
    .await;

    // 1. Shadow: at autonomy 5 nothing is fixed without a person, and each decision says
    // custos would have.
    let first = make("a", 4).await;
    let rows = common::run_read(&e, &reader, &refs(&account, &first), CONTROL).await;
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for r in &rows {
        assert!(r.approval_id.is_some(), "{r:#?}");
        assert!(
            r.reasons.iter().any(|x| x.contains("gate.rollout_shadow")),
            "{r:#?}"
        );
        assert!(
            r.reasons.iter().any(|x| x.contains("engine.would_execute")),
            "{r:#?}"
        );
    }
    assert_eq!(blocked(&s3, &first).await, 0);

    // 2. Two reviewers approve the four; each fix runs and verifies.
    let reviewers = [common::reviewer("rita"), common::reviewer("raj")];
    let pending = e
        .ledger()
        .approvals(Some(ApprovalStatus::Pending))
        .await
        .unwrap();
    assert_eq!(pending.len(), 4);
    for (i, a) in pending.iter().enumerate() {
        e.approve(&a.id, &reviewers[i % 2], None, None, true)
            .await
            .unwrap();
    }
    assert_eq!(blocked(&s3, &first).await, 4);
    let set = stages(&e).await;
    assert_eq!(set.len(), 1, "{set:#?}");
    assert_eq!(
        (set[0]["stage"].as_str(), set[0]["previous"].as_str()),
        (Some("limited"), Some("shadow"))
    );

    // 3. Limited: of four new buckets exactly two are fixed without a person; the other
    // two wait, for the rollout alone.
    let second = make("b", 4).await;
    let rows = common::run_read(&e, &reader, &refs(&account, &second), CONTROL).await;
    assert_eq!(blocked(&s3, &second).await, 2, "{rows:#?}");
    let waiting: Vec<_> = rows.iter().filter(|r| r.approval_id.is_some()).collect();
    assert_eq!(waiting.len(), 2, "{rows:#?}");
    for r in &waiting {
        assert!(
            r.reasons.iter().any(|x| x.contains("gate.rollout_limited")),
            "{r:#?}"
        );
    }
    let fix = rows
        .iter()
        .find(|r| r.approval_id.is_none())
        .and_then(|r| r.action_id.clone())
        .expect("a fix made without a person");

    // 4. An operator undoes one of them: back to shadow at once, and the next bucket waits.
    e.rollback(&fix, &common::operator_olga()).await.unwrap();
    assert_eq!(blocked(&s3, &second).await, 1);
    let third = make("c", 1).await;
    let rows = common::run_read(&e, &reader, &refs(&account, &third), CONTROL).await;
    assert_eq!(blocked(&s3, &third).await, 0, "{rows:#?}");
    assert!(
        rows[0]
            .reasons
            .iter()
            .any(|x| x.contains("gate.rollout_shadow")),
        "{rows:#?}"
    );
    let set = stages(&e).await;
    assert_eq!(set.len(), 2, "{set:#?}");
    let p = &set[1];
    assert_eq!(
        (p["stage"].as_str(), p["previous"].as_str()),
        (Some("shadow"), Some("limited"))
    );
    assert_eq!(p["by"], "custos:learner");
    let reason = p["reason"].as_str().unwrap();
    assert!(
        reason.contains(&fix) && reason.contains("reverted"),
        "{reason}"
    );

    // 5. The report shows the version in shadow with nothing since.
    let report = e.autonomy_report().await.unwrap();
    let st = report
        .stages
        .iter()
        .find(|s| s.playbook == p["playbook"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        (st.stage, st.successes),
        (custos_core::RolloutStage::Shadow, 0),
        "{st:#?}"
    );

    // 6. A policy admin alone promotes one stage at a time, for the version loaded only,
    // and cannot restart a stage's count by setting it again.
    let admin = custos_core::Principal {
        name: "ada".into(),
        roles: [custos_core::Role::PolicyAdmin].into_iter().collect(),
        via: custos_core::AuthMethod::Token {
            token_id: "tok-ada".into(),
        },
    };
    let playbook = p["playbook"].as_str().unwrap();
    let set = |stage, version: Option<&'static str>| custos_engine::StageChange {
        playbook,
        version,
        stage,
        reason: "reviewed the shadow decisions",
    };
    use custos_core::RolloutStage::{Broad, Limited, Shadow};
    for (stage, version) in [
        (Broad, None),
        (Shadow, None),
        (Limited, Some("0.0.1-not-loaded")),
    ] {
        let err = e
            .set_rollout(&admin, set(stage, version))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(playbook), "{stage}: {err}");
    }
    assert_eq!(stages(&e).await.len(), 2);
    e.set_rollout(&admin, set(Limited, None)).await.unwrap();
    let set = stages(&e).await;
    assert_eq!(
        (set.len(), set[2]["stage"].as_str(), set[2]["by"].as_str()),
        (3, Some("limited"), Some("ada"))
    );
}
