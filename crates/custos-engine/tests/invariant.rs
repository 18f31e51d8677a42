#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The invariant, as a state-machine property test: no path changes the cloud unless
//! policy allows it at that moment.
//!
//! The engine runs against test doubles for the cloud (buckets in memory, an executor
//! that changes them), the reader and the clock, over a real SQLite ledger shared by two
//! workers. Proptest draws interleavings of scans, change events (current, duplicate,
//! late, future-dated, from an account custos does not manage), approvals with and
//! without execution, rollbacks, crashes in the middle of a call followed by restarts,
//! configuration changes (blackouts, exclusions, the autonomy ceiling, limits), pause and
//! resume, breaker resets, faults of the API, humans changing buckets, time passing, and
//! two workers running at once.
//!
//! The oracle is written apart from the engine: at every mutating call the fake cloud
//! checks, from its own model of the configuration and its own record of earlier calls,
//! that the call was allowed at that moment (no pause, no blackout, no exclusion or hold
//! on the bucket as it is now, an autonomy level or a valid approval by someone else or an
//! operator's rollback, no open breaker), that no limit is exceeded (per run, in the
//! rolling window, the token bucket), and that the call belongs to exactly one admitted
//! intent that made no call before.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use custos_core::{
    ApprovalStatus, Clock, ConfigurationItem, ManualClock, Operation, ResourceRef, Role,
};
use custos_engine::{Config, Engine, Mode, Parts};
use custos_executor::fake::{FakeCloud, FakeExecutor};
use custos_executor::{ExecError, Executor, PlaybookSet, Registry};
use custos_identity::Authenticate as _;
use custos_ledger::{ActionStatus, Ledger, resource_key};
use custos_policy::PolicyBundle;
use custos_reasoning::Reasoning;
use custos_telemetry::memory::Items;
use custos_telemetry::{Batch, ResourceReader, Source, TelemetryError};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const ACCOUNT: &str = "111122223333";
const SPOOFED: &str = "999999999999";
const REGION: &str = "us-east-1";
const BUCKETS: usize = 3;
const PAB: &str = "s3:PutPublicAccessBlock";
// The limits the configuration sets, known to the oracle on its own.
const WINDOW: i64 = 60; // minutes
const BREAKER_FAILURES: usize = 2;
const RATE_PER_SECOND: f64 = 0.01;
const RATE_BURST: f64 = 3.0;
const CLAIM_TTL_SECONDS: i64 = 60;

fn bucket_name(i: usize) -> String {
    format!("b{i}")
}

const SERVICES_PER_CASE: usize = 2;

impl Inner {
    /// Resource `i` of the operations: the buckets, then the case's services' resources.
    fn resource_name(&self, i: usize) -> String {
        match i.checked_sub(BUCKETS) {
            Some(s) if !self.services.is_empty() => {
                let names: Vec<&String> = self.services.keys().collect();
                names[s % names.len()].clone()
            }
            _ => bucket_name(i % BUCKETS),
        }
    }
}

// ---------------------------------------------------------------- the world (fakes)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Full,
    Partial,
}

#[derive(Debug, Clone)]
struct Bucket {
    block: Block,
    tags: BTreeMap<String, String>,
}

/// One resource of each class the logging and encryption families added, broken the
/// way its control looks for (`broken`), with tags a human can change like a bucket's.
#[derive(Debug, Clone)]
struct Svc {
    kind: Kind,
    broken: bool,
    /// Keys only: scheduled for deletion (the alert-only `kms-key-not-pending-deletion`).
    pending_deletion: bool,
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Never automated (the compiled floor's class list); rotation is `human` too.
    Key,
    /// `sqs-queue-encryption` (auto), class autonomy 5.
    Queue,
    /// `sns-topic-encryption` (auto), class autonomy 4; the alert-only
    /// `sns-topic-delivery-logging` always fires on it and has a slipped-in playbook.
    Topic,
    /// `logs-retention` (auto), class autonomy 5.
    LogGroup,
    /// `cloudtrail-logging` (human), class autonomy 5.
    Trail,
    /// `config-recorder-on` (human), class autonomy 5; the alert-only
    /// `config-recorder-all-resources` always fires on it and has a slipped-in playbook.
    Recorder,
    /// `vpc-flow-logs` (auto), class `ec2` at autonomy 4.
    Vpc,
}

/// The services' resources, their kinds and first environments. Each case holds
/// `SERVICES_PER_CASE` of them, drawn by the property: every class is covered across
/// cases while a case costs about what three buckets and two keys did.
const SERVICES: [(&str, Kind, &str); 7] = [
    ("key-0", Kind::Key, "dev"),
    ("queue-0", Kind::Queue, "prod"),
    ("topic-0", Kind::Topic, "prod"),
    ("group-0", Kind::LogGroup, "dev"),
    ("trail-0", Kind::Trail, "prod"),
    ("recorder-0", Kind::Recorder, "dev"),
    ("vpc-0", Kind::Vpc, "dev"),
];

impl Kind {
    fn resource_type(self) -> &'static str {
        match self {
            Kind::Key => "AWS::KMS::Key",
            Kind::Queue => "AWS::SQS::Queue",
            Kind::Topic => "AWS::SNS::Topic",
            Kind::LogGroup => "AWS::Logs::LogGroup",
            Kind::Trail => "AWS::CloudTrail::Trail",
            Kind::Recorder => "AWS::Config::ConfigurationRecorder",
            Kind::Vpc => "AWS::EC2::VPC",
        }
    }

    /// The shipped action that fixes it.
    fn action(self) -> &'static str {
        match self {
            Kind::Key => "kms:EnableKeyRotation",
            Kind::Queue => "sqs:SetQueueAttributes",
            Kind::Topic => "sns:SetTopicAttributes",
            Kind::LogGroup => "logs:PutRetentionPolicy",
            Kind::Trail => "cloudtrail:StartLogging",
            Kind::Recorder => "config:StartConfigurationRecorder",
            Kind::Vpc => "ec2:CreateFlowLogs",
        }
    }

    /// Whether a restore to the facet `before` leaves it broken (the facets are the
    /// actions' own, as `FakeExecutor` hands them back).
    fn broken_by(self, before: &Value) -> bool {
        match self {
            Kind::Key => before["KeyRotationStatus"] != true,
            Kind::Queue => {
                before["SqsManagedSseEnabled"] != true && before["KmsMasterKeyId"].is_null()
            }
            Kind::Topic => before["KmsMasterKeyId"].is_null(),
            Kind::LogGroup => before["retentionInDays"].as_i64().is_some_and(|d| d < 365),
            Kind::Trail => before["isLogging"] != true,
            Kind::Recorder => before["Recording"] != true,
            Kind::Vpc => before["flowLogs"] != true,
        }
    }
}

/// The oracle's own lists, written from the issue and README, never read from custos.
/// Controls that may never execute, whatever is configured.
const ALERT_ONLY: [&str; 3] = [
    "kms-key-not-pending-deletion",
    "sns-topic-delivery-logging",
    "config-recorder-all-resources",
];
/// Controls whose every fix waits for an approval (class `human`, as README's control
/// table lists them).
const HUMAN: [&str; 7] = [
    "kms-key-rotation",
    "cloudtrail-logging",
    "config-recorder-on",
    "cloudtrail-multi-region",
    "cloudtrail-management-events",
    "s3-sse-kms",
    "s3-versioning",
];
/// Classes the compiled floor never automates.
const NEVER_AUTOMATED: [&str; 1] = ["kms"];
/// Autonomy per class as `config` sets it ("*" = level), the default 3 for the rest: 5 acts
/// anywhere, 4 outside production only, 3 and below never alone.
const AUTONOMY: [(&str, u8); 8] = [
    ("s3", 4),
    ("kms", 5),
    ("sqs", 5),
    ("sns", 4),
    ("logs", 5),
    ("cloudtrail", 5),
    ("config", 5),
    ("ec2", 4),
];

/// `AWS::SQS::Queue` -> `sqs`: the oracle's own reading of a resource type.
fn class_of(resource_type: &str) -> String {
    resource_type
        .split("::")
        .nth(1)
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The call fails and changes nothing.
    Fail,
    /// The change lands; the answer is lost.
    LandThenFail,
    /// Only part of the change lands: verification fails, the contract restores.
    Partial,
    /// The process dies in the middle of the call (after landing or before).
    Crash { landed: bool },
}

/// What the oracle knows of the configuration, set by the test, never read from custos.
#[derive(Debug, Clone)]
struct Model {
    per_run: usize,
    per_window: usize,
    blackout: bool,
    ceiling_one: bool,
    excluded: BTreeSet<String>,
    paused: bool,
    breaker_reset_at: Option<DateTime<Utc>>,
    /// An operator's rollback in progress, for this bucket.
    rollback_of: Option<String>,
    /// Approvals whose row the harness edited by SQL: never a ground for a call.
    tampered: BTreeSet<String>,
    /// An operator overlay whose gate rule is named like the approval step's lift
    /// (`approval.granted`, `operator.requested`, verdict `execute`): it must lift nothing.
    sneaky_overlay: bool,
}

