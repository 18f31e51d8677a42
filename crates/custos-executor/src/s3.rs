//! S3 bucket executors: public access block, default encryption, versioning.

use crate::{Action, ActionProperties, CliRequest, ExecError, Executor};
use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketVersioningStatus, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use custos_core::{ActionKind, ConfigurationItem, ResourceRef, Risk, RollbackStep};
use custos_telemetry::aws::{AwsPool, error_message};
use serde_json::{Value, json};
use std::sync::Arc;

pub const BUCKET: &str = "AWS::S3::Bucket";
const PAB_FLAGS: [&str; 4] = [
    "blockPublicAcls",
    "ignorePublicAcls",
    "blockPublicPolicy",
    "restrictPublicBuckets",
];
const ACCEPTED_SSE: [&str; 3] = ["AES256", "aws:kms", "aws:kms:dsse"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Action {
    PublicAccessBlock,
    DefaultEncryption,
    Versioning,
}

#[derive(Debug, Clone)]
pub struct S3Executor {
    pool: Arc<AwsPool>,
    kind: S3Action,
}

/// The S3 executors over `pool` (clients per account and region).
pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn crate::Executor>> {
    [
        S3Action::PublicAccessBlock,
        S3Action::DefaultEncryption,
        S3Action::Versioning,
    ]
    .into_iter()
    .map(|kind| {
        Arc::new(S3Executor {
            pool: pool.clone(),
            kind,
        }) as Arc<dyn crate::Executor>
    })
    .collect()
}

fn supp<'a>(ci: &'a ConfigurationItem, key: &str) -> Option<&'a Value> {
    ci.supplementary_configuration
        .get(key)
        .filter(|v| !v.is_null())
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn aws_err(operation: &'static str, resource: &ResourceRef, message: String) -> ExecError {
    ExecError::Aws {
        operation,
        resource: resource.resource_id.clone(),
        message,
    }
}

impl S3Executor {
    /// The client for this executor's calls, every one of which mutates: sent once,
    /// never retried (the read-back decides what a failed answer meant).
    async fn client(&self, r: &ResourceRef) -> aws_sdk_s3::Client {
        self.pool.s3_once(&r.account, &r.region).await
    }

    async fn put_pab(&self, r: &ResourceRef, flags: &Value) -> Result<(), ExecError> {
        let cfg = PublicAccessBlockConfiguration::builder()
            .block_public_acls(flag(flags, "blockPublicAcls"))
            .ignore_public_acls(flag(flags, "ignorePublicAcls"))
            .block_public_policy(flag(flags, "blockPublicPolicy"))
            .restrict_public_buckets(flag(flags, "restrictPublicBuckets"))
            .build();
        self.client(r)
            .await
            .put_public_access_block()
            .bucket(&r.resource_id)
            .public_access_block_configuration(cfg)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_err("s3:PutPublicAccessBlock", r, error_message(&e)))
    }

    async fn put_encryption(&self, r: &ResourceRef, rules: &[Value]) -> Result<(), ExecError> {
        let mut cfg = ServerSideEncryptionConfiguration::builder();
        for rule in rules {
            let alg = rule
                .get("sseAlgorithm")
                .and_then(Value::as_str)
                .unwrap_or("AES256");
            let default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(alg))
                .set_kms_master_key_id(
                    rule.get("kmsMasterKeyId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                )
                .build()
                .map_err(|e| ExecError::Params {
                    action: "s3:PutBucketEncryption".into(),
                    message: e.to_string(),
                })?;
            cfg = cfg.rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .bucket_key_enabled(
                        rule.get("bucketKeyEnabled")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    )
                    .build(),
            );
        }
        let cfg = cfg.build().map_err(|e| ExecError::Params {
            action: "s3:PutBucketEncryption".into(),
            message: e.to_string(),
        })?;
        self.client(r)
            .await
            .put_bucket_encryption()
            .bucket(&r.resource_id)
            .server_side_encryption_configuration(cfg)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_err("s3:PutBucketEncryption", r, error_message(&e)))
    }

    async fn put_versioning(
        &self,
        r: &ResourceRef,
        status: BucketVersioningStatus,
    ) -> Result<(), ExecError> {
        self.client(r)
            .await
            .put_bucket_versioning()
            .bucket(&r.resource_id)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_err("s3:PutBucketVersioning", r, error_message(&e)))
    }
}

