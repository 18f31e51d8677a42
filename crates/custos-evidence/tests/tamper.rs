#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! Tamper tests over a ledger of 10,000 events with a checkpoint every 100, published to a
//! witness directory. Each case damages a copy of the same ledger the way an attacker with
//! database access would (triggers dropped, rows edited, deleted, moved, re-hashed,
//! checkpoints forged or removed) and expects exactly the damage it did, by kind and by
//! event. The oracle is the list of what each case changed, kept by the test.

use custos_evidence::audit::{AuditReport, Auditor, DamageKind};
use custos_evidence::checkpoint::{Cadence, Checkpointer, checkpoint_text};
use custos_evidence::{DirWitness, PublicKey, SigningKey, Witness};
use custos_ledger::chain::EventBody;
use custos_ledger::{Backend, Ledger};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{Mutex, OnceCell};

const EVENTS: u64 = 10_000;
const EVERY: u64 = 100;
const ORIGIN: &str = "custos.test/ledger";

struct Pristine {
    _dir: tempfile::TempDir,
    /// The SQLite file, or the Postgres database's URL (a closed database, the template
    /// of every case's copy).
    db: String,
    witness: PathBuf,
    public: String,
    private: String,
}

static PRISTINE_SQLITE: OnceCell<Pristine> = OnceCell::const_new();
static PRISTINE_POSTGRES: OnceCell<Pristine> = OnceCell::const_new();

/// A new ledger's database on `backend`: a file in `dir`, or an empty Postgres database.
async fn new_database(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => dir.join("ledger.db").display().to_string(),
        Backend::Postgres => custos_ledger::testing::fresh_postgres().await,
    }
}

/// The untouched ledger, built once per backend: 10,000 events, a checkpoint after every
/// 100.
async fn pristine(backend: Backend) -> &'static Pristine {
    let cell = match backend {
        Backend::Sqlite => &PRISTINE_SQLITE,
        Backend::Postgres => &PRISTINE_POSTGRES,
    };
    cell.get_or_init(|| async {
        let dir = tempfile::tempdir().unwrap();
        let db = new_database(backend, dir.path()).await;
        let witness = dir.path().join("witness");
        let (private, public) = SigningKey::generate(ORIGIN).unwrap();
        let ledger = Arc::new(Ledger::open(&db).await.unwrap());
        assert_eq!(ledger.backend(), backend);
        let w: Arc<dyn Witness> = Arc::new(DirWitness {
            dir: witness.clone(),
        });
        let cp = Checkpointer::new(
            ledger.clone(),
            SigningKey::parse(&private, "test").unwrap(),
            vec![w],
            Cadence::default(),
        );
        for batch in 0..EVENTS / EVERY {
            let events: Vec<(&str, Option<&custos_core::ResourceRef>, Value)> = (0..EVERY)
                .map(|i| {
                    (
                        "test.event",
                        None,
                        json!({"batch": batch, "i": i, "note": "é ☃ \u{1F600}"}),
                    )
                })
                .collect();
            ledger.append_many(Some("run-1"), &events).await.unwrap();
            let c = cp.checkpoint().await.unwrap();
            assert!(c.failed.is_empty(), "{:?}", c.failed);
        }
        // Closed: a Postgres template database must have no connections when copied.
        ledger.close().await;
        Pristine {
            _dir: dir,
            db,
            witness,
            public,
            private,
        }
    })
    .await
}

/// Copies of a Postgres template are made one at a time (a copy in progress holds the
/// template).
static COPYING: Mutex<()> = Mutex::const_new(());

/// A new Postgres database copied from the one at `template` (a URL); its URL.
async fn copy_postgres(template: &str) -> String {
    let (server, source) = template.rsplit_once('/').unwrap();
    let name = format!("custos_t_{}", uuid::Uuid::new_v4().simple());
    let _one_at_a_time = COPYING.lock().await;
    let mut admin = sqlx::PgConnection::connect(&custos_ledger::testing::admin_url())
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE {name} TEMPLATE {source}"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    format!("{server}/{name}")
}

/// A copy of the pristine ledger and witness to damage.
struct Case {
    _dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    witness: PathBuf,
    key: PublicKey,
    backend: Backend,
}

