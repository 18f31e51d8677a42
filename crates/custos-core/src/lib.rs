//! Domain types shared by every custos layer. This crate does no I/O.

pub mod approval;
pub mod canonical;
pub mod ci;
pub mod clock;
pub mod decision;
pub mod environment;
pub mod identity;
pub mod plan;
pub mod rollout;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;

pub use approval::{
    Approval, ApprovalChain, ApprovalStatus, ChainedRequest, ChainedReview, Review, plan_digest,
};
pub use canonical::{Digest, canonical_json, digest_json};
pub use ci::{CiError, ConfigurationItem, ResourceRef, resource_class};
pub use clock::{Clock, ManualClock, SystemClock};
pub use decision::{AutonomyLevel, Decision, Reason, ReasonerRecord, Stage, Verdict};
pub use environment::{EnvClass, EnvSelector, Environment, Environments};
pub use identity::{AuthMethod, Permission, Principal, Role, SERVICE_PRINCIPAL};
pub use plan::{
    ActionKind, ActionOutcome, ExecutionRecord, Finding, Guidance, Operation, OutcomeKey,
    RemediationPlan, Risk, RollbackStep, Severity, Verification,
};
pub use rollout::RolloutStage;
pub use text::{for_log, one_line};
