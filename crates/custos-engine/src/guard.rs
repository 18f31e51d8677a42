//! The guard: the only door to the cloud. Every mutating path (a new plan, an approved
//! request, a rollback, a re-verification's fix, the service) comes through
//! [`Engine::guarded`], and this module alone holds the executors:
//!
//! 1. claim the resource in the ledger (a lease with a fencing token; the ledger is the
//!    lock across processes); settle any interrupted intent on it first;
//! 2. read the resource now and plan from what is there; refuse when its digest differs
//!    from the one decided or approved (stale) or the work is already done (no-op);
//! 3. decide again at this moment (floor, gate, offline rules, the model's earlier
//!    answer, autonomy, approval, pause, breaker, rate limit) on counters read from the
//!    ledger, and admit the intent only if none of that changed meanwhile;
//! 4. call, read back, verify (the read-back decides), record; open the breaker when
//!    failures pass its threshold.

use crate::decide::Lift;
use crate::{Engine, EngineError, PolicyVerifier, RunState, short_id};
use async_trait::async_trait;
use custos_core::{
    ActionOutcome, Approval, ConfigurationItem, Decision, Digest, ExecutionRecord, Finding,
    Operation, Reason, RemediationPlan, ResourceRef, Stage, Verdict, digest_json,
};
use custos_executor::contract::{self, SatisfiedVerifier, guarded_state};
use custos_executor::{
    Action, Executor, Intent, IntentDecision, Journal, Registry, Revert, Verifier,
};
use custos_ledger::{
    ActionMeta, ActionRow, ActionStatus, Admission, Claim, ClaimAttempt, LedgerError, NewIntent,
    RateDebit, resource_key,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How often an admission is decided again when the guard state moved meanwhile.
const MAX_ADMISSION_ATTEMPTS: usize = 20;

/// Holds the executors; nothing else in the engine does.
#[derive(Debug)]
pub(crate) struct Guard {
    registry: Registry,
    host: String,
    /// One admission at a time in this process: concurrent fixes of a batch would
    /// otherwise race each other's guard-version bump and decide again and again.
    admitting: tokio::sync::Mutex<()>,
}

impl Guard {
    pub(crate) fn new(registry: Registry) -> Self {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        Guard {
            registry,
            host,
            admitting: tokio::sync::Mutex::new(()),
        }
    }

    /// A holder name for one claim: host, process and a nonce, so two tasks of one
    /// process never share a claim and a claim of a dead local process can be recognised.
    fn holder(&self) -> String {
        format!(
            "{}:{}:{}",
            self.host,
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    }

    /// The holder is a process on this host that no longer runs.
    fn holder_is_dead(&self, holder: &str) -> bool {
        let mut parts = holder.rsplitn(3, ':');
        let (Some(_nonce), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        cfg!(target_os = "linux")
            && host == self.host
            && pid != std::process::id().to_string()
            && pid.chars().all(|c| c.is_ascii_digit())
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }
}

/// What the guard is asked to do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work<'a> {
    /// A plan the pipeline decided to execute.
    Fix {
        plan: &'a RemediationPlan,
        findings: &'a [Finding],
        decision: &'a Decision,
    },
    /// An approved request, claimed (`executing`) by this worker.
    Approved { approval: &'a Approval },
    /// An operator's rollback of an executed fix.
    Rollback { action: &'a ActionRow, by: &'a str },
}

impl Work<'_> {
    fn resource(&self) -> &ResourceRef {
        match self {
            Work::Fix { plan, .. } => &plan.resource,
            Work::Approved { approval } => &approval.plan.resource,
            Work::Rollback { action, .. } => &action.plan.resource,
        }
    }

    fn approval_id(&self) -> Option<&str> {
        match self {
            Work::Approved { approval } => Some(&approval.id),
            _ => None,
        }
    }
}

/// What came of it.
#[derive(Debug, Clone)]
pub(crate) enum Guarded {
    /// The contract ran (it may have found the work done, stale, or refused it).
    Done {
        record: Box<ExecutionRecord>,
        plan: Box<RemediationPlan>,
        /// The decision at admission (absent when no decision was needed: no-op, stale).
        decision: Option<Box<Decision>>,
    },
    /// Not attempted now: the resource is busy, unreadable, or has an unsettled intent.
    NotNow { reason: Reason },
}

fn not_now(rule: &str, message: String) -> Guarded {
    Guarded::NotNow {
        reason: Reason {
            stage: Stage::Guard,
            rule: rule.into(),
            verdict: Verdict::RecommendOnly,
            message,
        },
    }
}

/// The result of an operator's rollback.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RollbackReport {
    /// The action rolled back.
    pub action_id: String,
    /// The rollback's own action (absent when it was not attempted).
    pub rollback_action_id: Option<String>,
    pub outcome: Option<ActionOutcome>,
    pub calls: Vec<String>,
    /// The facet read back after the rollback.
    pub restored: Option<Value>,
    /// The facet read back equals the recorded before facet.
    pub exact: bool,
    pub verdict: Option<Verdict>,
    pub reasons: Vec<Reason>,
    pub detail: Option<String>,
}

/// The plan to act on, built from the state read now.
struct Target {
    plan: RemediationPlan,
    expected: Digest,
    executor: Arc<dyn Executor>,
    /// Set for rollbacks: checks the restored facet instead of the control.
    revert: Option<Arc<dyn Action>>,
    findings: Vec<Finding>,
    earlier: Option<Decision>,
    lift: Lift,
}

impl Engine {
    /// The one door: claim, read, decide at this moment, admit, call, verify, record.
    pub(crate) async fn guarded(
        &self,
        work: Work<'_>,
        st: &RunState,
    ) -> Result<Guarded, EngineError> {
        let key = resource_key(work.resource());
        let Some(claim) = self.claim_resource(&key).await? else {
            return Ok(not_now(
                "guard.busy",
                format!("`{key}` is being changed by another worker"),
            ));
        };
        let span = tracing::info_span!(
            "guard",
            resource = %key,
            approval = work.approval_id().unwrap_or("-"),
            fencing_token = claim.token,
        );
        // The heartbeat renews the lease while the work runs; it never finishes first.
        // Boxed: the guarded work is a large future, and callers (the service, a test's
        // single-threaded runtime) poll it on their own stack.
        let out = tokio::select! {
            out = Box::pin(self.guarded_with(work, st, &claim).instrument(span)) => out,
            never = Box::pin(self.heartbeat(&claim)) => match never {},
        };
        if let Err(e) = self.ledger.release(&claim).await {
            tracing::warn!("releasing the claim on `{key}` failed (it expires): {e}");
        }
        if let Ok(Guarded::Done { record, plan, .. }) = &out
            && matches!(
                record.outcome,
                ActionOutcome::Executed | ActionOutcome::RolledBack | ActionOutcome::Failed
            )
        {
            // The learner moves levels from outcomes; it decides nothing about this work,
            // which is done. A failure here leaves the level as it was, loudly.
            if let Err(e) = self.learn(plan).await {
                tracing::error!("autonomy not adjusted after `{}`: {e}", record.action_id);
            }
            if let Err(e) = self.learn_stage(plan).await {
                tracing::error!(
                    "rollout stage not adjusted after `{}`: {e}",
                    record.action_id
                );
            }
        }
        out
    }

    /// Renew `claim` every third of its lifetime. When it was taken over (this worker
    /// stalled past its expiry) the heartbeat stops: the fence then refuses this work's
    /// calls and writes, and the new holder settles what it left.
    async fn heartbeat(&self, claim: &Claim) -> std::convert::Infallible {
        let ttl = self.config.guard.claim_ttl;
        let every = (ttl / 3).to_std().unwrap_or(Duration::from_secs(1));
        loop {
            tokio::time::sleep(every).await;
            match self.ledger.renew(claim, ttl).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::warn!(
                        "the claim on `{}` (token {}) was taken over; this work can no longer call or write",
                        claim.key,
                        claim.token
                    );
                    return std::future::pending().await;
                }
                Err(e) => tracing::warn!("renewing the claim on `{}` failed: {e}", claim.key),
            }
        }
    }

    /// Claim a resource; a claim left by a dead process on this host is taken over.
    pub(crate) async fn claim_resource(&self, key: &str) -> Result<Option<Claim>, EngineError> {
        let holder = self.guard.holder();
        let ttl = self.config.guard.claim_ttl;
        Ok(match self.ledger.claim(key, &holder, ttl).await? {
            ClaimAttempt::Won(c) => Some(c),
            ClaimAttempt::Held(other) if self.guard.holder_is_dead(&other.holder) => {
                self.ledger.take_over(&other, &holder, ttl).await?
            }
            ClaimAttempt::Held(_) | ClaimAttempt::Busy => None,
        })
    }

    async fn guarded_with(
        &self,
        work: Work<'_>,
        st: &RunState,
        claim: &Claim,
    ) -> Result<Guarded, EngineError> {
        let key = &claim.key;
        // An interrupted intent on this resource is settled first (by reading only), or
        // nothing new starts on it.
        for open in self.ledger.open_intents_for(key).await? {
            if let Err(e) = self.settle(&open, claim).await {
                return Ok(not_now(
                    "guard.unsettled",
                    format!(
                        "an interrupted action (`{}`) on `{key}` cannot be settled yet: {e}",
                        open.id
                    ),
                ));
            }
        }
        let fresh = match self.reader.read(work.resource()).await {
            Ok(Some(ci)) => ci,
            Ok(None) => return self.gone(work, st, claim).await,
            Err(e) => {
                return Ok(not_now(
                    "guard.read_failed",
                    format!("`{key}` cannot be read now: {e}"),
                ));
            }
        };
        let Some(target) = self.target(work, &fresh)? else {
            return Ok(not_now(
                "guard.no_plan",
                format!("no playbook applies to `{key}` as it is now"),
            ));
        };
        if let Work::Approved { approval } = work
            && let Some(why) = self.not_as_approved(approval, &target.plan)
        {
            return self.stale(work, st, why, claim).await;
        }
        let verifier_policy = PolicyVerifier::new(&self.evaluators, &self.catalog, &target.plan);
        let verifier_revert = target
            .revert
            .as_ref()
            .map(|a| SatisfiedVerifier(a.as_ref()));
        let verifier: &dyn Verifier = match &verifier_revert {
            Some(v) => v,
            None => &verifier_policy,
        };
        let journal = GuardJournal {
            engine: self,
            st,
            claim,
            target: &target,
            approval_id: work.approval_id(),
            decision: Mutex::new(None),
        };
        let record = contract::execute(
            target.executor.as_ref(),
            self.reader.as_ref(),
            verifier,
            &journal,
            &target.plan,
            &fresh,
            &target.expected,
            &short_id("act"),
            &self.config.guard.settle,
        )
        .await?;
        if matches!(
            record.outcome,
            ActionOutcome::Failed | ActionOutcome::RolledBack
        ) {
            self.check_breaker().await?;
        }
        let decision = journal
            .decision
            .lock()
            .ok()
            .and_then(|mut d| d.take())
            .map(Box::new);
        Ok(Guarded::Done {
            record: Box::new(record),
            plan: Box::new(target.plan),
            decision,
        })
    }

    /// The resource is gone: the work is stale.
    async fn gone(
        &self,
        work: Work<'_>,
        st: &RunState,
        claim: &Claim,
    ) -> Result<Guarded, EngineError> {
        self.stale(work, st, "resource no longer exists".into(), claim)
            .await
    }

    /// The work cannot be done as decided or approved: recorded as stale, nothing called.
    async fn stale(
        &self,
        work: Work<'_>,
        st: &RunState,
        why: String,
        claim: &Claim,
    ) -> Result<Guarded, EngineError> {
        let plan = match work {
            Work::Fix { plan, .. } => plan.clone(),
            Work::Approved { approval } => approval.plan.clone(),
            Work::Rollback { action, .. } => action.plan.clone(),
        };
        let record = ExecutionRecord {
            action_id: short_id("act"),
            plan_id: plan.id.clone(),
            outcome: ActionOutcome::Stale,
            before: Value::Null,
            before_digest: plan.before_digest.clone(),
            after: None,
            after_digest: None,
            calls: vec![],
            rollback: vec![],
            verification: None,
            error: Some(why),
        };
        self.ledger
            .action_outcome(
                ActionMeta {
                    run_id: Some(st.run_id()),
                    approval_id: work.approval_id(),
                    decision: None,
                    fence: Some(claim),
                },
                &plan,
                &record,
            )
            .await?;
        Ok(Guarded::Done {
            record: Box::new(record),
            plan: Box::new(plan),
            decision: None,
        })
    }

    /// An approval covers the change the reviewers saw, under the policy they saw it
    /// with: a plan made now that would do something else (another playbook version,
    /// other parameters or end state), or a policy bundle that changed since, makes the
    /// request stale (a new one is asked for).
    fn not_as_approved(&self, approval: &Approval, now: &RemediationPlan) -> Option<String> {
        let was = &approval.plan;
        if self.bundle.digest() != &approval.decision.policy_digest {
            return Some(format!(
                "approved under policy bundle {}, but the bundle is now {}",
                approval.decision.policy_digest,
                self.bundle.digest()
            ));
        }
        if was.playbook_version != now.playbook_version
            || was.parameters != now.parameters
            || was.desired != now.desired
            || was.action_kinds != now.action_kinds
        {
            return Some(format!(
                "the change planned now (playbook `{}` {}) is not the one approved ({})",
                now.playbook, now.playbook_version, was.playbook_version
            ));
        }
        None
    }

    /// The plan to act on, from the state read now.
    fn target(
        &self,
        work: Work<'_>,
        fresh: &ConfigurationItem,
    ) -> Result<Option<Target>, EngineError> {
        let executor = |action: &str| {
            self.guard
                .registry
                .get(action)
                .cloned()
                .ok_or_else(|| EngineError::Refused(format!("no executor for `{action}`")))
        };
        let env = self.config.environments.of(&fresh.tags);
        let replan = |decided: &RemediationPlan, findings: &[Finding]| {
            let finding = findings.first().cloned().unwrap_or_else(|| Finding {
                control_id: decided.control_id.clone(),
                title: String::new(),
                severity: custos_core::Severity::High,
                resource: decided.resource.clone(),
                frameworks: Default::default(),
                message: String::new(),
                remediation: Some(decided.playbook.clone()),
                guidance: None,
                terraform: None,
            });
            // The playbook decided or approved on (a candidate, when one was chosen),
            // never whichever the control's baseline is now; a candidate not at all
            // while ranking is off (`fallback = "baseline"`), whatever was approved.
            let candidates_off = self.config.learning.fallback == crate::config::Fallback::Baseline;
            self.playbooks
                .plan_with(&self.catalog, &decided.playbook, &finding, fresh, &env)
                .ok()
                // A read that cannot say when the resource was created keeps the time
                // decided with: the grace period holds at the moment of execution too.
                .map(|mut p| {
                    p.resource_created = p.resource_created.or(decided.resource_created);
                    p
                })
                .filter(|p| p.playbook == decided.playbook && p.action == decided.action)
                .filter(|p| {
                    !(candidates_off
                        && self
                            .playbooks
                            .get(&p.playbook)
                            .is_some_and(|pb| pb.candidate))
                })
        };
        match work {
            Work::Fix {
                plan,
                findings,
                decision,
            } => replan(plan, findings).map(|p| -> Result<Target, EngineError> {
                Ok(Target {
                    executor: executor(&p.action)?,
                    plan: p,
                    expected: plan.before_digest.clone(),
                    revert: None,
                    findings: findings.to_vec(),
                    earlier: Some(decision.clone()),
                    lift: Lift::None,
                })
            }),
            Work::Approved { approval } => {
                replan(&approval.plan, &approval.findings).map(|p| -> Result<Target, EngineError> {
                    Ok(Target {
                        executor: executor(&p.action)?,
                        plan: p,
                        expected: approval.before_digest.clone(),
                        revert: None,
                        findings: approval.findings.clone(),
                        earlier: Some(approval.decision.clone()),
                        lift: Lift::Approval {
                            id: approval.id.clone(),
                            by: approval.decided_by.clone().unwrap_or_default(),
                            expires_at: approval.expires_at,
                        },
                    })
                })
            }
            Work::Rollback { action, by } => {
                let (Some(record), Some(after)) = (
                    action.record.as_ref(),
                    action.record.as_ref().and_then(|r| r.after_digest.clone()),
                ) else {
                    return Ok(None);
                };
                let inner = executor(&action.plan.action)?;
                let target_facet = record.before["facet"].clone();
                let revert = Arc::new(Revert {
                    inner: inner.clone(),
                    target: target_facet.clone(),
                });
                let o = &action.plan;
                let before = guarded_state(revert.as_ref(), fresh, &o.parameters);
                let props = revert.properties();
                let plan = RemediationPlan {
                    id: format!("rollback-{}", action.id),
                    resource: fresh.resource_ref(),
                    resource_name: fresh.resource_name.clone(),
                    arn: fresh.arn.clone(),
                    resource_created: fresh.resource_creation_time,
                    tags: fresh.tags.clone(),
                    environment: env.name.clone(),
                    production: env.class.is_production(),
                    related: fresh.related_types(),
                    control_id: o.control_id.clone(),
                    playbook: o.playbook.clone(),
                    playbook_version: o.playbook_version.clone(),
                    action: o.action.clone(),
                    action_kinds: props.kinds,
                    parameters: o.parameters.clone(),
                    risk: props.risk,
                    reversible: props.reversible,
                    requires_approval: props.requires_approval,
                    before_digest: digest_json(&before),
                    desired: json!({"facet": inner.restored(&target_facet), "tags": fresh.tags}),
                    before,
                    rollback: vec![],
                    operation: Operation::Rollback {
                        of: action.id.clone(),
                        requested_by: by.to_string(),
                        target: target_facet,
                    },
                    guided: None,
                };
                Some(Ok(Target {
                    plan,
                    expected: after,
                    executor: revert.clone(),
                    revert: Some(revert),
                    findings: vec![],
                    earlier: None,
                    lift: Lift::Operator { by: by.to_string() },
                }))
            }
        }
        .transpose()
    }

    /// Open the circuit breaker when failures in its window pass a threshold.
    pub(crate) async fn check_breaker(&self) -> Result<(), EngineError> {
        let b = self.config.guard.breaker;
        let state = self.ledger.guard_state().await?;
        if state.breaker.is_some() {
            return Ok(());
        }
        let mut since = self.now() - b.window;
        if let Some(reset) = state.breaker_reset_at {
            since = since.max(reset);
        }
        let c = self.ledger.failure_counts(since).await?;
        let window = b.window.num_minutes();
        let reason = if c.failures >= b.failures {
            Some(format!(
                "{} failed actions in the last {window} minutes (the limit is {})",
                c.failures, b.failures
            ))
        } else if c.finished >= b.min_actions && c.failures * 100 >= b.failure_percent * c.finished
        {
            Some(format!(
                "{} of {} actions failed in the last {window} minutes ({}% or more)",
                c.failures, c.finished, b.failure_percent
            ))
        } else {
            None
        };
        if let Some(r) = reason {
            let opened = self
                .ledger
                .open_breaker(
                    &r,
                    &json!({"failures": c.failures, "finished": c.finished, "since": since}),
                )
                .await?;
            tracing::error!("circuit breaker opened: {r}");
            if opened {
                self.notifier()
                    .notify(crate::notify::Notification::BreakerOpened {
                        reason: r,
                        at: self.now(),
                    });
            }
        }
        Ok(())
    }
}

