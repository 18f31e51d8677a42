//! The source layer's test double: items already in memory, delivered as notifications.

use crate::{Batch, Source, TelemetryError};
use async_trait::async_trait;
use custos_core::ConfigurationItem;

/// Configuration items held in memory, collected as one batch of notifications (never
/// fresh reads).
#[derive(Debug, Clone)]
pub struct Items {
    name: String,
    items: Vec<ConfigurationItem>,
}

impl Items {
    pub fn new(name: impl Into<String>, items: Vec<ConfigurationItem>) -> Items {
        Items {
            name: name.into(),
            items,
        }
    }
}

#[async_trait]
impl Source for Items {
    fn name(&self) -> String {
        self.name.clone()
    }
    async fn collect(&self) -> Result<Batch, TelemetryError> {
        Ok(Batch {
            items: self.items.clone(),
            ..Batch::default()
        })
    }
}
