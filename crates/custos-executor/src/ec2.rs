//! EC2 executors: revoke internet-open ingress (or narrow it to administrative CIDRs),
//! EBS encryption by default, IMDSv2.

use crate::{Action, ActionProperties, CliRequest, ExecError, Executor};
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
    /// The candidate beside revoking: the same ports from the operator's administrative
    /// CIDRs instead of the internet.
    NarrowOpenIngress,
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
        Ec2Action::NarrowOpenIngress,
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

/// Every ingress entry of a group, one per source (protocol, ports, family, CIDR,
/// description), sorted: the shape the facets below are written in.
fn ingress(
    ci: &ConfigurationItem,
    keep: impl Fn(&str, Option<i64>, Option<i64>, &str) -> bool,
) -> Vec<Value> {
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
        for (list, field, family) in [
            ("ipv4Ranges", "cidrIp", "ipv4"),
            ("ipv6Ranges", "cidrIpv6", "ipv6"),
        ] {
            for r in p.get(list).and_then(Value::as_array).into_iter().flatten() {
                if let Some(c) = r.get(field).and_then(Value::as_str)
                    && keep(&proto, from, to, c)
                {
                    out.push(json!({"ipProtocol": proto, "fromPort": from, "toPort": to, "family": family, "cidr": c, "description": r.get("description").cloned().unwrap_or(Value::Null)}));
                }
            }
        }
    }
    out.sort_by_key(|v| v.to_string());
    out
}

/// The ingress entries open to the internet on non-web ports, one per source, sorted.
/// The same rule as the `ec2-sg-open-ingress` control.
pub fn offending(ci: &ConfigurationItem, params: &Value) -> Vec<Value> {
    let ports = web_ports(params);
    ingress(ci, |proto, from, to, cidr| {
        let web =
            matches!(proto, "tcp" | "6") && from == to && from.is_some_and(|f| ports.contains(&f));
        !web && (cidr == OPEN_V4 || cidr == OPEN_V6)
    })
}

/// The operator's administrative CIDRs (`adminCidrs`), as written.
fn admin_cidrs(params: &Value) -> Vec<String> {
    params
        .get("adminCidrs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `cidr` is a network address in the form EC2 reports it (canonical address, host bits
/// zero, a plain prefix length) no wider than /8 (IPv4) or /32 (IPv6): narrowing must not
/// reopen what it closes, and the entries are compared as EC2 returns them.
fn check_admin_cidr(cidr: &str) -> Result<(), String> {
    let (addr, len_text) = cidr
        .split_once('/')
        .ok_or_else(|| format!("`{cidr}` is not a CIDR (address/prefix)"))?;
    let len: u32 = len_text
        .parse()
        .ok()
        .filter(|n: &u32| n.to_string() == len_text)
        .ok_or_else(|| format!("`{cidr}`: the prefix length is not a plain number"))?;
    let (bits, min, host_bits_zero, canonical) = if let Ok(a) = addr.parse::<std::net::Ipv4Addr>() {
        let v = u32::from(a);
        let zero = len <= 32 && v.checked_shl(len).unwrap_or(0) == 0;
        (32, 8, zero, a.to_string())
    } else if let Ok(a) = addr.parse::<std::net::Ipv6Addr>() {
        let v = u128::from(a);
        let zero = len <= 128 && v.checked_shl(len).unwrap_or(0) == 0;
        (128, 32, zero, a.to_string())
    } else {
        return Err(format!("`{cidr}`: `{addr}` is not an IP address"));
    };
    if len > bits {
        return Err(format!("`{cidr}`: the prefix is longer than {bits} bits"));
    }
    if len < min {
        return Err(format!(
            "`{cidr}` is wider than /{min}: an administrative range must be narrow"
        ));
    }
    if !host_bits_zero {
        return Err(format!(
            "`{cidr}` has host bits set: write the network address"
        ));
    }
    if canonical != addr {
        return Err(format!("`{cidr}`: write the address as `{canonical}`"));
    }
    Ok(())
}

fn family_of(cidr: &str) -> &'static str {
    if cidr.contains(':') { "ipv6" } else { "ipv4" }
}

/// Every ingress entry from one of the administrative CIDRs, sorted (what narrowing
/// adds to, and what its rollback must leave as it was).
fn admin_entries(ci: &ConfigurationItem, cidrs: &[String]) -> Vec<Value> {
    ingress(ci, |_, _, _, cidr| cidrs.iter().any(|a| a == cidr))
}

/// An entry's identity: everything but its description.
fn entry_key(e: &Value) -> (Value, Value, Value, Value, Value) {
    (
        e["ipProtocol"].clone(),
        e["fromPort"].clone(),
        e["toPort"].clone(),
        e["family"].clone(),
        e["cidr"].clone(),
    )
}

/// What narrowing adds: each open entry's protocol and ports from each administrative
/// CIDR of its family, where that entry is not there already. An open entry with no
/// administrative CIDR of its family is only revoked.
fn to_add(open: &[Value], admin: &[Value], cidrs: &[String]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for e in open {
        let family = e["family"].as_str().unwrap_or("ipv4");
        for c in cidrs.iter().filter(|c| family_of(c) == family) {
            let mut n = e.clone();
            n["cidr"] = json!(c);
            let k = entry_key(&n);
            if !admin.iter().chain(&out).any(|a| entry_key(a) == k) {
                out.push(n);
            }
        }
    }
    out.sort_by_key(|v| v.to_string());
    out
}

/// A facet entry's request fields, read once for the SDK's permission and the CLI's.
struct Entry<'a> {
    protocol: &'a str,
    from: Option<i32>,
    to: Option<i32>,
    ipv6: bool,
    cidr: &'a str,
    description: Option<&'a str>,
}

