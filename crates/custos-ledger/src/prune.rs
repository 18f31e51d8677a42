//! Retention: deleting the events before a horizon, under a statement signed with the
//! checkpoint key (made by `custos_evidence::prune`), keeping the tree's stored hashes so
//! that the tree and every checkpoint still verify.

use crate::merkle::VecReader;
use crate::{Ledger, LedgerError, Result, json_col, parse_ts, to_value, ts};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::Row;

/// A prune as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneRow {
    pub id: i64,
    /// Events with a lower leaf index were deleted.
    pub horizon: u64,
    /// The hash of event `horizon - 1` (what event `horizon` links to).
    pub last_hash: String,
    /// Base64 root of the tree over the first `horizon` events.
    pub root: String,
    pub export_event: String,
    /// The signed statement.
    pub note: String,
    pub at: DateTime<Utc>,
}

/// What a prune removes and keeps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub horizon: u64,
    pub events: u64,
    pub approvals: u64,
    pub actions: u64,
    pub observations: u64,
}

impl Ledger {
    /// Every prune statement row, oldest first; a row that cannot be read is given as the
    /// reason (`audit verify` reports it as damage).
    pub async fn prunes(&self) -> Result<Vec<(i64, std::result::Result<PruneRow, String>)>> {
        let rows = sqlx::query("SELECT * FROM ledger_prunes ORDER BY id ASC")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let id: i64 = r.try_get("id").unwrap_or_default();
                (id, Self::prune_row(r))
            })
            .collect())
    }

    fn prune_row(r: &sqlx::any::AnyRow) -> std::result::Result<PruneRow, String> {
        let text = |c: &str| r.try_get::<String, _>(c).map_err(|e| format!("`{c}`: {e}"));
        let horizon: i64 = r
            .try_get("horizon")
            .map_err(|e| format!("`horizon`: {e}"))?;
        Ok(PruneRow {
            id: r.try_get("id").map_err(|e| format!("`id`: {e}"))?,
            horizon: u64::try_from(horizon).map_err(|_| format!("`horizon` {horizon}"))?,
            last_hash: text("last_hash")?,
            root: text("root")?,
            export_event: text("export_event")?,
            note: text("note")?,
            at: parse_ts("ledger_prunes", "at", &text("at")?).map_err(|e| e.to_string())?,
        })
    }

    /// The newest prune, if any (unchecked: `audit verify` checks its signature).
    pub async fn latest_prune(&self) -> Result<Option<PruneRow>> {
        match self.prunes().await?.pop() {
            None => Ok(None),
            Some((_, Ok(row))) => Ok(Some(row)),
            Some((id, Err(reason))) => Err(LedgerError::Corrupt {
                table: "ledger_prunes",
                column: "row",
                value: format!("{id}: {reason}"),
            }),
        }
    }

    /// The first leaf whose event was recorded at or after `before` (the number of events
    /// a prune `--before` would delete), at most `limit`.
    pub async fn first_leaf_at(&self, before: &DateTime<Utc>, limit: u64) -> Result<u64> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT MIN(leaf_index) FROM events WHERE at >= $1")
                .bind(ts(before))
                .fetch_one(&self.pool)
                .await?;
        Ok(n.and_then(|n| u64::try_from(n).ok())
            .unwrap_or(limit)
            .min(limit))
    }

    /// The hash of event `index`.
    pub async fn event_hash(&self, index: u64) -> Result<String> {
        sqlx::query_scalar("SELECT hash FROM events WHERE leaf_index = $1")
            .bind(index as i64)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| LedgerError::NotFound {
                kind: "event",
                id: format!("leaf {index}"),
            })
    }

    /// Every stored tree hash of the first `size` leaves, in storage order (what a prune
    /// keeps, and what `audit verify` starts the tree from).
    pub async fn stored_prefix(&self, size: u64) -> Result<VecReader> {
        let count = tlog_tiles::stored_hash_count(size);
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT idx, hash FROM merkle_hashes WHERE idx < $1 ORDER BY idx")
                .bind(count as i64)
                .fetch_all(&self.pool)
                .await?;
        let mut out = VecReader::default();
        for (k, (idx, bytes)) in rows.into_iter().enumerate() {
            if idx != k as i64 {
                return Err(LedgerError::NotFound {
                    kind: "tree hash",
                    id: k.to_string(),
                });
            }
            out.0.push(crate::merkle::to_hash(&bytes)?);
        }
        if out.0.len() as u64 != count {
            return Err(LedgerError::NotFound {
                kind: "tree hash",
                id: out.0.len().to_string(),
            });
        }
        Ok(out)
    }

    /// Work a prune below `horizon` must not touch: approvals and actions still live with
    /// any event below it, and actions the guard still counts (started at or after
    /// `guard_since`: blast radius, breaker) whose rows the prune would delete.
    pub async fn live_work_before(
        &self,
        horizon: u64,
        guard_since: &DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT 'approval ' || id FROM approvals WHERE status IN ('pending', 'approved', 'executing')
               AND id IN (SELECT json_extract(payload, '$.approval_id') FROM events
                           WHERE leaf_index < $1 AND kind LIKE 'approval.%')
             UNION ALL
             SELECT 'action ' || id FROM actions WHERE status = 'intent'
               AND id IN (SELECT json_extract(payload, '$.action_id') FROM events
                           WHERE leaf_index < $1 AND kind LIKE 'action.%')
             UNION ALL
             SELECT 'action ' || id || ' (still counted by the guard)' FROM actions WHERE started_at >= $2
               AND id NOT IN (SELECT json_extract(payload, '$.action_id') FROM events
                               WHERE leaf_index >= $1 AND kind LIKE 'action.%'
                                 AND json_extract(payload, '$.action_id') IS NOT NULL)",
        )
        .bind(horizon as i64)
        .bind(ts(guard_since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    /// Delete the events before `row.horizon`, with the state rows no remaining event
    /// speaks for, record the statement and a `ledger.pruned` event, in one transaction.
    pub async fn prune(&self, row: &PruneRow, before: &DateTime<Utc>, by: &str) -> Result<Pruned> {
        let horizon = row.horizon as i64;
        // Principals, tokens, pending changes, autonomy and switches as the removed events
        // told them: the state tables stay projections of what remains.
        let kinds: Vec<&str> = crate::told::IDENTITY_KINDS
            .iter()
            .chain(crate::told::GUARD_KINDS.iter())
            .copied()
            .collect();
        let carried = self.told_below(&kinds, Some(horizon)).await?;
        if !carried.unreadable.is_empty() {
            return Err(crate::checked::tampered("events", carried.unreadable));
        }
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO ledger_prunes (horizon, last_hash, root, export_event, note, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(horizon)
            .bind(&row.last_hash)
            .bind(&row.root)
            .bind(&row.export_event)
            .bind(&row.note)
            .bind(ts(&row.at))
            .execute(&mut *tx)
            .await?;
        // The delete trigger is lifted for this transaction only: a row in ledger_prunes
        // alone never lets anyone delete events.
        let (lift, restore) = match self.backend {
            crate::Backend::Sqlite => (
                "DROP TRIGGER events_no_delete",
                "CREATE TRIGGER events_no_delete BEFORE DELETE ON events
                 BEGIN
                     SELECT RAISE(ABORT, 'ledger events are append-only');
                 END",
            ),
            crate::Backend::Postgres => (
                "ALTER TABLE events DISABLE TRIGGER events_no_delete",
                "ALTER TABLE events ENABLE TRIGGER events_no_delete",
            ),
        };
        sqlx::query(lift).execute(&mut *tx).await?;
        let events = sqlx::query("DELETE FROM events WHERE leaf_index < $1")
            .bind(horizon)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(restore).execute(&mut *tx).await?;
        // The rows no remaining event names (the audit checks rows against events).
        let mut orphans = [0u64; 2];
        for (n, (table, field)) in [("approvals", "approval_id"), ("actions", "action_id")]
            .into_iter()
            .enumerate()
        {
            orphans[n] = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE id NOT IN (
                    SELECT json_extract(payload, '$.{field}') FROM events
                     WHERE kind LIKE '{prefix}.%' AND json_extract(payload, '$.{field}') IS NOT NULL
                       AND ('{prefix}' = 'action' OR json_extract(payload, '$.status') IS NOT NULL))",
                prefix = &table[..table.len() - 1],
            )))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        let [approvals, actions] = orphans;
        let observations = sqlx::query(
            "DELETE FROM observations WHERE resource NOT IN (
                SELECT resource FROM events WHERE kind = 'observation.recorded' AND resource IS NOT NULL)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let pruned = Pruned {
            horizon: row.horizon,
            events,
            approvals,
            actions,
            observations,
        };
        let payload: Value = json!({
            "by": by, "before": ts(before), "horizon": row.horizon, "root": row.root,
            "last_hash": row.last_hash, "export_event": row.export_event,
            "statement": row.note, "removed": to_value("events", &pruned)?,
            "carried": carried.carried(),
        });
        self.append_tx(&mut tx, None, "ledger.pruned", None, &payload)
            .await?;
        tx.commit().await?;
        Ok(pruned)
    }

    /// The `evidence.exported` events, newest first: `(id, since, until)`, where `until`
    /// is never later than the export itself (an export covers what existed).
    pub async fn exports(&self) -> Result<Vec<(String, Option<DateTime<Utc>>, DateTime<Utc>)>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, payload, at FROM events WHERE kind = 'evidence.exported' ORDER BY leaf_index DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, payload, at)| {
                let at = parse_ts("events", "at", &at)?;
                let p: Value = json_col("events", &payload)?;
                let time = |k: &str| -> Result<Option<DateTime<Utc>>> {
                    p[k].as_str()
                        .map(|s| parse_ts("events", "payload", s))
                        .transpose()
                };
                let until = time("until")?.ok_or_else(|| LedgerError::Corrupt {
                    table: "events",
                    column: "payload",
                    value: format!("export {id} has no `until`"),
                })?;
                Ok((id, time("since")?, until.min(at)))
            })
            .collect()
    }
}