async fn case(backend: Backend) -> Case {
    let p = pristine(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let db = match backend {
        Backend::Sqlite => {
            let db = dir.path().join("ledger.db");
            std::fs::copy(&p.db, &db).unwrap();
            db.display().to_string()
        }
        Backend::Postgres => copy_postgres(&p.db).await,
    };
    let witness = dir.path().join("witness");
    std::fs::create_dir(&witness).unwrap();
    for entry in std::fs::read_dir(&p.witness).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), witness.join(entry.file_name())).unwrap();
    }
    let ledger = Arc::new(Ledger::open(&db).await.unwrap());
    assert_eq!(ledger.backend(), backend);
    Case {
        _dir: dir,
        ledger,
        witness,
        key: PublicKey::parse(&p.public, "test").unwrap(),
        backend,
    }
}

/// `both! { async fn name(backend) { ... } }`: the test as `name::sqlite` and
/// `name::postgres`, the same body with `backend` set to each.
macro_rules! both {
    ($(#[$doc:meta])* async fn $name:ident($backend:ident) $body:block) => {
        $(#[$doc])*
        mod $name {
            use super::*;
            async fn body($backend: Backend) $body
            #[tokio::test]
            async fn sqlite() {
                body(Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                body(Backend::Postgres).await
            }
        }
    };
}

impl Case {
    async fn sql(&self, q: &str) {
        sqlx::raw_sql(AssertSqlSafe(q.to_string()))
            .execute(self.ledger.pool())
            .await
            .unwrap();
    }

    /// The statement in this ledger's dialect.
    fn dialect(&self, sqlite: impl Into<String>, postgres: impl Into<String>) -> String {
        match self.backend {
            Backend::Sqlite => sqlite.into(),
            Backend::Postgres => postgres.into(),
        }
    }

    async fn drop_triggers(&self) {
        for (table, t) in [
            ("events", "events_no_update"),
            ("events", "events_no_delete"),
            ("checkpoints", "checkpoints_no_update"),
            ("checkpoints", "checkpoints_no_delete"),
        ] {
            let q = self.dialect(
                format!("DROP TRIGGER {t}"),
                format!("DROP TRIGGER {t} ON {table}"),
            );
            self.sql(&q).await;
        }
    }

    fn witness(&self) -> Arc<dyn Witness> {
        Arc::new(DirWitness {
            dir: self.witness.clone(),
        })
    }

    /// The witness directory's files and their bytes, by name.
    fn witness_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&self.witness)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().to_string(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    /// A checkpointer with the pristine ledger's key, publishing to this case's witness.
    async fn checkpointer(&self) -> (Checkpointer, Arc<dyn Witness>) {
        let w = self.witness();
        let cp = Checkpointer::new(
            self.ledger.clone(),
            SigningKey::parse(&pristine(self.backend).await.private, "test").unwrap(),
            vec![w.clone()],
            Cadence::default(),
        );
        (cp, w)
    }

    async fn audit(&self) -> AuditReport {
        self.auditor().verify().await.unwrap()
    }
}

fn counts(pairs: &[(DamageKind, u64)]) -> BTreeMap<DamageKind, u64> {
    pairs.iter().copied().collect()
}

fn indexes(r: &AuditReport, kind: DamageKind) -> BTreeSet<u64> {
    r.damage
        .iter()
        .filter(|d| d.kind == kind)
        .map(|d| d.index.unwrap())
        .collect()
}

/// 100 leaf indexes spread over the log, none adjacent, none the first or last.
fn spread(offset: u64) -> Vec<u64> {
    (0..100).map(|k| offset + k * 98 + (k * k) % 13).collect()
}

both! {
async fn an_untouched_ledger_verifies_clean(backend) {
    let c = case(backend).await;
    let r = c.audit().await;
    assert!(r.intact(), "{:#?}", r.damage);
    assert_eq!(r.events, EVENTS);
    assert_eq!(r.valid_checkpoints, EVENTS / EVERY);
    assert_eq!((r.anchored, r.pending), (EVENTS, 0));
    assert_eq!(r.witnesses.len(), 1);
    assert_eq!(r.witnesses[0].1, EVENTS / EVERY);
}
}

both! {
async fn edited_events_are_found_one_by_one(backend) {
    let c = case(backend).await;
    c.drop_triggers().await;
    let edited = spread(11);
    for i in &edited {
        c.sql(&format!(
            "UPDATE events SET payload = '{{\"batch\":0,\"i\":0,\"note\":\"approved by nobody\"}}' WHERE leaf_index = {i}"
        ))
        .await;
    }
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::Edited, 100)]),
        "{:#?}",
        &r.damage[..3]
    );
    assert_eq!(
        indexes(&r, DamageKind::Edited),
        edited.iter().copied().collect()
    );
    assert_eq!(r.first_bad().unwrap().index, Some(edited[0]));
}
}