/// The ledger as the contract's journal, with the guard's admission in front of every
/// intent.
struct GuardJournal<'a> {
    engine: &'a Engine,
    st: &'a RunState,
    claim: &'a Claim,
    target: &'a Target,
    approval_id: Option<&'a str>,
    decision: Mutex<Option<Decision>>,
}

/// The service part of an action id: `s3` in `s3:PutPublicAccessBlock`.
pub(crate) fn service(action: &str) -> &str {
    action.split(':').next().unwrap_or(action)
}

impl GuardJournal<'_> {
    fn keep(&self, d: Decision) {
        if let Ok(mut slot) = self.decision.lock() {
            *slot = Some(d);
        }
    }

    fn decision_json(&self) -> Option<Value> {
        self.decision
            .lock()
            .ok()
            .and_then(|d| d.as_ref().map(|d| json!(d)))
    }

    /// Tokens in the bucket now (refilled since it was last counted).
    fn tokens(&self, rate: Option<(f64, chrono::DateTime<chrono::Utc>)>) -> f64 {
        let r = self.engine.config.guard.rate;
        match rate {
            None => r.burst,
            Some((tokens, at)) => {
                let elapsed = (self.engine.now() - at).num_milliseconds().max(0) as f64 / 1000.0;
                (tokens + elapsed * r.per_second).min(r.burst)
            }
        }
    }

    async fn admit(&self, intent: &Intent) -> Result<IntentDecision, String> {
        let e = self.engine;
        let plan = &self.target.plan;
        let rate_key = format!("{}/{}", plan.resource.account, service(&plan.action));
        let rate = e.config.guard.rate;
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            let turn = e.guard.admitting.lock().await;
            // Failures another worker recorded but has not yet turned into an open
            // breaker count now.
            e.check_breaker().await.map_err(|x| x.to_string())?;
            let snap = e
                .ledger
                .guard_snapshot(&self.st.scope(e), e.window_start(), Some(&rate_key))
                .await
                .map_err(|x| x.to_string())?;
            let judge_with = |input: &custos_policy::GateInput, rate_reason| {
                e.judge(
                    plan,
                    &self.target.findings,
                    input,
                    &snap.state,
                    self.target.earlier.as_ref(),
                    &self.target.lift,
                    rate_reason,
                )
            };
            let none = custos_ledger::Counts::default();
            let history = e.history_facts(plan).await;
            let mut input = e.gate_input(plan, &snap, &none, &self.st.class_sizes, &history);
            let mut decision = judge_with(&input, None);
            if crate::pipeline::deferred_by_percent(&decision) {
                // The class as the ledger knows it now (see `RunState::class_sizes_with`).
                let keys = e
                    .ledger
                    .known_resources()
                    .await
                    .map_err(|x| x.to_string())?;
                input = e.gate_input(
                    plan,
                    &snap,
                    &none,
                    &self.st.class_sizes_with(keys),
                    &history,
                );
                decision = judge_with(&input, None);
            }
            let judge = |rate_reason| judge_with(&input, rate_reason);
            if decision.verdict != Verdict::Execute {
                let why = summary(&decision);
                self.keep(decision);
                return Ok(IntentDecision::Refused(why));
            }
            let tokens = self.tokens(snap.rate);
            if tokens < 1.0 {
                let wait = Duration::from_secs_f64((1.0 - tokens) / rate.per_second);
                if started.elapsed() + wait <= rate.max_wait {
                    drop(turn);
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let decision = judge(Some(Reason {
                    stage: Stage::Guard,
                    rule: "guard.rate_limited".into(),
                    verdict: Verdict::RecommendOnly,
                    message: format!(
                        "rate limit for `{rate_key}` ({} calls per second, burst {}): deferred",
                        rate.per_second, rate.burst
                    ),
                }));
                let why = summary(&decision);
                self.keep(decision);
                return Ok(IntentDecision::Refused(why));
            }
            let mut payload = serde_json::to_value(intent).map_err(|x| x.to_string())?;
            payload["decision"] = json!(decision);
            payload["outcome"] = json!(custos_core::OutcomeKey::of(plan));
            payload["kind"] = json!(match plan.operation {
                Operation::Fix => "fix",
                Operation::Rollback { .. } => "rollback",
            });
            let admitted = e
                .ledger
                .admit(Admission {
                    version: snap.state.version,
                    claim: self.claim,
                    intent: NewIntent {
                        action_id: &intent.action_id,
                        meta: ActionMeta {
                            run_id: Some(self.st.run_id()),
                            approval_id: self.approval_id,
                            decision: None,
                            fence: Some(self.claim),
                        },
                        plan,
                        payload: &payload,
                    },
                    rate: Some(RateDebit {
                        key: &rate_key,
                        tokens: tokens - 1.0,
                    }),
                })
                .await;
            match admitted {
                Ok(true) => {
                    self.keep(decision);
                    return Ok(IntentDecision::Written);
                }
                Ok(false) => {
                    attempts += 1;
                    if attempts >= MAX_ADMISSION_ATTEMPTS {
                        let why = format!(
                            "the guard state changed {attempts} times while deciding; deferred"
                        );
                        self.keep(decision);
                        return Ok(IntentDecision::Refused(why));
                    }
                }
                Err(LedgerError::ClaimLost { key, .. }) => {
                    self.keep(decision);
                    return Ok(IntentDecision::Refused(format!(
                        "the claim on `{key}` expired and was taken over; nothing was called"
                    )));
                }
                Err(x) => return Err(x.to_string()),
            }
        }
    }
}

