use crate::PolicyError;
use crate::bundle::{ControlMeta, FLOOR_RULE, GATE_RULE, GATE_RULES_PREFIX, from_rego, to_rego};
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

/// Blast-radius limits (custos.toml `[gate]`), given to the floor with every evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub per_run: u64,
    pub per_account_per_run: u64,
    pub per_window: u64,
    pub percent_of_class: u64,
    pub min_class_size_for_percent: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_run: 25,
            per_account_per_run: 25,
            per_window: 100,
            percent_of_class: 100,
            min_class_size_for_percent: 10,
        }
    }
}

/// Change windows as they govern one plan's environment, at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowFacts {
    /// Some change window governs the plan's environment.
    pub governed: bool,
    /// One of them is open now.
    pub open: bool,
    pub names: Vec<String>,
}

/// The gate's view of time for one plan. The engine evaluates cron and time zones and
/// matches windows and blackouts to the plan's environment, so Rego stays free of clock
/// and environment logic and tests can pin both.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimeFacts {
    /// RFC 3339.
    pub now: String,
    /// `YYYY-MM-DD` (UTC): exclusion expiry dates compare against it. Empty is invalid:
    /// the floor denies.
    pub today: String,
    /// Names of the blackouts in effect for the plan's environment.
    pub blackouts_active: Vec<String>,
    pub window: WindowFacts,
    /// Whole minutes since the resource was created (negative: a creation time after
    /// `now`), when the plan knows its creation time: the floor's new-resource grace
    /// period compares it with `[gate] new_resource_grace_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_age_minutes: Option<i64>,
}

impl TimeFacts {
    /// Time facts at `now`, with no window or blackout.
    pub fn at(now: chrono::DateTime<chrono::Utc>) -> Self {
        TimeFacts {
            now: now.to_rfc3339(),
            today: now.format("%Y-%m-%d").to_string(),
            blackouts_active: Vec::new(),
            window: WindowFacts::default(),
            resource_age_minutes: None,
        }
    }
}

/// Everything besides the plan that the gate rules look at.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GateInput {
    pub run: RunContext,
    pub window: WindowCounts,
    /// `count_by_class`: resources of each class known to custos.
    pub inventory: BTreeMap<String, BTreeMap<String, u64>>,
    pub limits: Limits,
    pub time: TimeFacts,
    /// What the ledger's outcomes say about the plan's playbook. Decisions recorded before
    /// it existed replay with none required.
    #[serde(default)]
    pub history: HistoryFacts,
}

/// The plan's playbook as its outcomes show it, for the floor's lower-environments-first
/// rule (`gate.unproven_in_lower_environment`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFacts {
    /// Verified non-production fixes by this playbook version since its last rollback,
    /// failure, revert or recurrence (in any environment).
    pub lower_environment_verified: u64,
    /// How many a production fix needs first (`[autonomy] lower_environment_proof`; 0:
    /// none).
    pub lower_environment_required: u64,
    /// The playbook version's staged rollout (`[autonomy] rollout = "staged"`).
    /// Decisions recorded before it existed replay as `broad` (always written: the
    /// floor requires it).
    #[serde(default)]
    pub rollout: RolloutFacts,
}

/// Where the plan's playbook version stands in its staged rollout, for the floor's
/// `gate.rollout_shadow` and `gate.rollout_limited`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutFacts {
    pub stage: custos_core::RolloutStage,
    /// In `limited`: the resource is in the configured share and the count is not used
    /// up, so the fix may run alone (within its level).
    pub selected: bool,
}

impl Default for RolloutFacts {
    fn default() -> Self {
        RolloutFacts {
            stage: custos_core::RolloutStage::Broad,
            selected: true,
        }
    }
}

impl GateInput {
    pub fn set_class_count(&mut self, class: &str, n: u64) {
        self.inventory
            .entry("count_by_class".into())
            .or_default()
            .insert(class.to_string(), n);
    }

    pub fn class_count(&self, class: &str) -> u64 {
        self.inventory
            .get("count_by_class")
            .and_then(|m| m.get(class))
            .copied()
            .unwrap_or(0)
    }
}

/// What the gate decided, with every rule that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
}

/// Engine clones for one worker. Not shared between threads.
#[derive(Debug)]
pub struct Evaluator {
    engine: Engine,
    floor: Engine,
    controls: Vec<ControlMeta>,
    gate_rule_packages: Vec<String>,
}

