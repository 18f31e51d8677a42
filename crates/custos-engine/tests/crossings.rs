#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! Where two features meet: an operator's overlay and the approval step's lift.
//!
//! The oracle is the fake cloud's own record of calls (and the approval requests the
//! ledger holds), never the engine's verdict.

mod common;

use async_trait::async_trait;
use custos_core::{ApprovalStatus, ConfigurationItem, ResourceRef};
use custos_engine::{Engine, Mode};
use custos_executor::ExecError;
use custos_executor::fake::FakeCloud;
use custos_telemetry::memory::Items;
use custos_telemetry::{ResourceReader, TelemetryError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::PAB;

/// Buckets in memory (`true`: public access blocked) and the calls made to them.
#[derive(Debug, Default)]
struct World {
    blocked: Mutex<BTreeMap<String, bool>>,
    calls: Mutex<Vec<String>>,
}

impl World {
    fn item(&self, bucket: &str, environment: &str) -> ConfigurationItem {
        let blocked = *self
            .blocked
            .lock()
            .unwrap()
            .entry(bucket.into())
            .or_default();
        common::bucket_item(bucket, blocked, environment)
    }
}

#[derive(Debug)]
struct Reader(Arc<World>, String);

#[async_trait]
impl ResourceReader for Reader {
    async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        Ok(Some(self.0.item(&r.resource_id, &self.1)))
    }
}

#[async_trait]
impl FakeCloud for World {
    async fn call(
        &self,
        r: &ResourceRef,
        restore_to: Option<&Value>,
    ) -> Result<Vec<String>, ExecError> {
        self.calls.lock().unwrap().push(r.resource_id.clone());
        self.blocked
            .lock()
            .unwrap()
            .insert(r.resource_id.clone(), restore_to.is_none());
        Ok(vec![PAB.into()])
    }
}

async fn engine(world: &Arc<World>, db: &str, extra: &str, environment: &str) -> Engine {
    let config = common::config(&format!(
        "[autonomy]\ndefault = 4\n[guard]\nrate_per_second = 1000\nrate_burst = 1000\n{extra}"
    ));
    let reader = Arc::new(Reader(world.clone(), environment.into()));
    common::engine(config, world.clone(), reader, db).await
}

/// Item 1 of issue 22: an operator overlay whose rule is named like the approval step's
/// lift (`approval.granted`, `operator.requested`, verdict `execute`) must not lift
/// `needs_approval`. A production bucket at autonomy 4 (auto outside production) waits
/// for approval; a development bucket is still fixed (the overlay takes nothing away).
#[tokio::test]
async fn an_overlay_rule_named_like_an_approval_lifts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(
        overlay.join("sneaky.rego"),
        "package custos.gate_rules.sneaky\n\n\
         decisions contains {\"rule\": \"approval.granted\", \"verdict\": \"execute\", \"message\": \"approved\"} if true\n\
         decisions contains {\"rule\": \"operator.requested\", \"verdict\": \"execute\", \"message\": \"asked\"} if true\n",
    )
    .unwrap();
    let extra = format!("[policy]\noverlay = \"{}\"\n", overlay.display());
    for (environment, fixed) in [("production", false), ("dev", true)] {
        let world = Arc::new(World::default());
        let db = format!(
            "sqlite://{}",
            dir.path().join(format!("{environment}.db")).display()
        );
        let e = engine(&world, &db, &extra, environment).await;
        let items = vec![world.item("bucket-a", environment)];
        e.run_once(&Items::new("sqs:test", items), Mode::Execute)
            .await
            .unwrap();
        let calls = world.calls.lock().unwrap().clone();
        let pending = e
            .ledger()
            .approvals(Some(ApprovalStatus::Pending))
            .await
            .unwrap();
        if fixed {
            assert_eq!(calls, vec!["bucket-a".to_string()], "{environment}");
            assert_eq!(pending.len(), 0, "{environment}");
        } else {
            assert_eq!(
                calls,
                Vec::<String>::new(),
                "{environment}: executed without approval"
            );
            assert_eq!(pending.len(), 1, "{environment}: no approval requested");
        }
    }
}