#[derive(Debug, Clone)]
struct Call {
    at: DateTime<Utc>,
    bucket: String,
    /// Its class, by the oracle's own reading of the resource type (`s3`, `kms`, ...).
    class: String,
    /// The run the intent was admitted in (from the ledger's record of the intent).
    run: Option<String>,
    intent: String,
    /// The first call of its intent (admitted); otherwise a restore after a failed check.
    first: bool,
    failed: bool,
    /// What the intent was, from its row (data the oracle reads, not the engine's word).
    kind: CallKind,
    /// The operation it was made in.
    op: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallKind {
    Fix,
    Approved,
    Rollback,
}

/// What happened across a property's cases, counted from the test's own records: the
/// fake cloud's calls and the results the harness got back. A property whose approvals
/// always fail, whose rollbacks never run or whose workers never meet must fail for
/// that: passing the safety checks by doing nothing is not passing.
#[derive(Debug, Default)]
struct Liveness {
    cases: std::sync::atomic::AtomicUsize,
    /// `approve` answered `Ok` for a reviewer who was not the requester.
    approvals_accepted: std::sync::atomic::AtomicUsize,
    /// First calls of intents that carried an approval.
    approved_calls: std::sync::atomic::AtomicUsize,
    /// `rollback` answered `Ok`.
    rollbacks_accepted: std::sync::atomic::AtomicUsize,
    /// First calls of rollback intents.
    rollback_calls: std::sync::atomic::AtomicUsize,
    /// Calls made while two workers ran at once.
    concurrent_calls: std::sync::atomic::AtomicUsize,
    /// Claims taken over from a crashed worker (`guard.claim_taken_over` events).
    takeovers: std::sync::atomic::AtomicUsize,
    /// Approvals tried with a reviewer one admin made alone or a principal edited by SQL.
    identity_attacks: std::sync::atomic::AtomicUsize,
    /// Operations that ended with the breaker open by the oracle's own count.
    breaker_open: std::sync::atomic::AtomicUsize,
    /// First calls on the services' resources (keys, queues, topics, log groups, trails,
    /// recorders, VPCs) that carried an approval.
    service_approved_calls: std::sync::atomic::AtomicUsize,
    /// ... and that carried none (auto, at the class's autonomy).
    service_auto_calls: std::sync::atomic::AtomicUsize,
    /// First calls per class and whether they carried an approval: every class of
    /// `SERVICES` must be changed, and the auto ones also without an approval.
    per_class: Mutex<BTreeMap<(String, bool), usize>>,
}

impl Liveness {
    fn add(&self, field: &std::sync::atomic::AtomicUsize, n: usize) {
        let _ = self;
        field.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    fn get(field: &std::sync::atomic::AtomicUsize) -> usize {
        field.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every kind of event happened at least `per_100` times per hundred cases.
    fn assert_live(&self, name: &str, per_100: [(&str, usize); 11]) {
        let cases = Self::get(&self.cases);
        let have = [
            ("approvals accepted", Self::get(&self.approvals_accepted)),
            ("approved calls", Self::get(&self.approved_calls)),
            ("rollbacks accepted", Self::get(&self.rollbacks_accepted)),
            ("rollback calls", Self::get(&self.rollback_calls)),
            ("concurrent calls", Self::get(&self.concurrent_calls)),
            ("takeovers", Self::get(&self.takeovers)),
            ("identity attacks", Self::get(&self.identity_attacks)),
            ("breaker open", Self::get(&self.breaker_open)),
            (
                "approved service calls",
                Self::get(&self.service_approved_calls),
            ),
            ("auto service calls", Self::get(&self.service_auto_calls)),
            ("cases", cases),
        ];
        let per_class = self.per_class.lock().unwrap().clone();
        eprintln!("liveness {name}: {have:?}, first calls by (class, approved): {per_class:?}");
        // Every class changed: with an approval where its fixes start needing one (never
        // automated, `human`, production at level 4), alone where they start automatic.
        for (_, kind, _) in SERVICES {
            let class = class_of(kind.resource_type());
            let approved = matches!(kind, Kind::Key | Kind::Trail | Kind::Recorder | Kind::Topic);
            let n = per_class
                .get(&(class.clone(), approved))
                .copied()
                .unwrap_or(0);
            assert!(
                n > 0,
                "{name}: no {} call on class `{class}`",
                if approved { "approved" } else { "automatic" }
            );
        }
        for ((what, n), (want_what, per)) in have.iter().zip(per_100) {
            assert_eq!(*what, want_what);
            let min = (cases * per).div_ceil(100).max(usize::from(per > 0));
            assert!(
                *n >= min,
                "{name}: {what}: {n} in {cases} cases, expected at least {min} (a path that never happens is not tested)"
            );
        }
    }
}

#[derive(Debug)]
struct Inner {
    buckets: BTreeMap<String, Bucket>,
    services: BTreeMap<String, Svc>,
    unreadable: BTreeSet<String>,
    /// The next read by the guard crashes the process (after its claims, before any
    /// intent).
    crash_on_read: bool,
    faults: Vec<Fault>,
    model: Model,
    calls: Vec<Call>,
    violations: Vec<String>,
    /// The operation being applied, and whether two workers run in it.
    op: usize,
    concurrent: bool,
}

impl Inner {
    /// The resource `name` as Config records it now, bucket or service resource.
    fn item_of(&self, w: &World, name: &str) -> Option<ConfigurationItem> {
        match (self.buckets.get(name), self.services.get(name)) {
            (Some(b), _) => Some(w.item(name, b)),
            (None, Some(s)) => Some(w.svc_item(name, s)),
            (None, None) => None,
        }
    }

    /// The tags of the resource `name`, bucket or service resource.
    fn tags_mut(&mut self, name: &str) -> Option<&mut BTreeMap<String, String>> {
        match self.buckets.get_mut(name) {
            Some(b) => Some(&mut b.tags),
            None => self.services.get_mut(name).map(|s| &mut s.tags),
        }
    }
}

#[derive(Debug)]
struct World {
    inner: Mutex<Inner>,
    clock: Arc<ManualClock>,
    /// The oracle's own handle on the ledger: it reads intents and approvals as data.
    ledger: Arc<Ledger>,
    crashed: tokio::sync::Notify,
}

impl World {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn item(&self, name: &str, b: &Bucket) -> ConfigurationItem {
        let mut supp = serde_json::Map::new();
        match b.block {
            Block::None => {}
            Block::Full => {
                supp.insert("PublicAccessBlockConfiguration".into(), json!({"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true, "restrictPublicBuckets": true}));
            }
            Block::Partial => {
                supp.insert("PublicAccessBlockConfiguration".into(), json!({"blockPublicAcls": true, "ignorePublicAcls": false, "blockPublicPolicy": false, "restrictPublicBuckets": false}));
            }
        }
        supp.insert(
            "ServerSideEncryptionConfiguration".into(),
            json!({"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}),
        );
        supp.insert(
            "BucketVersioningConfiguration".into(),
            json!({"status": "Enabled"}),
        );
        ConfigurationItem::from_json(&json!({
            "configurationItemCaptureTime": self.clock.now().to_rfc3339(),
            "configurationItemStatus": "OK",
            "awsAccountId": ACCOUNT, "awsRegion": REGION,
            "resourceType": "AWS::S3::Bucket", "resourceId": name, "resourceName": name,
            "ARN": format!("arn:aws:s3:::{name}"),
            "tags": b.tags, "supplementaryConfiguration": supp,
        }))
        .unwrap()
    }

    /// The Config item of a service resource, in the shapes the scanners produce
    /// (`custos_telemetry::services`): broken for its one control, compliant with every
    /// other shipped control but the alert-only ones named in `ALERT_ONLY`.
    fn svc_item(&self, name: &str, r: &Svc) -> ConfigurationItem {
        let on = !r.broken;
        let arn =
            |service: &str, rest: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}");
        let (arn, configuration, supplementary) = match r.kind {
            Kind::Key => (
                arn("kms", &format!("key/{name}")),
                json!({
                    "keyId": name, "keyManager": "CUSTOMER", "keySpec": "SYMMETRIC_DEFAULT",
                    "keyState": if r.pending_deletion { "PendingDeletion" } else { "Enabled" },
                }),
                json!({"KeyRotationStatus": on}),
            ),
            Kind::Queue => (
                arn("sqs", name),
                json!({"QueueArn": arn("sqs", name), "SqsManagedSseEnabled": if on { "true" } else { "false" }}),
                json!({}),
            ),
            Kind::Topic => {
                let mut c = json!({"TopicArn": arn("sns", name)});
                if on {
                    c["KmsMasterKeyId"] = json!("alias/aws/sns");
                }
                (arn("sns", name), c, json!({}))
            }
            Kind::LogGroup => (
                arn("logs", &format!("log-group:{name}")),
                json!({"logGroupName": name, "retentionInDays": if on { 365 } else { 7 }}),
                json!({}),
            ),
            Kind::Trail => (
                arn("cloudtrail", &format!("trail/{name}")),
                json!({
                    "name": name, "logFileValidationEnabled": true, "isMultiRegionTrail": true,
                    "includeGlobalServiceEvents": true,
                    "cloudWatchLogsLogGroupArn": arn("logs", "log-group:trail-0:*"),
                }),
                json!({
                    "TrailStatus": {"isLogging": on},
                    "EventSelectors": {"eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true}], "advancedEventSelectors": 0},
                }),
            ),
            Kind::Recorder => (
                arn("config", &format!("config-recorder/{name}")),
                json!({"Name": name, "Recording": on, "RecordingGroup": {"AllSupported": false}}),
                json!({}),
            ),
            Kind::Vpc => (
                arn("ec2", &format!("vpc/{name}")),
                json!({"vpcId": name, "isDefault": false}),
                json!({"FlowLogs": if on { json!([{"flowLogId": "fl-0"}]) } else { json!([]) }}),
            ),
        };
        ConfigurationItem::from_json(&json!({
            "configurationItemCaptureTime": self.clock.now().to_rfc3339(),
            "configurationItemStatus": "OK",
            "awsAccountId": ACCOUNT, "awsRegion": REGION,
            "resourceType": r.kind.resource_type(), "resourceId": name, "resourceName": name,
            "ARN": arn, "tags": r.tags,
            "configuration": configuration,
            "supplementaryConfiguration": supplementary,
        }))
        .unwrap()
    }

    /// The oracle: was this call allowed now? Returns the violations.
    async fn check(
        &self,
        bucket: &str,
        first: bool,
        intent: &custos_ledger::ActionRow,
    ) -> Vec<String> {
        let now = self.clock.now();
        let key = intent.plan.resource.clone();
        let approvals = approved_in_events(&self.ledger).await;
        let inner = self.lock();
        let failures_before = failures_known(&inner, now);
        let m = &inner.model;
        let mut v = Vec::new();
        if !first {
            // A restore within an admitted intent: only after a first call of it.
            if !inner.calls.iter().any(|c| c.intent == intent.id && c.first) {
                v.push(format!(
                    "a second call of intent {} without a first",
                    intent.id
                ));
            }
            return v;
        }
        if inner.calls.iter().any(|c| c.intent == intent.id) {
            v.push(format!("intent {} made a second call", intent.id));
        }
        let (tags, class, human_kind) =
            match (inner.buckets.get(bucket), inner.services.get(bucket)) {
                (Some(b), _) => (b.tags.clone(), "s3".to_string(), false),
                (None, Some(r)) => (
                    r.tags.clone(),
                    class_of(r.kind.resource_type()),
                    matches!(r.kind, Kind::Key | Kind::Trail | Kind::Recorder),
                ),
                (None, None) => {
                    v.push(format!("a call on {bucket}, which the world does not hold"));
                    return v;
                }
            };
        let tag = |k: &str| tags.get(k).map(String::as_str);
        if ALERT_ONLY.contains(&intent.plan.control_id.as_str()) {
            v.push(format!(
                "called on {bucket} for alert-only control `{}`",
                intent.plan.control_id
            ));
        }
        if m.paused {
            v.push("called while paused".into());
        }
        // The breaker, from the oracle's own record of failed calls (see `failures_known`).
        if failures_before >= BREAKER_FAILURES {
            v.push(format!(
                "called after {failures_before} failed calls in the breaker's window: the breaker must be open"
            ));
        }
        if m.blackout {
            v.push("called in a blackout".into());
        }
        if m.ceiling_one {
            v.push("called with the autonomy ceiling at 1".into());
        }
        if tag("custos:exclude") == Some("true") {
            v.push(format!("called on {bucket}, excluded by tag"));
        }
        if m.excluded.contains(bucket) {
            v.push(format!("called on {bucket}, excluded by list"));
        }
        if tag("legal-hold").is_some() {
            v.push(format!("called on {bucket}, under legal hold"));
        }
        let rollback = matches!(intent.plan.operation, Operation::Rollback { .. });
        if rollback {
            if m.rollback_of.as_deref() != Some(bucket) {
                v.push(format!("a rollback of {bucket} nobody asked for"));
            }
        } else {
            // Autonomy 4: automatic in dev only; production (`prod`, no tag, any other
            // name) needs an approval by someone other than the requester, valid now.
            // Autonomy 5: automatic anywhere. Never-automated classes and `human`
            // controls need one whatever the environment or autonomy.
            let production = tag("environment") != Some("dev");
            let level = AUTONOMY
                .iter()
                .find(|(c, _)| *c == class)
                .map_or(3, |(_, l)| *l);
            let why = if NEVER_AUTOMATED.contains(&class.as_str()) {
                Some("never-automated")
            } else if HUMAN.contains(&intent.plan.control_id.as_str()) || human_kind {
                // By the control the intent names, and by what the world knows of the
                // resource whatever the intent says: a key, a trail or a recorder is
                // only ever changed by an action of a `human` control.
                Some("human-class")
            } else if level <= 3 || (level == 4 && production) {
                Some("production")
            } else {
                None
            };
            if let Some(why) = why {
                let approved = approvals.iter().any(|a| {
                    a.resource == custos_ledger::resource_key(&key)
                        && intent.approval_id.as_deref() == Some(a.id.as_str())
                        && !m.tampered.contains(&a.id)
                        && a.approved_at <= now
                        && now < a.expires_at
                });
                if !approved {
                    v.push(format!("called on {why} {bucket} without a valid approval"));
                }
            }
            // Per run: the first calls of intents admitted in the same run.
            let in_run = inner
                .calls
                .iter()
                .filter(|c| c.first && c.run.is_some() && c.run == intent.run_id)
                .count();
            if in_run + 1 > m.per_run {
                v.push(format!("more than {} calls in one run", m.per_run));
            }
        }
        // Rolling window, all admitted calls.
        let window_start = now - Duration::minutes(WINDOW);
        let in_window = inner
            .calls
            .iter()
            .filter(|c| c.first && c.at > window_start)
            .count();
        if in_window + 1 > m.per_window {
            v.push(format!("more than {} calls in the window", m.per_window));
        }
        // Token bucket: any stretch of calls fits burst + rate x its length.
        // One bucket per account and service (API throttling is per service): each class
        // is counted apart (every class here is its action's service).
        let firsts: Vec<DateTime<Utc>> = inner
            .calls
            .iter()
            .filter(|c| c.first && c.class == class)
            .map(|c| c.at)
            .chain(std::iter::once(now))
            .collect();
        for (i, ti) in firsts.iter().enumerate() {
            let n = firsts.len() - i;
            let secs = (now - *ti).num_milliseconds() as f64 / 1000.0;
            if n as f64 > RATE_BURST + RATE_PER_SECOND * secs + 1e-9 {
                v.push(format!("{n} calls in {secs} s exceed the rate limit"));
                break;
            }
        }
        v
    }
}

/// Every shipped action's calls (`FakeExecutor`) land here: the S3 public access block's
/// on buckets, the services' actions on their resources. Faults hit first calls of any.
#[async_trait]
impl FakeCloud for World {
    async fn call(
        &self,
        r: &ResourceRef,
        restore_to: Option<&Value>,
    ) -> Result<Vec<String>, ExecError> {
        let bucket = r.resource_id.clone();
        if r.account != ACCOUNT {
            self.lock()
                .violations
                .push(format!("a call in account {}", r.account));
        }
        let open = self
            .ledger
            .open_intents_for(&resource_key(r))
            .await
            .unwrap();
        let Some(intent) = open.first().filter(|_| open.len() == 1) else {
            self.lock().violations.push(format!(
                "a call on {bucket} with {} open intents",
                open.len()
            ));
            return Err(ExecError::Journal("no single intent".into()));
        };
        let first = !self.lock().calls.iter().any(|c| c.intent == intent.id);
        let violations = self.check(&bucket, first, intent).await;
        let fault = {
            let mut inner = self.lock();
            inner.violations.extend(violations);
            if first && !inner.faults.is_empty() {
                Some(inner.faults.remove(0))
            } else {
                None
            }
        };
        let failed = matches!(fault, Some(Fault::Fail | Fault::Partial));
        let action = {
            let mut inner = self.lock();
            let at = self.clock.now();
            let op = inner.op;
            let class = if inner.buckets.contains_key(&bucket) {
                "s3".to_string()
            } else {
                class_of(&r.resource_type)
            };
            inner.calls.push(Call {
                at,
                bucket: bucket.clone(),
                class,
                run: intent.run_id.clone(),
                intent: intent.id.clone(),
                first,
                failed,
                op,
                kind: if matches!(intent.plan.operation, Operation::Rollback { .. }) {
                    CallKind::Rollback
                } else if intent.approval_id.is_some() {
                    CallKind::Approved
                } else {
                    CallKind::Fix
                },
            });
            let lands = matches!(
                fault,
                None | Some(Fault::LandThenFail) | Some(Fault::Crash { landed: true })
            );
            if let Some(b) = inner.buckets.get_mut(&bucket) {
                match fault {
                    _ if lands => b.block = block_after(restore_to),
                    Some(Fault::Partial) => b.block = Block::Partial,
                    _ => {}
                }
                PAB
            } else if let Some(s) = inner.services.get_mut(&bucket) {
                // A partial change of a one-flag setting lands nothing: the check fails.
                if lands {
                    s.broken = restore_to.is_some_and(|f| s.kind.broken_by(f));
                }
                s.kind.action()
            } else {
                "none"
            }
        };
        match fault {
            None | Some(Fault::Partial) => Ok(vec![action.into()]),
            Some(Fault::Fail) | Some(Fault::LandThenFail) => Err(ExecError::Aws {
                operation: action,
                resource: bucket,
                message: "InternalError (injected)".into(),
            }),
            Some(Fault::Crash { .. }) => {
                self.crashed.notify_one();
                std::future::pending().await
            }
        }
    }
}

/// The public access block a bucket has after a fix (`None`) or a restore to `facet`.
fn block_after(restore_to: Option<&Value>) -> Block {
    match restore_to {
        None => Block::Full,
        Some(f) if f["configured"] == false => Block::None,
        Some(f)
            if [
                "blockPublicAcls",
                "ignorePublicAcls",
                "blockPublicPolicy",
                "restrictPublicBuckets",
            ]
            .iter()
            .all(|k| f[*k] == true) =>
        {
            Block::Full
        }
        Some(_) => Block::Partial,
    }
}

#[derive(Debug)]
struct Reader(Arc<World>);

#[async_trait]
impl ResourceReader for Reader {
    async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        let w = &self.0;
        if !self.covers(r) {
            return Err(TelemetryError::Unsupported(format!(
                "account {}",
                r.account
            )));
        }
        let crash = std::mem::take(&mut w.lock().crash_on_read);
        if crash {
            w.crashed.notify_one();
            return std::future::pending().await;
        }
        let inner = w.lock();
        if inner.unreadable.contains(&r.resource_id) {
            return Err(TelemetryError::Aws {
                operation: "describe",
                resource: r.resource_id.clone(),
                message: "InternalError (injected)".into(),
            });
        }
        Ok(inner.item_of(w, &r.resource_id))
    }

    fn covers(&self, r: &ResourceRef) -> bool {
        r.account == ACCOUNT && r.region == REGION
    }
}

/// A describe scan: a fresh read of every bucket and service resource.
#[derive(Debug)]
struct Scan(Arc<World>);

#[async_trait]
impl Source for Scan {
    fn name(&self) -> String {
        "scan:fake".into()
    }
    fn fresh(&self) -> bool {
        true
    }
    async fn collect(&self) -> Result<Batch, TelemetryError> {
        let inner = self.0.lock();
        let mut b = Batch::default();
        for name in inner.buckets.keys().chain(inner.services.keys()) {
            if !inner.unreadable.contains(name)
                && let Some(item) = inner.item_of(&self.0, name)
            {
                b.items.push(item);
            }
        }
        Ok(b)
    }
}

// ---------------------------------------------------------------- operations

#[derive(Debug, Clone)]
enum EventKind {
    Current,
    Duplicate,
    Late,
    Future,
    Spoofed,
}

#[derive(Debug, Clone)]
enum Human {
    MakePublic,
    Env(Option<&'static str>),
    ExcludeTag(bool),
    Hold(bool),
}

#[derive(Debug, Clone)]
enum Op {
    Scan {
        shadow: bool,
    },
    Event {
        bucket: usize,
        kind: EventKind,
    },
    Approve {
        execute: bool,
        as_requester: bool,
    },
    Rollback {
        pick: usize,
    },
    /// Two workers scan at the same time.
    Concurrent,
    /// The guard's next read crashes the process: claims made, no intent yet.
    CrashBeforeIntent,
    /// The next first call crashes the process mid-call, during a scan.
    CrashDuringScan {
        landed: bool,
    },
    Tick {
        minutes: i64,
    },
    Blackout(bool),
    CeilingOne(bool),
    ExcludeList {
        bucket: usize,
        on: bool,
    },
    Limits {
        per_run: usize,
        per_window: usize,
    },
    Pause(bool),
    /// Add or remove the overlay whose rules are named like a lift.
    SneakyOverlay(bool),
    ResetBreaker,
    /// The next `times` first calls meet `fault`.
    Fault {
        fault: Fault,
        times: usize,
    },
    Unreadable {
        bucket: usize,
        on: bool,
    },
    Human {
        bucket: usize,
        change: Human,
    },
    /// Someone with write access to the database edits an approvals row: a pending
    /// request set to approved (0), an approved request's plan changed (1), or a finished
    /// request set back to executing with a long-expired claim (2).
    Tamper {
        what: u8,
    },
    /// The policy admin, alone, makes a reviewer: creates a principal with the role,
    /// enrolls it with its own enrollment token and holds the token (or grants itself
    /// the role), confirms its own changes, and approves with it.
    LoneAdmin {
        itself: bool,
    },
    /// Someone with the database gives the operator the reviewer role (0) or inserts a
    /// token row for the reviewer with a secret they know (1), and approves with it.
    SqlIdentity {
        what: u8,
    },
    /// Someone breaks a service resource (turns a key's rotation off and schedules or
    /// cancels its deletion, a queue's encryption off, a trail's logging off, ...); its
    /// Config change event arrives.
    Drift {
        which: usize,
        pending_deletion: bool,
    },
}

/// Operations, weighted. `busy` favours two workers, crashes, approvals and rollbacks
/// on buckets humans keep opening again.
fn op(busy: bool) -> impl Strategy<Value = Op> {
    // Buckets first, then the services' resources (see `resource_name`).
    let bucket = 0..BUCKETS + SERVICES_PER_CASE;
    let (scan, concurrent, crash, approve, rollback, human) = if busy {
        (2, 5, 4, 4, 3, 5)
    } else {
        (6, 2, 1, 3, 2, 3)
    };
    prop_oneof![
        scan => Just(Op::Scan { shadow: false }),
        1 => Just(Op::Scan { shadow: true }),
        4 => (bucket.clone(), prop_oneof![
            Just(EventKind::Current), Just(EventKind::Duplicate), Just(EventKind::Late),
            Just(EventKind::Future), Just(EventKind::Spoofed),
        ]).prop_map(|(bucket, kind)| Op::Event { bucket, kind }),
        approve => (any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(execute, as_requester)| Op::Approve { execute, as_requester }),
        rollback => (0..4usize).prop_map(|pick| Op::Rollback { pick }),
        concurrent => Just(Op::Concurrent),
        crash => any::<bool>().prop_map(|landed| Op::CrashDuringScan { landed }),
        crash => Just(Op::CrashBeforeIntent),
        3 => prop_oneof![Just(1i64), Just(2), Just(30), Just(61), Just(24 * 60 + 1)].prop_map(|minutes| Op::Tick { minutes }),
        1 => any::<bool>().prop_map(Op::Blackout),
        1 => any::<bool>().prop_map(Op::CeilingOne),
        1 => (bucket.clone(), any::<bool>()).prop_map(|(bucket, on)| Op::ExcludeList { bucket, on }),
        1 => (1..4usize, 2..6usize).prop_map(|(per_run, per_window)| Op::Limits { per_run, per_window }),
        1 => any::<bool>().prop_map(Op::Pause),
        1 => any::<bool>().prop_map(Op::SneakyOverlay),
        1 => Just(Op::ResetBreaker),
        3 => (prop_oneof![Just(Fault::Fail), Just(Fault::LandThenFail), Just(Fault::Partial)], 1..=BREAKER_FAILURES).prop_map(|(fault, times)| Op::Fault { fault, times }),
        1 => (bucket.clone(), any::<bool>()).prop_map(|(bucket, on)| Op::Unreadable { bucket, on }),
        1 => (0u8..3).prop_map(|what| Op::Tamper { what }),
        1 => any::<bool>().prop_map(|itself| Op::LoneAdmin { itself }),
        1 => (0u8..2).prop_map(|what| Op::SqlIdentity { what }),
        3 => (0..SERVICES_PER_CASE, any::<bool>()).prop_map(|(which, pending_deletion)| Op::Drift { which, pending_deletion }),
        human => (bucket, prop_oneof![
            3 => Just(Human::MakePublic),
            1 => prop_oneof![Just(None), Just(Some("dev")), Just(Some("prod")), Just(Some("PRD"))].prop_map(Human::Env),
            1 => any::<bool>().prop_map(Human::ExcludeTag),
            1 => any::<bool>().prop_map(Human::Hold),
        ]).prop_map(|(bucket, change)| Op::Human { bucket, change }),
    ]
}

// ---------------------------------------------------------------- harness

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Playbooks an operator slipped past `custos policy check`: each "fixes" an alert-only
/// control with a shipped action on its resource (key rotation for a key pending
/// deletion, topic encryption for a topic without delivery logging, starting a recorder
/// that records too little). The floor must deny them all.
fn sneaky_playbooks() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        for (control, kind) in ALERT_ONLY.iter().zip([Kind::Key, Kind::Topic, Kind::Recorder]) {
            std::fs::write(
                d.path().join(format!("sneaky-{control}.toml")),
                format!("id = \"sneaky-{control}\"\nversion = \"1\"\ntitle = \"t\"\ncontrol = \"{control}\"\nresource_types = [\"{}\"]\naction = \"{}\"\nrisk = \"high\"\nreversible = true\ndescription = \"d\"\n[parameters]\n[rollback]\ndescription = \"r\"\n[verification]\nmethod = \"control\"\ndescription = \"v\"\n", kind.resource_type(), kind.action()),
            )
            .unwrap();
        }
        d
    })
    .path()
}

/// Bundles and playbooks are loaded once per exclusion list.
struct Fixtures {
    bundles: Mutex<HashMap<Vec<String>, PolicyBundle>>,
    playbooks: PlaybookSet,
}

/// An overlay directory with one operator package whose rules claim to be the approval
/// step's lift, written once per process.
fn sneaky_overlay() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("custos-sneaky-overlay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("sneaky.rego"),
            "package custos.gate_rules.sneaky\n\n\
             decisions contains {\"rule\": \"approval.granted\", \"verdict\": \"execute\", \"message\": \"approved\"} if true\n\
             decisions contains {\"rule\": \"operator.requested\", \"verdict\": \"execute\", \"message\": \"asked\"} if true\n",
        )
        .unwrap();
        dir
    })
    .clone()
}

fn fixtures() -> &'static Fixtures {
    static F: std::sync::OnceLock<Fixtures> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let config = config(&Model::initial());
        Fixtures {
            bundles: Mutex::new(HashMap::new()),
            playbooks: PlaybookSet::load_dirs(
                &config.playbook_dirs(),
                &custos_executor::offline_catalog(),
                &config.playbook_overrides,
            )
            .unwrap(),
        }
    })
}

