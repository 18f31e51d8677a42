//! Refusals are recorded, but a caller cannot use them to flood the ledger or the log.
//!
//! Every refusal event (`auth.refused`, `access.refused`, `approval.refused`,
//! `autonomy.refused`) carries caller input: a class name, a token id, a JWT's `kid`.
//! [`bounded`] cuts every string in it to [`MAX_FIELD_BYTES`], with the length and the
//! SHA-256 of the whole, so the event still names what was sent. [`Limiter`] writes at most
//! [`PER_KEY_PER_MINUTE`] refusals per credential (or principal) and
//! [`PER_MINUTE`] in all per process and minute; the rest are counted and written as
//! one `refusal.suppressed` event when the next minute starts.

use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The longest string of caller input kept whole in an event.
pub const MAX_FIELD_BYTES: usize = 256;
tokio::task_local! {
    /// The network peer of the request being served: the server sets it around each
    /// request, so every refusal recorded while serving it is limited per peer too.
    pub static PEER: String;
}

/// The peer of the request being served, if any.
pub fn current_peer() -> Option<String> {
    PEER.try_with(Clone::clone).ok()
}

/// Refusals written per credential or principal per minute.
pub const PER_KEY_PER_MINUTE: u32 = 10;
/// Refusals written per network peer per minute, whatever credentials it presents.
pub const PER_PEER_PER_MINUTE: u32 = 15;
/// Refusals written per process per minute, all keys together.
pub const PER_MINUTE: u32 = 60;
/// Keys tracked in one minute; refusals of further keys count as suppressed.
const MAX_KEYS: usize = 4096;
const WINDOW: Duration = Duration::from_secs(60);

/// `s` cut to at most `max` bytes, with its length and digest when cut.
pub fn bounded_text(s: &str, max: usize) -> String {
    custos_core::text::bounded(s, max)
}

/// `value` with every string (keys included) cut to [`MAX_FIELD_BYTES`], and every array
/// or object cut to 64 entries.
pub fn bounded(value: &Value) -> Value {
    const MAX_ENTRIES: usize = 64;
    match value {
        Value::String(s) => Value::String(bounded_text(s, MAX_FIELD_BYTES)),
        Value::Array(items) => {
            let mut out: Vec<Value> = items.iter().take(MAX_ENTRIES).map(bounded).collect();
            if items.len() > MAX_ENTRIES {
                out.push(Value::String(format!(
                    "… ({} more entries)",
                    items.len() - MAX_ENTRIES
                )));
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map.iter().take(MAX_ENTRIES) {
                out.insert(bounded_text(k, MAX_FIELD_BYTES), bounded(v));
            }
            if map.len() > MAX_ENTRIES {
                out.insert(
                    "…".into(),
                    Value::String(format!("{} more entries", map.len() - MAX_ENTRIES)),
                );
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// What to do with one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Write it, after a `refusal.suppressed` event for the last minute's suppressed ones
    /// (when there were any).
    Write { suppressed_before: u64 },
    /// Count it, write nothing now.
    Suppress,
}

/// Refusals per key and in all, per minute.
#[derive(Debug)]
pub struct Limiter {
    started: Instant,
    total: u32,
    per_key: HashMap<String, u32>,
    suppressed: u64,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            started: Instant::now(),
            total: 0,
            per_key: HashMap::new(),
            suppressed: 0,
        }
    }
}

impl Limiter {
    /// Admit a refusal of `key` (a credential or principal) from `peer` (the network
    /// address of the request, when it came over the network).
    pub fn admit(&mut self, key: &str, peer: Option<&str>, now: Instant) -> Admit {
        let mut suppressed_before = 0;
        if now.duration_since(self.started) >= WINDOW {
            suppressed_before = std::mem::take(&mut self.suppressed);
            self.started = now;
            self.total = 0;
            self.per_key.clear();
        }
        let key = format!("key:{key}");
        let peer = peer.map(|p| format!("peer:{p}"));
        let new_keys = usize::from(!self.per_key.contains_key(&key))
            + peer
                .as_ref()
                .map_or(0, |p| usize::from(!self.per_key.contains_key(p)));
        let count = |k: &str| self.per_key.get(k).copied().unwrap_or(0);
        let over = self.total >= PER_MINUTE
            || self.per_key.len() + new_keys > MAX_KEYS
            || count(&key) >= PER_KEY_PER_MINUTE
            || peer
                .as_ref()
                .is_some_and(|p| count(p) >= PER_PEER_PER_MINUTE);
        if over {
            self.suppressed += 1;
            return Admit::Suppress;
        }
        for k in std::iter::once(key).chain(peer) {
            *self.per_key.entry(k).or_default() += 1;
        }
        self.total += 1;
        Admit::Write { suppressed_before }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::Digest;
    use serde_json::json;

    #[test]
    fn long_strings_are_cut_with_their_digest() {
        let kid = "k".repeat(300_000);
        let v =
            bounded(&json!({"detail": format!("no key `{kid}`"), "n": 3, "list": [kid.clone()]}));
        let text = v.to_string();
        assert!(text.len() < 2 * 1024, "{} bytes", text.len());
        let detail = v["detail"].as_str().unwrap();
        assert!(detail.starts_with("no key `kkk"), "{detail}");
        assert!(
            detail.contains(&format!(
                "cut: 300009 bytes, {}",
                Digest::of_bytes(format!("no key `{kid}`").as_bytes())
            )),
            "{detail}"
        );
        assert_eq!(v["n"], 3);
        // Short strings are kept as they are; a cut never splits a character.
        assert_eq!(bounded(&json!("short")), json!("short"));
        let s = "é".repeat(200);
        assert!(bounded_text(&s, 255).starts_with(&"é".repeat(127)));
    }

    #[test]
    fn refusals_are_limited_per_key_and_in_all() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let written = (0..50)
            .filter(|_| matches!(l.admit("auditor", None, t0), Admit::Write { .. }))
            .count();
        assert_eq!(written, PER_KEY_PER_MINUTE as usize);
        let others = (0..200)
            .filter(|i| matches!(l.admit(&format!("k{i}"), None, t0), Admit::Write { .. }))
            .count();
        assert_eq!(others, (PER_MINUTE - PER_KEY_PER_MINUTE) as usize);
        // The next minute: the suppressed ones are reported once.
        let later = t0 + WINDOW;
        assert_eq!(
            l.admit("auditor", None, later),
            Admit::Write {
                suppressed_before: 40 + 200 - u64::from(PER_MINUTE - PER_KEY_PER_MINUTE)
            }
        );
        assert_eq!(
            l.admit("auditor", None, later),
            Admit::Write {
                suppressed_before: 0
            }
        );
    }
}
