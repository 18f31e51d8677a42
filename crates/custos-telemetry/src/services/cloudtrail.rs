//! CloudTrail trails (`AWS::CloudTrail::Trail`, resource id the trail name). Config's
//! item holds the trail's settings; whether it is logging and which events it selects
//! are not in it, so custos adds `supplementaryConfiguration.TrailStatus.isLogging`
//! (GetTrailStatus) and `supplementaryConfiguration.EventSelectors` (GetEventSelectors).
//! The controls treat an absent status as unknown, never as "off", so an item from
//! Config itself raises no finding the live read would not.

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::error_code;
use aws_sdk_cloudtrail::types::Trail;
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const TRAIL: &str = "AWS::CloudTrail::Trail";
pub const READS: &[&str] = &[
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "cloudtrail:ListTags",
];

pub async fn list(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let trails = at
        .clients
        .cloudtrail
        .describe_trails()
        .include_shadow_trails(false)
        .send()
        .await
        .map_err(|e| aws_error("cloudtrail:DescribeTrails", "trails", &e))?;
    let mut out = Vec::new();
    for t in trails.trail_list() {
        if let Some(ci) = item(at, t).await? {
            out.push(ci);
        }
    }
    Ok(out)
}

/// One trail by name; `None` when it does not exist (in this region).
pub async fn read(at: &At, name: &str) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let trails = at
        .clients
        .cloudtrail
        .describe_trails()
        .trail_name_list(name)
        .include_shadow_trails(false)
        .send()
        .await
        .map_err(|e| aws_error("cloudtrail:DescribeTrails", name, &e))?;
    match trails.trail_list().iter().find(|t| t.name() == Some(name)) {
        Some(t) => item(at, t).await,
        None => Ok(None),
    }
}

async fn item(at: &At, t: &Trail) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let Some(name) = t.name() else {
        return Ok(None);
    };
    let ct = &at.clients.cloudtrail;
    let gone = |code: Option<&str>| code == Some("TrailNotFoundException");
    let status = match ct.get_trail_status().name(name).send().await {
        Ok(s) => s,
        Err(e) if gone(error_code(&e)) => return Ok(None),
        Err(e) => return Err(aws_error("cloudtrail:GetTrailStatus", name, &e)),
    };
    let selectors = match ct.get_event_selectors().trail_name(name).send().await {
        Ok(s) => s,
        Err(e) if gone(error_code(&e)) => return Ok(None),
        Err(e) => return Err(aws_error("cloudtrail:GetEventSelectors", name, &e)),
    };
    let mut tags = BTreeMap::new();
    if let Some(arn) = t.trail_arn() {
        let listed = match ct.list_tags().resource_id_list(arn).send().await {
            Ok(l) => l,
            Err(e) if gone(error_code(&e)) => return Ok(None),
            Err(e) => return Err(aws_error("cloudtrail:ListTags", name, &e)),
        };
        for r in listed.resource_tag_list() {
            for tag in r.tags_list() {
                tags.insert(tag.key().to_string(), tag.value().unwrap_or("").to_string());
            }
        }
    }
    let mut cfg = Map::new();
    cfg.insert("name".into(), json!(name));
    put(&mut cfg, "trailARN", t.trail_arn());
    put(&mut cfg, "s3BucketName", t.s3_bucket_name());
    put(&mut cfg, "s3KeyPrefix", t.s3_key_prefix());
    put(&mut cfg, "snsTopicARN", t.sns_topic_arn());
    put(&mut cfg, "homeRegion", t.home_region());
    // An empty key id (what UpdateTrail is given to turn KMS off) is no key.
    put(
        &mut cfg,
        "kmsKeyId",
        t.kms_key_id().filter(|k| !k.is_empty()),
    );
    put(
        &mut cfg,
        "cloudWatchLogsLogGroupArn",
        t.cloud_watch_logs_log_group_arn(),
    );
    put(
        &mut cfg,
        "cloudWatchLogsRoleArn",
        t.cloud_watch_logs_role_arn(),
    );
    cfg.insert(
        "includeGlobalServiceEvents".into(),
        json!(t.include_global_service_events().unwrap_or(false)),
    );
    cfg.insert(
        "isMultiRegionTrail".into(),
        json!(t.is_multi_region_trail().unwrap_or(false)),
    );
    cfg.insert(
        "logFileValidationEnabled".into(),
        json!(t.log_file_validation_enabled().unwrap_or(false)),
    );
    cfg.insert(
        "hasCustomEventSelectors".into(),
        json!(t.has_custom_event_selectors().unwrap_or(false)),
    );
    cfg.insert(
        "hasInsightSelectors".into(),
        json!(t.has_insight_selectors().unwrap_or(false)),
    );
    cfg.insert(
        "isOrganizationTrail".into(),
        json!(t.is_organization_trail().unwrap_or(false)),
    );
    let mut supp = Map::new();
    supp.insert(
        "TrailStatus".into(),
        json!({"isLogging": status.is_logging().unwrap_or(false)}),
    );
    let basic: Vec<Value> = selectors
        .event_selectors()
        .iter()
        .map(|s| {
            json!({
                "readWriteType": s.read_write_type().map_or("All", |r| r.as_str()),
                "includeManagementEvents": s.include_management_events().unwrap_or(true),
            })
        })
        .collect();
    // Advanced selectors are kept by count only: a control that needs them says so.
    supp.insert(
        "EventSelectors".into(),
        json!({"eventSelectors": basic, "advancedEventSelectors": selectors.advanced_event_selectors().len()}),
    );
    at.item(
        TRAIL,
        name,
        Some(name),
        t.trail_arn().map(str::to_string),
        tags,
        Value::Object(cfg),
        supp,
    )
    .map(Some)
}
