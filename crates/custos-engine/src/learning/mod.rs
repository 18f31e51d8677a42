//! Earned autonomy: outcomes folded from the ledger's events ([`outcomes`]), the rule
//! that moves a level from them ([`rule`]), and the engine's use of both:
//! - the floor's lower-environments-first rule reads a playbook version's proof;
//! - `custos autonomy report` shows the outcomes and the rule's recommendations;
//! - with `[autonomy] adjust = "auto"`, custos applies the rule after each outcome
//!   through [`Engine::set_autonomy`]'s own checks, recorded as [`rule::LEARNER`];
//! - the report's time to fix per control, by custos and outside it ([`FixTimes`]).
//!
//! The fold is the only source: nothing here keeps a second record. The engine keeps a
//! copy caught up from the ledger before each use (by `seq`), so every worker sees what
//! every other recorded.

pub mod candidates;
mod fix_times;
pub mod outcomes;
pub mod rollout;
pub mod rule;
#[cfg(test)]
mod tests;

pub use fix_times::{Durations, FixTime, FixTimes};
pub use outcomes::{Outcomes, Tally, Week};
pub use rollout::{StageChange, StageRecommendation};
pub use rule::{LEARNER, Move, Recommendation, Rule};

use crate::config::Adjust;
use crate::decide::environment_of;
use crate::{Engine, EngineError};
use custos_core::{OutcomeKey, RemediationPlan};
use custos_ledger::AutonomySetting;
use custos_policy::HistoryFacts;
use serde::Serialize;
use std::collections::BTreeSet;

/// Events read per query while catching up.
const PAGE: i64 = 5_000;

/// The runtime level of `class` under one key, as decisions read it: a level the
/// learner set is capped by every level a person set on a broader key, so an operator's
/// `autonomy set s3 '*' 1` stops what the learner earned for `s3` in `dev` too.
pub(crate) fn runtime_level<'a>(
    settings: &'a [AutonomySetting],
    class: &'a str,
    env: &'a custos_core::Environment,
) -> impl Fn(&str) -> Option<custos_core::AutonomyLevel> + 'a {
    move |key: &str| {
        let keys = rule::keys(&env.name, env.class.is_production());
        let at = |k: &str| {
            settings
                .iter()
                .find(|s| s.class == class && s.environment == k)
        };
        let s = at(key)?;
        if s.set_by != LEARNER {
            return Some(s.level);
        }
        let broader = keys.iter().skip_while(|k| **k != key).skip(1);
        Some(
            broader
                .filter_map(|k| at(k).filter(|p| p.set_by != LEARNER))
                .map(|p| p.level)
                .fold(s.level, std::cmp::Ord::min),
        )
    }
}

/// The engine's fold, caught up before each use.
#[derive(Debug)]
pub(crate) struct History(tokio::sync::Mutex<Outcomes>);

impl History {
    pub(crate) fn new(window: chrono::Duration) -> Self {
        History(tokio::sync::Mutex::new(Outcomes::new(window)))
    }
}

/// One week's escalation share with its counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekShare {
    #[serde(flatten)]
    pub counts: Week,
    /// Sent to a person out of (custos alone + sent to a person); `None`: neither.
    pub escalation_share: Option<f64>,
}

fn shares<'a>(weeks: impl DoubleEndedIterator<Item = &'a Week>, last: usize) -> Vec<WeekShare> {
    let mut v: Vec<WeekShare> = weeks
        .rev()
        .take(last)
        .map(|w| WeekShare {
            counts: w.clone(),
            escalation_share: w.share(),
        })
        .collect();
    v.reverse();
    v
}

/// `custos autonomy report`.
#[derive(Debug, Clone, Serialize)]
pub struct AutonomyReport {
    pub adjust: Adjust,
    pub rule: Rule,
    pub lower_environment_proof: u64,
    /// One per class and environment with any outcome, and the rule's word on it.
    pub levels: Vec<Recommendation>,
    /// Counts per control, playbook, class and environment.
    pub outcomes: Vec<(OutcomeKey, Tally)>,
    /// Proof per playbook version: verified non-production fixes since the last setback.
    pub proof: Vec<(String, String, u64)>,
    /// The escalation share per ISO week, oldest first (every week with a decision that
    /// led to a fix or a request).
    pub weeks: Vec<WeekShare>,
    /// `[autonomy] rollout = "staged"`: the limited stage's share and count (`None`: no
    /// staged rollout; stages are still reported when any was set).
    pub rollout: Option<crate::config::RolloutSettings>,
    /// Every playbook version with a stage or a case, and the rule's word on its stage.
    pub stages: Vec<StageRecommendation>,
    /// Time to fix per control, by custos and outside custos (a person or a pipeline),
    /// from the ledger's evaluations.
    pub fix_times: Vec<FixTime>,
}

