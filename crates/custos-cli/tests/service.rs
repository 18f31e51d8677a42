#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! `custos run` as a service against LocalStack: Config change events over a real SQS
//! queue, crash recovery after SIGKILL, and the re-verification sweep.

mod common;
use common::*;

use custos_testkit::proxy::{Fault, FaultProxy, Matcher, Method};
use custos_testkit::{
    Fixture, bucket_item, config_change_event, make_bucket, make_queue, publish, queue_depth,
    require_localstack, s3, sdk, sqs,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A fresh account with a change-event queue (short visibility timeout) configured.
async fn queue_env(prefix: &str, visibility_seconds: u32) -> (Env, aws_config::SdkConfig, String) {
    let env = Env::new();
    let sdk = sdk(&env.account);
    let queue = make_queue(
        &sqs(&sdk),
        &format!("{prefix}{}", env.account),
        visibility_seconds,
    )
    .await
    .unwrap();
    env.write_config(&format!(
        "[telemetry]\nqueue_url = {queue:?}\nwait_seconds = 1\n"
    ));
    (env, sdk, queue)
}

fn at(minute: u32) -> String {
    format!("2026-11-01T10:{minute:02}:00Z")
}

/// Intents per (resource, action): each is one mutating call.
fn intents_per_target(events: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for e in events.iter().filter(|e| e["kind"] == "action.intent") {
        *m.entry((
            e["resource"].as_str().unwrap().to_string(),
            e["payload"]["action"].as_str().unwrap().to_string(),
        ))
        .or_insert(0) += 1;
    }
    m
}

fn all_events(env: &Env) -> Vec<Value> {
    env.all_events()
}

/// A deterministic shuffle (no RNG dependency): sort by a hash of the index.
fn shuffled<T: Clone>(items: &[T]) -> Vec<T> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.sort_by_key(|i| (i.wrapping_mul(2_654_435_761) ^ 0x5bd1e995) % 1_000_003);
    idx.into_iter().map(|i| items[i].clone()).collect()
}

#[tokio::test]
async fn two_hundred_change_events_converge_without_double_changes() {
    require_localstack().await;
    let (env, sdk, queue) = queue_env("q", 5).await;
    let client = s3(&sdk);

    // 20 buckets: 10 without a public access block, 5 without encryption, 5 compliant.
    let mut buckets = Vec::new();
    for i in 0..20 {
        let f = match i {
            0..10 => Fixture::NoPublicAccessBlock,
            10..15 => Fixture::NoEncryption,
            _ => Fixture::Compliant,
        };
        let name = format!("s{}-{i}", env.account);
        make_bucket(&client, &name, f).await.unwrap();
        buckets.push((name, f));
    }
    // 8 captures per bucket (160), 30 exact redeliveries, 10 malformed: 200 messages,
    // shuffled so older captures often arrive after newer ones.
    let mut bodies = Vec::new();
    for (name, f) in &buckets {
        for minute in 0..8 {
            bodies.push(config_change_event(&bucket_item(
                &env.account,
                name,
                *f,
                &at(minute),
            )));
        }
    }
    let duplicates: Vec<String> = bodies.iter().step_by(5).take(30).cloned().collect();
    bodies.extend(duplicates);
    let malformed = [
        "{not json".to_string(),
        "[]".to_string(),
        r#"{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":{}}"#.to_string(),
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}"#.to_string(),
        config_change_event(&serde_json::json!({"resourceType": "AWS::S3::Bucket"})),
        config_change_event(&serde_json::json!({"resourceType": "S3", "resourceId": "x", "awsAccountId": env.account, "awsRegion": "us-east-1", "configurationItemCaptureTime": at(1)})),
        config_change_event(&serde_json::json!({"resourceType": "AWS::S3::Bucket", "resourceId": "x", "awsAccountId": "1", "awsRegion": "us-east-1", "configurationItemCaptureTime": at(1)})),
        config_change_event(&serde_json::json!({"resourceType": "AWS::S3::Bucket", "resourceId": "x", "awsAccountId": env.account, "awsRegion": "us-east-1", "configurationItemCaptureTime": "noon"})),
        config_change_event(&serde_json::json!({"resourceType": "AWS::S3::Bucket", "resourceId": "x", "awsAccountId": env.account, "awsRegion": "us-east-1", "configurationItemCaptureTime": at(1), "tags": {"k": "v".repeat(300)}})),
        serde_json::json!({"Type": "Notification", "Message": "{truncated"}).to_string(),
    ];
    bodies.extend(malformed.iter().cloned());
    assert_eq!(bodies.len(), 200);
    publish(&sqs(&sdk), &queue, &shuffled(&bodies))
        .await
        .unwrap();

    let out = env.custos(&["run", "--exit-when-idle", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let events = all_events(&env);
    let received: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "input.received")
        .collect();
    let ids: BTreeSet<&str> = received
        .iter()
        .map(|e| e["payload"]["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        200,
        "every message reaches a recorded disposition"
    );
    let by: BTreeMap<&str, usize> = received.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e["payload"]["disposition"].as_str().unwrap())
            .or_insert(0) += 1;
        m
    });
    assert_eq!(by.get("dead_letter"), Some(&10), "{by:?}");
    assert_eq!(by.values().sum::<usize>(), 200);
    assert_eq!(env.json(&["dead-letters"]).as_array().unwrap().len(), 10);
    assert_eq!(
        queue_depth(&sqs(&sdk), &queue).await.unwrap(),
        0,
        "every message was deleted"
    );

    // No resource changed twice: one intent (one mutating call) per bucket and action.
    let intents = intents_per_target(&events);
    assert!(intents.values().all(|n| *n == 1), "{intents:#?}");
    assert_eq!(
        intents.len(),
        15,
        "10 public access blocks and 5 encryptions: {intents:#?}"
    );
    for (name, f) in &buckets {
        let pab = client
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
            .is_ok();
        assert!(
            pab || *f == Fixture::NoEncryption,
            "{name} still has no public access block"
        );
    }
}

