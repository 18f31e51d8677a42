//! `custos bench`: full decisions per second over a synthetic inventory, through the
//! engine's own dry run (no AWS; the ledger is read for the guard state, nothing written).

use custos_core::ConfigurationItem;
use custos_engine::{Engine, Mode, Outcome};
use custos_telemetry::{Batch, Source, TelemetryError};
use serde::Serialize;
use serde_json::json;
use std::time::Instant;

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub resources: usize,
    pub findings: usize,
    /// Full decisions: one per failing control with a playbook.
    pub decisions: usize,
    /// Rows by outcome (what the decisions were).
    pub outcomes: std::collections::BTreeMap<String, usize>,
    pub seconds: f64,
    pub resources_per_second: f64,
    pub decisions_per_second: f64,
}

/// A mix like a real account: 80 % buckets (about half failing one to three controls; dev,
/// test, staging and production; one in forty excluded by name), 20 % security groups
/// (one in ten open to the world).
const ENVIRONMENTS: [&str; 5] = ["dev", "production", "staging", "test", "prod"];

pub fn inventory(n: usize) -> Vec<ConfigurationItem> {
    (0..n)
        .map(|i| {
            let raw = if i % 5 == 4 {
                let open = if i % 10 == 9 { "0.0.0.0/0" } else { "10.0.0.0/8" };
                json!({
                    "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "111122223333", "awsRegion": "us-east-1",
                    "resourceType": "AWS::EC2::SecurityGroup", "resourceId": format!("sg-{i:08x}"), "tags": {"environment": "dev"},
                    "configuration": {"groupId": format!("sg-{i:08x}"), "ipPermissions": [
                        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipv4Ranges": [{"cidrIp": open}], "ipv6Ranges": []},
                        {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipv6Ranges": []}]},
                })
            } else {
                let mut supp = serde_json::Map::new();
                if i % 5 != 0 {
                    supp.insert("PublicAccessBlockConfiguration".into(), json!({"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true, "restrictPublicBuckets": true}));
                }
                if i % 7 != 0 {
                    supp.insert("ServerSideEncryptionConfiguration".into(), json!({"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}));
                }
                supp.insert("BucketVersioningConfiguration".into(), json!({"status": if i % 3 == 0 { "Off" } else { "Enabled" }}));
                // One in forty is excluded by name (`legacy-*` in the bench config).
                let name = if i % 40 == 1 { format!("legacy-{i:06}") } else { format!("bench-{i:06}") };
                json!({
                    "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "111122223333", "awsRegion": "us-east-1",
                    "resourceType": "AWS::S3::Bucket", "resourceId": name, "ARN": format!("arn:aws:s3:::{name}"),
                    "tags": {"environment": ENVIRONMENTS[(i / 5) % ENVIRONMENTS.len()]},
                    "supplementaryConfiguration": supp,
                })
            };
            ConfigurationItem::from_json(&raw).unwrap_or_else(|e| unreachable_item(&e.to_string()))
        })
        .collect()
}

fn unreachable_item(e: &str) -> ConfigurationItem {
    // The generator above only builds valid items; keep the type checker honest without
    // a panic in non-test code.
    ConfigurationItem::from_json(&json!({
        "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "111122223333", "awsRegion": "us-east-1",
        "resourceType": "AWS::S3::Bucket", "resourceId": format!("invalid-{}", e.len()),
    }))
    .unwrap_or_else(|_| unreachable_item(e))
}

/// The inventory as a source (no AWS, no file).
#[derive(Debug)]
struct Generated(std::sync::Mutex<Vec<ConfigurationItem>>);

#[async_trait::async_trait]
impl Source for Generated {
    fn name(&self) -> String {
        "bench:generated".into()
    }

    async fn collect(&self) -> Result<Batch, TelemetryError> {
        let items =
            std::mem::take(&mut *self.0.lock().map_err(|_| {
                TelemetryError::Unsupported("bench inventory lock poisoned".into())
            })?);
        Ok(Batch {
            items,
            ..Batch::default()
        })
    }
}

/// Time one dry run of the engine over `items`: for every resource, detection; for every
/// failing control, a plan and the full decision (gate with the configured windows,
/// blackouts, exclusions and limits, the counts so far and the class sizes; the offline
/// reasoning rules; autonomy and switches). Nothing is recorded.
pub async fn run(engine: &Engine, items: Vec<ConfigurationItem>) -> Result<BenchReport, String> {
    let resources = items.len();
    let source = Generated(std::sync::Mutex::new(items));
    let start = Instant::now();
    let report = engine
        .run_once(&source, Mode::DryRun)
        .await
        .map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    if report.resources != resources {
        return Err(format!(
            "the dry run evaluated {} of {resources} resources",
            report.resources
        ));
    }
    let decisions = report
        .rows
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::NoPlaybook | Outcome::Error))
        .count();
    let mut verdicts = std::collections::BTreeMap::new();
    for r in &report.rows {
        *verdicts.entry(r.outcome.as_str().to_string()).or_insert(0) += 1;
    }
    Ok(BenchReport {
        resources,
        findings: report.findings,
        decisions,
        outcomes: verdicts,
        seconds,
        resources_per_second: resources as f64 / seconds,
        decisions_per_second: decisions as f64 / seconds,
    })
}
