//! Resource policies that let anyone in: a bucket's (FSBP S3.2, S3.3), a queue's (SQS.3)
//! or a topic's (SNS.4). The fix removes each statement that allows a public principal
//! without a condition restricting the caller, and nothing else; a person approves each
//! run (the document is someone's work, and whoever used the public access loses it), and
//! the rollback puts the document back as it was. Which statements are public is decided
//! as `s3_bucket_policy_public.rego` decides it (`public_statements`); the controls verify
//! the fix, so a disagreement shows as a failed verification, never as a silent pass.

use crate::setting::{Setter, Setting, aws, configure};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::s3::BUCKET;
use custos_telemetry::services::messaging::{QUEUE, TOPIC};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![
        Setter::boxed(pool.clone(), BucketPolicy),
        Setter::boxed(pool.clone(), QueuePolicy),
        Setter::boxed(pool, TopicPolicy),
    ]
}

/// Condition keys that name who may call (lower case: condition keys are
/// case-insensitive).
const RESTRICTING_KEYS: [&str; 13] = [
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceip",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:userid",
];

/// Keys whose values are ARNs: a pattern pins the caller only through its account field.
const ARN_KEYS: [&str; 2] = ["aws:sourcearn", "aws:principalarn"];

/// Operators that hold only when the key is present and matches (negated, `...IfExists`
/// and `ForAllValues:` operators hold when it is absent too, so they restrict no one).
const RESTRICTING_OPERATORS: [&str; 6] = [
    "stringequals",
    "stringequalsignorecase",
    "stringlike",
    "arnequals",
    "arnlike",
    "ipaddress",
];

pub(crate) fn values(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// A condition value as text: IAM accepts numbers (an account id) and booleans unquoted.
fn text(x: &Value) -> Option<String> {
    match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.as_i64().map_or_else(|| n.to_string(), |i| i.to_string())),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An account id or an organisation id in a pattern pins it down (`o-*` or `arn:*` do
/// not).
fn pinned(x: &str) -> bool {
    let account = x
        .as_bytes()
        .windows(12)
        .any(|w| w.iter().all(u8::is_ascii_digit));
    let org = x.match_indices("o-").any(|(i, _)| {
        let id = x[i + 2..]
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            .count();
        id >= 10
    });
    account || org
}

/// Whether a value narrows who can call: an exact value, a pattern with an account or
/// organisation id in it, or an address range no wider than /8 (IPv4) or /16 (IPv6).
fn narrows(key: &str, x: &str) -> bool {
    let wildcard = x.contains('*') || x.contains('?');
    if key.to_lowercase() == "aws:sourceip" {
        return match x.split_once('/') {
            None => !wildcard && !x.is_empty(),
            Some((address, bits)) => {
                let min = if address.contains(':') { 16 } else { 8 };
                !bits.contains('/')
                    && (1..=3).contains(&bits.len())
                    && bits.bytes().all(|b| b.is_ascii_digit())
                    && bits.parse::<u32>().is_ok_and(|n| n >= min)
            }
        };
    }
    if !wildcard {
        return !x.is_empty();
    }
    if ARN_KEYS.contains(&key.to_lowercase().as_str()) {
        // `arn:partition:service:region:account:...`, twelve digits as the account.
        let parts: Vec<&str> = x.split(':').collect();
        return parts.len() > 5
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit());
    }
    pinned(x)
}

pub(crate) fn restricts(op: &str, key: &str, v: &Value) -> bool {
    // Rego's `lower` folds Unicode: so does this, so both read a key alike.
    let op = op.to_lowercase();
    let base = op.strip_prefix("foranyvalue:").unwrap_or(&op);
    let vs = values(v);
    RESTRICTING_OPERATORS.contains(&base)
        && RESTRICTING_KEYS.contains(&key.to_lowercase().as_str())
        && !vs.is_empty()
        && vs.iter().all(|x| text(x).is_some_and(|t| narrows(key, &t)))
}

fn restricted(s: &Value) -> bool {
    s.get("Condition")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .any(|(op, keys)| {
            keys.as_object()
                .into_iter()
                .flatten()
                .any(|(key, v)| restricts(op, key, v))
        })
}

fn public_principal(p: Option<&Value>) -> bool {
    match p {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(m)) => m.values().any(|v| values(v).contains(&&json!("*"))),
        _ => false,
    }
}

