//! The RFC 6962 Merkle tree over the events, and the signed checkpoints kept beside it.
//!
//! The tree is computed with `tlog_tiles` (Cloudflare's port of Go's `sumdb/tlog`, the
//! code behind the Go checksum database): leaf i is [`chain::leaf_hash`] of event i's
//! hash, and the stored hashes are laid out by `stored_hash_index`. `merkle_hashes` is a
//! cache for checkpoints and inclusion proofs; verification recomputes the tree.

use crate::chain::{self, EventBody};
use crate::{Ledger, LedgerError, Result, parse_ts, ts};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;
use tlog_tiles::{Hash, HashReader, RecordProof};

/// An event row as stored, unparsed: what verification reads, so that a damaged row is
/// reported as damage instead of failing the read.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub seq: i64,
    pub index: Option<i64>,
    pub scheme: Option<i64>,
    pub id: String,
    pub at: String,
    pub run_id: Option<String>,
    pub kind: String,
    pub resource: Option<String>,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

impl RawEvent {
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Self> {
        Ok(RawEvent {
            seq: row.try_get("seq")?,
            index: row.try_get("leaf_index")?,
            scheme: row.try_get("scheme")?,
            id: row.try_get("id")?,
            at: row.try_get("at")?,
            run_id: row.try_get("run_id")?,
            kind: row.try_get("kind")?,
            resource: row.try_get("resource")?,
            payload: row.try_get("payload")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    /// The hash the row's content gives, or `None` when it cannot be hashed (no index or
    /// scheme, a payload that is not JSON).
    pub fn recomputed_hash(&self) -> Option<String> {
        let payload: Value = serde_json::from_str(&self.payload).ok()?;
        self.body(&payload).hash(self.scheme?).ok()
    }

    /// The fields the hash covers, with `payload` parsed by the caller.
    pub fn body<'a>(&'a self, payload: &'a Value) -> EventBody<'a> {
        EventBody {
            index: self.index.unwrap_or(-1),
            id: &self.id,
            at: &self.at,
            run_id: self.run_id.as_deref(),
            kind: &self.kind,
            resource: self.resource.as_deref(),
            payload,
            prev_hash: &self.prev_hash,
        }
    }
}

/// A checkpoint as stored: the signed note exactly as it was published.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRow {
    pub id: i64,
    pub size: u64,
    /// Base64 of the tree's root hash, as in the note.
    pub root: String,
    pub at: DateTime<Utc>,
    pub note: String,
}

impl CheckpointRow {
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Self> {
        let size: i64 = row.try_get("size")?;
        Ok(CheckpointRow {
            id: row.try_get("id")?,
            size: size as u64,
            root: row.try_get("root")?,
            at: parse_ts("checkpoints", "at", &row.try_get::<String, _>("at")?)?,
            note: row.try_get("note")?,
        })
    }
}

/// A [`HashReader`] over hashes the caller has loaded.
#[derive(Debug, Default)]
pub struct MapReader(pub HashMap<u64, Hash>);

impl HashReader for MapReader {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// A [`HashReader`] over every stored hash of a tree, in storage order.
#[derive(Debug, Default)]
pub struct VecReader(pub Vec<Hash>);

impl HashReader for VecReader {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.0.get(i).copied())
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl VecReader {
    /// Append leaf `n` (the tree must hold exactly `n` leaves).
    pub fn push_leaf(&mut self, n: u64, leaf: Hash) -> std::result::Result<(), tlog_tiles::Error> {
        let new = tlog_tiles::stored_hashes_for_record_hash(n, leaf, self)?;
        self.0.extend(new);
        Ok(())
    }
}

fn tree_err(e: tlog_tiles::Error) -> LedgerError {
    LedgerError::Corrupt {
        table: "merkle_hashes",
        column: "hash",
        value: e.to_string(),
    }
}

pub(crate) fn to_hash(bytes: &[u8]) -> Result<Hash> {
    <[u8; 32]>::try_from(bytes)
        .map(Hash)
        .map_err(|_| LedgerError::Corrupt {
            table: "merkle_hashes",
            column: "hash",
            value: hex::encode(bytes),
        })
}

/// The stored hashes at `indexes`, in a reader (a missing one is `NotFound`).
async fn load_hashes(
    conn: &mut sqlx::AnyConnection,
    indexes: impl IntoIterator<Item = u64>,
) -> Result<MapReader> {
    let mut reader = MapReader::default();
    for idx in indexes {
        let bytes: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT hash FROM merkle_hashes WHERE idx = $1")
                .bind(idx as i64)
                .fetch_optional(&mut *conn)
                .await?;
        let bytes = bytes.ok_or_else(|| LedgerError::NotFound {
            kind: "tree hash",
            id: idx.to_string(),
        })?;
        reader.0.insert(idx, to_hash(&bytes)?);
    }
    Ok(reader)
}

impl Ledger {
    /// Every event row in storage order, handed to `f` one at a time (a million rows do
    /// not sit in memory).
    pub async fn for_each_raw_event(&self, mut f: impl FnMut(RawEvent)) -> Result<()> {
        let mut rows = sqlx::query("SELECT * FROM events ORDER BY seq ASC").fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            f(RawEvent::from_row(&row)?);
        }
        Ok(())
    }

    /// Events from leaf `from` on, in leaf order, at most `limit`.
    pub async fn raw_events_from(&self, from: i64, limit: i64) -> Result<Vec<RawEvent>> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE leaf_index >= $1 ORDER BY leaf_index ASC LIMIT $2",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(RawEvent::from_row).collect()
    }

    /// Every event about one action, in chain order: its intent and outcome (and a later
    /// revert), the approval request it executed and that request's events, and the
    /// decision that planned it.
    pub async fn action_events(&self, action_id: &str) -> Result<Vec<RawEvent>> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT plan_id, approval_id FROM actions WHERE id = $1")
                .bind(action_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((plan_id, approval_id)) = row else {
            return Ok(vec![]);
        };
        let rows = sqlx::query(
            "SELECT * FROM events WHERE
                 (kind LIKE 'action.%' AND json_extract(payload, '$.action_id') = $1)
              OR ($2 IS NOT NULL AND kind LIKE 'approval.%' AND json_extract(payload, '$.approval_id') = $2)
              OR leaf_index = (
                   SELECT MAX(leaf_index) FROM events
                    WHERE kind = 'decision'
                      AND json_extract(payload, '$.plan.id') IN ($3, (
                          SELECT json_extract(payload, '$.plan_id') FROM events
                           WHERE kind = 'approval.requested' AND json_extract(payload, '$.approval_id') = $2))
                      AND leaf_index <= COALESCE((
                          SELECT MIN(leaf_index) FROM events
                           WHERE kind = 'action.intent' AND json_extract(payload, '$.action_id') = $1), leaf_index))
             ORDER BY leaf_index ASC",
        )
        .bind(action_id)
        .bind(&approval_id)
        .bind(&plan_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(RawEvent::from_row).collect()
    }

    /// How many events there are (the size a checkpoint made now would have), read from
    /// the leaf index rather than by counting rows (the service asks every few seconds).
    pub async fn event_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Bring the stored tree up to every event and return its size and root. Each new
    /// event is checked first (its hash recomputed, its link and index): a damaged log is
    /// an error here, never signed.
    pub async fn extend_tree(&self) -> Result<(u64, Hash)> {
        let mut tx = self.begin().await?;
        let size: i64 = sqlx::query_scalar("SELECT size FROM merkle_tree WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let mut t = size as u64;
        let mut reader = load_hashes(&mut tx, tlog_tiles::sub_tree_index(0, t, vec![])).await?;
        let mut prev: Option<String> = if t == 0 {
            Some(crate::GENESIS.to_string())
        } else {
            // The event before, or (when it was pruned) the hash its prune statement names.
            sqlx::query_scalar(
                "SELECT COALESCE((SELECT hash FROM events WHERE leaf_index = $1),
                                 (SELECT last_hash FROM ledger_prunes WHERE horizon = $1 + 1 ORDER BY id DESC LIMIT 1))",
            )
            .bind(t as i64 - 1)
            .fetch_one(&mut *tx)
            .await?
        };
        loop {
            let rows = sqlx::query(
                "SELECT * FROM events WHERE leaf_index >= $1 ORDER BY leaf_index ASC LIMIT 1000",
            )
            .bind(t as i64)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let e = RawEvent::from_row(row)?;
                let bad = |what: &str| LedgerError::Corrupt {
                    table: "events",
                    column: "hash",
                    value: format!("event {} (seq {}): {what}", t, e.seq),
                };
                if e.index != Some(t as i64) {
                    return Err(bad("leaf index out of sequence"));
                }
                if prev.as_deref() != Some(e.prev_hash.as_str()) {
                    return Err(bad("does not link to the event before it"));
                }
                if e.recomputed_hash().as_deref() != Some(e.hash.as_str()) {
                    return Err(bad("its hash does not match its content"));
                }
                let bytes = chain::hash_bytes(&e.hash).ok_or_else(|| bad("unreadable hash"))?;
                let start = tlog_tiles::stored_hash_index(0, t);
                let new =
                    tlog_tiles::stored_hashes_for_record_hash(t, chain::leaf_hash(&bytes), &reader)
                        .map_err(tree_err)?;
                for (k, h) in new.into_iter().enumerate() {
                    let idx = start + k as u64;
                    sqlx::query("INSERT INTO merkle_hashes (idx, hash) VALUES ($1, $2)")
                        .bind(idx as i64)
                        .bind(h.0.as_slice())
                        .execute(&mut *tx)
                        .await?;
                    reader.0.insert(idx, h);
                }
                prev = Some(e.hash);
                t += 1;
            }
        }
        let root = tlog_tiles::tree_hash(t, &reader).map_err(tree_err)?;
        sqlx::query("UPDATE merkle_tree SET size = $1 WHERE id = 1")
            .bind(t as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((t, root))
    }

    /// The root of the stored tree over its first `size` leaves (`size` within it).
    pub async fn tree_root(&self, size: u64) -> Result<Hash> {
        let stored: i64 = sqlx::query_scalar("SELECT size FROM merkle_tree WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        if size > stored.max(0) as u64 {
            return Err(LedgerError::Corrupt {
                table: "merkle_tree",
                column: "size",
                value: format!("{stored}, not the {size} leaves asked for"),
            });
        }
        let mut conn = self.pool.acquire().await?;
        let reader = load_hashes(&mut conn, tlog_tiles::sub_tree_index(0, size, vec![])).await?;
        tlog_tiles::tree_hash(size, &reader).map_err(tree_err)
    }

    /// The proof that leaf `n` is in the tree of size `t` (both within the stored tree).
    pub async fn inclusion_proof(&self, n: u64, t: u64) -> Result<RecordProof> {
        if n >= t {
            return Err(LedgerError::NotFound {
                kind: "leaf",
                id: format!("{n} in a tree of {t}"),
            });
        }
        // The indexes `prove_record` reads, found by asking a reader that records them.
        struct Recorder(std::cell::RefCell<Vec<u64>>);
        impl HashReader for Recorder {
            fn read_hashes(
                &self,
                indexes: &[u64],
            ) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
                self.0.borrow_mut().extend_from_slice(indexes);
                Ok(vec![Hash::default(); indexes.len()])
            }
        }
        let recorder = Recorder(Default::default());
        tlog_tiles::prove_record(t, n, &recorder).map_err(tree_err)?;
        let mut conn = self.pool.acquire().await?;
        let reader = load_hashes(&mut conn, recorder.0.into_inner()).await?;
        tlog_tiles::prove_record(t, n, &reader).map_err(tree_err)
    }

    /// Store a checkpoint that has been signed.
    pub async fn store_checkpoint(
        &self,
        size: u64,
        root: &Hash,
        at: &DateTime<Utc>,
        note: &str,
    ) -> Result<CheckpointRow> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO checkpoints (size, root, at, note) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(size as i64)
        .bind(root.to_string())
        .bind(ts(at))
        .bind(note)
        .fetch_one(&self.pool)
        .await?;
        Ok(CheckpointRow {
            id,
            size,
            root: root.to_string(),
            at: *at,
            note: note.to_string(),
        })
    }

    /// Every stored checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
        sqlx::query("SELECT * FROM checkpoints ORDER BY id ASC")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(CheckpointRow::from_row)
            .collect()
    }

    /// Checkpoints newest first, `limit` of them after skipping `skip`.
    pub async fn checkpoints_newest_first(
        &self,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<CheckpointRow>> {
        sqlx::query("SELECT * FROM checkpoints ORDER BY id DESC LIMIT $1 OFFSET $2")
            .bind(limit)
            .bind(skip)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(CheckpointRow::from_row)
            .collect()
    }

    /// The newest checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        sqlx::query("SELECT * FROM checkpoints ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(CheckpointRow::from_row)
            .transpose()
    }
}
