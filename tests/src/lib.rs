//! Test and demo support: LocalStack accounts and a known mix of S3 buckets.
//!
//! Tests that need AWS run against LocalStack and fail loudly when it is not running:
//! nothing here skips. Each test uses its own LocalStack account (LocalStack takes a
//! 12-digit access key id as the account id), so parallel tests never see each other's
//! buckets.

pub mod exposure;
pub mod openai_stub;
pub mod policies;
pub mod proxy;
pub mod pytools;
pub mod services;
pub mod webhook;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::types::{BucketVersioningStatus, Tag, Tagging, VersioningConfiguration};
use std::time::Duration;

/// Where LocalStack listens (`CUSTOS_TEST_AWS_ENDPOINT`, default `http://127.0.0.1:4566`).
pub fn endpoint() -> String {
    std::env::var("CUSTOS_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// Where the moto server listens (`CUSTOS_TEST_MOTO_ENDPOINT`, default
/// `http://127.0.0.1:5123`).
pub fn moto_endpoint() -> String {
    std::env::var("CUSTOS_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5123".into())
}

/// The services the tests send to the moto server instead of LocalStack, by their SDK
/// service id and the variable that routes them in a child process.
pub const ON_MOTO: [(&str, &str); 5] = [
    ("CloudTrail", "AWS_ENDPOINT_URL_CLOUDTRAIL"),
    ("KMS", "AWS_ENDPOINT_URL_KMS"),
    ("CloudWatch Logs", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"),
    ("RDS", "AWS_ENDPOINT_URL_RDS"),
    ("Lambda", "AWS_ENDPOINT_URL_LAMBDA"),
];

/// Routes [`ON_MOTO`] services to the moto server (the SDK's per-service endpoint
/// setting, as `AWS_ENDPOINT_URL_<SERVICE>` does for a process).
#[derive(Debug)]
struct MotoRoutes;

impl aws_types::service_config::LoadServiceConfig for MotoRoutes {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        (key.env() == "AWS_ENDPOINT_URL" && ON_MOTO.iter().any(|(id, _)| *id == key.service_id()))
            .then(moto_endpoint)
    }
}

/// Puts moto's `x-moto-account-id` header on every request, so that each test has its
/// own account on the moto server as it has on LocalStack (LocalStack ignores it).
#[derive(Debug, Clone)]
pub struct MotoAccount(pub String);

impl aws_smithy_runtime_api::client::interceptors::Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "custos.moto-account"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// A fresh LocalStack account id for one test.
pub fn unique_account() -> String {
    let n = u64::from_le_bytes(
        uuid::Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or([7; 8]),
    );
    format!("1{:011}", n % 100_000_000_000)
}

/// SDK configuration for `account` on LocalStack.
pub fn sdk(account: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            Credentials::new(account, "test", None, None, "custos-testkit"),
        ))
        .service_config(MotoRoutes)
        .build()
}

/// Environment variables that point a `custos` child process at `account` on LocalStack.
pub fn child_env(account: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_ACCESS_KEY_ID", account.to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ];
    env.extend(ON_MOTO.iter().map(|(_, var)| (*var, moto_endpoint())));
    env
}

