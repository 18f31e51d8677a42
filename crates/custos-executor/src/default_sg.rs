//! A VPC's default security group closed (FSBP EC2.2, CIS 5.4): its inbound rules
//! revoked, and (a control and request of their own) its outbound rules. Resources that
//! use the default group lose the traffic its rules allowed, so a person approves every
//! run (class `human`); a rollback authorizes exactly the rules that were there.

use crate::setting::{Setter, Setting, aws, configure};
use crate::{ActionProperties, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::ec2::SECURITY_GROUP;
use serde_json::{Value, json};
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
