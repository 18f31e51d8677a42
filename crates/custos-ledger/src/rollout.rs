//! Staged rollout stages of playbook versions. A stage is what its `rollout.set` events
//! say (the engine folds them with the other outcome events; nothing else stores it), so
//! there is no table to drift from them. A write is one transaction under the ledger's
//! write lock: the guard version bump and the event, optionally only if no stage was set
//! since the writer last read them.

use crate::{Ledger, Result, ts};
use custos_core::RolloutStage;
use serde_json::json;

/// One stage change to record.
#[derive(Debug, Clone, Copy)]
pub struct RolloutChange<'a> {
    pub playbook: &'a str,
    pub version: &'a str,
    pub stage: RolloutStage,
    pub previous: Option<RolloutStage>,
    pub by: &'a str,
    pub reason: &'a str,
}

impl Ledger {
    /// Record `change` (`rollout.set`) and bump the guard version, so an admission
    /// decided at the old stage is decided again. With `seen`, only if no `rollout.set`
    /// event came after that `seq` (the writer decided on what it had folded); `None`
    /// returned otherwise. The caller has checked the principal.
    pub async fn set_rollout_if(
        &self,
        change: RolloutChange<'_>,
        seen: Option<i64>,
    ) -> Result<Option<crate::Event>> {
        let at = ts(&self.now());
        let mut tx = self.begin().await?;
        if let Some(seq) = seen {
            let later: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM events WHERE kind = 'rollout.set' AND seq > $1",
            )
            .bind(seq)
            .fetch_one(&mut *tx)
            .await?;
            if later > 0 {
                return Ok(None);
            }
        }
        sqlx::query("UPDATE guard_state SET version = version + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let e = self
            .append_tx(
                &mut tx,
                None,
                "rollout.set",
                None,
                &json!({
                    "playbook": change.playbook, "version": change.version,
                    "stage": change.stage.as_str(), "previous": change.previous.map(RolloutStage::as_str),
                    "by": change.by, "reason": change.reason, "at": at,
                }),
            )
            .await?;
        tx.commit().await?;
        Ok(Some(e))
    }
}
