//! Browser sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie, held in this
//! process's memory with the credential it was opened with (checked again on every
//! request, so a revoked token or an expired JWT ends the session) and a CSRF token that
//! every form must echo. Sessions end after [`SESSION_TTL`] or at logout; at most
//! [`MAX_SESSIONS`] are held, [`MAX_PER_CREDENTIAL`] per credential (the oldest goes).

use chrono::{DateTime, Duration, Utc};
pub use custos_identity::token::same;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const SESSION_COOKIE: &str = "custos_session";
/// The login form's own CSRF cookie (double submit), before there is a session.
pub const LOGIN_COOKIE: &str = "custos_login";
pub const SESSION_TTL: Duration = Duration::hours(8);
pub const MAX_SESSIONS: usize = 10_000;
pub const MAX_PER_CREDENTIAL: usize = 5;

#[derive(Debug, Clone)]
pub struct Session {
    pub credential: String,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Random(custos_identity::token::RandomError),
    #[error("too many open sessions; try again later")]
    Full,
    #[error("session store lock poisoned")]
    Poisoned,
}

/// A fresh session id or CSRF token.
pub fn random_token() -> Result<String, SessionError> {
    custos_identity::token::secret().map_err(SessionError::Random)
}

impl Sessions {
    /// Open a session; returns its id.
    pub fn open(
        &self,
        credential: String,
        now: DateTime<Utc>,
    ) -> Result<(String, Session), SessionError> {
        let id = random_token()?;
        let session = Session {
            credential,
            csrf: random_token()?,
            expires_at: now + SESSION_TTL,
        };
        let mut m = self.inner.lock().map_err(|_| SessionError::Poisoned)?;
        m.retain(|_, s| s.expires_at > now);
        // One credential holds at most a few sessions: logging in again and again
        // replaces its oldest instead of crowding everyone else out.
        let mine: Vec<(String, DateTime<Utc>)> = m
            .iter()
            .filter(|(_, s)| same(&s.credential, &session.credential))
            .map(|(id, s)| (id.clone(), s.expires_at))
            .collect();
        if mine.len() >= MAX_PER_CREDENTIAL
            && let Some((oldest, _)) = mine.iter().min_by_key(|(_, at)| *at)
        {
            m.remove(oldest);
        }
        if m.len() >= MAX_SESSIONS {
            return Err(SessionError::Full);
        }
        m.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session with this id.
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut m = self.inner.lock().ok()?;
        match m.get(id) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                m.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, id: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(id);
        }
    }
}
