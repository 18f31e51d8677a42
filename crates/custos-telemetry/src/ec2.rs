//! The EC2 describe scanner for one account and region: security groups, instances, and
//! the account-level EBS encryption default (as `AWS::::Account`).

use crate::aws::{AwsPool, error_code, error_message};
use crate::{Batch, Rejected, ResourceReader, Source, TelemetryError};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Instance, IpPermission, SecurityGroup, Tag};
use custos_core::{ConfigurationItem, ResourceRef};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const SECURITY_GROUP: &str = "AWS::EC2::SecurityGroup";
pub const INSTANCE: &str = "AWS::EC2::Instance";
pub const ACCOUNT: &str = "AWS::::Account";
/// The IAM actions the scanner's requests need, per resource type.
pub const SECURITY_GROUP_READS: &[&str] = &["ec2:DescribeSecurityGroups"];
pub const INSTANCE_READS: &[&str] = &["ec2:DescribeInstances"];
pub const ACCOUNT_READS: &[&str] = &[
    "ec2:GetEbsEncryptionByDefault",
    "ec2:GetEbsDefaultKmsKeyId",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "config:DescribeConfigurationRecorders",
    "config:DescribeConfigurationRecorderStatus",
];

#[derive(Debug)]
pub struct Ec2Scanner {
    pool: Arc<AwsPool>,
    account: String,
    region: String,
}

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.into());
    }
}

/// A permission in AWS Config's shape.
pub fn permission_json(p: &IpPermission) -> Value {
    let mut m = Map::new();
    m.insert("ipProtocol".into(), json!(p.ip_protocol().unwrap_or("-1")));
    put(&mut m, "fromPort", p.from_port());
    put(&mut m, "toPort", p.to_port());
    m.insert(
        "ipv4Ranges".into(),
        p.ip_ranges()
            .iter()
            .map(|r| json!({"cidrIp": r.cidr_ip(), "description": r.description()}))
            .collect(),
    );
    m.insert(
        "ipv6Ranges".into(),
        p.ipv6_ranges()
            .iter()
            .map(|r| json!({"cidrIpv6": r.cidr_ipv6(), "description": r.description()}))
            .collect(),
    );
    m.insert(
        "userIdGroupPairs".into(),
        p.user_id_group_pairs()
            .iter()
            .map(|g| json!({"groupId": g.group_id(), "userId": g.user_id(), "description": g.description()}))
            .collect(),
    );
    m.insert(
        "prefixListIds".into(),
        p.prefix_list_ids()
            .iter()
            .map(|x| json!({"prefixListId": x.prefix_list_id(), "description": x.description()}))
            .collect(),
    );
    Value::Object(m)
}

impl Ec2Scanner {
    pub fn new(pool: Arc<AwsPool>, account: String, region: String) -> Self {
        Ec2Scanner {
            pool,
            account,
            region,
        }
    }

    fn item(
        &self,
        resource_type: &str,
        id: &str,
        name: Option<&str>,
        arn: String,
        tags: BTreeMap<String, String>,
        configuration: Value,
    ) -> Result<ConfigurationItem, TelemetryError> {
        crate::services::config_item(
            (&self.account, &self.region),
            (resource_type, id, name),
            Some(arn),
            tags,
            configuration,
            serde_json::Map::new(),
        )
    }

    fn sg_item(&self, sg: &SecurityGroup) -> Result<ConfigurationItem, TelemetryError> {
        let id = sg.group_id().unwrap_or_default();
        let configuration = json!({
            "groupId": id,
            "groupName": sg.group_name(),
            "description": sg.description(),
            "vpcId": sg.vpc_id(),
            "ownerId": sg.owner_id(),
            "ipPermissions": sg.ip_permissions().iter().map(permission_json).collect::<Vec<_>>(),
            "ipPermissionsEgress": sg.ip_permissions_egress().iter().map(permission_json).collect::<Vec<_>>(),
        });
        let arn = format!(
            "arn:aws:ec2:{}:{}:security-group/{id}",
            self.region, self.account
        );
        self.item(
            SECURITY_GROUP,
            id,
            sg.group_name(),
            arn,
            tags(sg.tags()),
            configuration,
        )
    }

    fn instance_item(&self, i: &Instance) -> Result<ConfigurationItem, TelemetryError> {
        let id = i.instance_id().unwrap_or_default();
        let m = i.metadata_options();
        let configuration = json!({
            "instanceId": id,
            "instanceType": i.instance_type().map(|t| t.as_str()),
            "imageId": i.image_id(),
            "state": {"name": i.state().and_then(|s| s.name()).map(|n| n.as_str())},
            "vpcId": i.vpc_id(),
            "subnetId": i.subnet_id(),
            "securityGroups": i.security_groups().iter().map(|g| json!({"groupId": g.group_id(), "groupName": g.group_name()})).collect::<Vec<_>>(),
            "metadataOptions": {
                "httpTokens": m.and_then(|m| m.http_tokens()).map(|t| t.as_str()),
                "httpEndpoint": m.and_then(|m| m.http_endpoint()).map(|t| t.as_str()),
                "httpPutResponseHopLimit": m.and_then(|m| m.http_put_response_hop_limit()),
            },
        });
        let arn = format!("arn:aws:ec2:{}:{}:instance/{id}", self.region, self.account);
        self.item(INSTANCE, id, None, arn, tags(i.tags()), configuration)
    }

