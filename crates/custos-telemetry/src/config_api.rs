//! AWS Config API source, for accounts with a configuration recorder:
//! ListDiscoveredResources per resource type, then BatchGetResourceConfig in batches of
//! 100. (LocalStack does not emulate these; the tests use aws-smithy-mocks.)

use crate::aws::error_message;
use crate::{Batch, Rejected, Source, TelemetryError};
use async_trait::async_trait;
use aws_sdk_config::types::{BaseConfigurationItem, ResourceKey, ResourceType};
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};

/// BatchGetResourceConfig takes at most 100 keys.
const BATCH: usize = 100;

#[derive(Debug, Clone)]
pub struct ConfigApiSource {
    client: aws_sdk_config::Client,
    resource_types: Vec<String>,
    label: String,
}

impl ConfigApiSource {
    pub fn new(
        client: aws_sdk_config::Client,
        resource_types: Vec<String>,
        label: impl Into<String>,
    ) -> Self {
        ConfigApiSource {
            client,
            resource_types,
            label: label.into(),
        }
    }

    async fn keys(&self, rt: &str) -> Result<Vec<ResourceKey>, TelemetryError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let resp = self
                .client
                .list_discovered_resources()
                .resource_type(ResourceType::from(rt))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| TelemetryError::Aws {
                    operation: "config:ListDiscoveredResources",
                    resource: rt.to_string(),
                    message: error_message(&e),
                })?;
            for r in resp.resource_identifiers() {
                if let (Some(t), Some(id)) = (r.resource_type(), r.resource_id())
                    && r.resource_deletion_time().is_none()
                    && let Ok(k) = ResourceKey::builder()
                        .resource_type(t.clone())
                        .resource_id(id)
                        .build()
                {
                    keys.push(k);
                }
            }
            token = resp.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(keys);
            }
        }
    }
}

/// A `BaseConfigurationItem` in the shape of a notification's configuration item. Tags
/// are not part of it: they come from `configuration.tags` (EC2) or the S3 tagging
/// supplementary configuration.
pub fn item_json(b: &BaseConfigurationItem) -> Value {
    let configuration: Value = b
        .configuration()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or(Value::Null);
    let mut supp = Map::new();
    for (k, v) in b.supplementary_configuration().into_iter().flatten() {
        supp.insert(
            k.clone(),
            serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone())),
        );
    }
    let mut tags = Map::new();
    if let Some(list) = configuration.get("tags").and_then(Value::as_array) {
        for t in list {
            if let (Some(k), Some(v)) = (
                t.get("key").and_then(Value::as_str),
                t.get("value").and_then(Value::as_str),
            ) {
                tags.insert(k.to_string(), json!(v));
            }
        }
    }
    if let Some(set) = supp
        .get("BucketTaggingConfiguration")
        .and_then(|c| c.pointer("/tagSets/0/tags"))
        .and_then(Value::as_object)
    {
        tags.extend(set.clone());
    }
    json!({
        "configurationItemVersion": b.version(),
        "configurationItemCaptureTime": b.configuration_item_capture_time().and_then(|t| t.fmt(aws_sdk_config::primitives::DateTimeFormat::DateTime).ok()),
        "configurationItemStatus": b.configuration_item_status().map(|s| s.as_str()),
        "awsAccountId": b.account_id(),
        "awsRegion": b.aws_region(),
        "resourceType": b.resource_type().map(|t| t.as_str()),
        "resourceId": b.resource_id(),
        "resourceName": b.resource_name(),
        "ARN": b.arn(),
        "tags": tags,
        "configuration": configuration,
        "supplementaryConfiguration": supp,
    })
}

#[async_trait]
impl Source for ConfigApiSource {
    fn name(&self) -> String {
        format!("config-api:{}", self.label)
    }

