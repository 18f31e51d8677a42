//! CloudWatch Logs log groups (`AWS::Logs::LogGroup`, resource id the group name).
//! The published Config schemas have no file for this type; the configuration uses
//! the API's names (`logGroupName`, `retentionInDays`, `kmsKeyId`), as Config's item
//! for it does.

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::error_code;
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};

pub const LOG_GROUP: &str = "AWS::Logs::LogGroup";
pub const READS: &[&str] = &["logs:DescribeLogGroups", "logs:ListTagsForResource"];

/// Every group, or the one named `only` (None when it does not exist).
pub async fn list(at: &At, only: Option<&str>) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let logs = &at.clients.logs;
    let mut groups = Vec::new();
    let mut token = None;
    loop {
        let page = logs
            .describe_log_groups()
            .set_log_group_name_prefix(only.map(str::to_string))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("logs:DescribeLogGroups", only.unwrap_or("log groups"), &e))?;
        groups.extend(page.log_groups().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for g in groups {
        let Some(name) = g.log_group_name() else {
            continue;
        };
        if only.is_some_and(|o| o != name) {
            continue;
        }
        // The ARN DescribeLogGroups gives ends in `:*`; tags are read by the bare one.
        let arn = g
            .log_group_arn()
            .map(str::to_string)
            .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()));
        let mut tags = std::collections::BTreeMap::new();
        if let Some(arn) = &arn {
            match logs.list_tags_for_resource().resource_arn(arn).send().await {
                Ok(t) => {
                    tags = t
                        .tags()
                        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default();
                }
                Err(e) if error_code(&e) == Some("ResourceNotFoundException") => continue,
                Err(e) => return Err(aws_error("logs:ListTagsForResource", name, &e)),
            }
        }
        let mut cfg = Map::new();
        cfg.insert("logGroupName".into(), json!(name));
        put(&mut cfg, "arn", arn.clone());
        put(&mut cfg, "retentionInDays", g.retention_in_days());
        put(&mut cfg, "kmsKeyId", g.kms_key_id());
        put(&mut cfg, "creationTime", g.creation_time());
        out.push(at.item(
            LOG_GROUP,
            name,
            Some(name),
            arn,
            tags,
            Value::Object(cfg),
            Map::new(),
        )?);
    }
    Ok(out)
}
