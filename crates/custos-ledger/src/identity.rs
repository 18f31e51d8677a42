//! Principals, their roles and API tokens. A token is stored as the SHA-256 of its text
//! only; the ledger never sees it again after it is issued. Every change has its event.

use crate::{Ledger, LedgerError, Result, parse_ts, ts};
use chrono::{DateTime, Utc};
use custos_core::Role;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeSet;

/// A principal as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalRow {
    pub name: String,
    pub roles: BTreeSet<Role>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// An API token as stored (the hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: String,
    pub principal: String,
    #[serde(skip_serializing)]
    pub secret_hash: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who issued it; someone other than `principal`: an enrollment token.
    #[serde(default)]
    pub issued_by: Option<String>,
}

impl TokenRow {
    /// Issued by someone else: good only for exchanging, once, for one's own token.
    pub fn is_enrollment(&self) -> bool {
        self.issued_by
            .as_ref()
            .is_some_and(|by| by != &self.principal)
    }
}

/// Who creates the first team (`custos principals bootstrap`).
pub const BOOTSTRAP: &str = "bootstrap";

/// The id of a change to who can approve.
fn change_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("chg_{}", &u[..12])
}

fn roles_from(table: &'static str, s: &str) -> Result<BTreeSet<Role>> {
    s.split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            Role::parse(r).ok_or_else(|| LedgerError::Corrupt {
                table,
                column: "roles",
                value: s.to_string(),
            })
        })
        .collect()
}

fn roles_text(roles: &BTreeSet<Role>) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn opt_ts(
    table: &'static str,
    column: &'static str,
    v: Option<String>,
) -> Result<Option<DateTime<Utc>>> {
    v.map(|s| parse_ts(table, column, &s)).transpose()
}

fn principal_row(row: &AnyRow) -> Result<PrincipalRow> {
    Ok(PrincipalRow {
        name: row.try_get("name")?,
        roles: roles_from("principals", &row.try_get::<String, _>("roles")?)?,
        created_at: parse_ts(
            "principals",
            "created_at",
            &row.try_get::<String, _>("created_at")?,
        )?,
        created_by: row.try_get("created_by")?,
        disabled_at: opt_ts("principals", "disabled_at", row.try_get("disabled_at")?)?,
    })
}

fn token_row(row: &AnyRow) -> Result<TokenRow> {
    Ok(TokenRow {
        id: row.try_get("id")?,
        principal: row.try_get("principal")?,
        secret_hash: row.try_get("secret_hash")?,
        label: row.try_get("label")?,
        created_at: parse_ts(
            "tokens",
            "created_at",
            &row.try_get::<String, _>("created_at")?,
        )?,
        expires_at: parse_ts(
            "tokens",
            "expires_at",
            &row.try_get::<String, _>("expires_at")?,
        )?,
        revoked_at: opt_ts("tokens", "revoked_at", row.try_get("revoked_at")?)?,
        issued_by: row.try_get("issued_by")?,
    })
}

impl Ledger {
    /// The first policy admin, with its first token: only while no principal exists.
    /// Returns false (and writes nothing) when there is one already.
    pub async fn bootstrap(&self, name: &str, token: &TokenRow) -> Result<bool> {
        let roles: BTreeSet<Role> = [Role::PolicyAdmin].into_iter().collect();
        self.bootstrap_team(&[(name.to_string(), roles, token.clone())])
            .await
    }

