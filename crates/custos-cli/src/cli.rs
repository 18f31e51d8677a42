//! Command-line interface and exit codes.

use crate::auth;
use crate::build::{self, Needs};
use crate::render;
use clap::{Args, Parser, Subcommand, ValueEnum};
use custos_core::{ApprovalStatus, Permission};
use custos_engine::Mode;
use custos_engine::config::Config;
use custos_ledger::EventFilter;
use custos_telemetry::Source;
use custos_telemetry::replay::ReplaySource;
use std::path::PathBuf;
use std::sync::Arc;

/// Success.
pub const EXIT_OK: u8 = 0;
/// A runtime failure: AWS, ledger, I/O.
pub const EXIT_RUNTIME: u8 = 1;
/// Invalid usage, configuration, policy bundle or playbooks: custos refused to start.
pub const EXIT_INVALID: u8 = 2;
/// `scan --fail-on-findings` found something; `policy test` had a failing test.
pub const EXIT_FINDINGS: u8 = 3;
/// `run`: an action failed, was rolled back, or a resource could not be evaluated.
pub const EXIT_ACTION_FAILED: u8 = 4;
/// An approval or rollback was refused (expired, self-approval, not pending, stale).
pub const EXIT_REFUSED: u8 = 5;
/// The credential was refused, or its principal may not do this.
pub const EXIT_DENIED: u8 = 6;
/// `audit verify` found damage, a bundle does not verify, a decision was not reproduced.
pub const EXIT_DAMAGED: u8 = 7;

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: String,
}

impl Failure {
    pub fn new(code: u8, e: impl std::fmt::Display) -> Self {
        Failure {
            code,
            error: e.to_string(),
        }
    }
    pub fn msg(code: u8, error: String) -> Self {
        Failure { code, error }
    }
}

impl From<custos_engine::EngineError> for Failure {
    fn from(e: custos_engine::EngineError) -> Self {
        use custos_engine::EngineError as E;
        let code = match &e {
            E::Access(_) | E::Approval(custos_approval::ApprovalError::Forbidden { .. }) => {
                EXIT_DENIED
            }
            E::Approval(_) | E::Refused(_) => EXIT_REFUSED,
            E::Ledger(custos_ledger::LedgerError::Conflict { .. }) => EXIT_REFUSED,
            E::Ledger(
                custos_ledger::LedgerError::NotFound { .. }
                | custos_ledger::LedgerError::Ambiguous { .. },
            ) => EXIT_INVALID,
            _ => EXIT_RUNTIME,
        };
        Failure::new(code, e)
    }
}

