//! Findings, remediation plans and execution records.

use crate::canonical::Digest;
use crate::ci::ResourceRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

/// A control that failed for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub control_id: String,
    pub title: String,
    pub severity: Severity,
    pub resource: ResourceRef,
    /// Framework name -> requirement ids, e.g. `nist-800-53-r5` -> [`SC-28`].
    pub frameworks: BTreeMap<String, Vec<String>>,
    /// Why the control failed, in the control's words.
    pub message: String,
    /// The playbook that remediates it, if any.
    pub remediation: Option<String>,
    /// For an alert-only control: what a person does, with this resource's values put in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<Guidance>,
    /// For a control with a playbook: its Terraform with this resource's values, the code
    /// change a person makes instead of letting custos fix it (the plan's guided fix
    /// carries it with the AWS CLI commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform: Option<String>,
}

impl Finding {
    /// Its tier: `fixable` (a playbook remediates it, within autonomy and approval),
    /// `alert` (alert-only: a person applies the guidance; custos never changes it), or
    /// `no playbook` (an operator's control that names none).
    pub fn tier(&self) -> &'static str {
        match (&self.remediation, &self.guidance) {
            (Some(_), _) => "fixable",
            (None, Some(_)) => "alert",
            (None, None) => "no playbook",
        }
    }
}

/// What a person does about a finding of an alert-only control: the control's guidance,
/// its AWS CLI commands and its Terraform, filled in for one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guidance {
    pub text: String,
    pub cli: Vec<String>,
    pub terraform: String,
}

/// One step that undoes an action; `parameters` are enough to restore the before state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackStep {
    pub action: String,
    pub description: String,
    pub parameters: Value,
    /// False when the API cannot return the resource to exactly the before state.
    pub exact: bool,
}

fn yes() -> bool {
    true
}

/// How risky a change is, as its executor knows it (a playbook may only raise it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of change an action is; the never-automate floor looks at these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    Configure,
    Delete,
    Iam,
    Secret,
    Kms,
    CrossAccount,
    /// Restoring the state before an earlier action.
    Rollback,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Configure => "configure",
            ActionKind::Delete => "delete",
            ActionKind::Iam => "iam",
            ActionKind::Secret => "secret",
            ActionKind::Kms => "kms",
            ActionKind::CrossAccount => "cross-account",
            ActionKind::Rollback => "rollback",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a plan does: fix a finding, or restore the state before an earlier action.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Operation {
    #[default]
    Fix,
    Rollback {
        /// The action whose before state is restored.
        of: String,
        /// Who asked for it.
        requested_by: String,
        /// The before facet being restored.
        target: Value,
    },
}

/// A proposed change to one resource, before any gate has spoken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediationPlan {
    pub id: String,
    pub resource: ResourceRef,
    pub resource_name: Option<String>,
    pub arn: Option<String>,
    /// When the resource was created (AWS Config's `resourceCreationTime`): the floor's
    /// new-resource grace period counts from it. `None`: not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_created: Option<chrono::DateTime<chrono::Utc>>,
    pub tags: BTreeMap<String, String>,
    pub environment: String,
    /// The environment counts as production (unknown environments do).
    #[serde(default = "yes")]
    pub production: bool,
    /// Resource types this resource is related to (from AWS Config relationships).
    #[serde(default)]
    pub related: Vec<String>,
    pub control_id: String,
    pub playbook: String,
    pub playbook_version: String,
    /// Executor action id, e.g. `s3:PutPublicAccessBlock`.
    pub action: String,
    /// What kind of change this is (`configure`, `delete`, `iam`, ...), for the gate.
    pub action_kinds: Vec<ActionKind>,
    pub parameters: Value,
    pub risk: Risk,
    pub reversible: bool,
    pub requires_approval: bool,
    /// The guarded state (the facet the action changes, plus tags) as custos saw it.
    pub before: Value,
    pub before_digest: Digest,
    /// The state the action will leave behind.
    pub desired: Value,
    pub rollback: Vec<RollbackStep>,
    #[serde(default)]
    pub operation: Operation,
    /// The guided fix: how a person makes this same fix by hand, for when custos does not
    /// (it recommends only, or waits for a person who prefers to): the action's requests
    /// as AWS CLI commands with this resource's values, and the control's Terraform.
    /// Plans recorded before it existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided: Option<Guidance>,
}

/// How one action attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    /// Changed and verified.
    Executed,
    /// Already compliant: nothing was called.
    NoOp,
    /// The resource changed since the plan was made: nothing was called.
    Stale,
    /// The call or the verification failed and the rollback ran.
    RolledBack,
    /// The call failed, or the verification failed and the rollback failed too.
    Failed,
    /// The guard refused at the last moment (policy, limits, pause, breaker): nothing
    /// was called.
    Refused,
    /// Settled after an interruption: the state read back shows the call never landed.
    /// Nothing was called again; the work goes back through the guard.
    Interrupted,
}

impl ActionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Executed => "executed",
            ActionOutcome::NoOp => "no_op",
            ActionOutcome::Stale => "stale",
            ActionOutcome::RolledBack => "rolled_back",
            ActionOutcome::Failed => "failed",
            ActionOutcome::Refused => "refused",
            ActionOutcome::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for ActionOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What checked the fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    pub method: String,
    pub detail: String,
}

/// Evidence for one action attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub action_id: String,
    pub plan_id: String,
    pub outcome: ActionOutcome,
    pub before: Value,
    pub before_digest: Digest,
    pub after: Option<Value>,
    pub after_digest: Option<Digest>,
    /// Mutating API calls made, in order (`s3:PutPublicAccessBlock`, ...).
    pub calls: Vec<String>,
    pub rollback: Vec<RollbackStep>,
    pub verification: Option<Verification>,
    pub error: Option<String>,
}

/// What an outcome is counted under: the control, the playbook (with its version), the
/// resource class and the environment. Written on `action.intent` and
/// `approval.requested` events, so the ledger's events alone give every outcome (the
/// engine's `learning` folds them; `custos autonomy report` and the floor's
/// lower-environment proof read that fold).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutcomeKey {
    pub control: String,
    pub playbook: String,
    pub playbook_version: String,
    pub class: String,
    pub environment: String,
    pub production: bool,
}

impl OutcomeKey {
    pub fn of(plan: &RemediationPlan) -> Self {
        OutcomeKey {
            control: plan.control_id.clone(),
            playbook: plan.playbook.clone(),
            playbook_version: plan.playbook_version.clone(),
            class: plan.resource.class(),
            environment: plan.environment.clone(),
            production: plan.production,
        }
    }
}
