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
    pub controls: ControlsSection,
    pub telemetry: TelemetrySection,
    pub schedules: Vec<ScheduleSection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlsSection {
    /// Ports that may be open to the internet (ec2-sg-open-ingress).
    pub web_ports: Option<Vec<i64>>,
    /// Tags every EC2 instance and security group must carry, with the placeholder value
    /// custos adds when one is missing (ec2-required-tags).
    pub required_tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySection {
    /// SQS queue receiving AWS Config change events (EventBridge or SNS).
    pub queue_url: Option<String>,
    pub wait_seconds: Option<i64>,
    /// Receives after which a message that keeps failing goes to the dead-letter table.
    pub max_receives: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSection {
    /// Cron expression with seconds: `sec min hour day-of-month month day-of-week`.
    pub cron: String,
    /// `scan` (full describe scan) or `reverify` (check past fixes for recurrence).
    pub task: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsSection {
    pub region: Option<String>,
    /// Regions to scan in the default account (default: the SDK's region).
    pub regions: Vec<String>,
    pub scan_concurrency: Option<usize>,
    /// Further accounts, each reached through an assumed role.
    pub accounts: Vec<AccountSection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSection {
    pub id: String,
    pub role_arn: Option<String>,
    pub regions: Vec<String>,
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
    /// Operator controls and gate packages, loaded with the shipped ones.
    pub overlay: Option<PathBuf>,
    pub eval_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlaybooksSection {
    pub dir: Option<PathBuf>,
    /// Operator playbooks, loaded with the shipped ones.
    pub overlay: Option<PathBuf>,
    pub overrides: BTreeMap<String, toml::Table>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateSection {
    pub exclusion_tag: Option<String>,
    pub exclusion_owner_tag: Option<String>,
    pub exclusions: Vec<ExclusionEntry>,
    pub max_actions_per_run: Option<i64>,
    pub max_actions_per_account_per_run: Option<i64>,
    pub max_actions_per_window: Option<i64>,
    pub window_hours: Option<i64>,
    pub max_percent_of_class: Option<i64>,
    pub min_class_size_for_percent: Option<i64>,
    pub always_approve: Vec<String>,
    pub change_windows: Vec<WindowSection>,
    pub blackouts: Vec<BlackoutSection>,
}

/// An exclusion: a glob over resource id and ARN, or the same with an owner, a reason
/// and an expiry date.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ExclusionEntry {
    Pattern(String),
    Detailed {
        pattern: String,
        owner: Option<String>,
        reason: Option<String>,
        expires: Option<String>,
    },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowSection {
    pub name: String,
    /// Environment the window governs, or `*`.
    pub environment: String,
    /// When the window opens (cron with seconds), in `timezone`.
    pub cron: String,
    pub duration_minutes: i64,
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlackoutSection {
    pub name: String,
    /// Environments it applies to; `["*"]` for all.
    pub environments: Vec<String>,
    pub cron: String,
    pub duration_minutes: i64,
    pub timezone: Option<String>,
}

/// A recurring period: opens at each cron fire (in its time zone) for `duration`.
#[derive(Debug, Clone)]
pub struct TimedWindow {
    pub name: String,
    pub environments: Vec<String>,
    pub expression: String,
    pub cron: cron::Schedule,
    pub duration: chrono::Duration,
    pub tz: chrono_tz::Tz,
}

impl TimedWindow {
    /// Is `now` inside one of the periods?
    pub fn active_at(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let start = (now - self.duration).with_timezone(&self.tz);
        self.cron
            .after(&start)
            .next()
            .is_some_and(|s| s.with_timezone(&chrono::Utc) <= now)
    }
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
    /// `offline` (default) or `openai` (any OpenAI-compatible endpoint).
    pub mode: Option<String>,
    pub timeout_ms: Option<u64>,
    pub offline: Option<OfflineRules>,
    /// e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`.
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// Name of the environment variable that holds the API key.
    pub api_key_env: Option<String>,
    pub min_confidence: Option<f64>,
    pub cache_ttl_seconds: Option<u64>,
    pub max_answer_bytes: Option<usize>,
    /// A text file of traffic events and freezes, one per line, given to the model.
    pub calendar_file: Option<PathBuf>,
}

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
    pub gate: serde_json::Value,
    pub environments: Environments,
    pub autonomy: AutonomyPolicy,
    pub approval_ttl: chrono::Duration,
    pub reasoning_timeout: Duration,
    pub offline_rules: OfflineRules,
    pub reasoner: ReasonerChoice,
    pub targets: Vec<custos_telemetry::aws::Target>,
    pub queue_url: Option<String>,
    pub queue_wait_seconds: i32,
    pub max_receives: u32,
    pub schedules: Vec<Schedule>,
    pub change_windows: Vec<TimedWindow>,
    pub blackouts: Vec<TimedWindow>,
    pub window_hours: i64,
}

/// What a schedule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Scan,
    Reverify,
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
        let r = &raw.reasoning;
        let reasoner = match r.mode.as_deref() {
            None | Some("offline") => ReasonerChoice::Offline,
            Some("openai") => {
                let base_url = r.base_url.clone().unwrap_or_default();
                if !base_url.starts_with("http://") && !base_url.starts_with("https://") {
                    bad(
                        "reasoning.base_url",
                        format!("`{base_url}` is not an http(s) URL (mode `openai` needs one)"),
                    );
                }
                let model = r.model.clone().unwrap_or_default();
                if model.trim().is_empty() {
                    bad("reasoning.model", "mode `openai` needs a model name".into());
                }
                let min_confidence = r.min_confidence.unwrap_or(0.7);
                if !(0.0..=1.0).contains(&min_confidence) {
                    bad(
                        "reasoning.min_confidence",
                        format!("must be 0 to 1, got `{min_confidence}`"),
                    );
                }
                let max_answer_bytes = r.max_answer_bytes.unwrap_or(64 * 1024);
                if !(256..=1024 * 1024).contains(&max_answer_bytes) {
                    bad(
                        "reasoning.max_answer_bytes",
                        format!("must be 256 to 1048576, got `{max_answer_bytes}`"),
                    );
                }
                ReasonerChoice::OpenAi {
                    base_url,
                    model,
                    api_key_env: r
                        .api_key_env
                        .clone()
                        .unwrap_or_else(|| "OPENAI_API_KEY".into()),
                    min_confidence,
                    cache_ttl: Duration::from_secs(r.cache_ttl_seconds.unwrap_or(900)),
                    max_answer_bytes,
                    calendar_file: r
                        .calendar_file
                        .clone()
                        .map(|p| if p.is_absolute() { p } else { base.join(p) }),
                }
            }
            Some(other) => {
                bad(
                    "reasoning.mode",
                    format!("`{other}` is not `offline` or `openai`"),
                );
                ReasonerChoice::Offline
            }
        };
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
        let mut exclusions = Vec::new();
        for (i, e) in raw.gate.exclusions.iter().enumerate() {
            let field = format!("gate.exclusions[{i}]");
            let (pattern, owner, reason, expires) = match e {
                ExclusionEntry::Pattern(p) => (p.clone(), None, None, None),
                ExclusionEntry::Detailed {
                    pattern,
                    owner,
                    reason,
                    expires,
                } => (
                    pattern.clone(),
                    owner.clone(),
                    reason.clone(),
                    expires.clone(),
                ),
            };
            if pattern.trim().is_empty() {
                bad(&field, "empty pattern".into());
            }
            if let Some(x) = &expires
                && chrono::NaiveDate::parse_from_str(x, "%Y-%m-%d").is_err()
            {
                bad(
                    &format!("{field}.expires"),
                    format!("`{x}` is not a date (YYYY-MM-DD)"),
                );
            }
            exclusions.push(serde_json::json!({
                "pattern": pattern,
                "owner": owner.unwrap_or_else(|| "unknown".into()),
                "reason": reason.unwrap_or_else(|| "no reason given".into()),
                "expires": expires.unwrap_or_default(),
            }));
        }
        let limit = |field: &str, v: Option<i64>, bad: &mut dyn FnMut(&str, String)| {
            if let Some(n) = v
                && n < 0
            {
                bad(field, format!("must be 0 or more, got `{n}`"));
            }
        };
        limit(
            "gate.max_actions_per_account_per_run",
            raw.gate.max_actions_per_account_per_run,
            &mut bad,
        );
        limit(
            "gate.max_actions_per_window",
            raw.gate.max_actions_per_window,
            &mut bad,
        );
        limit(
            "gate.min_class_size_for_percent",
            raw.gate.min_class_size_for_percent,
            &mut bad,
        );
        let window_hours = raw.gate.window_hours.unwrap_or(24);
        if !(1..=24 * 31).contains(&window_hours) {
            bad(
                "gate.window_hours",
                format!("must be 1 to 744, got `{window_hours}`"),
            );
        }
        let percent = raw.gate.max_percent_of_class.unwrap_or(100);
        if !(0..=100).contains(&percent) {
            bad(
                "gate.max_percent_of_class",
                format!("must be 0 to 100, got `{percent}`"),
            );
        }
        let timed = |field: String,
                     name: &str,
                     envs: Vec<String>,
                     expr: &str,
                     minutes: i64,
                     tz: Option<&String>,
                     bad: &mut dyn FnMut(&str, String)|
         -> Option<TimedWindow> {
            if name.trim().is_empty() {
                bad(&format!("{field}.name"), "a name is required".into());
            }
            if envs.is_empty() {
                bad(
                    &format!("{field}.environment"),
                    "name an environment or `*`".into(),
                );
            }
            if minutes <= 0 {
                bad(
                    &format!("{field}.duration_minutes"),
                    format!("must be more than 0, got `{minutes}`"),
                );
            }
            let tz_name = tz.cloned().unwrap_or_else(|| "UTC".into());
            let tz = tz_name
                .parse::<chrono_tz::Tz>()
                .map_err(|_| {
                    bad(
                        &format!("{field}.timezone"),
                        format!("`{tz_name}` is not an IANA time zone"),
                    )
                })
                .ok();
            let cron = expr
                .parse::<cron::Schedule>()
                .map_err(|e| {
                    bad(
                        &format!("{field}.cron"),
                        format!(
                            "`{expr}` is not a cron expression (sec min hour dom month dow): {e}"
                        ),
                    )
                })
                .ok();
            Some(TimedWindow {
                name: name.to_string(),
                environments: envs,
                expression: expr.to_string(),
                cron: cron?,
                duration: chrono::Duration::minutes(minutes),
                tz: tz?,
            })
        };
        let change_windows: Vec<TimedWindow> = raw
            .gate
            .change_windows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                timed(
                    format!("gate.change_windows[{i}]"),
                    &w.name,
                    vec![w.environment.to_ascii_lowercase()]
                        .into_iter()
                        .filter(|e| !e.is_empty())
                        .collect(),
                    &w.cron,
                    w.duration_minutes,
                    w.timezone.as_ref(),
                    &mut bad,
                )
            })
            .collect();
        let blackouts: Vec<TimedWindow> = raw
            .gate
            .blackouts
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                timed(
                    format!("gate.blackouts[{i}]"),
                    &b.name,
                    b.environments
                        .iter()
                        .map(|e| e.to_ascii_lowercase())
                        .collect(),
                    &b.cron,
                    b.duration_minutes,
                    b.timezone.as_ref(),
                    &mut bad,
                )
            })
            .collect();
        let region_list = |field: &str, regions: &[String], bad: &mut dyn FnMut(&str, String)| {
            for (i, r) in regions.iter().enumerate() {
                if !region_ok(r) {
                    bad(
                        &format!("{field}[{i}]"),
                        format!("`{r}` is not a region name"),
                    );
                }
            }
        };
        region_list("aws.regions", &raw.aws.regions, &mut bad);
        let mut targets = Vec::new();
        let mut seen_accounts = BTreeSet::new();
        for (i, a) in raw.aws.accounts.iter().enumerate() {
            if a.id.len() != 12 || !a.id.chars().all(|c| c.is_ascii_digit()) {
                bad(
                    &format!("aws.accounts[{i}].id"),
                    format!("expected 12 digits, got `{}`", a.id),
                );
            }
            if !seen_accounts.insert(a.id.clone()) {
                bad(
                    &format!("aws.accounts[{i}].id"),
                    format!("account `{}` is listed twice", a.id),
                );
            }
            if let Some(role) = &a.role_arn
                && (!role.starts_with("arn:") || !role.contains(":role/"))
            {
                bad(
                    &format!("aws.accounts[{i}].role_arn"),
                    format!("`{role}` is not a role ARN"),
                );
            }
            region_list(&format!("aws.accounts[{i}].regions"), &a.regions, &mut bad);
            targets.push(custos_telemetry::aws::Target {
                account: Some(a.id.clone()),
                role_arn: a.role_arn.clone(),
                regions: a.regions.clone(),
            });
        }
        if !targets.is_empty() || !raw.aws.regions.is_empty() {
            targets.insert(
                0,
                custos_telemetry::aws::Target {
                    account: None,
                    role_arn: None,
                    regions: raw.aws.regions.clone(),
                },
            );
        }
        let web_ports = raw
            .controls
            .web_ports
            .clone()
            .unwrap_or_else(|| vec![80, 443]);
        if web_ports.iter().any(|p| !(0..=65535).contains(p)) {
            bad("controls.web_ports", "ports must be 0 to 65535".into());
        }
        for (k, v) in &raw.controls.required_tags {
            if k.trim().is_empty() || k.len() > 128 || v.trim().is_empty() || v.len() > 256 {
                bad(
                    &format!("controls.required_tags.{k}"),
                    "tag keys need 1-128 characters and a non-empty placeholder value up to 256"
                        .into(),
                );
            }
        }
        if let Some(url) = &raw.telemetry.queue_url
            && !url.starts_with("http://")
            && !url.starts_with("https://")
        {
            bad("telemetry.queue_url", format!("`{url}` is not a queue URL"));
        }
        let wait = raw.telemetry.wait_seconds.unwrap_or(20);
        if !(0..=20).contains(&wait) {
            bad(
                "telemetry.wait_seconds",
                format!("must be 0 to 20, got `{wait}`"),
            );
        }
        let max_receives = raw.telemetry.max_receives.unwrap_or(5);
        if !(1..=100).contains(&max_receives) {
            bad(
                "telemetry.max_receives",
                format!("must be 1 to 100, got `{max_receives}`"),
            );
        }
        let mut schedules = Vec::new();
        for (i, sch) in raw.schedules.iter().enumerate() {
            let task = match sch.task.as_str() {
                "scan" => Some(Task::Scan),
                "reverify" => Some(Task::Reverify),
                other => {
                    bad(
                        &format!("schedules[{i}].task"),
                        format!("`{other}` is not `scan` or `reverify`"),
                    );
                    None
                }
            };
            match sch.cron.parse::<cron::Schedule>() {
                Ok(c) => {
                    if let Some(task) = task {
                        schedules.push(Schedule {
                            expression: sch.cron.clone(),
                            cron: c,
                            task,
                        });
                    }
                }
                Err(e) => bad(
                    &format!("schedules[{i}].cron"),
                    format!(
                        "`{}` is not a cron expression (sec min hour dom month dow): {e}",
                        sch.cron
                    ),
                ),
            }
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
            policy_overlay: raw.policy.overlay.map(|p| resolve(Some(p), "")),
            eval_timeout: Duration::from_millis(eval_ms),
            playbooks_dir: resolve(raw.playbooks.dir, "playbooks"),
            playbooks_overlay: raw.playbooks.overlay.map(|p| resolve(Some(p), "")),
            playbook_overrides: {
                // The controls' settings flow into their playbooks, so the two never disagree.
                let mut o = raw.playbooks.overrides;
                o.entry("ec2-revoke-open-ingress".into())
                    .or_default()
                    .insert(
                        "webPorts".into(),
                        toml::Value::Array(
                            web_ports.iter().map(|p| toml::Value::Integer(*p)).collect(),
                        ),
                    );
                o.entry("ec2-add-required-tags".into()).or_default().insert(
                    "defaults".into(),
                    toml::Value::Table(
                        raw.controls
                            .required_tags
                            .iter()
                            .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                            .collect(),
                    ),
                );
                o
            },
            gate: serde_json::json!({
                "exclusion_tag": exclusion_tag,
                "exclusion_owner_tag": raw.gate.exclusion_owner_tag.clone().unwrap_or_else(|| "custos:exclude-owner".into()),
                "exclusions": exclusions,
                "max_actions_per_run": max_actions,
                "max_actions_per_account_per_run": raw.gate.max_actions_per_account_per_run.unwrap_or(max_actions),
                "max_actions_per_window": raw.gate.max_actions_per_window.unwrap_or(-1),
                "max_percent_of_class": percent,
                "min_class_size_for_percent": raw.gate.min_class_size_for_percent.unwrap_or(10),
                "always_approve": raw.gate.always_approve,
                "settings": {
                    "web_ports": web_ports,
                    "required_tags": raw.controls.required_tags.keys().collect::<Vec<_>>(),
                },
            }),
            environments,
            autonomy: AutonomyPolicy {
                default,
                ceiling,
                classes,
            },
            approval_ttl: chrono::Duration::hours(ttl),
            reasoning_timeout: Duration::from_millis(reasoning_ms),
            offline_rules: raw.reasoning.offline.clone().unwrap_or_default(),
            reasoner,
            targets,
            queue_url: raw.telemetry.queue_url,
            queue_wait_seconds: i32::try_from(wait).unwrap_or(20),
            max_receives: u32::try_from(max_receives).unwrap_or(5),
            schedules,
            change_windows,
            blackouts,
            window_hours,
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
