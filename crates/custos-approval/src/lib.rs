//! Layer 3: the approval gate. Autonomy levels per resource class and environment decide
//! how far a plan may go on its own; approval requests carry the full context, expire,
//! are scoped to the state they were made on, and the requester cannot approve its own
//! request (separation of duties). This crate decides; it never executes.

use chrono::{DateTime, Duration, Utc};
use custos_core::{
    Approval, ApprovalStatus, AutonomyLevel, Decision, Environment, Finding, Reason,
    RemediationPlan, Stage, Verdict,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Autonomy per resource class and environment, capped by a policy-admin ceiling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutonomyPolicy {
    pub default: AutonomyLevel,
    pub ceiling: AutonomyLevel,
    /// class -> environment (or `*`) -> level.
    pub classes: BTreeMap<String, BTreeMap<String, AutonomyLevel>>,
}

impl Default for AutonomyPolicy {
    fn default() -> Self {
        AutonomyPolicy {
            default: AutonomyLevel::Approve,
            ceiling: AutonomyLevel::Auto,
            classes: BTreeMap::new(),
        }
    }
}

impl AutonomyPolicy {
    /// The level for a class in an environment: the most specific setting (the canonical
    /// name, then its class `production`/`non-production`, then `*`), capped by the
    /// ceiling.
    pub fn level(&self, class: &str, environment: &Environment) -> AutonomyLevel {
        let configured = self
            .classes
            .get(class)
            .and_then(|envs| {
                envs.get(&environment.name)
                    .or_else(|| envs.get(environment.class.as_str()))
                    .or_else(|| envs.get("*"))
            })
            .copied()
            .unwrap_or(self.default);
        configured.min(self.ceiling)
    }
}

/// The autonomy stage: the verdict the level allows, with a reason when it restricts.
pub fn autonomy_verdict(
    level: AutonomyLevel,
    environment: &Environment,
) -> (Verdict, Option<Reason>) {
    let v = level.allows(environment.class.is_production());
    let reason = (v > Verdict::Execute).then(|| Reason {
        stage: Stage::Autonomy,
        rule: format!("autonomy.{}", level.name()),
        verdict: v,
        message: format!(
            "autonomy level {level} in {} environment `{}`",
            environment.class, environment.name
        ),
    });
    (v, reason)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("approval `{id}` expired at {at}")]
    Expired { id: String, at: DateTime<Utc> },
    #[error("approval `{id}` is `{status}`; only a pending request can be decided")]
    NotPending { id: String, status: ApprovalStatus },
    #[error("`{who}` requested this change and cannot approve it (separation of duties)")]
    SelfApproval { who: String },
    #[error("an approver identity is required")]
    NoIdentity,
    #[error("approval `{id}` is `{status}`; only an approved request can be executed")]
    NotApproved { id: String, status: ApprovalStatus },
    #[error(
        "approval `{id}` is `{status}`; only a request being executed can be closed or released"
    )]
    NotExecuting { id: String, status: ApprovalStatus },
}

/// A new pending request for `plan`.
pub fn request(
    plan: RemediationPlan,
    decision: Decision,
    findings: Vec<Finding>,
    run_id: Option<String>,
    requested_by: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Approval {
    Approval {
        id: format!("apr-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        status: ApprovalStatus::Pending,
        run_id,
        requested_at: now,
        expires_at: now + ttl,
        requested_by: requested_by.to_string(),
        decided_by: None,
        decided_at: None,
        comment: None,
        claimed_at: None,
        before_digest: plan.before_digest.clone(),
        plan,
        decision,
        findings,
    }
}

fn decide(
    a: &Approval,
    by: &str,
    comment: Option<String>,
    now: DateTime<Utc>,
    to: ApprovalStatus,
) -> Result<Approval, ApprovalError> {
    if a.status != ApprovalStatus::Pending {
        return Err(ApprovalError::NotPending {
            id: a.id.clone(),
            status: a.status,
        });
    }
    let by = by.trim();
    if by.is_empty() {
        return Err(ApprovalError::NoIdentity);
    }
    if now >= a.expires_at {
        return Err(ApprovalError::Expired {
            id: a.id.clone(),
            at: a.expires_at,
        });
    }
    if to == ApprovalStatus::Approved && by.eq_ignore_ascii_case(a.requested_by.trim()) {
        return Err(ApprovalError::SelfApproval {
            who: by.to_string(),
        });
    }
    let mut out = a.clone();
    out.status = to;
    out.decided_by = Some(by.to_string());
    out.decided_at = Some(now);
    out.comment = comment;
    Ok(out)
}

/// Approve a pending, unexpired request; the approver must not be the requester.
pub fn approve(
    a: &Approval,
    by: &str,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Result<Approval, ApprovalError> {
    decide(a, by, comment, now, ApprovalStatus::Approved)
}

/// Deny a pending request (anyone may say no, the requester included).
pub fn deny(
    a: &Approval,
    by: &str,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Result<Approval, ApprovalError> {
    decide(a, by, comment, now, ApprovalStatus::Denied)
}

/// The request as it stands at `now`: a pending or approved-but-unexecuted one past its
/// expiry becomes `Expired`.
pub fn expire_if_due(a: &Approval, now: DateTime<Utc>) -> Option<Approval> {
    if matches!(a.status, ApprovalStatus::Pending | ApprovalStatus::Approved) && now >= a.expires_at
    {
        let mut out = a.clone();
        out.status = ApprovalStatus::Expired;
        return Some(out);
    }
    None
}

/// Claim an approved, unexpired request for execution (`executing`). The ledger makes
/// the claim with a conditional update, so only one worker wins it.
pub fn claim(a: &Approval, now: DateTime<Utc>) -> Result<Approval, ApprovalError> {
    if a.status != ApprovalStatus::Approved {
        return Err(ApprovalError::NotApproved {
            id: a.id.clone(),
            status: a.status,
        });
    }
    if now >= a.expires_at {
        return Err(ApprovalError::Expired {
            id: a.id.clone(),
            at: a.expires_at,
        });
    }
    let mut out = a.clone();
    out.status = ApprovalStatus::Executing;
    out.claimed_at = Some(now);
    Ok(out)
}

/// Give a claimed request back (the guard did not execute it now): approved again, to be
/// tried by a later run until it expires.
pub fn release(a: &Approval) -> Result<Approval, ApprovalError> {
    if a.status != ApprovalStatus::Executing {
        return Err(ApprovalError::NotExecuting {
            id: a.id.clone(),
            status: a.status,
        });
    }
    let mut out = a.clone();
    out.status = ApprovalStatus::Approved;
    out.claimed_at = None;
    Ok(out)
}

/// Record that a claimed request was carried out (or found stale). The claim was made
/// before expiry; an expiry during the execution does not undo what was done.
pub fn close(a: &Approval, stale: bool) -> Result<Approval, ApprovalError> {
    if a.status != ApprovalStatus::Executing {
        return Err(ApprovalError::NotExecuting {
            id: a.id.clone(),
            status: a.status,
        });
    }
    let mut out = a.clone();
    out.status = if stale {
        ApprovalStatus::Stale
    } else {
        ApprovalStatus::Executed
    };
    Ok(out)
}

#[cfg(test)]
mod tests;
