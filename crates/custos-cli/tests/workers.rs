#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! Several `custos run` workers on one Postgres ledger and one SQS queue (LocalStack):
//! 1,000 Config change events, one worker killed with SIGKILL while it holds a lease (its
//! fix held in flight by its own proxy). Each worker reaches AWS through a proxy of its
//! own, which logs every call with the moment it arrived: that log, the buckets read back
//! from LocalStack and the queue are the oracle, apart from what custos records.

mod common;
use common::*;

use custos_testkit::proxy::{Fault, FaultProxy, Matcher, Method};
use custos_testkit::{
    Fixture, bucket_item, config_change_event, has_public_access_block, make_bucket, make_queue,
    publish, queue_depth, require_localstack, s3, sdk, sqs,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::time::{Duration, SystemTime};

const EVENTS: usize = 1_000;
const CAPTURES: usize = 8;

fn at(minute: usize) -> String {
    format!("2026-11-01T10:{minute:02}:00Z")
}

/// A deterministic shuffle: sort by a hash of the index.
fn shuffled<T: Clone>(items: &[T]) -> Vec<T> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.sort_by_key(|i| (i.wrapping_mul(2_654_435_761) ^ 0x5bd1e995) % 1_000_003);
    idx.into_iter().map(|i| items[i].clone()).collect()
}

fn event_time(e: &Value) -> SystemTime {
    let t = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
    SystemTime::from(t)
}

/// The pid in a claim holder (`host:pid:nonce`).
fn pid_of(holder: &str) -> u32 {
    holder.rsplit(':').nth(1).unwrap().parse().unwrap()
}

fn bucket_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap()
}

