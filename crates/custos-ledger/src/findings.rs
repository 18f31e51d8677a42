//! What is wrong now: each resource's findings from its latest recorded evaluation (a
//! resource evaluated compliant since has none), and the counts `/metrics` reports.

use crate::{Ledger, LedgerError, Result, json_col, parse_ts};
use chrono::{DateTime, Utc};
use custos_core::Finding;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;

/// A finding of a resource's latest evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentFinding {
    pub at: DateTime<Utc>,
    pub run_id: Option<String>,
    pub finding: Finding,
}

/// Counts over the whole ledger, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LedgerCounts {
    /// `decision` events by verdict.
    pub decisions: BTreeMap<String, u64>,
    /// Action outcome events, by outcome.
    pub actions: BTreeMap<String, u64>,
    /// Actions undone by a rollback.
    pub reverted: u64,
    /// Actions with an intent and no outcome yet.
    pub in_flight: u64,
    /// Approval requests by status.
    pub approvals: BTreeMap<String, u64>,
    /// When the oldest pending request was made.
    pub oldest_pending: Option<DateTime<Utc>>,
}

fn grouped(rows: Vec<(Option<String>, i64)>, table: &'static str) -> Result<BTreeMap<String, u64>> {
    rows.into_iter()
        .map(|(k, n)| {
            let k = k.ok_or(LedgerError::Corrupt {
                table,
                column: "status",
                value: "NULL".into(),
            })?;
            Ok((k, u64::try_from(n).unwrap_or(0)))
        })
        .collect()
}

impl Ledger {
    /// For each resource, the `finding` events recorded in the run of its latest
    /// `resource.evaluated` event, after it.
    pub async fn current_findings(&self) -> Result<Vec<CurrentFinding>> {
        let rows = sqlx::query(
            "SELECT f.at, f.run_id, f.payload FROM events f
               JOIN (SELECT resource, MAX(seq) AS seq FROM events
                      WHERE kind = 'resource.evaluated' GROUP BY resource) latest
                 ON f.resource = latest.resource AND f.seq > latest.seq
               JOIN events e ON e.seq = latest.seq
              WHERE f.kind = 'finding' AND f.run_id IS e.run_id
              ORDER BY f.seq",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CurrentFinding {
                    at: parse_ts("events", "at", &r.try_get::<String, _>("at")?)?,
                    run_id: r.try_get("run_id")?,
                    finding: json_col("events", &r.try_get::<String, _>("payload")?)?,
                })
            })
            .collect()
    }

    /// Decisions by verdict, action outcomes, approvals by status.
    pub async fn counts_for_metrics(&self) -> Result<LedgerCounts> {
        let decisions: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT json_extract(payload, '$.decision.verdict'), COUNT(*) FROM events WHERE kind = 'decision' GROUP BY 1",
        )
        .fetch_all(self.pool())
        .await?;
        // Outcomes from the append-only events (a counter never goes down); in flight
        // from the table.
        let actions: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT substr(kind, 8), COUNT(*) FROM events WHERE kind LIKE 'action.%' AND kind NOT IN ('action.intent', 'action.reverted') GROUP BY kind",
        )
        .fetch_all(self.pool())
        .await?;
        let reverted: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'action.reverted'")
                .fetch_one(self.pool())
                .await?;
        let in_flight: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM actions WHERE status = 'intent'")
                .fetch_one(self.pool())
                .await?;
        let approvals: Vec<(Option<String>, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM approvals GROUP BY status")
                .fetch_all(self.pool())
                .await?;
        let oldest: Option<String> =
            sqlx::query_scalar("SELECT MIN(requested_at) FROM approvals WHERE status = 'pending'")
                .fetch_one(self.pool())
                .await?;
        Ok(LedgerCounts {
            decisions: grouped(decisions, "events")?,
            actions: grouped(actions, "events")?,
            reverted: u64::try_from(reverted).unwrap_or(0),
            in_flight: u64::try_from(in_flight).unwrap_or(0),
            approvals: grouped(approvals, "approvals")?,
            oldest_pending: oldest
                .map(|s| parse_ts("approvals", "requested_at", &s))
                .transpose()?,
        })
    }
}
