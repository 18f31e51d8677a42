//! The engine wires the layers: telemetry -> detect -> plan -> gate -> reasoning ->
//! autonomy/approval -> guard -> executor -> verify, writing every step to the ledger.
//! It depends on the layers' traits only and knows no cloud API.
//!
//! Modules, one job each:
//! - [`pipeline`]: runs, items, detection, planning, the first decision;
//! - `decide`: the one decision function (floor + gate + reasoning + autonomy + switches);
//! - `guard`: the only door to the cloud; it alone holds the executors;
//! - `approvals`: requests, expiry, executing what humans approved (through the guard);
//! - `recovery`: settling interrupted intents (read-only) and re-verification sweeps;
//! - `switches`: pause/resume and the circuit breaker;
//! - `autonomy`: runtime autonomy levels (under the ceiling);
//! - [`learning`]: outcomes from the ledger's events, the rule that earns or loses a level,
//!   and the lower-environment proof the floor reads;
//! - [`service`]: SQS and schedules.

mod approvals;
mod autonomy;
mod batch;
pub mod config;
mod decide;
mod evaluators;
mod guard;
pub mod learning;
pub mod notify;
pub mod observe;
pub mod pipeline;
mod recovery;
pub mod replay;
pub mod report;
pub mod service;
mod switches;

pub use autonomy::{AutonomyChange, AutonomyView};
pub use config::{Config, ConfigErrors};
pub use guard::RollbackReport;
pub use learning::{
    AutonomyReport, Durations, FixTime, StageChange, StageRecommendation, WeekShare,
};
pub use pipeline::{ControlResult, Disposition, Explanation, Origin};
pub use recovery::Settled;
pub use report::{Outcome, RunReport, RunRow};
pub use switches::BreakerStatus;

use custos_core::{Clock, ConfigurationItem, RemediationPlan, ResourceRef, Verification};
use custos_executor::{Catalog, PlaybookSet, Registry, Verifier};
use custos_ledger::{Counts, Ledger, Scope};
use custos_policy::PolicyBundle;
use custos_reasoning::Reasoning;
use custos_telemetry::ResourceReader;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Ledger(#[from] custos_ledger::LedgerError),
    #[error(transparent)]
    Telemetry(#[from] custos_telemetry::TelemetryError),
    #[error(transparent)]
    Exec(#[from] custos_executor::ExecError),
    #[error(transparent)]
    Approval(#[from] custos_approval::ApprovalError),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Access(#[from] custos_identity::AccessError),
}

/// How a run treats cleared plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Execute what is cleared, request approvals.
    Execute,
    /// Decide and record "would execute"; call nothing, request nothing.
    Shadow,
    /// Decide only; write nothing to the ledger, call nothing (`custos plan`).
    DryRun,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Execute => "execute",
            Mode::Shadow => "shadow",
            Mode::DryRun => "dry-run",
        }
    }
}

/// What the blast-radius "run" limits count over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// One `run --once` or scan: the run.
    PerRun,
    /// The service, and work executed outside a scan (an approval's execution, a
    /// rollback): no run ends, so the per-run limits apply to the rolling window.
    RollingWindow,
}

/// Everything the engine stands on.
#[derive(Debug)]
pub struct Parts {
    pub config: Config,
    pub bundle: PolicyBundle,
    pub playbooks: PlaybookSet,
    /// The executors. The engine hands them to its guard and keeps nothing else.
    pub registry: Registry,
    pub reasoning: Reasoning,
    pub reader: Arc<dyn ResourceReader>,
    pub ledger: Arc<Ledger>,
    pub clock: Arc<dyn Clock>,
    /// Who is running custos (recorded as the requester of approvals).
    pub actor: String,
}

