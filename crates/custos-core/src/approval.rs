//! Approval requests: a plan waiting for a human, with everything needed to judge it.

use crate::{AuthMethod, Decision, Digest, Finding, RemediationPlan, Role};
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
    /// The stored request does not match what the ledger's events say (edited behind
    /// custos' back): refused, never executed.
    Invalid,
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
            ApprovalStatus::Invalid => "invalid",
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
            "invalid" => ApprovalStatus::Invalid,
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
    /// Distinct reviewers needed (two-person rule: 2).
    #[serde(default = "one")]
    pub required_reviewers: u8,
    /// Approvals given so far, each bound to the digests the reviewer saw.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<Review>,
}

fn one() -> u8 {
    1
}

impl Approval {
    /// The digest of the plan as stored: what a reviewer approves.
    pub fn plan_digest(&self) -> Digest {
        plan_digest(&self.plan)
    }
}

/// The digest of a plan (canonical JSON).
pub fn plan_digest(plan: &RemediationPlan) -> Digest {
    match serde_json::to_value(plan) {
        Ok(v) => crate::digest_json(&v),
        // A plan always serializes; should it ever not, its digest matches nothing.
        Err(e) => Digest::of_bytes(format!("unserializable plan: {e}").as_bytes()),
    }
}

/// One reviewer's approval, bound to what they saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub by: String,
    pub roles: Vec<Role>,
    pub via: AuthMethod,
    pub at: DateTime<Utc>,
    pub comment: Option<String>,
    pub plan_digest: Digest,
    pub before_digest: Digest,
    pub policy_digest: Digest,
}

impl Review {
    /// The reviewer's stable identity ([`AuthMethod::identity`]).
    pub fn identity(&self) -> String {
        self.via.identity(&self.by)
    }
}

impl ChainedReview {
    /// The reviewer's stable identity ([`AuthMethod::identity`]); a review recorded
    /// without how its reviewer authenticated is known by its name.
    pub fn identity(&self) -> String {
        match &self.via {
            Some(via) => via.identity(&self.by),
            None => format!("local:{}", self.by.to_lowercase()),
        }
    }
}

/// What the hash-chained events say about one request: the only account the engine
/// trusts. The `approvals` table is a projection of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApprovalChain {
    pub request: Option<ChainedRequest>,
    /// Every `approval.reviewed` event, in order.
    pub reviews: Vec<ChainedReview>,
    /// The status the newest event moved the request to.
    pub status: Option<ApprovalStatus>,
    /// Events whose stored hash does not match their content.
    pub broken_events: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChainedRequest {
    pub plan_digest: Digest,
    pub before_digest: Digest,
    pub policy_digest: Digest,
    pub requested_by: String,
    pub required_reviewers: u8,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChainedReview {
    pub by: String,
    /// How the reviewer authenticated (absent in events written before it was kept:
    /// then the name is the identity).
    pub via: Option<AuthMethod>,
    pub roles: Vec<Role>,
    pub plan_digest: Digest,
    pub before_digest: Digest,
    pub policy_digest: Digest,
}
