//! Staged rollout of a playbook version (`[autonomy] rollout = "staged"`): it starts in
//! `shadow` (custos records that it would execute, a person decides), goes to `limited`
//! (a configured share of resources may be fixed without a person, up to a count), then
//! `broad` (within the autonomy level, like any playbook).
//!
//! - [`recommend_stage`] is the rule, pure, the level rule's terms applied to the version:
//!   demote one stage at once on a rollback, failure or undo of the version since its
//!   stage was set; promote one stage only when at least `min_cases` of its cases opened
//!   since then succeeded, none set it back, at least two people approved among them,
//!   and the Beta lower bound of success clears the threshold. Each promotion rests on
//!   its own cases: the count starts again at every change.
//! - The stage reaches the floor as `input.history.rollout` ([`Engine::rollout_facts`]);
//!   the floor's `gate.rollout_shadow` and `gate.rollout_limited` hold the fix for a
//!   person. A stage only adds caution: `broad` lifts nothing the level or the floor say.
//! - Stages are what the `rollout.set` events say ([`Outcomes::stage_of`]).

use super::outcomes::{Ending, Outcomes, Setback};
use super::rule::{Move, Rule, beta_quantile};
use crate::config::RolloutSettings;
use crate::{Engine, EngineError};
use custos_core::{Permission, Principal, RemediationPlan, RolloutStage, digest_json};
use custos_policy::RolloutFacts;
use serde::Serialize;
use serde_json::json;

/// What the rule says about one playbook version's stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageRecommendation {
    pub playbook: String,
    pub version: String,
    pub stage: RolloutStage,
    pub to: Option<RolloutStage>,
    #[serde(rename = "move")]
    pub movement: Move,
    pub reason: String,
    /// Cases opened since the stage was set.
    pub successes: u64,
    pub failures: u64,
    pub lower_bound: f64,
    /// The setback that demotes it, when one does.
    pub evidence: Option<Setback>,
    /// Fixes admitted without a person since the stage was set.
    pub alone_since_stage: u64,
}

/// The stage of `playbook` `version` by its events (`shadow` when never set), and the
/// `seq` of the event that set it (0: none).
pub fn stage_in(o: &Outcomes, playbook: &str, version: &str) -> (RolloutStage, i64) {
    o.stage_of(playbook, version)
        .map_or((RolloutStage::Shadow, 0), |c| (c.stage, c.seq))
}

/// The version's latest rollback, failure or undo after `since` (a stage's `seq`): what
/// demotes it, for the rule and for every decision alike.
fn setback_since<'a>(
    o: &'a Outcomes,
    playbook: &str,
    version: &str,
    since: i64,
) -> Option<&'a Setback> {
    o.setbacks
        .iter()
        .rev()
        .find(|s| s.key.playbook == playbook && s.key.playbook_version == version && s.seq > since)
}

