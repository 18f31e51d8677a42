//! KMS keys (`AWS::KMS::Key`, resource id the key id). Config records the rotation
//! status as `supplementaryConfiguration.KeyRotationStatus`; it is read for customer
//! managed symmetric keys, the only ones whose rotation can be turned on.

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::error_code;
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const KEY: &str = "AWS::KMS::Key";
pub const READS: &[&str] = &[
    "kms:ListKeys",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
];

pub async fn list(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut ids = Vec::new();
    let mut marker = None;
    loop {
        let page = at
            .clients
            .kms
            .list_keys()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("kms:ListKeys", "keys", &e))?;
        ids.extend(
            page.keys()
                .iter()
                .filter_map(|k| k.key_id().map(str::to_string)),
        );
        marker = page.next_marker().map(str::to_string);
        if !page.truncated() || marker.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for id in ids {
        if let Some(ci) = read(at, &id).await? {
            out.push(ci);
        }
    }
    Ok(out)
}

fn time(t: Option<&aws_sdk_kms::primitives::DateTime>) -> Option<String> {
    t.and_then(|t| {
        t.fmt(aws_sdk_kms::primitives::DateTimeFormat::DateTime)
            .ok()
    })
}

/// One key; `None` when it does not exist.
pub async fn read(at: &At, id: &str) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let kms = &at.clients.kms;
    let described = match kms.describe_key().key_id(id).send().await {
        Ok(d) => d,
        Err(e) if error_code(&e) == Some("NotFoundException") => return Ok(None),
        Err(e) => return Err(aws_error("kms:DescribeKey", id, &e)),
    };
    let Some(m) = described.key_metadata() else {
        return Ok(None);
    };
    let mut cfg = Map::new();
    cfg.insert("keyId".into(), json!(m.key_id()));
    put(&mut cfg, "arn", m.arn());
    put(&mut cfg, "awsaccountId", m.aws_account_id());
    put(&mut cfg, "creationDate", time(m.creation_date()));
    put(&mut cfg, "deletionDate", time(m.deletion_date()));
    put(&mut cfg, "description", m.description());
    cfg.insert("enabled".into(), json!(m.enabled()));
    put(&mut cfg, "keyManager", m.key_manager().map(|k| k.as_str()));
    put(&mut cfg, "keySpec", m.key_spec().map(|k| k.as_str()));
    put(&mut cfg, "keyState", m.key_state().map(|k| k.as_str()));
    put(&mut cfg, "keyUsage", m.key_usage().map(|k| k.as_str()));
    put(&mut cfg, "origin", m.origin().map(|k| k.as_str()));
    put(&mut cfg, "multiRegion", m.multi_region());
    put(
        &mut cfg,
        "pendingDeletionWindowInDays",
        m.pending_deletion_window_in_days(),
    );
    let customer = m.key_manager().map(|k| k.as_str()) == Some("CUSTOMER");
    let symmetric = m.key_spec().map(|k| k.as_str()) == Some("SYMMETRIC_DEFAULT");
    let live = m.key_state().map(|k| k.as_str()) == Some("Enabled");
    let mut supp = Map::new();
    let mut tags = BTreeMap::new();
    if customer {
        if symmetric && live {
            let rotation = kms
                .get_key_rotation_status()
                .key_id(id)
                .send()
                .await
                .map_err(|e| aws_error("kms:GetKeyRotationStatus", id, &e))?;
            supp.insert(
                "KeyRotationStatus".into(),
                json!(rotation.key_rotation_enabled()),
            );
        }
        let listed = kms
            .list_resource_tags()
            .key_id(id)
            .send()
            .await
            .map_err(|e| aws_error("kms:ListResourceTags", id, &e))?;
        tags = listed
            .tags()
            .iter()
            .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
            .collect();
    }
    let arn = m.arn().map(str::to_string);
    at.item(KEY, m.key_id(), None, arn, tags, Value::Object(cfg), supp)
        .map(Some)
}
