//! Approval requests: stored whole, moved between states only by conditional updates
//! (two approvers, or two workers executing, cannot both win), each move with its event.

use crate::{Ledger, LedgerError, Result, json_col, resource_key, to_json, ts};
use custos_core::{Approval, ApprovalStatus};
use serde_json::json;
use sqlx::Row;

impl Ledger {
    /// Store a new request, unless one is already open for the same resource and
    /// playbook: then that one is returned and nothing is written.
    pub async fn request_approval(&self, approval: &Approval) -> Result<(Approval, bool)> {
        let resource = resource_key(&approval.plan.resource);
        let mut tx = self.begin().await?;
        let open = sqlx::query("SELECT body FROM approvals WHERE resource = ? AND playbook = ? AND status IN ('pending', 'approved', 'executing')")
            .bind(&resource)
            .bind(&approval.plan.playbook)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = open {
            let existing: Approval = json_col("approvals", &row.try_get::<String, _>("body")?)?;
            return Ok((existing, false));
        }
        sqlx::query("INSERT INTO approvals (id, status, resource, playbook, before_digest, requested_at, expires_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&approval.id)
            .bind(approval.status.as_str())
            .bind(&resource)
            .bind(&approval.plan.playbook)
            .bind(approval.before_digest.as_str())
            .bind(ts(&approval.requested_at))
            .bind(ts(&approval.expires_at))
            .bind(to_json("approvals", approval)?)
            .execute(&mut *tx)
            .await?;
        let reasons: Vec<&str> = approval
            .decision
            .reasons
            .iter()
            .map(|r| r.rule.as_str())
            .collect();
        self.append_tx(&mut tx, approval.run_id.as_deref(), "approval.requested", Some(&approval.plan.resource), &json!({
            "approval_id": approval.id, "plan_id": approval.plan.id, "playbook": approval.plan.playbook,
            "expires_at": ts(&approval.expires_at), "before_digest": approval.before_digest,
            "verdict": approval.decision.verdict, "reasons": reasons,
        }))
        .await?;
        tx.commit().await?;
        Ok((approval.clone(), true))
    }

    /// Find by full id or unique prefix.
    pub async fn approval(&self, id: &str) -> Result<Approval> {
        let rows = sqlx::query("SELECT body FROM approvals WHERE id LIKE ? || '%' LIMIT 2")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        match rows.as_slice() {
            [] => Err(LedgerError::NotFound {
                kind: "approval",
                id: id.into(),
            }),
            [one] => json_col("approvals", &one.try_get::<String, _>("body")?),
            _ => Err(LedgerError::Ambiguous {
                kind: "approval",
                id: id.into(),
            }),
        }
    }

    pub async fn approvals(&self, status: Option<ApprovalStatus>) -> Result<Vec<Approval>> {
        let rows = sqlx::query("SELECT body FROM approvals WHERE (?1 IS NULL OR status = ?1) ORDER BY requested_at ASC")
            .bind(status.map(ApprovalStatus::as_str))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| json_col("approvals", &r.try_get::<String, _>("body")?))
            .collect()
    }

    /// Move an approval from one of `from` to the state in `updated`, atomically with its
    /// event: if another process moved it first, this fails with `Conflict`.
    pub async fn transition_approval(
        &self,
        updated: &Approval,
        from: &[ApprovalStatus],
        event: &str,
        run_id: Option<&str>,
    ) -> Result<()> {
        let from_list: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let from_json = to_json("approvals", &from_list)?;
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE approvals SET status = ?, body = ? WHERE id = ? AND status IN (SELECT value FROM json_each(?))")
            .bind(updated.status.as_str())
            .bind(to_json("approvals", updated)?)
            .bind(&updated.id)
            .bind(&from_json)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            let actual: Option<String> =
                sqlx::query_scalar("SELECT status FROM approvals WHERE id = ?")
                    .bind(&updated.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(LedgerError::Conflict {
                id: updated.id.clone(),
                actual: actual.unwrap_or_else(|| "missing".into()),
                expected: from_list.join(" or "),
            });
        }
        self.append_tx(&mut tx, run_id.or(updated.run_id.as_deref()), event, Some(&updated.plan.resource), &json!({
            "approval_id": updated.id, "status": updated.status, "by": updated.decided_by, "comment": updated.comment,
        }))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