both! {
async fn an_edit_whose_hash_was_recomputed_is_still_an_edit(backend) {
    let c = case(backend).await;
    c.drop_triggers().await;
    // The attacker re-hashes the edited event but not the ones after it.
    let rows = c.ledger.raw_events_from(4321, 1).await.unwrap();
    let e = &rows[0];
    let payload = json!({"forged": true});
    let hash = EventBody {
        payload: &payload,
        ..e.body(&payload)
    }
    .hash(1)
    .unwrap();
    c.sql(&format!(
        "UPDATE events SET payload = '{}', hash = '{hash}' WHERE leaf_index = 4321",
        payload
    ))
    .await;
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::Edited, 1)]),
        "{:#?}",
        r.damage
    );
    assert_eq!(r.first_bad().unwrap().index, Some(4321));
}
}

both! {
async fn deleted_events_are_found_one_by_one(backend) {
    let c = case(backend).await;
    c.drop_triggers().await;
    let deleted = spread(23);
    let list = deleted
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    c.sql(&format!("DELETE FROM events WHERE leaf_index IN ({list})"))
        .await;
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::Deleted, 100)]),
        "{:#?}",
        &r.damage[..3]
    );
    assert_eq!(
        indexes(&r, DamageKind::Deleted),
        deleted.iter().copied().collect()
    );
    assert_eq!(r.events, EVENTS - 100);
}
}

both! {
async fn reordered_events_are_found_one_per_move(backend) {
    let c = case(backend).await;
    c.drop_triggers().await;
    // 100 disjoint pairs of neighbours swap their places in storage.
    let firsts = spread(5);
    for i in &firsts {
        let seq = |n: u64| {
            let pool = c.ledger.pool().clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT seq FROM events WHERE leaf_index = $1")
                    .bind(n as i64)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        let (a, b) = (seq(*i).await, seq(i + 1).await);
        c.sql(&format!("UPDATE events SET seq = -1 WHERE seq = {a}"))
            .await;
        c.sql(&format!("UPDATE events SET seq = {a} WHERE seq = {b}"))
            .await;
        c.sql(&format!("UPDATE events SET seq = {b} WHERE seq = -1"))
            .await;
    }
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::Reordered, 100)]),
        "{:#?}",
        &r.damage[..3]
    );
    // One event of each swapped pair is reported as moved.
    let reported = indexes(&r, DamageKind::Reordered);
    for i in &firsts {
        assert_eq!(
            [*i, i + 1].iter().filter(|x| reported.contains(x)).count(),
            1,
            "pair {i}"
        );
    }
}
}

both! {
async fn a_truncated_tail_is_found_from_the_witness_even_when_the_ledger_hides_it(backend) {
    let c = case(backend).await;
    c.drop_triggers().await;
    c.sql("DELETE FROM events WHERE leaf_index >= 9750").await;
    // The attacker also removes the checkpoints that covered the removed events.
    c.sql("DELETE FROM checkpoints WHERE size > 9750").await;
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[
            (DamageKind::Truncated, 1),
            (DamageKind::MissingCheckpoint, 3)
        ]),
        "{:#?}",
        r.damage
    );
    assert_eq!(r.first_bad().unwrap().kind, DamageKind::Truncated);
    assert_eq!(r.first_bad().unwrap().index, Some(9750));
    assert_eq!(r.anchored, 9700);
}
}