/// The AWS CLI (PyPI `awscli`, its own virtualenv; `CUSTOS_AWS_CLI` names it, as
/// `scripts/test` sets it) set up to send a person's commands, unchanged, to `account` on
/// the emulators: endpoints and credentials as [`child_env`] gives them, path-style S3,
/// and a CLI plugin that adds moto's `x-moto-account-id` header (what [`MotoAccount`]
/// does for the SDK). `dir` holds the CLI's configuration and the plugin.
pub fn aws_cli(account: &str, dir: &std::path::Path) -> std::process::Command {
    let cli = std::env::var("CUSTOS_AWS_CLI").unwrap_or_else(|_| {
        panic!("CUSTOS_AWS_CLI names the AWS CLI (`pip install awscli` in a virtualenv; scripts/test does it)")
    });
    // The plugin, for the emulators only: moto's account header; the endpoints from the
    // environment also for the services AWS CLI v1 sends to fixed legacy hosts in
    // us-east-1 (SQS, RDS: it ignores `AWS_ENDPOINT_URL` there); and the account id taken
    // off S3 Control's host, as `custos_telemetry::aws` does for the SDK.
    let plugin = r#"import os
import re

MOTO = {"cloudtrail": "CLOUDTRAIL", "kms": "KMS", "logs": "CLOUDWATCH_LOGS", "rds": "RDS", "lambda": "LAMBDA"}


def awscli_initialize(cli):
    account = os.environ.get("CUSTOS_MOTO_ACCOUNT")

    def endpoint(parsed_args, **kwargs):
        if getattr(parsed_args, "endpoint_url", None) is None:
            svc = MOTO.get(getattr(parsed_args, "command", ""))
            url = os.environ.get("AWS_ENDPOINT_URL_" + svc) if svc else None
            parsed_args.endpoint_url = url or os.environ.get("AWS_ENDPOINT_URL")

    def add(request, **kwargs):
        if account:
            request.headers["x-moto-account-id"] = account
        request.url = re.sub(r"//[0-9]{12}\.(127\.0\.0\.1|localhost)", r"//\1", request.url)

    cli.register("session-initialized", endpoint)
    cli.register("before-sign", add)
"#;
    let config = "[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n[plugins]\ncustos_moto = custos_moto_account\n";
    std::fs::write(dir.join("custos_moto_account.py"), plugin)
        .unwrap_or_else(|e| panic!("writing the CLI plugin in {}: {e}", dir.display()));
    std::fs::write(dir.join("config"), config)
        .unwrap_or_else(|e| panic!("writing the CLI config in {}: {e}", dir.display()));
    let bin = std::path::PathBuf::from(&cli);
    let path = format!(
        "{}:{}",
        bin.parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut sh = std::process::Command::new("bash");
    sh.env("PATH", path)
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("PYTHONPATH", dir)
        .env("CUSTOS_MOTO_ACCOUNT", account)
        .env("AWS_DEFAULT_REGION", "us-east-1");
    for (k, v) in child_env(account) {
        sh.env(k, v);
    }
    sh
}

pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// Panic with instructions when LocalStack does not answer: a test that needs it must
/// fail, never pass silently.
pub async fn require_localstack() {
    let client = s3(&sdk("000000000000"));
    let probe = tokio::time::timeout(Duration::from_secs(10), client.list_buckets().send()).await;
    match probe {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!(
            "LocalStack at {} answered with an error: {}; start it with `localstack/start`",
            endpoint(),
            aws_sdk_s3::error::DisplayErrorContext(e)
        ),
        Err(_) => panic!(
            "LocalStack at {} did not answer within 10 s; start it with `localstack/start`",
            endpoint()
        ),
    }
}

/// The kinds of bucket the seeder makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    /// Block Public Access on, default encryption, versioning on.
    Compliant,
    /// No bucket-level public access block; dev environment.
    NoPublicAccessBlock,
    /// Default encryption removed; dev environment.
    NoEncryption,
    /// Versioning never enabled; dev environment.
    VersioningOff,
    /// Non-compliant but tagged `custos:exclude=true`.
    Excluded,
    /// Non-compliant, tagged `environment=production`.
    Production,
    /// Non-compliant, dev, but tagged with an active incident.
    Incident,
}

impl Fixture {
    pub const ALL: [Fixture; 7] = [
        Fixture::Compliant,
        Fixture::NoPublicAccessBlock,
        Fixture::NoEncryption,
        Fixture::VersioningOff,
        Fixture::Excluded,
        Fixture::Production,
        Fixture::Incident,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            Fixture::Compliant => "compliant",
            Fixture::NoPublicAccessBlock => "public",
            Fixture::NoEncryption => "unencrypted",
            Fixture::VersioningOff => "unversioned",
            Fixture::Excluded => "excluded",
            Fixture::Production => "prod",
            Fixture::Incident => "incident",
        }
    }
}

/// How a fixture differs from a fresh bucket (which has Block Public Access on and
/// default encryption, like AWS since 2023).
struct Spec {
    versioning: bool,
    remove_public_access_block: bool,
    remove_encryption: bool,
    tags: &'static [(&'static str, &'static str)],
}

