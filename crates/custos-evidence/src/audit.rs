//! `custos audit verify`: the whole log against its signed checkpoints and their witness
//! copies, with the kind of every damage found.
//!
//! Nothing stored beside the events is trusted: every event's hash is recomputed from its
//! content, the Merkle tree is recomputed from the events, and every checkpoint is
//! checked against the public key alone.

use crate::Result;
use crate::checkpoint::{Cadence, TIME_PREFIX};
use crate::keys::PublicKey;
use crate::witness::{self, Witness, WitnessCopy};
use chrono::{DateTime, Utc};
use custos_ledger::Ledger;
use custos_ledger::chain;
use custos_ledger::merkle::{CheckpointRow, RawEvent, VecReader};
use serde::Serialize;
use signed_note::{Note, VerifierList};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What is wrong, in the terms an assessor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// An event's content no longer gives its hash, or its hash was recomputed after an
    /// edit (the next event still links to the old one).
    Edited,
    /// Events are missing from the middle of the log.
    Deleted,
    /// Events are stored out of their chain order.
    Reordered,
    /// The log ends before a signed checkpoint says it did.
    Truncated,
    /// The log is consistent with itself but not with what was signed: it was rewritten
    /// (and re-hashed) by someone without the signing key.
    Rewritten,
    /// A checkpoint whose signature, format or copy does not hold.
    BadCheckpoint,
    /// A checkpoint missing from the ledger or from a witness, or events left without a
    /// checkpoint for longer than the interval.
    MissingCheckpoint,
    /// A state table (approvals, actions, observations) says something its events do not.
    StateMismatch,
}

impl DamageKind {
    pub fn label(self) -> &'static str {
        match self {
            DamageKind::Edited => "edited",
            DamageKind::Deleted => "deleted",
            DamageKind::Reordered => "reordered",
            DamageKind::Truncated => "truncated",
            DamageKind::Rewritten => "rewritten without the key",
            DamageKind::BadCheckpoint => "bad checkpoint",
            DamageKind::MissingCheckpoint => "missing checkpoint",
            DamageKind::StateMismatch => "state table differs from its events",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Damage {
    pub kind: DamageKind,
    /// Leaf index of the first event concerned, when the damage is to events.
    pub index: Option<u64>,
    /// Storage row of that event, when it exists.
    pub seq: Option<i64>,
    pub detail: String,
}

/// A stretch of time with no checkpoint (custos not running, or checkpoints lost).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    /// Event rows read.
    pub events: u64,
    /// Checkpoints that verify with the public key (ledger and witnesses, deduplicated).
    pub valid_checkpoints: u64,
    /// Witness locations and how many copies each holds.
    pub witnesses: Vec<(String, u64)>,
    /// Events covered by the newest checkpoint the log matches.
    pub anchored: u64,
    /// When that checkpoint was signed.
    pub anchored_at: Option<DateTime<Utc>>,
    /// Events recorded after it and younger than the interval: not yet anchored, not
    /// damage.
    pub pending: u64,
    /// Stretches longer than the interval without a checkpoint.
    pub gaps: Vec<Gap>,
    /// Events before this leaf were pruned under a signed statement that verified.
    pub pruned: u64,
    /// Findings per kind.
    pub counts: BTreeMap<DamageKind, u64>,
    /// The findings, first bad event first (at most [`MAX_LISTED`]).
    pub damage: Vec<Damage>,
}

/// Findings kept in the report; the counts go on.
pub const MAX_LISTED: usize = 10_000;

impl AuditReport {
    pub fn intact(&self) -> bool {
        self.counts.is_empty()
    }

    /// The first damaged event, or else the first damage of any kind.
    pub fn first_bad(&self) -> Option<&Damage> {
        self.damage.first()
    }