/// Re-hash every event from `from` on, as someone with the database but not the key would.
async fn rewrite_from(c: &Case, from: i64) {
    let rows = c.ledger.raw_events_from(from, i64::MAX).await.unwrap();
    let mut prev = rows[0].prev_hash.clone();
    let mut tx = c.ledger.pool().begin().await.unwrap();
    for (k, e) in rows.iter().enumerate() {
        let payload: Value = if k == 0 {
            json!({"batch": 0, "i": 0, "note": "history rewritten"})
        } else {
            serde_json::from_str(&e.payload).unwrap()
        };
        let hash = EventBody {
            prev_hash: &prev,
            ..e.body(&payload)
        }
        .hash(1)
        .unwrap();
        sqlx::query("UPDATE events SET payload = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
            .bind(payload.to_string())
            .bind(&prev)
            .bind(&hash)
            .bind(e.seq)
            .execute(&mut *tx)
            .await
            .unwrap();
        prev = hash;
    }
    tx.commit().await.unwrap();
}

both! {
async fn a_chain_recomputed_without_the_key_is_found_by_the_signed_checkpoints(backend) {
    let c = case(backend).await;
    c.drop_triggers().await;
    rewrite_from(&c, 5000).await;
    // The chain is whole again: the database's own check cannot tell.
    assert_eq!(c.ledger.verify_chain().await.unwrap().first_bad, None);
    // And the checkpoints that would tell are removed from the ledger.
    c.sql("DELETE FROM checkpoints").await;
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[
            (DamageKind::Rewritten, 1),
            (DamageKind::MissingCheckpoint, 100)
        ]),
        "{:#?}",
        &r.damage[..3]
    );
    let first = r.first_bad().unwrap();
    assert_eq!(
        (first.kind, first.index),
        (DamageKind::Rewritten, Some(5000))
    );
    assert_eq!(r.anchored, 5000);
}
}

both! {
async fn a_checkpoint_signed_with_another_key_is_refused(backend) {
    let c = case(backend).await;
    c.drop_triggers().await;
    rewrite_from(&c, 5000).await;
    // The attacker signs the rewritten log under the same name with a key of their own.
    let (forger, _) = SigningKey::generate(ORIGIN).unwrap();
    let forger = SigningKey::parse(&forger, "forger").unwrap();
    let mut tree = custos_ledger::merkle::VecReader::default();
    let mut n = 0;
    c.ledger
        .for_each_raw_event(|e| {
            let h = custos_ledger::chain::hash_bytes(&e.hash).unwrap();
            tree.push_leaf(n, custos_ledger::chain::leaf_hash(&h))
                .unwrap();
            n += 1;
        })
        .await
        .unwrap();
    let root = tlog_tiles::tree_hash(EVENTS, &tree).unwrap();
    let at = c.ledger.now();
    let forged = forger
        .sign_note(&checkpoint_text(ORIGIN, EVENTS, root, &at).unwrap())
        .unwrap();
    let row = c
        .ledger
        .store_checkpoint(EVENTS, &root, &at, &forged)
        .await
        .unwrap();
    std::fs::write(
        c.witness.join(custos_evidence::witness::file_name(row.id)),
        &forged,
    )
    .unwrap();
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::Rewritten, 1), (DamageKind::BadCheckpoint, 1)]),
        "{:#?}",
        r.damage
    );
    assert!(
        r.damage.iter().any(|d| d.kind == DamageKind::BadCheckpoint
            && d.detail
                .contains(&format!("ledger checkpoint {}: not signed by", row.id))),
        "{:#?}",
        r.damage
    );
}
}

both! {
async fn a_deleted_witness_copy_is_missing(backend) {
    let c = case(backend).await;
    std::fs::remove_file(c.witness.join("checkpoint-0000000042")).unwrap();
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::MissingCheckpoint, 1)]),
        "{:#?}",
        r.damage
    );
    assert!(
        r.damage[0]
            .detail
            .contains("no copy of ledger checkpoint 42")
    );
}
}

both! {
async fn a_witness_copy_changed_by_one_byte_is_bad(backend) {
    let c = case(backend).await;
    let path: &Path = &c.witness.join("checkpoint-0000000007");
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::BadCheckpoint, 2)]),
        "{:#?}",
        r.damage
    );
}
}

