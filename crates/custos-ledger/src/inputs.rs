//! What came in: the newest processed capture per resource (dedupe of configuration
//! items) and the inputs that could not be processed (dead letters).

use crate::{Ledger, Result, parse_ts, resource_key, ts};
use chrono::{DateTime, Utc};
use custos_core::ResourceRef;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

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

/// The state tables that events explain, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projections {
    /// `(id, status)`.
    pub approvals: Vec<(String, String)>,
    /// `(id, status)`.
    pub actions: Vec<(String, String)>,
    /// `(resource, capture_time, state_digest)`.
    pub observations: Vec<(String, String, String)>,
    /// `(id, record)` of every action with a record (its before, after and calls).
    pub records: Vec<(String, String)>,
    /// Events were pruned (some rows outlive their first events).
    pub pruned: bool,
}

impl Ledger {
    /// The newest processed capture of a resource, with its state digest.
    pub async fn last_observation(
        &self,
        resource: &ResourceRef,
    ) -> Result<Option<(DateTime<Utc>, String)>> {
        let row =
            sqlx::query("SELECT capture_time, state_digest FROM observations WHERE resource = $1")
                .bind(resource_key(resource))
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| {
            Ok((
                parse_ts(
                    "observations",
                    "capture_time",
                    &r.try_get::<String, _>("capture_time")?,
                )?,
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
        self.observe_many(&[(resource, capture_time, digest)]).await
    }

    /// [`Ledger::observe`] for several captures in one transaction (a batch's
    /// observations cost one commit, not one each).
    pub async fn observe_many(
        &self,
        captures: &[(&ResourceRef, &DateTime<Utc>, &str)],
    ) -> Result<()> {
        if captures.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let now = ts(&self.now());
        for (resource, capture_time, digest) in captures {
            let changed = sqlx::query(
                "INSERT INTO observations (resource, capture_time, state_digest, processed_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (resource) DO UPDATE SET capture_time = $2, state_digest = $3, processed_at = $4
                 WHERE excluded.capture_time >= observations.capture_time",
            )
            .bind(resource_key(resource))
            .bind(ts(capture_time))
            .bind(*digest)
            .bind(&now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // The row is a projection of these events (`custos audit verify` checks it).
            if changed > 0 {
                self.append_tx(
                    &mut tx,
                    None,
                    "observation.recorded",
                    Some(resource),
                    &serde_json::json!({"capture_time": ts(capture_time), "state_digest": digest}),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The state tables as stored, for `custos audit verify` to compare with the events:
    /// approvals and actions by id with their status, observations by resource.
    pub async fn projections(&self) -> Result<Projections> {
        let pairs = |q: &'static str| async move {
            sqlx::query_as::<_, (String, String)>(q)
                .fetch_all(self.pool())
                .await
        };
        Ok(Projections {
            approvals: pairs("SELECT id, status FROM approvals").await?,
            actions: pairs("SELECT id, status FROM actions").await?,
            observations: sqlx::query_as(
                "SELECT resource, capture_time, state_digest FROM observations",
            )
            .fetch_all(self.pool())
            .await?,
            records: pairs("SELECT id, record FROM actions WHERE record IS NOT NULL").await?,
            pruned: sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM ledger_prunes")
                .fetch_one(self.pool())
                .await?
                > 0,
        })
    }

    /// Every resource custos knows (keys): processed observations and every resource an
    /// action was attempted on.
    pub async fn known_resources(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT resource FROM observations UNION SELECT resource FROM actions",
        )
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn dead_letter(&self, dl: &DeadLetter) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO dead_letters (id, at, run_id, source, location, field, error, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&dl.id)
            .bind(ts(&dl.at))
            .bind(&dl.run_id)
            .bind(&dl.source)
            .bind(&dl.location)
            .bind(&dl.field)
            .bind(&dl.error)
            .bind(&dl.raw)
            .execute(&mut *tx)
            .await?;
        self.append_tx(&mut tx, dl.run_id.as_deref(), "input.dead_letter", None, &json!({
            "dead_letter_id": dl.id, "source": dl.source, "location": dl.location, "field": dl.field, "error": dl.error,
        }))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query("SELECT * FROM dead_letters ORDER BY at ASC")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.try_get("id")?,
                    at: parse_ts("dead_letters", "at", &r.try_get::<String, _>("at")?)?,
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
}