impl Model {
    fn initial() -> Model {
        Model {
            per_run: 2,
            per_window: 4,
            blackout: false,
            ceiling_one: false,
            excluded: BTreeSet::new(),
            paused: false,
            breaker_reset_at: None,
            rollback_of: None,
            tampered: BTreeSet::new(),
            sneaky_overlay: false,
        }
    }
}

fn config(m: &Model) -> Config {
    let blackout = if m.blackout {
        "[[gate.blackouts]]\nname = \"freeze\"\nenvironments = [\"*\"]\ncron = \"0 * * * * *\"\nduration_minutes = 120\n"
    } else {
        ""
    };
    let exclusions: Vec<String> = m.excluded.iter().map(|e| format!("{e:?}")).collect();
    // The oracle models autonomy per class and environment, not a playbook's
    // lower-environment proof, so the proof is off here (K = 0); its safety has its own
    // oracles: `earned_autonomy.rs` (LocalStack) and `review_stream.rs`. With it on, the
    // engine is only stricter than this oracle, but liveness (automatic calls on every
    // class) would hang on how many non-production resources a case happens to draw.
    let autonomy: String = AUTONOMY
        .iter()
        .map(|(class, level)| format!("[autonomy.classes.{class}]\n\"*\" = {level}\n"))
        .collect();
    let overlay = if m.sneaky_overlay {
        format!("overlay = {:?}\n", sneaky_overlay())
    } else {
        String::new()
    };
    let text = format!(
        "[policy]\n{overlay}dir = {:?}\n[playbooks]\noverlay = {:?}\ndir = {:?}\n[gate]\nmax_actions_per_run = {}\nmax_actions_per_window = {}\nwindow_hours = 1\nexclusions = [{}]\n{blackout}[guard]\nrate_per_second = {RATE_PER_SECOND}\nrate_burst = {RATE_BURST}\nrate_max_wait_ms = 0\nbreaker_failures = {BREAKER_FAILURES}\nbreaker_window_minutes = 60\nclaim_ttl_seconds = {CLAIM_TTL_SECONDS}\n[controls]\nflow_log_destination = \"arn:aws:s3:::flow-logs\"\n[autonomy]\ndefault = 3\nceiling = {}\nlower_environment_proof = 0\n{autonomy}",
        root().join("rego"),
        sneaky_playbooks(),
        root().join("playbooks"),
        m.per_run,
        m.per_window,
        exclusions.join(", "),
        if m.ceiling_one { 1 } else { 5 },
    );
    let raw: custos_engine::config::RawConfig = toml::from_str(&text).unwrap();
    Config::validate(raw, None, &root()).unwrap()
}

