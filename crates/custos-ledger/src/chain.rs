//! How an event is hashed, and the leaf it becomes in the Merkle tree.
//!
//! Scheme 1 (every event written since migration 0007):
//!
//! ```text
//! body  = RFC 8785 (JCS) encoding of
//!         {"index", "id", "at", "run_id", "kind", "resource", "payload", "prev_hash"}
//! hash  = "sha256:" || hex(SHA-256(body))
//! leaf  = SHA-256(0x00 || SHA-256(body))        (RFC 6962 leaf over the 32 hash bytes)
//! ```
//!
//! `prev_hash` is the previous event's `hash` ([`GENESIS`] for the first), so the events
//! form a chain, and `index` is the event's leaf number, so no event can be moved.
//! Scheme 0 is the encoding of ledgers written before 0007 (`prev_hash`, a newline, and
//! custos' own sorted-key JSON of the event without `index`); such events keep their
//! hashes and are verified as they were written.

use crate::{GENESIS, LedgerError, Result};
use custos_core::Digest;
use serde_json::{Value, json};

/// Hash scheme of events written by this version.
pub const SCHEME: i64 = 1;

/// The fields of an event that its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct EventBody<'a> {
    pub index: i64,
    pub id: &'a str,
    pub at: &'a str,
    pub run_id: Option<&'a str>,
    pub kind: &'a str,
    pub resource: Option<&'a str>,
    pub payload: &'a Value,
    pub prev_hash: &'a str,
}

impl EventBody<'_> {
    /// The JCS bytes of scheme 1.
    pub fn jcs(&self) -> Result<Vec<u8>> {
        let body = json!({
            "index": self.index,
            "id": self.id,
            "at": self.at,
            "run_id": self.run_id,
            "kind": self.kind,
            "resource": self.resource,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
        });
        serde_json_canonicalizer::to_vec(&body).map_err(|source| LedgerError::Json {
            table: "events",
            source,
        })
    }

    /// The event's hash under `scheme`.
    pub fn hash(&self, scheme: i64) -> Result<String> {
        match scheme {
            SCHEME => Ok(Digest::of_bytes(&self.jcs()?).0),
            0 => Ok(self.legacy_hash()),
            other => Err(LedgerError::Corrupt {
                table: "events",
                column: "scheme",
                value: other.to_string(),
            }),
        }
    }

    fn legacy_hash(&self) -> String {
        let body = json!({"id": self.id, "at": self.at, "run_id": self.run_id, "kind": self.kind, "resource": self.resource, "payload": self.payload});
        let mut bytes = self.prev_hash.as_bytes().to_vec();
        bytes.push(b'\n');
        bytes.extend_from_slice(legacy_encoding(&body).as_bytes());
        Digest::of_bytes(&bytes).0
    }
}

/// Scheme 0's encoding, kept only to verify events written before migration 0007: object
/// keys sorted by UTF-8 bytes, everything else as `serde_json` prints it. It is not RFC
/// 8785 (key order differs outside the BMP, numbers print differently), which is why
/// scheme 1 replaced it; nothing new is ever hashed with it.
pub(crate) fn legacy_encoding(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*key).clone()).to_string());
                    out.push(':');
                    if let Some(v) = map.get(*key) {
                        write(v, out);
                    }
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The 32 bytes of a `sha256:<hex>` hash.
pub fn hash_bytes(hash: &str) -> Option<[u8; 32]> {
    let hex = hash.strip_prefix("sha256:")?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(out)
}

/// The RFC 6962 leaf hash of an event whose hash is `hash`.
pub fn leaf_hash(hash: &[u8; 32]) -> tlog_tiles::Hash {
    tlog_tiles::record_hash(hash)
}

/// Is `hash` the chain's start?
pub fn is_genesis(hash: &str) -> bool {
    hash == GENESIS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(payload: &Value) -> EventBody<'_> {
        EventBody {
            index: 7,
            id: "e-1",
            at: "2026-11-23T10:00:00.000000Z",
            run_id: None,
            kind: "run.started",
            resource: Some("123456789012/us-east-1/AWS::S3::Bucket/b"),
            payload,
            prev_hash: GENESIS,
        }
    }

    #[test]
    fn scheme_1_is_sha256_over_the_rfc8785_bytes_written_out_by_hand() {
        let payload = json!({"b": 1.0, "a": "é", "z": [3, {"y": null, "x": true}]});
        let b = body(&payload);
        // Written by hand from RFC 8785: keys sorted by UTF-16 code units, 1.0 as `1`,
        // non-ASCII left as UTF-8, no white space.
        let expect = concat!(
            r#"{"at":"2026-11-23T10:00:00.000000Z","id":"e-1","index":7,"kind":"run.started","#,
            r#""payload":{"a":"é","b":1,"z":[3,{"x":true,"y":null}]},"#,
            r#""prev_hash":"sha256:0000000000000000000000000000000000000000000000000000000000000000","#,
            r#""resource":"123456789012/us-east-1/AWS::S3::Bucket/b","run_id":null}"#
        );
        assert_eq!(String::from_utf8(b.jcs().unwrap()).unwrap(), expect);
        assert_eq!(b.hash(1).unwrap(), Digest::of_bytes(expect.as_bytes()).0);
    }

    #[test]
    fn the_index_and_the_link_are_part_of_the_hash() {
        let payload = json!({});
        let a = body(&payload);
        let moved = EventBody { index: 8, ..a };
        let relinked = EventBody {
            prev_hash: "sha256:11",
            ..a
        };
        assert_ne!(a.hash(1).unwrap(), moved.hash(1).unwrap());
        assert_ne!(a.hash(1).unwrap(), relinked.hash(1).unwrap());
    }

    #[test]
    fn an_unknown_scheme_is_an_error_not_a_guess() {
        let payload = json!({});
        assert!(matches!(
            body(&payload).hash(9),
            Err(LedgerError::Corrupt {
                column: "scheme",
                ..
            })
        ));
    }
}
