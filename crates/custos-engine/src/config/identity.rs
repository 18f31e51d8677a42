//! `[approvals]` quorum and `[identity]` (API tokens, OIDC): validated purely, every
//! problem named by its field.

use super::raw::{ApprovalsSection, IdentitySection};
use super::sections::Errors;
use custos_approval::Quorum;
use custos_core::Role;
use custos_identity::{JwksSource, OidcSettings};
use std::collections::BTreeMap;
use std::path::Path;

fn reviewers(field: &str, n: i64, e: &mut Errors) -> u8 {
    if (1..=5).contains(&n) {
        n as u8
    } else {
        e.bad(field, format!("must be 1 to 5, got `{n}`"));
        1
    }
}

/// `http://` to this machine only.
fn loopback_http(u: &str) -> bool {
    let Some(rest) = u.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

pub(crate) fn quorum(a: &ApprovalsSection, e: &mut Errors) -> Quorum {
    let map = |name: &str, m: &BTreeMap<String, i64>, e: &mut Errors| {
        m.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    reviewers(&format!("approvals.{name}.{k}"), *v, e),
                )
            })
            .collect()
    };
    Quorum {
        default: reviewers("approvals.reviewers", a.reviewers.unwrap_or(1), e),
        classes: map("class_reviewers", &a.class_reviewers, e),
        playbooks: map("playbook_reviewers", &a.playbook_reviewers, e),
    }
}

/// `[identity]`, validated.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub token_ttl: chrono::Duration,
    pub oidc: Option<OidcSettings>,
}

pub(crate) fn identity(raw: &IdentitySection, base: &Path, e: &mut Errors) -> IdentitySettings {
    let days = raw.token_ttl_days.unwrap_or(90);
    if !(1..=366).contains(&days) {
        e.bad(
            "identity.token_ttl_days",
            format!("must be 1 to 366, got `{days}`"),
        );
    }
    let oidc = raw.oidc.as_ref().and_then(|o| {
        let mut ok = true;
        let mut need = |field: &str, v: &Option<String>| {
            let v = v.clone().unwrap_or_default();
            if v.trim().is_empty() {
                e.bad(&format!("identity.oidc.{field}"), "is required".into());
                ok = false;
            }
            v
        };
        let issuer = need("issuer", &o.issuer);
        let audience = need("audience", &o.audience);
        let jwks = match (&o.jwks_url, &o.jwks_file) {
            (Some(u), None) if u.starts_with("https://") || loopback_http(u) => {
                Some(JwksSource::Url(u.clone()))
            }
            (Some(u), None) if u.starts_with("http://") => {
                // Keys fetched in clear text could be swapped on the way: only a local
                // issuer (tests, a sidecar) may serve them over plain HTTP.
                e.bad(
                    "identity.oidc.jwks_url",
                    format!(
                        "must use https (plain http only to 127.0.0.1, ::1 or localhost), got `{u}`"
                    ),
                );
                None
            }
            (Some(u), None) => {
                e.bad(
                    "identity.oidc.jwks_url",
                    format!("must be an http(s) URL, got `{u}`"),
                );
                None
            }
            (None, Some(f)) => Some(JwksSource::File(if f.is_absolute() {
                f.clone()
            } else {
                base.join(f)
            })),
            (Some(_), Some(_)) => {
                e.bad(
                    "identity.oidc.jwks_url",
                    "give `jwks_url` or `jwks_file`, not both".into(),
                );
                None
            }
            (None, None) => {
                e.bad(
                    "identity.oidc.jwks_url",
                    "is required (or `jwks_file`)".into(),
                );
                None
            }
        };
        let mut role_map = BTreeMap::new();
        for (group, roles) in &o.roles {
            let mut list = Vec::new();
            for r in roles {
                match Role::parse(r) {
                    Some(Role::Service) | None => e.bad(
                        &format!("identity.oidc.roles.{group}"),
                        format!("unknown role `{r}` (operator, reviewer, policy_admin, auditor)"),
                    ),
                    Some(role) => list.push(role),
                }
            }
            role_map.insert(group.clone(), list);
        }
        if o.roles.is_empty() {
            e.bad(
                "identity.oidc.roles",
                "map at least one group to a role".into(),
            );
        }
        let leeway = o.leeway_seconds.unwrap_or(60);
        if leeway > 300 {
            e.bad(
                "identity.oidc.leeway_seconds",
                format!("must be 0 to 300, got `{leeway}`"),
            );
        }
        Some(OidcSettings {
            issuer,
            audience,
            jwks: jwks?,
            name_claim: o.name_claim.clone().unwrap_or_else(|| "email".into()),
            roles_claim: o.roles_claim.clone().unwrap_or_else(|| "groups".into()),
            role_map,
            leeway_seconds: leeway,
        })
        .filter(|_| ok)
    });
    IdentitySettings {
        token_ttl: chrono::Duration::days(days),
        oidc,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_only_to_this_machine() {
        for ok in [
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/k",
        ] {
            assert!(super::loopback_http(ok), "{ok}");
        }
        for no in [
            "http://127.0.0.1.evil.example/jwks",
            "http://localhost@evil.example/jwks",
            "http://127.0.0.1:80@evil.example/",
            "http://evil.example/127.0.0.1",
            "https://127.0.0.1/",
        ] {
            assert!(!super::loopback_http(no), "{no}");
        }
    }
}
