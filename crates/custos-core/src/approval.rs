//! Approval requests: a plan waiting for a human, with everything needed to judge it.

use crate::{Decision, Digest, Finding, RemediationPlan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    /// Claimed by one worker that is executing it now (conditional update in the ledger:
    /// only one claim can win).
    Executing,
    Denied,
    Expired,
    /// Approved and executed (whatever the action outcome).
    Executed,
    /// Approved, but the resource had changed: nothing was executed.
    Stale,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Executing => "executing",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Executed => "executed",
            ApprovalStatus::Stale => "stale",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => ApprovalStatus::Pending,
            "approved" => ApprovalStatus::Approved,
            "executing" => ApprovalStatus::Executing,
            "denied" => ApprovalStatus::Denied,
            "expired" => ApprovalStatus::Expired,
            "executed" => ApprovalStatus::Executed,
            "stale" => ApprovalStatus::Stale,
            _ => return None,
        })
    }

    /// No further transition is possible.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            ApprovalStatus::Pending | ApprovalStatus::Approved | ApprovalStatus::Executing
        )
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval request with its full context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub status: ApprovalStatus,
    pub run_id: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The identity that started the run which asked.
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
    /// When a worker claimed it for execution (`executing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<DateTime<Utc>>,
    pub plan: RemediationPlan,
    pub decision: Decision,
    pub findings: Vec<Finding>,
    /// The guarded state digest the approval is scoped to.
    pub before_digest: Digest,
}
