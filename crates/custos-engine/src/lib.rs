//! The engine wires the layers: telemetry -> detect -> plan -> gate -> reasoning ->
//! autonomy/approval -> executor -> verify, writing every step to the ledger. It depends
//! on the layers' traits only and knows no cloud API.

pub mod config;
mod journal;
pub mod report;
pub mod service;

pub use config::{Config, ConfigErrors};
pub use report::{Outcome, RunReport, RunRow};

use chrono::Utc;
use custos_approval::autonomy_verdict;
use custos_core::{
    Approval, ApprovalStatus, ConfigurationItem, Decision, ExecutionRecord, Finding, Reason,
    RemediationPlan, Stage, Verdict, Verification, digest_json,
};
use custos_executor::{PlaybookSet, Registry, Verifier};
use custos_ledger::{DeadLetter, Ledger, Run};
use custos_policy::{
    BlackoutState, Evaluator, GateInput, PolicyBundle, RunContext, TimeFacts, WindowState,
};
use custos_reasoning::{Reasoner, ReviewRequest};
use custos_telemetry::{Oversized, Rejected, ResourceReader, Source};
use journal::LedgerJournal;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Ledger(#[from] custos_ledger::LedgerError),
    #[error(transparent)]
    Telemetry(#[from] custos_telemetry::TelemetryError),
    #[error(transparent)]
    Exec(#[from] custos_executor::ExecError),
    #[error(transparent)]
    Approval(#[from] custos_approval::ApprovalError),
    #[error("{0}")]
    Refused(String),
}

/// How a run treats cleared plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Execute what is cleared, request approvals.
    Execute,
    /// Decide and record "would execute"; call nothing, request nothing.
    Shadow,
    /// Decide only; write nothing to the ledger, call nothing (`custos plan`).
    DryRun,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Execute => "execute",
            Mode::Shadow => "shadow",
            Mode::DryRun => "dry-run",
        }
    }
}

/// Everything the engine stands on.
#[derive(Debug)]
pub struct Parts {
    pub config: Config,
    pub bundle: PolicyBundle,
    pub playbooks: PlaybookSet,
    pub registry: Registry,
    pub reasoner: Arc<dyn Reasoner>,
    pub reader: Arc<dyn ResourceReader>,
    pub ledger: Arc<Ledger>,
    /// Who is running custos (recorded as the requester of approvals).
    pub actor: String,
}

#[derive(Debug)]
pub struct Engine {
    parts: Parts,
    evaluator: Mutex<Evaluator>,
}

/// One run in progress.
#[derive(Debug)]
pub struct RunState {
    pub mode: Mode,
    ctx: RunContext,
    /// Window counts and inventory sizes at the start of the run.
    gate_base: GateInput,
    blast_logged: bool,
    pub report: RunReport,
}

impl RunState {
    fn records(&self) -> bool {
        self.mode != Mode::DryRun
    }

    fn run_id(&self) -> &str {
        &self.report.run_id
    }
}

/// Why custos would do what it does to one resource.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    pub resource: custos_core::ResourceRef,
    pub environment: String,
    pub controls: Vec<ControlResult>,
    pub decisions: Vec<(RemediationPlan, Decision)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ControlResult {
    pub id: String,
    pub title: String,
    pub passed: bool,
    pub messages: Vec<String>,
    pub frameworks: BTreeMap<String, Vec<String>>,
}

/// What happened to one configuration item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Processed,
    Duplicate,
    Superseded,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Processed => "processed",
            Disposition::Duplicate => "duplicate",
            Disposition::Superseded => "superseded",
        }
    }
}

/// Verifies a fix by evaluating the plan's control on the state read back.
struct PolicyVerifier<'a>(&'a Mutex<Evaluator>);

