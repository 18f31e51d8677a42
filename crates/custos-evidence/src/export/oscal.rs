//! OSCAL 1.0.4 assessment results: one result for the period, with an observation per
//! evaluation (streamed), a finding per requirement, a risk per open resource and
//! control, and the assessment log (streamed) from the other events.
//!
//! UUIDs are version 5, derived from what they name (an event id, a resource, a
//! requirement), so that exporting the same period again names the same things alike.

use super::collect::{Assessment, RequirementStatus, Standing, Subject};
use super::{Pages, Request, io};
use crate::Result;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use custos_ledger::{Event, Ledger};
use serde_json::{Value, json};
use std::io::Write;
use uuid::Uuid;

pub const OSCAL_VERSION: &str = "1.0.4";
/// The namespace of custos' own properties.
pub const NS: &str = "urn:custos:oscal";
const UUID_NS: Uuid = Uuid::from_u128(0x6f0c_2a6e_54c1_4f3b_9d2e_7b1a_c0de_5a17);

pub(crate) fn uuid(kind: &str, key: &str) -> String {
    Uuid::new_v5(&UUID_NS, format!("{kind}\n{key}").as_bytes()).to_string()
}

pub(crate) fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A property; OSCAL wants one line without surrounding space, and never empty.
fn prop(name: &str, value: impl ToString) -> Value {
    let value = value
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let value = if value.is_empty() {
        "none".to_string()
    } else {
        value
    };
    json!({"name": name, "ns": NS, "value": value})
}

/// Subjects named in a finding's description; the rest are counted (all are linked as
/// related observations).
const DESCRIBED: usize = 20;

/// Writes `open, a, b, ..., close` only once there is a first element (OSCAL arrays
/// must not be empty).
pub(crate) struct Array<'a> {
    open_with: &'a str,
    close_with: &'a str,
    open: bool,
}

impl<'a> Array<'a> {
    pub(crate) fn new(open_with: &'a str, close_with: &'a str) -> Self {
        Array {
            open_with,
            close_with,
            open: false,
        }
    }
    pub(crate) fn push(&mut self, w: &mut impl Write, v: &Value) -> Result<()> {
        if self.open {
            w.write_all(b",").map_err(io)?;
        } else {
            w.write_all(self.open_with.as_bytes()).map_err(io)?;
            self.open = true;
        }
        serde_json::to_writer(&mut *w, v).map_err(|e| io(e.into()))
    }
    pub(crate) fn close(self, w: &mut impl Write) -> Result<()> {
        if self.open {
            w.write_all(self.close_with.as_bytes()).map_err(io)?;
        }
        Ok(())
    }
}

/// A JSON object's text without its closing brace, to stream more members after it.
pub(crate) fn open_object(v: &Value) -> Result<String> {
    let text = serde_json::to_string(v).map_err(|e| io(e.into()))?;
    Ok(text.strip_suffix('}').unwrap_or(&text).to_string())
}

fn inventory_item(resource: &str) -> Value {
    let [account, region, rtype, id] = super::collect::key_parts(resource);
    json!({
        "uuid": uuid("resource", resource),
        "description": format!("{rtype} `{id}` in account {account}, {region}"),
        "props": [prop("resource", resource), prop("resource-type", rtype),
                  prop("account", account), prop("region", region)],
    })
}

