#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The percentage-of-class limit with two workers on one ledger.
//!
//! Worker A starts its service run knowing 4 buckets. Worker B then sees 16 more and
//! fixes some of them. When A decides on a bucket, its own count of the class (4) is
//! stale: the class has 20 buckets. The limit must be of the class as it is (20), or A
//! defers a fix the rule allows (found by `scripts/bench drain` with 4 workers); and it
//! must still hold when B's fixes really reach the limit.
//!
//! The expected outcomes are worked out here by hand from the configured rule (at most
//! 50 % of a class of at least 4 in the window): the class has 20 buckets, so a fix is
//! allowed while the class's fixes in the window, this one included, are at most 10. The
//! oracle is the fake cloud's record of calls, not the engine's decision.

mod common;

use async_trait::async_trait;
use custos_core::{ConfigurationItem, ResourceRef};
use custos_engine::{Budget, Config, Engine, Mode, Origin};
use custos_executor::ExecError;
use custos_executor::fake::FakeCloud;
use custos_ledger::EventFilter;
use custos_telemetry::memory::Items;
use custos_telemetry::{ResourceReader, TelemetryError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::PAB;
/// Buckets custos knew before worker A started.
const KNOWN_AT_START: usize = 4;
/// Buckets in the account.
const BUCKETS: usize = 20;

fn name(i: usize) -> String {
    format!("b{i:02}")
}

/// Buckets in memory (`true`: public access blocked), the calls made, and worker B's
/// run, started by the first read of `b00` when the test asks for it.
#[derive(Debug, Default)]
struct World {
    blocked: Mutex<BTreeMap<String, bool>>,
    calls: Mutex<Vec<String>>,
    on_read_b00: tokio::sync::Mutex<Option<(Arc<Engine>, Vec<ConfigurationItem>)>>,
}

impl World {
    fn new(public: &[usize]) -> Arc<World> {
        let w = World::default();
        let mut b = w.blocked.lock().unwrap();
        for i in 0..BUCKETS {
            b.insert(name(i), !public.contains(&i));
        }
        drop(b);
        Arc::new(w)
    }

    /// A Config item as AWS Config records an S3 bucket.
    fn item(&self, bucket: &str) -> ConfigurationItem {
        let blocked = self.blocked.lock().unwrap()[bucket];
        common::bucket_item(bucket, blocked, "dev")
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[derive(Debug)]
struct Reader(Arc<World>);

#[async_trait]
impl ResourceReader for Reader {
    async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        if r.resource_id == name(0) {
            let b = self.0.on_read_b00.lock().await.take();
            if let Some((worker_b, items)) = b {
                // Worker B runs while worker A's guard holds `b00`: between A's decision
                // and A's admission.
                worker_b
                    .run_once(&Items::new("sqs:test", items), Mode::Execute)
                    .await
                    .unwrap();
            }
        }
        Ok(Some(self.0.item(&r.resource_id)))
    }
}

/// The public access block action's calls (`FakeExecutor`) land here.
#[async_trait]
impl FakeCloud for World {
    async fn call(
        &self,
        r: &ResourceRef,
        restore_to: Option<&Value>,
    ) -> Result<Vec<String>, ExecError> {
        assert!(
            restore_to.is_none(),
            "no restore expected, asked for `{}`",
            r.resource_id
        );
        self.calls.lock().unwrap().push(r.resource_id.clone());
        self.blocked
            .lock()
            .unwrap()
            .insert(r.resource_id.clone(), true);
        Ok(vec![PAB.into()])
    }
}

fn config() -> Config {
    common::config(
        "[autonomy]\ndefault = 5\n\
        [gate]\nmax_actions_per_run = 1000\nmax_actions_per_window = 1000\nwindow_hours = 1\n\
        max_percent_of_class = 50\nmin_class_size_for_percent = 4\n\
        [guard]\nrate_per_second = 1000\nrate_burst = 1000\n",
    )
}

async fn worker(world: &Arc<World>, db: &str) -> Arc<Engine> {
    Arc::new(common::engine(config(), world.clone(), Arc::new(Reader(world.clone())), db).await)
}

/// When B runs: before A decides on `b00`, or between A's decision and its admission.
#[derive(Debug, Clone, Copy)]
enum WhenB {
    BeforeDecision,
    BeforeAdmission,
}

/// The scene: custos knows `b00`..`b03`; A starts; B sees `b04`..`b19` and fixes those of
/// them that are `public`; A decides on `b00` (public). Returns the calls made (sorted)
/// and the rules of every decision on `b00` in the ledger (the pipeline's in `decision`,
/// the guard's at admission in the action's outcome).
async fn scene(public: &[usize], when: WhenB) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let world = World::new(public);
    let (a, b) = (worker(&world, &db).await, worker(&world, &db).await);
    for i in 0..KNOWN_AT_START {
        let r = world.item(&name(i)).resource_ref();
        a.ledger()
            .observe(&r, &chrono::Utc::now(), "seen-before")
            .await
            .unwrap();
    }
    let mut st = a
        .begin("sqs:test", Mode::Execute, Budget::RollingWindow)
        .await
        .unwrap();
    let b_items: Vec<_> = (KNOWN_AT_START..BUCKETS)
        .map(|i| world.item(&name(i)))
        .collect();
    match when {
        WhenB::BeforeDecision => {
            b.run_once(&Items::new("sqs:test", b_items), Mode::Execute)
                .await
                .unwrap();
        }
        WhenB::BeforeAdmission => {
            *world.on_read_b00.lock().await = Some((b.clone(), b_items));
        }
    }
    a.process(&mut st, world.item(&name(0)), Origin::Notification)
        .await
        .unwrap();
    a.finish(st).await.unwrap();
    assert!(
        world.on_read_b00.lock().await.is_none(),
        "worker B never ran"
    );
    let rules = a
        .ledger()
        .events(&EventFilter {
            resource_contains: Some(format!("/AWS::S3::Bucket/{}", name(0))),
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.payload["decision"]["reasons"].as_array().cloned())
        .flatten()
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect();
    // B's fixes run concurrently: the order of its calls is not part of the claim.
    let mut calls = world.calls();
    calls.sort();
    (calls, rules)
}

fn names(ids: impl IntoIterator<Item = usize>) -> Vec<String> {
    ids.into_iter().map(name).collect()
}

/// B fixes 5 (of 20): A's fix is the 6th, within 10.
const B_FIXES_FIVE: [usize; 5] = [4, 5, 6, 7, 8];
/// B fixes 10: A's fix would be the 11th.
const B_FIXES_TEN: [usize; 10] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13];

/// Both moments B can run at: before A's decision, and between A's decision and its
/// admission (a mutation of either recount fails its case).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_and_an_admission_count_the_class_other_workers_made_known() {
    for when in [WhenB::BeforeDecision, WhenB::BeforeAdmission] {
        let mut public = B_FIXES_FIVE.to_vec();
        public.push(0);
        let (calls, rules) = scene(&public, when).await;
        assert_eq!(
            calls,
            names([0, 4, 5, 6, 7, 8]),
            "{when:?}: rules on b00: {rules:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_still_holds_at_half_of_the_whole_class() {
    for when in [WhenB::BeforeDecision, WhenB::BeforeAdmission] {
        let mut public = B_FIXES_TEN.to_vec();
        public.push(0);
        let (calls, rules) = scene(&public, when).await;
        assert_eq!(calls, names(B_FIXES_TEN), "{when:?}: b00 must not be fixed");
        assert!(
            rules.iter().any(|r| r == "gate.blast_radius.percent"),
            "{when:?}: {rules:?}"
        );
    }
}
