//! The account's S3 Block Public Access (FSBP S3.1): all four flags on, through S3
//! Control's `PutPublicAccessBlock` (IAM action `s3:PutAccountPublicAccessBlock`). It binds
//! every bucket of the account, so its control is `human`. The rollback puts the before
//! flags back; an account with none configured reads as all four off, which is what the
//! rollback leaves.

use crate::setting::{Setter, Setting, aws, configure};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_s3control::types::PublicAccessBlockConfiguration;
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::services::s3_account::ACCOUNT_BLOCK;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![Setter::boxed(pool, AccountBlock)]
}

const FLAGS: [&str; 4] = [
    "blockPublicAcls",
    "ignorePublicAcls",
    "blockPublicPolicy",
    "restrictPublicBuckets",
];

/// All four account-level flags on.
#[derive(Debug)]
pub struct AccountBlock;

#[async_trait]
impl Setting for AccountBlock {
    fn action(&self) -> &'static str {
        "s3:PutAccountPublicAccessBlock"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[ACCOUNT_BLOCK]
    }
    fn properties(&self) -> ActionProperties {
        // Every public bucket of the account stops being public: a person approves it.
        configure(Risk::High, true)
    }
    fn operations(&self) -> Operations {
        Operations::one(
            &["s3:PutAccountPublicAccessBlock"],
            &["s3:PutAccountPublicAccessBlock"],
        )
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let mut f = serde_json::Map::new();
        for k in FLAGS {
            f.insert(
                k.into(),
                json!(ci.configuration.get(k) == Some(&json!(true))),
            );
        }
        Value::Object(f)
    }
    fn desired(&self, _facet: &Value, _params: &Value) -> Value {
        json!({"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true, "restrictPublicBuckets": true})
    }
    /// S3 Control's `PutPublicAccessBlock` for the account, with the flags of `to`.
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let on = |k: &str| to.get(k) == Some(&json!(true));
        vec![CliRequest::new(
            "s3control",
            "put-public-access-block",
            json!({
                "AccountId": r.account,
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": on("blockPublicAcls"),
                    "IgnorePublicAcls": on("ignorePublicAcls"),
                    "BlockPublicPolicy": on("blockPublicPolicy"),
                    "RestrictPublicBuckets": on("restrictPublicBuckets"),
                },
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
        let on = |k: &str| to.get(k) == Some(&json!(true));
        let cfg = PublicAccessBlockConfiguration::builder()
            .block_public_acls(on("blockPublicAcls"))
            .ignore_public_acls(on("ignorePublicAcls"))
            .block_public_policy(on("blockPublicPolicy"))
            .restrict_public_buckets(on("restrictPublicBuckets"))
            .build();
        c.s3control
            .put_public_access_block()
            .account_id(&r.account)
            .public_access_block_configuration(cfg)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("s3:PutAccountPublicAccessBlock", r, &e))
    }
}
