//! What the events say: principals, their roles and which approval-bearing roles another
//! principal confirmed, tokens (their hashes), changes waiting for confirmation, runtime
//! autonomy levels and the two switches. The state tables (`principals`, `tokens`,
//! `autonomy_settings`, `guard_state`) are projections of these events: a row is trusted
//! only while it says what its events say ([`Told::identity_differences`],
//! [`Told::guard_differences`]), when it is used and in `custos audit verify`.
//!
//! Who can approve changes only with a second principal (after AWS Multi-party approval):
//! granting `reviewer` or `policy_admin`, and every token enrollment, is a pending change
//! until a principal other than its proposer, its subject (and, for an enrollment, the
//! enrollment token's issuer) confirms it. Until then the principal authenticates without
//! those roles. A token enrolled from an enrollment token issued by the principal's
//! creator never carries them. Removing a role or disabling a principal takes effect at
//! once: it only narrows who can approve.

use custos_core::Role;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The roles that bring about or confirm approvals: they take effect only when confirmed.
pub const GATED: [Role; 2] = [Role::Reviewer, Role::PolicyAdmin];

/// Event kinds the identity projection is folded from.
pub const IDENTITY_KINDS: [&str; 8] = [
    "identity.adopted",
    "principal.created",
    "principal.roles_changed",
    "principal.disabled",
    "principal.change_confirmed",
    "token.created",
    "token.revoked",
    "token.enrolled",
];

/// Event kinds the guard projection (autonomy and switches) is folded from.
pub const GUARD_KINDS: [&str; 5] = [
    "autonomy.set",
    "guard.paused",
    "guard.resumed",
    "guard.breaker_opened",
    "guard.breaker_reset",
];

/// A principal as its events tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToldPrincipal {
    pub roles: BTreeSet<Role>,
    /// The gated roles another principal confirmed (or the bootstrap created).
    pub confirmed: BTreeSet<Role>,
    pub created_by: String,
    pub disabled: bool,
}

/// Whether a token may carry its principal's confirmed gated roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "standing", content = "detail")]
pub enum Standing {
    /// Created by the bootstrap, or an enrollment another principal confirmed.
    Confirmed,
    /// An enrollment waiting for the change with this id.
    Pending(String),
    /// Issued by its owner with another token: stands as that token stands.
    Through(String),
    /// Never carries gated roles, for this reason.
    Never(String),
}

/// A token as its events tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToldToken {
    pub principal: String,
    /// `None`: recorded before token hashes were (such a token is not trusted).
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub expires_at: String,
    pub revoked: bool,
    pub issued_by: Option<String>,
    pub standing: Standing,
}

/// A change to who can approve, waiting for a second principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Change {
    Grant {
        principal: String,
        roles: BTreeSet<Role>,
    },
    Enrollment {
        principal: String,
        token_id: String,
        /// Who issued the enrollment token that was exchanged.
        issuer: String,
    },
}