    async fn collect(&self) -> Result<Batch, TelemetryError> {
        let mut batch = Batch::default();
        for rt in &self.resource_types {
            let keys = self.keys(rt).await?;
            for chunk in keys.chunks(BATCH) {
                let resp = self
                    .client
                    .batch_get_resource_config()
                    .set_resource_keys(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| TelemetryError::Aws {
                        operation: "config:BatchGetResourceConfig",
                        resource: rt.clone(),
                        message: error_message(&e),
                    })?;
                for b in resp.base_configuration_items() {
                    let raw = item_json(b);
                    match ConfigurationItem::from_json(&raw) {
                        Ok(ci) => batch.items.push(ci),
                        Err(e) => batch.rejected.push(Rejected {
                            location: format!("{}:{}", self.name(), b.resource_id().unwrap_or("?")),
                            field: Some(e.field.clone()),
                            error: e.to_string(),
                            raw: raw.to_string(),
                        }),
                    }
                }
                // Keys AWS did not process this time (throttling) are reported, not lost:
                // the next collection asks again.
                for k in resp.unprocessed_resource_keys() {
                    batch.rejected.push(Rejected {
                        location: format!("{}:{}", self.name(), k.resource_id()),
                        field: None,
                        error: format!(
                            "unprocessed by BatchGetResourceConfig: {} {}",
                            k.resource_type().as_str(),
                            k.resource_id()
                        ),
                        raw: String::new(),
                    });
                }
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_config::Client;
    use aws_sdk_config::operation::batch_get_resource_config::BatchGetResourceConfigOutput;
    use aws_sdk_config::operation::list_discovered_resources::{
        ListDiscoveredResourcesError, ListDiscoveredResourcesOutput,
    };
    use aws_sdk_config::primitives::DateTime;
    use aws_sdk_config::types::ResourceIdentifier;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn ident(id: &str) -> ResourceIdentifier {
        ResourceIdentifier::builder()
            .resource_type(ResourceType::from("AWS::S3::Bucket"))
            .resource_id(id)
            .build()
    }

    fn item(id: &str) -> BaseConfigurationItem {
        BaseConfigurationItem::builder()
            .version("1.3")
            .account_id("111122223333")
            .aws_region("eu-west-1")
            .resource_type(ResourceType::from("AWS::S3::Bucket"))
            .resource_id(id)
            .configuration_item_capture_time(DateTime::from_secs(1_790_000_000))
            .configuration(r#"{"name":"x"}"#)
            .supplementary_configuration(
                "PublicAccessBlockConfiguration",
                r#"{"blockPublicAcls":true}"#,
            )
            .supplementary_configuration(
                "BucketTaggingConfiguration",
                r#"{"tagSets":[{"tags":{"env":"dev"}}]}"#,
            )
            .build()
    }

    #[tokio::test]
    async fn pages_and_batches_become_configuration_items() {
        let page1 = mock!(Client::list_discovered_resources)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| {
                ListDiscoveredResourcesOutput::builder()
                    .resource_identifiers(ident("a"))
                    .next_token("t2")
                    .build()
            });
        let page2 = mock!(Client::list_discovered_resources)
            .match_requests(|r| r.next_token() == Some("t2"))
            .then_output(|| {
                ListDiscoveredResourcesOutput::builder()
                    .resource_identifiers(ident("b"))
                    .build()
            });
        let get = mock!(Client::batch_get_resource_config)
            .match_requests(|r| r.resource_keys().len() == 2)
            .then_output(|| {
                BatchGetResourceConfigOutput::builder()
                    .base_configuration_items(item("a"))
                    .base_configuration_items(item("b"))
                    .unprocessed_resource_keys(
                        ResourceKey::builder()
                            .resource_type(ResourceType::from("AWS::S3::Bucket"))
                            .resource_id("c")
                            .build()
                            .unwrap(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_config, RuleMode::MatchAny, [&page1, &page2, &get]);
        let src = ConfigApiSource::new(
            client,
            vec!["AWS::S3::Bucket".into()],
            "111122223333/eu-west-1",
        );
        let batch = src.collect().await.unwrap();
        assert_eq!(batch.items.len(), 2);
        let a = &batch.items[0];
        assert_eq!(a.aws_region, "eu-west-1");
        assert_eq!(a.tags["env"], "dev");
        assert_eq!(
            a.supplementary_configuration["PublicAccessBlockConfiguration"]["blockPublicAcls"],
            json!(true)
        );
        assert_eq!(batch.rejected.len(), 1, "unprocessed keys are reported");
        assert!(batch.rejected[0].error.contains("unprocessed"));
        assert_eq!(page1.num_calls() + page2.num_calls(), 2);
    }

    #[tokio::test]
    async fn throttling_surfaces_as_an_error_after_retries() {
        let throttled = mock!(Client::list_discovered_resources).then_error(|| {
            ListDiscoveredResourcesError::generic(
                aws_sdk_config::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_config, [&throttled]);
        let src = ConfigApiSource::new(client, vec!["AWS::S3::Bucket".into()], "x");
        let err = src.collect().await.unwrap_err().to_string();
        assert!(err.contains("ThrottlingException"), "{err}");
    }
}
