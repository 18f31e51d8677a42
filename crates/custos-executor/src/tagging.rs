//! Required tags on every taggable resource type custos scans (`required-tags`): each
//! required key that is missing or blank gets the placeholder value the operator chose
//! (`[controls] required_tags`), through the service's own tagging request; existing
//! tags are never changed, and custos never guesses an owner. The rollback deletes the
//! keys it added. Identity resources are left out: the floor never lets custos change
//! them (`floor.identity`).

use crate::setting::{Setter, Setting, aws};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use custos_core::{ActionKind, ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::services::{
    acm, cloudtrail, ebs, kms, lambda, logs, messaging, rds, ssm, vpc,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![Setter::boxed(pool, RequiredTags)]
}

/// Every type the fix tags (the control's `resource_types`).
pub const TYPES: [&str; 17] = [
    custos_telemetry::s3::BUCKET,
    custos_telemetry::ec2::INSTANCE,
    custos_telemetry::ec2::SECURITY_GROUP,
    ebs::VOLUME,
    ebs::SNAPSHOT,
    ebs::IMAGE,
    vpc::VPC,
    messaging::QUEUE,
    messaging::TOPIC,
    kms::KEY,
    logs::LOG_GROUP,
    cloudtrail::TRAIL,
    rds::INSTANCE,
    rds::SNAPSHOT,
    acm::CERTIFICATE,
    ssm::DOCUMENT,
    lambda::FUNCTION,
];

/// The required keys and their placeholders (`defaults`).
fn defaults(params: &Value) -> Map<String, Value> {
    params
        .get("defaults")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A tag's value, `None` when missing or blank (the control counts both as missing).
fn value(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.trim().is_empty())
}

/// `(keys to add with their values, keys to remove)` moving the required tags from
/// `from` to `to`: a key `null` in one and set in the other.
fn changes(from: &Value, to: &Value) -> (BTreeMap<String, String>, Vec<String>) {
    let mut add = BTreeMap::new();
    let mut remove = Vec::new();
    for (k, v) in to["tags"].as_object().into_iter().flatten() {
        match (value(&from["tags"][k.as_str()]), value(v)) {
            (None, Some(value)) => {
                add.insert(k.clone(), value.to_string());
            }
            (Some(_), None) => remove.push(k.clone()),
            _ => {}
        }
    }
    (add, remove)
}

/// What `put` adds and removes moving from `from` to `to`. A rollback
/// (`from` unknown: null) deletes the keys the fix added, those missing or blank
/// before; tags that were there it never touched.
fn plan(from: &Value, to: &Value) -> (BTreeMap<String, String>, Vec<String>) {
    if from.is_null() {
        let added = to["tags"].as_object().into_iter().flatten();
        let keys = added
            .filter(|(_, v)| value(v).is_none())
            .map(|(k, _)| k.clone());
        (BTreeMap::new(), keys.collect())
    } else {
        changes(from, to)
    }
}

/// Tags as the list most tagging APIs take, with the API's member names for the key and
/// the value (`Key`/`Value`; KMS: `TagKey`/`TagValue`).
fn tag_list(add: &BTreeMap<String, String>, key_member: &str, value_member: &str) -> Value {
    add.iter()
        .map(|(k, v)| json!({ key_member: k, value_member: v }))
        .collect()
}

/// The keys to add with their values and the keys to remove (no value), for the
/// services whose add and remove requests both take whole tags (CloudTrail, ACM).
fn pairs<'a>(
    add: &'a BTreeMap<String, String>,
    remove: &'a [String],
) -> impl Iterator<Item = (String, Option<String>)> + 'a {
    add.iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .chain(remove.iter().map(|k| (k.clone(), None)))
}

/// Add the missing required tags with their placeholders; the rollback deletes them.
#[derive(Debug)]
pub struct RequiredTags;

