//! The executor contract, implemented once for every executor:
//!
//! 1. the caller (the engine's guard) reads the current state (`before`);
//! 2. already compliant: record `no_op`, call nothing;
//! 3. digest differs from the one decided on: record `stale`, call nothing;
//! 4. write the intent durably; the journal may refuse (the guard's last check at this
//!    moment): record `refused`, call nothing;
//! 5. call the API (the SDK retries with backoff, bounded);
//! 6. read back and verify: the state read back decides, not the call's answer (a call
//!    whose response was lost but which landed is `executed`); a resource still applying
//!    the change (an RDS modification) is read again, bounded by [`Settle`], and one that
//!    has not settled by then is neither verified nor restored; a change that does not
//!    verify is restored;
//! 7. record after state, calls, rollback steps and verification.
//!
//! [`reconcile`] settles an intent left without outcome by a crash, by reading only: it
//! never calls. Rollbacks are plans too: [`Revert`] turns an executor into "restore this
//! before state", so a rollback passes the same steps (and the same guard).

use crate::{Action, ActionProperties, ExecError, Executor};
use async_trait::async_trait;
use custos_core::{
    ActionKind, ActionOutcome, ConfigurationItem, Digest, ExecutionRecord, RemediationPlan,
    ResourceRef, RollbackStep, Verification, digest_json,
};
use custos_telemetry::ResourceReader;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What is about to be called, written before the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub action_id: String,
    pub plan_id: String,
    pub action: String,
    pub parameters: Value,
    pub before: Value,
    pub before_digest: Digest,
}

/// The journal's answer to an intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentDecision {
    /// Durably written: the call may be made.
    Written,
    /// Not admitted at this moment (policy, limits, pause, breaker); nothing is called.
    Refused(String),
}

/// Durable record of intents and outcomes (the ledger, through the engine's guard).
#[async_trait]
pub trait Journal: Send + Sync {
    /// Write the intent, or refuse it. `Err`: it could not be written; nothing is called.
    async fn intent(&self, intent: &Intent) -> Result<IntentDecision, String>;
    /// The fence before every call: `Err` when this work may no longer call (its lease on
    /// the resource expired or was taken over by another worker); nothing is called then.
    async fn may_call(&self) -> Result<(), String>;
    async fn outcome(&self, record: &ExecutionRecord) -> Result<(), String>;
}

/// Checks that the fix holds on the state read back (the Rego control, in production).
pub trait Verifier: Send + Sync {
    fn verify(&self, plan: &RemediationPlan, after: &ConfigurationItem) -> Verification;
}

/// How long a read-back waits for a resource that is still applying a change
/// ([`Action::settling`]): at most `reads` more reads, `every` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    pub reads: u32,
    pub every: std::time::Duration,
}

impl Settle {
    /// Every 10 seconds, for at most `seconds` (rounded up to a read).
    pub fn within(seconds: u64) -> Settle {
        Settle {
            reads: u32::try_from(seconds.div_ceil(10)).unwrap_or(u32::MAX),
            every: std::time::Duration::from_secs(10),
        }
    }
}

/// Read back, again while the fix does not verify and the action says the resource is
/// still applying a change, at most `settle.reads` more times. Returns the last read and,
/// if it has not settled, why.
async fn read_settled(
    action: &dyn Action,
    io: &Io<'_>,
    plan: &RemediationPlan,
) -> Result<(Option<ConfigurationItem>, Option<String>), ExecError> {
    let (reader, resource, settle) = (io.reader, &plan.resource, io.settle);
    let mut ci = read(reader, resource).await?;
    let mut reads = 0;
    loop {
        let why = ci
            .as_ref()
            .filter(|c| !io.verifier.verify(plan, c).passed)
            .and_then(|c| action.settling(c));
        if why.is_none() || reads >= settle.reads {
            return Ok((ci, why));
        }
        tokio::time::sleep(settle.every).await;
        ci = read(reader, resource).await?;
        reads += 1;
    }
}

/// The guarded state of a resource for one action: the facet it changes plus the tags
/// (an exclusion tag added after approval must make the plan stale).
pub fn guarded_state(action: &dyn Action, ci: &ConfigurationItem, params: &Value) -> Value {
    json!({"facet": action.facet_for(ci, params), "tags": ci.tags})
}

async fn read(
    reader: &dyn ResourceReader,
    resource: &ResourceRef,
) -> Result<Option<ConfigurationItem>, ExecError> {
    reader.read(resource).await.map_err(|e| ExecError::Read {
        resource: resource.resource_id.clone(),
        message: e.to_string(),
    })
}

