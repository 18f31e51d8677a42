//! A run: collect, keep the newest capture per resource, and per item detect, plan and
//! decide. Cleared plans go to the guard; the rest to the approval queue or the report.

use crate::guard::{Guarded, Work};
use crate::learning::candidates::Planned;
use crate::report::{Outcome, RunReport, RunRow};
use crate::{Budget, Engine, EngineError, Mode, RunState, short_id};
use custos_core::{
    ActionOutcome, ConfigurationItem, Decision, Finding, RemediationPlan, ResourceRef, Verdict,
    digest_json,
};
use custos_ledger::{Counts, DeadLetter, GuardSnapshot, Run};
use custos_telemetry::{Oversized, Rejected, Source};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

/// A fresh read keeps the creation time a notification gave when the read has none (a
/// scanner's single read cannot say, and a resource's creation time never changes): the
/// new-resource grace period must not be lost by reading again. Only a time no later
/// than the fresh read's capture is kept: the notification is not trusted, and a forged
/// future creation time would hold the fix.
fn with_creation_time(
    mut fresh: ConfigurationItem,
    noticed: &ConfigurationItem,
) -> ConfigurationItem {
    if fresh.resource_creation_time.is_none() {
        fresh.resource_creation_time = noticed
            .resource_creation_time
            .filter(|t| *t <= fresh.configuration_item_capture_time);
    }
    fresh
}

/// Did the percentage-of-class limit defer this decision?
pub(crate) fn deferred_by_percent(decision: &Decision) -> bool {
    decision
        .reasons
        .iter()
        .any(|r| r.rule == "gate.blast_radius.percent")
}

/// Events of one item waiting for their transaction: kind, resource, payload.
type Pending = Vec<(&'static str, ResourceRef, serde_json::Value)>;

/// What happened to one configuration item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Processed,
    Duplicate,
    Superseded,
    /// Refused before evaluation (future capture time, an account custos does not manage).
    DeadLetter,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Processed => "processed",
            Disposition::Duplicate => "duplicate",
            Disposition::Superseded => "superseded",
            Disposition::DeadLetter => "dead_letter",
        }
    }
}

/// Where an item comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A notification of some capture (SQS, replay, Config API): older captures than the
    /// newest processed one are superseded.
    Notification,
    /// A read of the resource now (scan, re-verification, oversized resolution): always
    /// processed, whatever was processed before.
    FreshRead,
}

/// Why custos would do what it does to one resource.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    pub resource: custos_core::ResourceRef,
    pub environment: custos_core::Environment,
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

fn count(c: &mut Counts, plan: &RemediationPlan) {
    c.total += 1;
    *c.by_account
        .entry(plan.resource.account.clone())
        .or_default() += 1;
    *c.by_class.entry(plan.resource.class()).or_default() += 1;
}

impl Engine {
    /// A run's state before it starts: the resources custos knows, counted per class.
    async fn run_state(&self, mode: Mode, budget: Budget) -> Result<RunState, EngineError> {
        let mut st = RunState {
            mode,
            budget,
            known: Default::default(),
            class_sizes: BTreeMap::new(),
            would_execute: Counts::default(),
            blast_logged: false,
            batch: None,
            report: RunReport::default(),
        };
        st.know_keys(self.ledger.known_resources().await?);
        Ok(st)
    }

