//! Verdicts, ordered by caution, and the decision record that explains one.

use crate::canonical::Digest;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What may happen to a planned action. The order is the order of caution:
/// `Execute < NeedsApproval < RecommendOnly < Deny`. Combining verdicts always takes the
/// maximum, so no stage can make a decision less cautious.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Execute,
    /// The default: a decision that was never made is never an allow.
    #[default]
    NeedsApproval,
    RecommendOnly,
    Deny,
}

impl Verdict {
    /// The more cautious of two verdicts.
    #[must_use]
    pub fn most_cautious(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Execute => "execute",
            Verdict::NeedsApproval => "needs_approval",
            Verdict::RecommendOnly => "recommend_only",
            Verdict::Deny => "deny",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "execute" => Ok(Verdict::Execute),
            "needs_approval" => Ok(Verdict::NeedsApproval),
            "recommend_only" => Ok(Verdict::RecommendOnly),
            "deny" => Ok(Verdict::Deny),
            other => Err(format!("unknown verdict `{other}`")),
        }
    }
}

/// The stage of the sandwich that contributed a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Gate,
    Reasoning,
    Autonomy,
    /// The guard at execution time: pause, circuit breaker, rate limit, claims.
    Guard,
    Engine,
}

/// One reason behind a decision: which rule fired, in which stage, what it asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub stage: Stage,
    /// Stable rule id, e.g. `gate.exclusion_tag`.
    pub rule: String,
    pub verdict: Verdict,
    pub message: String,
}

/// Who reasoned about the plan, and digests of what was asked and answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonerRecord {
    pub id: String,
    pub model: Option<String>,
    pub prompt_digest: Digest,
    pub answer_digest: Digest,
    pub rationale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u32>,
    /// The answer was reused from the cache: no call was made.
    #[serde(default)]
    pub cached: bool,
}

/// A complete, replayable decision about one plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub gate_verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub policy_digest: Digest,
    pub playbook: String,
    pub playbook_version: String,
    pub reasoner: ReasonerRecord,
    pub autonomy: AutonomyLevel,
    pub environment: String,
    /// What a model (LLM) asked for on its own, when one was consulted. The guard keeps
    /// it when it decides again at execution time; the offline rules run again there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_verdict: Option<Verdict>,
    /// Digest over the plan and the context the stages saw.
    pub input_digest: Digest,
}

/// Autonomy levels, per resource class and environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum AutonomyLevel {
    /// 1: findings only.
    Observe,
    /// 2: plans with evidence, never executed.
    Recommend,
    /// 3: executed after human approval.
    Approve,
    /// 4: automatic outside production, approval in production.
    AutoLower,
    /// 5: automatic wherever the gate allows.
    Auto,
}

impl AutonomyLevel {
    pub fn number(self) -> u8 {
        match self {
            AutonomyLevel::Observe => 1,
            AutonomyLevel::Recommend => 2,
            AutonomyLevel::Approve => 3,
            AutonomyLevel::AutoLower => 4,
            AutonomyLevel::Auto => 5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AutonomyLevel::Observe => "observe",
            AutonomyLevel::Recommend => "recommend",
            AutonomyLevel::Approve => "approve",
            AutonomyLevel::AutoLower => "auto-lower",
            AutonomyLevel::Auto => "auto",
        }
    }

    /// The least cautious verdict this level allows in an environment.
    pub fn allows(self, production: bool) -> Verdict {
        match self {
            AutonomyLevel::Observe | AutonomyLevel::Recommend => Verdict::RecommendOnly,
            AutonomyLevel::Approve => Verdict::NeedsApproval,
            AutonomyLevel::AutoLower if production => Verdict::NeedsApproval,
            AutonomyLevel::AutoLower | AutonomyLevel::Auto => Verdict::Execute,
        }
    }
}

impl TryFrom<u8> for AutonomyLevel {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Ok(match n {
            1 => AutonomyLevel::Observe,
            2 => AutonomyLevel::Recommend,
            3 => AutonomyLevel::Approve,
            4 => AutonomyLevel::AutoLower,
            5 => AutonomyLevel::Auto,
            other => return Err(format!("autonomy level must be 1 to 5, got `{other}`")),
        })
    }
}

impl From<AutonomyLevel> for u8 {
    fn from(l: AutonomyLevel) -> u8 {
        l.number()
    }
}

impl fmt::Display for AutonomyLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::verdict;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn combining_never_lowers_caution(a in verdict(), b in verdict()) {
            let c = a.most_cautious(b);
            prop_assert!(c >= a && c >= b);
            prop_assert_eq!(c, b.most_cautious(a));
        }
    }

    #[test]
    fn ordering_matches_design() {
        assert!(Verdict::Execute < Verdict::NeedsApproval);
        assert!(Verdict::NeedsApproval < Verdict::RecommendOnly);
        assert!(Verdict::RecommendOnly < Verdict::Deny);
        assert_eq!(Verdict::default(), Verdict::NeedsApproval);
        for v in [
            Verdict::Execute,
            Verdict::NeedsApproval,
            Verdict::RecommendOnly,
            Verdict::Deny,
        ] {
            assert_eq!(v.as_str().parse::<Verdict>().unwrap(), v);
        }
    }

    #[test]
    fn autonomy_allows() {
        assert_eq!(
            AutonomyLevel::AutoLower.allows(true),
            Verdict::NeedsApproval
        );
        assert_eq!(AutonomyLevel::AutoLower.allows(false), Verdict::Execute);
        assert_eq!(AutonomyLevel::Observe.allows(false), Verdict::RecommendOnly);
        assert!(AutonomyLevel::try_from(6).is_err());
        assert_eq!(AutonomyLevel::try_from(3).unwrap(), AutonomyLevel::Approve);
    }
}