    async fn account_item(&self) -> Result<ConfigurationItem, TelemetryError> {
        let ec2 = self.pool.ec2(&self.account, &self.region).await;
        let on = ec2
            .get_ebs_encryption_by_default()
            .send()
            .await
            .map_err(|e| self.aws("ec2:GetEbsEncryptionByDefault", e))?;
        // Informational only; some emulators do not implement it.
        let key = match ec2.get_ebs_default_kms_key_id().send().await {
            Ok(k) => k.kms_key_id().map(str::to_string),
            Err(e) => {
                tracing::debug!(
                    "ec2:GetEbsDefaultKmsKeyId failed for {}/{}: {}",
                    self.account,
                    self.region,
                    error_message(&e)
                );
                None
            }
        };
        let configuration = json!({
            "ebsEncryptionByDefault": on.ebs_encryption_by_default().unwrap_or(false),
            "ebsDefaultKmsKeyId": key,
        });
        let arn = format!("arn:aws:::{}", self.account);
        // Trails and recorders: what the account-level CloudTrail.1 and Config.1 read.
        let clients = self.pool.read(&self.account, &self.region).await;
        let posture =
            crate::services::account::posture(&clients, &self.account, &self.region).await;
        crate::services::config_item(
            (&self.account, &self.region),
            (ACCOUNT, &self.account, None),
            Some(arn),
            BTreeMap::new(),
            configuration,
            posture,
        )
    }

    fn aws<E, R>(
        &self,
        operation: &'static str,
        e: aws_sdk_ec2::error::SdkError<E, R>,
    ) -> TelemetryError
    where
        E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        TelemetryError::Aws {
            operation,
            resource: format!("{}/{}", self.account, self.region),
            message: error_message(&e),
        }
    }

    async fn security_groups(
        &self,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<SecurityGroup>, TelemetryError> {
        let ec2 = self.pool.ec2(&self.account, &self.region).await;
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let resp = ec2
                .describe_security_groups()
                .set_group_ids(ids.clone())
                .set_next_token(token)
                .send()
                .await;
            let resp = match resp {
                Err(e) if error_code(&e) == Some("InvalidGroup.NotFound") => return Ok(vec![]),
                other => other.map_err(|e| self.aws("ec2:DescribeSecurityGroups", e))?,
            };
            out.extend(resp.security_groups().iter().cloned());
            token = resp.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn instances(&self, ids: Option<Vec<String>>) -> Result<Vec<Instance>, TelemetryError> {
        let ec2 = self.pool.ec2(&self.account, &self.region).await;
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let resp = ec2
                .describe_instances()
                .set_instance_ids(ids.clone())
                .set_next_token(token)
                .send()
                .await;
            let resp = match resp {
                Err(e) if error_code(&e) == Some("InvalidInstanceID.NotFound") => {
                    return Ok(vec![]);
                }
                other => other.map_err(|e| self.aws("ec2:DescribeInstances", e))?,
            };
            for r in resp.reservations() {
                for i in r.instances() {
                    let gone = i
                        .state()
                        .and_then(|s| s.name())
                        .is_some_and(|n| matches!(n.as_str(), "terminated" | "shutting-down"));
                    if !gone {
                        out.push(i.clone());
                    }
                }
            }
            token = resp.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

#[async_trait]
impl Source for Ec2Scanner {
    fn fresh(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        format!("ec2-scan:{}/{}", self.account, self.region)
    }

    async fn collect(&self) -> Result<Batch, TelemetryError> {
        self.collect_only(&crate::inventory::Types::All).await
    }
}

impl Ec2Scanner {
    /// A scan of the types `types` wants (one not wanted is never requested).
    pub async fn collect_only(
        &self,
        types: &crate::inventory::Types,
    ) -> Result<Batch, TelemetryError> {
        let mut batch = Batch::default();
        let mut push = |r: Result<ConfigurationItem, TelemetryError>, what: &str| match r {
            Ok(ci) => batch.items.push(ci),
            Err(e) => batch.rejected.push(Rejected {
                location: format!("{}:{what}", self.name()),
                field: None,
                error: e.to_string(),
                raw: String::new(),
            }),
        };
        if types.wants(SECURITY_GROUP) {
            for sg in self.security_groups(None).await? {
                push(self.sg_item(&sg), sg.group_id().unwrap_or("?"));
            }
        }
        if types.wants(INSTANCE) {
            for i in self.instances(None).await? {
                push(self.instance_item(&i), i.instance_id().unwrap_or("?"));
            }
        }
        if types.wants(ACCOUNT) {
            push(self.account_item().await, "account");
        }
        Ok(batch)
    }
}

#[async_trait]
impl ResourceReader for Ec2Scanner {
    async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        match r.resource_type.as_str() {
            SECURITY_GROUP => match self
                .security_groups(Some(vec![r.resource_id.clone()]))
                .await?
                .first()
            {
                Some(sg) => self.sg_item(sg).map(Some),
                None => Ok(None),
            },
            INSTANCE => match self
                .instances(Some(vec![r.resource_id.clone()]))
                .await?
                .first()
            {
                Some(i) => self.instance_item(i).map(Some),
                None => Ok(None),
            },
            ACCOUNT => self.account_item().await.map(Some),
            other => Err(TelemetryError::Unsupported(other.to_string())),
        }
    }
}
