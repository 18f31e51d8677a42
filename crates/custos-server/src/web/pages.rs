//! The pages, as `maud` templates: every value is escaped by the template engine (names,
//! tags, descriptions and rationales come from the account or a model and are treated as
//! hostile). No script anywhere; the Content-Security-Policy forbids it too.

use chrono::{DateTime, Utc};
use custos_core::{Approval, ConfigurationItem, Principal};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use std::collections::BTreeMap;

fn layout(title: &str, who: Option<&Principal>, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · custos" }
                link rel="stylesheet" href="/ui/style.css";
            }
            body {
                header {
                    a.brand href="/ui" { "custos" }
                    nav {
                        a href="/ui" { "Approvals" }
                        " · "
                        a #nav-findings href="/ui/findings" { "Findings" }
                    }
                    @if let (Some(w), Some(c)) = (who, csrf) {
                        form.logout method="post" action="/ui/logout" {
                            span #whoami { (w.name) " (" (w.roles_text()) ")" }
                            input type="hidden" name="csrf" value=(c);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn login(csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        None,
        html! {
            h1 { "Log in" }
            @if let Some(e) = error { p.error #error { (e) } }
            form #login method="post" action="/ui/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="token" { "API token or OIDC ID token" }
                textarea #token name="token" rows="3" autocomplete="off" spellcheck="false" required {}
                button #login-submit type="submit" { "Log in" }
            }
            p.hint { "Create an API token with " code { "custos tokens create" } "; it is checked on every request, so revoking it ends this session." }
        },
    )
}

fn remaining(until: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = until - now;
    if d <= chrono::Duration::zero() {
        "expired".into()
    } else if d.num_hours() > 0 {
        format!("in {} h {} min", d.num_hours(), d.num_minutes() % 60)
    } else {
        format!("in {} min", d.num_minutes().max(1))
    }
}

/// Weeks of the escalation share the queue page shows.
pub const WEEKS_SHOWN: usize = 8;

/// The escalation share per week: how much of what custos did or asked about waited for
/// a person (it falls as autonomy is earned).
fn escalation(weeks: Option<&[custos_engine::WeekShare]>) -> Markup {
    html! {
        h2 { "Escalation share per week" }
        @if let Some(weeks) = weeks {
        @if weeks.is_empty() {
            p #no-weeks { "Nothing fixed or asked about yet." }
        } @else {
            table #escalation {
                thead { tr { th { "Week (UTC)" } th { "custos alone" } th { "Sent to a person" } th { "Denied by a person" } th { "Escalation share" } } }
                tbody {
                    @for w in weeks {
                        tr {
                            td { (w.counts.week) }
                            td { (w.counts.alone) }
                            td { (w.counts.asked) }
                            td { (w.counts.denied) }
                            td { (w.escalation_share.map_or_else(|| "-".to_string(), |x| format!("{:.1} %", x * 100.0))) }
                        }
                    }
                }
            }
        }
        } @else {
            p #weeks-unavailable { "The counts cannot be read now (the server log says why)." }
        }
    }
}

pub fn queue(
    list: &[Approval],
    weeks: Option<&[custos_engine::WeekShare]>,
    who: &Principal,
    csrf: &str,
    now: DateTime<Utc>,
) -> Markup {
    layout(
        "Pending approvals",
        Some(who),
        Some(csrf),
        html! {
            h1 { "Pending approvals" }
            @if list.is_empty() {
                p #empty { "Nothing waits for a reviewer." }
            } @else {
                table #queue {
                    thead { tr { th { "Request" } th { "Resource" } th { "Control" } th { "Change" } th { "Environment" } th { "Risk" } th { "Reviews" } th { "Expires" } } }
                    tbody {
                        @for a in list {
                            tr {
                                td { a.request href={ "/ui/approvals/" (a.id) } { (a.id) } }
                                td { (a.plan.resource_name.as_deref().unwrap_or(&a.plan.resource.resource_id)) br; small { (a.plan.resource.resource_type) " · " (a.plan.resource.account) " · " (a.plan.resource.region) } }
                                td { (a.plan.control_id) }
                                td { (a.plan.action) }
                                td { (a.plan.environment) @if a.plan.production { " " span.badge.prod { "production" } } }
                                td { (a.plan.risk.as_str()) }
                                td { (a.reviews.len()) " of " (a.required_reviewers) }
                                td { (remaining(a.expires_at, now)) }
                            }
                        }
                    }
                }
            }
            (escalation(weeks))
        },
    )
}

/// Open findings, each resource's latest evaluation. An alert-only finding shows what a
/// person does: the guidance, the AWS CLI commands with this resource's values (each a
/// line of its own) and the Terraform; custos never changes the resource itself. A
/// fixable finding custos left to a person (recommended only, or waiting for approval)
/// shows its plan's guided fix the same way.
pub fn findings(list: &[custos_ledger::CurrentFinding], who: &Principal, csrf: &str) -> Markup {
    let alerts = list.iter().filter(|f| f.finding.tier() == "alert").count();
    layout(
        "Open findings",
        Some(who),
        Some(csrf),
        html! {
            h1 { "Open findings" }
            @if list.is_empty() {
                p #empty { "Nothing is open: every resource passed its latest evaluation." }
            } @else {
                p #summary { (list.len()) " open, " (alerts) " alert only (custos never changes these: a person applies the fix below)" }
                table #findings {
                    thead { tr { th { "Resource" } th { "Control" } th { "Severity" } th { "Tier" } th { "Since" } th { "Finding" } } }
                    tbody {
                        @for (i, f) in list.iter().enumerate() {
                            tr.finding data-tier=(f.finding.tier()) {
                                td { (f.finding.resource.resource_id) br; small { (f.finding.resource.resource_type) " · " (f.finding.resource.account) " · " (f.finding.resource.region) } }
                                td { (f.finding.control_id) }
                                td { (f.finding.severity.to_string()) }
                                td {
                                    @if f.finding.guidance.is_some() {
                                        a href={ "#guidance-" (i) } { span.badge.alert { "alert only" } }
                                    } @else if f.guided.is_some() {
                                        (f.finding.tier()) " · " a href={ "#guided-" (i) } { "guided fix" }
                                    } @else {
                                        (f.finding.tier())
                                    }
                                }
                                td { (f.at.format("%Y-%m-%d %H:%M UTC").to_string()) }
                                td { (f.finding.message) }
                            }
                        }
                    }
                }
                @for (i, f) in list.iter().enumerate() {
                    @if let Some(g) = &f.finding.guidance {
                        section.guidance id={ "guidance-" (i) } {
                            h2 { (f.finding.control_id) " · " (custos_core::one_line(&f.finding.resource.resource_id)) }
                            p { (g.text) }
                            h3 { "AWS CLI" }
                            pre.cli { @for c in &g.cli { code { (custos_core::one_line(c)) } "\n" } }
                            h3 { "Terraform" }
                            pre.terraform { code { (g.terraform) } }
                        }
                    } @else if let Some(g) = &f.guided {
                        @let code_first = f.rules.iter().any(|r| r == "gate.managed_by_iac");
                        section.guided id={ "guided-" (i) } {
                            h2 { (f.finding.control_id) " · " (custos_core::one_line(&f.finding.resource.resource_id)) " · guided fix" }
                            p { (g.text) }
                            @if code_first {
                                p { "Managed as code: change the code; the commands make the same change by hand and the next deployment would revert them." }
                                h3 { "Terraform" }
                                pre.terraform { code { (g.terraform) } }
                            }
                            h3 { "AWS CLI" }
                            pre.cli { @for c in &g.cli { code { (custos_core::one_line(c)) } "\n" } }
                            @if !code_first {
                                h3 { "Terraform" }
                                pre.terraform { code { (g.terraform) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `a.b[0].c -> value`, for the diff.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// Changed lines between two states: (path, before, after), either side absent.
pub fn diff(before: &Value, after: &Value) -> Vec<(String, Option<String>, Option<String>)> {
    let (mut b, mut a) = (BTreeMap::new(), BTreeMap::new());
    flatten("", before, &mut b);
    flatten("", after, &mut a);
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| (k.clone(), b.get(k).cloned(), a.get(k).cloned()))
        .collect()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// What the reviewer is asked to approve, and the forms.
pub struct RequestView<'a> {
    pub a: &'a Approval,
    pub current: Result<Option<ConfigurationItem>, String>,
    pub who: &'a Principal,
    pub csrf: &'a str,
    pub now: DateTime<Utc>,
    pub banner: Option<(bool, String)>,
}

pub fn request(v: &RequestView<'_>) -> Markup {
    let a = v.a;
    let p = &a.plan;
    let d = &a.decision;
    let model = d.reasoner.model.as_deref();
    let changes = diff(&p.before, &p.desired);
    layout(
        &format!("Request {}", a.id),
        Some(v.who),
        Some(v.csrf),
        html! {
            p { a href="/ui" { "← pending approvals" } }
            h1 { "Request " code #request-id { (a.id) } }
            @if let Some((ok, msg)) = &v.banner {
                p #banner class=(if *ok { "ok" } else { "error" }) { (msg) }
            }
            dl.facts {
                dt { "Status" } dd #status { (a.status.as_str()) }
                dt { "Resource" } dd #resource { (p.resource_name.as_deref().unwrap_or(&p.resource.resource_id)) }
                dt { "ARN / id" } dd { code { (p.arn.as_deref().unwrap_or(&p.resource.resource_id)) } }
                dt { "Type, account, region" } dd { (p.resource.resource_type) " · " (p.resource.account) " · " (p.resource.region) }
                dt { "Environment" } dd { (p.environment) @if p.production { " (production)" } }
                dt { "Requested" } dd { (a.requested_at.to_rfc3339()) " by " (a.requested_by) }
                dt { "Expires" } dd #expires { (a.expires_at.to_rfc3339()) " (" (remaining(a.expires_at, v.now)) ")" }
                dt { "Reviews" } dd #reviews { (a.reviews.len()) " of " (a.required_reviewers) " required" }
                dt { "Plan digest" } dd { code #plan-digest { (a.plan_digest()) } }
            }
            @if !p.tags.is_empty() {
                h2 { "Tags" }
                table #tags { tbody { @for (k, val) in &p.tags { tr { th { (k) } td { (val) } } } } }
            }
            h2 { "Proposed change" }
            p { "Playbook " code { (p.playbook) " " (p.playbook_version) } ", action " code { (p.action) } ", risk " (p.risk.as_str()) @if !p.reversible { ", " strong { "not reversible" } } }
            @if changes.is_empty() {
                p { "No property changes (the action is its own change)." }
            } @else {
                pre #diff.diff {
                    @for (path, before, after) in &changes {
                        @if let Some(b) = before { span.del { "- " (path) " = " (b) } "\n" }
                        @if let Some(x) = after { span.add { "+ " (path) " = " (x) } "\n" }
                    }
                }
            }
            h2 { "Why: controls and requirements" }
            ul #findings {
                @for f in &a.findings {
                    li {
                        strong { (f.control_id) } " — " (f.title) " (" (f.severity) "): " (f.message)
                        @if !f.frameworks.is_empty() {
                            ul { @for (fw, reqs) in &f.frameworks { li { (fw) ": " (reqs.join(", ")) } } }
                        }
                    }
                }
            }
            h2 { "Gate and reasoning" }
            p { "Verdict " strong { (d.verdict.as_str()) } " (gate: " (d.gate_verdict.as_str()) ", autonomy level " (d.autonomy) ", policy " code { (d.policy_digest) } ")" }
            table #reasons {
                thead { tr { th { "Stage" } th { "Rule" } th { "Verdict" } th { "Why" } } }
                tbody { @for r in &d.reasons { tr { td { (format!("{:?}", r.stage).to_lowercase()) } td { code { (r.rule) } } td { (r.verdict.as_str()) } td { (r.message) } } } }
            }
            @match model {
                Some(m) => {
                    div.model #rationale {
                        p.label { "Model output (" (m) ") — it may only add caution; custos does not trust it to allow anything" }
                        blockquote { (d.reasoner.rationale) }
                    }
                }
                None => { p #rationale { "Reasoning (offline rules, no model): " (d.reasoner.rationale) } }
            }
            h2 { "Blast radius" }
            p #blast {
                "One resource in account " (p.resource.account) ", " (p.resource.region) "; action kinds: "
                (p.action_kinds.iter().map(|k| format!("{k:?}").to_lowercase()).collect::<Vec<_>>().join(", "))
                @if !p.related.is_empty() { "; related: " (p.related.join(", ")) }
                "."
            }
            h2 { "Rollback plan" }
            @if p.rollback.is_empty() { p { "None: this change cannot be rolled back by custos." } }
            ol #rollback {
                @for s in &p.rollback {
                    li { (s.description) " (" code { (s.action) } ")" @if !s.exact { " — " em { "restores approximately, not exactly" } } }
                }
            }
            @if let Some(g) = &p.guided {
                @let code_first = d.reasons.iter().any(|r| r.rule == "gate.managed_by_iac");
                section.guidance #guided {
                    h2 { "Guided fix" }
                    p { (g.text) " Applied by hand it is outside this request: its reviewers, the guard's checks and custos's record do not cover it. Where the resource is managed as code, change the code." }
                    @if code_first && !g.terraform.is_empty() {
                        h3 { "Terraform (the resource is managed as code: change it there)" }
                        pre.terraform { code { (g.terraform) } }
                    }
                    h3 { "AWS CLI" }
                    pre.cli { @for c in &g.cli { code { (custos_core::one_line(c)) } "\n" } }
                    @if !code_first && !g.terraform.is_empty() {
                        h3 { "Terraform" }
                        pre.terraform { code { (g.terraform) } }
                    }
                }
            }
            h2 { "State" }
            div.states {
                div { h3 { "Before (recorded with the request)" } pre { (pretty(&p.before)) } }
                div {
                    h3 { "Now (read from the account)" }
                    @match &v.current {
                        Ok(Some(ci)) => { pre #current { (pretty(&ci.configuration)) } }
                        Ok(None) => { p { "The resource no longer exists." } }
                        Err(e) => { p.error { "Could not read it: " (e) } }
                    }
                }
            }
            @if !a.reviews.is_empty() {
                h2 { "Reviews" }
                ul { @for r in &a.reviews { li { (r.by) " at " (r.at.to_rfc3339()) @if let Some(c) = &r.comment { ": " (c) } } } }
            }
            @if a.status == custos_core::ApprovalStatus::Pending {
                div.actions {
                    form #approve-form method="post" action={ "/ui/approvals/" (a.id) "/approve" } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        input type="hidden" name="plan_digest" value=(a.plan_digest());
                        label for="approve-comment" { "Comment" }
                        input #approve-comment type="text" name="comment";
                        button #approve type="submit" { "Approve and execute" }
                    }
                    form #deny-form method="post" action={ "/ui/approvals/" (a.id) "/deny" } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        label for="deny-comment" { "Reason (required)" }
                        input #deny-comment type="text" name="comment" required;
                        button #deny type="submit" { "Deny" }
                    }
                }
            }
        },
    )
}

pub fn message(title: &str, who: Option<&Principal>, csrf: Option<&str>, text: &str) -> Markup {
    layout(
        title,
        who,
        csrf,
        html! { h1 { (title) } p.error { (text) } p { a href="/ui" { "Back to the queue" } } },
    )
}

pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#1d2330;color:#fff}
header a.brand{color:#fff;font-weight:700;text-decoration:none;font-size:1.2rem}
header nav a{color:#fff;opacity:.8;text-decoration:none}header form.logout{margin-left:auto;display:flex;gap:.6rem;align-items:center}
main{max-width:70rem;margin:1.2rem auto;padding:0 1.2rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid #d8dce3;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef0f4}dl.facts{display:grid;grid-template-columns:14rem 1fr;gap:.25rem 1rem;background:#fff;padding:.8rem;border:1px solid #d8dce3}
dt{font-weight:600}pre{background:#fff;border:1px solid #d8dce3;padding:.6rem;overflow:auto;max-height:24rem}
pre.diff .del{color:#a31515}pre.diff .add{color:#116329}
.model{border-left:4px solid #b7791f;background:#fffbea;padding:.2rem .8rem}.model .label{font-weight:600;color:#7b5410}
.states{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.actions{display:flex;gap:2rem;margin:1.5rem 0}.actions form{display:flex;flex-direction:column;gap:.4rem;background:#fff;padding:.8rem;border:1px solid #d8dce3;min-width:20rem}
button{padding:.45rem .9rem;font-size:1rem;cursor:pointer}#approve{background:#116329;color:#fff;border:0}#deny{background:#a31515;color:#fff;border:0}
.error{color:#a31515;font-weight:600}.ok{color:#116329;font-weight:600}.badge.prod{background:#a31515;color:#fff;border-radius:3px;padding:0 .3rem;font-size:.8rem}
section.guidance{background:#fff;border:1px solid #d8dce3;border-left:4px solid #b7791f;padding:.2rem .9rem;margin:1rem 0}.badge.alert{background:#b7791f;color:#fff;border-radius:3px;padding:0 .3rem;font-size:.8rem}
textarea{width:100%;font-family:monospace}form#login{display:flex;flex-direction:column;gap:.5rem;max-width:36rem}.hint{opacity:.75}";