fn spec(fixture: Fixture) -> Spec {
    const DEV: &[(&str, &str)] = &[("environment", "dev")];
    let (versioning, remove_public_access_block, remove_encryption, tags) = match fixture {
        Fixture::Compliant => (true, false, false, DEV),
        Fixture::NoPublicAccessBlock => (true, true, false, DEV),
        Fixture::NoEncryption => (true, false, true, DEV),
        Fixture::VersioningOff => (false, false, false, DEV),
        Fixture::Excluded => (
            true,
            true,
            false,
            &[("environment", "dev"), ("custos:exclude", "true")][..],
        ),
        Fixture::Production => (
            true,
            true,
            false,
            &[("environment", "production"), ("team", "payments")][..],
        ),
        Fixture::Incident => (
            true,
            true,
            false,
            &[
                ("environment", "dev"),
                ("incident", "INC-4711 investigation in progress"),
            ][..],
        ),
    };
    Spec {
        versioning,
        remove_public_access_block,
        remove_encryption,
        tags,
    }
}

/// Create one bucket in the state `fixture` describes.
pub async fn make_bucket(
    client: &aws_sdk_s3::Client,
    name: &str,
    fixture: Fixture,
) -> anyhow::Result<()> {
    let spec = spec(fixture);
    client.create_bucket().bucket(name).send().await?;
    if spec.versioning {
        client
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await?;
    }
    if spec.remove_public_access_block {
        client
            .delete_public_access_block()
            .bucket(name)
            .send()
            .await?;
    }
    if spec.remove_encryption {
        client
            .delete_bucket_encryption()
            .bucket(name)
            .send()
            .await?;
    }
    tag_bucket(client, name, spec.tags).await
}

/// Replace a bucket's tags.
pub async fn tag_bucket(
    client: &aws_sdk_s3::Client,
    name: &str,
    tags: &[(&str, &str)],
) -> anyhow::Result<()> {
    let mut tagging = Tagging::builder();
    for (k, v) in tags {
        tagging = tagging.tag_set(Tag::builder().key(*k).value(*v).build()?);
    }
    client
        .put_bucket_tagging()
        .bucket(name)
        .tagging(tagging.build()?)
        .send()
        .await?;
    Ok(())
}

/// Whether a bucket has a bucket-level public access block, read from LocalStack itself.
pub async fn has_public_access_block(client: &aws_sdk_s3::Client, name: &str) -> bool {
    client
        .get_public_access_block()
        .bucket(name)
        .send()
        .await
        .is_ok()
}

/// Delete every bucket whose name starts with `prefix` (they hold no objects).
pub async fn clear(client: &aws_sdk_s3::Client, prefix: &str) -> anyhow::Result<usize> {
    let mut n = 0;
    for b in client.list_buckets().send().await?.buckets() {
        if let Some(name) = b.name().filter(|n| n.starts_with(prefix)) {
            client.delete_bucket().bucket(name).send().await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Make the whole mix: `<prefix>-compliant`, `<prefix>-public`, ...
pub async fn seed(
    client: &aws_sdk_s3::Client,
    prefix: &str,
) -> anyhow::Result<Vec<(String, Fixture)>> {
    let mut out = Vec::new();
    for f in Fixture::ALL {
        let name = format!("{prefix}-{}", f.suffix());
        make_bucket(client, &name, f).await?;
        out.push((name, f));
    }
    Ok(out)
}

pub fn ec2(sdk: &SdkConfig) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(sdk)
}

/// A security group with 22/tcp and 443/tcp open to 0.0.0.0/0, and 22/tcp from
/// 10.0.0.0/8. Returns its id.
pub async fn make_open_security_group(
    client: &aws_sdk_ec2::Client,
    name: &str,
) -> anyhow::Result<String> {
    use aws_sdk_ec2::types::{IpPermission, IpRange};
    let id = client
        .create_security_group()
        .group_name(name)
        .description("custos fixture: ssh open to the world")
        .send()
        .await?
        .group_id()
        .unwrap_or_default()
        .to_string();
    let range = |c: &str| IpRange::builder().cidr_ip(c).build();
    client
        .authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(range("0.0.0.0/0"))
                .ip_ranges(range("10.0.0.0/8"))
                .build(),
        )
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(range("0.0.0.0/0"))
                .build(),
        )
        .send()
        .await?;
    tag_dev(client, &id).await?;
    Ok(id)
}

async fn tag_dev(client: &aws_sdk_ec2::Client, id: &str) -> anyhow::Result<()> {
    let tag = aws_sdk_ec2::types::Tag::builder()
        .key("environment")
        .value("dev")
        .build();
    client.create_tags().resources(id).tags(tag).send().await?;
    Ok(())
}

