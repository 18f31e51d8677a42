//! Actions: one row per attempt to change a resource. A row with `admitted_at` had its
//! intent admitted by the guard (and counts against every limit); rows without one ended
//! before any call (no-op, stale, refused).

use crate::{Ledger, LedgerError, Result, json_col, parse_ts, resource_key, to_json, to_value, ts};
use chrono::{DateTime, Utc};
use custos_core::{ActionOutcome, ExecutionRecord, Operation, RemediationPlan};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::fmt;

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Admitted and written; no outcome yet (in flight, or interrupted by a crash).
    Intent,
    Outcome(ActionOutcome),
    /// Executed, then rolled back by an operator.
    Reverted,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Intent => "intent",
            ActionStatus::Outcome(o) => o.as_str(),
            ActionStatus::Reverted => "reverted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "intent" => ActionStatus::Intent,
            "reverted" => ActionStatus::Reverted,
            "executed" => ActionStatus::Outcome(ActionOutcome::Executed),
            "no_op" => ActionStatus::Outcome(ActionOutcome::NoOp),
            "stale" => ActionStatus::Outcome(ActionOutcome::Stale),
            "rolled_back" => ActionStatus::Outcome(ActionOutcome::RolledBack),
            "failed" => ActionStatus::Outcome(ActionOutcome::Failed),
            "refused" => ActionStatus::Outcome(ActionOutcome::Refused),
            "interrupted" => ActionStatus::Outcome(ActionOutcome::Interrupted),
            _ => return None,
        })
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action row: the plan, and the execution record once there is an outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRow {
    pub id: String,
    pub run_id: Option<String>,
    pub approval_id: Option<String>,
    pub status: ActionStatus,
    pub started_at: DateTime<Utc>,
    pub admitted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub plan: RemediationPlan,
    pub record: Option<ExecutionRecord>,
}

/// Who an action belongs to, and the guard's decision about it (kept with its event).
#[derive(Debug, Clone, Copy, Default)]
pub struct ActionMeta<'a> {
    pub run_id: Option<&'a str>,
    pub approval_id: Option<&'a str>,
    pub decision: Option<&'a Value>,
    /// The claim the work holds: the outcome is written only while nobody has taken it
    /// over (the fencing token still current). `None` only for records of work that
    /// never held one.
    pub fence: Option<&'a crate::Claim>,
}

/// An intent about to be admitted (see [`Ledger::admit`]).
#[derive(Debug, Clone)]
pub struct NewIntent<'a> {
    pub action_id: &'a str,
    pub meta: ActionMeta<'a>,
    pub plan: &'a RemediationPlan,
    /// The intent as the executor contract wrote it (action, parameters, before state).
    pub payload: &'a Value,
}

fn kind_of(plan: &RemediationPlan) -> (&'static str, Option<&str>) {
    match &plan.operation {
        Operation::Fix => ("fix", None),
        Operation::Rollback { of, .. } => ("rollback", Some(of.as_str())),
    }
}

