//! Logging fixes: log group retention, VPC flow logs to S3, S3 server
//! access logging, and the AWS Config recorder.

use crate::setting::{Setter, Setting, aws, configure, text};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_ec2::types::{FlowLogsResourceType, LogDestinationType, TrafficType};
use aws_sdk_s3::types::{BucketLoggingStatus, LoggingEnabled};
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::services::{config_recorder::RECORDER, logs::LOG_GROUP, vpc::VPC};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![
        Setter::boxed(pool.clone(), Retention),
        Setter::boxed(pool.clone(), FlowLogs),
        Setter::boxed(pool.clone(), AccessLogging),
        Setter::boxed(pool, Recorder),
    ]
}

/// Log group retention of at least `days` (a group kept forever is left alone: it
/// keeps more than asked).
#[derive(Debug)]
pub struct Retention;

#[async_trait]
impl Setting for Retention {
    fn action(&self) -> &'static str {
        "logs:PutRetentionPolicy"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[LOG_GROUP]
    }
    fn properties(&self) -> ActionProperties {
        // Shorter retention deletes events; this only ever lengthens it.
        configure(Risk::Low, false)
    }
    fn operations(&self) -> Operations {
        Operations::one(
            &["logs:PutRetentionPolicy"],
            &["logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy"],
        )
    }
    fn parameters(&self) -> &'static [&'static str] {
        &["days"]
    }
    fn check(&self, params: &Value) -> Result<(), String> {
        match params.get("days") {
            None => Ok(()),
            Some(d) if d.as_i64().is_some_and(|d| d > 0) => Ok(()),
            Some(_) => Err("`days` must be a positive number of days".into()),
        }
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        json!({"retentionInDays": ci.configuration.get("retentionInDays").and_then(Value::as_i64)})
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        let days = params.get("days").and_then(Value::as_i64).unwrap_or(365);
        match facet["retentionInDays"].as_i64() {
            // Never expiring keeps everything; a longer period is kept too.
            None => facet.clone(),
            Some(n) if n >= days => facet.clone(),
            Some(_) => json!({"retentionInDays": days}),
        }
    }
    /// `PutRetentionPolicy` of `to`'s days; none: `DeleteRetentionPolicy`.
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let req = match to["retentionInDays"]
            .as_i64()
            .and_then(|d| i32::try_from(d).ok())
        {
            Some(days) => CliRequest::new(
                "logs",
                "put-retention-policy",
                json!({"logGroupName": r.resource_id, "retentionInDays": days}),
            ),
            None => CliRequest::new(
                "logs",
                "delete-retention-policy",
                json!({"logGroupName": r.resource_id}),
            ),
        };
        vec![req]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        match to["retentionInDays"]
            .as_i64()
            .and_then(|d| i32::try_from(d).ok())
        {
            Some(days) => c
                .logs
                .put_retention_policy()
                .log_group_name(&r.resource_id)
                .retention_in_days(days)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("logs:PutRetentionPolicy", r, &e)),
            None => c
                .logs
                .delete_retention_policy()
                .log_group_name(&r.resource_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("logs:DeleteRetentionPolicy", r, &e)),
        }
    }
}

/// VPC flow logs (all traffic) to the configured S3 bucket. The rollback deletes the
/// flow logs on the VPC, which had none before.
#[derive(Debug)]
pub struct FlowLogs;

#[async_trait]
impl Setting for FlowLogs {
    fn action(&self) -> &'static str {
        "ec2:CreateFlowLogs"
    }
    fn rollback_action(&self) -> &'static str {
        "ec2:DeleteFlowLogs"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[VPC]
    }
    fn properties(&self) -> ActionProperties {
        // Costs money (delivery and storage), changes nothing the VPC's traffic sees.
        configure(Risk::Low, false)
    }
    fn operations(&self) -> Operations {
        Operations {
            read: &["ec2:DescribeFlowLogs"],
            write: &["ec2:CreateFlowLogs"],
            rollback: &["ec2:DeleteFlowLogs"],
            // Flow logs to S3 (Amazon VPC User Guide, "IAM permissions for the IAM
            // principal" of flow logs published to Amazon S3).
            needs: &["logs:CreateLogDelivery", "logs:DeleteLogDelivery"],
        }
    }
    fn parameters(&self) -> &'static [&'static str] {
        &["destination"]
    }
    fn check(&self, params: &Value) -> Result<(), String> {
        match text(params, "destination") {
            Some(d) if !d.starts_with("arn:aws:s3:::") => {
                Err(format!("`destination` `{d}` must be an S3 bucket ARN"))
            }
            _ => Ok(()),
        }
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let logging = ci
            .supplementary_configuration
            .get("FlowLogs")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        json!({"flowLogs": logging})
    }
    fn desired(&self, _facet: &Value, _params: &Value) -> Value {
        json!({"flowLogs": true})
    }
    /// `CreateFlowLogs` to the configured destination. None when `put` would send
    /// nothing (no `destination`), nor for the removal, whose flow log ids `put` looks up
    /// at call time.
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        if to["flowLogs"] != true {
            return Vec::new();
        }
        let Some(destination) = text(params, "destination") else {
            return Vec::new();
        };
        vec![CliRequest::new(
            "ec2",
            "create-flow-logs",
            json!({
                "ResourceIds": [r.resource_id],
                "ResourceType": FlowLogsResourceType::Vpc.as_str(),
                "TrafficType": TrafficType::All.as_str(),
                "LogDestinationType": LogDestinationType::S3.as_str(),
                "LogDestination": destination,
            }),
        )]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        params: &Value,
    ) -> Result<(), ExecError> {
        if to["flowLogs"] == true {
            let destination = text(params, "destination").ok_or_else(|| ExecError::Params {
                action: self.action().into(),
                message: "no `destination`: set `[controls] flow_log_destination`".into(),
            })?;
            let out = c
                .ec2
                .create_flow_logs()
                .resource_ids(&r.resource_id)
                .resource_type(FlowLogsResourceType::Vpc)
                .traffic_type(TrafficType::All)
                .log_destination_type(LogDestinationType::S3)
                .log_destination(destination)
                .send()
                .await
                .map_err(|e| aws("ec2:CreateFlowLogs", r, &e))?;
            if let Some(u) = out.unsuccessful().first() {
                return Err(ExecError::Aws {
                    operation: "ec2:CreateFlowLogs",
                    resource: r.resource_id.clone(),
                    message: format!("{:?}", u.error()),
                });
            }
            return Ok(());
        }
        let listed = c
            .ec2
            .describe_flow_logs()
            .filter(
                aws_sdk_ec2::types::Filter::builder()
                    .name("resource-id")
                    .values(&r.resource_id)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws("ec2:DescribeFlowLogs", r, &e))?;
        let ids: Vec<String> = listed
            .flow_logs()
            .iter()
            .filter_map(|f| f.flow_log_id().map(str::to_string))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        c.ec2
            .delete_flow_logs()
            .set_flow_log_ids(Some(ids))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("ec2:DeleteFlowLogs", r, &e))
    }
}

