//! `custos findings`: what is wrong now, from the ledger (each resource's latest
//! evaluation), with what a person applies: the guidance of alert-only controls (custos
//! never changes those resources itself) and the guided fix of a fixable finding custos
//! left to a person (it recommended only, or waits for approval).

use crate::cli::{EXIT_OK, Failure, Output, print_json};
use crate::render;
use custos_ledger::CurrentFinding;
use std::fmt::Write as _;

/// Which findings to list.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filter {
    /// Only findings of this control id.
    #[arg(long)]
    pub control: Option<String>,
    /// Only findings of alert-only controls (custos never fixes them).
    #[arg(long)]
    pub alert_only: bool,
}

impl Filter {
    pub fn keeps(&self, f: &CurrentFinding) -> bool {
        self.control
            .as_deref()
            .is_none_or(|c| c == f.finding.control_id)
            && (!self.alert_only || f.finding.guidance.is_some())
    }
}

pub fn table(findings: &[CurrentFinding]) -> String {
    let mut t = render::table(&[
        "resource", "control", "severity", "tier", "decided", "since", "finding",
    ]);
    for f in findings {
        t.add_row(vec![
            f.finding.resource.resource_id.clone(),
            f.finding.control_id.clone(),
            f.finding.severity.to_string(),
            f.finding.tier().to_string(),
            f.decided.clone().unwrap_or_else(|| "-".into()),
            f.at.format("%Y-%m-%d %H:%M").to_string(),
            f.finding.message.clone(),
        ]);
    }
    let mut out = String::new();
    if findings.is_empty() {
        let _ = writeln!(out, "no open findings");
        return out;
    }
    let _ = writeln!(out, "{t}");
    for f in findings {
        if let Some(g) = &f.finding.guidance {
            render::guidance(
                &mut out,
                &f.finding.control_id,
                &f.finding.resource.resource_id,
                g,
                render::Shown::Alert { terraform: true },
            );
        } else if let Some(g) = &f.guided {
            // A resource managed as code: the code change first.
            let shown = if f.rules.iter().any(|r| r == "gate.managed_by_iac") {
                render::Shown::CodeFirst
            } else {
                render::Shown::Guided { terraform: true }
            };
            render::guidance(
                &mut out,
                &f.finding.control_id,
                &f.finding.resource.resource_id,
                g,
                shown,
            );
        }
    }
    let alerts = findings
        .iter()
        .filter(|f| f.finding.tier() == "alert")
        .count();
    let guided = findings.iter().filter(|f| f.guided.is_some()).count();
    let _ = writeln!(
        out,
        "{} open findings, {alerts} alert only, {guided} with a guided fix",
        findings.len()
    );
    out
}

pub fn show(findings: Vec<CurrentFinding>, filter: &Filter, out: Output) -> Result<u8, Failure> {
    let kept: Vec<CurrentFinding> = findings.into_iter().filter(|f| filter.keeps(f)).collect();
    match out {
        Output::Json => print_json(&serde_json::json!({"findings": kept}))?,
        Output::Table => render::emit(&table(&kept)),
    }
    Ok(EXIT_OK)
}
