//! Scanners for the services beyond S3 and EC2's first three types, one module per
//! service, each reading its resources into the configuration item AWS Config records
//! for them (field names from the published resource schemas,
//! `awslabs/aws-config-resource-schema`; where Config records less than a control
//! needs, the addition is under `supplementaryConfiguration` and named in the module).
//!
//! Every kind declares the IAM actions its reads need ([`Kind::reads`]); the contract
//! tests record every request and fail on one not declared.

pub mod account;
pub mod acm;
pub mod cloudtrail;
pub mod config_recorder;
pub mod ebs;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod logs;
pub mod messaging;
pub mod rds;
pub mod s3_account;
pub mod ssm;
pub mod vpc;

use crate::aws::{AwsPool, Clients};
use crate::{Batch, Rejected, ResourceReader, Source, TelemetryError};
use async_trait::async_trait;
use custos_core::{ConfigurationItem, ResourceRef};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One resource type a regional scanner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Trail,
    Recorder,
    Volume,
    Snapshot,
    Key,
    LogGroup,
    Queue,
    Topic,
    Vpc,
    Image,
    DbInstance,
    DbSnapshot,
    Certificate,
    Document,
    User,
    Policy,
    IamAccount,
    AccountBlock,
    Function,
}

impl Kind {
    pub const ALL: [Kind; 19] = [
        Kind::Trail,
        Kind::Recorder,
        Kind::Volume,
        Kind::Snapshot,
        Kind::Key,
        Kind::LogGroup,
        Kind::Queue,
        Kind::Topic,
        Kind::Vpc,
        Kind::Image,
        Kind::DbInstance,
        Kind::DbSnapshot,
        Kind::Certificate,
        Kind::Document,
        Kind::User,
        Kind::Policy,
        Kind::IamAccount,
        Kind::AccountBlock,
        Kind::Function,
    ];

    /// Read once per account, in region [`iam::GLOBAL`] (IAM, the account's S3 Block
    /// Public Access), not per region.
    pub fn global(self) -> bool {
        matches!(
            self,
            Kind::User | Kind::Policy | Kind::IamAccount | Kind::AccountBlock
        )
    }

    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::Trail => cloudtrail::TRAIL,
            Kind::Recorder => config_recorder::RECORDER,
            Kind::Volume => ebs::VOLUME,
            Kind::Snapshot => ebs::SNAPSHOT,
            Kind::Key => kms::KEY,
            Kind::LogGroup => logs::LOG_GROUP,
            Kind::Queue => messaging::QUEUE,
            Kind::Topic => messaging::TOPIC,
            Kind::Vpc => vpc::VPC,
            Kind::Image => ebs::IMAGE,
            Kind::DbInstance => rds::INSTANCE,
            Kind::DbSnapshot => rds::SNAPSHOT,
            Kind::Certificate => acm::CERTIFICATE,
            Kind::Document => ssm::DOCUMENT,
            Kind::User => iam::USER,
            Kind::Policy => iam::POLICY,
            Kind::IamAccount => iam::ACCOUNT,
            Kind::AccountBlock => s3_account::ACCOUNT_BLOCK,
            Kind::Function => lambda::FUNCTION,
        }
    }

    /// The IAM actions listing and reading this kind needs.
    pub fn reads(self) -> &'static [&'static str] {
        match self {
            Kind::Trail => cloudtrail::READS,
            Kind::Recorder => config_recorder::READS,
            Kind::Volume => ebs::VOLUME_READS,
            Kind::Snapshot => ebs::SNAPSHOT_READS,
            Kind::Key => kms::READS,
            Kind::LogGroup => logs::READS,
            Kind::Queue => messaging::QUEUE_READS,
            Kind::Topic => messaging::TOPIC_READS,
            Kind::Vpc => vpc::READS,
            Kind::Image => ebs::IMAGE_READS,
            Kind::DbInstance => rds::INSTANCE_READS,
            Kind::DbSnapshot => rds::SNAPSHOT_READS,
            Kind::Certificate => acm::READS,
            Kind::Document => ssm::READS,
            Kind::User => iam::USER_READS,
            Kind::Policy => iam::POLICY_READS,
            Kind::IamAccount => iam::ACCOUNT_READS,
            Kind::AccountBlock => s3_account::READS,
            Kind::Function => lambda::READS,
        }
    }

    pub fn of(resource_type: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.resource_type() == resource_type)
    }
}

/// Where one scanner reads: an account and a region, with their clients.
#[derive(Debug, Clone)]
pub struct At {
    pub account: String,
    pub region: String,
    pub clients: Clients,
}

impl At {
    /// An item in AWS Config's shape, checked as every item is.
    #[allow(clippy::too_many_arguments)]
    pub fn item(
        &self,
        resource_type: &str,
        id: &str,
        name: Option<&str>,
        arn: Option<String>,
        tags: BTreeMap<String, String>,
        configuration: Value,
        supplementary: Map<String, Value>,
    ) -> Result<ConfigurationItem, TelemetryError> {
        config_item(
            (&self.account, &self.region),
            (resource_type, id, name),
            arn,
            tags,
            configuration,
            supplementary,
        )
    }
}

/// A scanner's item in AWS Config's shape (`configurationItemVersion` 1.3, captured
/// now), checked as every item is: every scanner builds its items here.
pub(crate) fn config_item(
    (account, region): (&str, &str),
    (resource_type, id, name): (&str, &str, Option<&str>),
    arn: Option<String>,
    tags: BTreeMap<String, String>,
    configuration: Value,
    supplementary: Map<String, Value>,
) -> Result<ConfigurationItem, TelemetryError> {
    let raw = json!({
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "configurationItemStatus": "OK",
        "awsAccountId": account,
        "awsRegion": region,
        "resourceType": resource_type,
        "resourceId": id,
        "resourceName": name,
        "ARN": arn,
        "tags": tags,
        "configuration": configuration,
        "supplementaryConfiguration": supplementary,
    });
    ConfigurationItem::from_json(&raw).map_err(|e| TelemetryError::Aws {
        operation: "describe",
        resource: id.to_string(),
        message: format!("scanner built an invalid item: {e}"),
    })
}

