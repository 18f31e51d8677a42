//! Who acts: principals with roles, and what each role may do. A principal is only ever
//! built by authentication (a token or an OIDC bearer JWT checked by `custos-identity`)
//! or as custos' own service principal; never from a flag or `$USER`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs custos, sets autonomy up to the ceiling, pauses and resumes, asks for
    /// rollbacks, resets the circuit breaker.
    Operator,
    /// Approves or denies requests.
    Reviewer,
    /// Ceilings, gate data and principals; never approves.
    PolicyAdmin,
    /// Reads and exports evidence; changes nothing.
    Auditor,
    /// custos' own principal: runs, requests approvals, executes what policy allows.
    Service,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Operator,
        Role::Reviewer,
        Role::PolicyAdmin,
        Role::Auditor,
        Role::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Reviewer => "reviewer",
            Role::PolicyAdmin => "policy_admin",
            Role::Auditor => "auditor",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a principal asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read findings, approvals, history.
    Read,
    /// Export evidence.
    Export,
    /// Run the pipeline (scan, plan, run, reverify).
    Run,
    Approve,
    Deny,
    Rollback,
    /// Set an autonomy level (up to the ceiling).
    SetAutonomy,
    Pause,
    Resume,
    ResetBreaker,
    /// Create principals, give and take roles, issue and revoke tokens.
    ManagePrincipals,
    /// Delete ledger events older than a date (after an export).
    Prune,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Export => "export",
            Permission::Run => "run",
            Permission::Approve => "approve",
            Permission::Deny => "deny",
            Permission::Rollback => "rollback",
            Permission::SetAutonomy => "set_autonomy",
            Permission::Pause => "pause",
            Permission::Resume => "resume",
            Permission::ResetBreaker => "reset_breaker",
            Permission::ManagePrincipals => "manage_principals",
            Permission::Prune => "prune",
        }
    }

    /// The roles that grant this permission. Pausing is open to every role that changes
    /// anything: stopping is always safe.
    pub fn granted_by(self) -> &'static [Role] {
        use Role::*;
        match self {
            Permission::Read => &[Operator, Reviewer, PolicyAdmin, Auditor, Service],
            Permission::Export => &[Auditor, PolicyAdmin],
            Permission::Run => &[Operator, Service],
            Permission::Approve | Permission::Deny => &[Reviewer],
            Permission::Rollback => &[Operator],
            Permission::SetAutonomy => &[Operator, PolicyAdmin],
            Permission::Pause => &[Operator, Reviewer, PolicyAdmin, Service],
            Permission::Resume => &[Operator, PolicyAdmin],
            Permission::ResetBreaker => &[Operator],
            Permission::ManagePrincipals | Permission::Prune => &[PolicyAdmin],
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum AuthMethod {
    /// An API token (its public id, never the secret).
    Token { token_id: String },
    /// A token someone else issued (a policy admin, for a new principal): it may read and
    /// be exchanged, once, for the holder's own token; it authorizes nothing else, so the
    /// issuer cannot act as the principal with it.
    Enrollment { token_id: String, issued_by: String },
    /// An OIDC bearer JWT from `issuer` for `subject`.
    Oidc { issuer: String, subject: String },
    /// custos' own service principal (the process that holds the configuration).
    Service,
    /// `custos principals bootstrap`: the first policy admin, created by whoever holds
    /// the ledger file.
    Bootstrap,
}

impl AuthMethod {
    /// The stable identity of a principal named `name` who authenticated this way: what
    /// tells two people apart (the two-person rule counts these, never display names).
    /// An OIDC principal is its issuer and subject (`oidc:<issuer>#<subject>`), whatever
    /// its `email` claim says today; a local principal is its principal id, the name it
    /// was added under, case-folded (`local:<name>`).
    pub fn identity(&self, name: &str) -> String {
        match self {
            AuthMethod::Oidc { issuer, subject } => format!("oidc:{issuer}#{subject}"),
            AuthMethod::Service => format!("service:{}", name.to_lowercase()),
            AuthMethod::Token { .. } | AuthMethod::Enrollment { .. } | AuthMethod::Bootstrap => {
                format!("local:{}", name.to_lowercase())
            }
        }
    }
}

/// An authenticated principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub roles: BTreeSet<Role>,
    pub via: AuthMethod,
}

/// The name of custos' own principal.
pub const SERVICE_PRINCIPAL: &str = "custos";

impl Principal {
    /// custos itself, acting on its configuration.
    pub fn service() -> Self {
        Principal {
            name: SERVICE_PRINCIPAL.to_string(),
            roles: [Role::Service].into_iter().collect(),
            via: AuthMethod::Service,
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The stable identity ([`AuthMethod::identity`]).
    pub fn identity(&self) -> String {
        self.via.identity(&self.name)
    }

    pub fn may(&self, permission: Permission) -> bool {
        if matches!(self.via, AuthMethod::Enrollment { .. }) && permission != Permission::Read {
            return false;
        }
        permission.granted_by().iter().any(|r| self.has(*r))
    }

    pub fn roles_text(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(roles: &[Role]) -> Principal {
        Principal {
            name: "p".into(),
            roles: roles.iter().copied().collect(),
            via: AuthMethod::Service,
        }
    }

    #[test]
    fn policy_admins_and_auditors_cannot_approve() {
        assert!(!with(&[Role::PolicyAdmin]).may(Permission::Approve));
        assert!(!with(&[Role::Auditor]).may(Permission::Approve));
        assert!(!with(&[Role::Operator]).may(Permission::Approve));
        assert!(with(&[Role::Reviewer]).may(Permission::Approve));
    }

    #[test]
    fn auditors_only_read_and_export() {
        let a = with(&[Role::Auditor]);
        let allowed: Vec<_> = [
            Permission::Read,
            Permission::Export,
            Permission::Run,
            Permission::Approve,
            Permission::Deny,
            Permission::Rollback,
            Permission::SetAutonomy,
            Permission::Pause,
            Permission::Resume,
            Permission::ResetBreaker,
            Permission::ManagePrincipals,
        ]
        .into_iter()
        .filter(|p| a.may(*p))
        .collect();
        assert_eq!(allowed, vec![Permission::Read, Permission::Export]);
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
