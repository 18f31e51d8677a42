//! A VPC's default security group closed (FSBP EC2.2, CIS 5.4): its inbound rules
//! revoked, and (a control and request of their own) its outbound rules. Resources that
//! use the default group lose the traffic its rules allowed, so a person approves every
//! run (class `human`); a rollback authorizes exactly the rules that were there.

use crate::setting::{Setter, Setting, aws, configure};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::ec2::SECURITY_GROUP;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![
        Setter::boxed(pool.clone(), DefaultGroup::Ingress),
        Setter::boxed(pool, DefaultGroup::Egress),
    ]
}

/// Which rules of the default group the fix revokes.
#[derive(Debug, Clone, Copy)]
pub enum DefaultGroup {
    Ingress,
    Egress,
}

/// The rules as Config records them, each peer list sorted, the list sorted: a facet
/// read back compares equal whatever order the API answers in.
fn rules(ci: &ConfigurationItem, field: &str) -> Value {
    let mut out: Vec<Value> = ci
        .configuration
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let mut p = p.clone();
            for list in [
                "ipv4Ranges",
                "ipv6Ranges",
                "userIdGroupPairs",
                "prefixListIds",
            ] {
                let mut l = p[list].as_array().cloned().unwrap_or_default();
                l.sort_by_key(Value::to_string);
                p[list] = json!(l);
            }
            p
        })
        .collect();
    out.sort_by_key(Value::to_string);
    json!(out)
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn port(v: &Value, k: &str) -> Option<i32> {
    v.get(k)
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
}

/// One Config-shaped rule as the API's permission.
fn permission(p: &Value) -> IpPermission {
    let list = |k: &str| p[k].as_array().cloned().unwrap_or_default();
    let mut b = IpPermission::builder()
        .ip_protocol(p["ipProtocol"].as_str().unwrap_or("-1"))
        .set_from_port(port(p, "fromPort"))
        .set_to_port(port(p, "toPort"));
    for r in list("ipv4Ranges") {
        b = b.ip_ranges(
            IpRange::builder()
                .set_cidr_ip(text(&r, "cidrIp"))
                .set_description(text(&r, "description"))
                .build(),
        );
    }
    for r in list("ipv6Ranges") {
        b = b.ipv6_ranges(
            Ipv6Range::builder()
                .set_cidr_ipv6(text(&r, "cidrIpv6"))
                .set_description(text(&r, "description"))
                .build(),
        );
    }
    for g in list("userIdGroupPairs") {
        b = b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .set_group_id(text(&g, "groupId"))
                .set_user_id(text(&g, "userId"))
                .set_description(text(&g, "description"))
                .build(),
        );
    }
    for x in list("prefixListIds") {
        b = b.prefix_list_ids(
            PrefixListId::builder()
                .set_prefix_list_id(text(&x, "prefixListId"))
                .set_description(text(&x, "description"))
                .build(),
        );
    }
    b.build()
}

/// A Config peer list, its API member, and each entry's fields (Config's, the API's).
type Peer = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// [`permission`] as the API's JSON (`IpPermissions` member), for the CLI: the same
/// fields from the same rule, a member left out where the SDK's is unset.
fn permission_json(p: &Value) -> Value {
    const PEERS: [Peer; 4] = [
        (
            "ipv4Ranges",
            "IpRanges",
            &[("cidrIp", "CidrIp"), ("description", "Description")],
        ),
        (
            "ipv6Ranges",
            "Ipv6Ranges",
            &[("cidrIpv6", "CidrIpv6"), ("description", "Description")],
        ),
        (
            "userIdGroupPairs",
            "UserIdGroupPairs",
            &[
                ("groupId", "GroupId"),
                ("userId", "UserId"),
                ("description", "Description"),
            ],
        ),
        (
            "prefixListIds",
            "PrefixListIds",
            &[
                ("prefixListId", "PrefixListId"),
                ("description", "Description"),
            ],
        ),
    ];
    let mut out = Map::new();
    out.insert(
        "IpProtocol".into(),
        json!(p["ipProtocol"].as_str().unwrap_or("-1")),
    );
    if let Some(from) = port(p, "fromPort") {
        out.insert("FromPort".into(), json!(from));
    }
    if let Some(to) = port(p, "toPort") {
        out.insert("ToPort".into(), json!(to));
    }
    for (list, member, fields) in PEERS {
        let entries: Vec<Value> = p[list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let entry: Map<String, Value> = fields
                    .iter()
                    .filter_map(|(config, api)| {
                        text(e, config).map(|v| (api.to_string(), json!(v)))
                    })
                    .collect();
                Value::Object(entry)
            })
            .collect();
        if !entries.is_empty() {
            out.insert(member.into(), json!(entries));
        }
    }
    Value::Object(out)
}

