//! The first pass of an export: where every resource stands on every control mapped to
//! the framework at the end of the period, from the period's events alone (evaluations,
//! detection errors, verified fixes, reverts).

use super::{Baseline, Framework, Pages, Request};
use crate::{EvidenceError, Result};
use chrono::{DateTime, Utc};
use custos_ledger::merkle::CheckpointRow;
use custos_ledger::{Evaluated, Event, Ledger};
use custos_policy::{ControlMeta, PolicyBundle, PolicySnapshot};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// A control as the framework sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlInfo {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub resource_types: Vec<String>,
    /// The framework's requirements it maps to (empty: none).
    pub requirements: Vec<String>,
}

impl ControlInfo {
    fn of(meta: &ControlMeta, framework: Framework) -> ControlInfo {
        ControlInfo {
            id: meta.id.clone(),
            title: meta.title.clone(),
            severity: meta.severity.to_string(),
            resource_types: meta.resource_types.clone(),
            requirements: meta
                .frameworks
                .get(framework.key())
                .cloned()
                .unwrap_or_default(),
        }
    }
}

type Controls = Arc<BTreeMap<String, ControlInfo>>;

/// Where a resource stands on a control at the end of the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// Its latest evaluation passed.
    Pass,
    /// Its latest evaluation failed; a fix was made after it and verified by reading
    /// the resource back.
    Remediated,
    /// Its latest evaluation failed and nothing verified fixed it since.
    Open,
    /// The policy could not evaluate it.
    Error,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Pass => "pass",
            Standing::Remediated => "remediated",
            Standing::Open => "open",
            Standing::Error => "error",
        }
    }
}

/// An event an export points at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRef {
    pub id: String,
    pub index: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    pub kind: String,
}

impl EventRef {
    fn of(e: &Event) -> EventRef {
        EventRef {
            id: e.id.clone(),
            index: e.index,
            hash: e.hash.clone(),
            at: e.at,
            kind: e.kind.clone(),
        }
    }

    /// Whether the export has an observation for it (evaluations only).
    pub fn observed(&self) -> bool {
        self.kind == "resource.evaluated"
    }
}

/// A verified fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fix {
    pub action_id: String,
    pub at: DateTime<Utc>,
    pub verification: String,
}

/// One resource on one control.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subject {
    pub resource: String,
    pub control: String,
    /// The event that set its standing last: an evaluation, a detection error, a
    /// rollback or an input that could not be processed.
    pub last: EventRef,
    pub failing: bool,
    /// When the failing streak that is still open was first seen in the period (it may
    /// have started before).
    pub failing_since: Option<DateTime<Utc>>,
    pub fix: Option<Fix>,
    /// A fix that was rolled back (the resource is as it was before the fix).
    pub reverted: Option<String>,
    pub error: Option<String>,
    /// For an alert-only control failing at its latest evaluation: what a person does,
    /// as recorded with the finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance: Option<custos_core::Guidance>,
}

impl Subject {
    pub fn standing(&self) -> Standing {
        match (&self.error, self.failing, &self.fix) {
            (Some(_), _, _) => Standing::Error,
            (None, false, _) => Standing::Pass,
            (None, true, Some(_)) => Standing::Remediated,
            (None, true, None) => Standing::Open,
        }
    }
}

/// How a requirement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequirementStatus {
    Satisfied,
    NotSatisfied,
    /// Nothing a mapped control applies to was evaluated: not satisfied.
    NotAssessed,
    /// Some mapped controls were evaluated and passed, others were not evaluated at all:
    /// not satisfied either.
    PartiallyAssessed,
}

impl RequirementStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequirementStatus::Satisfied => "satisfied",
            RequirementStatus::NotSatisfied => "not-satisfied",
            RequirementStatus::NotAssessed => "not-assessed",
            RequirementStatus::PartiallyAssessed => "partially-assessed",
        }
    }
}

