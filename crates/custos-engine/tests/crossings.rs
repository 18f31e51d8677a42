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

use common::run_then_pending;

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
        let pending = run_then_pending(&e, items).await;
        let calls = world.calls.lock().unwrap().clone();
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

use common::reviewer;

/// An operator (rollbacks), not a reviewer.
fn operator() -> custos_core::Principal {
    custos_core::Principal {
        name: "olivia".into(),
        roles: [custos_core::Role::Operator].into_iter().collect(),
        via: custos_core::AuthMethod::Token {
            token_id: "tok-olivia".into(),
        },
    }
}

/// Item 8 of issue 22: a fix two reviewers approved cannot be undone by one operator;
/// a fix one reviewer approved still can. The oracle is the fake cloud's record of calls
/// (a rollback would be a restore call).
#[tokio::test]
async fn one_operator_cannot_undo_what_two_reviewers_approved() {
    let dir = tempfile::tempdir().unwrap();
    for (reviewers, undone) in [(2, false), (1, true)] {
        let world = Arc::new(World::default());
        let db = format!(
            "sqlite://{}",
            dir.path().join(format!("q{reviewers}.db")).display()
        );
        let extra = format!("[approvals]\nreviewers = {reviewers}\n");
        let e = engine(&world, &db, &extra, "production").await;
        let items = vec![world.item("bucket-q", "production")];
        let pending = run_then_pending(&e, items).await;
        assert_eq!(pending.len(), 1);
        for name in ["rita", "ravi"].iter().take(reviewers) {
            e.approve(&pending[0].id, &reviewer(name), None, None, true)
                .await
                .unwrap();
        }
        assert_eq!(world.calls.lock().unwrap().len(), 1, "the approved fix");
        let action = e
            .ledger()
            .actions(None)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.approval_id.as_deref() == Some(pending[0].id.as_str()))
            .unwrap()
            .id;
        let operator = operator();
        if !undone {
            // The approval's link cut by SQL: the quorum is not forgotten with it.
            sqlx::query("UPDATE actions SET approval_id = NULL WHERE id = $1")
                .bind(&action)
                .execute(e.ledger().pool())
                .await
                .unwrap();
            let err = e
                .rollback(&action, &operator)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("its row differs from its events"), "{err}");
            sqlx::query("UPDATE actions SET approval_id = $1 WHERE id = $2")
                .bind(&pending[0].id)
                .bind(&action)
                .execute(e.ledger().pool())
                .await
                .unwrap();
        }
        let result = e.rollback(&action, &operator).await;
        let calls = world.calls.lock().unwrap().len();
        let blocked = *world.blocked.lock().unwrap().get("bucket-q").unwrap();
        if undone {
            assert!(result.is_ok(), "{result:?}");
            assert_eq!((calls, blocked), (2, false), "one reviewer: undone");
        } else {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("quorum of 2 reviewers"), "{err}");
            assert_eq!(
                (calls, blocked),
                (1, true),
                "two reviewers: one operator undid it"
            );
        }
    }
}

/// Item 7 of issue 22: approved work executed outside a run counts over the rolling
/// window with the same limits. With `max_actions_per_run = 1`, a run fixes one bucket;
/// the approval of another, given right after, must not execute (before, it was a run of
/// its own and started the count from zero). The oracle is the fake cloud's calls.
#[tokio::test]
async fn approved_work_outside_a_run_counts_over_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let world = Arc::new(World::default());
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let extra = "[gate]\nmax_actions_per_run = 1\nmax_actions_per_account_per_run = 1\n";
    // Production buckets wait for approval at autonomy 4; `dev-` ones are fixed.
    #[derive(Debug)]
    struct ByName(Arc<World>);
    #[async_trait]
    impl ResourceReader for ByName {
        async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
            let env = if r.resource_id.starts_with("dev-") {
                "dev"
            } else {
                "production"
            };
            Ok(Some(self.0.item(&r.resource_id, env)))
        }
    }
    let config = common::config(&format!(
        "[autonomy]\ndefault = 4\n[guard]\nrate_per_second = 1000\nrate_burst = 1000\n{extra}"
    ));
    let e = common::engine(config, world.clone(), Arc::new(ByName(world.clone())), &db).await;
    let items = vec![world.item("prod-b", "production")];
    e.run_once(&Items::new("sqs:test", items), Mode::Execute)
        .await
        .unwrap();
    let items = vec![world.item("dev-a", "dev")];
    let pending = run_then_pending(&e, items).await;
    assert_eq!(*world.calls.lock().unwrap(), vec!["dev-a".to_string()]);
    assert_eq!(pending.len(), 1);
    let (after, _) = e
        .approve(&pending[0].id, &reviewer("rita"), None, None, true)
        .await
        .unwrap();
    assert_eq!(
        *world.calls.lock().unwrap(),
        vec!["dev-a".to_string()],
        "the approval started the per-run limit from zero"
    );
    // Not lost: still approved, to run when the window allows.
    assert_eq!(after.status, ApprovalStatus::Approved);
}

