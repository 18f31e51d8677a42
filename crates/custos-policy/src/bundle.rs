use crate::eval::Evaluator;
use crate::{BundleErrors, PolicyError};
use custos_core::{Digest, Severity};
use regorus::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Package prefix every control lives under.
pub(crate) const CONTROLS_PREFIX: &str = "data.custos.controls.";
/// Package prefix of operator gate rules, each evaluated on its own.
pub(crate) const GATE_RULES_PREFIX: &str = "data.custos.gate_rules.";
pub(crate) const GATE_PACKAGE: &str = "data.custos.gate";
pub(crate) const GATE_RULE: &str = "data.custos.gate.decisions";
pub(crate) const FLOOR_RULE: &str = "data.custos.floor.decisions";
/// The floor, compiled into the binary.
pub(crate) const FLOOR_PATH: &str = "<custos floor>/floor.rego";
pub(crate) const FLOOR_REGO: &str = include_str!("../floor/floor.rego");
pub(crate) const FLOOR_TEST_PATH: &str = "<custos floor>/floor_test.rego";
pub(crate) const FLOOR_TEST_REGO: &str = include_str!("../floor/floor_test.rego");

/// How a bundle is loaded and evaluated.
#[derive(Debug, Clone)]
pub struct PolicyOptions {
    /// Time limit for one evaluation.
    pub eval_timeout: Duration,
    /// `data.custos.config`: the gate's settings.
    pub gate_config: serde_json::Value,
}

impl Default for PolicyOptions {
    fn default() -> Self {
        PolicyOptions {
            eval_timeout: Duration::from_millis(250),
            gate_config: serde_json::json!({}),
        }
    }
}

/// How a control's findings are remediated (metadata field `class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemediationClass {
    /// A playbook may execute within the autonomy level.
    Auto,
    /// A playbook exists and every execution needs a human's approval.
    Human,
    /// No playbook: the finding is reported with its guidance and never executes.
    Alert,
}

impl RemediationClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationClass::Auto => "auto",
            RemediationClass::Human => "human",
            RemediationClass::Alert => "alert",
        }
    }
}

/// Metadata of one control, from its `metadata` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlMeta {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub resource_types: Vec<String>,
    #[serde(default)]
    pub frameworks: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub remediation: Option<String>,
    /// `auto`, `human` or `alert`; required, so that "no playbook" is said, not implied.
    pub class: RemediationClass,
    /// For `alert` controls: what a person does about a finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<String>,
    /// For `alert` controls: the AWS CLI commands a person runs. `{resource_id}`,
    /// `{resource_name}`, `{region}` and `{account}` are the finding's; values a person
    /// chooses are in `<angle brackets>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cli: Vec<String>,
    /// The fixed configuration as Terraform (`aws` provider): for `alert` controls what a
    /// person applies; for the others the code change beside the playbook's guided fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform: Option<String>,
    /// Rego package, e.g. `data.custos.controls.s3_versioning`.
    #[serde(skip_deserializing)]
    pub package: String,
    /// File the package was read from.
    #[serde(skip_deserializing)]
    pub file: String,
}

/// What a bundle was built from, kept in the ledger so that a decision can be
/// re-evaluated later with the policy it was made under (`custos replay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    /// The bundle's digest (the compiled floor included).
    pub digest: Digest,
    /// How many layers (`policy.dir`, then overlays).
    pub layers: usize,
    /// `(<layer>:<path within it>, text)` of every file, sorted.
    pub files: Vec<(String, String)>,
    /// `data.custos.config`: the gate's settings from the configuration.
    pub gate_config: serde_json::Value,
}

impl PolicySnapshot {
    /// Identifies the snapshot: a digest over all of it (files, gate settings, digest), so
    /// a snapshot edited in the ledger no longer has the id its decisions name.
    pub fn id(&self) -> Digest {
        custos_core::digest_json(&serde_json::json!({
            "digest": self.digest, "layers": self.layers, "files": self.files,
            "gate_config": self.gate_config,
        }))
    }
}

/// A validated, digested set of Rego files, with the compiled floor beside it.
#[derive(Debug, Clone)]
pub struct PolicyBundle {
    pub(crate) engine: Engine,
    pub(crate) floor: Engine,
    pub(crate) controls: Vec<ControlMeta>,
    pub(crate) gate_rule_packages: Vec<String>,
    digest: Digest,
    files: Vec<PathBuf>,
    pub(crate) test_files: Vec<(String, String)>,
    snapshot: PolicySnapshot,
}

