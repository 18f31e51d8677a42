//! Evidence an assessor can check without trusting custos' database: signed, witnessed
//! checkpoints of the ledger's Merkle tree, and `custos audit verify`.
//!
//! - [`keys`]: the checkpoint signing key (a C2SP signed-note ed25519 key, from a file or
//!   an environment variable, never from the ledger) and the public key that verifies it.
//! - [`witness`]: where checkpoints are published besides the ledger: a directory, an S3
//!   bucket.
//! - [`checkpoint`]: extend the tree, sign a C2SP tlog-checkpoint, store it, publish it.
//! - [`audit`]: verify the whole log against the checkpoints, signatures and witnesses,
//!   and say what kind of damage it finds.
//! - [`bundle`]: one action's evidence with inclusion proofs, checked offline.
//! - [`export`]: a framework's requirements over a period as OSCAL, CSV or JSON.
//! - [`prune`]: retention under a signed statement that keeps verification whole.

pub mod audit;
pub mod bundle;
pub mod checkpoint;
pub mod export;
pub mod keys;
pub mod prune;
pub mod witness;

pub use audit::{AuditReport, Damage, DamageKind};
pub use checkpoint::{Checkpointer, SignedCheckpoint};
pub use keys::{PublicKey, SigningKey};
pub use witness::{DirWitness, S3Witness, Witness};

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("{0}")]
    Ledger(#[from] custos_ledger::LedgerError),
    #[error("signing key {source_name}: {reason}")]
    SigningKey { source_name: String, reason: String },
    #[error("public key {source_name}: {reason}")]
    PublicKey { source_name: String, reason: String },
    #[error("cannot sign checkpoint: {0}")]
    Sign(String),
    #[error("prune refused: {0}")]
    Prune(String),
    #[error("export: {0}")]
    Export(String),
    #[error("evidence bundle: {0}")]
    Bundle(String),
    #[error("witness `{witness}`: {reason}")]
    Witness { witness: String, reason: String },
}

pub type Result<T> = std::result::Result<T, EvidenceError>;
