//! What a run did, per resource and control, for people (tables) and machines (JSON).

use custos_core::{
    ActionOutcome, Decision, ExecutionRecord, Finding, RemediationPlan, ResourceRef, Verdict,
};
use custos_telemetry::Rejected;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Fixed,
    AlreadyCompliant,
    Stale,
    RolledBack,
    Failed,
    AwaitingApproval,
    /// Not attempted now (the resource is busy, unreadable, or has an unsettled intent);
    /// a later run or event tries again.
    Deferred,
    WouldExecute,
    WouldAskApproval,
    Recommended,
    Denied,
    NoPlaybook,
    /// An approved request whose stored form disagrees with the ledger's events.
    Refused,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Fixed => "fixed",
            Outcome::AlreadyCompliant => "already compliant",
            Outcome::Stale => "stale, not changed",
            Outcome::RolledBack => "rolled back",
            Outcome::Failed => "failed",
            Outcome::AwaitingApproval => "awaiting approval",
            Outcome::Deferred => "deferred",
            Outcome::WouldExecute => "would execute",
            Outcome::WouldAskApproval => "would ask approval",
            Outcome::Recommended => "recommended only",
            Outcome::Refused => "refused",
            Outcome::Denied => "excluded / denied",
            Outcome::NoPlaybook => "no playbook",
            Outcome::Error => "error",
        }
    }
}

/// One line of a run: a control on a resource and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRow {
    pub resource: ResourceRef,
    pub control: String,
    pub severity: Option<String>,
    pub playbook: Option<String>,
    pub action: Option<String>,
    pub verdict: Option<Verdict>,
    pub outcome: Outcome,
    pub reasons: Vec<String>,
    pub approval_id: Option<String>,
    pub action_id: Option<String>,
    pub before: Option<Value>,
    pub desired: Option<Value>,
    pub calls: Vec<String>,
    pub detail: Option<String>,
    /// What a person does, with this resource's values: for an alert-only control its
    /// guidance; for a fix custos recommends or waits on, the plan's guided fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance: Option<custos_policy::Guidance>,
}

impl RunRow {
    pub(crate) fn decided(
        plan: &RemediationPlan,
        decision: &Decision,
        findings: &[Finding],
    ) -> Self {
        RunRow {
            resource: plan.resource.clone(),
            control: plan.control_id.clone(),
            severity: findings.first().map(|f| f.severity.to_string()),
            playbook: Some(plan.playbook.clone()),
            action: Some(plan.action.clone()),
            verdict: Some(decision.verdict),
            outcome: Outcome::Error,
            reasons: decision.reasons.iter().map(|r| r.rule.clone()).collect(),
            approval_id: None,
            action_id: None,
            before: Some(plan.before["facet"].clone()),
            desired: Some(plan.desired["facet"].clone()),
            calls: vec![],
            detail: Some(
                findings
                    .iter()
                    .map(|f| f.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            guidance: plan.guided.clone().filter(|_| {
                matches!(
                    decision.verdict,
                    Verdict::RecommendOnly | Verdict::NeedsApproval
                )
            }),
        }
    }

    pub(crate) fn no_playbook(f: &Finding) -> Self {
        RunRow {
            resource: f.resource.clone(),
            control: f.control_id.clone(),
            severity: Some(f.severity.to_string()),
            playbook: None,
            action: None,
            verdict: None,
            outcome: Outcome::NoPlaybook,
            reasons: vec![],
            approval_id: None,
            action_id: None,
            before: None,
            desired: None,
            calls: vec![],
            detail: Some(f.message.clone()),
            guidance: f.guidance.clone(),
        }
    }

    pub(crate) fn error(resource: ResourceRef, message: &str) -> Self {
        RunRow {
            resource,
            control: "-".into(),
            severity: None,
            playbook: None,
            action: None,
            verdict: Some(Verdict::NeedsApproval),
            outcome: Outcome::Error,
            reasons: vec!["detect.error".into()],
            approval_id: None,
            action_id: None,
            before: None,
            desired: None,
            calls: vec![],
            detail: Some(message.to_string()),
            guidance: None,
        }
    }

    pub(crate) fn set_execution(&mut self, rec: &ExecutionRecord) {
        self.action_id = Some(rec.action_id.clone());
        self.calls = rec.calls.clone();
        self.outcome = match rec.outcome {
            ActionOutcome::Executed => Outcome::Fixed,
            ActionOutcome::NoOp => Outcome::AlreadyCompliant,
            ActionOutcome::Stale => Outcome::Stale,
            ActionOutcome::RolledBack => Outcome::RolledBack,
            ActionOutcome::Failed => Outcome::Failed,
            ActionOutcome::Refused | ActionOutcome::Interrupted => Outcome::Deferred,
        };
        self.detail = rec
            .error
            .clone()
            .or_else(|| rec.verification.as_ref().map(|v| v.detail.clone()));
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub mode: String,
    pub source: String,
    pub policy_digest: String,
    pub resources: usize,
    pub compliant: usize,
    pub findings: usize,
    pub duplicates: usize,
    /// Items older than what was already processed for the same resource.
    pub superseded: usize,
    /// Fixed resources found non-compliant again by a re-verification sweep.
    pub recurrences: usize,
    /// Interrupted actions settled at start-up.
    pub reconciled: usize,
    /// Interrupted actions that could not be settled yet (their resources are left alone).
    pub unsettled: usize,
    pub rows: Vec<RunRow>,
    pub rejected: Vec<Rejected>,
}

impl RunReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.rows.iter().filter(|r| r.outcome == outcome).count()
    }

    /// Mutating calls made in this run.
    pub fn mutating_calls(&self) -> usize {
        self.rows.iter().map(|r| r.calls.len()).sum()
    }

    pub fn summary(&self) -> Value {
        json!({
            "resources": self.resources,
            "compliant": self.compliant,
            "findings": self.findings,
            "fixed": self.count(Outcome::Fixed),
            "already_compliant": self.count(Outcome::AlreadyCompliant),
            "awaiting_approval": self.count(Outcome::AwaitingApproval),
            "denied": self.count(Outcome::Denied),
            "recommended": self.count(Outcome::Recommended),
            "deferred": self.count(Outcome::Deferred),
            "failed": self.count(Outcome::Failed) + self.count(Outcome::RolledBack) + self.count(Outcome::Error),
            "stale": self.count(Outcome::Stale),
            "dead_letters": self.rejected.len(),
            "duplicates": self.duplicates,
            "superseded": self.superseded,
            "recurrences": self.recurrences,
            "reconciled": self.reconciled,
            "unsettled": self.unsettled,
            "mutating_calls": self.mutating_calls(),
        })
    }

    /// Anything that should make `custos run` exit non-zero.
    pub fn has_failures(&self) -> bool {
        self.rows.iter().any(|r| {
            matches!(
                r.outcome,
                Outcome::Failed | Outcome::RolledBack | Outcome::Refused | Outcome::Error
            )
        })
    }
}
