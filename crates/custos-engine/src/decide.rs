//! The one decision function. A plan's verdict is the most cautious of: the compiled
//! floor and the operator gate (Rego), the reasoning layer (offline rules, then a model),
//! the autonomy level of its class and environment, and the guard's switches (pause,
//! circuit breaker, rate limit). An approval or an operator's own request lifts
//! `needs_approval`, nothing more. The pipeline decides with the model; the guard decides
//! again at the moment of execution with the model's earlier answer and everything else
//! fresh.

use crate::Engine;
use custos_approval::autonomy_verdict;
use custos_core::{
    Decision, EnvClass, Environment, Finding, Reason, ReasonerRecord, RemediationPlan, Stage,
    Verdict, digest_json,
};
use custos_ledger::{Counts, GuardSnapshot, GuardState};
use custos_policy::{GateInput, GateOutcome, RunContext, TimeFacts, WindowCounts, WindowFacts};
use custos_reasoning::ReviewRequest;
use serde_json::json;
use std::collections::BTreeMap;
use tracing::Instrument;

/// What lifts `needs_approval` at the moment of deciding.
#[derive(Debug, Clone)]
pub(crate) enum Lift {
    None,
    /// An approval, valid until `expires_at`.
    Approval {
        id: String,
        by: String,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// An operator asked for this (a rollback).
    Operator {
        by: String,
    },
}

/// The environment a plan was classified into.
pub(crate) fn environment_of(plan: &RemediationPlan) -> Environment {
    Environment {
        name: plan.environment.clone(),
        class: if plan.production {
            EnvClass::Production
        } else {
            EnvClass::NonProduction
        },
    }
}

/// The rule ids that lift `needs_approval`. Only the engine's approval step
/// ([`Engine::combine`] with a [`Lift`]) produces them, always as `Stage::Autonomy`; the
/// policy loader puts every operator rule id under its package (`gate.…`,
/// `gate_rules.<pkg>.…`), so no gate rule can carry one.
const LIFTS: [&str; 2] = ["approval.granted", "operator.requested"];

/// A reason that lifts `needs_approval`: one of [`LIFTS`], from the approval step.
fn is_lift(r: &Reason) -> bool {
    r.stage == Stage::Autonomy && LIFTS.contains(&r.rule.as_str())
}

/// A reason from any other stage that carries an id reserved to the approval step
/// (`approval.*`, `operator.*`): something impersonates a lift.
fn impersonates_lift(r: &Reason) -> bool {
    r.stage != Stage::Autonomy
        && (r.rule.starts_with("approval.") || r.rule.starts_with("operator."))
}

/// The verdict of a set of reasons: the most cautious one, where an approval or an
/// operator's request from the approval step lifts `needs_approval` (never an expired
/// approval's). A reason of another stage with a lift's id lifts nothing.
pub(crate) fn verdict_of(reasons: &[Reason]) -> Verdict {
    let lifted = reasons.iter().any(is_lift);
    reasons
        .iter()
        .map(|r| match r.verdict {
            Verdict::NeedsApproval if lifted && r.rule != "approval.expired" => Verdict::Execute,
            v => v,
        })
        .fold(Verdict::Execute, Verdict::most_cautious)
}

fn guard_reason(rule: &str, message: String) -> Reason {
    Reason {
        stage: Stage::Guard,
        rule: rule.into(),
        verdict: Verdict::RecommendOnly,
        message,
    }
}

impl Engine {
    /// The gate's view of time for one environment: which blackouts are in effect, and
    /// whether change windows govern it and one is open.
    pub(crate) fn time_facts(
        &self,
        env: &Environment,
        now: chrono::DateTime<chrono::Utc>,
    ) -> TimeFacts {
        let g = &self.config.gate;
        let governing: Vec<_> = g.change_windows.iter().filter(|w| w.governs(env)).collect();
        TimeFacts {
            window: WindowFacts {
                governed: !governing.is_empty(),
                open: governing.iter().any(|w| w.active_at(now)),
                names: governing.iter().map(|w| w.name.clone()).collect(),
            },
            blackouts_active: g
                .blackouts
                .iter()
                .filter(|b| b.governs(env) && b.active_at(now))
                .map(|b| b.name.clone())
                .collect(),
            ..TimeFacts::at(now)
        }
    }

    /// The time facts of one plan: its environment's windows and blackouts, and how old
    /// the resource is when its creation time is known.
    fn plan_time_facts(&self, plan: &RemediationPlan) -> TimeFacts {
        let now = self.now();
        TimeFacts {
            resource_age_minutes: plan.resource_created.map(|c| (now - c).num_minutes()),
            ..self.time_facts(&environment_of(plan), now)
        }
    }

