//! After a crash, and over time: interrupted intents are settled by reading state (never
//! by calling again: whatever still needs doing goes back through the guard), and past
//! fixes are re-verified.

use crate::pipeline::Origin;
use crate::report::{RunReport, RunRow};
use crate::{Budget, Engine, EngineError, Mode, PolicyVerifier};
use async_trait::async_trait;
use custos_core::{ActionOutcome, ApprovalStatus, ExecutionRecord, Operation};
use custos_executor::contract::{self, SatisfiedVerifier};
use custos_executor::{Action, Intent, IntentDecision, Journal, Revert, Verifier};
use custos_ledger::{ActionMeta, ActionRow, ActionStatus, Claim, Ledger, resource_key};
use custos_telemetry::Rejected;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// What one reconcile pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settled {
    /// Interrupted intents settled by reading state.
    pub settled: usize,
    /// Intents that stay open: the resource cannot be read now, or another live worker
    /// holds it (it is in flight there).
    pub left_open: usize,
}

/// Reconciling writes outcomes only.
struct SettleJournal<'a> {
    ledger: &'a Ledger,
    row: &'a ActionRow,
    /// The claim on the resource the settling worker holds.
    claim: &'a Claim,
}

#[async_trait]
impl Journal for SettleJournal<'_> {
    async fn intent(&self, _intent: &Intent) -> Result<IntentDecision, String> {
        Err("reconciling writes no intent".into())
    }

    async fn may_call(&self) -> Result<(), String> {
        Err("reconciling calls nothing".into())
    }

    async fn outcome(&self, record: &ExecutionRecord) -> Result<(), String> {
        self.ledger
            .action_outcome(
                ActionMeta {
                    run_id: self.row.run_id.as_deref(),
                    approval_id: self.row.approval_id.as_deref(),
                    decision: None,
                    fence: Some(self.claim),
                },
                &self.row.plan,
                record,
            )
            .await
            .map_err(|e| e.to_string())
    }
}

impl Engine {
    /// Settle every action whose intent has no outcome, by reading state. One that
    /// cannot be read now stays open (and its resource untouched) without stopping the
    /// run; so does one another live worker is carrying out.
    pub async fn reconcile(&self) -> Result<Settled, EngineError> {
        let mut out = Settled::default();
        for row in self.ledger.open_intents().await? {
            let key = resource_key(&row.plan.resource);
            let Some(claim) = self.claim_resource(&key).await? else {
                out.left_open += 1;
                continue;
            };
            let settled = self.settle(&row, &claim).await;
            if let Err(e) = self.ledger.release(&claim).await {
                tracing::warn!("releasing the claim on `{key}` failed (it expires): {e}");
            }
            match settled {
                Ok(_) => out.settled += 1,
                Err(e) => {
                    out.left_open += 1;
                    self.ledger
                        .append(
                            row.run_id.as_deref(),
                            "reconcile.deferred",
                            Some(&row.plan.resource),
                            &json!({"action_id": row.id, "error": e.to_string()}),
                        )
                        .await?;
                }
            }
        }
        self.release_abandoned_approvals().await?;
        Ok(out)
    }

