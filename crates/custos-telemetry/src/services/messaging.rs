//! SQS queues (`AWS::SQS::Queue`: the configuration is the queue's attributes, as
//! Config records them; resource id the queue URL) and SNS topics (`AWS::SNS::Topic`:
//! the topic's attributes; resource id the topic ARN). Config records neither's access
//! policy; custos adds it as `supplementaryConfiguration.Policy.policyText` (the text
//! as the API answers it, `null` for none), in the shape Config gives a bucket's.

use super::{At, aws_error};
use crate::TelemetryError;
use crate::aws::error_code;
use aws_sdk_sqs::types::QueueAttributeName;
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const QUEUE: &str = "AWS::SQS::Queue";
pub const TOPIC: &str = "AWS::SNS::Topic";
pub const QUEUE_READS: &[&str] = &[
    "sqs:ListQueues",
    "sqs:GetQueueAttributes",
    "sqs:ListQueueTags",
];
pub const TOPIC_READS: &[&str] = &[
    "sns:ListTopics",
    "sns:GetTopicAttributes",
    "sns:ListTagsForResource",
];

/// Queue attributes Config records as integers (the API answers strings).
const INTEGER_ATTRIBUTES: [&str; 6] = [
    "DelaySeconds",
    "KmsDataKeyReusePeriodSeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
];
/// Queue attributes in Config's schema (the rest, such as the policy, are left out).
const QUEUE_ATTRIBUTES: [&str; 13] = [
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "QueueArn",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
];
/// Topic attributes in Config's schema that custos reads: the delivery status logging
/// roles and sample rates per protocol among them (SNS.2 reads them).
const TOPIC_ATTRIBUTES: [&str; 21] = [
    "ApplicationFailureFeedbackRoleArn",
    "ApplicationSuccessFeedbackRoleArn",
    "ApplicationSuccessFeedbackSampleRate",
    "ContentBasedDeduplication",
    "DisplayName",
    "FifoTopic",
    "FirehoseFailureFeedbackRoleArn",
    "FirehoseSuccessFeedbackRoleArn",
    "FirehoseSuccessFeedbackSampleRate",
    "HTTPFailureFeedbackRoleArn",
    "HTTPSuccessFeedbackRoleArn",
    "HTTPSuccessFeedbackSampleRate",
    "KmsMasterKeyId",
    "LambdaFailureFeedbackRoleArn",
    "LambdaSuccessFeedbackRoleArn",
    "LambdaSuccessFeedbackSampleRate",
    "Owner",
    "SQSFailureFeedbackRoleArn",
    "SQSSuccessFeedbackRoleArn",
    "SQSSuccessFeedbackSampleRate",
    "TopicArn",
];

pub async fn queues(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut urls = Vec::new();
    let mut token = None;
    loop {
        let page = at
            .clients
            .sqs
            .list_queues()
            .set_next_token(token)
            .max_results(1000)
            .send()
            .await
            .map_err(|e| aws_error("sqs:ListQueues", "queues", &e))?;
        urls.extend(page.queue_urls().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for url in urls {
        if let Some(ci) = queue(at, &url).await? {
            out.push(ci);
        }
    }
    Ok(out)
}

fn gone<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    matches!(
        error_code(e),
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" | "NotFound")
    )
}

/// One queue by URL; `None` when it no longer exists.
pub async fn queue(at: &At, url: &str) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let sqs = &at.clients.sqs;
    let attrs = match sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
    {
        Ok(a) => a,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(aws_error("sqs:GetQueueAttributes", url, &e)),
    };
    let tags: BTreeMap<String, String> = match sqs.list_queue_tags().queue_url(url).send().await {
        Ok(t) => t
            .tags()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(aws_error("sqs:ListQueueTags", url, &e)),
    };
    let mut cfg = Map::new();
    for (k, v) in attrs.attributes().into_iter().flatten() {
        let k = k.as_str();
        if !QUEUE_ATTRIBUTES.contains(&k) {
            continue;
        }
        let value = if INTEGER_ATTRIBUTES.contains(&k) {
            v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n))
        } else {
            json!(v)
        };
        cfg.insert(k.to_string(), value);
    }
    let name = url.rsplit('/').next().unwrap_or(url).to_string();
    cfg.insert("QueueUrl".into(), json!(url));
    cfg.insert("QueueName".into(), json!(name));
    let arn = cfg
        .get("QueueArn")
        .and_then(Value::as_str)
        .map(str::to_string);
    let policy = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::Policy));
    at.item(
        QUEUE,
        url,
        Some(&name),
        arn,
        tags,
        Value::Object(cfg),
        policy_addition(policy.map(String::as_str)),
    )
    .map(Some)
}

pub async fn topics(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = at
            .clients
            .sns
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("sns:ListTopics", "topics", &e))?;
        arns.extend(
            page.topics()
                .iter()
                .filter_map(|t| t.topic_arn().map(str::to_string)),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for arn in arns {
        if let Some(ci) = topic(at, &arn).await? {
            out.push(ci);
        }
    }
    Ok(out)
}

/// One topic by ARN; `None` when it no longer exists.
pub async fn topic(at: &At, arn: &str) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let sns = &at.clients.sns;
    let attrs = match sns.get_topic_attributes().topic_arn(arn).send().await {
        Ok(a) => a,
        Err(e) if error_code(&e) == Some("NotFound") => return Ok(None),
        Err(e) => return Err(aws_error("sns:GetTopicAttributes", arn, &e)),
    };
    let tags: BTreeMap<String, String> =
        match sns.list_tags_for_resource().resource_arn(arn).send().await {
            Ok(t) => t
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(e) if matches!(error_code(&e), Some("NotFound" | "ResourceNotFound")) => {
                return Ok(None);
            }
            Err(e) => return Err(aws_error("sns:ListTagsForResource", arn, &e)),
        };
    let mut cfg = Map::new();
    for (k, v) in attrs.attributes().into_iter().flatten() {
        if TOPIC_ATTRIBUTES.contains(&k.as_str()) {
            cfg.insert(k.clone(), json!(v));
        }
    }
    cfg.insert("TopicArn".into(), json!(arn));
    let name = arn.rsplit(':').next().unwrap_or(arn).to_string();
    let policy = attrs.attributes().and_then(|a| a.get("Policy"));
    at.item(
        TOPIC,
        arn,
        Some(&name),
        Some(arn.to_string()),
        tags,
        Value::Object(cfg),
        policy_addition(policy.map(String::as_str)),
    )
    .map(Some)
}

/// The access policy as custos adds it: `Policy.policyText`, `null` when there is none
/// (SQS answers no attribute, or an empty one after a policy is removed).
fn policy_addition(text: Option<&str>) -> Map<String, Value> {
    let text = text.filter(|t| !t.trim().is_empty());
    let mut supp = Map::new();
    supp.insert("Policy".into(), json!({"policyText": text}));
    supp
}