impl Verifier for PolicyVerifier<'_> {
    fn verify(&self, plan: &RemediationPlan, after: &ConfigurationItem) -> Verification {
        let result = match self.0.lock() {
            Ok(mut ev) => ev
                .control_passes(&plan.control_id, after)
                .map_err(|e| e.to_string()),
            Err(_) => Err("policy evaluator lock poisoned".into()),
        };
        match result {
            Ok(true) => Verification {
                passed: true,
                method: "control".into(),
                detail: format!(
                    "control `{}` passes on the state read back",
                    plan.control_id
                ),
            },
            Ok(false) => Verification {
                passed: false,
                method: "control".into(),
                detail: format!(
                    "control `{}` still fails on the state read back",
                    plan.control_id
                ),
            },
            Err(e) => Verification {
                passed: false,
                method: "control".into(),
                detail: e,
            },
        }
    }
}

fn short_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

impl Engine {
    /// The gate's view of time: change windows and blackouts evaluated now.
    pub fn time_facts(&self, now: chrono::DateTime<Utc>) -> TimeFacts {
        let cfg = &self.parts.config;
        TimeFacts {
            now: now.to_rfc3339(),
            today: now.format("%Y-%m-%d").to_string(),
            windows: cfg
                .change_windows
                .iter()
                .flat_map(|w| {
                    w.environments.iter().map(move |e| WindowState {
                        name: w.name.clone(),
                        environment: e.clone(),
                        open: w.active_at(now),
                    })
                })
                .collect(),
            blackouts: cfg
                .blackouts
                .iter()
                .map(|b| BlackoutState {
                    name: b.name.clone(),
                    environments: b.environments.clone(),
                    active: b.active_at(now),
                })
                .collect(),
        }
    }

    fn gate_input(&self, st: &RunState) -> GateInput {
        let mut g = st.gate_base.clone();
        g.window.executions += st.ctx.executions_so_far;
        g.run = st.ctx.clone();
        g.time = self.time_facts(Utc::now());
        g
    }

    /// Window counts and inventory sizes from the ledger.
    async fn gate_base(&self) -> Result<GateInput, EngineError> {
        let hours = self.parts.config.window_hours;
        let mut g = GateInput::default();
        g.window.hours = hours;
        g.window.executions = self
            .parts
            .ledger
            .executions_since(&(Utc::now() - chrono::Duration::hours(hours)))
            .await?;
        for (class, n) in self.parts.ledger.observed_by_class().await? {
            g.set_class_count(&class, n);
        }
        Ok(g)
    }

    pub fn new(parts: Parts) -> Self {
        let evaluator = Mutex::new(parts.bundle.evaluator());
        Engine { parts, evaluator }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.parts.ledger
    }

    pub fn config(&self) -> &Config {
        &self.parts.config
    }

    pub fn bundle(&self) -> &PolicyBundle {
        &self.parts.bundle
    }

    fn detect(&self, ci: &ConfigurationItem) -> Result<Vec<Finding>, String> {
        let mut ev = self
            .evaluator
            .lock()
            .map_err(|_| "policy evaluator lock poisoned".to_string())?;
        ev.detect(ci).map_err(|e| e.to_string())
    }

    fn gate(&self, plan: &RemediationPlan, input: &GateInput) -> custos_policy::GateOutcome {
        match self.evaluator.lock() {
            Ok(mut ev) => ev.gate(plan, input),
            Err(_) => custos_policy::GateOutcome {
                verdict: Verdict::NeedsApproval,
                reasons: vec![Reason {
                    stage: Stage::Gate,
                    rule: "gate.error".into(),
                    verdict: Verdict::NeedsApproval,
                    message: "policy evaluator lock poisoned".into(),
                }],
            },
        }
    }