/// S3 server access logging to the configured bucket, under the prefix `<bucket>/`.
#[derive(Debug)]
pub struct AccessLogging;

#[async_trait]
impl Setting for AccessLogging {
    fn action(&self) -> &'static str {
        "s3:PutBucketLogging"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &["AWS::S3::Bucket"]
    }
    fn properties(&self) -> ActionProperties {
        configure(Risk::Low, false)
    }
    fn operations(&self) -> Operations {
        Operations::one(&["s3:PutBucketLogging"], &["s3:PutBucketLogging"])
    }
    fn parameters(&self) -> &'static [&'static str] {
        &["targetBucket"]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let l = ci
            .supplementary_configuration
            .get("BucketLoggingConfiguration");
        json!({
            "bucket": ci.resource_id,
            "targetBucket": l.and_then(|l| l.get("destinationBucketName")).and_then(Value::as_str),
            "targetPrefix": l.and_then(|l| l.get("logFilePrefix")).and_then(Value::as_str),
        })
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        if !facet["targetBucket"].is_null() {
            return facet.clone();
        }
        match text(params, "targetBucket") {
            Some(t) => json!({
                "bucket": facet["bucket"],
                "targetBucket": t,
                "targetPrefix": format!("{}/", facet["bucket"].as_str().unwrap_or_default()),
            }),
            None => facet.clone(),
        }
    }
    /// `PutBucketLogging` to `to`'s target; none: logging off (an empty status).
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let status = match to["targetBucket"].as_str() {
            Some(t) => json!({"LoggingEnabled": {
                "TargetBucket": t,
                "TargetPrefix": to["targetPrefix"].as_str().unwrap_or(""),
            }}),
            None => json!({}),
        };
        vec![CliRequest::new(
            "s3api",
            "put-bucket-logging",
            json!({"Bucket": r.resource_id, "BucketLoggingStatus": status}),
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
        let status = match to["targetBucket"].as_str() {
            Some(t) => {
                let prefix = to["targetPrefix"].as_str().unwrap_or("");
                let enabled = LoggingEnabled::builder()
                    .target_bucket(t)
                    .target_prefix(prefix)
                    .build()
                    .map_err(|e| ExecError::Params {
                        action: self.action().into(),
                        message: e.to_string(),
                    })?;
                BucketLoggingStatus::builder()
                    .logging_enabled(enabled)
                    .build()
            }
            None => BucketLoggingStatus::builder().build(),
        };
        c.s3.put_bucket_logging()
            .bucket(&r.resource_id)
            .bucket_logging_status(status)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("s3:PutBucketLogging", r, &e))
    }
}

/// Start a stopped AWS Config recorder (Config.1). Human: recording costs money.
#[derive(Debug)]
pub struct Recorder;

#[async_trait]
impl Setting for Recorder {
    fn action(&self) -> &'static str {
        "config:StartConfigurationRecorder"
    }
    fn rollback_action(&self) -> &'static str {
        "config:StopConfigurationRecorder"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[RECORDER]
    }
    fn properties(&self) -> ActionProperties {
        configure(Risk::Low, true)
    }
    fn operations(&self) -> Operations {
        Operations::one(
            &["config:StartConfigurationRecorder"],
            &["config:StopConfigurationRecorder"],
        )
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        json!({"Recording": ci.configuration.get("Recording").and_then(Value::as_bool).unwrap_or(false)})
    }
    fn desired(&self, _facet: &Value, _params: &Value) -> Value {
        json!({"Recording": true})
    }
    /// `StartConfigurationRecorder`, or `StopConfigurationRecorder` to stop it.
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let operation = if to["Recording"] == true {
            "start-configuration-recorder"
        } else {
            "stop-configuration-recorder"
        };
        vec![CliRequest::new(
            "configservice",
            operation,
            json!({"ConfigurationRecorderName": r.resource_id}),
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
        if to["Recording"] == true {
            c.config
                .start_configuration_recorder()
                .configuration_recorder_name(&r.resource_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("config:StartConfigurationRecorder", r, &e))
        } else {
            c.config
                .stop_configuration_recorder()
                .configuration_recorder_name(&r.resource_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("config:StopConfigurationRecorder", r, &e))
        }
    }
}