#[async_trait]
impl Setting for DefaultGroup {
    fn action(&self) -> &'static str {
        match self {
            DefaultGroup::Ingress => "ec2:RevokeSecurityGroupIngress/default-group",
            DefaultGroup::Egress => "ec2:RevokeSecurityGroupEgress/default-group",
        }
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[SECURITY_GROUP]
    }
    fn properties(&self) -> ActionProperties {
        configure(Risk::High, true)
    }
    fn operations(&self) -> Operations {
        match self {
            DefaultGroup::Ingress => Operations::one(
                &["ec2:RevokeSecurityGroupIngress"],
                &["ec2:AuthorizeSecurityGroupIngress"],
            ),
            DefaultGroup::Egress => Operations::one(
                &["ec2:RevokeSecurityGroupEgress"],
                &["ec2:AuthorizeSecurityGroupEgress"],
            ),
        }
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let default = ci.configuration["groupName"] == "default";
        let field = match self {
            DefaultGroup::Ingress => "ipPermissions",
            DefaultGroup::Egress => "ipPermissionsEgress",
        };
        // Another group is never touched: its facet has no rules to revoke.
        json!({"rules": if default { rules(ci, field) } else { json!([]) }})
    }
    fn desired(&self, _facet: &Value, _params: &Value) -> Value {
        json!({"rules": []})
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        // As `put`: the rules of `to` authorized when there are any, else those of `from`
        // revoked.
        let restore = to["rules"].as_array().is_some_and(|l| !l.is_empty());
        let perms: Vec<Value> = if restore {
            &to["rules"]
        } else {
            &from["rules"]
        }
        .as_array()
        .into_iter()
        .flatten()
        .map(permission_json)
        .collect();
        let operation = match (self, restore) {
            (DefaultGroup::Ingress, false) => "revoke-security-group-ingress",
            (DefaultGroup::Ingress, true) => "authorize-security-group-ingress",
            (DefaultGroup::Egress, false) => "revoke-security-group-egress",
            (DefaultGroup::Egress, true) => "authorize-security-group-egress",
        };
        vec![CliRequest::new(
            "ec2",
            operation,
            json!({"GroupId": r.resource_id, "IpPermissions": perms}),
        )]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        let restore = to["rules"].as_array().is_some_and(|l| !l.is_empty());
        let perms: Vec<IpPermission> = if restore {
            &to["rules"]
        } else {
            &from["rules"]
        }
        .as_array()
        .into_iter()
        .flatten()
        .map(permission)
        .collect();
        let id = &r.resource_id;
        let ec2 = &c.ec2;
        match (self, restore) {
            (DefaultGroup::Ingress, false) => ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(perms))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("ec2:RevokeSecurityGroupIngress", r, &e)),
            (DefaultGroup::Ingress, true) => ec2
                .authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(perms))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("ec2:AuthorizeSecurityGroupIngress", r, &e)),
            (DefaultGroup::Egress, false) => ec2
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(perms))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("ec2:RevokeSecurityGroupEgress", r, &e)),
            (DefaultGroup::Egress, true) => ec2
                .authorize_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(perms))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("ec2:AuthorizeSecurityGroupEgress", r, &e)),
        }
    }
}
