//! Canonical JSON (RFC 8785, JCS) and SHA-256 digests over it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// A SHA-256 digest, shown as `sha256:<hex>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Digest(pub String);

impl Digest {
    /// Digest of raw bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex characters, for tables.
    pub fn short(&self) -> &str {
        let hex = self.0.strip_prefix("sha256:").unwrap_or(&self.0);
        &hex[..hex.len().min(12)]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

/// `value` in the JSON Canonicalization Scheme (RFC 8785), by `serde_json_canonicalizer`:
/// object keys sorted by their UTF-16 code units, numbers in ECMAScript's shortest form,
/// strings escaped minimally. An assessor recomputes any custos digest with any RFC 8785
/// implementation.
///
/// RFC 8785 fails only on numbers JSON cannot hold (NaN, infinities), which a
/// `serde_json::Value` never holds; should it fail anyway, the text names the error, so
/// the digest matches no real one and every comparison against it fails closed.
pub fn canonical_json(value: &Value) -> String {
    serde_json_canonicalizer::to_string(value)
        .unwrap_or_else(|e| format!("\u{0}not encodable as RFC 8785: {e}"))
}

/// SHA-256 over the RFC 8785 encoding of `value`: every digest custos computes over
/// structured data (plans, before and after states, policy bundles, decision inputs,
/// snapshots, prompts and answers).
pub fn digest_json(value: &Value) -> Digest {
    Digest::of_bytes(canonical_json(value).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_digest() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": null}});
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,2]},"b":1}"#);
        assert_eq!(digest_json(&a), digest_json(&b));
    }

    #[test]
    fn array_order_changes_the_digest() {
        assert_ne!(digest_json(&json!([1, 2])), digest_json(&json!([2, 1])));
    }

    /// Issue 22 item 10: the encoding is RFC 8785, not a look-alike. The hand-written
    /// encoder sorted keys by UTF-8 bytes and printed numbers as `serde_json` does; these
    /// are the RFC's own examples (section 3.2.3, key sorting; appendix B, numbers).
    #[test]
    fn the_encoding_is_rfc_8785() {
        // Sorting by UTF-16 code units: U+1F600 (a surrogate pair, D83D) sorts before
        // U+FB33 in UTF-16 and after it in UTF-8.
        let v: Value = serde_json::from_str(
            r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&v),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
        let numbers: Value =
            serde_json::from_str("[1e21, 1e-7, 0.000001, 1e+30, -0.0, 1.0]").unwrap();
        assert_eq!(canonical_json(&numbers), "[1e+21,1e-7,0.000001,1e+30,0,1]");
        // The digest is SHA-256 over exactly those bytes.
        assert_eq!(
            digest_json(&numbers),
            Digest::of_bytes(b"[1e+21,1e-7,0.000001,1e+30,0,1]")
        );
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(canonical_json(&json!({"k\"": "v\n"})), r#"{"k\"":"v\n"}"#);
    }

    #[test]
    fn short_is_twelve_hex_chars() {
        let d = Digest::of_bytes(b"x");
        assert_eq!(d.short().len(), 12);
        assert!(d.as_str().starts_with("sha256:"));
    }
}
