//! Who runs this command: a credential from `CUSTOS_TOKEN` or `--token-file` (an API
//! token or an OIDC bearer JWT), checked against the ledger and the configured issuer.
//! Never a flag naming a person, never `$USER`.

use crate::cli::{EXIT_DENIED, EXIT_INVALID, EXIT_RUNTIME, Failure};
use custos_core::{Permission, Principal};
use custos_engine::config::Config;
use custos_identity::{Authenticate, Authenticator, OidcVerifier};
use custos_ledger::Ledger;
use std::path::Path;
use std::sync::Arc;

/// The credential given to this process, if any.
pub fn credential(token_file: Option<&Path>) -> Result<Option<String>, Failure> {
    if let Some(p) = token_file {
        let text = std::fs::read_to_string(p).map_err(|e| {
            Failure::msg(
                EXIT_INVALID,
                format!("cannot read token file `{}`: {e}", p.display()),
            )
        })?;
        return Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()));
    }
    Ok(std::env::var("CUSTOS_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// The authenticator for this configuration: ledger tokens, plus OIDC when configured
/// (its keys are loaded now; unreadable keys refuse to start).
pub async fn authenticator(config: &Config, ledger: Arc<Ledger>) -> Result<Authenticator, Failure> {
    let oidc = match &config.identity.oidc {
        Some(s) => Some(Arc::new(
            OidcVerifier::new(s.clone())
                .await
                .map_err(|e| Failure::new(EXIT_INVALID, e))?,
        )),
        None => None,
    };
    Ok(Authenticator::new(ledger, oidc))
}

/// The authenticated principal, required, whatever its roles (for what every principal
/// may do about itself: its tokens, its enrollment, `whoami`; a principal whose reviewer
/// or admin role waits for confirmation has none of its roles yet).
pub async fn authenticated(
    config: &Config,
    ledger: Arc<Ledger>,
    cred: Option<&str>,
) -> Result<Principal, Failure> {
    let auth = authenticator(config, ledger).await?;
    auth.authenticate(cred.unwrap_or(""))
        .await
        .map_err(|e| match e {
            custos_identity::AuthError::Ledger(l) => Failure::new(EXIT_RUNTIME, l),
            other => Failure::new(EXIT_DENIED, other),
        })
}

/// The authenticated principal, required, allowed to do `action`.
pub async fn principal(
    config: &Config,
    ledger: Arc<Ledger>,
    cred: Option<&str>,
    action: Permission,
) -> Result<Principal, Failure> {
    let auth = authenticator(config, ledger.clone()).await?;
    let who = auth
        .authenticate(cred.unwrap_or(""))
        .await
        .map_err(|e| match e {
            custos_identity::AuthError::Ledger(l) => Failure::new(EXIT_RUNTIME, l),
            other => Failure::new(EXIT_DENIED, other),
        })?;
    custos_identity::require(&ledger, &who, action, serde_json::json!(action.as_str()))
        .await
        .map_err(|e| Failure::new(EXIT_DENIED, e))?;
    Ok(who)
}

/// For `run` and `reverify`: the authenticated principal when a credential is given,
/// else custos' own service principal.
pub async fn runner(
    config: &Config,
    ledger: Arc<Ledger>,
    cred: Option<&str>,
) -> Result<Principal, Failure> {
    match cred {
        Some(c) => principal(config, ledger, Some(c), Permission::Run).await,
        None => Ok(Principal::service()),
    }
}