    /// Start a run: recorded in the ledger (unless a dry run); interrupted actions are
    /// settled and approvals past their expiry expire first.
    pub async fn begin(&self, source: &str, mode: Mode) -> Result<RunState, EngineError> {
        let mut st = RunState {
            mode,
            ctx: RunContext::default(),
            gate_base: self.gate_base().await?,
            blast_logged: false,
            report: RunReport {
                run_id: short_id("run"),
                mode: mode.as_str().into(),
                source: source.to_string(),
                policy_digest: self.parts.bundle.digest().to_string(),
                ..RunReport::default()
            },
        };
        if !st.records() {
            return Ok(st);
        }
        self.parts
            .ledger
            .start_run(&Run {
                id: st.report.run_id.clone(),
                started_at: Utc::now(),
                finished_at: None,
                mode: mode.as_str().into(),
                source: source.to_string(),
                requested_by: self.parts.actor.clone(),
                policy_digest: self.parts.bundle.digest().to_string(),
                summary: None,
            })
            .await?;
        st.report.reconciled = self.reconcile().await?;
        self.expire_due().await?;
        if mode == Mode::Execute {
            for a in self
                .parts
                .ledger
                .approvals(Some(ApprovalStatus::Approved))
                .await?
            {
                let row = self
                    .execute_approved(&a, Some(st.run_id()), &st.gate_base)
                    .await?;
                st.report.rows.push(row);
            }
        }
        Ok(st)
    }

    pub async fn finish(&self, mut st: RunState) -> Result<RunReport, EngineError> {
        if st.records() {
            self.parts
                .ledger
                .finish_run(st.run_id(), &st.report.summary())
                .await?;
        }
        st.report.rows.sort_by(|a, b| {
            a.resource
                .resource_id
                .cmp(&b.resource.resource_id)
                .then(a.control.cmp(&b.control))
        });
        Ok(st.report)
    }

    /// Keep an input that could not be processed, with the reason.
    pub async fn dead_letter(
        &self,
        st: &mut RunState,
        source: &str,
        r: &Rejected,
    ) -> Result<(), EngineError> {
        st.report.rejected.push(r.clone());
        if st.records() {
            self.parts
                .ledger
                .dead_letter(&DeadLetter {
                    id: short_id("dl"),
                    at: Utc::now(),
                    run_id: Some(st.run_id().to_string()),
                    source: source.to_string(),
                    location: r.location.clone(),
                    field: r.field.clone(),
                    error: r.error.clone(),
                    raw: r.raw.clone(),
                })
                .await?;
        }
        Ok(())
    }

    /// An oversized notification: read the resource it names and process what is there now.
    /// A resource that cannot be read is dead-lettered, never dropped.
    pub async fn resolve_oversized(
        &self,
        st: &mut RunState,
        source: &str,
        o: &Oversized,
    ) -> Result<Disposition, EngineError> {
        let r = o.summary.resource_ref();
        match self.parts.reader.read(&r).await {
            Ok(Some(mut ci)) => {
                // The state read now is at least as new as the notification.
                if ci.configuration_item_capture_time < o.summary.configuration_item_capture_time {
                    ci.configuration_item_capture_time = o.summary.configuration_item_capture_time;
                }
                self.process(st, ci).await
            }
            Ok(None) => {
                if st.records() {
                    self.parts
                        .ledger
                        .append(
                            Some(st.run_id()),
                            "input.resource_gone",
                            Some(&r),
                            &json!({"location": o.location}),
                        )
                        .await?;
                }
                Ok(Disposition::Processed)
            }
            Err(e) => {
                let rej = Rejected {
                    location: o.location.clone(),
                    field: Some("configurationItemSummary".into()),
                    error: format!(
                        "oversized item could not be resolved by reading the resource: {e}"
                    ),
                    raw: o.summary.to_json().to_string(),
                };
                self.dead_letter(st, source, &rej).await?;
                Ok(Disposition::Processed)
            }
        }
    }