impl Ledger {
    pub(crate) async fn insert_intent(
        &self,
        tx: &mut crate::Tx,
        intent: &NewIntent<'_>,
        now: &DateTime<Utc>,
    ) -> Result<()> {
        let (kind, reverts) = kind_of(intent.plan);
        sqlx::query("INSERT INTO actions (id, plan_id, run_id, approval_id, resource, action, status, started_at, admitted_at, plan, kind, reverts) VALUES ($1, $2, $3, $4, $5, $6, 'intent', $7, $8, $9, $10, $11)")
            .bind(intent.action_id)
            .bind(&intent.plan.id)
            .bind(intent.meta.run_id)
            .bind(intent.meta.approval_id)
            .bind(resource_key(&intent.plan.resource))
            .bind(&intent.plan.action)
            .bind(ts(now))
            .bind(ts(now))
            .bind(to_json("actions", intent.plan)?)
            .bind(kind)
            .bind(reverts)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Record how an action ended, with its event. Creates the row when no intent was
    /// admitted (no-op, stale, refused). A rollback that executed marks the action it
    /// reverted, in the same transaction.
    pub async fn action_outcome(
        &self,
        meta: ActionMeta<'_>,
        plan: &RemediationPlan,
        record: &ExecutionRecord,
    ) -> Result<()> {
        let status = record.outcome.as_str();
        let body = to_json("actions", record)?;
        let now = ts(&self.now());
        let (kind, reverts) = kind_of(plan);
        let mut tx = self.begin().await?;
        if let Some(claim) = meta.fence {
            self.fence(&mut tx, claim, false).await?;
        }
        let updated = sqlx::query(
            "UPDATE actions SET status = $1, finished_at = $2, record = $3 WHERE id = $4 AND status = 'intent'",
        )
        .bind(status)
        .bind(&now)
        .bind(&body)
        .bind(&record.action_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            sqlx::query("INSERT INTO actions (id, plan_id, run_id, approval_id, resource, action, status, started_at, finished_at, plan, record, kind, reverts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
                .bind(&record.action_id)
                .bind(&plan.id)
                .bind(meta.run_id)
                .bind(meta.approval_id)
                .bind(resource_key(&plan.resource))
                .bind(&plan.action)
                .bind(status)
                .bind(&now)
                .bind(&now)
                .bind(to_json("actions", plan)?)
                .bind(&body)
                .bind(kind)
                .bind(reverts)
                .execute(&mut *tx)
                .await?;
        }
        if matches!(
            record.outcome,
            ActionOutcome::Failed | ActionOutcome::RolledBack
        ) {
            // A failure feeds the circuit breaker: an admission decided before it is
            // decided again.
            sqlx::query("UPDATE guard_state SET version = version + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
        }
        let mut payload = to_value("actions", record)?;
        payload["kind"] = json!(kind);
        if let Some(d) = meta.decision {
            payload["decision"] = d.clone();
        }
        self.append_tx(
            &mut tx,
            meta.run_id,
            &format!("action.{status}"),
            Some(&plan.resource),
            &payload,
        )
        .await?;
        if let (Some(original), Operation::Rollback { requested_by, .. }) =
            (reverts, &plan.operation)
            && record.outcome == ActionOutcome::Executed
        {
            sqlx::query(
                "UPDATE actions SET status = 'reverted' WHERE id = $1 AND status = 'executed'",
            )
            .bind(original)
            .execute(&mut *tx)
            .await?;
            self.append_tx(&mut tx, meta.run_id, "action.reverted", Some(&plan.resource), &json!({
                "action_id": original, "by": requested_by, "rollback_action_id": record.action_id,
                "restored": record.after.as_ref().map(|a| &a["facet"]),
            }))
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Find by full id or unique prefix.
    pub async fn action(&self, id: &str) -> Result<ActionRow> {
        let rows = sqlx::query("SELECT * FROM actions WHERE id LIKE $1 || '%' LIMIT 2")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        match rows.as_slice() {
            [] => Err(LedgerError::NotFound {
                kind: "action",
                id: id.into(),
            }),
            [one] => action_from_row(one),
            _ => Err(LedgerError::Ambiguous {
                kind: "action",
                id: id.into(),
            }),
        }
    }

    pub async fn actions(&self, run_id: Option<&str>) -> Result<Vec<ActionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM actions WHERE ($1 IS NULL OR run_id = $1) ORDER BY started_at ASC, rowid ASC",
        )
        .bind(run_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(action_from_row).collect()
    }

    /// Actions whose intent was admitted but whose outcome was not written (in flight,
    /// or interrupted).
    pub async fn open_intents(&self) -> Result<Vec<ActionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM actions WHERE status = 'intent' ORDER BY started_at ASC, rowid ASC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(action_from_row).collect()
    }

    /// Open intents on one resource.
    pub async fn open_intents_for(&self, resource_key: &str) -> Result<Vec<ActionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM actions WHERE status = 'intent' AND resource = $1 ORDER BY started_at ASC, rowid ASC",
        )
        .bind(resource_key)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(action_from_row).collect()
    }

    /// The newest executed (and not reverted) fix per resource and control.
    pub async fn executed_fixes(&self) -> Result<Vec<ActionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM actions WHERE status = 'executed' AND kind = 'fix' ORDER BY started_at DESC, rowid DESC",
        )
        .fetch_all(self.pool())
        .await?;
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for r in &rows {
            let a = action_from_row(r)?;
            if seen.insert((resource_key(&a.plan.resource), a.plan.control_id.clone())) {
                out.push(a);
            }
        }
        Ok(out)
    }
}

fn action_from_row(r: &AnyRow) -> Result<ActionRow> {
    let status: String = r.try_get("status")?;
    let opt_ts = |col: &'static str| -> Result<Option<DateTime<Utc>>> {
        r.try_get::<Option<String>, _>(col)?
            .map(|s| parse_ts("actions", col, &s))
            .transpose()
    };
    Ok(ActionRow {
        id: r.try_get("id")?,
        run_id: r.try_get("run_id")?,
        approval_id: r.try_get("approval_id")?,
        status: ActionStatus::parse(&status).ok_or(LedgerError::Corrupt {
            table: "actions",
            column: "status",
            value: status.clone(),
        })?,
        started_at: parse_ts(
            "actions",
            "started_at",
            &r.try_get::<String, _>("started_at")?,
        )?,
        admitted_at: opt_ts("admitted_at")?,
        finished_at: opt_ts("finished_at")?,
        plan: json_col("actions", &r.try_get::<String, _>("plan")?)?,
        record: r
            .try_get::<Option<String>, _>("record")?
            .map(|s| json_col("actions", &s))
            .transpose()?,
    })
}
