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

/// A customer managed KMS key: the `kms` class, which the floor never automates, and
/// the alert-only `kms-key-not-pending-deletion`, which an operator's playbook (slipped
/// into the playbooks directory, see `sneaky_playbooks`) tries to "fix" with rotation.
#[derive(Debug, Clone, Default)]
struct Key {
    rotation: bool,
    pending_deletion: bool,
}

/// The oracle's own list: controls that may never execute, whatever is configured.
const ALERT_ONLY: [&str; 1] = ["kms-key-not-pending-deletion"];
/// Classes whose every call needs an approval (the compiled floor's never-automate list).
const KEY_TYPE: &str = "AWS::KMS::Key";
const ROTATE: &str = "kms:EnableKeyRotation";
const KEYS: usize = 2;

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
    /// First calls on KMS keys (never automated): each with an approval, by the oracle.
    key_calls: std::sync::atomic::AtomicUsize,
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
    fn assert_live(&self, name: &str, per_100: [(&str, usize); 10]) {
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
            ("approved key calls", Self::get(&self.key_calls)),
            ("cases", cases),
        ];
        eprintln!("liveness {name}: {have:?}");
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
    keys: BTreeMap<String, Key>,
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

    fn key_item(&self, name: &str, k: &Key) -> ConfigurationItem {
        ConfigurationItem::from_json(&json!({
            "configurationItemCaptureTime": self.clock.now().to_rfc3339(),
            "configurationItemStatus": "OK",
            "awsAccountId": ACCOUNT, "awsRegion": REGION,
            "resourceType": KEY_TYPE, "resourceId": name,
            "ARN": format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}"),
            "tags": {"environment": "dev"},
            "configuration": {
                "keyId": name, "keyManager": "CUSTOMER", "keySpec": "SYMMETRIC_DEFAULT",
                "keyState": if k.pending_deletion { "PendingDeletion" } else { "Enabled" },
            },
            "supplementaryConfiguration": {"KeyRotationStatus": k.rotation},
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
        let is_key = inner.keys.contains_key(bucket);
        let tags: BTreeMap<String, String> = match inner.buckets.get(bucket) {
            Some(b) => b.tags.clone(),
            None => [("environment".to_string(), "dev".to_string())].into(),
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
            // Autonomy 4 for s3: automatic in dev only; production (`prod`, no tag, any
            // other name) needs an approval by someone other than the requester, valid now.
            // KMS is never automated (the floor), whatever the environment or autonomy.
            let production = tag("environment") != Some("dev") || is_key;
            if production {
                let approved = approvals.iter().any(|a| {
                    a.resource == custos_ledger::resource_key(&key)
                        && intent.approval_id.as_deref() == Some(a.id.as_str())
                        && !m.tampered.contains(&a.id)
                        && a.approved_at <= now
                        && now < a.expires_at
                });
                if !approved {
                    v.push(format!(
                        "called on {} {bucket} without a valid approval",
                        if is_key {
                            "never-automated"
                        } else {
                            "production"
                        }
                    ));
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
        // One bucket per account and service (API throttling is per service): keys and
        // buckets are counted apart.
        let firsts: Vec<DateTime<Utc>> = inner
            .calls
            .iter()
            .filter(|c| c.first && inner.keys.contains_key(&c.bucket) == is_key)
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

/// The S3 public access block action's calls (`FakeExecutor`) land here.
#[async_trait]
impl FakeCloud for World {
    async fn call(
        &self,
        r: &ResourceRef,
        restore_to: Option<&Value>,
    ) -> Result<Vec<String>, ExecError> {
        if r.resource_type == KEY_TYPE {
            return self.key_call(r, restore_to).await;
        }
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
        let target = match restore_to {
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
        };
        let failed = matches!(fault, Some(Fault::Fail | Fault::Partial));
        {
            let mut inner = self.lock();
            let at = self.clock.now();
            let op = inner.op;
            inner.calls.push(Call {
                at,
                bucket: bucket.clone(),
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
            let b = inner.buckets.get_mut(&bucket).unwrap();
            match fault {
                None | Some(Fault::LandThenFail) | Some(Fault::Crash { landed: true }) => {
                    b.block = target
                }
                Some(Fault::Partial) => b.block = Block::Partial,
                Some(Fault::Fail) | Some(Fault::Crash { landed: false }) => {}
            }
        }
        match fault {
            None | Some(Fault::Partial) => Ok(vec![PAB.into()]),
            Some(Fault::Fail) | Some(Fault::LandThenFail) => Err(ExecError::Aws {
                operation: "s3:PutPublicAccessBlock",
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

impl World {
    /// A call on a KMS key: checked by the same oracle (no faults are injected here).
    async fn key_call(
        &self,
        r: &ResourceRef,
        restore_to: Option<&Value>,
    ) -> Result<Vec<String>, ExecError> {
        let key = r.resource_id.clone();
        let open = self
            .ledger
            .open_intents_for(&resource_key(r))
            .await
            .unwrap();
        let Some(intent) = open.first().filter(|_| open.len() == 1) else {
            self.lock()
                .violations
                .push(format!("a call on {key} with {} open intents", open.len()));
            return Err(ExecError::Journal("no single intent".into()));
        };
        let first = !self.lock().calls.iter().any(|c| c.intent == intent.id);
        let violations = self.check(&key, first, intent).await;
        let mut inner = self.lock();
        inner.violations.extend(violations);
        let at = self.clock.now();
        let op = inner.op;
        inner.calls.push(Call {
            at,
            bucket: key.clone(),
            run: intent.run_id.clone(),
            intent: intent.id.clone(),
            first,
            failed: false,
            op,
            kind: if matches!(intent.plan.operation, Operation::Rollback { .. }) {
                CallKind::Rollback
            } else if intent.approval_id.is_some() {
                CallKind::Approved
            } else {
                CallKind::Fix
            },
        });
        let rotation = match restore_to {
            None => true,
            Some(f) => f["KeyRotationStatus"] == true,
        };
        if let Some(k) = inner.keys.get_mut(&key) {
            k.rotation = rotation;
        }
        Ok(vec![ROTATE.into()])
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
                operation: "s3:GetBucketTagging",
                resource: r.resource_id.clone(),
                message: "InternalError (injected)".into(),
            });
        }
        if r.resource_type == KEY_TYPE {
            return Ok(inner
                .keys
                .get(&r.resource_id)
                .map(|k| w.key_item(&r.resource_id, k)));
        }
        Ok(inner
            .buckets
            .get(&r.resource_id)
            .map(|b| w.item(&r.resource_id, b)))
    }

    fn covers(&self, r: &ResourceRef) -> bool {
        r.account == ACCOUNT && r.region == REGION
    }
}

/// A describe scan: a fresh read of every bucket.
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
        for (name, bucket) in &inner.buckets {
            if !inner.unreadable.contains(name) {
                b.items.push(self.0.item(name, bucket));
            }
        }
        for (name, key) in &inner.keys {
            b.items.push(self.0.key_item(name, key));
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
    /// Someone turns a key's rotation off (and schedules or cancels its deletion); its
    /// Config change event arrives.
    Key {
        which: usize,
        pending_deletion: bool,
    },
}

/// Operations, weighted. `busy` favours two workers, crashes, approvals and rollbacks
/// on buckets humans keep opening again.
fn op(busy: bool) -> impl Strategy<Value = Op> {
    let bucket = 0..BUCKETS;
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
        2 => (0..KEYS, any::<bool>()).prop_map(|(which, pending_deletion)| Op::Key { which, pending_deletion }),
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

/// A playbook an operator slipped past `custos policy check`: it "fixes" the alert-only
/// `kms-key-not-pending-deletion` with key rotation. The floor must deny it.
fn sneaky_playbooks() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("sneaky.toml"),
            format!("id = \"sneaky-cancel-deletion\"\nversion = \"1\"\ntitle = \"t\"\ncontrol = \"{}\"\nresource_types = [\"{KEY_TYPE}\"]\naction = \"{ROTATE}\"\nrisk = \"low\"\nreversible = true\ndescription = \"d\"\n[parameters]\n[rollback]\ndescription = \"r\"\n[verification]\nmethod = \"control\"\ndescription = \"v\"\n", ALERT_ONLY[0]),
        )
        .unwrap();
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
    let overlay = if m.sneaky_overlay {
        format!("overlay = {:?}\n", sneaky_overlay())
    } else {
        String::new()
    };
    let text = format!(
        "[policy]\n{overlay}dir = {:?}\n[playbooks]\noverlay = {:?}\ndir = {:?}\n[gate]\nmax_actions_per_run = {}\nmax_actions_per_window = {}\nwindow_hours = 1\nexclusions = [{}]\n{blackout}[guard]\nrate_per_second = {RATE_PER_SECOND}\nrate_burst = {RATE_BURST}\nrate_max_wait_ms = 0\nbreaker_failures = {BREAKER_FAILURES}\nbreaker_window_minutes = 60\nclaim_ttl_seconds = {CLAIM_TTL_SECONDS}\n[autonomy]\ndefault = 3\nceiling = {}\n[autonomy.classes.s3]\n\"*\" = 4\n[autonomy.classes.kms]\n\"*\" = 5\n",
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
    /// properties add the KMS keys).
    async fn new() -> Harness {
        let h = Self::counting(Box::leak(Box::default())).await;
        h.world.lock().keys.clear();
        h
    }

    /// A harness that adds what happens to `live`.
    async fn counting(live: &'static Liveness) -> Harness {
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
                keys: (0..KEYS)
                    .map(|k| (format!("key-{k}"), Key::default()))
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
            Arc::new(FakeExecutor::new(ROTATE, self.world.clone()).unwrap()),
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
        let name = bucket_name(bucket);
        let mut v = self.world.item(&name, &inner.buckets[&name]).to_json();
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
                if *on {
                    inner.model.excluded.insert(bucket_name(*bucket));
                } else {
                    inner.model.excluded.remove(&bucket_name(*bucket));
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
            Op::Key {
                which,
                pending_deletion,
            } => {
                let name = format!("key-{which}");
                let item = {
                    let mut inner = self.world.lock();
                    let k = inner.keys.get_mut(&name).unwrap();
                    k.rotation = false;
                    k.pending_deletion = *pending_deletion;
                    let k = k.clone();
                    drop(inner);
                    self.world.key_item(&name, &k)
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
                if *on {
                    inner.unreadable.insert(bucket_name(*bucket));
                } else {
                    inner.unreadable.remove(&bucket_name(*bucket));
                }
            }
            Op::Human { bucket, change } => {
                let mut inner = self.world.lock();
                let b = inner.buckets.get_mut(&bucket_name(*bucket)).unwrap();
                match change {
                    Human::MakePublic => b.block = Block::None,
                    Human::Env(None) => {
                        b.tags.remove("environment");
                    }
                    Human::Env(Some(e)) => {
                        b.tags.insert("environment".into(), e.to_string());
                    }
                    Human::ExcludeTag(true) => {
                        b.tags.insert("custos:exclude".into(), "true".into());
                    }
                    Human::ExcludeTag(false) => {
                        b.tags.remove("custos:exclude");
                    }
                    Human::Hold(true) => {
                        b.tags.insert("legal-hold".into(), "case 7".into());
                    }
                    Human::Hold(false) => {
                        b.tags.remove("legal-hold");
                    }
                }
            }
        }
    }
}

fn check_ops(ops: Vec<Op>, live: &'static Liveness) -> Result<(), TestCaseError> {
    block_on(async {
        let h = Harness::counting(live).await;
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
            live.add(
                &live.key_calls,
                inner
                    .calls
                    .iter()
                    .filter(|c| {
                        c.first
                            && c.kind == CallKind::Approved
                            && inner.keys.contains_key(&c.bucket)
                    })
                    .count(),
            );
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
const LIVENESS_CALM: [(&str, usize); 10] = [
    ("approvals accepted", 25),
    ("approved calls", 13),
    ("rollbacks accepted", 13),
    ("rollback calls", 6),
    ("concurrent calls", 7),
    ("takeovers", 2),
    ("identity attacks", 20),
    ("breaker open", 10),
    ("approved key calls", 1),
    ("cases", 100),
];
const LIVENESS_BUSY: [(&str, usize); 10] = [
    ("approvals accepted", 29),
    ("approved calls", 16),
    ("rollbacks accepted", 9),
    ("rollback calls", 3),
    ("concurrent calls", 15),
    ("takeovers", 8),
    ("identity attacks", 16),
    ("breaker open", 10),
    ("approved key calls", 1),
    ("cases", 100),
];

/// Cases per property (two properties run side by side: 2,000 cases per CI run).
fn cases() -> u32 {
    std::env::var("CUSTOS_INVARIANT_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

/// Run one property over `cases()` generated sequences, then check its liveness.
fn property(busy: bool, live: &'static Liveness) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&proptest::collection::vec(op(busy), 1..24), |ops| {
        check_ops(ops, live)
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
