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
use custos_ledger::{Ledger, TokenRow};
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
    refusals: Arc<std::sync::Mutex<RefusalWindow>>,
}

/// At most [`REFUSALS_RECORDED_PER_MINUTE`] refused credentials are written to the ledger
/// per minute and process; the rest are counted and recorded as one
/// `auth.refused_suppressed` event when the next minute starts, so a flood of bad
/// credentials cannot grow the ledger without bound or hold its write lock.
pub const REFUSALS_RECORDED_PER_MINUTE: u32 = 60;

#[derive(Debug)]
struct RefusalWindow {
    started: std::time::Instant,
    recorded: u32,
    suppressed: u64,
}

/// What to write for one refusal.
enum Record {
    /// This refusal, after a summary of the last window's suppressed ones (if any).
    Write {
        suppressed_before: u64,
    },
    Skip,
}

impl RefusalWindow {
    fn admit(&mut self, now: std::time::Instant) -> Record {
        let mut suppressed_before = 0;
        if now.duration_since(self.started) >= std::time::Duration::from_secs(60) {
            suppressed_before = std::mem::take(&mut self.suppressed);
            self.started = now;
            self.recorded = 0;
        }
        if self.recorded < REFUSALS_RECORDED_PER_MINUTE {
            self.recorded += 1;
            Record::Write { suppressed_before }
        } else {
            self.suppressed += 1;
            Record::Skip
        }
    }
}

impl Authenticator {
    pub fn new(ledger: Arc<Ledger>, oidc: Option<Arc<OidcVerifier>>) -> Self {
        Authenticator {
            ledger,
            oidc,
            refusals: Arc::new(std::sync::Mutex::new(RefusalWindow {
                started: std::time::Instant::now(),
                recorded: 0,
                suppressed: 0,
            })),
        }
    }

    async fn record(&self, e: &AuthError) {
        let decision = match self.refusals.lock() {
            Ok(mut w) => w.admit(std::time::Instant::now()),
            Err(_) => Record::Write {
                suppressed_before: 0,
            },
        };
        let Record::Write { suppressed_before } = decision else {
            tracing::warn!(
                "refused credential not recorded (over {REFUSALS_RECORDED_PER_MINUTE}/min): {e}"
            );
            return;
        };
        if suppressed_before > 0
            && let Err(le) = self
                .ledger
                .record_refusal(
                    "auth.refused_suppressed",
                    &serde_json::json!({"count": suppressed_before, "window_seconds": 60}),
                )
                .await
        {
            tracing::error!("cannot record suppressed refusals: {le}");
        }
        if let Err(le) = self
            .ledger
            .record_refusal("auth.refused", &e.record())
            .await
        {
            tracing::error!("cannot record a refused credential: {le}");
        }
    }

    async fn by_token(&self, id: &str, secret: &str) -> Result<Principal, AuthError> {
        let row = self
            .ledger
            .token(id)
            .await?
            .ok_or_else(|| AuthError::Unknown {
                token_id: id.into(),
            })?;
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
        let p = self
            .ledger
            .principal(&row.principal)
            .await?
            .ok_or_else(|| AuthError::Unknown {
                token_id: id.into(),
            })?;
        if p.disabled_at.is_some() {
            return Err(AuthError::Disabled { principal: p.name });
        }
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
            roles: p.roles,
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

#[cfg(test)]
mod window_tests {
    use super::{REFUSALS_RECORDED_PER_MINUTE, Record, RefusalWindow};
    use std::time::{Duration, Instant};

    #[test]
    fn refusals_beyond_the_limit_are_counted_and_summarised_next_minute() {
        let t0 = Instant::now();
        let mut w = RefusalWindow {
            started: t0,
            recorded: 0,
            suppressed: 0,
        };
        for _ in 0..REFUSALS_RECORDED_PER_MINUTE {
            assert!(matches!(
                w.admit(t0),
                Record::Write {
                    suppressed_before: 0
                }
            ));
        }
        for _ in 0..7 {
            assert!(matches!(
                w.admit(t0 + Duration::from_secs(59)),
                Record::Skip
            ));
        }
        assert!(matches!(
            w.admit(t0 + Duration::from_secs(60)),
            Record::Write {
                suppressed_before: 7
            }
        ));
        assert!(matches!(
            w.admit(t0 + Duration::from_secs(61)),
            Record::Write {
                suppressed_before: 0
            }
        ));
    }
}