fn entry(e: &Value) -> Entry<'_> {
    let ipv6 = e["family"] == "ipv6";
    Entry {
        protocol: e["ipProtocol"].as_str().unwrap_or("-1"),
        from: e["fromPort"].as_i64().and_then(|p| i32::try_from(p).ok()),
        to: e["toPort"].as_i64().and_then(|p| i32::try_from(p).ok()),
        ipv6,
        cidr: e["cidr"]
            .as_str()
            .unwrap_or(if ipv6 { OPEN_V6 } else { OPEN_V4 }),
        description: e.get("description").and_then(Value::as_str),
    }
}

fn permission(e: &Value) -> IpPermission {
    let x = entry(e);
    let desc = x.description.map(str::to_string);
    let b = IpPermission::builder()
        .ip_protocol(x.protocol)
        .set_from_port(x.from)
        .set_to_port(x.to);
    let b = if x.ipv6 {
        b.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(x.cidr)
                .set_description(desc)
                .build(),
        )
    } else {
        b.ip_ranges(
            IpRange::builder()
                .cidr_ip(x.cidr)
                .set_description(desc)
                .build(),
        )
    };
    b.build()
}

/// [`permission`] as the API's JSON (`IpPermissions` member), for the CLI.
fn permission_json(e: &Value) -> Value {
    let x = entry(e);
    let mut p = json!({"IpProtocol": x.protocol});
    if let Some(from) = x.from {
        p["FromPort"] = json!(from);
    }
    if let Some(to) = x.to {
        p["ToPort"] = json!(to);
    }
    let (list, field) = if x.ipv6 {
        ("Ipv6Ranges", "CidrIpv6")
    } else {
        ("IpRanges", "CidrIp")
    };
    let mut range = json!({ field: x.cidr });
    if let Some(d) = x.description {
        range["Description"] = json!(d);
    }
    p[list] = json!([range]);
    p
}

