#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The policy gate end to end on LocalStack: blast radius over a large inventory, and
//! blackouts.

mod common;
use common::*;

use custos_testkit::{Fixture, make_bucket, make_buckets, require_localstack, s3, sdk};
use serde_json::Value;

#[tokio::test]
async fn a_thousand_buckets_with_a_blast_radius_of_ten() {
    require_localstack().await;
    let env = Env::with_config("[gate]\nmax_actions_per_run = 10\n[aws]\nscan_concurrency = 16\n");
    let client = s3(&sdk(&env.account));
    let names: Vec<String> = (0..1000)
        .map(|i| format!("b{}-{i:04}", env.account))
        .collect();
    make_buckets(&client, &names, Fixture::NoPublicAccessBlock, 32)
        .await
        .unwrap();

    let report = env.json(&["run", "--once"]);
    let run_id = report["run_id"].as_str().unwrap();
    let events = env.events(run_id);
    let intents = events
        .iter()
        .filter(|e| e["kind"] == "action.intent")
        .count();
    assert_eq!(intents, 10, "at most 10 mutating calls in the run");
    let reached: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "run.blast_radius_reached")
        .collect();
    assert_eq!(
        reached.len(),
        1,
        "one ledger event says the limit was reached"
    );
    assert_eq!(
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "fixed")
            .count(),
        10
    );
    let deferred = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "gate.blast_radius.run")
        })
        .count();
    assert_eq!(deferred, 990);
    let mut with_block = 0;
    for n in &names {
        if client
            .get_public_access_block()
            .bucket(n)
            .send()
            .await
            .is_ok()
        {
            with_block += 1;
        }
    }
    assert_eq!(with_block, 10, "exactly ten buckets were changed");
}

#[tokio::test]
async fn nothing_executes_inside_a_blackout_and_the_same_run_outside_does() {
    require_localstack().await;
    // Every minute opens a two-hour blackout: it is always in effect.
    let blackout = "[[gate.blackouts]]\nname = \"quarter close\"\nenvironments = [\"*\"]\ncron = \"0 * * * * *\"\nduration_minutes = 120\ntimezone = \"Europe/Berlin\"\n";
    let env = Env::with_config(blackout);
    let client = s3(&sdk(&env.account));
    let dev = format!("z{}-public", env.account);
    let prod = format!("z{}-prod", env.account);
    make_bucket(&client, &dev, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    make_bucket(&client, &prod, Fixture::Production)
        .await
        .unwrap();

    let inside = env.json(&["run", "--once"]);
    let events = env.events(inside["run_id"].as_str().unwrap());
    assert_eq!(
        events
            .iter()
            .filter(|e| e["kind"] == "action.intent")
            .count(),
        0,
        "nothing executes in a blackout"
    );
    let why: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["kind"] == "decision"
                && e["payload"]["decision"]["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["rule"] == "gate.blackout")
        })
        .collect();
    assert!(why.len() >= 2, "the ledger records why: {events:#?}");
    assert!(
        client
            .get_public_access_block()
            .bucket(&dev)
            .send()
            .await
            .is_err()
    );

    // Outside the blackout the same run executes the dev fix.
    env.write_config("");
    let outside = env.json(&["run", "--once"]);
    assert_eq!(outcome_of(&outside, &dev), "fixed");
    assert!(
        client
            .get_public_access_block()
            .bucket(&dev)
            .send()
            .await
            .is_ok()
    );

    // An approval granted while a blackout holds is recorded but not executed.
    let pending = env.json(&["approvals", "list"]);
    let id = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["plan"]["resource"]["resource_id"] == prod.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.write_config(blackout);
    let approved = env.json_exit_as("alice", &["approvals", "approve", &id], 5);
    assert_eq!(approved["approval"]["status"], "approved");
    assert_eq!(approved["execution"]["outcome"], "recommended");
    assert!(
        client
            .get_public_access_block()
            .bucket(&prod)
            .send()
            .await
            .is_err(),
        "executed during a blackout"
    );
    // After the blackout the next run executes it.
    env.write_config("");
    let after = env.json(&["run", "--once"]);
    assert_eq!(outcome_of(&after, &prod), "fixed", "{after:#}");
}