    pub fn count(&self, kind: DamageKind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }
}

/// Verifies a ledger.
#[derive(Debug, Clone)]
pub struct Auditor {
    pub ledger: Arc<Ledger>,
    pub key: PublicKey,
    pub witnesses: Vec<Arc<dyn Witness>>,
    pub cadence: Cadence,
}

impl Auditor {
    pub async fn verify(&self) -> Result<AuditReport> {
        let mut rows = Vec::new();
        let mut told = EventState::default();
        self.ledger
            .for_each_raw_event(|e| {
                told.see(&e);
                rows.push(Row::of(&e));
            })
            .await?;
        let checkpoints = self.ledger.checkpoints().await?;
        let mut copies = vec![];
        for w in &self.witnesses {
            copies.push((w.location(), w.copies().await?));
        }
        let stored = self.ledger.projections().await?;
        // Every prune statement must open, and horizons only move forward; the log is
        // verified from the furthest horizon that a valid statement vouches for.
        let mut refused: Vec<String> = vec![];
        let mut horizon: Option<Horizon> = None;
        let mut last = 0u64;
        for (id, row) in self.ledger.prunes().await? {
            let row = match row {
                Ok(r) => r,
                Err(reason) => {
                    refused.push(format!("prune statement {id}: unreadable ({reason})"));
                    continue;
                }
            };
            if row.horizon <= last {
                refused.push(format!(
                    "prune statement {id}: its horizon {} does not move past {last} (a statement replayed or inserted)",
                    row.horizon
                ));
            }
            last = last.max(row.horizon);
            match crate::prune::open_statement(&self.ledger, &row, &self.key).await {
                Ok(h) if horizon.as_ref().is_none_or(|k| h.size > k.size) => horizon = Some(h),
                Ok(_) => {}
                Err(reason) => refused.push(format!("prune statement {id}: {reason}")),
            }
        }
        let mut report = assess(
            rows,
            &checkpoints,
            &copies,
            &self.key,
            self.ledger.now(),
            self.cadence,
            horizon,
        );
        for detail in refused.into_iter().rev() {
            *report.counts.entry(DamageKind::BadCheckpoint).or_default() += 1;
            report.damage.insert(
                0,
                Damage {
                    kind: DamageKind::BadCheckpoint,
                    index: None,
                    seq: None,
                    detail,
                },
            );
        }
        let mut differences = told.differences(&stored);
        // Principals, roles, tokens (their hashes), runtime autonomy and the switches.
        differences.extend(self.ledger.state_differences().await?);
        for detail in differences {
            *report.counts.entry(DamageKind::StateMismatch).or_default() += 1;
            if report.damage.len() < MAX_LISTED {
                report.damage.push(Damage {
                    kind: DamageKind::StateMismatch,
                    index: None,
                    seq: None,
                    detail,
                });
            }
        }
        Ok(report)
    }
}

/// What the events say the state tables hold: the last status of every approval and
/// action, the last recorded observation of every resource.
#[derive(Debug, Default)]
pub struct EventState {
    approvals: HashMap<String, String>,
    actions: HashMap<String, String>,
    observations: HashMap<String, (String, String)>,
    /// The digest of each action's record as its outcome event holds it.
    records: HashMap<String, String>,
}

/// The JCS digest of an action record (its outcome event's payload without the fields
/// the event adds).
fn record_digest(mut v: serde_json::Value) -> String {
    if let Some(m) = v.as_object_mut() {
        m.remove("kind");
        m.remove("decision");
        m.remove("prior");
    }
    custos_core::digest_json(&v).0
}

impl EventState {
    pub fn see(&mut self, e: &RawEvent) {
        let kind = e.kind.as_str();
        let relevant = kind.starts_with("approval.")
            || kind.starts_with("action.")
            || kind == "observation.recorded";
        if !relevant {
            return;
        }
        let Ok(p) = serde_json::from_str::<serde_json::Value>(&e.payload) else {
            return;
        };
        let text = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
        if kind == "observation.recorded" {
            if let (Some(r), Some(c), Some(d)) = (
                e.resource.clone(),
                text("capture_time"),
                text("state_digest"),
            ) {
                self.observations.insert(r, (c, d));
            }
        } else if let Some(status) = kind.strip_prefix("action.") {
            if let Some(id) = text("action_id") {
                if status != "intent" && status != "reverted" {
                    self.records.insert(id.clone(), record_digest(p.clone()));
                }
                self.actions.insert(id, status.to_string());
            }
        } else if let (Some(id), Some(status)) = (text("approval_id"), text("status")) {
            self.approvals.insert(id, status);
        }
    }

