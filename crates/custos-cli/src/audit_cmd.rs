//! `custos audit`: checkpoint keys, signing a checkpoint now, and verifying the whole log
//! against the checkpoints and their witness copies. Also the checkpointer every other
//! command and the service use.

use crate::cli::{
    EXIT_DAMAGED, EXIT_INVALID, EXIT_OK, EXIT_REFUSED, EXIT_RUNTIME, Failure, Output,
};
use clap::Subcommand;
use custos_engine::config::{Config, KeySource};
use custos_evidence::audit::Auditor;
use custos_evidence::checkpoint::{Cadence, Checkpointer};
use custos_evidence::{DirWitness, PublicKey, S3Witness, SigningKey, Witness};
use custos_ledger::Ledger;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Make a checkpoint signing key pair: the private key goes to --out (readable by
    /// its owner only), the public key to stdout and to `<out>.pub`.
    Keygen {
        /// The key's name, also the checkpoints' origin (e.g. `custos.example.com/prod`).
        #[arg(long)]
        name: String,
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Sign a checkpoint of the ledger now and publish it to the witnesses.
    Checkpoint,
    /// Verify the whole log: every event's hash, the chain, the Merkle tree against every
    /// signed checkpoint, and the witness copies. Exits 7 on any damage.
    Verify {
        /// The public key (the key text or a file); otherwise `[evidence] public_key`, or
        /// the signing key's.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
}

fn invalid(e: impl std::fmt::Display) -> Failure {
    Failure::new(EXIT_INVALID, e)
}

fn read_key_text(source: &KeySource, what: &str) -> Result<(String, String), Failure> {
    match source {
        KeySource::File(p) => std::fs::read_to_string(p)
            .map(|t| (t, format!("`{}`", p.display())))
            .map_err(|e| invalid(format!("{what} `{}`: {e}", p.display()))),
        KeySource::Env(v) => std::env::var(v)
            .map(|t| (t, format!("in `${v}`")))
            .map_err(|_| invalid(format!("{what}: `${v}` is not set"))),
        KeySource::Literal(t) => Ok((t.clone(), "[evidence] public_key".to_string())),
    }
}

pub(crate) fn signing_key(config: &Config) -> Result<Option<SigningKey>, Failure> {
    let Some(source) = &config.evidence.signing_key else {
        return Ok(None);
    };
    let (text, name) = read_key_text(source, "signing key")?;
    SigningKey::parse(&text, &name).map(Some).map_err(invalid)
}

/// The key checkpoints are verified with: `--public-key`, else `[evidence] public_key`,
/// else the signing key's public half; `None` when there is none of them.
pub fn public_key_of(config: &Config, arg: Option<&str>) -> Result<Option<PublicKey>, Failure> {
    Ok(Some(
        match (arg, &config.evidence.public_key, signing_key(config)?) {
            (Some(arg), _, _) => PublicKey::from_arg(arg).map_err(invalid)?,
            (None, Some(source), _) => {
                let (text, name) = read_key_text(source, "public key")?;
                PublicKey::parse(&text, &name).map_err(invalid)?
            }
            (None, None, Some(k)) => {
                PublicKey::parse(k.public(), "the signing key").map_err(invalid)?
            }
            (None, None, None) => return Ok(None),
        },
    ))
}

pub(crate) async fn witnesses(config: &Config) -> Vec<Arc<dyn Witness>> {
    let mut out: Vec<Arc<dyn Witness>> = vec![];
    if let Some(dir) = &config.evidence.witness_dir {
        out.push(Arc::new(DirWitness { dir: dir.clone() }));
    }
    if let Some((bucket, prefix)) = &config.evidence.witness_s3 {
        let sdk = custos_telemetry::aws::load_sdk_config(config.region.as_deref()).await;
        out.push(Arc::new(S3Witness {
            client: custos_telemetry::aws::s3_client(&sdk, config.region.as_deref()),
            bucket: bucket.clone(),
            prefix: prefix.clone(),
        }));
    }
    out
}

fn cadence(config: &Config) -> Cadence {
    Cadence {
        every: config.evidence.every,
        interval: config.evidence.interval,
    }
}

/// The checkpointer, when `[evidence]` has a signing key.
pub async fn checkpointer(
    config: &Config,
    ledger: Arc<Ledger>,
) -> Result<Option<Checkpointer>, Failure> {
    let Some(key) = signing_key(config)? else {
        return Ok(None);
    };
    Ok(Some(Checkpointer::new(
        ledger,
        key,
        witnesses(config).await,
        cadence(config),
    )))
}

/// Checkpoint whatever the command recorded, so nothing it wrote is left unanchored
/// (nothing to do without a signing key). A failure is reported, not fatal: the
/// command's own result stands, and `audit verify` shows the unanchored events.
pub async fn anchor(cfg: Option<&std::path::Path>, db: Option<&str>) {
    let Ok(mut config) = crate::build::load_config(cfg) else {
        return;
    };
    if config.evidence.signing_key.is_none() {
        return;
    }
    if let Some(url) = db {
        config.database_url = url.to_string();
    }
    let result = match Ledger::open(&config.database_url).await {
        Err(e) => Err(e.to_string()),
        Ok(ledger) => match checkpointer(&config, Arc::new(ledger)).await {
            Ok(Some(c)) => c
                .checkpoint_if_behind()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Ok(None) => Ok(()),
            Err(f) => Err(f.error),
        },
    };
    if let Err(e) = result {
        eprintln!("warning: no checkpoint was signed for this command's events: {e}");
    }
}

/// The service's checkpoint task; [`Anchoring::stop`] ends it after a last checkpoint.
#[derive(Debug)]
pub struct Anchoring {
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Anchoring {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task {
            let _ = t.await;
        }
    }
}

/// Start the checkpoint task of a long-running command (nothing without a signing key).
pub async fn spawn_checkpoints(engine: &custos_engine::Engine) -> Result<Anchoring, Failure> {
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    let task = checkpointer(engine.config(), engine.ledger_arc())
        .await?
        .map(|c| {
            tokio::spawn(checkpoint_loop(c, async move {
                let _ = rx.wait_for(|s| *s).await;
            }))
        });
    Ok(Anchoring { stop, task })
}

/// Every few seconds, sign a checkpoint if `every` events have accumulated or `interval`
/// has passed, until `stop` resolves; then one for the rest.
async fn checkpoint_loop(c: Checkpointer, stop: impl std::future::Future<Output = ()>) {
    let tick = std::time::Duration::from_secs(5).min(c.cadence().interval);
    tokio::pin!(stop);
    loop {
        if let Err(e) = c.checkpoint_if_due().await {
            tracing::error!(error = %e, "checkpoint failed");
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(tick) => {}
        }
    }
    if let Err(e) = c.checkpoint_if_behind().await {
        tracing::error!(error = %e, "final checkpoint failed");
    }
}

pub async fn audit(
    config: Config,
    ledger: Arc<Ledger>,
    out: Output,
    command: AuditCommand,
) -> Result<u8, Failure> {
    match command {
        AuditCommand::Keygen { name, out: path } => keygen(&name, &path),
        AuditCommand::Checkpoint => {
            let c = checkpointer(&config, ledger).await?.ok_or_else(|| {
                invalid("no signing key: set `[evidence] signing_key_file` or `signing_key_env`")
            })?;
            let signed = c
                .checkpoint()
                .await
                .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
            match out {
                Output::Json => crate::cli::print_json(&serde_json::json!({
                    "id": signed.row.id, "size": signed.row.size, "root": signed.row.root,
                    "at": signed.row.at, "note": signed.row.note,
                    "published": signed.published, "failed": signed.failed,
                }))?,
                Output::Table => {
                    print!("{}", signed.row.note);
                    for p in &signed.published {
                        println!("published: {p}");
                    }
                    for f in &signed.failed {
                        println!("NOT published: {f}");
                    }
                }
            }
            Ok(if signed.failed.is_empty() {
                EXIT_OK
            } else {
                EXIT_RUNTIME
            })
        }
        AuditCommand::Verify { public_key } => {
            let key = public_key_of(&config, public_key.as_deref())?.ok_or_else(|| {
                invalid("no public key: give `--public-key` or set `[evidence] public_key`")
            })?;
            let report = Auditor {
                ledger,
                key,
                witnesses: witnesses(&config).await,
                cadence: cadence(&config),
            }
            .verify()
            .await
            .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
            match out {
                Output::Json => crate::cli::print_json(&report)?,
                Output::Table => crate::render::emit(&crate::render::audit(&report)),
            }
            Ok(if report.intact() {
                EXIT_OK
            } else {
                EXIT_DAMAGED
            })
        }
    }
}

/// `custos audit keygen`: no configuration, no ledger.
pub fn keygen(name: &str, out: &std::path::Path) -> Result<u8, Failure> {
    let (private, public) = SigningKey::generate(name).map_err(invalid)?;
    if out.exists() {
        return Err(invalid(format!(
            "`{}` exists: custos does not overwrite a signing key",
            out.display()
        )));
    }
    write_private(out, &format!("{private}\n")).map_err(|e| {
        Failure::msg(
            EXIT_RUNTIME,
            format!("cannot write `{}`: {e}", out.display()),
        )
    })?;
    let public_path = PathBuf::from(format!("{}.pub", out.display()));
    std::fs::write(&public_path, format!("{public}\n")).map_err(|e| {
        Failure::msg(
            EXIT_RUNTIME,
            format!("cannot write `{}`: {e}", public_path.display()),
        )
    })?;
    println!("{public}");
    Ok(EXIT_OK)
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Delete the events recorded before a time, once an export covers them (`custos
    /// evidence export`, from the first event to at least that time). Refused unless the
    /// ledger verifies, its events are under a signed checkpoint and no live approval or
    /// action is among them. A statement signed with the checkpoint key records the
    /// horizon, so `audit verify` still verifies the whole log. Needs a policy admin.
    Prune {
        /// Delete events recorded before this time (RFC 3339 or a date).
        #[arg(long)]
        before: String,
    },
}

pub async fn ledger_cmd(
    config: Config,
    ledger: Arc<Ledger>,
    out: Output,
    cred: Option<&str>,
    command: LedgerCommand,
) -> Result<u8, Failure> {
    let LedgerCommand::Prune { before } = command;
    let before = crate::replay_cmd::parse_time("--before", &before)?;
    let by = crate::auth::principal(
        &config,
        ledger.clone(),
        cred,
        custos_core::identity::Permission::Prune,
    )
    .await?
    .name;
    let Some(cp) = checkpointer(&config, ledger.clone()).await? else {
        return Err(invalid(
            "pruning needs `[evidence] signing_key_file` or `signing_key_env`: the signed statement is what keeps the log verifiable",
        ));
    };
    let key = public_key_of(&config, None)?
        .ok_or_else(|| invalid("no public key to verify the ledger with"))?;
    let auditor = Auditor {
        ledger: ledger.clone(),
        key,
        witnesses: witnesses(&config).await,
        cadence: cadence(&config),
    };
    // The guard counts recent actions (blast radius, breaker): their rows must stay.
    let lookback =
        chrono::Duration::hours(config.gate.window_hours).max(config.guard.breaker.window);
    match custos_evidence::prune::prune(&ledger, &cp, &auditor, before, lookback, &by).await {
        Ok(p) => {
            match out {
                Output::Json => crate::cli::print_json(&p)?,
                Output::Table => say!(
                    "pruned {} events recorded before {} (the ledger now starts at event {}); removed {} approvals, {} actions and {} observation rows no remaining event speaks for; the signed statement keeps the log verifiable",
                    p.events,
                    before.to_rfc3339(),
                    p.horizon,
                    p.approvals,
                    p.actions,
                    p.observations
                ),
            }
            Ok(EXIT_OK)
        }
        Err(e @ custos_evidence::EvidenceError::Prune(_)) => Err(Failure::new(EXIT_REFUSED, e)),
        Err(e) => Err(Failure::new(EXIT_RUNTIME, e)),
    }
}
