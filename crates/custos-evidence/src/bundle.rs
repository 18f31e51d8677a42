//! Evidence bundles: everything the ledger holds about one action, each event with its
//! RFC 6962 inclusion proof against a signed checkpoint, so that an assessor can check it
//! offline with the public key alone (`custos evidence verify`).
//!
//! The bundle is one RFC 8785 (JCS) document. Verification refuses any bundle that is not
//! exactly its own canonical encoding, so no byte can change without failing: the
//! checkpoint's signature, every event's hash and proof, and the summary (which must be
//! what [`Summary::from_events`] derives from the events) are all checked.
//!
//! Every event must be about the action: its own `action.*` events, the approval its
//! intent names, the decision for its plan, in chain order. A bundle also proves that it
//! holds every event about the action and its approval request up to its checkpoint:
//! each such event names the previous one about the same subject by hash (`prior`, null
//! for the first), and the bundle's `head`, a note signed with the checkpoint key, names
//! the last one of each as of the checkpoint. Leaving out any event (the first, one in
//! the middle, or the last, such as a later `action.reverted`) fails verification.

use crate::audit::open_checkpoint;
use crate::keys::PublicKey;
use crate::{EvidenceError, Result};
use custos_ledger::Ledger;
use custos_ledger::chain::{self, EventBody};
use custos_ledger::merkle::RawEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const FORMAT: &str = "custos-evidence-bundle/2";

/// The first line of a bundle's signed head note.
pub const HEAD: &str = "custos-evidence-head/1";

/// One event as recorded, with the proof that it is leaf `index` of the signed tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEvent {
    pub index: u64,
    pub scheme: i64,
    pub id: String,
    pub at: String,
    pub run_id: Option<String>,
    pub kind: String,
    pub resource: Option<String>,
    pub payload: Value,
    pub prev_hash: String,
    pub hash: String,
    /// Base64 hashes of the RFC 6962 audit path.
    pub proof: Vec<String>,
}

/// A review or a move of the approval request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStep {
    pub kind: String,
    pub at: String,
    pub status: Option<String>,
    pub by: Option<Value>,
    pub comment: Option<Value>,
}

/// One difference between the before and after state, by JSON pointer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// What the events say about the action, for people; recomputed on verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub action_id: String,
    pub resource: Option<String>,
    pub control: Option<String>,
    /// Framework -> requirement ids, from the findings.
    pub frameworks: BTreeMap<String, Vec<String>>,
    /// The configuration item as custos saw it.
    pub item: Option<Value>,
    /// The verdict and every layer's reasons.
    pub decision: Option<Value>,
    pub policy_digest: Option<String>,
    /// The reasoner's rationale (a model's output, when a model was consulted).
    pub rationale: Option<String>,
    pub approvals: Vec<ApprovalStep>,
    /// The intent recorded before the call (with the decision at that moment).
    pub intent: Option<Value>,
    pub outcome: Option<String>,
    pub calls: Vec<Value>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub diff: Vec<Change>,
    pub verification: Option<Value>,
    pub rollback: Option<Value>,
    /// When the fix was undone later (as far as this bundle's checkpoint reaches).
    pub reverted: Option<Value>,
}

/// The whole bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    pub action_id: String,
    pub summary: Summary,
    /// The signed checkpoint (C2SP signed note) every proof is against.
    pub checkpoint: String,
    /// A note signed with the checkpoint key naming, as of the checkpoint, the last event
    /// about the action and about its approval request ([`head_text`]).
    pub head: String,
    pub events: Vec<BundleEvent>,
}

/// The text of a bundle's head note.
pub fn head_text(
    action_id: &str,
    size: u64,
    events: &[BundleEvent],
    action_head: &str,
    approval_head: Option<&str>,
) -> String {
    let decision = events
        .iter()
        .find(|e| e.kind == "decision")
        .map_or("-", |e| e.hash.as_str());
    format!(
        "{HEAD}\naction {action_id}\ncheckpoint {size}\ndecision {decision}\naction-head {action_head}\napproval-head {}\n",
        approval_head.unwrap_or("-")
    )
}