#[derive(Debug)]
pub struct Engine {
    config: Config,
    bundle: PolicyBundle,
    playbooks: PlaybookSet,
    /// The pure side of the actions (planning, verification, reconciling).
    catalog: Catalog,
    reasoning: Reasoning,
    reader: Arc<dyn ResourceReader>,
    ledger: Arc<Ledger>,
    clock: Arc<dyn Clock>,
    actor: String,
    evaluators: evaluators::Evaluators,
    /// Id of the policy snapshot kept in the ledger (bundle digest and gate settings).
    policy_snapshot: String,
    guard: guard::Guard,
    observer: Arc<dyn observe::Observe>,
    notifier: Arc<dyn notify::Notify>,
    /// Outcomes folded from the ledger, caught up before each use.
    history: learning::History,
}

/// One run in progress.
#[derive(Debug)]
pub struct RunState {
    pub mode: Mode,
    budget: Budget,
    /// Resources custos knows (the ledger's, and every one this run names) ...
    known: std::collections::BTreeSet<String>,
    /// ... and their number per class, for the percentage rule.
    class_sizes: BTreeMap<String, u64>,
    /// Executions a shadow or dry run would have made (they count against its limits).
    would_execute: Counts,
    blast_logged: bool,
    /// Set for a batch (a scan or a replay): its fixes are queued and run together.
    batch: Option<batch::Batch>,
    pub report: RunReport,
}

impl RunState {
    fn records(&self) -> bool {
        self.mode != Mode::DryRun
    }

    pub fn run_id(&self) -> &str {
        &self.report.run_id
    }

    /// Count resource keys (`account/region/type/id`) among the known ones.
    pub(crate) fn know_keys(&mut self, keys: impl IntoIterator<Item = String>) {
        for key in keys {
            if let Some(t) = key.split('/').nth(2) {
                let class = custos_core::ci::resource_class(t);
                if self.known.insert(key) {
                    *self.class_sizes.entry(class).or_default() += 1;
                }
            }
        }
    }

    /// The class sizes with the resources the ledger knows now added: other workers'
    /// changes since this run started are of resources this run may not have counted,
    /// and a percentage of a class must be of a class that includes them.
    pub(crate) fn class_sizes_with(&self, ledger_keys: Vec<String>) -> BTreeMap<String, u64> {
        let mut sizes = self.class_sizes.clone();
        for key in ledger_keys {
            if !self.known.contains(&key)
                && let Some(t) = key.split('/').nth(2)
            {
                *sizes.entry(custos_core::ci::resource_class(t)).or_default() += 1;
            }
        }
        sizes
    }

    /// Count resources a batch names among the known ones.
    pub(crate) fn note_resources<'a>(
        &mut self,
        resources: impl IntoIterator<Item = &'a ResourceRef>,
    ) {
        for r in resources {
            if self.known.insert(custos_ledger::resource_key(r)) {
                *self.class_sizes.entry(r.class()).or_default() += 1;
            }
        }
    }

    fn scope(&self, engine: &Engine) -> Scope {
        match self.budget {
            Budget::PerRun => Scope::Run(self.report.run_id.clone()),
            Budget::RollingWindow => Scope::Since(engine.window_start()),
        }
    }
}

/// Verifies a fix by evaluating the plan's control on the state read back: the whole
/// control, or, when the action names the one thing its fix changes
/// ([`custos_executor::Action::subject`]), that the control no longer names it.
struct PolicyVerifier<'a> {
    evaluators: &'a evaluators::Evaluators,
    subject: Option<String>,
}

impl<'a> PolicyVerifier<'a> {
    fn new(
        evaluators: &'a evaluators::Evaluators,
        catalog: &custos_executor::Catalog,
        plan: &RemediationPlan,
    ) -> Self {
        PolicyVerifier {
            evaluators,
            subject: catalog
                .get(&plan.action)
                .and_then(|a| a.subject(&plan.before["facet"], &plan.desired["facet"])),
        }
    }
}

/// Does `message` name `subject` as a word of its own (`AKIA1` is not named by a message
/// about `AKIA12`)?
fn names(message: &str, subject: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
    message.match_indices(subject).any(|(i, _)| {
        !word(message[..i].chars().next_back())
            && !word(message[i + subject.len()..].chars().next())
    })
}