/// Run `sql` against the engine's ledger directly, as someone with the database.
async fn by_sql(e: &Engine, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(e.ledger().pool())
        .await
        .unwrap();
}

/// Item 4 of issue 22: the switches, the runtime autonomy levels and an action's record
/// are projections of their events. The kill switch turned off and a level raised by
/// `UPDATE`, and a fix's `before` edited in its row, change nothing in the cloud; the
/// same steps done through custos do (liveness). The oracle is the fake cloud's calls.
/// Watched failing with `Ledger::guard_state`'s check and the rollback's check removed:
/// the edited switch and level executed fixes, and the rollback restored the edited
/// `before`.
#[tokio::test]
async fn switches_levels_and_records_edited_by_sql_decide_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let world = Arc::new(World::default());
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let e = engine(&world, &db, "", "dev").await;
    let calls = || world.calls.lock().unwrap().clone();
    let run = |bucket: &str| {
        let items = vec![world.item(bucket, "dev")];
        async {
            e.run_once(&Items::new("sqs:test", items), Mode::Execute)
                .await
        }
    };

    // Paused through custos, resumed by SQL: nothing executes.
    assert!(e.ledger().pause("olivia", "INC-1").await.unwrap());
    by_sql(&e, "UPDATE guard_state SET paused = 0").await;
    let _ = run("b-1").await;
    assert_eq!(calls(), Vec::<String>::new(), "the switch edited by SQL");
    by_sql(&e, "UPDATE guard_state SET paused = 1").await;
    assert!(e.ledger().resume("olivia").await.unwrap());
    run("b-1").await.unwrap();
    assert_eq!(calls(), vec!["b-1".to_string()], "resumed through custos");

    // Level 1 (recommend) through custos, 5 by SQL: nothing executes.
    let one = custos_core::AutonomyLevel::try_from(1u8).unwrap();
    e.ledger()
        .set_autonomy("s3", "*", one, "olivia", "freeze")
        .await
        .unwrap();
    by_sql(&e, "UPDATE autonomy_settings SET level = 5").await;
    let _ = run("b-2").await;
    assert_eq!(calls(), vec!["b-1".to_string()], "the level edited by SQL");
    by_sql(&e, "UPDATE autonomy_settings SET level = 1").await;
    let four = custos_core::AutonomyLevel::try_from(4u8).unwrap();
    e.ledger()
        .set_autonomy("s3", "*", four, "olivia", "thaw")
        .await
        .unwrap();

    // The fix of b-1 with its `before` edited in its row: the rollback refuses to
    // restore it; the row put back, the rollback restores the recorded state.
    let action = e
        .ledger()
        .actions(None)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.plan.resource.resource_id == "b-1")
        .unwrap()
        .id;
    let operator = operator();
    let original: String = sqlx::query_scalar("SELECT record FROM actions WHERE id = $1")
        .bind(&action)
        .fetch_one(e.ledger().pool())
        .await
        .unwrap();
    let mut edited: Value = serde_json::from_str(&original).unwrap();
    edited["before"]["facet"] = serde_json::json!({"edited": true});
    sqlx::query("UPDATE actions SET record = $1 WHERE id = $2")
        .bind(edited.to_string())
        .bind(&action)
        .execute(e.ledger().pool())
        .await
        .unwrap();
    let err = e
        .rollback(&action, &operator)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("its row differs from its events"), "{err}");
    assert_eq!(calls().len(), 1, "restored from an edited row");
    sqlx::query("UPDATE actions SET record = $1 WHERE id = $2")
        .bind(&original)
        .bind(&action)
        .execute(e.ledger().pool())
        .await
        .unwrap();
    e.rollback(&action, &operator).await.unwrap();
    assert_eq!(calls().len(), 2, "the genuine rollback");
    assert_eq!(world.blocked.lock().unwrap().get("b-1"), Some(&false));
}