impl From<custos_ledger::LedgerError> for Failure {
    fn from(e: custos_ledger::LedgerError) -> Self {
        custos_engine::EngineError::from(e).into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    /// One JSON object per line, with the span fields (run, plan, resource).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// custos: finds cloud misconfigurations and fixes them safely, behind a policy gate, a
/// reasoning check and an approval gate, recording every decision as evidence.
#[derive(Debug, Parser)]
#[command(name = "custos", version, about, after_help = EXIT_HELP)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "CUSTOS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Ledger database (`sqlite://path` or a file path); overrides the config file.
    #[arg(long, global = true, env = "CUSTOS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub output: Output,
    /// A file holding your credential (an API token or an OIDC bearer JWT); otherwise
    /// `CUSTOS_TOKEN`. State-changing commands need one.
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Send approvals, pause/resume, rollback, breaker, autonomy and whoami to a running
    /// `custos serve` at this URL instead of the local ledger (needs a credential).
    #[arg(long, global = true, env = "CUSTOS_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Allow `--server http://` to a host that is not this machine (loopback). Without it
    /// custos refuses: the bearer credential would cross the network in clear.
    #[arg(long, global = true)]
    pub insecure_http: bool,
    /// Log format on stderr (`CUSTOS_LOG` sets the level).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_HELP: &str = "Exit codes:
  0  success
  1  runtime failure (AWS, ledger, I/O)
  2  invalid usage, configuration, policy or playbooks (custos refused to start)
  3  scan --fail-on-findings found non-compliant resources; policy test failed; doctor:
     a check failed
  4  run: an action failed, was rolled back, or a resource could not be evaluated
  5  approval or rollback refused (expired, self-approval, policy admin, already reviewed,
     another plan digest, not pending, stale, an approval that does not match the ledger,
     refused by the guard: blackout, pause, breaker, exclusion, limits)
  6  credentials refused (missing, malformed, unknown, revoked, expired) or the principal
     may not do this
  7  audit verify found damage (edited, deleted, reordered, truncated or rewritten events,
     a bad or missing checkpoint, a state table that differs from its events); evidence
     verify: the bundle does not verify; replay: a decision was not reproduced";

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Read configuration items / Config change events from a JSON or NDJSON file (`-`
    /// for stdin) instead of scanning the account.
    #[arg(long, conflicts_with = "source")]
    pub replay: Option<PathBuf>,
    /// Where a scan reads the account: `describe` asks every service; `config` reads what
    /// AWS Config recorded (the guard still reads each resource live before a change).
    #[arg(long, value_enum, default_value = "describe")]
    pub source: ScanSource,
}

/// Where a scan reads the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanSource {
    Describe,
    Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Detect: evaluate every control and list the findings. Changes nothing.
    Scan {
        #[command(flatten)]
        source: SourceArgs,
        /// Exit with 3 when any resource is non-compliant.
        #[arg(long)]
        fail_on_findings: bool,
    },
    /// Dry run: per resource, the change each fix would make and the verdict it would get.
    Plan {
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Run the whole sandwich: detect, plan, gate, reason, approve, execute, verify.
    /// Without --once: a service consuming Config change events from SQS
    /// ([telemetry] queue_url) and running [[schedules]], until SIGINT/SIGTERM.
    Run {
        /// One pass over a scan (or --replay), then exit.
        #[arg(long)]
        once: bool,
        /// Service mode: stop after this many seconds without a message.
        #[arg(long, value_name = "SECONDS")]
        exit_when_idle: Option<u64>,
        /// Service mode: the SQS queue of Config change events (overrides [telemetry] queue_url).
        #[arg(long, value_name = "URL")]
        queue_url: Option<String>,
        /// Decide and record what would be executed, without executing or asking.
        #[arg(long)]
        shadow: bool,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Serve the HTTP API (OpenAPI document at /openapi.json), the approval web page
    /// (/ui) and Prometheus metrics (/metrics); with --worker also the service loop of
    /// `run` (SQS and schedules). Until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on (port 0: any free port; the first line on stdout says
        /// which).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Also consume the queue and run the schedules, as `run` does.
        #[arg(long)]
        worker: bool,
        /// Read the ledger's counts for `/metrics` at most this often (0: every scrape).
        #[arg(long, default_value_t = 5)]
        metrics_refresh_seconds: u64,
        /// A file holding a token `/metrics` then requires (`Authorization: Bearer`).
        #[arg(long, value_name = "PATH")]
        metrics_token_file: Option<PathBuf>,
    },
    /// Autonomy levels: show them, set one at runtime (up to the configured ceiling), or
    /// report what outcomes say about them.
    Autonomy {
        #[command(subcommand)]
        command: AutonomyCommand,
    },
    /// Re-verification sweep: read every resource custos fixed; a fix that no longer
    /// holds is recorded as a recurrence and remediated again within the autonomy rules.
    Reverify,
    /// Approval requests: list, show, approve, deny.
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// Restore the before state of an executed fix, through the guard (refused in a
    /// blackout or pause, on an excluded resource, over a limit, or when the resource
    /// changed since the fix), checked by reading it back.
    Rollback { action_id: String },
    /// The kill switch: stop every mutating path, approved work and rollbacks included,
    /// until `custos resume`. Recorded in the ledger; every worker sees it.
    Pause {
        #[arg(long)]
        reason: String,
    },
    /// Lift the kill switch.
    Resume,
    /// Principals and their roles.
    Principals {
        #[command(subcommand)]
        command: crate::identity_cmd::PrincipalsCommand,
    },
    /// API tokens.
    Tokens {
        #[command(subcommand)]
        command: crate::identity_cmd::TokensCommand,
    },
    /// Who your credential says you are.
    Whoami,
    /// The circuit breaker: status, or reset after an operator has looked at the failures.
    Breaker {
        #[command(subcommand)]
        command: BreakerCommand,
    },
    /// The ledger: decisions, actions and approvals, oldest first.
    History {
        /// Only events whose resource contains this text.
        #[arg(long)]
        resource: Option<String>,
        /// Only events of this run.
        #[arg(long)]
        run: Option<String>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Recompute the hash chain and report whether it is intact.
        #[arg(long)]
        verify: bool,
    },
    /// What is wrong now: each resource's findings from its latest evaluation, with the
    /// commands and Terraform a person applies for alert-only controls. Changes nothing.
    Findings(crate::findings_cmd::Filter),
    /// Inputs that could not be processed, kept with the reason.
    DeadLetters,
    /// Measure full decisions per second (detect, plan, gate with the configured windows,
    /// blackouts and limits, offline reasoning, autonomy) over a synthetic inventory, as a
    /// dry run of the engine (no AWS; nothing recorded).
    Bench {
        #[arg(long, default_value_t = 10_000)]
        resources: usize,
    },
    /// Preflight: configuration, policy, ledger, evidence, LLM, credentials, member roles,
    /// every scan read, the Config recorder, the queue and the rule feeding it. One line
    /// per check with the fix; exits 3 when one fails. Changes nothing in AWS.
    Doctor {
        /// The permissions to simulate: `detect` (reads) or `remediate` (also writes and
        /// rollbacks). Default: `remediate` when `[autonomy] ceiling` lets anything run
        /// (3 or more), else `detect`.
        #[arg(long, value_enum)]
        mode: Option<crate::iam_cmd::Mode>,
    },
    /// Print the least-privilege IAM policy custos needs, built from what its scanners
    /// and actions declare (reads only with `--mode detect`).
    IamPolicy {
        #[arg(long, value_enum, default_value = "detect")]
        mode: crate::iam_cmd::Mode,
        /// Only these resource classes (`s3`, `ec2`, `kms`, ...), comma-separated.
        #[arg(long, value_delimiter = ',')]
        classes: Vec<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: crate::iam_cmd::PolicyFormat,
    },
    /// Policy bundle tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Re-evaluate recorded decisions from their recorded inputs, with the policy bundle
    /// they were made under and with today's. Exits 7 if one is not reproduced.
    Replay {
        /// A decision's event id (or a unique prefix of at least 4 characters).
        decision_id: Option<String>,
        /// Every decision (with --since, those recorded since then).
        #[arg(long)]
        all: bool,
        /// An RFC 3339 time or a date (`2026-11-01`).
        #[arg(long, requires = "all")]
        since: Option<String>,
    },
    /// Evidence bundles: one action's evidence with its proofs, checked offline.
    Evidence {
        #[command(subcommand)]
        command: crate::evidence_cmd::EvidenceCommand,
    },
    /// Tamper evidence: checkpoint keys, signed checkpoints, verification of the log.
    Audit {
        #[command(subcommand)]
        command: crate::audit_cmd::AuditCommand,
    },
    /// Retention: delete old events after an export, keeping the log verifiable.
    Ledger {
        #[command(subcommand)]
        command: crate::audit_cmd::LedgerCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List requests (pending by default).
    List {
        #[arg(long, value_parser = ["pending", "approved", "executing", "denied", "expired", "executed", "stale", "invalid", "all"], default_value = "pending")]
        status: String,
    },
    /// Everything about one request: the plan, the before state, the decision and why.
    Show { id: String },
    /// Approve a request as the reviewer your credential names and, once enough distinct
    /// reviewers have approved (unless --no-execute), execute it now.
    Approve {
        id: String,
        /// The plan digest you reviewed (`approvals show`); refused if the plan differs.
        #[arg(long, value_name = "sha256:...")]
        plan_digest: Option<String>,
        #[arg(long)]
        comment: Option<String>,
        /// Only record the approval; the next `run` executes it.
        #[arg(long)]
        no_execute: bool,
    },
    /// Deny a request.
    Deny {
        id: String,
        /// Why (required).
        #[arg(long, alias = "reason")]
        comment: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AutonomyCommand {
    /// The default, the ceiling, the configured levels and those set at runtime.
    Show,
    /// Outcomes per control, playbook, class and environment (folded from the ledger's
    /// events), each playbook's lower-environment proof, and the rule's recommendation
    /// to raise, lower or keep each level, with its reason.
    Report,
    /// Set the level of a resource class in an environment (recorded; every worker uses
    /// it from its next decision).
    Set {
        /// Resource class (`s3`, `ec2`).
        class: String,
        /// A canonical environment name, `production`, `non-production` or `*`.
        environment: String,
        /// 1 observe, 2 recommend, 3 approve, 4 auto outside production, 5 auto.
        level: u8,
        #[arg(long)]
        reason: String,
    },
    /// Set a playbook version's staged rollout stage (`[autonomy] rollout = "staged"`):
    /// `shadow`, `limited` or `broad` (recorded; every worker uses it from its next
    /// decision).
    Stage {
        /// A playbook id (`custos policy list` names them).
        playbook: String,
        /// `shadow`, `limited` or `broad`.
        stage: custos_core::RolloutStage,
        /// The playbook version (default: the one loaded now).
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BreakerCommand {
    /// Open or closed, why, and the failures counted now.
    Status,
    /// Close the breaker; failures before now stop counting.
    Reset,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run the Rego unit tests (`test_*` rules in `*_test.rego`).
    Test,
    /// Validate the policy bundle and the playbooks, print the digest.
    Check,
    /// Every control: class (auto, human, alert), resource types, FSBP and CIS ids, fix.
    List {
        /// `markdown` prints README's control table.
        #[arg(long, value_enum, default_value = "table")]
        format: crate::policy_cmd::ListFormat,
    },
    /// For configuration items from a file: which controls pass or fail, which gate rules
    /// fire and why, and the verdict custos would reach. Changes nothing.
    Explain {
        /// JSON or NDJSON of configuration items or Config change events (`-`: stdin).
        #[arg(long)]
        replay: PathBuf,
        /// Only this resource id.
        #[arg(long)]
        resource: Option<String>,
    },
}

fn source_of(args: &SourceArgs) -> Option<ReplaySource> {
    args.replay.as_ref().map(ReplaySource::new)
}

fn needs_for(args: &SourceArgs) -> Needs {
    if args.replay.is_some() {
        Needs::Offline
    } else {
        Needs::Aws
    }
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    use std::io::Write as _;
    // Written while it is serialized: a large report is never held twice in memory.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
    writeln!(out)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(EXIT_RUNTIME, e))
}

/// The configuration and the ledger named by `--database-url` or the configuration (no
/// AWS, no policy).
async fn open_ledger(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
) -> Result<(Config, Arc<custos_ledger::Ledger>), Failure> {
    let mut config = build::load_config(cfg)?;
    if let Some(url) = db {
        config.database_url = url.to_string();
    }
    let ledger = custos_ledger::Ledger::open(&config.database_url).await?;
    Ok((config, Arc::new(ledger)))
}

/// Who runs the pipeline: the credential's principal (allowed to run), or custos itself.
async fn runner(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
    cred: Option<&str>,
) -> Result<String, Failure> {
    if cred.is_none() {
        return Ok(custos_core::SERVICE_PRINCIPAL.to_string());
    }
    let (config, ledger) = open_ledger(cfg, db).await?;
    Ok(auth::runner(&config, ledger, cred).await?.name)
}

/// Build the engine and run it once over the replay file or, without one, the account.
async fn execute_source(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
    source: &SourceArgs,
    needs: Needs,
    actor: &str,
    mode: Mode,
) -> Result<custos_engine::RunReport, Failure> {
    let built = build::engine(cfg, db, needs, actor).await?;
    let replay = source_of(source);
    let src: &dyn Source = match (&replay, source.source) {
        (Some(r), _) => r,
        (None, ScanSource::Describe) => match &built.inventory {
            Some(s) => s.as_ref(),
            None => return Err(Failure::msg(EXIT_RUNTIME, "no telemetry source".into())),
        },
        (None, ScanSource::Config) => match &built.config_inventory {
            Some(s) => s.as_ref(),
            None => return Err(Failure::msg(EXIT_RUNTIME, "no telemetry source".into())),
        },
    };
    let report = built.engine.run_once(src, mode).await;
    built.engine.drain_notifications(NOTIFY_DRAIN).await;
    Ok(report?)
}

/// How long a one-shot command waits for its notifications before exiting.
pub(crate) const NOTIFY_DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let cfg = cli.config.as_deref();
    let db = cli.database_url.as_deref();
    let out = cli.output;
    let cred = auth::credential(cli.token_file.as_deref())?;
    let cred = cred.as_deref();
    if let Some(url) = &cli.server {
        let remote = crate::remote::Remote::new(url, cred, cli.insecure_http)?;
        return crate::remote_cmd::dispatch(&remote, out, cli.command).await;
    }
    let anchored = anchors(&cli.command);
    let result = run_command(cfg, db, out, cred, cli.command).await;
    if anchored {
        crate::audit_cmd::anchor(cfg, db).await;
    }
    result
}

/// Does the command record events that a checkpoint should cover before it exits?
fn anchors(command: &Command) -> bool {
    use crate::audit_cmd::AuditCommand;
    use crate::evidence_cmd::EvidenceCommand;
    !matches!(
        command,
        Command::Bench { .. }
            | Command::Doctor { .. }
            | Command::IamPolicy { .. }
            | Command::Policy { .. }
            | Command::History { .. }
            | Command::DeadLetters
            | Command::Findings(_)
            | Command::Evidence {
                command: EvidenceCommand::Show { .. } | EvidenceCommand::Verify { .. }
            }
            | Command::Replay { .. }
            | Command::Audit {
                command: AuditCommand::Keygen { .. } | AuditCommand::Verify { .. }
            }
    ) && !matches!(
        command,
        Command::Scan { source, .. } | Command::Plan { source } if source.replay.is_some()
    )
}

async fn run_command(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
    out: Output,
    cred: Option<&str>,
    command: Command,
) -> Result<u8, Failure> {
    match command {
        Command::Audit {
            command: crate::audit_cmd::AuditCommand::Keygen { name, out: path },
        } => crate::audit_cmd::keygen(&name, &path),
        Command::Replay {
            decision_id,
            all,
            since,
        } => crate::replay_cmd::replay(cfg, db, out, decision_id, all, since).await,
        Command::Evidence {
            command: crate::evidence_cmd::EvidenceCommand::Verify { file, public_key },
        } => crate::evidence_cmd::verify(&file, &public_key, out),
        Command::Evidence {
            command: crate::evidence_cmd::EvidenceCommand::Export(args),
        } => {
            let (config, ledger) = open_ledger(cfg, db).await?;
            crate::evidence_cmd::export(&config, ledger, args).await
        }
        Command::Evidence {
            command:
                crate::evidence_cmd::EvidenceCommand::Show {
                    action_id,
                    out: file,
                },
        } => {
            let (config, ledger) = open_ledger(cfg, db).await?;
            crate::evidence_cmd::show(&config, ledger, out, &action_id, file).await
        }
        Command::Audit { command } => {
            let (config, ledger) = open_ledger(cfg, db).await?;
            crate::audit_cmd::audit(config, ledger, out, command).await
        }
        Command::Ledger { command } => {
            let (config, ledger) = open_ledger(cfg, db).await?;
            crate::audit_cmd::ledger_cmd(config, ledger, out, cred, command).await
        }
        Command::Serve {
            listen,
            worker,
            metrics_refresh_seconds,
            metrics_token_file,
        } => {
            crate::serve_cmd::serve(crate::serve_cmd::ServeArgs {
                cfg,
                db,
                listen,
                worker,
                metrics_refresh: std::time::Duration::from_secs(metrics_refresh_seconds),
                metrics_token_file: metrics_token_file.as_deref(),
            })
            .await
        }
        Command::Autonomy { command } => {
            crate::autonomy_cmd::autonomy(cfg, db, cred, out, command).await
        }
        Command::Scan {
            source,
            fail_on_findings,
        } => {
            let report =
                execute_source(cfg, db, &source, needs_for(&source), "custos", Mode::DryRun)
                    .await?;
            match out {
                Output::Json => print_json(&report)?,
                Output::Table => crate::render::emit(&render::scan(&report)),
            }
            Ok(if fail_on_findings && report.findings > 0 {
                EXIT_FINDINGS
            } else {
                EXIT_OK
            })
        }
        Command::Plan { source } => {
            let report =
                execute_source(cfg, db, &source, needs_for(&source), "custos", Mode::DryRun)
                    .await?;
            match out {
                Output::Json => print_json(&report)?,
                Output::Table => crate::render::emit(&render::plan(&report)),
            }
            Ok(EXIT_OK)
        }
        Command::Run {
            once,
            exit_when_idle,
            queue_url,
            shadow,
            source,
        } => {
            let actor = runner(cfg, db, cred).await?;
            if !once {
                if shadow || source.replay.is_some() {
                    return Err(Failure::msg(
                        EXIT_INVALID,
                        "`--shadow` and `--replay` go with `--once`".into(),
                    ));
                }
                return serve(cfg, db, out, &actor, exit_when_idle, queue_url).await;
            }
            let mode = if shadow { Mode::Shadow } else { Mode::Execute };
            let report = execute_source(cfg, db, &source, Needs::Aws, &actor, mode).await?;
            match out {
                Output::Json => print_json(&report)?,
                Output::Table => crate::render::emit(&render::run(&report)),
            }
            Ok(if report.has_failures() {
                EXIT_ACTION_FAILED
            } else {
                EXIT_OK
            })
        }
        Command::Approvals { command } => approvals(cfg, db, cred, out, command).await,
        Command::Reverify => {
            let actor = runner(cfg, db, cred).await?;
            let built = build::engine(cfg, db, Needs::Aws, &actor).await?;
            let report = built.engine.reverify(Mode::Execute).await;
            built.engine.drain_notifications(NOTIFY_DRAIN).await;
            let report = report?;
            match out {
                Output::Json => print_json(&report)?,
                Output::Table => crate::render::emit(&render::run(&report)),
            }
            Ok(if report.has_failures() {
                EXIT_ACTION_FAILED
            } else {
                EXIT_OK
            })
        }
        Command::Rollback { action_id } => {
            let built = build::engine(cfg, db, Needs::Aws, custos_core::SERVICE_PRINCIPAL).await?;
            let who = auth::principal(
                built.engine.config(),
                built.engine.ledger_arc(),
                cred,
                Permission::Rollback,
            )
            .await?;
            let result = built.engine.rollback(&action_id, &who).await?;
            match out {
                Output::Json => print_json(&result)?,
                Output::Table => crate::render::emit(&render::rollback(&result)),
            }
            Ok(rollback_exit(&result))
        }
        Command::Pause { reason } => {
            let (config, ledger) = open_ledger(cfg, db).await?;
            let by = auth::principal(&config, ledger.clone(), cred, Permission::Pause)
                .await?
                .name;
            if reason.trim().is_empty() {
                return Err(Failure::msg(
                    EXIT_INVALID,
                    "a pause needs a reason (`--reason`)".into(),
                ));
            }
            let changed = ledger.pause(&by, reason.trim()).await?;
            say!(
                "{}",
                if changed {
                    format!("paused by {by}: nothing is executed until `custos resume`")
                } else {
                    "custos was paused already".to_string()
                }
            );
            Ok(EXIT_OK)
        }
        Command::Resume => {
            let (config, ledger) = open_ledger(cfg, db).await?;
            let by = auth::principal(&config, ledger.clone(), cred, Permission::Resume)
                .await?
                .name;
            let changed = ledger.resume(&by).await?;
            say!(
                "{}",
                if changed {
                    format!("resumed by {by}")
                } else {
                    "custos was not paused".to_string()
                }
            );
            Ok(EXIT_OK)
        }
        Command::Breaker { command } => breaker(cfg, db, cred, out, command).await,
        Command::Principals { command } => {
            let (config, ledger) = open_ledger(cfg, db).await?;
            crate::identity_cmd::principals(&config, ledger, cred, out, command).await
        }
        Command::Tokens { command } => {
            let (config, ledger) = open_ledger(cfg, db).await?;
            crate::identity_cmd::tokens(&config, ledger, cred, out, command).await
        }
        Command::Whoami => {
            let (config, ledger) = open_ledger(cfg, db).await?;
            let who = auth::authenticated(&config, ledger.clone(), cred).await?;
            let held_back = match &who.via {
                custos_core::AuthMethod::Token { token_id }
                | custos_core::AuthMethod::Enrollment { token_id, .. } => {
                    match ledger.check_token(token_id).await? {
                        custos_ledger::TokenCheck::Found { held_back, .. } => held_back,
                        _ => None,
                    }
                }
                _ => None,
            };
            match out {
                Output::Json => print_json(&who)?,
                Output::Table => say!("{} ({})", who.name, who.roles_text()),
            }
            if let Some(why) = held_back {
                eprintln!("roles held back: {why} (`custos principals pending`)");
            }
            Ok(EXIT_OK)
        }
        Command::History {
            resource,
            run,
            limit,
            verify,
        } => {
            let (_, ledger) = open_ledger(cfg, db).await?;
            let events = ledger
                .events(&EventFilter {
                    resource_contains: resource,
                    run_id: run,
                    kind_prefix: None,
                    limit: Some(limit),
                })
                .await?;
            let chain = if verify {
                Some(ledger.verify_chain().await?)
            } else {
                None
            };
            match out {
                Output::Json => print_json(&serde_json::json!({"events": events, "chain": chain}))?,
                Output::Table => crate::render::emit(&render::history(&events, chain.as_ref())),
            }
            Ok(if chain.is_some_and(|c| c.first_bad.is_some()) {
                EXIT_RUNTIME
            } else {
                EXIT_OK
            })
        }
        Command::Bench { resources } => {
            let built = build::engine(cfg, db, Needs::Offline, "bench").await?;
            let items = crate::bench::inventory(resources);
            let report = crate::bench::run(&built.engine, items)
                .await
                .map_err(|e| Failure::msg(EXIT_RUNTIME, e))?;
            match out {
                Output::Json => print_json(&report)?,
                Output::Table => say!(
                    "{} resources, {} findings, {} full decisions in {:.3} s: {:.0} decisions/s ({:.0} resources/s)",
                    report.resources,
                    report.findings,
                    report.decisions,
                    report.seconds,
                    report.decisions_per_second,
                    report.resources_per_second
                ),
            }
            Ok(EXIT_OK)
        }
        Command::Doctor { mode } => {
            let checks = crate::doctor_cmd::run(cfg, db, mode).await;
            crate::doctor_cmd::report(&checks, out)
        }
        Command::IamPolicy {
            mode,
            classes,
            format,
        } => {
            use crate::iam_cmd::{self, PolicyFormat};
            let config = build::load_config(cfg)?;
            let inputs = iam_cmd::inputs(&config, mode, &classes, format)?;
            let statements =
                iam_cmd::statements(&inputs).map_err(|e| Failure::msg(EXIT_INVALID, e))?;
            match format {
                PolicyFormat::Json => print_json(&iam_cmd::json(&statements))?,
                PolicyFormat::Terraform => {
                    let mode_name = match mode {
                        iam_cmd::Mode::Detect => "detect",
                        iam_cmd::Mode::Remediate => "remediate",
                    };
                    let mut command = format!("custos iam-policy --mode {mode_name}");
                    if !classes.is_empty() {
                        command.push_str(&format!(" --classes {}", classes.join(",")));
                    }
                    command.push_str(" --format terraform");
                    render::emit(&iam_cmd::terraform(&statements, mode, &command))
                }
            }
            Ok(EXIT_OK)
        }
        Command::Findings(filter) => {
            let (_, ledger) = open_ledger(cfg, db).await?;
            crate::findings_cmd::show(ledger.current_findings().await?, &filter, out)
        }
        Command::DeadLetters => {
            let (_, ledger) = open_ledger(cfg, db).await?;
            let dls = ledger.dead_letters().await?;
            match out {
                Output::Json => print_json(&dls)?,
                Output::Table => crate::render::emit(&render::dead_letters(&dls)),
            }
            Ok(EXIT_OK)
        }
        Command::Policy { command } => {
            if let PolicyCommand::Explain { replay, resource } = command {
                let built = build::engine(cfg, db, Needs::Offline, "custos").await?;
                let batch = ReplaySource::new(replay)
                    .collect()
                    .await
                    .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
                for r in &batch.rejected {
                    eprintln!("skipped {}", render::terminal(&r.to_string()));
                }
                let mut all = Vec::new();
                for ci in batch
                    .items
                    .iter()
                    .filter(|ci| resource.as_ref().is_none_or(|id| &ci.resource_id == id))
                {
                    all.push(built.engine.explain(ci).await?);
                }
                if all.is_empty() {
                    return Err(Failure::msg(
                        EXIT_INVALID,
                        "no configuration item to explain".into(),
                    ));
                }
                match out {
                    Output::Json => print_json(&all)?,
                    Output::Table => {
                        for e in &all {
                            render::emit(&render::explain(e));
                        }
                    }
                }
                return Ok(EXIT_OK);
            }
            let config = build::load_config(cfg)?;
            let bundle = build::load_policy(&config)?;
            match command {
                PolicyCommand::Explain { .. } => Ok(EXIT_OK),
                PolicyCommand::List { format } => {
                    use crate::policy_cmd::{self, ListFormat};
                    let playbooks = build::load_playbooks(
                        &config,
                        &bundle,
                        &custos_executor::offline_catalog(),
                    )?;
                    let rows = policy_cmd::rows(&bundle, &playbooks);
                    match (format, out) {
                        (ListFormat::Json, _) | (ListFormat::Table, Output::Json) => {
                            print_json(&rows)?
                        }
                        (ListFormat::Markdown, _) => render::emit(&policy_cmd::markdown(&rows)),
                        (ListFormat::Table, Output::Table) => {
                            render::emit(&policy_cmd::table(&rows))
                        }
                    }
                    Ok(EXIT_OK)
                }
                PolicyCommand::Check => {
                    let playbooks = build::load_playbooks(
                        &config,
                        &bundle,
                        &custos_executor::offline_catalog(),
                    )?;
                    say!(
                        "policy bundle OK: {} files, {} controls, {} playbooks, digest {}",
                        bundle.files().len(),
                        bundle.controls().len(),
                        playbooks.iter().count(),
                        bundle.digest()
                    );
                    Ok(EXIT_OK)
                }
                PolicyCommand::Test => {
                    let report = bundle.run_tests();
                    match out {
                        Output::Json => print_json(&report)?,
                        Output::Table => crate::render::emit(&render::policy_tests(&report)),
                    }
                    Ok(if report.ok() { EXIT_OK } else { EXIT_FINDINGS })
                }
            }
        }
    }
}

async fn serve(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
    out: Output,
    actor: &str,
    exit_when_idle: Option<u64>,
    queue_url: Option<String>,
) -> Result<u8, Failure> {
    let built = build::engine(cfg, db, Needs::Aws, actor).await?;
    let opts = service_options(&built, queue_url, exit_when_idle.map(std::time::Duration::from_secs))
        .await?
        .ok_or_else(|| {
            Failure::msg(
                EXIT_INVALID,
                "nothing to serve: set [telemetry] queue_url and/or [[schedules]] in the configuration, or use `run --once`".into(),
            )
        })?;
    eprintln!("custos: serving (SIGINT or SIGTERM stops after the message in flight)");
    let anchoring = crate::audit_cmd::spawn_checkpoints(&built.engine).await?;
    let report = built.engine.serve(opts, shutdown_signal()).await;
    anchoring.stop().await;
    built.engine.drain_notifications(NOTIFY_DRAIN).await;
    let report = report?;
    match out {
        Output::Json => print_json(&report)?,
        Output::Table => say!(
            "stopped: {} messages ({} processed, {} duplicates, {} superseded, {} dead letters, {} left for retry), {} scheduled tasks, {} mutating calls",
            report.messages,
            report.processed,
            report.duplicates,
            report.superseded,
            report.dead_letters,
            report.retried,
            report.scheduled,
            report.mutating_calls
        ),
    }
    Ok(EXIT_OK)
}

/// What the service loop consumes: the queue (`queue_url`, else `[telemetry] queue_url`)
/// and the schedules. `None`: there is nothing to serve.
pub(crate) async fn service_options(
    built: &build::Built,
    queue_url: Option<String>,
    idle_exit: Option<std::time::Duration>,
) -> Result<Option<custos_engine::service::ServiceOptions>, Failure> {
    let config = built.engine.config();
    let pool = built
        .pool
        .clone()
        .ok_or_else(|| Failure::msg(EXIT_RUNTIME, "no AWS client pool".into()))?;
    let queue = match queue_url.as_ref().or(config.queue_url.as_ref()) {
        Some(url) => {
            let sdk = pool
                .sdk(pool.default_account(), &pool.default_region())
                .await;
            Some(custos_telemetry::sqs::SqsQueue::with_wait(
                &sdk,
                url.clone(),
                config.queue_wait_seconds,
            ))
        }
        None => None,
    };
    if queue.is_none() && config.schedules.is_empty() {
        return Ok(None);
    }
    Ok(Some(custos_engine::service::ServiceOptions {
        queue,
        scan: built
            .inventory
            .clone()
            .map(|i| i as std::sync::Arc<dyn Source>),
        config_scan: built
            .config_inventory
            .clone()
            .map(|i| i as std::sync::Arc<dyn Source>),
        schedules: config.schedules.clone(),
        max_receives: config.max_receives,
        idle_exit,
    }))
}

/// The exit code of a rollback.
pub(crate) fn rollback_exit(r: &custos_engine::RollbackReport) -> u8 {
    use custos_core::ActionOutcome as O;
    match r.outcome {
        Some(O::Executed) if r.exact => EXIT_OK,
        Some(O::NoOp) => EXIT_OK,
        Some(O::Executed | O::Failed | O::RolledBack) => EXIT_ACTION_FAILED,
        _ => EXIT_REFUSED,
    }
}

/// The exit code of an approval, by what its execution (if any) came to.
pub(crate) fn approve_exit(row: Option<&custos_engine::RunRow>) -> u8 {
    use custos_engine::Outcome as O;
    match row.map(|r| r.outcome) {
        Some(O::Failed | O::RolledBack | O::Stale) => EXIT_ACTION_FAILED,
        // Approved, but the guard did not execute it now (blackout, pause, limit).
        Some(O::Recommended | O::Denied | O::Deferred | O::Refused) => EXIT_REFUSED,
        _ => EXIT_OK,
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn breaker(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
    cred: Option<&str>,
    out: Output,
    command: BreakerCommand,
) -> Result<u8, Failure> {
    let (config, ledger) = open_ledger(cfg, db).await?;
    match command {
        BreakerCommand::Status => {
            let b = config.guard.breaker;
            let state = ledger.guard_state().await?;
            let mut since = chrono::Utc::now() - b.window;
            if let Some(reset) = state.breaker_reset_at {
                since = since.max(reset);
            }
            let recent = ledger.failure_counts(since).await?;
            match out {
                Output::Json => print_json(
                    &serde_json::json!({"state": state, "recent": recent, "failures_limit": b.failures, "failure_percent_limit": b.failure_percent, "window_minutes": b.window.num_minutes()}),
                )?,
                Output::Table => crate::render::emit(&render::breaker(&state, &recent, &b)),
            }
            Ok(EXIT_OK)
        }
        BreakerCommand::Reset => {
            let by = auth::principal(&config, ledger.clone(), cred, Permission::ResetBreaker)
                .await?
                .name;
            let changed = ledger.reset_breaker(&by).await?;
            say!(
                "{}",
                if changed {
                    format!("circuit breaker reset by {by}")
                } else {
                    "the circuit breaker was not open".to_string()
                }
            );
            Ok(EXIT_OK)
        }
    }
}

async fn approvals(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
    cred: Option<&str>,
    out: Output,
    command: ApprovalsCommand,
) -> Result<u8, Failure> {
    match command {
        ApprovalsCommand::List { status } => {
            let (_, ledger) = open_ledger(cfg, db).await?;
            let filter = if status == "all" {
                None
            } else {
                ApprovalStatus::parse(&status)
            };
            let list = ledger.approvals(filter).await?;
            match out {
                Output::Json => print_json(&list)?,
                Output::Table => crate::render::emit(&render::approvals(&list)),
            }
            Ok(EXIT_OK)
        }
        ApprovalsCommand::Show { id } => {
            let (_, ledger) = open_ledger(cfg, db).await?;
            let a = ledger.approval(&id).await?;
            match out {
                Output::Json => print_json(&a)?,
                Output::Table => crate::render::emit(&render::approval_detail(&a)),
            }
            Ok(EXIT_OK)
        }
        ApprovalsCommand::Approve {
            id,
            plan_digest,
            comment,
            no_execute,
        } => {
            let built = build::engine(cfg, db, Needs::Aws, custos_core::SERVICE_PRINCIPAL).await?;
            let who = auth::principal(
                built.engine.config(),
                built.engine.ledger_arc(),
                cred,
                Permission::Approve,
            )
            .await?;
            let seen = plan_digest.map(custos_core::Digest);
            let approved = built
                .engine
                .approve(&id, &who, seen.as_ref(), comment, !no_execute)
                .await;
            built.engine.drain_notifications(NOTIFY_DRAIN).await;
            let (a, row) = approved?;
            match out {
                Output::Json => print_json(&serde_json::json!({"approval": a, "execution": row}))?,
                Output::Table => crate::render::emit(&render::approved(&a, row.as_ref())),
            }
            Ok(approve_exit(row.as_ref()))
        }
        ApprovalsCommand::Deny { id, comment } => {
            // Denying needs no AWS: the engine is built offline over the real ledger.
            let built =
                build::engine(cfg, db, Needs::Ledger, custos_core::SERVICE_PRINCIPAL).await?;
            let who = auth::principal(
                built.engine.config(),
                built.engine.ledger_arc(),
                cred,
                Permission::Deny,
            )
            .await?;
            let denied = built.engine.deny(&id, &who, comment).await?;
            match out {
                Output::Json => print_json(&denied)?,
                Output::Table => say!(
                    "denied {} ({} on {}) by {}",
                    denied.id,
                    denied.plan.playbook,
                    denied.plan.resource.resource_id,
                    who.name
                ),
            }
            Ok(EXIT_OK)
        }
    }
}