/// Run `plan` through the contract on the state `before_ci` the caller has just read and
/// decided on; `expected` is the guarded-state digest the decision was made for. Errors
/// of the cloud are recorded in the returned record; an `Err` means the journal could
/// not be written (and nothing was called after that).
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    executor: &dyn Executor,
    reader: &dyn ResourceReader,
    verifier: &dyn Verifier,
    journal: &dyn Journal,
    plan: &RemediationPlan,
    before_ci: &ConfigurationItem,
    expected: &Digest,
    action_id: &str,
    settle: &Settle,
) -> Result<ExecutionRecord, ExecError> {
    let before = guarded_state(executor, before_ci, &plan.parameters);
    let mut record = new_record(plan, action_id, before.clone());
    record.before_digest = digest_json(&before);
    record.rollback = executor.rollback_steps(&before["facet"]);
    // 2. idempotence
    if executor.satisfied(&before["facet"], &plan.parameters) {
        record.outcome = ActionOutcome::NoOp;
        record.after = Some(before);
        record.after_digest = Some(record.before_digest.clone());
        return finish(journal, record).await;
    }
    // 2b. the finding no longer holds: the control passes on the state read now (a key
    // scheduled for deletion since the approval, say), so nothing is called for it.
    let now = verifier.verify(plan, before_ci);
    if now.passed {
        record.outcome = ActionOutcome::NoOp;
        record.verification = Some(now);
        record.after = Some(before);
        record.after_digest = Some(record.before_digest.clone());
        return finish(journal, record).await;
    }
    // 3. stale
    if &record.before_digest != expected {
        record.outcome = ActionOutcome::Stale;
        record.error = Some(format!(
            "resource changed since the decision (decided on {}, now {})",
            expected.short(),
            record.before_digest.short()
        ));
        return finish(journal, record).await;
    }
    // 4. intent, durably, before any call (or the guard's refusal)
    let decision = journal
        .intent(&Intent {
            action_id: action_id.to_string(),
            plan_id: plan.id.clone(),
            action: plan.action.clone(),
            parameters: plan.parameters.clone(),
            before: before.clone(),
            before_digest: record.before_digest.clone(),
        })
        .await
        .map_err(ExecError::Journal)?;
    if let IntentDecision::Refused(why) = decision {
        record.outcome = ActionOutcome::Refused;
        record.error = Some(why);
        return finish(journal, record).await;
    }
    let io = Io {
        reader,
        verifier,
        journal,
        settle,
    };
    call_and_verify(executor, &io, plan, record, &before).await
}

/// What steps 5 to 7 read, check and record with.
struct Io<'a> {
    reader: &'a dyn ResourceReader,
    verifier: &'a dyn Verifier,
    journal: &'a dyn Journal,
    settle: &'a Settle,
}

/// A record that says `failed` until a step says otherwise.
fn new_record(plan: &RemediationPlan, action_id: &str, before: Value) -> ExecutionRecord {
    ExecutionRecord {
        action_id: action_id.to_string(),
        plan_id: plan.id.clone(),
        outcome: ActionOutcome::Failed,
        before,
        before_digest: plan.before_digest.clone(),
        after: None,
        after_digest: None,
        calls: Vec::new(),
        rollback: Vec::new(),
        verification: None,
        error: None,
    }
}

