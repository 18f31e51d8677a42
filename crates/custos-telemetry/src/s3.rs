//! The S3 describe scanner: builds AWS Config `AWS::S3::Bucket` configuration items from
//! the S3 API, in the same shape AWS Config records them.

use crate::aws::{AwsPool, error_code, error_message};
use crate::{Batch, ResourceReader, Source, TelemetryError};
use async_trait::async_trait;
use custos_core::{ConfigurationItem, ResourceRef};
use futures::stream::{self, StreamExt};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const BUCKET: &str = "AWS::S3::Bucket";
const RESOURCE_TYPE: &str = BUCKET;

/// Scans every bucket one account can list.
#[derive(Debug)]
pub struct S3Scanner {
    pool: Arc<AwsPool>,
    account: String,
    concurrency: usize,
}

impl S3Scanner {
    /// Scan `account` with clients from `pool`.
    pub fn in_pool(pool: Arc<AwsPool>, account: String, concurrency: usize) -> Self {
        S3Scanner {
            pool,
            account,
            concurrency: concurrency.max(1),
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    async fn home(&self) -> aws_sdk_s3::Client {
        self.pool
            .s3(&self.account, &self.pool.default_region())
            .await
    }

    async fn client_for(&self, region: &str) -> aws_sdk_s3::Client {
        self.pool.s3(&self.account, region).await
    }

    /// Every bucket: name, creation date and, when ListBuckets says it (`BucketRegion`),
    /// its region.
    async fn list(&self) -> Result<Vec<Listed>, TelemetryError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let home = self.home().await;
        loop {
            let resp = home
                .list_buckets()
                .set_continuation_token(token.clone())
                .max_buckets(1000)
                .send()
                .await
                .map_err(|e| TelemetryError::Aws {
                    operation: "s3:ListBuckets",
                    resource: self.account.clone(),
                    message: error_message(&e),
                })?;
            for b in resp.buckets() {
                if let Some(name) = b.name() {
                    let created = b
                        .creation_date()
                        .and_then(|d| d.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok());
                    out.push(Listed {
                        name: name.to_string(),
                        created,
                        region: b.bucket_region().map(str::to_string),
                    });
                }
            }
            token = resp.continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// A bucket's region from GetBucketLocation; `None` when the bucket does not exist.
    async fn location(&self, bucket: &str) -> Result<Option<String>, TelemetryError> {
        match self
            .home()
            .await
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(r) => Ok(Some(match r.location_constraint().map(|c| c.as_str()) {
                None | Some("") => "us-east-1".to_string(),
                Some("EU") => "eu-west-1".to_string(),
                Some(other) => other.to_string(),
            })),
            Err(e) if error_code(&e) == Some("NoSuchBucket") => Ok(None),
            Err(e) => Err(TelemetryError::Aws {
                operation: "s3:GetBucketLocation",
                resource: bucket.to_string(),
                message: error_message(&e),
            }),
        }
    }

    /// Describe one bucket; `None` when it does not exist (any more). `region`, when known
    /// (from ListBuckets, or the resource being read), saves the GetBucketLocation round
    /// trip; a wrong one makes the regional reads fail (S3 answers a bucket of another
    /// region with a redirect the SDK does not follow), it never reads another bucket.
    pub async fn describe(
        &self,
        bucket: &str,
        created: Option<String>,
        region: Option<String>,
    ) -> Result<Option<ConfigurationItem>, TelemetryError> {
        let aws = |operation: &'static str, message: String| TelemetryError::Aws {
            operation,
            resource: bucket.to_string(),
            message,
        };
        let region = match region {
            Some(r) => r,
            None => match self.location(bucket).await? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        let client = self.client_for(&region).await;
        let mut supp = Map::new();
        // The reads go out together: a bucket costs one round trip after its location,
        // not six.
        let (access_block, encryption, versioning, tagging, logging, policy) = tokio::join!(
            client.get_public_access_block().bucket(bucket).send(),
            client.get_bucket_encryption().bucket(bucket).send(),
            client.get_bucket_versioning().bucket(bucket).send(),
            client.get_bucket_tagging().bucket(bucket).send(),
            client.get_bucket_logging().bucket(bucket).send(),
            client.get_bucket_policy().bucket(bucket).send(),
        );

        // Config's shape: `BucketPolicy.policyText`, `null` when the bucket has none.
        match policy {
            Ok(r) => {
                supp.insert(
                    "BucketPolicy".into(),
                    json!({"policyText": r.policy().filter(|p| !p.trim().is_empty())}),
                );
            }
            Err(e) if error_code(&e) == Some("NoSuchBucketPolicy") => {
                supp.insert("BucketPolicy".into(), json!({"policyText": null}));
            }
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(None),
            Err(e) => return Err(aws("s3:GetBucketPolicy", error_message(&e))),
        }

        match logging {
            Ok(r) => {
                if let Some(l) = r.logging_enabled() {
                    supp.insert(
                        "BucketLoggingConfiguration".into(),
                        json!({"destinationBucketName": l.target_bucket(), "logFilePrefix": l.target_prefix()}),
                    );
                }
            }
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(None),
            Err(e) => return Err(aws("s3:GetBucketLogging", error_message(&e))),
        }

        match access_block {
            Ok(r) => {
                if let Some(c) = r.public_access_block_configuration() {
                    supp.insert(
                        "PublicAccessBlockConfiguration".into(),
                        json!({
                            "blockPublicAcls": c.block_public_acls().unwrap_or(false),
                            "ignorePublicAcls": c.ignore_public_acls().unwrap_or(false),
                            "blockPublicPolicy": c.block_public_policy().unwrap_or(false),
                            "restrictPublicBuckets": c.restrict_public_buckets().unwrap_or(false),
                        }),
                    );
                }
            }
            Err(e) if error_code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => {}
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(None),
            Err(e) => return Err(aws("s3:GetPublicAccessBlock", error_message(&e))),
        }

        match encryption {
            Ok(r) => {
                let rules: Vec<Value> = r
                    .server_side_encryption_configuration()
                    .map(|c| c.rules())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|rule| {
                        let d = rule.apply_server_side_encryption_by_default()?;
                        Some(json!({
                            "applyServerSideEncryptionByDefault": {
                                "sseAlgorithm": d.sse_algorithm().as_str(),
                                "kmsMasterKeyID": d.kms_master_key_id(),
                            },
                            "bucketKeyEnabled": rule.bucket_key_enabled().unwrap_or(false),
                        }))
                    })
                    .collect();
                // An empty configuration (LocalStack after DeleteBucketEncryption) is the
                // same as none at all.
                if !rules.is_empty() {
                    supp.insert(
                        "ServerSideEncryptionConfiguration".into(),
                        json!({"rules": rules}),
                    );
                }
            }
            Err(e) if error_code(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => {}
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(None),
            Err(e) => return Err(aws("s3:GetBucketEncryption", error_message(&e))),
        }

        match versioning {
            Ok(r) => {
                let status = r
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "Off".into());
                let mfa = r.mfa_delete().map(|m| m.as_str() == "Enabled");
                supp.insert(
                    "BucketVersioningConfiguration".into(),
                    json!({"status": status, "isMfaDeleteEnabled": mfa}),
                );
            }
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(None),
            Err(e) => return Err(aws("s3:GetBucketVersioning", error_message(&e))),
        }

        let mut tags = BTreeMap::new();
        match tagging {
            Ok(r) => {
                for t in r.tag_set() {
                    tags.insert(t.key().to_string(), t.value().to_string());
                }
                supp.insert(
                    "BucketTaggingConfiguration".into(),
                    json!({"tagSets": [{"tags": tags}]}),
                );
            }
            Err(e) if error_code(&e) == Some("NoSuchTagSet") => {}
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(None),
            Err(e) => return Err(aws("s3:GetBucketTagging", error_message(&e))),
        }

        let raw = json!({
            "configurationItemVersion": "1.3",
            "configurationItemCaptureTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "configurationItemStatus": "OK",
            "awsAccountId": self.account,
            "awsRegion": region,
            "resourceType": RESOURCE_TYPE,
            "resourceId": bucket,
            "resourceName": bucket,
            "ARN": format!("arn:aws:s3:::{bucket}"),
            "tags": tags,
            // Not `resourceCreationTime`: S3 documents that ListBuckets' date can change
            // when the bucket changes (its policy edited), so it cannot start a grace
            // period (a policy re-put would restart it).
            "configuration": {"name": bucket, "creationDate": created},
            "supplementaryConfiguration": supp,
        });
        ConfigurationItem::from_json(&raw)
            .map(Some)
            .map_err(|e| aws("describe", format!("scanner built an invalid item: {e}")))
    }
}

/// The IAM actions the scanner's requests need.
pub const READS: &[&str] = &[
    "s3:ListAllMyBuckets",
    "s3:GetBucketLocation",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketVersioning",
    "s3:GetBucketTagging",
    "s3:GetBucketLogging",
    "s3:GetBucketPolicy",
];

/// A bucket as ListBuckets names it.
struct Listed {
    name: String,
    created: Option<String>,
    region: Option<String>,
}

#[async_trait]
impl Source for S3Scanner {
    fn fresh(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        format!("s3-scan:{}", self.account)
    }

    async fn collect(&self) -> Result<Batch, TelemetryError> {
        let buckets = self.list().await?;
        let results: Vec<_> = stream::iter(buckets)
            .map(|b| async move {
                let described = self.describe(&b.name, b.created, b.region).await;
                (b.name, described)
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut batch = Batch::default();
        for (name, r) in results {
            match r {
                Ok(Some(ci)) => batch.items.push(ci),
                Ok(None) => {} // deleted between list and describe
                Err(e) => batch.rejected.push(crate::Rejected {
                    location: format!("s3-scan:{name}"),
                    field: None,
                    error: e.to_string(),
                    raw: json!({"bucket": name}).to_string(),
                }),
            }
        }
        Ok(batch)
    }
}

#[async_trait]
impl ResourceReader for S3Scanner {
    async fn read(
        &self,
        resource: &ResourceRef,
    ) -> Result<Option<ConfigurationItem>, TelemetryError> {
        if resource.resource_type != RESOURCE_TYPE {
            return Err(TelemetryError::Unsupported(resource.resource_type.clone()));
        }
        self.describe(&resource.resource_id, None, Some(resource.region.clone()))
            .await
    }
}
