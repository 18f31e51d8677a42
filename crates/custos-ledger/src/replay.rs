//! What `custos replay` reads: decision events and the policy snapshots they name.

use crate::{Event, Ledger, LedgerError, Result, to_json, ts};
use chrono::{DateTime, Utc};
use serde_json::Value;

impl Ledger {
    /// Keep a policy snapshot (once per id).
    pub async fn keep_policy(&self, id: &str, bundle_digest: &str, body: &Value) -> Result<()> {
        sqlx::query("INSERT INTO policy_snapshots (id, bundle_digest, body, stored_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(bundle_digest)
            .bind(to_json("policy_snapshots", body)?)
            .bind(ts(&self.now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The snapshot kept under `id`.
    pub async fn policy_snapshot(&self, id: &str) -> Result<Option<Value>> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM policy_snapshots WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        body.map(|b| crate::json_col("policy_snapshots", &b))
            .transpose()
    }

    /// The event with this id, or the one whose id starts with it (a literal prefix of at
    /// least 4 characters).
    pub async fn event_by_id(&self, id: &str) -> Result<Event> {
        if id.len() < 4 {
            return Err(LedgerError::NotFound {
                kind: "event",
                id: format!("{id} (give at least 4 characters)"),
            });
        }
        let rows = sqlx::query("SELECT * FROM events WHERE substr(id, 1, length($1)) = $1 LIMIT 2")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [] => Err(LedgerError::NotFound {
                kind: "event",
                id: id.to_string(),
            }),
            [one] => Self::event_from_row(one),
            _ => Err(LedgerError::Ambiguous {
                kind: "event",
                id: id.to_string(),
            }),
        }
    }

    /// Every `decision` event, oldest first; with `since`, those recorded at or after it.
    pub async fn decisions_since(&self, since: Option<&DateTime<Utc>>) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE kind = 'decision' AND ($1 IS NULL OR at >= $1) ORDER BY leaf_index ASC",
        )
        .bind(since.map(ts))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::event_from_row).collect()
    }
}