/// The standing at the end of the period.
#[derive(Debug)]
pub struct Assessment {
    pub framework: Framework,
    /// Every control of the period and of the policy in force, mapped as the policy in
    /// force maps it (controls it no longer has: as their run mapped them). Only those
    /// mapped to a requirement of the framework count.
    pub controls: BTreeMap<String, ControlInfo>,
    /// Requirement -> controls mapped to it.
    pub requirements: BTreeMap<String, BTreeSet<String>>,
    pub subjects: BTreeMap<(String, String), Subject>,
    /// Evaluation event id -> the verified fixes made after it.
    pub fixes_after: HashMap<String, Vec<String>>,
    /// Policy bundle digests the period's runs decided with, and the one in force now.
    pub policies: BTreeSet<String>,
    pub current_policy: String,
    pub events: u64,
    pub evaluations: u64,
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    pub last_index: Option<i64>,
    /// The signed checkpoint named by the export, and whether its signature was checked.
    pub checkpoint: Option<(CheckpointRow, bool)>,
    /// Each run's controls (from the policy it decided with).
    run_controls: HashMap<String, Controls>,
    by_digest: HashMap<String, Controls>,
}

#[derive(Deserialize)]
struct Executed {
    action_id: String,
    kind: Option<String>,
    verification: Option<custos_core::Verification>,
}

#[derive(Deserialize)]
struct Reverted {
    action_id: String,
}

fn bad(e: &Event, what: impl std::fmt::Display) -> EvidenceError {
    EvidenceError::Export(format!(
        "event {} (`{}`, leaf {}): {what}",
        e.id, e.kind, e.index
    ))
}

/// A resource key's parts (`account/region/type/id`; missing ones empty).
pub(crate) fn key_parts(key: &str) -> [&str; 4] {
    let mut parts = key.splitn(4, '/');
    std::array::from_fn(|_| parts.next().unwrap_or_default())
}

/// The resource type within a resource key.
pub(crate) fn resource_type(key: &str) -> Option<&str> {
    Some(key_parts(key)[2]).filter(|t| !t.is_empty())
}

impl Assessment {
    /// The controls of the run an event belongs to.
    async fn controls_of(&mut self, ledger: &Ledger, e: &Event) -> Result<Controls> {
        let run = e.run_id.as_deref().ok_or_else(|| bad(e, "names no run"))?;
        if let Some(c) = self.run_controls.get(run) {
            return Ok(c.clone());
        }
        let (digest, body) = ledger.run_policy(run).await?.ok_or_else(|| {
            bad(e, format!("run `{run}`'s policy is not kept in the ledger: its evaluations cannot be mapped to requirements"))
        })?;
        let controls = match self.by_digest.get(&digest) {
            Some(c) => c.clone(),
            None => {
                let snapshot: PolicySnapshot = serde_json::from_value(body)
                    .map_err(|err| bad(e, format!("policy `{digest}` is unreadable: {err}")))?;
                let bundle = PolicyBundle::from_snapshot(&snapshot, Duration::from_secs(5))
                    .map_err(|err| bad(e, format!("policy `{digest}` does not compile: {err}")))?;
                let c: Controls = Arc::new(
                    bundle
                        .controls()
                        .iter()
                        .map(|m| (m.id.clone(), ControlInfo::of(m, self.framework)))
                        .collect(),
                );
                self.by_digest.insert(digest.clone(), c.clone());
                c
            }
        };
        self.policies.insert(digest);
        self.run_controls.insert(run.to_string(), controls.clone());
        Ok(controls)
    }

    fn evaluated(&mut self, e: &Event, resource: &str, controls: &Controls) -> Result<()> {
        let ev: Evaluated = serde_json::from_value(e.payload.clone()).map_err(|err| bad(e, err))?;
        self.evaluations += 1;
        if ev.deleted {
            // A deleted resource neither passes nor fails: it is no longer there.
            self.gone(resource);
            return Ok(());
        }
        for c in &ev.controls {
            let info = controls
                .get(c)
                .ok_or_else(|| bad(e, format!("control `{c}` is not in its run's policy")))?;
            self.controls
                .entry(c.clone())
                .or_insert_with(|| info.clone());
            let failing = ev.failing.contains(c);
            let key = (resource.to_string(), c.clone());
            let since = match self.subjects.get(&key) {
                Some(s) if failing && s.failing && s.fix.is_none() && s.error.is_none() => {
                    s.failing_since
                }
                _ if failing => Some(e.at),
                _ => None,
            };
            self.subjects.insert(
                key,
                Subject {
                    resource: resource.to_string(),
                    control: c.clone(),
                    last: EventRef::of(e),
                    failing,
                    failing_since: since,
                    fix: None,
                    reverted: None,
                    error: None,
                    guidance: None,
                },
            );
        }
        Ok(())
    }

