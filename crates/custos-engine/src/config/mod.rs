//! `custos.toml`: parsed, then validated purely (every error at once, each naming its
//! field, one small validator per section), then turned into the typed settings the
//! layers use.

mod evidence;
mod identity;
mod notifications;
pub mod raw;
mod sections;
mod windows;

pub use evidence::{EvidenceSettings, KeySource, s3_url};
pub use identity::IdentitySettings;
pub use notifications::{WebhookSettings, WebhookUrl};
pub use raw::RawConfig;
pub use sections::{
    Adjust, BreakerSettings, ControlSettings, Exclusion, Fallback, GateSettings, GuardSettings,
    LearningSettings, RateLimit, RolloutSettings,
};
pub use windows::TimedWindow;

use custos_approval::AutonomyPolicy;
use custos_core::Environments;
use custos_reasoning::OfflineRules;
use sections::Errors;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The reasoner to build.
#[derive(Debug, Clone)]
pub enum ReasonerChoice {
    Offline,
    OpenAi {
        base_url: String,
        model: String,
        api_key_env: String,
        min_confidence: f64,
        cache_ttl: Duration,
        max_answer_bytes: usize,
        calendar_file: Option<PathBuf>,
    },
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Option<PathBuf>,
    pub region: Option<String>,
    pub scan_concurrency: usize,
    pub database_url: String,
    pub policy_dir: PathBuf,
    pub policy_overlay: Option<PathBuf>,
    pub eval_timeout: Duration,
    pub playbooks_dir: PathBuf,
    pub playbooks_overlay: Option<PathBuf>,
    pub playbook_overrides: BTreeMap<String, toml::Table>,
    pub gate: GateSettings,
    pub guard: GuardSettings,
    pub controls: ControlSettings,
    pub environments: Environments,
    pub autonomy: AutonomyPolicy,
    /// `[autonomy]`: learning from outcomes.
    pub learning: sections::LearningSettings,
    pub approval_ttl: chrono::Duration,
    pub quorum: custos_approval::Quorum,
    pub identity: IdentitySettings,
    /// `[notifications]`: a webhook for approval requests and an opened breaker.
    pub notifications: Option<WebhookSettings>,
    /// `[evidence]`: checkpoint signing and witnesses.
    pub evidence: EvidenceSettings,
    pub reasoning_timeout: Duration,
    pub offline_rules: OfflineRules,
    pub reasoner: ReasonerChoice,
    pub targets: Vec<custos_telemetry::aws::Target>,
    pub queue_url: Option<String>,
    /// `[telemetry] config_aggregator`: read AWS Config through this aggregator.
    pub config_aggregator: Option<String>,
    pub queue_wait_seconds: i32,
    pub max_receives: u32,
    /// Capture times later than now plus this are dead-lettered.
    pub max_clock_skew: chrono::Duration,
    pub schedules: Vec<Schedule>,
}

/// What a schedule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A full scan, read from where `from` says.
    Scan {
        from: ScanFrom,
    },
    Reverify,
}

