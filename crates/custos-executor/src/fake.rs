//! The executor's test double: a shipped action's pure side (facet, satisfied, desired,
//! rollback steps), its calls sent to a fake cloud the test keeps in memory.

use crate::{Action, ActionProperties, ExecError, Executor};
use async_trait::async_trait;
use custos_core::{ConfigurationItem, ResourceRef, RollbackStep};
use serde_json::Value;
use std::sync::Arc;

/// A cloud in memory that takes an action's calls.
#[async_trait]
pub trait FakeCloud: Send + Sync + std::fmt::Debug {
    /// The change (`restore_to` none), or a restore of the facet to `restore_to`. Returns
    /// the mutating calls made.
    async fn call(
        &self,
        resource: &ResourceRef,
        restore_to: Option<&Value>,
    ) -> Result<Vec<String>, ExecError>;
}

/// A shipped action whose calls go to a [`FakeCloud`].
#[derive(Debug)]
pub struct FakeExecutor {
    spec: Arc<dyn Action>,
    cloud: Arc<dyn FakeCloud>,
}

impl FakeExecutor {
    /// `None`: custos ships no action `action`.
    pub fn new(action: &str, cloud: Arc<dyn FakeCloud>) -> Option<FakeExecutor> {
        let spec = crate::offline_catalog().get(action)?.clone();
        Some(FakeExecutor { spec, cloud })
    }
}

impl Action for FakeExecutor {
    fn action(&self) -> &'static str {
        self.spec.action()
    }
    fn resource_types(&self) -> &'static [&'static str] {
        self.spec.resource_types()
    }
    fn properties(&self) -> ActionProperties {
        self.spec.properties()
    }
    fn operations(&self) -> crate::Operations {
        self.spec.operations()
    }
    fn validate_params(&self, params: &Value) -> Result<(), String> {
        self.spec.validate_params(params)
    }
    fn facet(&self, ci: &ConfigurationItem) -> Value {
        self.spec.facet(ci)
    }
    fn facet_for(&self, ci: &ConfigurationItem, params: &Value) -> Value {
        self.spec.facet_for(ci, params)
    }
    fn satisfied(&self, facet: &Value, params: &Value) -> bool {
        self.spec.satisfied(facet, params)
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        self.spec.desired(facet, params)
    }
    fn rollback_steps(&self, before: &Value) -> Vec<RollbackStep> {
        self.spec.rollback_steps(before)
    }
    fn restored(&self, before: &Value) -> Value {
        self.spec.restored(before)
    }
    fn subject(&self, before: &Value, desired: &Value) -> Option<String> {
        self.spec.subject(before, desired)
    }
    fn settling(&self, ci: &ConfigurationItem) -> Option<String> {
        self.spec.settling(ci)
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        params: &Value,
        before: &Value,
    ) -> Vec<crate::CliRequest> {
        self.spec.cli(ci, params, before)
    }
}

#[async_trait]
impl Executor for FakeExecutor {
    async fn apply(
        &self,
        resource: &ResourceRef,
        _params: &Value,
        _before: &Value,
    ) -> Result<Vec<String>, ExecError> {
        self.cloud.call(resource, None).await
    }
    async fn restore(
        &self,
        resource: &ResourceRef,
        before: &Value,
    ) -> Result<Vec<String>, ExecError> {
        self.cloud.call(resource, Some(before)).await
    }
}