/// Does statement `s` allow anyone?
pub fn public(s: &Value) -> bool {
    s.get("Effect").and_then(Value::as_str) == Some("Allow")
        && (public_principal(s.get("Principal")) || s.get("NotPrincipal").is_some())
        && !restricted(s)
}

/// The policy document `doc` without its public statements: `None` when nothing changes,
/// `Some(None)` when no statement is left.
fn without_public(doc: &Value) -> Option<Option<Value>> {
    let statements = match doc.get("Statement")? {
        Value::Array(a) => a.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => return None,
    };
    let kept: Vec<Value> = statements.iter().filter(|s| !public(s)).cloned().collect();
    if kept.len() == statements.len() {
        return None;
    }
    if kept.is_empty() {
        return Some(None);
    }
    let mut out = doc.clone();
    out["Statement"] = Value::Array(kept);
    Some(Some(out))
}

/// The policy text an item holds under `supplementaryConfiguration.<key>.policyText`.
fn policy_text<'a>(ci: &'a ConfigurationItem, key: &str) -> Option<&'a Value> {
    ci.supplementary_configuration
        .get(key)
        .and_then(|p| p.get("policyText"))
}

/// The facet: the policy as a JSON document (`null`: none), or, when its text is no JSON
/// object, the text itself, which the fix leaves alone (the control reports it unknown).
fn facet_of(text: Option<&Value>) -> Value {
    match text
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
    {
        None => json!({"Policy": null}),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(doc @ Value::Object(_)) => json!({"Policy": doc}),
            _ => json!({"Policy": t}),
        },
    }
}

/// The facet without its public statements (`absent` is what is left when none remains).
fn desired_of(facet: &Value, absent: impl FnOnce() -> Value) -> Value {
    match facet.get("Policy").filter(|p| p.is_object()) {
        Some(doc) => match without_public(doc) {
            None => facet.clone(),
            Some(Some(kept)) => json!({"Policy": kept}),
            Some(None) => json!({"Policy": absent()}),
        },
        None => facet.clone(),
    }
}

/// The policy text to send for facet `to` (`None`: no policy).
fn text_of(to: &Value, r: &ResourceRef) -> Result<Option<String>, ExecError> {
    match to.get("Policy") {
        None | Some(Value::Null) => Ok(None),
        Some(doc @ Value::Object(_)) => Ok(Some(doc.to_string())),
        Some(other) => Err(ExecError::Params {
            action: "remove public policy statements".into(),
            message: format!(
                "`{}` has a policy that is not a JSON document (`{other}`): it is left as it is",
                r.resource_id
            ),
        }),
    }
}

fn properties() -> ActionProperties {
    // Whoever used the public access loses it: a person approves each run.
    configure(Risk::High, true)
}

/// A bucket's policy (`supplementaryConfiguration.BucketPolicy.policyText`, as Config
/// records it): put without the public statements, deleted when none is left.
#[derive(Debug)]
pub struct BucketPolicy;

#[async_trait]
impl Setting for BucketPolicy {
    fn action(&self) -> &'static str {
        "s3:PutBucketPolicy"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[BUCKET]
    }
    fn properties(&self) -> ActionProperties {
        properties()
    }
    fn operations(&self) -> Operations {
        Operations::one(
            &["s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
            &["s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
        )
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        facet_of(policy_text(ci, "BucketPolicy"))
    }
    fn desired(&self, facet: &Value, _params: &Value) -> Value {
        desired_of(facet, || Value::Null)
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        // A policy that is no JSON document is left as it is: `put` sends nothing.
        let Ok(text) = text_of(to, r) else {
            return Vec::new();
        };
        vec![match text {
            Some(text) => CliRequest::new(
                "s3api",
                "put-bucket-policy",
                json!({"Bucket": r.resource_id, "Policy": text}),
            ),
            None => CliRequest::new(
                "s3api",
                "delete-bucket-policy",
                json!({"Bucket": r.resource_id}),
            ),
        }]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        match text_of(to, r)? {
            Some(text) => {
                c.s3.put_bucket_policy()
                    .bucket(&r.resource_id)
                    .policy(text)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws("s3:PutBucketPolicy", r, &e))
            }
            None => {
                c.s3.delete_bucket_policy()
                    .bucket(&r.resource_id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws("s3:DeleteBucketPolicy", r, &e))
            }
        }
    }
}

