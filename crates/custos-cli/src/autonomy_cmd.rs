//! `custos autonomy`: show, set, and report what outcomes say about each level.

use crate::auth;
use crate::build::{self, Needs};
use crate::cli::{AutonomyCommand, EXIT_OK, Failure, Output, print_json};
use crate::render;
use custos_core::Permission;

pub(crate) async fn autonomy(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
    cred: Option<&str>,
    out: Output,
    command: AutonomyCommand,
) -> Result<u8, Failure> {
    let built = build::engine(cfg, db, Needs::Ledger, custos_core::SERVICE_PRINCIPAL).await?;
    match command {
        AutonomyCommand::Report => {
            let report = built.engine.autonomy_report().await?;
            match out {
                Output::Json => print_json(&report)?,
                Output::Table => crate::render::emit(&render::autonomy_report(&report)),
            }
        }
        AutonomyCommand::Show => {
            let view = built.engine.autonomy().await?;
            match out {
                Output::Json => print_json(&view)?,
                Output::Table => crate::render::emit(&render::autonomy(&view)),
            }
        }
        AutonomyCommand::Set {
            class,
            environment,
            level,
            reason,
        } => {
            let who = may_set_autonomy(&built, cred).await?;
            let set = built
                .engine
                .set_autonomy(
                    &who,
                    custos_engine::AutonomyChange {
                        class: &class,
                        environment: &environment,
                        level,
                        reason: &reason,
                    },
                )
                .await?;
            match out {
                Output::Json => print_json(&set)?,
                Output::Table => {
                    say!("{}", render::autonomy_set(&set))
                }
            }
        }
        AutonomyCommand::Stage {
            playbook,
            stage,
            version,
            reason,
        } => {
            let who = may_set_autonomy(&built, cred).await?;
            let e = built
                .engine
                .set_rollout(
                    &who,
                    custos_engine::StageChange {
                        playbook: &playbook,
                        version: version.as_deref(),
                        stage,
                        reason: &reason,
                    },
                )
                .await?;
            match out {
                Output::Json => print_json(&e.payload)?,
                Output::Table => say!(
                    "playbook `{playbook}` version {} is now in {stage} rollout (set by {})",
                    e.payload["version"].as_str().unwrap_or("?"),
                    who.name
                ),
            }
        }
    }
    Ok(EXIT_OK)
}

/// Who asks, if they may set autonomy levels and rollout stages.
async fn may_set_autonomy(
    built: &build::Built,
    cred: Option<&str>,
) -> Result<custos_core::Principal, Failure> {
    auth::principal(
        built.engine.config(),
        built.engine.ledger_arc(),
        cred,
        Permission::SetAutonomy,
    )
    .await
}
