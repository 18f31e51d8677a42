//! AWS Config configuration items, normalized and validated.
//!
//! Every source (describe scans, replay files, SQS change events) produces the same
//! [`ConfigurationItem`], so the rest of the pipeline cannot tell them apart. Data in a
//! configuration item comes from the account and is untrusted: it is size-limited here and
//! never interpreted as instructions anywhere.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Largest configuration item accepted, in bytes of JSON (AWS Config's own limit for an
/// inline item in a notification is 256 KiB; larger ones arrive as oversized summaries).
pub const MAX_ITEM_BYTES: usize = 1024 * 1024;
/// AWS limits tag keys to 128 and values to 256 characters; more is hostile or corrupt.
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
pub const MAX_TAGS: usize = 50;
/// How far a resource's creation time may lie after the item's capture time (clocks of
/// different readers differ by seconds; more is forged or corrupt).
pub const CREATION_SKEW_MINUTES: i64 = 15;

/// Identity of one cloud resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceRef {
    pub account: String,
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
}

impl ResourceRef {
    /// The short resource class used for autonomy settings, e.g. `s3` for `AWS::S3::Bucket`.
    pub fn class(&self) -> String {
        resource_class(&self.resource_type)
    }
}

/// `AWS::S3::Bucket` -> `s3`, `AWS::EC2::SecurityGroup` -> `ec2`.
/// `AWS::::Account` (account-level settings) -> `account`.
pub fn resource_class(resource_type: &str) -> String {
    let mut parts = resource_type.split("::");
    let service = parts.nth(1).unwrap_or(resource_type);
    if service.is_empty() {
        parts.next().unwrap_or(resource_type).to_ascii_lowercase()
    } else {
        service.to_ascii_lowercase()
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}/{})",
            self.resource_type, self.resource_id, self.account, self.region
        )
    }
}

/// One AWS Config configuration item (the fields custos uses; names follow AWS Config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_item_version: Option<String>,
    pub configuration_item_capture_time: DateTime<Utc>,
    pub configuration_item_status: String,
    pub aws_account_id: String,
    pub aws_region: String,
    pub resource_type: String,
    pub resource_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// When the resource was created, as AWS Config records it (`None`: not recorded,
    /// as for a security group, or an item from a scanner whose API does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_creation_time: Option<DateTime<Utc>>,
    #[serde(rename = "ARN", default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub configuration: Value,
    #[serde(default)]
    pub supplementary_configuration: Map<String, Value>,
    /// AWS Config relationships (`resourceType`, `resourceId`, `name`), as delivered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<Value>,
}

/// Why a configuration item was rejected: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct CiError {
    pub field: String,
    pub message: String,
}

impl CiError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        CiError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl ConfigurationItem {
    pub fn resource_ref(&self) -> ResourceRef {
        ResourceRef {
            account: self.aws_account_id.clone(),
            region: self.aws_region.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
        }
    }

    /// The item is a deletion notice: there is nothing left to remediate.
    pub fn is_deleted(&self) -> bool {
        matches!(
            self.configuration_item_status.as_str(),
            "ResourceDeleted" | "ResourceDeletedNotRecorded"
        )
    }

