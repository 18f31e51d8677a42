//! Checkpoint keys in the C2SP signed-note text form (`signed_note`, Cloudflare's port of
//! Go's `sumdb/note`): `PRIVATE+KEY+<name>+<id>+<base64>` and `<name>+<id>+<base64>`,
//! the same strings Go's `note.GenerateKey` writes, so an assessor's own tooling reads
//! them.

use crate::{EvidenceError, Result};
use signed_note::{Signer, StandardSigner, StandardVerifier, Verifier};
use std::fmt;
use std::path::Path;

/// The private key that signs checkpoints.
#[derive(Clone)]
pub struct SigningKey {
    signer: StandardSigner,
    public: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.public)
    }
}

impl SigningKey {
    /// Parse the private key text; `source_name` says where it came from in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let bad = |reason: &str| EvidenceError::SigningKey {
            source_name: source_name.to_string(),
            reason: reason.to_string(),
        };
        let text = text.trim();
        let signer = StandardSigner::new(text).map_err(|e| bad(&e.to_string()))?;
        // The public key is derived from the private one: sign, then find the verifier
        // key whose id matches (the note format keeps both in the key text).
        let public = public_of(text).ok_or_else(|| bad("cannot derive the public key"))?;
        let verifier = StandardVerifier::new(&public).map_err(|e| bad(&e.to_string()))?;
        let probe = signer
            .sign(b"custos key check\n")
            .map_err(|e| bad(&e.to_string()))?;
        if verifier.key_id() != signer.key_id() || !verifier.verify(b"custos key check\n", &probe) {
            return Err(bad("the key does not verify its own signature"));
        }
        Ok(SigningKey { signer, public })
    }

    /// Read the key from a file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let name = format!("`{}`", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| EvidenceError::SigningKey {
            source_name: name.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &name)
    }

    /// Read the key from an environment variable.
    pub fn from_env(var: &str) -> Result<Self> {
        let name = format!("in `${var}`");
        let text = std::env::var(var).map_err(|_| EvidenceError::SigningKey {
            source_name: name.clone(),
            reason: "the variable is not set".to_string(),
        })?;
        Self::parse(&text, &name)
    }

    /// A new key pair for `name` (the checkpoint origin): (private, public) key texts.
    pub fn generate(name: &str) -> Result<(String, String)> {
        if !signed_note::is_key_name_valid(name) {
            return Err(EvidenceError::SigningKey {
                source_name: format!("name `{name}`"),
                reason: "a key name is non-empty UTF-8 without spaces or `+`".to_string(),
            });
        }
        Ok(signed_note::generate_key(&mut rand_core::OsRng, name))
    }

    pub fn name(&self) -> &str {
        self.signer.name()
    }

    /// The public key text that verifies this key's signatures.
    pub fn public(&self) -> &str {
        &self.public
    }

    /// `text` as a signed note with this key's signature.
    pub fn sign_note(&self, text: &[u8]) -> Result<String> {
        let sign = |e: &dyn fmt::Display| EvidenceError::Sign(e.to_string());
        let mut note = signed_note::Note::new(text, &[]).map_err(|e| sign(&e))?;
        let signer: &dyn Signer = &self.signer;
        note.add_sigs(&[signer]).map_err(|e| sign(&e))?;
        String::from_utf8(note.to_bytes()).map_err(|e| sign(&e))
    }
}

/// The public key of `PRIVATE+KEY+name+id+base64(0x01 || seed)`.
fn public_of(private: &str) -> Option<String> {
    let rest = private.strip_prefix("PRIVATE+KEY+")?;
    let (name, rest) = rest.split_once('+')?;
    let (_, key64) = rest.split_once('+')?;
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key64)
        .ok()?;
    let (&alg, seed) = key.split_first()?;
    if alg != 1 {
        return None;
    }
    let seed: [u8; 32] = seed.try_into().ok()?;
    let vk = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    Some(signed_note::new_ed25519_verifier_key(name, &vk))
}

/// The public key that verifies checkpoints.
#[derive(Clone)]
pub struct PublicKey {
    text: String,
    verifier: std::sync::Arc<StandardVerifier>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.text)
    }
}

impl PublicKey {
    /// Parse `name+id+base64`; `source_name` says where it came from in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let text = text.trim();
        let verifier = StandardVerifier::new(text).map_err(|e| EvidenceError::PublicKey {
            source_name: source_name.to_string(),
            reason: e.to_string(),
        })?;
        Ok(PublicKey {
            text: text.to_string(),
            verifier: std::sync::Arc::new(verifier),
        })
    }

    /// The key itself, or a file holding it.
    pub fn from_arg(arg: &str) -> Result<Self> {
        let path = Path::new(arg);
        if path.is_file() {
            let name = format!("`{}`", path.display());
            let text = std::fs::read_to_string(path).map_err(|e| EvidenceError::PublicKey {
                source_name: name.clone(),
                reason: e.to_string(),
            })?;
            Self::parse(&text, &name)
        } else {
            Self::parse(arg, &format!("`{arg}`"))
        }
    }

    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn verifier(&self) -> StandardVerifier {
        (*self.verifier).clone()
    }
}