/// SIGKILL while a call is in flight: a fault proxy holds the sixth fix, so the kill
/// lands after its intent and before any outcome, with other messages still in SQS. The
/// restart settles that intent by reading (the held call never reached LocalStack),
/// processes the redelivered messages, and every bucket ends fixed by exactly one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_call_converges_with_one_call_per_bucket() {
    require_localstack().await;
    let proxy = FaultProxy::start(&custos_testkit::endpoint()).await;
    let (env, sdk, queue) = queue_env("k", 2).await;
    let env = env.via(&proxy.url);
    env.write_config(&format!(
        "[telemetry]\nqueue_url = {queue:?}\nwait_seconds = 1\n[gate]\nmax_actions_per_run = 100\nmax_actions_per_window = 100\n"
    ));
    let client = s3(&sdk);

    let n = 40;
    let names: Vec<String> = (0..n).map(|i| format!("k{}-{i:02}", env.account)).collect();
    let mut bodies = Vec::new();
    for name in &names {
        make_bucket(&client, name, Fixture::NoPublicAccessBlock)
            .await
            .unwrap();
        bodies.push(config_change_event(&bucket_item(
            &env.account,
            name,
            Fixture::NoPublicAccessBlock,
            &at(0),
        )));
    }
    publish(&sqs(&sdk), &queue, &bodies).await.unwrap();

    let puts = Matcher {
        method: Some(Method::PUT),
        path_prefix: None,
        query: Some("publicAccessBlock".into()),
    };
    proxy.inject_after(puts.clone(), Fault::Hold, 5, Some(1));
    // SIGKILL at the sixth fix: an intent without outcome, messages in flight.
    kill_mid_call(&env, &proxy, &["run", "--exit-when-idle", "30"]).await;
    proxy.heal();
    let held = proxy
        .seen(&puts)
        .into_iter()
        .find(|s| s.fault == Some(Fault::Hold))
        .unwrap();
    let held_bucket = held.uri.path().trim_matches('/').to_string();
    let at_kill = all_events(&env);
    assert_eq!(count(&at_kill, "action.executed"), 5);
    let open_at_kill = open_intents(&at_kill);
    assert_eq!(open_at_kill.len(), 1, "{open_at_kill:#?}");
    assert!(
        open_at_kill[0]["resource"]
            .as_str()
            .unwrap()
            .ends_with(&held_bucket)
    );

    // Restart: the interrupted intent is settled by reading, the rest converges.
    let out = env.custos(&["run", "--exit-when-idle", "6"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events = all_events(&env);
    assert_eq!(count(&events, "action.interrupted"), 1);
    let open = open_intents(&events);
    assert!(open.is_empty(), "intents without an outcome: {open:#?}");
    assert_eq!(
        count(&events, "action.intent"),
        n + 1,
        "one more for the interrupted call"
    );
    for name in &names {
        let one = Matcher::s3(Method::PUT, name, "publicAccessBlock");
        assert_eq!(
            proxy.forwarded(&one),
            1,
            "{name} changed more or less than once"
        );
        assert!(
            custos_testkit::has_public_access_block(&client, name).await,
            "{name} not fixed"
        );
    }
    assert_eq!(queue_depth(&sqs(&sdk), &queue).await.unwrap(), 0);
}

#[tokio::test]
async fn reverify_records_a_recurrence_and_fixes_it_again() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let name = format!("r{}-public", env.account);
    make_bucket(&client, &name, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let first = env.json(&["run", "--once"]);
    assert_eq!(outcome_of(&first, &name), "fixed");

    // Quiet sweep: nothing recurred.
    let quiet = env.json(&["reverify"]);
    assert_eq!(quiet["recurrences"], 0);

    // Someone makes the bucket public again.
    client
        .delete_public_access_block()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    let sweep = env.json(&["reverify"]);
    assert_eq!(sweep["recurrences"], 1, "{sweep:#}");
    let events = env.events(sweep["run_id"].as_str().unwrap());
    let rec: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "recurrence")
        .collect();
    assert_eq!(rec.len(), 1);
    assert!(rec[0]["resource"].as_str().unwrap().ends_with(&name));
    assert_eq!(rec[0]["payload"]["control"], "s3-public-access-block");
    // Within the autonomy rules (auto in dev), it is fixed again.
    assert_eq!(outcome_of(&sweep, &name), "fixed");
    assert!(
        client
            .get_public_access_block()
            .bucket(&name)
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn scheduled_scans_run_and_sigterm_stops_the_service_cleanly() {
    require_localstack().await;
    // A scan every two seconds, no queue.
    let env = Env::with_config(
        "[[schedules]]\ncron = \"*/2 * * * * *\"\ntask = \"scan\"\n[[schedules]]\ncron = \"1/2 * * * * *\"\ntask = \"reverify\"\n",
    );
    let client = s3(&sdk(&env.account));
    let name = format!("c{}-public", env.account);
    make_bucket(&client, &name, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let child = env
        .command(&["run"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && client
            .get_public_access_block()
            .bucket(&name)
            .send()
            .await
            .is_err()
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        client
            .get_public_access_block()
            .bucket(&name)
            .send()
            .await
            .is_ok(),
        "the scheduled scan did not fix the bucket"
    );
    // Wait (by the ledger, not the clock) for a re-verification sweep, then ask the
    // service to stop.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !all_events(&env).iter().any(|e| e["kind"] == "reverify.ok")
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "SIGTERM did not stop the service promptly"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("scheduled tasks"));
    let events = all_events(&env);
    assert!(events.iter().any(|e| {
        e["kind"] == "run.started"
            && e["payload"]["source"]
                .as_str()
                .unwrap()
                .starts_with("scan:")
    }));
    assert!(
        events.iter().any(|e| e["kind"] == "reverify.ok"),
        "no re-verification sweep ran"
    );
}

/// A Config change event for a queue carries no access policy (Config records none): the
/// service reads the queue before judging it, so a queue whose policy lets anyone in is
/// reported; judged on the event alone it passed, and a later event closed an open
/// finding. The oracle is the fixture: the queue LocalStack holds is public.
#[tokio::test]
async fn a_change_event_for_a_queue_is_judged_on_the_queue_as_read_now() {
    require_localstack().await;
    let (env, sdk, queue) = queue_env("qp", 5).await;
    let name = format!("pub{}", env.account);
    let public = custos_testkit::policies::make_public_queue(&sdk, &env.account, &name)
        .await
        .unwrap();
    // The item as Config sends it: the queue's attributes, no policy.
    let item = serde_json::json!({
        "configurationItemCaptureTime": at(1), "configurationItemStatus": "OK",
        "awsAccountId": env.account, "awsRegion": "us-east-1",
        "resourceType": "AWS::SQS::Queue", "resourceId": public, "resourceName": name,
        "ARN": format!("arn:aws:sqs:us-east-1:{}:{name}", env.account),
        "configuration": {"QueueUrl": public, "QueueName": name, "SqsManagedSseEnabled": "true"},
        "tags": {}, "supplementaryConfiguration": {}
    });
    publish(&sqs(&sdk), &queue, &[config_change_event(&item)])
        .await
        .unwrap();
    let out = env.custos(&["run", "--exit-when-idle", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let found = env.json(&["findings", "--control", "sqs-queue-policy-public"]);
    let resources: Vec<&str> = found["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["finding"]["resource"]["resource_id"].as_str().unwrap())
        .collect();
    assert_eq!(resources, vec![public.as_str()], "{found:#}");
}
