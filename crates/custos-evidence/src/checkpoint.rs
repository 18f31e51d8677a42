//! Signed checkpoints: the tree's size and root in the C2SP tlog-checkpoint format
//! (`tlog_tiles::Checkpoint`), signed as a C2SP signed note (`signed_note`):
//!
//! ```text
//! <origin>\n                      the signing key's name
//! <size>\n                        events covered (leaves 0..size)
//! <base64 root>\n                 RFC 6962 root of those leaves
//! time <RFC 3339, UTC, µs>\n      when it was signed (an extension line)
//! \n
//! — <origin> <base64(key id || ed25519 signature)>\n
//! ```
//!
//! A checkpoint is made every `every` events and at least every `interval` even when
//! nothing happened, so a stretch without checkpoints shows that custos was not running
//! (or that its checkpoints were removed, which the witnesses show).

use crate::keys::SigningKey;
use crate::witness::{self, Witness};
use crate::{EvidenceError, Result};
use chrono::{DateTime, Utc};
use custos_ledger::Ledger;
use custos_ledger::merkle::CheckpointRow;
use std::sync::Arc;
use std::time::Duration;

/// The extension line's keyword.
pub const TIME_PREFIX: &str = "time ";

/// When checkpoints are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// At most this many events go without a checkpoint.
    pub every: u64,
    /// At most this long goes without a checkpoint.
    pub interval: Duration,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence {
            every: 1000,
            interval: Duration::from_secs(3600),
        }
    }
}

/// A checkpoint that was stored, and where its copies went.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCheckpoint {
    pub row: CheckpointRow,
    /// Witness locations that hold the copy.
    pub published: Vec<String>,
    /// Witness locations that failed, with the reason; the next checkpoint retries.
    pub failed: Vec<String>,
}

/// Makes, stores and publishes checkpoints.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    ledger: Arc<Ledger>,
    key: SigningKey,
    witnesses: Vec<Arc<dyn Witness>>,
    cadence: Cadence,
}

/// The note text of a checkpoint, before signing.
pub fn checkpoint_text(
    origin: &str,
    size: u64,
    root: tlog_tiles::Hash,
    at: &DateTime<Utc>,
) -> Result<Vec<u8>> {
    let time = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let c = tlog_tiles::Checkpoint::new(origin, size, root, &format!("{TIME_PREFIX}{time}\n"))
        .map_err(|e| EvidenceError::Sign(e.to_string()))?;
    Ok(c.to_bytes())
}

impl Checkpointer {
    pub fn new(
        ledger: Arc<Ledger>,
        key: SigningKey,
        witnesses: Vec<Arc<dyn Witness>>,
        cadence: Cadence,
    ) -> Self {
        Checkpointer {
            ledger,
            key,
            witnesses,
            cadence,
        }
    }

    pub fn cadence(&self) -> Cadence {
        self.cadence
    }

    pub fn witnesses(&self) -> &[Arc<dyn Witness>] {
        &self.witnesses
    }

    /// Sign a checkpoint of every event now in the ledger, store it and publish it. The
    /// tree is only extended over events that verify, so a damaged log is never signed.
    pub async fn checkpoint(&self) -> Result<SignedCheckpoint> {
        let (size, root) = self.ledger.extend_tree().await?;
        let at = self.ledger.now();
        let text = checkpoint_text(self.key.name(), size, root, &at)?;
        let note = self.key.sign_note(&text)?;
        let row = self
            .ledger
            .store_checkpoint(size, &root, &at, &note)
            .await?;
        let (published, failed) = self.publish(&row).await;
        tracing::info!(size, id = row.id, "checkpoint signed");
        Ok(SignedCheckpoint {
            row,
            published,
            failed,
        })
    }

    async fn publish(&self, row: &CheckpointRow) -> (Vec<String>, Vec<String>) {
        let (mut published, mut failed) = (vec![], vec![]);
        let file = witness::file_name(row.id);
        for w in &self.witnesses {
            match w.publish(&file, row.note.as_bytes()).await {
                Ok(()) => published.push(w.location()),
                Err(e) => {
                    tracing::warn!(error = %e, "checkpoint not published");
                    failed.push(e.to_string());
                }
            }
        }
        (published, failed)
    }

    /// Is a checkpoint due: none yet, `every` events since the last, or `interval` since
    /// it was signed?
    pub async fn due(&self) -> Result<bool> {
        let count = self.ledger.event_count().await?;
        Ok(match self.ledger.latest_checkpoint().await? {
            None => true,
            Some(last) => {
                count.saturating_sub(last.size) >= self.cadence.every
                    || self.ledger.now() - last.at
                        >= chrono::Duration::from_std(self.cadence.interval)
                            .unwrap_or(chrono::Duration::MAX)
            }
        })
    }

    /// Checkpoint if [`Self::due`].
    pub async fn checkpoint_if_due(&self) -> Result<Option<SignedCheckpoint>> {
        if self.due().await? {
            Ok(Some(self.checkpoint().await?))
        } else {
            Ok(None)
        }
    }

    /// Checkpoint if any event is not covered yet (what a command does before it exits).
    pub async fn checkpoint_if_behind(&self) -> Result<Option<SignedCheckpoint>> {
        let count = self.ledger.event_count().await?;
        let covered = self.ledger.latest_checkpoint().await?.map(|c| c.size);
        if covered.is_some_and(|c| c >= count) {
            return Ok(None);
        }
        Ok(Some(self.checkpoint().await?))
    }
}
