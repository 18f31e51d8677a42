//! The shape most fixes share: read a few fields of one resource (the facet), want them
//! set a certain way, and make it so with one request; a rollback is the same request
//! with the before values. A control's action implements [`Setting`] (what it reads,
//! wants, and which request moves the resource to a facet), and [`Setter`] turns it into
//! an [`Executor`] for the contract. Every request goes through the pool's clients for
//! mutating calls (sent once, never retried).

use crate::{Action, ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use custos_core::{ActionKind, ConfigurationItem, ResourceRef, Risk, RollbackStep};
use custos_telemetry::aws::{AwsPool, Clients};
use serde_json::Value;
use std::sync::Arc;

/// One fix that sets fields of a resource.
#[async_trait]
pub trait Setting: Send + Sync + std::fmt::Debug + 'static {
    /// Action id (the API operation the fix makes), e.g. `sqs:SetQueueAttributes`.
    fn action(&self) -> &'static str;
    /// The rollback step's name (often the same request).
    fn rollback_action(&self) -> &'static str {
        self.action()
    }
    fn resource_types(&self) -> &'static [&'static str];
    fn properties(&self) -> ActionProperties;
    fn operations(&self) -> Operations;
    /// Parameter names the playbook (and `custos.toml`) may set.
    fn parameters(&self) -> &'static [&'static str];
    /// Check parameter values (names are checked already).
    fn check(&self, params: &Value) -> Result<(), String> {
        let _ = params;
        Ok(())
    }
    /// The fields the fix changes, normalized, from an item.
    fn facet(&self, ci: &ConfigurationItem, params: &Value) -> Value;
    /// The facet the fix leaves.
    fn desired(&self, facet: &Value, params: &Value) -> Value;
    /// Whether the rollback returns exactly to `before`.
    fn exact(&self, before: &Value) -> bool {
        let _ = before;
        true
    }
    /// What a rollback to `before` leaves (`before` when exact).
    fn restored(&self, before: &Value) -> Value {
        before.clone()
    }
    /// See [`Action::subject`].
    fn subject(&self, before: &Value, desired: &Value) -> Option<String> {
        let _ = (before, desired);
        None
    }
    /// See [`Action::settling`].
    fn settling(&self, ci: &ConfigurationItem) -> Option<String> {
        let _ = ci;
        None
    }
    /// The request [`Setting::put`] sends to move the resource from `from` to `to`, as
    /// the AWS CLI takes it (see [`Action::cli`]).
    fn cli(
        &self,
        ci: &ConfigurationItem,
        from: &Value,
        to: &Value,
        params: &Value,
    ) -> Vec<CliRequest>;
    /// Move the resource to facet `to` with one mutating request (`from` is the facet
    /// read just before, for requests that need to know what is there).
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        from: &Value,
        to: &Value,
        params: &Value,
    ) -> Result<(), ExecError>;
}

/// A [`Setting`] over a pool: an [`Executor`].
#[derive(Debug)]
pub struct Setter<S: Setting> {
    pool: Arc<AwsPool>,
    setting: S,
}

impl<S: Setting> Setter<S> {
    pub fn boxed(pool: Arc<AwsPool>, setting: S) -> Arc<dyn Executor> {
        Arc::new(Setter { pool, setting })
    }
}

/// The SDK error of a request as an executor error naming the IAM action.
pub fn aws<E, R>(
    operation: &'static str,
    r: &ResourceRef,
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> ExecError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    ExecError::Aws {
        operation,
        resource: r.resource_id.clone(),
        message: custos_telemetry::aws::error_message(e),
    }
}

/// The properties of a reversible configuration change: its `risk`, and whether it always
/// needs an approval (the action of a `human` control).
pub fn configure(risk: Risk, requires_approval: bool) -> ActionProperties {
    ActionProperties {
        reversible: true,
        risk,
        kinds: vec![ActionKind::Configure],
        requires_approval,
    }
}

/// A string parameter, or `None` when absent or empty.
pub fn text<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

impl<S: Setting> Action for Setter<S> {
    fn action(&self) -> &'static str {
        self.setting.action()
    }
    fn resource_types(&self) -> &'static [&'static str] {
        self.setting.resource_types()
    }
    fn properties(&self) -> ActionProperties {
        self.setting.properties()
    }
    fn operations(&self) -> Operations {
        self.setting.operations()
    }
    fn validate_params(&self, params: &Value) -> Result<(), String> {
        let obj = params.as_object().ok_or("parameters must be a table")?;
        let allowed = self.setting.parameters();
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "unknown parameter `{k}` (known: {})",
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ));
        }
        self.setting.check(params)
    }
    fn facet(&self, ci: &ConfigurationItem) -> Value {
        self.setting.facet(ci, &Value::Null)
    }
    fn facet_for(&self, ci: &ConfigurationItem, params: &Value) -> Value {
        self.setting.facet(ci, params)
    }
    fn satisfied(&self, facet: &Value, params: &Value) -> bool {
        self.setting.desired(facet, params) == *facet
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        self.setting.desired(facet, params)
    }
    fn rollback_steps(&self, before: &Value) -> Vec<RollbackStep> {
        vec![RollbackStep {
            action: self.setting.rollback_action().into(),
            description: "set the fields back to their before values".into(),
            parameters: before.clone(),
            exact: self.setting.exact(before),
        }]
    }
    fn restored(&self, before: &Value) -> Value {
        self.setting.restored(before)
    }
    fn subject(&self, before: &Value, desired: &Value) -> Option<String> {
        self.setting.subject(before, desired)
    }
    fn settling(&self, ci: &ConfigurationItem) -> Option<String> {
        self.setting.settling(ci)
    }
    fn cli(&self, ci: &ConfigurationItem, params: &Value, before: &Value) -> Vec<CliRequest> {
        let to = self.setting.desired(before, params);
        self.setting.cli(ci, before, &to, params)
    }
}

#[async_trait]
impl<S: Setting> Executor for Setter<S> {
    async fn apply(
        &self,
        r: &ResourceRef,
        params: &Value,
        before: &Value,
    ) -> Result<Vec<String>, ExecError> {
        let to = self.setting.desired(before, params);
        let c = self.pool.once(&r.account, &r.region).await;
        self.setting.put(&c, r, before, &to, params).await?;
        Ok(vec![self.setting.action().to_string()])
    }

    async fn restore(&self, r: &ResourceRef, before: &Value) -> Result<Vec<String>, ExecError> {
        let c = self.pool.once(&r.account, &r.region).await;
        // `from`: what the fix left, as far as the record knows; a setting that needs
        // the live value reads it itself.
        self.setting
            .put(&c, r, &Value::Null, before, &Value::Null)
            .await?;
        Ok(vec![self.setting.rollback_action().to_string()])
    }
}
