//! Outcomes, folded from the ledger's events and nothing else: what happened to every
//! fix custos admitted and every approval it asked for, per control, playbook, resource
//! class and environment ([`OutcomeKey`], written on `action.intent` and
//! `approval.requested`). The fold is pure: the same events give the same outcomes, so
//! `custos autonomy report` recomputes them from any ledger (or a bundle's events).

use chrono::{DateTime, Duration, Utc};
use custos_core::{OutcomeKey, RolloutStage};
use custos_ledger::Event;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Counts of what happened under one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Fixes that changed the resource and verified.
    pub executed: u64,
    /// Fixes whose call or verification failed and were restored.
    pub rolled_back: u64,
    /// Fixes that failed and could not be restored (or did not land in time).
    pub failed: u64,
    /// Executed fixes an operator undid later.
    pub reverted: u64,
    /// Executed fixes whose finding came back within the window.
    pub recurred: u64,
    pub approval_requests: u64,
    pub approved: u64,
    pub denied: u64,
    pub expired: u64,
    /// Seconds from request to decision, summed over `approved + denied`.
    pub decision_seconds: u64,
}

impl Tally {
    /// Mean seconds from request to a person's decision.
    pub fn mean_decision_seconds(&self) -> Option<u64> {
        let n = self.approved + self.denied;
        (n > 0).then(|| self.decision_seconds / n)
    }
}

/// How one case ended: a fix custos executed on its own, or a request a person decided
/// (and the fix it led to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Pending,
    Success,
    Failure,
}

/// One case: an autonomous fix, or an approval request with the fix it led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    pub key: OutcomeKey,
    pub at: DateTime<Utc>,
    /// The event that opened it: a case counts toward a rollout stage only when it was
    /// opened after the stage was set (by the ledger's order).
    pub seq: i64,
    pub result: Ending,
    /// Who approved it (by stable principal name), when a person did.
    pub approvers: std::collections::BTreeSet<String>,
    /// The event that decided the result (its id), and what it was.
    pub because: Option<(String, String)>,
}

impl Case {
    /// A case not yet decided.
    fn open(key: OutcomeKey, e: &Event) -> Self {
        Case {
            key,
            at: e.at,
            seq: e.seq,
            result: Ending::Pending,
            approvers: Default::default(),
            because: None,
        }
    }
}

/// A rollback, failure or undo: the class and environment it lowers, when, and the
/// evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setback {
    pub key: OutcomeKey,
    pub at: DateTime<Utc>,
    /// The event's place in the ledger: setbacks and level changes are ordered by it,
    /// never by workers' clocks.
    pub seq: i64,
    /// `rolled_back`, `failed` or `reverted`.
    pub what: String,
    pub action_id: String,
    pub event_id: String,
    /// The resource it happened to (the ledger's key; empty when not known).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource: String,
}

/// A level change recorded by `autonomy.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelChange {
    pub at: DateTime<Utc>,
    pub seq: i64,
    pub by: String,
    pub level: u8,
    pub previous: Option<u8>,
}

/// A rollout stage change recorded by `rollout.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageChange {
    pub at: DateTime<Utc>,
    pub seq: i64,
    pub by: String,
    pub stage: RolloutStage,
}

/// A playbook version's proof in lower environments: the distinct resources it fixed
/// and verified outside production since its last rollback, failure, revert or
/// recurrence in any environment (one flapping resource proves nothing twice).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Proof {
    pub verified_lower: u64,
}

#[derive(Debug, Clone)]
struct Intent {
    key: OutcomeKey,
    case: String,
    fix: bool,
    resource: String,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Fix {
    key: OutcomeKey,
    case: String,
    resource: String,
    at: DateTime<Utc>,
}

/// One ISO week (UTC) of decisions that led somewhere: fixes custos admitted on its own,
/// requests sent to a person, and of those the ones a person denied (counted in the
/// week of the denial).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Week {
    /// `2026-W49`.
    pub week: String,
    pub alone: u64,
    pub asked: u64,
    pub denied: u64,
}

impl Week {
    /// The escalation share: requests sent to a person out of everything custos either
    /// did alone or asked about that week (`None`: neither happened).
    pub fn share(&self) -> Option<f64> {
        let n = self.alone + self.asked;
        (n > 0).then(|| self.asked as f64 / n as f64)
    }
}

/// The ISO week (UTC) of `at`, as `2026-W49`.
pub fn week_of(at: DateTime<Utc>) -> String {
    let w = chrono::Datelike::iso_week(&at);
    format!("{}-W{:02}", w.year(), w.week())
}

