//! `custos.toml`: parsed, then validated purely (every error at once, each naming its
//! field), then turned into the settings the layers use.

use custos_approval::{AutonomyPolicy, Environments};
use custos_core::AutonomyLevel;
use custos_reasoning::OfflineRules;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub aws: AwsSection,
    pub database: DatabaseSection,
    pub policy: PolicySection,
    pub playbooks: PlaybooksSection,
    pub gate: GateSection,
    pub environments: EnvironmentsSection,
    pub autonomy: AutonomySection,
    pub approvals: ApprovalsSection,
    pub reasoning: ReasoningSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsSection {
    pub region: Option<String>,
    pub scan_concurrency: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSection {
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySection {
    pub dir: Option<PathBuf>,
    pub eval_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlaybooksSection {
    pub dir: Option<PathBuf>,
    pub overrides: BTreeMap<String, toml::Table>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateSection {
    pub exclusion_tag: Option<String>,
    pub exclusions: Vec<String>,
    pub max_actions_per_run: Option<i64>,
    pub always_approve: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentsSection {
    pub tag_keys: Option<Vec<String>>,
    pub default: Option<String>,
    pub non_production: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutonomySection {
    pub default: Option<i64>,
    pub ceiling: Option<i64>,
    pub classes: BTreeMap<String, BTreeMap<String, i64>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsSection {
    pub ttl_hours: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReasoningSection {
    pub mode: Option<String>,
    pub timeout_ms: Option<u64>,
    pub offline: Option<OfflineRules>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Option<PathBuf>,
    pub region: Option<String>,
    pub scan_concurrency: usize,
    pub database_url: String,
    pub policy_dir: PathBuf,
    pub eval_timeout: Duration,
    pub playbooks_dir: PathBuf,
    pub playbook_overrides: BTreeMap<String, toml::Table>,
    pub gate: serde_json::Value,
    pub environments: Environments,
    pub autonomy: AutonomyPolicy,
    pub approval_ttl: chrono::Duration,
    pub reasoning_timeout: Duration,
    pub offline_rules: OfflineRules,
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration is invalid:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl Config {
    /// Read and validate a config file. `None`: built-in defaults (paths relative to the
    /// working directory).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        let Some(path) = path else {
            return Config::validate(RawConfig::default(), None, Path::new("."));
        };
        let label = path.display().to_string();
        let err = |field: &str, message: String| {
            ConfigErrors(vec![ConfigError {
                file: label.clone(),
                field: field.into(),
                message,
            }])
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| err("-", format!("cannot read: {e}")))?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .and_then(|s| text.get(..s.start))
                .map_or(0, |t| t.matches('\n').count() + 1);
            err(&format!("line {line}"), e.message().to_string())
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Config::validate(raw, Some(path), base)
    }

    /// Pure validation: every problem is reported, none is fixed silently.
    pub fn validate(
        raw: RawConfig,
        source: Option<&Path>,
        base: &Path,
    ) -> Result<Config, ConfigErrors> {
        let file = source.map_or_else(|| "<defaults>".to_string(), |p| p.display().to_string());
        let mut errors = Vec::new();
        let mut bad = |field: &str, message: String| {
            errors.push(ConfigError {
                file: file.clone(),
                field: field.into(),
                message,
            })
        };
        let level = |field: String, n: i64, bad: &mut dyn FnMut(&str, String)| -> AutonomyLevel {
            u8::try_from(n)
                .ok()
                .and_then(|n| AutonomyLevel::try_from(n).ok())
                .unwrap_or_else(|| {
                    bad(&field, format!("autonomy level must be 1 to 5, got `{n}`"));
                    AutonomyLevel::Observe
                })
        };

        let region_ok = |r: &str| {
            !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if let Some(r) = raw.aws.region.as_deref().filter(|r| !region_ok(r)) {
            bad("aws.region", format!("`{r}` is not a region name"));
        }
        let scan_concurrency = raw.aws.scan_concurrency.unwrap_or(8);
        if !(1..=64).contains(&scan_concurrency) {
            bad(
                "aws.scan_concurrency",
                format!("must be 1 to 64, got `{scan_concurrency}`"),
            );
        }
        let eval_ms = raw.policy.eval_timeout_ms.unwrap_or(250);
        if !(1..=10_000).contains(&eval_ms) {
            bad(
                "policy.eval_timeout_ms",
                format!("must be 1 to 10000, got `{eval_ms}`"),
            );
        }
        let exclusion_tag = raw
            .gate
            .exclusion_tag
            .clone()
            .unwrap_or_else(|| "custos:exclude".into());
        if exclusion_tag.trim().is_empty() || exclusion_tag.len() > 128 {
            bad(
                "gate.exclusion_tag",
                "must be a tag key of 1 to 128 characters".into(),
            );
        }
        let max_actions = raw.gate.max_actions_per_run.unwrap_or(25);
        if max_actions < 0 {
            bad(
                "gate.max_actions_per_run",
                format!("must be 0 or more, got `{max_actions}`"),
            );
        }
        for (i, p) in raw.gate.exclusions.iter().enumerate() {
            if p.trim().is_empty() {
                bad(&format!("gate.exclusions[{i}]"), "empty pattern".into());
            }
        }
        let default = level(
            "autonomy.default".into(),
            raw.autonomy.default.unwrap_or(3),
            &mut bad,
        );
        let ceiling = level(
            "autonomy.ceiling".into(),
            raw.autonomy.ceiling.unwrap_or(5),
            &mut bad,
        );
        let mut classes = BTreeMap::new();
        for (class, envs) in &raw.autonomy.classes {
            let mut m = BTreeMap::new();
            for (env, n) in envs {
                m.insert(
                    env.to_ascii_lowercase(),
                    level(format!("autonomy.classes.{class}.{env}"), *n, &mut bad),
                );
            }
            classes.insert(class.to_ascii_lowercase(), m);
        }
        let ttl = raw.approvals.ttl_hours.unwrap_or(24);
        if !(1..=24 * 30).contains(&ttl) {
            bad(
                "approvals.ttl_hours",
                format!("must be 1 to 720, got `{ttl}`"),
            );
        }
        match raw.reasoning.mode.as_deref() {
            None | Some("offline") => {}
            Some(other) => bad(
                "reasoning.mode",
                format!("`{other}` is not available yet; use `offline`"),
            ),
        }
        let reasoning_ms = raw.reasoning.timeout_ms.unwrap_or(10_000);
        if !(1..=120_000).contains(&reasoning_ms) {
            bad(
                "reasoning.timeout_ms",
                format!("must be 1 to 120000, got `{reasoning_ms}`"),
            );
        }
        let mut environments = Environments::default();
        if let Some(k) = raw.environments.tag_keys.clone() {
            if k.is_empty() {
                bad(
                    "environments.tag_keys",
                    "must name at least one tag key".into(),
                );
            }
            environments.tag_keys = k;
        }
        if let Some(d) = raw.environments.default.clone() {
            environments.default = d.to_ascii_lowercase();
        }
        if let Some(n) = raw.environments.non_production.clone() {
            environments.non_production = n
                .into_iter()
                .map(|s| s.to_ascii_lowercase())
                .collect::<BTreeSet<_>>();
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let resolve = |p: Option<PathBuf>, default: &str| {
            let p = p.unwrap_or_else(|| PathBuf::from(default));
            if p.is_absolute() { p } else { base.join(p) }
        };
        Ok(Config {
            source: source.map(Path::to_path_buf),
            region: raw.aws.region,
            scan_concurrency,
            database_url: raw
                .database
                .url
                .unwrap_or_else(|| base.join(".custos/ledger.db").display().to_string()),
            policy_dir: resolve(raw.policy.dir, "rego"),
            eval_timeout: Duration::from_millis(eval_ms),
            playbooks_dir: resolve(raw.playbooks.dir, "playbooks"),
            playbook_overrides: raw.playbooks.overrides,
            gate: serde_json::json!({
                "exclusion_tag": exclusion_tag,
                "exclusions": raw.gate.exclusions,
                "max_actions_per_run": max_actions,
                "always_approve": raw.gate.always_approve,
            }),
            environments,
            autonomy: AutonomyPolicy {
                default,
                ceiling,
                classes,
            },
            approval_ttl: chrono::Duration::hours(ttl),
            reasoning_timeout: Duration::from_millis(reasoning_ms),
            offline_rules: raw.reasoning.offline.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_errors_are_reported_at_once() {
        let raw: RawConfig = toml::from_str(
            "[aws]\nregion = \"US East\"\n[autonomy]\ndefault = 9\n[autonomy.classes.s3]\nproduction = 0\n[approvals]\nttl_hours = 0\n[reasoning]\nmode = \"magic\"\n",
        )
        .unwrap();
        let errs = Config::validate(raw, Some(Path::new("c.toml")), Path::new(".")).unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "aws.region",
                "autonomy.default",
                "autonomy.classes.s3.production",
                "approvals.ttl_hours",
                "reasoning.mode"
            ]
        );
        assert!(
            errs.to_string()
                .contains("c.toml: autonomy.default: autonomy level must be 1 to 5, got `9`")
        );
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("custos.toml");
        std::fs::write(&p, "[gate]\nmax_actions_per_run = 3\ncolour = 1\n").unwrap();
        let errs = Config::load(Some(&p)).unwrap_err();
        assert_eq!(errs.0[0].field, "line 3");
        assert!(errs.0[0].message.contains("colour"));
    }

    #[test]
    fn defaults_are_cautious() {
        let c = Config::validate(RawConfig::default(), None, Path::new("/x")).unwrap();
        assert_eq!(c.autonomy.level("s3", "production"), AutonomyLevel::Approve);
        assert_eq!(c.policy_dir, Path::new("/x/rego"));
        assert_eq!(c.gate["exclusion_tag"], "custos:exclude");
    }
}
