//! A batch (a scan or a replay): its items are decided one after another against one
//! guard snapshot, the fixes decided so far counting against its limits; then the fixes
//! run together, each through the guard, which claims the resource and decides again at
//! its admission (so running them together cannot exceed what policy allows).
//! Observations are recorded once every fix of the batch is.
//!
//! How many run at once: at most `guard.concurrency_per_service` per account and service,
//! and a window that starts at one, doubles after each fix that did not fail (up to
//! `guard.concurrency`) and falls back to one after a failure. So a batch whose fixes
//! fail runs them one at a time, and the circuit breaker opens after the same number of
//! failures as in a sequential run; a failure can be followed by no more than the fixes
//! already in flight when it happened.

use crate::guard::{Guarded, Work, service};
use crate::report::RunRow;
use crate::{Engine, EngineError, Mode, RunState};
use custos_core::{Decision, Digest, Finding, RemediationPlan, ResourceRef};
use custos_ledger::{Counts, GuardSnapshot, resource_key};
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub(crate) struct Batch {
    snapshot: Arc<GuardSnapshot>,
    fixes: Vec<Queued>,
    observed: Vec<(ResourceRef, chrono::DateTime<chrono::Utc>, Digest)>,
}

/// A fix decided `execute`, waiting for the batch to run it.
#[derive(Debug)]
struct Queued {
    /// Its row in the run report.
    row: usize,
    plan: RemediationPlan,
    findings: Vec<Finding>,
    decision: Decision,
}

impl Batch {
    /// The guard state the batch decides with.
    pub(crate) fn snapshot(&self) -> Arc<GuardSnapshot> {
        self.snapshot.clone()
    }

    pub(crate) fn queue(
        &mut self,
        row: usize,
        plan: &RemediationPlan,
        findings: &[Finding],
        decision: Decision,
    ) {
        self.fixes.push(Queued {
            row,
            plan: plan.clone(),
            findings: findings.to_vec(),
            decision,
        });
    }

    pub(crate) fn observe(
        &mut self,
        resource: ResourceRef,
        at: chrono::DateTime<chrono::Utc>,
        digest: Digest,
    ) {
        self.observed.push((resource, at, digest));
    }
}

/// One semaphore per account and service.
struct PerService {
    permits: usize,
    keys: Mutex<BTreeMap<String, Arc<Semaphore>>>,
}

impl PerService {
    async fn acquire(&self, key: String) -> Result<OwnedSemaphorePermit, EngineError> {
        let sem = {
            let mut keys = self
                .keys
                .lock()
                .map_err(|_| EngineError::Refused("concurrency limits lock poisoned".into()))?;
            keys.entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.permits)))
                .clone()
        };
        sem.acquire_owned()
            .await
            .map_err(|e| EngineError::Refused(format!("concurrency limit closed: {e}")))
    }
}

/// The slow-start window (see the module's note).
struct Window {
    max: usize,
    /// (window, in flight)
    state: Mutex<(usize, usize)>,
    changed: tokio::sync::Notify,
}

impl Window {
    fn new(max: usize) -> Self {
        Window {
            max: max.max(1),
            state: Mutex::new((1, 0)),
            changed: tokio::sync::Notify::new(),
        }
    }

    async fn enter(&self) -> Result<(), EngineError> {
        loop {
            // Made before the check: a wakeup between the check and the wait is kept.
            let changed = self.changed.notified();
            {
                let mut s = self.lock()?;
                if s.1 < s.0 {
                    s.1 += 1;
                    return Ok(());
                }
            }
            changed.await;
        }
    }

    fn leave(&self, failed: bool) -> Result<(), EngineError> {
        {
            let mut s = self.lock()?;
            s.1 = s.1.saturating_sub(1);
            s.0 = if failed { 1 } else { (s.0 * 2).min(self.max) };
        }
        self.changed.notify_waiters();
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, (usize, usize)>, EngineError> {
        self.state
            .lock()
            .map_err(|_| EngineError::Refused("concurrency window lock poisoned".into()))
    }
}

/// Did the fix fail (an error, a failed call, a rollback)?
fn failed(r: &Result<Guarded, EngineError>) -> bool {
    match r {
        Ok(Guarded::Done { record, .. }) => matches!(
            record.outcome,
            custos_core::ActionOutcome::Failed | custos_core::ActionOutcome::RolledBack
        ),
        Ok(Guarded::NotNow { .. }) => false,
        Err(_) => true,
    }
}

/// How many observations one ledger transaction records.
const OBSERVATIONS_PER_COMMIT: usize = 256;

impl Engine {
    pub(crate) async fn start_batch(&self, st: &RunState) -> Result<Batch, EngineError> {
        Ok(Batch {
            snapshot: Arc::new(self.snapshot(st).await?),
            fixes: Vec::new(),
            observed: Vec::new(),
        })
    }