impl PolicyVerifier<'_> {
    /// Whether the fix holds on `ci` (`Err`: the control could not be evaluated).
    fn holds(&self, plan: &RemediationPlan, ci: &ConfigurationItem) -> Result<bool, String> {
        let found = self
            .evaluators
            .with(|ev| ev.violations(&plan.control_id, ci))
            .and_then(|r| r.map_err(|e| e.to_string()))?;
        Ok(match &self.subject {
            None => found.is_empty(),
            Some(s) => !found.iter().any(|m| names(m, s)),
        })
    }
}

impl Verifier for PolicyVerifier<'_> {
    fn verify(&self, plan: &RemediationPlan, after: &ConfigurationItem) -> Verification {
        let control = &plan.control_id;
        let (passed, detail) = match (self.holds(plan, after), &self.subject) {
            (Ok(true), None) => (
                true,
                format!("control `{control}` passes on the state read back"),
            ),
            (Ok(false), None) => (
                false,
                format!("control `{control}` still fails on the state read back"),
            ),
            (Ok(false), Some(s)) => (
                false,
                format!("control `{control}` still fails for `{s}` on the state read back"),
            ),
            (Ok(true), Some(s)) => (
                true,
                format!("control `{control}` no longer fails for `{s}` on the state read back"),
            ),
            (Err(e), _) => (false, e),
        };
        Verification {
            passed,
            method: "control".into(),
            detail,
        }
    }
}

fn short_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

impl Engine {
    pub fn new(parts: Parts) -> Self {
        let evaluators = evaluators::Evaluators::new(&parts.bundle);
        let policy_snapshot = parts.bundle.snapshot().id().to_string();
        let catalog = parts.registry.catalog();
        let window = parts.config.learning.rule.window;
        Engine {
            config: parts.config,
            bundle: parts.bundle,
            playbooks: parts.playbooks,
            catalog,
            reasoning: parts.reasoning,
            reader: parts.reader,
            ledger: parts.ledger,
            clock: parts.clock,
            actor: parts.actor,
            evaluators,
            policy_snapshot,
            guard: guard::Guard::new(parts.registry),
            observer: Arc::new(observe::Unobserved),
            notifier: Arc::new(notify::Silent),
            history: learning::History::new(window),
        }
    }

    /// Report latencies to `observer` (the server's metrics).
    pub fn observed_by(mut self, observer: Arc<dyn observe::Observe>) -> Self {
        self.observer = observer;
        self
    }

    /// Send approval requests and an opened breaker to `notifier`.
    pub fn notifying(mut self, notifier: Arc<dyn notify::Notify>) -> Self {
        self.notifier = notifier;
        self
    }

    /// Wait (at most `within`) for notifications still being delivered.
    pub async fn drain_notifications(&self, within: std::time::Duration) {
        self.notifier.drain(within).await;
    }

    pub(crate) fn notifier(&self) -> &dyn notify::Notify {
        self.notifier.as_ref()
    }

    pub(crate) fn observer(&self) -> &dyn observe::Observe {
        self.observer.as_ref()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The ledger, shared (for the authenticator and the HTTP server).
    pub fn ledger_arc(&self) -> Arc<Ledger> {
        self.ledger.clone()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn bundle(&self) -> &PolicyBundle {
        &self.bundle
    }

    /// The resource as it is now (read-only; for reviewers comparing it with the plan).
    pub async fn current_state(
        &self,
        resource: &ResourceRef,
    ) -> Result<Option<ConfigurationItem>, EngineError> {
        Ok(self.reader.read(resource).await?)
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    fn window_start(&self) -> chrono::DateTime<chrono::Utc> {
        self.now() - chrono::Duration::hours(self.config.gate.window_hours)
    }
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn a_subject_is_named_only_as_a_word_of_its_own() {
        assert!(names("active access key AKIA1 has not been used", "AKIA1"));
        assert!(names("AKIA1", "AKIA1"));
        assert!(names("key `AKIA1`, twice: AKIA12", "AKIA1"));
        assert!(!names(
            "active access key AKIA12 has not been used",
            "AKIA1"
        ));
        assert!(!names("key XAKIA1", "AKIA1"));
        assert!(!names("key AKIA1-b", "AKIA1"));
        assert!(!names("nothing here", "AKIA1"));
    }
}
