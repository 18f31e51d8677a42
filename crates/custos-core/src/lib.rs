//! Domain types shared by every custos layer. This crate does no I/O.

pub mod approval;
pub mod canonical;
pub mod ci;
pub mod decision;
pub mod plan;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use approval::{Approval, ApprovalStatus};
pub use canonical::{Digest, canonical_json, digest_json};
pub use ci::{CiError, ConfigurationItem, ResourceRef};
pub use decision::{AutonomyLevel, Decision, Reason, ReasonerRecord, Stage, Verdict};
pub use plan::{
    ActionOutcome, ExecutionRecord, Finding, RemediationPlan, RollbackStep, Severity, Verification,
};
