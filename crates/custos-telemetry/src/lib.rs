//! Telemetry: where configuration items come from. Read-only: nothing here mutates the
//! cloud. Sources: the S3 describe scanner ([`S3Scanner`]) and replay files
//! ([`replay`]). Every source yields the same [`ConfigurationItem`] shape; items that
//! cannot be understood are returned as [`Rejected`] so the caller can keep them in the
//! dead-letter table.

pub mod aws;
pub mod config_api;
pub mod ec2;
pub mod inventory;
pub mod memory;
pub mod preflight;
pub mod record;
pub mod replay;
pub mod s3;
pub mod services;
pub mod sqs;

pub use config_api::ConfigInventory;
pub use inventory::Inventory;
pub use s3::S3Scanner;

use async_trait::async_trait;
use custos_core::{ConfigurationItem, ResourceRef};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("aws {operation} failed for `{resource}`: {message}")]
    Aws {
        operation: &'static str,
        resource: String,
        message: String,
    },
    #[error("no reader for resource type `{0}`")]
    Unsupported(String),
}

/// An input that could not be turned into a configuration item, kept with its raw text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// Where it came from: `file:line`, or a source-specific id.
    pub location: String,
    pub field: Option<String>,
    pub error: String,
    pub raw: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.error)
    }
}

/// A change notification too large to carry the item: the summary names the resource
/// and capture time, and the engine reads the resource to resolve it.
#[derive(Debug, Clone, PartialEq)]
pub struct Oversized {
    pub location: String,
    pub summary: ConfigurationItem,
}

/// What one collection produced.
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<ConfigurationItem>,
    pub rejected: Vec<Rejected>,
    pub oversized: Vec<Oversized>,
}

/// A source of configuration items.
#[async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    fn name(&self) -> String;
    async fn collect(&self) -> Result<Batch, TelemetryError>;
    /// Items are fresh reads of the resources (describe scans), not notifications of
    /// some past capture: a fresh read always wins over what was processed before.
    fn fresh(&self) -> bool {
        false
    }
}

/// Reads the current state of one resource as a configuration item; `None` when the
/// resource no longer exists. Executors read through this before and after acting, so
/// planning and verification see exactly the same normalization.
#[async_trait]
pub trait ResourceReader: Send + Sync + std::fmt::Debug {
    async fn read(
        &self,
        resource: &ResourceRef,
    ) -> Result<Option<ConfigurationItem>, TelemetryError>;
    /// Is this resource's account and region one custos is configured for (and so can
    /// read, verify and change)? Items for others are dead-lettered, never acted on.
    fn covers(&self, resource: &ResourceRef) -> bool {
        let _ = resource;
        true
    }
}
