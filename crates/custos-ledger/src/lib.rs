//! The ledger: every decision and action as evidence. SQLite by default (one file).
//!
//! `events` is append-only (triggers refuse UPDATE and DELETE) and hash-chained: each row
//! stores `prev_hash` and `hash = SHA-256(prev_hash || canonical JSON of the event)`, so
//! [`Ledger::verify_chain`] detects any edit made behind custos' back. The other tables
//! (`runs`, `approvals`, `actions`, `dead_letters`) hold current state; every change to
//! them is also written as an event.

use chrono::{DateTime, Utc};
use custos_core::{
    Approval, ApprovalStatus, Digest, ExecutionRecord, RemediationPlan, ResourceRef, canonical_json,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
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
    #[error("no {kind} `{id}`")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} `{id}` matches several entries; give more characters")]
    Ambiguous { kind: &'static str, id: String },
    #[error("approval `{id}` is `{actual}`, not {expected}")]
    Conflict {
        id: String,
        actual: String,
        expected: String,
    },
}

pub type Result<T> = std::result::Result<T, LedgerError>;

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
    pub id: String,
    pub at: DateTime<Utc>,
    pub run_id: Option<String>,
    pub kind: String,
    pub resource: Option<String>,
    pub payload: Value,
    pub prev_hash: String,
    pub hash: String,
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

/// An action row: the plan, and the execution record once there is an outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRow {
    pub id: String,
    pub run_id: Option<String>,
    pub approval_id: Option<String>,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub plan: RemediationPlan,
    pub record: Option<ExecutionRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    pub at: DateTime<Utc>,
    pub run_id: Option<String>,
    pub source: String,
    pub location: String,
    pub field: Option<String>,
    pub error: String,
    pub raw: String,
}

/// Result of re-computing the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    pub events: u64,
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

#[derive(Debug)]
pub struct Ledger {
    pool: SqlitePool,
    append_lock: tokio::sync::Mutex<()>,
}