/// The hash of the last event of each subject chain in `events`, after checking that
/// each chain is whole: its first event names no prior, each next one the one before.
fn chain_heads(
    action_id: &str,
    events: &[BundleEvent],
) -> std::result::Result<(String, Option<String>), String> {
    let mut heads: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for e in events {
        let Some(subject) = custos_ledger::subject_of(&e.kind, &e.payload) else {
            continue;
        };
        let prior = match e.payload.get("prior") {
            Some(Value::Null) => None,
            Some(Value::String(h)) => Some(h.as_str()),
            _ => {
                return Err(format!(
                    "event {} (`{}`) names no prior event (written before custos linked them)",
                    e.index, e.kind
                ));
            }
        };
        let previous = heads.get(&subject).map(|(h, _)| h.as_str());
        if prior != previous {
            return Err(match previous {
                None => format!(
                    "event {} (`{}`) follows an event about `{subject}` the bundle does not hold",
                    e.index, e.kind
                ),
                Some(_) => format!(
                    "event {} (`{}`) does not follow the bundle's previous event about `{subject}`: one was left out",
                    e.index, e.kind
                ),
            });
        }
        heads.insert(subject, (e.hash.clone(), e.index));
    }
    let action = heads
        .get(&format!("action:{action_id}"))
        .map(|(h, _)| h.clone())
        .ok_or_else(|| format!("no event of action `{action_id}` in the bundle"))?;
    let approval = heads
        .iter()
        .find(|(k, _)| k.starts_with("approval:"))
        .map(|(_, (h, _))| h.clone());
    Ok((action, approval))
}

/// What a verified bundle covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verified {
    pub action_id: String,
    pub events: usize,
    pub checkpoint_size: u64,
    pub checkpoint_at: chrono::DateTime<chrono::Utc>,
    pub outcome: Option<String>,
}

fn bad(reason: impl Into<String>) -> EvidenceError {
    EvidenceError::Bundle(reason.into())
}

/// Every difference between two JSON values, by JSON pointer.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    fn walk(path: &str, b: Option<&Value>, a: Option<&Value>, out: &mut Vec<Change>) {
        match (b, a) {
            (Some(Value::Object(bo)), Some(Value::Object(ao))) => {
                let mut keys: Vec<&String> = bo.keys().chain(ao.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                    walk(&p, bo.get(k), ao.get(k), out);
                }
            }
            (b, a) if b != a => out.push(Change {
                path: if path.is_empty() {
                    "/".into()
                } else {
                    path.into()
                },
                before: b.cloned(),
                after: a.cloned(),
            }),
            _ => {}
        }
    }
    let mut out = vec![];
    walk("", Some(before), Some(after), &mut out);
    out
}

