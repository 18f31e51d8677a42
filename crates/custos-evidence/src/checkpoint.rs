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

use crate::audit::open_checkpoint;
use crate::keys::{PublicKey, SigningKey};
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
    /// Witness locations that failed, with the reason; the next checkpoint publishes
    /// every copy a witness lacks.
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

/// The newest checkpoint in the ledger whose note verifies with `key` (rows that do not
/// verify are not ours and decide nothing).
pub async fn newest_verified(ledger: &Ledger, key: &PublicKey) -> Result<Option<CheckpointRow>> {
    // Newest first, a page at a time: normally the first row is ours.
    let mut skip = 0;
    loop {
        let page = ledger.checkpoints_newest_first(skip, 16).await?;
        if page.is_empty() {
            return Ok(None);
        }
        skip += page.len() as i64;
        if let Some(c) = page
            .into_iter()
            .find(|c| open_checkpoint(c.note.as_bytes(), key).is_ok())
        {
            return Ok(Some(c));
        }
    }
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

    /// The log's origin (the key's name).
    pub fn origin(&self) -> &str {
        self.key.name()
    }

    /// Sign another statement about the log with the checkpoint key (a prune).
    pub fn sign_note(&self, text: &[u8]) -> Result<String> {
        self.key.sign_note(text)
    }

    pub fn witnesses(&self) -> &[Arc<dyn Witness>] {
        &self.witnesses
    }

    /// The newest checkpoint in the ledger whose note verifies with this key.
    async fn latest_verified(&self) -> Result<Option<CheckpointRow>> {
        newest_verified(&self.ledger, &self.public()?).await
    }

    fn public(&self) -> Result<PublicKey> {
        PublicKey::parse(self.key.public(), "the signing key")
    }

    /// Sign a checkpoint of every event now in the ledger, store it and publish it.
    ///
    /// Nothing is signed that contradicts what was signed before: the tree is only
    /// extended over events that verify, and the newest checkpoint held by the ledger and
    /// by each witness (verified with this key) must be a prefix of it: a rewritten
    /// history (even with the stored tree and the checkpoint rows reset) is refused, not
    /// signed. Every ledger checkpoint a witness lacks is published again.
    pub async fn checkpoint(&self) -> Result<SignedCheckpoint> {
        let (size, root) = self.ledger.extend_tree().await?;
        let public = self.public()?;
        let mut signed: Vec<(String, u64, tlog_tiles::Hash)> = vec![];
        if let Some(c) = self.latest_verified().await? {
            let (s, r, _) =
                open_checkpoint(c.note.as_bytes(), &public).map_err(EvidenceError::Sign)?;
            signed.push(("the ledger".to_string(), s, r));
        }
        let mut held = Vec::with_capacity(self.witnesses.len());
        for w in &self.witnesses {
            let names = w.names().await?;
            let newest = names
                .iter()
                .filter_map(|n| witness::id_of(n).map(|id| (id, n)))
                .max();
            if let Some((_, name)) = newest
                && let Some(bytes) = w.read(name).await?
            {
                let (s, r, _) =
                    open_checkpoint(&bytes, &public).map_err(|e| EvidenceError::Witness {
                        witness: w.location(),
                        reason: format!("its newest copy `{name}` does not verify: {e}"),
                    })?;
                signed.push((w.location(), s, r));
            }
            held.push(names);
        }
        for (place, s, r) in signed {
            if s > size || self.ledger.tree_root(s).await? != r {
                return Err(EvidenceError::Sign(format!(
                    "the ledger no longer matches the checkpoint of {s} events held by {place}: refusing to sign (run `custos audit verify`)"
                )));
            }
        }
        let at = self.ledger.now();
        let text = checkpoint_text(self.key.name(), size, root, &at)?;
        let note = self.key.sign_note(&text)?;
        let row = self
            .ledger
            .store_checkpoint(size, &root, &at, &note)
            .await?;
        let all = self.ledger.checkpoints().await?;
        let (mut published, mut failed) = (vec![], vec![]);
        for (w, names) in self.witnesses.iter().zip(&held) {
            let mut ok = true;
            for c in all.iter().filter(|c| {
                let file = witness::file_name(c.id);
                c.id == row.id || !names.contains(&file)
            }) {
                if let Err(e) = w
                    .publish(&witness::file_name(c.id), c.note.as_bytes())
                    .await
                {
                    tracing::warn!(error = %e, "checkpoint not published");
                    failed.push(e.to_string());
                    ok = false;
                }
            }
            if ok {
                published.push(w.location());
            }
        }
        tracing::info!(size, id = row.id, "checkpoint signed");
        Ok(SignedCheckpoint {
            row,
            published,
            failed,
        })
    }

    /// Is a checkpoint due: none yet, `every` events since the last, or `interval` since
    /// it was signed? Only checkpoints that verify with this key count.
    pub async fn due(&self) -> Result<bool> {
        let count = self.ledger.event_count().await?;
        Ok(match self.latest_verified().await? {
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
        let covered = self.latest_verified().await?.map(|c| c.size);
        if covered.is_some_and(|c| c >= count) {
            return Ok(None);
        }
        Ok(Some(self.checkpoint().await?))
    }
}