    /// Every way the stored tables differ from what the events say.
    pub fn differences(&self, stored: &custos_ledger::Projections) -> Vec<String> {
        let mut out = vec![];
        let mut compare =
            |what: &str, told: &HashMap<String, String>, rows: &[(String, String)]| {
                let mut seen = std::collections::HashSet::new();
                for (id, status) in rows {
                    seen.insert(id.as_str());
                    match told.get(id) {
                        None => out.push(format!("{what} `{id}` is in its table with no event")),
                        Some(s) if s != status => out.push(format!(
                            "{what} `{id}` is `{status}` in its table; its events say `{s}`"
                        )),
                        Some(_) => {}
                    }
                }
                let mut missing: Vec<&String> = told
                    .keys()
                    .filter(|id| !seen.contains(id.as_str()))
                    .collect();
                missing.sort();
                for id in missing {
                    out.push(format!("{what} `{id}` has events but no row in its table"));
                }
            };
        compare("approval", &self.approvals, &stored.approvals);
        compare("action", &self.actions, &stored.actions);
        let observed: HashMap<String, String> = self
            .observations
            .iter()
            .map(|(r, (c, d))| (r.clone(), format!("{c} {d}")))
            .collect();
        let rows: Vec<(String, String)> = stored
            .observations
            .iter()
            .map(|(r, c, d)| (r.clone(), format!("{c} {d}")))
            .collect();
        compare("observation of", &observed, &rows);
        for (id, record) in &stored.records {
            let digest = serde_json::from_str::<serde_json::Value>(record)
                .map(record_digest)
                .unwrap_or_default();
            match self.records.get(id) {
                Some(told) if *told == digest => {}
                Some(_) => out.push(format!(
                    "action `{id}`: its record (before, after or calls) differs from its outcome event"
                )),
                // A prune may remove an outcome and keep its row for a later
                // `action.reverted`; only an unpruned log must hold every outcome.
                None if !stored.pruned => {
                    out.push(format!("action `{id}` has a record but no outcome event"))
                }
                None => {}
            }
        }
        out
    }
}

/// What verification keeps of an event row (a million of them fit in memory).
#[derive(Debug, Clone)]
pub struct Row {
    seq: i64,
    index: Option<u64>,
    hash: Option<[u8; 32]>,
    prev: Option<[u8; 32]>,
    content_ok: bool,
    at: Option<DateTime<Utc>>,
}

impl Row {
    pub fn of(e: &RawEvent) -> Row {
        Row {
            seq: e.seq,
            index: e.index.and_then(|i| u64::try_from(i).ok()),
            hash: chain::hash_bytes(&e.hash),
            prev: chain::hash_bytes(&e.prev_hash),
            content_ok: e.recomputed_hash().as_deref() == Some(e.hash.as_str()),
            at: DateTime::parse_from_rfc3339(&e.at)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// A checkpoint that verified.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Signed {
    size: u64,
    root: tlog_tiles::Hash,
    at: DateTime<Utc>,
}

/// Verify one note with the public key and read its checkpoint.
/// The text of a C2SP signed note, when `key` signed it.
pub fn open_note(note: &[u8], key: &PublicKey) -> std::result::Result<Vec<u8>, String> {
    let note = Note::from_bytes(note).map_err(|e| format!("not a signed note ({e})"))?;
    let known = VerifierList::new(vec![Box::new(key.verifier())]);
    note.verify(&known).map_err(|e| match e {
        signed_note::NoteError::UnverifiedNote => {
            format!("not signed by `{}`", key.text())
        }
        other => format!("signature does not verify ({other})"),
    })?;
    Ok(note.text().to_vec())
}

pub fn open_checkpoint(
    note: &[u8],
    key: &PublicKey,
) -> std::result::Result<(u64, tlog_tiles::Hash, DateTime<Utc>), String> {
    let text = open_note(note, key)?;
    let c = tlog_tiles::Checkpoint::from_bytes(&text)
        .map_err(|_| "signed, but not a tlog checkpoint".to_string())?;
    if c.origin() != key.name() {
        return Err(format!("origin `{}` is not `{}`", c.origin(), key.name()));
    }
    let at = c
        .extension()
        .lines()
        .find_map(|l| l.strip_prefix(TIME_PREFIX))
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| "no `time` line".to_string())?;
    Ok((c.size(), *c.hash(), at))
}

struct Findings {
    list: Vec<Damage>,
    counts: BTreeMap<DamageKind, u64>,
}

impl Findings {
    fn add(&mut self, kind: DamageKind, index: Option<u64>, seq: Option<i64>, detail: String) {
        *self.counts.entry(kind).or_default() += 1;
        if self.list.len() < MAX_LISTED {
            self.list.push(Damage {
                kind,
                index,
                seq,
                detail,
            });
        }
    }
}

/// Positions (into `keys`) of a longest strictly increasing subsequence.
fn longest_increasing(keys: &[u64]) -> Vec<bool> {
    let mut tails: Vec<usize> = vec![];
    let mut parent = vec![usize::MAX; keys.len()];
    for (i, &k) in keys.iter().enumerate() {
        let at = tails.partition_point(|&t| keys[t] < k);
        if at > 0 {
            parent[i] = tails[at - 1];
        }
        if at == tails.len() {
            tails.push(i);
        } else {
            tails[at] = i;
        }
    }
    let mut keep = vec![false; keys.len()];
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        keep[i] = true;
        cur = (parent[i] != usize::MAX).then_some(parent[i]);
    }
    keep
}

/// The verdict over collected rows, checkpoints and witness copies.
/// Where a verified prune left the log: the first kept leaf, the hash it links to, and
/// the stored tree hashes of the pruned leaves (their root checked against the statement).
#[derive(Debug)]
pub struct Horizon {
    pub size: u64,
    pub last_hash: [u8; 32],
    pub prefix: VecReader,
}

#[allow(clippy::too_many_arguments)]
pub fn assess(
    rows: Vec<Row>,
    checkpoints: &[CheckpointRow],
    copies: &[(String, Vec<WitnessCopy>)],
    key: &PublicKey,
    now: DateTime<Utc>,
    cadence: Cadence,
    horizon: Option<Horizon>,
) -> AuditReport {
    let start = horizon.as_ref().map_or(0, |h| h.size);
    let mut f = Findings {
        list: vec![],
        counts: BTreeMap::new(),
    };
    let events = rows.len() as u64;

    // 1. Content: every row must give its own hash.
    for r in &rows {
        match r.index {
            None => f.add(
                DamageKind::Edited,
                None,
                Some(r.seq),
                format!("event row {} has no leaf index", r.seq),
            ),
            Some(i) if !r.content_ok => f.add(
                DamageKind::Edited,
                Some(i),
                Some(r.seq),
                format!("event {i}: its content does not give its hash"),
            ),
            Some(_) => {}
        }
    }

    // 2. Storage order: rows outside a longest increasing run of indexes were moved.
    let stored: Vec<(usize, u64)> = rows
        .iter()
        .enumerate()
        .filter_map(|(p, r)| r.index.map(|i| (p, i)))
        .collect();
    let keep = longest_increasing(&stored.iter().map(|&(_, i)| i).collect::<Vec<_>>());
    for (&(p, i), kept) in stored.iter().zip(&keep) {
        if !kept {
            f.add(
                DamageKind::Reordered,
                Some(i),
                Some(rows[p].seq),
                format!("event {i} is stored out of its chain order"),
            );
        }
    }

    // 3. Chain order: every index from 0 (or the prune horizon) on, once.
    let mut by_index: Vec<usize> = stored.iter().map(|&(p, _)| p).collect();
    by_index.sort_by_key(|&p| (rows[p].index, rows[p].seq));
    let mut ordered: Vec<&Row> = Vec::with_capacity(by_index.len());
    let mut expect = start;
    let mut first_gap: Option<u64> = None;
    for &p in &by_index {
        let r = &rows[p];
        let Some(i) = r.index else { continue };
        if i < expect {
            f.add(
                DamageKind::Edited,
                Some(i),
                Some(r.seq),
                format!("two rows claim event {i}"),
            );
            continue;
        }
        if i > expect {
            first_gap.get_or_insert(expect);
            let n = i - expect;
            f.add(
                DamageKind::Deleted,
                Some(expect),
                None,
                if n == 1 {
                    format!("event {expect} is missing")
                } else {
                    format!("events {expect} to {} ({n}) are missing", i - 1)
                },
            );
        }
        ordered.push(r);
        expect = i + 1;
    }
    let length = expect;

    // 4. Links: each event names the hash of the one before it.
    let genesis = match &horizon {
        Some(h) => Some(h.last_hash),
        None => chain::hash_bytes(custos_ledger::GENESIS),
    };
    let mut edited_before: Option<u64> = f
        .list
        .iter()
        .filter(|d| d.kind == DamageKind::Edited)
        .filter_map(|d| d.index)
        .min();
    for (k, r) in ordered.iter().enumerate() {
        let Some(i) = r.index else { continue };
        let expected_prev = if i == start {
            genesis
        } else if k > 0 && ordered[k - 1].index == Some(i - 1) {
            ordered[k - 1].hash
        } else {
            continue;
        };
        if r.content_ok && r.prev != expected_prev {
            let (at, detail) = if i == start {
                (
                    start,
                    format!(
                        "event {start} does not start from the genesis hash or the prune horizon's"
                    ),
                )
            } else {
                (
                    i - 1,
                    format!(
                        "event {}: its hash was recomputed after an edit (event {i} links to another)",
                        i - 1
                    ),
                )
            };
            let seq = if i == start {
                r.seq
            } else {
                ordered[k - 1].seq
            };
            f.add(DamageKind::Edited, Some(at), Some(seq), detail);
            edited_before = Some(edited_before.map_or(at, |e| e.min(at)));
        }
    }

    // 5. The tree over the unbroken prefix, from the stored hashes.
    let contiguous = first_gap.unwrap_or(length);
    let (mut tree, mut built) = match horizon {
        Some(h) => (h.prefix, h.size),
        None => (VecReader::default(), 0u64),
    };
    for r in ordered
        .iter()
        .take(contiguous.saturating_sub(start) as usize)
    {
        let Some(h) = r.hash else { break };
        if tree.push_leaf(built, chain::leaf_hash(&h)).is_err() {
            break;
        }
        built += 1;
    }

    // 6. Checkpoints: signature, format, witness copies.
    let mut signed: Vec<Signed> = vec![];
    let mut opened: HashMap<Vec<u8>, Option<Signed>> = HashMap::new();
    let mut open = |note: &[u8], place: &str, f: &mut Findings| -> Option<Signed> {
        if let Some(done) = opened.get(note) {
            return *done;
        }
        let result = match open_checkpoint(note, key) {
            Ok((size, root, at)) => Some(Signed { size, root, at }),
            Err(reason) => {
                f.add(
                    DamageKind::BadCheckpoint,
                    None,
                    None,
                    format!("{place}: {reason}"),
                );
                None
            }
        };
        opened.insert(note.to_vec(), result);
        result
    };
    for c in checkpoints {
        let place = format!("ledger checkpoint {}", c.id);
        if let Some(s) = open(c.note.as_bytes(), &place, &mut f) {
            if s.size != c.size || s.root.to_string() != c.root {
                f.add(
                    DamageKind::BadCheckpoint,
                    None,
                    None,
                    format!("{place}: its columns differ from its signed note"),
                );
            }
            signed.push(s);
        }
    }
    let in_ledger: HashMap<String, &CheckpointRow> = checkpoints
        .iter()
        .map(|c| (witness::file_name(c.id), c))
        .collect();
    for (location, held) in copies {
        let held_by_name: HashMap<&str, &WitnessCopy> =
            held.iter().map(|c| (c.file.as_str(), c)).collect();
        for c in checkpoints {
            match held_by_name.get(witness::file_name(c.id).as_str()) {
                None => f.add(
                    DamageKind::MissingCheckpoint,
                    None,
                    None,
                    format!("{location} has no copy of ledger checkpoint {}", c.id),
                ),
                Some(copy) if copy.note != c.note.as_bytes() => f.add(
                    DamageKind::BadCheckpoint,
                    None,
                    None,
                    format!(
                        "{location}'s copy of checkpoint {} differs from the ledger's",
                        c.id
                    ),
                ),
                Some(_) => {}
            }
        }
        for copy in held {
            let place = format!("{location} {}", copy.file);
            let s = open(&copy.note, &place, &mut f);
            if !in_ledger.contains_key(&copy.file) {
                f.add(
                    DamageKind::MissingCheckpoint,
                    None,
                    None,
                    format!(
                        "the ledger has no checkpoint {}; {location} holds it",
                        copy.file
                    ),
                );
            }
            if let Some(s) = s {
                signed.push(s);
            }
        }
    }
    signed.sort_by_key(|s| (s.size, s.at));
    signed.dedup();
    for pair in signed.windows(2) {
        if pair[0].size == pair[1].size && pair[0].root != pair[1].root {
            f.add(
                DamageKind::BadCheckpoint,
                None,
                None,
                format!(
                    "two signed checkpoints disagree about the first {} events (the signing key is compromised)",
                    pair[0].size
                ),
            );
        }
    }

    // 7. The log against what was signed.
    let mut anchored = (0u64, None::<DateTime<Utc>>);
    let mut rewritten = false;
    if let Some(longest) = signed.iter().max_by_key(|s| s.size)
        && longest.size > length
    {
        f.add(
            DamageKind::Truncated,
            Some(length),
            None,
            format!(
                "a checkpoint signed at {} covers {} events; the log holds {length}",
                longest.at, longest.size
            ),
        );
    }
    for s in &signed {
        if s.size > built {
            continue;
        }
        let root = tlog_tiles::tree_hash(s.size, &tree).ok();
        if root == Some(s.root) {
            if s.size >= anchored.0 {
                anchored = (s.size, Some(s.at));
            }
        } else if !rewritten && edited_before.is_none_or(|e| e >= s.size) {
            rewritten = true;
            f.add(
                DamageKind::Rewritten,
                Some(anchored.0),
                None,
                format!(
                    "the first {} events do not give the root signed at {}; the log matches what was signed only up to event {}",
                    s.size, s.at, anchored.0
                ),
            );
        }
    }

    // 8. Events left unanchored for longer than the interval.
    let interval = chrono::Duration::from_std(cadence.interval).unwrap_or(chrono::Duration::MAX);
    let mut pending = 0u64;
    if let Some(r) = ordered
        .iter()
        .find(|r| r.index.is_some_and(|i| i >= anchored.0))
    {
        let late = r.at.is_none_or(|at| now - at > interval);
        if late && f.counts.is_empty() {
            f.add(
                DamageKind::MissingCheckpoint,
                r.index,
                Some(r.seq),
                format!(
                    "events from {} on ({} of them) have no checkpoint, and the first is older than the interval",
                    anchored.0,
                    length.saturating_sub(anchored.0)
                ),
            );
        } else if !late {
            pending = length.saturating_sub(anchored.0);
        }
    }
    let mut gaps = vec![];
    let mut times: Vec<DateTime<Utc>> = signed.iter().map(|s| s.at).collect();
    times.sort();
    for w in times.windows(2) {
        if w[1] - w[0] > interval + interval / 2 {
            gaps.push(Gap {
                from: w[0],
                to: w[1],
            });
        }
    }

    let mut damage = f.list;
    damage.sort_by_key(|d| (d.index.is_none(), d.index, d.kind));
    AuditReport {
        events,
        valid_checkpoints: signed.len() as u64,
        witnesses: copies
            .iter()
            .map(|(l, c)| (l.clone(), c.len() as u64))
            .collect(),
        anchored: anchored.0,
        anchored_at: anchored.1,
        pending,
        gaps,
        pruned: start,
        counts: f.counts,
        damage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_increasing_run_leaves_out_the_moved_events() {
        let keep = longest_increasing(&[0, 2, 1, 3, 4, 6, 5, 7]);
        assert_eq!(keep.iter().filter(|k| !**k).count(), 2);
        let keep = longest_increasing(&[0, 1, 2, 3]);
        assert!(keep.iter().all(|k| *k));
        // One event moved far back costs one, not everything after it.
        let keep = longest_increasing(&[0, 1, 9, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            keep,
            [true, true, false, true, true, true, true, true, true, true]
        );
    }
}