    /// Start a run: recorded in the ledger (unless a dry run); interrupted actions are
    /// settled and approvals past their expiry expire first.
    pub async fn begin(
        &self,
        source: &str,
        mode: Mode,
        budget: Budget,
    ) -> Result<RunState, EngineError> {
        let mut st = self.run_state(mode, budget).await?;
        st.report = RunReport {
            run_id: short_id("run"),
            mode: mode.as_str().into(),
            source: source.to_string(),
            policy_digest: self.bundle.digest().to_string(),
            ..RunReport::default()
        };
        if !st.records() {
            return Ok(st);
        }
        // The policy this run decides with, kept so that `custos replay` can use it again.
        let snapshot = serde_json::to_value(self.bundle.snapshot())
            .map_err(|e| EngineError::Refused(format!("policy snapshot: {e}")))?;
        self.ledger
            .keep_policy(
                &self.policy_snapshot,
                self.bundle.digest().as_str(),
                &snapshot,
            )
            .await?;
        self.ledger
            .start_run(&Run {
                id: st.report.run_id.clone(),
                started_at: self.now(),
                finished_at: None,
                mode: mode.as_str().into(),
                source: source.to_string(),
                requested_by: self.actor.clone(),
                policy_digest: self.bundle.digest().to_string(),
                summary: None,
            })
            .await?;
        let settled = self.reconcile().await?;
        st.report.reconciled = settled.settled;
        st.report.unsettled = settled.left_open;
        self.expire_due().await?;
        Ok(st)
    }

