//! What is wrong now: each resource's findings from its latest recorded evaluation (a
//! resource evaluated compliant since has none), and the counts `/metrics` reports.

use crate::{Ledger, LedgerError, Result, json_col, parse_ts};
use chrono::{DateTime, Utc};
use custos_core::{Finding, Guidance};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;

/// A finding of a resource's latest evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentFinding {
    pub at: DateTime<Utc>,
    pub run_id: Option<String>,
    pub finding: Finding,
    /// What the same run decided about the finding's fix (`recommend_only`,
    /// `needs_approval`, ...), when it planned one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<String>,
    /// The guided fix of that plan, when custos did not make the fix itself (it
    /// recommended only, or waits for a person): what a person applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided: Option<Guidance>,
    /// The rules behind that decision (`gate.managed_by_iac`: change the code first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

/// What the run decided about one finding's fix.
#[derive(Debug, Clone, Default)]
struct Decided {
    verdict: Option<String>,
    guided: Option<Guidance>,
    rules: Vec<String>,
}

/// What a `resource.evaluated` event records of an evaluation (the engine writes it;
/// exports and the time-to-fix fold read it): the controls that apply to the resource,
/// those failing, and whether it was deleted (missing from older events: false).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Evaluated {
    pub controls: Vec<String>,
    pub failing: Vec<String>,
    #[serde(default)]
    pub deleted: bool,
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

/// Events `x` recorded after each resource's latest `resource.evaluated` event, in its
/// run: a literal, so the queries stay static text (the callers add a condition on
/// `x.kind`).
macro_rules! of_the_latest_evaluation {
    () => {
        "FROM events x
           JOIN (SELECT resource, MAX(seq) AS seq FROM events
                  WHERE kind = 'resource.evaluated' GROUP BY resource) latest
             ON x.resource = latest.resource AND x.seq > latest.seq
           JOIN events e ON e.seq = latest.seq
          WHERE x.run_id IS NOT DISTINCT FROM e.run_id"
    };
}

impl Ledger {
    /// For each resource, the `finding` events recorded in the run of its latest
    /// `resource.evaluated` event, after it, each with what that run decided about its
    /// control's fix and, when custos left the fix to a person, the plan's guided fix.
    pub async fn current_findings(&self) -> Result<Vec<CurrentFinding>> {
        // The run's decisions on the same resources: (resource, control) -> verdict and
        // the plan's guided fix.
        let decided = sqlx::query(concat!(
            "SELECT x.resource, json_extract(x.payload, '$.control') AS control,
                    json_extract(x.payload, '$.decision.verdict') AS verdict,
                    json_extract(x.payload, '$.decision.reasons') AS reasons,
                    json_extract(x.payload, '$.plan.guided') AS guided ",
            of_the_latest_evaluation!(),
            " AND x.kind = 'decision' ORDER BY x.seq"
        ))
        .fetch_all(self.pool())
        .await?;
        // The last decision of the run wins; a part that does not parse is left out (the
        // finding is still listed), never an error that hides every finding.
        let mut decisions: BTreeMap<(String, String), Decided> = BTreeMap::new();
        for r in &decided {
            let (Some(resource), Some(control), Some(verdict)) = (
                r.try_get::<Option<String>, _>("resource")?,
                r.try_get::<Option<String>, _>("control")?,
                r.try_get::<Option<String>, _>("verdict")?,
            ) else {
                continue;
            };
            let guided = r
                .try_get::<Option<String>, _>("guided")?
                .filter(|_| matches!(verdict.as_str(), "recommend_only" | "needs_approval"))
                .and_then(|text| serde_json::from_str::<Guidance>(&text).ok());
            let rules = r
                .try_get::<Option<String>, _>("reasons")?
                .and_then(|text| serde_json::from_str::<Vec<serde_json::Value>>(&text).ok())
                .unwrap_or_default()
                .iter()
                .filter_map(|x| x.get("rule").and_then(serde_json::Value::as_str))
                .map(str::to_string)
                .collect();
            decisions.insert(
                (resource, control),
                Decided {
                    verdict: Some(verdict),
                    guided,
                    rules,
                },
            );
        }
        let rows = sqlx::query(concat!(
            "SELECT x.at, x.run_id, x.resource, x.payload ",
            of_the_latest_evaluation!(),
            " AND x.kind = 'finding' ORDER BY x.seq"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let finding: Finding = json_col("events", &r.try_get::<String, _>("payload")?)?;
                let d = decisions
                    .get(&(
                        r.try_get::<Option<String>, _>("resource")?
                            .unwrap_or_default(),
                        finding.control_id.clone(),
                    ))
                    .cloned()
                    .unwrap_or_default();
                Ok(CurrentFinding {
                    at: parse_ts("events", "at", &r.try_get::<String, _>("at")?)?,
                    run_id: r.try_get("run_id")?,
                    finding,
                    decided: d.verdict,
                    guided: d.guided,
                    rules: d.rules,
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