    /// A finding recorded after its evaluation: keep an alert-only control's guidance.
    fn finding(&mut self, e: &Event, resource: &str) -> Result<()> {
        let Some(g) = e.payload.get("guidance").filter(|g| !g.is_null()) else {
            return Ok(());
        };
        let control = e.payload["control_id"]
            .as_str()
            .ok_or_else(|| bad(e, "records no control_id"))?;
        let g: custos_core::Guidance =
            serde_json::from_value(g.clone()).map_err(|err| bad(e, err))?;
        if let Some(s) = self
            .subjects
            .get_mut(&(resource.to_string(), control.to_string()))
            && s.failing
        {
            s.guidance = Some(g);
        }
        Ok(())
    }

    /// The resource is gone: it has no standing any more.
    fn gone(&mut self, resource: &str) {
        self.subjects.retain(|(r, _), _| r != resource);
    }

    /// The policy could not evaluate the resource (or its input could not be processed):
    /// every control that applies to its type stands in error until it is evaluated.
    fn cannot_evaluate(
        &mut self,
        e: &Event,
        resource: &str,
        error: String,
        controls: &Controls,
    ) -> Result<()> {
        let rtype = resource_type(resource)
            .ok_or_else(|| bad(e, format!("resource `{resource}` names no resource type")))?;
        for info in controls.values() {
            if !info.resource_types.iter().any(|t| t == rtype) {
                continue;
            }
            self.controls
                .entry(info.id.clone())
                .or_insert_with(|| info.clone());
            let key = (resource.to_string(), info.id.clone());
            let failing = self.subjects.get(&key).is_some_and(|s| s.failing);
            self.subjects.insert(
                key,
                Subject {
                    resource: resource.to_string(),
                    control: info.id.clone(),
                    last: EventRef::of(e),
                    failing,
                    failing_since: None,
                    fix: None,
                    reverted: None,
                    error: Some(error.clone()),
                    guidance: None,
                },
            );
        }
        Ok(())
    }

    async fn executed(&mut self, ledger: &Ledger, e: &Event, resource: &str) -> Result<()> {
        let x: Executed = serde_json::from_value(e.payload.clone()).map_err(|err| bad(e, err))?;
        let Some(v) = x.verification.filter(|v| v.passed) else {
            return Ok(());
        };
        if x.kind.as_deref() == Some("rollback") {
            return Ok(());
        }
        let control = ledger.action(&x.action_id).await?.plan.control_id;
        if let Some(s) = self.subjects.get_mut(&(resource.to_string(), control))
            && s.failing
            && s.error.is_none()
        {
            s.fix = Some(Fix {
                action_id: x.action_id.clone(),
                at: e.at,
                verification: v.detail,
            });
            self.fixes_after
                .entry(s.last.id.clone())
                .or_default()
                .push(x.action_id);
        }
        Ok(())
    }

    /// A rollback restored the state from before a fix: whatever was evaluated since,
    /// the resource fails that control again.
    async fn reverted(&mut self, ledger: &Ledger, e: &Event, resource: &str) -> Result<()> {
        let r: Reverted = serde_json::from_value(e.payload.clone()).map_err(|err| bad(e, err))?;
        let control = ledger.action(&r.action_id).await?.plan.control_id;
        let key = (resource.to_string(), control.clone());
        let since = self
            .subjects
            .get(&key)
            .and_then(|s| s.failing_since.filter(|_| s.failing))
            .unwrap_or(e.at);
        self.subjects.insert(
            key,
            Subject {
                resource: resource.to_string(),
                control,
                last: EventRef::of(e),
                failing: true,
                failing_since: Some(since),
                fix: None,
                reverted: Some(r.action_id),
                error: None,
                guidance: None,
            },
        );
        Ok(())
    }

    async fn apply(&mut self, ledger: &Ledger, e: &Event) -> Result<()> {
        self.events += 1;
        self.first_at.get_or_insert(e.at);
        self.last_at = Some(e.at);
        self.last_index = Some(e.index);
        let Some(resource) = e.resource.as_deref() else {
            return Ok(());
        };
        match e.kind.as_str() {
            "resource.evaluated" => {
                let controls = self.controls_of(ledger, e).await?;
                self.evaluated(e, resource, &controls)
            }
            "detect.error" => {
                let controls = self.controls_of(ledger, e).await?;
                let error = e.payload["error"]
                    .as_str()
                    .ok_or_else(|| bad(e, "records no error"))?
                    .to_string();
                self.cannot_evaluate(e, resource, error, &controls)
            }
            "input.dead_letter" => {
                let controls = self.controls_of(ledger, e).await?;
                let error = format!(
                    "its input could not be processed: {}",
                    e.payload["error"].as_str().unwrap_or("no reason recorded")
                );
                self.cannot_evaluate(e, resource, error, &controls)
            }
            "input.resource_gone" => {
                self.gone(resource);
                Ok(())
            }
            "finding" => self.finding(e, resource),
            "action.executed" => self.executed(ledger, e, resource).await,
            "action.reverted" => self.reverted(ledger, e, resource).await,
            _ => Ok(()),
        }
    }

