//! What the engine's guard needs from the ledger, the lock between processes:
//!
//! - claims: a lease per resource (holder, fencing token, expiry); only the holder may
//!   admit an intent on it;
//! - a snapshot of everything an admission depends on (admitted counts, the kill switch,
//!   the circuit breaker, a token bucket) with the `guard_state.version` it was read at;
//! - [`Ledger::admit`]: writes the intent only if that version is still current and the
//!   claim still held, in one transaction with the version bump and the event.

use crate::actions::NewIntent;
use crate::{Ledger, LedgerError, Result, parse_ts, ts};
use chrono::{DateTime, Duration, Utc};
use custos_core::AutonomyLevel;
use custos_core::ci::resource_class;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::BTreeMap;

/// A lease on one key (a resource), proven by its fencing token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub key: String,
    pub holder: String,
    pub token: i64,
    pub expires_at: DateTime<Utc>,
}

/// The result of trying to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimAttempt {
    Won(Claim),
    /// Someone else holds an unexpired claim.
    Held(Claim),
    /// Another worker is claiming the key at this moment (Postgres: its row is locked;
    /// `FOR UPDATE SKIP LOCKED` does not wait for it).
    Busy,
}

/// Which admitted actions count as "this run".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Run(String),
    /// Service mode: the rolling window stands in for the run.
    Since(DateTime<Utc>),
}

/// Admitted actions in total and by account; distinct resources changed by class (the
/// percentage rule compares resources with resources).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: u64,
    pub by_account: BTreeMap<String, u64>,
    pub by_class: BTreeMap<String, u64>,
}

/// Who flipped a switch, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchInfo {
    pub by: Option<String>,
    pub reason: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// The kill switch and the circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardState {
    pub version: i64,
    pub paused: Option<SwitchInfo>,
    pub breaker: Option<SwitchInfo>,
    /// Failures before this moment no longer count toward the breaker.
    pub breaker_reset_at: Option<DateTime<Utc>>,
    /// Autonomy levels set at runtime, overriding the configuration (under its ceiling).
    pub autonomy: Vec<AutonomySetting>,
}

/// One runtime autonomy level: a class in an environment (a canonical name, an
/// environment class, or `*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutonomySetting {
    pub class: String,
    pub environment: String,
    pub level: AutonomyLevel,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
    pub reason: String,
}

/// Finished admitted actions and how many of them failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FailureCounts {
    pub failures: u64,
    pub finished: u64,
}

/// Everything one admission depends on, read at `state.version`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardSnapshot {
    pub state: GuardState,
    pub run: Counts,
    /// Admitted in the rolling window.
    pub window: u64,
    /// Token bucket: tokens and when they were counted, if the bucket exists.
    pub rate: Option<(f64, DateTime<Utc>)>,
}

/// Tokens left in a bucket after this admission, counted now.
#[derive(Debug, Clone, Copy)]
pub struct RateDebit<'a> {
    pub key: &'a str,
    pub tokens: f64,
}

/// An intent to admit, with what its decision was based on.
#[derive(Debug, Clone)]
pub struct Admission<'a> {
    /// The `guard_state.version` the decision was made at.
    pub version: i64,
    pub claim: &'a Claim,
    pub intent: NewIntent<'a>,
    pub rate: Option<RateDebit<'a>>,
}

fn opt_ts(row: &sqlx::any::AnyRow, col: &'static str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(col)?
        .map(|s| parse_ts("guard_state", col, &s))
        .transpose()
}

fn claim_from_row(key: &str, row: &sqlx::any::AnyRow) -> Result<Claim> {
    Ok(Claim {
        key: key.to_string(),
        holder: row.try_get("holder")?,
        token: row.try_get("token")?,
        expires_at: parse_ts(
            "claims",
            "expires_at",
            &row.try_get::<String, _>("expires_at")?,
        )?,
    })
}

impl Ledger {
    /// A transaction for claims: on SQLite the write lock; on Postgres a plain one, since
    /// claims lock their own rows and only a takeover (which writes an event) takes the
    /// chain's lock, after the row's (every claim path locks in that order).
    async fn claims_tx(&self) -> Result<crate::Tx> {
        match self.backend {
            crate::Backend::Sqlite => self.begin().await,
            crate::Backend::Postgres => Ok(self.pool.begin().await?),
        }
    }