async fn workers_converge(n: usize) {
    require_localstack().await;
    let mut env = Env::new();
    env.database = Some(custos_ledger::testing::fresh_postgres().await);
    let sdk = sdk(&env.account);
    let queue = make_queue(&sqs(&sdk), &format!("w{n}{}", env.account), 4)
        .await
        .unwrap();
    // The percentage rule stays on at 100 % of a class of at least 10: every fix is within
    // it, but only if each worker counts the resources the others changed since its run
    // started (before, a worker that had seen 10 buckets deferred the 11th change).
    env.write_config(&format!(
        "[telemetry]\nqueue_url = {queue:?}\nwait_seconds = 1\n\
         [gate]\nmax_actions_per_run = 1000\nmax_actions_per_window = 1000\nmax_percent_of_class = 100\nmin_class_size_for_percent = 10\n\
         [guard]\nrate_per_second = 1000\nrate_burst = 1000\n"
    ));
    let client = s3(&sdk);

    // 125 buckets, 100 without a public access block; 8 captures each, shuffled so that
    // older captures often arrive after newer ones.
    let buckets: Vec<(String, Fixture)> = (0..EVENTS / CAPTURES)
        .map(|i| {
            let f = if i % 5 == 4 {
                Fixture::Compliant
            } else {
                Fixture::NoPublicAccessBlock
            };
            (format!("w{n}-{}-{i:03}", env.account), f)
        })
        .collect();
    let mut bodies = Vec::new();
    for (name, f) in &buckets {
        make_bucket(&client, name, *f).await.unwrap();
        for minute in 0..CAPTURES {
            bodies.push(config_change_event(&bucket_item(
                &env.account,
                name,
                *f,
                &at(minute),
            )));
        }
    }
    assert_eq!(bodies.len(), EVENTS);
    publish(&sqs(&sdk), &queue, &shuffled(&bodies))
        .await
        .unwrap();

    // The ledger exists before the workers race to migrate it (they may; this is quicker).
    let out = env.custos(&["history", "--limit", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let puts = Matcher {
        method: Some(Method::PUT),
        path_prefix: None,
        query: Some("publicAccessBlock".into()),
    };
    let mut proxies = Vec::new();
    let mut children: Vec<Child> = Vec::new();
    for w in 0..n {
        let proxy = FaultProxy::start(&custos_testkit::endpoint()).await;
        if w == 0 {
            // Worker 0's fourth fix never reaches LocalStack: it is killed holding it.
            proxy.inject_after(puts.clone(), Fault::Hold, 3, Some(1));
        }
        let child = env
            .command(&["run", "--exit-when-idle", "10"])
            .env("AWS_ENDPOINT_URL", &proxy.url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        proxies.push(proxy);
        children.push(child);
    }
    let pids: Vec<u32> = children.iter().map(Child::id).collect();
    assert!(
        proxies[0].wait_held(Duration::from_secs(180)).await,
        "worker 0 never reached its fourth fix"
    );
    // Worker 0 holds the lease on the held bucket now: its intent is admitted, the call
    // is in flight.
    children[0].kill().unwrap(); // SIGKILL
    children[0].wait().unwrap();
    let killed_at = SystemTime::now();
    for (w, c) in children.iter_mut().enumerate().skip(1) {
        let status = c.wait().unwrap();
        assert_eq!(status.code(), Some(0), "worker {w} failed");
    }
    let held = proxies[0]
        .seen(&puts)
        .into_iter()
        .find(|s| s.fault == Some(Fault::Hold))
        .unwrap();
    let held_bucket = held.uri.path().trim_matches('/').to_string();

    let events = env.all_events();
    let kind = |k: &str| -> Vec<&Value> { events.iter().filter(|e| e["kind"] == k).collect() };

    // Every message reached a terminal outcome, recorded; the queue is empty.
    let ids: BTreeSet<&str> = kind("input.received")
        .iter()
        .map(|e| e["payload"]["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), EVENTS, "messages with a recorded disposition");
    assert_eq!(queue_depth(&sqs(&sdk), &queue).await.unwrap(), 0);

    // The killed worker's lease on the held bucket was taken over (its process is gone),
    // and its intent settled by reading: the held call never landed.
    let takeovers = kind("guard.claim_taken_over");
    assert!(
        takeovers.iter().any(|e| {
            bucket_of(e["payload"]["key"].as_str().unwrap()) == held_bucket
                && pid_of(e["payload"]["from"]["holder"].as_str().unwrap()) == pids[0]
        }),
        "no takeover of worker 0's lease on {held_bucket}: {takeovers:#?}"
    );
    let interrupted = kind("action.interrupted");
    assert_eq!(interrupted.len(), 1, "{interrupted:#?}");
    assert!(
        interrupted[0]["resource"]
            .as_str()
            .unwrap()
            .ends_with(&held_bucket)
    );

    // Zero duplicate intents: per bucket, one intent that executed; any other was
    // interrupted before its call (settled by reading). Every call that reached LocalStack,
    // from any worker, is one of those executed intents: one per bucket.
    let outcome_of: BTreeMap<&str, &str> = events
        .iter()
        .filter(|e| {
            e["kind"]
                .as_str()
                .unwrap()
                .strip_prefix("action.")
                .is_some_and(|k| k != "intent")
        })
        .filter_map(|e| Some((e["payload"]["action_id"].as_str()?, e["kind"].as_str()?)))
        .collect();
    let mut per_bucket: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for i in kind("action.intent") {
        let id = i["payload"]["action_id"].as_str().unwrap();
        per_bucket
            .entry(bucket_of(i["resource"].as_str().unwrap()))
            .or_default()
            .push(outcome_of.get(id).copied().unwrap_or("open"));
    }
    for (name, f) in &buckets {
        let mut outcomes = per_bucket.get(name.as_str()).cloned().unwrap_or_default();
        outcomes.sort();
        let want: Vec<&str> = match f {
            Fixture::Compliant => vec![],
            _ if *name == held_bucket => vec!["action.executed", "action.interrupted"],
            _ => vec!["action.executed"],
        };
        assert_eq!(outcomes, want, "{name}");
        let forwarded: usize = proxies
            .iter()
            .map(|p| p.forwarded(&Matcher::s3(Method::PUT, name, "publicAccessBlock")))
            .sum();
        assert_eq!(
            forwarded,
            usize::from(*f != Fixture::Compliant),
            "{name}: calls that reached LocalStack"
        );
        assert!(
            has_public_access_block(&client, name).await,
            "{name} read back from LocalStack"
        );
    }

    // Zero calls after a lease was taken over: every call that reached LocalStack came
    // from a worker whose lease on that bucket nobody had taken (by the takeover events'
    // times), and none came from the killed worker after its death.
    for (w, proxy) in proxies.iter().enumerate() {
        for call in proxy.seen(&puts).into_iter().filter(|s| s.forwarded) {
            let bucket = call.uri.path().trim_matches('/');
            let lost = takeovers.iter().find(|e| {
                bucket_of(e["payload"]["key"].as_str().unwrap()) == bucket
                    && pid_of(e["payload"]["from"]["holder"].as_str().unwrap()) == pids[w]
                    && event_time(e) <= call.at
            });
            assert!(
                lost.is_none(),
                "worker {w} called on {bucket} after its lease was taken over: {lost:#?}"
            );
            assert!(w != 0 || call.at < killed_at);
        }
    }
    // Several writers, one chain.
    let verify = env.json(&["history", "--verify", "--limit", "1"]);
    assert_eq!(verify["chain"]["first_bad"], Value::Null, "{verify:#}");
    assert_eq!(
        verify["chain"]["events"].as_u64().unwrap() as usize,
        events.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_postgres_survive_a_sigkill_mid_lease() {
    workers_converge(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_on_postgres_survive_a_sigkill_mid_lease() {
    workers_converge(4).await;
}
