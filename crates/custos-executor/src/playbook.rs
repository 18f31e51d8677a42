//! Playbooks: TOML files under `playbooks/` that say how a control is remediated.

use crate::Registry;
use crate::contract::guarded_state;
use custos_core::{ConfigurationItem, Finding, RemediationPlan, digest_json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    pub id: String,
    pub version: String,
    pub title: String,
    /// The control this playbook remediates.
    pub control: String,
    pub resource_types: Vec<String>,
    /// Executor action id.
    pub action: String,
    /// `configure`, `delete`, `iam`, `secret`, `cross-account`: the gate's never-automate
    /// floor looks at these.
    #[serde(default = "default_kinds")]
    pub kinds: Vec<String>,
    pub risk: Risk,
    pub reversible: bool,
    #[serde(default)]
    pub requires_approval: bool,
    pub description: String,
    #[serde(default)]
    pub parameters: toml::Table,
    pub rollback: RollbackDoc,
    pub verification: VerificationDoc,
    #[serde(skip)]
    pub file: PathBuf,
}

fn default_kinds() -> Vec<String> {
    vec!["configure".into()]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackDoc {
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationDoc {
    /// `control`: the control is evaluated again on the state read back.
    pub method: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Every playbook, validated against the executors that exist.
#[derive(Debug, Clone, Default)]
pub struct PlaybookSet {
    by_control: BTreeMap<String, Playbook>,
}

impl PlaybookSet {
    /// Load every `*.toml` under `dir`. All errors are returned together; nothing loads
    /// unless everything is valid. `overrides` maps playbook id -> parameters that replace
    /// the playbook's own (from custos.toml).
    pub fn load(
        dir: &Path,
        registry: &Registry,
        overrides: &BTreeMap<String, toml::Table>,
    ) -> Result<Self, Vec<PlaybookError>> {
        Self::load_dirs(&[dir.to_path_buf()], registry, overrides)
    }

    /// The shipped directory plus operator overlays. An id or a control claimed twice
    /// is an error naming both files: overlays add playbooks, they cannot replace one.
    pub fn load_dirs(
        dirs: &[PathBuf],
        registry: &Registry,
        overrides: &BTreeMap<String, toml::Table>,
    ) -> Result<Self, Vec<PlaybookError>> {
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            match std::fs::read_dir(dir) {
                Ok(rd) => {
                    let mut these: Vec<PathBuf> = rd
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                        .collect();
                    these.sort();
                    files.extend(these);
                }
                Err(source) => {
                    return Err(vec![PlaybookError::Io {
                        path: dir.clone(),
                        source,
                    }]);
                }
            }
        }
        let mut errors = Vec::new();
        let mut set = PlaybookSet::default();
        let mut ids = BTreeMap::new();
        for path in files {
            let invalid = |message: String| PlaybookError::Invalid {
                path: path.clone(),
                message,
            };
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(source) => {
                    errors.push(PlaybookError::Io {
                        path: path.clone(),
                        source,
                    });
                    continue;
                }
            };
            let mut pb: Playbook = match toml::from_str(&text) {
                Ok(pb) => pb,
                Err(e) => {
                    errors.push(invalid(toml_error(&text, &e)));
                    continue;
                }
            };
            pb.file = path.clone();
            if let Some(params) = overrides.get(&pb.id) {
                for (k, v) in params {
                    pb.parameters.insert(k.clone(), v.clone());
                }
            }
            match registry.get(&pb.action) {
                None => errors.push(invalid(format!(
                    "field `action`: no executor for `{}` (known: {})",
                    pb.action,
                    registry.actions().collect::<Vec<_>>().join(", ")
                ))),
                Some(ex) => {
                    if pb.resource_types.is_empty() {
                        errors.push(invalid(
                            "field `resource_types`: name at least one resource type".into(),
                        ));
                    }
                    for t in &pb.resource_types {
                        if !ex.resource_types().contains(&t.as_str()) {
                            errors.push(invalid(format!(
                                "field `resource_types`: executor `{}` does not handle `{t}` (it handles {})",
                                pb.action,
                                ex.resource_types().join(", ")
                            )));
                        }
                    }
                    if let Err(m) = ex.validate_params(&params_json(&pb)) {
                        errors.push(invalid(format!("field `parameters`: {m}")));
                    }
                }
            }
            if let Some(prev) = ids.insert(pb.id.clone(), path.clone()) {
                errors.push(invalid(format!(
                    "playbook id `{}` is already used by `{}`",
                    pb.id,
                    prev.display()
                )));
            }
            if let Some(prev) = set.by_control.get(&pb.control) {
                errors.push(invalid(format!(
                    "control `{}` already has playbook `{}` (`{}`)",
                    pb.control,
                    prev.id,
                    prev.file.display()
                )));
                continue;
            }
            set.by_control.insert(pb.control.clone(), pb);
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    pub fn for_control(&self, control: &str) -> Option<&Playbook> {
        self.by_control.get(control)
    }

    pub fn get(&self, id: &str) -> Option<&Playbook> {
        self.by_control.values().find(|p| p.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Playbook> {
        self.by_control.values()
    }

    /// Plan the remediation of `finding` on `ci`. Pure: no call is made.
    pub fn plan(
        &self,
        registry: &Registry,
        finding: &Finding,
        ci: &ConfigurationItem,
        environment: &str,
    ) -> Option<RemediationPlan> {
        let pb = self.for_control(&finding.control_id)?;
        let ex = registry.get(&pb.action)?;
        let params = params_json(pb);
        if !pb.resource_types.contains(&ci.resource_type) {
            return None;
        }
        let before = guarded_state(ex.as_ref(), ci, &params);
        let before_digest = digest_json(&before);
        let desired =
            serde_json::json!({"facet": ex.desired(&before["facet"], &params), "tags": ci.tags});
        let id = digest_json(&serde_json::json!({
            "resource": ci.resource_ref(), "playbook": pb.id, "version": pb.version, "before": before_digest,
        }));
        Some(RemediationPlan {
            id: format!("plan-{}", id.short()),
            resource: ci.resource_ref(),
            resource_name: ci.resource_name.clone(),
            arn: ci.arn.clone(),
            tags: ci.tags.clone(),
            environment: environment.to_string(),
            production: true,
            related: ci.related_types(),
            control_id: finding.control_id.clone(),
            playbook: pb.id.clone(),
            playbook_version: pb.version.clone(),
            action: pb.action.clone(),
            action_kinds: pb.kinds.clone(),
            parameters: params,
            risk: serde_json::to_value(pb.risk)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            reversible: pb.reversible,
            requires_approval: pb.requires_approval,
            rollback: ex.rollback_steps(&before["facet"]),
            before,
            before_digest,
            desired,
        })
    }
}

fn params_json(pb: &Playbook) -> Value {
    serde_json::to_value(&pb.parameters).unwrap_or(Value::Null)
}

/// A TOML error with its line number up front.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().to_string();
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(1, |t| t.matches('\n').count() + 1);
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Executor;
    use std::sync::Arc;

    async fn registry() -> Registry {
        Registry::new(crate::executors_for_tests())
    }

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks")
    }

    #[tokio::test]
    async fn shipped_playbooks_load() {
        let set = PlaybookSet::load(&shipped(), &registry().await, &BTreeMap::new()).unwrap();
        assert_eq!(set.iter().count(), 7);
        assert!(!set.for_control("s3-versioning").unwrap().reversible);
    }

    #[tokio::test]
    async fn broken_playbooks_are_all_named_with_lines() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(
            shipped().join("s3-block-public-access.toml"),
            tmp.path().join("a.toml"),
        )
        .unwrap();
        std::fs::write(tmp.path().join("b.toml"), "id = \"b\"\nversion = \"1\"\ntitle = \"t\"\ncontrol = \"c\"\nresource_types = [\"AWS::S3::Bucket\"]\naction = \"s3:Nope\"\nrisk = \"low\"\nreversible = true\ndescription = \"d\"\n[rollback]\ndescription = \"r\"\n[verification]\nmethod = \"control\"\ndescription = \"v\"\n").unwrap();
        std::fs::write(
            tmp.path().join("c.toml"),
            "id = \"c\"\nversion = \"1\"\ncolour = \"blue\"\n",
        )
        .unwrap();
        std::fs::write(tmp.path().join("d.toml"), "id = [\n").unwrap();
        let errs = PlaybookSet::load(tmp.path(), &registry().await, &BTreeMap::new()).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 3, "{text:#?}");
        assert!(
            text[0].contains("b.toml") && text[0].contains("s3:Nope"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains("c.toml") && text[1].contains("line 3") && text[1].contains("colour"),
            "{}",
            text[1]
        );
        assert!(
            text[2].contains("d.toml") && text[2].contains("line "),
            "{}",
            text[2]
        );
    }

    #[tokio::test]
    async fn overrides_are_validated() {
        let mut o = BTreeMap::new();
        let mut t = toml::Table::new();
        t.insert("sseAlgorithm".into(), toml::Value::String("DES".into()));
        o.insert("s3-default-encryption".to_string(), t);
        let errs = PlaybookSet::load(&shipped(), &registry().await, &o).unwrap_err();
        assert!(errs[0].to_string().contains("DES"));
    }

    #[tokio::test]
    async fn plan_is_pure_and_digests_the_guarded_state() {
        let reg = registry().await;
        let set = PlaybookSet::load(&shipped(), &reg, &BTreeMap::new()).unwrap();
        let ci = ConfigurationItem::from_json(&serde_json::json!({
            "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "000000000000",
            "awsRegion": "us-east-1", "resourceType": "AWS::S3::Bucket", "resourceId": "b", "tags": {"team": "x"}
        }))
        .unwrap();
        let finding = Finding {
            control_id: "s3-public-access-block".into(),
            title: "t".into(),
            severity: custos_core::Severity::High,
            resource: ci.resource_ref(),
            frameworks: BTreeMap::new(),
            message: "m".into(),
            remediation: Some("s3-block-public-access".into()),
        };
        let plan = set.plan(&reg, &finding, &ci, "dev").unwrap();
        assert_eq!(plan.before["tags"]["team"], "x");
        assert_eq!(plan.desired["facet"]["restrictPublicBuckets"], true);
        assert_eq!(plan, set.plan(&reg, &finding, &ci, "dev").unwrap());
        let ex: &Arc<dyn Executor> = reg.get("s3:PutPublicAccessBlock").unwrap();
        assert!(!ex.satisfied(&plan.before["facet"], &plan.parameters));
    }
}
