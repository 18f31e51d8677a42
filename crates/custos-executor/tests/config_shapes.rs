#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! Scans produce what AWS Config records: every field the new scanners write under
//! `configuration` and `supplementaryConfiguration` is a property of the type in AWS's
//! published resource schemas (`tests/fixtures/config-schema`, written by AWS, not by
//! custos), with a JSON type that fits the schema's, except the additions each scanner
//! documents. Resources are made on LocalStack and the moto server and read back by a
//! real scan.

use custos_telemetry::Source;
use custos_telemetry::aws::AwsPool;
use custos_telemetry::{Inventory, services::Kind};
use custos_testkit::{
    MotoAccount, exposure, require_localstack, s3, sdk, services, unique_account,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// Fields custos adds where Config records less (documented in the scanner modules).
const ADDITIONS: [&str; 10] = [
    "supplementaryConfiguration.Trails",
    "supplementaryConfiguration.ConfigurationRecorders",
    "supplementaryConfiguration.TrailStatus.",
    "supplementaryConfiguration.EventSelectors.",
    "supplementaryConfiguration.FlowLogs",
    "supplementaryConfiguration.CreateVolumePermissions",
    "supplementaryConfiguration.Permissions.",
    "supplementaryConfiguration.Credentials.",
    "supplementaryConfiguration.Policy.policyText",
    "configuration.policyVersionList.document",
];

fn schema(resource_type: &str) -> Option<BTreeMap<String, String>> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/config-schema")
        .join(format!(
            "{}.properties.json",
            resource_type.replace("::", "_")
        ));
    let text = std::fs::read_to_string(file).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

/// Every leaf under `prefix` as (dotted path, value); arrays are looked through, as the
/// schema's property names do.
fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                leaves(prefix, x, out);
            }
        }
        Value::Null => {}
        other => out.push((prefix.to_string(), other.clone())),
    }
}

fn fits(kind: &str, v: &Value) -> bool {
    match kind {
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        // Config records some flags as strings ("true"), dates and CIDRs as text.
        "string" | "date" | "cidr_block" => v.is_string(),
        _ => false,
    }
}

