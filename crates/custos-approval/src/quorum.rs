//! How many distinct reviewers a request needs (the two-person rule).

use custos_core::RemediationPlan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quorum {
    /// Reviewers for any request.
    pub default: u8,
    /// Per resource class (`s3`, `ec2`): at least this many.
    pub classes: BTreeMap<String, u8>,
    /// Per playbook id: at least this many.
    pub playbooks: BTreeMap<String, u8>,
}

impl Default for Quorum {
    fn default() -> Self {
        Quorum {
            default: 1,
            classes: BTreeMap::new(),
            playbooks: BTreeMap::new(),
        }
    }
}

impl Quorum {
    /// The strictest of the settings that apply to `plan`.
    pub fn required(&self, class: &str, plan: &RemediationPlan) -> u8 {
        [
            Some(self.default),
            self.classes.get(class).copied(),
            self.playbooks.get(&plan.playbook).copied(),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(1)
        .max(1)
    }
}
