//! What `custos evidence export` reads: the events of a period a page at a time, and the
//! policy each run decided with.

use crate::{Event, Ledger, Result, ts};
use chrono::{DateTime, Utc};
use serde_json::Value;

impl Ledger {
    /// Events recorded in `[since, until)`, in leaf order, after leaf `after` (`-1` for
    /// the first page), at most `limit`.
    pub async fn events_between(
        &self,
        since: Option<&DateTime<Utc>>,
        until: &DateTime<Utc>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE leaf_index > $1 AND ($2 IS NULL OR at >= $2) AND at < $3
              ORDER BY leaf_index ASC LIMIT $4",
        )
        .bind(after)
        .bind(since.map(ts))
        .bind(ts(until))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::event_from_row).collect()
    }

    /// The policy snapshot a run decided with (found by the bundle digest its row names),
    /// with that digest; `None` when the ledger does not keep it.
    pub async fn run_policy(&self, run_id: &str) -> Result<Option<(String, Value)>> {
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT r.policy_digest, (SELECT body FROM policy_snapshots p
                                        WHERE p.bundle_digest = r.policy_digest
                                        ORDER BY p.stored_at LIMIT 1)
               FROM runs r WHERE r.id = $1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some((digest, Some(body))) => {
                Ok(Some((digest, crate::json_col("policy_snapshots", &body)?)))
            }
            _ => Ok(None),
        }
    }

    /// The earliest event's time (`None` for an empty ledger).
    pub async fn first_event_at(&self) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> =
            sqlx::query_scalar("SELECT at FROM events ORDER BY leaf_index ASC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        at.map(|s| crate::parse_ts("events", "at", &s)).transpose()
    }
}
