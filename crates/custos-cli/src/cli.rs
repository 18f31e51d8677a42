//! Command-line interface and exit codes.

use crate::build::{self, Needs};
use crate::render;
use clap::{Args, Parser, Subcommand, ValueEnum};
use custos_core::ApprovalStatus;
use custos_engine::Mode;
use custos_ledger::EventFilter;
use custos_telemetry::Source;
use custos_telemetry::replay::ReplaySource;
use std::path::PathBuf;

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
            E::NoIdentity => EXIT_INVALID,
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
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_HELP: &str = "Exit codes:
  0  success
  1  runtime failure (AWS, ledger, I/O)
  2  invalid usage, configuration, policy or playbooks (custos refused to start)
  3  scan --fail-on-findings found non-compliant resources; policy test failed
  4  run: an action failed, was rolled back, or a resource could not be evaluated
  5  approval or rollback refused (expired, self-approval, not pending, stale, refused by
     the guard: blackout, pause, breaker, exclusion, limits)";

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Read configuration items / Config change events from a JSON or NDJSON file (`-`
    /// for stdin) instead of scanning the account.
    #[arg(long)]
    pub replay: Option<PathBuf>,
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
        /// Identity recorded as the requester of approvals.
        #[arg(long, env = "CUSTOS_ACTOR", default_value = "custos")]
        actor: String,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Re-verification sweep: read every resource custos fixed; a fix that no longer
    /// holds is recorded as a recurrence and remediated again within the autonomy rules.
    Reverify {
        #[arg(long, env = "CUSTOS_ACTOR", default_value = "custos")]
        actor: String,
    },
    /// Approval requests: list, show, approve, deny.
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// Restore the before state of an executed fix, through the guard (refused in a
    /// blackout or pause, on an excluded resource, over a limit, or when the resource
    /// changed since the fix), checked by reading it back.
    Rollback {
        action_id: String,
        /// Who asks for the rollback (required, recorded).
        #[arg(long, env = "CUSTOS_APPROVER")]
        by: Option<String>,
    },
    /// The kill switch: stop every mutating path, approved work and rollbacks included,
    /// until `custos resume`. Recorded in the ledger; every worker sees it.
    Pause {
        /// Who pauses (required, recorded).
        #[arg(long, env = "CUSTOS_APPROVER")]
        by: Option<String>,
        #[arg(long)]
        reason: String,
    },
    /// Lift the kill switch.
    Resume {
        #[arg(long, env = "CUSTOS_APPROVER")]
        by: Option<String>,
    },
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
    /// Inputs that could not be processed, kept with the reason.
    DeadLetters,
    /// Measure detect + gate decisions per second on one core over a synthetic inventory
    /// (no AWS, no ledger).
    Bench {
        #[arg(long, default_value_t = 10_000)]
        resources: usize,
    },
    /// Policy bundle tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List requests (pending by default).
    List {
        #[arg(long, value_parser = ["pending", "approved", "executing", "denied", "expired", "executed", "stale", "all"], default_value = "pending")]
        status: String,
    },
    /// Everything about one request: the plan, the before state, the decision and why.
    Show { id: String },
    /// Approve a request and (unless --no-execute) execute it now.
    Approve {
        id: String,
        /// Approver identity (must differ from the requester).
        #[arg(long, env = "CUSTOS_APPROVER")]
        by: Option<String>,
        #[arg(long)]
        comment: Option<String>,
        /// Only record the approval; the next `run` executes it.
        #[arg(long)]
        no_execute: bool,
    },
    /// Deny a request.
    Deny {
        id: String,
        #[arg(long, env = "CUSTOS_APPROVER")]
        by: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BreakerCommand {
    /// Open or closed, why, and the failures counted now.
    Status,
    /// Close the breaker; failures before now stop counting.
    Reset {
        #[arg(long, env = "CUSTOS_APPROVER")]
        by: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run the Rego unit tests (`test_*` rules in `*_test.rego`).
    Test,
    /// Validate the policy bundle and the playbooks, print the digest.
    Check,
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

/// The identity of whoever changes state. Never taken from `$USER`: a flag or
/// `CUSTOS_APPROVER` must say it.
fn who(by: Option<String>) -> Result<String, Failure> {
    by.map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Failure::new(EXIT_INVALID, custos_engine::EngineError::NoIdentity))
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

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
    println!("{s}");
    Ok(())
}

/// The ledger named by `--database-url` or the configuration (no AWS, no policy).
async fn open_ledger(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
) -> Result<custos_ledger::Ledger, Failure> {
    let config = build::load_config(cfg)?;
    let url = db.map(str::to_string).unwrap_or(config.database_url);
    Ok(custos_ledger::Ledger::open(&url).await?)
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
    let src: &dyn Source = match (&replay, &built.inventory) {
        (Some(r), _) => r,
        (None, Some(s)) => s.as_ref(),
        (None, None) => return Err(Failure::msg(EXIT_RUNTIME, "no telemetry source".into())),
    };
    Ok(built.engine.run_once(src, mode).await?)
}

pub async fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let cfg = cli.config.as_deref();
    let db = cli.database_url.as_deref();
    let out = cli.output;
    match cli.command {
        Command::Scan {
            source,
            fail_on_findings,
        } => {
            let report =
                execute_source(cfg, db, &source, needs_for(&source), "custos", Mode::DryRun)
                    .await?;
            match out {
                Output::Json => print_json(&report)?,
                Output::Table => print!("{}", render::scan(&report)),
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
                Output::Table => print!("{}", render::plan(&report)),
            }
            Ok(EXIT_OK)
        }
        Command::Run {
            once,
            exit_when_idle,
            queue_url,
            shadow,
            actor,
            source,
        } => {
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
                Output::Table => print!("{}", render::run(&report)),
            }
            Ok(if report.has_failures() {
                EXIT_ACTION_FAILED
            } else {
                EXIT_OK
            })
        }
        Command::Approvals { command } => approvals(cfg, db, out, command).await,
        Command::Reverify { actor } => {
            let built = build::engine(cfg, db, Needs::Aws, &actor).await?;
            let report = built.engine.reverify(Mode::Execute).await?;
            match out {
                Output::Json => print_json(&report)?,
                Output::Table => print!("{}", render::run(&report)),
            }
            Ok(if report.has_failures() {
                EXIT_ACTION_FAILED
            } else {
                EXIT_OK
            })
        }
        Command::Rollback { action_id, by } => {
            let by = who(by)?;
            let built = build::engine(cfg, db, Needs::Aws, "custos").await?;
            let result = built.engine.rollback(&action_id, &by).await?;
            match out {
                Output::Json => print_json(&result)?,
                Output::Table => print!("{}", render::rollback(&result)),
            }
            use custos_core::ActionOutcome as O;
            Ok(match result.outcome {
                Some(O::Executed) if result.exact => EXIT_OK,
                Some(O::NoOp) => EXIT_OK,
                Some(O::Executed | O::Failed | O::RolledBack) => EXIT_ACTION_FAILED,
                _ => EXIT_REFUSED,
            })
        }
        Command::Pause { by, reason } => {
            let by = who(by)?;
            let ledger = open_ledger(cfg, db).await?;
            let changed = ledger.pause(&by, reason.trim()).await?;
            println!(
                "{}",
                if changed {
                    format!("paused by {by}: nothing is executed until `custos resume`")
                } else {
                    "custos was paused already".to_string()
                }
            );
            Ok(EXIT_OK)
        }
        Command::Resume { by } => {
            let by = who(by)?;
            let ledger = open_ledger(cfg, db).await?;
            let changed = ledger.resume(&by).await?;
            println!(
                "{}",
                if changed {
                    format!("resumed by {by}")
                } else {
                    "custos was not paused".to_string()
                }
            );
            Ok(EXIT_OK)
        }
        Command::Breaker { command } => breaker(cfg, db, out, command).await,
        Command::History {
            resource,
            run,
            limit,
            verify,
        } => {
            let ledger = open_ledger(cfg, db).await?;
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
                Output::Table => print!("{}", render::history(&events, chain.as_ref())),
            }
            Ok(if chain.is_some_and(|c| c.first_bad.is_some()) {
                EXIT_RUNTIME
            } else {
                EXIT_OK
            })
        }
        Command::Bench { resources } => {
            let config = build::load_config(cfg)?;
            let bundle = build::load_policy(&config)?;
            let catalog = custos_executor::offline_catalog();
            let playbooks = build::load_playbooks(&config, &bundle, &catalog)?;
            let items = crate::bench::inventory(resources);
            let report = crate::bench::run(&config, &bundle, &playbooks, &catalog, &items)
                .map_err(|e| Failure::msg(EXIT_RUNTIME, e))?;
            match out {
                Output::Json => print_json(&report)?,
                Output::Table => println!(
                    "{} resources, {} findings, {} gate decisions in {:.3} s on one core: {:.0} resources/s, {:.0} detect+gate evaluations/s",
                    report.resources,
                    report.findings,
                    report.gate_decisions,
                    report.seconds,
                    report.resources_per_second,
                    report.decisions_per_second
                ),
            }
            Ok(EXIT_OK)
        }
        Command::DeadLetters => {
            let ledger = open_ledger(cfg, db).await?;
            let dls = ledger.dead_letters().await?;
            match out {
                Output::Json => print_json(&dls)?,
                Output::Table => print!("{}", render::dead_letters(&dls)),
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
                    eprintln!("skipped {r}");
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
                            print!("{}", render::explain(e));
                        }
                    }
                }
                return Ok(EXIT_OK);
            }
            let config = build::load_config(cfg)?;
            let bundle = build::load_policy(&config)?;
            match command {
                PolicyCommand::Explain { .. } => Ok(EXIT_OK),
                PolicyCommand::Check => {
                    let playbooks = build::load_playbooks(
                        &config,
                        &bundle,
                        &custos_executor::offline_catalog(),
                    )?;
                    println!(
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
                        Output::Table => print!("{}", render::policy_tests(&report)),
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
        return Err(Failure::msg(
            EXIT_INVALID,
            "nothing to serve: set [telemetry] queue_url and/or [[schedules]] in the configuration, or use `run --once`".into(),
        ));
    }
    let opts = custos_engine::service::ServiceOptions {
        queue,
        scan: built
            .inventory
            .clone()
            .map(|i| i as std::sync::Arc<dyn Source>),
        schedules: config.schedules.clone(),
        max_receives: config.max_receives,
        idle_exit: exit_when_idle.map(std::time::Duration::from_secs),
    };
    eprintln!("custos: serving (SIGINT or SIGTERM stops after the message in flight)");
    let report = built.engine.serve(opts, shutdown_signal()).await?;
    match out {
        Output::Json => print_json(&report)?,
        Output::Table => println!(
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

async fn shutdown_signal() {
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
    out: Output,
    command: BreakerCommand,
) -> Result<u8, Failure> {
    let config = build::load_config(cfg)?;
    let url = db
        .map(str::to_string)
        .unwrap_or(config.database_url.clone());
    let ledger = custos_ledger::Ledger::open(&url).await?;
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
                Output::Table => print!("{}", render::breaker(&state, &recent, &b)),
            }
            Ok(EXIT_OK)
        }
        BreakerCommand::Reset { by } => {
            let by = who(by)?;
            let changed = ledger.reset_breaker(&by).await?;
            println!(
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
    out: Output,
    command: ApprovalsCommand,
) -> Result<u8, Failure> {
    match command {
        ApprovalsCommand::List { status } => {
            let ledger = open_ledger(cfg, db).await?;
            let filter = if status == "all" {
                None
            } else {
                ApprovalStatus::parse(&status)
            };
            let list = ledger.approvals(filter).await?;
            match out {
                Output::Json => print_json(&list)?,
                Output::Table => print!("{}", render::approvals(&list)),
            }
            Ok(EXIT_OK)
        }
        ApprovalsCommand::Show { id } => {
            let ledger = open_ledger(cfg, db).await?;
            let a = ledger.approval(&id).await?;
            match out {
                Output::Json => print_json(&a)?,
                Output::Table => print!("{}", render::approval_detail(&a)),
            }
            Ok(EXIT_OK)
        }
        ApprovalsCommand::Approve {
            id,
            by,
            comment,
            no_execute,
        } => {
            let by = who(by)?;
            let built = build::engine(cfg, db, Needs::Aws, "custos").await?;
            let (a, row) = built.engine.approve(&id, &by, comment, !no_execute).await?;
            match out {
                Output::Json => print_json(&serde_json::json!({"approval": a, "execution": row}))?,
                Output::Table => print!("{}", render::approved(&a, row.as_ref())),
            }
            use custos_engine::Outcome as O;
            Ok(match row.as_ref().map(|r| r.outcome) {
                Some(O::Failed | O::RolledBack | O::Stale) => EXIT_ACTION_FAILED,
                // Approved, but the guard did not execute it now (blackout, pause, limit).
                Some(O::Recommended | O::Denied | O::Deferred) => EXIT_REFUSED,
                _ => EXIT_OK,
            })
        }
        ApprovalsCommand::Deny { id, by, comment } => {
            let by = who(by)?;
            // Denying needs no AWS: open only the ledger.
            let ledger = open_ledger(cfg, db).await?;
            let a = ledger.approval(&id).await?;
            let denied = custos_approval::deny(&a, &by, comment, chrono::Utc::now())
                .map_err(|e| Failure::new(EXIT_REFUSED, e))?;
            ledger
                .transition_approval(&denied, &[ApprovalStatus::Pending], "approval.denied", None)
                .await?;
            match out {
                Output::Json => print_json(&denied)?,
                Output::Table => println!(
                    "denied {} ({} on {})",
                    denied.id, denied.plan.playbook, denied.plan.resource.resource_id
                ),
            }
            Ok(EXIT_OK)
        }
    }
}
