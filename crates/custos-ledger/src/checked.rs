//! State rows checked against their events ([`crate::told`]) where they decide something:
//! a token and its principal when a credential is authenticated, the switches and the
//! runtime autonomy levels when the guard reads them, and all of them in `audit verify`.
//! A row that says something its events do not is refused, never repaired.

use crate::guard::{AutonomySetting, GuardState};
use crate::identity::{PrincipalRow, TokenRow};
use crate::merkle::RawEvent;
use crate::told::{GUARD_KINDS, IDENTITY_KINDS, Told};
use crate::{Ledger, LedgerError, Result, ts};
use custos_core::Role;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

/// A token looked up and checked against its events.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenCheck {
    /// No row with this id.
    Unknown,
    /// The row (or its principal's row) differs from the events: the detail says how.
    Tampered { token: TokenRow, detail: String },
    Found {
        token: TokenRow,
        principal: PrincipalRow,
        /// The roles this token gives (gated roles only when confirmed).
        roles: BTreeSet<Role>,
        /// Why some of the principal's roles are held back.
        held_back: Option<String>,
    },
}

fn opt_ts(t: &Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.as_ref().map(ts)
}

/// How a principal row differs from its events.
pub fn principal_difference(told: &Told, row: &PrincipalRow) -> Option<String> {
    let name = &row.name;
    let Some(t) = told.principals.get(name) else {
        return Some(format!("principal `{name}` is in its table with no event"));
    };
    let mut out = vec![];
    if t.roles != row.roles {
        out.push(format!(
            "roles `{}` in its table, `{}` in its events",
            roles_text(&row.roles),
            roles_text(&t.roles)
        ));
    }
    if t.disabled != row.disabled_at.is_some() {
        out.push(format!(
            "disabled: {} in its table, {} in its events",
            row.disabled_at.is_some(),
            t.disabled
        ));
    }
    if t.created_by != row.created_by {
        out.push(format!(
            "created by `{}` in its table, `{}` in its events",
            row.created_by, t.created_by
        ));
    }
    (!out.is_empty()).then(|| format!("principal `{name}`: {}", out.join("; ")))
}

/// How a token row differs from its events.
pub fn token_difference(told: &Told, row: &TokenRow) -> Option<String> {
    let id = &row.id;
    let Some(t) = told.tokens.get(id) else {
        return Some(format!("token `{id}` is in its table with no event"));
    };
    let mut out = vec![];
    match &t.secret_hash {
        None => out.push(
            "its events do not hold its hash (issued before custos recorded them: issue a new token)"
                .to_string(),
        ),
        Some(h) if *h != row.secret_hash => out.push("its hash differs from its events'".into()),
        Some(_) => {}
    }
    if t.principal != row.principal {
        out.push(format!(
            "owner `{}` in its table, `{}` in its events",
            row.principal, t.principal
        ));
    }
    if t.expires_at != ts(&row.expires_at) {
        out.push(format!(
            "expires {} in its table, {} in its events",
            ts(&row.expires_at),
            t.expires_at
        ));
    }
    if t.revoked != row.revoked_at.is_some() {
        out.push(format!(
            "revoked: {} in its table, {} in its events",
            row.revoked_at.is_some(),
            t.revoked
        ));
    }
    if t.issued_by != row.issued_by {
        out.push("its issuer differs from its events'".into());
    }
    (!out.is_empty()).then(|| format!("token `{id}`: {}", out.join("; ")))
}

