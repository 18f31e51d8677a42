//! The JSON API. Every `/api/v1` call carries `Authorization: Bearer <credential>` (an API
//! token or an OIDC JWT); reads need the `read` permission, every change goes through the
//! engine, which checks the principal's permission and records refusals.

use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use custos_core::{ApprovalStatus, Digest, Permission, Principal};
use custos_engine::AutonomyChange;
use custos_ledger::EventFilter;
use serde::Deserialize;
use serde_json::{Value, json};

/// The authenticated caller of an API route.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            None => "",
            Some(v) => v.to_str().map_err(|_| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "credentials_malformed",
                    "the Authorization header is not text",
                )
            })?,
        };
        let credential = match header.strip_prefix("Bearer ") {
            Some(c) => c,
            None if header.is_empty() => "",
            None => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "credentials_malformed",
                    "the Authorization header must be `Bearer <credential>`",
                ));
            }
        };
        // No credential at all is not recorded (a scanner's probe); a wrong one is.
        if credential.trim().is_empty() {
            return Err(custos_identity::AuthError::Missing.into());
        }
        Ok(Caller(state.auth.authenticate(credential).await?))
    }
}

impl Caller {
    /// Require a permission for a read (recorded when refused).
    async fn may(
        &self,
        state: &AppState,
        action: Permission,
        subject: Value,
    ) -> Result<(), ApiError> {
        custos_identity::require(state.engine.ledger(), &self.0, action, subject)
            .await
            .map_err(|e| custos_engine::EngineError::from(e).into())
    }
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t)
        .map_err(|e| ApiError::invalid(format!("request body: {}", e.body_text())))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(ApiError::internal)
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "the process is up", body = Object)))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "the ledger answers", body = Object),
              (status = 503, description = "the ledger does not answer", body = ErrorBody)))]
pub async fn ready(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    match s.engine.ledger().guard_state().await {
        Ok(_) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the ledger does not answer");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the ledger does not answer",
            ))
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

#[utoipa::path(get, path = "/api/v1/whoami", tag = "identity", security(("bearer" = [])),
    responses((status = 200, description = "the principal the credential names, with its roles", body = Object),
              (status = 401, description = "credential refused", body = ErrorBody)))]
pub async fn whoami(Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    to_json(&who)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// `pending` (default), `approved`, `executing`, `denied`, `expired`, `executed`,
    /// `stale`, `invalid` or `all`.
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "approval requests", body = Object),
              (status = 400, description = "unknown status", body = ErrorBody),
              (status = 401, description = "credential refused", body = ErrorBody)))]
pub async fn list_approvals(
    State(s): State<AppState>,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    caller.may(&s, Permission::Read, json!("approvals")).await?;
    let status = q.status.as_deref().unwrap_or("pending");
    let filter = match status {
        "all" => None,
        other => Some(
            ApprovalStatus::parse(other)
                .ok_or_else(|| ApiError::invalid(format!("unknown approval status `{other}`")))?,
        ),
    };
    s.engine.expire_due().await?;
    to_json(&json!({"approvals": s.engine.ledger().approvals(filter).await?}))
}

#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path, description = "approval id (or a unique prefix)")),
    responses((status = 200, description = "the request: plan, before state, decision, reviews, and its plan digest", body = Object),
              (status = 404, description = "no such request", body = ErrorBody)))]
pub async fn show_approval(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller
        .may(&s, Permission::Read, json!({"approval": id}))
        .await?;
    let a = s.engine.ledger().approval(&id).await?;
    to_json(&json!({"approval": a, "plan_digest": a.plan_digest()}))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The plan digest the reviewer saw (`plan_digest` of the request); refused if the
    /// plan differs.
    pub plan_digest: String,
    pub comment: Option<String>,
    /// Execute now once enough reviewers approved (default true); otherwise the next run
    /// does.
    pub execute: Option<bool>,
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path, description = "approval id")), request_body = ApproveBody,
    responses((status = 200, description = "the review is recorded; `execution` holds the guarded execution, if any", body = Object),
              (status = 401, description = "credential refused", body = ErrorBody),
              (status = 403, description = "the principal may not approve", body = ErrorBody),
              (status = 409, description = "refused: self-approval, policy admin, expired, another plan digest, not pending, does not match the ledger", body = ErrorBody)))]
pub async fn approve(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    b: Result<Json<ApproveBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let seen = Digest(b.plan_digest);
    let (a, row) = s
        .engine
        .approve(&id, &who, Some(&seen), b.comment, b.execute.unwrap_or(true))
        .await?;
    to_json(&json!({"approval": a, "execution": row}))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    /// Why (required).
    pub comment: String,
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/deny", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path, description = "approval id")), request_body = DenyBody,
    responses((status = 200, description = "denied", body = Object),
              (status = 403, description = "the principal may not deny", body = ErrorBody),
              (status = 409, description = "refused: no reason, not pending", body = ErrorBody)))]