    /// The gate input for one plan: admitted counts from the ledger (plus what a shadow
    /// or dry run would have executed), class sizes, limits, time and the playbook's
    /// outcome history.
    pub(crate) fn gate_input(
        &self,
        plan: &RemediationPlan,
        snap: &GuardSnapshot,
        extra: &Counts,
        class_sizes: &BTreeMap<String, u64>,
        history: &custos_policy::HistoryFacts,
    ) -> GateInput {
        let add = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            let mut m = a.clone();
            for (k, v) in b {
                *m.entry(k.clone()).or_default() += v;
            }
            m
        };
        let mut input = GateInput {
            run: RunContext {
                executions_so_far: snap.run.total + extra.total,
                executions_by_account: add(&snap.run.by_account, &extra.by_account),
                executions_by_class: add(&snap.run.by_class, &extra.by_class),
                home_account: None,
            },
            window: WindowCounts {
                hours: self.config.gate.window_hours,
                executions: snap.window + extra.total,
            },
            limits: self.config.gate.limits,
            time: self.plan_time_facts(plan),
            history: history.clone(),
            ..GateInput::default()
        };
        for (class, n) in class_sizes {
            input.set_class_count(class, *n);
        }
        input
    }

    fn gate(&self, plan: &RemediationPlan, input: &GateInput) -> GateOutcome {
        let _span =
            tracing::debug_span!("gate", plan = %plan.id, control = %plan.control_id).entered();
        let started = std::time::Instant::now();
        let outcome = self.gate_now(plan, input);
        self.observer().gate(started.elapsed());
        outcome
    }

    pub(crate) fn gate_now(&self, plan: &RemediationPlan, input: &GateInput) -> GateOutcome {
        match self.evaluators.with(|ev| ev.gate(plan, input)) {
            Ok(outcome) => outcome,
            // The floor could not be evaluated: fail closed.
            Err(e) => GateOutcome {
                verdict: Verdict::Deny,
                reasons: vec![Reason {
                    stage: Stage::Gate,
                    rule: "floor.error".into(),
                    verdict: Verdict::Deny,
                    message: e,
                }],
            },
        }
    }

    /// The pipeline's decision: every stage, the model included.
    pub(crate) async fn decide(
        &self,
        plan: &RemediationPlan,
        findings: &[Finding],
        input: &GateInput,
        state: &GuardState,
    ) -> Decision {
        let gate = self.gate(plan, input);
        // Only a model reads the history (the offline rules do not): read it then.
        let history = match self.reasoning.model {
            Some(_) => Some(self.outcome_context(plan).await),
            None => None,
        };
        let started = std::time::Instant::now();
        let reasoned = self
            .reasoning
            .review(&ReviewRequest {
                plan,
                findings,
                gate_verdict: gate.verdict,
                gate_reasons: &gate.reasons,
                history: history.as_ref(),
            })
            .instrument(tracing::debug_span!("reasoning", plan = %plan.id))
            .await;
        self.observer().reasoning(started.elapsed());
        self.combine(
            plan,
            findings,
            input,
            gate,
            reasoned.reasons,
            reasoned.record,
            reasoned.model_verdict,
            state,
            &Lift::None,
            None,
        )
    }

