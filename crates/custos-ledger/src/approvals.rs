//! Approval requests: stored whole, moved between states only by conditional updates
//! (two approvers, or two workers executing, cannot both win), each move with its event.

use crate::{Ledger, LedgerError, Result, json_col, resource_key, to_json, to_value, ts};
use chrono::{DateTime, Utc};
use custos_core::{
    Approval, ApprovalChain, ApprovalStatus, ChainedRequest, ChainedReview, Digest, Review, Role,
};
use serde_json::{Value, json};
use sqlx::Row;

impl Ledger {
    /// Store a new request, unless one is already open for the same resource and
    /// playbook: then that one is returned and nothing is written.
    pub async fn request_approval(&self, approval: &Approval) -> Result<(Approval, bool)> {
        let resource = resource_key(&approval.plan.resource);
        let mut tx = self.begin().await?;
        let open = sqlx::query("SELECT body FROM approvals WHERE resource = $1 AND playbook = $2 AND status IN ('pending', 'approved', 'executing')")
            .bind(&resource)
            .bind(&approval.plan.playbook)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = open {
            let existing: Approval = json_col("approvals", &row.try_get::<String, _>("body")?)?;
            return Ok((existing, false));
        }
        sqlx::query("INSERT INTO approvals (id, status, resource, playbook, before_digest, requested_at, expires_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
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
            "plan_digest": approval.plan_digest(), "policy_digest": approval.decision.policy_digest,
            "requested_by": approval.requested_by, "required_reviewers": approval.required_reviewers,
            "status": approval.status,
            "verdict": approval.decision.verdict, "reasons": reasons,
            "outcome": custos_core::OutcomeKey::of(&approval.plan),
        }))
        .await?;
        tx.commit().await?;
        Ok((approval.clone(), true))
    }

    /// The request with this id, or the one whose id starts with it (at least 4
    /// characters; a literal prefix, no wildcards).
    pub async fn approval(&self, id: &str) -> Result<Approval> {
        if id.len() < 4 {
            return Err(LedgerError::NotFound {
                kind: "approval",
                id: id.into(),
            });
        }
        let exact: Option<String> = sqlx::query_scalar("SELECT body FROM approvals WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        if let Some(body) = exact {
            return json_col("approvals", &body);
        }
        let rows =
            sqlx::query("SELECT body FROM approvals WHERE substr(id, 1, length($1)) = $1 LIMIT 2")
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
        let rows = sqlx::query("SELECT body FROM approvals WHERE ($1 IS NULL OR status = $1) ORDER BY requested_at ASC")
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
        self.transition(updated, from, None, event, run_id).await
    }

    /// Move a request out of `executing` as the holder of the claim made at `claimed_at`:
    /// refused (`Conflict`) when the request was given back and claimed again meanwhile,
    /// so one worker's recovery can never release or close another worker's live claim.
    pub async fn transition_claimed(
        &self,
        updated: &Approval,
        claimed_at: DateTime<Utc>,
        event: &str,
        run_id: Option<&str>,
    ) -> Result<()> {
        self.transition(
            updated,
            &[ApprovalStatus::Executing],
            Some(claimed_at),
            event,
            run_id,
        )
        .await
    }

    async fn transition(
        &self,
        updated: &Approval,
        from: &[ApprovalStatus],
        claimed_at: Option<DateTime<Utc>>,
        event: &str,
        run_id: Option<&str>,
    ) -> Result<()> {
        let from_list: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        // Statuses are single words: a comma-separated list both backends can search.
        let from_csv = from_list.join(",");
        // The claim as the body stores it (serde's form of the timestamp, unquoted).
        let claim = claimed_at
            .map(|t| match to_value("approvals", &t)? {
                Value::String(s) => Ok(s),
                other => Err(LedgerError::Corrupt {
                    table: "approvals",
                    column: "body.claimed_at",
                    value: other.to_string(),
                }),
            })
            .transpose()?;
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE approvals SET status = $1, body = $2 WHERE id = $3
                  AND (',' || $4 || ',') LIKE ('%,' || status || ',%')
                  AND ($5 IS NULL OR json_extract(body, '$.claimed_at') = $5)",
        )
        .bind(updated.status.as_str())
        .bind(to_json("approvals", updated)?)
        .bind(&updated.id)
        .bind(&from_csv)
        .bind(&claim)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            let actual: Option<String> =
                sqlx::query_scalar("SELECT status FROM approvals WHERE id = $1")
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

    /// Record one reviewer's approval (and, with the quorum reached, the move to
    /// `approved`) with an `approval.reviewed` event bound to the digests reviewed.
    pub async fn record_review(&self, updated: &Approval, review: &Review) -> Result<()> {
        let mut tx = self.begin().await?;
        // Conditional on the reviews stored so far: two reviewers approving at the same
        // moment must not overwrite each other's review in the row (the second is told to
        // try again and, reading afresh, adds to the first).
        let before = i64::try_from(updated.reviews.len().saturating_sub(1)).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "UPDATE approvals SET status = $1, body = $2 WHERE id = $3 AND status = 'pending'
               AND COALESCE(json_array_length(body, '$.reviews'), 0) = $4",
        )
        .bind(updated.status.as_str())
        .bind(to_json("approvals", updated)?)
        .bind(&updated.id)
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(self.conflict(&mut tx, &updated.id, "pending").await?);
        }
        self.append_tx(&mut tx, None, "approval.reviewed", Some(&updated.plan.resource), &json!({
            "approval_id": updated.id, "status": updated.status, "by": review.by, "roles": review.roles,
            "via": review.via, "comment": review.comment, "plan_digest": review.plan_digest,
            "before_digest": review.before_digest, "policy_digest": review.policy_digest,
            "reviews": updated.reviews.len(), "required_reviewers": updated.required_reviewers,
        }))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn conflict(&self, tx: &mut crate::Tx, id: &str, expected: &str) -> Result<LedgerError> {
        let actual: Option<String> =
            sqlx::query_scalar("SELECT status FROM approvals WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        Ok(LedgerError::Conflict {
            id: id.to_string(),
            actual: actual.unwrap_or_else(|| "missing".into()),
            expected: expected.to_string(),
        })
    }

    /// What the hash-chained events say about one request. Each event's hash is
    /// recomputed; one that does not match its content is reported, not used.
    pub async fn approval_chain(&self, id: &str) -> Result<ApprovalChain> {
        let mut conn = self.pool().acquire().await?;
        chain_in(&mut conn, id).await
    }

    /// Check the stored request against its events with `check`, atomically: under the
    /// write lock, the row and the events are read fresh, and a request with problems is
    /// marked `invalid` (with an `approval.invalid` event) before anyone else can act on
    /// it. Returns the fresh request, or the problems.
    pub async fn vet_approval<F>(
        &self,
        id: &str,
        check: F,
    ) -> Result<std::result::Result<Approval, Vec<String>>>
    where
        F: FnOnce(&Approval, &ApprovalChain) -> Vec<String>,
    {
        let mut tx = self.begin().await?;
        let body: String = sqlx::query_scalar("SELECT body FROM approvals WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| LedgerError::NotFound {
                kind: "approval",
                id: id.into(),
            })?;
        let stored: Approval = json_col("approvals", &body)?;
        let chain = chain_in(&mut tx, id).await?;
        let problems = check(&stored, &chain);
        if problems.is_empty() {
            tx.commit().await?;
            return Ok(Ok(stored));
        }
        let mut invalid = stored.clone();
        invalid.status = ApprovalStatus::Invalid;
        sqlx::query("UPDATE approvals SET status = $1, body = $2 WHERE id = $3")
            .bind(ApprovalStatus::Invalid.as_str())
            .bind(to_json("approvals", &invalid)?)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.append_tx(
            &mut tx,
            None,
            "approval.invalid",
            Some(&stored.plan.resource),
            &json!({
                "approval_id": id, "status": ApprovalStatus::Invalid, "problems": problems,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(Err(problems))
    }
}

/// What the events say about one request, read on `conn`.
async fn chain_in(conn: &mut sqlx::AnyConnection, id: &str) -> Result<ApprovalChain> {
    let rows = sqlx::query("SELECT * FROM events WHERE kind LIKE 'approval.%' AND json_extract(payload, '$.approval_id') = $1 ORDER BY seq ASC")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let mut chain = ApprovalChain::default();
    for row in &rows {
        let e = Ledger::event_from_row(row)?;
        if !Ledger::hash_matches(row, &e)? {
            chain.broken_events.push(e.seq);
            continue;
        }
        let p = &e.payload;
        let text = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let digest = |k: &str| text(k).map(Digest);
        if let Some(status) = text("status").as_deref().and_then(ApprovalStatus::parse) {
            chain.status = Some(status);
        }
        match e.kind.as_str() {
            "approval.requested" => {
                let expires =
                    text("expires_at").and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
                if let (
                    Some(plan_digest),
                    Some(before_digest),
                    Some(policy_digest),
                    Some(requested_by),
                    Some(expires),
                ) = (
                    digest("plan_digest"),
                    digest("before_digest"),
                    digest("policy_digest"),
                    text("requested_by"),
                    expires,
                ) {
                    chain.request = Some(ChainedRequest {
                        plan_digest,
                        before_digest,
                        policy_digest,
                        requested_by,
                        required_reviewers: p
                            .get("required_reviewers")
                            .and_then(|v| v.as_u64())
                            .and_then(|n| u8::try_from(n).ok())
                            .unwrap_or(u8::MAX),
                        expires_at: expires.with_timezone(&chrono::Utc),
                    });
                }
                chain.status = Some(ApprovalStatus::Pending);
            }
            "approval.reviewed" => {
                let roles = p
                    .get("roles")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| r.as_str().and_then(Role::parse))
                            .collect()
                    })
                    .unwrap_or_default();
                if let (Some(by), Some(plan_digest), Some(before_digest), Some(policy_digest)) = (
                    text("by"),
                    digest("plan_digest"),
                    digest("before_digest"),
                    digest("policy_digest"),
                ) {
                    chain.reviews.push(ChainedReview {
                        by,
                        via: p
                            .get("via")
                            .and_then(|v| serde_json::from_value(v.clone()).ok()),
                        roles,
                        plan_digest,
                        before_digest,
                        policy_digest,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(chain)
}