/// Everything the fold knows.
#[derive(Debug, Clone, Default)]
pub struct Outcomes {
    /// The last event folded.
    pub seq: i64,
    pub tallies: BTreeMap<OutcomeKey, Tally>,
    /// By case id (an approval id, or the action id of a fix nobody approved).
    pub cases: HashMap<String, Case>,
    pub setbacks: Vec<Setback>,
    /// `(class, environment key)` -> its level changes, oldest first.
    pub changes: BTreeMap<(String, String), Vec<LevelChange>>,
    /// `(playbook, version)` -> its rollout stage changes, oldest first (never pruned).
    pub stages: BTreeMap<(String, String), Vec<StageChange>>,
    /// `(playbook, version)` -> fixes admitted without a person since its stage was last
    /// set: what the `limited` stage's count is spent on.
    pub alone_since_stage: BTreeMap<(String, String), u64>,
    /// `(playbook, version)` -> the resources of its proof.
    proven: BTreeMap<(String, String), std::collections::BTreeSet<String>>,
    /// Admitted actions without an outcome yet, by id: the key, the case they belong to,
    /// and whether they are fixes (not rollbacks).
    intents: HashMap<String, Intent>,
    /// Rollbacks executed, by action id: what `action.reverted` is counted under when
    /// the fix it undoes has left the window.
    undone: HashMap<String, (OutcomeKey, DateTime<Utc>)>,
    /// Executed fixes by action id.
    fixes: HashMap<String, Fix>,
    /// Requests by approval id, with when they were asked.
    requests: HashMap<String, (OutcomeKey, DateTime<Utc>)>,
    /// Per ISO week, oldest first: the escalation share's counts (never pruned; one
    /// entry a week).
    pub weeks: BTreeMap<String, Week>,
    /// How long a case, a setback or a fix (for its recurrences) is kept: the learning
    /// window. Older ones drop out of the fold (the tallies keep counting them).
    pub window: Duration,
}

fn key_of(payload: &Value) -> Option<OutcomeKey> {
    serde_json::from_value(payload.get("outcome")?.clone()).ok()
}

fn text<'a>(payload: &'a Value, field: &str) -> Option<&'a str> {
    payload.get(field).and_then(Value::as_str)
}

impl Outcomes {
    pub fn new(window: Duration) -> Self {
        Outcomes {
            window,
            ..Outcomes::default()
        }
    }