/// The entries of a facet list (`open`, `add`), none when absent.
fn entries(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
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
            Ec2Action::NarrowOpenIngress => "ec2:RevokeSecurityGroupIngress/narrow",
            Ec2Action::EbsDefaultEncryption => "ec2:EnableEbsEncryptionByDefault",
            Ec2Action::RequireImdsv2 => "ec2:ModifyInstanceMetadataOptions",
        }
    }

    fn resource_types(&self) -> &'static [&'static str] {
        match self.kind {
            Ec2Action::RevokeOpenIngress | Ec2Action::NarrowOpenIngress => &[SECURITY_GROUP],
            Ec2Action::EbsDefaultEncryption => &[ACCOUNT],
            Ec2Action::RequireImdsv2 => &[INSTANCE],
        }
    }

    fn properties(&self) -> ActionProperties {
        let risk = match self.kind {
            // Cutting ingress or IMDSv1 can break running software.
            Ec2Action::RevokeOpenIngress
            | Ec2Action::NarrowOpenIngress
            | Ec2Action::RequireImdsv2 => Risk::Medium,
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
            Ec2Action::NarrowOpenIngress => (
                &[
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupIngress",
                ],
                &[
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupIngress",
                ],
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
            Ec2Action::NarrowOpenIngress => &["webPorts", "adminCidrs"],
            Ec2Action::EbsDefaultEncryption => &[],
            Ec2Action::RequireImdsv2 => &["httpTokens"],
        };
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "unknown parameter `{k}` (known: {})",
                allowed.join(", ")
            ));
        }
        if let Some(c) = obj.get("adminCidrs") {
            let list = c.as_array().ok_or("`adminCidrs` must be a list of CIDRs")?;
            for x in list {
                let cidr = x.as_str().ok_or("`adminCidrs` must be a list of CIDRs")?;
                check_admin_cidr(cidr).map_err(|m| format!("`adminCidrs`: {m}"))?;
            }
        }
        match self.kind {
            Ec2Action::RevokeOpenIngress | Ec2Action::NarrowOpenIngress => {
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

    fn offered(&self, params: &Value) -> Result<(), String> {
        if self.kind == Ec2Action::NarrowOpenIngress && admin_cidrs(params).is_empty() {
            return Err(
                "no administrative CIDR is configured (`adminCidrs` in the playbook's parameters)"
                    .into(),
            );
        }
        Ok(())
    }

    fn partial(&self, before: &Value, now: &Value) -> Option<String> {
        if self.kind != Ec2Action::NarrowOpenIngress {
            return None;
        }
        let add = before["add"].as_array().filter(|a| !a.is_empty())?;
        let admin: Vec<_> = now["admin"]
            .as_array()
            .into_iter()
            .flatten()
            .map(entry_key)
            .collect();
        let added = add.iter().all(|e| admin.contains(&entry_key(e)));
        (added && now["open"] == before["open"]).then(|| {
            format!(
                "the administrative entries were added ({}) and the open ones not revoked; the added entries stay until the next fix or a person removes them",
                add.iter()
                    .map(|e| format!(
                        "{} {}-{} from {}",
                        e["ipProtocol"].as_str().unwrap_or("-1"),
                        e["fromPort"],
                        e["toPort"],
                        e["cidr"].as_str().unwrap_or("?")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
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
            Ec2Action::RevokeOpenIngress | Ec2Action::NarrowOpenIngress => {
                facet["open"].as_array().is_some_and(Vec::is_empty)
            }
            Ec2Action::EbsDefaultEncryption => facet["ebsEncryptionByDefault"] == true,
            Ec2Action::RequireImdsv2 => {
                facet["httpTokens"] == "required" || facet["httpEndpoint"] == "disabled"
            }
        }
    }

    fn desired(&self, facet: &Value, _params: &Value) -> Value {
        match self.kind {
            Ec2Action::RevokeOpenIngress => json!({"open": []}),
            Ec2Action::NarrowOpenIngress => {
                let mut admin: Vec<Value> = facet["admin"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(facet["add"].as_array().into_iter().flatten())
                    .cloned()
                    .collect();
                admin.sort_by_key(|v| v.to_string());
                json!({"open": [], "admin": admin, "add": []})
            }
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

    fn cli(&self, ci: &ConfigurationItem, _params: &Value, before: &Value) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let group = |operation: &'static str, list: &[Value]| {
            let perms: Vec<Value> = list.iter().map(permission_json).collect();
            CliRequest::new(
                "ec2",
                operation,
                json!({"GroupId": r.resource_id, "IpPermissions": perms}),
            )
        };
        match self.kind {
            Ec2Action::RevokeOpenIngress => {
                let open = entries(&before["open"]);
                if open.is_empty() {
                    return vec![];
                }
                vec![group("revoke-security-group-ingress", open)]
            }
            Ec2Action::NarrowOpenIngress => {
                let open = entries(&before["open"]);
                if open.is_empty() {
                    return vec![];
                }
                // As `apply`: the administrative entries first, then the revoke.
                let add = entries(&before["add"]);
                let mut out = Vec::new();
                if !add.is_empty() {
                    out.push(group("authorize-security-group-ingress", add));
                }
                out.push(group("revoke-security-group-ingress", open));
                out
            }
            Ec2Action::EbsDefaultEncryption => vec![CliRequest::new(
                "ec2",
                "enable-ebs-encryption-by-default",
                json!({}),
            )],
            Ec2Action::RequireImdsv2 => {
                let hop = before["httpPutResponseHopLimit"].as_i64().unwrap_or(2);
                vec![CliRequest::new(
                    "ec2",
                    "modify-instance-metadata-options",
                    json!({
                        "InstanceId": r.resource_id,
                        "HttpTokens": "required",
                        "HttpPutResponseHopLimit": i32::try_from(hop).unwrap_or(2),
                    }),
                )]
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
            Ec2Action::NarrowOpenIngress => {
                let mut steps = vec![step(
                    "ec2:AuthorizeSecurityGroupIngress",
                    "authorize the revoked entries again".into(),
                    json!({"entries": before["open"]}),
                )];
                if before["add"].as_array().is_some_and(|a| !a.is_empty()) {
                    steps.push(step(
                        "ec2:RevokeSecurityGroupIngress",
                        "revoke the administrative entries the fix added (entries there before stay)"
                            .into(),
                        json!({"entries": before["add"]}),
                    ));
                }
                steps
            }
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
            Ec2Action::NarrowOpenIngress => {
                let open = before["open"].as_array().cloned().unwrap_or_default();
                if open.is_empty() {
                    return Ok(vec![]);
                }
                // The administrative entries first: if they cannot be added, nothing is
                // revoked (and the read-back restores whatever was added).
                let add = before["add"].as_array().cloned().unwrap_or_default();
                if !add.is_empty() {
                    ec2.authorize_security_group_ingress()
                        .group_id(&r.resource_id)
                        .set_ip_permissions(Some(add.iter().map(permission).collect()))
                        .send()
                        .await
                        .map_err(|e| self.err("ec2:AuthorizeSecurityGroupIngress", r, e))?;
                }
                ec2.revoke_security_group_ingress()
                    .group_id(&r.resource_id)
                    .set_ip_permissions(Some(open.iter().map(permission).collect()))
                    .send()
                    .await
                    .map_err(|e| self.err("ec2:RevokeSecurityGroupIngress", r, e))?;
                let mut calls = vec![];
                if !add.is_empty() {
                    calls.push("ec2:AuthorizeSecurityGroupIngress".to_string());
                }
                calls.push("ec2:RevokeSecurityGroupIngress".to_string());
                return Ok(calls);
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
                "ec2:RevokeSecurityGroupIngress" => {
                    for e in step.parameters["entries"].as_array().into_iter().flatten() {
                        let res = ec2
                            .revoke_security_group_ingress()
                            .group_id(&r.resource_id)
                            .ip_permissions(permission(e))
                            .send()
                            .await;
                        match res {
                            Ok(_) => {}
                            // Already gone: the before state holds for this entry.
                            Err(err) if error_code(&err) == Some("InvalidPermission.NotFound") => {}
                            Err(err) => {
                                return Err(self.err("ec2:RevokeSecurityGroupIngress", r, err));
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
            Ec2Action::NarrowOpenIngress => {
                let cidrs = admin_cidrs(params);
                let open = offending(ci, params);
                let admin = admin_entries(ci, &cidrs);
                let add = to_add(&open, &admin, &cidrs);
                json!({"open": open, "admin": admin, "add": add})
            }
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