/// Where a scheduled scan reads the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFrom {
    /// Every service described (`source = "describe"`, the default).
    Describe,
    /// What AWS Config recorded (`source = "config"`).
    Config,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub expression: String,
    pub cron: cron::Schedule,
    pub task: Task,
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
    /// The policy directories: shipped, then the overlay.
    pub fn policy_dirs(&self) -> Vec<PathBuf> {
        std::iter::once(self.policy_dir.clone())
            .chain(self.policy_overlay.clone())
            .collect()
    }

    /// The playbook directories: shipped, then the overlay.
    pub fn playbook_dirs(&self) -> Vec<PathBuf> {
        std::iter::once(self.playbooks_dir.clone())
            .chain(self.playbooks_overlay.clone())
            .collect()
    }

    /// What the policy bundle is built with: the evaluation time limit and
    /// [`Config::gate_data`].
    pub fn policy_options(&self) -> custos_policy::PolicyOptions {
        custos_policy::PolicyOptions {
            eval_timeout: self.eval_timeout,
            gate_config: self.gate_data(),
        }
    }

    /// `data.custos.config` for Rego: the gate's settings and the controls' settings.
    pub fn gate_data(&self) -> serde_json::Value {
        serde_json::json!({
            "exclusion_tag": self.gate.exclusion_tag,
            "exclusion_owner_tag": self.gate.exclusion_owner_tag,
            "exclusions": self.gate.exclusions,
            "always_approve": self.gate.always_approve,
            "iac": self.gate.iac,
            "new_resource_grace_minutes": self.gate.new_resource_grace_minutes,
            "settings": {
                "web_ports": self.controls.web_ports,
                "required_tags": self.controls.required_tags.keys().collect::<Vec<_>>(),
                "kms_key": self.controls.kms_key,
                "s3_sse_kms": self.controls.s3_sse_kms,
                "log_bucket": self.controls.log_bucket,
                "access_logging_prefixes": self.controls.access_logging_prefixes,
                "flow_log_destination": self.controls.flow_log_destination,
                "log_retention_days": self.controls.log_retention_days,
                "rds_backup_retention_days": self.controls.rds_backup_retention_days,
                "access_key_max_unused_days": self.controls.access_key_max_unused_days,
                "access_key_max_age_days": self.controls.access_key_max_age_days,
                "certificate_expiry_days": self.controls.certificate_expiry_days,
                "password_min_length": self.controls.password_min_length,
                "password_reuse_prevention": self.controls.password_reuse_prevention,
            },
        })
    }

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
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Config::from_toml(&text, &label, Some(path), base)
    }

    /// A configuration from its text; `label` names it in errors, relative paths are
    /// taken from `base`.
    pub fn from_toml(
        text: &str,
        label: &str,
        path: Option<&Path>,
        base: &Path,
    ) -> Result<Config, ConfigErrors> {
        let err = |field: &str, message: String| {
            ConfigErrors(vec![ConfigError {
                file: label.to_string(),
                field: field.into(),
                message,
            }])
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .and_then(|s| text.get(..s.start))
                .map_or(0, |t| t.matches('\n').count() + 1);
            err(&format!("line {line}"), e.message().to_string())
        })?;
        Config::validate(raw, path, base)
    }

    /// Pure validation: every problem is reported, none is fixed silently.
    pub fn validate(
        raw: RawConfig,
        source: Option<&Path>,
        base: &Path,
    ) -> Result<Config, ConfigErrors> {
        let mut e = Errors {
            file: source.map_or_else(|| "<defaults>".to_string(), |p| p.display().to_string()),
            list: Vec::new(),
        };
        let aws = sections::aws(&raw.aws, &mut e);
        let eval_ms = raw.policy.eval_timeout_ms.unwrap_or(250);
        if !(1..=10_000).contains(&eval_ms) {
            e.bad(
                "policy.eval_timeout_ms",
                format!("must be 1 to 10000, got `{eval_ms}`"),
            );
        }
        let environments = sections::environments(&raw.environments, &mut e);
        let autonomy = sections::autonomy(&raw.autonomy, &environments, &mut e);
        let learning = sections::learning(&raw.autonomy, &mut e);
        let ttl = raw.approvals.ttl_hours.unwrap_or(24);
        if !(1..=24 * 30).contains(&ttl) {
            e.bad(
                "approvals.ttl_hours",
                format!("must be 1 to 720, got `{ttl}`"),
            );
        }
        let reasoning = sections::reasoning(&raw.reasoning, base, &mut e);
        let gate = sections::gate(&raw.gate, &environments, &mut e);
        let guard = sections::guard(&raw.guard, &mut e);
        let controls = sections::controls(&raw.controls, &mut e);
        // A placeholder custos writes must never decide how custos treats the resource:
        // a required tag named like an environment key (`environment = "dev"` on a
        // production resource) or the exclusion tag would.
        for key in controls.required_tags.keys() {
            let decides = environments
                .tag_keys
                .iter()
                .chain(std::iter::once(&gate.exclusion_tag))
                .any(|k| k.eq_ignore_ascii_case(key));
            if decides {
                e.bad(
                    &format!("controls.required_tags.{key}"),
                    format!("`{key}` is a tag custos reads to classify or exclude a resource (`environments.tag_keys`, `gate.exclusion_tag`): a placeholder there would change how the resource is treated"),
                );
            }
        }
        let telemetry = sections::telemetry(&raw.telemetry, &mut e);
        let schedules = sections::schedules(&raw.schedules, &mut e);
        let quorum = identity::quorum(&raw.approvals, &mut e);
        let identity = identity::identity(&raw.identity, base, &mut e);
        let notifications = notifications::notifications(&raw.notifications, &mut e);
        let evidence = evidence::evidence(&raw.evidence, base, &mut e);
        if !e.list.is_empty() {
            return Err(ConfigErrors(e.list));
        }
        let resolve = |p: Option<PathBuf>, default: &str| {
            let p = p.unwrap_or_else(|| PathBuf::from(default));
            if p.is_absolute() { p } else { base.join(p) }
        };
        // The controls' settings flow into their playbooks, so the two never disagree.
        let mut overrides = raw.playbooks.overrides;
        overrides
            .entry("ec2-revoke-open-ingress".into())
            .or_default()
            .insert(
                "webPorts".into(),
                toml::Value::Array(
                    controls
                        .web_ports
                        .iter()
                        .map(|p| toml::Value::Integer(*p))
                        .collect(),
                ),
            );
        overrides
            .entry("add-required-tags".into())
            .or_default()
            .insert(
                "defaults".into(),
                toml::Value::Table(
                    controls
                        .required_tags
                        .iter()
                        .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                        .collect(),
                ),
            );
        for (playbook, parameter, value) in controls.playbook_parameters() {
            overrides
                .entry(playbook.into())
                .or_default()
                .insert(parameter.into(), value);
        }
        Ok(Config {
            source: source.map(Path::to_path_buf),
            region: aws.region,
            scan_concurrency: aws.scan_concurrency,
            database_url: raw
                .database
                .url
                .unwrap_or_else(|| base.join(".custos/ledger.db").display().to_string()),
            policy_dir: resolve(raw.policy.dir, "rego"),
            policy_overlay: raw.policy.overlay.map(|p| resolve(Some(p), "")),
            eval_timeout: Duration::from_millis(eval_ms),
            playbooks_dir: resolve(raw.playbooks.dir, "playbooks"),
            playbooks_overlay: raw.playbooks.overlay.map(|p| resolve(Some(p), "")),
            playbook_overrides: overrides,
            gate,
            guard,
            controls,
            environments,
            autonomy,
            learning,
            approval_ttl: chrono::Duration::hours(ttl),
            quorum,
            identity,
            notifications,
            evidence,
            reasoning_timeout: reasoning.timeout,
            offline_rules: reasoning.offline,
            reasoner: reasoning.choice,
            targets: aws.targets,
            queue_url: telemetry.queue_url,
            config_aggregator: telemetry.config_aggregator,
            queue_wait_seconds: telemetry.wait_seconds,
            max_receives: telemetry.max_receives,
            max_clock_skew: telemetry.max_clock_skew,
            schedules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::AutonomyLevel;

    #[test]
    fn all_errors_are_reported_at_once() {
        let raw: RawConfig = toml::from_str(
            "[aws]\nregion = \"US East\"\n[autonomy]\ndefault = 9\n[autonomy.classes.s3]\nproduction = 0\n[approvals]\nttl_hours = 0\n[reasoning]\nmode = \"magic\"\n[guard]\nrate_burst = 0\nsettle_seconds = 3600\n",
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
                "reasoning.mode",
                "guard.rate_burst",
                "guard.settle_seconds",
            ]
        );
        assert!(
            errs.to_string()
                .contains("c.toml: guard.settle_seconds: must be 0 to 1800, got `3600`")
        );
        assert!(
            errs.to_string()
                .contains("c.toml: autonomy.default: autonomy level must be 1 to 5, got `9`")
        );
    }

    #[test]
    fn iac_markers_default_to_cloudformation_and_are_checked() {
        let of = |text: &str| {
            let raw: RawConfig = toml::from_str(&format!("[gate]\n{text}")).unwrap();
            Config::validate(raw, Some(Path::new("c.toml")), Path::new("."))
                .map(|c| c.gate_data()["iac"].clone())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            of(""),
            Ok(
                serde_json::json!({"markers": [{"key": "aws:cloudformation:stack-name", "value": null}], "direct_fix": "recommend"})
            )
        );
        assert_eq!(
            of(
                "iac_markers = [\"managed-by = terraform\", \"tf:workspace\"]\niac_direct_fix = \"approve\""
            ),
            Ok(
                serde_json::json!({"markers": [{"key": "managed-by", "value": "terraform"}, {"key": "tf:workspace", "value": null}], "direct_fix": "approve"})
            )
        );
        let err = of("iac_markers = [\"=x\"]\niac_direct_fix = \"never\"").unwrap_err();
        assert!(
            err.contains("c.toml: gate.iac_markers[0]: a tag key of 1 to 128 characters")
                && err.contains("c.toml: gate.iac_direct_fix: must be `recommend`, `approve` or `allow`, got `never`"),
            "{err}"
        );
    }

    #[test]
    fn the_grace_period_is_off_by_default_and_at_most_a_week() {
        let of = |text: &str| {
            let raw: RawConfig = toml::from_str(&format!("[gate]\n{text}")).unwrap();
            Config::validate(raw, Some(Path::new("c.toml")), Path::new("."))
                .map(|c| c.gate_data()["new_resource_grace_minutes"].clone())
                .map_err(|e| e.to_string())
        };
        assert_eq!(of(""), Ok(serde_json::json!(0)));
        assert_eq!(
            of("new_resource_grace_minutes = 30"),
            Ok(serde_json::json!(30))
        );
        for bad in ["-1", "10081"] {
            let err = of(&format!("new_resource_grace_minutes = {bad}")).unwrap_err();
            assert!(
                err.contains(&format!(
                    "c.toml: gate.new_resource_grace_minutes: must be 0 to 10080, got `{bad}`"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn rollout_is_staged_or_broad() {
        let of = |text: &str| {
            let raw: RawConfig = toml::from_str(&format!("[autonomy]\n{text}")).unwrap();
            Config::validate(raw, Some(Path::new("c.toml")), Path::new("."))
                .map(|c| c.learning.rollout)
                .map_err(|e| e.to_string())
        };
        assert_eq!(of(""), Ok(None));
        assert_eq!(
            of("rollout = \"staged\"\nrollout_limited_percent = 25"),
            Ok(Some(RolloutSettings {
                limited_percent: 25,
                limited_count: 10
            }))
        );
        let err = of("rollout = \"canary\"\nrollout_limited_percent = 0").unwrap_err();
        assert!(
            err.contains("c.toml: autonomy.rollout: must be `staged` or `broad`, got `canary`")
                && err.contains("autonomy.rollout_limited_percent"),
            "{err}"
        );
    }

    #[test]
    fn fallback_is_baseline_or_left_out() {
        let of = |text: &str| {
            let raw: RawConfig = toml::from_str(&format!("[autonomy]\n{text}")).unwrap();
            Config::validate(raw, Some(Path::new("c.toml")), Path::new("."))
                .map(|c| c.learning.fallback)
                .map_err(|e| e.to_string())
        };
        assert_eq!(of(""), Ok(Fallback::Ranked));
        assert_eq!(of("fallback = \"baseline\""), Ok(Fallback::Baseline));
        let err = of("fallback = \"best\"").unwrap_err();
        assert!(
            err.contains("c.toml: autonomy.fallback: can only be `baseline`")
                && err.contains("`best`"),
            "{err}"
        );
    }

    #[test]
    fn identity_and_quorum_errors_are_reported_at_once() {
        let raw: RawConfig = toml::from_str(
            "[approvals]\nreviewers = 0\nclass_reviewers = { ec2 = 9 }\n[identity]\ntoken_ttl_days = 0\n[identity.oidc]\nissuer = \"\"\naudience = \"custos\"\njwks_url = \"http://idp.example.com/jwks\"\nleeway_seconds = 999\n[identity.oidc.roles]\nops = [\"root\", \"service\"]\n",
        )
        .unwrap();
        let errs = Config::validate(raw, Some(Path::new("c.toml")), Path::new(".")).unwrap_err();
        let all: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            all,
            [
                "c.toml: approvals.reviewers: must be 1 to 5, got `0`",
                "c.toml: approvals.class_reviewers.ec2: must be 1 to 5, got `9`",
                "c.toml: identity.token_ttl_days: must be 1 to 366, got `0`",
                "c.toml: identity.oidc.issuer: is required",
                "c.toml: identity.oidc.jwks_url: must use https (plain http only to 127.0.0.1, ::1 or localhost), got `http://idp.example.com/jwks`",
                "c.toml: identity.oidc.roles.ops: unknown role `root` (operator, reviewer, policy_admin, auditor)",
                "c.toml: identity.oidc.roles.ops: unknown role `service` (operator, reviewer, policy_admin, auditor)",
                "c.toml: identity.oidc.leeway_seconds: must be 0 to 300, got `999`",
            ]
        );
    }

    #[test]
    fn a_required_tag_custos_reads_to_classify_or_exclude_is_refused() {
        let raw: RawConfig = toml::from_str(
            "[controls]\nrequired_tags = { Environment = \"dev\", \"custos:exclude\" = \"no\", owner = \"unassigned\" }\n",
        )
        .unwrap();
        let errs = Config::validate(raw, None, Path::new(".")).unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "controls.required_tags.Environment",
                "controls.required_tags.custos:exclude"
            ]
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
    fn defaults_are_cautious_and_bounded() {
        let c = Config::validate(RawConfig::default(), None, Path::new("/x")).unwrap();
        let prod = c.environments.classify("production");
        assert_eq!(c.autonomy.level("s3", &prod), AutonomyLevel::Approve);
        assert_eq!(c.policy_dir, Path::new("/x/rego"));
        assert_eq!(c.gate.exclusion_tag, "custos:exclude");
        // Every limit is finite by default, the rolling window included.
        assert_eq!(c.gate.limits.per_window, 100);
        assert_eq!(c.guard.breaker.failures, 5);
        assert!(c.guard.rate.per_second > 0.0);
        assert_eq!(c.max_clock_skew, chrono::Duration::minutes(5));
    }

    #[test]
    fn environment_names_in_settings_resolve_through_aliases_and_typos_are_refused() {
        let raw: RawConfig = toml::from_str(
            "[environments]\naliases = { prd = \"production\", uat = \"staging\" }\n[autonomy.classes.s3]\nprd = 5\nuat = 4\n[[gate.blackouts]]\nname = \"freeze\"\nenvironments = [\"prod\"]\ncron = \"0 0 0 * * *\"\nduration_minutes = 10\n",
        )
        .unwrap();
        let c = Config::validate(raw, None, Path::new(".")).unwrap();
        let s3 = &c.autonomy.classes["s3"];
        assert_eq!(s3["production"], AutonomyLevel::Auto);
        assert_eq!(s3["staging"], AutonomyLevel::AutoLower);
        assert!(c.gate.blackouts[0].governs(&c.environments.classify("prd-eu")));
        let raw: RawConfig = toml::from_str(
            "[environments]\naliases = { prd = \"prodution\" }\n[[gate.change_windows]]\nname = \"w\"\nenvironment = \"prodution\"\ncron = \"0 0 0 * * *\"\nduration_minutes = 10\n",
        )
        .unwrap();
        let errs = Config::validate(raw, None, Path::new(".")).unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "environments.aliases.prd",
                "gate.change_windows[0].environment"
            ]
        );
    }
}