    /// Fold events in order (events already folded, by `seq`, are skipped); what is older
    /// than the window before `now` (the reader's clock, never an event's) drops out.
    pub fn fold<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>, now: DateTime<Utc>) {
        for e in events {
            if e.seq > self.seq {
                self.absorb(e);
                self.seq = e.seq;
            }
        }
        let horizon = now - self.window;
        self.fixes.retain(|_, f| f.at >= horizon);
        self.cases.retain(|_, c| c.at >= horizon);
        self.setbacks.retain(|s| s.at >= horizon);
        self.intents.retain(|_, i| i.at >= horizon);
        self.undone.retain(|_, (_, at)| *at >= horizon);
    }

    fn week(&mut self, at: DateTime<Utc>) -> &mut Week {
        let label = week_of(at);
        self.weeks.entry(label.clone()).or_insert_with(|| Week {
            week: label,
            ..Week::default()
        })
    }

    fn tally(&mut self, key: &OutcomeKey) -> &mut Tally {
        self.tallies.entry(key.clone()).or_default()
    }

    fn settle(&mut self, case: &str, result: Ending, e: &Event, what: &str) {
        if let Some(c) = self.cases.get_mut(case) {
            // A failure is final; a success can still turn into one (revert, recurrence).
            if c.result != Ending::Failure {
                c.result = result;
                c.because = Some((e.id.clone(), what.to_string()));
            }
        }
    }

    /// A bad outcome: it voids the playbook's lower-environment proof, and unless it is a
    /// recurrence (the fix held; something changed the resource back) it is a setback
    /// that lowers the level and holds raises.
    fn setback(
        &mut self,
        key: &OutcomeKey,
        e: &Event,
        what: &str,
        action_id: &str,
        resource: &str,
    ) {
        self.proven
            .remove(&(key.playbook.clone(), key.playbook_version.clone()));
        if what == "recurred" {
            return;
        }
        self.setbacks.push(Setback {
            key: key.clone(),
            at: e.at,
            seq: e.seq,
            what: what.to_string(),
            action_id: action_id.to_string(),
            event_id: e.id.clone(),
            resource: resource.to_string(),
        });
    }

    fn absorb(&mut self, e: &Event) {
        let p = &e.payload;
        match e.kind.as_str() {
            "action.intent" => {
                let (Some(key), Some(id)) = (key_of(p), text(p, "action_id")) else {
                    return;
                };
                let fix = text(p, "kind") == Some("fix");
                if fix && text(p, "approval_id").is_none() {
                    self.week(e.at).alone += 1;
                    *self
                        .alone_since_stage
                        .entry((key.playbook.clone(), key.playbook_version.clone()))
                        .or_default() += 1;
                }
                let case = text(p, "approval_id").unwrap_or(id).to_string();
                if fix && !self.cases.contains_key(&case) {
                    self.cases.insert(case.clone(), Case::open(key.clone(), e));
                }
                self.intents.insert(
                    id.to_string(),
                    Intent {
                        key,
                        case,
                        fix,
                        resource: e.resource.clone().unwrap_or_default(),
                        at: e.at,
                    },
                );
            }
            "action.executed" | "action.failed" | "action.rolled_back" => {
                let Some(id) = text(p, "action_id") else {
                    return;
                };
                let Some(Intent {
                    key,
                    case,
                    fix,
                    resource,
                    ..
                }) = self.intents.remove(id)
                else {
                    return;
                };
                if !fix {
                    if e.kind == "action.executed" {
                        self.undone.insert(id.to_string(), (key, e.at));
                    }
                    return;
                }
                match e.kind.as_str() {
                    "action.executed" => {
                        self.tally(&key).executed += 1;
                        if !key.production {
                            self.proven
                                .entry((key.playbook.clone(), key.playbook_version.clone()))
                                .or_default()
                                .insert(resource.clone());
                        }
                        self.settle(&case, Ending::Success, e, "executed");
                        self.fixes.insert(
                            id.to_string(),
                            Fix {
                                key,
                                case,
                                resource,
                                at: e.at,
                            },
                        );
                    }
                    kind => {
                        let what = kind.trim_start_matches("action.");
                        if what == "failed" {
                            self.tally(&key).failed += 1;
                        } else {
                            self.tally(&key).rolled_back += 1;
                        }
                        self.settle(&case, Ending::Failure, e, what);
                        self.setback(&key, e, what, id, &resource);
                    }
                }
            }
            "action.reverted" | "recurrence" => {
                let (field, what) = if e.kind == "recurrence" {
                    ("fixed_by", "recurred")
                } else {
                    ("action_id", "reverted")
                };
                let Some(id) = text(p, field) else {
                    return;
                };
                let fix = match self.fixes.get(id).cloned() {
                    Some(f) => f,
                    // An undo of a fix older than the window still counts against the
                    // playbook, under the rollback's own key.
                    None => match text(p, "rollback_action_id").and_then(|r| self.undone.get(r)) {
                        Some((key, _)) if what == "reverted" => Fix {
                            key: key.clone(),
                            case: String::new(),
                            resource: e.resource.clone().unwrap_or_default(),
                            at: e.at,
                        },
                        _ => return,
                    },
                };
                if what == "recurred" && e.at - fix.at > self.window {
                    return;
                }
                if what == "recurred" {
                    self.tally(&fix.key).recurred += 1;
                } else {
                    self.tally(&fix.key).reverted += 1;
                }
                self.settle(&fix.case, Ending::Failure, e, what);
                self.setback(&fix.key, e, what, id, &fix.resource);
                // Counted once: a second recurrence of the same fix is not a new failure.
                self.fixes.remove(id);
            }
            "approval.requested" => {
                let (Some(key), Some(id)) = (key_of(p), text(p, "approval_id")) else {
                    return;
                };
                self.tally(&key).approval_requests += 1;
                self.week(e.at).asked += 1;
                self.cases
                    .insert(id.to_string(), Case::open(key.clone(), e));
                self.requests.insert(id.to_string(), (key, e.at));
            }
            "approval.reviewed" | "approval.denied" | "approval.expired" => {
                let Some(id) = text(p, "approval_id") else {
                    return;
                };
                let status = text(p, "status").unwrap_or_default();
                let Some((key, asked)) = self.requests.get(id).cloned() else {
                    return;
                };
                let waited = u64::try_from((e.at - asked).num_seconds()).unwrap_or(0);
                if e.kind == "approval.reviewed"
                    && let (Some(by), Some(c)) = (text(p, "by"), self.cases.get_mut(id))
                {
                    c.approvers.insert(by.to_string());
                }
                match (e.kind.as_str(), status) {
                    ("approval.reviewed", "pending") => return,
                    ("approval.reviewed", "approved") => {
                        let t = self.tally(&key);
                        t.approved += 1;
                        t.decision_seconds += waited;
                        self.settle(id, Ending::Success, e, "approved");
                    }
                    ("approval.denied", _) => {
                        self.week(e.at).denied += 1;
                        let t = self.tally(&key);
                        t.denied += 1;
                        t.decision_seconds += waited;
                        self.settle(id, Ending::Failure, e, "denied");
                    }
                    ("approval.expired", _) => {
                        self.tally(&key).expired += 1;
                        // No one decided: no signal either way.
                        self.cases.remove(id);
                    }
                    _ => return,
                }
                self.requests.remove(id);
            }
            "autonomy.set" => {
                let (Some(class), Some(env)) = (text(p, "class"), text(p, "environment")) else {
                    return;
                };
                let level = p.get("level").and_then(Value::as_u64).unwrap_or(0);
                self.changes
                    .entry((class.to_string(), env.to_string()))
                    .or_default()
                    .push(LevelChange {
                        at: e.at,
                        seq: e.seq,
                        by: text(p, "by").unwrap_or("unknown").to_string(),
                        level: u8::try_from(level).unwrap_or(0),
                        previous: p
                            .get("previous")
                            .and_then(Value::as_u64)
                            .and_then(|n| u8::try_from(n).ok()),
                    });
            }
            "rollout.set" => {
                let (Some(playbook), Some(version), Some(stage)) = (
                    text(p, "playbook"),
                    text(p, "version"),
                    text(p, "stage").and_then(|s| s.parse::<RolloutStage>().ok()),
                ) else {
                    return;
                };
                let key = (playbook.to_string(), version.to_string());
                self.alone_since_stage.remove(&key);
                self.stages.entry(key).or_default().push(StageChange {
                    at: e.at,
                    seq: e.seq,
                    by: text(p, "by").unwrap_or("unknown").to_string(),
                    stage,
                });
            }
            _ => {}
        }
    }

    /// A playbook version's rollout stage as its events set it (`None`: never set).
    pub fn stage_of(&self, playbook: &str, version: &str) -> Option<&StageChange> {
        self.stages
            .get(&(playbook.to_string(), version.to_string()))
            .and_then(|v| v.last())
    }

    /// Fixes of a playbook version admitted without a person since its stage was set.
    pub fn alone_since_stage(&self, playbook: &str, version: &str) -> u64 {
        self.alone_since_stage
            .get(&(playbook.to_string(), version.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// A playbook version's record on one class in one environment: its cases in the
    /// window that succeeded and that failed (a rollback, failure, undo, recurrence or a
    /// person's denial).
    pub fn record_of(
        &self,
        playbook: &str,
        version: &str,
        class: &str,
        environment: &str,
    ) -> (u64, u64) {
        self.cases
            .values()
            .filter(|c| {
                c.key.playbook == playbook
                    && c.key.playbook_version == version
                    && c.key.class == class
                    && c.key.environment == environment
            })
            .fold((0, 0), |(s, f), c| match c.result {
                Ending::Success => (s + 1, f),
                Ending::Failure => (s, f + 1),
                Ending::Pending => (s, f),
            })
    }

    /// What the reasoning check is shown of a plan's history (as data, fenced like every
    /// other input): this playbook version's record on the class in the environment,
    /// its counts there, and the playbook's last setbacks anywhere in the window (what,
    /// where, when, on which resource).
    pub fn context_for(&self, key: &OutcomeKey) -> Value {
        let (successes, failures) = self.record_of(
            &key.playbook,
            &key.playbook_version,
            &key.class,
            &key.environment,
        );
        let recent: Vec<Value> = self
            .setbacks
            .iter()
            .rev()
            .filter(|s| s.key.playbook == key.playbook)
            .take(5)
            .map(|s| {
                serde_json::json!({
                    "what": s.what, "environment": s.key.environment, "version": s.key.playbook_version,
                    "at": s.at, "resource": s.resource,
                })
            })
            .collect();
        serde_json::json!({
            "playbook": key.playbook,
            "version": key.playbook_version,
            "class": key.class,
            "environment": key.environment,
            "window_days": self.window.num_days(),
            "cases_in_window": {"succeeded": successes, "failed": failures},
            "since_the_ledger_began": self.tallies.get(key),
            "recent_setbacks_of_this_playbook": recent,
        })
    }

    /// A playbook version's proof in lower environments.
    pub fn proof_of(&self, playbook: &str, version: &str) -> Proof {
        Proof {
            verified_lower: self
                .proven
                .get(&(playbook.to_string(), version.to_string()))
                .map_or(0, |r| r.len() as u64),
        }
    }

    /// Every playbook version's proof.
    pub fn proofs(&self) -> impl Iterator<Item = (&(String, String), Proof)> {
        self.proven.iter().map(|(k, r)| {
            (
                k,
                Proof {
                    verified_lower: r.len() as u64,
                },
            )
        })
    }
}
