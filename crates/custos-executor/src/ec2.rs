//! EC2 executors: revoke internet-open ingress, EBS encryption by default, IMDSv2,
//! required tags.

use crate::{Action, ActionProperties, ExecError, Executor};
use async_trait::async_trait;
use aws_sdk_ec2::types::{HttpTokensState, IpPermission, IpRange, Ipv6Range};
use custos_core::{ActionKind, ConfigurationItem, ResourceRef, Risk, RollbackStep};
use custos_telemetry::aws::{AwsPool, error_code, error_message};
use custos_telemetry::ec2::{ACCOUNT, INSTANCE, SECURITY_GROUP};
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ec2Action {
    RevokeOpenIngress,
    EbsDefaultEncryption,
    RequireImdsv2,
}

#[derive(Debug, Clone)]
pub struct Ec2Executor {
    pool: Arc<AwsPool>,
    kind: Ec2Action,
}

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    [
        Ec2Action::RevokeOpenIngress,
        Ec2Action::EbsDefaultEncryption,
        Ec2Action::RequireImdsv2,
    ]
    .into_iter()
    .map(|kind| {
        Arc::new(Ec2Executor {
            pool: pool.clone(),
            kind,
        }) as Arc<dyn Executor>
    })
    .collect()
}

const OPEN_V4: &str = "0.0.0.0/0";
const OPEN_V6: &str = "::/0";

fn web_ports(params: &Value) -> Vec<i64> {
    params
        .get("webPorts")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_else(|| vec![80, 443])
}

/// The ingress entries open to the internet on non-web ports, one per source, sorted.
/// The same rule as the `ec2-sg-open-ingress` control.
pub fn offending(ci: &ConfigurationItem, params: &Value) -> Vec<Value> {
    let ports = web_ports(params);
    let mut out = Vec::new();
    let perms = ci
        .configuration
        .get("ipPermissions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for p in &perms {
        let proto = p
            .get("ipProtocol")
            .and_then(Value::as_str)
            .unwrap_or("-1")
            .to_ascii_lowercase();
        let from = p.get("fromPort").and_then(Value::as_i64);
        let to = p.get("toPort").and_then(Value::as_i64);
        let web = matches!(proto.as_str(), "tcp" | "6")
            && from == to
            && from.is_some_and(|f| ports.contains(&f));
        if web {
            continue;
        }
        let entry = |family: &str, cidr: &str, description: Option<&Value>| json!({"ipProtocol": proto, "fromPort": from, "toPort": to, "family": family, "cidr": cidr, "description": description.cloned().unwrap_or(Value::Null)});
        for r in p
            .get("ipv4Ranges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if r.get("cidrIp").and_then(Value::as_str) == Some(OPEN_V4) {
                out.push(entry("ipv4", OPEN_V4, r.get("description")));
            }
        }
        for r in p
            .get("ipv6Ranges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if r.get("cidrIpv6").and_then(Value::as_str) == Some(OPEN_V6) {
                out.push(entry("ipv6", OPEN_V6, r.get("description")));
            }
        }
    }
    out.sort_by_key(|v| v.to_string());
    out
}

fn permission(e: &Value) -> IpPermission {
    let desc = e
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut b = IpPermission::builder()
        .ip_protocol(e["ipProtocol"].as_str().unwrap_or("-1"))
        .set_from_port(e["fromPort"].as_i64().and_then(|p| i32::try_from(p).ok()))
        .set_to_port(e["toPort"].as_i64().and_then(|p| i32::try_from(p).ok()));
    if e["family"] == "ipv6" {
        b = b.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(e["cidr"].as_str().unwrap_or(OPEN_V6))
                .set_description(desc)
                .build(),
        );
    } else {
        b = b.ip_ranges(
            IpRange::builder()
                .cidr_ip(e["cidr"].as_str().unwrap_or(OPEN_V4))
                .set_description(desc)
                .build(),
        );
    }
    b.build()
}

impl Ec2Executor {
    /// The client for this executor's calls, every one of which mutates: sent once,
    /// never retried (the read-back decides what a failed answer meant).
    async fn client(&self, r: &ResourceRef) -> aws_sdk_ec2::Client {
        self.pool.ec2_once(&r.account, &r.region).await
    }

    fn err<E, R>(
        &self,
        operation: &'static str,
        r: &ResourceRef,
        e: aws_sdk_ec2::error::SdkError<E, R>,
    ) -> ExecError
    where
        E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        ExecError::Aws {
            operation,
            resource: r.resource_id.clone(),
            message: error_message(&e),
        }
    }

    async fn set_imds(&self, r: &ResourceRef, tokens: &str, hop: i64) -> Result<(), ExecError> {
        self.client(r)
            .await
            .modify_instance_metadata_options()
            .instance_id(&r.resource_id)
            .http_tokens(HttpTokensState::from(tokens))
            // LocalStack (and older APIs) need the hop limit in every call.
            .http_put_response_hop_limit(i32::try_from(hop).unwrap_or(2))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("ec2:ModifyInstanceMetadataOptions", r, e))
    }
}