    /// The guard's decision at the moment of execution: the floor, the gate, the offline
    /// rules, autonomy and the switches evaluated now; the model's earlier answer kept
    /// (it cannot lift anything, only add caution).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn judge(
        &self,
        plan: &RemediationPlan,
        findings: &[Finding],
        input: &GateInput,
        state: &GuardState,
        earlier: Option<&Decision>,
        lift: &Lift,
        rate: Option<Reason>,
    ) -> Decision {
        let gate = self.gate(plan, input);
        let (_, rule) = self.reasoning.rules_verdict(plan);
        let model: Vec<Reason> = earlier
            .map(|d| {
                d.reasons
                    .iter()
                    .filter(|r| {
                        r.stage == Stage::Reasoning && !r.rule.starts_with("reasoning.offline")
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let record = earlier.map_or_else(
            || ReasonerRecord {
                id: "offline/v1".into(),
                model: None,
                prompt_digest: digest_json(&json!({"plan": plan.id})),
                answer_digest: digest_json(&json!({"rules": rule})),
                rationale: "offline rules at execution time".into(),
                prompt_version: None,
                latency_ms: None,
                prompt_tokens: None,
                completion_tokens: None,
                cached: false,
            },
            |d| d.reasoner.clone(),
        );
        let reasons = rule.into_iter().chain(model).collect();
        self.combine(
            plan,
            findings,
            input,
            gate,
            reasons,
            record,
            earlier.and_then(|d| d.model_verdict),
            state,
            lift,
            rate,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn combine(
        &self,
        plan: &RemediationPlan,
        findings: &[Finding],
        input: &GateInput,
        gate: GateOutcome,
        reasoning: Vec<Reason>,
        record: ReasonerRecord,
        model_verdict: Option<custos_core::Verdict>,
        state: &GuardState,
        lift: &Lift,
        rate: Option<Reason>,
    ) -> Decision {
        let env = environment_of(plan);
        let class = plan.resource.class();
        let level = self.config.autonomy.level_with(
            &class,
            &env,
            crate::learning::runtime_level(&state.autonomy, &class, &env),
        );
        let (_, autonomy) = autonomy_verdict(level, &env);
        let mut reasons = gate.reasons.clone();
        reasons.extend(reasoning);
        reasons.extend(autonomy);
        if let Some(p) = &state.paused {
            reasons.push(guard_reason(
                "guard.paused",
                format!(
                    "custos is paused (by {}: {}); nothing is executed until `custos resume`",
                    p.by.as_deref().unwrap_or("unknown"),
                    p.reason.as_deref().unwrap_or("no reason given")
                ),
            ));
        }
        if let Some(b) = &state.breaker {
            reasons.push(guard_reason(
                "guard.breaker_open",
                format!(
                    "the circuit breaker is open ({}); nothing is executed until `custos breaker reset`",
                    b.reason.as_deref().unwrap_or("failures")
                ),
            ));
        }
        reasons.extend(rate);
        let now = self.now();
        let lifted = match lift {
            Lift::None => false,
            Lift::Approval { id, by, expires_at } => {
                if now < *expires_at {
                    reasons.push(Reason {
                        stage: Stage::Autonomy,
                        rule: "approval.granted".into(),
                        verdict: Verdict::Execute,
                        message: format!("approval `{id}` by {by} lifts `needs_approval`"),
                    });
                    true
                } else {
                    reasons.push(Reason {
                        stage: Stage::Autonomy,
                        rule: "approval.expired".into(),
                        verdict: Verdict::NeedsApproval,
                        message: format!("approval `{id}` expired at {expires_at}"),
                    });
                    false
                }
            }
            Lift::Operator { by } => {
                reasons.push(Reason {
                    stage: Stage::Autonomy,
                    rule: "operator.requested".into(),
                    verdict: Verdict::Execute,
                    message: format!("requested by {by}: lifts `needs_approval`"),
                });
                true
            }
        };
        // Fail closed in every build: a lift is the approval step's alone. Anything else
        // that claims one (a gate or reasoning reason with a reserved id, or a lift the
        // step did not grant) denies.
        let claimed = reasons.iter().filter(|r| is_lift(r)).count();
        let impostors: Vec<String> = reasons
            .iter()
            .filter(|r| impersonates_lift(r))
            .map(|r| format!("`{}` ({:?})", r.rule, r.stage))
            .collect();
        if claimed != usize::from(lifted) || !impostors.is_empty() {
            reasons.push(Reason {
                stage: Stage::Engine,
                rule: "engine.lift_not_owned".into(),
                verdict: Verdict::Deny,
                message: format!(
                    "a reason not produced by the approval step claims to lift `needs_approval`: {}",
                    if impostors.is_empty() {
                        format!("{claimed} lifts where the approval step granted {}", usize::from(lifted))
                    } else {
                        impostors.join(", ")
                    }
                ),
            });
        }
        let verdict = verdict_of(&reasons);
        // Shadow: say so when only the staged rollout keeps custos from acting alone.
        let rollout = |r: &Reason| r.stage == Stage::Gate && r.rule.starts_with("gate.rollout_");
        if reasons.iter().any(rollout) {
            // Without the rollout and without any lift: what custos would do on its own.
            let rest: Vec<Reason> = reasons
                .iter()
                .filter(|r| !rollout(r) && !is_lift(r))
                .cloned()
                .collect();
            if verdict_of(&rest) == Verdict::Execute {
                reasons.push(Reason {
                    stage: Stage::Engine,
                    rule: "engine.would_execute".into(),
                    verdict: Verdict::Execute,
                    message: format!(
                        "without its staged rollout custos would execute `{}` here on its own",
                        plan.playbook
                    ),
                });
            }
        }
        Decision {
            verdict,
            gate_verdict: gate.verdict,
            input_digest: digest_json(
                &json!({"plan": plan, "findings": findings, "input": input, "gate": gate.reasons}),
            ),
            reasons,
            policy_digest: self.bundle.digest().clone(),
            playbook: plan.playbook.clone(),
            playbook_version: plan.playbook_version.clone(),
            reasoner: record,
            autonomy: level,
            environment: plan.environment.clone(),
            model_verdict,
        }
    }
}
