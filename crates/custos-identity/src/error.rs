use chrono::{DateTime, Utc};

/// Why a credential was refused. Each has a stable code for APIs and the ledger; none
/// carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no credentials: set `CUSTOS_TOKEN` (or `--token-file`) to an API token or an OIDC bearer token"
    )]
    Missing,
    #[error("the credential is neither a custos API token nor a JWT")]
    Malformed,
    #[error("token `{token_id}` is not recognised")]
    Unknown { token_id: String },
    #[error("token `{token_id}` is not recognised")]
    Forged { token_id: String },
    #[error("token `{token_id}` was revoked at {at}")]
    Revoked { token_id: String, at: DateTime<Utc> },
    #[error("token `{token_id}` expired at {at}")]
    Expired { token_id: String, at: DateTime<Utc> },
    #[error("principal `{principal}` is disabled")]
    Disabled { principal: String },
    #[error("token `{token_id}` is refused: the ledger's tables differ from its events ({detail})")]
    Tampered { token_id: String, detail: String },
    #[error("principal `{principal}` has no role")]
    NoRoles { principal: String },
    #[error("OIDC token refused: {0}")]
    Oidc(String),
    #[error("OIDC is not configured; only custos API tokens are accepted")]
    OidcNotConfigured,
    #[error("cannot check the credential: {0}")]
    Ledger(#[from] custos_ledger::LedgerError),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "credentials_missing",
            AuthError::Malformed => "credentials_malformed",
            // Unknown and forged look the same from outside, on purpose.
            AuthError::Unknown { .. } | AuthError::Forged { .. } => "token_invalid",
            AuthError::Revoked { .. } => "token_revoked",
            AuthError::Expired { .. } => "token_expired",
            AuthError::Disabled { .. } => "principal_disabled",
            AuthError::NoRoles { .. } => "principal_without_role",
            AuthError::Tampered { .. } => "state_tampered",
            AuthError::Oidc(_) => "oidc_invalid",
            AuthError::OidcNotConfigured => "oidc_not_configured",
            AuthError::Ledger(_) => "internal",
        }
    }

    /// The ledger's account of the refusal (no secret; the token id is public).
    pub fn record(&self) -> serde_json::Value {
        let token_id = match self {
            AuthError::Unknown { token_id }
            | AuthError::Forged { token_id }
            | AuthError::Revoked { token_id, .. }
            | AuthError::Expired { token_id, .. }
            | AuthError::Tampered { token_id, .. } => Some(token_id.clone()),
            _ => None,
        };
        let detail = match self {
            // Forged: the id exists but the secret is wrong; the ledger says so, callers
            // only see "not recognised".
            AuthError::Forged { token_id } => {
                format!("token `{token_id}` presented with a wrong secret")
            }
            other => other.to_string(),
        };
        serde_json::json!({"code": self.code(), "token_id": token_id, "detail": detail})
    }
}
