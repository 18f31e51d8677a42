//! Layer 3: the approval gate. Autonomy levels per resource class and environment decide
//! how far a plan may go on its own; approval requests carry the full context, expire,
//! are scoped to the state they were made on, and the requester cannot approve its own
//! request (separation of duties). Who may do what is decided here from authenticated
//! principals; an approval counts only as the ledger's hash-chained events tell it
//! ([`check_chain`]). This crate decides; it never executes.

use chrono::{DateTime, Duration, Utc};
use custos_core::{
    Approval, ApprovalStatus, AutonomyLevel, Decision, Digest, Environment, Finding, Permission,
    Principal, Reason, RemediationPlan, Review, Role, Stage, Verdict,
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
        self.level_with(class, environment, |_| None)
    }

    /// [`AutonomyPolicy::level`] with the levels set at runtime: `runtime(key)` is the
    /// runtime level of `class` under `key` (a canonical environment name, an environment
    /// class or `*`). Runtime levels are a layer above the configuration: when any of
    /// them applies (the most specific first), it decides, whatever the file says for a
    /// more specific key (an operator's `s3 * 1` stops every s3 automation at once).
    /// The ceiling caps the result either way.
    pub fn level_with(
        &self,
        class: &str,
        environment: &Environment,
        runtime: impl Fn(&str) -> Option<AutonomyLevel>,
    ) -> AutonomyLevel {
        let keys = [environment.name.as_str(), environment.class.as_str(), "*"];
        let configured = self.classes.get(class);
        keys.into_iter()
            .find_map(&runtime)
            .or_else(|| {
                keys.into_iter()
                    .find_map(|key| configured.and_then(|e| e.get(key)).copied())
            })
            .unwrap_or(self.default)
            .min(self.ceiling)
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

mod chain;
mod quorum;

pub use chain::{ChainProblem, check_chain};
pub use quorum::Quorum;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("approval `{id}` expired at {at}")]
    Expired { id: String, at: DateTime<Utc> },
    #[error("approval `{id}` is `{status}`; only a pending request can be decided")]
    NotPending { id: String, status: ApprovalStatus },
    #[error("`{who}` requested this change and cannot approve it (separation of duties)")]
    SelfApproval { who: String },
    #[error("`{who}` is a policy admin; policy admins never approve (separation of duties)")]
    PolicyAdminApproval { who: String },
    #[error("`{who}` (roles: {roles}) may not {action}")]
    Forbidden {
        who: String,
        roles: String,
        action: Permission,
    },
    #[error("`{who}` approved approval `{id}` already; it needs a different reviewer")]
    AlreadyReviewed { id: String, who: String },
    #[error(
        "approval `{id}` is for plan {actual}, not the plan {seen} that was reviewed; look at the request again"
    )]
    PlanDigestMismatch {
        id: String,
        seen: Digest,
        actual: Digest,
    },
    #[error("a denial needs a reason (`comment`)")]
    DenialNeedsReason,
    #[error("approval `{id}` is `{status}`; only an approved request can be executed")]
    NotApproved { id: String, status: ApprovalStatus },
    #[error(
        "approval `{id}` is `{status}`; only a request being executed can be closed or released"
    )]
    NotExecuting { id: String, status: ApprovalStatus },
}

impl ApprovalError {
    /// A stable code for APIs and the ledger.
    pub fn code(&self) -> &'static str {
        match self {
            ApprovalError::Expired { .. } => "approval_expired",
            ApprovalError::NotPending { .. } => "approval_not_pending",
            ApprovalError::SelfApproval { .. } => "self_approval",
            ApprovalError::PolicyAdminApproval { .. } => "policy_admin_approval",
            ApprovalError::Forbidden { .. } => "forbidden",
            ApprovalError::AlreadyReviewed { .. } => "already_reviewed",
            ApprovalError::PlanDigestMismatch { .. } => "plan_digest_mismatch",
            ApprovalError::DenialNeedsReason => "denial_needs_reason",
            ApprovalError::NotApproved { .. } => "approval_not_approved",
            ApprovalError::NotExecuting { .. } => "approval_not_executing",
        }
    }
}

