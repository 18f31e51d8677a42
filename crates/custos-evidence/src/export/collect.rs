//! The first pass of an export: where every resource stands on every control mapped to
//! the framework at the end of the period, from the period's events alone (evaluations,
//! detection errors, verified fixes, reverts).

use super::{Baseline, Framework, Pages, Request};
use crate::{EvidenceError, Result};
use chrono::{DateTime, Utc};
use custos_ledger::merkle::CheckpointRow;
use custos_ledger::{Event, Ledger};
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
}

impl EventRef {
    fn of(e: &Event) -> EventRef {
        EventRef {
            id: e.id.clone(),
            index: e.index,
            hash: e.hash.clone(),
            at: e.at,
        }
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
    /// The latest evaluation (or detection error) of the period.
    pub last: EventRef,
    pub failing: bool,
    /// The first evaluation of the failing streak that is still open.
    pub failing_since: Option<DateTime<Utc>>,
    pub fix: Option<Fix>,
    /// A fix of the period that was rolled back.
    pub reverted: Option<String>,
    pub error: Option<String>,
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
}

impl RequirementStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequirementStatus::Satisfied => "satisfied",
            RequirementStatus::NotSatisfied => "not-satisfied",
            RequirementStatus::NotAssessed => "not-assessed",
        }
    }
}

/// The standing at the end of the period.
#[derive(Debug)]
pub struct Assessment {
    pub framework: Framework,
    /// Every control mapped to at least one of the framework's requirements, as the
    /// policy in force now maps it (controls it no longer has: as their run mapped them).
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
    pub(crate) run_controls: HashMap<String, Controls>,
    by_digest: HashMap<String, Controls>,
}

#[derive(Deserialize)]
struct Evaluated {
    controls: Vec<String>,
    failing: Vec<String>,
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

/// The resource type within a resource key (`account/region/type/id`).
pub(crate) fn resource_type(key: &str) -> Option<&str> {
    key.split('/').nth(2)
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
        for c in &ev.controls {
            let info = controls
                .get(c)
                .ok_or_else(|| bad(e, format!("control `{c}` is not in its run's policy")))?;
            if info.requirements.is_empty() {
                continue;
            }
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
                },
            );
        }
        Ok(())
    }

    fn detect_error(&mut self, e: &Event, resource: &str, controls: &Controls) {
        let Some(rtype) = resource_type(resource) else {
            return;
        };
        let error = e.payload["error"]
            .as_str()
            .unwrap_or("not recorded")
            .to_string();
        for info in controls.values() {
            if info.requirements.is_empty() || !info.resource_types.iter().any(|t| t == rtype) {
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
                },
            );
        }
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

    fn reverted(&mut self, e: &Event) -> Result<()> {
        let r: Reverted = serde_json::from_value(e.payload.clone()).map_err(|err| bad(e, err))?;
        for s in self.subjects.values_mut() {
            if s.fix.as_ref().is_some_and(|f| f.action_id == r.action_id) {
                s.fix = None;
                s.reverted = Some(r.action_id.clone());
            }
        }
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
                self.detect_error(e, resource, &controls);
                Ok(())
            }
            "action.executed" => self.executed(ledger, e, resource).await,
            "action.reverted" => self.reverted(e),
            _ => Ok(()),
        }
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

    pub fn status(subjects: &[&Subject]) -> RequirementStatus {
        if subjects.is_empty() {
            RequirementStatus::NotAssessed
        } else if subjects
            .iter()
            .all(|s| matches!(s.standing(), Standing::Pass | Standing::Remediated))
        {
            RequirementStatus::Satisfied
        } else {
            RequirementStatus::NotSatisfied
        }
    }

    /// (satisfied, not satisfied, not assessed).
    pub fn requirement_counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for subjects in self.by_requirement().values() {
            match Assessment::status(subjects) {
                RequirementStatus::Satisfied => n.0 += 1,
                RequirementStatus::NotSatisfied => n.1 += 1,
                RequirementStatus::NotAssessed => n.2 += 1,
            }
        }
        n
    }

    /// What remains open at the end of the period (failing or not evaluable).
    pub fn open(&self) -> impl Iterator<Item = &Subject> {
        self.subjects
            .values()
            .filter(|s| matches!(s.standing(), Standing::Open | Standing::Error))
    }

    /// The period's resources.
    pub fn resources(&self) -> BTreeSet<&str> {
        self.subjects.keys().map(|(r, _)| r.as_str()).collect()
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
    let mut pages = Pages::new(ledger, req);
    while let Some(page) = pages.next().await? {
        for e in &page {
            a.apply(ledger, e).await?;
        }
    }
    // The policy in force now maps the requirements (and brings the controls nothing
    // evaluated, so that their requirements are listed as not assessed).
    for m in &baseline.controls {
        let info = ControlInfo::of(m, req.framework);
        if info.requirements.is_empty() {
            a.controls.remove(&m.id);
        } else {
            a.controls.insert(m.id.clone(), info);
        }
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
            },
            failing,
            failing_since: None,
            fix: fix.then(|| Fix {
                action_id: "a".into(),
                at: Utc::now(),
                verification: "read back".into(),
            }),
            reverted: None,
            error: error.then(|| "boom".into()),
        }
    }

    #[test]
    fn a_requirement_is_satisfied_only_by_evaluations_that_passed_or_were_fixed() {
        assert_eq!(Assessment::status(&[]), RequirementStatus::NotAssessed);
        let pass = subject(false, false, false);
        let fixed = subject(true, true, false);
        let open = subject(true, false, false);
        let error = subject(false, false, true);
        assert_eq!(fixed.standing(), Standing::Remediated);
        assert_eq!(
            Assessment::status(&[&pass, &fixed]),
            RequirementStatus::Satisfied
        );
        assert_eq!(
            Assessment::status(&[&pass, &open]),
            RequirementStatus::NotSatisfied
        );
        assert_eq!(
            Assessment::status(&[&pass, &error]),
            RequirementStatus::NotSatisfied
        );
        assert_eq!(
            resource_type("1/us-east-1/AWS::S3::Bucket/a/b"),
            Some("AWS::S3::Bucket")
        );
    }
}