    /// Collect from `source`, then detect, plan, decide and (per `mode`) act.
    pub async fn run_once(
        &self,
        source: &dyn Source,
        mode: Mode,
    ) -> Result<RunReport, EngineError> {
        let mut st = self.begin(&source.name(), mode).await?;
        let batch = source.collect().await?;
        for r in &batch.rejected {
            self.dead_letter(&mut st, &source.name(), r).await?;
        }
        // The percentage rule compares with the larger of what this scan sees and what
        // custos has seen before.
        let mut seen: BTreeMap<String, u64> = BTreeMap::new();
        for ci in &batch.items {
            *seen.entry(ci.resource_ref().class()).or_default() += 1;
        }
        for (class, n) in seen {
            let known = st
                .gate_base
                .inventory
                .get("count_by_class")
                .and_then(|m| m.get(&class))
                .copied()
                .unwrap_or(0);
            st.gate_base.set_class_count(&class, known.max(n));
        }
        // Oldest first, so a newer capture of the same resource supersedes an older one.
        let mut items = batch.items;
        items.sort_by(|a, b| {
            a.configuration_item_capture_time
                .cmp(&b.configuration_item_capture_time)
                .then(a.resource_id.cmp(&b.resource_id))
        });
        let mut latest: BTreeMap<String, ConfigurationItem> = BTreeMap::new();
        for ci in items {
            if latest
                .insert(custos_ledger::resource_key(&ci.resource_ref()), ci)
                .is_some()
            {
                st.report.duplicates += 1;
            }
        }
        for ci in latest.into_values() {
            self.process(&mut st, ci).await?;
        }
        for o in &batch.oversized {
            self.resolve_oversized(&mut st, &source.name(), o).await?;
        }
        self.finish(st).await
    }

    /// Process one configuration item through the whole sandwich.
    pub async fn process(
        &self,
        st: &mut RunState,
        ci: ConfigurationItem,
    ) -> Result<Disposition, EngineError> {
        let ledger = &self.parts.ledger;
        let resource = ci.resource_ref();
        let state_digest = digest_json(&ci.to_json());
        if st.records()
            && let Some((seen, digest)) = ledger.last_observation(&resource).await?
        {
            if ci.configuration_item_capture_time < seen {
                st.report.superseded += 1;
                ledger
                        .append(Some(st.run_id()), "input.superseded", Some(&resource), &json!({"capture_time": ci.configuration_item_capture_time, "newest_processed": seen}))
                        .await?;
                return Ok(Disposition::Superseded);
            }
            if ci.configuration_item_capture_time == seen && digest == state_digest.as_str() {
                st.report.duplicates += 1;
                return Ok(Disposition::Duplicate);
            }
        }
        self.evaluate(st, &ci, &state_digest).await?;
        if st.records() {
            // Only after every outcome is durable: a crash before this line means the item
            // is processed again (and the executor finds the work done).
            ledger
                .observe(
                    &resource,
                    &ci.configuration_item_capture_time,
                    state_digest.as_str(),
                )
                .await?;
        }
        Ok(Disposition::Processed)
    }