impl Engine {
    /// Catch `o` up with the ledger.
    async fn catch_up(&self, o: &mut Outcomes) -> Result<(), EngineError> {
        loop {
            let events = self.ledger.outcome_events_after(o.seq, PAGE).await?;
            o.fold(&events, self.now());
            if (events.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }

    /// Times to fix, folded from every event in the ledger.
    async fn fix_times(&self) -> Result<Vec<FixTime>, EngineError> {
        let mut f = FixTimes::default();
        loop {
            let events = self.ledger.fix_time_events_after(f.seq, PAGE).await?;
            f.fold(&events);
            if (events.len() as i64) < PAGE {
                return Ok(f.report());
            }
        }
    }

    /// Read the outcomes, caught up with the ledger.
    pub(crate) async fn with_outcomes<R>(
        &self,
        f: impl FnOnce(&Outcomes) -> R,
    ) -> Result<R, EngineError> {
        let mut o = self.history.0.lock().await;
        self.catch_up(&mut o).await?;
        Ok(f(&o))
    }

    /// The floor's facts about `plan`'s playbook. Only a production fix needs them read
    /// fresh; for the others the floor ignores them. When the ledger cannot be read the
    /// proof counts as none: the floor then asks a person (fails closed).
    pub(crate) async fn history_facts(&self, plan: &RemediationPlan) -> HistoryFacts {
        let required = self.config.learning.lower_environment_proof;
        let fix = matches!(plan.operation, custos_core::Operation::Fix);
        let proof_matters = plan.production && required > 0 && fix;
        let rollout = self.config.learning.rollout.filter(|_| fix);
        if !proof_matters && rollout.is_none() {
            return HistoryFacts {
                lower_environment_verified: 0,
                lower_environment_required: required,
                ..HistoryFacts::default()
            };
        }
        let read = self
            .with_outcomes(|o| {
                (
                    o.proof_of(&plan.playbook, &plan.playbook_version)
                        .verified_lower,
                    rollout.map(|s| {
                        rollout::facts(
                            o,
                            &s,
                            &plan.playbook,
                            &plan.playbook_version,
                            &custos_ledger::resource_key(&plan.resource),
                        )
                    }),
                )
            })
            .await;
        // When the ledger cannot be read the proof counts as none and the version as in
        // shadow: the floor then asks a person (fails closed).
        let (verified, stage) = read.unwrap_or_else(|e| {
            tracing::warn!(
                "the outcomes of `{}` cannot be read ({e}): no proof, shadow",
                plan.playbook
            );
            (
                0,
                rollout.map(|_| custos_policy::RolloutFacts {
                    stage: custos_core::RolloutStage::Shadow,
                    selected: false,
                }),
            )
        });
        HistoryFacts {
            lower_environment_verified: if proof_matters { verified } else { 0 },
            lower_environment_required: required,
            rollout: stage.unwrap_or_default(),
        }
    }

    /// What the reasoning check is shown of `plan`'s history ([`Outcomes::context_for`]).
    /// When the ledger cannot be read the model is told so, in the data, instead.
    pub(crate) async fn outcome_context(&self, plan: &RemediationPlan) -> serde_json::Value {
        let key = OutcomeKey::of(plan);
        // Bounded like the model's answer: a long catch-up (a cold start over a large
        // ledger) does not hold the decision longer than the reasoning timeout.
        let read = tokio::time::timeout(
            self.reasoning.timeout,
            self.with_outcomes(|o| o.context_for(&key)),
        )
        .await;
        match read {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!("the outcome history cannot be read for the model: {e}");
                serde_json::json!({"unavailable": "the outcome history cannot be read now"})
            }
            Err(_) => {
                serde_json::json!({"unavailable": "the outcome history was not read in time"})
            }
        }
    }

    /// The classes the floor never automates (an unreadable floor counts every class).
    fn never_automated(&self, class: &str) -> bool {
        self.evaluators
            .with(|ev| ev.never_automated_classes())
            .and_then(|r| r)
            .map_or(true, |classes| classes.iter().any(|c| c == class))
    }

    /// The level in effect for `class` in `env`, with the runtime levels `runtime`.
    fn level_in(
        &self,
        runtime: &[AutonomySetting],
        class: &str,
        env: &custos_core::Environment,
    ) -> custos_core::AutonomyLevel {
        self.config
            .autonomy
            .level_with(class, env, runtime_level(runtime, class, env))
    }

    fn recommendation(
        &self,
        o: &Outcomes,
        class: &str,
        env: &custos_core::Environment,
        level: custos_core::AutonomyLevel,
    ) -> Recommendation {
        rule::recommend(
            &self.config.learning.rule,
            o,
            &rule::Facts {
                class,
                environment: &env.name,
                production: env.class.is_production(),
                level,
                ceiling: self.config.autonomy.ceiling,
                never_automated: self.never_automated(class),
                now: self.now(),
            },
        )
    }

    /// Outcomes and recommendations, recomputed from every event in the ledger.
    pub async fn autonomy_report(&self) -> Result<AutonomyReport, EngineError> {
        let mut o = Outcomes::new(self.config.learning.rule.window);
        self.catch_up(&mut o).await?;
        let pairs: BTreeSet<(String, String, bool)> = o
            .tallies
            .keys()
            .map(|k| (k.class.clone(), k.environment.clone(), k.production))
            .collect();
        let runtime = self.ledger.autonomy_settings().await?;
        let mut levels = Vec::new();
        for (class, name, production) in pairs {
            let env = custos_core::Environment {
                name,
                class: if production {
                    custos_core::EnvClass::Production
                } else {
                    custos_core::EnvClass::NonProduction
                },
            };
            let level = self.level_in(&runtime, &class, &env);
            levels.push(self.recommendation(&o, &class, &env, level));
        }
        Ok(AutonomyReport {
            adjust: self.config.learning.adjust,
            rule: self.config.learning.rule,
            lower_environment_proof: self.config.learning.lower_environment_proof,
            levels,
            outcomes: o.tallies.clone().into_iter().collect(),
            proof: o
                .proofs()
                .map(|((p, v), proof)| (p.clone(), v.clone(), proof.verified_lower))
                .collect(),
            weeks: shares(o.weeks.values(), usize::MAX),
            rollout: self.config.learning.rollout,
            stages: self.stage_report(&o),
            fix_times: self.fix_times().await?,
        })
    }

    /// The escalation share of the last `last` weeks with any decision, oldest first,
    /// from the engine's fold (caught up, not refolded: cheap enough for every scrape
    /// and page).
    pub async fn escalation_weeks(&self, last: usize) -> Result<Vec<WeekShare>, EngineError> {
        self.with_outcomes(|o| shares(o.weeks.values(), last)).await
    }

    /// After an outcome on `plan`'s resource: with `adjust = "auto"`, move the level of
    /// its class in its environment as the rule says, through the same checks as a
    /// person's `autonomy set` (known class, ceiling, reason), recorded as
    /// [`LEARNER`]. `None`: nothing moved.
    pub(crate) async fn learn(
        &self,
        plan: &RemediationPlan,
    ) -> Result<Option<AutonomySetting>, EngineError> {
        if self.config.learning.adjust != Adjust::Auto {
            return Ok(None);
        }
        let env = environment_of(plan);
        let class = plan.resource.class();
        // What the learner writes over (its own key, the environment's name), read with
        // the level: the write happens only if no one moved it in between.
        let runtime = self.ledger.autonomy_settings().await?;
        let stored = runtime
            .iter()
            .find(|s| s.class == class && s.environment == env.name)
            .map(|s| s.level);
        let level = self.level_in(&runtime, &class, &env);
        let rec = self
            .with_outcomes(|o| self.recommendation(o, &class, &env, level))
            .await?;
        let Some(to) = rec.to else {
            return Ok(None);
        };
        let reason = match &rec.evidence {
            Some(s) => format!("{} (event `{}`)", rec.reason, s.event_id),
            None => rec.reason.clone(),
        };
        let Some(set) = self
            .apply_autonomy(
                LEARNER,
                crate::AutonomyChange {
                    class: &class,
                    environment: &env.name,
                    level: to.number(),
                    reason: &reason,
                },
                Some(stored),
            )
            .await?
        else {
            // Another worker or a person moved it meanwhile: the next outcome decides again.
            return Ok(None);
        };
        self.notifier()
            .notify(crate::notify::Notification::AutonomyChanged {
                class: set.class.clone(),
                environment: set.environment.clone(),
                from: level.number(),
                to: set.level.number(),
                reason: set.reason.clone(),
                at: set.set_at,
            });
        Ok(Some(set))
    }
}
