//! Errors as JSON with a stable code: `{"error": {"code": "...", "message": "..."}}`.
//! Refusals say why in the engine's words (they name the caller's own request); internal
//! failures say only that they happened, and the detail goes to the server log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custos_engine::EngineError;
use custos_identity::AuthError;
use custos_ledger::LedgerError;
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `credentials_missing`, `token_revoked`, `forbidden`,
    /// `self_approval`, `plan_digest_mismatch`, `refused`, `not_found`, `invalid_request`,
    /// `internal`, ...
    pub code: String,
    /// For people.
    pub message: String,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// An internal failure: logged here, never shown.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %custos_core::for_log(&detail.to_string()), "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the detail",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Ledger(l) => ApiError::internal(l),
            other => ApiError::new(StatusCode::UNAUTHORIZED, other.code(), other.to_string()),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match &e {
            LedgerError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            LedgerError::Ambiguous { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "ambiguous_id", e.to_string())
            }
            LedgerError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            _ => ApiError::internal(e),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        use custos_approval::ApprovalError as A;
        match e {
            EngineError::Access(a) => match a {
                custos_identity::AccessError::Forbidden { .. } => {
                    ApiError::new(StatusCode::FORBIDDEN, "forbidden", a.to_string())
                }
                custos_identity::AccessError::Enrollment { .. } => {
                    ApiError::new(StatusCode::FORBIDDEN, "enrollment_only", a.to_string())
                }
                other => ApiError::internal(other),
            },
            EngineError::Approval(a @ A::Forbidden { .. }) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", a.to_string())
            }
            EngineError::Approval(a) => {
                ApiError::new(StatusCode::CONFLICT, a.code(), a.to_string())
            }
            EngineError::Refused(m) => ApiError::new(StatusCode::CONFLICT, "refused", m),
            EngineError::Ledger(l) => l.into(),
            other => ApiError::internal(other),
        }
    }
}
