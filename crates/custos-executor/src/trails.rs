//! CloudTrail fixes (FSBP CloudTrail.1, .2, .4; CIS 3.1, 3.2, 3.5) and KMS key rotation
//! (KMS.4, CIS 3.6). Starting logging, widening a trail to every region and selecting
//! every management event cost money: a person approves them (class `human`).

use crate::setting::{Setter, Setting, aws, configure, text};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_cloudtrail::types::{EventSelector, ReadWriteType};
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::services::{cloudtrail::TRAIL, kms::KEY};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![
        Setter::boxed(pool.clone(), Trail::LogFileValidation),
        Setter::boxed(pool.clone(), Trail::Encryption),
        Setter::boxed(pool.clone(), Trail::MultiRegion),
        Setter::boxed(pool.clone(), Logging),
        Setter::boxed(pool.clone(), ManagementEvents),
        Setter::boxed(pool, KeyRotation),
    ]
}

const UPDATE: Operations =
    Operations::one(&["cloudtrail:UpdateTrail"], &["cloudtrail:UpdateTrail"]);

/// The trail settings changed through UpdateTrail.
#[derive(Debug, Clone, Copy)]
pub enum Trail {
    /// Log file integrity validation (CloudTrail.4, CIS 3.2).
    LogFileValidation,
    /// Log files encrypted with the configured KMS key (CloudTrail.2, CIS 3.5).
    Encryption,
    /// Every region and global service events (CloudTrail.1, CIS 3.1).
    MultiRegion,
}

/// The key id UpdateTrail sends for facet `to` (empty: encryption off).
fn kms_key(to: &Value) -> &str {
    to["kmsKeyId"].as_str().unwrap_or("")
}

fn flag(ci: &ConfigurationItem, k: &str) -> bool {
    ci.configuration
        .get(k)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

#[async_trait]
impl Setting for Trail {
    fn action(&self) -> &'static str {
        match self {
            Trail::LogFileValidation => "cloudtrail:UpdateTrail/log-file-validation",
            Trail::Encryption => "cloudtrail:UpdateTrail/kms-key",
            Trail::MultiRegion => "cloudtrail:UpdateTrail/multi-region",
        }
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[TRAIL]
    }
    fn properties(&self) -> ActionProperties {
        match self {
            Trail::LogFileValidation => configure(Risk::Low, false),
            // Delivery fails if the key policy does not let CloudTrail use the key.
            Trail::Encryption => configure(Risk::Medium, false),
            Trail::MultiRegion => configure(Risk::Medium, true),
        }
    }
    fn operations(&self) -> Operations {
        UPDATE
    }
    fn parameters(&self) -> &'static [&'static str] {
        match self {
            Trail::Encryption => &["kmsKeyId"],
            _ => &[],
        }
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        match self {
            Trail::LogFileValidation => {
                json!({"logFileValidationEnabled": flag(ci, "logFileValidationEnabled")})
            }
            Trail::Encryption => {
                json!({"kmsKeyId": ci.configuration.get("kmsKeyId").and_then(Value::as_str)})
            }
            Trail::MultiRegion => json!({
                "isMultiRegionTrail": flag(ci, "isMultiRegionTrail"),
                "includeGlobalServiceEvents": flag(ci, "includeGlobalServiceEvents"),
            }),
        }
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        match self {
            Trail::LogFileValidation => json!({"logFileValidationEnabled": true}),
            Trail::Encryption => match text(params, "kmsKeyId") {
                Some(k) if facet["kmsKeyId"].is_null() => json!({"kmsKeyId": k}),
                _ => facet.clone(),
            },
            Trail::MultiRegion => {
                json!({"isMultiRegionTrail": true, "includeGlobalServiceEvents": true})
            }
        }
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let input = match self {
            Trail::LogFileValidation => json!({
                "Name": r.resource_id,
                "EnableLogFileValidation": to["logFileValidationEnabled"] == true,
            }),
            Trail::Encryption => json!({"Name": r.resource_id, "KmsKeyId": kms_key(to)}),
            Trail::MultiRegion => json!({
                "Name": r.resource_id,
                "IsMultiRegionTrail": to["isMultiRegionTrail"] == true,
                "IncludeGlobalServiceEvents": to["includeGlobalServiceEvents"] == true,
            }),
        };
        vec![CliRequest::new("cloudtrail", "update-trail", input)]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        let req = c.cloudtrail.update_trail().name(&r.resource_id);
        let req = match self {
            Trail::LogFileValidation => {
                req.enable_log_file_validation(to["logFileValidationEnabled"] == true)
            }
            // An empty key id turns KMS encryption off again.
            Trail::Encryption => req.kms_key_id(kms_key(to)),
            Trail::MultiRegion => req
                .is_multi_region_trail(to["isMultiRegionTrail"] == true)
                .include_global_service_events(to["includeGlobalServiceEvents"] == true),
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| aws("cloudtrail:UpdateTrail", r, &e))
    }
}

/// A trail that exists and is not logging starts logging (CloudTrail.1).
#[derive(Debug)]
pub struct Logging;