impl Summary {
    /// Derive the summary from the bundle's events (the same function builds and checks).
    pub fn from_events(action_id: &str, events: &[BundleEvent]) -> Summary {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let of_action =
            |e: &&BundleEvent| text(&e.payload, "action_id").as_deref() == Some(action_id);
        let decision = events.iter().rev().find(|e| e.kind == "decision");
        let intent = events
            .iter()
            .find(|e| e.kind == "action.intent" && of_action(e));
        let outcome = events.iter().rev().find(|e| {
            e.kind.starts_with("action.")
                && e.kind != "action.intent"
                && e.kind != "action.reverted"
                && of_action(e)
        });
        let reverted = events
            .iter()
            .rev()
            .find(|e| e.kind == "action.reverted" && of_action(e));
        let mut frameworks: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(Value::Array(fs)) = decision.and_then(|d| d.payload.get("findings")) {
            for f in fs {
                if let Some(Value::Object(m)) = f.get("frameworks") {
                    for (name, ids) in m {
                        let entry = frameworks.entry(name.clone()).or_default();
                        for id in ids.as_array().into_iter().flatten() {
                            if let Some(id) = id.as_str()
                                && !entry.iter().any(|x| x == id)
                            {
                                entry.push(id.to_string());
                            }
                        }
                    }
                }
            }
        }
        let record = outcome.map(|o| &o.payload);
        let before = record.and_then(|r| r.get("before")).cloned();
        let after = record
            .and_then(|r| r.get("after"))
            .filter(|a| !a.is_null())
            .cloned();
        Summary {
            action_id: action_id.to_string(),
            resource: outcome.or(intent).and_then(|e| e.resource.clone()),
            control: decision.and_then(|d| text(&d.payload, "control")),
            frameworks,
            item: decision.and_then(|d| d.payload.get("item")).cloned(),
            decision: decision.and_then(|d| d.payload.get("decision")).cloned(),
            policy_digest: decision
                .and_then(|d| d.payload.get("decision"))
                .and_then(|d| text(d, "policy_digest")),
            rationale: decision
                .and_then(|d| d.payload.pointer("/decision/reasoner/rationale"))
                .and_then(Value::as_str)
                .map(str::to_string),
            approvals: events
                .iter()
                .filter(|e| e.kind.starts_with("approval."))
                .map(|e| ApprovalStep {
                    kind: e.kind.clone(),
                    at: e.at.clone(),
                    status: text(&e.payload, "status"),
                    by: e
                        .payload
                        .get("by")
                        .or(e.payload.get("requested_by"))
                        .cloned(),
                    comment: e.payload.get("comment").cloned(),
                })
                .collect(),
            intent: intent.map(|i| i.payload.clone()),
            outcome: outcome.and_then(|o| o.kind.strip_prefix("action.").map(str::to_string)),
            calls: record
                .and_then(|r| r.get("calls"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            diff: match (&before, &after) {
                (Some(b), Some(a)) => diff(b, a),
                _ => vec![],
            },
            before,
            after,
            verification: record.and_then(|r| r.get("verification")).cloned(),
            rollback: record.and_then(|r| r.get("rollback")).cloned(),
            reverted: reverted.map(|r| r.payload.clone()),
        }
    }
}

/// Proof paths longer than this are refused (a tree of 2^64 leaves needs 64).
const MAX_PROOF: usize = 64;

/// Every event must be about `action_id`, in strictly increasing chain order.
fn check_links(action_id: &str, events: &[BundleEvent]) -> std::result::Result<(), String> {
    for w in events.windows(2) {
        if w[0].index >= w[1].index {
            return Err(format!(
                "events are not in chain order at event {}",
                w[1].index
            ));
        }
    }
    let text =
        |e: &BundleEvent, k: &str| e.payload.get(k).and_then(Value::as_str).map(str::to_string);
    let of_action = |e: &BundleEvent| text(e, "action_id").as_deref() == Some(action_id);
    let intent = events
        .iter()
        .find(|e| e.kind == "action.intent" && of_action(e));
    let approval_id = intent.and_then(|i| text(i, "approval_id"));
    let mut plans: Vec<String> = events
        .iter()
        .filter(|e| e.kind.starts_with("action.") && of_action(e))
        .filter_map(|e| text(e, "plan_id"))
        .collect();
    plans.extend(
        events
            .iter()
            .filter(|e| {
                e.kind == "approval.requested"
                    && approval_id.is_some()
                    && text(e, "approval_id") == approval_id
            })
            .filter_map(|e| text(e, "plan_id")),
    );
    let mut decisions = 0;
    for e in events {
        let linked = match e.kind.as_str() {
            k if k.starts_with("action.") => of_action(e),
            k if k.starts_with("approval.") => {
                approval_id.is_some() && text(e, "approval_id") == approval_id
            }
            "decision" => {
                decisions += 1;
                e.payload
                    .pointer("/plan/id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| plans.iter().any(|p| p == id))
            }
            _ => false,
        };
        if !linked {
            return Err(format!(
                "event {} (`{}`) is not about action `{action_id}`",
                e.index, e.kind
            ));
        }
    }
    if decisions > 1 {
        return Err("more than one decision in the bundle".into());
    }
    Ok(())
}

fn event_of(e: &RawEvent, proof: Vec<tlog_tiles::Hash>) -> Result<BundleEvent> {
    let index = e
        .index
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| bad(format!("event row {} has no leaf index", e.seq)))?;
    Ok(BundleEvent {
        index,
        scheme: e
            .scheme
            .ok_or_else(|| bad(format!("event {index} has no hash scheme")))?,
        id: e.id.clone(),
        at: e.at.clone(),
        run_id: e.run_id.clone(),
        kind: e.kind.clone(),
        resource: e.resource.clone(),
        payload: serde_json::from_str(&e.payload)
            .map_err(|err| bad(format!("event {index} holds unreadable JSON: {err}")))?,
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
        proof: proof.iter().map(ToString::to_string).collect(),
    })
}

/// Build the bundle of `action_id` against the newest checkpoint, which must cover every
/// event of the action (sign one first: `custos audit checkpoint`).
pub async fn build(
    ledger: &Ledger,
    action_id: &str,
    signer: &crate::checkpoint::Checkpointer,
) -> Result<Bundle> {
    let raw = ledger.action_events(action_id).await?;
    if raw.is_empty() {
        return Err(EvidenceError::Ledger(
            custos_ledger::LedgerError::NotFound {
                kind: "action",
                id: action_id.to_string(),
            },
        ));
    }
    let checkpoint = ledger.latest_checkpoint().await?.ok_or_else(|| {
        bad("no checkpoint has been signed: configure [evidence] and run `custos audit checkpoint`")
    })?;
    let mut events = Vec::with_capacity(raw.len());
    for e in &raw {
        let index = e.index.unwrap_or(i64::MAX);
        if index < 0 || index as u64 >= checkpoint.size {
            return Err(bad(format!(
                "event {index} is newer than the newest checkpoint ({} events): sign one with `custos audit checkpoint`",
                checkpoint.size
            )));
        }
        let proof = ledger
            .inclusion_proof(index as u64, checkpoint.size)
            .await?;
        events.push(event_of(e, proof)?);
    }
    // The ledger's action row chose these events: they must be about this action.
    check_links(action_id, &events).map_err(|e| {
        bad(format!(
            "the ledger's record of action `{action_id}` points elsewhere: {e}"
        ))
    })?;
    let (action_head, approval_head) = chain_heads(action_id, &events).map_err(|e| {
        bad(format!(
            "the ledger's events about action `{action_id}` do not link up: {e}"
        ))
    })?;
    let head = signer.sign_note(
        head_text(
            action_id,
            checkpoint.size,
            &events,
            &action_head,
            approval_head.as_deref(),
        )
        .as_bytes(),
    )?;
    let summary = Summary::from_events(action_id, &events);
    Ok(Bundle {
        format: FORMAT.to_string(),
        action_id: action_id.to_string(),
        summary,
        checkpoint: checkpoint.note,
        head,
        events,
    })
}

impl Bundle {
    /// The bundle as a file: its RFC 8785 encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json_canonicalizer::to_vec(self).map_err(|e| bad(e.to_string()))
    }
}

/// Verify a bundle file with nothing but the public key.
pub fn verify(bytes: &[u8], key: &PublicKey) -> Result<Verified> {
    let bundle: Bundle =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a bundle: {e}")))?;
    if bundle.to_bytes()? != bytes {
        return Err(bad(
            "the file is not the canonical (RFC 8785) encoding of its content: it was altered",
        ));
    }
    if bundle.format != FORMAT {
        return Err(bad(format!("unknown format `{}`", bundle.format)));
    }
    let (size, root, at) = open_checkpoint(bundle.checkpoint.as_bytes(), key)
        .map_err(|e| bad(format!("checkpoint: {e}")))?;
    for e in &bundle.events {
        if e.index >= size {
            return Err(bad(format!(
                "event {} is beyond the checkpoint ({size} events)",
                e.index
            )));
        }
        let body = EventBody {
            index: e.index as i64,
            id: &e.id,
            at: &e.at,
            run_id: e.run_id.as_deref(),
            kind: &e.kind,
            resource: e.resource.as_deref(),
            payload: &e.payload,
            prev_hash: &e.prev_hash,
        };
        if body.hash(e.scheme).ok().as_deref() != Some(e.hash.as_str()) {
            return Err(bad(format!(
                "event {}: its content does not give its hash",
                e.index
            )));
        }
        let leaf = chain::hash_bytes(&e.hash)
            .map(|h| chain::leaf_hash(&h))
            .ok_or_else(|| bad(format!("event {}: unreadable hash", e.index)))?;
        if e.proof.len() > MAX_PROOF {
            return Err(bad(format!("event {}: its proof is too long", e.index)));
        }
        let proof = e
            .proof
            .iter()
            .map(|h| tlog_tiles::Hash::parse_hash(h))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| bad(format!("event {}: unreadable proof", e.index)))?;
        tlog_tiles::check_record(&proof, size, root, e.index, leaf).map_err(|_| {
            bad(format!(
                "event {} is not in the signed log (its inclusion proof fails)",
                e.index
            ))
        })?;
    }
    check_links(&bundle.action_id, &bundle.events).map_err(bad)?;
    if !bundle.events.iter().any(|e| {
        e.kind.starts_with("action.")
            && e.payload.get("action_id").and_then(Value::as_str) == Some(bundle.action_id.as_str())
    }) {
        return Err(bad(format!(
            "no event of action `{}` in the bundle",
            bundle.action_id
        )));
    }
    // Whole: every chain links up, and its last event is the one the signed head names.
    let (action_head, approval_head) =
        chain_heads(&bundle.action_id, &bundle.events).map_err(bad)?;
    let named = bundle.events.iter().find_map(|e| {
        (e.kind == "action.intent")
            .then(|| e.payload.get("approval_id").and_then(Value::as_str))
            .flatten()
    });
    if let (Some(id), None) = (named, &approval_head) {
        return Err(bad(format!(
            "the intent executed approval request `{id}`, whose events the bundle does not hold"
        )));
    }
    let head = crate::audit::open_note(bundle.head.as_bytes(), key)
        .map_err(|e| bad(format!("head: {e}")))?;
    let expected = head_text(
        &bundle.action_id,
        size,
        &bundle.events,
        &action_head,
        approval_head.as_deref(),
    );
    if head != expected.as_bytes() {
        return Err(bad(format!(
            "the signed head names other last events than the bundle holds (an event was left out): it says {:?}",
            String::from_utf8_lossy(&head)
        )));
    }
    if Summary::from_events(&bundle.action_id, &bundle.events) != bundle.summary {
        return Err(bad("the summary is not what the events say"));
    }
    Ok(Verified {
        action_id: bundle.action_id.clone(),
        events: bundle.events.len(),
        checkpoint_size: size,
        checkpoint_at: at,
        outcome: bundle.summary.outcome.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(index: u64, kind: &str, payload: Value) -> BundleEvent {
        BundleEvent {
            index,
            scheme: 1,
            id: format!("e{index}"),
            at: "2026-11-23T10:00:00.000000Z".into(),
            run_id: None,
            kind: kind.into(),
            resource: None,
            payload,
            prev_hash: String::new(),
            hash: String::new(),
            proof: vec![],
        }
    }

    #[test]
    fn only_events_about_the_action_in_chain_order_are_accepted() {
        let good = vec![
            ev(
                1,
                "approval.requested",
                json!({"approval_id": "apr-1", "plan_id": "p-0"}),
            ),
            ev(2, "decision", json!({"plan": {"id": "p-0"}})),
            ev(
                3,
                "action.intent",
                json!({"action_id": "a", "plan_id": "p-1", "approval_id": "apr-1"}),
            ),
            ev(
                4,
                "action.executed",
                json!({"action_id": "a", "plan_id": "p-1"}),
            ),
        ];
        assert_eq!(check_links("a", &good), Ok(()));
        let mut foreign = good.clone();
        foreign.push(ev(
            5,
            "approval.reviewed",
            json!({"approval_id": "apr-2", "by": "mallory"}),
        ));
        assert_eq!(
            check_links("a", &foreign),
            Err("event 5 (`approval.reviewed`) is not about action `a`".into())
        );
        let mut other_plan = good.clone();
        other_plan[1] = ev(2, "decision", json!({"plan": {"id": "p-9"}}));
        assert!(check_links("a", &other_plan).is_err());
        let mut reordered = good.clone();
        reordered.swap(2, 3);
        assert_eq!(
            check_links("a", &reordered),
            Err("events are not in chain order at event 3".into())
        );
        let mut other_action = good;
        other_action.push(ev(6, "action.failed", json!({"action_id": "b"})));
        assert!(check_links("a", &other_action).is_err());
    }

    #[test]
    fn diff_names_each_changed_leaf_by_json_pointer() {
        let b = json!({"facet": {"BlockPublicAcls": false, "a/b": 1}, "same": true});
        let a = json!({"facet": {"BlockPublicAcls": true, "new": "x"}, "same": true});
        assert_eq!(
            diff(&b, &a),
            vec![
                Change {
                    path: "/facet/BlockPublicAcls".into(),
                    before: Some(json!(false)),
                    after: Some(json!(true))
                },
                Change {
                    path: "/facet/a~1b".into(),
                    before: Some(json!(1)),
                    after: None
                },
                Change {
                    path: "/facet/new".into(),
                    before: None,
                    after: Some(json!("x"))
                },
            ]
        );
        assert!(diff(&b, &b).is_empty());
    }
}