impl RequiredTags {
    fn fail(r: &ResourceRef, message: String) -> ExecError {
        ExecError::Params {
            action: "tags:AddRequired".into(),
            message: format!("`{}`: {message}", r.resource_id),
        }
    }
}

#[async_trait]
impl Setting for RequiredTags {
    fn action(&self) -> &'static str {
        "tags:AddRequired"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &TYPES
    }
    fn properties(&self) -> ActionProperties {
        ActionProperties {
            reversible: true,
            risk: Risk::Low,
            kinds: vec![ActionKind::Configure],
            requires_approval: false,
        }
    }
    fn operations(&self) -> Operations {
        Operations {
            // S3 replaces a bucket's whole tag set: the current one is read first.
            read: &["s3:GetBucketTagging"],
            write: &[
                "s3:PutBucketTagging",
                "ec2:CreateTags",
                "sqs:TagQueue",
                "sns:TagResource",
                "kms:TagResource",
                "logs:TagResource",
                "cloudtrail:AddTags",
                "rds:AddTagsToResource",
                "acm:AddTagsToCertificate",
                "ssm:AddTagsToResource",
                "lambda:TagResource",
            ],
            rollback: &[
                "s3:PutBucketTagging",
                "ec2:DeleteTags",
                "sqs:UntagQueue",
                "sns:UntagResource",
                "kms:UntagResource",
                "logs:UntagResource",
                "cloudtrail:RemoveTags",
                "rds:RemoveTagsFromResource",
                "acm:RemoveTagsFromCertificate",
                "ssm:RemoveTagsFromResource",
                "lambda:UntagResource",
            ],
            needs: &[],
        }
    }
    fn parameters(&self) -> &'static [&'static str] {
        &["defaults"]
    }
    fn check(&self, params: &Value) -> Result<(), String> {
        match params.get("defaults") {
            None => Ok(()),
            Some(Value::Object(m))
                if m.iter().all(|(k, v)| {
                    !k.trim().is_empty() && v.as_str().is_some_and(|s| !s.trim().is_empty())
                }) =>
            {
                Ok(())
            }
            Some(_) => Err("`defaults` must map tag keys to non-empty placeholder values".into()),
        }
    }
    /// The required keys with their values (`null`: missing; a blank value as it is),
    /// and the ARN the services that tag by ARN are given.
    fn facet(&self, ci: &ConfigurationItem, params: &Value) -> Value {
        let tags: Map<String, Value> = defaults(params)
            .keys()
            .map(|k| (k.clone(), ci.tags.get(k).map_or(Value::Null, |v| json!(v))))
            .collect();
        json!({"tags": tags, "arn": ci.arn})
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        let mut out = facet.clone();
        for (k, v) in defaults(params) {
            if value(&out["tags"][k.as_str()]).is_none() {
                out["tags"][&k] = v;
            }
        }
        out
    }
    /// A blank value the fix overwrote comes back as no tag at all (the rollback deletes
    /// what the fix set): exact only when no required key was blank.
    fn exact(&self, before: &Value) -> bool {
        before["tags"]
            .as_object()
            .into_iter()
            .flatten()
            .all(|(_, v)| v.is_null() || value(v).is_some())
    }
    fn restored(&self, before: &Value) -> Value {
        let mut out = before.clone();
        if let Some(tags) = out["tags"].as_object_mut() {
            for v in tags.values_mut() {
                if value(v).is_none() {
                    *v = Value::Null;
                }
            }
        }
        out
    }
    /// The request `put` sends for the resource's type. None when `put` sends none
    /// that changes anything: both adding and removing (it refuses), nothing to add or
    /// remove, no ARN where one is needed, a type it does not tag.
    fn cli(
        &self,
        ci: &ConfigurationItem,
        from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let (add, remove) = plan(from, to);
        if add.is_empty() == remove.is_empty() {
            return vec![];
        }
        let adding = !add.is_empty();
        let id = r.resource_id.as_str();
        let arn = to["arn"].as_str();
        // CloudTrail and ACM: whole tags both ways, the value left out when removing.
        let pair_list = || -> Vec<Value> {
            pairs(&add, &remove)
                .map(|(k, v)| match v {
                    Some(v) => json!({"Key": k, "Value": v}),
                    None => json!({"Key": k}),
                })
                .collect()
        };
        let (service, operation, input) = match (r.resource_type.as_str(), arn) {
            // S3 replaces the whole set: `put` reads it and puts it back changed; the
            // guided fix does the same from the set as planned (the item's tags).
            (custos_telemetry::s3::BUCKET, _) => {
                let mut set = ci.tags.clone();
                set.extend(add.clone());
                set.retain(|k, _| !remove.contains(k));
                (
                    "s3api",
                    "put-bucket-tagging",
                    json!({"Bucket": id, "Tagging": {"TagSet": tag_list(&set, "Key", "Value")}}),
                )
            }
            (t, _) if t.starts_with("AWS::EC2::") => {
                if adding {
                    (
                        "ec2",
                        "create-tags",
                        json!({"Resources": [id], "Tags": tag_list(&add, "Key", "Value")}),
                    )
                } else {
                    let keys: Vec<Value> = remove.iter().map(|k| json!({"Key": k})).collect();
                    (
                        "ec2",
                        "delete-tags",
                        json!({"Resources": [id], "Tags": keys}),
                    )
                }
            }
            (messaging::QUEUE, _) => {
                if adding {
                    ("sqs", "tag-queue", json!({"QueueUrl": id, "Tags": add}))
                } else {
                    (
                        "sqs",
                        "untag-queue",
                        json!({"QueueUrl": id, "TagKeys": remove}),
                    )
                }
            }
            (messaging::TOPIC, _) => {
                if adding {
                    (
                        "sns",
                        "tag-resource",
                        json!({"ResourceArn": id, "Tags": tag_list(&add, "Key", "Value")}),
                    )
                } else {
                    (
                        "sns",
                        "untag-resource",
                        json!({"ResourceArn": id, "TagKeys": remove}),
                    )
                }
            }
            (kms::KEY, _) => {
                if adding {
                    (
                        "kms",
                        "tag-resource",
                        json!({"KeyId": id, "Tags": tag_list(&add, "TagKey", "TagValue")}),
                    )
                } else {
                    (
                        "kms",
                        "untag-resource",
                        json!({"KeyId": id, "TagKeys": remove}),
                    )
                }
            }
            (logs::LOG_GROUP, Some(arn)) => {
                if adding {
                    (
                        "logs",
                        "tag-resource",
                        json!({"resourceArn": arn, "tags": add}),
                    )
                } else {
                    (
                        "logs",
                        "untag-resource",
                        json!({"resourceArn": arn, "tagKeys": remove}),
                    )
                }
            }
            (cloudtrail::TRAIL, Some(arn)) => (
                "cloudtrail",
                if adding { "add-tags" } else { "remove-tags" },
                json!({"ResourceId": arn, "TagsList": pair_list()}),
            ),
            (rds::INSTANCE | rds::SNAPSHOT, Some(arn)) => {
                if adding {
                    (
                        "rds",
                        "add-tags-to-resource",
                        json!({"ResourceName": arn, "Tags": tag_list(&add, "Key", "Value")}),
                    )
                } else {
                    (
                        "rds",
                        "remove-tags-from-resource",
                        json!({"ResourceName": arn, "TagKeys": remove}),
                    )
                }
            }
            (acm::CERTIFICATE, _) => (
                "acm",
                if adding {
                    "add-tags-to-certificate"
                } else {
                    "remove-tags-from-certificate"
                },
                json!({"CertificateArn": id, "Tags": pair_list()}),
            ),
            (ssm::DOCUMENT, _) => {
                let doc = aws_sdk_ssm::types::ResourceTypeForTagging::Document;
                if adding {
                    (
                        "ssm",
                        "add-tags-to-resource",
                        json!({"ResourceType": doc.as_str(), "ResourceId": id, "Tags": tag_list(&add, "Key", "Value")}),
                    )
                } else {
                    (
                        "ssm",
                        "remove-tags-from-resource",
                        json!({"ResourceType": doc.as_str(), "ResourceId": id, "TagKeys": remove}),
                    )
                }
            }
            (lambda::FUNCTION, Some(arn)) => {
                if adding {
                    (
                        "lambda",
                        "tag-resource",
                        json!({"Resource": arn, "Tags": add}),
                    )
                } else {
                    (
                        "lambda",
                        "untag-resource",
                        json!({"Resource": arn, "TagKeys": remove}),
                    )
                }
            }
            // No ARN where the request needs one, or a type `put` refuses.
            _ => return vec![],
        };
        vec![CliRequest::new(service, operation, input)]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        let (add, remove) = plan(from, to);
        if !add.is_empty() && !remove.is_empty() {
            return Err(Self::fail(
                r,
                "adding and removing tags at once would be two requests".into(),
            ));
        }
        let arn = || {
            to["arn"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Self::fail(r, "the item names no ARN to tag".into()))
        };
        let id = r.resource_id.as_str();
        let adding = !add.is_empty();
        match r.resource_type.as_str() {
            custos_telemetry::s3::BUCKET => return put_bucket_tags(c, r, &add, &remove).await,
            t if t.starts_with("AWS::EC2::") => {
                if adding {
                    let tags = add
                        .iter()
                        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build());
                    c.ec2
                        .create_tags()
                        .resources(id)
                        .set_tags(Some(tags.collect()))
                        .send()
                        .await
                        .map_err(|e| aws("ec2:CreateTags", r, &e))?;
                } else {
                    let tags = remove
                        .iter()
                        .map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build());
                    c.ec2
                        .delete_tags()
                        .resources(id)
                        .set_tags(Some(tags.collect()))
                        .send()
                        .await
                        .map_err(|e| aws("ec2:DeleteTags", r, &e))?;
                }
            }
            messaging::QUEUE => {
                if adding {
                    c.sqs
                        .tag_queue()
                        .queue_url(id)
                        .set_tags(Some(add.into_iter().collect()))
                        .send()
                        .await
                        .map_err(|e| aws("sqs:TagQueue", r, &e))?;
                } else {
                    c.sqs
                        .untag_queue()
                        .queue_url(id)
                        .set_tag_keys(Some(remove))
                        .send()
                        .await
                        .map_err(|e| aws("sqs:UntagQueue", r, &e))?;
                }
            }
            messaging::TOPIC => {
                if adding {
                    let tags = add
                        .iter()
                        .map(|(k, v)| aws_sdk_sns::types::Tag::builder().key(k).value(v).build());
                    let tags = tags
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| Self::fail(r, e.to_string()))?;
                    c.sns
                        .tag_resource()
                        .resource_arn(id)
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .map_err(|e| aws("sns:TagResource", r, &e))?;
                } else {
                    c.sns
                        .untag_resource()
                        .resource_arn(id)
                        .set_tag_keys(Some(remove))
                        .send()
                        .await
                        .map_err(|e| aws("sns:UntagResource", r, &e))?;
                }
            }
            kms::KEY => {
                if adding {
                    let tags = add.iter().map(|(k, v)| {
                        aws_sdk_kms::types::Tag::builder()
                            .tag_key(k)
                            .tag_value(v)
                            .build()
                    });
                    let tags = tags
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| Self::fail(r, e.to_string()))?;
                    c.kms
                        .tag_resource()
                        .key_id(id)
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .map_err(|e| aws("kms:TagResource", r, &e))?;
                } else {
                    c.kms
                        .untag_resource()
                        .key_id(id)
                        .set_tag_keys(Some(remove))
                        .send()
                        .await
                        .map_err(|e| aws("kms:UntagResource", r, &e))?;
                }
            }
            logs::LOG_GROUP => {
                let arn = arn()?;
                if adding {
                    c.logs
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(add.into_iter().collect()))
                        .send()
                        .await
                        .map_err(|e| aws("logs:TagResource", r, &e))?;
                } else {
                    c.logs
                        .untag_resource()
                        .resource_arn(arn)
                        .set_tag_keys(Some(remove))
                        .send()
                        .await
                        .map_err(|e| aws("logs:UntagResource", r, &e))?;
                }
            }
            cloudtrail::TRAIL => {
                let arn = arn()?;
                let tags = pairs(&add, &remove)
                    .map(|(k, v)| {
                        aws_sdk_cloudtrail::types::Tag::builder()
                            .key(k)
                            .set_value(v)
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Self::fail(r, e.to_string()))?;
                if adding {
                    c.cloudtrail
                        .add_tags()
                        .resource_id(arn)
                        .set_tags_list(Some(tags))
                        .send()
                        .await
                        .map_err(|e| aws("cloudtrail:AddTags", r, &e))?;
                } else {
                    c.cloudtrail
                        .remove_tags()
                        .resource_id(arn)
                        .set_tags_list(Some(tags))
                        .send()
                        .await
                        .map_err(|e| aws("cloudtrail:RemoveTags", r, &e))?;
                }
            }
            rds::INSTANCE | rds::SNAPSHOT => {
                let arn = arn()?;
                if adding {
                    let tags = add
                        .iter()
                        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build());
                    c.rds
                        .add_tags_to_resource()
                        .resource_name(arn)
                        .set_tags(Some(tags.collect()))
                        .send()
                        .await
                        .map_err(|e| aws("rds:AddTagsToResource", r, &e))?;
                } else {
                    c.rds
                        .remove_tags_from_resource()
                        .resource_name(arn)
                        .set_tag_keys(Some(remove))
                        .send()
                        .await
                        .map_err(|e| aws("rds:RemoveTagsFromResource", r, &e))?;
                }
            }
            acm::CERTIFICATE => {
                let tags = pairs(&add, &remove)
                    .map(|(k, v)| {
                        aws_sdk_acm::types::Tag::builder()
                            .key(k)
                            .set_value(v)
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Self::fail(r, e.to_string()))?;
                if adding {
                    c.acm
                        .add_tags_to_certificate()
                        .certificate_arn(id)
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .map_err(|e| aws("acm:AddTagsToCertificate", r, &e))?;
                } else {
                    c.acm
                        .remove_tags_from_certificate()
                        .certificate_arn(id)
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .map_err(|e| aws("acm:RemoveTagsFromCertificate", r, &e))?;
                }
            }
            ssm::DOCUMENT => {
                let doc = aws_sdk_ssm::types::ResourceTypeForTagging::Document;
                if adding {
                    let tags = add
                        .iter()
                        .map(|(k, v)| aws_sdk_ssm::types::Tag::builder().key(k).value(v).build())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| Self::fail(r, e.to_string()))?;
                    c.ssm
                        .add_tags_to_resource()
                        .resource_type(doc)
                        .resource_id(id)
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .map_err(|e| aws("ssm:AddTagsToResource", r, &e))?;
                } else {
                    c.ssm
                        .remove_tags_from_resource()
                        .resource_type(doc)
                        .resource_id(id)
                        .set_tag_keys(Some(remove))
                        .send()
                        .await
                        .map_err(|e| aws("ssm:RemoveTagsFromResource", r, &e))?;
                }
            }
            lambda::FUNCTION => {
                if adding {
                    c.lambda
                        .tag_resource()
                        .resource(arn()?)
                        .set_tags(Some(add.into_iter().collect()))
                        .send()
                        .await
                        .map_err(|e| aws("lambda:TagResource", r, &e))?;
                } else {
                    c.lambda
                        .untag_resource()
                        .resource(arn()?)
                        .set_tag_keys(Some(remove))
                        .send()
                        .await
                        .map_err(|e| aws("lambda:UntagResource", r, &e))?;
                }
            }
            other => {
                return Err(Self::fail(
                    r,
                    format!("custos does not tag `{other}` resources"),
                ));
            }
        }
        Ok(())
    }
}

