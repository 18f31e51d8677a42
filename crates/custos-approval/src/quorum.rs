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
        self.required_among(class, plan, std::iter::empty())
    }

    /// The strictest of the settings that apply to `plan` or to any of `others`, the
    /// other playbooks of its control: a candidate chosen instead of its baseline needs
    /// as many reviewers as the baseline would (and the other way round), so no way of
    /// fixing a control asks fewer people than the strictest one configured.
    pub fn required_among<'a>(
        &self,
        class: &str,
        plan: &RemediationPlan,
        others: impl Iterator<Item = &'a str>,
    ) -> u8 {
        let by_playbook = others
            .filter_map(|p| self.playbooks.get(p).copied())
            .chain(self.playbooks.get(&plan.playbook).copied())
            .max();
        [
            Some(self.default),
            self.classes.get(class).copied(),
            by_playbook,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(1)
        .max(1)
    }
}