    pub async fn finish(&self, mut st: RunState) -> Result<RunReport, EngineError> {
        if st.records() {
            self.ledger
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
            self.ledger
                .dead_letter(&DeadLetter {
                    id: short_id("dl"),
                    at: self.now(),
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

    /// A change event for a type whose Config item lacks what custos adds
    /// (`config_api::LIVE`: a queue's policy, a user's credentials, ...): judged alone it
    /// would pass what it cannot see. The resource it names is read now and that is
    /// processed. An event older than custos' last look at the resource is superseded
    /// without a read; a read that fails is an error, so the message is delivered again
    /// (and dead-lettered only after its last receive), never dropped. Account-wide
    /// types are keyed in region `global`, whatever region the event came from.
    pub async fn resolve_live(
        &self,
        st: &mut RunState,
        ci: ConfigurationItem,
    ) -> Result<Disposition, EngineError> {
        let mut r = ci.resource_ref();
        if custos_telemetry::services::Kind::of(&r.resource_type).is_some_and(|k| k.global()) {
            r.region = custos_telemetry::services::iam::GLOBAL.to_string();
        }
        if !self.reader.covers(&r) {
            return self.refuse_uncovered(st, &ci, &r).await;
        }
        if st.records()
            && let Some((seen, _)) = self.ledger.last_observation(&r).await?
            && ci.configuration_item_capture_time < seen
        {
            st.report.superseded += 1;
            self.ledger
                .append(Some(st.run_id()), "input.superseded", Some(&r), &json!({"capture_time": ci.configuration_item_capture_time, "newest_processed": seen}))
                .await?;
            return Ok(Disposition::Superseded);
        }
        match self.reader.read(&r).await? {
            Some(fresh) => {
                let fresh = with_creation_time(fresh, &ci);
                self.process(st, fresh, Origin::FreshRead).await
            }
            None => {
                let at = json!({"capture_time": ci.configuration_item_capture_time});
                self.record_gone(st, &r, &at).await
            }
        }
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
        if !self.reader.covers(&r) {
            return self.refuse_uncovered(st, &o.summary, &r).await;
        }
        match self.reader.read(&r).await {
            Ok(Some(ci)) => {
                let ci = with_creation_time(ci, &o.summary);
                self.process(st, ci, Origin::FreshRead).await
            }
            Ok(None) => {
                self.record_gone(st, &r, &json!({"location": o.location}))
                    .await
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
                Ok(Disposition::DeadLetter)
            }
        }
    }

    /// Collect from `source`, then detect, plan, decide and (per `mode`) act: one run.
    pub async fn run_once(
        &self,
        source: &dyn Source,
        mode: Mode,
    ) -> Result<RunReport, EngineError> {
        self.run_with(source, mode, Budget::PerRun).await
    }

    pub(crate) async fn run_with(
        &self,
        source: &dyn Source,
        mode: Mode,
        budget: Budget,
    ) -> Result<RunReport, EngineError> {
        let mut st = self.begin(&source.name(), mode, budget).await?;
        if mode == Mode::Execute {
            self.execute_approved_all(&mut st).await?;
        }
        let batch = source.collect().await?;
        for r in &batch.rejected {
            self.dead_letter(&mut st, &source.name(), r).await?;
        }
        // The percentage rule compares with the larger of what this scan sees and what
        // custos has seen before.
        let named: Vec<_> = batch.items.iter().map(|ci| ci.resource_ref()).collect();
        st.note_resources(&named);
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
        let origin = if source.fresh() {
            Origin::FreshRead
        } else {
            Origin::Notification
        };
        // Every item is decided first (one guard snapshot for the batch; the fixes decided
        // so far count against its limits), then the fixes run concurrently, each through
        // the guard, which decides again at its admission.
        st.batch = Some(self.start_batch(&st).await?);
        for ci in latest.into_values() {
            self.process(&mut st, ci, origin).await?;
        }
        for o in &batch.oversized {
            self.resolve_oversized(&mut st, &source.name(), o).await?;
        }
        self.run_batch(&mut st).await?;
        self.finish(st).await
    }

    /// An item for an account or region custos does not manage (or spoofed): kept, not
    /// processed.
    async fn refuse_uncovered(
        &self,
        st: &mut RunState,
        ci: &ConfigurationItem,
        r: &ResourceRef,
    ) -> Result<Disposition, EngineError> {
        let error = format!(
            "account `{}` in `{}` is not one custos is configured for",
            r.account, r.region
        );
        self.refuse_item(st, ci, "awsAccountId", error).await
    }

    /// A resource a notification named and a read found gone: recorded, nothing to do.
    async fn record_gone(
        &self,
        st: &RunState,
        r: &ResourceRef,
        payload: &serde_json::Value,
    ) -> Result<Disposition, EngineError> {
        if st.records() {
            self.ledger
                .append(Some(st.run_id()), "input.resource_gone", Some(r), payload)
                .await?;
        }
        Ok(Disposition::Processed)
    }

    async fn refuse_item(
        &self,
        st: &mut RunState,
        ci: &ConfigurationItem,
        field: &str,
        error: String,
    ) -> Result<Disposition, EngineError> {
        let source = st.report.source.clone();
        let rej = Rejected {
            location: format!(
                "{source}#{}",
                custos_ledger::resource_key(&ci.resource_ref())
            ),
            field: Some(field.into()),
            error,
            raw: ci.to_json().to_string(),
        };
        self.dead_letter(st, &source, &rej).await?;
        Ok(Disposition::DeadLetter)
    }

    /// Process one configuration item through the whole sandwich.
    pub async fn process(
        &self,
        st: &mut RunState,
        ci: ConfigurationItem,
        origin: Origin,
    ) -> Result<Disposition, EngineError> {
        let span = tracing::info_span!(
            "item",
            run = %st.run_id(),
            resource = %ci.resource_id,
            resource_type = %ci.resource_type,
            account = %ci.aws_account_id,
        );
        let d = self
            .process_item(st, ci, origin)
            .instrument(span.clone())
            .await;
        span.in_scope(|| match &d {
            Ok(d) => tracing::info!(disposition = d.as_str(), "item processed"),
            Err(e) => tracing::warn!(error = %e, "item failed"),
        });
        d
    }

    async fn process_item(
        &self,
        st: &mut RunState,
        ci: ConfigurationItem,
        origin: Origin,
    ) -> Result<Disposition, EngineError> {
        let ledger = &self.ledger;
        let resource = ci.resource_ref();
        // Nothing custos cannot read, verify and change is acted on: an item for an
        // account or region it does not manage (or spoofed) is kept, not processed.
        if !self.reader.covers(&resource) {
            return self.refuse_uncovered(st, &ci, &resource).await;
        }
        // A capture time in the future would blind custos to the resource (every later
        // capture would look older): beyond the allowed clock skew it is refused.
        let latest_allowed = self.now() + self.config.max_clock_skew;
        if ci.configuration_item_capture_time > latest_allowed {
            return self
                .refuse_item(
                    st,
                    &ci,
                    "configurationItemCaptureTime",
                    format!(
                        "capture time {} is later than now plus the allowed clock skew ({} s)",
                        ci.configuration_item_capture_time.to_rfc3339(),
                        self.config.max_clock_skew.num_seconds()
                    ),
                )
                .await;
        }
        st.note_resources([&resource]);
        let state_digest = digest_json(&ci.to_json());
        if st.records()
            && origin == Origin::Notification
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
        if let Some(b) = st.batch.as_mut() {
            // Recorded once the batch's fixes are.
            b.observe(resource, ci.configuration_item_capture_time, state_digest);
        } else if st.records() {
            // Only after every outcome is durable: a crash before this line means the item
            // is processed again (and the guard finds the work done).
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

    fn detect(&self, ci: &ConfigurationItem) -> Result<Vec<Finding>, String> {
        self.evaluators
            .with(|ev| ev.detect(ci))?
            .map_err(|e| e.to_string())
    }

    pub(crate) async fn snapshot(&self, st: &RunState) -> Result<GuardSnapshot, EngineError> {
        Ok(self
            .ledger
            .guard_snapshot(&st.scope(self), self.window_start(), None)
            .await?)
    }

    async fn evaluate(
        &self,
        st: &mut RunState,
        ci: &ConfigurationItem,
        state_digest: &custos_core::Digest,
    ) -> Result<(), EngineError> {
        let run_id = st.run_id().to_string();
        let record = st.records();
        st.report.resources += 1;
        // An item's events (evaluated, findings, decision) go to the ledger in one
        // transaction, written before the decision is acted on.
        let mut pending = Pending::new();
        let findings = match self.detect(ci) {
            Ok(f) => f,
            Err(e) => {
                // A policy that cannot evaluate a resource is an escalation, recorded.
                st.report.rows.push(RunRow::error(ci.resource_ref(), &e));
                if record {
                    self.ledger
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
                .bundle
                .controls()
                .iter()
                .filter(|c| c.resource_types.contains(&ci.resource_type))
                .map(|c| c.id.as_str())
                .collect();
            let failing: Vec<&str> = findings.iter().map(|f| f.control_id.as_str()).collect();
            pending.push(("resource.evaluated", ci.resource_ref(), json!({
                "capture_time": ci.configuration_item_capture_time, "state_digest": state_digest,
                "controls": applicable, "failing": failing,
                // A deleted resource passes nothing: it is gone (exports drop it).
                "deleted": ci.is_deleted(),
            })));
        }
        if findings.is_empty() {
            st.report.compliant += 1;
            return self.flush(&run_id, &mut pending).await;
        }
        let mut by_control: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        for f in findings {
            by_control.entry(f.control_id.clone()).or_default().push(f);
        }
        let environment = self.config.environments.of(&ci.tags);
        for (control, findings) in by_control {
            st.report.findings += findings.len();
            if record {
                for f in &findings {
                    let payload = serde_json::to_value(f).map_err(|e| {
                        EngineError::Refused(format!("finding cannot be recorded: {e}"))
                    })?;
                    pending.push(("finding", f.resource.clone(), payload));
                }
            }
            let plans = self
                .playbooks
                .plan_all(&self.catalog, &findings[0], ci, &environment);
            if !plans.iter().any(|(_, p)| p.is_ok()) {
                st.report.rows.push(RunRow::no_playbook(&findings[0]));
                continue;
            }
            let snap = match &st.batch {
                Some(b) => b.snapshot(),
                None => Arc::new(self.snapshot(st).await?),
            };
            let gate_input = |plan: &RemediationPlan, history: &custos_policy::HistoryFacts| {
                self.gate_input(plan, &snap, &st.would_execute, &st.class_sizes, history)
            };
            let Some(Planned {
                plan,
                history,
                choice,
                others,
            }) = self.plan_for(plans, &gate_input).await
            else {
                st.report.rows.push(RunRow::no_playbook(&findings[0]));
                continue;
            };
            let mut input =
                self.gate_input(&plan, &snap, &st.would_execute, &st.class_sizes, &history);
            let mut decision = self.decide(&plan, &findings, &input, &snap.state).await;
            if deferred_by_percent(&decision) {
                // Other workers may have changed resources this run has not counted yet:
                // count what the ledger knows now and decide again.
                st.know_keys(self.ledger.known_resources().await?);
                input = self.gate_input(&plan, &snap, &st.would_execute, &st.class_sizes, &history);
                decision = self.decide(&plan, &findings, &input, &snap.state).await;
            }
            // A candidate chosen over the baseline says so where people read the decision
            // (run rows, `approvals show`, the approval page). A note: it restricts nothing.
            if let Some(c) = choice
                .as_ref()
                .filter(|c| c.chosen().is_some_and(|x| !x.baseline))
            {
                decision.reasons.push(custos_core::Reason {
                    stage: custos_core::Stage::Engine,
                    rule: "engine.candidate_chosen".into(),
                    verdict: Verdict::Execute,
                    message: format!("candidate `{}` chosen: {}", plan.playbook, c.reason),
                });
            }
            if record {
                pending.push((
                    "decision",
                    plan.resource.clone(),
                    // What was seen and decided with: the item, the findings and the gate
                    // input, so the bundle shows it and `replay` re-evaluates it.
                    json!({"control": control, "plan": plan, "decision": decision,
                           "item": ci, "findings": findings, "input": input,
                           "policy_snapshot": self.policy_snapshot,
                           // How the playbook was chosen, when the control has candidates.
                           "candidates": choice, "candidate_inputs": others}),
                ));
            }
            // The decision is durable before anything acts on it.
            self.flush(&run_id, &mut pending).await?;
            self.note_blast_radius(st, &decision).await?;
            let row = self.act(st, &plan, &findings, decision).await?;
            st.report.rows.push(row);
        }
        self.flush(&run_id, &mut pending).await
    }

    /// Write an item's buffered events in one transaction.
    async fn flush(&self, run_id: &str, pending: &mut Pending) -> Result<(), EngineError> {
        if pending.is_empty() {
            return Ok(());
        }
        let events: Vec<_> = pending
            .iter()
            .map(|(kind, resource, payload)| (*kind, Some(resource), payload.clone()))
            .collect();
        self.ledger.append_many(Some(run_id), &events).await?;
        pending.clear();
        Ok(())
    }

    /// One `run.blast_radius_reached` event per run, the first time a limit defers.
    pub(crate) async fn note_blast_radius(
        &self,
        st: &mut RunState,
        decision: &Decision,
    ) -> Result<(), EngineError> {
        let rules: Vec<String> = decision
            .reasons
            .iter()
            .filter(|r| r.rule.starts_with("gate.blast_radius"))
            .map(|r| r.rule.clone())
            .collect();
        if st.records() && !st.blast_logged && !rules.is_empty() {
            st.blast_logged = true;
            self.ledger
                .append(
                    Some(st.run_id()),
                    "run.blast_radius_reached",
                    None,
                    &json!({"limits": self.config.gate.limits, "window_hours": self.config.gate.window_hours, "rules": rules}),
                )
                .await?;
        }
        Ok(())
    }

    /// Ask a human: one open request per resource and playbook.
    async fn request_approval(
        &self,
        st: &RunState,
        plan: &RemediationPlan,
        decision: &Decision,
        findings: &[Finding],
        row: &mut RunRow,
    ) -> Result<(), EngineError> {
        let approval = custos_approval::request(
            plan.clone(),
            decision.clone(),
            findings.to_vec(),
            Some(st.run_id().to_string()),
            &self.actor,
            self.now(),
            self.config.approval_ttl,
            self.config.quorum.required_among(
                &plan.resource.class(),
                plan,
                self.playbooks
                    .for_control(&plan.control_id)
                    .map(|p| p.id.as_str()),
            ),
        );
        let (a, new) = self.ledger.request_approval(&approval).await?;
        if new {
            self.notifier()
                .notify(crate::notify::Notification::ApprovalRequested {
                    approval_id: a.id.clone(),
                    resource: custos_ledger::resource_key(&a.plan.resource),
                    resource_name: a.plan.resource_name.clone(),
                    control_id: a.plan.control_id.clone(),
                    playbook: a.plan.playbook.clone(),
                    environment: a.plan.environment.clone(),
                    production: a.plan.production,
                    required_reviewers: a.required_reviewers,
                    expires_at: a.expires_at,
                });
        }
        row.approval_id = Some(a.id);
        row.outcome = Outcome::AwaitingApproval;
        Ok(())
    }

    /// Act on a decision as the run's mode allows.
    async fn act(
        &self,
        st: &mut RunState,
        plan: &RemediationPlan,
        findings: &[Finding],
        decision: Decision,
    ) -> Result<RunRow, EngineError> {
        let mut row = RunRow::decided(plan, &decision, findings);
        match (decision.verdict, st.mode) {
            (Verdict::Execute, Mode::Execute) if st.batch.is_some() => {
                // Counted against the batch's limits now; run with the others later.
                count(&mut st.would_execute, plan);
                let at = st.report.rows.len();
                if let Some(b) = st.batch.as_mut() {
                    b.queue(at, plan, findings, decision);
                }
                row.outcome = Outcome::WouldExecute;
            }
            (Verdict::Execute, Mode::Execute) => {
                let guarded = self
                    .guarded(
                        Work::Fix {
                            plan,
                            findings,
                            decision: &decision,
                        },
                        st,
                    )
                    .await?;
                row = self.settle_fix(st, row, findings, guarded).await?;
            }
            (Verdict::Execute, Mode::Shadow) => {
                count(&mut st.would_execute, plan);
                row.outcome = Outcome::WouldExecute;
                self.ledger
                    .append(
                        Some(st.run_id()),
                        "shadow.would_execute",
                        Some(&plan.resource),
                        &json!({"plan_id": plan.id}),
                    )
                    .await?;
            }
            (Verdict::Execute, Mode::DryRun) => {
                count(&mut st.would_execute, plan);
                row.outcome = Outcome::WouldExecute;
            }
            (Verdict::NeedsApproval, Mode::Execute) => {
                self.request_approval(st, plan, &decision, findings, &mut row)
                    .await?;
            }
            (Verdict::NeedsApproval, _) => row.outcome = Outcome::WouldAskApproval,
            (Verdict::RecommendOnly, _) => row.outcome = Outcome::Recommended,
            (Verdict::Deny, _) => row.outcome = Outcome::Denied,
        }
        Ok(row)
    }

    /// The row for a fix once the guard is done with it.
    pub(crate) async fn settle_fix(
        &self,
        st: &mut RunState,
        mut row: RunRow,
        findings: &[Finding],
        guarded: Guarded,
    ) -> Result<RunRow, EngineError> {
        match guarded {
            Guarded::Done {
                record,
                plan: acted,
                decision: at_admission,
            } => {
                if record.outcome == ActionOutcome::Refused
                    && let Some(d) = at_admission
                {
                    // Refused at the moment of execution: act on that decision.
                    self.note_blast_radius(st, &d).await?;
                    row = RunRow::decided(&acted, &d, findings);
                    row.action_id = Some(record.action_id.clone());
                    match d.verdict {
                        Verdict::NeedsApproval => {
                            self.request_approval(st, &acted, &d, findings, &mut row)
                                .await?
                        }
                        Verdict::Deny => row.outcome = Outcome::Denied,
                        _ => row.outcome = Outcome::Recommended,
                    }
                } else {
                    row.set_execution(&record);
                }
            }
            Guarded::NotNow { reason } => {
                row.outcome = Outcome::Deferred;
                row.reasons.push(reason.rule);
                row.detail = Some(reason.message);
            }
        }
        Ok(row)
    }

    /// For one configuration item: every applicable control and whether it passes, and
    /// for each failing one the plan, every gate rule that fired, the reasoner's view, the
    /// autonomy level and the final verdict. Changes nothing.
    pub async fn explain(&self, ci: &ConfigurationItem) -> Result<Explanation, EngineError> {
        let findings = self.detect(ci).map_err(EngineError::Refused)?;
        let mut controls = Vec::new();
        for c in self
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
        let mut st = self.run_state(Mode::DryRun, Budget::PerRun).await?;
        st.note_resources([&ci.resource_ref()]);
        let snap = self.snapshot(&st).await?;
        let environment = self.config.environments.of(&ci.tags);
        let mut decisions = Vec::new();
        for c in controls.iter().filter(|c| !c.passed) {
            let related: Vec<Finding> = findings
                .iter()
                .filter(|x| x.control_id == c.id)
                .cloned()
                .collect();
            let Some(first) = related.first() else {
                continue;
            };
            let plans = self
                .playbooks
                .plan_all(&self.catalog, first, ci, &environment);
            let gate_input = |plan: &RemediationPlan, history: &custos_policy::HistoryFacts| {
                self.gate_input(plan, &snap, &st.would_execute, &st.class_sizes, history)
            };
            let Some(Planned { plan, history, .. }) = self.plan_for(plans, &gate_input).await
            else {
                continue;
            };
            let input = self.gate_input(&plan, &snap, &st.would_execute, &st.class_sizes, &history);
            let decision = self.decide(&plan, &related, &input, &snap.state).await;
            decisions.push((plan, decision));
        }
        Ok(Explanation {
            resource: ci.resource_ref(),
            environment,
            controls,
            decisions,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::with_creation_time;
    use custos_core::ConfigurationItem;
    use serde_json::json;

    fn item(capture: &str, created: Option<&str>) -> ConfigurationItem {
        let mut v = json!({
            "configurationItemCaptureTime": capture, "awsAccountId": "111122223333",
            "awsRegion": "us-east-1", "resourceType": "AWS::S3::Bucket", "resourceId": "b",
        });
        if let Some(c) = created {
            v["resourceCreationTime"] = json!(c);
        }
        ConfigurationItem::from_json(&v).unwrap()
    }

    #[test]
    fn a_fresh_read_keeps_a_plausible_notified_creation_time_only() {
        let fresh = || item("2026-12-05T10:00:00Z", None);
        let at = |ci: ConfigurationItem| ci.resource_creation_time.map(|t| t.to_rfc3339());
        // Created before the fresh read: kept.
        let noticed = item("2026-12-05T09:59:00Z", Some("2026-12-05T09:58:00Z"));
        assert_eq!(
            at(with_creation_time(fresh(), &noticed)),
            Some("2026-12-05T09:58:00+00:00".into())
        );
        // A notification from the future claiming a later creation: not kept.
        let forged = item("2030-01-01T00:00:00Z", Some("2030-01-01T00:00:00Z"));
        assert_eq!(at(with_creation_time(fresh(), &forged)), None);
        // The fresh read's own time wins.
        let own = item("2026-12-05T10:00:00Z", Some("2026-12-01T00:00:00Z"));
        assert_eq!(
            at(with_creation_time(own, &noticed)),
            Some("2026-12-01T00:00:00+00:00".into())
        );
    }
}
