//! Approval requests: expiry, decisions by humans, and executing what was approved. An
//! approval is claimed (`approved` -> `executing`, a conditional update: one worker wins)
//! and then goes through the guard like any change; it lifts `needs_approval`, nothing
//! more.

use crate::guard::{Guarded, Work};
use crate::report::{Outcome, RunRow};
use crate::{Budget, Engine, EngineError, Mode, RunState};
use custos_core::{ActionOutcome, Approval, ApprovalStatus, Digest, Principal};
use custos_ledger::LedgerError;

/// The claim a worker holds on an `executing` request.
fn held(claimed: &Approval) -> Result<chrono::DateTime<chrono::Utc>, EngineError> {
    claimed.claimed_at.ok_or_else(|| {
        EngineError::Refused(format!(
            "approval `{}` is executing without a claim time",
            claimed.id
        ))
    })
}

impl Engine {
    /// Expire every pending or approved request past its expiry.
    pub async fn expire_due(&self) -> Result<usize, EngineError> {
        let now = self.now();
        let mut n = 0;
        for status in [ApprovalStatus::Pending, ApprovalStatus::Approved] {
            for a in self.ledger.approvals(Some(status)).await? {
                if let Some(expired) = custos_approval::expire_if_due(&a, now) {
                    match self
                        .ledger
                        .transition_approval(&expired, &[status], "approval.expired", None)
                        .await
                    {
                        Ok(()) => n += 1,
                        // Someone else moved it first: nothing to expire.
                        Err(LedgerError::Conflict { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(n)
    }

    /// The request as stored, checked against its events under the ledger's write lock;
    /// one that disagrees is marked `invalid` (recorded with the problems) and refused.
    pub(crate) async fn trusted(&self, id: &str) -> Result<Approval, EngineError> {
        let vetted = self
            .ledger
            .vet_approval(id, |a, chain| {
                custos_approval::check_chain(a, chain)
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            })
            .await?;
        vetted.map_err(|problems| {
            tracing::info!(
                "approval `{id}` does not match the ledger: {}",
                problems.join("; ")
            );
            EngineError::Refused(format!(
                "approval `{id}` does not match the ledger's events and is refused: {}",
                problems.join("; ")
            ))
        })
    }

    /// [`Engine::trusted`], with a request that does not match its events (now marked
    /// `invalid` and recorded) as `None`.
    pub(crate) async fn vetted(&self, id: &str) -> Result<Option<Approval>, EngineError> {
        match self.trusted(id).await {
            Ok(a) => Ok(Some(a)),
            Err(EngineError::Refused(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Record a refused decision on a request, then return the refusal.
    async fn refuse(
        &self,
        a: &Approval,
        who: &Principal,
        action: &str,
        e: custos_approval::ApprovalError,
    ) -> EngineError {
        let detail = serde_json::json!({
            "approval_id": a.id, "action": action, "by": who.name, "roles": who.roles,
            "via": who.via, "code": e.code(), "detail": e.to_string(),
        });
        if let Err(le) = self
            .ledger
            .record_refusal(
                "approval.refused",
                &format!("principal:{}", who.name),
                &detail,
            )
            .await
        {
            return le.into();
        }
        e.into()
    }

    /// A reviewer approves a request, bound to the plan digest they saw (when given).
    /// Once enough distinct reviewers have approved, with `execute`, it runs now, through
    /// the guard, in a run of its own.
    pub async fn approve(
        &self,
        id: &str,
        who: &Principal,
        seen: Option<&Digest>,
        comment: Option<String>,
        execute: bool,
    ) -> Result<(Approval, Option<RunRow>), EngineError> {
        self.expire_due().await?;
        let found = self.ledger.approval(id).await?;
        // Another reviewer may record theirs between our read and our write: read again
        // and add to it (a few times at most).
        let mut tries = 0;
        let approved = loop {
            tries += 1;
            let a = self.trusted(&found.id).await?;
            let approved =
                match custos_approval::approve(&a, who, seen, comment.clone(), self.now()) {
                    Ok(x) => x,
                    Err(e) => return Err(self.refuse(&a, who, "approve", e).await),
                };
            let review = approved
                .reviews
                .last()
                .cloned()
                .ok_or_else(|| EngineError::Refused("no review was recorded".into()))?;
            match self.ledger.record_review(&approved, &review).await {
                Ok(()) => break approved,
                Err(LedgerError::Conflict { actual, .. }) if actual == "pending" && tries < 3 => {}
                Err(e) => return Err(e.into()),
            }
        };
        if !execute || approved.status != ApprovalStatus::Approved {
            return Ok((approved, None));
        }
        let mut st = self
            .begin(
                &format!("approve:{}", approved.id),
                Mode::Execute,
                // Work executed outside a scan or service run counts over the rolling
                // window: a run of its own would start every per-run limit from zero.
                Budget::RollingWindow,
            )
            .await?;
        let current = self.ledger.approval(&approved.id).await?;
        let row = self.execute_approved(&mut st, &current).await;
        self.finish(st).await?;
        let row = row?;
        let after = self.ledger.approval(&approved.id).await?;
        Ok((after, Some(row)))
    }

    /// A reviewer denies a request, with a reason (the requester may say no too).
    pub async fn deny(
        &self,
        id: &str,
        who: &Principal,
        reason: Option<String>,
    ) -> Result<Approval, EngineError> {
        self.expire_due().await?;
        let a = self.ledger.approval(id).await?;
        let denied = match custos_approval::deny(&a, who, reason, self.now()) {
            Ok(x) => x,
            Err(e) => return Err(self.refuse(&a, who, "deny", e).await),
        };
        self.ledger
            .transition_approval(&denied, &[ApprovalStatus::Pending], "approval.denied", None)
            .await?;
        Ok(denied)
    }

    /// Every approved request, at the start of a run, counted against its limits.
    pub(crate) async fn execute_approved_all(&self, st: &mut RunState) -> Result<(), EngineError> {
        for a in self
            .ledger
            .approvals(Some(ApprovalStatus::Approved))
            .await?
        {
            let row = self.execute_approved(st, &a).await?;
            st.report.rows.push(row);
        }
        Ok(())
    }

    /// Give a claimed request back: approved again, for a later run.
    pub(crate) async fn release_approval(
        &self,
        claimed: &Approval,
        run: Option<&str>,
        why: &str,
    ) -> Result<(), EngineError> {
        let released = custos_approval::release(claimed)?;
        tracing::info!("approval `{}` stays approved: {why}", released.id);
        self.ledger
            .transition_claimed(&released, held(claimed)?, "approval.released", run)
            .await?;
        Ok(())
    }

    /// Close a claimed request: carried out (whatever the action's outcome), or stale.
    pub(crate) async fn close_approval(
        &self,
        claimed: &Approval,
        stale: bool,
        run: Option<&str>,
    ) -> Result<(), EngineError> {
        let closed = custos_approval::close(claimed, stale)?;
        let event = if stale {
            "approval.stale"
        } else {
            "approval.executed"
        };
        self.ledger
            .transition_claimed(&closed, held(claimed)?, event, run)
            .await?;
        Ok(())
    }

    /// Claim an approved request and carry it out through the guard.
    pub(crate) async fn execute_approved(
        &self,
        st: &mut RunState,
        a: &Approval,
    ) -> Result<RunRow, EngineError> {
        let mut row = RunRow::decided(&a.plan, &a.decision, &a.findings);
        row.approval_id = Some(a.id.clone());
        // Trusted only as the events tell it: a row edited behind custos' back is refused.
        let a = match self.trusted(&a.id).await {
            Ok(fresh) => fresh,
            Err(e) => {
                row.outcome = Outcome::Refused;
                row.detail = Some(e.to_string());
                return Ok(row);
            }
        };
        let a = &a;
        let claimed = match custos_approval::claim(a, self.now()) {
            Ok(c) => c,
            Err(e) => {
                row.outcome = Outcome::Deferred;
                row.detail = Some(e.to_string());
                return Ok(row);
            }
        };
        match self
            .ledger
            .transition_approval(
                &claimed,
                &[ApprovalStatus::Approved],
                "approval.claimed",
                Some(st.run_id()),
            )
            .await
        {
            Ok(()) => {}
            Err(LedgerError::Conflict { actual, .. }) => {
                row.outcome = Outcome::Deferred;
                row.detail = Some(format!(
                    "approval `{}` is `{actual}`: another worker has it",
                    a.id
                ));
                return Ok(row);
            }
            Err(e) => return Err(e.into()),
        }
        let run = st.run_id().to_string();
        let guarded = match self
            .guarded(Work::Approved { approval: &claimed }, st)
            .await
        {
            Ok(g) => g,
            Err(e) => {
                self.release_approval(&claimed, Some(&run), "the guard failed")
                    .await?;
                return Err(e);
            }
        };
        match guarded {
            Guarded::Done {
                record, decision, ..
            } => {
                if record.outcome == ActionOutcome::Refused {
                    // Not now (a blackout, a limit, a pause): the request stays approved
                    // and a later run tries again until it expires.
                    self.release_approval(&claimed, Some(&run), "refused at admission")
                        .await?;
                    if let Some(d) = &decision {
                        self.note_blast_radius(st, d).await?;
                        row.verdict = Some(d.verdict);
                        row.reasons = d
                            .reasons
                            .iter()
                            .filter(|r| r.verdict > custos_core::Verdict::Execute)
                            .map(|r| r.rule.clone())
                            .collect();
                        row.outcome = match d.verdict {
                            custos_core::Verdict::Deny => Outcome::Denied,
                            _ => Outcome::Recommended,
                        };
                    }
                    row.action_id = Some(record.action_id.clone());
                    row.detail = Some(format!(
                        "approved, but not executed now: {}",
                        record.error.clone().unwrap_or_default()
                    ));
                    return Ok(row);
                }
                self.close_approval(
                    &claimed,
                    record.outcome == ActionOutcome::Stale,
                    Some(st.run_id()),
                )
                .await?;
                row.set_execution(&record);
            }
            Guarded::NotNow { reason } => {
                self.release_approval(&claimed, Some(&run), &reason.message)
                    .await?;
                row.outcome = Outcome::Deferred;
                row.reasons.push(reason.rule);
                row.detail = Some(reason.message);
            }
        }
        Ok(row)
    }
}