impl PolicyBundle {
    /// Load every `.rego` file under `dir` (recursively). Test files (`*_test.rego`) are
    /// parsed and checked too but kept out of the evaluation engine.
    pub fn load(dir: &Path, options: PolicyOptions) -> Result<Self, BundleErrors> {
        Self::load_layers(&[dir.to_path_buf()], options)
    }

    /// Load the shipped directory and operator overlays together: overlays add controls
    /// and gate packages (`custos.gate_rules.*`); a package or control id defined twice
    /// is an error naming both files, so an overlay can extend but never silently
    /// replace what ships.
    pub fn load_layers(dirs: &[PathBuf], options: PolicyOptions) -> Result<Self, BundleErrors> {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for dir in dirs {
            match list_rego_files(dir) {
                Ok(f) => files.extend(f),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(BundleErrors(errors));
        }
        let mut sources = Vec::new();
        for path in &files {
            match std::fs::read_to_string(path) {
                Ok(text) => sources.push((path.display().to_string(), text)),
                Err(source) => errors.push(PolicyError::Io {
                    path: path.clone(),
                    source,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(BundleErrors(errors));
        }
        let bundle = Self::from_sources(sources, options, dirs)?;
        let errors: Vec<PolicyError> = bundle
            .controls()
            .iter()
            .filter_map(|m| {
                authoring_error(m).map(|message| PolicyError::Invalid {
                    path: m.file.clone(),
                    message: format!("`{}.metadata`: {message}", m.package),
                })
            })
            .collect();
        if errors.is_empty() {
            Ok(bundle)
        } else {
            Err(BundleErrors(errors))
        }
    }

    /// Build from (path, text) pairs. `root` is only used for messages and digests.
    pub fn from_sources(
        mut sources: Vec<(String, String)>,
        options: PolicyOptions,
        roots: &[PathBuf],
    ) -> Result<Self, BundleErrors> {
        sources.sort();
        let mut errors = Vec::new();
        let root = roots.first().cloned().unwrap_or_default();
        if sources.is_empty() {
            return Err(BundleErrors(vec![PolicyError::Empty(root)]));
        }
        let digest = digest_sources(&sources, roots);

        let mut engine = Engine::new();
        let mut check = Engine::new();
        let mut packages: BTreeMap<String, String> = BTreeMap::new();
        let mut test_files = Vec::new();
        for (path, text) in &sources {
            let is_test = path.ends_with("_test.rego");
            // Every file is parsed once in a throwaway engine so one bad file cannot hide
            // another: all parse errors are reported together.
            match check.add_policy(path.clone(), text.clone()) {
                Ok(pkg) => {
                    if is_test {
                        test_files.push((path.clone(), text.clone()));
                    } else if let Err(message) = package_allowed(&pkg, layer_of(path, roots)) {
                        errors.push(PolicyError::Invalid {
                            path: path.clone(),
                            message,
                        });
                    } else if let Some(prev) = packages.insert(pkg.clone(), path.clone()) {
                        errors.push(PolicyError::Invalid {
                            path: path.clone(),
                            message: format!("package `{pkg}` is already defined in `{prev}`"),
                        });
                    } else if let Err(e) = engine.add_policy(path.clone(), text.clone()) {
                        errors.push(PolicyError::Parse(e.to_string()));
                    }
                }
                Err(e) => errors.push(PolicyError::Parse(e.to_string())),
            }
        }
        if !errors.is_empty() {
            return Err(BundleErrors(errors));
        }
        match packages.get(GATE_PACKAGE) {
            None => errors.push(PolicyError::Invalid {
                path: root.display().to_string(),
                message: "no `custos.gate` package: the policy gate is missing".into(),
            }),
            Some(path) => {
                if !engine
                    .has_declared_rule_rooted_at(path, "decisions")
                    .unwrap_or(false)
                {
                    errors.push(PolicyError::Invalid {
                        path: path.clone(),
                        message: "package `custos.gate` declares no `decisions` rule: a gate that decides nothing is refused".into(),
                    });
                }
            }
        }
        let mut gate_rule_packages = Vec::new();
        for (pkg, path) in &packages {
            if pkg.starts_with(GATE_RULES_PREFIX) {
                if engine
                    .has_declared_rule_rooted_at(path, "decisions")
                    .unwrap_or(false)
                {
                    gate_rule_packages.push(pkg.clone());
                } else {
                    errors.push(PolicyError::Invalid {
                        path: path.clone(),
                        message: format!(
                            "operator gate package `{pkg}` declares no `decisions` rule"
                        ),
                    });
                }
            }
        }
        let data = serde_json::json!({"custos": {"config": options.gate_config}});
        if let Err(e) = engine.add_data(to_rego(&data)) {
            errors.push(PolicyError::Invalid {
                path: "custos.toml [gate]".into(),
                message: e.to_string(),
            });
        }
        let timer = regorus::utils::limits::ExecutionTimerConfig {
            limit: options.eval_timeout,
            check_interval: NonZeroU32::MIN,
        };
        engine.set_execution_timer_config(timer);
        let floor = match floor_engine(&data, timer) {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                return Err(BundleErrors(errors));
            }
        };

        let mut controls = Vec::new();
        let mut ids = BTreeSet::new();
        for (pkg, path) in &packages {
            let Some(_) = pkg.strip_prefix(CONTROLS_PREFIX) else {
                continue;
            };
            match load_control(&mut engine, pkg, path) {
                Ok(meta) => {
                    if !ids.insert(meta.id.clone()) {
                        errors.push(PolicyError::Invalid {
                            path: path.clone(),
                            message: format!("control id `{}` is defined twice", meta.id),
                        });
                    }
                    controls.push(meta);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            // Surface evaluation-time errors (unknown functions, type errors, a regex the
            // engine cannot compile) now, not on the first resource: evaluate the floor,
            // the gate and every operator package over a representative plan.
            let probe_input = to_rego(&probe_input());
            let mut probe = engine.clone();
            probe.set_input(probe_input.clone());
            for rule in std::iter::once(GATE_RULE.to_string())
                .chain(gate_rule_packages.iter().map(|p| format!("{p}.decisions")))
            {
                match probe.eval_rule(rule.clone()) {
                    Err(e) => errors.push(PolicyError::Eval {
                        rule,
                        message: e.to_string(),
                    }),
                    // A rule that can be undefined decides nothing: refused, not read as
                    // "execute".
                    Ok(regorus::Value::Undefined) => errors.push(PolicyError::Eval {
                        rule,
                        message: "`decisions` is undefined for a representative plan: it must always be a set (empty when nothing applies), so a gate that decides nothing is refused".into(),
                    }),
                    Ok(_) => {}
                }
            }
            let mut floor_probe = floor.clone();
            floor_probe.set_input(probe_input);
            if let Err(e) = floor_probe.eval_rule(FLOOR_RULE.to_string()) {
                errors.push(PolicyError::Eval {
                    rule: FLOOR_RULE.into(),
                    message: e.to_string(),
                });
            }
        }
        if !errors.is_empty() {
            return Err(BundleErrors(errors));
        }
        Ok(PolicyBundle {
            engine,
            floor,
            controls,
            gate_rule_packages,
            digest: digest.clone(),
            files: sources.iter().map(|(p, _)| PathBuf::from(p)).collect(),
            test_files,
            snapshot: PolicySnapshot {
                digest: digest.clone(),
                layers: roots.len().max(1),
                files: relative_sources(&sources, roots),
                gate_config: options.gate_config.clone(),
            },
        })
    }

    /// What this bundle was built from.
    pub fn snapshot(&self) -> &PolicySnapshot {
        &self.snapshot
    }

    /// Rebuild a bundle from a snapshot (with this binary's compiled floor: if the floor
    /// changed since, the digest differs from the snapshot's, and the caller says so).
    pub fn from_snapshot(
        snapshot: &PolicySnapshot,
        eval_timeout: Duration,
    ) -> Result<Self, BundleErrors> {
        let roots: Vec<PathBuf> = (0..snapshot.layers)
            .map(|i| PathBuf::from(format!("/<policy layer {i}>")))
            .collect();
        let sources = snapshot
            .files
            .iter()
            .map(|(rel, text)| {
                let path = rel
                    .split_once(':')
                    .and_then(|(i, p)| Some(roots.get(i.parse::<usize>().ok()?)?.join(p)))
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| rel.clone());
                (path, text.clone())
            })
            .collect();
        Self::from_sources(
            sources,
            PolicyOptions {
                eval_timeout,
                gate_config: snapshot.gate_config.clone(),
            },
            &roots,
        )
    }

    /// SHA-256 over the sorted files (relative path and content).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn controls(&self) -> &[ControlMeta] {
        &self.controls
    }

    pub fn control(&self, id: &str) -> Option<&ControlMeta> {
        self.controls.iter().find(|c| c.id == id)
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// A fresh evaluator (clones of the prepared engines), one per worker.
    pub fn evaluator(&self) -> Evaluator {
        Evaluator::new(
            self.engine.clone(),
            self.floor.clone(),
            self.controls.clone(),
            self.gate_rule_packages.clone(),
        )
    }

    /// The operator gate packages (`custos.gate_rules.<name>`), each evaluated alone.
    pub fn gate_rule_packages(&self) -> &[String] {
        &self.gate_rule_packages
    }
}

/// Which layer (0: `policy.dir`, 1..: overlays) a file belongs to.
fn layer_of(path: &str, roots: &[PathBuf]) -> usize {
    roots
        .iter()
        .position(|r| Path::new(path).starts_with(r))
        .unwrap_or(0)
}

/// Operator policy may define the gate (in `policy.dir` only), gate rules and controls.
/// Everything else, the floor's namespace above all, is refused.
fn package_allowed(pkg: &str, layer: usize) -> Result<(), String> {
    let allowed = "policy may define `custos.controls.<name>` and `custos.gate_rules.<name>` packages (and `custos.gate` in `policy.dir`); the floor (`custos.floor`) is compiled into custos";
    if pkg.starts_with(CONTROLS_PREFIX) || pkg.starts_with(GATE_RULES_PREFIX) {
        return Ok(());
    }
    if pkg == GATE_PACKAGE {
        return if layer == 0 {
            Ok(())
        } else {
            Err(format!(
                "package `custos.gate` can only come from `policy.dir`, not an overlay: overlays add `custos.gate_rules.<name>` packages ({allowed})"
            ))
        };
    }
    Err(format!(
        "package `{}` is not allowed: {allowed}",
        pkg.trim_start_matches("data.")
    ))
}

/// The floor's own engine: the compiled floor and the gate settings, nothing else.
fn floor_engine(
    data: &serde_json::Value,
    timer: regorus::utils::limits::ExecutionTimerConfig,
) -> Result<Engine, PolicyError> {
    let mut floor = Engine::new();
    floor
        .add_policy(FLOOR_PATH.into(), FLOOR_REGO.into())
        .map_err(|e| PolicyError::Parse(e.to_string()))?;
    floor
        .add_data(to_rego(data))
        .map_err(|e| PolicyError::Invalid {
            path: "custos.toml [gate]".into(),
            message: e.to_string(),
        })?;
    floor.set_execution_timer_config(timer);
    Ok(floor)
}

/// A representative gate input, so load-time probes reach the rules' builtins.
pub(crate) fn probe_input() -> serde_json::Value {
    serde_json::json!({
        "plan": {
            "action": "probe:Action", "action_kinds": ["configure"], "playbook": "probe",
            "control_id": "probe", "risk": "low", "operation": "fix",
            "requires_approval": false, "reversible": true, "environment": "production",
            "production": true, "arn": "arn:aws:s3:::probe", "related": [],
            "tags": {"custos:exclude": "2000-01-01", "custos:exclude-owner": "probe"},
            "resource": {"account": "000000000000", "region": "us-east-1", "resource_type": "AWS::S3::Bucket", "resource_id": "probe", "class": "s3"},
        },
        "run": {"executions_so_far": 0, "executions_by_account": {}, "executions_by_class": {}},
        "window": {"hours": 24, "executions": 0},
        "inventory": {"count_by_class": {}},
        "limits": {"per_run": 25, "per_account_per_run": 25, "per_window": 100, "percent_of_class": 100, "min_class_size_for_percent": 10},
        "time": {"now": "2000-01-01T00:00:00Z", "today": "2000-01-02", "blackouts_active": [], "window": {"governed": false, "open": false, "names": []}},
    })
}

/// What a control's author must give a person, checked when policy is loaded from its
/// files (`policy check`, start-up), never when a recorded snapshot is rebuilt: a bundle
/// recorded before a check existed must still replay and export.
fn authoring_error(meta: &ControlMeta) -> Option<String> {
    if meta.class == RemediationClass::Alert
        && (meta.cli.iter().all(|c| c.trim().is_empty())
            || meta
                .terraform
                .as_deref()
                .is_none_or(|t| t.trim().is_empty()))
    {
        return Some(
            "class `alert` needs `cli` (the AWS CLI commands a person runs) and `terraform` (the fixed configuration)".into(),
        );
    }
    let texts = meta
        .cli
        .iter()
        .map(|c| ("cli", c.as_str()))
        .chain(meta.terraform.as_deref().map(|t| ("terraform", t)));
    for (field, text) in texts {
        if let Some(p) = crate::guidance::unknown_placeholder(text) {
            return Some(format!(
                "`{field}` has `{p}`, which custos does not fill (it fills {}): it would reach the person unfilled",
                crate::guidance::placeholder_list()
            ));
        }
    }
    meta.cli.iter().find_map(|c| {
        crate::guidance::unsafe_placeholder(c).map(|(p, why)| {
            format!("`cli` puts `{p}` {why} in `{c}`; write it as a word of its own: custos quotes each value as one shell word")
        })
    })
}

fn load_control(engine: &mut Engine, pkg: &str, path: &str) -> Result<ControlMeta, PolicyError> {
    let invalid = |message: String| PolicyError::Invalid {
        path: path.to_string(),
        message,
    };
    let value = engine
        .eval_rule(format!("{pkg}.metadata"))
        .map_err(|e| invalid(format!("evaluating `{pkg}.metadata`: {e}")))?;
    if value == regorus::Value::Undefined {
        return Err(invalid(format!(
            "control package `{pkg}` has no `metadata` rule"
        )));
    }
    let json = from_rego(&value).map_err(|e| invalid(e.to_string()))?;
    let mut meta: ControlMeta =
        serde_json::from_value(json).map_err(|e| invalid(format!("`{pkg}.metadata`: {e}")))?;
    if meta.id.trim().is_empty() || meta.resource_types.is_empty() {
        return Err(invalid(format!(
            "`{pkg}.metadata` needs a non-empty `id` and `resource_types`"
        )));
    }
    match (meta.class, &meta.remediation) {
        (RemediationClass::Alert, Some(r)) => {
            return Err(invalid(format!(
                "`{pkg}.metadata`: class `alert` cannot name remediation `{r}`: alert-only controls never execute"
            )));
        }
        (RemediationClass::Alert, None)
            if meta.guidance.as_deref().is_none_or(|g| g.trim().is_empty()) =>
        {
            return Err(invalid(format!(
                "`{pkg}.metadata`: class `alert` needs `guidance`, what a person does about a finding"
            )));
        }
        (RemediationClass::Auto | RemediationClass::Human, None) => {
            return Err(invalid(format!(
                "`{pkg}.metadata`: class `{}` needs a `remediation` playbook id (or class `alert`)",
                meta.class.as_str()
            )));
        }
        _ => {}
    }
    meta.package = pkg.to_string();
    meta.file = path.to_string();
    // A control must define `violations`; evaluate it over an empty input to check.
    let mut probe = engine.clone();
    probe.set_input(to_rego(&serde_json::json!({})));
    probe
        .eval_rule(format!("{pkg}.violations"))
        .map_err(|e| invalid(format!("evaluating `{pkg}.violations`: {e}")))?;
    Ok(meta)
}

fn list_rego_files(dir: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| PolicyError::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| PolicyError::Io {
                path: d.clone(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rego") {
                out.push(path);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(PolicyError::Empty(dir.to_path_buf()));
    }
    Ok(out)
}

/// Each file as `<layer index>:<path relative to its layer>` and its text, sorted.
fn relative_sources(sources: &[(String, String)], roots: &[PathBuf]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = sources
        .iter()
        .map(|(path, text)| {
            let rel = roots
                .iter()
                .enumerate()
                .find_map(|(i, r)| {
                    Path::new(path)
                        .strip_prefix(r)
                        .ok()
                        .map(|p| format!("{i}:{}", p.display()))
                })
                .unwrap_or_else(|| path.clone());
            (rel, text.clone())
        })
        .collect();
    out.sort();
    out
}

/// The digest of a bundle: SHA-256 over the RFC 8785 encoding of
/// `[[path, text], ...]`, every file's path relative to its layer (with the layer's
/// index) and its text, sorted by path, the compiled floor included: the same files give
/// the same digest wherever the bundle is checked out.
fn digest_sources(sources: &[(String, String)], roots: &[PathBuf]) -> Digest {
    let relative = relative_sources(sources, roots);
    let mut entries: Vec<(String, &str)> = relative
        .iter()
        .map(|(rel, text)| (rel.clone(), text.as_str()))
        .collect();
    // The compiled floor decided too: it is part of what a decision can be replayed with.
    entries.push((FLOOR_PATH.to_string(), FLOOR_REGO));
    entries.sort();
    custos_core::digest_json(&serde_json::json!(entries))
}

pub(crate) fn to_rego(v: &serde_json::Value) -> regorus::Value {
    regorus::Value::from(v.clone())
}

pub(crate) fn from_rego(v: &regorus::Value) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(v)
}