    async fn evaluate(
        &self,
        st: &mut RunState,
        ci: &ConfigurationItem,
        state_digest: &custos_core::Digest,
    ) -> Result<(), EngineError> {
        let ledger = &self.parts.ledger;
        let run_id = st.run_id().to_string();
        let record = st.records();
        st.report.resources += 1;
        let findings = match self.detect(ci) {
            Ok(f) => f,
            Err(e) => {
                // A policy that cannot evaluate a resource is an escalation, recorded.
                st.report.rows.push(RunRow::error(ci.resource_ref(), &e));
                if record {
                    ledger
                        .append(
                            Some(&run_id),
                            "detect.error",
                            Some(&ci.resource_ref()),
                            &json!({"error": e}),
                        )
                        .await?;
                }
                return Ok(());
            }
        };
        if record {
            let applicable: Vec<&str> = self
                .parts
                .bundle
                .controls()
                .iter()
                .filter(|c| c.resource_types.contains(&ci.resource_type))
                .map(|c| c.id.as_str())
                .collect();
            let failing: Vec<&str> = findings.iter().map(|f| f.control_id.as_str()).collect();
            ledger
                .append(Some(&run_id), "resource.evaluated", Some(&ci.resource_ref()), &json!({
                    "capture_time": ci.configuration_item_capture_time, "state_digest": state_digest,
                    "controls": applicable, "failing": failing,
                }))
                .await?;
        }
        if findings.is_empty() {
            st.report.compliant += 1;
            return Ok(());
        }
        let mut by_control: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        for f in findings {
            by_control.entry(f.control_id.clone()).or_default().push(f);
        }
        for (control, findings) in by_control {
            st.report.findings += findings.len();
            if record {
                for f in &findings {
                    ledger
                        .append(
                            Some(&run_id),
                            "finding",
                            Some(&f.resource),
                            &serde_json::to_value(f).unwrap_or_default(),
                        )
                        .await?;
                }
            }
            let environment = self.parts.config.environments.of(&ci.tags);
            let Some(plan) =
                self.parts
                    .playbooks
                    .plan(&self.parts.registry, &findings[0], ci, &environment)
            else {
                st.report.rows.push(RunRow::no_playbook(&findings[0]));
                continue;
            };
            let mut plan = plan;
            plan.production = self
                .parts
                .config
                .environments
                .is_production(&plan.environment);
            let decision = self.decide(&plan, &findings, &self.gate_input(st)).await;
            if record
                && !st.blast_logged
                && decision
                    .reasons
                    .iter()
                    .any(|r| r.rule.starts_with("gate.blast_radius"))
            {
                st.blast_logged = true;
                ledger
                    .append(Some(&run_id), "run.blast_radius_reached", None, &json!({"limits": {"per_run": self.parts.config.gate["max_actions_per_run"], "per_account": self.parts.config.gate["max_actions_per_account_per_run"], "per_window": self.parts.config.gate["max_actions_per_window"], "percent_of_class": self.parts.config.gate["max_percent_of_class"]}, "executions": st.ctx.executions_so_far, "rules": decision.reasons.iter().filter(|r| r.rule.starts_with("gate.blast_radius")).map(|r| r.rule.clone()).collect::<Vec<_>>()}))
                    .await?;
            }
            if record {
                ledger
                    .append(
                        Some(&run_id),
                        "decision",
                        Some(&plan.resource),
                        &json!({"control": control, "plan": plan, "decision": decision}),
                    )
                    .await?;
            }
            let mut row = RunRow::decided(&plan, &decision, &findings);
            match (decision.verdict, st.mode) {
                (Verdict::Execute, Mode::Execute) => {
                    let rec = self.execute_plan(&plan, Some(&run_id), None).await?;
                    if !rec.calls.is_empty() {
                        st.ctx.count(&plan);
                    }
                    row.set_execution(&rec);
                }
                (Verdict::Execute, Mode::Shadow) => {
                    st.ctx.count(&plan);
                    row.outcome = Outcome::WouldExecute;
                    ledger
                        .append(
                            Some(&run_id),
                            "shadow.would_execute",
                            Some(&plan.resource),
                            &json!({"plan_id": plan.id}),
                        )
                        .await?;
                }
                (Verdict::Execute, Mode::DryRun) => {
                    st.ctx.count(&plan);
                    row.outcome = Outcome::WouldExecute;
                }
                (Verdict::NeedsApproval, Mode::Execute) => {
                    let approval = custos_approval::request(
                        plan.clone(),
                        decision.clone(),
                        findings.clone(),
                        Some(run_id.clone()),
                        &self.parts.actor,
                        Utc::now(),
                        self.parts.config.approval_ttl,
                    );
                    let (a, _new) = ledger.request_approval(&approval).await?;
                    row.approval_id = Some(a.id);
                    row.outcome = Outcome::AwaitingApproval;
                }
                (Verdict::NeedsApproval, _) => row.outcome = Outcome::WouldAskApproval,
                (Verdict::RecommendOnly, _) => row.outcome = Outcome::Recommended,
                (Verdict::Deny, _) => row.outcome = Outcome::Denied,
            }
            st.report.rows.push(row);
        }
        Ok(())
    }