    /// Whether the named checkpoint is verified and covers every exported event.
    pub fn anchored(&self) -> bool {
        match (&self.checkpoint, self.last_index) {
            (Some((c, verified)), Some(last)) => {
                *verified && u64::try_from(last).is_ok_and(|l| l < c.size)
            }
            (Some((_, verified)), None) => *verified,
            (None, _) => false,
        }
    }

    /// Whether a (resource, control) counts: its control maps to a requirement.
    fn counts(&self, s: &Subject) -> bool {
        self.controls
            .get(&s.control)
            .is_some_and(|i| !i.requirements.is_empty())
    }

    /// Subjects by requirement.
    pub fn by_requirement(&self) -> BTreeMap<&str, Vec<&Subject>> {
        let mut out: BTreeMap<&str, Vec<&Subject>> = self
            .requirements
            .keys()
            .map(|r| (r.as_str(), vec![]))
            .collect();
        for s in self.subjects.values() {
            let Some(info) = self.controls.get(&s.control) else {
                continue;
            };
            for r in &info.requirements {
                if let Some(v) = out.get_mut(r.as_str()) {
                    v.push(s);
                }
            }
        }
        out
    }

    /// The mapped controls of a requirement nothing was evaluated for.
    pub fn unassessed<'a>(&'a self, requirement: &str, subjects: &[&Subject]) -> Vec<&'a str> {
        self.requirements
            .get(requirement)
            .into_iter()
            .flatten()
            .filter(|c| !subjects.iter().any(|s| &s.control == *c))
            .map(String::as_str)
            .collect()
    }

    /// A requirement's status: satisfied only when every mapped control was evaluated on
    /// something and every (resource, control) passed or was fixed.
    pub fn status(&self, requirement: &str, subjects: &[&Subject]) -> RequirementStatus {
        if subjects.is_empty() {
            return RequirementStatus::NotAssessed;
        }
        if subjects
            .iter()
            .any(|s| matches!(s.standing(), Standing::Open | Standing::Error))
        {
            return RequirementStatus::NotSatisfied;
        }
        if !self.unassessed(requirement, subjects).is_empty() {
            return RequirementStatus::PartiallyAssessed;
        }
        RequirementStatus::Satisfied
    }

    /// (satisfied, not satisfied, not or partially assessed).
    pub fn requirement_counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for (r, subjects) in self.by_requirement() {
            match self.status(r, &subjects) {
                RequirementStatus::Satisfied => n.0 += 1,
                RequirementStatus::NotSatisfied => n.1 += 1,
                RequirementStatus::NotAssessed | RequirementStatus::PartiallyAssessed => n.2 += 1,
            }
        }
        n
    }

    /// What remains open at the end of the period (failing or not evaluable), on
    /// controls mapped to the framework.
    pub fn open(&self) -> impl Iterator<Item = &Subject> {
        self.subjects
            .values()
            .filter(|s| self.counts(s) && matches!(s.standing(), Standing::Open | Standing::Error))
    }

    /// The period's resources (with a control mapped to the framework).
    pub fn resources(&self) -> BTreeSet<&str> {
        self.subjects
            .values()
            .filter(|s| self.counts(s))
            .map(|s| s.resource.as_str())
            .collect()
    }
}

impl Assessment {
    fn new(
        framework: Framework,
        current_policy: String,
        checkpoint: Option<(CheckpointRow, bool)>,
    ) -> Assessment {
        Assessment {
            framework,
            controls: BTreeMap::new(),
            requirements: BTreeMap::new(),
            subjects: BTreeMap::new(),
            fixes_after: HashMap::new(),
            policies: BTreeSet::new(),
            current_policy,
            events: 0,
            evaluations: 0,
            first_at: None,
            last_at: None,
            last_index: None,
            checkpoint,
            run_controls: HashMap::new(),
            by_digest: HashMap::new(),
        }
    }