fn observation(a: &Assessment, e: &Event) -> Option<Value> {
    let controls = &a.controls;
    let listed: Vec<String> = e.payload["controls"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .filter(|c| controls.get(*c).is_some_and(|i| !i.requirements.is_empty()))
        .map(str::to_string)
        .collect();
    if listed.is_empty() {
        return None;
    }
    let failing: Vec<&str> = e.payload["failing"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let resource = e.resource.as_deref()?;
    let deleted = e.payload["deleted"].as_bool() == Some(true);
    let results: Vec<String> = listed
        .iter()
        .map(|c| {
            let verdict = if failing.contains(&c.as_str()) {
                "fails"
            } else {
                "passes"
            };
            let reqs = controls
                .get(c)
                .map(|i| i.requirements.join(", "))
                .unwrap_or_default();
            format!("{c} {verdict} (requirements {reqs})")
        })
        .collect();
    let mut evidence = vec![json!({
        "href": format!("#{}", uuid("ledger", "events")),
        "description": format!("ledger event {} (`resource.evaluated`), leaf {}, hash {}", e.id, e.index, e.hash),
        "props": [prop("event-id", &e.id), prop("leaf-index", e.index), prop("event-hash", &e.hash)],
    })];
    for action in a.fixes_after.get(&e.id).into_iter().flatten() {
        evidence.push(json!({
            "href": format!("bundles/{action}.json"),
            "description": format!("evidence bundle of the fix {action}, verified by reading the resource back (`custos evidence show {action} --out bundles/{action}.json`; check it with `custos evidence verify`; a later rollback is in the assessment log)"),
            "props": [prop("action-id", action)],
        }));
    }
    let mut props = vec![prop("event-id", &e.id), prop("leaf-index", e.index)];
    if let Some(t) = e.payload["capture_time"]
        .as_str()
        .filter(|t| !t.trim().is_empty())
    {
        props.push(prop("configuration-item-capture-time", t));
    }
    if let Some(d) = e.payload["state_digest"]
        .as_str()
        .filter(|t| !t.trim().is_empty())
    {
        props.push(prop("state-digest", d));
    }
    Some(json!({
        "uuid": uuid("observation", &e.id),
        "title": format!("evaluation of {resource}"),
        "description": if deleted {
            format!("the configuration item of `{resource}` says it was deleted: it no longer counts for {}", listed.join(", "))
        } else {
            format!("custos evaluated the configuration item of `{resource}`: {}", results.join("; "))
        },
        "props": props,
        "methods": ["TEST"],
        "types": [if failing.is_empty() { "control-objective" } else { "finding" }],
        "subjects": [{"subject-uuid": uuid("resource", resource), "type": "inventory-item", "title": resource}],
        "relevant-evidence": evidence,
        "collected": time(&e.at),
    }))
}

fn standing_text(s: &Subject) -> String {
    match s.standing() {
        Standing::Pass => format!(
            "{} passes {} (evaluated {})",
            s.resource,
            s.control,
            time(&s.last.at)
        ),
        Standing::Remediated => {
            let fix = s
                .fix
                .as_ref()
                .map(|f| format!("{} at {} ({})", f.action_id, time(&f.at), f.verification))
                .unwrap_or_default();
            format!("{} failed {} and was fixed by {fix}", s.resource, s.control)
        }
        Standing::Open => format!(
            "{} fails {} (latest evaluation {})",
            s.resource,
            s.control,
            time(&s.last.at)
        ),
        Standing::Error => format!(
            "{} could not be evaluated for {}: {}",
            s.resource,
            s.control,
            s.error.as_deref().unwrap_or("error")
        ),
    }
}

fn risk(a: &Assessment, s: &Subject) -> Value {
    let info = a.controls.get(&s.control);
    let title = info.map(|i| i.title.as_str()).unwrap_or(s.control.as_str());
    let severity = info.map(|i| i.severity.as_str()).unwrap_or("unknown");
    let mut props = vec![
        prop("control", &s.control),
        prop("severity", severity),
        prop("resource", &s.resource),
    ];
    if let Some(r) = &s.reverted {
        props.push(prop("reverted-fix", r));
    }
    let statement = match (s.standing(), s.failing_since) {
        (Standing::Error, _) => format!(
            "custos could not evaluate `{}` for `{}`: {}; whether it complies is unknown",
            s.resource,
            s.control,
            s.error.as_deref().unwrap_or("error")
        ),
        (_, Some(since)) => format!(
            "`{}` has failed `{}` ({title}, {severity}) since {} and no verified fix followed",
            s.resource,
            s.control,
            time(&since)
        ),
        _ => format!(
            "`{}` fails `{}` ({title}, {severity})",
            s.resource, s.control
        ),
    };
    let mut risk = json!({
        "uuid": uuid("risk", &format!("{}\n{}", s.resource, s.control)),
        "title": format!("{} fails {}", s.resource, s.control),
        "description": format!("{title}: open at the end of the period"),
        "statement": statement,
        "props": props,
        "status": "open",
    });
    if let Some(g) = s
        .guidance
        .as_ref()
        .filter(|_| s.standing() == Standing::Open)
    {
        // Alert-only: custos never changes it; this is what a person applies.
        risk["remediations"] = json!([{
            "uuid": uuid("remediation", &format!("{}\n{}", s.resource, s.control)),
            "lifecycle": "recommendation",
            "title": format!("Apply by hand: {} is alert-only, custos never changes {}", s.control, custos_core::one_line(&s.resource)),
            "description": g.text,
            "props": [prop("remediation-class", "alert")],
            "remarks": format!(
                "AWS CLI:\n\n{}\n\nTerraform:\n\n{}",
                g.cli.iter().map(|c| format!("    {}", custos_core::one_line(c))).collect::<Vec<_>>().join("\n"),
                g.terraform.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
            ),
        }]);
    }
    if s.last.observed() {
        risk["related-observations"] =
            json!([{"observation-uuid": uuid("observation", &s.last.id)}]);
    }
    risk
}

fn finding(a: &Assessment, req: &Request, requirement: &str, subjects: &[&Subject]) -> Value {
    let status = a.status(requirement, subjects);
    let resources: std::collections::BTreeSet<&str> =
        subjects.iter().map(|s| s.resource.as_str()).collect();
    let controls: Vec<&str> = a
        .requirements
        .get(requirement)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let (state, reason, remarks) = match status {
        RequirementStatus::Satisfied => (
            "satisfied",
            "pass",
            format!(
                "every one of the {} resources the custos controls {} apply to passed its latest evaluation or was fixed and verified after it; this covers what those controls check, not the whole requirement",
                resources.len(),
                controls.join(", ")
            ),
        ),
        RequirementStatus::NotSatisfied => (
            "not-satisfied",
            "fail",
            format!(
                "{} of {} (resource, control) pairs are open or could not be evaluated on {}",
                subjects
                    .iter()
                    .filter(|s| matches!(s.standing(), Standing::Open | Standing::Error))
                    .count(),
                subjects.len(),
                controls.join(", ")
            ),
        ),
        RequirementStatus::NotAssessed => (
            "not-satisfied",
            "not-assessed",
            format!(
                "no resource the custos controls {} apply to was evaluated in the period: not assessed, so not satisfied",
                controls.join(", ")
            ),
        ),
        RequirementStatus::PartiallyAssessed => (
            "not-satisfied",
            "partially-assessed",
            format!(
                "what was evaluated passed, but nothing was evaluated for {}: not satisfied",
                a.unassessed(requirement, subjects).join(", ")
            ),
        ),
    };
    let mut f = json!({
        "uuid": uuid("finding", &format!("{}\n{requirement}", req.framework.key())),
        "title": format!("{} {requirement}", req.framework.title()),
        "description": if subjects.is_empty() { remarks.clone() } else {
            let mut lines: Vec<String> = subjects.iter().take(DESCRIBED).map(|s| standing_text(s)).collect();
            if subjects.len() > DESCRIBED {
                lines.push(format!("... and {} more (each linked as a related observation)", subjects.len() - DESCRIBED));
            }
            lines.join("\n")
        },
        "props": [prop("label", requirement), prop("assessment", status.as_str()),
                  prop("controls", controls.join(" ")), prop("resources", resources.len())],
        "target": {
            "type": "objective-id",
            "target-id": req.framework.oscal_id(requirement),
            "status": {"state": state, "reason": reason, "remarks": remarks},
        },
    });
    let observed: std::collections::BTreeSet<&str> = subjects
        .iter()
        .filter(|s| s.last.observed())
        .map(|s| s.last.id.as_str())
        .collect();
    let observations: Vec<Value> = observed
        .into_iter()
        .map(|id| json!({"observation-uuid": uuid("observation", id)}))
        .collect();
    if !observations.is_empty() {
        f["related-observations"] = Value::Array(observations);
    }
    let risks: Vec<Value> = subjects
        .iter()
        .filter(|s| matches!(s.standing(), Standing::Open | Standing::Error))
        .map(|s| json!({"risk-uuid": uuid("risk", &format!("{}\n{}", s.resource, s.control))}))
        .collect();
    if !risks.is_empty() {
        f["related-risks"] = Value::Array(risks);
    }
    f
}

fn log_entry(e: &Event) -> Value {
    let mut description = match &e.resource {
        Some(r) => format!("`{}` on {r}", e.kind),
        None => format!("`{}`", e.kind),
    };
    for key in ["action_id", "approval_id", "verdict", "by", "reason"] {
        if let Some(v) = e.payload.get(key).filter(|v| !v.is_null()) {
            description.push_str(&format!("; {key} {v}"));
        }
    }
    if let Some(v) = e.payload.pointer("/decision/verdict") {
        description.push_str(&format!("; verdict {v}"));
    }
    let mut props = vec![
        prop("event-id", &e.id),
        prop("leaf-index", e.index),
        prop("event-hash", &e.hash),
    ];
    if let Some(run) = &e.run_id {
        props.push(prop("run-id", run));
    }
    json!({
        "uuid": uuid("log", &e.id),
        "title": e.kind,
        "description": description,
        "start": time(&e.at),
        "props": props,
    })
}

/// Events kept as observations (or internal to them), not log entries.
fn observed(kind: &str) -> bool {
    matches!(
        kind,
        "resource.evaluated" | "finding" | "observation.recorded"
    )
}

/// Where the first pass ended (nothing to read when the period had no event).
pub(crate) fn upto(a: &Assessment) -> Option<i64> {
    Some(a.last_index.unwrap_or(-1))
}

pub(crate) async fn each_event(
    ledger: &Ledger,
    req: &Request,
    a_last: Option<i64>,
    mut f: impl FnMut(&Event) -> Result<()>,
) -> Result<()> {
    let mut pages = Pages::new(ledger, req, a_last);
    while let Some(page) = pages.next().await? {
        page.iter().try_for_each(&mut f)?;
    }
    Ok(())
}

fn back_matter(a: &Assessment) -> Value {
    let mut resources = vec![];
    let mut ledger_props = vec![prop("events-in-period", a.events)];
    if let Some(i) = a.last_index {
        ledger_props.push(prop("last-leaf-index", i));
    }
    let mut ledger = json!({
        "uuid": uuid("ledger", "events"),
        "title": "custos ledger",
        "description": "The hash-chained, Merkle-tree ledger every observation and log entry names by event id, leaf index and hash. `custos audit verify` checks it; `custos evidence show ACTION_ID` gives any action's events with inclusion proofs.",
        "props": ledger_props,
    });
    if let Some((c, verified)) = &a.checkpoint {
        ledger["description"] = json!(format!(
            "{} The signed checkpoint attached (C2SP tlog-checkpoint, {} events, {}) was {} when exported.",
            ledger["description"].as_str().unwrap_or_default(),
            c.size,
            time(&c.at),
            if *verified {
                "verified with the configured public key"
            } else {
                "not verified (no public key configured)"
            },
        ));
        if let Some(p) = ledger["props"].as_array_mut() {
            p.push(prop("checkpoint-size", c.size));
            p.push(prop("checkpoint-root", &c.root));
            p.push(prop("covers-period", a.anchored()));
        }
        ledger["base64"] = json!({
            "filename": format!("checkpoint-{:010}", c.id),
            "media-type": "text/plain",
            "value": base64::engine::general_purpose::STANDARD.encode(c.note.as_bytes()),
        });
    }
    resources.push(ledger);
    let mut digests = a.policies.clone();
    digests.insert(a.current_policy.clone());
    for d in digests {
        let now = d == a.current_policy;
        resources.push(json!({
            "uuid": uuid("policy", &d),
            "title": format!("custos policy bundle {d}"),
            "description": if now {
                "The policy in force when the export was made: its controls and their framework mappings are the assessment plan. Runs keep the policy they decided with (`custos replay`)."
            } else {
                "A policy a run of the period decided with (kept in the ledger; `custos replay` re-evaluates with it)."
            },
            "props": [prop("policy-digest", &d), prop("in-force-at-export", now)],
        }));
    }
    json!({"resources": resources})
}

pub(super) async fn write<W: Write>(
    ledger: &Ledger,
    req: &Request,
    a: &Assessment,
    w: &mut W,
) -> Result<()> {
    let period = format!(
        "{} to {}",
        req.since
            .as_ref()
            .map(time)
            .unwrap_or_else(|| "the first event".into()),
        time(&req.until)
    );
    let doc_key = format!(
        "{}\n{:?}\n{}",
        req.framework.key(),
        req.since,
        time(&req.until)
    );
    let head = json!({
        "uuid": uuid("assessment-results", &doc_key),
        "metadata": {
            "title": format!("custos assessment results: {}, {period}", req.framework.title()),
            "last-modified": time(&req.generated),
            "version": req.tool_version,
            "oscal-version": OSCAL_VERSION,
            "props": [prop("framework", req.framework.key()), prop("generated-by", format!("custos {}", req.tool_version))],
        },
        "import-ap": {
            "href": format!("#{}", uuid("policy", &a.current_policy)),
            "remarks": "custos has no separate assessment plan: the plan is its policy bundle (controls, their framework mappings, the gate), named in the back matter by digest.",
        },
    });
    w.write_all(b"{\"assessment-results\":").map_err(io)?;
    w.write_all(open_object(&head)?.as_bytes()).map_err(io)?;
    let by_req = a.by_requirement();
    let resources = a.resources();
    let mut result = json!({
        "uuid": uuid("result", &doc_key),
        "title": format!("{}: {period}", req.framework.title()),
        "description": format!(
            "What the custos ledger records about the {} requirements its controls map to: {} events, {} evaluations of {} resources. A requirement is satisfied only when resources were evaluated and every one passed or was fixed with a verified change; one nothing was evaluated for is not satisfied (not assessed).",
            req.framework.title(), a.events, a.evaluations, resources.len()),
        "start": time(req.since.as_ref().or(a.first_at.as_ref()).unwrap_or(&req.until)),
        "end": time(&req.until),
        "reviewed-controls": {
            "control-selections": [{
                "description": format!("The {} requirements mapped from custos' controls", req.framework.title()),
                "include-controls": by_req.keys().map(|r| json!({"control-id": req.framework.oscal_id(r)})).collect::<Vec<_>>(),
            }],
        },
    });
    if by_req.is_empty() {
        result["reviewed-controls"]["control-selections"] =
            json!([{"description": "no custos control maps to this framework", "include-all": {}}]);
    }
    if !resources.is_empty() {
        result["local-definitions"] = json!({"inventory-items": resources.iter().map(|r| inventory_item(r)).collect::<Vec<_>>()});
    }
    // The result's fixed members, then the streamed ones.
    w.write_all(b",\"results\":[").map_err(io)?;
    w.write_all(open_object(&result)?.as_bytes()).map_err(io)?;
    let mut observations = Array::new(",\"observations\":[", "]");
    each_event(ledger, req, upto(a), |e| {
        if e.kind == "resource.evaluated"
            && let Some(o) = observation(a, e)
        {
            observations.push(w, &o)?;
        }
        Ok(())
    })
    .await?;
    observations.close(w)?;
    let mut risks = Array::new(",\"risks\":[", "]");
    for s in a.open() {
        risks.push(w, &risk(a, s))?;
    }
    risks.close(w)?;
    let mut findings = Array::new(",\"findings\":[", "]");
    for (requirement, subjects) in &by_req {
        findings.push(w, &finding(a, req, requirement, subjects))?;
    }
    findings.close(w)?;
    // The assessment log: an object whose `entries` must not be empty.
    let mut entries = Array::new(",\"assessment-log\":{\"entries\":[", "]}");
    each_event(ledger, req, upto(a), |e| {
        if observed(&e.kind) {
            return Ok(());
        }
        entries.push(w, &log_entry(e))
    })
    .await?;
    entries.close(w)?;
    w.write_all(b"}],\"back-matter\":").map_err(io)?;
    serde_json::to_writer(&mut *w, &back_matter(a)).map_err(|e| io(e.into()))?;
    w.write_all(b"}}\n").map_err(io)?;
    Ok(())
}
