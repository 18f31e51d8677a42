//! Tables for people. Every function returns a string so output can be snapshot-tested.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use custos_core::Approval;
use custos_engine::{Outcome, RollbackReport, RunReport};
use custos_ledger::{ChainReport, DeadLetter, Event, FailureCounts, GuardState};
use custos_policy::TestReport;
use serde_json::Value;
use std::fmt::Write as _;

/// Text made safe for a terminal: every control character but newline and tab (C0, DEL,
/// C1) and every bidirectional override or isolate is written as a visible `\u{..}`
/// escape. Model rationales, reviewer comments, tags and names are stored as given; a
/// terminal must never act on them (erase the "model output" marker, move the cursor,
/// reverse a line).
pub fn terminal(text: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Print text for a person: escaped by [`terminal`].
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`custos ... | head`) is not an error worth a panic.
    let _ = out.write_all(terminal(text).as_bytes());
}

pub(crate) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(140)
        .set_header(header.to_vec());
    t
}

/// `a: false -> true` for every key whose value differs.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> String {
    let (Some(Value::Object(b)), Some(Value::Object(a))) = (before, after) else {
        return "-".into();
    };
    let mut out = Vec::new();
    for (k, av) in a {
        let bv = b.get(k).unwrap_or(&Value::Null);
        if bv != av {
            out.push(format!("{k}: {} -> {}", short(bv), short(av)));
        }
    }
    if out.is_empty() {
        "no change".into()
    } else {
        out.join("\n")
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.get("sseAlgorithm")
                    .and_then(Value::as_str)
                    .map_or_else(|| x.to_string(), str::to_string)
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

fn footer(report: &RunReport, out: &mut String) {
    if !report.rejected.is_empty() {
        let _ = writeln!(
            out,
            "\n{} input(s) rejected and kept in the dead-letter table:",
            report.rejected.len()
        );
        for r in &report.rejected {
            let _ = writeln!(out, "  {r}");
        }
    }
}

/// How a finding's guidance is shown.
#[derive(Debug, Clone, Copy)]
pub enum Shown {
    /// An alert-only control's guidance; the Terraform inline or not.
    Alert { terraform: bool },
    /// A plan's guided fix; the Terraform inline or not.
    Guided { terraform: bool },
    /// A plan's guided fix on a resource managed as code: the code change first.
    CodeFirst,
}

/// A finding's guidance: the text, one command per line (a newline in a value cannot
/// fake another) and the Terraform snippet, inline or pointed to.
pub fn guidance(
    out: &mut String,
    control: &str,
    resource_id: &str,
    g: &custos_core::Guidance,
    shown: Shown,
) {
    let (what, inline) = match shown {
        Shown::Alert { terraform } => ("alert only: custos never changes this", terraform),
        Shown::Guided { terraform } => (
            "guided fix: what a person runs to make this fix by hand",
            terraform,
        ),
        Shown::CodeFirst => (
            "managed as code: change the code; the commands make the same change by hand",
            true,
        ),
    };
    let _ = writeln!(
        out,
        "{control} {} ({what})\n  {}",
        custos_core::one_line(resource_id),
        g.text.replace('\n', "\n  ")
    );
    let terraform = || {
        format!(
            "  Terraform:\n    {}\n",
            g.terraform.replace('\n', "\n    ")
        )
    };
    if matches!(shown, Shown::CodeFirst) {
        let _ = write!(out, "{}", terraform());
    }
    for c in &g.cli {
        let _ = writeln!(out, "  $ {}", custos_core::one_line(c));
    }
    match shown {
        Shown::CodeFirst => {
            let _ = writeln!(out);
        }
        _ if inline => {
            let _ = writeln!(out, "{}", terraform());
        }
        _ => {
            let _ = writeln!(out, "  Terraform: `--output json` has the snippet\n");
        }
    }
}

pub fn scan(report: &RunReport) -> String {
    let mut t = table(&["resource", "control", "severity", "finding"]);
    for r in &report.rows {
        t.add_row(vec![
            r.resource.resource_id.clone(),
            r.control.clone(),
            r.severity.clone().unwrap_or_default(),
            r.detail.clone().unwrap_or_default(),
        ]);
    }
    let mut out = String::new();
    if !report.rows.is_empty() {
        let _ = writeln!(out, "{t}");
    }
    // Alert-only findings, and fixes custos recommends or waits on: what a person does,
    // with the commands for this resource.
    for r in &report.rows {
        if let Some(g) = &r.guidance {
            let shown = if r.playbook.is_none() {
                Shown::Alert { terraform: false }
            } else if r.reasons.iter().any(|x| x == "gate.managed_by_iac") {
                Shown::CodeFirst
            } else {
                Shown::Guided { terraform: false }
            };
            guidance(&mut out, &r.control, &r.resource.resource_id, g, shown);
        }
    }
    let _ = writeln!(
        out,
        "{} resources scanned, {} compliant, {} findings",
        report.resources, report.compliant, report.findings
    );
    footer(report, &mut out);
    out
}

pub fn plan(report: &RunReport) -> String {
    let mut t = table(&["resource", "control", "change", "verdict", "why"]);
    for r in &report.rows {
        t.add_row(vec![
            r.resource.resource_id.clone(),
            r.control.clone(),
            diff(r.before.as_ref(), r.desired.as_ref()),
            r.verdict
                .map(|v| v.to_string())
                .unwrap_or_else(|| r.outcome.as_str().into()),
            r.reasons.join("\n"),
        ]);
    }
    let mut out = String::new();
    if !report.rows.is_empty() {
        let _ = writeln!(out, "{t}");
    }
    let _ = writeln!(
        out,
        "dry run: {} resources, {} compliant, {} planned changes ({} would execute, {} would need approval); nothing was changed",
        report.resources,
        report.compliant,
        report.rows.len(),
        report.count(Outcome::WouldExecute),
        report.count(Outcome::WouldAskApproval)
    );
    footer(report, &mut out);
    out
}

pub fn run(report: &RunReport) -> String {
    let mut t = table(&["resource", "control", "verdict", "outcome", "details"]);
    for r in &report.rows {
        let mut details = Vec::new();
        if let Some(a) = &r.approval_id {
            details.push(format!("approval {a}"));
        }
        if let Some(a) = &r.action_id {
            details.push(format!("action {a}"));
        }
        if !r.reasons.is_empty() {
            details.push(r.reasons.join(", "));
        }
        if matches!(
            r.outcome,
            Outcome::Failed
                | Outcome::RolledBack
                | Outcome::Stale
                | Outcome::Error
                | Outcome::Deferred
        ) && let Some(d) = &r.detail
        {
            details.push(d.clone());
        }
        t.add_row(vec![
            r.resource.resource_id.clone(),
            r.control.clone(),
            r.verdict.map(|v| v.to_string()).unwrap_or_default(),
            r.outcome.as_str().to_string(),
            details.join("\n"),
        ]);
    }
    let mut out = String::new();
    if !report.rows.is_empty() {
        let _ = writeln!(out, "{t}");
    }
    let _ = writeln!(
        out,
        "{} resources: {} compliant; {} fixed, {} already compliant, {} awaiting approval, {} excluded/denied, {} recommended, {} deferred, {} failed; {} mutating call(s)",
        report.resources,
        report.compliant,
        report.count(Outcome::Fixed),
        report.count(Outcome::AlreadyCompliant),
        report.count(Outcome::AwaitingApproval),
        report.count(Outcome::Denied),
        report.count(Outcome::Recommended),
        report.count(Outcome::Deferred),
        report.count(Outcome::Failed)
            + report.count(Outcome::RolledBack)
            + report.count(Outcome::Error),
        report.mutating_calls()
    );
    let _ = writeln!(out, "{} ({})", report.run_id, report.mode);
    footer(report, &mut out);
    out
}

/// Words a model wrote are shown as such, never as custos' own.
fn model_words(text: &str) -> String {
    if text.starts_with(custos_reasoning::UNTRUSTED_PREFIX) {
        text.to_string()
    } else {
        format!("{}{text}", custos_reasoning::UNTRUSTED_PREFIX)
    }
}

pub fn approvals(list: &[Approval]) -> String {
    if list.is_empty() {
        return "no approval requests\n".into();
    }
    let mut t = table(&[
        "id", "status", "resource", "playbook", "env", "expires", "why",
    ]);
    for a in list {
        let mut why: Vec<String> = a
            .decision
            .reasons
            .iter()
            .filter(|r| r.verdict > custos_core::Verdict::Execute)
            .map(|r| r.rule.clone())
            .collect();
        // A model that wanted to block the fix: the finding stays open here, with its
        // words marked, for a human to judge.
        if let Some(r) = a
            .decision
            .reasons
            .iter()
            .find(|r| r.rule == "reasoning.llm.block")
        {
            why.push(r.message.chars().take(120).collect());
        }
        t.add_row(vec![
            a.id.clone(),
            a.status.to_string(),
            a.plan.resource.resource_id.clone(),
            a.plan.playbook.clone(),
            a.plan.environment.clone(),
            a.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            why.join("\n"),
        ]);
    }
    format!("{t}\n")
}

pub fn approval_detail(a: &Approval) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "approval   {} ({})", a.id, a.status);
    let _ = writeln!(out, "resource   {}", a.plan.resource);
    let _ = writeln!(
        out,
        "control    {} -> playbook {} v{}",
        a.plan.control_id, a.plan.playbook, a.plan.playbook_version
    );
    let _ = writeln!(
        out,
        "action     {} (risk {}, reversible: {})",
        a.plan.action, a.plan.risk, a.plan.reversible
    );
    let _ = writeln!(
        out,
        "requested  {} by {}; expires {}",
        a.requested_at.format("%Y-%m-%d %H:%M:%S UTC"),
        a.requested_by,
        a.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(by) = &a.decided_by {
        let _ = writeln!(
            out,
            "decided    by {by}{}",
            a.comment
                .as_ref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "scoped to  before-state digest {}", a.before_digest);
    let _ = writeln!(out, "\nfindings:");
    for f in &a.findings {
        let _ = writeln!(out, "  - [{}] {}", f.severity, f.message);
    }
    let _ = writeln!(
        out,
        "\nchange:\n  {}",
        diff(
            Some(&a.plan.before["facet"]),
            Some(&a.plan.desired["facet"])
        )
        .replace('\n', "\n  ")
    );
    if let Some(g) = &a.plan.guided {
        let _ = writeln!(out);
        guidance(
            &mut out,
            &a.plan.control_id,
            &a.plan.resource.resource_id,
            g,
            if a.decision
                .reasons
                .iter()
                .any(|r| r.rule == "gate.managed_by_iac")
            {
                Shown::CodeFirst
            } else {
                Shown::Guided { terraform: true }
            },
        );
    }
    let _ = writeln!(out, "\nrollback:");
    for s in &a.plan.rollback {
        let _ = writeln!(
            out,
            "  - {} ({}){}",
            s.action,
            s.description,
            if s.exact { "" } else { " [not exact]" }
        );
    }
    let _ = writeln!(
        out,
        "\ndecision: {} (gate: {}, autonomy {}, environment {})",
        a.decision.verdict, a.decision.gate_verdict, a.decision.autonomy, a.decision.environment
    );
    for r in &a.decision.reasons {
        let _ = writeln!(
            out,
            "  - {:?} {} -> {}: {}",
            r.stage, r.rule, r.verdict, r.message
        );
    }
    let rationale = if a.decision.reasoner.model.is_some() {
        model_words(&a.decision.reasoner.rationale)
    } else {
        a.decision.reasoner.rationale.clone()
    };
    let _ = writeln!(out, "  reasoner {}: {rationale}", a.decision.reasoner.id);
    let _ = writeln!(out, "  policy bundle {}", a.decision.policy_digest);
    out
}

pub fn approved(a: &Approval, row: Option<&custos_engine::RunRow>) -> String {
    let mut out = format!(
        "approved {} by {}\n",
        a.id,
        a.decided_by.as_deref().unwrap_or("?")
    );
    match row {
        Some(r) => {
            let _ = writeln!(
                out,
                "{} on {}: {}{}{}",
                r.action.as_deref().unwrap_or("-"),
                r.resource.resource_id,
                r.outcome.as_str(),
                r.action_id
                    .as_ref()
                    .map(|id| format!(" (action {id})"))
                    .unwrap_or_default(),
                r.detail
                    .as_ref()
                    .map(|d| format!("; {d}"))
                    .unwrap_or_default()
            );
        }
        None => out.push_str("not executed yet: the next `custos run --once` executes it\n"),
    }
    out
}

pub fn rollback(r: &RollbackReport) -> String {
    use custos_core::ActionOutcome as O;
    let mut out = String::new();
    match r.outcome {
        Some(O::Executed) => {
            let _ = writeln!(
                out,
                "rolled back {} (action {}): {}",
                r.action_id,
                r.rollback_action_id.as_deref().unwrap_or("-"),
                r.calls.join(", ")
            );
            let _ = writeln!(
                out,
                "restored state read back: {}",
                r.restored
                    .as_ref()
                    .map_or("-".to_string(), Value::to_string)
            );
            let _ = writeln!(
                out,
                "{}",
                if r.exact {
                    "the before state is restored exactly"
                } else {
                    "WARNING: the state read back differs from the recorded before state (see the playbook's rollback notes)"
                }
            );
        }
        Some(O::NoOp) => {
            let _ = writeln!(
                out,
                "{}: the before state is already in place; nothing was called",
                r.action_id
            );
        }
        Some(O::Stale) => {
            let _ = writeln!(
                out,
                "refused to roll back {}: the resource changed after the action, and a rollback would overwrite that change ({})",
                r.action_id,
                r.detail.as_deref().unwrap_or("")
            );
        }
        other => {
            let _ = writeln!(
                out,
                "refused to roll back {}{}: {}",
                r.action_id,
                other.map(|o| format!(" ({o})")).unwrap_or_default(),
                r.detail.as_deref().unwrap_or("")
            );
            for reason in r
                .reasons
                .iter()
                .filter(|x| x.verdict > custos_core::Verdict::Execute)
            {
                let _ = writeln!(
                    out,
                    "  - {} -> {}: {}",
                    reason.rule, reason.verdict, reason.message
                );
            }
        }
    }
    out
}

pub fn breaker(
    state: &GuardState,
    recent: &FailureCounts,
    b: &custos_engine::config::BreakerSettings,
) -> String {
    let mut out = String::new();
    match &state.breaker {
        Some(info) => {
            let _ = writeln!(
                out,
                "circuit breaker OPEN since {}: {}",
                info.at.map_or("?".into(), |t| t
                    .format("%Y-%m-%d %H:%M:%S UTC")
                    .to_string()),
                info.reason.as_deref().unwrap_or("")
            );
            let _ = writeln!(
                out,
                "nothing is executed until `custos breaker reset --by NAME`"
            );
        }
        None => {
            let _ = writeln!(out, "circuit breaker closed");
        }
    }
    let _ = writeln!(
        out,
        "last {} minutes: {} of {} finished actions failed (opens at {} failures, or {}% of at least {})",
        b.window.num_minutes(),
        recent.failures,
        recent.finished,
        b.failures,
        b.failure_percent,
        b.min_actions
    );
    if let Some(p) = &state.paused {
        let _ = writeln!(
            out,
            "custos is PAUSED by {}: {}",
            p.by.as_deref().unwrap_or("?"),
            p.reason.as_deref().unwrap_or("")
        );
    }
    out
}

fn event_summary(e: &Event) -> String {
    let p = &e.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match e.kind.as_str() {
        "decision" => {
            let d = &p["decision"];
            let reasons: Vec<String> = d["reasons"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r["rule"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let rationale = d["reasoner"]["rationale"].as_str().unwrap_or("");
            format!(
                "{} -> {} [{}]; reasoner: {}",
                s("control"),
                d["verdict"].as_str().unwrap_or("?"),
                reasons.join(", "),
                if d["reasoner"]["model"].is_string() {
                    model_words(rationale)
                } else {
                    rationale.to_string()
                }
            )
        }
        "finding" => format!("{}: {}", s("control_id"), s("message")),
        k if k.starts_with("action.") && k != "action.intent" && k != "action.reverted" => {
            let calls: Vec<&str> = p["calls"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!(
                "{} calls=[{}] {}",
                s("action_id"),
                calls.join(","),
                p["verification"]["detail"]
                    .as_str()
                    .or(p["error"].as_str())
                    .unwrap_or("")
            )
        }
        "action.intent" => format!("{} {}", s("action_id"), s("action")),
        "action.reverted" => format!(
            "{} by {} (rollback {})",
            s("action_id"),
            s("by"),
            s("rollback_action_id")
        ),
        "guard.paused" => format!("by {}: {}", s("by"), s("reason")),
        "guard.resumed" | "guard.breaker_reset" => format!("by {}", s("by")),
        "guard.breaker_opened" => s("reason"),
        k if k.starts_with("approval.") => format!(
            "{} {}",
            s("approval_id"),
            p.get("by")
                .and_then(Value::as_str)
                .map(|b| format!("by {b}"))
                .unwrap_or_default()
        ),
        "resource.evaluated" => {
            let failing: Vec<&str> = p["failing"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if failing.is_empty() {
                "compliant".into()
            } else {
                format!("failing: {}", failing.join(", "))
            }
        }
        "input.dead_letter" => format!("{}: {}", s("location"), s("error")),
        _ => p.to_string(),
    }
}

pub fn history(events: &[Event], chain: Option<&ChainReport>) -> String {
    let mut t = table(&["#", "time", "kind", "resource", "summary"]);
    for e in events {
        let resource = e
            .resource
            .as_deref()
            .and_then(|r| r.rsplit('/').next())
            .unwrap_or("")
            .to_string();
        t.add_row(vec![
            e.seq.to_string(),
            e.at.format("%H:%M:%S").to_string(),
            e.kind.clone(),
            resource,
            event_summary(e),
        ]);
    }
    let mut out = format!("{t}\n");
    if let Some(c) = chain {
        match c.first_bad {
            None if c.starts_at > 0 => {
                let _ = writeln!(
                    out,
                    "hash chain intact from event {} (the events before it were pruned; `custos audit verify` checks the signed prune statement): {} events, head {}",
                    c.starts_at, c.events, c.head
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "hash chain intact: {} events, head {}",
                    c.events, c.head
                );
            }
            Some(seq) => {
                let _ = writeln!(
                    out,
                    "HASH CHAIN BROKEN at event {seq}: the ledger was modified outside custos"
                );
            }
        }
    }
    out
}

pub fn dead_letters(list: &[DeadLetter]) -> String {
    if list.is_empty() {
        return "no dead letters\n".into();
    }
    let mut t = table(&["id", "location", "field", "error"]);
    for d in list {
        t.add_row(vec![
            d.id.clone(),
            d.location.clone(),
            d.field.clone().unwrap_or_default(),
            d.error.clone(),
        ]);
    }
    format!("{t}\n")
}

pub fn explain(e: &custos_engine::Explanation) -> String {
    let mut out = format!("{} (environment {})\n", e.resource, e.environment);
    let mut t = table(&["control", "result", "why", "frameworks"]);
    for c in &e.controls {
        let fw: Vec<String> = c
            .frameworks
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}: {}", v.join(", ")))
            .collect();
        t.add_row(vec![
            c.id.clone(),
            if c.passed {
                "pass".into()
            } else {
                "FAIL".into()
            },
            c.messages.join("\n"),
            fw.join("\n"),
        ]);
    }
    let _ = writeln!(out, "{t}");
    for (plan, d) in &e.decisions {
        let _ = writeln!(
            out,
            "{} -> playbook {} ({}): verdict {}",
            plan.control_id, plan.playbook, plan.action, d.verdict
        );
        if d.reasons.is_empty() {
            let _ = writeln!(
                out,
                "  no gate rule, reasoner concern or autonomy limit applies"
            );
        }
        for r in &d.reasons {
            let _ = writeln!(
                out,
                "  {:<9} {:<36} {:<14} {}",
                format!("{:?}", r.stage).to_lowercase(),
                r.rule,
                r.verdict.as_str(),
                r.message
            );
        }
        let rationale = if d.reasoner.model.is_some() {
            model_words(&d.reasoner.rationale)
        } else {
            d.reasoner.rationale.clone()
        };
        let _ = writeln!(out, "  reasoner  {}: {rationale}", d.reasoner.id);
        let _ = writeln!(out, "  autonomy  {} in {}", d.autonomy, d.environment);
    }
    out.push('\n');
    out
}

pub fn policy_tests(report: &TestReport) -> String {
    let mut out = String::new();
    for c in report.cases.iter().filter(|c| !c.passed) {
        let _ = writeln!(
            out,
            "FAIL {}: {}\n     {}",
            c.file,
            c.name,
            c.error.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(out, "PASS: {}/{}", report.passed(), report.cases.len());
    if report.failed() > 0 {
        let _ = writeln!(out, "FAIL: {}/{}", report.failed(), report.cases.len());
    }
    out
}

#[cfg(test)]
mod tests;

fn level_text(l: custos_core::AutonomyLevel) -> String {
    format!("{} ({})", l.number(), l.name())
}

pub fn autonomy(v: &custos_engine::AutonomyView) -> String {
    let mut out = format!(
        "default {}, ceiling {}; classes: {}\n",
        level_text(v.default),
        level_text(v.ceiling),
        v.classes.join(", ")
    );
    let mut t = table(&["class", "environment", "level", "source"]);
    for (class, envs) in &v.configured {
        for (env, l) in envs {
            t.add_row(vec![
                class.clone(),
                env.clone(),
                level_text(*l),
                "custos.toml".into(),
            ]);
        }
    }
    for s in &v.runtime {
        t.add_row(vec![
            s.class.clone(),
            s.environment.clone(),
            level_text(s.level),
            format!(
                "set by {} at {}: {}",
                s.set_by,
                s.set_at.to_rfc3339(),
                s.reason
            ),
        ]);
    }
    let _ = writeln!(out, "{t}");
    out.push_str("Runtime levels decide over the file (the most specific runtime key first); the ceiling caps both.\n");
    out
}

/// `autonomy report`: the rule's word per class and environment, then the outcomes and
/// the lower-environment proof behind it.
pub fn autonomy_report(r: &custos_engine::AutonomyReport) -> String {
    let mut out = format!(
        "adjust: {:?} (advise: people move levels; auto: custos moves them one at a time). A raise needs {} successful cases in {} days, none rolled back, and a {:.0} % lower bound of success of at least {}, and a raise that lets custos act alone needs two people's approvals among them; a rollback, failure or undo lowers the level at once. Production fixes wait for a person until their playbook has fixed {} resources outside production.\n\n",
        r.adjust,
        r.rule.min_cases,
        r.rule.window.num_days(),
        r.rule.confidence * 100.0,
        r.rule.threshold,
        r.lower_environment_proof
    )
    .to_lowercase();
    let mut t = table(&[
        "class",
        "environment",
        "level",
        "recommendation",
        "successes",
        "failures",
        "lower bound",
        "reason",
    ]);
    for l in &r.levels {
        let to = match (l.movement, l.to) {
            (_, Some(to)) => format!("{:?} to {}", l.movement, level_text(to)).to_lowercase(),
            (m, None) => format!("{m:?}").to_lowercase(),
        };
        t.add_row(vec![
            l.class.clone(),
            l.environment.clone(),
            level_text(l.level),
            to,
            l.successes.to_string(),
            l.failures.to_string(),
            format!("{:.3}", l.lower_bound),
            l.reason.clone(),
        ]);
    }
    let _ = writeln!(out, "{t}\n");
    let mut t = table(&[
        "control",
        "playbook",
        "class",
        "environment",
        "executed",
        "rolled back",
        "failed",
        "undone",
        "recurred",
        "asked",
        "approved",
        "denied",
        "expired",
        "mean wait",
    ]);
    for (k, c) in &r.outcomes {
        t.add_row(vec![
            k.control.clone(),
            format!("{} {}", k.playbook, k.playbook_version),
            k.class.clone(),
            k.environment.clone(),
            c.executed.to_string(),
            c.rolled_back.to_string(),
            c.failed.to_string(),
            c.reverted.to_string(),
            c.recurred.to_string(),
            c.approval_requests.to_string(),
            c.approved.to_string(),
            c.denied.to_string(),
            c.expired.to_string(),
            c.mean_decision_seconds()
                .map_or_else(|| "-".into(), |s| format!("{s} s")),
        ]);
    }
    let _ = writeln!(out, "{t}\n");
    let mut t = table(&[
        "playbook",
        "version",
        "verified non-production fixes since the last setback",
    ]);
    for (p, v, n) in &r.proof {
        t.add_row(vec![p.clone(), v.clone(), n.to_string()]);
    }
    let _ = writeln!(out, "{t}\n");
    let _ = writeln!(
        out,
        "escalation share per week: requests sent to a person out of what custos did alone or asked about"
    );
    let mut t = table(&[
        "week",
        "custos alone",
        "sent to a person",
        "denied by a person",
        "escalation share",
    ]);
    for w in &r.weeks {
        t.add_row(vec![
            w.counts.week.clone(),
            w.counts.alone.to_string(),
            w.counts.asked.to_string(),
            w.counts.denied.to_string(),
            w.escalation_share
                .map_or_else(|| "-".into(), |s| format!("{:.1} %", s * 100.0)),
        ]);
    }
    let _ = writeln!(out, "{t}");
    if r.rollout.is_some() || !r.stages.is_empty() {
        let _ = writeln!(
            out,
            "\nstaged rollout: {} (shadow: a person decides what custos would do alone; limited: {}; broad: within the level). A promotion needs {} successful cases since the stage was set and the same lower bound; a rollback, failure or undo demotes at once.",
            if r.rollout.is_some() {
                "on"
            } else {
                "off (`[autonomy] rollout = \"staged\"`)"
            },
            r.rollout.map_or_else(
                || "-".to_string(),
                |s| format!(
                    "{} % of resources, {} fixes without a person at most",
                    s.limited_percent, s.limited_count
                )
            ),
            r.rule.min_cases
        );
        let mut t = table(&[
            "playbook",
            "version",
            "stage",
            "recommendation",
            "successes",
            "failures",
            "alone since set",
            "lower bound",
            "reason",
        ]);
        for s in &r.stages {
            let to = match (s.movement, s.to) {
                (_, Some(to)) => format!("{:?} to {to}", s.movement).to_lowercase(),
                (m, None) => format!("{m:?}").to_lowercase(),
            };
            t.add_row(vec![
                s.playbook.clone(),
                s.version.clone(),
                s.stage.to_string(),
                to,
                s.successes.to_string(),
                s.failures.to_string(),
                s.alone_since_stage.to_string(),
                format!("{:.3}", s.lower_bound),
                s.reason.clone(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
    fix_times(&r.fix_times, &mut out);
    out
}

/// The autonomy report's time to fix: per control, how many failing episodes custos
/// fixed and how many were fixed outside it (a later evaluation saw them passing), with
/// the median of each.
fn fix_times(times: &[custos_engine::FixTime], out: &mut String) {
    if times.is_empty() {
        let _ = writeln!(out, "\ntime to fix: no findings yet");
        return;
    }
    let _ = writeln!(
        out,
        "\ntime to fix: from the first evaluation that saw a control failing on a resource to its fix (by custos: the fix executed, approval wait included; outside custos: an evaluation saw it passing)"
    );
    let mut t = table(&[
        "control",
        "fixed by custos",
        "median",
        "fixed outside custos",
        "median",
        "open",
        "gone",
    ]);
    let median = |s: Option<u64>| s.map_or_else(|| "-".to_string(), human_seconds);
    for f in times {
        t.add_row(vec![
            f.control.clone(),
            f.by_custos.count.to_string(),
            median(f.by_custos.median_seconds),
            f.outside.count.to_string(),
            median(f.outside.median_seconds),
            f.open.to_string(),
            f.gone.to_string(),
        ]);
    }
    let _ = writeln!(out, "{t}");
}

/// A duration in a short human form: `45s`, `10m`, `2h 0m`, `3d 4h` (rounded down to
/// the unit shown).
pub(crate) fn human_seconds(s: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    match s {
        s if s >= DAY => format!("{}d {}h", s / DAY, s % DAY / HOUR),
        s if s >= HOUR => format!("{}h {}m", s / HOUR, s % HOUR / MINUTE),
        s if s >= MINUTE => format!("{}m", s / MINUTE),
        s => format!("{s}s"),
    }
}

pub fn autonomy_set(s: &custos_ledger::AutonomySetting) -> String {
    format!(
        "autonomy of {} in `{}` is now {} (set by {})",
        s.class,
        s.environment,
        level_text(s.level),
        s.set_by
    )
}

/// `audit verify`: the verdict, what was checked, and each finding.
pub fn audit(r: &custos_evidence::AuditReport) -> String {
    let mut out = String::new();
    let anchored_at = r
        .anchored_at
        .map(|t| format!(" (checkpoint signed {})", t.format("%Y-%m-%d %H:%M:%S UTC")))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} events; {} signed checkpoints verify; {} events anchored{anchored_at}; {} recent events not yet anchored",
        r.events, r.valid_checkpoints, r.anchored, r.pending
    );
    if r.witnesses.is_empty() {
        let _ = writeln!(
            out,
            "no witness configured: checkpoints are only in the ledger"
        );
    }
    for (location, copies) in &r.witnesses {
        let _ = writeln!(out, "witness {location}: {copies} copies");
    }
    for g in &r.gaps {
        let _ = writeln!(
            out,
            "no checkpoint from {} to {}",
            g.from.format("%Y-%m-%d %H:%M:%S"),
            g.to.format("%Y-%m-%d %H:%M:%S")
        );
    }
    if r.intact() {
        let _ = writeln!(out, "ledger intact");
        return out;
    }
    let summary = r
        .counts
        .iter()
        .map(|(k, n)| format!("{n} {}", k.label()))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "LEDGER DAMAGED: {summary}");
    if let Some(first) = r.first_bad() {
        let _ = writeln!(out, "first: {}: {}", first.kind.label(), first.detail);
    }
    let mut t = table(&["kind", "event", "detail"]);
    for d in r.damage.iter().take(50) {
        t.add_row(vec![
            d.kind.label().to_string(),
            d.index.map(|i| i.to_string()).unwrap_or_default(),
            d.detail.clone(),
        ]);
    }
    let _ = writeln!(out, "{t}");
    if r.damage.len() > 50 {
        let _ = writeln!(
            out,
            "... and {} more (`--output json` lists up to {})",
            r.damage.len() - 50,
            custos_evidence::audit::MAX_LISTED
        );
    }
    out
}

/// `evidence show`: the bundle's summary for people.
pub fn bundle(b: &custos_evidence::bundle::Bundle, file: Option<&std::path::Path>) -> String {
    let s = &b.summary;
    let mut out = String::new();
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into())
    };
    let _ = writeln!(out, "action      {}", s.action_id);
    let _ = writeln!(out, "resource    {}", s.resource.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "control     {}", s.control.as_deref().unwrap_or("-"));
    for (framework, ids) in &s.frameworks {
        let _ = writeln!(out, "  {framework}: {}", ids.join(", "));
    }
    let verdict = s
        .decision
        .as_ref()
        .and_then(|d| d.get("verdict"))
        .and_then(|v| v.as_str())
        .unwrap_or("-");
    let _ = writeln!(
        out,
        "decision    {verdict} (policy {})",
        s.policy_digest.as_deref().unwrap_or("-")
    );
    if let Some(reasons) = s
        .decision
        .as_ref()
        .and_then(|d| d.get("reasons"))
        .and_then(|r| r.as_array())
    {
        for r in reasons {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                r["stage"].as_str().unwrap_or("?"),
                r["rule"].as_str().unwrap_or("?"),
                r["message"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(r) = &s.rationale {
        let _ = writeln!(out, "rationale   {r}");
    }
    for a in &s.approvals {
        let _ = writeln!(
            out,
            "approval    {} {} {} {}",
            a.at,
            a.kind,
            a.status.as_deref().unwrap_or(""),
            a.by.as_ref().map(|b| b.to_string()).unwrap_or_default()
        );
    }
    let _ = writeln!(out, "outcome     {}", s.outcome.as_deref().unwrap_or("-"));
    for c in &s.diff {
        let _ = writeln!(
            out,
            "  {}: {} -> {}",
            c.path,
            show(&c.before),
            show(&c.after)
        );
    }
    let _ = writeln!(out, "verified    {}", show(&s.verification));
    let _ = writeln!(out, "rollback    {}", show(&s.rollback));
    let _ = writeln!(
        out,
        "{} events, each with its inclusion proof against the signed checkpoint",
        b.events.len()
    );
    if let Some(f) = file {
        let _ = writeln!(out, "bundle written to {}", f.display());
    }
    out
}

/// `custos replay`: one row per decision, then what differs.
pub fn replays(rs: &[custos_engine::replay::Replay]) -> String {
    let mut t = table(&[
        "decision", "time", "resource", "control", "recorded", "replayed", "today", "status",
    ]);
    let v = |x: Option<custos_core::Verdict>| x.map_or("-".to_string(), |v| v.as_str().to_string());
    for r in rs {
        t.add_row(vec![
            r.decision_id.chars().take(8).collect(),
            r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            r.resource
                .as_deref()
                .and_then(|x| x.rsplit('/').next())
                .unwrap_or("")
                .to_string(),
            r.control.clone().unwrap_or_default(),
            r.recorded.as_str().to_string(),
            v(r.replayed),
            v(r.today),
            match (r.replayable, r.reproduced, r.same_today) {
                (false, _, _) => "not replayable (no inputs recorded)".into(),
                (true, false, _) => "NOT REPRODUCED".into(),
                (true, true, true) => "reproduced".into(),
                (true, true, false) => "reproduced; today differs".into(),
            },
        ]);
    }
    let mut out = format!("{t}\n");
    for r in rs {
        for n in &r.notes {
            let _ = writeln!(
                out,
                "{}: {n}",
                &r.decision_id.chars().take(8).collect::<String>()
            );
        }
    }
    let reproduced = rs.iter().filter(|r| r.reproduced).count();
    let replayable = rs.iter().filter(|r| r.replayable).count();
    let _ = writeln!(
        out,
        "{reproduced} of {replayable} replayable decisions reproduced ({} decisions in all); {} would be decided differently today",
        rs.len(),
        rs.iter()
            .filter(|r| r.today.is_some() && !r.same_today)
            .count()
    );
    out
}