/// Normalized encryption rules: `[{sseAlgorithm, kmsMasterKeyId, bucketKeyEnabled}]`.
fn encryption_rules(ci: &ConfigurationItem) -> Vec<Value> {
    supp(ci, "ServerSideEncryptionConfiguration")
        .and_then(|c| c.get("rules"))
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .filter_map(|rule| {
                    let d = rule.get("applyServerSideEncryptionByDefault")?;
                    Some(json!({
                        "sseAlgorithm": d.get("sseAlgorithm").and_then(Value::as_str)?,
                        "kmsMasterKeyId": d.get("kmsMasterKeyID").or_else(|| d.get("kmsMasterKeyId")).cloned().unwrap_or(Value::Null),
                        "bucketKeyEnabled": rule.get("bucketKeyEnabled").and_then(Value::as_bool).unwrap_or(false),
                    }))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A normalized rule (`{sseAlgorithm, kmsMasterKeyId, bucketKeyEnabled}`) as the
/// `ServerSideEncryptionRule` `S3Executor::put_encryption` builds from it, in the API's
/// member names.
pub(crate) fn cli_sse_rule(rule: &Value) -> Value {
    let mut default = json!({
        "SSEAlgorithm": rule.get("sseAlgorithm").and_then(Value::as_str).unwrap_or("AES256"),
    });
    if let Some(key) = rule.get("kmsMasterKeyId").and_then(Value::as_str) {
        default["KMSMasterKeyID"] = json!(key);
    }
    json!({
        "ApplyServerSideEncryptionByDefault": default,
        "BucketKeyEnabled": rule.get("bucketKeyEnabled").and_then(Value::as_bool).unwrap_or(false),
    })
}

impl Action for S3Executor {
    fn action(&self) -> &'static str {
        match self.kind {
            S3Action::PublicAccessBlock => "s3:PutPublicAccessBlock",
            S3Action::DefaultEncryption => "s3:PutBucketEncryption",
            S3Action::Versioning => "s3:PutBucketVersioning",
        }
    }

    fn resource_types(&self) -> &'static [&'static str] {
        &[BUCKET]
    }

    fn properties(&self) -> ActionProperties {
        match self.kind {
            S3Action::PublicAccessBlock | S3Action::DefaultEncryption => ActionProperties {
                reversible: true,
                risk: Risk::Low,
                kinds: vec![ActionKind::Configure],
                requires_approval: false,
            },
            // S3 cannot return a bucket to "never versioned": a human decides.
            S3Action::Versioning => ActionProperties {
                reversible: false,
                risk: Risk::Medium,
                kinds: vec![ActionKind::Configure],
                requires_approval: true,
            },
        }
    }

    fn operations(&self) -> crate::Operations {
        let (write, rollback): (&'static [&'static str], &'static [&'static str]) = match self.kind
        {
            // DeletePublicAccessBlock needs the same action as Put.
            S3Action::PublicAccessBlock => (
                &["s3:PutBucketPublicAccessBlock"],
                &["s3:PutBucketPublicAccessBlock"],
            ),
            S3Action::DefaultEncryption => (
                &["s3:PutEncryptionConfiguration"],
                &["s3:PutEncryptionConfiguration"],
            ),
            S3Action::Versioning => (&["s3:PutBucketVersioning"], &["s3:PutBucketVersioning"]),
        };
        crate::Operations {
            read: &[],
            write,
            rollback,
            needs: &[],
        }
    }

    fn restored(&self, before: &Value) -> Value {
        match self.kind {
            S3Action::Versioning if before["status"] == "Off" => {
                json!({"status": "Suspended", "mfaDelete": before["mfaDelete"]})
            }
            _ => before.clone(),
        }
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        let obj = params.as_object().ok_or("parameters must be a table")?;
        let allowed: &[&str] = match self.kind {
            S3Action::PublicAccessBlock => &PAB_FLAGS,
            S3Action::DefaultEncryption => &["sseAlgorithm", "kmsMasterKeyId", "bucketKeyEnabled"],
            S3Action::Versioning => &["status"],
        };
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "unknown parameter `{k}` (known: {})",
                allowed.join(", ")
            ));
        }
        match self.kind {
            S3Action::PublicAccessBlock => {
                for f in PAB_FLAGS {
                    if obj.get(f).is_some_and(|v| !v.is_boolean()) {
                        return Err(format!("`{f}` must be true or false"));
                    }
                }
            }
            S3Action::DefaultEncryption => {
                let alg = obj
                    .get("sseAlgorithm")
                    .and_then(Value::as_str)
                    .unwrap_or("AES256");
                if !ACCEPTED_SSE.contains(&alg) {
                    return Err(format!(
                        "`sseAlgorithm` must be one of {}, got `{alg}`",
                        ACCEPTED_SSE.join(", ")
                    ));
                }
                let key = obj
                    .get("kmsMasterKeyId")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if alg == "AES256" && !key.is_empty() {
                    return Err("`kmsMasterKeyId` needs `sseAlgorithm = \"aws:kms\"`".into());
                }
            }
            S3Action::Versioning => {
                if obj
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("Enabled")
                    != "Enabled"
                {
                    return Err("`status` can only be `Enabled`".into());
                }
            }
        }
        Ok(())
    }

    fn facet(&self, ci: &ConfigurationItem) -> Value {
        match self.kind {
            S3Action::PublicAccessBlock => match supp(ci, "PublicAccessBlockConfiguration") {
                Some(p) => {
                    let mut v = json!({"configured": true});
                    for f in PAB_FLAGS {
                        v[f] = json!(flag(p, f));
                    }
                    v
                }
                None => {
                    json!({"configured": false, "blockPublicAcls": false, "ignorePublicAcls": false, "blockPublicPolicy": false, "restrictPublicBuckets": false})
                }
            },
            S3Action::DefaultEncryption => json!({"rules": encryption_rules(ci)}),
            S3Action::Versioning => {
                let v = supp(ci, "BucketVersioningConfiguration");
                json!({
                    "status": v.and_then(|v| v.get("status")).and_then(Value::as_str).unwrap_or("Off"),
                    "mfaDelete": v.and_then(|v| v.get("isMfaDeleteEnabled")).cloned().unwrap_or(Value::Null),
                })
            }
        }
    }

    fn satisfied(&self, facet: &Value, params: &Value) -> bool {
        match self.kind {
            S3Action::PublicAccessBlock => {
                flag(facet, "configured")
                    && PAB_FLAGS.iter().all(|f| {
                        !params.get(*f).and_then(Value::as_bool).unwrap_or(true) || flag(facet, f)
                    })
            }
            S3Action::DefaultEncryption => facet["rules"].as_array().is_some_and(|rules| {
                rules.iter().any(|r| {
                    r["sseAlgorithm"]
                        .as_str()
                        .is_some_and(|a| ACCEPTED_SSE.contains(&a))
                })
            }),
            S3Action::Versioning => facet["status"] == "Enabled",
        }
    }

    fn desired(&self, facet: &Value, params: &Value) -> Value {
        match self.kind {
            S3Action::PublicAccessBlock => {
                let mut v = json!({"configured": true});
                for f in PAB_FLAGS {
                    v[f] = json!(
                        params.get(f).and_then(Value::as_bool).unwrap_or(true) || flag(facet, f)
                    );
                }
                v
            }
            S3Action::DefaultEncryption => json!({"rules": [{
                "sseAlgorithm": params.get("sseAlgorithm").and_then(Value::as_str).unwrap_or("AES256"),
                "kmsMasterKeyId": params.get("kmsMasterKeyId").cloned().filter(|k| k.as_str().is_some_and(|s| !s.is_empty())).unwrap_or(Value::Null),
                "bucketKeyEnabled": params.get("bucketKeyEnabled").and_then(Value::as_bool).unwrap_or(false),
            }]}),
            S3Action::Versioning => json!({"status": "Enabled", "mfaDelete": facet["mfaDelete"]}),
        }
    }

    fn rollback_steps(&self, before: &Value) -> Vec<RollbackStep> {
        match self.kind {
            S3Action::PublicAccessBlock if !flag(before, "configured") => vec![RollbackStep {
                action: "s3:DeletePublicAccessBlock".into(),
                description: "remove the bucket-level public access block (there was none before)"
                    .into(),
                parameters: json!({}),
                exact: true,
            }],
            S3Action::PublicAccessBlock => vec![RollbackStep {
                action: "s3:PutPublicAccessBlock".into(),
                description: "put back the previous public access block flags".into(),
                parameters: before.clone(),
                exact: true,
            }],
            S3Action::DefaultEncryption if before["rules"].as_array().is_none_or(Vec::is_empty) => {
                vec![RollbackStep {
                    action: "s3:DeleteBucketEncryption".into(),
                    description: "remove default encryption (there was none before)".into(),
                    parameters: json!({}),
                    exact: true,
                }]
            }
            S3Action::DefaultEncryption => vec![RollbackStep {
                action: "s3:PutBucketEncryption".into(),
                description: "put back the previous default encryption rules".into(),
                parameters: before.clone(),
                exact: true,
            }],
            S3Action::Versioning => {
                let status = before["status"].as_str().unwrap_or("Off");
                let exact = status != "Off";
                vec![RollbackStep {
                    action: "s3:PutBucketVersioning".into(),
                    description: if exact {
                        format!("set versioning back to `{status}`")
                    } else {
                        "suspend versioning: S3 cannot return a bucket to never-versioned, and versions already written stay".into()
                    },
                    parameters: json!({"status": if status == "Enabled" { "Enabled" } else { "Suspended" }}),
                    exact,
                }]
            }
        }
    }

    /// The request `apply` sends (it reads only `params`, not `before`).
    fn cli(&self, ci: &ConfigurationItem, params: &Value, _before: &Value) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let req = match self.kind {
            S3Action::PublicAccessBlock => {
                let on = |f: &str| params.get(f).and_then(Value::as_bool).unwrap_or(true);
                CliRequest::new(
                    "s3api",
                    "put-public-access-block",
                    json!({
                        "Bucket": r.resource_id,
                        "PublicAccessBlockConfiguration": {
                            "BlockPublicAcls": on("blockPublicAcls"),
                            "IgnorePublicAcls": on("ignorePublicAcls"),
                            "BlockPublicPolicy": on("blockPublicPolicy"),
                            "RestrictPublicBuckets": on("restrictPublicBuckets"),
                        },
                    }),
                )
            }
            S3Action::DefaultEncryption => {
                let desired = self.desired(&Value::Null, params);
                let rules: Vec<Value> = desired["rules"]
                    .as_array()
                    .map(|rules| rules.iter().map(cli_sse_rule).collect())
                    .unwrap_or_default();
                CliRequest::new(
                    "s3api",
                    "put-bucket-encryption",
                    json!({
                        "Bucket": r.resource_id,
                        "ServerSideEncryptionConfiguration": {"Rules": rules},
                    }),
                )
            }
            S3Action::Versioning => CliRequest::new(
                "s3api",
                "put-bucket-versioning",
                json!({
                    "Bucket": r.resource_id,
                    "VersioningConfiguration": {"Status": BucketVersioningStatus::Enabled.as_str()},
                }),
            ),
        };
        vec![req]
    }
}