/// The rule's word on one playbook version's stage.
pub fn recommend_stage(
    rule: &Rule,
    o: &Outcomes,
    playbook: &str,
    version: &str,
) -> StageRecommendation {
    let (stage, since) = stage_in(o, playbook, version);
    let ours =
        |k: &custos_core::OutcomeKey| k.playbook == playbook && k.playbook_version == version;
    let (mut successes, mut failures) = (0, 0);
    let mut approvers = std::collections::BTreeSet::new();
    for c in o.cases.values().filter(|c| ours(&c.key) && c.seq > since) {
        match c.result {
            Ending::Success => {
                successes += 1;
                approvers.extend(c.approvers.iter().cloned());
            }
            Ending::Failure => failures += 1,
            Ending::Pending => {}
        }
    }
    let out = |movement, to, reason: String, evidence, lower_bound| StageRecommendation {
        playbook: playbook.to_string(),
        version: version.to_string(),
        stage,
        to,
        movement,
        reason,
        successes,
        failures,
        lower_bound,
        evidence,
        alone_since_stage: o.alone_since_stage(playbook, version),
    };
    if let Some(s) = setback_since(o, playbook, version, since) {
        let why = format!(
            "`{playbook}` version {version} {} action `{}` since it was set to {stage}",
            s.what, s.action_id
        );
        return match stage.down() {
            Some(to) => out(
                Move::Lower,
                Some(to),
                format!("{why}: demoted at once"),
                Some(s.clone()),
                0.0,
            ),
            None => out(
                Move::Hold,
                None,
                format!("{why}, but shadow is the first stage"),
                Some(s.clone()),
                0.0,
            ),
        };
    }
    let hold = |why: String, lb| out(Move::Hold, None, why, None, lb);
    let Some(to) = stage.up() else {
        return hold(
            "broad: the version acts within its autonomy level".into(),
            0.0,
        );
    };
    if successes < rule.min_cases {
        return hold(
            format!(
                "{successes} case(s) succeeded since the stage was set; promotion needs {}",
                rule.min_cases
            ),
            0.0,
        );
    }
    // No one alone widens what custos does without asking: a promotion rests on at
    // least two people's approvals among its cases, as a level's raise does.
    if approvers.len() < 2 {
        return hold(
            format!(
                "the successes since the stage was set were approved by {} person(s); a promotion needs the approvals of at least two",
                approvers.len()
            ),
            0.0,
        );
    }
    let lower_bound = beta_quantile(1 + successes, 1 + failures, 1.0 - rule.confidence);
    if lower_bound < rule.threshold {
        return hold(
            format!(
                "the lower bound of success ({lower_bound:.3}) is below {}",
                rule.threshold
            ),
            lower_bound,
        );
    }
    out(
        Move::Raise,
        Some(to),
        format!(
            "{successes} of {} cases since the stage was set succeeded, none rolled back; the {:.0} % lower bound of success is {lower_bound:.3} (at least {})",
            successes + failures,
            rule.confidence * 100.0,
            rule.threshold
        ),
        None,
        lower_bound,
    )
}

/// Whether `resource` is in the `limited` stage's share of `playbook`: the first four
/// bytes of the RFC 8785 digest of `{"playbook", "resource"}`, as a number, modulo 100,
/// below the percent. Stable, so the same resources are the canaries at every decision
/// and in replay.
pub fn in_share(playbook: &str, resource: &str, percent: u64) -> bool {
    let d = digest_json(&json!({"playbook": playbook, "resource": resource}));
    let hex = d.as_str().trim_start_matches("sha256:");
    let n = hex
        .get(..8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(u32::MAX);
    u64::from(n % 100) < percent
}

/// The floor's facts about `plan`'s stage, from the fold.
///
/// A rollback, failure or undo of the version since its stage was set demotes it here,
/// at once, whether or not the demotion has been recorded yet (with `adjust = "advise"`
/// a person records it; a learner's write may lose a race): the decision never waits
/// for the record to be cautious.
pub(crate) fn facts(
    o: &Outcomes,
    s: &RolloutSettings,
    playbook: &str,
    version: &str,
    resource: &str,
) -> RolloutFacts {
    let (recorded, since) = stage_in(o, playbook, version);
    let stage = if setback_since(o, playbook, version, since).is_some() {
        recorded.down().unwrap_or(RolloutStage::Shadow)
    } else {
        recorded
    };
    let selected = stage == RolloutStage::Limited
        && in_share(playbook, resource, s.limited_percent)
        && o.alone_since_stage(playbook, version) < s.limited_count;
    RolloutFacts {
        stage,
        selected: stage == RolloutStage::Broad || selected,
    }
}

/// A stage change asked for by a person or the learner.
#[derive(Debug, Clone, Copy)]
pub struct StageChange<'a> {
    pub playbook: &'a str,
    /// `None`: the version loaded now.
    pub version: Option<&'a str>,
    pub stage: RolloutStage,
    pub reason: &'a str,
}