/// Steps 5 to 7: call, read back, verify (the read-back decides), restore on failure.
async fn call_and_verify(
    executor: &dyn Executor,
    io: &Io<'_>,
    plan: &RemediationPlan,
    mut record: ExecutionRecord,
    before: &Value,
) -> Result<ExecutionRecord, ExecError> {
    let (reader, verifier, journal) = (io.reader, io.verifier, io.journal);
    // 5. call, if the lease still holds
    if let Err(why) = journal.may_call().await {
        record.outcome = ActionOutcome::Refused;
        record.error = Some(format!("not called: {why}"));
        return finish(journal, record).await;
    }
    let call_error = match executor
        .apply(&plan.resource, &plan.parameters, &before["facet"])
        .await
    {
        Ok(calls) => {
            record.calls.extend(calls);
            None
        }
        Err(e) => {
            record.calls.push(format!("{} (error)", plan.action));
            Some(e.to_string())
        }
    };
    // 6. read back (again while the change is still being applied); what is there now
    // decides, whatever the call answered
    let (after_ci, unsettled) = match read_settled(executor, io, plan).await {
        Ok((Some(ci), unsettled)) => (ci, unsettled),
        Ok((None, _)) => {
            record.error = Some(join(&call_error, "the resource disappeared"));
            record.verification = Some(Verification {
                passed: false,
                method: "read-back".into(),
                detail: "resource disappeared".into(),
            });
            return finish(journal, record).await;
        }
        Err(e) => {
            // The state is unknown: restoring blind could undo a change that landed.
            record.error = Some(join(
                &call_error,
                &format!("state unknown, not restored: {e}"),
            ));
            record.verification = Some(Verification {
                passed: false,
                method: "read-back".into(),
                detail: e.to_string(),
            });
            return finish(journal, record).await;
        }
    };
    let after = guarded_state(executor, &after_ci, &plan.parameters);
    record.after_digest = Some(digest_json(&after));
    let mut verification = verifier.verify(plan, &after_ci);
    if let Some(err) = &call_error {
        verification.detail = format!(
            "{}; the call answered with an error ({err}), the state read back decides",
            verification.detail
        );
    }
    let changed = after["facet"] != before["facet"];
    record.after = Some(after);
    let passed = verification.passed;
    record.verification = Some(verification);
    if passed {
        record.outcome = ActionOutcome::Executed;
        return finish(journal, record).await;
    }
    // 6a. still applying after the wait: the change may yet land, so nothing is restored
    // (a restore now would race it); the next read of the resource decides.
    if let Some(why) = unsettled {
        let waited = io.settle.every * io.settle.reads;
        let note = format!(
            "still applying a change ({why}) after {} more reads over {} s: not verified, not restored",
            io.settle.reads,
            waited.as_secs()
        );
        if let Some(v) = record.verification.as_mut() {
            v.detail = format!("{}; {note}", v.detail);
        }
        record.outcome = ActionOutcome::Failed;
        record.error = Some(join(&call_error, &note));
        return finish(journal, record).await;
    }
    // 6b. restore the before state, but only if something changed
    if !changed {
        record.outcome = ActionOutcome::Failed;
        record.error = Some(join(&call_error, "nothing changed"));
        return finish(journal, record).await;
    }
    if let Err(why) = journal.may_call().await {
        record.outcome = ActionOutcome::Failed;
        record.error = Some(join(&call_error, &format!("not restored: {why}")));
        return finish(journal, record).await;
    }
    match executor.restore(&plan.resource, &before["facet"]).await {
        Ok(calls) => {
            record.calls.extend(calls);
            record.outcome = ActionOutcome::RolledBack;
            record.error = call_error;
            if let Ok(Some(ci)) = read(reader, &plan.resource).await {
                let after = guarded_state(executor, &ci, &plan.parameters);
                record.after_digest = Some(digest_json(&after));
                record.after = Some(after);
            }
        }
        Err(e) => {
            record.outcome = ActionOutcome::Failed;
            record.error = Some(join(
                &call_error,
                &format!("verification failed and the restore failed too: {e}"),
            ));
        }
    }
    finish(journal, record).await
}

fn join(first: &Option<String>, then: &str) -> String {
    match first {
        Some(f) => format!("{f}; {then}"),
        None => then.to_string(),
    }
}

/// Settle an action whose intent was written but whose outcome never was (the process
/// died in between), by reading only: applied and verified -> `executed`; applied but
/// not verified -> `failed`; untouched -> `interrupted` (nothing is called again: the
/// work goes back through the guard); changed otherwise or gone -> `stale`.
/// `Err`: the resource cannot be read now; the intent stays open.
pub async fn reconcile(
    action: &dyn Action,
    reader: &dyn ResourceReader,
    verifier: &dyn Verifier,
    journal: &dyn Journal,
    plan: &RemediationPlan,
    action_id: &str,
) -> Result<ExecutionRecord, ExecError> {
    let mut record = new_record(plan, action_id, plan.before.clone());
    record.rollback = action.rollback_steps(&plan.before["facet"]);
    let Some(ci) = read(reader, &plan.resource).await? else {
        record.outcome = ActionOutcome::Stale;
        record.error = Some("reconciling an interrupted action: resource no longer exists".into());
        return finish(journal, record).await;
    };
    let now = guarded_state(action, &ci, &plan.parameters);
    // Applied: the facet satisfies the playbook, or, for a fix of one of several things
    // (`Action::subject`), is exactly what the plan wanted.
    let one_of_several = action
        .subject(&plan.before["facet"], &plan.desired["facet"])
        .is_some();
    let applied = action.satisfied(&now["facet"], &plan.parameters)
        || (one_of_several && now["facet"] == plan.desired["facet"]);
    // Not applied and still applying a change (the call's, or another): not yet known.
    if !applied && let Some(why) = action.settling(&ci) {
        return Err(ExecError::Read {
            resource: plan.resource.resource_id.clone(),
            message: format!("still applying a change ({why}); reconciled on a later read"),
        });
    }
    record.after_digest = Some(digest_json(&now));
    if applied {
        let verification = verifier.verify(plan, &ci);
        record.outcome = if verification.passed {
            ActionOutcome::Executed
        } else {
            ActionOutcome::Failed
        };
        record.after = Some(now);
        record.verification = Some(Verification {
            detail: format!(
                "reconciled after an interruption: found applied; {}",
                verification.detail
            ),
            ..verification
        });
        return finish(journal, record).await;
    }
    let unchanged = record.after_digest.as_ref() == Some(&plan.before_digest);
    let partial = action.partial(&plan.before["facet"], &now["facet"]);
    record.after = Some(now);
    if let Some(what) = partial {
        record.outcome = ActionOutcome::Failed;
        record.error = Some(format!(
            "reconciled after an interruption between its requests: {what}; nothing was called again"
        ));
    } else if unchanged {
        record.outcome = ActionOutcome::Interrupted;
        record.error = Some(
            "reconciled after an interruption: the call never landed; nothing was called again"
                .into(),
        );
    } else {
        record.outcome = ActionOutcome::Stale;
        record.error =
            Some("reconciling an interrupted action: the resource changed meanwhile".into());
    }
    finish(journal, record).await
}

