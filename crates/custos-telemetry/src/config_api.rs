//! AWS Config API source, for accounts with a configuration recorder:
//! ListDiscoveredResources per resource type, then BatchGetResourceConfig in batches of
//! 100. [`ConfigInventory`] uses it for every configured account and region
//! (`--source config`). The moto server's Config emulation answers both calls for the
//! S3 buckets and SNS topics it holds (LocalStack 4.13.1's returns no S3 bucket: its S3
//! is not moto's); the faults no emulator produces use aws-smithy-mocks.

use crate::aws::{AwsPool, Target, error_message};
use crate::inventory::Types;
use crate::{Batch, Inventory, Rejected, Source, TelemetryError};
use async_trait::async_trait;
use aws_sdk_config::types::{BaseConfigurationItem, ResourceKey, ResourceType};
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::sync::Arc;

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
    // Services whose tags Config keeps beside the configuration (`Tags`: a list of
    // `{key, value}` or `{Key, Value}`).
    if let Some(list) = supp.get("Tags").and_then(Value::as_array) {
        for t in list {
            let field = |a: &str, b: &str| t.get(a).or_else(|| t.get(b)).and_then(Value::as_str);
            if let (Some(k), Some(v)) = (field("key", "Key"), field("value", "Value")) {
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
        "resourceCreationTime": b.resource_creation_time().and_then(|t| t.fmt(aws_sdk_config::primitives::DateTimeFormat::DateTime).ok()),
        "ARN": b.arn(),
        "tags": tags,
        "configuration": configuration,
        "supplementaryConfiguration": supp,
    })
}

/// Config's items as configuration items; one that does not validate is rejected with
/// the field at fault, never dropped.
fn take_items(batch: &mut Batch, location: &str, items: &[BaseConfigurationItem]) {
    for b in items {
        let raw = item_json(b);
        match ConfigurationItem::from_json(&raw) {
            Ok(ci) => batch.items.push(ci),
            Err(e) => batch.rejected.push(Rejected {
                location: format!("{location}:{}", b.resource_id().unwrap_or("?")),
                field: Some(e.field.clone()),
                error: e.to_string(),
                raw: raw.to_string(),
            }),
        }
    }
}

#[async_trait]
impl Source for ConfigApiSource {
    fn name(&self) -> String {
        format!("config-api:{}", self.label)
    }