/// How the switches and the runtime autonomy levels differ from their events.
pub fn guard_differences(
    told: &Told,
    paused: bool,
    breaker_open: bool,
    breaker_reset_at: Option<String>,
    autonomy: &[AutonomySetting],
) -> Vec<String> {
    let mut out = told.unreadable.clone();
    if told.paused != paused {
        out.push(format!(
            "the kill switch is {} in `guard_state`, {} in its events",
            on(paused),
            on(told.paused)
        ));
    }
    if told.breaker_open != breaker_open {
        out.push(format!(
            "the circuit breaker is {} in `guard_state`, {} in its events",
            open(breaker_open),
            open(told.breaker_open)
        ));
    }
    if told.breaker_reset_at != breaker_reset_at {
        out.push(format!(
            "the breaker was reset at {} in `guard_state`, at {} in its events",
            breaker_reset_at.as_deref().unwrap_or("never"),
            told.breaker_reset_at.as_deref().unwrap_or("never")
        ));
    }
    let mut seen = HashSet::new();
    for a in autonomy {
        let key = (a.class.clone(), a.environment.clone());
        let level = i64::from(a.level.number());
        match told.autonomy.get(&key) {
            None => out.push(format!(
                "autonomy `{}` in `{}` is set to {level} with no event",
                a.class, a.environment
            )),
            Some(l) if *l != level => out.push(format!(
                "autonomy `{}` in `{}` is {level} in its table, {l} in its events",
                a.class, a.environment
            )),
            Some(_) => {}
        }
        seen.insert(key);
    }
    for ((c, e), l) in &told.autonomy {
        if !seen.contains(&(c.clone(), e.clone())) {
            out.push(format!(
                "autonomy `{c}` in `{e}` was set to {l} by its events but has no row"
            ));
        }
    }
    out
}

fn on(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn open(b: bool) -> &'static str {
    if b { "open" } else { "closed" }
}

