//! VPCs (`AWS::EC2::VPC`). Config records flow logs as their own type
//! (`AWS::EC2::FlowLog`); the VPC's item here adds
//! `supplementaryConfiguration.FlowLogs`, the flow logs whose resource is the VPC
//! (DescribeFlowLogs), so one evaluation of the VPC decides EC2.6.

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::error_code;
use aws_sdk_ec2::types::Filter;
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};

pub const VPC: &str = "AWS::EC2::VPC";
pub const READS: &[&str] = &["ec2:DescribeVpcs", "ec2:DescribeFlowLogs"];

pub async fn list(at: &At, only: Option<&str>) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let ec2 = &at.clients.ec2;
    let vpcs = match ec2
        .describe_vpcs()
        .set_vpc_ids(only.map(|v| vec![v.to_string()]))
        .send()
        .await
    {
        Ok(v) => v,
        Err(e) if error_code(&e) == Some("InvalidVpcID.NotFound") => return Ok(vec![]),
        Err(e) => return Err(aws_error("ec2:DescribeVpcs", only.unwrap_or("vpcs"), &e)),
    };
    let ids: Vec<String> = vpcs
        .vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_string))
        .collect();
    let mut flow: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    if !ids.is_empty() {
        let mut token = None;
        loop {
            let page = ec2
                .describe_flow_logs()
                .filter(
                    Filter::builder()
                        .name("resource-id")
                        .set_values(Some(ids.clone()))
                        .build(),
                )
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws_error("ec2:DescribeFlowLogs", only.unwrap_or("vpcs"), &e))?;
            for f in page.flow_logs() {
                let Some(r) = f.resource_id() else { continue };
                flow.entry(r.to_string()).or_default().push(json!({
                    "flowLogId": f.flow_log_id(),
                    "trafficType": f.traffic_type().map(|t| t.as_str()),
                    "logDestinationType": f.log_destination_type().map(|t| t.as_str()),
                    "logDestination": f.log_destination(),
                    "logGroupName": f.log_group_name(),
                    "flowLogStatus": f.flow_log_status(),
                }));
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    let mut out = Vec::new();
    for v in vpcs.vpcs() {
        let Some(id) = v.vpc_id() else { continue };
        let mut cfg = Map::new();
        cfg.insert("vpcId".into(), json!(id));
        put(&mut cfg, "cidrBlock", v.cidr_block());
        put(&mut cfg, "dhcpOptionsId", v.dhcp_options_id());
        put(
            &mut cfg,
            "instanceTenancy",
            v.instance_tenancy().map(|t| t.as_str()),
        );
        put(&mut cfg, "isDefault", v.is_default());
        put(&mut cfg, "ownerId", v.owner_id());
        if let Some(s) = v.state() {
            cfg.insert("state".into(), json!({"value": s.as_str()}));
        }
        let tags = v
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
            .collect();
        let mut supp = Map::new();
        supp.insert(
            "FlowLogs".into(),
            json!(flow.remove(id).unwrap_or_default()),
        );
        let arn = format!("arn:aws:ec2:{}:{}:vpc/{id}", at.region, at.account);
        out.push(at.item(VPC, id, None, Some(arn), tags, Value::Object(cfg), supp)?);
    }
    Ok(out)
}