struct Harness {
    world: Arc<World>,
    clock: Arc<ManualClock>,
    db: String,
    /// The running worker, kept until the configuration changes or it crashes.
    current: Mutex<Option<(String, Arc<Engine>)>>,
    /// The property's liveness counts.
    live: &'static Liveness,
    /// API tokens of the first team (`root`: policy admin; `alice`: reviewer and
    /// operator; `olivia`: operator), by name.
    tokens: HashMap<String, String>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A harness of buckets only, for the tests that follow one approval by hand (the
    /// properties add the services' resources).
    async fn new() -> Harness {
        Self::counting(Box::leak(Box::default()), &[]).await
    }

    /// A harness that adds what happens to `live`.
    async fn counting(live: &'static Liveness, services: &[usize]) -> Harness {
        let base = if Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm").unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let db = base.path().join("ledger.db").display().to_string();
        let t0 = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Arc::new(ManualClock::new(t0));
        let ledger = Arc::new(Ledger::open_with_clock(&db, clock.clone()).await.unwrap());
        let mut team = vec![];
        let mut tokens = HashMap::new();
        for (name, roles) in [
            ("root", vec![Role::PolicyAdmin]),
            ("alice", vec![Role::Reviewer, Role::Operator]),
            ("olivia", vec![Role::Operator]),
        ] {
            let (text, row) =
                custos_identity::new_token(name, name, None, t0, Duration::days(400)).unwrap();
            tokens.insert(name.to_string(), text);
            team.push((name.to_string(), roles.into_iter().collect(), row));
        }
        assert!(ledger.bootstrap_team(&team).await.unwrap());
        let buckets = (0..BUCKETS)
            .map(|i| {
                let env = if i == 0 { "dev" } else { "prod" };
                (
                    bucket_name(i),
                    Bucket {
                        block: Block::None,
                        tags: [("environment".to_string(), env.to_string())].into(),
                    },
                )
            })
            .collect();
        let world = Arc::new(World {
            inner: Mutex::new(Inner {
                buckets,
                services: services
                    .iter()
                    .map(|i| {
                        let (name, kind, env) = SERVICES[*i];
                        let tags = [("environment".to_string(), env.to_string())].into();
                        let s = Svc {
                            kind,
                            broken: true,
                            pending_deletion: false,
                            tags,
                        };
                        (name.to_string(), s)
                    })
                    .collect(),
                unreadable: BTreeSet::new(),
                crash_on_read: false,
                faults: Vec::new(),
                model: Model::initial(),
                calls: Vec::new(),
                violations: Vec::new(),
                op: 0,
                concurrent: false,
            }),
            clock: clock.clone(),
            ledger,
            crashed: tokio::sync::Notify::new(),
        });
        Harness {
            world,
            clock,
            db,
            current: Mutex::new(None),
            live,
            tokens,
            _dir: base,
        }
    }

    /// The running worker; a new one (a restart) when the configuration changed.
    async fn worker(&self) -> Arc<Engine> {
        let m = self.world.lock().model.clone();
        let key = format!(
            "{} {} {} {} {:?} {}",
            m.per_run, m.per_window, m.blackout, m.ceiling_one, m.excluded, m.sneaky_overlay
        );
        if let Some((k, e)) = self.current.lock().unwrap().as_ref()
            && *k == key
        {
            return e.clone();
        }
        let e = Arc::new(self.new_worker().await);
        *self.current.lock().unwrap() = Some((key, e.clone()));
        e
    }

    /// A worker process that died: the next one starts afresh.
    fn crash(&self) {
        *self.current.lock().unwrap() = None;
    }

    /// A worker: an engine over its own ledger connection, built from the configuration
    /// as it stands.
    async fn new_worker(&self) -> Engine {
        let model = self.world.lock().model.clone();
        let config = config(&model);
        let f = fixtures();
        let bundle = {
            let mut key: Vec<String> = model.excluded.iter().cloned().collect();
            if model.sneaky_overlay {
                // Not a bucket name: bucket names are `b<n>`.
                key.push("/sneaky-overlay".into());
            }
            let mut cache = f.bundles.lock().unwrap();
            cache
                .entry(key)
                .or_insert_with(|| {
                    PolicyBundle::load_layers(&config.policy_dirs(), config.policy_options())
                        .unwrap()
                })
                .clone()
        };
        let registry = Registry::new(vec![
            Arc::new(FakeExecutor::new(PAB, self.world.clone()).unwrap()),
            Arc::new(FakeExecutor::new(Kind::Key.action(), self.world.clone()).unwrap()),
            Arc::new(FakeExecutor::new(Kind::Queue.action(), self.world.clone()).unwrap()),
            Arc::new(FakeExecutor::new(Kind::Topic.action(), self.world.clone()).unwrap()),
            Arc::new(FakeExecutor::new(Kind::LogGroup.action(), self.world.clone()).unwrap()),
            Arc::new(FakeExecutor::new(Kind::Trail.action(), self.world.clone()).unwrap()),
            Arc::new(FakeExecutor::new(Kind::Recorder.action(), self.world.clone()).unwrap()),
            Arc::new(FakeExecutor::new(Kind::Vpc.action(), self.world.clone()).unwrap()),
        ]);
        let ledger = Arc::new(
            Ledger::open_with_clock(&self.db, self.clock.clone())
                .await
                .unwrap(),
        );
        Engine::new(Parts {
            reasoning: Reasoning::offline(
                config.offline_rules.clone(),
                std::time::Duration::from_secs(5),
            ),
            config,
            bundle,
            playbooks: f.playbooks.clone(),
            registry,
            reader: Arc::new(Reader(self.world.clone())),
            ledger,
            clock: self.clock.clone(),
            actor: "custos".into(),
        })
    }

    /// `name` signed in with its token, through the authenticator (the ledger's
    /// principals and tokens, checked against their events).
    async fn sign_in(&self, name: &str) -> custos_core::Principal {
        custos_identity::Authenticator::new(self.world.ledger.clone(), None)
            .authenticate(&self.tokens[name])
            .await
            .unwrap()
    }

    /// Approve every pending request with `credential`; any approval accepted is a
    /// violation (`who` says whose attack it was). Counts the attempts.
    async fn attack(&self, credential: &str, who: &str) {
        let e = self.worker().await;
        let pending = e
            .ledger()
            .approvals(Some(ApprovalStatus::Pending))
            .await
            .unwrap();
        let signed_in = custos_identity::Authenticator::new(self.world.ledger.clone(), None)
            .authenticate(credential)
            .await;
        for a in pending {
            self.live.add(&self.live.identity_attacks, 1);
            let Ok(p) = &signed_in else { continue };
            if e.approve(&a.id, p, None, None, true).await.is_ok() {
                self.world
                    .lock()
                    .violations
                    .push(format!("{who} approved {}", a.id));
            }
        }
    }

    async fn lone_admin(&self, itself: bool) {
        let l = self.world.ledger.clone();
        let now = self.clock.now();
        let admin: BTreeSet<Role> = [Role::PolicyAdmin].into_iter().collect();
        let credential = if itself {
            l.set_roles(
                "root",
                &[Role::PolicyAdmin, Role::Reviewer].into_iter().collect(),
                "root",
            )
            .await
            .unwrap();
            self.tokens["root"].clone()
        } else {
            let name = format!("mal{}", self.world.lock().op);
            l.create_principal(&name, &[Role::Reviewer].into_iter().collect(), "root")
                .await
                .unwrap();
            let (_, given) =
                custos_identity::new_token(&name, "root", None, now, Duration::days(1)).unwrap();
            l.issue_token(&given, "root", None).await.unwrap();
            let (text, own) =
                custos_identity::new_token(&name, &name, None, now, Duration::days(1)).unwrap();
            l.enroll(&given.id, &own).await.unwrap();
            text
        };
        for c in l.pending_changes().await.unwrap() {
            if l.confirm_change(&c.id, "root", &admin).await.is_ok() {
                self.world
                    .lock()
                    .violations
                    .push(format!("root confirmed its own change {}", c.id));
            }
        }
        self.attack(&credential, "a reviewer one admin made alone")
            .await;
        if itself {
            l.set_roles("root", &admin, "root").await.unwrap();
        }
    }

    async fn sql_identity(&self, what: u8) {
        let l = self.world.ledger.clone();
        let sql = |q: String| {
            let l = l.clone();
            async move {
                sqlx::query(sqlx::AssertSqlSafe(q))
                    .execute(l.pool())
                    .await
                    .unwrap();
            }
        };
        let (credential, undo) = if what == 0 {
            sql("UPDATE principals SET roles = 'operator,reviewer' WHERE name = 'olivia'".into())
                .await;
            (
                self.tokens["olivia"].clone(),
                "UPDATE principals SET roles = 'operator' WHERE name = 'olivia'".to_string(),
            )
        } else {
            let now = self.clock.now();
            let (text, row) =
                custos_identity::new_token("alice", "alice", None, now, Duration::days(1)).unwrap();
            let at = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
            sql(format!(
                "INSERT INTO tokens (id, principal, secret_hash, label, created_at, expires_at, issued_by) VALUES ('{}', 'alice', '{}', NULL, '{}', '{}', 'alice')",
                row.id,
                row.secret_hash,
                at(now),
                at(row.expires_at)
            ))
            .await;
            (text, format!("DELETE FROM tokens WHERE id = '{}'", row.id))
        };
        if l.state_differences().await.unwrap().is_empty() {
            self.world
                .lock()
                .violations
                .push(format!("identity row edit {what} is not seen by the audit"));
        }
        self.attack(&credential, "a principal edited by SQL").await;
        sql(undo).await;
    }

    fn item_now(&self, bucket: usize, at: DateTime<Utc>, account: &str) -> ConfigurationItem {
        let inner = self.world.lock();
        let name = inner.resource_name(bucket);
        let mut v = inner.item_of(&self.world, &name).unwrap().to_json();
        v["configurationItemCaptureTime"] = json!(at.to_rfc3339());
        v["awsAccountId"] = json!(account);
        ConfigurationItem::from_json(&v).unwrap()
    }

    async fn apply(&self, n: usize, op: &Op, last_event: &mut Option<ConfigurationItem>) {
        {
            let mut inner = self.world.lock();
            inner.op = n;
            inner.concurrent = matches!(op, Op::Concurrent);
        }
        match op {
            Op::Scan { shadow } => {
                let e = self.worker().await;
                let mode = if *shadow { Mode::Shadow } else { Mode::Execute };
                e.run_once(&Scan(self.world.clone()), mode).await.unwrap();
            }
            Op::Event { bucket, kind } => {
                let now = self.clock.now();
                let item = match kind {
                    EventKind::Current => self.item_now(*bucket, now, ACCOUNT),
                    EventKind::Duplicate => match last_event {
                        Some(i) => i.clone(),
                        None => self.item_now(*bucket, now, ACCOUNT),
                    },
                    EventKind::Late => self.item_now(*bucket, now - Duration::hours(2), ACCOUNT),
                    EventKind::Future => self.item_now(*bucket, now + Duration::days(400), ACCOUNT),
                    EventKind::Spoofed => self.item_now(*bucket, now, SPOOFED),
                };
                *last_event = Some(item.clone());
                let e = self.worker().await;
                e.run_once(&Items::new("sqs:fake", vec![item]), Mode::Execute)
                    .await
                    .unwrap();
            }
            Op::Approve {
                execute,
                as_requester,
            } => {
                let e = self.worker().await;
                let pending = e
                    .ledger()
                    .approvals(Some(ApprovalStatus::Pending))
                    .await
                    .unwrap();
                // The reviewer signs in with her token, through the ledger's principals.
                let alice = self.sign_in("alice").await;
                for a in pending {
                    let by = if *as_requester {
                        person("custos")
                    } else {
                        alice.clone()
                    };
                    let result = e.approve(&a.id, &by, None, None, *execute).await;
                    match (result.is_ok(), *as_requester) {
                        (true, true) => self
                            .world
                            .lock()
                            .violations
                            .push(format!("the requester approved {}", a.id)),
                        (true, false) => self.live.add(&self.live.approvals_accepted, 1),
                        (false, _) => {}
                    }
                }
            }
            Op::Rollback { pick } => {
                let e = self.worker().await;
                let done: Vec<_> = e
                    .ledger()
                    .actions(None)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|a| {
                        a.status == ActionStatus::Outcome(custos_core::ActionOutcome::Executed)
                            && matches!(a.plan.operation, Operation::Fix)
                    })
                    .collect();
                if let Some(a) = done.get(*pick % done.len().max(1)) {
                    self.world.lock().model.rollback_of = Some(a.plan.resource.resource_id.clone());
                    if e.rollback(&a.id, &person("alice")).await.is_ok() {
                        self.live.add(&self.live.rollbacks_accepted, 1);
                    }
                    self.world.lock().model.rollback_of = None;
                }
            }
            Op::Concurrent => {
                let (a, b) = (self.worker().await, Arc::new(self.new_worker().await));
                let (sa, sb) = (Scan(self.world.clone()), Scan(self.world.clone()));
                let before = self.world.lock().calls.len();
                let (ra, rb) = tokio::join!(
                    a.run_once(&sa, Mode::Execute),
                    b.run_once(&sb, Mode::Execute)
                );
                ra.unwrap();
                rb.unwrap();
                let made = self.world.lock().calls.len() - before;
                self.live.add(&self.live.concurrent_calls, made);
            }
            Op::CrashDuringScan { landed } => {
                self.world
                    .lock()
                    .faults
                    .insert(0, Fault::Crash { landed: *landed });
                let e = self.worker().await;
                let src = Scan(self.world.clone());
                tokio::select! {
                    r = e.run_once(&src, Mode::Execute) => { r.unwrap(); }
                    _ = self.world.crashed.notified() => self.crash(),
                }
                // A crash that did not happen (nothing to call) leaves no armed fault.
                self.world
                    .lock()
                    .faults
                    .retain(|f| !matches!(f, Fault::Crash { .. }));
            }
            Op::CrashBeforeIntent => {
                self.world.lock().crash_on_read = true;
                let e = self.worker().await;
                let src = Scan(self.world.clone());
                tokio::select! {
                    r = e.run_once(&src, Mode::Execute) => { r.unwrap(); }
                    _ = self.world.crashed.notified() => self.crash(),
                }
                self.world.lock().crash_on_read = false;
            }
            Op::Tick { minutes } => self.clock.advance(Duration::minutes(*minutes)),
            Op::Tamper { what } => {
                let sql = match what {
                    0 => {
                        "UPDATE approvals SET status = 'approved', body = json_set(body, '$.status', 'approved', '$.decided_by', 'mallory', '$.decided_at', '2026-11-23T12:00:00Z') WHERE status = 'pending' RETURNING id"
                    }
                    1 => {
                        "UPDATE approvals SET body = json_set(body, '$.plan.parameters', json('{\"tampered\":true}')) WHERE status = 'approved' RETURNING id"
                    }
                    _ => {
                        "UPDATE approvals SET status = 'executing', body = json_set(body, '$.status', 'executing', '$.claimed_at', '2020-01-01T00:00:00Z') WHERE id = (SELECT a.id FROM approvals a WHERE a.status IN ('executed', 'stale', 'invalid') AND NOT EXISTS (SELECT 1 FROM approvals b WHERE b.resource = a.resource AND b.playbook = a.playbook AND b.status IN ('pending', 'approved', 'executing')) LIMIT 1) RETURNING id"
                    }
                };
                let ids: Vec<String> = sqlx::query_scalar(sql)
                    .fetch_all(self.world.ledger.pool())
                    .await
                    .unwrap();
                self.world.lock().model.tampered.extend(ids);
            }
            Op::Blackout(on) => self.world.lock().model.blackout = *on,
            Op::CeilingOne(on) => self.world.lock().model.ceiling_one = *on,
            Op::ExcludeList { bucket, on } => {
                let mut inner = self.world.lock();
                let name = inner.resource_name(*bucket);
                if *on {
                    inner.model.excluded.insert(name);
                } else {
                    inner.model.excluded.remove(&name);
                }
            }
            Op::Limits {
                per_run,
                per_window,
            } => {
                let mut inner = self.world.lock();
                inner.model.per_run = *per_run;
                inner.model.per_window = *per_window;
            }
            Op::SneakyOverlay(on) => self.world.lock().model.sneaky_overlay = *on,
            Op::LoneAdmin { itself } => self.lone_admin(*itself).await,
            Op::SqlIdentity { what } => self.sql_identity(*what).await,
            Op::Drift {
                which,
                pending_deletion,
            } => {
                let item = {
                    let mut inner = self.world.lock();
                    let name = inner.resource_name(BUCKETS + *which);
                    let Some(r) = inner.services.get_mut(&name) else {
                        return;
                    };
                    r.broken = true;
                    r.pending_deletion = r.kind == Kind::Key && *pending_deletion;
                    let r = r.clone();
                    drop(inner);
                    self.world.svc_item(&name, &r)
                };
                let e = self.worker().await;
                e.run_once(&Items::new("sqs:fake", vec![item]), Mode::Execute)
                    .await
                    .unwrap();
            }
            Op::Pause(on) => {
                let e = self.worker().await;
                if *on {
                    e.pause(&person("alice"), "property test").await.unwrap();
                } else {
                    e.resume(&person("alice")).await.unwrap();
                }
                self.world.lock().model.paused = *on;
            }
            Op::ResetBreaker => {
                let e = self.worker().await;
                e.reset_breaker(&person("alice")).await.unwrap();
                let now = self.clock.now();
                self.world.lock().model.breaker_reset_at = Some(now);
            }
            Op::Fault { fault, times } => self
                .world
                .lock()
                .faults
                .extend(std::iter::repeat_n(*fault, *times)),
            Op::Unreadable { bucket, on } => {
                let mut inner = self.world.lock();
                let name = inner.resource_name(*bucket);
                if *on {
                    inner.unreadable.insert(name);
                } else {
                    inner.unreadable.remove(&name);
                }
            }
            Op::Human { bucket, change } => {
                let mut inner = self.world.lock();
                let name = inner.resource_name(*bucket);
                if let Human::MakePublic = change {
                    // A bucket opened again, a service resource broken again: no event.
                    if let Some(b) = inner.buckets.get_mut(&name) {
                        b.block = Block::None;
                    }
                    if let Some(s) = inner.services.get_mut(&name) {
                        s.broken = true;
                    }
                    return;
                }
                let tags = inner.tags_mut(&name).unwrap();
                match change {
                    Human::MakePublic => {}
                    Human::Env(None) => {
                        tags.remove("environment");
                    }
                    Human::Env(Some(e)) => {
                        tags.insert("environment".into(), e.to_string());
                    }
                    Human::ExcludeTag(true) => {
                        tags.insert("custos:exclude".into(), "true".into());
                    }
                    Human::ExcludeTag(false) => {
                        tags.remove("custos:exclude");
                    }
                    Human::Hold(true) => {
                        tags.insert("legal-hold".into(), "case 7".into());
                    }
                    Human::Hold(false) => {
                        tags.remove("legal-hold");
                    }
                }
            }
        }
    }
}