fn summary(d: &Decision) -> String {
    let blocking: Vec<String> = d
        .reasons
        .iter()
        .filter(|r| r.verdict > Verdict::Execute)
        .map(|r| format!("{}: {}", r.rule, r.message))
        .collect();
    format!("{}: {}", d.verdict, blocking.join("; "))
}

#[async_trait]
impl Journal for GuardJournal<'_> {
    async fn intent(&self, intent: &Intent) -> Result<IntentDecision, String> {
        self.admit(intent).await
    }

    /// The fence: the claim is still this worker's, unexpired, with its token.
    async fn may_call(&self) -> Result<(), String> {
        self.engine
            .ledger
            .check_claim(self.claim)
            .await
            .map_err(|e| e.to_string())
    }

    async fn outcome(&self, record: &ExecutionRecord) -> Result<(), String> {
        let decision = self.decision_json();
        self.engine
            .ledger
            .action_outcome(
                ActionMeta {
                    run_id: Some(self.st.run_id()),
                    approval_id: self.approval_id,
                    decision: decision.as_ref(),
                    fence: Some(self.claim),
                },
                &self.target.plan,
                record,
            )
            .await
            .map_err(|e| e.to_string())
    }
}

impl Engine {
    /// One operator cannot undo what a quorum approved: a rollback of a fix approved by
    /// two or more reviewers (as the approval's events say, not its row) needs the same
    /// quorum, which custos does not collect for rollbacks, so it is refused with that
    /// reason (and recorded as `rollback.refused`). A fix whose approval's request cannot
    /// be read from the events is refused too.
    async fn rollback_needs_no_quorum(
        &self,
        row: &custos_ledger::ActionRow,
        who: &custos_core::Principal,
    ) -> Result<(), EngineError> {
        let Some(approval) = &row.approval_id else {
            return Ok(());
        };
        let chain = self.ledger.approval_chain(approval).await?;
        let required = chain.request.as_ref().map(|r| r.required_reviewers);
        if required.is_some_and(|n| n < 2) {
            return Ok(());
        }
        let why = match required {
            Some(n) => format!(
                "action `{}` was approved by a quorum of {n} reviewers (approval `{approval}`): one operator cannot undo it, and a rollback of a quorum-approved change needs the same quorum, which custos does not collect for rollbacks; it is refused (pause custos and have the reviewers change the resource, or fix it forward)",
                row.id
            ),
            None => format!(
                "action `{}` names approval `{approval}`, whose request the ledger's events do not hold: the rollback is refused",
                row.id
            ),
        };
        self.ledger
            .record_refusal(
                "rollback.refused",
                &format!("principal:{}", who.name),
                &json!({"action_id": row.id, "approval_id": approval, "by": who.name,
                    "required_reviewers": required, "code": "quorum_required"}),
            )
            .await?;
        Err(EngineError::Refused(why))
    }