    /// The first team, each member with its first token, in one transaction: only while no
    /// principal exists (whoever holds the ledger is trusted this once, so these roles
    /// need no confirmation). Returns false (and writes nothing) when there is one.
    pub async fn bootstrap_team(
        &self,
        team: &[(String, BTreeSet<Role>, TokenRow)],
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM principals")
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Ok(false);
        }
        for (name, roles, token) in team {
            self.insert_principal_tx(&mut tx, name, roles, BOOTSTRAP, true)
                .await?;
            self.insert_token_tx(&mut tx, token, BOOTSTRAP, None, true)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_principal_tx(
        &self,
        tx: &mut crate::Tx,
        name: &str,
        roles: &BTreeSet<Role>,
        by: &str,
        bootstrap: bool,
    ) -> Result<()> {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM principals WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut **tx)
                .await?;
        if exists.is_some() {
            return Err(LedgerError::Exists {
                kind: "principal",
                id: name.to_string(),
            });
        }
        sqlx::query(
            "INSERT INTO principals (name, roles, created_at, created_by) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(roles_text(roles))
        .bind(ts(&self.now()))
        .bind(by)
        .execute(&mut **tx)
        .await?;
        let mut payload = json!({"principal": name, "roles": roles, "by": by});
        if bootstrap {
            payload["bootstrap"] = json!(true);
        } else if roles.iter().any(|r| crate::told::GATED.contains(r)) {
            payload["change"] = json!(change_id());
        }
        self.append_tx(tx, None, "principal.created", None, &payload)
            .await?;
        Ok(())
    }

    /// `through`: the token its owner used to issue it (it stands as that one stands).
    async fn insert_token_tx(
        &self,
        tx: &mut crate::Tx,
        t: &TokenRow,
        by: &str,
        through: Option<&str>,
        bootstrap: bool,
    ) -> Result<()> {
        sqlx::query("INSERT INTO tokens (id, principal, secret_hash, label, created_at, expires_at, issued_by) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&t.id)
            .bind(&t.principal)
            .bind(&t.secret_hash)
            .bind(&t.label)
            .bind(ts(&t.created_at))
            .bind(ts(&t.expires_at))
            .bind(&t.issued_by)
            .execute(&mut **tx)
            .await?;
        // The issuer as the row has it (`by` is who asked: the same but for bootstrap).
        let issuer = t.issued_by.clone().unwrap_or_else(|| by.to_string());
        let mut payload = json!({"token_id": t.id, "principal": t.principal, "label": t.label, "expires_at": ts(&t.expires_at), "by": issuer, "enrollment": t.is_enrollment(), "secret_hash": t.secret_hash});
        if bootstrap {
            payload["bootstrap"] = json!(true);
        }
        if let Some(parent) = through {
            payload["through_token"] = json!(parent);
        }
        self.append_tx(tx, None, "token.created", None, &payload)
            .await?;
        Ok(())
    }

    pub async fn create_principal(
        &self,
        name: &str,
        roles: &BTreeSet<Role>,
        by: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        self.insert_principal_tx(&mut tx, name, roles, by, false)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Run `update` in `tx`; when it changes no row, the `missing` thing `id` is not there.
    async fn update_one<'q>(
        tx: &mut crate::Tx,
        update: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
        missing: &'static str,
        id: &str,
    ) -> Result<()> {
        if update.execute(&mut **tx).await?.rows_affected() == 0 {
            return Err(LedgerError::NotFound {
                kind: missing,
                id: id.into(),
            });
        }
        Ok(())
    }

    /// Replace a principal's roles.
    pub async fn set_roles(&self, name: &str, roles: &BTreeSet<Role>, by: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let update = sqlx::query("UPDATE principals SET roles = $1 WHERE name = $2")
            .bind(roles_text(roles))
            .bind(name);
        Self::update_one(&mut tx, update, "principal", name).await?;
        self.append_tx(&mut tx, None, "principal.roles_changed", None, &{
            let mut p = json!({"principal": name, "roles": roles, "by": by});
            if roles.iter().any(|r| crate::told::GATED.contains(r)) {
                p["change"] = json!(change_id());
            }
            p
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disable a principal and revoke its tokens.
    pub async fn disable_principal(&self, name: &str, by: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let now = ts(&self.now());
        let update = sqlx::query(
            "UPDATE principals SET disabled_at = $1 WHERE name = $2 AND disabled_at IS NULL",
        )
        .bind(&now)
        .bind(name);
        Self::update_one(&mut tx, update, "active principal", name).await?;
        sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE principal = $2 AND revoked_at IS NULL",
        )
        .bind(&now)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        self.append_tx(
            &mut tx,
            None,
            "principal.disabled",
            None,
            &json!({"principal": name, "by": by}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn principal(&self, name: &str) -> Result<Option<PrincipalRow>> {
        sqlx::query("SELECT * FROM principals WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(principal_row)
            .transpose()
    }

    pub async fn principals(&self) -> Result<Vec<PrincipalRow>> {
        sqlx::query("SELECT * FROM principals ORDER BY name")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(principal_row)
            .collect()
    }

    /// Issue `t`; `through` is the token its owner used to issue their own (the new one
    /// carries gated roles only as far as that one does).
    pub async fn issue_token(&self, t: &TokenRow, by: &str, through: Option<&str>) -> Result<()> {
        let mut tx = self.begin().await?;
        self.insert_token_tx(&mut tx, t, by, through, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Exchange an enrollment token for the holder's own: the enrollment token is revoked
    /// and the new one stored in one transaction; `Conflict` if it was used already.
    pub async fn enroll(&self, enrollment_id: &str, own: &TokenRow) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND principal = $3 AND revoked_at IS NULL",
        )
        .bind(ts(&self.now()))
        .bind(enrollment_id)
        .bind(&own.principal)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(LedgerError::Conflict {
                id: enrollment_id.to_string(),
                actual: "used".into(),
                expected: "unused".into(),
            });
        }
        self.insert_token_tx(&mut tx, own, &own.principal, None, false)
            .await?;
        // The new token carries gated roles only once another principal confirms it.
        self.append_tx(
            &mut tx,
            None,
            "token.enrolled",
            None,
            &json!({"principal": own.principal, "enrollment_token_id": enrollment_id, "token_id": own.id, "by": own.principal, "change": change_id()}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The changes to who can approve that wait for a second principal.
    pub async fn pending_changes(&self) -> Result<Vec<crate::told::PendingChange>> {
        Ok(self.told_identity().await?.pending.into_values().collect())
    }

    /// Confirm pending change `id` as `by`, who authenticated with `roles` (the roles its
    /// token gives). Refused ([`LedgerError::NotAllowed`]) when `by` proposed it, is its
    /// subject, issued the enrollment token it is about, or is neither a confirmed
    /// reviewer nor a confirmed policy admin.
    pub async fn confirm_change(
        &self,
        id: &str,
        by: &str,
        roles: &BTreeSet<Role>,
    ) -> Result<crate::told::PendingChange> {
        // A second confirmation of the same change, racing this one, confirms nothing
        // more (the fold ignores a change that is no longer pending).
        let told = self.told_identity().await?;
        let pending = told
            .pending
            .get(id)
            .cloned()
            .ok_or_else(|| LedgerError::NotFound {
                kind: "pending change",
                id: id.to_string(),
            })?;
        if let Some(why) = crate::told::confirm_refusal(&pending, by, roles) {
            return Err(LedgerError::NotAllowed(why));
        }
        let mut tx = self.begin().await?;
        self.append_tx(
            &mut tx,
            None,
            "principal.change_confirmed",
            None,
            &json!({"change": id, "by": by, "principal": pending.change.principal(), "what": pending.change}),
        )
        .await?;
        tx.commit().await?;
        Ok(pending)
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        sqlx::query("SELECT * FROM tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(token_row)
            .transpose()
    }

    pub async fn tokens(&self, principal: Option<&str>) -> Result<Vec<TokenRow>> {
        sqlx::query("SELECT * FROM tokens WHERE ($1 IS NULL OR principal = $1) ORDER BY created_at")
            .bind(principal)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(token_row)
            .collect()
    }

    pub async fn revoke_token(&self, id: &str, by: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let update =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(ts(&self.now()))
                .bind(id);
        Self::update_one(&mut tx, update, "unrevoked token", id).await?;
        self.append_tx(
            &mut tx,
            None,
            "token.revoked",
            None,
            &json!({"token_id": id, "by": by}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A refused authentication or authorization: what was refused and why (never a
    /// secret), by `key` (the credential or principal refused). Caller input in `detail`
    /// is cut to a bounded size with a digest of the whole, and refusals are rate-limited
    /// per key and in all ([`crate::refusals`]): the ones over the limit are counted and
    /// written as one `refusal.suppressed` event when the next minute starts. Returns
    /// whether this refusal was written.
    pub async fn record_refusal(
        &self,
        kind: &str,
        key: &str,
        detail: &serde_json::Value,
    ) -> Result<bool> {
        let peer = crate::refusals::current_peer();
        let admit = match self.refusals.lock() {
            Ok(mut l) => l.admit(key, peer.as_deref(), std::time::Instant::now()),
            // A poisoned limiter still bounds nothing away: write the refusal.
            Err(_) => crate::refusals::Admit::Write {
                suppressed_before: 0,
            },
        };
        let crate::refusals::Admit::Write { suppressed_before } = admit else {
            return Ok(false);
        };
        if suppressed_before > 0 {
            self.append(
                None,
                "refusal.suppressed",
                None,
                &json!({"count": suppressed_before, "window_seconds": 60}),
            )
            .await?;
        }
        let mut detail = crate::refusals::bounded(detail);
        if let (Some(map), Some(p)) = (detail.as_object_mut(), &peer) {
            map.insert("peer".into(), json!(p));
        }
        if let Some(map) = detail.as_object_mut() {
            map.insert(
                "key".into(),
                json!(crate::refusals::bounded_text(
                    key,
                    crate::refusals::MAX_FIELD_BYTES
                )),
            );
        }
        self.append(None, kind, None, &detail).await?;
        Ok(true)
    }
}
