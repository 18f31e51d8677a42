//! Candidate fixes: a control may name several playbooks (its baseline, and candidates
//! with `candidate = true`). Each one offered is planned and gated on its own; the gate's
//! refusals are out; the rest are ranked by their outcome record, conservatively
//! (README, "Candidate fixes"):
//! - the score is the 95 % lower bound of Beta(1 + successes, 1 + failures) over the
//!   playbook version's cases in the class and environment, within the window;
//! - the baseline stays unless a candidate has at least `raise_min_cases` successes
//!   and a lower bound strictly above the baseline's: no candidate with a worse (or
//!   equal) record, and none without a record of its own, is ever preferred to it (one
//!   person's denial of the baseline does not hand the choice to an untried one);
//! - when the gate refuses the baseline, the candidate it lets through with the best
//!   lower bound is chosen (ties: file order);
//! - `[autonomy] fallback = "baseline"` turns ranking off: the baseline always, while
//!   the candidates are still gated and recorded.
//!
//! The choice is pure and recorded with its inputs (`candidates` in the `decision`
//! event), so `custos replay` recomputes it. The chosen plan is then decided like any
//! other: its own gate, floor, reasoning and autonomy.

use crate::config::Fallback;
use custos_core::Verdict;
use serde::{Deserialize, Serialize};

/// One way to fix the finding, as the choice saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub playbook: String,
    /// The control's baseline playbook (the first one recorded).
    pub baseline: bool,
    /// Why it is not offered (parameters not configured, resource type not handled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_offered: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The gate's verdict on this candidate's plan (floor and operator rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Verdict>,
    /// The gate rules that refused it, when it did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_by: Vec<String>,
    pub successes: u64,
    pub failures: u64,
    /// The 95 % lower bound of success.
    pub lower_bound: f64,
    pub chosen: bool,
}

impl Candidate {
    /// Offered and not refused by the gate: it may be chosen.
    pub fn passes(&self) -> bool {
        self.not_offered.is_none() && self.gate.is_some_and(|g| g <= Verdict::NeedsApproval)
    }
}

/// How the choice ranks (from `[autonomy]`), recorded with it so `replay` ranks the same.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub fallback: Fallback,
    /// Successes a candidate needs before it may displace a baseline that passes.
    pub min_cases: u64,
    /// The lower bound's level (0.95: the 5 % quantile).
    pub confidence: f64,
}

/// The candidates of one decision and why one was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    #[serde(flatten)]
    pub ranking: Ranking,
    pub candidates: Vec<Candidate>,
    pub reason: String,
}

impl Choice {
    pub fn chosen(&self) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.chosen)
    }
}

/// Choose among `candidates` (the baseline first). Returns the index chosen, `None`
/// when nothing is offered, and why.
pub fn choose(ranking: Ranking, candidates: &[Candidate]) -> (Option<usize>, String) {
    let fallback = ranking.fallback;
    let offered = |i: &usize| candidates[*i].not_offered.is_none();
    let baseline = candidates
        .first()
        .filter(|c| c.baseline && c.not_offered.is_none())
        .map(|_| 0_usize);
    let first_offered = (0..candidates.len()).find(offered);
    let name = |i: usize| candidates[i].playbook.as_str();
    if fallback == Fallback::Baseline {
        return match baseline {
            Some(b) => (
                Some(b),
                format!(
                    "`fallback = \"baseline\"`: `{}`, the baseline, without ranking",
                    name(b)
                ),
            ),
            None => (
                None,
                "`fallback = \"baseline\"` and the baseline is not offered".into(),
            ),
        };
    }
    let Some(first) = first_offered else {
        return (None, "no playbook is offered".into());
    };
    let passing: Vec<usize> = (0..candidates.len())
        .filter(|i| candidates[*i].passes())
        .collect();
    // The best lower bound among those that pass; ties keep the earlier one (the
    // baseline comes first).
    let best = passing
        .iter()
        .copied()
        .fold(None, |acc: Option<usize>, i| match acc {
            Some(a) if candidates[a].lower_bound >= candidates[i].lower_bound => Some(a),
            _ => Some(i),
        });
    let Some(best) = best else {
        // Nothing passes: the first offered (the baseline when it is) is decided, and
        // its own gate refuses it on the record.
        return (
            Some(first),
            format!(
                "the gate refuses every playbook offered: `{}`'s decision stands",
                name(first)
            ),
        );
    };
    let lb = |i: usize| candidates[i].lower_bound;
    match baseline.filter(|b| candidates[*b].passes()) {
        Some(b) if best != b && candidates[best].successes < ranking.min_cases => (
            Some(b),
            format!(
                "`{}` has the best lower bound of success ({:.3}) but {} success(es); displacing the baseline `{}` ({:.3}) needs {}",
                name(best),
                lb(best),
                candidates[best].successes,
                name(b),
                lb(b),
                ranking.min_cases
            ),
        ),
        Some(b) if best != b && lb(best) > lb(b) => (
            Some(best),
            format!(
                "`{}`'s lower bound of success ({:.3}, {} of {}) is above the baseline `{}`'s ({:.3}, {} of {})",
                name(best),
                lb(best),
                candidates[best].successes,
                candidates[best].successes + candidates[best].failures,
                name(b),
                lb(b),
                candidates[b].successes,
                candidates[b].successes + candidates[b].failures,
            ),
        ),
        Some(b) => (
            Some(b),
            format!(
                "no candidate's lower bound of success is above the baseline `{}`'s ({:.3})",
                name(b),
                lb(b)
            ),
        ),
        None => (
            Some(best),
            format!(
                "the gate refuses the baseline or it is not offered; `{}` has the best lower bound of success ({:.3}) among the candidates it lets through",
                name(best),
                lb(best)
            ),
        ),
    }
}

