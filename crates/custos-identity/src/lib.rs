//! Who is asking. A credential (a custos API token or an OIDC bearer JWT) becomes an
//! authenticated [`Principal`]; anything else is refused with a named reason and the
//! refusal is recorded in the ledger. Identity never comes from a flag or `$USER`.

mod access;
mod error;
pub mod oidc;
pub mod token;

pub use access::{AccessError, require};
pub use error::AuthError;
pub use oidc::{JwksSource, OidcSettings, OidcVerifier};

use async_trait::async_trait;
use chrono::Utc;
use custos_core::{AuthMethod, Principal};
use custos_ledger::{Ledger, TokenCheck, TokenRow};
use std::collections::HashMap;
use std::sync::Arc;

/// Turns a credential into a principal. One production implementation
/// ([`Authenticator`]) and a test double ([`StaticAuthenticator`]).
#[async_trait]
pub trait Authenticate: Send + Sync + std::fmt::Debug {
    async fn authenticate(&self, credential: &str) -> Result<Principal, AuthError>;
}

/// API tokens from the ledger, and OIDC bearer JWTs when configured. Every refusal is
/// recorded as an `auth.refused` event.
#[derive(Debug, Clone)]
pub struct Authenticator {
    ledger: Arc<Ledger>,
    oidc: Option<Arc<OidcVerifier>>,
}

impl Authenticator {
    pub fn new(ledger: Arc<Ledger>, oidc: Option<Arc<OidcVerifier>>) -> Self {
        Authenticator { ledger, oidc }
    }

    /// Record a refused credential: bounded and rate-limited per credential by the
    /// ledger ([`custos_ledger::refusals`]); the log line is bounded and escaped too.
    async fn record(&self, e: &AuthError) {
        let record = e.record();
        let key = record["token_id"].as_str().map_or_else(
            || format!("credential:{}", e.code()),
            |id| format!("token:{id}"),
        );
        match self
            .ledger
            .record_refusal("auth.refused", &key, &record)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "refused credential not recorded (over the refusal rate limit): {}",
                custos_core::for_log(&e.to_string())
            ),
            Err(le) => tracing::error!("cannot record a refused credential: {le}"),
        }
    }

    /// A custos token: its row and its principal's must say what their events say
    /// ([`custos_ledger::checked`]); the roles are those the events give it (a gated role
    /// only once another principal confirmed it and the token's enrollment).
    async fn by_token(&self, id: &str, secret: &str) -> Result<Principal, AuthError> {
        let (row, p, roles) = match self.ledger.check_token(id).await? {
            TokenCheck::Unknown => {
                return Err(AuthError::Unknown {
                    token_id: id.into(),
                });
            }
            TokenCheck::Tampered { token, detail } => {
                if !token::matches(secret, &token.secret_hash) {
                    return Err(AuthError::Forged {
                        token_id: id.into(),
                    });
                }
                tracing::error!(
                    "token `{id}` refused: its rows differ from the ledger's events: {}",
                    custos_core::for_log(&detail)
                );
                return Err(AuthError::Tampered {
                    token_id: id.into(),
                    detail,
                });
            }
            TokenCheck::Found {
                token,
                principal,
                roles,
                ..
            } => (token, principal, roles),
        };
        if !token::matches(secret, &row.secret_hash) {
            return Err(AuthError::Forged {
                token_id: id.into(),
            });
        }
        if let Some(at) = row.revoked_at {
            return Err(AuthError::Revoked {
                token_id: id.into(),
                at,
            });
        }
        if self.ledger.now() >= row.expires_at {
            return Err(AuthError::Expired {
                token_id: id.into(),
                at: row.expires_at,
            });
        }
        if p.disabled_at.is_some() {
            return Err(AuthError::Disabled { principal: p.name });
        }
        // Roles held back (waiting for confirmation) leave the principal authenticated
        // with the others, possibly none: it can still ask `whoami` why.
        if p.roles.is_empty() {
            return Err(AuthError::NoRoles { principal: p.name });
        }
        let via = match row.issued_by.filter(|by| by != &row.principal) {
            Some(issued_by) => AuthMethod::Enrollment {
                token_id: id.into(),
                issued_by,
            },
            None => AuthMethod::Token {
                token_id: id.into(),
            },
        };
        Ok(Principal {
            name: p.name,
            roles,
            via,
        })
    }

    async fn check(&self, credential: &str) -> Result<Principal, AuthError> {
        let c = credential.trim();
        let c = c.strip_prefix("Bearer ").unwrap_or(c).trim();
        if c.is_empty() {
            return Err(AuthError::Missing);
        }
        if let Some((id, secret)) = token::parse(c) {
            return self.by_token(id, secret).await;
        }
        if c.split('.').count() == 3 && !c.starts_with(token::PREFIX) {
            return match &self.oidc {
                Some(v) => v.verify(c).await,
                None => Err(AuthError::OidcNotConfigured),
            };
        }
        Err(AuthError::Malformed)
    }
}

#[async_trait]
impl Authenticate for Authenticator {
    async fn authenticate(&self, credential: &str) -> Result<Principal, AuthError> {
        match self.check(credential).await {
            Ok(p) => Ok(p),
            Err(e) => {
                // Refused either way; a refusal the ledger cannot take is logged.
                if !matches!(e, AuthError::Ledger(_)) {
                    self.record(&e).await;
                }
                Err(e)
            }
        }
    }
}

/// A new token row for `principal`, valid for `ttl`, and its text (shown once).
/// A new token for `principal`, issued by `issued_by` (someone else: an enrollment
/// token). The text is shown once; the row holds only its hash.
pub fn new_token(
    principal: &str,
    issued_by: &str,
    label: Option<String>,
    now: chrono::DateTime<Utc>,
    ttl: chrono::Duration,
) -> Result<(String, TokenRow), token::RandomError> {
    let issued = token::issue()?;
    Ok((
        issued.text,
        TokenRow {
            id: issued.id,
            principal: principal.to_string(),
            secret_hash: issued.secret_hash,
            label,
            created_at: now,
            expires_at: now + ttl,
            revoked_at: None,
            issued_by: Some(issued_by.to_string()),
        },
    ))
}

#[derive(Debug, Default, Clone)]
pub struct StaticAuthenticator {
    pub principals: HashMap<String, Principal>,
}

#[async_trait]
impl Authenticate for StaticAuthenticator {
    async fn authenticate(&self, credential: &str) -> Result<Principal, AuthError> {
        let c = credential.trim();
        let c = c.strip_prefix("Bearer ").unwrap_or(c);
        self.principals
            .get(c)
            .cloned()
            .ok_or_else(|| AuthError::Unknown {
                token_id: "static".into(),
            })
    }
}

#[cfg(test)]
mod tests;
