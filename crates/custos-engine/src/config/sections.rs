//! One small, pure validator per section. Each reports every problem it finds (with its
//! field) and returns typed settings; nothing is fixed silently.

use super::raw::*;
use super::windows::TimedWindow;
use super::{ConfigError, ReasonerChoice, ScanFrom, Schedule, Task};
use custos_approval::AutonomyPolicy;
use custos_core::{AutonomyLevel, EnvSelector, Environments};
use custos_policy::Limits;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// Collects problems, each with its file and field.
#[derive(Debug)]
pub(crate) struct Errors {
    pub file: String,
    pub list: Vec<ConfigError>,
}

impl Errors {
    pub fn bad(&mut self, field: &str, message: String) {
        self.list.push(ConfigError {
            file: self.file.clone(),
            field: field.into(),
            message,
        });
    }

    /// `value` when it lies in `range`, else the default after reporting the field.
    fn within<T: PartialOrd + Copy + std::fmt::Display>(
        &mut self,
        field: &str,
        value: Option<T>,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> T {
        let v = value.unwrap_or(default);
        if !range.contains(&v) {
            self.bad(
                field,
                format!("must be {} to {}, got `{v}`", range.start(), range.end()),
            );
        }
        v
    }
}

fn region_ok(r: &str) -> bool {
    !r.is_empty()
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn region_list(field: &str, regions: &[String], e: &mut Errors) {
    for (i, r) in regions.iter().enumerate() {
        if !region_ok(r) {
            e.bad(
                &format!("{field}[{i}]"),
                format!("`{r}` is not a region name"),
            );
        }
    }
}

fn count(field: &str, v: Option<i64>, default: u64, e: &mut Errors) -> u64 {
    match v {
        None => default,
        Some(n) => u64::try_from(n).unwrap_or_else(|_| {
            e.bad(field, format!("must be 0 or more, got `{n}`"));
            default
        }),
    }
}

pub(crate) struct AwsSettings {
    pub region: Option<String>,
    pub scan_concurrency: usize,
    pub targets: Vec<custos_telemetry::aws::Target>,
}

pub(crate) fn aws(raw: &AwsSection, e: &mut Errors) -> AwsSettings {
    if let Some(r) = raw.region.as_deref().filter(|r| !region_ok(r)) {
        e.bad("aws.region", format!("`{r}` is not a region name"));
    }
    let scan_concurrency = e.within("aws.scan_concurrency", raw.scan_concurrency, 8, 1..=64);
    region_list("aws.regions", &raw.regions, e);
    let mut targets = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, a) in raw.accounts.iter().enumerate() {
        let field = format!("aws.accounts[{i}]");
        if a.id.len() != 12 || !a.id.chars().all(|c| c.is_ascii_digit()) {
            e.bad(
                &format!("{field}.id"),
                format!("expected 12 digits, got `{}`", a.id),
            );
        }
        if !seen.insert(a.id.clone()) {
            e.bad(
                &format!("{field}.id"),
                format!("account `{}` is listed twice", a.id),
            );
        }
        if let Some(role) = &a.role_arn
            && (!role.starts_with("arn:") || !role.contains(":role/"))
        {
            e.bad(
                &format!("{field}.role_arn"),
                format!("`{role}` is not a role ARN"),
            );
        }
        if a.external_id.is_some() && a.role_arn.is_none() {
            e.bad(
                &format!("{field}.external_id"),
                "an external id is presented when assuming a role: give `role_arn` too".into(),
            );
        }
        if let Some(id) = &a.external_id
            && (id.len() < 2 || id.len() > 1224)
        {
            e.bad(
                &format!("{field}.external_id"),
                "must be 2 to 1224 characters (AWS STS)".into(),
            );
        }
        region_list(&format!("{field}.regions"), &a.regions, e);
        targets.push(custos_telemetry::aws::Target {
            account: Some(a.id.clone()),
            role_arn: a.role_arn.clone(),
            external_id: a.external_id.clone(),
            regions: a.regions.clone(),
        });
    }
    if !targets.is_empty() || !raw.regions.is_empty() {
        targets.insert(
            0,
            custos_telemetry::aws::Target {
                account: None,
                role_arn: None,
                external_id: None,
                regions: raw.regions.clone(),
            },
        );
    }
    AwsSettings {
        region: raw.region.clone(),
        scan_concurrency,
        targets,
    }
}

/// Environment classification: names normalised, aliases checked.
pub(crate) fn environments(raw: &EnvironmentsSection, e: &mut Errors) -> Environments {
    let mut env = Environments::default();
    if let Some(k) = &raw.tag_keys {
        if k.is_empty() || k.iter().any(|k| k.trim().is_empty()) {
            e.bad(
                "environments.tag_keys",
                "must name at least one non-empty tag key".into(),
            );
        }
        env.tag_keys = k.clone();
    }
    if let Some(n) = &raw.non_production {
        env.non_production = n.iter().map(|s| s.trim().to_lowercase()).collect();
        if env
            .non_production
            .contains(custos_core::environment::PRODUCTION)
        {
            e.bad(
                "environments.non_production",
                "`production` cannot be a non-production environment".into(),
            );
        }
    }
    // Configured aliases extend (or re-point) the shipped ones (`prod`, `prd`, `live`,
    // `stage`, `stg`).
    if let Some(a) = &raw.aliases {
        for (k, v) in a {
            env.aliases
                .insert(k.trim().to_lowercase(), v.trim().to_lowercase());
        }
    }
    for (alias, target) in &env.aliases {
        let field = format!("environments.aliases.{alias}");
        if matches!(alias.as_str(), "*" | "production" | "non-production") || alias.is_empty() {
            e.bad(&field, format!("`{alias}` cannot be an alias"));
        }
        if env.aliases.contains_key(target) {
            e.bad(
                &field,
                format!("`{target}` is itself an alias: point aliases at a canonical name"),
            );
        }
        if target != custos_core::environment::PRODUCTION && !env.non_production.contains(target) {
            e.bad(
                &field,
                format!(
                    "`{target}` is neither `production` nor one of [environments] non_production"
                ),
            );
        }
    }
    if let Some(d) = &raw.default {
        if !env.known(d) {
            e.bad(
                "environments.default",
                format!("`{d}` is not `production`, a non-production name or an alias"),
            );
        }
        env.default = d.trim().to_lowercase();
    }
    env
}

fn level(field: &str, n: i64, e: &mut Errors) -> AutonomyLevel {
    u8::try_from(n)
        .ok()
        .and_then(|n| AutonomyLevel::try_from(n).ok())
        .unwrap_or_else(|| {
            e.bad(field, format!("autonomy level must be 1 to 5, got `{n}`"));
            AutonomyLevel::Observe
        })
}

/// The key an autonomy setting is stored under: `*`, a class, or a canonical name.
fn selector_key(s: &EnvSelector) -> String {
    match s {
        EnvSelector::Any => "*".into(),
        EnvSelector::Class(c) => c.as_str().into(),
        EnvSelector::Name(n) => n.clone(),
    }
}

pub(crate) fn autonomy(
    raw: &AutonomySection,
    envs: &Environments,
    e: &mut Errors,
) -> AutonomyPolicy {
    let default = level("autonomy.default", raw.default.unwrap_or(3), e);
    let ceiling = level("autonomy.ceiling", raw.ceiling.unwrap_or(5), e);
    let mut classes = BTreeMap::new();
    for (class, by_env) in &raw.classes {
        let mut m = BTreeMap::new();
        for (env, n) in by_env {
            let field = format!("autonomy.classes.{class}.{env}");
            let l = level(&field, *n, e);
            match envs.selector(env) {
                Ok(s) => {
                    m.insert(selector_key(&s), l);
                }
                Err(msg) => e.bad(&field, msg),
            }
        }
        classes.insert(class.to_ascii_lowercase(), m);
    }
    AutonomyPolicy {
        default,
        ceiling,
        classes,
    }
}

/// One exclusion list entry, as the floor reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exclusion {
    pub pattern: String,
    pub owner: String,
    pub reason: String,
    /// `YYYY-MM-DD`, or empty for "indefinitely".
    pub expires: String,
}