/// A queue's access policy (custos's addition `supplementaryConfiguration.Policy`): set
/// without the public statements, removed (an empty `Policy`) when none is left.
#[derive(Debug)]
pub struct QueuePolicy;

#[async_trait]
impl Setting for QueuePolicy {
    fn action(&self) -> &'static str {
        "sqs:SetQueueAttributes/policy"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[QUEUE]
    }
    fn properties(&self) -> ActionProperties {
        properties()
    }
    fn operations(&self) -> Operations {
        Operations::one(&["sqs:SetQueueAttributes"], &["sqs:SetQueueAttributes"])
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        facet_of(policy_text(ci, "Policy"))
    }
    fn desired(&self, facet: &Value, _params: &Value) -> Value {
        desired_of(facet, || Value::Null)
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        // A policy that is no JSON document is left as it is: `put` sends nothing.
        let Ok(text) = text_of(to, r) else {
            return Vec::new();
        };
        vec![CliRequest::new(
            "sqs",
            "set-queue-attributes",
            json!({
                "QueueUrl": r.resource_id,
                "Attributes": {"Policy": text.unwrap_or_default()},
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
        c.sqs
            .set_queue_attributes()
            .queue_url(&r.resource_id)
            .attributes(
                QueueAttributeName::Policy,
                text_of(to, r)?.unwrap_or_default(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("sqs:SetQueueAttributes", r, &e))
    }
}

/// A topic's access policy (custos's addition `supplementaryConfiguration.Policy`): set
/// without the public statements; a topic always has a policy, so when none is left it
/// gets one naming its owner account alone (`owner_only_topic_policy`).
#[derive(Debug)]
pub struct TopicPolicy;

/// What a topic left with no statement gets (a topic always has a policy): its owner
/// account, whose IAM policies then decide who may use it. Not SNS's default policy, which
/// lets every principal of the account manage and publish whatever its IAM policies say.
fn owner_only_topic_policy(arn: &str, account: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OwnerAccount",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": [
                "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic", "SNS:Publish"
            ],
            "Resource": arn
        }]
    })
}

/// The policy text SetTopicAttributes sends for facet `to`: a topic without a policy
/// cannot be asked for, so the owner-only one stands in.
fn topic_text(to: &Value, r: &ResourceRef) -> Result<String, ExecError> {
    Ok(match text_of(to, r)? {
        Some(t) => t,
        None => owner_only_topic_policy(&r.resource_id, &r.account).to_string(),
    })
}