fn event_hash(
    prev: &str,
    id: &str,
    at: &str,
    run_id: Option<&str>,
    kind: &str,
    resource: Option<&str>,
    payload: &Value,
) -> String {
    let body = json!({"id": id, "at": at, "run_id": run_id, "kind": kind, "resource": resource, "payload": payload});
    let mut bytes = prev.as_bytes().to_vec();
    bytes.push(b'\n');
    bytes.extend_from_slice(canonical_json(&body).as_bytes());
    Digest::of_bytes(&bytes).0
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn json_col<T: serde::de::DeserializeOwned>(table: &'static str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|source| LedgerError::Json { table, source })
}

fn to_json<T: Serialize>(table: &'static str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|source| LedgerError::Json { table, source })
}

impl Ledger {
    /// Open (creating if needed) a ledger. `url` is `sqlite://path`, `sqlite::memory:` or
    /// a plain file path.
    pub async fn open(url: &str) -> Result<Self> {
        let full = if url.starts_with("sqlite:") {
            url.to_string()
        } else {
            format!("sqlite://{url}")
        };
        let open_err = |source| LedgerError::Open {
            url: url.to_string(),
            source,
        };
        let options = SqliteConnectOptions::from_str(&full)
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(parent) = std::path::Path::new(options.get_filename())
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            let _ = std::fs::create_dir_all(parent);
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Ledger {
            pool,
            append_lock: tokio::sync::Mutex::new(()),
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
        let _guard = self.append_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let prev: Option<String> =
            sqlx::query_scalar("SELECT hash FROM events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        let prev = prev.unwrap_or_else(|| GENESIS.to_string());
        let id = uuid::Uuid::new_v4().to_string();
        let at = now();
        let at_s = ts(&at);
        let resource = resource.map(resource_key);
        let hash = event_hash(
            &prev,
            &id,
            &at_s,
            run_id,
            kind,
            resource.as_deref(),
            payload,
        );
        let seq = sqlx::query(
            "INSERT INTO events (id, at, run_id, kind, resource, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&at_s)
        .bind(run_id)
        .bind(kind)
        .bind(&resource)
        .bind(canonical_json(payload))
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await?
        .last_insert_rowid();
        tx.commit().await?;
        Ok(Event {
            seq,
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

    fn event_from_row(row: &SqliteRow) -> Result<Event> {
        Ok(Event {
            seq: row.try_get("seq")?,
            id: row.try_get("id")?,
            at: parse_ts(&row.try_get::<String, _>("at")?),
            run_id: row.try_get("run_id")?,
            kind: row.try_get("kind")?,
            resource: row.try_get("resource")?,
            payload: json_col("events", &row.try_get::<String, _>("payload")?)?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    /// Events, newest last, filtered.
    pub async fn events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT * FROM (SELECT * FROM events
               WHERE (?1 IS NULL OR resource LIKE '%' || ?1 || '%')
                 AND (?2 IS NULL OR run_id = ?2)
                 AND (?3 IS NULL OR kind LIKE ?3 || '%')
               ORDER BY seq DESC LIMIT ?4) ORDER BY seq ASC",
        )
        .bind(&filter.resource_contains)
        .bind(&filter.run_id)
        .bind(&filter.kind_prefix)
        .bind(filter.limit.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::event_from_row).collect()
    }

    /// Recompute every hash from the start of the chain.
    pub async fn verify_chain(&self) -> Result<ChainReport> {
        let rows = sqlx::query("SELECT * FROM events ORDER BY seq ASC")
            .fetch_all(&self.pool)
            .await?;
        let mut prev = GENESIS.to_string();
        let mut first_bad = None;
        for row in &rows {
            let e = Self::event_from_row(row)?;
            let at: String = row.try_get("at")?;
            let expect = event_hash(
                &prev,
                &e.id,
                &at,
                e.run_id.as_deref(),
                &e.kind,
                e.resource.as_deref(),
                &e.payload,
            );
            if e.prev_hash != prev || e.hash != expect {
                first_bad = Some(e.seq);
                break;
            }
            prev = e.hash;
        }
        Ok(ChainReport {
            events: rows.len() as u64,
            head: prev,
            first_bad,
        })
    }

    pub async fn start_run(&self, run: &Run) -> Result<()> {
        sqlx::query("INSERT INTO runs (id, started_at, mode, source, requested_by, policy_digest) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&run.id)
            .bind(ts(&run.started_at))
            .bind(&run.mode)
            .bind(&run.source)
            .bind(&run.requested_by)
            .bind(&run.policy_digest)
            .execute(&self.pool)
            .await?;
        self.append(Some(&run.id), "run.started", None, &json!({"mode": run.mode, "source": run.source, "requested_by": run.requested_by, "policy_digest": run.policy_digest}))
            .await?;
        Ok(())
    }

    pub async fn finish_run(&self, run_id: &str, summary: &Value) -> Result<()> {
        sqlx::query("UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?")
            .bind(ts(&now()))
            .bind(summary.to_string())
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        self.append(Some(run_id), "run.finished", None, summary)
            .await?;
        Ok(())
    }

    // ---- approvals ----

    /// Store a new request, unless one is already open for the same resource and
    /// playbook: then that one is returned and nothing is written.
    pub async fn request_approval(&self, approval: &Approval) -> Result<(Approval, bool)> {
        let resource = resource_key(&approval.plan.resource);
        if let Some(existing) = self
            .open_approval(&resource, &approval.plan.playbook)
            .await?
        {
            return Ok((existing, false));
        }
        sqlx::query("INSERT INTO approvals (id, status, resource, playbook, before_digest, requested_at, expires_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&approval.id)
            .bind(approval.status.as_str())
            .bind(&resource)
            .bind(&approval.plan.playbook)
            .bind(approval.before_digest.as_str())
            .bind(ts(&approval.requested_at))
            .bind(ts(&approval.expires_at))
            .bind(to_json("approvals", approval)?)
            .execute(&self.pool)
            .await?;
        self.append(approval.run_id.as_deref(), "approval.requested", Some(&approval.plan.resource), &json!({
            "approval_id": approval.id, "plan_id": approval.plan.id, "playbook": approval.plan.playbook,
            "expires_at": ts(&approval.expires_at), "before_digest": approval.before_digest,
            "verdict": approval.decision.verdict,
        }))
        .await?;
        Ok((approval.clone(), true))
    }

    async fn open_approval(&self, resource: &str, playbook: &str) -> Result<Option<Approval>> {
        let row = sqlx::query("SELECT body FROM approvals WHERE resource = ? AND playbook = ? AND status IN ('pending', 'approved')")
            .bind(resource)
            .bind(playbook)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| json_col("approvals", &r.try_get::<String, _>("body")?))
            .transpose()
    }

    /// Find by full id or unique prefix.
    pub async fn approval(&self, id: &str) -> Result<Approval> {
        let rows = sqlx::query("SELECT body FROM approvals WHERE id LIKE ? || '%' LIMIT 2")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [] => Err(LedgerError::NotFound {
                kind: "approval",
                id: id.into(),
            }),
            [one] => json_col("approvals", &one.try_get::<String, _>("body")?),
            _ => Err(LedgerError::Ambiguous {
                kind: "approval",
                id: id.into(),
            }),
        }
    }

    pub async fn approvals(&self, status: Option<ApprovalStatus>) -> Result<Vec<Approval>> {
        let rows = sqlx::query("SELECT body FROM approvals WHERE (?1 IS NULL OR status = ?1) ORDER BY requested_at ASC")
            .bind(status.map(ApprovalStatus::as_str))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| json_col("approvals", &r.try_get::<String, _>("body")?))
            .collect()
    }

    /// Move an approval from one of `from` to the state in `updated`, atomically: if
    /// another process moved it first, this fails with `Conflict`.
    pub async fn transition_approval(
        &self,
        updated: &Approval,
        from: &[ApprovalStatus],
        event: &str,
    ) -> Result<()> {
        let from_list: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let from_json = serde_json::to_string(&from_list).unwrap_or_default();
        let done = sqlx::query("UPDATE approvals SET status = ?, body = ? WHERE id = ? AND status IN (SELECT value FROM json_each(?))")
            .bind(updated.status.as_str())
            .bind(to_json("approvals", updated)?)
            .bind(&updated.id)
            .bind(&from_json)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if done == 0 {
            let actual = self
                .approval(&updated.id)
                .await
                .map(|a| a.status.to_string())
                .unwrap_or_else(|_| "missing".into());
            return Err(LedgerError::Conflict {
                id: updated.id.clone(),
                actual,
                expected: from_list.join(" or "),
            });
        }
        self.append(updated.run_id.as_deref(), event, Some(&updated.plan.resource), &json!({
            "approval_id": updated.id, "status": updated.status, "by": updated.decided_by, "comment": updated.comment,
        }))
        .await?;
        Ok(())
    }

    // ---- actions ----

    /// Record that an action is about to run (the durable intent).
    pub async fn action_intent(
        &self,
        action_id: &str,
        run_id: Option<&str>,
        approval_id: Option<&str>,
        plan: &RemediationPlan,
        intent: &Value,
    ) -> Result<()> {
        sqlx::query("INSERT INTO actions (id, plan_id, run_id, approval_id, resource, action, status, started_at, plan) VALUES (?, ?, ?, ?, ?, ?, 'intent', ?, ?)")
            .bind(action_id)
            .bind(&plan.id)
            .bind(run_id)
            .bind(approval_id)
            .bind(resource_key(&plan.resource))
            .bind(&plan.action)
            .bind(ts(&now()))
            .bind(to_json("actions", plan)?)
            .execute(&self.pool)
            .await?;
        self.append(run_id, "action.intent", Some(&plan.resource), intent)
            .await?;
        Ok(())
    }

    /// Record how an action ended. Creates the row when no intent was needed (no-op, stale).
    pub async fn action_outcome(
        &self,
        run_id: Option<&str>,
        approval_id: Option<&str>,
        plan: &RemediationPlan,
        record: &ExecutionRecord,
    ) -> Result<()> {
        let status = record.outcome.as_str();
        let body = to_json("actions", record)?;
        let updated =
            sqlx::query("UPDATE actions SET status = ?, finished_at = ?, record = ? WHERE id = ?")
                .bind(status)
                .bind(ts(&now()))
                .bind(&body)
                .bind(&record.action_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        if updated == 0 {
            sqlx::query("INSERT INTO actions (id, plan_id, run_id, approval_id, resource, action, status, started_at, finished_at, plan, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(&record.action_id)
                .bind(&plan.id)
                .bind(run_id)
                .bind(approval_id)
                .bind(resource_key(&plan.resource))
                .bind(&plan.action)
                .bind(status)
                .bind(ts(&now()))
                .bind(ts(&now()))
                .bind(to_json("actions", plan)?)
                .bind(&body)
                .execute(&self.pool)
                .await?;
        }
        self.append(
            run_id,
            &format!("action.{status}"),
            Some(&plan.resource),
            &serde_json::to_value(record).unwrap_or_default(),
        )
        .await?;
        Ok(())
    }

    /// Mark an executed action as rolled back by an operator.
    pub async fn action_reverted(&self, action_id: &str, by: &str, detail: &Value) -> Result<()> {
        let row = self.action(action_id).await?;
        sqlx::query("UPDATE actions SET status = 'reverted' WHERE id = ?")
            .bind(&row.id)
            .execute(&self.pool)
            .await?;
        let mut payload = detail.clone();
        payload["action_id"] = json!(row.id);
        payload["by"] = json!(by);
        self.append(
            row.run_id.as_deref(),
            "action.reverted",
            Some(&row.plan.resource),
            &payload,
        )
        .await?;
        Ok(())
    }

    /// Find by full id or unique prefix.
    pub async fn action(&self, id: &str) -> Result<ActionRow> {
        let rows = sqlx::query("SELECT * FROM actions WHERE id LIKE ? || '%' LIMIT 2")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [] => Err(LedgerError::NotFound {
                kind: "action",
                id: id.into(),
            }),
            [one] => Self::action_from_row(one),
            _ => Err(LedgerError::Ambiguous {
                kind: "action",
                id: id.into(),
            }),
        }
    }

    pub async fn actions(&self, run_id: Option<&str>) -> Result<Vec<ActionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM actions WHERE (?1 IS NULL OR run_id = ?1) ORDER BY started_at ASC",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::action_from_row).collect()
    }

    fn action_from_row(r: &SqliteRow) -> Result<ActionRow> {
        Ok(ActionRow {
            id: r.try_get("id")?,
            run_id: r.try_get("run_id")?,
            approval_id: r.try_get("approval_id")?,
            status: r.try_get("status")?,
            started_at: parse_ts(&r.try_get::<String, _>("started_at")?),
            finished_at: r
                .try_get::<Option<String>, _>("finished_at")?
                .map(|s| parse_ts(&s)),
            plan: json_col("actions", &r.try_get::<String, _>("plan")?)?,
            record: r
                .try_get::<Option<String>, _>("record")?
                .map(|s| json_col("actions", &s))
                .transpose()?,
        })
    }

    // ---- observations (dedupe of configuration items) ----

    /// The newest processed capture of a resource, with its state digest.
    pub async fn last_observation(
        &self,
        resource: &ResourceRef,
    ) -> Result<Option<(DateTime<Utc>, String)>> {
        let row =
            sqlx::query("SELECT capture_time, state_digest FROM observations WHERE resource = ?")
                .bind(resource_key(resource))
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok((
                parse_ts(&r.try_get::<String, _>("capture_time")?),
                r.try_get("state_digest")?,
            ))
        })
        .transpose()
    }

    /// Record that a capture was processed; an older capture never replaces a newer one.
    pub async fn observe(
        &self,
        resource: &ResourceRef,
        capture_time: &DateTime<Utc>,
        digest: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO observations (resource, capture_time, state_digest, processed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (resource) DO UPDATE SET capture_time = ?2, state_digest = ?3, processed_at = ?4
             WHERE excluded.capture_time >= observations.capture_time",
        )
        .bind(resource_key(resource))
        .bind(ts(capture_time))
        .bind(digest)
        .bind(ts(&now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Actions whose intent was written but whose outcome was not (interrupted).
    pub async fn open_intents(&self) -> Result<Vec<ActionRow>> {
        let rows =
            sqlx::query("SELECT * FROM actions WHERE status = 'intent' ORDER BY started_at ASC")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(Self::action_from_row).collect()
    }

    /// The newest executed (and not reverted) action per resource and control.
    pub async fn executed_fixes(&self) -> Result<Vec<ActionRow>> {
        let rows =
            sqlx::query("SELECT * FROM actions WHERE status = 'executed' ORDER BY started_at DESC")
                .fetch_all(&self.pool)
                .await?;
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for r in &rows {
            let a = Self::action_from_row(r)?;
            if seen.insert((resource_key(&a.plan.resource), a.plan.control_id.clone())) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Actions that changed something (executed, rolled back or failed after a call)
    /// finished since `since`: the rolling blast-radius window.
    pub async fn executions_since(&self, since: &DateTime<Utc>) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM actions WHERE status IN ('executed', 'rolled_back', 'failed', 'reverted') AND finished_at >= ?",
        )
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Resources known per class (`s3`, `ec2`, ...), from processed observations.
    pub async fn observed_by_class(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT resource FROM observations")
            .fetch_all(&self.pool)
            .await?;
        let mut out = std::collections::BTreeMap::new();
        for key in rows {
            if let Some(t) = key.split('/').nth(2) {
                *out.entry(custos_core::ci::resource_class(t)).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    // ---- dead letters ----

    pub async fn dead_letter(&self, dl: &DeadLetter) -> Result<()> {
        sqlx::query("INSERT INTO dead_letters (id, at, run_id, source, location, field, error, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&dl.id)
            .bind(ts(&dl.at))
            .bind(&dl.run_id)
            .bind(&dl.source)
            .bind(&dl.location)
            .bind(&dl.field)
            .bind(&dl.error)
            .bind(&dl.raw)
            .execute(&self.pool)
            .await?;
        self.append(dl.run_id.as_deref(), "input.dead_letter", None, &json!({
            "dead_letter_id": dl.id, "source": dl.source, "location": dl.location, "field": dl.field, "error": dl.error,
        }))
        .await?;
        Ok(())
    }

    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query("SELECT * FROM dead_letters ORDER BY at ASC")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.try_get("id")?,
                    at: parse_ts(&r.try_get::<String, _>("at")?),
                    run_id: r.try_get("run_id")?,
                    source: r.try_get("source")?,
                    location: r.try_get("location")?,
                    field: r.try_get("field")?,
                    error: r.try_get("error")?,
                    raw: r.try_get("raw")?,
                })
            })
            .collect()
    }

    /// Close the pool (flushes the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    #[doc(hidden)]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[cfg(test)]
mod tests;