both! {
async fn state_tables_that_disagree_with_their_events_are_found(backend) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(
        Ledger::open(&new_database(backend, dir.path()).await)
            .await
            .unwrap(),
    );
    assert_eq!(ledger.backend(), backend);
    let r = |id: &str| custos_core::ResourceRef {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        resource_type: "AWS::S3::Bucket".into(),
        resource_id: id.into(),
    };
    let at = chrono::Utc::now();
    for id in ["a", "b", "c"] {
        ledger.observe(&r(id), &at, "sha256:11").await.unwrap();
    }
    // An older capture changes nothing and records nothing.
    ledger
        .observe(&r("a"), &(at - chrono::Duration::hours(1)), "sha256:00")
        .await
        .unwrap();
    let (private, public) = SigningKey::generate(ORIGIN).unwrap();
    Checkpointer::new(
        ledger.clone(),
        SigningKey::parse(&private, "test").unwrap(),
        vec![],
        Cadence::default(),
    )
    .checkpoint()
    .await
    .unwrap();
    let auditor = Auditor {
        ledger: ledger.clone(),
        key: PublicKey::parse(&public, "test").unwrap(),
        witnesses: vec![],
        cadence: Cadence::default(),
    };
    let clean = auditor.verify().await.unwrap();
    assert!(clean.intact(), "{:#?}", clean.damage);
    assert_eq!(
        clean.events, 3,
        "one event per observation that changed the table"
    );

    let key = |id: &str| custos_ledger::resource_key(&r(id));
    for q in [
        format!("UPDATE observations SET state_digest = 'sha256:forged' WHERE resource = '{}'", key("a")),
        format!("DELETE FROM observations WHERE resource = '{}'", key("b")),
        "INSERT INTO observations VALUES ('ghost', '2026-01-01T00:00:00.000000Z', 'sha256:22', '2026-01-01T00:00:00.000000Z')".to_string(),
    ] {
        sqlx::raw_sql(AssertSqlSafe(q))
            .execute(ledger.pool())
            .await
            .unwrap();
    }
    let r = auditor.verify().await.unwrap();
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::StateMismatch, 3)]),
        "{:#?}",
        r.damage
    );
    let details: BTreeSet<&str> = r.damage.iter().map(|d| d.detail.as_str()).collect();
    let a = key("a");
    assert!(
        details
            .iter()
            .any(|d| d.starts_with(&format!("observation of `{a}` is `"))
                && d.ends_with("sha256:11`")),
        "{details:#?}"
    );
    assert!(
        details.contains(
            format!(
                "observation of `{}` has events but no row in its table",
                key("b")
            )
            .as_str()
        )
    );
    assert!(details.contains("observation of `ghost` is in its table with no event"));
}
}

both! {
async fn custos_refuses_to_sign_a_rewritten_history_even_with_its_tree_and_checkpoints_reset(backend) {
    let c = case(backend).await;
    c.drop_triggers().await;
    rewrite_from(&c, 5000).await;
    // Everything in the database that remembers the old history goes too.
    let reset =
        "DELETE FROM checkpoints; DELETE FROM merkle_hashes; UPDATE merkle_tree SET size = 0";
    c.sql(&c.dialect(
        format!("{reset}; DELETE FROM sqlite_sequence WHERE name = 'checkpoints'"),
        format!("{reset}; ALTER SEQUENCE checkpoints_id_seq RESTART WITH 1"),
    ))
    .await;
    let before = c.witness_files();
    let (cp, w) = c.checkpointer().await;
    let err = cp.checkpoint().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "the ledger no longer matches the checkpoint of {EVENTS} events held by dir {}",
            c.witness.display()
        )),
        "{err}"
    );
    assert!(
        c.ledger.checkpoints().await.unwrap().is_empty(),
        "nothing was signed"
    );
    let after = c.witness_files();
    assert_eq!(before, after, "the witness is untouched");
    // And a witness never lets a copy be replaced.
    let err = w
        .publish("checkpoint-0000000001", b"another note\n")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds another `checkpoint-0000000001`"),
        "{err}"
    );
}
}

both! {
async fn a_lost_witness_copy_is_published_again_by_the_next_checkpoint(backend) {
    let c = case(backend).await;
    let lost = c.witness.join("checkpoint-0000000042");
    let original = std::fs::read(&lost).unwrap();
    std::fs::remove_file(&lost).unwrap();
    let (cp, _) = c.checkpointer().await;
    let signed = cp.checkpoint().await.unwrap();
    assert!(signed.failed.is_empty(), "{:?}", signed.failed);
    assert_eq!(std::fs::read(&lost).unwrap(), original);
    assert!(c.audit().await.intact());
}
}

impl Case {
    fn auditor(&self) -> Auditor {
        Auditor {
            ledger: self.ledger.clone(),
            key: self.key.clone(),
            witnesses: vec![self.witness()],
            cadence: Cadence::default(),
        }
    }

    /// Record an export from the first event to `until` (what `evidence export` writes).
    async fn exported(&self, until: &str) {
        self.ledger
            .append(
                None,
                "evidence.exported",
                None,
                &json!({"framework": "nist-800-53-r5", "format": "oscal", "since": null, "until": until}),
            )
            .await
            .unwrap();
    }