    /// Gate, reasoning and autonomy over one plan: the most cautious verdict wins.
    async fn decide(
        &self,
        plan: &RemediationPlan,
        findings: &[Finding],
        ctx: &GateInput,
    ) -> Decision {
        let gate = self.gate(plan, ctx);
        let request = ReviewRequest {
            plan,
            findings,
            gate_verdict: gate.verdict,
            gate_reasons: &gate.reasons,
        };
        let checked = custos_reasoning::check(
            self.parts.reasoner.as_ref(),
            &request,
            self.parts.config.reasoning_timeout,
        )
        .await;
        let class = plan.resource.class();
        let level = self.parts.config.autonomy.level(&class, &plan.environment);
        let production = self
            .parts
            .config
            .environments
            .is_production(&plan.environment);
        let (allowed, autonomy_reason) = autonomy_verdict(level, &plan.environment, production);
        let verdict = gate
            .verdict
            .most_cautious(checked.verdict)
            .most_cautious(allowed);
        let mut reasons = gate.reasons.clone();
        reasons.extend(checked.reason);
        reasons.extend(autonomy_reason);
        Decision {
            verdict,
            gate_verdict: gate.verdict,
            reasons,
            policy_digest: self.parts.bundle.digest().clone(),
            playbook: plan.playbook.clone(),
            playbook_version: plan.playbook_version.clone(),
            reasoner: checked.record,
            autonomy: level,
            environment: plan.environment.clone(),
            input_digest: digest_json(
                &json!({"plan": plan, "findings": findings, "run": ctx, "gate": gate.reasons}),
            ),
        }
    }

    fn executor(&self, action: &str) -> Result<&Arc<dyn custos_executor::Executor>, EngineError> {
        self.parts
            .registry
            .get(action)
            .ok_or_else(|| EngineError::Refused(format!("no executor for `{action}`")))
    }

    async fn execute_plan(
        &self,
        plan: &RemediationPlan,
        run_id: Option<&str>,
        approval_id: Option<&str>,
    ) -> Result<ExecutionRecord, EngineError> {
        let executor = self.executor(&plan.action)?;
        let journal = LedgerJournal {
            ledger: &self.parts.ledger,
            run_id,
            approval_id,
            plan,
        };
        let verifier = PolicyVerifier(&self.evaluator);
        Ok(custos_executor::execute(
            executor.as_ref(),
            self.parts.reader.as_ref(),
            &verifier,
            &journal,
            plan,
            &short_id("act"),
        )
        .await?)
    }

    /// Settle every action whose intent has no outcome (the process died mid-action), by
    /// reading state. Returns how many were settled.
    pub async fn reconcile(&self) -> Result<usize, EngineError> {
        let open = self.parts.ledger.open_intents().await?;
        for row in &open {
            let executor = self.executor(&row.plan.action)?;
            let journal = LedgerJournal {
                ledger: &self.parts.ledger,
                run_id: row.run_id.as_deref(),
                approval_id: row.approval_id.as_deref(),
                plan: &row.plan,
            };
            let verifier = PolicyVerifier(&self.evaluator);
            let rec = custos_executor::reconcile(
                executor.as_ref(),
                self.parts.reader.as_ref(),
                &verifier,
                &journal,
                &row.plan,
                &row.id,
            )
            .await?;
            if let Some(approval_id) = &row.approval_id
                && let Ok(a) = self.parts.ledger.approval(approval_id).await
                && a.status == ApprovalStatus::Approved
            {
                let stale = rec.outcome == custos_core::ActionOutcome::Stale;
                let mut closed = a.clone();
                closed.status = if stale {
                    ApprovalStatus::Stale
                } else {
                    ApprovalStatus::Executed
                };
                self.parts
                    .ledger
                    .transition_approval(&closed, &[ApprovalStatus::Approved], "approval.executed")
                    .await?;
            }
        }
        Ok(open.len())
    }