    /// Requirement -> controls, from the controls' mappings.
    fn index_requirements(&mut self) {
        for info in self.controls.values() {
            for r in &info.requirements {
                self.requirements
                    .entry(r.clone())
                    .or_default()
                    .insert(info.id.clone());
            }
        }
    }

    /// An assessment holding `subjects` of `controls`, as if collected (for tests).
    #[cfg(test)]
    pub(crate) fn of(
        framework: Framework,
        controls: Vec<ControlInfo>,
        subjects: Vec<Subject>,
    ) -> Assessment {
        let mut a = Assessment::new(framework, "sha256:0".into(), None);
        a.controls = controls.into_iter().map(|c| (c.id.clone(), c)).collect();
        a.subjects = subjects
            .into_iter()
            .map(|s| ((s.resource.clone(), s.control.clone()), s))
            .collect();
        a.index_requirements();
        a
    }
}

/// The first pass over the period.
pub(super) async fn collect(
    ledger: &Ledger,
    req: &Request,
    baseline: &Baseline,
    checkpoint: Option<(CheckpointRow, bool)>,
) -> Result<Assessment> {
    let mut a = Assessment::new(req.framework, baseline.policy_digest.clone(), checkpoint);
    let mut pages = Pages::new(ledger, req, None);
    while let Some(page) = pages.next().await? {
        for e in &page {
            a.apply(ledger, e).await?;
        }
    }
    // The policy in force now maps the requirements (and brings the controls nothing
    // evaluated, so that their requirements are listed as not assessed).
    for m in &baseline.controls {
        a.controls
            .insert(m.id.clone(), ControlInfo::of(m, req.framework));
    }
    a.index_requirements();
    Ok(a)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn subject(failing: bool, fix: bool, error: bool) -> Subject {
        Subject {
            resource: "1/r/AWS::S3::Bucket/b".into(),
            control: "c".into(),
            last: EventRef {
                id: "e".into(),
                index: 0,
                hash: "h".into(),
                at: Utc::now(),
                kind: "resource.evaluated".into(),
            },
            failing,
            failing_since: None,
            fix: fix.then(|| Fix {
                action_id: "a".into(),
                at: Utc::now(),
                verification: "read back".into(),
            }),
            reverted: None,
            guidance: None,
            error: error.then(|| "boom".into()),
        }
    }

    fn control(id: &str, requirements: &[&str]) -> ControlInfo {
        ControlInfo {
            id: id.into(),
            title: id.into(),
            severity: "high".into(),
            resource_types: vec!["AWS::S3::Bucket".into()],
            requirements: requirements.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn on(control: &str, resource: &str, s: Subject) -> Subject {
        Subject {
            control: control.into(),
            resource: resource.into(),
            ..s
        }
    }

    #[test]
    fn a_requirement_is_satisfied_only_when_every_control_was_evaluated_and_passed_or_was_fixed() {
        let controls = || {
            vec![
                control("c1", &["R"]),
                control("c2", &["R"]),
                control("c3", &[]),
            ]
        };
        let status = |subjects: Vec<Subject>| {
            let a = Assessment::of(Framework::Nist80053, controls(), subjects);
            let by = a.by_requirement();
            a.status("R", &by["R"])
        };
        let pass = subject(false, false, false);
        let fixed = subject(true, true, false);
        let open = subject(true, false, false);
        let error = subject(false, false, true);
        assert_eq!(fixed.standing(), Standing::Remediated);
        assert_eq!(status(vec![]), RequirementStatus::NotAssessed);
        // Only an unmapped control evaluated: still nothing for R.
        assert_eq!(
            status(vec![on("c3", "b", open.clone())]),
            RequirementStatus::NotAssessed
        );
        assert_eq!(
            status(vec![
                on("c1", "b", pass.clone()),
                on("c2", "b", fixed.clone())
            ]),
            RequirementStatus::Satisfied
        );
        assert_eq!(
            status(vec![
                on("c1", "b", pass.clone()),
                on("c1", "d", pass.clone())
            ]),
            RequirementStatus::PartiallyAssessed,
            "c2 was never evaluated"
        );
        assert_eq!(
            status(vec![on("c1", "b", pass.clone()), on("c2", "b", open)]),
            RequirementStatus::NotSatisfied
        );
        assert_eq!(
            status(vec![on("c1", "b", pass), on("c2", "b", error)]),
            RequirementStatus::NotSatisfied
        );
        assert_eq!(
            resource_type("1/us-east-1/AWS::S3::Bucket/a/b"),
            Some("AWS::S3::Bucket")
        );
    }
}