/// The gate's settings.
#[derive(Debug, Clone)]
pub struct GateSettings {
    pub exclusion_tag: String,
    pub exclusion_owner_tag: String,
    pub exclusions: Vec<Exclusion>,
    pub always_approve: Vec<String>,
    pub limits: Limits,
    pub window_hours: i64,
    pub change_windows: Vec<TimedWindow>,
    pub blackouts: Vec<TimedWindow>,
    pub iac: IacSettings,
    /// Minutes after its creation during which a resource is not fixed (0: off).
    pub new_resource_grace_minutes: i64,
}

/// Resources managed by infrastructure as code (`[gate] iac_markers`, `iac_direct_fix`):
/// the floor's `gate.managed_by_iac` holds custos's own fix on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IacSettings {
    pub markers: Vec<IacMarker>,
    /// `recommend`, `approve` or `allow`.
    pub direct_fix: &'static str,
}

/// A tag that marks a resource as managed in code: any value, or this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IacMarker {
    pub key: String,
    pub value: Option<String>,
}

/// CloudFormation tags every resource of a stack with its name.
pub const CLOUDFORMATION_MARKER: &str = "aws:cloudformation:stack-name";

fn iac(raw: &GateSection, e: &mut Errors) -> IacSettings {
    let entries = raw
        .iac_markers
        .clone()
        .unwrap_or_else(|| vec![CLOUDFORMATION_MARKER.to_string()]);
    if entries.len() > 50 {
        e.bad(
            "gate.iac_markers",
            format!("at most 50 markers, got {}", entries.len()),
        );
    }
    let mut markers = Vec::new();
    for (i, m) in entries.iter().take(50).enumerate() {
        let (key, value) = match m.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().to_string())),
            None => (m.trim(), None),
        };
        if key.is_empty() || key.chars().count() > 128 {
            e.bad(
                &format!("gate.iac_markers[{i}]"),
                format!(
                    "a tag key of 1 to 128 characters, optionally `=value`, got `{}`",
                    custos_core::ci::truncate(m, 80)
                ),
            );
            continue;
        }
        markers.push(IacMarker {
            key: key.to_string(),
            value,
        });
    }
    let direct_fix = match raw.iac_direct_fix.as_deref().map(str::trim) {
        None | Some("recommend") => "recommend",
        Some("approve") => "approve",
        Some("allow") => "allow",
        Some(other) => {
            e.bad(
                "gate.iac_direct_fix",
                format!("must be `recommend`, `approve` or `allow`, got `{other}`"),
            );
            "recommend"
        }
    };
    IacSettings {
        markers,
        direct_fix,
    }
}

