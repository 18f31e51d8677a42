//! The ledger: every decision and action as evidence. SQLite by default (one file),
//! Postgres for several workers (`postgres://...`); one code path through sqlx's `Any`
//! driver, with a migration set per dialect that builds the same tables.
//!
//! `events` is append-only (triggers refuse UPDATE and DELETE) and hash-chained: each row
//! stores `prev_hash` and `hash = SHA-256(prev_hash || canonical JSON of the event)`, so
//! [`Ledger::verify_chain`] detects any edit made behind custos' back. The other tables
//! (`runs`, `approvals`, `actions`, `claims`, `guard_state`, ...) hold current state;
//! every change to them is written in the same transaction as its event.
//!
//! Every write transaction takes the ledger's write lock first (`BEGIN IMMEDIATE` on
//! SQLite, a transaction-scoped advisory lock on Postgres): the ledger is the lock between
//! processes (a service and a CLI approving, several workers), so a writer waits for the
//! other instead of failing on a stale snapshot, and the chain stays one chain.

mod actions;
mod approvals;
pub mod chain;
pub mod checked;
mod export;
mod findings;
mod guard;
mod identity;
mod inputs;
pub mod merkle;
mod prune;
pub mod refusals;
mod replay;
mod rollout;
#[doc(hidden)]
pub mod testing;
pub mod told;

pub use actions::{ActionMeta, ActionRow, ActionStatus, NewIntent};
pub use checked::TokenCheck;
pub use findings::{CurrentFinding, Evaluated, LedgerCounts};
pub use guard::{
    Admission, AutonomySetting, Claim, ClaimAttempt, Counts, FailureCounts, GuardSnapshot,
    GuardState, RateDebit, Scope, SwitchInfo,
};
pub use identity::{PrincipalRow, TokenRow};
pub use inputs::{DeadLetter, Projections};
pub use prune::{PruneRow, Pruned};
pub use rollout::RolloutChange;

use chrono::{DateTime, Utc};
use custos_core::{Clock, ResourceRef, SystemClock, canonical_json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use std::sync::Arc;
use std::time::Duration;

pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open ledger `{url}`: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("ledger migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("ledger query failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("ledger holds unreadable JSON in `{table}`: {source}")]
    Json {
        table: &'static str,
        source: serde_json::Error,
    },
    #[error("ledger holds an unreadable value in `{table}.{column}`: `{value}`")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        value: String,
    },
    #[error("no {kind} `{id}`")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} `{id}` exists already")]
    Exists { kind: &'static str, id: String },
    #[error("{kind} `{id}` matches several entries; give more characters")]
    Ambiguous { kind: &'static str, id: String },
    #[error("approval `{id}` is `{actual}`, not {expected}")]
    Conflict {
        id: String,
        actual: String,
        expected: String,
    },
    #[error("the `{table}` table does not say what its events say: {detail}")]
    Tampered { table: &'static str, detail: String },
    #[error("{0}")]
    NotAllowed(String),
    #[error("the claim on `{key}` (token {token}) is no longer held by `{holder}`")]
    ClaimLost {
        key: String,
        holder: String,
        token: i64,
    },
}

pub type Result<T> = std::result::Result<T, LedgerError>;

/// The subject an event is linked into (`prior`): its action (`action.*` events, keyed by
/// `action_id`) or its approval request (`approval.*`, keyed by `approval_id`).
pub fn subject_of(kind: &str, payload: &Value) -> Option<String> {
    let key = |field: &str| payload.get(field).and_then(Value::as_str);
    if kind.starts_with("action.") {
        key("action_id").map(|id| format!("action:{id}"))
    } else if kind.starts_with("approval.") {
        key("approval_id").map(|id| format!("approval:{id}"))
    } else {
        None
    }
}

/// `account/region/type/id`: how resources are keyed in the ledger.
pub fn resource_key(r: &ResourceRef) -> String {
    format!(
        "{}/{}/{}/{}",
        r.account, r.region, r.resource_type, r.resource_id
    )
}

/// One ledger event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    /// The event's leaf number in the Merkle tree: dense from 0 in chain order.
    pub index: i64,
    pub id: String,
    pub at: DateTime<Utc>,
    pub run_id: Option<String>,
    pub kind: String,
    pub resource: Option<String>,
    pub payload: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl Event {
    /// The fields its hash covers, with `at` as stored (or as the caller formats it).
    pub fn body<'a>(&'a self, at: &'a str) -> chain::EventBody<'a> {
        chain::EventBody {
            index: self.index,
            id: &self.id,
            at,
            run_id: self.run_id.as_deref(),
            kind: &self.kind,
            resource: self.resource.as_deref(),
            payload: &self.payload,
            prev_hash: &self.prev_hash,
        }
    }
}

/// A run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub mode: String,
    pub source: String,
    pub requested_by: String,
    pub policy_digest: String,
    pub summary: Option<Value>,
}

/// Result of re-computing the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    pub events: u64,
    /// The first event held: 0, or a prune horizon (whose signed statement this check
    /// does not verify: `custos audit verify` does).
    #[serde(default)]
    pub starts_at: u64,
    pub head: String,
    /// Sequence number of the first event whose hash does not match, if any.
    pub first_bad: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub resource_contains: Option<String>,
    pub run_id: Option<String>,
    pub kind_prefix: Option<String>,
    pub limit: Option<i64>,
}