/// The plan a finding is decided with, and the choice among candidates when there was
/// one (more than one playbook offered).
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub plan: custos_core::RemediationPlan,
    pub history: custos_policy::HistoryFacts,
    pub choice: Option<Choice>,
    /// Every offered candidate's plan and gate input, recorded so `replay` gates them
    /// again and recomputes the choice.
    pub others: Vec<serde_json::Value>,
}

/// The lower bound a candidate is ranked by.
pub fn lower_bound(ranking: Ranking, successes: u64, failures: u64) -> f64 {
    super::rule::beta_quantile(1 + successes, 1 + failures, 1.0 - ranking.confidence)
}

impl crate::Engine {
    fn ranking(&self) -> Ranking {
        Ranking {
            fallback: self.config.learning.fallback,
            min_cases: self.config.learning.rule.min_cases,
            confidence: self.config.learning.rule.confidence,
        }
    }

    /// Choose how to fix a finding among its control's playbooks (`plans`, from
    /// `PlaybookSet::plan_all`, the baseline first). With one offered, that one, and no
    /// gate is evaluated here. `input` builds a plan's gate input. `None`: nothing is
    /// offered.
    pub(crate) async fn plan_for(
        &self,
        plans: Vec<(String, Result<custos_core::RemediationPlan, String>)>,
        input: &(
             dyn Fn(
            &custos_core::RemediationPlan,
            &custos_policy::HistoryFacts,
        ) -> custos_policy::GateInput
                 + Sync
         ),
    ) -> Option<Planned> {
        let offered = plans.iter().filter(|(_, p)| p.is_ok()).count();
        if offered <= 1 {
            let plan = plans.into_iter().find_map(|(_, p)| p.ok())?;
            // With ranking off, a candidate is never used, even when it is the only way
            // offered (the baseline does not handle the resource type).
            if self.config.learning.fallback == Fallback::Baseline
                && self
                    .playbooks
                    .get(&plan.playbook)
                    .is_some_and(|p| p.candidate)
            {
                return None;
            }
            let history = self.history_facts(&plan).await;
            return Some(Planned {
                plan,
                history,
                choice: None,
                others: vec![],
            });
        }
        let mut candidates = Vec::new();
        let mut gated = Vec::new();
        for (i, (playbook, p)) in plans.into_iter().enumerate() {
            let baseline = i == 0
                && self
                    .playbooks
                    .get(&playbook)
                    .is_some_and(|pb| !pb.candidate);
            match p {
                Err(why) => candidates.push(Candidate {
                    playbook,
                    baseline,
                    not_offered: Some(why),
                    version: None,
                    gate: None,
                    refused_by: vec![],
                    successes: 0,
                    failures: 0,
                    lower_bound: 0.0,
                    chosen: false,
                }),
                Ok(plan) => {
                    let history = self.history_facts(&plan).await;
                    let gi = input(&plan, &history);
                    let gate = self.gate_now(&plan, &gi);
                    let refused_by = gate
                        .reasons
                        .iter()
                        .filter(|r| r.verdict > Verdict::NeedsApproval)
                        .map(|r| r.rule.clone())
                        .collect();
                    candidates.push(Candidate {
                        playbook,
                        baseline,
                        not_offered: None,
                        version: Some(plan.playbook_version.clone()),
                        gate: Some(gate.verdict),
                        refused_by,
                        successes: 0,
                        failures: 0,
                        lower_bound: 0.0,
                        chosen: false,
                    });
                    gated.push((candidates.len() - 1, plan, history, gi));
                }
            }
        }
        // Scores from the outcomes; an unreadable ledger scores every candidate as
        // unproven, which keeps the baseline.
        let records = self
            .with_outcomes(|o| {
                gated
                    .iter()
                    .map(|(_, p, _, _)| {
                        o.record_of(
                            &p.playbook,
                            &p.playbook_version,
                            &p.resource.class(),
                            &p.environment,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_else(|e| {
                tracing::warn!("outcomes cannot be read to rank candidates ({e}): none counted");
                vec![(0, 0); gated.len()]
            });
        let ranking = self.ranking();
        for ((i, _, _, _), (s, f)) in gated.iter().zip(records) {
            let c = &mut candidates[*i];
            c.successes = s;
            c.failures = f;
            c.lower_bound = lower_bound(ranking, s, f);
        }
        let (chosen, reason) = choose(ranking, &candidates);
        let chosen = chosen?;
        candidates[chosen].chosen = true;
        let mut picked = None;
        let mut others = Vec::new();
        for (i, plan, history, gi) in gated {
            others.push(serde_json::json!({"playbook": plan.playbook, "plan": plan, "input": gi}));
            if i == chosen {
                picked = Some((plan, history));
            }
        }
        let (plan, history) = picked?;
        Some(Planned {
            plan,
            history,
            choice: Some(Choice {
                ranking,
                candidates,
                reason,
            }),
            others,
        })
    }
}

/// Replay a recorded choice with `gate` (the recorded bundle's): every offered
/// candidate gated again from its recorded plan and input, and the choice recomputed
/// from those verdicts and the recorded scores. Empty: reproduced; otherwise what
/// differs.
pub(crate) fn replay_choice(
    payload: &serde_json::Value,
    decided_playbook: &str,
    gate: &mut dyn FnMut(
        &custos_core::RemediationPlan,
        &custos_policy::GateInput,
    ) -> custos_policy::GateOutcome,
) -> Vec<String> {
    let recorded = match payload.get("candidates") {
        None | Some(serde_json::Value::Null) => return vec![],
        Some(v) => v,
    };
    let Ok(choice) = serde_json::from_value::<Choice>(recorded.clone()) else {
        return vec!["the recorded candidates cannot be read".into()];
    };
    let mut notes = Vec::new();
    let mut replayed = choice.candidates.clone();
    for c in &mut replayed {
        c.chosen = false;
        // The bound from the recorded counts, at the recorded level.
        let lb = lower_bound(choice.ranking, c.successes, c.failures);
        if c.not_offered.is_none() && (lb - c.lower_bound).abs() > 1e-9 {
            notes.push(format!(
                "candidate `{}`: {} successes and {} failures give a lower bound of {lb:.6}, recorded {:.6}",
                c.playbook, c.successes, c.failures, c.lower_bound
            ));
        }
        c.lower_bound = lb;
    }
    let inputs = payload
        .get("candidate_inputs")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in replayed.iter_mut().filter(|c| c.not_offered.is_none()) {
        let found = inputs.iter().find(|x| x["playbook"] == c.playbook.as_str());
        let parsed = found.and_then(|x| {
            Some((
                serde_json::from_value::<custos_core::RemediationPlan>(x["plan"].clone()).ok()?,
                serde_json::from_value::<custos_policy::GateInput>(x["input"].clone()).ok()?,
            ))
        });
        let Some((plan, input)) = parsed else {
            notes.push(format!(
                "candidate `{}` was recorded without its plan and input",
                c.playbook
            ));
            continue;
        };
        let outcome = gate(&plan, &input);
        let refused_by: Vec<String> = outcome
            .reasons
            .iter()
            .filter(|r| r.verdict > Verdict::NeedsApproval)
            .map(|r| r.rule.clone())
            .collect();
        if refused_by != c.refused_by {
            notes.push(format!(
                "candidate `{}`: the recorded bundle's gate refuses by {refused_by:?}, recorded {:?}",
                c.playbook, c.refused_by
            ));
        }
        if Some(outcome.verdict) != c.gate {
            notes.push(format!(
                "candidate `{}`: the recorded bundle's gate gives `{}`, recorded `{}`",
                c.playbook,
                outcome.verdict,
                c.gate.map_or("-".into(), |v| v.to_string())
            ));
        }
        c.gate = Some(outcome.verdict);
    }
    let (chosen, _) = choose(choice.ranking, &replayed);
    let chosen = chosen.map(|i| replayed[i].playbook.as_str());
    let was = choice.chosen().map(|c| c.playbook.as_str());
    if chosen != was {
        notes.push(format!(
            "the choice recomputed gives `{}`, recorded `{}`",
            chosen.unwrap_or("-"),
            was.unwrap_or("-")
        ));
    }
    if was != Some(decided_playbook) {
        notes.push(format!(
            "the decision's plan uses `{decided_playbook}`, not the chosen candidate `{}`",
            was.unwrap_or("-")
        ));
    }
    notes
}
