//! `custos bench`: detect + gate decisions per second, on one core, over a synthetic
//! inventory. No AWS, no ledger: only the policy layer is measured.

use custos_core::ConfigurationItem;
use custos_executor::{Catalog, PlaybookSet};
use custos_policy::{GateInput, PolicyBundle};
use serde::Serialize;
use serde_json::json;
use std::time::Instant;

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub resources: usize,
    pub findings: usize,
    pub gate_decisions: usize,
    pub seconds: f64,
    pub resources_per_second: f64,
    pub decisions_per_second: f64,
}

/// A mix like a real account: 60 % of buckets compliant, the rest failing one or more
/// controls, one in ten security groups open to the world.
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
                json!({
                    "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "111122223333", "awsRegion": "us-east-1",
                    "resourceType": "AWS::S3::Bucket", "resourceId": format!("bench-{i:06}"), "ARN": format!("arn:aws:s3:::bench-{i:06}"),
                    "tags": {"environment": if i % 2 == 0 { "dev" } else { "production" }},
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

pub fn run(
    config: &custos_engine::Config,
    bundle: &PolicyBundle,
    playbooks: &PlaybookSet,
    catalog: &Catalog,
    items: &[ConfigurationItem],
) -> Result<BenchReport, String> {
    let mut ev = bundle.evaluator();
    let input = GateInput {
        limits: config.gate.limits,
        time: custos_policy::TimeFacts::at(chrono::Utc::now()),
        ..GateInput::default()
    };
    let mut findings = 0;
    let mut decisions = 0;
    let start = Instant::now();
    for ci in items {
        let fs = ev.detect(ci).map_err(|e| e.to_string())?;
        findings += fs.len();
        let mut seen = std::collections::BTreeSet::new();
        for f in &fs {
            if !seen.insert(f.control_id.clone()) {
                continue;
            }
            let env = config.environments.of(&ci.tags);
            if let Some(plan) = playbooks.plan(catalog, f, ci, &env) {
                let _ = ev.gate(&plan, &input);
                decisions += 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchReport {
        resources: items.len(),
        findings,
        gate_decisions: decisions,
        seconds,
        resources_per_second: items.len() as f64 / seconds,
        decisions_per_second: (items.len() + decisions) as f64 / seconds,
    })
}
