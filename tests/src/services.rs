//! Fixtures for the services beyond S3 and EC2: non-compliant queues, topics, log
//! groups, VPCs, recorders (LocalStack) and trails and keys (the moto server).

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;

pub fn sns(sdk: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(sdk)
}

/// CloudWatch Logs on the moto server, in `account`.
pub fn logs(sdk: &SdkConfig, account: &str) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
            .interceptor(crate::MotoAccount(account.to_string()))
            .build(),
    )
}

pub fn config(sdk: &SdkConfig) -> aws_sdk_config::Client {
    aws_sdk_config::Client::new(sdk)
}

/// A queue without SSE (SSE-SQS is on by default for new queues; turned off here). A
/// queue of that name left by an earlier run (a demo fixed it) is replaced.
pub async fn make_unencrypted_queue(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    if let Ok(old) = sqs.get_queue_url().queue_name(name).send().await
        && let Some(url) = old.queue_url()
    {
        sqs.delete_queue().queue_url(url).send().await?;
    }
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "false")
        .send()
        .await?
        .queue_url()
        .unwrap_or_default()
        .to_string();
    Ok(url)
}

/// A topic without encryption; returns its ARN.
pub async fn make_unencrypted_topic(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    Ok(sns(sdk)
        .create_topic()
        .name(name)
        .send()
        .await?
        .topic_arn()
        .unwrap_or_default()
        .to_string())
}

/// Tag a queue or topic behind custos' back.
pub async fn tag(sdk: &SdkConfig, resource_type: &str, id: &str) -> anyhow::Result<()> {
    match resource_type {
        "AWS::SQS::Queue" => {
            aws_sdk_sqs::Client::new(sdk)
                .tag_queue()
                .queue_url(id)
                .tags("custos:exclude", "true")
                .send()
                .await?;
        }
        "AWS::SNS::Topic" => {
            sns(sdk)
                .tag_resource()
                .resource_arn(id)
                .tags(
                    aws_sdk_sns::types::Tag::builder()
                        .key("custos:exclude")
                        .value("true")
                        .build()?,
                )
                .send()
                .await?;
        }
        other => anyhow::bail!("no tagging fixture for `{other}`"),
    }
    Ok(())
}

/// A log group keeping events one day; returns its name.
pub async fn make_short_log_group(
    sdk: &SdkConfig,
    account: &str,
    name: &str,
) -> anyhow::Result<String> {
    let l = logs(sdk, account);
    l.create_log_group().log_group_name(name).send().await?;
    l.put_retention_policy()
        .log_group_name(name)
        .retention_in_days(1)
        .send()
        .await?;
    Ok(name.to_string())
}

/// A VPC without flow logs; returns its id.
pub async fn make_vpc(sdk: &SdkConfig) -> anyhow::Result<String> {
    Ok(aws_sdk_ec2::Client::new(sdk)
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .send()
        .await?
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap_or_default()
        .to_string())
}

/// A recorder with a delivery channel, stopped; returns its name.
pub async fn make_stopped_recorder(
    sdk: &SdkConfig,
    account: &str,
    bucket: &str,
) -> anyhow::Result<String> {
    let c = config(sdk);
    c.put_configuration_recorder()
        .configuration_recorder(
            aws_sdk_config::types::ConfigurationRecorder::builder()
                .name("default")
                .role_arn(format!("arn:aws:iam::{account}:role/config"))
                .recording_group(
                    aws_sdk_config::types::RecordingGroup::builder()
                        .all_supported(true)
                        .include_global_resource_types(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;
    c.put_delivery_channel()
        .delivery_channel(
            aws_sdk_config::types::DeliveryChannel::builder()
                .name("default")
                .s3_bucket_name(bucket)
                .build(),
        )
        .send()
        .await?;
    Ok("default".to_string())
}

/// Tag a log group behind custos' back.
pub async fn tag_log_group(sdk: &SdkConfig, account: &str, name: &str) -> anyhow::Result<()> {
    logs(sdk, account)
        .tag_resource()
        .resource_arn(format!("arn:aws:logs:us-east-1:{account}:log-group:{name}"))
        .tags("custos:exclude", "true")
        .send()
        .await?;
    Ok(())
}

/// A client of `$krate` on the moto server, in `account`.
macro_rules! on_moto {
    ($krate:ident, $sdk:expr, $account:expr) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk)
                .interceptor(crate::MotoAccount($account.to_string()))
                .build(),
        )
    };
}