    /// Serialize to the AWS Config JSON shape.
    /// Resource types of the related resources.
    pub fn related_types(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .relationships
            .iter()
            .filter_map(|r| {
                r.get("resourceType")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Validate and normalize one configuration item from its AWS Config JSON.
    ///
    /// Accepts what AWS emits: tags as a map or as `[{key, value}]`, supplementary
    /// configuration values as objects or as JSON-encoded strings (the Config API form).
    pub fn from_json(value: &Value) -> Result<Self, CiError> {
        let obj = value
            .as_object()
            .ok_or_else(|| CiError::new("configurationItem", "expected a JSON object"))?;
        let size = value.to_string().len();
        if size > MAX_ITEM_BYTES {
            return Err(CiError::new(
                "configurationItem",
                format!("item is {size} bytes, more than the limit of {MAX_ITEM_BYTES}"),
            ));
        }
        let req = |name: &str| -> Result<String, CiError> {
            match obj.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(Value::String(_)) => Err(CiError::new(name, "must not be empty")),
                Some(other) => Err(CiError::new(
                    name,
                    format!("expected a string, got {}", json_kind(other)),
                )),
                None => Err(CiError::new(name, "missing")),
            }
        };
        let opt = |name: &str| -> Result<Option<String>, CiError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(CiError::new(
                    name,
                    format!("expected a string, got {}", json_kind(other)),
                )),
            }
        };

        let resource_type = req("resourceType")?;
        // `Custos::Service::Type`: custos's own types, for what AWS Config records no item
        // for (IAM's account settings).
        if !(resource_type.starts_with("AWS::") || resource_type.starts_with("Custos::"))
            || resource_type.split("::").count() != 3
        {
            return Err(CiError::new(
                "resourceType",
                format!(
                    "expected `AWS::Service::Type`, got `{}`",
                    truncate(&resource_type, 80)
                ),
            ));
        }
        let resource_id = req("resourceId")?;
        let aws_account_id = req("awsAccountId")?;
        if aws_account_id.len() != 12 || !aws_account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(CiError::new(
                "awsAccountId",
                format!(
                    "expected 12 digits, got `{}`",
                    truncate(&aws_account_id, 40)
                ),
            ));
        }
        let aws_region = req("awsRegion")?;
        let capture_raw = req("configurationItemCaptureTime")?;
        let configuration_item_capture_time = DateTime::parse_from_rfc3339(&capture_raw)
            .map_err(|e| {
                CiError::new(
                    "configurationItemCaptureTime",
                    format!(
                        "expected an RFC 3339 timestamp, got `{}` ({e})",
                        truncate(&capture_raw, 60)
                    ),
                )
            })?
            .with_timezone(&Utc);
        let configuration_item_status =
            opt("configurationItemStatus")?.unwrap_or_else(|| "OK".into());
        let resource_creation_time = opt("resourceCreationTime")?
            .map(|raw| {
                DateTime::parse_from_rfc3339(&raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        CiError::new(
                            "resourceCreationTime",
                            format!(
                                "expected an RFC 3339 timestamp, got `{}` ({e})",
                                truncate(&raw, 60)
                            ),
                        )
                    })
            })
            .transpose()?;
        // AWS Config captures a resource after it exists; a creation time well after the
        // capture is forged or corrupt (it would hold every fix in the grace period).
        if let Some(created) = resource_creation_time
            && created
                > configuration_item_capture_time + chrono::Duration::minutes(CREATION_SKEW_MINUTES)
        {
            return Err(CiError::new(
                "resourceCreationTime",
                format!(
                    "`{}` is more than {CREATION_SKEW_MINUTES} minutes after configurationItemCaptureTime `{}`",
                    created.to_rfc3339(),
                    configuration_item_capture_time.to_rfc3339()
                ),
            ));
        }

        let tags = parse_tags(obj.get("tags"))?;

        let configuration = match obj.get("configuration") {
            None | Some(Value::Null) => Value::Null,
            Some(Value::Object(m)) => Value::Object(m.clone()),
            Some(Value::String(s)) => serde_json::from_str::<Value>(s)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| CiError::new("configuration", "string is not a JSON object"))?,
            Some(other) => {
                return Err(CiError::new(
                    "configuration",
                    format!("expected an object, got {}", json_kind(other)),
                ));
            }
        };

        let mut supplementary_configuration = Map::new();
        match obj.get("supplementaryConfiguration") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let v = match v {
                        // The Config API delivers these as JSON-encoded strings.
                        Value::String(s) => {
                            serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                        }
                        other => other.clone(),
                    };
                    supplementary_configuration.insert(k.clone(), v);
                }
            }
            Some(other) => {
                return Err(CiError::new(
                    "supplementaryConfiguration",
                    format!("expected an object, got {}", json_kind(other)),
                ));
            }
        }

        Ok(ConfigurationItem {
            configuration_item_version: opt("configurationItemVersion")?,
            configuration_item_capture_time,
            configuration_item_status,
            aws_account_id,
            aws_region,
            resource_type,
            resource_id,
            resource_name: opt("resourceName")?,
            resource_creation_time,
            arn: opt("ARN")?.or(opt("arn")?),
            tags,
            configuration,
            supplementary_configuration,
            relationships: match obj.get("relationships") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter(|r| r.is_object())
                    .take(1000)
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            },
        })
    }
}

fn parse_tags(value: Option<&Value>) -> Result<BTreeMap<String, String>, CiError> {
    let mut tags = BTreeMap::new();
    let mut put = |k: &str, v: &Value, field: String| -> Result<(), CiError> {
        let v = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => {
                return Err(CiError::new(
                    field,
                    format!("tag value must be a string, got {}", json_kind(other)),
                ));
            }
        };
        if k.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(CiError::new(
                field,
                format!("tag key longer than {MAX_TAG_KEY_CHARS} characters"),
            ));
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(CiError::new(
                field,
                format!("tag value longer than {MAX_TAG_VALUE_CHARS} characters"),
            ));
        }
        tags.insert(k.to_string(), v);
        Ok(())
    };
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                put(k, v, format!("tags.{}", truncate(k, 40)))?;
            }
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let field = format!("tags[{i}]");
                let key = item
                    .get("key")
                    .or_else(|| item.get("Key"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| CiError::new(field.clone(), "missing string `key`"))?;
                let val = item
                    .get("value")
                    .or_else(|| item.get("Value"))
                    .unwrap_or(&Value::Null);
                put(key, val, field)?;
            }
        }
        Some(other) => {
            return Err(CiError::new(
                "tags",
                format!("expected an object or a list, got {}", json_kind(other)),
            ));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(CiError::new(
            "tags",
            format!("{} tags, more than the limit of {MAX_TAGS}", tags.len()),
        ));
    }
    Ok(tags)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Shorten untrusted text for error messages (on a character boundary).