#[tokio::test]
async fn scanned_items_have_the_shapes_aws_publishes() {
    require_localstack().await;
    let account = unique_account();
    let sdk = sdk(&account);
    // One of each new type.
    services::make_unencrypted_queue(&sdk, &format!("q{account}"))
        .await
        .unwrap();
    services::make_unencrypted_topic(&sdk, &format!("t{account}"))
        .await
        .unwrap();
    services::make_vpc(&sdk).await.unwrap();
    let ec2 = custos_testkit::ec2(&sdk);
    let volume = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(1)
        .send()
        .await
        .unwrap();
    ec2.create_snapshot()
        .volume_id(volume.volume_id().unwrap())
        .send()
        .await
        .unwrap();
    s3(&sdk)
        .create_bucket()
        .bucket(format!("cfg-{account}"))
        .send()
        .await
        .unwrap();
    services::make_stopped_recorder(&sdk, &account, &format!("cfg-{account}"))
        .await
        .unwrap();
    services::make_trail(
        &sdk,
        &account,
        &format!("trail-{account}"),
        services::TrailFixture::WriteOnly,
    )
    .await
    .unwrap();
    services::make_key(&sdk, &account).await.unwrap();
    services::make_short_log_group(&sdk, &account, &format!("/custos/shape-{account}"))
        .await
        .unwrap();
    // Issue 25's types: RDS on moto, the rest on LocalStack.
    exposure::make_public_rds_snapshot(&sdk, &account)
        .await
        .unwrap();
    exposure::make_public_image(&sdk, &format!("ami-{account}"))
        .await
        .unwrap();
    exposure::make_public_document(&sdk, &format!("doc-{account}"))
        .await
        .unwrap();
    exposure::make_user_with_key(&sdk, &format!("u{account}"))
        .await
        .unwrap();
    exposure::make_customer_policy(&sdk, &format!("p{account}"))
        .await
        .unwrap();
    exposure::make_certificate(&sdk, &format!("{account}.example.com"))
        .await
        .unwrap();
    // Lambda on moto.
    custos_testkit::policies::make_public_function(&sdk, &account, &format!("fn{account}"))
        .await
        .unwrap();

    // Every request the scan sends, as IAM actions, recorded on the wire.
    let recorder = custos_telemetry::record::Recorder::default();
    let pool = Arc::new(
        AwsPool::with_account(sdk.clone(), account.clone(), BTreeMap::new())
            .with_interceptor(recorder.clone())
            .with_interceptor(MotoAccount(account.clone())),
    );
    let inventory = Inventory::new(pool, &[], 2);
    let batch = inventory.collect().await.unwrap();
    assert_eq!(batch.rejected, vec![], "every service answered");
    // And one item of each type read again alone, as the guard reads before a change.
    let mut read_types = BTreeSet::new();
    for item in &batch.items {
        if read_types.insert(item.resource_type.clone()) {
            let again = custos_telemetry::ResourceReader::read(&inventory, &item.resource_ref())
                .await
                .unwrap();
            assert!(again.is_some(), "{} read alone", item.resource_id);
        }
    }
    // What the scanners declare (and `custos iam-policy` grants) is exactly what a scan
    // of every type sends: nothing undeclared (it would be refused in an account), and
    // nothing declared that no request needs (a permission granted for nothing).
    let sent: BTreeSet<String> = recorder.calls().into_iter().collect();
    let declared: BTreeSet<String> = custos_telemetry::inventory::resource_types()
        .into_iter()
        .flat_map(custos_telemetry::inventory::reads)
        .map(|a| a.to_string())
        .collect();
    let undeclared: Vec<&String> = sent.difference(&declared).collect();
    // Sent only when ListBuckets names no `BucketRegion` (LocalStack and AWS name it).
    let fallbacks = ["s3:GetBucketLocation".to_string()];
    let unused: Vec<&String> = declared
        .difference(&sent)
        .filter(|a| !fallbacks.contains(a))
        .collect();
    assert_eq!(
        (undeclared, unused),
        (vec![], vec![]),
        "(sent but not declared, declared but never sent)"
    );
    let seen: BTreeSet<&str> = batch
        .items
        .iter()
        .map(|i| i.resource_type.as_str())
        .collect();
    for k in Kind::ALL {
        assert!(
            seen.contains(k.resource_type()),
            "the scan found no {}",
            k.resource_type()
        );
    }

    let mut problems = Vec::new();
    let mut checked = 0;
    for item in &batch.items {
        let Some(props) = schema(&item.resource_type) else {
            continue;
        };
        let mut out = Vec::new();
        leaves("configuration", &item.configuration, &mut out);
        leaves(
            "supplementaryConfiguration",
            &Value::Object(item.supplementary_configuration.clone()),
            &mut out,
        );
        for (path, value) in out {
            if ADDITIONS.iter().any(|a| path.starts_with(a)) {
                continue;
            }
            checked += 1;
            match props.get(&path) {
                None => problems.push(format!(
                    "{}: `{path}` is not in AWS's schema",
                    item.resource_type
                )),
                Some(kind) if !fits(kind, &value) => problems.push(format!(
                    "{}: `{path}` is {value}, the schema says {kind}",
                    item.resource_type
                )),
                Some(_) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 40, "only {checked} fields checked");

    // The account item carries the region's trails and recorders as the fixtures made
    // them (CloudTrail.1 and Config.1 read these): a multi-region trail logging write
    // events only, and one stopped recorder.
    let account_item = batch
        .items
        .iter()
        .find(|i| i.resource_type == "AWS::::Account")
        .unwrap();
    let posture = &account_item.supplementary_configuration;
    assert_eq!(
        posture["Trails"],
        serde_json::json!([{"name": format!("trail-{account}"), "homeRegion": "us-east-1", "isMultiRegionTrail": true, "isOrganizationTrail": false, "isLogging": true, "managementEvents": false}])
    );
    assert_eq!(
        posture["ConfigurationRecorders"],
        serde_json::json!([{"name": "default", "recording": false}])
    );
}

/// An account with no trail and no recorder: its account item says so (both lists
/// empty, not absent), which is what the alert-only CloudTrail.1 and Config.1 find.
#[tokio::test]
async fn an_empty_account_has_no_trail_and_no_recorder() {
    require_localstack().await;
    let account = unique_account();
    let sdk = sdk(&account);
    let pool = Arc::new(
        AwsPool::with_account(sdk.clone(), account.clone(), BTreeMap::new())
            .with_interceptor(MotoAccount(account.clone())),
    );
    let r = custos_core::ResourceRef {
        account: account.clone(),
        region: "us-east-1".into(),
        resource_type: "AWS::::Account".into(),
        resource_id: account.clone(),
    };
    let item = custos_telemetry::ResourceReader::read(&Inventory::new(pool, &[], 2), &r)
        .await
        .unwrap()
        .unwrap();
    let posture = &item.supplementary_configuration;
    assert_eq!(posture["Trails"], serde_json::json!([]));
    assert_eq!(posture["ConfigurationRecorders"], serde_json::json!([]));
    assert_eq!(posture.get("Unread"), None, "both lists were read");
}

/// `--source config` sends exactly the reads it declares (`config_api::READS`, and
/// `AGGREGATE_READS` through an aggregator), recorded on the wire against the moto
/// server's Config (it holds SNS topics' records; LocalStack's lists no S3 bucket).
#[tokio::test]
async fn reading_config_sends_exactly_its_declared_reads() {
    // moto's account for requests without an account header (the aggregator's source).
    let account = "123456789012";
    let moto = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(custos_testkit::moto_endpoint())
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("test", "test", None, None, "custos-test"),
        ))
        .build();
    let topic = services::sns(&moto)
        .create_topic()
        .name(format!("recorded-{}", unique_account()))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let config = services::config(&moto);
    config
        .put_configuration_recorder()
        .configuration_recorder(
            aws_sdk_config::types::ConfigurationRecorder::builder()
                .name("default")
                .role_arn(format!(
                    "arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
                ))
                .recording_group(
                    aws_sdk_config::types::RecordingGroup::builder()
                        .all_supported(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let aggregator = format!("recorded-{}", unique_account());
    config
        .put_configuration_aggregator()
        .configuration_aggregator_name(&aggregator)
        .account_aggregation_sources(
            aws_sdk_config::types::AccountAggregationSource::builder()
                .account_ids(account)
                .all_aws_regions(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let types: BTreeSet<String> = ["AWS::SNS::Topic".to_string()].into();
    for (through, declared) in [
        (None, custos_telemetry::config_api::READS),
        (
            Some(aggregator),
            custos_telemetry::config_api::AGGREGATE_READS,
        ),
    ] {
        let recorder = custos_telemetry::record::Recorder::default();
        let pool = Arc::new(
            AwsPool::with_account(moto.clone(), account.to_string(), BTreeMap::new())
                .with_interceptor(recorder.clone()),
        );
        // Topics are read live in production (Config records no topic policy); the
        // moto server's Config records them, and its other records' timestamps are
        // refused by the SDK, so this test reads them through Config.
        let source = custos_telemetry::ConfigInventory::with_live(pool, &[], &types, 2, &[])
            .through_aggregator(through.clone());
        let batch = source.collect().await.unwrap();
        assert_eq!(batch.rejected, vec![], "{through:?}");
        assert!(
            batch.items.iter().any(|i| i.resource_id == topic),
            "{through:?}: the topic's record was read"
        );
        let sent: BTreeSet<String> = recorder.calls().into_iter().collect();
        let declared: BTreeSet<String> = declared.iter().map(|a| a.to_string()).collect();
        assert_eq!(sent, declared, "{through:?}: sent, declared");
    }
}
