//! Fixtures for the services beyond S3 and EC2: non-compliant queues, topics, log
//! groups, VPCs, recorders (LocalStack) and trails and keys (the moto server).

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;

pub fn sns(sdk: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(sdk)
}

pub fn logs(sdk: &SdkConfig) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(sdk)
}

pub fn config(sdk: &SdkConfig) -> aws_sdk_config::Client {
    aws_sdk_config::Client::new(sdk)
}

/// A queue without SSE (SSE-SQS is on by default for new queues; turned off here).
pub async fn make_unencrypted_queue(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let url = aws_sdk_sqs::Client::new(sdk)
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
