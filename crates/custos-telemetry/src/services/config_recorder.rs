//! AWS Config recorders (`AWS::Config::ConfigurationRecorder`, resource id the recorder
//! name; Config's schema names the fields `Name`, `Recording`, `RecordingGroup`,
//! `RoleARN`). Here a recorder that exists and is stopped is the finding; a region
//! without any recorder is read into the account item (`services::account`).

use super::{At, aws_error};
use crate::TelemetryError;
use custos_core::ConfigurationItem;
use serde_json::{Map, json};
use std::collections::BTreeMap;

pub const RECORDER: &str = "AWS::Config::ConfigurationRecorder";
pub const READS: &[&str] = &[
    "config:DescribeConfigurationRecorders",
    "config:DescribeConfigurationRecorderStatus",
];

pub async fn list(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let cfg = &at.clients.config;
    let recorders = cfg
        .describe_configuration_recorders()
        .send()
        .await
        .map_err(|e| aws_error("config:DescribeConfigurationRecorders", "recorders", &e))?;
    let status = cfg
        .describe_configuration_recorder_status()
        .send()
        .await
        .map_err(|e| {
            aws_error(
                "config:DescribeConfigurationRecorderStatus",
                "recorders",
                &e,
            )
        })?;
    let mut out = Vec::new();
    for r in recorders.configuration_recorders() {
        let Some(name) = r.name() else { continue };
        let recording = status
            .configuration_recorders_status()
            .iter()
            .find(|s| s.name() == Some(name))
            .is_some_and(|s| s.recording());
        let group = r.recording_group().map(|g| {
            json!({
                "AllSupported": g.all_supported(),
                "IncludeGlobalResourceTypes": g.include_global_resource_types(),
                "ResourceTypes": g.resource_types().iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            })
        });
        let configuration = json!({
            "Name": name,
            "RoleARN": r.role_arn(),
            "Recording": recording,
            "RecordingGroup": group,
        });
        let arn = format!(
            "arn:aws:config:{}:{}:config-recorder/{name}",
            at.region, at.account
        );
        out.push(at.item(
            RECORDER,
            name,
            Some(name),
            Some(arn),
            BTreeMap::new(),
            configuration,
            Map::new(),
        )?);
    }
    Ok(out)
}