/// May `who` do `action`? A refusal names the principal and its roles.
pub fn authorize(who: &Principal, action: Permission) -> Result<(), ApprovalError> {
    if who.may(action) {
        Ok(())
    } else {
        Err(ApprovalError::Forbidden {
            who: who.name.clone(),
            roles: if who.roles.is_empty() {
                "none".into()
            } else {
                who.roles_text()
            },
            action,
        })
    }
}

/// A new pending request for `plan`, needing `required_reviewers` distinct reviewers.
#[allow(clippy::too_many_arguments)]
pub fn request(
    plan: RemediationPlan,
    decision: Decision,
    findings: Vec<Finding>,
    run_id: Option<String>,
    requested_by: &str,
    now: DateTime<Utc>,
    ttl: Duration,
    required_reviewers: u8,
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
        required_reviewers: required_reviewers.max(1),
        reviews: Vec::new(),
    }
}

fn open_for_decision(a: &Approval, now: DateTime<Utc>) -> Result<(), ApprovalError> {
    if a.status != ApprovalStatus::Pending {
        return Err(ApprovalError::NotPending {
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
    Ok(())
}

/// One reviewer approves a pending, unexpired request. `seen` is the plan digest the
/// reviewer looked at (the web page and the API send it; a replay against another plan
/// is refused). The requester and policy admins never count. The request becomes
/// `approved` once `required_reviewers` distinct reviewers have approved.
pub fn approve(
    a: &Approval,
    who: &Principal,
    seen: Option<&Digest>,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Result<Approval, ApprovalError> {
    open_for_decision(a, now)?;
    if who.has(Role::PolicyAdmin) {
        return Err(ApprovalError::PolicyAdminApproval {
            who: who.name.clone(),
        });
    }
    authorize(who, Permission::Approve)?;
    if who.name.eq_ignore_ascii_case(a.requested_by.trim()) {
        return Err(ApprovalError::SelfApproval {
            who: who.name.clone(),
        });
    }
    // Distinct people, told apart by their stable identity (issuer and subject, or the
    // local principal id), never by a display name that can change.
    let identity = who.identity();
    if a.reviews.iter().any(|r| r.identity() == identity) {
        return Err(ApprovalError::AlreadyReviewed {
            id: a.id.clone(),
            who: who.name.clone(),
        });
    }
    let actual = a.plan_digest();
    if let Some(seen) = seen
        && *seen != actual
    {
        return Err(ApprovalError::PlanDigestMismatch {
            id: a.id.clone(),
            seen: seen.clone(),
            actual,
        });
    }
    let mut out = a.clone();
    out.reviews.push(Review {
        by: who.name.clone(),
        roles: who.roles.iter().copied().collect(),
        via: who.via.clone(),
        at: now,
        comment: comment.clone(),
        plan_digest: actual,
        before_digest: a.before_digest.clone(),
        policy_digest: a.decision.policy_digest.clone(),
    });
    if out.reviews.len() >= usize::from(a.required_reviewers.max(1)) {
        out.status = ApprovalStatus::Approved;
        out.decided_by = Some(
            out.reviews
                .iter()
                .map(|r| match &r.via {
                    // The display name, with the identity that was counted beside it.
                    custos_core::AuthMethod::Oidc { .. } => format!("{} ({})", r.by, r.identity()),
                    _ => r.by.clone(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.decided_at = Some(now);
    }
    out.comment = comment;
    Ok(out)
}

/// A reviewer denies a pending request, with a reason. The requester may say no too.
pub fn deny(
    a: &Approval,
    who: &Principal,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Approval, ApprovalError> {
    open_for_decision(a, now)?;
    authorize(who, Permission::Deny)?;
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .ok_or(ApprovalError::DenialNeedsReason)?;
    let mut out = a.clone();
    out.status = ApprovalStatus::Denied;
    out.decided_by = Some(who.name.clone());
    out.decided_at = Some(now);
    out.comment = Some(reason);
    Ok(out)
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