#[async_trait]
impl Setting for TopicPolicy {
    fn action(&self) -> &'static str {
        "sns:SetTopicAttributes/policy"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[TOPIC]
    }
    fn properties(&self) -> ActionProperties {
        properties()
    }
    fn operations(&self) -> Operations {
        Operations::one(&["sns:SetTopicAttributes"], &["sns:SetTopicAttributes"])
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let mut f = facet_of(policy_text(ci, "Policy"));
        // What the owner-only policy names (never changed by the fix).
        f["TopicArn"] = json!(ci.resource_id);
        f["Owner"] = json!(ci.aws_account_id);
        f
    }
    fn desired(&self, facet: &Value, _params: &Value) -> Value {
        let mut d = desired_of(facet, || {
            owner_only_topic_policy(
                facet["TopicArn"].as_str().unwrap_or_default(),
                facet["Owner"].as_str().unwrap_or_default(),
            )
        });
        d["TopicArn"] = facet["TopicArn"].clone();
        d["Owner"] = facet["Owner"].clone();
        d
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        // A policy that is no JSON document is left as it is: `put` sends nothing.
        let Ok(text) = topic_text(to, r) else {
            return Vec::new();
        };
        vec![CliRequest::new(
            "sns",
            "set-topic-attributes",
            json!({
                "TopicArn": r.resource_id,
                "AttributeName": "Policy",
                "AttributeValue": text,
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
        let text = topic_text(to, r)?;
        c.sns
            .set_topic_attributes()
            .topic_arn(&r.resource_id)
            .attribute_name("Policy")
            .attribute_value(text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("sns:SetTopicAttributes", r, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(principal: Value, condition: Option<Value>) -> Value {
        let mut s = json!({"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"});
        if let Some(c) = condition {
            s["Condition"] = c;
        }
        s
    }

    #[test]
    fn public_statements_are_told_apart_as_the_control_tells_them() {
        assert!(public(&stmt(json!("*"), None)));
        assert!(public(&stmt(
            json!({"AWS": ["arn:aws:iam::111122223333:root", "*"]}),
            None
        )));
        assert!(!public(&stmt(
            json!({"AWS": "arn:aws:iam::111122223333:root"}),
            None
        )));
        assert!(!public(&stmt(
            json!({"Service": "cloudtrail.amazonaws.com"}),
            None
        )));
        let mut deny = stmt(json!("*"), None);
        deny["Effect"] = json!("Deny");
        assert!(!public(&deny));
        let not_principal = json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "*"});
        assert!(public(&not_principal));
        for restricting in [
            json!({"StringEquals": {"AWS:SourceOwner": "111122223333"}}),
            json!({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/*"]}}),
            json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
            json!({"StringEquals": {"aws:SourceAccount": 111_122_223_333_u64}}),
            json!({"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:*"}}),
            json!({"IpAddress": {"aws:SourceIp": ["203.0.113.7", "2001:db8::/32"]}}),
        ] {
            assert!(
                !public(&stmt(json!("*"), Some(restricting.clone()))),
                "{restricting}"
            );
        }
        for open in [
            json!({"Bool": {"aws:SecureTransport": "true"}}),
            json!({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}),
            json!({"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}}),
            json!({"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ["o-1"]}}),
            json!({"StringLike": {"aws:SourceArn": "*"}}),
            json!({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "0.0.0.0/0"]}}),
            json!({"StringEquals": {"aws:SourceAccount": []}}),
            json!({"StringLike": {"aws:SourceArn": "arn:*"}}),
            json!({"StringLike": {"aws:PrincipalOrgID": "o-*"}}),
            json!({"StringLike": {"aws:SourceVpce": "vpce-*"}}),
            json!({"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}}),
            json!({"IpAddress": {"aws:SourceIp": "0::/0"}}),
            json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/abc"}}),
            json!({"StringEquals": {"aws:SourceAccount": ""}}),
            json!({"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:role/111122223333"}}),
            json!({"StringEquals": {"aws:username": "alice"}}),
        ] {
            assert!(public(&stmt(json!("*"), Some(open.clone()))), "{open}");
        }
    }

    #[test]
    fn only_public_statements_go_and_nothing_left_means_no_policy() {
        let private = stmt(json!({"AWS": "arn:aws:iam::111122223333:root"}), None);
        let doc = json!({"Version": "2012-10-17", "Id": "x", "Statement": [stmt(json!("*"), None), private]});
        let facet = json!({"Policy": doc});
        let want = json!({"Policy": {"Version": "2012-10-17", "Id": "x", "Statement": [private]}});
        assert_eq!(BucketPolicy.desired(&facet, &json!({})), want);
        assert_eq!(BucketPolicy.desired(&want, &json!({})), want);
        let only_public = json!({"Policy": {"Statement": stmt(json!("*"), None)}});
        assert_eq!(
            QueuePolicy.desired(&only_public, &json!({})),
            json!({"Policy": null})
        );
        // An unreadable policy is left as it is.
        let text = json!({"Policy": "{not json"});
        assert_eq!(QueuePolicy.desired(&text, &json!({})), text);
    }

    #[test]
    fn a_topic_left_without_statements_gets_its_owner_account_alone() {
        let facet = json!({"Policy": {"Statement": [stmt(json!("*"), None)]}, "TopicArn": "arn:aws:sns:us-east-1:111122223333:t", "Owner": "111122223333"});
        let d = TopicPolicy.desired(&facet, &json!({}));
        assert_eq!(
            d["Policy"],
            owner_only_topic_policy("arn:aws:sns:us-east-1:111122223333:t", "111122223333")
        );
        assert!(!public(&d["Policy"]["Statement"][0]));
        assert_eq!(d["TopicArn"], facet["TopicArn"]);
    }
}
