use crate::PolicyError;
use crate::bundle::{ControlMeta, GATE_RULE, from_rego, to_rego};
use custos_core::{ConfigurationItem, Finding, Reason, RemediationPlan, Stage, Verdict};
use regorus::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Per-run context the gate sees.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunContext {
    /// Plans already cleared to execute earlier in this run.
    pub executions_so_far: u64,
    pub executions_by_account: BTreeMap<String, u64>,
    pub executions_by_class: BTreeMap<String, u64>,
    /// The default credentials' account.
    pub home_account: Option<String>,
}

impl RunContext {
    /// Count one more execution for `plan`'s account and class.
    pub fn count(&mut self, plan: &RemediationPlan) {
        self.executions_so_far += 1;
        *self
            .executions_by_account
            .entry(plan.resource.account.clone())
            .or_default() += 1;
        *self
            .executions_by_class
            .entry(plan.resource.class())
            .or_default() += 1;
    }
}

/// Executions recorded in the rolling window, from the ledger.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WindowCounts {
    pub hours: i64,
    pub executions: u64,
}

/// A change window or blackout as evaluated at `now`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowState {
    pub name: String,
    pub environment: String,
    pub open: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlackoutState {
    pub name: String,
    pub environments: Vec<String>,
    pub active: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimeFacts {
    /// RFC 3339.
    pub now: String,
    /// `YYYY-MM-DD` (UTC): exclusion expiry dates compare against it.
    pub today: String,
    pub windows: Vec<WindowState>,
    pub blackouts: Vec<BlackoutState>,
}

/// Everything besides the plan that the gate rules look at.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GateInput {
    pub run: RunContext,
    pub window: WindowCounts,
    /// `count_by_class`: resources of each class known to custos.
    pub inventory: BTreeMap<String, BTreeMap<String, u64>>,
    pub time: TimeFacts,
}

impl GateInput {
    pub fn set_class_count(&mut self, class: &str, n: u64) {
        self.inventory
            .entry("count_by_class".into())
            .or_default()
            .insert(class.to_string(), n);
    }
}

/// What the gate decided, with every rule that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
}

/// An engine clone for one worker. Not shared between threads.
#[derive(Debug)]
pub struct Evaluator {
    engine: Engine,
    controls: Vec<ControlMeta>,
}

impl Evaluator {
    pub(crate) fn new(engine: Engine, controls: Vec<ControlMeta>) -> Self {
        Evaluator { engine, controls }
    }

    /// Evaluate every control that applies to the item's resource type.
    pub fn detect(&mut self, ci: &ConfigurationItem) -> Result<Vec<Finding>, PolicyError> {
        if ci.is_deleted() {
            return Ok(Vec::new());
        }
        self.engine.set_input(to_rego(&ci.to_json()));
        let mut findings = Vec::new();
        for control in &self.controls {
            if !control
                .resource_types
                .iter()
                .any(|t| t == &ci.resource_type)
            {
                continue;
            }
            let rule = format!("{}.violations", control.package);
            let value = self
                .engine
                .eval_rule(rule.clone())
                .map_err(|e| PolicyError::Eval {
                    rule: rule.clone(),
                    message: e.to_string(),
                })?;
            for message in messages(&value, &rule)? {
                findings.push(Finding {
                    control_id: control.id.clone(),
                    title: control.title.clone(),
                    severity: control.severity,
                    resource: ci.resource_ref(),
                    frameworks: control.frameworks.clone(),
                    message,
                    remediation: control.remediation.clone(),
                });
            }
        }
        Ok(findings)
    }

    /// Does one control pass for this item? Used to verify a fix on the state read back.
    pub fn control_passes(
        &mut self,
        control_id: &str,
        ci: &ConfigurationItem,
    ) -> Result<bool, PolicyError> {
        Ok(!self.detect(ci)?.iter().any(|f| f.control_id == control_id))
    }

    /// Run the gate over a plan. Never fails: an evaluation error or an answer the engine
    /// does not understand becomes `needs_approval` with rule `gate.error`.
    pub fn gate(&mut self, plan: &RemediationPlan, ctx: &GateInput) -> GateOutcome {
        match self.gate_inner(plan, ctx) {
            Ok(outcome) => outcome,
            Err(e) => GateOutcome {
                verdict: Verdict::NeedsApproval,
                reasons: vec![Reason {
                    stage: Stage::Gate,
                    rule: "gate.error".into(),
                    verdict: Verdict::NeedsApproval,
                    message: e.to_string(),
                }],
            },
        }
    }

    fn gate_inner(
        &mut self,
        plan: &RemediationPlan,
        ctx: &GateInput,
    ) -> Result<GateOutcome, PolicyError> {
        let mut input = serde_json::to_value(ctx).map_err(|e| PolicyError::Eval {
            rule: GATE_RULE.into(),
            message: e.to_string(),
        })?;
        input["plan"] = gate_view(plan);
        self.engine.set_input(to_rego(&input));
        let value =
            self.engine
                .eval_rule(GATE_RULE.to_string())
                .map_err(|e| PolicyError::Eval {
                    rule: GATE_RULE.into(),
                    message: e.to_string(),
                })?;
        let bad = |message: String| PolicyError::Eval {
            rule: GATE_RULE.into(),
            message,
        };
        let items = match &value {
            regorus::Value::Undefined => Vec::new(),
            v => match from_rego(v).map_err(|e| bad(e.to_string()))? {
                Value::Array(items) => items,
                other => return Err(bad(format!("expected a set of decisions, got `{other}`"))),
            },
        };
        let mut verdict = Verdict::Execute;
        let mut reasons = Vec::new();
        for item in items {
            let field = |name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("decision `{item}` has no string `{name}`")))
            };
            let rule = field("rule")?;
            let v: Verdict = field("verdict")?
                .parse()
                .map_err(|e: String| bad(format!("rule `{rule}`: {e}")))?;
            // A gate rule may only restrict: an explicit "execute" adds nothing.
            verdict = verdict.most_cautious(v);
            reasons.push(Reason {
                stage: Stage::Gate,
                rule,
                verdict: v,
                message: field("message")?,
            });
        }
        reasons.sort_by(|a, b| b.verdict.cmp(&a.verdict).then(a.rule.cmp(&b.rule)));
        Ok(GateOutcome { verdict, reasons })
    }
}

/// The plan as the gate sees it.
pub fn gate_view(plan: &RemediationPlan) -> Value {
    json!({
        "id": plan.id,
        "action": plan.action,
        "action_kinds": plan.action_kinds,
        "playbook": plan.playbook,
        "control_id": plan.control_id,
        "risk": plan.risk,
        "reversible": plan.reversible,
        "requires_approval": plan.requires_approval,
        "environment": plan.environment,
        "production": plan.production,
        "related": plan.related,
        "arn": plan.arn,
        "tags": plan.tags,
        "resource": {
            "account": plan.resource.account,
            "region": plan.resource.region,
            "resource_type": plan.resource.resource_type,
            "resource_id": plan.resource.resource_id,
            "class": plan.resource.class(),
        },
    })
}

fn messages(value: &regorus::Value, rule: &str) -> Result<Vec<String>, PolicyError> {
    if *value == regorus::Value::Undefined {
        return Ok(Vec::new());
    }
    let json = from_rego(value).map_err(|e| PolicyError::Eval {
        rule: rule.into(),
        message: e.to_string(),
    })?;
    match json {
        Value::Array(items) => Ok(items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect()),
        other => Err(PolicyError::Eval {
            rule: rule.into(),
            message: format!("`violations` must be a set of messages, got `{other}`"),
        }),
    }
}