fn exclusions(raw: &[ExclusionEntry], e: &mut Errors) -> Vec<Exclusion> {
    let mut out = Vec::new();
    for (i, x) in raw.iter().enumerate() {
        let field = format!("gate.exclusions[{i}]");
        let (pattern, owner, reason, expires) = match x {
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
            e.bad(&field, "empty pattern".into());
        }
        if let Some(d) = &expires
            && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
        {
            e.bad(
                &format!("{field}.expires"),
                format!("`{d}` is not a date (YYYY-MM-DD)"),
            );
        }
        out.push(Exclusion {
            pattern,
            owner: owner.unwrap_or_else(|| "unknown".into()),
            reason: reason.unwrap_or_else(|| "no reason given".into()),
            expires: expires.unwrap_or_default(),
        });
    }
    out
}

/// A change window or blackout as written.
struct Period<'a> {
    name: &'a str,
    envs: &'a [String],
    expr: &'a str,
    minutes: i64,
    tz: Option<&'a String>,
}

fn timed(
    field: &str,
    p: Period<'_>,
    environments: &Environments,
    e: &mut Errors,
) -> Option<TimedWindow> {
    let Period {
        name,
        envs,
        expr,
        minutes,
        tz,
    } = p;
    if name.trim().is_empty() {
        e.bad(&format!("{field}.name"), "a name is required".into());
    }
    if envs.is_empty() {
        e.bad(
            &format!("{field}.environment"),
            "name an environment or `*`".into(),
        );
    }
    let mut selectors = Vec::new();
    for env in envs {
        match environments.selector(env) {
            Ok(s) => selectors.push(s),
            Err(m) => e.bad(&format!("{field}.environment"), m),
        }
    }
    if minutes <= 0 {
        e.bad(
            &format!("{field}.duration_minutes"),
            format!("must be more than 0, got `{minutes}`"),
        );
    }
    let tz_name = tz.cloned().unwrap_or_else(|| "UTC".into());
    let tz = tz_name
        .parse::<chrono_tz::Tz>()
        .map_err(|_| {
            e.bad(
                &format!("{field}.timezone"),
                format!("`{tz_name}` is not an IANA time zone"),
            )
        })
        .ok();
    let cron = expr
        .parse::<cron::Schedule>()
        .map_err(|err| {
            e.bad(
                &format!("{field}.cron"),
                format!("`{expr}` is not a cron expression (sec min hour dom month dow): {err}"),
            )
        })
        .ok();
    Some(TimedWindow {
        name: name.to_string(),
        environments: selectors,
        expression: expr.to_string(),
        cron: cron?,
        duration: chrono::Duration::minutes(minutes),
        tz: tz?,
    })
}

