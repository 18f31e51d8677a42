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
    /// What the ledger shows about one framework's requirements over a period: OSCAL
    /// assessment results (observations per evaluation, findings per requirement, risks
    /// for what is open, the assessment log), CSV for a spreadsheet, or JSON. Streams;
    /// the export is recorded in the ledger (`custos ledger prune` needs one).
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_parser = ["cis", "nist-800-53", "nist-800-171", "fedramp-moderate", "cmmc-l2"])]
    pub framework: String,
    /// Start of the period (inclusive): an RFC 3339 time or a date; default: the first event.
    #[arg(long)]
    pub since: Option<String>,
    /// End of the period (exclusive); default: now.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, value_parser = ["oscal", "csv", "json"], default_value = "oscal")]
    pub format: String,
    /// Write to this file (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The key to verify the named checkpoint with (default: `[evidence] public_key`
    /// or the signing key's).
    #[arg(long, value_name = "KEY")]
    pub public_key: Option<String>,
    /// Events read per page (tests use a small one to cross page boundaries).
    #[arg(long, hide = true, default_value_t = custos_evidence::export::PAGE, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub page_size: i64,
}

pub async fn export(config: &Config, ledger: Arc<Ledger>, args: ExportArgs) -> Result<u8, Failure> {
    use custos_evidence::export::{self as ex, Baseline, Format, Framework, Request};
    let invalid = |m: String| Failure::msg(EXIT_INVALID, m);
    let framework = Framework::parse(&args.framework)
        .ok_or_else(|| invalid(format!("unknown framework `{}`", args.framework)))?;
    let format = Format::parse(&args.format)
        .ok_or_else(|| invalid(format!("unknown format `{}`", args.format)))?;
    let now = ledger.now();
    let since = args
        .since
        .as_deref()
        .map(|s| crate::replay_cmd::parse_time("--since", s))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| crate::replay_cmd::parse_time("--until", s))
        .transpose()?
        .unwrap_or(now);
    if since.is_some_and(|s| s >= until) {
        return Err(invalid("`--since` must be before `--until`".into()));
    }
    // OSCAL's date-time pattern takes years 1900 to 2999.
    for (flag, t) in [("--since", since), ("--until", Some(until))] {
        if let Some(t) = t.filter(|t| !(1900..3000).contains(&chrono::Datelike::year(t))) {
            return Err(invalid(format!(
                "`{flag} {t}`: give a time between the years 1900 and 2999"
            )));
        }
    }
    let key = crate::audit_cmd::public_key_of(config, args.public_key.as_deref())?;
    // Anchor what is recorded so far, so the checkpoint the export names covers it.
    if let Some(c) = crate::audit_cmd::checkpointer(config, ledger.clone()).await? {
        c.checkpoint_if_behind()
            .await
            .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
    }
    let policy = crate::build::load_policy(config)?;
    let baseline = Baseline {
        policy_digest: policy.digest().to_string(),
        controls: policy.controls().to_vec(),
    };
    let req = Request {
        framework,
        since,
        until,
        format,
        generated: now,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        page: args.page_size,
    };
    let runtime = |e: custos_evidence::EvidenceError| Failure::new(EXIT_RUNTIME, e);
    let written = match &args.out {
        Some(path) => {
            // Written beside the target and renamed: a failed export leaves no file that
            // looks complete.
            let partial = path.with_extension("partial");
            let file = std::fs::File::create(&partial).map_err(|e| {
                Failure::msg(
                    EXIT_RUNTIME,
                    format!("cannot write `{}`: {e}", partial.display()),
                )
            })?;
            let w = match ex::export(
                &ledger,
                &req,
                &baseline,
                key.as_ref(),
                std::io::BufWriter::new(file),
            )
            .await
            {
                Ok(w) => w,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(runtime(e));
                }
            };
            std::fs::rename(&partial, path).map_err(|e| {
                Failure::msg(
                    EXIT_RUNTIME,
                    format!("cannot write `{}`: {e}", path.display()),
                )
            })?;
            w
        }
        None => ex::export(
            &ledger,
            &req,
            &baseline,
            key.as_ref(),
            std::io::BufWriter::new(std::io::stdout().lock()),
        )
        .await
        .map_err(runtime)?,
    };
    ledger
        .append(
            None,
            "evidence.exported",
            None,
            &serde_json::json!({
                "framework": framework.key(), "format": format.as_str(),
                "since": since, "until": until, "written": written,
                "file": args.out.as_ref().map(|p| p.display().to_string()),
            }),
        )
        .await
        .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
    let line = format!(
        "exported {} ({}): {} events, {} evaluations; {} requirements: {} satisfied, {} not satisfied, {} not or partially assessed; {} open risks; {}; {} bytes, {}",
        framework.title(),
        format.as_str(),
        written.events,
        written.evaluations,
        written.requirements,
        written.satisfied,
        written.not_satisfied,
        written.not_assessed,
        written.open_risks,
        match (written.checkpoint_size, written.anchored) {
            (Some(n), true) => format!("anchored by the signed checkpoint of {n} events"),
            (Some(n), false) => format!(
                "NOT fully anchored: the checkpoint named ({n} events) is unverified or older than the period's last event"
            ),
            (None, _) => "NOT anchored: no signed checkpoint".to_string(),
        },
        written.bytes,
        written.sha256,
    );
    if args.out.is_some() {
        println!("{line}");
    } else {
        eprintln!("{line}");
    }
    Ok(EXIT_OK)
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
                Output::Table => say!(
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
    // Anchor what is recorded so far, so the bundle covers the newest events; the same
    // key signs the bundle's head (which proves no event about the action was left out).
    let Some(c) = crate::audit_cmd::checkpointer(config, ledger.clone()).await? else {
        return Err(Failure::msg(
            EXIT_INVALID,
            "an evidence bundle is signed with the checkpoint key: set `[evidence] signing_key_file`".into(),
        ));
    };
    c.checkpoint_if_behind()
        .await
        .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
    let b = bundle::build(&ledger, action_id, &c)
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
        _ => crate::render::emit(&crate::render::bundle(&b, file.as_deref())),
    }
    Ok(EXIT_OK)
}