    async fn collect(&self) -> Result<Batch, TelemetryError> {
        let mut batch = Batch::default();
        for rt in &self.resource_types {
            // One type Config cannot list (throttled, not offered in the region) hides no
            // other: it is reported, and the next collection asks again.
            let keys = match self.keys(rt).await {
                Ok(k) => k,
                Err(e) => {
                    batch.rejected.push(Rejected {
                        location: format!("{}:{rt}", self.name()),
                        field: None,
                        error: e.to_string(),
                        raw: String::new(),
                    });
                    continue;
                }
            };
            for chunk in keys.chunks(BATCH) {
                let resp = self
                    .client
                    .batch_get_resource_config()
                    .set_resource_keys(Some(chunk.to_vec()))
                    .send()
                    .await;
                let resp = match resp {
                    Ok(r) => r,
                    Err(e) => {
                        let e = TelemetryError::Aws {
                            operation: "config:BatchGetResourceConfig",
                            resource: rt.clone(),
                            message: error_message(&e),
                        };
                        batch.rejected.push(Rejected {
                            location: format!("{}:{rt}", self.name()),
                            field: None,
                            error: e.to_string(),
                            raw: String::new(),
                        });
                        continue;
                    }
                };
                take_items(&mut batch, &self.name(), resp.base_configuration_items());
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

/// The IAM actions reading AWS Config's inventory needs.
pub const READS: &[&str] = &[
    "config:DescribeConfigurationRecorders",
    "config:DescribeConfigurationRecorderStatus",
    "config:ListDiscoveredResources",
    "config:BatchGetResourceConfig",
];

/// Types read live even with `--source config`: custos's own types (the account item,
/// IAM's account settings, machine images) have no Config type; a trail's logging status
/// and event selectors, a VPC's flow logs, a snapshot's volume permissions, an SSM
/// document's sharing, a user's credentials and a queue's, topic's or function's access
/// policy are additions Config does not record (a control reading them would be blind, or
/// see every VPC without flow logs); IAM's policies are read with its users (one read per
/// account, not per region).
pub const LIVE: [&str; 13] = [
    crate::ec2::ACCOUNT,
    crate::services::messaging::QUEUE,
    crate::services::messaging::TOPIC,
    crate::services::cloudtrail::TRAIL,
    crate::services::vpc::VPC,
    crate::services::ebs::SNAPSHOT,
    crate::services::ebs::IMAGE,
    crate::services::ssm::DOCUMENT,
    crate::services::iam::USER,
    crate::services::iam::POLICY,
    crate::services::iam::ACCOUNT,
    crate::services::s3_account::ACCOUNT_BLOCK,
    crate::services::lambda::FUNCTION,
];

/// The IAM actions reading it through an aggregator needs (`[telemetry]
/// config_aggregator`).
pub const AGGREGATE_READS: &[&str] = &[
    "config:ListAggregateDiscoveredResources",
    "config:BatchGetAggregateResourceConfig",
];

/// AWS Config as the inventory (`--source config`): for every configured account and
/// region, what its recorder recorded, instead of describing every resource again.
/// custos's account item (`AWS::::Account`, which Config has no type for) is read live;
/// so is every resource the guard changes. A type the region's recorder does not record
/// is reported (never silently missing) and left out.
#[derive(Debug)]
pub struct ConfigInventory {
    pool: Arc<AwsPool>,
    regions: Vec<(String, String)>,
    types: Vec<String>,
    live: Inventory,
    /// Read every account and region through this aggregator instead.
    aggregator: Option<String>,
}

impl ConfigInventory {
    /// `types`: the resource types the policy bundle evaluates.
    pub fn new(
        pool: Arc<AwsPool>,
        targets: &[Target],
        types: &std::collections::BTreeSet<String>,
        concurrency: usize,
    ) -> Self {
        Self::with_live(pool, targets, types, concurrency, &LIVE)
    }

    /// As [`ConfigInventory::new`], with `live` the types read live instead of [`LIVE`]
    /// (a test reads through Config a type that is live in production: the moto server's
    /// Config records SNS topics, and its other records carry timestamps the SDK refuses).
    #[doc(hidden)]
    pub fn with_live(
        pool: Arc<AwsPool>,
        targets: &[Target],
        types: &std::collections::BTreeSet<String>,
        concurrency: usize,
        live: &[&str],
    ) -> Self {
        let live_types: std::collections::BTreeSet<String> = types
            .iter()
            .filter(|t| live.contains(&t.as_str()))
            .cloned()
            .collect();
        let recorded = types
            .iter()
            .filter(|t| !live.contains(&t.as_str()))
            .cloned()
            .collect();
        ConfigInventory {
            regions: crate::inventory::regions(&pool, targets),
            types: recorded,
            live: Inventory::new(pool.clone(), targets, concurrency).only(Types::Only(live_types)),
            pool,
            aggregator: None,
        }
    }

    /// Read through an AWS Config aggregator (an organization's): one call per type for
    /// every account and region, from the default account and region. Records of
    /// accounts or regions custos is not configured for are left out (counted in a
    /// warning); the recorders' coverage is not checked (the aggregator hides it).
    pub fn through_aggregator(mut self, name: Option<String>) -> Self {
        self.aggregator = name;
        self
    }

    async fn aggregated(&self, name: &str, out: &mut Batch) {
        let (account, region) = (self.pool.default_account(), self.pool.default_region());
        let client = self.pool.read(account, &region).await.config;
        let location = format!("config-aggregator:{name}");
        let reject = |error: String| Rejected {
            location: location.clone(),
            field: None,
            error,
            raw: String::new(),
        };
        let mut elsewhere = 0usize;
        for rt in &self.types {
            let mut ids = Vec::new();
            let mut token = None;
            loop {
                let page = client
                    .list_aggregate_discovered_resources()
                    .configuration_aggregator_name(name)
                    .resource_type(ResourceType::from(rt.as_str()))
                    .set_next_token(token)
                    .send()
                    .await;
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        out.rejected.push(reject(format!(
                            "config:ListAggregateDiscoveredResources failed for `{rt}`: {}",
                            error_message(&e)
                        )));
                        break;
                    }
                };
                for r in page.resource_identifiers() {
                    let at = (
                        r.source_account_id().to_string(),
                        r.source_region().to_string(),
                    );
                    if self.regions.contains(&at) {
                        ids.push(r.clone());
                    } else {
                        elsewhere += 1;
                    }
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            for chunk in ids.chunks(BATCH) {
                let resp = client
                    .batch_get_aggregate_resource_config()
                    .configuration_aggregator_name(name)
                    .set_resource_identifiers(Some(chunk.to_vec()))
                    .send()
                    .await;
                let resp = match resp {
                    Ok(r) => r,
                    Err(e) => {
                        out.rejected.push(reject(format!(
                            "config:BatchGetAggregateResourceConfig failed for `{rt}`: {}",
                            error_message(&e)
                        )));
                        continue;
                    }
                };
                take_items(out, &location, resp.base_configuration_items());
                for k in resp.unprocessed_resource_identifiers() {
                    out.rejected.push(reject(format!(
                        "unprocessed by BatchGetAggregateResourceConfig: {} {} in {}/{}",
                        k.resource_type().as_str(),
                        k.resource_id(),
                        k.source_account_id(),
                        k.source_region()
                    )));
                }
            }
        }
        if elsewhere > 0 {
            tracing::warn!(
                "aggregator `{name}`: {elsewhere} record(s) of accounts or regions custos is not configured for were left out"
            );
        }
    }

    /// The types the region's recorders record, of those wanted; the rest, with why.
    async fn recorded(
        &self,
        client: &aws_sdk_config::Client,
    ) -> Result<(Vec<String>, Vec<(String, &'static str)>), TelemetryError> {
        let resp = client
            .describe_configuration_recorders()
            .send()
            .await
            .map_err(|e| TelemetryError::Aws {
                operation: "config:DescribeConfigurationRecorders",
                resource: "recorders".into(),
                message: error_message(&e),
            })?;
        let mut all = false;
        let mut listed = std::collections::BTreeSet::new();
        let mut excluded = std::collections::BTreeSet::new();
        for r in resp.configuration_recorders() {
            let Some(g) = r.recording_group() else {
                // No recording group: AWS records every supported type.
                all = true;
                continue;
            };
            if g.all_supported() {
                all = true;
            }
            listed.extend(g.resource_types().iter().map(|t| t.as_str().to_string()));
            if let Some(x) = g.exclusion_by_resource_types() {
                excluded.extend(x.resource_types().iter().map(|t| t.as_str().to_string()));
            }
        }
        let stopped = client
            .describe_configuration_recorder_status()
            .send()
            .await
            .map(|s| {
                !s.configuration_recorders_status().is_empty()
                    && s.configuration_recorders_status()
                        .iter()
                        .all(|r| !r.recording())
            })
            .unwrap_or(false);
        if stopped {
            tracing::warn!(
                "the configuration recorder is stopped: AWS Config's records may be old (each change still reads the resource live)"
            );
        }
        if resp.configuration_recorders().is_empty() {
            let missing = self
                .types
                .iter()
                .map(|t| (t.clone(), "the region has no configuration recorder"))
                .collect();
            return Ok((Vec::new(), missing));
        }
        let mut yes = Vec::new();
        let mut no = Vec::new();
        for t in &self.types {
            if excluded.contains(t) {
                no.push((t.clone(), "the recorder excludes this type"));
            } else if all || listed.contains(t) {
                yes.push(t.clone());
            } else {
                no.push((t.clone(), "the recorder does not record this type"));
            }
        }
        Ok((yes, no))
    }
}

#[async_trait]
impl Source for ConfigInventory {
    fn name(&self) -> String {
        let at: Vec<String> = self
            .regions
            .iter()
            .map(|(a, r)| format!("{a}/{r}"))
            .collect();
        format!("config:{}", at.join(","))
    }

    async fn collect(&self) -> Result<Batch, TelemetryError> {
        let mut out = Batch::default();
        if let Some(name) = &self.aggregator {
            self.aggregated(name, &mut out).await;
            let live = self.live.collect().await?;
            out.items.extend(live.items);
            out.rejected.extend(live.rejected);
            return Ok(out);
        }
        for (account, region) in &self.regions {
            let client = self.pool.read(account, region).await.config;
            let label = format!("{account}/{region}");
            let reject = |error: String| Rejected {
                location: format!("config:{label}"),
                field: None,
                error,
                raw: String::new(),
            };
            match self.recorded(&client).await {
                Ok((types, missing)) => {
                    for (t, why) in missing {
                        out.rejected.push(reject(format!(
                            "AWS Config does not hold `{t}` in {label} ({why}): its controls were not evaluated there; record it, or scan with `--source describe`"
                        )));
                    }
                    if !types.is_empty() {
                        let b = ConfigApiSource::new(client, types, label.clone())
                            .collect()
                            .await?;
                        out.items.extend(b.items);
                        out.rejected.extend(b.rejected);
                    }
                }
                Err(e) => out.rejected.push(reject(e.to_string())),
            }
        }
        let live = self.live.collect().await?;
        out.items.extend(live.items);
        out.rejected.extend(live.rejected);
        Ok(out)
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
    async fn throttling_is_reported_per_type_after_retries() {
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
        let batch = src.collect().await.unwrap();
        assert!(batch.items.is_empty());
        assert_eq!(batch.rejected.len(), 1, "{:?}", batch.rejected);
        let err = &batch.rejected[0].error;
        assert!(err.contains("ThrottlingException"), "{err}");
        assert!(err.contains("config:ListDiscoveredResources"), "{err}");
    }
}