    /// Re-verification sweep: every resource custos fixed is read again; one that fails
    /// its control again is recorded as a recurrence and goes through the sandwich again
    /// (within the autonomy rules, like any finding).
    pub async fn reverify(&self, mode: Mode) -> Result<RunReport, EngineError> {
        let mut st = self.begin("reverify", mode).await?;
        for fix in self.parts.ledger.executed_fixes().await? {
            let r = &fix.plan.resource;
            let ci = match self.parts.reader.read(r).await {
                Ok(Some(ci)) => ci,
                Ok(None) => continue,
                Err(e) => {
                    let rej = Rejected {
                        location: format!("reverify:{}", custos_ledger::resource_key(r)),
                        field: None,
                        error: e.to_string(),
                        raw: String::new(),
                    };
                    self.dead_letter(&mut st, "reverify", &rej).await?;
                    continue;
                }
            };
            let passes = {
                let mut ev = self
                    .evaluator
                    .lock()
                    .map_err(|_| EngineError::Refused("policy evaluator lock poisoned".into()))?;
                ev.control_passes(&fix.plan.control_id, &ci)
                    .map_err(|e| EngineError::Refused(e.to_string()))?
            };
            if passes {
                if st.records() {
                    self.parts
                        .ledger
                        .append(
                            Some(st.run_id()),
                            "reverify.ok",
                            Some(r),
                            &json!({"control": fix.plan.control_id, "action_id": fix.id}),
                        )
                        .await?;
                }
                continue;
            }
            st.report.recurrences += 1;
            if st.records() {
                self.parts
                    .ledger
                    .append(Some(st.run_id()), "recurrence", Some(r), &json!({"control": fix.plan.control_id, "fixed_by": fix.id, "fixed_at": fix.finished_at}))
                    .await?;
            }
            self.process(&mut st, ci).await?;
        }
        self.finish(st).await
    }

    /// For one configuration item: every applicable control and whether it passes, and
    /// for each failing one the plan, every gate rule that fired, the reasoner's view, the
    /// autonomy level and the final verdict. Changes nothing.
    pub async fn explain(&self, ci: &ConfigurationItem) -> Result<Explanation, EngineError> {
        let findings = self.detect(ci).map_err(EngineError::Refused)?;
        let mut controls = Vec::new();
        for c in self
            .parts
            .bundle
            .controls()
            .iter()
            .filter(|c| c.resource_types.contains(&ci.resource_type))
        {
            let messages: Vec<String> = findings
                .iter()
                .filter(|f| f.control_id == c.id)
                .map(|f| f.message.clone())
                .collect();
            controls.push(ControlResult {
                id: c.id.clone(),
                title: c.title.clone(),
                passed: messages.is_empty(),
                messages,
                frameworks: c.frameworks.clone(),
            });
        }
        let mut base = self.gate_base().await?;
        base.time = self.time_facts(Utc::now());
        let mut decisions = Vec::new();
        let environment = self.parts.config.environments.of(&ci.tags);
        for c in controls.iter().filter(|c| !c.passed) {
            let Some(f) = findings.iter().find(|f| f.control_id == c.id) else {
                continue;
            };
            let Some(mut plan) =
                self.parts
                    .playbooks
                    .plan(&self.parts.registry, f, ci, &environment)
            else {
                continue;
            };
            plan.production = self
                .parts
                .config
                .environments
                .is_production(&plan.environment);
            let related: Vec<Finding> = findings
                .iter()
                .filter(|x| x.control_id == c.id)
                .cloned()
                .collect();
            let decision = self.decide(&plan, &related, &base).await;
            decisions.push((plan, decision));
        }
        Ok(Explanation {
            resource: ci.resource_ref(),
            environment,
            controls,
            decisions,
        })
    }