fn check_ops(
    services: Vec<usize>,
    ops: Vec<Op>,
    live: &'static Liveness,
) -> Result<(), TestCaseError> {
    block_on(async {
        let h = Harness::counting(live, &services).await;
        live.add(&live.cases, 1);
        let mut last = None;
        for (n, op) in ops.iter().enumerate() {
            h.apply(n + 1, op, &mut last).await;
            let (v, calls) = {
                let inner = h.world.lock();
                if failures_known(&inner, h.clock.now()) >= BREAKER_FAILURES {
                    live.add(&live.breaker_open, 1);
                }
                let calls: Vec<String> = inner
                    .calls
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} {} first={} failed={}",
                            c.at.format("%H:%M"),
                            c.bucket,
                            c.intent,
                            c.first,
                            c.failed
                        )
                    })
                    .collect();
                (inner.violations.clone(), calls)
            };
            prop_assert!(
                v.is_empty(),
                "after op {} ({op:?}): {v:#?}\ncalls: {calls:#?}",
                n + 1
            );
        }
        if std::env::var("CUSTOS_INVARIANT_STATS").is_ok() {
            let actions = h.world.ledger.actions(None).await.unwrap();
            let by: BTreeMap<String, usize> = actions.iter().fold(BTreeMap::new(), |mut m, a| {
                let kind = match a.plan.operation {
                    Operation::Fix => "fix",
                    Operation::Rollback { .. } => "rollback",
                };
                let key = format!(
                    "{kind}:{}{}",
                    a.status,
                    if a.approval_id.is_some() {
                        "+approval"
                    } else {
                        ""
                    }
                );
                *m.entry(key).or_default() += 1;
                m
            });
            eprintln!("stats {} calls {:?}", h.world.lock().calls.len(), by);
        }
        {
            let inner = h.world.lock();
            let firsts = |k: CallKind| {
                inner
                    .calls
                    .iter()
                    .filter(|c| c.first && c.kind == k)
                    .count()
            };
            live.add(&live.approved_calls, firsts(CallKind::Approved));
            live.add(&live.rollback_calls, firsts(CallKind::Rollback));
            let on_services = |k: CallKind| {
                inner
                    .calls
                    .iter()
                    .filter(|c| c.first && c.kind == k && inner.services.contains_key(&c.bucket))
                    .count()
            };
            live.add(
                &live.service_approved_calls,
                on_services(CallKind::Approved),
            );
            live.add(&live.service_auto_calls, on_services(CallKind::Fix));
            let mut per_class = live.per_class.lock().unwrap();
            for c in inner
                .calls
                .iter()
                .filter(|c| c.first && c.kind != CallKind::Rollback)
            {
                *per_class
                    .entry((c.class.clone(), c.kind == CallKind::Approved))
                    .or_default() += 1;
            }
        }
        let takeovers = h
            .world
            .ledger
            .events(&custos_ledger::EventFilter {
                kind_prefix: Some("guard.claim_taken_over".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .len();
        live.add(&live.takeovers, takeovers);
        // Nothing stays claimed for ever: once every claim has expired, a run gives back
        // approvals whose worker died before its intent.
        h.clock.advance(Duration::seconds(CLAIM_TTL_SECONDS + 1));
        let e = h.new_worker().await;
        e.run_once(&Items::new("sqs:fake", vec![]), Mode::Shadow)
            .await
            .unwrap();
        let in_flight: BTreeSet<String> = e
            .ledger()
            .open_intents()
            .await
            .unwrap()
            .into_iter()
            .filter_map(|a| a.approval_id)
            .collect();
        let stuck: Vec<String> = e
            .ledger()
            .approvals(Some(ApprovalStatus::Executing))
            .await
            .unwrap()
            .into_iter()
            .filter(|a| !in_flight.contains(&a.id))
            .map(|a| a.id)
            .collect();
        prop_assert!(stuck.is_empty(), "approvals left executing: {stuck:?}");
        // The ledger stays one intact chain, and no resource has two open intents.
        let chain = h.world.ledger.verify_chain().await.unwrap();
        prop_assert_eq!(chain.first_bad, None);
        let open = h.world.ledger.open_intents().await.unwrap();
        let keys: BTreeSet<String> = open
            .iter()
            .map(|a| resource_key(&a.plan.resource))
            .collect();
        prop_assert_eq!(keys.len(), open.len(), "two open intents on one resource");
        Ok(())
    })
}

