//! The executor contract, implemented once for every executor:
//!
//! 1. read the current state (`before`) and its digest;
//! 2. already compliant: record `no_op`, call nothing;
//! 3. digest differs from the plan's: record `stale`, call nothing;
//! 4. write the intent durably (no intent, no call);
//! 5. call the API (the SDK retries with backoff, bounded);
//! 6. read back, verify; on failure restore the before state;
//! 7. record after state, calls, rollback steps and verification.

use crate::{ExecError, Executor};
use async_trait::async_trait;
use custos_core::{
    ActionOutcome, ConfigurationItem, Digest, ExecutionRecord, RemediationPlan, Verification,
    digest_json,
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

/// Durable record of intents and outcomes (the ledger, in production).
#[async_trait]
pub trait Journal: Send + Sync {
    async fn intent(&self, intent: &Intent) -> Result<(), String>;
    async fn outcome(&self, record: &ExecutionRecord) -> Result<(), String>;
}

/// Checks that the fix holds on the state read back (the Rego control, in production).
pub trait Verifier: Send + Sync {
    fn verify(&self, plan: &RemediationPlan, after: &ConfigurationItem) -> Verification;
}

/// The guarded state of a resource for one executor: the facet it changes plus the tags
/// (an exclusion tag added after approval must make the plan stale).
pub fn guarded_state(executor: &dyn Executor, ci: &ConfigurationItem, params: &Value) -> Value {
    json!({"facet": executor.facet_for(ci, params), "tags": ci.tags})
}

async fn read(
    reader: &dyn ResourceReader,
    plan: &RemediationPlan,
) -> Result<Option<ConfigurationItem>, ExecError> {
    reader
        .read(&plan.resource)
        .await
        .map_err(|e| ExecError::Read {
            resource: plan.resource.resource_id.clone(),
            message: e.to_string(),
        })
}

/// Run `plan` through the contract. Errors are recorded in the returned record (outcome
/// `failed` or `rolled_back`); an `Err` means even the journal could not be written.
pub async fn execute(
    executor: &dyn Executor,
    reader: &dyn ResourceReader,
    verifier: &dyn Verifier,
    journal: &dyn Journal,
    plan: &RemediationPlan,
    action_id: &str,
) -> Result<ExecutionRecord, ExecError> {
    let mut record = new_record(plan, action_id, Value::Null, Vec::new());
    // 1. before
    let before_ci = match read(reader, plan).await {
        Ok(Some(ci)) => ci,
        Ok(None) => {
            record.outcome = ActionOutcome::Stale;
            record.error = Some("resource no longer exists".into());
            return finish(journal, record).await;
        }
        Err(e) => {
            record.error = Some(e.to_string());
            return finish(journal, record).await;
        }
    };
    let before = guarded_state(executor, &before_ci, &plan.parameters);
    record.before_digest = digest_json(&before);
    record.before = before.clone();
    record.rollback = executor.rollback_steps(&before["facet"]);
    // 2. idempotence
    if executor.satisfied(&before["facet"], &plan.parameters) {
        record.outcome = ActionOutcome::NoOp;
        record.after = Some(before);
        record.after_digest = Some(record.before_digest.clone());
        return finish(journal, record).await;
    }
    // 3. stale
    if record.before_digest != plan.before_digest {
        record.outcome = ActionOutcome::Stale;
        record.error = Some(format!(
            "resource changed since the plan was made (planned on {}, now {})",
            plan.before_digest.short(),
            record.before_digest.short()
        ));
        return finish(journal, record).await;
    }
    // 4. intent, durably, before any call
    journal
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
    call_and_verify(executor, reader, verifier, journal, plan, record, &before).await
}

/// A record that says `failed` until a step says otherwise.
fn new_record(
    plan: &RemediationPlan,
    action_id: &str,
    before: Value,
    rollback: Vec<custos_core::RollbackStep>,
) -> ExecutionRecord {
    ExecutionRecord {
        action_id: action_id.to_string(),
        plan_id: plan.id.clone(),
        outcome: ActionOutcome::Failed,
        before,
        before_digest: plan.before_digest.clone(),
        after: None,
        after_digest: None,
        calls: Vec::new(),
        rollback,
        verification: None,
        error: None,
    }
}

/// Steps 5 to 7: call, read back, verify, restore on failure, record.
async fn call_and_verify(
    executor: &dyn Executor,
    reader: &dyn ResourceReader,
    verifier: &dyn Verifier,
    journal: &dyn Journal,
    plan: &RemediationPlan,
    mut record: ExecutionRecord,
    before: &Value,
) -> Result<ExecutionRecord, ExecError> {
    // 5. call
    let applied = executor
        .apply(&plan.resource, &plan.parameters, &before["facet"])
        .await;
    match applied {
        Ok(calls) => record.calls.extend(calls),
        Err(e) => {
            record.error = Some(e.to_string());
            record.calls.push(format!("{} (failed)", plan.action));
        }
    }
    // 6. read back and verify
    let after_ci = read(reader, plan).await;
    let verification = match (&after_ci, &record.error) {
        (_, Some(err)) => Verification {
            passed: false,
            method: "call".into(),
            detail: err.clone(),
        },
        (Ok(Some(ci)), None) => verifier.verify(plan, ci),
        (Ok(None), None) => Verification {
            passed: false,
            method: "read-back".into(),
            detail: "resource disappeared".into(),
        },
        (Err(e), None) => Verification {
            passed: false,
            method: "read-back".into(),
            detail: e.to_string(),
        },
    };
    if let Ok(Some(ci)) = &after_ci {
        let after = guarded_state(executor, ci, &plan.parameters);
        record.after_digest = Some(digest_json(&after));
        record.after = Some(after);
    }
    let passed = verification.passed;
    record.verification = Some(verification);
    if passed {
        record.outcome = ActionOutcome::Executed;
        return finish(journal, record).await;
    }
    // 6b. restore the before state, but only if something changed
    let changed = record
        .after
        .as_ref()
        .is_none_or(|a| a["facet"] != before["facet"]);
    if !changed {
        record.outcome = ActionOutcome::Failed;
        return finish(journal, record).await;
    }
    match executor.restore(&plan.resource, &before["facet"]).await {
        Ok(calls) => {
            record.calls.extend(calls);
            record.outcome = ActionOutcome::RolledBack;
            if let Ok(Some(ci)) = read(reader, plan).await {
                let after = guarded_state(executor, &ci, &plan.parameters);
                record.after_digest = Some(digest_json(&after));
                record.after = Some(after);
            }
        }
        Err(e) => {
            record.outcome = ActionOutcome::Failed;
            record.error = Some(format!(
                "{}; rollback failed too: {e}",
                record
                    .error
                    .clone()
                    .unwrap_or_else(|| "verification failed".into())
            ));
        }
    }
    finish(journal, record).await
}

/// Settle an action whose intent was written but whose outcome never was (the process
/// died in between). Decided by reading the resource, never by calling blindly:
/// already applied -> `executed`; untouched and unchanged -> the intended call is made now
/// under the same action id (so one intent stays one call); changed otherwise -> `stale`.
pub async fn reconcile(
    executor: &dyn Executor,
    reader: &dyn ResourceReader,
    verifier: &dyn Verifier,
    journal: &dyn Journal,
    plan: &RemediationPlan,
    action_id: &str,
) -> Result<ExecutionRecord, ExecError> {
    let mut record = new_record(
        plan,
        action_id,
        plan.before.clone(),
        executor.rollback_steps(&plan.before["facet"]),
    );
    let ci = match read(reader, plan).await? {
        Some(ci) => ci,
        None => {
            record.outcome = ActionOutcome::Stale;
            record.error =
                Some("reconciling an interrupted action: resource no longer exists".into());
            return finish(journal, record).await;
        }
    };
    let now = guarded_state(executor, &ci, &plan.parameters);
    if executor.satisfied(&now["facet"], &plan.parameters) {
        let verification = verifier.verify(plan, &ci);
        record.outcome = if verification.passed {
            ActionOutcome::Executed
        } else {
            ActionOutcome::Failed
        };
        record.after_digest = Some(digest_json(&now));
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
    if digest_json(&now) != plan.before_digest {
        record.outcome = ActionOutcome::Stale;
        record.error =
            Some("reconciling an interrupted action: the resource changed meanwhile".into());
        return finish(journal, record).await;
    }
    let before = plan.before.clone();
    call_and_verify(executor, reader, verifier, journal, plan, record, &before).await
}

async fn finish(
    journal: &dyn Journal,
    record: ExecutionRecord,
) -> Result<ExecutionRecord, ExecError> {
    journal.outcome(&record).await.map_err(ExecError::Journal)?;
    Ok(record)
}

/// The result of restoring an executed action's before state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackResult {
    pub calls: Vec<String>,
    pub restored: Value,
    /// The facet read back equals the recorded before facet.
    pub exact: bool,
}

/// Restore the before state recorded in `record`, then read the resource back.
pub async fn rollback(
    executor: &dyn Executor,
    reader: &dyn ResourceReader,
    plan: &RemediationPlan,
    record: &ExecutionRecord,
) -> Result<RollbackResult, ExecError> {
    let before_facet = &record.before["facet"];
    let calls = executor.restore(&plan.resource, before_facet).await?;
    let ci = read(reader, plan).await?.ok_or_else(|| ExecError::Read {
        resource: plan.resource.resource_id.clone(),
        message: "resource disappeared during rollback".into(),
    })?;
    let restored = executor.facet_for(&ci, &plan.parameters);
    Ok(RollbackResult {
        exact: &restored == before_facet,
        calls,
        restored,
    })
}

/// A verifier that trusts the executor's own notion of "satisfied"; for tests and as a
/// fallback when no policy is at hand.
#[derive(Debug)]
pub struct SatisfiedVerifier<'a>(pub &'a dyn Executor);

impl Verifier for SatisfiedVerifier<'_> {
    fn verify(&self, plan: &RemediationPlan, after: &ConfigurationItem) -> Verification {
        let passed = self
            .0
            .satisfied(&self.0.facet_for(after, &plan.parameters), &plan.parameters);
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