impl Action for Ec2Executor {
    fn action(&self) -> &'static str {
        match self.kind {
            Ec2Action::RevokeOpenIngress => "ec2:RevokeSecurityGroupIngress",
            Ec2Action::EbsDefaultEncryption => "ec2:EnableEbsEncryptionByDefault",
            Ec2Action::RequireImdsv2 => "ec2:ModifyInstanceMetadataOptions",
        }
    }

    fn resource_types(&self) -> &'static [&'static str] {
        match self.kind {
            Ec2Action::RevokeOpenIngress => &[SECURITY_GROUP],
            Ec2Action::EbsDefaultEncryption => &[ACCOUNT],
            Ec2Action::RequireImdsv2 => &[INSTANCE],
        }
    }

    fn properties(&self) -> ActionProperties {
        let risk = match self.kind {
            // Cutting ingress or IMDSv1 can break running software.
            Ec2Action::RevokeOpenIngress | Ec2Action::RequireImdsv2 => Risk::Medium,
            Ec2Action::EbsDefaultEncryption => Risk::Low,
        };
        ActionProperties {
            reversible: true,
            risk,
            kinds: vec![ActionKind::Configure],
            requires_approval: false,
        }
    }

    fn operations(&self) -> crate::Operations {
        let (write, rollback): (&'static [&'static str], &'static [&'static str]) = match self.kind
        {
            Ec2Action::RevokeOpenIngress => (
                &["ec2:RevokeSecurityGroupIngress"],
                &["ec2:AuthorizeSecurityGroupIngress"],
            ),
            Ec2Action::EbsDefaultEncryption => (
                &["ec2:EnableEbsEncryptionByDefault"],
                &["ec2:DisableEbsEncryptionByDefault"],
            ),
            Ec2Action::RequireImdsv2 => (
                &["ec2:ModifyInstanceMetadataOptions"],
                &["ec2:ModifyInstanceMetadataOptions"],
            ),
        };
        crate::Operations {
            read: &[],
            write,
            rollback,
            needs: &[],
        }
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        let obj = params.as_object().ok_or("parameters must be a table")?;
        let allowed: &[&str] = match self.kind {
            Ec2Action::RevokeOpenIngress => &["webPorts"],
            Ec2Action::EbsDefaultEncryption => &[],
            Ec2Action::RequireImdsv2 => &["httpTokens"],
        };
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "unknown parameter `{k}` (known: {})",
                allowed.join(", ")
            ));
        }
        match self.kind {
            Ec2Action::RevokeOpenIngress => {
                if let Some(p) = obj.get("webPorts") {
                    let ok = p.as_array().is_some_and(|a| {
                        a.iter()
                            .all(|x| x.as_i64().is_some_and(|n| (0..=65535).contains(&n)))
                    });
                    if !ok {
                        return Err("`webPorts` must be a list of port numbers".into());
                    }
                }
            }
            Ec2Action::RequireImdsv2 => {
                if obj
                    .get("httpTokens")
                    .and_then(Value::as_str)
                    .unwrap_or("required")
                    != "required"
                {
                    return Err("`httpTokens` can only be `required`".into());
                }
            }
            Ec2Action::EbsDefaultEncryption => {}
        }
        Ok(())
    }

    fn facet(&self, ci: &ConfigurationItem) -> Value {
        // Facets that depend on parameters (open entries, required tags) are computed with
        // the shipped defaults here and refined in `satisfied`/`apply` with the real ones.
        self.facet_with(ci, &Value::Null)
    }

    fn facet_for(&self, ci: &ConfigurationItem, params: &Value) -> Value {
        self.facet_with(ci, params)
    }

    fn satisfied(&self, facet: &Value, _params: &Value) -> bool {
        match self.kind {
            Ec2Action::RevokeOpenIngress => facet["open"].as_array().is_some_and(Vec::is_empty),
            Ec2Action::EbsDefaultEncryption => facet["ebsEncryptionByDefault"] == true,
            Ec2Action::RequireImdsv2 => {
                facet["httpTokens"] == "required" || facet["httpEndpoint"] == "disabled"
            }
        }
    }

    fn desired(&self, facet: &Value, _params: &Value) -> Value {
        match self.kind {
            Ec2Action::RevokeOpenIngress => json!({"open": []}),
            Ec2Action::EbsDefaultEncryption => json!({"ebsEncryptionByDefault": true}),
            Ec2Action::RequireImdsv2 => {
                let mut v = facet.clone();
                v["httpTokens"] = json!("required");
                if v["httpPutResponseHopLimit"].is_null() {
                    v["httpPutResponseHopLimit"] = json!(2);
                }
                v
            }
        }
    }

    fn rollback_steps(&self, before: &Value) -> Vec<RollbackStep> {
        let step = |action: &str, description: String, parameters: Value| RollbackStep {
            action: action.into(),
            description,
            parameters,
            exact: true,
        };
        match self.kind {
            Ec2Action::RevokeOpenIngress => vec![step(
                "ec2:AuthorizeSecurityGroupIngress",
                "authorize the revoked entries again".into(),
                json!({"entries": before["open"]}),
            )],
            Ec2Action::EbsDefaultEncryption if before["ebsEncryptionByDefault"] == true => vec![],
            Ec2Action::EbsDefaultEncryption => vec![step(
                "ec2:DisableEbsEncryptionByDefault",
                "turn EBS encryption by default off again".into(),
                json!({}),
            )],
            Ec2Action::RequireImdsv2 => vec![step(
                "ec2:ModifyInstanceMetadataOptions",
                format!(
                    "set HttpTokens back to `{}`",
                    before["httpTokens"].as_str().unwrap_or("optional")
                ),
                json!({"httpTokens": before["httpTokens"], "httpPutResponseHopLimit": before["httpPutResponseHopLimit"]}),
            )],
        }
    }
}

