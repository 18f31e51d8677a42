//! Latencies the engine reports as it works, for `/metrics`: the gate's evaluation, the
//! reasoning layer's review, and how old a queued change event was when it was taken.
//! Counts (decisions, actions, approvals) are not reported here: the ledger holds them,
//! for every worker at once.

use std::time::Duration;

pub trait Observe: Send + Sync + std::fmt::Debug {
    fn gate(&self, elapsed: Duration);
    fn reasoning(&self, elapsed: Duration);
    /// From the moment the queue accepted a message to the moment custos took it.
    fn queue_lag(&self, lag: Duration);
}

/// Reports nowhere (the CLI's one-shot commands).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observe for Unobserved {
    fn gate(&self, _: Duration) {}
    fn reasoning(&self, _: Duration) {}
    fn queue_lag(&self, _: Duration) {}
}
