//! AWS Config change notifications from an SQS queue (EventBridge rule target, or SNS
//! subscription). Messages are deleted only by the caller, after the outcome is durable.

use crate::aws::error_message;
use crate::replay::{Envelope, unwrap_event};
use crate::{Rejected, TelemetryError};
use aws_config::SdkConfig;
use custos_core::ci::truncate;
use serde_json::Value;

/// One received message.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    pub id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
    /// When the queue accepted the message (`SentTimestamp`), if it said.
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a message turned out to be.
#[derive(Debug)]
pub enum Decoded {
    Item(Box<custos_core::ConfigurationItem>),
    Oversized(Box<custos_core::ConfigurationItem>),
    Rejected(Rejected),
}

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    /// Long-poll wait (0-20 s).
    pub wait_seconds: i32,
    /// Messages per receive (1-10).
    pub max_messages: i32,
}

impl SqsQueue {
    /// A queue long-polling `wait_seconds` (0-20). The client's per-attempt timeout is
    /// set above the long-poll wait, or every empty poll would end as a timeout error.
    pub fn with_wait(sdk: &SdkConfig, url: impl Into<String>, wait_seconds: i32) -> Self {
        let wait_seconds = wait_seconds.clamp(0, 20);
        let wait = std::time::Duration::from_secs(u64::try_from(wait_seconds).unwrap_or(20));
        let conf = aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .operation_attempt_timeout(wait + std::time::Duration::from_secs(10))
                    .operation_timeout(wait + std::time::Duration::from_secs(40))
                    .build(),
            )
            .build();
        SqsQueue {
            client: aws_sdk_sqs::Client::from_conf(conf),
            url: url.into(),
            wait_seconds,
            max_messages: 10,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Long-poll for up to `max_messages`.
    pub async fn receive(&self) -> Result<Vec<QueueMessage>, TelemetryError> {
        let resp = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(self.max_messages)
            .wait_time_seconds(self.wait_seconds)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            .send()
            .await
            .map_err(|e| TelemetryError::Aws {
                operation: "sqs:ReceiveMessage",
                resource: self.url.clone(),
                message: error_message(&e),
            })?;
        Ok(resp
            .messages()
            .iter()
            .filter_map(|m| {
                Some(QueueMessage {
                    id: m.message_id()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receive_count: m
                        .attributes()
                        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                    sent_at: m
                        .attributes()
                        .and_then(|a| {
                            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp)
                        })
                        .and_then(|ms| ms.parse::<i64>().ok())
                        .and_then(chrono::DateTime::from_timestamp_millis),
                })
            })
            .collect())
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), TelemetryError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| TelemetryError::Aws {
                operation: "sqs:DeleteMessage",
                resource: self.url.clone(),
                message: error_message(&e),
            })
    }
}

/// Decode one message body; anything unusable becomes a rejection naming the message.
pub fn decode(queue: &str, m: &QueueMessage) -> Decoded {
    let location = format!("sqs:{queue}#{}", m.id);
    let reject = |field: Option<String>, error: String| {
        Decoded::Rejected(Rejected {
            location: location.clone(),
            field,
            error,
            raw: truncate(&m.body, 64 * 1024),
        })
    };
    let value: Value = match serde_json::from_str(&m.body) {
        Ok(v) => v,
        Err(e) => return reject(None, format!("invalid JSON: {e}")),
    };
    match unwrap_event(&value) {
        Ok(Envelope::Item(ci)) => Decoded::Item(ci),
        Ok(Envelope::Oversized(summary)) => Decoded::Oversized(summary),
        Err(e) => reject(Some(e.field.clone()), e.to_string()),
    }
}