impl Engine {
    /// A policy admin sets a playbook version's stage (`custos autonomy stage`): a known
    /// playbook, a reason, recorded as `rollout.set` with the guard version bump.
    pub async fn set_rollout(
        &self,
        who: &Principal,
        change: StageChange<'_>,
    ) -> Result<custos_ledger::Event, EngineError> {
        let subject =
            json!({"playbook": change.playbook, "version": change.version, "stage": change.stage});
        custos_identity::require(&self.ledger, who, Permission::SetAutonomy, subject).await?;
        let refuse = |m: String| EngineError::Refused(m);
        let Some(pb) = self.playbooks.get(change.playbook) else {
            return Err(refuse(format!("unknown playbook `{}`", change.playbook)));
        };
        // Only the version loaded now: no one presets a version not yet shipped.
        if change.version.is_some_and(|v| v != pb.version) {
            return Err(refuse(format!(
                "playbook `{}` is at version {} here; a stage is set for the version loaded",
                change.playbook, pb.version
            )));
        }
        let version = pb.version.clone();
        let reason = change.reason.trim();
        if reason.is_empty() {
            return Err(refuse("a rollout change needs a reason".into()));
        }
        let (previous, seen) = self
            .with_outcomes(|o| (stage_in(o, change.playbook, &version).0, o.seq))
            .await?;
        // A person may demote at will; a promotion is one stage at a time, and setting
        // the stage a version is in (which would restart its limited count) is refused.
        if change.stage > previous && previous.up() != Some(change.stage) {
            return Err(refuse(format!(
                "`{}` version {version} is in {previous}: it is promoted one stage at a time (to {})",
                change.playbook,
                previous.up().map_or("-", RolloutStage::as_str)
            )));
        }
        if change.stage == previous {
            return Err(refuse(format!(
                "`{}` version {version} is in {previous} already",
                change.playbook
            )));
        }
        let previous = Some(previous);
        self.ledger
            .set_rollout_if(
                custos_ledger::RolloutChange {
                    playbook: change.playbook,
                    version: &version,
                    stage: change.stage,
                    previous,
                    by: &who.name,
                    reason,
                },
                Some(seen),
            )
            .await?
            .ok_or_else(|| refuse("the stage changed while it was being set".into()))
    }

    /// After an outcome of `plan`: with `adjust = "auto"` and a staged rollout, move the
    /// stage of its playbook version as the rule says, recorded as the learner, only if
    /// no stage was set since the fold was read. `None`: nothing moved.
    pub(crate) async fn learn_stage(
        &self,
        plan: &RemediationPlan,
    ) -> Result<Option<custos_ledger::Event>, EngineError> {
        if self.config.learning.adjust != crate::config::Adjust::Auto
            || self.config.learning.rollout.is_none()
        {
            return Ok(None);
        }
        let rule = self.config.learning.rule;
        let (rec, seen) = self
            .with_outcomes(|o| {
                (
                    recommend_stage(&rule, o, &plan.playbook, &plan.playbook_version),
                    o.seq,
                )
            })
            .await?;
        let Some(to) = rec.to else {
            return Ok(None);
        };
        let reason = match &rec.evidence {
            Some(s) => format!("{} (event `{}`)", rec.reason, s.event_id),
            None => rec.reason.clone(),
        };
        let set = self
            .ledger
            .set_rollout_if(
                custos_ledger::RolloutChange {
                    playbook: &plan.playbook,
                    version: &plan.playbook_version,
                    stage: to,
                    previous: Some(rec.stage),
                    by: super::LEARNER,
                    reason: &reason,
                },
                Some(seen),
            )
            .await?;
        if let Some(e) = &set {
            self.notifier()
                .notify(crate::notify::Notification::RolloutChanged {
                    playbook: plan.playbook.clone(),
                    version: plan.playbook_version.clone(),
                    from: rec.stage.to_string(),
                    to: to.to_string(),
                    reason,
                    at: e.at,
                });
        }
        Ok(set)
    }

    /// Every playbook version with a stage or a case, and the rule's word on it.
    pub(crate) fn stage_report(&self, o: &Outcomes) -> Vec<StageRecommendation> {
        let mut versions: std::collections::BTreeSet<(String, String)> =
            o.stages.keys().cloned().collect();
        versions.extend(
            o.cases
                .values()
                .map(|c| (c.key.playbook.clone(), c.key.playbook_version.clone())),
        );
        versions
            .iter()
            .map(|(p, v)| recommend_stage(&self.config.learning.rule, o, p, v))
            .collect()
    }
}
