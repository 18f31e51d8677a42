//! `--server URL`: the commands a reviewer or operator runs against `custos serve`.

use crate::cli::{
    ApprovalsCommand, AutonomyCommand, BreakerCommand, Command, EXIT_INVALID, EXIT_OK, Failure,
    Output, print_json,
};
use crate::remote::{Remote, field, segment};
use crate::render;
use custos_core::{Approval, Principal};
use serde_json::{Value, json};

fn show(
    out: Output,
    v: &Value,
    table: impl FnOnce() -> Result<String, Failure>,
) -> Result<(), Failure> {
    match out {
        Output::Json => print_json(v),
        Output::Table => {
            crate::render::emit(&table()?);
            Ok(())
        }
    }
}

pub async fn dispatch(r: &Remote, out: Output, command: Command) -> Result<u8, Failure> {
    match command {
        Command::Whoami => {
            let v = r.get("/api/v1/whoami").await?;
            let who: Principal = serde_json::from_value(v.clone())
                .map_err(|e| Failure::msg(crate::cli::EXIT_RUNTIME, format!("whoami: {e}")))?;
            show(out, &v, || Ok(format!("{} ({})\n", who.name, who.roles_text())))?;
            Ok(EXIT_OK)
        }
        Command::Approvals { command } => approvals(r, out, command).await,
        Command::Findings(filter) => {
            let v = r.get("/api/v1/findings").await?;
            let findings: Vec<custos_ledger::CurrentFinding> =
                serde_json::from_value(v["findings"].clone()).map_err(|e| {
                    Failure::msg(crate::cli::EXIT_RUNTIME, format!("findings: {e}"))
                })?;
            crate::findings_cmd::show(findings, &filter, out)
        }
        Command::Pause { reason } => {
            let v = r.post("/api/v1/pause", &json!({"reason": reason})).await?;
            show(out, &v, || {
                Ok(if v["changed"] == json!(true) {
                    format!("paused by {}: nothing is executed until `custos resume`\n", v["by"].as_str().unwrap_or("?"))
                } else {
                    "custos was paused already\n".into()
                })
            })?;
            Ok(EXIT_OK)
        }
        Command::Resume => {
            let v = r.post("/api/v1/resume", &json!({})).await?;
            show(out, &v, || {
                Ok(if v["changed"] == json!(true) {
                    format!("resumed by {}\n", v["by"].as_str().unwrap_or("?"))
                } else {
                    "custos was not paused\n".into()
                })
            })?;
            Ok(EXIT_OK)
        }
        Command::Rollback { action_id } => {
            let v = r
                .post(&format!("/api/v1/actions/{}/rollback", segment(&action_id)?), &json!({}))
                .await?;
            let report: custos_engine::RollbackReport = serde_json::from_value(v.clone())
                .map_err(|e| Failure::msg(crate::cli::EXIT_RUNTIME, format!("rollback: {e}")))?;
            show(out, &v, || Ok(render::rollback(&report)))?;
            Ok(crate::cli::rollback_exit(&report))
        }
        Command::Breaker { command } => {
            let v = match command {
                BreakerCommand::Status => r.get("/api/v1/breaker").await?,
                BreakerCommand::Reset => r.post("/api/v1/breaker/reset", &json!({})).await?,
            };
            print_json(&v)?;
            Ok(EXIT_OK)
        }
        Command::Autonomy { command } => {
            match command {
                AutonomyCommand::Show => {
                    let v = r.get("/api/v1/autonomy").await?;
                    let view: custos_engine::AutonomyView = serde_json::from_value(v.clone())
                        .map_err(|e| Failure::msg(crate::cli::EXIT_RUNTIME, format!("autonomy: {e}")))?;
                    show(out, &v, || Ok(render::autonomy(&view)))?;
                }
                AutonomyCommand::Set { class, environment, level, reason } => {
                    let v = r
                        .put("/api/v1/autonomy", &json!({"class": class, "environment": environment, "level": level, "reason": reason}))
                        .await?;
                    let set: custos_ledger::AutonomySetting = serde_json::from_value(v.clone())
                        .map_err(|e| Failure::msg(crate::cli::EXIT_RUNTIME, format!("autonomy: {e}")))?;
                    show(out, &v, || Ok(format!("{}\n", render::autonomy_set(&set))))?;
                }
                AutonomyCommand::Report | AutonomyCommand::Stage { .. } => {
                    return Err(Failure::msg(
                        EXIT_INVALID,
                        "`autonomy report` and `autonomy stage` read the ledger's events: run them where the ledger is, without `--server`".into(),
                    ));
                }
            }
            Ok(EXIT_OK)
        }
        _ => Err(Failure::msg(
            EXIT_INVALID,
            "`--server` works with approvals, pause, resume, rollback, breaker, autonomy and whoami; run the others where the ledger is".into(),
        )),
    }
}

async fn approvals(r: &Remote, out: Output, command: ApprovalsCommand) -> Result<u8, Failure> {
    match command {
        ApprovalsCommand::List { status } => {
            let v = r
                .get(&format!("/api/v1/approvals?status={}", segment(&status)?))
                .await?;
            let list: Vec<Approval> = field(&v, "approvals")?;
            show(out, &v["approvals"], || Ok(render::approvals(&list)))?;
            Ok(EXIT_OK)
        }
        ApprovalsCommand::Show { id } => {
            let v = r
                .get(&format!("/api/v1/approvals/{}", segment(&id)?))
                .await?;
            let a: Approval = field(&v, "approval")?;
            show(out, &v["approval"], || Ok(render::approval_detail(&a)))?;
            Ok(EXIT_OK)
        }
        ApprovalsCommand::Approve {
            id,
            plan_digest,
            comment,
            no_execute,
        } => {
            let id = segment(&id)?;
            // The server requires the digest the reviewer saw; without `--plan-digest` it
            // is the one the server shows now (as the local command does).
            let digest = match plan_digest {
                Some(d) => d,
                None => r.get(&format!("/api/v1/approvals/{id}")).await?["plan_digest"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Failure::msg(
                            crate::cli::EXIT_RUNTIME,
                            "the server did not show a plan digest".into(),
                        )
                    })?,
            };
            let v = r
                .post(
                    &format!("/api/v1/approvals/{id}/approve"),
                    &json!({"plan_digest": digest, "comment": comment, "execute": !no_execute}),
                )
                .await?;
            let a: Approval = field(&v, "approval")?;
            let row: Option<custos_engine::RunRow> = field(&v, "execution")?;
            show(out, &v, || Ok(render::approved(&a, row.as_ref())))?;
            Ok(crate::cli::approve_exit(row.as_ref()))
        }
        ApprovalsCommand::Deny { id, comment } => {
            let v = r
                .post(
                    &format!("/api/v1/approvals/{}/deny", segment(&id)?),
                    &json!({"comment": comment.unwrap_or_default()}),
                )
                .await?;
            let a: Approval = field(&v, "approval")?;
            show(out, &v["approval"], || {
                Ok(format!(
                    "denied {} ({} on {})\n",
                    a.id, a.plan.playbook, a.plan.resource.resource_id
                ))
            })?;
            Ok(EXIT_OK)
        }
    }
}
