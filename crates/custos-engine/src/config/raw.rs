//! `custos.toml` as written: every section optional, unknown keys refused.

use custos_reasoning::OfflineRules;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub aws: AwsSection,
    pub database: DatabaseSection,
    pub policy: PolicySection,
    pub playbooks: PlaybooksSection,
    pub gate: GateSection,
    pub guard: GuardSection,
    pub environments: EnvironmentsSection,
    pub autonomy: AutonomySection,
    pub approvals: ApprovalsSection,
    pub reasoning: ReasoningSection,
    pub controls: ControlsSection,
    pub telemetry: TelemetrySection,
    pub schedules: Vec<ScheduleSection>,
    pub identity: IdentitySection,
    pub notifications: NotificationsSection,
    pub evidence: EvidenceSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceSection {
    /// A file holding the checkpoint signing key (`custos audit keygen` writes one).
    pub signing_key_file: Option<PathBuf>,
    /// Or the environment variable holding it.
    pub signing_key_env: Option<String>,
    /// The public key `custos audit verify` checks with: the key text, or a file.
    pub public_key: Option<String>,
    pub public_key_file: Option<PathBuf>,
    /// A checkpoint at least every this many events (1 to 1000000, default 1000).
    pub checkpoint_every: Option<i64>,
    /// And at least this often, even with no new events (1 to 1440, default 60).
    pub checkpoint_interval_minutes: Option<i64>,
    /// A directory that receives a copy of every checkpoint.
    pub witness_dir: Option<PathBuf>,
    /// An S3 location (`s3://bucket/prefix`) that receives a copy of every checkpoint.
    pub witness_s3: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsSection {
    /// The environment variable holding the webhook URL (a Slack incoming webhook is a
    /// secret: keep it out of the file).
    pub webhook_url_env: Option<String>,
    /// Or the URL itself, for endpoints that are not secret.
    pub webhook_url: Option<String>,
    /// Deliveries tried before giving up (1 to 10, default 4).
    pub attempts: Option<i64>,
    /// First pause between attempts, doubled each time (10 to 60000 ms, default 1000).
    pub backoff_ms: Option<i64>,
    /// Per attempt (1 to 60 s, default 5).
    pub timeout_seconds: Option<i64>,
    /// Where reviewers open the approval page, for links in messages.
    pub page_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentitySection {
    /// Lifetime of API tokens issued by `custos tokens create` (days).
    pub token_ttl_days: Option<i64>,
    pub oidc: Option<OidcSection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSection {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub jwks_url: Option<String>,
    pub jwks_file: Option<PathBuf>,
    pub name_claim: Option<String>,
    pub roles_claim: Option<String>,
    pub leeway_seconds: Option<u64>,
    /// Group (claim value) -> custos roles.
    pub roles: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlsSection {
    /// Ports that may be open to the internet (ec2-sg-open-ingress).
    pub web_ports: Option<Vec<i64>>,
    /// Tags every taggable resource must carry, with the placeholder value custos adds
    /// when one is missing (required-tags).
    pub required_tags: BTreeMap<String, String>,
    /// The KMS key (id, ARN or alias) the encryption controls use: SSE-KMS for queues,
    /// topics, buckets, log groups, CloudTrail logs and the EBS default key. Unset: the
    /// controls that need a key of yours do not apply.
    pub kms_key: Option<String>,
    /// Every bucket must use SSE-KMS with `kms_key` and bucket keys (s3-sse-kms; human).
    pub s3_sse_kms: Option<bool>,
    /// The bucket S3 server access logs go to (s3-access-logging, S3.9).
    pub log_bucket: Option<String>,
    /// Buckets whose names start with one of these must log access (default: all).
    pub access_logging_prefixes: Option<Vec<String>>,
    /// Where VPC flow logs go: an S3 bucket ARN (vpc-flow-logs, EC2.6). Unset: the
    /// control does not apply.
    pub flow_log_destination: Option<String>,
    /// Log groups must keep events at least this many days (logs-retention).
    pub log_retention_days: Option<i64>,
    /// Automated RDS backups must be kept at least this many days (rds-backup-retention, RDS.11; 1-35, default 7).
    pub rds_backup_retention_days: Option<i64>,
    /// Active access keys unused this many days are reported (iam-access-key-unused, IAM.8; default 90).
    pub access_key_max_unused_days: Option<i64>,
    /// Active access keys older than this are reported (iam-access-key-rotation, IAM.3; default 90).
    pub access_key_max_age_days: Option<i64>,
    /// ACM certificates expiring within this many days are reported (acm-certificate-expiry, ACM.1; default 30).
    pub certificate_expiry_days: Option<i64>,
    /// The account's password policy must require at least this length (iam-password-policy, IAM.7; 6-128, default 14).
    pub password_min_length: Option<i64>,
    /// The password policy must prevent reuse of this many previous passwords (iam-password-policy; 1-24, default 24).
    pub password_reuse_prevention: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySection {
    /// SQS queue receiving AWS Config change events (EventBridge or SNS).
    pub queue_url: Option<String>,
    /// An AWS Config aggregator (an organization's): `--source config` reads every
    /// configured account and region through it, from the default account and region.
    pub config_aggregator: Option<String>,
    pub wait_seconds: Option<i64>,
    /// Receives after which a message that keeps failing goes to the dead-letter table.
    pub max_receives: Option<i64>,
    /// How far in the future a capture time may lie (clock skew); later ones are
    /// dead-lettered.
    pub max_clock_skew_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSection {
    /// Cron expression with seconds: `sec min hour day-of-month month day-of-week`.
    pub cron: String,
    /// `scan` (full scan) or `reverify` (check past fixes for recurrence).
    pub task: String,
    /// For `scan`: `describe` (ask every service, the default) or `config` (what AWS
    /// Config recorded).
    pub source: Option<String>,
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
    /// The external id the role's trust policy asks for (terraform's member-role module).
    pub external_id: Option<String>,
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
    /// Tags that mark a resource as managed by infrastructure as code: `key` (any value)
    /// or `key=value`. Default: CloudFormation's `aws:cloudformation:stack-name`.
    pub iac_markers: Option<Vec<String>>,
    /// What custos does itself on a resource so marked: `recommend` (the default: only the
    /// guided fix, the code change first), `approve` (a person may let custos fix it), or
    /// `allow` (as any resource).
    pub iac_direct_fix: Option<String>,
    /// Minutes after a resource's creation before custos fixes it (a pipeline tags and
    /// configures right after creating); 0 (the default) is off.
    pub new_resource_grace_minutes: Option<i64>,
}

/// The guard at execution time: claims, rate limits, the circuit breaker.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardSection {
    /// How long a claim on a resource lasts (a crashed worker's claim expires).
    pub claim_ttl_seconds: Option<i64>,
    /// Mutating calls per second, per account and service (token bucket refill).
    pub rate_per_second: Option<f64>,
    /// Token bucket size: calls that may go at once.
    pub rate_burst: Option<i64>,
    /// Longest wait for a token; beyond it the change is deferred.
    pub rate_max_wait_ms: Option<i64>,
    /// Failed actions in the breaker window that open the breaker.
    pub breaker_failures: Option<i64>,
    /// Or this percentage of failed actions ...
    pub breaker_failure_percent: Option<i64>,
    /// ... once at least this many actions finished in the window.
    pub breaker_min_actions: Option<i64>,
    pub breaker_window_minutes: Option<i64>,
    /// Fixes of one scan or replay that run at once.
    pub concurrency: Option<i64>,
    /// ... of which at most this many on one account and service.
    pub concurrency_per_service: Option<i64>,
    /// How long a fix's read-back waits for a change the service applies after
    /// answering (an RDS modification), read every 10 seconds.
    pub settle_seconds: Option<i64>,
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
    /// Environment the window governs: `*`, `production`, `non-production` or a name.
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentsSection {
    pub tag_keys: Option<Vec<String>>,
    pub default: Option<String>,
    pub non_production: Option<Vec<String>>,
    /// Other spellings -> canonical name, e.g. `prod = "production"`.
    pub aliases: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutonomySection {
    pub default: Option<i64>,
    pub ceiling: Option<i64>,
    pub classes: BTreeMap<String, BTreeMap<String, i64>>,
    /// `advise` (the default): `custos autonomy report` recommends; `auto`: custos moves
    /// levels itself, one at a time, through the same recorded path as `autonomy set`.
    pub adjust: Option<String>,
    /// Verified non-production fixes a playbook version needs before its production
    /// fixes run without a person (0 to 1000, default 3; 0 turns the rule off).
    pub lower_environment_proof: Option<i64>,
    /// The learning window in days (1 to 365, default 30).
    pub window_days: Option<i64>,
    /// Successful cases in the window before a level is raised (1 to 100000, default 20).
    pub raise_min_cases: Option<i64>,
    /// The 95 % lower bound of success a raise needs (0.5 to 0.999, default 0.85).
    pub raise_threshold: Option<f64>,
    /// `baseline`: every control is fixed with its baseline playbook, candidates are
    /// not ranked (outcomes are still collected). Unset: candidates are ranked.
    pub fallback: Option<String>,
    /// `staged`: every playbook version starts in `shadow`, then `limited`, then `broad`,
    /// promoted by the outcome rule. `broad` (the default): no staged rollout.
    pub rollout: Option<String>,
    /// In `limited`: the share of resources (percent, 1 to 100, default 10) a fix may
    /// run on without a person ...
    pub rollout_limited_percent: Option<i64>,
    /// ... and how many such fixes at most until the stage changes (1 to 100000,
    /// default 10).
    pub rollout_limited_count: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsSection {
    pub ttl_hours: Option<i64>,
    /// Distinct reviewers every request needs.
    pub reviewers: Option<i64>,
    /// Per resource class (`s3`, `ec2`).
    pub class_reviewers: BTreeMap<String, i64>,
    /// Per playbook id.
    pub playbook_reviewers: BTreeMap<String, i64>,
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