#[async_trait]
impl Executor for Ec2Executor {
    async fn apply(
        &self,
        r: &ResourceRef,
        _params: &Value,
        before: &Value,
    ) -> Result<Vec<String>, ExecError> {
        let ec2 = self.client(r).await;
        match self.kind {
            Ec2Action::RevokeOpenIngress => {
                let entries = before["open"].as_array().cloned().unwrap_or_default();
                if entries.is_empty() {
                    return Ok(vec![]);
                }
                ec2.revoke_security_group_ingress()
                    .group_id(&r.resource_id)
                    .set_ip_permissions(Some(entries.iter().map(permission).collect()))
                    .send()
                    .await
                    .map_err(|e| self.err("ec2:RevokeSecurityGroupIngress", r, e))?;
            }
            Ec2Action::EbsDefaultEncryption => {
                ec2.enable_ebs_encryption_by_default()
                    .send()
                    .await
                    .map_err(|e| self.err("ec2:EnableEbsEncryptionByDefault", r, e))?;
            }
            Ec2Action::RequireImdsv2 => {
                let hop = before["httpPutResponseHopLimit"].as_i64().unwrap_or(2);
                self.set_imds(r, "required", hop).await?;
            }
        }
        Ok(vec![self.action().to_string()])
    }

    async fn restore(&self, r: &ResourceRef, before: &Value) -> Result<Vec<String>, ExecError> {
        let ec2 = self.client(r).await;
        let mut calls = Vec::new();
        for step in self.rollback_steps(before) {
            match step.action.as_str() {
                "ec2:AuthorizeSecurityGroupIngress" => {
                    for e in step.parameters["entries"].as_array().into_iter().flatten() {
                        let res = ec2
                            .authorize_security_group_ingress()
                            .group_id(&r.resource_id)
                            .ip_permissions(permission(e))
                            .send()
                            .await;
                        match res {
                            Ok(_) => {}
                            // Already there: the before state holds for this entry.
                            Err(err) if error_code(&err) == Some("InvalidPermission.Duplicate") => {
                            }
                            Err(err) => {
                                return Err(self.err("ec2:AuthorizeSecurityGroupIngress", r, err));
                            }
                        }
                    }
                }
                "ec2:DisableEbsEncryptionByDefault" => {
                    ec2.disable_ebs_encryption_by_default()
                        .send()
                        .await
                        .map_err(|e| self.err("ec2:DisableEbsEncryptionByDefault", r, e))?;
                }
                "ec2:ModifyInstanceMetadataOptions" => {
                    let tokens = step.parameters["httpTokens"].as_str().unwrap_or("optional");
                    let hop = step.parameters["httpPutResponseHopLimit"]
                        .as_i64()
                        .unwrap_or(1);
                    self.set_imds(r, tokens, hop).await?;
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

impl Ec2Executor {
    fn facet_with(&self, ci: &ConfigurationItem, params: &Value) -> Value {
        match self.kind {
            Ec2Action::RevokeOpenIngress => json!({"open": offending(ci, params)}),
            Ec2Action::EbsDefaultEncryption => {
                json!({"ebsEncryptionByDefault": ci.configuration.get("ebsEncryptionByDefault").and_then(Value::as_bool).unwrap_or(false)})
            }
            Ec2Action::RequireImdsv2 => {
                let m = ci
                    .configuration
                    .get("metadataOptions")
                    .cloned()
                    .unwrap_or(Value::Null);
                json!({
                    "httpTokens": m.get("httpTokens").and_then(Value::as_str).unwrap_or("optional"),
                    "httpEndpoint": m.get("httpEndpoint").and_then(Value::as_str).unwrap_or("enabled"),
                    "httpPutResponseHopLimit": m.get("httpPutResponseHopLimit").cloned().unwrap_or(Value::Null),
                })
            }
        }
    }
}
