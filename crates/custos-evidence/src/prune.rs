//! `custos ledger prune --before`: delete old events without breaking verification.
//!
//! A prune is allowed only after an export covering the events it deletes, on a ledger
//! that verifies, with no live approval or action among them, and below a signed
//! checkpoint. It writes a statement signed with the checkpoint key:
//!
//! ```text
//! custos ledger prune
//! <origin>
//! <horizon: events before this leaf are deleted>
//! <base64 root of the tree over the first `horizon` events>
//! <hash of event horizon-1, "sha256:<hex>">
//! <id of the export event>
//! ```
//!
//! and keeps the tree's stored hashes, so that `audit verify` starts the tree from them
//! (checking their root against the statement and every checkpoint), starts the chain at
//! the horizon from the statement's hash, and reports a horizon without a valid statement
//! as a bad checkpoint (and the missing events as deleted).

use crate::audit::{Auditor, Horizon};
use crate::checkpoint::Checkpointer;
use crate::keys::PublicKey;
use crate::{EvidenceError, Result};
use chrono::{DateTime, Utc};
use custos_ledger::chain;
use custos_ledger::merkle::VecReader;
use custos_ledger::{Ledger, PruneRow, Pruned};
use signed_note::{Note, VerifierList};

const HEADER: &str = "custos ledger prune";

/// The statement's text, before signing.
pub fn statement_text(origin: &str, row: &PruneRow) -> String {
    format!(
        "{HEADER}\n{origin}\n{}\n{}\n{}\n{}\n",
        row.horizon, row.root, row.last_hash, row.export_event
    )
}

/// Check a recorded prune: its statement is signed by `key`, says what its row says, and
/// the kept tree hashes give the root it signs. The horizon to verify the log from.
pub async fn open_statement(
    ledger: &Ledger,
    row: &PruneRow,
    key: &PublicKey,
) -> std::result::Result<Horizon, String> {
    let note =
        Note::from_bytes(row.note.as_bytes()).map_err(|e| format!("not a signed note ({e})"))?;
    let known = VerifierList::new(vec![Box::new(key.verifier())]);
    note.verify(&known)
        .map_err(|_| format!("not signed by `{}`", key.text()))?;
    let text = String::from_utf8_lossy(note.text()).to_string();
    if text != statement_text(key.name(), row) {
        return Err("its signed text differs from the ledger's record".into());
    }
    let prefix = ledger
        .stored_prefix(row.horizon)
        .await
        .map_err(|e| format!("the tree hashes of the pruned events are gone ({e})"))?;
    // Every kept hash must follow from the kept leaves (one tree, nothing edited inside),
    // and their root must be the signed one.
    let mut rebuilt = VecReader::default();
    for n in 0..row.horizon {
        let leaf = usize::try_from(tlog_tiles::stored_hash_index(0, n))
            .ok()
            .and_then(|i| prefix.0.get(i).copied())
            .ok_or("the kept tree hashes are incomplete")?;
        rebuilt.push_leaf(n, leaf).map_err(|e| e.to_string())?;
    }
    if rebuilt.0 != prefix.0 {
        return Err("the kept tree hashes are not one tree (one was changed)".into());
    }
    let root = tlog_tiles::tree_hash(row.horizon, &prefix).map_err(|e| e.to_string())?;
    if root.to_string() != row.root {
        return Err("the kept tree hashes do not give the signed root".into());
    }
    let last_hash = chain::hash_bytes(&row.last_hash).ok_or("unreadable last hash")?;
    let leaf = row
        .horizon
        .checked_sub(1)
        .and_then(|n| usize::try_from(tlog_tiles::stored_hash_index(0, n)).ok())
        .and_then(|i| prefix.0.get(i))
        .ok_or("no leaf before the horizon")?;
    if *leaf != chain::leaf_hash(&last_hash) {
        return Err("the last pruned event's hash is not the tree's last pruned leaf".into());
    }
    Ok(Horizon {
        size: row.horizon,
        last_hash,
        prefix,
    })
}

fn refused(reason: impl Into<String>) -> EvidenceError {
    EvidenceError::Prune(reason.into())
}

