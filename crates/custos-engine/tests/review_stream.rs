#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! The replayed review stream of issue 26: 2,000 findings over 120 days
//! (`tests/fixtures/review-stream/stream.jsonl`, written by
//! `bench/review-stream/generate.py` from team policies kept there), replayed through
//! the engine with learning on (`[autonomy] adjust = "auto"`, every other learning
//! setting at its default). Each finding is a new misconfigured resource in a world this
//! test keeps; when custos asks, the stream's reviewer decides; a fix lands, fails its
//! verification or recurs as the stream says.
//!
//! The oracle is this test's own record of the world's calls, not the engine's:
//! - no call outside a reviewer's approval on a finding the stream's reviewer denies;
//! - no production call outside an approval before the playbook has
//!   `lower_environment_proof` fixes that landed outside production since its last
//!   failed one;
//! - the checks above ran: custos fixed production resources alone, each after the
//!   proof (a count above zero, so the proof check cannot pass by never running);
//! - liveness: the share of findings sent to a person in the last quarter is at most
//!   half the first quarter's.
//!
//! With `CUSTOS_REVIEW_CURVE` set, the curve is written there as JSON (`scripts/bench
//! review` puts it in BENCHMARKS.md).

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use custos_core::{ApprovalStatus, Clock, ConfigurationItem, ManualClock, ResourceRef};
use custos_engine::Mode;
use custos_executor::fake::{FakeCloud, FakeExecutor};
use custos_executor::{ExecError, Executor, Registry};
use custos_telemetry::memory::Items;
use custos_telemetry::{ResourceReader, TelemetryError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const ACCOUNT: &str = common::ACCOUNT;
const REGION: &str = common::REGION;
/// `[autonomy] lower_environment_proof`, the default.
const PROOF: u64 = 3;

#[derive(Debug, Clone, Deserialize)]
struct Line {
    n: usize,
    day: f64,
    class: String,
    resource: String,
    environment: String,
    reviewer: String,
    outcome: String,
}

#[derive(Debug)]
struct Res {
    truth: Line,
    broken: bool,
    /// The fix landed and will be undone at this moment (`recurs`).
    recurs_at: Option<DateTime<Utc>>,
    /// Fixed once already (a second fix holds).
    fixed_before: bool,
}

#[derive(Debug, Default)]
struct State {
    resources: BTreeMap<String, Res>,
    /// Resources the reviewer approved a fix of, not yet made (custos may make it while
    /// the reviewer waits, or in a later pass).
    approved: std::collections::BTreeSet<String>,
    /// Per class: fixes that landed outside production since its last failed one.
    proof: BTreeMap<String, u64>,
    /// Per finding: custos called on its own.
    autonomous: BTreeMap<usize, usize>,
    /// Production fixes custos made on its own (each checked against the proof).
    production_alone: usize,
    violations: Vec<String>,
}

#[derive(Debug)]
struct World {
    state: Mutex<State>,
    clock: Arc<ManualClock>,
}

impl World {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The resource as Config records it, in the scanners' shapes: failing its one
    /// control when broken, passing every other.
    fn item(&self, name: &str, r: &Res) -> ConfigurationItem {
        let on = !r.broken;
        let arn =
            |service: &str, rest: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}");
        let tags = json!({"environment": r.truth.environment});
        let (resource_type, arn, configuration, supplementary) = match r.truth.class.as_str() {
            "s3" => {
                let mut supp = json!({
                    "ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
                    "BucketVersioningConfiguration": {"status": "Enabled"},
                });
                if on {
                    supp["PublicAccessBlockConfiguration"] = json!({"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true, "restrictPublicBuckets": true});
                }
                (
                    "AWS::S3::Bucket",
                    format!("arn:aws:s3:::{name}"),
                    json!({}),
                    supp,
                )
            }
            "sqs" => (
                "AWS::SQS::Queue",
                arn("sqs", name),
                json!({"QueueArn": arn("sqs", name), "SqsManagedSseEnabled": if on { "true" } else { "false" }}),
                json!({}),
            ),
            "sns" => {
                let mut c = json!({"TopicArn": arn("sns", name)});
                if on {
                    c["KmsMasterKeyId"] = json!("alias/aws/sns");
                }
                ("AWS::SNS::Topic", arn("sns", name), c, json!({}))
            }
            "logs" => (
                "AWS::Logs::LogGroup",
                arn("logs", &format!("log-group:{name}")),
                json!({"logGroupName": name, "retentionInDays": if on { 365 } else { 7 }}),
                json!({}),
            ),
            other => panic!("no item for class `{other}`"),
        };
        ConfigurationItem::from_json(&json!({
            "configurationItemCaptureTime": self.clock.now().to_rfc3339(),
            "configurationItemStatus": "OK",
            "awsAccountId": ACCOUNT, "awsRegion": REGION,
            "resourceType": resource_type, "resourceId": name, "resourceName": name,
            "ARN": arn, "tags": tags,
            "configuration": configuration,
            "supplementaryConfiguration": supplementary,
        }))
        .unwrap()
    }
}

#[async_trait]
impl FakeCloud for World {
    async fn call(
        &self,
        r: &ResourceRef,
        restore_to: Option<&Value>,
    ) -> Result<Vec<String>, ExecError> {
        let now = self.clock.now();
        let mut st = self.lock();
        let approved = restore_to.is_none() && st.approved.remove(&r.resource_id);
        let State {
            resources,
            proof,
            autonomous,
            violations,
            production_alone,
            ..
        } = &mut *st;
        let st_checked = production_alone;
        let Some(res) = resources.get_mut(&r.resource_id) else {
            violations.push(format!(
                "a call on `{}`, which the world does not hold",
                r.resource_id
            ));
            return Err(ExecError::Journal("unknown resource".into()));
        };
        if restore_to.is_some() {
            res.broken = true;
            return Ok(vec!["restore".into()]);
        }
        let t = &res.truth;
        let production = t.environment == "production";
        if !approved {
            *autonomous.entry(t.n).or_default() += 1;
            if t.reviewer == "deny" {
                violations.push(format!(
                    "finding {} ({}): custos fixed on its own what the reviewer denies",
                    t.n, t.resource
                ));
            }
            let proven = proof.get(&t.class).copied().unwrap_or(0);
            if production {
                *st_checked += 1;
            }
            if production && proven < PROOF {
                violations.push(format!(
                    "finding {} ({}): a production fix on its own with {proven} lower-environment fixes of `{}`",
                    t.n, t.resource, t.class
                ));
            }
        }
        let lands = res.fixed_before || t.outcome != "fails_verification";
        if lands {
            res.broken = false;
            if t.outcome == "recurs" && !res.fixed_before {
                res.recurs_at = Some(now + Duration::days(3));
            }
            res.fixed_before = true;
            if !production {
                *proof.entry(t.class.clone()).or_default() += 1;
            }
        } else {
            proof.insert(t.class.clone(), 0);
        }
        Ok(vec!["fix".into()])
    }
}

#[derive(Debug)]
struct Reader(Arc<World>);

#[async_trait]
impl ResourceReader for Reader {
    async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        let st = self.0.lock();
        Ok(st
            .resources
            .get(&r.resource_id)
            .map(|res| self.0.item(&r.resource_id, res)))
    }
}

/// The reviewer: every pending request, decided as the stream says.
async fn review(e: &custos_engine::Engine, world: &World, asked: &mut BTreeMap<String, usize>) {
    // Two reviewers take turns: no one alone earns custos the right to act alone.
    let reviewers = [common::reviewer("rita"), common::reviewer("raj")];
    for a in e
        .ledger()
        .approvals(Some(ApprovalStatus::Pending))
        .await
        .unwrap()
    {
        let name = a.plan.resource.resource_id.clone();
        let Some(truth) = world.lock().resources.get(&name).map(|r| r.truth.clone()) else {
            panic!("a request for `{name}`, which the world does not hold");
        };
        *asked.entry(name.clone()).or_default() += 1;
        if truth.reviewer == "approve" {
            world.lock().approved.insert(name.clone());
            let who = &reviewers[truth.n % 2];
            e.approve(&a.id, who, None, None, true).await.unwrap();
        } else {
            e.deny(
                &a.id,
                &reviewers[truth.n % 2],
                Some("the team keeps this as it is".into()),
            )
            .await
            .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_review_stream_earns_autonomy_without_crossing_the_reviewer_or_the_floor() {
    let text =
        std::fs::read_to_string(common::root().join("tests/fixtures/review-stream/stream.jsonl"))
            .unwrap();
    let lines: Vec<Line> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2000, "{} findings", lines.len());
    let t0 = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).single().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let world = Arc::new(World {
        state: Mutex::new(State::default()),
        clock: clock.clone(),
    });
    // The shipped actions; the four the stream needs call the world.
    const FAKED: [&str; 4] = [
        "s3:PutPublicAccessBlock",
        "sqs:SetQueueAttributes",
        "sns:SetTopicAttributes",
        "logs:PutRetentionPolicy",
    ];
    let executors: Vec<Arc<dyn Executor>> = custos_executor::executors_for_tests()
        .into_iter()
        .map(|spec| -> Arc<dyn Executor> {
            if FAKED.contains(&spec.action()) {
                Arc::new(FakeExecutor::new(spec.action(), world.clone()).unwrap())
            } else {
                spec
            }
        })
        .collect();
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let db = format!("sqlite://{}", dir.path().join("l.db").display());
    let config = common::config(
        "[autonomy]\ndefault = 3\nceiling = 5\nadjust = \"auto\"\n[approvals]\nreviewers = 1\n[guard]\nrate_per_second = 1000\nrate_burst = 1000\n[gate]\nmax_actions_per_window = 10000\n",
    );
    let e = common::engine_at(
        config,
        Registry::new(executors),
        Arc::new(Reader(world.clone())),
        &db,
        clock.clone(),
    )
    .await;
    let floor = e.bundle().digest().clone();

    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    let started = std::time::Instant::now();
    let mut sweeping = std::time::Duration::ZERO;
    let mut next_sweep = t0 + Duration::days(7);
    for line in &lines {
        let at = t0 + Duration::milliseconds((line.day * 86_400_000.0) as i64);
        // Weekly, the world undoes what recurs and custos re-verifies what it fixed.
        while at >= next_sweep {
            clock.set(next_sweep);
            {
                let mut st = world.lock();
                for r in st.resources.values_mut() {
                    if r.recurs_at.is_some_and(|t| t <= next_sweep) {
                        r.recurs_at = None;
                        r.broken = true;
                    }
                }
            }
            let sweep = std::time::Instant::now();
            e.reverify(Mode::Execute).await.unwrap();
            review(&e, &world, &mut asked).await;
            sweeping += sweep.elapsed();
            next_sweep += Duration::days(7);
        }
        clock.set(at);
        world.lock().resources.insert(
            line.resource.clone(),
            Res {
                truth: line.clone(),
                broken: true,
                recurs_at: None,
                fixed_before: false,
            },
        );
        let item = {
            let st = world.lock();
            world.item(&line.resource, &st.resources[&line.resource])
        };
        e.run_once(&Items::new("sqs:stream", vec![item]), Mode::Execute)
            .await
            .unwrap();
        review(&e, &world, &mut asked).await;
    }

    // Safety, from the world's own record.
    let (violations, autonomous, production_alone) = {
        let st = world.lock();
        (
            st.violations.clone(),
            st.autonomous.clone(),
            st.production_alone,
        )
    };
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(production_alone > 0, "custos never fixed production alone");
    // Structural (nothing the learner holds reaches the bundle), kept as a tripwire.
    assert_eq!(e.bundle().digest(), &floor, "the policy bundle changed");

    // Liveness: the share sent to a person, per quarter of the stream.
    let quarter = lines.len() / 4;
    let mut curve = vec![];
    for q in 0..4 {
        let part = &lines[q * quarter..(q + 1) * quarter];
        let sent = part
            .iter()
            .filter(|l| asked.contains_key(&l.resource))
            .count();
        let alone = part
            .iter()
            .filter(|l| autonomous.contains_key(&l.n))
            .count();
        let denied = part
            .iter()
            .filter(|l| asked.contains_key(&l.resource) && l.reviewer == "deny")
            .count();
        curve.push(json!({
            "quarter": q + 1,
            "findings": part.len(),
            "sent_to_a_person": sent,
            "executed_alone": alone,
            "denied": denied,
            "escalation_share": sent as f64 / part.len() as f64,
            "days": [part[0].day, part[part.len() - 1].day],
        }));
    }
    let share = |q: usize| curve[q]["escalation_share"].as_f64().unwrap();
    let levels: Vec<Value> = e
        .ledger()
        .events(&custos_ledger::EventFilter {
            kind_prefix: Some("autonomy.set".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|ev| json!({"at": ev.at, "class": ev.payload["class"], "environment": ev.payload["environment"], "level": ev.payload["level"], "reason": ev.payload["reason"]}))
        .collect();
    let report = e.autonomy_report().await.unwrap();
    let out = json!({
        "findings": lines.len(), "quarters": curve, "levels": levels,
        "violations": violations.len(), "production_alone": production_alone, "outcomes": report.outcomes,
        "weeks": report.weeks,
        "seconds": started.elapsed().as_secs_f64(), "sweep_seconds": sweeping.as_secs_f64(),
    });
    if let Ok(path) = std::env::var("CUSTOS_REVIEW_CURVE") {
        std::fs::write(path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    }
    assert!(share(0) > 0.0, "{out:#}");
    assert!(share(3) <= share(0) / 2.0, "{out:#}");
    // The report's own weekly share (scope 7), from the ledger: 120 days are at least
    // 17 ISO weeks, and the last four weeks ask a person less than the first four.
    let weeks = &report.weeks;
    assert!(weeks.len() >= 17, "{out:#}");
    let month = |w: &[custos_engine::WeekShare]| {
        let asked: u64 = w.iter().map(|x| x.counts.asked).sum();
        let alone: u64 = w.iter().map(|x| x.counts.alone).sum();
        asked as f64 / (asked + alone) as f64
    };
    let (first, last) = (month(&weeks[..4]), month(&weeks[weeks.len() - 4..]));
    assert!(
        last < first,
        "weekly share: first four weeks {first:.3}, last four {last:.3}"
    );
}
