//! Playbooks: TOML files under `playbooks/` that say how a control is remediated.

use crate::contract::guarded_state;
use crate::{ActionProperties, Catalog};
use custos_core::{
    ActionKind, ConfigurationItem, Environment, Finding, Operation, RemediationPlan, Risk,
    digest_json,
};
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
    /// Another way to remediate `control`, offered beside its baseline playbook (the one
    /// without `candidate = true`; each control has exactly one). The engine gates every
    /// candidate and ranks the ones the gate lets through by their outcomes (README,
    /// "Candidate fixes").
    #[serde(default)]
    pub candidate: bool,
    pub resource_types: Vec<String>,
    /// Executor action id.
    pub action: String,
    /// What kind of change this is. The executor's own kinds always apply; a playbook
    /// can add kinds (`delete`, `iam`, `secret`, `kms`, `cross-account`), never remove one.
    #[serde(default)]
    pub kinds: Vec<ActionKind>,
    /// The executor's risk applies; a playbook may raise it, never lower it.
    #[serde(default)]
    pub risk: Option<Risk>,
    /// The executor says whether the action can be rolled back exactly; a playbook may
    /// only say `false` where the executor says `true`.
    #[serde(default)]
    pub reversible: Option<bool>,
    /// The executor says whether every execution needs a human; a playbook may only add
    /// that requirement.
    #[serde(default)]
    pub requires_approval: Option<bool>,
    pub description: String,
    #[serde(default)]
    pub parameters: toml::Table,
    pub rollback: RollbackDoc,
    pub verification: VerificationDoc,
    #[serde(skip)]
    pub file: PathBuf,
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
    /// Playbook id -> playbook.
    by_id: BTreeMap<String, Playbook>,
    /// Control -> its baseline playbook, then its candidates in file order.
    by_control: BTreeMap<String, Vec<String>>,
    /// Playbook id -> what its action is: the executor's properties, made stricter by the
    /// playbook where it says so.
    properties: BTreeMap<String, ActionProperties>,
}

/// The executor's properties, made stricter by the playbook; a playbook that tries to
/// make them less strict is an error naming the field.
fn effective(pb: &Playbook, exec: ActionProperties) -> Result<ActionProperties, Vec<String>> {
    let mut errors = Vec::new();
    let mut p = exec.clone();
    if let Some(r) = pb.risk {
        if r < exec.risk {
            errors.push(format!(
                "field `risk`: `{r}` is below the `{}` risk of action `{}` (from its executor); a playbook may raise the risk, never lower it",
                exec.risk, pb.action
            ));
        }
        p.risk = p.risk.max(r);
    }
    match pb.reversible {
        Some(true) if !exec.reversible => errors.push(format!(
            "field `reversible`: action `{}` cannot be rolled back exactly (its executor says so); a playbook may only make an action stricter",
            pb.action
        )),
        Some(false) => p.reversible = false,
        _ => {}
    }
    match pb.requires_approval {
        Some(false) if exec.requires_approval => errors.push(format!(
            "field `requires_approval`: action `{}` always needs a human (its executor says so); a playbook may only make an action stricter",
            pb.action
        )),
        Some(true) => p.requires_approval = true,
        _ => {}
    }
    for k in &pb.kinds {
        if !p.kinds.contains(k) {
            p.kinds.push(*k);
        }
    }
    if errors.is_empty() {
        Ok(p)
    } else {
        Err(errors)
    }
}

impl PlaybookSet {
    /// Load every `*.toml` under `dir`. All errors are returned together; nothing loads
    /// unless everything is valid. `overrides` maps playbook id -> parameters that replace
    /// the playbook's own (from custos.toml).
    pub fn load(
        dir: &Path,
        catalog: &Catalog,
        overrides: &BTreeMap<String, toml::Table>,
    ) -> Result<Self, Vec<PlaybookError>> {
        Self::load_dirs(&[dir.to_path_buf()], catalog, overrides)
    }

