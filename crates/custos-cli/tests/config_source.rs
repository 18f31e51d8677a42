#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! `--source config`: AWS Config as the inventory. AWS Config is the moto server's
//! emulation (LocalStack 4.13.1's Config lists no S3 bucket: its S3 is not moto's), the
//! resources are LocalStack's: each fixture bucket exists in both, the way Config holds
//! a record of the account's real buckets. The scan from Config must find what the
//! describe scan of LocalStack finds; a run from Config's view must fix through the
//! guard's live read of LocalStack. The oracle is the fixtures' own state and the
//! buckets read back from LocalStack.

mod common;
use common::*;

use custos_testkit::proxy::{Bytes, FaultProxy};
use custos_testkit::{Fixture, make_bucket, moto_endpoint, require_localstack, s3};
use serde_json::Value;
use std::collections::BTreeSet;

/// moto's account for a process that sends no account header (the child's); the
/// LocalStack account of this test too, so that Config's records name the account the
/// guard reads.
const MOTO_DEFAULT_ACCOUNT: &str = "123456789012";

fn moto_sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(moto_endpoint())
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("test", "test", None, None, "custos-test"),
        ))
        .build()
}

/// The (bucket, control) findings of a report for the buckets named `prefix-*`. The
/// bundle holds the controls whose inputs moto's Config records: moto 5.2.5 leaves
/// `BucketVersioningConfiguration` and `ServerSideEncryptionConfiguration` out of its
/// S3 items, which AWS Config records, so versioning and encryption cannot be compared.
fn findings(report: &Value, prefix: &str) -> BTreeSet<(String, String)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["resource"]["resource_id"]
                .as_str()
                .is_some_and(|id| id.starts_with(prefix))
        })
        .filter(|r| {
            ["s3-public-access-block", "s3-access-logging"]
                .contains(&r["control"].as_str().unwrap())
        })
        .map(|r| {
            (
                r["resource"]["resource_id"].as_str().unwrap().to_string(),
                r["control"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// moto 5.2.5 writes an S3 item's `configurationItemCaptureTime` and
/// `resourceCreationTime` as Python's `str(datetime)` (`2026-12-03 22:31:44.865+00:00`),
/// which the SDK refuses (RFC 3339 wants a `T`); AWS Config sends timestamps the SDK
/// reads. The mend puts the `T` in and changes nothing else.
fn mend_moto_times(body: Bytes) -> Bytes {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match x {
                        Value::String(s)
                            if (k == "configurationItemCaptureTime"
                                || k == "resourceCreationTime")
                                && s.as_bytes().get(10) == Some(&b' ') =>
                        {
                            s.replace_range(10..11, "T")
                        }
                        _ => walk(x),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    walk(&mut v);
    Bytes::from(serde_json::to_vec(&v).unwrap())
}

fn report(env: &Env, config_url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let out = env
        .command(&all)
        .env("AWS_ENDPOINT_URL_CONFIG_SERVICE", config_url)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 4),
        "custos {args:?}: {}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_scan_finds_what_a_describe_scan_finds_and_the_fix_reads_live() {
    require_localstack().await;
    let moto = moto_sdk();
    let live = s3(&custos_testkit::sdk(MOTO_DEFAULT_ACCOUNT));
    let prefix = format!("cfgsrc-{}", custos_testkit::unique_account());
    let name = |f: Fixture| format!("{prefix}-{}", f.suffix());
    for f in [
        Fixture::Compliant,
        Fixture::NoPublicAccessBlock,
        Fixture::VersioningOff,
        Fixture::Excluded,
        Fixture::Production,
    ] {
        make_bucket(&live, &name(f), f).await.unwrap();
        make_bucket(&s3(&moto), &name(f), f).await.unwrap();
        // LocalStack gives a new bucket Block Public Access, as AWS has since 2023;
        // moto does not: the record is made to match the bucket.
        if has_pab(&live, &name(f)).await {
            s3(&moto)
                .put_public_access_block()
                .bucket(name(f))
                .public_access_block_configuration(
                    aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    }
    // One more public dev bucket, in both: custos excludes it (by tag) only in LocalStack,
    // after Config recorded it.
    let late = format!("{prefix}-late");
    make_bucket(&live, &late, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    make_bucket(&s3(&moto), &late, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();

    // A recorder recording every supported type, as an account with Config has.
    let config = aws_sdk_config::Client::new(&moto);
    let recorder = || {
        config
        .put_configuration_recorder()
        .configuration_recorder(
            aws_sdk_config::types::ConfigurationRecorder::builder()
                .name("default")
                .role_arn(format!(
                    "arn:aws:iam::{MOTO_DEFAULT_ACCOUNT}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
                ))
                .recording_group(
                    aws_sdk_config::types::RecordingGroup::builder()
                        .all_supported(true)
                        .include_global_resource_types(false)
                        .build(),
                )
                .build(),
        )
        .send()
    };
    recorder().await.unwrap();

    // The two controls whose inputs moto's Config records as AWS Config does; logging
    // wanted on the unversioned bucket only, to the compliant one.
    let mut env = Env::new();
    env.account = MOTO_DEFAULT_ACCOUNT.into();
    let dir = env.dir.path();
    for sub in ["rego/controls", "rego/gate", "playbooks"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (from, file) in [
        ("rego/controls", "s3_public_access_block.rego"),
        ("rego/controls", "s3_public_access_block_test.rego"),
        ("rego/controls", "s3_access_logging.rego"),
        ("rego/controls", "s3_access_logging_test.rego"),
        ("playbooks", "s3-block-public-access.toml"),
        ("playbooks", "s3-enable-access-logging.toml"),
    ] {
        std::fs::copy(repo().join(from).join(file), dir.join(from).join(file)).unwrap();
    }
    for e in std::fs::read_dir(repo().join("rego/gate")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join("rego/gate").join(p.file_name().unwrap())).unwrap();
    }
    let write_config = |extra: &str| {
        std::fs::write(
            env.config(),
            format!(
                "[policy]\ndir = \"rego\"\n[playbooks]\ndir = \"playbooks\"\n[database]\nurl = {:?}\n{AUTONOMY}[controls]\nlog_bucket = {:?}\naccess_logging_prefixes = [{:?}]\n{extra}",
                dir.join("ledger.db").display().to_string(),
                name(Fixture::Compliant),
                name(Fixture::VersioningOff)
            ),
        )
        .unwrap()
    };
    write_config("");

    let config_api = FaultProxy::start(&moto_endpoint()).await;
    config_api.mend_responses(mend_moto_times);
    let described = report(&env, &config_api.url, &["scan"]);
    let recorded = report(&env, &config_api.url, &["scan", "--source", "config"]);
    assert!(
        recorded["source"].as_str().unwrap().starts_with("config:"),
        "{}",
        recorded["source"]
    );
    let want: BTreeSet<(String, String)> = [
        (name(Fixture::NoPublicAccessBlock), "s3-public-access-block"),
        (name(Fixture::Excluded), "s3-public-access-block"),
        (name(Fixture::Production), "s3-public-access-block"),
        (name(Fixture::VersioningOff), "s3-access-logging"),
        (format!("{prefix}-late"), "s3-public-access-block"),
    ]
    .into_iter()
    .map(|(b, c)| (b, c.to_string()))
    .collect();
    assert_eq!(findings(&described, &prefix), want, "the describe scan");
    assert_eq!(findings(&recorded, &prefix), want, "the Config scan");

    // The same records through an organization's aggregator.
    let aggregator = format!("org-{}", custos_testkit::unique_account());
    config
        .put_configuration_aggregator()
        .configuration_aggregator_name(&aggregator)
        .account_aggregation_sources(
            aws_sdk_config::types::AccountAggregationSource::builder()
                .account_ids(MOTO_DEFAULT_ACCOUNT)
                .all_aws_regions(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Without the region's recorder, only the aggregator still holds the records (the
    // per-region read reports every type as not recorded).
    config
        .delete_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await
        .unwrap();
    let unrecorded = report(&env, &config_api.url, &["scan", "--source", "config"]);
    assert_eq!(findings(&unrecorded, &prefix), BTreeSet::new());
    let said = unrecorded["rejected"].to_string();
    assert!(
        said.contains("AWS Config does not hold `AWS::S3::Bucket`")
            && said.contains("the region has no configuration recorder"),
        "a type Config does not hold is reported: {said}"
    );
    write_config(&format!(
        "[telemetry]\nconfig_aggregator = {aggregator:?}\n"
    ));
    let aggregated = report(&env, &config_api.url, &["scan", "--source", "config"]);
    assert_eq!(
        findings(&aggregated, &prefix),
        want,
        "the aggregator's scan"
    );
    write_config("");
    recorder().await.unwrap();

    // Excluded after AWS Config recorded it: Config's record does not know, only a live
    // read does. (The same fixture as the bucket that must be fixed.)
    let late = format!("{prefix}-late");
    custos_testkit::tag_bucket(
        &live,
        &late,
        &[("environment", "dev"), ("custos:exclude", "true")],
    )
    .await
    .unwrap();

    // A run from Config's view changes the dev bucket (read back from LocalStack) and
    // nothing the gate holds back: the excluded bucket stays open, production waits.
    let run = report(
        &env,
        &config_api.url,
        &["run", "--once", "--source", "config"],
    );
    let fixed = |bucket: &str| {
        rows_of(&run, bucket)
            .iter()
            .filter(|r| r["control"] == "s3-public-access-block" && r["outcome"] == "fixed")
            .count()
    };
    assert_eq!(
        fixed(&name(Fixture::NoPublicAccessBlock)),
        1,
        "{:#}",
        Value::Array(rows_of(&run, &name(Fixture::NoPublicAccessBlock)))
    );
    assert!(has_pab(&live, &name(Fixture::NoPublicAccessBlock)).await);
    assert!(
        !has_pab(&live, &late).await,
        "a bucket excluded since Config recorded it was changed: the record was trusted, not the live read ({:#})",
        Value::Array(rows_of(&run, &late))
    );
    assert!(!has_pab(&live, &name(Fixture::Excluded)).await);
    assert!(
        !has_pab(&live, &name(Fixture::Production)).await,
        "{:#}",
        Value::Array(rows_of(&run, &name(Fixture::Production)))
    );
}