    /// Expire every pending or approved request past its expiry.
    pub async fn expire_due(&self) -> Result<usize, EngineError> {
        let now = Utc::now();
        let mut n = 0;
        for status in [ApprovalStatus::Pending, ApprovalStatus::Approved] {
            for a in self.parts.ledger.approvals(Some(status)).await? {
                if let Some(expired) = custos_approval::expire_if_due(&a, now) {
                    self.parts
                        .ledger
                        .transition_approval(&expired, &[status], "approval.expired")
                        .await?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// A human approves a request; with `execute`, it runs now (after the stale check).
    pub async fn approve(
        &self,
        id: &str,
        by: &str,
        comment: Option<String>,
        execute: bool,
    ) -> Result<(Approval, Option<RunRow>), EngineError> {
        self.expire_due().await?;
        let a = self.parts.ledger.approval(id).await?;
        let approved = custos_approval::approve(&a, by, comment, Utc::now())?;
        self.parts
            .ledger
            .transition_approval(&approved, &[ApprovalStatus::Pending], "approval.approved")
            .await?;
        if !execute {
            return Ok((approved, None));
        }
        let base = self.gate_base().await?;
        let row = self.execute_approved(&approved, None, &base).await?;
        let after = self.parts.ledger.approval(&approved.id).await?;
        Ok((after, Some(row)))
    }

    async fn execute_approved(
        &self,
        a: &Approval,
        run_id: Option<&str>,
        base: &GateInput,
    ) -> Result<RunRow, EngineError> {
        // An approval lifts `needs_approval`, nothing more: a deny (an exclusion added
        // since) or a deferral (a blackout, a blast-radius limit) still holds. The request
        // stays approved and is tried again by the next run until it expires.
        let mut input = base.clone();
        input.time = self.time_facts(Utc::now());
        let gate = self.gate(&a.plan, &input);
        if gate.verdict >= Verdict::RecommendOnly {
            let blocking: Vec<&Reason> = gate
                .reasons
                .iter()
                .filter(|r| r.verdict >= Verdict::RecommendOnly)
                .collect();
            self.parts
                .ledger
                .append(
                    run_id.or(a.run_id.as_deref()),
                    "approval.blocked_by_gate",
                    Some(&a.plan.resource),
                    &json!({"approval_id": a.id, "reasons": blocking}),
                )
                .await?;
            let mut row = RunRow::decided(&a.plan, &a.decision, &a.findings);
            row.approval_id = Some(a.id.clone());
            row.verdict = Some(gate.verdict);
            row.reasons = blocking.iter().map(|r| r.rule.clone()).collect();
            row.outcome = if gate.verdict == Verdict::Deny {
                Outcome::Denied
            } else {
                Outcome::Recommended
            };
            row.detail = Some(format!(
                "approved, but not executed now: {}",
                blocking
                    .iter()
                    .map(|r| r.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            return Ok(row);
        }
        let rec = self
            .execute_plan(&a.plan, run_id.or(a.run_id.as_deref()), Some(&a.id))
            .await?;
        let stale = rec.outcome == custos_core::ActionOutcome::Stale;
        let closed = custos_approval::close(a, stale, Utc::now())?;
        self.parts
            .ledger
            .transition_approval(
                &closed,
                &[ApprovalStatus::Approved],
                if stale {
                    "approval.stale"
                } else {
                    "approval.executed"
                },
            )
            .await?;
        let mut row = RunRow::decided(&a.plan, &a.decision, &a.findings);
        row.approval_id = Some(a.id.clone());
        row.set_execution(&rec);
        Ok(row)
    }

    /// Restore the before state of an executed action and check it by reading back.
    pub async fn rollback(
        &self,
        action_id: &str,
        by: &str,
    ) -> Result<custos_executor::contract::RollbackResult, EngineError> {
        let row = self.parts.ledger.action(action_id).await?;
        let record = match (&row.record, row.status.as_str()) {
            (Some(r), "executed") => r.clone(),
            (_, status) => {
                return Err(EngineError::Refused(format!(
                    "action `{}` is `{status}`; only an executed action can be rolled back",
                    row.id
                )));
            }
        };
        let executor = self.executor(&row.plan.action)?;
        let result = custos_executor::rollback(
            executor.as_ref(),
            self.parts.reader.as_ref(),
            &row.plan,
            &record,
        )
        .await?;
        self.parts
            .ledger
            .action_reverted(&row.id, by, &json!({"calls": result.calls, "restored": result.restored, "exact": result.exact, "before": record.before["facet"]}))
            .await?;
        Ok(result)
    }
}