async fn finish(
    journal: &dyn Journal,
    record: ExecutionRecord,
) -> Result<ExecutionRecord, ExecError> {
    journal.outcome(&record).await.map_err(ExecError::Journal)?;
    Ok(record)
}

/// An action turned around: "return the facet to `target`" (the before state recorded by
/// an earlier action). Satisfied when the facet is what a restore leaves; applying it
/// calls the inner executor's restore. A rollback is never undone automatically.
#[derive(Debug)]
pub struct Revert<T: ?Sized> {
    pub inner: std::sync::Arc<T>,
    /// The before facet being restored.
    pub target: Value,
}

impl<T: ?Sized + Action> Action for Revert<T> {
    fn action(&self) -> &'static str {
        self.inner.action()
    }
    fn resource_types(&self) -> &'static [&'static str] {
        self.inner.resource_types()
    }
    fn operations(&self) -> crate::Operations {
        self.inner.operations()
    }

    fn properties(&self) -> ActionProperties {
        let mut p = self.inner.properties();
        p.kinds.push(ActionKind::Rollback);
        p.requires_approval = false;
        p.reversible = true;
        p
    }
    fn validate_params(&self, params: &Value) -> Result<(), String> {
        self.inner.validate_params(params)
    }
    fn facet(&self, ci: &ConfigurationItem) -> Value {
        self.inner.facet(ci)
    }
    fn facet_for(&self, ci: &ConfigurationItem, params: &Value) -> Value {
        self.inner.facet_for(ci, params)
    }
    fn satisfied(&self, facet: &Value, _params: &Value) -> bool {
        *facet == self.inner.restored(&self.target)
    }
    fn desired(&self, _facet: &Value, _params: &Value) -> Value {
        self.inner.restored(&self.target)
    }
    fn rollback_steps(&self, _before: &Value) -> Vec<RollbackStep> {
        Vec::new()
    }
    fn settling(&self, ci: &ConfigurationItem) -> Option<String> {
        self.inner.settling(ci)
    }
    /// A rollback is custos's own undo, never a guided fix.
    fn cli(
        &self,
        _ci: &ConfigurationItem,
        _params: &Value,
        _before: &Value,
    ) -> Vec<crate::CliRequest> {
        Vec::new()
    }
}

#[async_trait]
impl<T: ?Sized + Executor> Executor for Revert<T> {
    async fn apply(
        &self,
        resource: &ResourceRef,
        _params: &Value,
        _before: &Value,
    ) -> Result<Vec<String>, ExecError> {
        self.inner.restore(resource, &self.target).await
    }
    async fn restore(
        &self,
        _resource: &ResourceRef,
        _before: &Value,
    ) -> Result<Vec<String>, ExecError> {
        Err(ExecError::Params {
            action: self.inner.action().to_string(),
            message: "a rollback that does not verify is not undone automatically".into(),
        })
    }
}

/// A verifier that trusts the action's own notion of "satisfied": rollbacks (the
/// control fails again on purpose) and the contract tests.
#[derive(Debug)]
pub struct SatisfiedVerifier<'a>(pub &'a dyn Action);

impl Verifier for SatisfiedVerifier<'_> {
    fn verify(&self, plan: &RemediationPlan, after: &ConfigurationItem) -> Verification {
        let facet = self.0.facet_for(after, &plan.parameters);
        // Satisfied, or, for a fix that changes one of several things
        // (`Action::subject`), exactly what the plan wanted: the others wait for plans of
        // their own.
        let one_of_several = self
            .0
            .subject(&plan.before["facet"], &plan.desired["facet"])
            .is_some();
        let passed = self.0.satisfied(&facet, &plan.parameters)
            || (one_of_several && facet == plan.desired["facet"]);
        Verification {
            passed,
            method: "executor-satisfied".into(),
            detail: if passed {
                "state read back satisfies the playbook".into()
            } else {
                "state read back does not satisfy the playbook".into()
            },
        }
    }
}