pub(crate) fn gate(raw: &GateSection, envs: &Environments, e: &mut Errors) -> GateSettings {
    let exclusion_tag = raw
        .exclusion_tag
        .clone()
        .unwrap_or_else(|| "custos:exclude".into());
    if exclusion_tag.trim().is_empty() || exclusion_tag.len() > 128 {
        e.bad(
            "gate.exclusion_tag",
            "must be a tag key of 1 to 128 characters".into(),
        );
    }
    let defaults = Limits::default();
    let per_run = count(
        "gate.max_actions_per_run",
        raw.max_actions_per_run,
        defaults.per_run,
        e,
    );
    let limits = Limits {
        per_run,
        per_account_per_run: count(
            "gate.max_actions_per_account_per_run",
            raw.max_actions_per_account_per_run,
            per_run,
            e,
        ),
        per_window: count(
            "gate.max_actions_per_window",
            raw.max_actions_per_window,
            defaults.per_window,
            e,
        ),
        percent_of_class: {
            let p = e.within(
                "gate.max_percent_of_class",
                raw.max_percent_of_class,
                100,
                0..=100,
            );
            u64::try_from(p).unwrap_or(100)
        },
        min_class_size_for_percent: count(
            "gate.min_class_size_for_percent",
            raw.min_class_size_for_percent,
            defaults.min_class_size_for_percent,
            e,
        ),
    };
    let window_hours = e.within("gate.window_hours", raw.window_hours, 24, 1..=24 * 31);
    let change_windows = raw
        .change_windows
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let env: Vec<String> = [w.environment.clone()]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect();
            timed(
                &format!("gate.change_windows[{i}]"),
                Period {
                    name: &w.name,
                    envs: &env,
                    expr: &w.cron,
                    minutes: w.duration_minutes,
                    tz: w.timezone.as_ref(),
                },
                envs,
                e,
            )
        })
        .collect();
    let blackouts = raw
        .blackouts
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            timed(
                &format!("gate.blackouts[{i}]"),
                Period {
                    name: &b.name,
                    envs: &b.environments,
                    expr: &b.cron,
                    minutes: b.duration_minutes,
                    tz: b.timezone.as_ref(),
                },
                envs,
                e,
            )
        })
        .collect();
    GateSettings {
        exclusion_tag,
        exclusion_owner_tag: raw
            .exclusion_owner_tag
            .clone()
            .unwrap_or_else(|| "custos:exclude-owner".into()),
        exclusions: exclusions(&raw.exclusions, e),
        always_approve: raw.always_approve.clone(),
        limits,
        window_hours,
        change_windows,
        blackouts,
        iac: iac(raw, e),
        new_resource_grace_minutes: e.within(
            "gate.new_resource_grace_minutes",
            raw.new_resource_grace_minutes,
            0,
            0..=MAX_GRACE_MINUTES,
        ),
    }
}

/// The longest new-resource grace period: a week.
pub const MAX_GRACE_MINUTES: i64 = 7 * 24 * 60;

/// The token bucket for mutating calls, per account and service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
    pub max_wait: Duration,
}

/// When failures stop execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failures: u64,
    pub failure_percent: u64,
    pub min_actions: u64,
    pub window: chrono::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardSettings {
    pub claim_ttl: chrono::Duration,
    /// The read-back's wait for a change still being applied.
    pub settle: custos_executor::contract::Settle,
    pub rate: RateLimit,
    pub breaker: BreakerSettings,
    pub concurrency: usize,
    pub concurrency_per_service: usize,
}

