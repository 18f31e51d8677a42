//! `custos evidence`: the bundle of one action (`show`) and its offline check (`verify`).

use crate::cli::{EXIT_DAMAGED, EXIT_INVALID, EXIT_OK, EXIT_RUNTIME, Failure, Output};
use clap::Subcommand;
use custos_engine::config::Config;
use custos_evidence::PublicKey;
use custos_evidence::bundle;
use custos_ledger::Ledger;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Everything about one action (control and framework requirements, the item as
    /// seen, the decision and its reasons, approvals, intent, before/after and diff,
    /// verification, rollback steps), each event with its proof against a signed
    /// checkpoint. `--output json` or `--out FILE` writes the bundle itself.
    Show {
        action_id: String,
        /// Write the bundle (RFC 8785 JSON) to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check a bundle offline with nothing but the public key: the checkpoint's
    /// signature, every event's hash and inclusion proof, and the summary. Exits 7 if
    /// anything fails.
    Verify {
        file: PathBuf,
        /// The public key (the key text or a file).
        #[arg(long, value_name = "KEY")]
        public_key: String,
    },
}

/// `evidence verify` needs neither configuration nor ledger.
pub fn verify(file: &std::path::Path, public_key: &str, out: Output) -> Result<u8, Failure> {
    let key = PublicKey::from_arg(public_key).map_err(|e| Failure::new(EXIT_INVALID, e))?;
    let bytes = std::fs::read(file).map_err(|e| {
        Failure::msg(
            EXIT_INVALID,
            format!("cannot read `{}`: {e}", file.display()),
        )
    })?;
    match bundle::verify(&bytes, &key) {
        Ok(v) => {
            match out {
                Output::Json => crate::cli::print_json(&v)?,
                Output::Table => println!(
                    "bundle of action {} verifies: {} events in the log signed at {} ({} events), outcome {}",
                    v.action_id,
                    v.events,
                    v.checkpoint_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    v.checkpoint_size,
                    v.outcome.as_deref().unwrap_or("none recorded")
                ),
            }
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("BUNDLE DOES NOT VERIFY: {e}");
            Ok(EXIT_DAMAGED)
        }
    }
}

pub async fn show(
    config: &Config,
    ledger: Arc<Ledger>,
    out: Output,
    action_id: &str,
    file: Option<PathBuf>,
) -> Result<u8, Failure> {
    // Anchor what is recorded so far, so the bundle covers the newest events.
    if let Some(c) = crate::audit_cmd::checkpointer(config, ledger.clone()).await? {
        c.checkpoint_if_behind()
            .await
            .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
    }
    let b = bundle::build(&ledger, action_id)
        .await
        .map_err(|e| match e {
            custos_evidence::EvidenceError::Ledger(custos_ledger::LedgerError::NotFound {
                ..
            }) => Failure::new(EXIT_INVALID, e),
            other => Failure::new(EXIT_RUNTIME, other),
        })?;
    let bytes = b.to_bytes().map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
    if let Some(path) = &file {
        std::fs::write(path, &bytes).map_err(|e| {
            Failure::msg(
                EXIT_RUNTIME,
                format!("cannot write `{}`: {e}", path.display()),
            )
        })?;
    }
    match out {
        Output::Json if file.is_none() => {
            use std::io::Write;
            let mut stdout = std::io::stdout();
            stdout
                .write_all(&bytes)
                .and_then(|()| stdout.write_all(b"\n"))
                .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
        }
        _ => print!("{}", crate::render::bundle(&b, file.as_deref())),
    }
    Ok(EXIT_OK)
}
