//! API tokens: `cst_<id>_<secret>`. The id (12 hex characters) is public and names the
//! token in the ledger and in logs; the secret is 32 random bytes, base64url. Only the
//! SHA-256 of the secret is stored; comparison is in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use custos_core::Digest;
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "cst_";

/// A freshly issued token: the text to show once, its id and the hash to store.
#[derive(Debug, Clone)]
pub struct Issued {
    pub text: String,
    pub id: String,
    pub secret_hash: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot draw random bytes for a token: {0}")]
pub struct RandomError(String);

fn random<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| RandomError(e.to_string()))?;
    Ok(b)
}

fn hash_secret(secret: &str) -> String {
    Digest::of_bytes(secret.as_bytes()).0
}

/// 256 random bits, base64url (43 characters): a token's secret, a session id, a CSRF
/// token.
pub fn secret() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random::<32>()?))
}

/// Equality of two secrets in constant time (for equal lengths).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A new token.
pub fn issue() -> Result<Issued, RandomError> {
    let id = hex::encode(random::<6>()?);
    let secret = secret()?;
    Ok(Issued {
        text: format!("{PREFIX}{id}_{secret}"),
        secret_hash: hash_secret(&secret),
        id,
    })
}

/// A token split into its id and secret; `None` when the text is not shaped like one.
pub fn parse(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

/// Does `secret` match the stored hash? Constant time in the hash comparison.
pub fn matches(secret: &str, stored_hash: &str) -> bool {
    same(&hash_secret(secret), stored_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_parse_and_match_only_their_secret() {
        let t = issue().unwrap();
        let (id, secret) = parse(&t.text).unwrap();
        assert_eq!(id, t.id);
        assert!(matches(secret, &t.secret_hash));
        let other = issue().unwrap();
        let (_, other_secret) = parse(&other.text).unwrap();
        assert!(!matches(other_secret, &t.secret_hash));
        assert_ne!(t.id, other.id);
        assert!(!t.secret_hash.contains(secret));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "cst_",
            "cst_abc_def",
            "Bearer cst_0123456789ab_xxx",
            "cst_0123456789zz_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "cst_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa$",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(parse("cst_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_some());
    }
}