pub(crate) fn guard(raw: &GuardSection, e: &mut Errors) -> GuardSettings {
    let ttl = e.within(
        "guard.claim_ttl_seconds",
        raw.claim_ttl_seconds,
        300,
        10..=3600,
    );
    let per_second = e.within(
        "guard.rate_per_second",
        raw.rate_per_second,
        5.0,
        0.001..=1000.0,
    );
    let burst = e.within("guard.rate_burst", raw.rate_burst, 20, 1..=1000);
    let wait = e.within(
        "guard.rate_max_wait_ms",
        raw.rate_max_wait_ms,
        10_000,
        0..=120_000,
    );
    let failures = e.within(
        "guard.breaker_failures",
        raw.breaker_failures,
        5,
        1..=10_000,
    );
    let percent = e.within(
        "guard.breaker_failure_percent",
        raw.breaker_failure_percent,
        50,
        1..=100,
    );
    let min_actions = e.within(
        "guard.breaker_min_actions",
        raw.breaker_min_actions,
        10,
        1..=10_000,
    );
    let window = e.within(
        "guard.breaker_window_minutes",
        raw.breaker_window_minutes,
        60,
        1..=24 * 60,
    );
    let concurrency = e.within("guard.concurrency", raw.concurrency, 16, 1..=256);
    let per_service = e.within(
        "guard.concurrency_per_service",
        raw.concurrency_per_service,
        8,
        1..=256,
    );
    // The claim's heartbeat renews it while the read-back waits.
    let settle = e.within("guard.settle_seconds", raw.settle_seconds, 180, 0..=1800);
    GuardSettings {
        settle: custos_executor::contract::Settle::within(u64::try_from(settle).unwrap_or(0)),
        concurrency: usize::try_from(concurrency).unwrap_or(1),
        concurrency_per_service: usize::try_from(per_service).unwrap_or(1),
        claim_ttl: chrono::Duration::seconds(ttl),
        rate: RateLimit {
            per_second,
            burst: burst as f64,
            max_wait: Duration::from_millis(u64::try_from(wait).unwrap_or(0)),
        },
        breaker: BreakerSettings {
            failures: u64::try_from(failures).unwrap_or(5),
            failure_percent: u64::try_from(percent).unwrap_or(50),
            min_actions: u64::try_from(min_actions).unwrap_or(10),
            window: chrono::Duration::minutes(window),
        },
    }
}

/// Settings the controls share with their playbooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlSettings {
    pub web_ports: Vec<i64>,
    pub required_tags: BTreeMap<String, String>,
    pub kms_key: Option<String>,
    pub s3_sse_kms: bool,
    pub log_bucket: Option<String>,
    pub access_logging_prefixes: Vec<String>,
    pub flow_log_destination: Option<String>,
    pub log_retention_days: i64,
    pub rds_backup_retention_days: i64,
    pub access_key_max_unused_days: i64,
    pub access_key_max_age_days: i64,
    pub certificate_expiry_days: i64,
    pub password_min_length: i64,
    pub password_reuse_prevention: i64,
}

/// CloudWatch Logs' allowed retention periods, in days.
pub const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

impl ControlSettings {
    /// The settings as playbook parameters: (playbook id, parameter, value). A setting
    /// reaches the Rego controls (`data.custos.config.settings`) and their playbooks
    /// from this one place, so the two never disagree.
    pub fn playbook_parameters(&self) -> Vec<(&'static str, &'static str, toml::Value)> {
        let mut out = Vec::new();
        if let Some(k) = &self.kms_key {
            for pb in [
                "sqs-enable-sse",
                "sns-enable-sse",
                "s3-require-sse-kms",
                "cloudtrail-encrypt-logs",
                "ec2-set-ebs-default-kms-key",
            ] {
                out.push((pb, "kmsKeyId", toml::Value::String(k.clone())));
            }
        }
        if let Some(b) = &self.log_bucket {
            out.push((
                "s3-enable-access-logging",
                "targetBucket",
                toml::Value::String(b.clone()),
            ));
        }
        if let Some(d) = &self.flow_log_destination {
            out.push((
                "ec2-enable-vpc-flow-logs",
                "destination",
                toml::Value::String(d.clone()),
            ));
        }
        out.push((
            "logs-set-retention",
            "days",
            toml::Value::Integer(self.log_retention_days),
        ));
        out.push((
            "rds-set-backup-retention",
            "days",
            toml::Value::Integer(self.rds_backup_retention_days),
        ));
        out
    }
}

