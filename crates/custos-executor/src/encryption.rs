//! S3 buckets on SSE-KMS with the configured key and bucket keys on, where custos.toml
//! asks for it (`[controls] s3_sse_kms`). Human: readers and writers need the key.

use crate::setting::{Setter, Setting, aws, configure, text};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![Setter::boxed(pool, BucketKms)]
}

#[derive(Debug)]
pub struct BucketKms;

fn build_err(action: &str, e: impl std::fmt::Display) -> ExecError {
    ExecError::Params {
        action: action.into(),
        message: e.to_string(),
    }
}

#[async_trait]
impl Setting for BucketKms {
    fn action(&self) -> &'static str {
        "s3:PutBucketEncryption/kms"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &["AWS::S3::Bucket"]
    }
    fn properties(&self) -> ActionProperties {
        configure(Risk::Medium, true)
    }
    fn operations(&self) -> Operations {
        Operations::one(
            &["s3:PutEncryptionConfiguration"],
            &["s3:PutEncryptionConfiguration"],
        )
    }
    fn parameters(&self) -> &'static [&'static str] {
        &["kmsKeyId"]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let rule = ci
            .supplementary_configuration
            .get("ServerSideEncryptionConfiguration")
            .and_then(|c| c.get("rules"))
            .and_then(|r| r.get(0));
        let d = rule.and_then(|r| r.get("applyServerSideEncryptionByDefault"));
        json!({
            "sseAlgorithm": d.and_then(|d| d.get("sseAlgorithm")).and_then(Value::as_str),
            "kmsMasterKeyId": d.and_then(|d| d.get("kmsMasterKeyID")).and_then(Value::as_str).filter(|k| !k.is_empty()),
            "bucketKeyEnabled": rule.and_then(|r| r.get("bucketKeyEnabled")).and_then(Value::as_bool).unwrap_or(false),
        })
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        match text(params, "kmsKeyId") {
            Some(k) => {
                json!({"sseAlgorithm": "aws:kms", "kmsMasterKeyId": k, "bucketKeyEnabled": true})
            }
            None => facet.clone(),
        }
    }
    /// `PutBucketEncryption` with the one rule of `to`; no algorithm: `DeleteBucketEncryption`.
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        if to["sseAlgorithm"].as_str().is_none() {
            return vec![CliRequest::new(
                "s3api",
                "delete-bucket-encryption",
                json!({"Bucket": r.resource_id}),
            )];
        }
        vec![CliRequest::new(
            "s3api",
            "put-bucket-encryption",
            json!({
                "Bucket": r.resource_id,
                "ServerSideEncryptionConfiguration": {"Rules": [crate::s3::cli_sse_rule(to)]},
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
        let Some(algorithm) = to["sseAlgorithm"].as_str() else {
            return c
                .s3
                .delete_bucket_encryption()
                .bucket(&r.resource_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("s3:PutEncryptionConfiguration", r, &e));
        };
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(algorithm))
            .set_kms_master_key_id(to["kmsMasterKeyId"].as_str().map(str::to_string))
            .build()
            .map_err(|e| build_err(self.action(), e))?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(default)
            .bucket_key_enabled(to["bucketKeyEnabled"] == true)
            .build();
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(|e| build_err(self.action(), e))?;
        c.s3.put_bucket_encryption()
            .bucket(&r.resource_id)
            .server_side_encryption_configuration(config)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("s3:PutEncryptionConfiguration", r, &e))
    }
}
