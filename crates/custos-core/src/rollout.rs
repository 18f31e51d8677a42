//! A playbook version's staged rollout: `shadow` (custos records that it would execute
//! a fix and asks a person instead), `limited` (it may act alone on a configured share
//! of resources, up to a count), `broad` (within the autonomy level, like any playbook).
//! Promoted one stage at a time by the outcome rule, demoted at once on a setback.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutStage {
    Shadow,
    Limited,
    Broad,
}

impl RolloutStage {
    pub const ALL: [RolloutStage; 3] = [Self::Shadow, Self::Limited, Self::Broad];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shadow => "shadow",
            Self::Limited => "limited",
            Self::Broad => "broad",
        }
    }

    /// The next stage up (`None` from `broad`).
    pub fn up(self) -> Option<Self> {
        match self {
            Self::Shadow => Some(Self::Limited),
            Self::Limited => Some(Self::Broad),
            Self::Broad => None,
        }
    }

    /// The next stage down (`None` from `shadow`).
    pub fn down(self) -> Option<Self> {
        match self {
            Self::Shadow => None,
            Self::Limited => Some(Self::Shadow),
            Self::Broad => Some(Self::Limited),
        }
    }
}

impl fmt::Display for RolloutStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RolloutStage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim())
            .ok_or_else(|| format!("a rollout stage is `shadow`, `limited` or `broad`, got `{s}`"))
    }
}