    /// Claim `key` for `holder` for `ttl`, unless someone else holds an unexpired claim.
    /// Claiming again as the same holder renews it with a new token. Claiming a key whose
    /// holder let the claim expire without giving it back is a takeover, recorded with a
    /// `guard.claim_taken_over` event in the same transaction.
    pub async fn claim(&self, key: &str, holder: &str, ttl: Duration) -> Result<ClaimAttempt> {
        let now = self.now();
        let mut tx = self.claims_tx().await?;
        let fresh = Claim {
            key: key.to_string(),
            holder: holder.to_string(),
            token: 1,
            expires_at: now + ttl,
        };
        let inserted = sqlx::query(
            "INSERT INTO claims (key, holder, token, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(holder)
        .bind(fresh.token)
        .bind(ts(&fresh.expires_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            tx.commit().await?;
            return Ok(ClaimAttempt::Won(fresh));
        }
        let select = match self.backend {
            crate::Backend::Sqlite => {
                "SELECT holder, token, expires_at, released_at FROM claims WHERE key = $1"
            }
            crate::Backend::Postgres => {
                "SELECT holder, token, expires_at, released_at FROM claims WHERE key = $1 FOR UPDATE SKIP LOCKED"
            }
        };
        let Some(row) = sqlx::query(select)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(ClaimAttempt::Busy);
        };
        let current = claim_from_row(key, &row)?;
        let released = row.try_get::<Option<String>, _>("released_at")?.is_some();
        if current.holder != holder && current.expires_at > now {
            return Ok(ClaimAttempt::Held(current));
        }
        let claim = Claim {
            token: current.token + 1,
            ..fresh
        };
        self.set_claim(&mut tx, &claim).await?;
        if current.holder != holder && !released {
            self.taken_over(&mut tx, &current, &claim, "expired")
                .await?;
        }
        tx.commit().await?;
        Ok(ClaimAttempt::Won(claim))
    }

    async fn set_claim(&self, tx: &mut crate::Tx, claim: &Claim) -> Result<()> {
        sqlx::query(
            "UPDATE claims SET holder = $1, token = $2, expires_at = $3, released_at = NULL WHERE key = $4",
        )
        .bind(&claim.holder)
        .bind(claim.token)
        .bind(ts(&claim.expires_at))
        .bind(&claim.key)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The event of a takeover, in the claim's transaction (after its row lock).
    async fn taken_over(
        &self,
        tx: &mut crate::Tx,
        from: &Claim,
        to: &Claim,
        reason: &str,
    ) -> Result<()> {
        self.lock_chain(tx).await?;
        self.append_tx(
            tx,
            None,
            "guard.claim_taken_over",
            None,
            &json!({
                "key": to.key, "reason": reason,
                "from": {"holder": from.holder, "token": from.token, "expires_at": ts(&from.expires_at)},
                "to": {"holder": to.holder, "token": to.token, "expires_at": ts(&to.expires_at)},
            }),
        )
        .await?;
        Ok(())
    }

    /// Take over a claim whose holder is known to be gone (a dead local process), if it
    /// is still exactly that claim.
    pub async fn take_over(
        &self,
        gone: &Claim,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Claim>> {
        let claim = Claim {
            key: gone.key.clone(),
            holder: holder.to_string(),
            token: gone.token + 1,
            expires_at: self.now() + ttl,
        };
        let mut tx = self.claims_tx().await?;
        let select = match self.backend {
            crate::Backend::Sqlite => "SELECT holder, token, expires_at FROM claims WHERE key = $1",
            crate::Backend::Postgres => {
                "SELECT holder, token, expires_at FROM claims WHERE key = $1 FOR UPDATE"
            }
        };
        let current = sqlx::query(select)
            .bind(&gone.key)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| claim_from_row(&gone.key, &r))
            .transpose()?;
        if current.is_none_or(|c| c.token != gone.token || c.holder != gone.holder) {
            return Ok(None);
        }
        self.set_claim(&mut tx, &claim).await?;
        self.taken_over(&mut tx, gone, &claim, "holder_dead")
            .await?;
        tx.commit().await?;
        Ok(Some(claim))
    }

    /// Extend a claim still held (the heartbeat of long work). `None`: it was taken over
    /// or given back; the work must stop calling and writing.
    pub async fn renew(&self, claim: &Claim, ttl: Duration) -> Result<Option<Claim>> {
        let renewed = Claim {
            expires_at: self.now() + ttl,
            ..claim.clone()
        };
        let mut tx = self.claims_tx().await?;
        let n = sqlx::query(
            "UPDATE claims SET expires_at = $1 WHERE key = $2 AND token = $3 AND holder = $4 AND released_at IS NULL",
        )
        .bind(ts(&renewed.expires_at))
        .bind(&claim.key)
        .bind(claim.token)
        .bind(&claim.holder)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok((n == 1).then_some(renewed))
    }

    /// The fence before a call: the claim is still this holder's, with this token, and
    /// unexpired. `Err(ClaimLost)` otherwise.
    pub async fn check_claim(&self, claim: &Claim) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        self.fence(&mut conn, claim, true).await
    }

    /// Is the claim as stored (read on `conn`, inside the caller's transaction when it
    /// has one) still `claim`? With `unexpired`, it must also not have expired (a call
    /// needs a live lease; a record of what happened needs only that nobody took the
    /// claim since).
    pub(crate) async fn fence(
        &self,
        conn: &mut sqlx::AnyConnection,
        claim: &Claim,
        unexpired: bool,
    ) -> Result<()> {
        let held = sqlx::query("SELECT holder, token, expires_at FROM claims WHERE key = $1")
            .bind(&claim.key)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| claim_from_row(&claim.key, &r))
            .transpose()?;
        let now = self.now();
        let ours = held.is_some_and(|c| {
            c.holder == claim.holder && c.token == claim.token && (!unexpired || c.expires_at > now)
        });
        if ours {
            Ok(())
        } else {
            Err(LedgerError::ClaimLost {
                key: claim.key.clone(),
                holder: claim.holder.clone(),
                token: claim.token,
            })
        }
    }