/// Prune the events recorded before `before`.
pub async fn prune(
    ledger: &Ledger,
    checkpointer: &Checkpointer,
    auditor: &Auditor,
    before: DateTime<Utc>,
    guard_lookback: chrono::Duration,
    by: &str,
) -> Result<Pruned> {
    let now = ledger.now();
    if before > now {
        return Err(refused(format!("{before} is in the future")));
    }
    let first = ledger
        .first_event_at()
        .await?
        .ok_or_else(|| refused("the ledger has no events"))?;
    let export = ledger
        .exports()
        .await?
        .into_iter()
        .find(|(_, since, until)| since.is_none_or(|s| s <= first) && *until >= before)
        .map(|(id, _, _)| id)
        .ok_or_else(|| {
            refused(format!(
                "no export covers the events before {before}: run `custos evidence export --until {}` (from the first event) first",
                before.to_rfc3339()
            ))
        })?;
    checkpointer.checkpoint_if_behind().await?;
    let report = auditor.verify().await?;
    if !report.intact() {
        return Err(refused(format!(
            "the ledger does not verify ({}); `custos audit verify` says where",
            report
                .first_bad()
                .map(|d| d.detail.clone())
                .unwrap_or_default()
        )));
    }
    let total = ledger.event_count().await?;
    let current = ledger.latest_prune().await?.map_or(0, |p| p.horizon);
    // At least one event stays: new events link to it.
    let horizon = ledger
        .first_leaf_at(&before, total.saturating_sub(1))
        .await?;
    if horizon <= current {
        return Err(refused(format!(
            "nothing to prune before {before}: the ledger starts at event {current}"
        )));
    }
    if horizon > report.anchored {
        return Err(refused(format!(
            "events up to {horizon} are not all covered by a signed checkpoint ({} are)",
            report.anchored
        )));
    }
    let live = ledger
        .live_work_before(horizon, &(now - guard_lookback))
        .await?;
    if !live.is_empty() {
        return Err(refused(format!(
            "live work would lose its events: {} (wait until it ends, or prune earlier)",
            live.join(", ")
        )));
    }
    // The root signed is recomputed from the events (which the audit just verified), and
    // the stored tree that will be kept must be exactly that tree.
    // From the previous horizon on (its kept hashes were just verified by the audit).
    let mut tree = if current > 0 {
        ledger.stored_prefix(current).await?
    } else {
        VecReader::default()
    };
    let mut last_hash = String::new();
    let mut n = current;
    while n < horizon {
        let page = ledger.raw_events_from(n as i64, 1000).await?;
        if page.is_empty() {
            break;
        }
        for e in page.into_iter().take((horizon - n).min(1000) as usize) {
            if e.index != Some(n as i64) {
                return Err(refused(format!("event {n} is missing or out of order")));
            }
            let hash = chain::hash_bytes(&e.hash)
                .ok_or_else(|| refused(format!("event {n} has an unreadable hash")))?;
            tree.push_leaf(n, chain::leaf_hash(&hash))
                .map_err(|e| refused(format!("cannot rebuild the tree: {e}")))?;
            last_hash = e.hash;
            n += 1;
        }
    }
    if n != horizon {
        return Err(refused(format!(
            "the log has {n} of the {horizon} events to prune"
        )));
    }
    if ledger.stored_prefix(horizon).await?.0 != tree.0 {
        return Err(refused(
            "the stored tree hashes differ from the tree of the events: they would be kept as the pruned events' only trace",
        ));
    }
    let root = tlog_tiles::tree_hash(horizon, &tree)
        .map_err(|e| refused(format!("cannot compute the root: {e}")))?;
    let mut row = PruneRow {
        id: 0,
        horizon,
        last_hash,
        root: root.to_string(),
        export_event: export,
        note: String::new(),
        at: ledger.now(),
    };
    row.note = checkpointer.sign_note(statement_text(checkpointer.origin(), &row).as_bytes())?;
    let pruned = ledger.prune(&row, &before, by).await?;
    checkpointer.checkpoint().await?;
    Ok(pruned)
}