pub fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max_chars).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "configurationItemCaptureTime": "2026-11-01T10:00:00.000Z",
            "configurationItemStatus": "OK",
            "awsAccountId": "123456789012",
            "awsRegion": "us-east-1",
            "resourceType": "AWS::S3::Bucket",
            "resourceId": "logs",
            "ARN": "arn:aws:s3:::logs",
            "tags": {"environment": "dev"},
            "configuration": {"name": "logs"},
            "supplementaryConfiguration": {
                "PublicAccessBlockConfiguration": "{\"blockPublicAcls\":true}"
            }
        })
    }

    #[test]
    fn parses_a_good_item_and_decodes_string_supplementary_values() {
        let ci = ConfigurationItem::from_json(&good()).unwrap();
        assert_eq!(ci.resource_ref().class(), "s3");
        assert_eq!(ci.tags["environment"], "dev");
        assert_eq!(
            ci.supplementary_configuration["PublicAccessBlockConfiguration"]["blockPublicAcls"],
            json!(true)
        );
        let round = ConfigurationItem::from_json(&ci.to_json()).unwrap();
        assert_eq!(round, ci);
    }

    #[test]
    fn the_creation_time_is_read_when_config_records_one() {
        let mut v = good();
        assert_eq!(
            ConfigurationItem::from_json(&v)
                .unwrap()
                .resource_creation_time,
            None
        );
        v["resourceCreationTime"] = Value::Null;
        assert_eq!(
            ConfigurationItem::from_json(&v)
                .unwrap()
                .resource_creation_time,
            None
        );
        v["resourceCreationTime"] = json!("2026-11-01T09:58:30.250+01:00");
        let ci = ConfigurationItem::from_json(&v).unwrap();
        assert_eq!(
            ci.resource_creation_time.map(|t| t.to_rfc3339()),
            Some("2026-11-01T08:58:30.250+00:00".to_string())
        );
        assert_eq!(ConfigurationItem::from_json(&ci.to_json()).unwrap(), ci);
    }

    #[test]
    fn tags_as_key_value_list() {
        let mut v = good();
        v["tags"] = json!([{"key": "a", "value": "1"}]);
        assert_eq!(ConfigurationItem::from_json(&v).unwrap().tags["a"], "1");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("resourceType", json!(5), "resourceType"),
            ("resourceType", json!("S3 bucket"), "resourceType"),
            ("awsAccountId", json!("12"), "awsAccountId"),
            (
                "configurationItemCaptureTime",
                json!("yesterday"),
                "configurationItemCaptureTime",
            ),
            ("tags", json!("x"), "tags"),
            ("configuration", json!([1]), "configuration"),
            (
                "resourceCreationTime",
                json!("last week"),
                "resourceCreationTime",
            ),
            (
                "resourceCreationTime",
                json!(1764000000),
                "resourceCreationTime",
            ),
            // 20 minutes after the capture time.
            (
                "resourceCreationTime",
                json!("2026-11-01T10:20:00Z"),
                "resourceCreationTime",
            ),
        ];
        for (field, bad, named) in cases {
            let mut v = good();
            v[field] = bad;
            let err = ConfigurationItem::from_json(&v).unwrap_err();
            assert_eq!(err.field, named, "{err}");
        }
        let mut v = good();
        v.as_object_mut().unwrap().remove("resourceId");
        assert_eq!(
            ConfigurationItem::from_json(&v).unwrap_err().to_string(),
            "field `resourceId`: missing"
        );
    }

    #[test]
    fn hostile_tags_are_bounded() {
        let mut v = good();
        v["tags"] = json!({"k": "x".repeat(300)});
        assert_eq!(
            ConfigurationItem::from_json(&v).unwrap_err().field,
            "tags.k"
        );
    }

    #[test]
    fn class_of_types() {
        assert_eq!(resource_class("AWS::EC2::SecurityGroup"), "ec2");
        assert_eq!(resource_class("AWS::::Account"), "account");
    }
}