    /// Give a claim up (only if it is still ours). The row stays, expired and marked
    /// released, so fencing tokens keep growing.
    pub async fn release(&self, claim: &Claim) -> Result<()> {
        let now = ts(&self.now());
        let mut tx = self.claims_tx().await?;
        sqlx::query("UPDATE claims SET expires_at = $1, released_at = $1 WHERE key = $2 AND token = $3 AND holder = $4")
            .bind(&now)
            .bind(&claim.key)
            .bind(claim.token)
            .bind(&claim.holder)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The kill switch, the breaker and the runtime autonomy levels, now, checked against
    /// their events: a row edited without its event is [`LedgerError::Tampered`], and a
    /// decision that needs it ends in a refusal.
    pub async fn guard_state(&self) -> Result<GuardState> {
        // The rows and the events are read apart: a change committed between the two reads
        // (another worker's pause, say) differs once and agrees when read again.
        let mut differences = vec![];
        for _ in 0..2 {
            let state = self.guard_state_unchecked().await?;
            differences = self.guard_check(&state).await?;
            if differences.is_empty() {
                return Ok(state);
            }
        }
        Err(crate::checked::tampered("guard_state", differences))
    }

    /// The stored rows as they are (what `audit verify` compares).
    pub(crate) async fn guard_state_unchecked(&self) -> Result<GuardState> {
        let row = sqlx::query("SELECT * FROM guard_state WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        let paused: i64 = row.try_get("paused")?;
        let open: i64 = row.try_get("breaker_open")?;
        Ok(GuardState {
            version: row.try_get("version")?,
            paused: (paused != 0)
                .then(|| -> Result<SwitchInfo> {
                    Ok(SwitchInfo {
                        by: row.try_get("paused_by")?,
                        reason: row.try_get("paused_reason")?,
                        at: opt_ts(&row, "paused_at")?,
                    })
                })
                .transpose()?,
            breaker: (open != 0)
                .then(|| -> Result<SwitchInfo> {
                    Ok(SwitchInfo {
                        by: None,
                        reason: row.try_get("breaker_reason")?,
                        at: opt_ts(&row, "breaker_opened_at")?,
                    })
                })
                .transpose()?,
            breaker_reset_at: opt_ts(&row, "breaker_reset_at")?,
            autonomy: self.autonomy_settings().await?,
        })
    }

    /// The runtime autonomy levels, by class and environment.
    pub async fn autonomy_settings(&self) -> Result<Vec<AutonomySetting>> {
        let rows = sqlx::query(
            "SELECT class, environment, level, set_by, set_at, reason FROM autonomy_settings ORDER BY class, environment",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("level")?;
                let level = u8::try_from(n)
                    .ok()
                    .and_then(|n| AutonomyLevel::try_from(n).ok())
                    .ok_or_else(|| LedgerError::Corrupt {
                        table: "autonomy_settings",
                        column: "level",
                        value: n.to_string(),
                    })?;
                Ok(AutonomySetting {
                    class: r.try_get("class")?,
                    environment: r.try_get("environment")?,
                    level,
                    set_by: r.try_get("set_by")?,
                    set_at: parse_ts(
                        "autonomy_settings",
                        "set_at",
                        &r.try_get::<String, _>("set_at")?,
                    )?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Set the runtime autonomy level of `class` in `environment`, as one transaction with
    /// the guard version bump and the `autonomy.set` event (with the level it replaces).
    /// The caller has checked the principal and the ceiling. Returns the setting stored
    /// and the level it replaced.
    pub async fn set_autonomy(
        &self,
        class: &str,
        environment: &str,
        level: AutonomyLevel,
        by: &str,
        reason: &str,
    ) -> Result<(AutonomySetting, Option<AutonomyLevel>)> {
        self.set_autonomy_if(class, environment, level, by, reason, None)
            .await?
            .ok_or_else(|| LedgerError::Corrupt {
                table: "autonomy_settings",
                column: "level",
                value: "an unconditional write was refused".into(),
            })
    }

    /// [`Ledger::set_autonomy`], only if the level stored under the key is still
    /// `expected` (`Some(None)`: none stored) when one is given; `None`: it moved, nothing
    /// was written (a learner's move decided on what another worker has changed since).
    pub async fn set_autonomy_if(
        &self,
        class: &str,
        environment: &str,
        level: AutonomyLevel,
        by: &str,
        reason: &str,
        expected: Option<Option<AutonomyLevel>>,
    ) -> Result<Option<(AutonomySetting, Option<AutonomyLevel>)>> {
        let at = ts(&self.now());
        let mut tx = self.begin().await?;
        let before: Option<i64> = sqlx::query_scalar(
            "SELECT level FROM autonomy_settings WHERE class = $1 AND environment = $2",
        )
        .bind(class)
        .bind(environment)
        .fetch_optional(&mut *tx)
        .await?;
        let before = before
            .and_then(|n| u8::try_from(n).ok())
            .and_then(|n| AutonomyLevel::try_from(n).ok());
        if expected.is_some_and(|e| e != before) {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO autonomy_settings (class, environment, level, set_by, set_at, reason) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (class, environment) DO UPDATE SET level = excluded.level, set_by = excluded.set_by, set_at = excluded.set_at, reason = excluded.reason",
        )
        .bind(class)
        .bind(environment)
        .bind(i64::from(level.number()))
        .bind(by)
        .bind(&at)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE guard_state SET version = version + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        self.append_tx(
            &mut tx,
            None,
            "autonomy.set",
            None,
            &json!({"class": class, "environment": environment, "level": level.number(), "previous": before.map(|l| l.number()), "by": by, "reason": reason, "at": at}),
        )
        .await?;
        tx.commit().await?;
        let set = AutonomySetting {
            class: class.to_string(),
            environment: environment.to_string(),
            level,
            set_by: by.to_string(),
            // As stored (the ledger keeps microseconds).
            set_at: parse_ts("autonomy_settings", "set_at", &at)?,
            reason: reason.to_string(),
        };
        Ok(Some((set, before)))
    }

    async fn counts(&self, scope: &Scope) -> Result<Counts> {
        let rows: Vec<String> =
            match scope {
                Scope::Run(run) => sqlx::query_scalar(
                    "SELECT resource FROM actions WHERE admitted_at IS NOT NULL AND run_id = $1",
                )
                .bind(run)
                .fetch_all(self.pool())
                .await?,
                Scope::Since(t) => {
                    sqlx::query_scalar("SELECT resource FROM actions WHERE admitted_at >= $1")
                        .bind(ts(t))
                        .fetch_all(self.pool())
                        .await?
                }
            };
        let mut c = Counts::default();
        let mut resources = std::collections::BTreeSet::new();
        for key in rows {
            let mut parts = key.splitn(4, '/');
            let (Some(account), Some(_region), Some(t)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(LedgerError::Corrupt {
                    table: "actions",
                    column: "resource",
                    value: key.clone(),
                });
            };
            c.total += 1;
            *c.by_account.entry(account.to_string()).or_default() += 1;
            if resources.insert(key.clone()) {
                *c.by_class.entry(resource_class(t)).or_default() += 1;
            }
        }
        Ok(c)
    }

    /// Everything an admission depends on. Read the version first: whatever is admitted
    /// after it makes [`Ledger::admit`] refuse, so the counts can only be too high.
    pub async fn guard_snapshot(
        &self,
        scope: &Scope,
        window_since: DateTime<Utc>,
        rate_key: Option<&str>,
    ) -> Result<GuardSnapshot> {
        let state = self.guard_state().await?;
        let run = self.counts(scope).await?;
        let window: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM actions WHERE admitted_at >= $1")
                .bind(ts(&window_since))
                .fetch_one(self.pool())
                .await?;
        let rate = match rate_key {
            Some(k) => sqlx::query("SELECT tokens, updated_at FROM rate_buckets WHERE key = $1")
                .bind(k)
                .fetch_optional(self.pool())
                .await?
                .map(|r| -> Result<(f64, DateTime<Utc>)> {
                    Ok((
                        r.try_get("tokens")?,
                        parse_ts(
                            "rate_buckets",
                            "updated_at",
                            &r.try_get::<String, _>("updated_at")?,
                        )?,
                    ))
                })
                .transpose()?,
            None => None,
        };
        Ok(GuardSnapshot {
            state,
            run,
            window: u64::try_from(window).unwrap_or(0),
            rate,
        })
    }

    /// Admitted actions that finished since `since`, and how many failed (failed or
    /// rolled back after a failed verification): the circuit breaker's input.
    pub async fn failure_counts(&self, since: DateTime<Utc>) -> Result<FailureCounts> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT status FROM actions WHERE admitted_at IS NOT NULL AND finished_at >= $1 AND status != 'intent'",
        )
        .bind(ts(&since))
        .fetch_all(self.pool())
        .await?;
        Ok(FailureCounts {
            finished: rows.len() as u64,
            failures: rows
                .iter()
                .filter(|s| matches!(s.as_str(), "failed" | "rolled_back"))
                .count() as u64,
        })
    }

    /// Write the intent if nothing it was decided on has changed: the guard version, and
    /// the claim on the resource. `Ok(false)`: the version moved (decide again).
    pub async fn admit(&self, a: Admission<'_>) -> Result<bool> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let version: i64 = sqlx::query_scalar("SELECT version FROM guard_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        if version != a.version {
            return Ok(false);
        }
        self.fence(&mut tx, a.claim, true).await?;
        self.insert_intent(&mut tx, &a.intent, &now).await?;
        if let Some(r) = a.rate {
            sqlx::query("INSERT INTO rate_buckets (key, tokens, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET tokens = $2, updated_at = $3")
                .bind(r.key)
                .bind(r.tokens)
                .bind(ts(&now))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE guard_state SET version = version + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let mut payload = a.intent.payload.clone();
        payload["claim"] =
            json!({"key": a.claim.key, "holder": a.claim.holder, "token": a.claim.token});
        payload["approval_id"] = json!(a.intent.meta.approval_id);
        self.append_tx(
            &mut tx,
            a.intent.meta.run_id,
            "action.intent",
            Some(&a.intent.plan.resource),
            &payload,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn switch(
        &self,
        set: &'static str,
        binds: &[Option<String>],
        event: &str,
        payload: &Value,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let mut q = sqlx::query(set);
        for b in binds {
            q = q.bind(b.clone());
        }
        let n = q.execute(&mut *tx).await?.rows_affected();
        if n == 0 {
            return Ok(false);
        }
        self.append_tx(&mut tx, None, event, None, payload).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The kill switch: no mutating path runs until [`Ledger::resume`]. `false`: already
    /// paused.
    pub async fn pause(&self, by: &str, reason: &str) -> Result<bool> {
        let at = ts(&self.now());
        self.switch(
            "UPDATE guard_state SET paused = 1, paused_by = $1, paused_reason = $2, paused_at = $3, version = version + 1 WHERE id = 1 AND paused = 0",
            &[Some(by.into()), Some(reason.into()), Some(at.clone())],
            "guard.paused",
            &json!({"by": by, "reason": reason, "at": at}),
        )
        .await
    }

    /// `false`: was not paused.
    pub async fn resume(&self, by: &str) -> Result<bool> {
        self.switch(
            "UPDATE guard_state SET paused = 0, version = version + 1 WHERE id = 1 AND paused = 1",
            &[],
            "guard.resumed",
            &json!({"by": by}),
        )
        .await
    }

    /// Open the circuit breaker. `false`: it was open already.
    pub async fn open_breaker(&self, reason: &str, detail: &Value) -> Result<bool> {
        let at = ts(&self.now());
        self.switch(
            "UPDATE guard_state SET breaker_open = 1, breaker_reason = $1, breaker_opened_at = $2, version = version + 1 WHERE id = 1 AND breaker_open = 0",
            &[Some(reason.into()), Some(at.clone())],
            "guard.breaker_opened",
            &json!({"reason": reason, "at": at, "detail": detail}),
        )
        .await
    }

    /// Close the breaker; failures before now stop counting. `false`: it was closed.
    pub async fn reset_breaker(&self, by: &str) -> Result<bool> {
        let at = ts(&self.now());
        self.switch(
            "UPDATE guard_state SET breaker_open = 0, breaker_reset_at = $1, version = version + 1 WHERE id = 1 AND breaker_open = 1",
            &[Some(at.clone())],
            "guard.breaker_reset",
            &json!({"by": by, "at": at}),
        )
        .await
    }
}