/// Which database holds the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names: `postgres://` or `postgresql://` is Postgres;
    /// `sqlite:` URLs and plain file paths are SQLite.
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// The advisory lock every Postgres write transaction takes (any constant works; this
/// one spells "custos" in ASCII).
const PG_WRITE_LOCK: i64 = 0x6375_7374_6f73;

#[derive(Debug)]
pub struct Ledger {
    pool: AnyPool,
    backend: Backend,
    clock: Arc<dyn Clock>,
    /// Refusals written per key and minute (caller input cannot flood the ledger).
    refusals: std::sync::Mutex<refusals::Limiter>,
    /// The folds of [`Ledger::told`] by kinds, with the last event folded (each use reads
    /// only the events appended since).
    told_cache: std::sync::Mutex<std::collections::HashMap<String, (i64, told::Told)>>,
}

/// A SQLite URL for `url` (a plain path becomes `sqlite://path`, created if missing, its
/// directory too), and whether it is in memory.
fn sqlite_url(url: &str) -> (String, bool) {
    let full = if url.starts_with("sqlite:") {
        url.to_string()
    } else {
        format!("sqlite://{url}")
    };
    if full.contains(":memory:") {
        return (full, true);
    }
    let rest = full
        .strip_prefix("sqlite://")
        .or_else(|| full.strip_prefix("sqlite:"))
        .unwrap_or(&full);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        let _ = std::fs::create_dir_all(parent);
    }
    let url = if query.split('&').any(|kv| kv.starts_with("mode=")) {
        format!("sqlite://{path}?{query}")
    } else if query.is_empty() {
        format!("sqlite://{path}?mode=rwc")
    } else {
        format!("sqlite://{path}?{query}&mode=rwc")
    };
    (url, false)
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => {
                let user = user.split_once(':').map_or(user, |(u, _)| u);
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(
    table: &'static str,
    column: &'static str,
    s: &str,
) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| LedgerError::Corrupt {
            table,
            column,
            value: s.to_string(),
        })
}

pub(crate) fn json_col<T: serde::de::DeserializeOwned>(table: &'static str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|source| LedgerError::Json { table, source })
}

pub(crate) fn to_json<T: Serialize>(table: &'static str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|source| LedgerError::Json { table, source })
}

pub(crate) fn to_value<T: Serialize>(table: &'static str, v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|source| LedgerError::Json { table, source })
}

pub(crate) type Tx = Transaction<'static, Any>;