/// An SDK error as a telemetry error naming the IAM action and the resource.
pub(crate) fn aws_error<E, R>(
    operation: &'static str,
    resource: &str,
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> TelemetryError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    TelemetryError::Aws {
        operation,
        resource: resource.to_string(),
        message: crate::aws::error_message(e),
    }
}

/// Optional values as JSON, leaving absent fields out (Config leaves them null).
pub(crate) fn put(m: &mut Map<String, Value>, k: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.into());
    }
}

/// Every kind in one account and region, as one source and one reader.
#[derive(Debug)]
pub struct Services {
    pool: Arc<AwsPool>,
    account: String,
    region: String,
}

impl Services {
    pub fn new(pool: Arc<AwsPool>, account: String, region: String) -> Self {
        Services {
            pool,
            account,
            region,
        }
    }

    async fn at(&self) -> At {
        At {
            account: self.account.clone(),
            region: self.region.clone(),
            clients: self.pool.read(&self.account, &self.region).await,
        }
    }

    async fn list(at: &At, kind: Kind) -> Result<Vec<ConfigurationItem>, TelemetryError> {
        match kind {
            Kind::Trail => cloudtrail::list(at).await,
            Kind::Recorder => config_recorder::list(at).await,
            Kind::Volume => ebs::volumes(at, None).await,
            Kind::Snapshot => ebs::snapshots(at, None).await,
            Kind::Key => kms::list(at).await,
            Kind::LogGroup => logs::list(at, None).await,
            Kind::Queue => messaging::queues(at).await,
            Kind::Topic => messaging::topics(at).await,
            Kind::Vpc => vpc::list(at, None).await,
            Kind::Image => ebs::images(at, None).await,
            Kind::DbInstance => rds::instances(at, None).await,
            Kind::DbSnapshot => rds::snapshots(at, None).await,
            Kind::Certificate => acm::list(at).await,
            Kind::Document => ssm::list(at).await,
            Kind::User => iam::users(at, None).await,
            Kind::Policy => iam::policies(at, None).await,
            Kind::IamAccount => iam::account(at).await,
            Kind::AccountBlock => s3_account::read(at).await,
            Kind::Function => lambda::list(at).await,
        }
    }

    async fn read_one(
        at: &At,
        kind: Kind,
        id: &str,
    ) -> Result<Option<ConfigurationItem>, TelemetryError> {
        let first = |v: Vec<ConfigurationItem>| v.into_iter().find(|ci| ci.resource_id == id);
        Ok(match kind {
            Kind::Trail => cloudtrail::read(at, id).await?,
            Kind::Recorder => first(config_recorder::list(at).await?),
            Kind::Volume => first(ebs::volumes(at, Some(id)).await?),
            Kind::Snapshot => first(ebs::snapshots(at, Some(id)).await?),
            Kind::Key => kms::read(at, id).await?,
            Kind::LogGroup => first(logs::list(at, Some(id)).await?),
            Kind::Queue => messaging::queue(at, id).await?,
            Kind::Topic => messaging::topic(at, id).await?,
            Kind::Vpc => first(vpc::list(at, Some(id)).await?),
            Kind::Image => first(ebs::images(at, Some(id)).await?),
            Kind::DbInstance => first(rds::instances(at, Some(id)).await?),
            Kind::DbSnapshot => first(rds::snapshots(at, Some(id)).await?),
            Kind::Certificate => acm::read(at, id).await?,
            Kind::Document => ssm::read(at, id).await?,
            Kind::User => first(iam::users(at, Some(id)).await?),
            Kind::Policy => first(iam::policies(at, Some(id)).await?),
            Kind::IamAccount => first(iam::account(at).await?),
            Kind::AccountBlock => first(s3_account::read(at).await?),
            Kind::Function => lambda::read(at, id).await?,
        })
    }
}

#[async_trait]
impl Source for Services {
    fn fresh(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        format!("services-scan:{}/{}", self.account, self.region)
    }

    async fn collect(&self) -> Result<Batch, TelemetryError> {
        self.collect_only(&crate::inventory::Types::All).await
    }
}

impl Services {
    /// A scan of the kinds `types` wants (a kind not wanted is never requested: its
    /// permissions need not be granted).
    pub async fn collect_only(
        &self,
        types: &crate::inventory::Types,
    ) -> Result<Batch, TelemetryError> {
        let at = &self.at().await;
        let mut batch = Batch::default();
        let lists = futures::future::join_all(
            Kind::ALL
                .into_iter()
                .filter(|k| k.global() == (self.region == iam::GLOBAL))
                .filter(|k| types.wants(k.resource_type()))
                .map(|k| async move { (k, Self::list(at, k).await) }),
        )
        .await;
        for (kind, listed) in lists {
            // One service unreachable (or not offered in the region) hides no other.
            match listed {
                Ok(items) => batch.items.extend(items),
                Err(e) => batch.rejected.push(Rejected {
                    location: format!("{}:{}", self.name(), kind.resource_type()),
                    field: None,
                    error: e.to_string(),
                    raw: String::new(),
                }),
            }
        }
        Ok(batch)
    }
}

#[async_trait]
impl ResourceReader for Services {
    async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        let kind = Kind::of(&r.resource_type)
            .ok_or_else(|| TelemetryError::Unsupported(r.resource_type.clone()))?;
        Self::read_one(&self.at().await, kind, &r.resource_id).await
    }
}