#[async_trait]
impl Setting for Logging {
    fn action(&self) -> &'static str {
        "cloudtrail:StartLogging"
    }
    fn rollback_action(&self) -> &'static str {
        "cloudtrail:StopLogging"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[TRAIL]
    }
    fn properties(&self) -> ActionProperties {
        configure(Risk::Low, true)
    }
    fn operations(&self) -> Operations {
        Operations::one(&["cloudtrail:StartLogging"], &["cloudtrail:StopLogging"])
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let logging = ci
            .supplementary_configuration
            .get("TrailStatus")
            .and_then(|s| s.get("isLogging"))
            .and_then(Value::as_bool);
        json!({"isLogging": logging})
    }
    fn desired(&self, _facet: &Value, _params: &Value) -> Value {
        json!({"isLogging": true})
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let operation = if to["isLogging"] == true {
            "start-logging"
        } else {
            "stop-logging"
        };
        vec![CliRequest::new(
            "cloudtrail",
            operation,
            json!({"Name": r.resource_id}),
        )]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        if to["isLogging"] == true {
            c.cloudtrail
                .start_logging()
                .name(&r.resource_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("cloudtrail:StartLogging", r, &e))
        } else {
            c.cloudtrail
                .stop_logging()
                .name(&r.resource_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("cloudtrail:StopLogging", r, &e))
        }
    }
}

/// Basic event selectors that record every management event, reads and writes (CIS
/// 3.1). Trails with advanced selectors are a person's to change.
#[derive(Debug)]
pub struct ManagementEvents;

/// The selectors PutEventSelectors sends for facet `to`: each one's read/write type and
/// whether it includes management events.
fn selector_fields(to: &Value) -> Vec<(&str, bool)> {
    to["eventSelectors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["readWriteType"].as_str().unwrap_or("All"),
                s["includeManagementEvents"] != false,
            )
        })
        .collect()
}

fn selectors(to: &Value) -> Vec<EventSelector> {
    selector_fields(to)
        .into_iter()
        .map(|(read_write, management)| {
            EventSelector::builder()
                .read_write_type(ReadWriteType::from(read_write))
                .include_management_events(management)
                .build()
        })
        .collect()
}

#[async_trait]
impl Setting for ManagementEvents {
    fn action(&self) -> &'static str {
        "cloudtrail:PutEventSelectors"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[TRAIL]
    }
    fn properties(&self) -> ActionProperties {
        configure(Risk::Low, true)
    }
    fn operations(&self) -> Operations {
        Operations::one(
            &["cloudtrail:PutEventSelectors"],
            &["cloudtrail:PutEventSelectors"],
        )
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let s = ci.supplementary_configuration.get("EventSelectors");
        json!({"eventSelectors": s.and_then(|s| s.get("eventSelectors")).cloned().unwrap_or(json!([]))})
    }
    fn desired(&self, facet: &Value, _params: &Value) -> Value {
        let all = facet["eventSelectors"].as_array().is_some_and(|a| {
            a.iter()
                .any(|s| s["readWriteType"] == "All" && s["includeManagementEvents"] == true)
        });
        if all {
            facet.clone()
        } else {
            json!({"eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true}]})
        }
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let selectors: Vec<Value> = selector_fields(to)
            .into_iter()
            .map(|(read_write, management)| {
                json!({"ReadWriteType": read_write, "IncludeManagementEvents": management})
            })
            .collect();
        vec![CliRequest::new(
            "cloudtrail",
            "put-event-selectors",
            json!({"TrailName": r.resource_id, "EventSelectors": selectors}),
        )]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        c.cloudtrail
            .put_event_selectors()
            .trail_name(&r.resource_id)
            .set_event_selectors(Some(selectors(to)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("cloudtrail:PutEventSelectors", r, &e))
    }
}

/// Yearly automatic rotation of a customer managed symmetric key (KMS.4). Human: the
/// floor never automates the `kms` class.
#[derive(Debug)]
pub struct KeyRotation;

#[async_trait]
impl Setting for KeyRotation {
    fn action(&self) -> &'static str {
        "kms:EnableKeyRotation"
    }
    fn rollback_action(&self) -> &'static str {
        "kms:DisableKeyRotation"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[KEY]
    }
    fn properties(&self) -> ActionProperties {
        configure(Risk::Low, true)
    }
    fn operations(&self) -> Operations {
        Operations::one(&["kms:EnableKeyRotation"], &["kms:DisableKeyRotation"])
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        json!({"KeyRotationStatus": ci.supplementary_configuration.get("KeyRotationStatus").and_then(Value::as_bool).unwrap_or(false)})
    }
    fn desired(&self, _facet: &Value, _params: &Value) -> Value {
        json!({"KeyRotationStatus": true})
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let operation = if to["KeyRotationStatus"] == true {
            "enable-key-rotation"
        } else {
            "disable-key-rotation"
        };
        vec![CliRequest::new(
            "kms",
            operation,
            json!({"KeyId": r.resource_id}),
        )]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        if to["KeyRotationStatus"] == true {
            c.kms
                .enable_key_rotation()
                .key_id(&r.resource_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("kms:EnableKeyRotation", r, &e))
        } else {
            c.kms
                .disable_key_rotation()
                .key_id(&r.resource_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("kms:DisableKeyRotation", r, &e))
        }
    }
}