/// The least each kind of event must happen per hundred cases: about a third of what two
/// runs of 200 cases showed (calm: 73 approvals accepted, 40 approved calls, 40
/// rollbacks accepted, 18 rollback calls, 20 concurrent calls, 6 takeovers per hundred;
/// busy: 87, 50, 28, 11, 45, 24), and of the 62 (calm) and 48 (busy) identity attacks
/// per hundred a run of 150 cases showed. `cases` is the count of cases itself.
const LIVENESS_CALM: [(&str, usize); 11] = [
    ("approvals accepted", 25),
    ("approved calls", 13),
    ("rollbacks accepted", 13),
    // About 6 per 100 in practice (39 in one run of 700, 45 in others): half that keeps
    // a chance failure below one in ten thousand and still fails a path that stopped.
    ("rollback calls", 3),
    ("concurrent calls", 7),
    ("takeovers", 2),
    ("identity attacks", 20),
    ("breaker open", 10),
    ("approved service calls", 1),
    ("auto service calls", 1),
    ("cases", 100),
];
const LIVENESS_BUSY: [(&str, usize); 11] = [
    ("approvals accepted", 29),
    ("approved calls", 16),
    ("rollbacks accepted", 9),
    ("rollback calls", 3),
    ("concurrent calls", 15),
    ("takeovers", 8),
    ("identity attacks", 16),
    ("breaker open", 10),
    ("approved service calls", 1),
    ("auto service calls", 1),
    ("cases", 100),
];