    /// A worker that claimed an approval and died before admitting its intent leaves it
    /// `executing` with nothing in flight: once the claim would have expired, it is given
    /// back (approved), for a later run, or for expiry.
    async fn release_abandoned_approvals(&self) -> Result<(), EngineError> {
        let ttl = self.config.guard.claim_ttl;
        let now = self.now();
        for a in self
            .ledger
            .approvals(Some(ApprovalStatus::Executing))
            .await?
        {
            if a.claimed_at.is_some_and(|t| t + ttl > now) {
                continue;
            }
            let key = resource_key(&a.plan.resource);
            if self
                .ledger
                .open_intents_for(&key)
                .await?
                .iter()
                .any(|i| i.approval_id.as_deref() == Some(a.id.as_str()))
            {
                continue;
            }
            // Released only as the events tell it: a row set to `executing` by hand (say,
            // an executed request) must not be armed again.
            let Some(a) = self.vetted(&a.id).await? else {
                continue;
            };
            // The list was read before: the request may have been given back and
            // claimed afresh since (a live claim is not ours to release).
            if a.status != ApprovalStatus::Executing || a.claimed_at.is_some_and(|t| t + ttl > now)
            {
                continue;
            }
            match self
                .release_approval(&a, None, "its worker stopped before its intent")
                .await
            {
                Ok(()) | Err(EngineError::Ledger(custos_ledger::LedgerError::Conflict { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Settle one interrupted intent by reading only; the caller holds the resource's
    /// claim. An approval it belonged to is closed, or given back when the call never
    /// landed.
    pub(crate) async fn settle(
        &self,
        row: &ActionRow,
        claim: &Claim,
    ) -> Result<ActionOutcome, EngineError> {
        let current = self.ledger.action(&row.id).await?;
        if let ActionStatus::Outcome(o) = current.status {
            return Ok(o);
        }
        let action = self.catalog.get(&row.plan.action).cloned().ok_or_else(|| {
            EngineError::Refused(format!(
                "no action `{}` to reconcile `{}` with",
                row.plan.action, row.id
            ))
        })?;
        let policy = PolicyVerifier::new(&self.evaluators, &self.catalog, &row.plan);
        let (spec, revert): (Arc<dyn Action>, bool) = match &row.plan.operation {
            Operation::Fix => (action, false),
            Operation::Rollback { target, .. } => (
                Arc::new(Revert {
                    inner: action,
                    target: target.clone(),
                }),
                true,
            ),
        };
        let satisfied = SatisfiedVerifier(spec.as_ref());
        let verifier: &dyn Verifier = if revert { &satisfied } else { &policy };
        let record = contract::reconcile(
            spec.as_ref(),
            self.reader.as_ref(),
            verifier,
            &SettleJournal {
                ledger: &self.ledger,
                row,
                claim,
            },
            &row.plan,
            &row.id,
        )
        .await?;
        if let Some(id) = &row.approval_id
            && let Some(a) = self.vetted(id).await?
            && a.status == ApprovalStatus::Executing
        {
            match record.outcome {
                ActionOutcome::Interrupted => {
                    self.release_approval(
                        &a,
                        row.run_id.as_deref(),
                        "interrupted before the call landed",
                    )
                    .await?
                }
                outcome => {
                    self.close_approval(&a, outcome == ActionOutcome::Stale, row.run_id.as_deref())
                        .await?
                }
            }
        }
        Ok(record.outcome)
    }

    /// Re-verification sweep: every resource custos fixed is read again; one that fails
    /// its control again is recorded as a recurrence and goes through the sandwich again
    /// (within the autonomy rules, like any finding).
    pub async fn reverify(&self, mode: Mode) -> Result<RunReport, EngineError> {
        self.reverify_with(mode, Budget::PerRun).await
    }

    pub(crate) async fn reverify_with(
        &self,
        mode: Mode,
        budget: Budget,
    ) -> Result<RunReport, EngineError> {
        let mut st = self.begin("reverify", mode, budget).await?;
        for fix in self.ledger.executed_fixes().await? {
            let r = &fix.plan.resource;
            let ci = match self.reader.read(r).await {
                Ok(Some(ci)) => ci,
                Ok(None) => continue,
                Err(e) => {
                    let rej = Rejected {
                        location: format!("reverify:{}", resource_key(r)),
                        field: None,
                        error: e.to_string(),
                        raw: String::new(),
                    };
                    self.dead_letter(&mut st, "reverify", &rej).await?;
                    continue;
                }
            };
            // The fix's own verification (on its subject, when the action names one: a
            // user's other stale key is not a recurrence of this fix).
            let passes = PolicyVerifier::new(&self.evaluators, &self.catalog, &fix.plan)
                .holds(&fix.plan, &ci);
            match passes {
                Ok(true) => {
                    if st.records() {
                        self.ledger
                            .append(
                                Some(st.run_id()),
                                "reverify.ok",
                                Some(r),
                                &json!({"control": fix.plan.control_id, "action_id": fix.id}),
                            )
                            .await?;
                    }
                }
                Ok(false) => {
                    st.report.recurrences += 1;
                    if st.records() {
                        self.ledger
                            .append(Some(st.run_id()), "recurrence", Some(r), &json!({"control": fix.plan.control_id, "fixed_by": fix.id, "fixed_at": fix.finished_at}))
                            .await?;
                    }
                    self.process(&mut st, ci, Origin::FreshRead).await?;
                }
                Err(e) => st.report.rows.push(RunRow::error(r.clone(), &e)),
            }
        }
        self.finish(st).await
    }
}