/// A bucket's tag set is replaced whole: read it, add or remove the keys, put it back
/// (or delete it when nothing is left).
async fn put_bucket_tags(
    c: &Clients,
    r: &ResourceRef,
    add: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<(), ExecError> {
    let bucket = r.resource_id.as_str();
    let mut tags: BTreeMap<String, String> =
        match c.s3.get_bucket_tagging().bucket(bucket).send().await {
            Ok(t) => t
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(e) if custos_telemetry::aws::error_code(&e) == Some("NoSuchTagSet") => {
                BTreeMap::new()
            }
            Err(e) => return Err(aws("s3:GetBucketTagging", r, &e)),
        };
    tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
    for k in remove {
        tags.remove(k);
    }
    if tags.is_empty() {
        // Only a key custos added was there: the request that removes it is the same
        // IAM action (`s3:PutBucketTagging` covers DeleteBucketTagging).
        return c
            .s3
            .delete_bucket_tagging()
            .bucket(bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("s3:PutBucketTagging", r, &e));
    }
    let set = tags
        .iter()
        .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RequiredTags::fail(r, e.to_string()))?;
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .set_tag_set(Some(set))
        .build()
        .map_err(|e| RequiredTags::fail(r, e.to_string()))?;
    c.s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(tagging)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws("s3:PutBucketTagging", r, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_or_blank_keys_get_placeholders_and_the_rollback_removes_them() {
        let params = json!({"defaults": {"owner": "unassigned", "cost-center": "unknown"}});
        let ci = ConfigurationItem::from_json(&json!({
            "configurationItemCaptureTime": "2026-12-04T00:00:00Z",
            "configurationItemStatus": "OK", "awsAccountId": "111122223333",
            "awsRegion": "us-east-1", "resourceType": "AWS::SQS::Queue",
            "resourceId": "q", "ARN": "arn:aws:sqs:us-east-1:111122223333:q",
            "tags": {"owner": "team-a", "cost-center": " ", "other": "x"},
            "configuration": {}
        }))
        .unwrap();
        let facet = RequiredTags.facet(&ci, &params);
        assert_eq!(
            facet,
            json!({"tags": {"owner": "team-a", "cost-center": " "}, "arn": "arn:aws:sqs:us-east-1:111122223333:q"})
        );
        // The blank value cannot come back: the rollback deletes the key.
        assert!(!RequiredTags.exact(&facet));
        assert_eq!(
            RequiredTags.restored(&facet)["tags"]["cost-center"],
            Value::Null
        );
        let want = RequiredTags.desired(&facet, &params);
        assert_eq!(
            want["tags"],
            json!({"owner": "team-a", "cost-center": "unknown"})
        );
        let (add, remove) = changes(&facet, &want);
        assert_eq!(
            add,
            BTreeMap::from([("cost-center".to_string(), "unknown".to_string())])
        );
        assert!(remove.is_empty());
        let (add, remove) = changes(&want, &facet);
        assert!(add.is_empty());
        assert_eq!(remove, vec!["cost-center".to_string()]);
        assert!(RequiredTags.exact(&RequiredTags.facet(&ci, &json!({"defaults": {"owner": "x"}}))));
        assert!(
            RequiredTags
                .check(&json!({"defaults": {"owner": " "}}))
                .is_err()
        );
        assert!(RequiredTags.check(&params).is_ok());
    }
}