/// Cases per property (two properties run side by side: 1,400 cases per CI run).
fn cases() -> u32 {
    std::env::var("CUSTOS_INVARIANT_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(700)
}

/// Run one property over `cases()` generated sequences, then check its liveness.
fn property(busy: bool, live: &'static Liveness) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let services =
        proptest::sample::subsequence((0..SERVICES.len()).collect::<Vec<_>>(), SERVICES_PER_CASE);
    let ops = proptest::collection::vec(op(busy), 1..24);
    let result = runner.run(&(services, ops), |(services, ops)| {
        check_ops(services, ops, live)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Every mutating call was allowed at the moment it was made, no limit was exceeded, and
/// no intent produced two calls; and approvals, rollbacks and concurrent work happened.
#[test]
fn no_path_changes_the_cloud_unless_policy_allows_it() {
    static LIVE: std::sync::LazyLock<Liveness> = std::sync::LazyLock::new(Liveness::default);
    property(false, &LIVE);
    LIVE.assert_live("calm", LIVENESS_CALM);
}

/// The same, with two workers, crashes, approvals and rollbacks most of the time.
#[test]
fn no_path_changes_the_cloud_under_contention_and_crashes() {
    static LIVE: std::sync::LazyLock<Liveness> = std::sync::LazyLock::new(Liveness::default);
    property(true, &LIVE);
    LIVE.assert_live("busy", LIVENESS_BUSY);
}

/// The oracle is not blind: a plan made to bypass it is caught (a scan in a blackout
/// with the floor's blackout check removed would call; here the oracle is shown a call it
/// must refuse).
#[test]
fn the_oracle_sees_a_call_it_must_refuse() {
    block_on(async {
        let h = Harness::new().await;
        // Make a call happen (dev bucket, auto), then flag the model as paused: a second
        // forced call with a fresh intent must be reported.
        h.apply(1, &Op::Scan { shadow: false }, &mut None).await;
        let calls = h.world.lock().calls.len();
        assert_eq!(calls, 1, "the dev bucket was fixed with one call");
        assert!(h.world.lock().violations.is_empty());
        h.world.lock().model.paused = true;
        h.world.lock().buckets.get_mut("b0").unwrap().block = Block::None;
        // Bypass the engine: admit an intent by hand and call the executor directly.
        let e = h.worker().await;
        let ledger = e.ledger();
        let claim = match ledger
            .claim(
                "111122223333/us-east-1/AWS::S3::Bucket/b0",
                "test",
                Duration::minutes(1),
            )
            .await
            .unwrap()
        {
            custos_ledger::ClaimAttempt::Won(c) => c,
            other => panic!("{other:?}"),
        };
        let plan = ledger.actions(None).await.unwrap()[0].plan.clone();
        let snap = ledger
            .guard_snapshot(&custos_ledger::Scope::Run("x".into()), h.clock.now(), None)
            .await
            .unwrap();
        assert!(
            ledger
                .admit(custos_ledger::Admission {
                    version: snap.state.version,
                    claim: &claim,
                    intent: custos_ledger::NewIntent {
                        action_id: "act-forced",
                        meta: Default::default(),
                        plan: &plan,
                        payload: &json!({}),
                    },
                    rate: None,
                })
                .await
                .unwrap()
        );
        let fake = FakeExecutor::new(PAB, h.world.clone()).unwrap();
        let _ = fake.apply(&plan.resource, &json!({}), &json!({})).await;
        let v = h.world.lock().violations.clone();
        assert!(v.iter().any(|x| x == "called while paused"), "{v:#?}");
    });
}

/// A worker that claimed an approval and died before its intent: once the claim would
/// have expired, the next run gives the approval back and carries it out.
#[test]
fn an_approval_claimed_by_a_dead_worker_is_given_back() {
    block_on(async {
        let h = Harness::new().await;
        let mut last = None;
        // b1 is production: its fix waits for an approval.
        h.apply(1, &Op::Scan { shadow: false }, &mut last).await;
        h.apply(
            2,
            &Op::Approve {
                execute: false,
                as_requester: false,
            },
            &mut last,
        )
        .await;
        let approved = h
            .world
            .ledger
            .approvals(Some(ApprovalStatus::Approved))
            .await
            .unwrap();
        assert_eq!(approved.len(), 2, "b1 and b2 are production");
        h.apply(3, &Op::CrashBeforeIntent, &mut last).await;
        let executing = h
            .world
            .ledger
            .approvals(Some(ApprovalStatus::Executing))
            .await
            .unwrap();
        assert_eq!(executing.len(), 1, "the dead worker's claim");
        assert!(h.world.ledger.open_intents().await.unwrap().is_empty());
        // Within the claim's lifetime nothing touches it.
        h.apply(4, &Op::Scan { shadow: false }, &mut last).await;
        let still = h.world.ledger.approval(&executing[0].id).await.unwrap();
        assert_eq!(still.status, ApprovalStatus::Executing);
        // Later it is given back and carried out.
        h.apply(5, &Op::Tick { minutes: 2 }, &mut last).await;
        h.apply(6, &Op::Scan { shadow: false }, &mut last).await;
        let done = h.world.ledger.approval(&executing[0].id).await.unwrap();
        assert_eq!(done.status, ApprovalStatus::Executed, "{done:#?}");
        assert!(
            h.world.lock().violations.is_empty(),
            "{:?}",
            h.world.lock().violations
        );
    });
}

/// An authenticated principal for the property test: alice reviews and operates; the
/// requester (`custos`) holds the reviewer role too, so only separation of duties stops it.
fn person(name: &str) -> custos_core::Principal {
    custos_core::Principal {
        name: name.into(),
        roles: [custos_core::Role::Reviewer, custos_core::Role::Operator]
            .into_iter()
            .collect(),
        via: custos_core::AuthMethod::Token {
            token_id: format!("test-{name}"),
        },
    }
}

/// An approval as the oracle reads it from the events (never from the approvals table):
/// a request, and a review by someone other than the requester that reached `approved`.
#[derive(Debug)]
struct EventApproval {
    id: String,
    resource: String,
    approved_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

async fn approved_in_events(ledger: &Ledger) -> Vec<EventApproval> {
    let events = ledger
        .events(&custos_ledger::EventFilter {
            kind_prefix: Some("approval.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut requests: BTreeMap<String, (String, String, String, DateTime<Utc>)> = BTreeMap::new();
    let mut out = Vec::new();
    for e in &events {
        let p = &e.payload;
        let id = p["approval_id"].as_str().unwrap_or_default().to_string();
        match e.kind.as_str() {
            "approval.requested" => {
                let expires = DateTime::parse_from_rfc3339(p["expires_at"].as_str().unwrap())
                    .unwrap()
                    .with_timezone(&Utc);
                requests.insert(
                    id,
                    (
                        e.resource.clone().unwrap(),
                        p["plan_digest"].as_str().unwrap().to_string(),
                        p["requested_by"].as_str().unwrap().to_string(),
                        expires,
                    ),
                );
            }
            "approval.reviewed" if p["status"] == "approved" => {
                let (resource, digest, requester, expires) = requests[&id].clone();
                if p["by"].as_str() != Some(requester.as_str())
                    && p["plan_digest"] == digest.as_str()
                {
                    out.push(EventApproval {
                        id: id.clone(),
                        resource,
                        approved_at: e.at,
                        expires_at: expires,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// An approval given after the request expired is refused, and both the expiry and the
/// refusal are in the ledger.
#[test]
fn an_expired_approval_is_refused_and_recorded() {
    block_on(async {
        let h = Harness::new().await;
        let mut last = None;
        h.apply(1, &Op::Scan { shadow: false }, &mut last).await;
        let pending = h
            .world
            .ledger
            .approvals(Some(ApprovalStatus::Pending))
            .await
            .unwrap();
        assert_eq!(pending.len(), 2, "b1 and b2 are production");
        h.apply(
            2,
            &Op::Tick {
                minutes: 24 * 60 + 1,
            },
            &mut last,
        )
        .await;
        let e = h.worker().await;
        let err = e
            .approve(&pending[0].id, &person("alice"), None, None, true)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "approval `{}` is `expired`; only a pending request can be decided",
                pending[0].id
            )
        );
        let events = h
            .world
            .ledger
            .events(&custos_ledger::EventFilter {
                kind_prefix: Some("approval.".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let kinds: Vec<&str> = events
            .iter()
            .filter(|e| e.payload["approval_id"] == pending[0].id.as_str())
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            ["approval.requested", "approval.expired", "approval.refused"]
        );
        let refused = events
            .iter()
            .find(|e| e.kind == "approval.refused")
            .unwrap();
        assert_eq!(refused.payload["code"], "approval_not_pending");
        assert_eq!(refused.payload["by"], "alice");
        let bucket = pending[0].plan.resource.resource_id.clone();
        assert!(!h.world.lock().calls.iter().any(|c| c.bucket == bucket));
    });
}

/// A finished approval set back to `executing` by SQL (with a long-expired claim) is not
/// given back and executed again when the bucket is opened again: recovery checks the
/// request against its events first.
#[test]
fn a_finished_approval_cannot_be_rearmed_by_sql() {
    block_on(async {
        let h = Harness::new().await;
        let mut last = None;
        // Room for b0's fix and both approvals: approved work outside a run counts over
        // the rolling window with the per-run limit (issue 22 item 7).
        h.apply(
            0,
            &Op::Limits {
                per_run: 3,
                per_window: 5,
            },
            &mut last,
        )
        .await;
        h.apply(1, &Op::Scan { shadow: false }, &mut last).await;
        h.apply(
            2,
            &Op::Approve {
                execute: true,
                as_requester: false,
            },
            &mut last,
        )
        .await;
        let executed = h
            .world
            .ledger
            .approvals(Some(ApprovalStatus::Executed))
            .await
            .unwrap();
        assert_eq!(executed.len(), 2, "b1 and b2 fixed on approval");
        h.apply(3, &Op::Tamper { what: 2 }, &mut last).await;
        let rearmed = h.world.lock().model.tampered.clone();
        assert_eq!(rearmed.len(), 1);
        let id = rearmed.iter().next().unwrap().clone();
        let bucket = h
            .world
            .ledger
            .approval(&id)
            .await
            .unwrap()
            .plan
            .resource
            .resource_id;
        let index: usize = bucket.trim_start_matches('b').parse().unwrap();
        h.apply(
            4,
            &Op::Human {
                bucket: index,
                change: Human::MakePublic,
            },
            &mut last,
        )
        .await;
        h.apply(5, &Op::Tick { minutes: 2 }, &mut last).await;
        h.apply(6, &Op::Scan { shadow: false }, &mut last).await;
        assert!(
            h.world.lock().violations.is_empty(),
            "{:?}",
            h.world.lock().violations
        );
        let after = h.world.ledger.approval(&id).await.unwrap();
        assert_eq!(after.status, ApprovalStatus::Invalid);
    });
}

/// Run a directed test's body on a current-thread runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Failed calls (an error, or a partial change whose check failed) in the breaker's
/// window since the last reset, from the oracle's own record of calls: those of earlier
/// operations, and those of this one when one worker runs it (a worker records an
/// outcome before it admits its next intent; with two, one's failure may still be in
/// flight when the other admits).
fn failures_known(inner: &Inner, now: DateTime<Utc>) -> usize {
    let since = (now - Duration::minutes(60)).max(
        inner
            .model
            .breaker_reset_at
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    );
    inner
        .calls
        .iter()
        .filter(|c| c.failed && c.at >= since)
        .filter(|c| c.op < inner.op || !inner.concurrent)
        .count()
}

/// Found by the calm property (and shrunk to this): an approved fix for a key that was
/// scheduled for deletion after the approval called the cloud, though its control no
/// longer failed; the call "verified" and counted as no failure, where the oracle counts
/// a failed call. The contract now re-evaluates the control on the state read before
/// the call and calls nothing when it passes.
#[test]
fn a_fix_whose_finding_no_longer_holds_calls_nothing() {
    static LIVE: std::sync::LazyLock<Liveness> = std::sync::LazyLock::new(Liveness::default);
    check_ops(
        vec![0, 2],
        vec![
            Op::CrashBeforeIntent,
            Op::Drift {
                which: 0,
                pending_deletion: true,
            },
            Op::Fault {
                fault: Fault::Partial,
                times: 2,
            },
            Op::Approve {
                execute: true,
                as_requester: false,
            },
            Op::Concurrent,
        ],
        &LIVE,
    )
    .unwrap();
}