impl Ledger {
    /// Open (creating if needed) a ledger on the system clock. `url` is `sqlite://path`,
    /// `sqlite::memory:`, a plain file path, or `postgres://user@host:port/database`.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with_clock(url, Arc::new(SystemClock)).await
    }

    /// Open with a clock of the caller's (tests pin time).
    pub async fn open_with_clock(url: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url);
        let open_err = |source| LedgerError::Open {
            url: redact(url),
            source,
        };
        let pool = match backend {
            Backend::Sqlite => {
                let (full, memory) = sqlite_url(url);
                // An in-memory database exists once per connection: keep to one.
                AnyPoolOptions::new()
                    .max_connections(if memory { 1 } else { 4 })
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&full)
                    .await
                    .map_err(open_err)?
            }
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await
                .map_err(open_err)?,
        };
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => {
                // Two workers starting at once migrate one at a time.
                let mut conn = pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(PG_WRITE_LOCK)
                    .execute(&mut *conn)
                    .await?;
                let migrated = sqlx::migrate!("./migrations/postgres")
                    .run(&mut *conn)
                    .await;
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(PG_WRITE_LOCK)
                    .execute(&mut *conn)
                    .await?;
                migrated?
            }
        }
        let ledger = Ledger {
            pool,
            backend,
            clock,
            refusals: std::sync::Mutex::new(refusals::Limiter::default()),
            told_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        };
        ledger.adopt_legacy_identity().await?;
        Ok(ledger)
    }

    /// Which database this ledger is in.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The ledger's notion of now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A write transaction; it holds the ledger's write lock until commit.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                self.lock_chain(&mut tx).await?;
                Ok(tx)
            }
        }
    }

    /// Take the chain's lock inside `tx` (Postgres; on SQLite every write transaction
    /// holds the database's write lock already). Held until commit or rollback.
    pub(crate) async fn lock_chain(&self, tx: &mut Tx) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_WRITE_LOCK)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Append one event inside `tx`.
    pub(crate) async fn append_tx(
        &self,
        tx: &mut Tx,
        run_id: Option<&str>,
        kind: &str,
        resource: Option<&ResourceRef>,
        payload: &Value,
    ) -> Result<Event> {
        let last: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT hash, leaf_index FROM events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
        let (prev, index) = match last {
            None => (GENESIS.to_string(), 0),
            Some((hash, Some(i))) => (hash, i + 1),
            Some((hash, None)) => {
                return Err(LedgerError::Corrupt {
                    table: "events",
                    column: "leaf_index",
                    value: format!("NULL after `{hash}`"),
                });
            }
        };
        // The previous event about the same action or approval, by hash (issue 22 item 5).
        let subject = subject_of(kind, payload);
        let mut linked;
        let payload = match &subject {
            None => payload,
            Some(s) => {
                let prior: Option<String> =
                    sqlx::query_scalar("SELECT hash FROM subject_heads WHERE subject = $1")
                        .bind(s)
                        .fetch_optional(&mut **tx)
                        .await?;
                linked = payload.clone();
                linked["prior"] = serde_json::json!(prior);
                &linked
            }
        };
        let id = uuid::Uuid::new_v4().to_string();
        let at = self.now();
        let at_s = ts(&at);
        let resource = resource.map(resource_key);
        let hash = chain::EventBody {
            index,
            id: &id,
            at: &at_s,
            run_id,
            kind,
            resource: resource.as_deref(),
            payload,
            prev_hash: &prev,
        }
        .hash(chain::SCHEME)?;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO events (id, at, run_id, kind, resource, payload, prev_hash, hash, leaf_index, scheme) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
        )
        .bind(&id)
        .bind(&at_s)
        .bind(run_id)
        .bind(kind)
        .bind(&resource)
        .bind(canonical_json(payload))
        .bind(&prev)
        .bind(&hash)
        .bind(index)
        .bind(chain::SCHEME)
        .fetch_one(&mut **tx)
        .await?;
        if let Some(s) = &subject {
            sqlx::query(
                "INSERT INTO subject_heads (subject, hash, leaf_index) VALUES ($1, $2, $3)
                 ON CONFLICT (subject) DO UPDATE SET hash = excluded.hash, leaf_index = excluded.leaf_index",
            )
            .bind(s)
            .bind(&hash)
            .bind(index)
            .execute(&mut **tx)
            .await?;
        }
        Ok(Event {
            seq,
            index,
            id,
            at,
            run_id: run_id.map(str::to_string),
            kind: kind.to_string(),
            resource,
            payload: payload.clone(),
            prev_hash: prev,
            hash,
        })
    }

    /// Append one event to the chain.
    pub async fn append(
        &self,
        run_id: Option<&str>,
        kind: &str,
        resource: Option<&ResourceRef>,
        payload: &Value,
    ) -> Result<Event> {
        let mut tx = self.begin().await?;
        let e = self
            .append_tx(&mut tx, run_id, kind, resource, payload)
            .await?;
        tx.commit().await?;
        Ok(e)
    }

    /// Append several events in one transaction (one commit for all of them).
    pub async fn append_many(
        &self,
        run_id: Option<&str>,
        events: &[(&str, Option<&ResourceRef>, Value)],
    ) -> Result<Vec<Event>> {
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(events.len());
        for (kind, resource, payload) in events {
            out.push(
                self.append_tx(&mut tx, run_id, kind, *resource, payload)
                    .await?,
            );
        }
        tx.commit().await?;
        Ok(out)
    }

    pub(crate) fn event_from_row(row: &AnyRow) -> Result<Event> {
        let index: Option<i64> = row.try_get("leaf_index")?;
        Ok(Event {
            seq: row.try_get("seq")?,
            index: index.ok_or_else(|| LedgerError::Corrupt {
                table: "events",
                column: "leaf_index",
                value: "NULL".to_string(),
            })?,
            id: row.try_get("id")?,
            at: parse_ts("events", "at", &row.try_get::<String, _>("at")?)?,
            run_id: row.try_get("run_id")?,
            kind: row.try_get("kind")?,
            resource: row.try_get("resource")?,
            payload: json_col("events", &row.try_get::<String, _>("payload")?)?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    /// Does the stored hash match the event's content and its stored `prev_hash`?
    pub(crate) fn hash_matches(row: &AnyRow, e: &Event) -> Result<bool> {
        let at: String = row.try_get("at")?;
        let scheme: i64 =
            row.try_get::<Option<i64>, _>("scheme")?
                .ok_or_else(|| LedgerError::Corrupt {
                    table: "events",
                    column: "scheme",
                    value: "NULL".to_string(),
                })?;
        let expect = e.body(&at).hash(scheme)?;
        Ok(expect == e.hash)
    }

    /// Events, newest last, filtered.
    pub async fn events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT * FROM (SELECT * FROM events
               WHERE ($1 IS NULL OR lower(resource) LIKE '%' || lower($1) || '%')
                 AND ($2 IS NULL OR run_id = $2)
                 AND ($3 IS NULL OR kind LIKE $3 || '%')
               ORDER BY seq DESC LIMIT $4) AS newest ORDER BY seq ASC",
        )
        .bind(&filter.resource_contains)
        .bind(&filter.run_id)
        .bind(&filter.kind_prefix)
        .bind(filter.limit.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::event_from_row).collect()
    }

    /// Events after `seq` that outcomes are folded from (`action.*`, `approval.*`,
    /// `recurrence`, `autonomy.set`), at most `limit`, oldest first: how the engine's
    /// fold of outcomes catches up.
    pub async fn outcome_events_after(&self, seq: i64, limit: i64) -> Result<Vec<Event>> {
        self.events_after(
            seq,
            limit,
            "SELECT * FROM events WHERE seq > $1
               AND (kind LIKE 'action.%' OR kind LIKE 'approval.%' OR kind = 'recurrence' OR kind = 'autonomy.set' OR kind = 'rollout.set')
             ORDER BY seq ASC LIMIT $2",
        )
        .await
    }

    /// The events `query` (static text, binding the `seq` after which and the `limit`)
    /// selects.
    async fn events_after(&self, seq: i64, limit: i64, query: &'static str) -> Result<Vec<Event>> {
        let rows = sqlx::query(query)
            .bind(seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::event_from_row).collect()
    }

    /// Events after `seq` that times to fix are folded from (`resource.evaluated`,
    /// `input.resource_gone`, `action.*`), at most `limit`, oldest first.
    pub async fn fix_time_events_after(&self, seq: i64, limit: i64) -> Result<Vec<Event>> {
        self.events_after(
            seq,
            limit,
            "SELECT * FROM events WHERE seq > $1
               AND (kind IN ('resource.evaluated', 'input.resource_gone') OR kind LIKE 'action.%')
             ORDER BY seq ASC LIMIT $2",
        )
        .await
    }

    /// Recompute every hash from the start of the chain.
    pub async fn verify_chain(&self) -> Result<ChainReport> {
        use futures::TryStreamExt as _;
        // After a prune the chain starts at the horizon, from the hash the statement names
        // (`audit verify` checks the statement's signature; this checks the links).
        let (mut prev, start) = match self.latest_prune().await? {
            Some(p) => (p.last_hash, p.horizon as i64),
            None => (GENESIS.to_string(), 0),
        };
        // Streamed: one event in memory at a time, however long the ledger.
        let mut rows = sqlx::query("SELECT * FROM events ORDER BY seq ASC").fetch(&self.pool);
        let mut first_bad = None;
        let mut events: u64 = 0;
        while let Some(row) = rows.try_next().await? {
            let position = events as i64;
            events += 1;
            if first_bad.is_some() {
                continue;
            }
            let Ok(e) = Self::event_from_row(&row) else {
                first_bad = Some(row.try_get("seq")?);
                continue;
            };
            if e.prev_hash != prev
                || e.index != start + position
                || !Self::hash_matches(&row, &e).unwrap_or(false)
            {
                first_bad = Some(e.seq);
                continue;
            }
            prev = e.hash;
        }
        Ok(ChainReport {
            events,
            starts_at: start as u64,
            head: prev,
            first_bad,
        })
    }

    pub async fn start_run(&self, run: &Run) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO runs (id, started_at, mode, source, requested_by, policy_digest) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&run.id)
            .bind(ts(&run.started_at))
            .bind(&run.mode)
            .bind(&run.source)
            .bind(&run.requested_by)
            .bind(&run.policy_digest)
            .execute(&mut *tx)
            .await?;
        self.append_tx(&mut tx, Some(&run.id), "run.started", None, &json!({"mode": run.mode, "source": run.source, "requested_by": run.requested_by, "policy_digest": run.policy_digest}))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn finish_run(&self, run_id: &str, summary: &Value) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE runs SET finished_at = $1, summary = $2 WHERE id = $3")
            .bind(ts(&self.now()))
            .bind(summary.to_string())
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        self.append_tx(&mut tx, Some(run_id), "run.finished", None, summary)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Close the pool (flushes the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    #[doc(hidden)]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

#[cfg(test)]
mod tests;
