//! SQS queues and SNS topics: encryption at rest (FSBP SQS.1, SNS.1).

use crate::setting::{Setter, Setting, aws, configure, text};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::services::messaging::{QUEUE, TOPIC};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![
        Setter::boxed(pool.clone(), QueueEncryption),
        Setter::boxed(pool, TopicEncryption),
    ]
}

fn key_of(v: Option<&Value>) -> Value {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map_or(Value::Null, |s| json!(s))
}

/// SSE for a queue: SSE-SQS, or SSE-KMS with `kmsKeyId` when one is configured. A queue
/// encrypted either way already is left as it is.
#[derive(Debug)]
pub struct QueueEncryption;

#[async_trait]
impl Setting for QueueEncryption {
    fn action(&self) -> &'static str {
        "sqs:SetQueueAttributes"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[QUEUE]
    }
    fn properties(&self) -> ActionProperties {
        // Producers without kms:GenerateDataKey on a configured key start failing.
        configure(Risk::Low, false)
    }
    fn operations(&self) -> Operations {
        Operations::one(&["sqs:SetQueueAttributes"], &["sqs:SetQueueAttributes"])
    }
    fn parameters(&self) -> &'static [&'static str] {
        &["kmsKeyId"]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let c = &ci.configuration;
        let sse = match c.get("SqsManagedSseEnabled") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        json!({"SqsManagedSseEnabled": sse, "KmsMasterKeyId": key_of(c.get("KmsMasterKeyId"))})
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        if facet["SqsManagedSseEnabled"] == true || !facet["KmsMasterKeyId"].is_null() {
            return facet.clone();
        }
        match text(params, "kmsKeyId") {
            Some(k) => json!({"SqsManagedSseEnabled": false, "KmsMasterKeyId": k}),
            None => json!({"SqsManagedSseEnabled": true, "KmsMasterKeyId": null}),
        }
    }
    /// `SetQueueAttributes` on the queue (its resource id is the queue URL).
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let attributes = match to["KmsMasterKeyId"].as_str() {
            Some(k) => json!({"KmsMasterKeyId": k}),
            None if to["SqsManagedSseEnabled"] == true => json!({"SqsManagedSseEnabled": "true"}),
            None => json!({"SqsManagedSseEnabled": "false", "KmsMasterKeyId": ""}),
        };
        vec![CliRequest::new(
            "sqs",
            "set-queue-attributes",
            json!({"QueueUrl": r.resource_id, "Attributes": attributes}),
        )]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        let mut req = c.sqs.set_queue_attributes().queue_url(&r.resource_id);
        req = match to["KmsMasterKeyId"].as_str() {
            Some(k) => req.attributes(QueueAttributeName::KmsMasterKeyId, k),
            None if to["SqsManagedSseEnabled"] == true => {
                req.attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
            }
            // Back to no encryption: neither SSE-SQS nor a key.
            None => req
                .attributes(QueueAttributeName::SqsManagedSseEnabled, "false")
                .attributes(QueueAttributeName::KmsMasterKeyId, ""),
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| aws("sqs:SetQueueAttributes", r, &e))
    }
}

/// SSE for a topic: the configured `kmsKeyId`, or the AWS managed key `alias/aws/sns`.
#[derive(Debug)]
pub struct TopicEncryption;

#[async_trait]
impl Setting for TopicEncryption {
    fn action(&self) -> &'static str {
        "sns:SetTopicAttributes"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[TOPIC]
    }
    fn properties(&self) -> ActionProperties {
        // Publishers (and AWS services) need kms:GenerateDataKey on a customer key.
        configure(Risk::Medium, false)
    }
    fn operations(&self) -> Operations {
        Operations::one(&["sns:SetTopicAttributes"], &["sns:SetTopicAttributes"])
    }
    fn parameters(&self) -> &'static [&'static str] {
        &["kmsKeyId"]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        json!({"KmsMasterKeyId": key_of(ci.configuration.get("KmsMasterKeyId"))})
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        if !facet["KmsMasterKeyId"].is_null() {
            return facet.clone();
        }
        json!({"KmsMasterKeyId": text(params, "kmsKeyId").unwrap_or("alias/aws/sns")})
    }
    /// `SetTopicAttributes` of `KmsMasterKeyId` on the topic (its resource id is the ARN).
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        vec![CliRequest::new(
            "sns",
            "set-topic-attributes",
            json!({
                "TopicArn": r.resource_id,
                "AttributeName": "KmsMasterKeyId",
                "AttributeValue": to["KmsMasterKeyId"].as_str().unwrap_or(""),
            }),
        )]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        c.sns
            .set_topic_attributes()
            .topic_arn(&r.resource_id)
            .attribute_name("KmsMasterKeyId")
            .attribute_value(to["KmsMasterKeyId"].as_str().unwrap_or(""))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("sns:SetTopicAttributes", r, &e))
    }
}