impl Change {
    pub fn principal(&self) -> &str {
        match self {
            Change::Grant { principal, .. } | Change::Enrollment { principal, .. } => principal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingChange {
    pub id: String,
    pub change: Change,
    pub proposed_by: String,
    pub at: String,
}

/// Why a principal may not confirm a change (a value: the caller refuses with it).
pub fn confirm_refusal(
    pending: &PendingChange,
    confirmer: &str,
    confirmer_roles: &BTreeSet<Role>,
) -> Option<String> {
    let subject = pending.change.principal();
    if !confirmer_roles
        .iter()
        .any(|r| matches!(r, Role::Reviewer | Role::PolicyAdmin))
    {
        return Some(format!(
            "`{confirmer}` is neither a confirmed reviewer nor a confirmed policy admin"
        ));
    }
    if confirmer == pending.proposed_by {
        return Some(format!(
            "`{confirmer}` proposed change `{}`: another principal must confirm it",
            pending.id
        ));
    }
    if confirmer == subject {
        return Some(format!(
            "change `{}` is about `{confirmer}`: another principal must confirm it",
            pending.id
        ));
    }
    if let Change::Enrollment { issuer, .. } = &pending.change
        && issuer == confirmer
    {
        return Some(format!(
            "`{confirmer}` issued the enrollment token of change `{}`: another principal must confirm it",
            pending.id
        ));
    }
    None
}

/// The fold of the identity and guard events.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Told {
    pub principals: BTreeMap<String, ToldPrincipal>,
    pub tokens: BTreeMap<String, ToldToken>,
    pub pending: BTreeMap<String, PendingChange>,
    /// `(class, environment) -> level`.
    pub autonomy: BTreeMap<(String, String), i64>,
    pub paused: bool,
    pub breaker_open: bool,
    pub breaker_reset_at: Option<String>,
    /// Events whose payload the fold could not read (each is a difference).
    pub unreadable: Vec<String>,
    /// A non-bootstrap identity event was seen: later bootstrap events confirm nothing.
    sealed: bool,
}

fn text(p: &Value, k: &str) -> Option<String> {
    p.get(k).and_then(Value::as_str).map(str::to_string)
}

fn roles(p: &Value) -> Option<BTreeSet<Role>> {
    p.get("roles")?
        .as_array()?
        .iter()
        .map(|r| r.as_str().and_then(Role::parse))
        .collect()
}

fn gated(roles: &BTreeSet<Role>) -> BTreeSet<Role> {
    roles
        .iter()
        .copied()
        .filter(|r| GATED.contains(r))
        .collect()
}

impl Told {
    /// Fold one event (its kind and payload) in chain order. `id` and `at` name it.
    pub fn see(&mut self, id: &str, at: &str, kind: &str, p: &Value) {
        if !IDENTITY_KINDS.contains(&kind) && !GUARD_KINDS.contains(&kind) {
            return;
        }
        if self.apply(at, kind, p).is_none() {
            self.unreadable.push(format!(
                "event `{id}` ({kind}) does not say what it changed"
            ));
        }
    }

    fn apply(&mut self, at: &str, kind: &str, p: &Value) -> Option<()> {
        // Ledgers from before this version wrote the bootstrap as `by: "bootstrap"`.
        let bootstrap = p.get("bootstrap").and_then(Value::as_bool) == Some(true)
            || (kind == "principal.created" && text(p, "by").as_deref() == Some("bootstrap"));
        if IDENTITY_KINDS.contains(&kind) && (!bootstrap || self.sealed) {
            self.sealed = true;
        }
        let by = || text(p, "by").unwrap_or_default();
        match kind {
            "principal.created" => {
                let name = text(p, "principal")?;
                let roles = roles(p)?;
                let confirmed = if bootstrap && !self.sealed {
                    gated(&roles)
                } else {
                    BTreeSet::new()
                };
                let waiting: BTreeSet<Role> =
                    gated(&roles).difference(&confirmed).copied().collect();
                if !waiting.is_empty() {
                    self.propose(
                        p,
                        at,
                        Change::Grant {
                            principal: name.clone(),
                            roles: waiting,
                        },
                    )?;
                }
                self.principals.insert(
                    name,
                    ToldPrincipal {
                        roles,
                        confirmed,
                        created_by: by(),
                        disabled: false,
                    },
                );
            }
            "principal.roles_changed" => {
                let name = text(p, "principal")?;
                let roles = roles(p)?;
                self.drop_grants(&name);
                let pr = self.principals.get_mut(&name)?;
                pr.confirmed = pr.confirmed.intersection(&roles).copied().collect();
                let waiting: BTreeSet<Role> =
                    gated(&roles).difference(&pr.confirmed).copied().collect();
                pr.roles = roles;
                if !waiting.is_empty() {
                    self.propose(
                        p,
                        at,
                        Change::Grant {
                            principal: name,
                            roles: waiting,
                        },
                    )?;
                }
            }
            "principal.disabled" => {
                let name = text(p, "principal")?;
                self.principals.get_mut(&name)?.disabled = true;
                for t in self.tokens.values_mut().filter(|t| t.principal == name) {
                    t.revoked = true;
                }
                // Its changes and the changes it proposed die with it.
                self.pending
                    .retain(|_, c| c.change.principal() != name && c.proposed_by != name);
            }
            "principal.change_confirmed" => {
                let id = text(p, "change")?;
                let Some(c) = self.pending.remove(&id) else {
                    // Confirmed already (two confirmations raced), or dropped since.
                    return Some(());
                };
                // The rule again, on the event itself: its writer checked roles too.
                let confirmer = by();
                if confirmer == c.proposed_by || confirmer == c.change.principal() {
                    return None;
                }
                let able = self.principals.get(&confirmer).is_some_and(|q| {
                    !q.disabled && q.confirmed.iter().any(|r| q.roles.contains(r))
                });
                if !able {
                    return None;
                }
                match c.change {
                    Change::Grant { principal, roles } => {
                        let pr = self.principals.get_mut(&principal)?;
                        let keep: BTreeSet<Role> = roles.intersection(&pr.roles).copied().collect();
                        pr.confirmed.extend(keep);
                    }
                    Change::Enrollment {
                        token_id, issuer, ..
                    } => {
                        if confirmer == issuer {
                            return None;
                        }
                        self.tokens.get_mut(&token_id)?.standing = Standing::Confirmed;
                    }
                }
            }
            "token.created" => {
                let id = text(p, "token_id")?;
                let principal = text(p, "principal")?;
                let issued_by = by();
                let standing = if issued_by != principal {
                    Standing::Never("an enrollment token only enrolls".into())
                } else if bootstrap && !self.sealed {
                    Standing::Confirmed
                } else if let Some(through) = text(p, "through_token") {
                    Standing::Through(through)
                } else {
                    // Made by an enrollment (`token.enrolled` follows) or recorded
                    // before tokens named the token that made them.
                    Standing::Never("issued without a confirmed token".into())
                };
                self.tokens.insert(
                    id,
                    ToldToken {
                        principal,
                        secret_hash: text(p, "secret_hash"),
                        expires_at: text(p, "expires_at")?,
                        revoked: false,
                        issued_by: Some(issued_by),
                        standing,
                    },
                );
            }
            "token.revoked" => {
                self.tokens.get_mut(&text(p, "token_id")?)?.revoked = true;
            }
            "token.enrolled" => {
                let principal = text(p, "principal")?;
                let given = text(p, "enrollment_token_id")?;
                let own = text(p, "token_id")?;
                let issuer = {
                    let g = self.tokens.get_mut(&given)?;
                    g.revoked = true;
                    g.issued_by.clone()?
                };
                let creator = self.principals.get(&principal)?.created_by.clone();
                let standing = if issuer == creator {
                    Standing::Never(format!(
                        "enrolled with a token issued by `{issuer}`, who created `{principal}`"
                    ))
                } else {
                    let change =
                        text(p, "change").unwrap_or_else(|| format!("chg_legacy_{at}_{own}"));
                    self.pending.insert(
                        change.clone(),
                        PendingChange {
                            id: change.clone(),
                            change: Change::Enrollment {
                                principal,
                                token_id: own.clone(),
                                issuer,
                            },
                            proposed_by: by(),
                            at: at.to_string(),
                        },
                    );
                    Standing::Pending(change)
                };
                self.tokens.get_mut(&own)?.standing = standing;
            }
            "identity.adopted" => {
                // The principals and tokens as they stood when this version first opened
                // a ledger written before it: taken as confirmed, once, on the record.
                let mut adopted = Told::from_carried(p.get("state")?)?;
                adopted.unreadable = std::mem::take(&mut self.unreadable);
                adopted.autonomy = std::mem::take(&mut self.autonomy);
                adopted.paused = self.paused;
                adopted.breaker_open = self.breaker_open;
                adopted.breaker_reset_at = self.breaker_reset_at.take();
                *self = adopted;
            }
            "autonomy.set" => {
                let level = p.get("level").and_then(Value::as_i64)?;
                self.autonomy
                    .insert((text(p, "class")?, text(p, "environment")?), level);
            }
            "guard.paused" => self.paused = true,
            "guard.resumed" => self.paused = false,
            "guard.breaker_opened" => self.breaker_open = true,
            "guard.breaker_reset" => {
                self.breaker_open = false;
                self.breaker_reset_at = Some(text(p, "at")?);
            }
            _ => {}
        }
        Some(())
    }

    fn propose(&mut self, p: &Value, at: &str, change: Change) -> Option<()> {
        // Events from before changes had ids get one from their time and subject.
        let id =
            text(p, "change").unwrap_or_else(|| format!("chg_legacy_{at}_{}", change.principal()));
        let proposed_by = text(p, "by")?;
        self.pending.insert(
            id.clone(),
            PendingChange {
                id,
                change,
                proposed_by,
                at: at.into(),
            },
        );
        Some(())
    }

    fn drop_grants(&mut self, principal: &str) {
        self.pending.retain(
            |_, c| !matches!(&c.change, Change::Grant { principal: p, .. } if p == principal),
        );
    }

    /// Whether `token` may carry its principal's confirmed gated roles.
    pub fn token_confirmed(&self, token: &str) -> Result<(), String> {
        let mut id = token;
        for _ in 0..64 {
            let t = self
                .tokens
                .get(id)
                .ok_or_else(|| format!("token `{id}` has no events"))?;
            match &t.standing {
                Standing::Confirmed => return Ok(()),
                Standing::Pending(c) => {
                    return Err(format!(
                        "the enrollment of token `{id}` waits for confirmation (change `{c}`)"
                    ));
                }
                Standing::Never(why) => return Err(format!("token `{id}`: {why}")),
                Standing::Through(parent) => {
                    let owner = &t.principal;
                    if self
                        .tokens
                        .get(parent)
                        .is_none_or(|p| &p.principal != owner)
                    {
                        return Err(format!(
                            "token `{id}` was issued with token `{parent}`, not `{owner}`'s"
                        ));
                    }
                    id = parent;
                }
            }
        }
        Err(format!("token `{token}` descends from too many tokens"))
    }

    /// The roles `token` gives its principal: every role, except a gated one unless it
    /// was confirmed and the token is. With the reason when some were held back.
    pub fn effective_roles(&self, token: &str) -> (BTreeSet<Role>, Option<String>) {
        let Some(t) = self.tokens.get(token) else {
            return (
                BTreeSet::new(),
                Some(format!("token `{token}` has no events")),
            );
        };
        let Some(p) = self.principals.get(&t.principal) else {
            return (
                BTreeSet::new(),
                Some(format!("principal `{}` has no events", t.principal)),
            );
        };
        let token_ok = self.token_confirmed(token);
        let mut held = vec![];
        let roles = p
            .roles
            .iter()
            .copied()
            .filter(|r| {
                if !GATED.contains(r) {
                    return true;
                }
                if !p.confirmed.contains(r) {
                    held.push(format!("`{}` waits for confirmation", r.as_str()));
                    return false;
                }
                if let Err(why) = &token_ok {
                    held.push(format!("`{}` is held back: {why}", r.as_str()));
                    return false;
                }
                true
            })
            .collect();
        (roles, (!held.is_empty()).then(|| held.join("; ")))
    }

    /// The state a prune carries past the events it removes.
    pub fn carried(&self) -> Value {
        let tokens: BTreeMap<&String, Value> = self
            .tokens
            .iter()
            .map(|(id, t)| {
                (
                    id,
                    serde_json::json!({"principal": t.principal, "secret_hash": t.secret_hash, "expires_at": t.expires_at, "revoked": t.revoked, "issued_by": t.issued_by, "standing": t.standing}),
                )
            })
            .collect();
        let autonomy: Vec<Value> = self
            .autonomy
            .iter()
            .map(|((c, e), l)| serde_json::json!([c, e, l]))
            .collect();
        serde_json::json!({
            "principals": self.principals, "tokens": tokens, "pending": self.pending,
            "autonomy": autonomy, "paused": self.paused, "breaker_open": self.breaker_open,
            "breaker_reset_at": self.breaker_reset_at,
        })
    }

    /// The state a prune carried (see [`Told::carried`]); `None` when unreadable.
    pub fn from_carried(v: &Value) -> Option<Told> {
        #[derive(serde::Deserialize)]
        struct P {
            roles: BTreeSet<Role>,
            confirmed: BTreeSet<Role>,
            created_by: String,
            disabled: bool,
        }
        #[derive(serde::Deserialize)]
        struct T {
            principal: String,
            secret_hash: Option<String>,
            expires_at: String,
            revoked: bool,
            issued_by: Option<String>,
            standing: Value,
        }
        let principals: BTreeMap<String, P> =
            serde_json::from_value(v.get("principals")?.clone()).ok()?;
        let tokens: BTreeMap<String, T> = serde_json::from_value(v.get("tokens")?.clone()).ok()?;
        let mut told = Told {
            sealed: true,
            paused: v.get("paused")?.as_bool()?,
            breaker_open: v.get("breaker_open")?.as_bool()?,
            breaker_reset_at: v.get("breaker_reset_at")?.as_str().map(str::to_string),
            ..Told::default()
        };
        for (name, p) in principals {
            told.principals.insert(
                name,
                ToldPrincipal {
                    roles: p.roles,
                    confirmed: p.confirmed,
                    created_by: p.created_by,
                    disabled: p.disabled,
                },
            );
        }
        for (id, t) in tokens {
            let s = &t.standing;
            let detail = s
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let standing = match s.get("standing")?.as_str()? {
                "confirmed" => Standing::Confirmed,
                "pending" => Standing::Pending(detail),
                "through" => Standing::Through(detail),
                _ => Standing::Never(detail),
            };
            told.tokens.insert(
                id,
                ToldToken {
                    principal: t.principal,
                    secret_hash: t.secret_hash,
                    expires_at: t.expires_at,
                    revoked: t.revoked,
                    issued_by: t.issued_by,
                    standing,
                },
            );
        }
        for c in v.get("pending")?.as_object()?.values() {
            let change = match c.get("change")?.get("kind")?.as_str()? {
                "grant" => Change::Grant {
                    principal: text(c.get("change")?, "principal")?,
                    roles: roles(c.get("change")?)?,
                },
                _ => Change::Enrollment {
                    principal: text(c.get("change")?, "principal")?,
                    token_id: text(c.get("change")?, "token_id")?,
                    issuer: text(c.get("change")?, "issuer")?,
                },
            };
            let id = text(c, "id")?;
            told.pending.insert(
                id.clone(),
                PendingChange {
                    id,
                    change,
                    proposed_by: text(c, "proposed_by")?,
                    at: text(c, "at")?,
                },
            );
        }
        for a in v.get("autonomy")?.as_array()? {
            let a = a.as_array()?;
            told.autonomy.insert(
                (
                    a.first()?.as_str()?.to_string(),
                    a.get(1)?.as_str()?.to_string(),
                ),
                a.get(2)?.as_i64()?,
            );
        }
        Some(told)
    }
}