pub(crate) fn controls(raw: &ControlsSection, e: &mut Errors) -> ControlSettings {
    let web_ports = raw.web_ports.clone().unwrap_or_else(|| vec![80, 443]);
    if web_ports.iter().any(|p| !(0..=65535).contains(p)) {
        e.bad("controls.web_ports", "ports must be 0 to 65535".into());
    }
    for (k, v) in &raw.required_tags {
        if k.trim().is_empty() || k.len() > 128 || v.trim().is_empty() || v.len() > 256 {
            e.bad(
                &format!("controls.required_tags.{k}"),
                "tag keys need 1-128 characters and a non-empty placeholder value up to 256".into(),
            );
        }
    }
    let text = |field: &str, v: &Option<String>, e: &mut Errors| -> Option<String> {
        let v = v.as_ref()?;
        if v.trim().is_empty() || v.len() > 2048 || v.chars().any(char::is_control) {
            e.bad(
                field,
                "must be 1 to 2048 characters without control characters".into(),
            );
        }
        Some(v.clone())
    };
    let kms_key = text("controls.kms_key", &raw.kms_key, e);
    let log_bucket = text("controls.log_bucket", &raw.log_bucket, e);
    let flow_log_destination = text(
        "controls.flow_log_destination",
        &raw.flow_log_destination,
        e,
    );
    if let Some(d) = &flow_log_destination
        && !d.starts_with("arn:aws:s3:::")
    {
        e.bad(
            "controls.flow_log_destination",
            format!("`{d}` must be an S3 bucket ARN (`arn:aws:s3:::bucket`); log groups need a delivery role and are not supported yet"),
        );
    }
    let s3_sse_kms = raw.s3_sse_kms.unwrap_or(false);
    if s3_sse_kms && kms_key.is_none() {
        e.bad(
            "controls.s3_sse_kms",
            "needs `controls.kms_key`, the key buckets must use".into(),
        );
    }
    let log_retention_days = raw.log_retention_days.unwrap_or(365);
    if !RETENTION_DAYS.contains(&log_retention_days) {
        e.bad(
            "controls.log_retention_days",
            format!("`{log_retention_days}` is not a period CloudWatch Logs allows (one of {RETENTION_DAYS:?})"),
        );
    }
    ControlSettings {
        web_ports,
        required_tags: raw.required_tags.clone(),
        kms_key,
        s3_sse_kms,
        log_bucket,
        access_logging_prefixes: raw.access_logging_prefixes.clone().unwrap_or_default(),
        flow_log_destination,
        log_retention_days,
        rds_backup_retention_days: e.within(
            "controls.rds_backup_retention_days",
            raw.rds_backup_retention_days,
            7,
            1..=35,
        ),
        access_key_max_unused_days: e.within(
            "controls.access_key_max_unused_days",
            raw.access_key_max_unused_days,
            90,
            1..=3650,
        ),
        access_key_max_age_days: e.within(
            "controls.access_key_max_age_days",
            raw.access_key_max_age_days,
            90,
            1..=3650,
        ),
        certificate_expiry_days: e.within(
            "controls.certificate_expiry_days",
            raw.certificate_expiry_days,
            30,
            1..=365,
        ),
        password_min_length: e.within(
            "controls.password_min_length",
            raw.password_min_length,
            14,
            6..=128,
        ),
        password_reuse_prevention: e.within(
            "controls.password_reuse_prevention",
            raw.password_reuse_prevention,
            24,
            1..=24,
        ),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TelemetrySettings {
    pub queue_url: Option<String>,
    pub config_aggregator: Option<String>,
    pub wait_seconds: i32,
    pub max_receives: u32,
    pub max_clock_skew: chrono::Duration,
}

pub(crate) fn telemetry(raw: &TelemetrySection, e: &mut Errors) -> TelemetrySettings {
    if let Some(url) = &raw.queue_url
        && !url.starts_with("http://")
        && !url.starts_with("https://")
    {
        e.bad("telemetry.queue_url", format!("`{url}` is not a queue URL"));
    }
    // AWS Config's limit for an aggregator's name: 1-256 of letters, digits, `.`, `_`, `-`.
    if let Some(name) = &raw.config_aggregator
        && (name.is_empty()
            || name.len() > 256
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        e.bad(
            "telemetry.config_aggregator",
            format!(
                "`{}` is not an aggregator name (1-256 of letters, digits, `.`, `_`, `-`)",
                custos_core::for_log(name)
            ),
        );
    }
    let wait = e.within("telemetry.wait_seconds", raw.wait_seconds, 20, 0..=20);
    let receives = e.within("telemetry.max_receives", raw.max_receives, 5, 1..=100);
    let skew = e.within(
        "telemetry.max_clock_skew_seconds",
        raw.max_clock_skew_seconds,
        300,
        0..=86_400,
    );
    TelemetrySettings {
        queue_url: raw.queue_url.clone(),
        config_aggregator: raw.config_aggregator.clone(),
        wait_seconds: i32::try_from(wait).unwrap_or(20),
        max_receives: u32::try_from(receives).unwrap_or(5),
        max_clock_skew: chrono::Duration::seconds(skew),
    }
}

pub(crate) fn schedules(raw: &[ScheduleSection], e: &mut Errors) -> Vec<Schedule> {
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let from = match s.source.as_deref() {
            None | Some("describe") => Some(ScanFrom::Describe),
            Some("config") => Some(ScanFrom::Config),
            Some(other) => {
                e.bad(
                    &format!("schedules[{i}].source"),
                    format!("`{other}` is not `describe` or `config`"),
                );
                None
            }
        };
        if s.source.is_some() && s.task != "scan" {
            e.bad(
                &format!("schedules[{i}].source"),
                format!("only a `scan` reads a source, not `{}`", s.task),
            );
        }
        let task = match s.task.as_str() {
            "scan" => from.map(|from| Task::Scan { from }),
            "reverify" => Some(Task::Reverify),
            other => {
                e.bad(
                    &format!("schedules[{i}].task"),
                    format!("`{other}` is not `scan` or `reverify`"),
                );
                None
            }
        };
        match s.cron.parse::<cron::Schedule>() {
            Ok(c) => {
                if let Some(task) = task {
                    out.push(Schedule {
                        expression: s.cron.clone(),
                        cron: c,
                        task,
                    });
                }
            }
            Err(err) => e.bad(
                &format!("schedules[{i}].cron"),
                format!(
                    "`{}` is not a cron expression (sec min hour dom month dow): {err}",
                    s.cron
                ),
            ),
        }
    }
    out
}

pub(crate) struct ReasoningSettings {
    pub choice: ReasonerChoice,
    pub timeout: Duration,
    pub offline: custos_reasoning::OfflineRules,
}

pub(crate) fn reasoning(raw: &ReasoningSection, base: &Path, e: &mut Errors) -> ReasoningSettings {
    let choice = match raw.mode.as_deref() {
        None | Some("offline") => ReasonerChoice::Offline,
        Some("openai") => {
            let base_url = raw.base_url.clone().unwrap_or_default();
            if !base_url.starts_with("http://") && !base_url.starts_with("https://") {
                e.bad(
                    "reasoning.base_url",
                    format!("`{base_url}` is not an http(s) URL (mode `openai` needs one)"),
                );
            }
            let model = raw.model.clone().unwrap_or_default();
            if model.trim().is_empty() {
                e.bad("reasoning.model", "mode `openai` needs a model name".into());
            }
            let min_confidence = raw.min_confidence.unwrap_or(0.7);
            if !(0.0..=1.0).contains(&min_confidence) {
                e.bad(
                    "reasoning.min_confidence",
                    format!("must be 0 to 1, got `{min_confidence}`"),
                );
            }
            let max_answer_bytes = e.within(
                "reasoning.max_answer_bytes",
                raw.max_answer_bytes,
                64 * 1024,
                256..=1024 * 1024,
            );
            ReasonerChoice::OpenAi {
                base_url,
                model,
                api_key_env: raw
                    .api_key_env
                    .clone()
                    .unwrap_or_else(|| "OPENAI_API_KEY".into()),
                min_confidence,
                cache_ttl: Duration::from_secs(raw.cache_ttl_seconds.unwrap_or(900)),
                max_answer_bytes,
                calendar_file: raw
                    .calendar_file
                    .clone()
                    .map(|p| if p.is_absolute() { p } else { base.join(p) }),
            }
        }
        Some(other) => {
            e.bad(
                "reasoning.mode",
                format!("`{other}` is not `offline` or `openai`"),
            );
            ReasonerChoice::Offline
        }
    };
    let ms = e.within("reasoning.timeout_ms", raw.timeout_ms, 10_000, 1..=120_000);
    ReasoningSettings {
        choice,
        timeout: Duration::from_millis(ms),
        offline: raw.offline.clone().unwrap_or_default(),
    }
}

/// `[autonomy] adjust`: who moves levels from outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Adjust {
    /// `custos autonomy report` recommends; people set levels.
    Advise,
    /// custos applies the rule's moves itself, recorded as `custos:learner`.
    Auto,
}