fn roles_text(r: &BTreeSet<Role>) -> String {
    r.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

impl Ledger {
    /// The fold of the events of `kinds`, from the state the latest prune carried past the
    /// events it removed. An event whose stored hash does not match its content is not
    /// folded: it is named in `unreadable` (a difference wherever the fold is compared).
    pub async fn told(&self, kinds: &[&str]) -> Result<Told> {
        self.told_below(kinds, None).await
    }

    /// [`Ledger::told`] over the events with a leaf index below `below` only (what a
    /// prune to that horizon carries).
    pub async fn told_below(&self, kinds: &[&str], below: Option<i64>) -> Result<Told> {
        // The whole fold is kept and extended by the events appended since (appends are
        // serialized by the chain's lock, so `seq` is commit order); a fold to a horizon
        // is computed afresh.
        let key = kinds.join(",");
        let cached = match below {
            Some(_) => None,
            None => self
                .told_cache
                .lock()
                .ok()
                .and_then(|c| c.get(&key).cloned()),
        };
        let fresh = cached.is_none();
        let (mut told, mut last, prune) = match cached {
            Some((seq, t)) => (t, seq, None),
            None => {
                let (t, prune) = self.carried_state().await?;
                (t, -1, prune)
            }
        };
        let marks: Vec<String> = (3..=kinds.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT * FROM events WHERE kind IN ({}) AND seq > $1 AND ($2 IS NULL OR leaf_index < $2) ORDER BY seq ASC",
            marks.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(last).bind(below);
        for k in kinds {
            q = q.bind(*k);
        }
        for row in q.fetch_all(self.pool()).await? {
            let e = RawEvent::from_row(&row)?;
            last = e.seq;
            if e.recomputed_hash().as_deref() != Some(e.hash.as_str()) {
                told.unreadable.push(format!(
                    "event `{}` ({}) does not match its hash",
                    e.id, e.kind
                ));
                continue;
            }
            match serde_json::from_str::<Value>(&e.payload) {
                Ok(p) => told.see(&e.id, &e.at, &e.kind, &p),
                Err(_) => told
                    .unreadable
                    .push(format!("event `{}` ({}) is unreadable", e.id, e.kind)),
            }
        }
        // A prune that committed between the two reads removed events this fold never
        // saw, and carried them in a state it did not start from: fold again.
        if fresh && below.is_none() && self.latest_prune_seq().await? != prune {
            return Box::pin(self.told_below(kinds, below)).await;
        }
        if below.is_none()
            && let Ok(mut c) = self.told_cache.lock()
        {
            c.insert(key, (last, told.clone()));
        }
        Ok(told)
    }

    /// The state the latest prune carried past the events it removed (none: empty).
    async fn carried_state(&self) -> Result<(Told, Option<i64>)> {
        let row = sqlx::query(
            "SELECT * FROM events WHERE kind = 'ledger.pruned' ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        let event = row.as_ref().map(RawEvent::from_row).transpose()?;
        let seq = event.as_ref().map(|e| e.seq);
        let carried = match event {
            Some(e) if e.recomputed_hash().as_deref() != Some(e.hash.as_str()) => {
                let mut t = Told::default();
                t.unreadable.push(format!(
                    "the prune event `{}` does not match its hash",
                    e.id
                ));
                return Ok((t, seq));
            }
            other => other.map(|e| e.payload),
        };
        Ok((
            match carried {
                None => Told::default(),
                Some(text) => serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|p| p.get("carried").and_then(Told::from_carried))
                    .unwrap_or_else(|| {
                        let mut t = Told::default();
                        t.unreadable.push(
                            "the latest prune carried no readable state past the events it removed"
                                .into(),
                        );
                        t
                    }),
            },
            seq,
        ))
    }

    /// The seq of the latest prune event (a fold started before it must start again).
    async fn latest_prune_seq(&self) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE kind = 'ledger.pruned'")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// A ledger written before principals and tokens were projections of their events
    /// (its `token.created` events hold no hash): the rows as they stand are recorded
    /// once, as an `identity.adopted` event, and the fold starts from it (every role
    /// confirmed, every token its owner's as it is). Without it no token of such a ledger
    /// could ever be used again. Trusting the rows this once is what the previous version
    /// did every time; the event says when it happened.
    pub(crate) async fn adopt_legacy_identity(&self) -> Result<()> {
        let legacy: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE kind = 'token.created' AND json_extract(payload, '$.secret_hash') IS NULL",
        )
        .fetch_one(self.pool())
        .await?;
        if legacy == 0 {
            return Ok(());
        }
        let adopted: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'identity.adopted'")
                .fetch_one(self.pool())
                .await?;
        if adopted > 0 {
            return Ok(());
        }
        let mut state = Told::default();
        for p in self.principals().await? {
            state.principals.insert(
                p.name.clone(),
                crate::told::ToldPrincipal {
                    confirmed: p.roles.clone(),
                    roles: p.roles,
                    created_by: p.created_by,
                    disabled: p.disabled_at.is_some(),
                },
            );
        }
        for t in self.tokens(None).await? {
            let standing = if t.is_enrollment() {
                crate::told::Standing::Never("an enrollment token only enrolls".into())
            } else {
                crate::told::Standing::Confirmed
            };
            state.tokens.insert(
                t.id.clone(),
                crate::told::ToldToken {
                    principal: t.principal,
                    secret_hash: Some(t.secret_hash),
                    expires_at: ts(&t.expires_at),
                    revoked: t.revoked_at.is_some(),
                    issued_by: t.issued_by,
                    standing,
                },
            );
        }
        let mut tx = self.begin().await?;
        self.append_tx(
            &mut tx,
            None,
            "identity.adopted",
            None,
            &serde_json::json!({"state": state.carried(), "reason": "ledger written before principals and tokens were projections of their events"}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The identity events' fold.
    pub async fn told_identity(&self) -> Result<Told> {
        self.told(&IDENTITY_KINDS).await
    }

    /// A token and its principal, checked against their events, with the roles it gives.
    pub async fn check_token(&self, id: &str) -> Result<TokenCheck> {
        // Read twice when they differ: a change committed between reading the rows and
        // the events (a revocation, a new role) agrees when read again.
        match self.check_token_once(id).await? {
            TokenCheck::Tampered { .. } => self.check_token_once(id).await,
            other => Ok(other),
        }
    }

    async fn check_token_once(&self, id: &str) -> Result<TokenCheck> {
        let Some(token) = self.token(id).await? else {
            return Ok(TokenCheck::Unknown);
        };
        let told = self.told_identity().await?;
        let principal = self.principal(&token.principal).await?;
        let mut detail: Vec<String> = told.unreadable.clone();
        detail.extend(token_difference(&told, &token));
        match &principal {
            Some(p) => detail.extend(principal_difference(&told, p)),
            None => detail.push(format!(
                "token `{id}` names principal `{}`, which has no row",
                token.principal
            )),
        }
        let (Some(principal), true) = (principal, detail.is_empty()) else {
            return Ok(TokenCheck::Tampered {
                token,
                detail: detail.join("; "),
            });
        };
        let (roles, held_back) = told.effective_roles(id);
        Ok(TokenCheck::Found {
            token,
            principal,
            roles,
            held_back,
        })
    }

    /// How an action row differs from its events: its record (before, after, calls) must
    /// be its outcome event's, its action, plan and parameters its intent's. What a
    /// rollback restores comes from this row, so a rollback checks it first.
    pub async fn action_differences(&self, row: &crate::ActionRow) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE kind LIKE 'action.%' AND json_extract(payload, '$.action_id') = $1 ORDER BY seq ASC",
        )
        .bind(&row.id)
        .fetch_all(self.pool())
        .await?;
        let mut out = vec![];
        let mut outcome: Option<Value> = None;
        let mut intent: Option<Value> = None;
        let mut status: Option<String> = None;
        for r in &rows {
            let e = RawEvent::from_row(r)?;
            let Ok(p) = serde_json::from_str::<Value>(&e.payload) else {
                out.push(format!("event `{}` ({}) is unreadable", e.id, e.kind));
                continue;
            };
            if e.recomputed_hash().as_deref() != Some(e.hash.as_str()) {
                out.push(format!(
                    "event `{}` ({}) does not match its hash",
                    e.id, e.kind
                ));
                continue;
            }
            status = e.kind.strip_prefix("action.").map(str::to_string);
            match e.kind.as_str() {
                "action.intent" => intent = Some(p),
                "action.reverted" => {}
                _ => outcome = Some(p),
            }
        }
        let id = &row.id;
        match (&row.record, outcome) {
            (Some(record), Some(mut told)) => {
                if let Some(m) = told.as_object_mut() {
                    m.remove("kind");
                    m.remove("decision");
                    m.remove("prior");
                }
                let stored = serde_json::to_value(record).map_err(|source| LedgerError::Json {
                    table: "actions",
                    source,
                })?;
                if stored != told {
                    out.push(format!(
                        "action `{id}`: its record differs from its outcome event (before, after or calls)"
                    ));
                }
            }
            (Some(_), None) => out.push(format!("action `{id}` has a record but no outcome event")),
            (None, Some(_)) => {
                out.push(format!("action `{id}` has an outcome event but no record"))
            }
            (None, None) => {}
        }
        if status.as_deref() != Some(row.status.to_string().as_str()) {
            out.push(format!(
                "action `{id}` is `{}` in its table, `{}` in its events",
                row.status,
                status.as_deref().unwrap_or("nothing")
            ));
        }
        if let Some(i) = intent {
            let same = i.get("action").and_then(Value::as_str) == Some(row.plan.action.as_str())
                && i.get("plan_id").and_then(Value::as_str) == Some(row.plan.id.as_str())
                && i.get("parameters") == Some(&row.plan.parameters)
                && i.get("approval_id").and_then(Value::as_str) == row.approval_id.as_deref();
            if !same {
                out.push(format!(
                    "action `{id}`: its plan (action, id, parameters or approval) differs from its intent event"
                ));
            }
        }
        Ok(out)
    }

    /// Every way the identity and guard tables differ from their events (`audit verify`).
    pub async fn state_differences(&self) -> Result<Vec<String>> {
        let identity = self.told_identity().await?;
        let mut out = identity.unreadable.clone();
        let principals = self.principals().await?;
        for p in &principals {
            out.extend(principal_difference(&identity, p));
        }
        let rows: Vec<String> = principals.into_iter().map(|p| p.name).collect();
        for name in identity.principals.keys() {
            if !rows.contains(name) {
                out.push(format!("principal `{name}` has events but no row"));
            }
        }
        let tokens = self.tokens(None).await?;
        for t in &tokens {
            out.extend(token_difference(&identity, t));
        }
        for id in identity.tokens.keys() {
            if !tokens.iter().any(|t| &t.id == id) {
                out.push(format!("token `{id}` has events but no row"));
            }
        }
        let state = self.guard_state_unchecked().await?;
        out.extend(self.guard_check(&state).await?);
        Ok(out)
    }

    /// How `state` (read from `guard_state` and `autonomy_settings`) differs from events.
    pub(crate) async fn guard_check(&self, state: &GuardState) -> Result<Vec<String>> {
        let told = self.told(&GUARD_KINDS).await?;
        Ok(guard_differences(
            &told,
            state.paused.is_some(),
            state.breaker.is_some(),
            opt_ts(&state.breaker_reset_at),
            &state.autonomy,
        ))
    }
}

/// The error a use of a table that differs from its events ends in.
pub fn tampered(table: &'static str, differences: Vec<String>) -> LedgerError {
    LedgerError::Tampered {
        table,
        detail: differences.join("; "),
    }
}