    /// Run the batch's queued fixes, fill in their rows, then record its observations
    /// (a resource whose fix failed to record is left unobserved, so it is processed
    /// again).
    pub(crate) async fn run_batch(&self, st: &mut RunState) -> Result<(), EngineError> {
        let Some(batch) = st.batch.take() else {
            return Ok(());
        };
        if st.mode == Mode::Execute {
            // They counted for the batch's decisions; the guard counts what it admits.
            st.would_execute = Counts::default();
        }
        let limits = PerService {
            permits: self.config.guard.concurrency_per_service,
            keys: Mutex::new(BTreeMap::new()),
        };
        let window = Window::new(self.config.guard.concurrency);
        let shared: &RunState = st;
        let done: Vec<_> = stream::iter(batch.fixes)
            .map(|q| {
                let (limits, window) = (&limits, &window);
                async move {
                    let key = format!("{}/{}", q.plan.resource.account, service(&q.plan.action));
                    let guarded = async {
                        let _permit = limits.acquire(key).await?;
                        window.enter().await?;
                        let work = Work::Fix {
                            plan: &q.plan,
                            findings: &q.findings,
                            decision: &q.decision,
                        };
                        let r = self.guarded(work, shared).await;
                        window.leave(failed(&r))?;
                        r
                    }
                    .await;
                    (q, guarded)
                }
            })
            .buffer_unordered(self.config.guard.concurrency)
            .collect()
            .await;
        let mut failed = BTreeSet::new();
        let mut first_error = None;
        for (q, guarded) in done {
            match guarded {
                Ok(g) => {
                    let row = RunRow::decided(&q.plan, &q.decision, &q.findings);
                    let row = self.settle_fix(st, row, &q.findings, g).await?;
                    if let Some(slot) = st.report.rows.get_mut(q.row) {
                        *slot = row;
                    }
                }
                Err(e) => {
                    tracing::warn!("fix of `{}` failed: {e}", resource_key(&q.plan.resource));
                    failed.insert(resource_key(&q.plan.resource));
                    first_error.get_or_insert(e);
                }
            }
        }
        if st.mode != Mode::DryRun {
            let observed: Vec<_> = batch
                .observed
                .iter()
                .filter(|(resource, _, _)| !failed.contains(&resource_key(resource)))
                .map(|(resource, at, digest)| (resource, at, digest.as_str()))
                .collect();
            // In groups: one commit per group, and no group holds the ledger's write lock
            // (other workers' admissions wait on it) for long.
            for group in observed.chunks(OBSERVATIONS_PER_COMMIT) {
                self.ledger.observe_many(group).await?;
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn starts(w: &Window) -> bool {
        matches!(w.enter().now_or_never(), Some(Ok(())))
    }

    #[test]
    fn the_window_starts_at_one_doubles_on_success_and_falls_back_after_a_failure() {
        let w = Window::new(4);
        assert!(starts(&w));
        assert!(!starts(&w), "a second fix waits while the window is one");
        w.leave(false).unwrap(); // window 2, none in flight
        assert!(starts(&w) && starts(&w));
        assert!(!starts(&w), "window 2");
        w.leave(false).unwrap(); // window 4, one in flight
        assert!(starts(&w) && starts(&w) && starts(&w));
        assert!(!starts(&w), "never more than `guard.concurrency`");
        w.leave(true).unwrap(); // a failure: window 1, three in flight
        assert!(
            !starts(&w),
            "after a failure nothing new starts while others are in flight"
        );
        w.leave(true).unwrap();
        w.leave(true).unwrap();
        assert!(!starts(&w), "still one in flight");
        w.leave(true).unwrap(); // window 1, none in flight
        assert!(starts(&w));
        assert!(!starts(&w), "one at a time while fixes fail");
    }
}
