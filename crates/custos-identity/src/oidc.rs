//! OIDC bearer JWTs: signature checked against the issuer's JWKS (fetched from a URL or
//! read from a file), then issuer, audience and expiry; one claim is mapped to roles.

use crate::AuthError;
use custos_core::{AuthMethod, Principal, Role};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Where the issuer's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    Url(String),
    File(PathBuf),
}

/// `[identity.oidc]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks: JwksSource,
    /// The claim naming the principal (`email`, `preferred_username`, `sub`).
    pub name_claim: String,
    /// The claim holding groups or roles (a string or an array of strings).
    pub roles_claim: String,
    /// Claim value -> custos roles. Values not listed give no role.
    pub role_map: BTreeMap<String, Vec<Role>>,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub leeway_seconds: u64,
}

/// Checks bearer JWTs against the issuer's keys; refetches the keys (at most once a
/// minute) when a token names a key it does not know.
#[derive(Debug)]
pub struct OidcVerifier {
    settings: OidcSettings,
    keys: RwLock<(JwkSet, Instant)>,
    http: reqwest::Client,
}

const REFRESH_EVERY: Duration = Duration::from_secs(60);

async fn load(http: &reqwest::Client, source: &JwksSource) -> Result<JwkSet, AuthError> {
    let text = match source {
        JwksSource::File(p) => tokio::fs::read_to_string(p)
            .await
            .map_err(|e| AuthError::Oidc(format!("cannot read JWKS `{}`: {e}", p.display())))?,
        JwksSource::Url(u) => http
            .get(u)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| AuthError::Oidc(format!("cannot fetch JWKS `{u}`: {e}")))?
            .text()
            .await
            .map_err(|e| AuthError::Oidc(format!("cannot read JWKS `{u}`: {e}")))?,
    };
    serde_json::from_str(&text).map_err(|e| AuthError::Oidc(format!("JWKS is not valid: {e}")))
}

fn algorithm_for(params: &AlgorithmParameters) -> Option<Algorithm> {
    match params {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            jsonwebtoken::jwk::EllipticCurve::P256 => Some(Algorithm::ES256),
            jsonwebtoken::jwk::EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
        // Symmetric keys are never accepted: whoever verifies could also sign.
        AlgorithmParameters::OctetKey(_) => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

impl OidcVerifier {
    /// Load the keys now: a configured issuer whose keys cannot be read refuses to start.
    pub async fn new(settings: OidcSettings) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AuthError::Oidc(format!("cannot build the HTTP client: {e}")))?;
        let keys = load(&http, &settings.jwks).await?;
        Ok(OidcVerifier {
            settings,
            keys: RwLock::new((keys, Instant::now())),
            http,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<jsonwebtoken::jwk::Jwk, AuthError> {
        let find = |set: &JwkSet| match kid {
            Some(k) => set.find(k).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        {
            let guard = self.keys.read().await;
            if let Some(k) = find(&guard.0) {
                return Ok(k);
            }
            if guard.1.elapsed() < REFRESH_EVERY {
                return Err(AuthError::Oidc(format!(
                    "no key `{}` in the issuer's JWKS",
                    kid.unwrap_or("(none)")
                )));
            }
        }
        let fresh = load(&self.http, &self.settings.jwks).await?;
        let found = find(&fresh);
        *self.keys.write().await = (fresh, Instant::now());
        found.ok_or_else(|| {
            AuthError::Oidc(format!(
                "no key `{}` in the issuer's JWKS",
                kid.unwrap_or("(none)")
            ))
        })
    }

    /// Verify a bearer JWT and map it to a principal.
    pub async fn verify(&self, jwt: &str) -> Result<Principal, AuthError> {
        let header =
            decode_header(jwt).map_err(|e| AuthError::Oidc(format!("unreadable header: {e}")))?;
        let jwk = self.key_for(header.kid.as_deref()).await?;
        let alg = algorithm_for(&jwk.algorithm)
            .ok_or_else(|| AuthError::Oidc("the issuer's key type is not accepted".into()))?;
        if header.alg != alg {
            return Err(AuthError::Oidc(format!(
                "token algorithm {:?} does not match the key's {alg:?}",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| AuthError::Oidc(format!("unusable key: {e}")))?;
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.settings.issuer]);
        v.set_audience(&[&self.settings.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.leeway = self.settings.leeway_seconds;
        let data = decode::<Value>(jwt, &key, &v).map_err(|e| AuthError::Oidc(e.to_string()))?;
        let claims = data.claims;
        let subject = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .ok_or_else(|| AuthError::Oidc("no `sub` claim".into()))?
            .to_string();
        let name = claims
            .get(&self.settings.name_claim)
            .and_then(|s| s.as_str())
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| AuthError::Oidc(format!("no `{}` claim", self.settings.name_claim)))?
            .to_string();
        let roles: BTreeSet<Role> = strings(claims.get(&self.settings.roles_claim))
            .iter()
            .filter_map(|g| self.settings.role_map.get(g))
            .flatten()
            .copied()
            .filter(|r| *r != Role::Service)
            .collect();
        if roles.is_empty() {
            return Err(AuthError::NoRoles {
                principal: format!("oidc:{name}"),
            });
        }
        Ok(Principal {
            // Namespaced: an OIDC user can never be taken for a local principal (local
            // names cannot contain `:`), nor issue tokens in its name.
            name: format!("oidc:{name}"),
            roles,
            via: AuthMethod::Oidc {
                issuer: self.settings.issuer.clone(),
                subject,
            },
        })
    }
}