    /// The time event `index` was recorded at.
    async fn at(&self, index: i64) -> chrono::DateTime<chrono::Utc> {
        let at: String = sqlx::query_scalar("SELECT at FROM events WHERE leaf_index = $1")
            .bind(index)
            .fetch_one(self.ledger.pool())
            .await
            .unwrap();
        chrono::DateTime::parse_from_rfc3339(&at).unwrap().into()
    }

    /// Prune the events recorded before event `index` (no export made here).
    async fn prune_before(
        &self,
        index: i64,
    ) -> Result<custos_ledger::Pruned, custos_evidence::EvidenceError> {
        let (cp, _) = self.checkpointer().await;
        let before = self.at(index).await;
        custos_evidence::prune::prune(
            &self.ledger,
            &cp,
            &self.auditor(),
            before,
            chrono::Duration::hours(24),
            "admin",
        )
        .await
    }

    /// Export up to event `index`, then prune before it.
    async fn export_and_prune(&self, index: i64) -> custos_ledger::Pruned {
        self.exported(&self.at(index).await.to_rfc3339()).await;
        self.prune_before(index).await.unwrap()
    }

    /// Prune the first half (events 0 to 4,999) after an export covering it.
    async fn prune_half(&self) -> custos_ledger::Pruned {
        self.export_and_prune(5000).await
    }

    async fn count(&self, q: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(q.to_string()))
            .fetch_one(self.ledger.pool())
            .await
            .unwrap()
    }
}

both! {
async fn a_prune_only_follows_an_export_and_keeps_the_log_verifiable(backend) {
    let c = case(backend).await;
    let (cp, _) = c.checkpointer().await;
    // No export covers the events: refused, nothing deleted.
    let refused = c.prune_before(5000).await.unwrap_err().to_string();
    assert!(refused.contains("no export covers the events"), "{refused}");
    assert_eq!(c.count("SELECT COUNT(*) FROM events").await, EVENTS as i64);

    let pruned = c.prune_half().await;
    assert_eq!((pruned.horizon, pruned.events), (5000, 5000));
    assert_eq!(c.count("SELECT MIN(leaf_index) FROM events").await, 5000);
    // The export's record and the prune's own event were added: 5,002 events remain.
    let r = c.audit().await;
    assert!(r.intact(), "{:#?}", r.damage);
    assert_eq!((r.pruned, r.events), (5000, 5002));
    assert_eq!((r.anchored, r.pending), (EVENTS + 2, 0));
    assert_eq!(c.ledger.verify_chain().await.unwrap().first_bad, None);
    // The log goes on: new events extend the same tree and verify.
    c.ledger
        .append(None, "test.event", None, &json!({"after": "prune"}))
        .await
        .unwrap();
    cp.checkpoint().await.unwrap();
    let r = c.audit().await;
    assert!(r.intact(), "{:#?}", r.damage);
    assert_eq!(r.anchored, EVENTS + 3);
    // The deleted events cannot come back through the trigger's door: the horizon only
    // lets events below it go.
    let kept = sqlx::query("DELETE FROM events WHERE leaf_index = 6000")
        .execute(c.ledger.pool())
        .await;
    assert!(kept.is_err(), "an event above the horizon was deleted");
}
}

both! {
async fn damage_above_the_horizon_is_still_found(backend) {
    let c = case(backend).await;
    c.prune_half().await;
    c.drop_triggers().await;
    let edited = [5100u64, 7777, 9998];
    for i in edited {
        c.sql(&c.dialect(
            format!("UPDATE events SET payload = json_set(payload, '$.i', 999) WHERE leaf_index = {i}"),
            format!("UPDATE events SET payload = CAST(jsonb_set(CAST(payload AS jsonb), '{{i}}', '999') AS text) WHERE leaf_index = {i}"),
        ))
        .await;
    }
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::Edited, 3)]),
        "{:#?}",
        r.damage
    );
    assert_eq!(
        indexes(&r, DamageKind::Edited),
        edited.into_iter().collect()
    );
}
}