impl Evaluator {
    pub(crate) fn new(
        engine: Engine,
        floor: Engine,
        controls: Vec<ControlMeta>,
        gate_rule_packages: Vec<String>,
    ) -> Self {
        Evaluator {
            engine,
            floor,
            controls,
            gate_rule_packages,
        }
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
                    guidance: control.guidance_for(ci),
                    terraform: control.terraform_for(ci),
                });
            }
        }
        Ok(findings)
    }

    /// What one control reports for this item (empty: it passes).
    pub fn violations(
        &mut self,
        control_id: &str,
        ci: &ConfigurationItem,
    ) -> Result<Vec<String>, PolicyError> {
        Ok(self
            .detect(ci)?
            .into_iter()
            .filter(|f| f.control_id == control_id)
            .map(|f| f.message)
            .collect())
    }

    /// The resource classes the compiled floor never automates (its
    /// `never_automate_classes`), read from the floor itself so nothing restates the list.
    pub fn never_automated_classes(&mut self) -> Result<Vec<String>, String> {
        let v = self
            .floor
            .eval_rule("data.custos.floor.never_automate_classes".into())
            .map_err(|e| format!("the floor's never-automated classes: {e}"))?;
        let json = from_rego(&v).map_err(|e| e.to_string())?;
        serde_json::from_value(json)
            .map_err(|e| format!("the floor's never-automated classes: {e}"))
    }

    /// Run the gate over a plan: the compiled floor, the operator gate (`custos.gate`)
    /// and every operator package `custos.gate_rules.<name>`, each evaluated on its own so
    /// that one failing cannot hide another's verdict. Never fails: an error in the floor
    /// is a deny (`floor.error`), an error in an operator package an escalation
    /// (`gate.error`, naming the package).
    pub fn gate(&mut self, plan: &RemediationPlan, ctx: &GateInput) -> GateOutcome {
        let mut reasons = Vec::new();
        match input_value(plan, ctx) {
            Ok(input) => {
                let input = to_rego(&input);
                self.floor.set_input(input.clone());
                match decisions(&mut self.floor, FLOOR_RULE, &Owner::Floor) {
                    Ok(r) => reasons.extend(r),
                    Err(e) => reasons.push(Reason {
                        stage: Stage::Gate,
                        rule: "floor.error".into(),
                        verdict: Verdict::Deny,
                        message: format!("the policy floor could not be evaluated: {e}"),
                    }),
                }
                self.engine.set_input(input);
                let packages = std::iter::once((GATE_RULE.to_string(), Owner::Gate)).chain(
                    self.gate_rule_packages.iter().map(|p| {
                        let name = p.strip_prefix(GATE_RULES_PREFIX).unwrap_or(p);
                        (format!("{p}.decisions"), Owner::GateRules(name.to_string()))
                    }),
                );
                for (rule, owner) in packages {
                    match decisions(&mut self.engine, &rule, &owner) {
                        Ok(r) => reasons.extend(r),
                        Err(e) => reasons.push(Reason {
                            stage: Stage::Gate,
                            rule: "gate.error".into(),
                            verdict: Verdict::NeedsApproval,
                            message: e.to_string(),
                        }),
                    }
                }
            }
            Err(e) => reasons.push(Reason {
                stage: Stage::Gate,
                rule: "floor.error".into(),
                verdict: Verdict::Deny,
                message: e.to_string(),
            }),
        }
        // A gate rule may only restrict: an explicit "execute" adds nothing.
        let verdict = reasons
            .iter()
            .fold(Verdict::Execute, |v, r| v.most_cautious(r.verdict));
        reasons.sort_by(|a, b| b.verdict.cmp(&a.verdict).then(a.rule.cmp(&b.rule)));
        reasons.dedup();
        GateOutcome { verdict, reasons }
    }
}

/// The JSON input of one gate evaluation.
pub fn input_value(plan: &RemediationPlan, ctx: &GateInput) -> Result<Value, PolicyError> {
    let mut input = serde_json::to_value(ctx).map_err(|e| PolicyError::Eval {
        rule: GATE_RULE.into(),
        message: e.to_string(),
    })?;
    input["plan"] = gate_view(plan);
    Ok(input)
}

/// Who wrote a `decisions` rule, and so which rule ids are its own. Reason ids are owned
/// by the stage that produced them: the engine reads meaning into some ids (an approval's
/// `approval.granted` lifts `needs_approval`), so operator policy must never be able to
/// produce one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// The compiled floor: its ids as written.
    Floor,
    /// The operator's `custos.gate` (from `policy.dir`): ids under `gate.`.
    Gate,
    /// An operator package `custos.gate_rules.<name>`: ids under `gate_rules.<name>.`.
    GateRules(String),
}

impl Owner {
    /// The id a reason of this owner is recorded under.
    fn id(&self, id: &str) -> String {
        match self {
            Owner::Floor => id.to_string(),
            Owner::Gate if id.starts_with("gate.") => id.to_string(),
            Owner::Gate => format!("gate.{id}"),
            Owner::GateRules(pkg) => format!("gate_rules.{pkg}.{id}"),
        }
    }
}

/// Evaluate one `decisions` rule into reasons, each id owned by `owner`. A rule that is
/// not defined, does not give a set, or gives a malformed decision is an error.
fn decisions(engine: &mut Engine, rule: &str, owner: &Owner) -> Result<Vec<Reason>, PolicyError> {
    let bad = |message: String| PolicyError::Eval {
        rule: rule.to_string(),
        message,
    };
    let value = engine
        .eval_rule(rule.to_string())
        .map_err(|e| bad(e.to_string()))?;
    let items = match &value {
        regorus::Value::Undefined => {
            return Err(bad("`decisions` is undefined: the rule is missing".into()));
        }
        v => match from_rego(v).map_err(|e| bad(e.to_string()))? {
            Value::Array(items) => items,
            other => return Err(bad(format!("expected a set of decisions, got `{other}`"))),
        },
    };
    let mut reasons = Vec::new();
    for item in items {
        let field = |name: &str| {
            item.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad(format!("decision `{item}` has no string `{name}`")))
        };
        let id = field("rule")?;
        let v: Verdict = field("verdict")?
            .parse()
            .map_err(|e: String| bad(format!("rule `{id}`: {e}")))?;
        reasons.push(Reason {
            stage: Stage::Gate,
            rule: owner.id(&id),
            verdict: v,
            message: field("message")?,
        });
    }
    Ok(reasons)
}

/// The plan as the gate sees it; `created` (RFC 3339) only when the resource's creation
/// time is known, so a plan recorded before it existed is seen as it was.
pub fn gate_view(plan: &RemediationPlan) -> Value {
    let mut view = json!({
        "id": plan.id,
        "action": plan.action,
        "action_kinds": plan.action_kinds,
        "operation": match plan.operation { custos_core::Operation::Fix => "fix", custos_core::Operation::Rollback { .. } => "rollback" },
        "playbook": plan.playbook,
        "playbook_version": plan.playbook_version,
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
    });
    if let Some(created) = plan.resource_created {
        view["created"] = json!(created.to_rfc3339());
    }
    view
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
