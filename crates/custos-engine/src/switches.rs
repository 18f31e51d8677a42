//! The kill switch and the circuit breaker, as operators use them. Both live in the
//! ledger (every worker sees them) and every change is an event.

use crate::{Engine, EngineError};
use custos_core::{Permission, Principal};
use custos_ledger::{FailureCounts, GuardState};
use serde::Serialize;
use serde_json::json;

/// The breaker and what feeds it.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerStatus {
    pub state: GuardState,
    /// Failures in the breaker window (since the last reset).
    pub recent: FailureCounts,
    pub failures_limit: u64,
    pub failure_percent_limit: u64,
    pub window_minutes: i64,
}

impl Engine {
    /// Stop every mutating path (approved work included) until [`Engine::resume`].
    /// `false`: custos was paused already.
    pub async fn pause(&self, who: &Principal, reason: &str) -> Result<bool, EngineError> {
        custos_identity::require(&self.ledger, who, Permission::Pause, json!("custos")).await?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(EngineError::Refused(
                "a pause needs a reason (`--reason`)".into(),
            ));
        }
        Ok(self.ledger.pause(&who.name, reason).await?)
    }

    /// `false`: custos was not paused.
    pub async fn resume(&self, who: &Principal) -> Result<bool, EngineError> {
        custos_identity::require(&self.ledger, who, Permission::Resume, json!("custos")).await?;
        Ok(self.ledger.resume(&who.name).await?)
    }

    pub async fn breaker_status(&self) -> Result<BreakerStatus, EngineError> {
        let b = self.config.guard.breaker;
        let state = self.ledger.guard_state().await?;
        let mut since = self.now() - b.window;
        if let Some(reset) = state.breaker_reset_at {
            since = since.max(reset);
        }
        Ok(BreakerStatus {
            recent: self.ledger.failure_counts(since).await?,
            state,
            failures_limit: b.failures,
            failure_percent_limit: b.failure_percent,
            window_minutes: b.window.num_minutes(),
        })
    }

    /// Close an open breaker; failures before now stop counting. `false`: it was closed.
    pub async fn reset_breaker(&self, who: &Principal) -> Result<bool, EngineError> {
        custos_identity::require(
            &self.ledger,
            who,
            Permission::ResetBreaker,
            json!("breaker"),
        )
        .await?;
        Ok(self.ledger.reset_breaker(&who.name).await?)
    }
}