both! {
async fn a_horizon_moved_without_the_key_is_refused_and_the_events_it_hid_are_deleted(backend) {
    let c = case(backend).await;
    c.prune_half().await;
    c.drop_triggers().await;
    // An attacker with the database: a statement for a later horizon signed by another
    // key, and the events below it deleted.
    let row = c.ledger.latest_prune().await.unwrap().unwrap();
    let (other, _) = SigningKey::generate(ORIGIN).unwrap();
    let forged = custos_ledger::PruneRow {
        horizon: 6000,
        last_hash: c.ledger.event_hash(5999).await.unwrap(),
        root: c.ledger.tree_root(6000).await.unwrap().to_string(),
        ..row
    };
    let note = SigningKey::parse(&other, "other")
        .unwrap()
        .sign_note(custos_evidence::prune::statement_text(ORIGIN, &forged).as_bytes())
        .unwrap();
    c.sql(&format!(
        "INSERT INTO ledger_prunes (horizon, last_hash, root, export_event, note, at) VALUES (6000, '{}', '{}', '{}', '{}', '{}')",
        forged.last_hash, forged.root, forged.export_event, note.replace('\'', "''"), "2026-11-23T00:00:00Z"
    ))
    .await;
    c.sql("DELETE FROM events WHERE leaf_index < 6000").await;
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::BadCheckpoint, 1), (DamageKind::Deleted, 1)]),
        "{:#?}",
        r.damage
    );
    assert!(
        r.damage
            .iter()
            .any(|d| d.detail.contains("prune statement") && d.detail.contains("not signed by"))
    );
    let deleted = r
        .damage
        .iter()
        .find(|d| d.kind == DamageKind::Deleted)
        .unwrap();
    // Verified from the genuine horizon: exactly the events the forged one hid.
    assert_eq!(deleted.detail, "events 5000 to 5999 (1000) are missing");
}
}

both! {
async fn a_changed_tree_hash_below_the_horizon_breaks_the_statement(backend) {
    let c = case(backend).await;
    c.prune_half().await;
    c.sql(&c.dialect(
        "UPDATE merkle_hashes SET hash = zeroblob(32) WHERE idx = 17",
        "UPDATE merkle_hashes SET hash = decode(repeat('00', 32), 'hex') WHERE idx = 17",
    ))
    .await;
    let r = c.audit().await;
    // Without a statement to trust, the pruned events count as deleted too.
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::BadCheckpoint, 1), (DamageKind::Deleted, 1)]),
        "{:#?}",
        r.damage
    );
    assert!(
        r.damage.iter().any(|d| d.kind == DamageKind::BadCheckpoint
            && d.detail.contains("the kept tree hashes are not one tree")),
        "{:#?}",
        r.damage
    );
}
}

both! {
async fn a_statement_row_alone_does_not_let_events_be_deleted(backend) {
    let c = case(backend).await;
    c.prune_half().await;
    // A second row copied from the genuine one, with a later horizon: the trigger still
    // refuses (only the prune's own transaction lifts it).
    c.sql("INSERT INTO ledger_prunes (horizon, last_hash, root, export_event, note, at) SELECT 9000, last_hash, root, export_event, note, at FROM ledger_prunes")
        .await;
    let deleted = sqlx::query("DELETE FROM events WHERE leaf_index = 5000")
        .execute(c.ledger.pool())
        .await;
    assert!(deleted.is_err(), "a statement row let an event be deleted");
    // And the row itself is reported.
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::BadCheckpoint, 1)]),
        "{:#?}",
        r.damage
    );
}
}

both! {
async fn a_second_prune_verifies_and_a_replayed_older_statement_is_found(backend) {
    let c = case(backend).await;
    c.prune_half().await;
    let second = c.export_and_prune(7000).await;
    assert_eq!((second.horizon, second.events), (7000, 2000));
    let r = c.audit().await;
    assert!(r.intact(), "{:#?}", r.damage);
    assert_eq!(r.pruned, 7000);
    // The first (genuine, validly signed) statement inserted again as the newest.
    c.drop_triggers().await;
    c.sql("INSERT INTO ledger_prunes (horizon, last_hash, root, export_event, note, at) SELECT horizon, last_hash, root, export_event, note, at FROM ledger_prunes WHERE horizon = 5000")
        .await;
    let r = c.audit().await;
    assert_eq!(
        r.counts,
        counts(&[(DamageKind::BadCheckpoint, 1)]),
        "{:#?}",
        r.damage
    );
    assert!(
        r.damage[0].detail.contains("does not move past 7000"),
        "{:#?}",
        r.damage
    );
    assert_eq!(
        r.pruned, 7000,
        "the log is still verified from the furthest valid horizon"
    );
}
}