/// How a control with candidate playbooks is fixed (`[autonomy] fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Candidates the gate lets through are ranked by their outcomes, conservatively.
    Ranked,
    /// The baseline playbook always; candidates are gated and recorded, never chosen.
    Baseline,
}

/// How custos learns from outcomes (`[autonomy]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LearningSettings {
    pub adjust: Adjust,
    pub fallback: Fallback,
    pub lower_environment_proof: u64,
    pub rule: crate::learning::Rule,
    /// `[autonomy] rollout = "staged"`: the limited stage's share and count.
    pub rollout: Option<RolloutSettings>,
}

/// The `limited` stage of a staged rollout: a fix may run without a person on a resource
/// in `percent` of them (a stable hash of playbook and resource), `count` times at most
/// until the stage changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RolloutSettings {
    pub limited_percent: u64,
    pub limited_count: u64,
}

pub(crate) fn learning(raw: &AutonomySection, e: &mut Errors) -> LearningSettings {
    let adjust = match raw.adjust.as_deref().map(str::trim) {
        None | Some("advise") => Adjust::Advise,
        Some("auto") => Adjust::Auto,
        Some(other) => {
            e.bad(
                "autonomy.adjust",
                format!("must be `advise` or `auto`, got `{other}`"),
            );
            Adjust::Advise
        }
    };
    let fallback = match raw.fallback.as_deref().map(str::trim) {
        None => Fallback::Ranked,
        Some("baseline") => Fallback::Baseline,
        Some(other) => {
            e.bad(
                "autonomy.fallback",
                format!("can only be `baseline` (or left out to rank candidates), got `{other}`"),
            );
            Fallback::Baseline
        }
    };
    let percent = e.within(
        "autonomy.rollout_limited_percent",
        raw.rollout_limited_percent,
        10,
        1..=100,
    );
    let count = e.within(
        "autonomy.rollout_limited_count",
        raw.rollout_limited_count,
        10,
        1..=100_000,
    );
    let rollout = match raw.rollout.as_deref().map(str::trim) {
        None | Some("broad") => None,
        Some("staged") => Some(RolloutSettings {
            limited_percent: u64::try_from(percent).unwrap_or(1),
            limited_count: u64::try_from(count).unwrap_or(1),
        }),
        Some(other) => {
            e.bad(
                "autonomy.rollout",
                format!("must be `staged` or `broad`, got `{other}`"),
            );
            None
        }
    };
    let proof = e.within(
        "autonomy.lower_environment_proof",
        raw.lower_environment_proof,
        3,
        0..=1000,
    );
    let days = e.within("autonomy.window_days", raw.window_days, 30, 1..=365);
    let cases = e.within(
        "autonomy.raise_min_cases",
        raw.raise_min_cases,
        20,
        1..=100_000,
    );
    let threshold = e.within(
        "autonomy.raise_threshold",
        raw.raise_threshold,
        0.85,
        0.5..=0.999,
    );
    LearningSettings {
        adjust,
        fallback,
        lower_environment_proof: u64::try_from(proof).unwrap_or(0),
        rule: crate::learning::Rule {
            window: chrono::Duration::days(days),
            min_cases: u64::try_from(cases).unwrap_or(1),
            threshold,
            confidence: 0.95,
        },
        rollout,
    }
}