#[async_trait]
impl Executor for S3Executor {
    async fn apply(
        &self,
        r: &ResourceRef,
        params: &Value,
        _before: &Value,
    ) -> Result<Vec<String>, ExecError> {
        match self.kind {
            S3Action::PublicAccessBlock => {
                let mut flags = json!({});
                for f in PAB_FLAGS {
                    flags[f] = json!(params.get(f).and_then(Value::as_bool).unwrap_or(true));
                }
                self.put_pab(r, &flags).await?;
            }
            S3Action::DefaultEncryption => {
                let desired = self.desired(&Value::Null, params);
                let rules = desired["rules"].as_array().cloned().unwrap_or_default();
                self.put_encryption(r, &rules).await?;
            }
            S3Action::Versioning => {
                self.put_versioning(r, BucketVersioningStatus::Enabled)
                    .await?
            }
        }
        Ok(vec![self.action().to_string()])
    }

    async fn restore(&self, r: &ResourceRef, before: &Value) -> Result<Vec<String>, ExecError> {
        let mut calls = Vec::new();
        for step in self.rollback_steps(before) {
            match step.action.as_str() {
                "s3:DeletePublicAccessBlock" => {
                    self.client(r)
                        .await
                        .delete_public_access_block()
                        .bucket(&r.resource_id)
                        .send()
                        .await
                        .map_err(|e| aws_err("s3:DeletePublicAccessBlock", r, error_message(&e)))?;
                }
                "s3:PutPublicAccessBlock" => self.put_pab(r, &step.parameters).await?,
                "s3:DeleteBucketEncryption" => {
                    self.client(r)
                        .await
                        .delete_bucket_encryption()
                        .bucket(&r.resource_id)
                        .send()
                        .await
                        .map_err(|e| aws_err("s3:DeleteBucketEncryption", r, error_message(&e)))?;
                }
                "s3:PutBucketEncryption" => {
                    let rules = step.parameters["rules"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    self.put_encryption(r, &rules).await?;
                }
                "s3:PutBucketVersioning" => {
                    let status = if step.parameters["status"] == "Enabled" {
                        BucketVersioningStatus::Enabled
                    } else {
                        BucketVersioningStatus::Suspended
                    };
                    self.put_versioning(r, status).await?;
                }
                other => {
                    return Err(ExecError::Params {
                        action: other.into(),
                        message: "unknown rollback step".into(),
                    });
                }
            }
            calls.push(step.action);
        }
        Ok(calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exec(kind: S3Action) -> S3Executor {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        S3Executor {
            pool: Arc::new(AwsPool::with_account(
                sdk,
                "000000000000".into(),
                Default::default(),
            )),
            kind,
        }
    }

    fn ci(supp: Value) -> ConfigurationItem {
        ConfigurationItem::from_json(&json!({
            "configurationItemCaptureTime": "2026-11-01T00:00:00Z", "awsAccountId": "000000000000",
            "awsRegion": "us-east-1", "resourceType": BUCKET, "resourceId": "b",
            "supplementaryConfiguration": supp,
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn pab_facet_satisfied_and_rollback() {
        let e = exec(S3Action::PublicAccessBlock).await;
        let none = e.facet(&ci(json!({})));
        assert!(!e.satisfied(&none, &json!({})));
        assert_eq!(
            e.rollback_steps(&none)[0].action,
            "s3:DeletePublicAccessBlock"
        );
        let all = e.desired(&none, &json!({}));
        assert!(e.satisfied(&all, &json!({})));
        let partial = e.facet(&ci(
            json!({"PublicAccessBlockConfiguration": {"blockPublicAcls": true}}),
        ));
        assert!(!e.satisfied(&partial, &json!({})));
        assert_eq!(
            e.rollback_steps(&partial)[0].parameters["blockPublicAcls"],
            json!(true)
        );
    }

    #[tokio::test]
    async fn encryption_keeps_existing_kms_as_satisfied() {
        let e = exec(S3Action::DefaultEncryption).await;
        let kms = e.facet(&ci(json!({"ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyID": "k"}}]}})));
        assert!(e.satisfied(&kms, &json!({"sseAlgorithm": "AES256"})));
        assert!(!e.satisfied(&e.facet(&ci(json!({}))), &json!({})));
        assert!(
            e.validate_params(&json!({"sseAlgorithm": "ROT13"}))
                .is_err()
        );
        assert!(
            e.validate_params(&json!({"sseAlgorithm": "AES256", "kmsMasterKeyId": "k"}))
                .is_err()
        );
        assert!(
            e.validate_params(&json!({"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "k"}))
                .is_ok()
        );
    }

    #[tokio::test]
    async fn versioning_rollback_from_never_enabled_is_not_exact() {
        let e = exec(S3Action::Versioning).await;
        let off = e.facet(&ci(json!({})));
        assert_eq!(off["status"], "Off");
        let step = &e.rollback_steps(&off)[0];
        assert!(!step.exact);
        assert_eq!(step.parameters["status"], "Suspended");
        assert!(e.validate_params(&json!({"colour": 1})).is_err());
    }
}