    /// The shipped directory plus operator overlays. An id or a control claimed twice
    /// is an error naming both files: overlays add playbooks, they cannot replace one.
    pub fn load_dirs(
        dirs: &[PathBuf],
        catalog: &Catalog,
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
            match catalog.get(&pb.action) {
                None => errors.push(invalid(format!(
                    "field `action`: no executor for `{}` (known: {})",
                    pb.action,
                    catalog.actions().collect::<Vec<_>>().join(", ")
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
                    match effective(&pb, ex.properties()) {
                        Ok(p) => {
                            set.properties.insert(pb.id.clone(), p);
                        }
                        Err(es) => errors.extend(es.into_iter().map(&invalid)),
                    }
                }
            }
            if let Some(prev) = ids.insert(pb.id.clone(), path.clone()) {
                errors.push(invalid(format!(
                    "playbook id `{}` is already used by `{}`",
                    pb.id,
                    prev.display()
                )));
                continue;
            }
            if !pb.candidate
                && let Some(prev) = set.baseline(&pb.control)
            {
                errors.push(invalid(format!(
                    "control `{}` already has playbook `{}` (`{}`); another way to fix it says `candidate = true`",
                    pb.control,
                    prev.id,
                    prev.file.display()
                )));
                continue;
            }
            let ways = set.by_control.entry(pb.control.clone()).or_default();
            if pb.candidate {
                ways.push(pb.id.clone());
            } else {
                ways.insert(0, pb.id.clone());
            }
            set.by_id.insert(pb.id.clone(), pb);
        }
        for (control, ids) in &set.by_control {
            // A candidate never needs a person less than its baseline does: a control
            // fixed only with approval stays so, whichever way it is fixed.
            if let Some(b) = set.baseline(control) {
                let asks = |id: &str| set.properties.get(id).is_some_and(|p| p.requires_approval);
                for c in set.for_control(control).filter(|p| p.candidate) {
                    if asks(&b.id) && !asks(&c.id) {
                        errors.push(PlaybookError::Invalid {
                            path: c.file.clone(),
                            message: format!(
                                "field `requires_approval`: baseline `{}` of control `{control}` always needs a human, so candidate `{}` must too",
                                b.id, c.id
                            ),
                        });
                    }
                }
            }
            if set.baseline(control).is_none() {
                for id in ids {
                    let path = set
                        .by_id
                        .get(id)
                        .map(|p| p.file.clone())
                        .unwrap_or_default();
                    errors.push(PlaybookError::Invalid {
                        path,
                        message: format!(
                            "field `candidate`: control `{control}` has no baseline playbook (one without `candidate = true`) for candidate `{id}` to be offered beside"
                        ),
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// The baseline playbook of `control`.
    pub fn baseline(&self, control: &str) -> Option<&Playbook> {
        self.by_control
            .get(control)?
            .first()
            .and_then(|id| self.by_id.get(id))
            .filter(|p| !p.candidate)
    }

    /// Every playbook of `control`: its baseline first, then its candidates.
    pub fn for_control(&self, control: &str) -> impl Iterator<Item = &Playbook> {
        self.by_control
            .get(control)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
    }

    pub fn get(&self, id: &str) -> Option<&Playbook> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Playbook> {
        self.by_id.values()
    }

    /// Whether playbook `id` can be planned with its parameters as configured (a
    /// candidate that needs the operator's values is not until they are set).
    pub fn offered(&self, catalog: &Catalog, id: &str) -> Result<(), String> {
        let pb = self.get(id).ok_or_else(|| format!("no playbook `{id}`"))?;
        let ex = catalog
            .get(&pb.action)
            .ok_or_else(|| format!("no executor for `{}`", pb.action))?;
        ex.offered(&params_json(pb))
    }

    /// What the playbook's action is (executor properties, made stricter by the playbook).
    pub fn properties(&self, playbook_id: &str) -> Option<&ActionProperties> {
        self.properties.get(playbook_id)
    }

    /// Plan the remediation of `finding` on `ci` with the control's baseline playbook.
    /// Pure: no call is made.
    pub fn plan(
        &self,
        catalog: &Catalog,
        finding: &Finding,
        ci: &ConfigurationItem,
        environment: &Environment,
    ) -> Option<RemediationPlan> {
        let pb = self.baseline(&finding.control_id)?;
        self.plan_with(catalog, &pb.id, finding, ci, environment)
            .ok()
    }

    /// Every way to remediate `finding` on `ci`: the baseline playbook's plan first, then
    /// each candidate's, or why a candidate is not offered (its parameters are not
    /// configured, or it does not handle the resource type).
    pub fn plan_all(
        &self,
        catalog: &Catalog,
        finding: &Finding,
        ci: &ConfigurationItem,
        environment: &Environment,
    ) -> Vec<(String, Result<RemediationPlan, String>)> {
        self.for_control(&finding.control_id)
            .map(|pb| {
                (
                    pb.id.clone(),
                    self.plan_with(catalog, &pb.id, finding, ci, environment),
                )
            })
            .collect()
    }

    /// Plan with one named playbook of `finding`'s control (the one a decision or an
    /// approval chose). Pure: no call is made.
    pub fn plan_with(
        &self,
        catalog: &Catalog,
        playbook: &str,
        finding: &Finding,
        ci: &ConfigurationItem,
        environment: &Environment,
    ) -> Result<RemediationPlan, String> {
        let pb = self
            .get(playbook)
            .filter(|p| p.control == finding.control_id)
            .ok_or_else(|| {
                format!(
                    "playbook `{playbook}` does not remediate control `{}`",
                    finding.control_id
                )
            })?;
        let ex = catalog
            .get(&pb.action)
            .ok_or_else(|| format!("no executor for `{}`", pb.action))?;
        let props = self
            .properties
            .get(&pb.id)
            .ok_or_else(|| format!("playbook `{}` has no properties", pb.id))?;
        let params = params_json(pb);
        if !pb.resource_types.contains(&ci.resource_type) {
            return Err(format!(
                "playbook `{}` does not handle `{}`",
                pb.id, ci.resource_type
            ));
        }
        ex.offered(&params)
            .map_err(|why| format!("not offered: {why}"))?;
        let before = guarded_state(ex.as_ref(), ci, &params);
        let before_digest = digest_json(&before);
        let desired =
            serde_json::json!({"facet": ex.desired(&before["facet"], &params), "tags": ci.tags});
        let id = digest_json(&serde_json::json!({
            "resource": ci.resource_ref(), "playbook": pb.id, "version": pb.version, "before": before_digest,
        }));
        let rollback = ex.rollback_steps(&before["facet"]);
        let guided = guided(ex.as_ref(), pb, finding, ci, &params, &before["facet"]);
        Ok(RemediationPlan {
            id: format!("plan-{}", id.short()),
            resource: ci.resource_ref(),
            resource_name: ci.resource_name.clone(),
            arn: ci.arn.clone(),
            resource_created: ci.resource_creation_time,
            tags: ci.tags.clone(),
            environment: environment.name.clone(),
            production: environment.class.is_production(),
            related: ci.related_types(),
            control_id: finding.control_id.clone(),
            playbook: pb.id.clone(),
            playbook_version: pb.version.clone(),
            action: pb.action.clone(),
            action_kinds: props.kinds.clone(),
            parameters: params,
            risk: props.risk,
            // Reversible only when the executor says so and every step for this before
            // state is exact.
            reversible: props.reversible && rollback.iter().all(|s| s.exact),
            requires_approval: props.requires_approval,
            rollback,
            before,
            before_digest,
            desired,
            operation: Operation::Fix,
            guided,
        })
    }
}

/// The guided fix of a plan: what the playbook does, its requests as AWS CLI commands
/// with this resource's values ([`crate::Action::cli`]), and the control's Terraform with
/// the finding's values (`Finding::terraform`). `None` when the action writes no
/// request for this state.
fn guided(
    ex: &dyn crate::Action,
    pb: &Playbook,
    finding: &Finding,
    ci: &ConfigurationItem,
    params: &Value,
    before: &Value,
) -> Option<custos_core::Guidance> {
    let cli: Vec<String> = ex
        .cli(ci, params, before)
        .iter()
        .map(|r| r.command(&ci.aws_region))
        .collect();
    (!cli.is_empty()).then(|| custos_core::Guidance {
        text: format!(
            "{} (playbook `{}` {}), by hand: the same requests custos would send, with this resource's values as read at {}. Run them soon, or read the resource again first: a request that replaces a whole document or tag set overwrites what changed since.",
            pb.title.trim_end_matches('.'),
            pb.id,
            pb.version,
            ci.configuration_item_capture_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        cli,
        terraform: finding.terraform.clone().unwrap_or_default(),
    })
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
    use crate::Action;
    use std::sync::Arc;

    async fn registry() -> Catalog {
        crate::offline_catalog()
    }

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks")
    }

    #[tokio::test]
    async fn shipped_playbooks_load() {
        let set = PlaybookSet::load(&shipped(), &registry().await, &BTreeMap::new()).unwrap();
        assert_eq!(set.iter().count(), 37);
        let ways: Vec<&str> = set
            .for_control("ec2-sg-open-ingress")
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(ways, ["ec2-revoke-open-ingress", "ec2-narrow-open-ingress"]);
        assert_eq!(
            set.baseline("ec2-sg-open-ingress").unwrap().id,
            "ec2-revoke-open-ingress"
        );
        let versioning = set.baseline("s3-versioning").unwrap();
        assert_eq!(versioning.reversible, Some(false));
        let p = set.properties(&versioning.id).unwrap();
        assert!(!p.reversible && p.requires_approval);
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
    async fn a_playbook_can_make_an_action_stricter_but_never_looser() {
        let tmp = tempfile::tempdir().unwrap();
        let versioning = std::fs::read_to_string(shipped().join("s3-enable-versioning.toml"))
            .unwrap()
            .replace(
                "reversible = false",
                "reversible = true\nrequires_approval = false",
            )
            .replace("risk = \"medium\"", "risk = \"low\"");
        std::fs::write(tmp.path().join("v.toml"), versioning).unwrap();
        let errs = PlaybookSet::load(tmp.path(), &registry().await, &BTreeMap::new()).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        for field in ["`risk`", "`reversible`", "`requires_approval`"] {
            assert!(
                text.iter()
                    .any(|t| t.contains("v.toml") && t.contains(field)),
                "{field} not named: {text:#?}"
            );
        }
        // Stricter is fine: a reversible action declared irreversible, high risk, `delete`.
        let pab = std::fs::read_to_string(shipped().join("s3-block-public-access.toml"))
            .unwrap()
            .replace("reversible = true", "reversible = false")
            .replace("risk = \"low\"", "risk = \"high\"")
            .replace("kinds = [\"configure\"]", "kinds = [\"delete\"]");
        std::fs::remove_file(tmp.path().join("v.toml")).unwrap();
        std::fs::write(tmp.path().join("p.toml"), pab).unwrap();
        let set = PlaybookSet::load(tmp.path(), &registry().await, &BTreeMap::new()).unwrap();
        let p = set.properties("s3-block-public-access").unwrap();
        assert!(!p.reversible);
        assert_eq!(p.risk, Risk::High);
        assert_eq!(p.kinds, vec![ActionKind::Configure, ActionKind::Delete]);
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
            guidance: None,
            terraform: None,
        };
        let dev = custos_core::Environments::default().classify("dev");
        let plan = set.plan(&reg, &finding, &ci, &dev).unwrap();
        assert_eq!(plan.before["tags"]["team"], "x");
        assert_eq!(plan.desired["facet"]["restrictPublicBuckets"], true);
        assert_eq!(plan, set.plan(&reg, &finding, &ci, &dev).unwrap());
        assert!(!plan.production);
        let ex: &Arc<dyn Action> = reg.get("s3:PutPublicAccessBlock").unwrap();
        assert!(!ex.satisfied(&plan.before["facet"], &plan.parameters));
    }

    fn open_group() -> ConfigurationItem {
        ConfigurationItem::from_json(&serde_json::json!({
            "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "000000000000",
            "awsRegion": "us-east-1", "resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-1",
            "configuration": {"ipPermissions": [
                {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                 "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}, {"cidrIp": "10.0.0.0/8", "description": "vpn"}],
                 "ipv6Ranges": [{"cidrIpv6": "::/0"}]},
                {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}]}
            ]}
        }))
        .unwrap()
    }

    fn sg_finding(ci: &ConfigurationItem) -> Finding {
        Finding {
            control_id: "ec2-sg-open-ingress".into(),
            title: "t".into(),
            severity: custos_core::Severity::High,
            resource: ci.resource_ref(),
            frameworks: BTreeMap::new(),
            message: "m".into(),
            remediation: Some("ec2-revoke-open-ingress".into()),
            guidance: None,
            terraform: None,
        }
    }

    #[tokio::test]
    async fn a_candidate_is_offered_once_its_parameters_are_configured() {
        let reg = registry().await;
        let ci = open_group();
        let finding = sg_finding(&ci);
        let dev = custos_core::Environments::default().classify("dev");
        let set = PlaybookSet::load(&shipped(), &reg, &BTreeMap::new()).unwrap();
        let all = set.plan_all(&reg, &finding, &ci, &dev);
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].1.as_ref().unwrap().playbook,
            "ec2-revoke-open-ingress"
        );
        let why = all[1].1.as_ref().unwrap_err();
        assert!(
            why.starts_with("not offered: ") && why.contains("`adminCidrs`"),
            "{why}"
        );

        let mut o = BTreeMap::new();
        let mut t = toml::Table::new();
        t.insert(
            "adminCidrs".into(),
            toml::Value::Array(vec![
                toml::Value::String("10.0.0.0/8".into()),
                toml::Value::String("192.0.2.0/24".into()),
            ]),
        );
        o.insert("ec2-narrow-open-ingress".to_string(), t);
        let set = PlaybookSet::load(&shipped(), &reg, &o).unwrap();
        let plan = set
            .plan_with(&reg, "ec2-narrow-open-ingress", &finding, &ci, &dev)
            .unwrap();
        let entry = |family: &str, cidr: &str, description: Value| serde_json::json!({"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "family": family, "cidr": cidr, "description": description});
        // Only 22 is offending (443 is a web port); 10.0.0.0/8 has it already, so only
        // 192.0.2.0/24 is added; `::/0` has no IPv6 administrative range: only revoked.
        let before = &plan.before["facet"];
        assert_eq!(
            before["open"],
            serde_json::json!([
                entry("ipv4", "0.0.0.0/0", Value::Null),
                entry("ipv6", "::/0", Value::Null)
            ])
        );
        assert_eq!(
            before["admin"],
            serde_json::json!([entry("ipv4", "10.0.0.0/8", "vpn".into())])
        );
        assert_eq!(
            before["add"],
            serde_json::json!([entry("ipv4", "192.0.2.0/24", Value::Null)])
        );
        assert_eq!(
            plan.desired["facet"],
            serde_json::json!({"open": [], "add": [], "admin": [
                entry("ipv4", "10.0.0.0/8", "vpn".into()), entry("ipv4", "192.0.2.0/24", Value::Null)
            ]})
        );
        // The rollback authorizes what was revoked and revokes only what was added.
        assert_eq!(plan.rollback.len(), 2);
        assert_eq!(plan.rollback[1].parameters["entries"], before["add"]);
        assert!(plan.reversible);
        // A candidate names the playbook it was planned with, and a playbook of another
        // control is never planned for this one.
        assert_eq!(plan.playbook, "ec2-narrow-open-ingress");
        assert!(
            set.plan_with(&reg, "s3-block-public-access", &finding, &ci, &dev)
                .is_err()
        );
    }

    #[tokio::test]
    async fn administrative_ranges_must_be_narrow_network_addresses() {
        let reg = registry().await;
        for (cidr, says) in [
            ("0.0.0.0/0", "wider than /8"),
            ("128.0.0.0/1", "wider than /8"),
            ("10.0.0.1/8", "host bits"),
            ("::/0", "wider than /32"),
            ("2001::/16", "wider than /32"),
            ("2001:DB8::/32", "write the address as `2001:db8::`"),
            ("10.0.0.0/+8", "not a plain number"),
            ("10.0.0.0/08", "not a plain number"),
            ("10.0.0.0/33", "longer than 32"),
            ("bastion", "not a CIDR"),
            ("10.0.0.300/32", "not an IP address"),
        ] {
            let mut o = BTreeMap::new();
            let mut t = toml::Table::new();
            t.insert(
                "adminCidrs".into(),
                toml::Value::Array(vec![toml::Value::String(cidr.into())]),
            );
            o.insert("ec2-narrow-open-ingress".to_string(), t);
            let errs = PlaybookSet::load(&shipped(), &reg, &o).unwrap_err();
            let text = errs[0].to_string();
            assert!(
                text.contains("ec2-narrow-open-ingress.toml")
                    && text.contains("`adminCidrs`")
                    && text.contains(says),
                "{cidr}: {text}"
            );
        }
    }

    #[tokio::test]
    async fn a_control_has_one_baseline_and_candidates_beside_it() {
        let reg = registry().await;
        let tmp = tempfile::tempdir().unwrap();
        let revoke =
            std::fs::read_to_string(shipped().join("ec2-revoke-open-ingress.toml")).unwrap();
        let narrow =
            std::fs::read_to_string(shipped().join("ec2-narrow-open-ingress.toml")).unwrap();
        // Two baselines for one control: the second is named with the first.
        std::fs::write(tmp.path().join("a.toml"), &revoke).unwrap();
        std::fs::write(
            tmp.path().join("b.toml"),
            narrow.replace("candidate = true\n", ""),
        )
        .unwrap();
        let errs = PlaybookSet::load(tmp.path(), &reg, &BTreeMap::new()).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 1, "{text:#?}");
        assert!(
            text[0].contains("b.toml")
                && text[0].contains("already has playbook `ec2-revoke-open-ingress`")
                && text[0].contains("candidate = true"),
            "{}",
            text[0]
        );
        // A candidate with no baseline to stand beside.
        std::fs::remove_file(tmp.path().join("a.toml")).unwrap();
        std::fs::write(tmp.path().join("b.toml"), &narrow).unwrap();
        let errs = PlaybookSet::load(tmp.path(), &reg, &BTreeMap::new()).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 1, "{text:#?}");
        assert!(
            text[0].contains("b.toml") && text[0].contains("no baseline playbook"),
            "{}",
            text[0]
        );
        // A candidate beside a baseline that always asks a person must ask too.
        std::fs::write(
            tmp.path().join("a.toml"),
            revoke.replace(
                "reversible = true",
                "reversible = true\nrequires_approval = true",
            ),
        )
        .unwrap();
        let errs = PlaybookSet::load(tmp.path(), &reg, &BTreeMap::new()).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 1, "{text:#?}");
        assert!(
            text[0].contains("b.toml") && text[0].contains("`requires_approval`"),
            "{}",
            text[0]
        );
        std::fs::remove_file(tmp.path().join("a.toml")).unwrap();
        // Both, in either file order: the baseline first.
        std::fs::write(tmp.path().join("z.toml"), &revoke).unwrap();
        let set = PlaybookSet::load(tmp.path(), &reg, &BTreeMap::new()).unwrap();
        let ways: Vec<&str> = set
            .for_control("ec2-sg-open-ingress")
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(ways, ["ec2-revoke-open-ingress", "ec2-narrow-open-ingress"]);
    }
}