pub async fn deny(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    b: Result<Json<DenyBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let a = s.engine.deny(&id, &who, Some(b.comment)).await?;
    to_json(&json!({"approval": a}))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    /// Only events whose resource contains this text.
    pub resource: Option<String>,
    /// Only events of this run.
    pub run: Option<String>,
    /// At most this many, the newest (default 50, at most 1000).
    pub limit: Option<i64>,
    /// Recompute the hash chain.
    pub verify: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/history", tag = "evidence", security(("bearer" = [])), params(HistoryQuery),
    responses((status = 200, description = "ledger events, oldest first, and the chain check when asked", body = Object)))]
pub async fn history(
    State(s): State<AppState>,
    caller: Caller,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    caller.may(&s, Permission::Read, json!("history")).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be 1 to 1000, got `{limit}`"
        )));
    }
    let ledger = s.engine.ledger();
    let events = ledger
        .events(&EventFilter {
            resource_contains: q.resource,
            run_id: q.run,
            kind_prefix: None,
            limit: Some(limit),
        })
        .await?;
    let chain = if q.verify.unwrap_or(false) {
        Some(ledger.verify_chain().await?)
    } else {
        None
    };
    to_json(&json!({"events": events, "chain": chain}))
}

#[utoipa::path(get, path = "/api/v1/findings", tag = "evidence", security(("bearer" = [])),
    responses((status = 200, description = "each resource's findings from its latest recorded evaluation", body = Object)))]
pub async fn findings(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.may(&s, Permission::Read, json!("findings")).await?;
    to_json(&json!({"findings": s.engine.ledger().current_findings().await?}))
}

#[utoipa::path(get, path = "/api/v1/autonomy", tag = "autonomy", security(("bearer" = [])),
    responses((status = 200, description = "default, ceiling, configured levels and the levels set at runtime", body = Object)))]
pub async fn show_autonomy(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.may(&s, Permission::Read, json!("autonomy")).await?;
    to_json(&s.engine.autonomy().await?)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutonomyBody {
    /// A resource class custos has playbooks for (`s3`, `ec2`).
    pub class: String,
    /// A canonical environment name, `production`, `non-production` or `*`.
    pub environment: String,
    /// 1 observe, 2 recommend, 3 approve, 4 auto outside production, 5 auto; at most the
    /// ceiling.
    pub level: u8,
    pub reason: String,
}

#[utoipa::path(put, path = "/api/v1/autonomy", tag = "autonomy", security(("bearer" = [])), request_body = AutonomyBody,
    responses((status = 200, description = "the setting now in force", body = Object),
              (status = 403, description = "the principal may not set autonomy", body = ErrorBody),
              (status = 409, description = "above the ceiling, unknown class or environment, no reason", body = ErrorBody)))]
pub async fn set_autonomy(
    State(s): State<AppState>,
    Caller(who): Caller,
    b: Result<Json<AutonomyBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let set = s
        .engine
        .set_autonomy(
            &who,
            AutonomyChange {
                class: &b.class,
                environment: &b.environment,
                level: b.level,
                reason: &b.reason,
            },
        )
        .await?;
    to_json(&set)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/pause", tag = "switches", security(("bearer" = [])), request_body = PauseBody,
    responses((status = 200, description = "`changed`: false when custos was paused already", body = Object),
              (status = 403, description = "the principal may not pause", body = ErrorBody)))]
pub async fn pause(
    State(s): State<AppState>,
    Caller(who): Caller,
    b: Result<Json<PauseBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let changed = s.engine.pause(&who, &b.reason).await?;
    Ok(Json(
        json!({"paused": true, "changed": changed, "by": who.name}),
    ))
}

#[utoipa::path(post, path = "/api/v1/resume", tag = "switches", security(("bearer" = [])),
    responses((status = 200, description = "`changed`: false when custos was not paused", body = Object),
              (status = 403, description = "the principal may not resume", body = ErrorBody)))]
pub async fn resume(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Value>, ApiError> {
    let changed = s.engine.resume(&who).await?;
    Ok(Json(
        json!({"paused": false, "changed": changed, "by": who.name}),
    ))
}

#[utoipa::path(get, path = "/api/v1/breaker", tag = "switches", security(("bearer" = [])),
    responses((status = 200, description = "the circuit breaker and the failures it counts", body = Object)))]
pub async fn breaker(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.may(&s, Permission::Read, json!("breaker")).await?;
    to_json(&s.engine.breaker_status().await?)
}

#[utoipa::path(post, path = "/api/v1/breaker/reset", tag = "switches", security(("bearer" = [])),
    responses((status = 200, description = "`changed`: false when the breaker was closed", body = Object),
              (status = 403, description = "the principal may not reset the breaker", body = ErrorBody)))]
pub async fn reset_breaker(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Value>, ApiError> {
    let changed = s.engine.reset_breaker(&who).await?;
    Ok(Json(json!({"changed": changed, "by": who.name})))
}

#[utoipa::path(post, path = "/api/v1/actions/{id}/rollback", tag = "actions", security(("bearer" = [])),
    params(("id" = String, Path, description = "the action to undo")),
    responses((status = 200, description = "the rollback, through the guard, read back", body = Object),
              (status = 403, description = "the principal may not roll back", body = ErrorBody),
              (status = 404, description = "no such action", body = ErrorBody)))]
pub async fn rollback(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    to_json(&s.engine.rollback(&id, &who).await?)
}