/// An instance with IMDSv1 allowed (tokens optional), tagged `environment=dev`.
pub async fn make_instance(client: &aws_sdk_ec2::Client) -> anyhow::Result<String> {
    let image = client
        .describe_images()
        .send()
        .await?
        .images()
        .first()
        .and_then(|i| i.image_id())
        .unwrap_or("ami-03cf127a")
        .to_string();
    let resp = client
        .run_instances()
        .image_id(image)
        .min_count(1)
        .max_count(1)
        .send()
        .await?;
    let id = resp
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .unwrap_or_default()
        .to_string();
    tag_dev(client, &id).await?;
    Ok(id)
}

pub fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(sdk)
}

/// An EventBridge "Config Configuration Item Change" event carrying `item`, as AWS
/// delivers it to an SQS target.
pub fn config_change_event(item: &serde_json::Value) -> String {
    serde_json::json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Config Configuration Item Change",
        "source": "aws.config",
        "account": item["awsAccountId"],
        "time": item["configurationItemCaptureTime"],
        "region": item["awsRegion"],
        "resources": [],
        "detail": {
            "recordVersion": "1.3",
            "messageType": "ConfigurationItemChangeNotification",
            "configurationItem": item,
            "notificationCreationTime": item["configurationItemCaptureTime"],
        }
    })
    .to_string()
}

/// The configuration item AWS Config would record for a bucket made by [`make_bucket`],
/// captured at `at` (RFC 3339).
pub fn bucket_item(account: &str, name: &str, fixture: Fixture, at: &str) -> serde_json::Value {
    let spec = spec(fixture);
    let mut supp = serde_json::Map::new();
    if !spec.remove_public_access_block {
        supp.insert(
            "PublicAccessBlockConfiguration".into(),
            serde_json::json!({"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true, "restrictPublicBuckets": true}),
        );
    }
    if !spec.remove_encryption {
        supp.insert(
            "ServerSideEncryptionConfiguration".into(),
            serde_json::json!({"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}, "bucketKeyEnabled": false}]}),
        );
    }
    supp.insert(
        "BucketVersioningConfiguration".into(),
        serde_json::json!({"status": if spec.versioning { "Enabled" } else { "Off" }}),
    );
    let tags: serde_json::Map<String, serde_json::Value> = spec
        .tags
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    serde_json::json!({
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": at,
        "configurationItemStatus": "OK",
        "awsAccountId": account,
        "awsRegion": "us-east-1",
        "resourceType": "AWS::S3::Bucket",
        "resourceId": name,
        "resourceName": name,
        "ARN": format!("arn:aws:s3:::{name}"),
        "tags": tags,
        "configuration": {"name": name},
        "supplementaryConfiguration": supp,
    })
}

/// A queue for change events, with a short visibility timeout so redeliveries come fast.
pub async fn make_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    visibility_seconds: u32,
) -> anyhow::Result<String> {
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            visibility_seconds.to_string(),
        )
        .send()
        .await?
        .queue_url()
        .unwrap_or_default()
        .to_string();
    Ok(url)
}

/// Send every body, ten per batch.
pub async fn publish(
    client: &aws_sdk_sqs::Client,
    url: &str,
    bodies: &[String],
) -> anyhow::Result<()> {
    for (n, chunk) in bodies.chunks(10).enumerate() {
        let mut req = client.send_message_batch().queue_url(url);
        for (i, body) in chunk.iter().enumerate() {
            req = req.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{n}-{i}"))
                    .message_body(body)
                    .build()?,
            );
        }
        let resp = req.send().await?;
        anyhow::ensure!(
            resp.failed().is_empty(),
            "sending failed: {:?}",
            resp.failed()
        );
    }
    Ok(())
}

/// Messages visible plus in flight.
pub async fn queue_depth(client: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<u64> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let resp = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    let attrs = resp.attributes();
    let get = |k: A| {
        attrs
            .and_then(|a| a.get(&k))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(get(A::ApproximateNumberOfMessages) + get(A::ApproximateNumberOfMessagesNotVisible))
}

/// Make many buckets of one kind, `concurrency` at a time.
pub async fn make_buckets(
    client: &aws_sdk_s3::Client,
    names: &[String],
    fixture: Fixture,
    concurrency: usize,
) -> anyhow::Result<()> {
    for chunk in names.chunks(concurrency.max(1)) {
        let mut set = tokio::task::JoinSet::new();
        for name in chunk {
            let (client, name) = (client.clone(), name.clone());
            set.spawn(async move { make_bucket(&client, &name, fixture).await });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
    }
    Ok(())
}