    /// Undo an executed fix: a mutation like any other, through the guard. Refused
    /// during a blackout or pause, on an excluded resource, when the resource changed
    /// since the fix (the rollback would overwrite that change), or over a limit.
    pub async fn rollback(
        &self,
        action_id: &str,
        who: &custos_core::Principal,
    ) -> Result<RollbackReport, EngineError> {
        custos_identity::require(
            &self.ledger,
            who,
            custos_core::Permission::Rollback,
            json!({"action_id": action_id}),
        )
        .await?;
        let by = who.name.as_str();
        let row = self.ledger.action(action_id).await?;
        let is_fix = matches!(row.plan.operation, Operation::Fix);
        if row.status != ActionStatus::Outcome(ActionOutcome::Executed) || !is_fix {
            return Err(EngineError::Refused(format!(
                "action `{}` is `{}`{}; only an executed fix can be rolled back",
                row.id,
                row.status,
                if is_fix { "" } else { " (a rollback)" }
            )));
        }
        // What a rollback writes back comes from this row: it must be what its events say.
        let edited = self.ledger.action_differences(&row).await?;
        if !edited.is_empty() {
            let detail = edited.join("; ");
            self.ledger
                .append(
                    None,
                    "rollback.refused",
                    Some(&row.plan.resource),
                    &json!({"action_id": row.id, "by": by, "reason": "state_tampered", "detail": detail}),
                )
                .await?;
            return Err(EngineError::Refused(format!(
                "action `{}` is not rolled back: its row differs from its events ({detail})",
                row.id
            )));
        }
        self.rollback_needs_no_quorum(&row, who).await?;
        let st = self
            .begin(
                &format!("rollback:{}", row.id),
                crate::Mode::Execute,
                // Counted over the rolling window, like approved work (a run of its own
                // would start every per-run limit from zero).
                crate::Budget::RollingWindow,
            )
            .await?;
        let g = self.guarded(Work::Rollback { action: &row, by }, &st).await;
        let mut report = RollbackReport {
            action_id: row.id.clone(),
            rollback_action_id: None,
            outcome: None,
            calls: vec![],
            restored: None,
            exact: false,
            verdict: None,
            reasons: vec![],
            detail: None,
        };
        match &g {
            Ok(Guarded::Done {
                record, decision, ..
            }) => {
                report.rollback_action_id = Some(record.action_id.clone());
                report.outcome = Some(record.outcome);
                report.calls = record.calls.clone();
                report.restored = record.after.as_ref().map(|a| a["facet"].clone());
                report.exact = record.outcome == ActionOutcome::Executed
                    && row
                        .record
                        .as_ref()
                        .is_some_and(|r| Some(&r.before["facet"]) == report.restored.as_ref());
                report.detail = record.error.clone();
                if let Some(d) = decision {
                    report.verdict = Some(d.verdict);
                    report.reasons = d.reasons.clone();
                }
            }
            Ok(Guarded::NotNow { reason }) => {
                report.verdict = Some(reason.verdict);
                report.detail = Some(reason.message.clone());
                report.reasons = vec![reason.clone()];
            }
            Err(_) => {}
        }
        self.finish(st).await?;
        g?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_local_holder_can_be_taken_over() {
        let g = Guard {
            registry: Registry::default(),
            host: "h1".into(),
            admitting: tokio::sync::Mutex::new(()),
        };
        let me = g.holder();
        assert!(me.starts_with(&format!("h1:{}:", std::process::id())));
        assert!(!g.holder_is_dead(&me), "this process is alive");
        assert!(!g.holder_is_dead("h2:999999999:abcd1234"), "another host");
        assert!(!g.holder_is_dead("garbage"));
        if cfg!(target_os = "linux") {
            assert!(g.holder_is_dead("h1:999999999:abcd1234"));
        }
    }

    /// Only the guard holds executors: no other engine module names the registry, the
    /// mutating trait or the contract's mutating entry point.
    #[test]
    fn only_the_guard_holds_an_executor() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if name == "guard.rs" {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                for needle in [
                    "registry.get(",
                    "dyn Executor",
                    "contract::execute",
                    "custos_executor::execute",
                    ".apply(",
                    ".restore(",
                ] {
                    if text.contains(needle) {
                        offenders.push(format!("{name}: {needle}"));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
