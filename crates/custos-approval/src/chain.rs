//! An approval is trusted only as the hash-chained events tell it. The stored request (a
//! projection) must match the `approval.requested` event's digests, and its status must
//! be backed by enough `approval.reviewed` events from distinct, eligible reviewers bound
//! to the same plan, before state and policy.

use custos_core::{Approval, ApprovalChain, ApprovalStatus, Role};
use std::collections::BTreeSet;

/// One way the stored request disagrees with the events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainProblem {
    #[error("no `approval.requested` event for this request")]
    NoRequest,
    #[error("event {0} does not match its hash")]
    BrokenEvent(i64),
    #[error("the stored {field} is `{stored}`, the event says `{chained}`")]
    Mismatch {
        field: &'static str,
        stored: String,
        chained: String,
    },
    #[error("the stored status is `{stored}`, the events say `{chained}`")]
    Status { stored: String, chained: String },
    #[error("approved by {valid} eligible reviewer(s) in the events; {required} required")]
    Quorum { valid: usize, required: u8 },
}

fn same(
    out: &mut Vec<ChainProblem>,
    field: &'static str,
    stored: impl ToString,
    chained: impl ToString,
) {
    let (stored, chained) = (stored.to_string(), chained.to_string());
    if stored != chained {
        out.push(ChainProblem::Mismatch {
            field,
            stored,
            chained,
        });
    }
}

/// The ledger keeps times to the microsecond.
fn micros(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Every way `stored` disagrees with `chain`; empty when the request can be trusted.
pub fn check_chain(stored: &Approval, chain: &ApprovalChain) -> Vec<ChainProblem> {
    let mut out: Vec<ChainProblem> = chain
        .broken_events
        .iter()
        .map(|s| ChainProblem::BrokenEvent(*s))
        .collect();
    let Some(req) = &chain.request else {
        out.push(ChainProblem::NoRequest);
        return out;
    };
    same(
        &mut out,
        "plan digest",
        stored.plan_digest(),
        &req.plan_digest,
    );
    same(
        &mut out,
        "before-state digest",
        &stored.before_digest,
        &req.before_digest,
    );
    same(
        &mut out,
        "policy digest",
        &stored.decision.policy_digest,
        &req.policy_digest,
    );
    same(
        &mut out,
        "requester",
        &stored.requested_by,
        &req.requested_by,
    );
    same(
        &mut out,
        "required reviewers",
        stored.required_reviewers,
        req.required_reviewers,
    );
    same(
        &mut out,
        "expiry",
        micros(&stored.expires_at),
        micros(&req.expires_at),
    );
    let chained = chain.status.unwrap_or(ApprovalStatus::Pending);
    if chained != stored.status {
        out.push(ChainProblem::Status {
            stored: stored.status.to_string(),
            chained: chained.to_string(),
        });
    }
    if matches!(
        stored.status,
        ApprovalStatus::Approved | ApprovalStatus::Executing
    ) {
        let valid: BTreeSet<String> = chain
            .reviews
            .iter()
            .filter(|r| {
                r.plan_digest == req.plan_digest
                    && r.before_digest == req.before_digest
                    && r.policy_digest == req.policy_digest
                    && !r.by.eq_ignore_ascii_case(&req.requested_by)
                    && r.roles.contains(&Role::Reviewer)
                    && !r.roles.contains(&Role::PolicyAdmin)
            })
            .map(|r| r.identity())
            .collect();
        if valid.len() < usize::from(req.required_reviewers.max(1)) {
            out.push(ChainProblem::Quorum {
                valid: valid.len(),
                required: req.required_reviewers,
            });
        }
    }
    out
}