pub fn cloudtrail(sdk: &SdkConfig, account: &str) -> aws_sdk_cloudtrail::Client {
    on_moto!(aws_sdk_cloudtrail, sdk, account)
}

pub fn kms(sdk: &SdkConfig, account: &str) -> aws_sdk_kms::Client {
    on_moto!(aws_sdk_kms, sdk, account)
}

/// S3 on the moto server (trails deliver to a bucket there).
pub fn moto_s3(sdk: &SdkConfig, account: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .endpoint_url(crate::moto_endpoint())
            .force_path_style(true)
            .interceptor(crate::MotoAccount(account.to_string()))
            .build(),
    )
}

/// How a trail fixture is non-compliant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailFixture {
    /// Single region, no validation, no KMS key, not logging, default selectors.
    Plain,
    /// Logging, all regions, but recording write-only management events.
    WriteOnly,
}

/// A trail on the moto server (with its bucket); returns its name.
pub async fn make_trail(
    sdk: &SdkConfig,
    account: &str,
    name: &str,
    fixture: TrailFixture,
) -> anyhow::Result<String> {
    let bucket = format!("trail-{account}-{}", name.len());
    moto_s3(sdk, account)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await?;
    let ct = cloudtrail(sdk, account);
    ct.create_trail()
        .name(name)
        .s3_bucket_name(&bucket)
        .is_multi_region_trail(fixture == TrailFixture::WriteOnly)
        .include_global_service_events(fixture == TrailFixture::WriteOnly)
        .send()
        .await?;
    if fixture == TrailFixture::WriteOnly {
        ct.start_logging().name(name).send().await?;
        ct.put_event_selectors()
            .trail_name(name)
            .event_selectors(
                aws_sdk_cloudtrail::types::EventSelector::builder()
                    .read_write_type(aws_sdk_cloudtrail::types::ReadWriteType::WriteOnly)
                    .include_management_events(true)
                    .build(),
            )
            .send()
            .await?;
    }
    Ok(name.to_string())
}

/// A customer managed symmetric key without rotation on the moto server; returns its id.
pub async fn make_key(sdk: &SdkConfig, account: &str) -> anyhow::Result<String> {
    let k = kms(sdk, account)
        .create_key()
        .description("custos fixture")
        .send()
        .await?;
    Ok(k.key_metadata()
        .map(|m| m.key_id().to_string())
        .unwrap_or_default())
}

/// Tag a trail or key behind custos' back.
pub async fn tag_on_moto(
    sdk: &SdkConfig,
    account: &str,
    resource_type: &str,
    id: &str,
) -> anyhow::Result<()> {
    match resource_type {
        "AWS::CloudTrail::Trail" => {
            cloudtrail(sdk, account)
                .add_tags()
                .resource_id(format!("arn:aws:cloudtrail:us-east-1:{account}:trail/{id}"))
                .tags_list(
                    aws_sdk_cloudtrail::types::Tag::builder()
                        .key("custos:exclude")
                        .value("true")
                        .build()?,
                )
                .send()
                .await?;
        }
        "AWS::KMS::Key" => {
            kms(sdk, account)
                .tag_resource()
                .key_id(id)
                .tags(
                    aws_sdk_kms::types::Tag::builder()
                        .tag_key("custos:exclude")
                        .tag_value("true")
                        .build()?,
                )
                .send()
                .await?;
        }
        other => anyhow::bail!("no moto tagging fixture for `{other}`"),
    }
    Ok(())
}
