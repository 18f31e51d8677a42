//! Layer 2 of the Safety Sandwich: a reasoning check over a plan that already passed the
//! policy gate. A reasoner can only make a decision more cautious: [`check`] combines its
//! answer with the gate's verdict by taking the maximum, and every failure (error,
//! timeout, unusable answer) becomes at least `NeedsApproval`.
//!
//! [`Reasoning`] is the layer as the engine uses it: the offline context rules (hold,
//! incident, freeze tags) always run, and a model, when configured, can only add caution
//! on top. A model is untrusted: its `block` does not silently drop the fix of a finding
//! (text in a tag could talk it into that); it becomes `needs_approval`, so the finding
//! stays open in the review queue with the model's words marked as model output.

pub mod llm;
mod offline;

pub use llm::{LlmReasoner, LlmSettings};
pub use offline::{OfflineReasoner, OfflineRules};

use async_trait::async_trait;
use custos_core::{Finding, Reason, ReasonerRecord, RemediationPlan, Stage, Verdict, digest_json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// What the reasoner is asked to judge. Everything under `plan.tags`, resource names and
/// any other account data is untrusted input, never instructions.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewRequest<'a> {
    pub plan: &'a RemediationPlan,
    pub findings: &'a [Finding],
    pub gate_verdict: Verdict,
    pub gate_reasons: &'a [Reason],
    /// What happened before with this playbook on similar resources (from the ledger's
    /// outcomes), when the engine reads it for a model; shown as data, fenced and bounded
    /// like the rest.
    pub history: Option<&'a serde_json::Value>,
}

/// The reasoner's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Proceed,
    Escalate,
    Block,
}

impl Judgement {
    /// The verdict this judgement asks for on its own.
    pub fn verdict(self) -> Verdict {
        match self {
            Judgement::Proceed => Verdict::Execute,
            Judgement::Escalate => Verdict::NeedsApproval,
            Judgement::Block => Verdict::Deny,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub judgement: Judgement,
    pub rationale: String,
    pub concerns: Vec<String>,
    /// Stable id of the rule or concern that drove the judgement, for the ledger.
    pub rule: String,
    /// Latency and tokens, when a model was called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<CallStats>,
    /// The raw answer text (its digest goes to the ledger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// Token counts and latency of one model call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallStats {
    pub latency_ms: u64,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// Reused from the cache (identical plan and context within the TTL): no call made.
    pub cached: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReasoningError {
    #[error("reasoner timed out after {0:?}")]
    Timeout(Duration),
    #[error("reasoner transport failed: {0}")]
    Transport(String),
    #[error("reasoner answer is unusable: {0}")]
    BadAnswer(String),
}

/// A reasoning check. Implementations: [`OfflineReasoner`] (default, no network) and,
/// later, the OpenAI-compatible client.
#[async_trait]
pub trait Reasoner: Send + Sync + std::fmt::Debug {
    /// Stable id, e.g. `offline/v1`.
    fn id(&self) -> String;
    /// Model name, when a model is involved.
    fn model(&self) -> Option<String> {
        None
    }
    async fn review(&self, request: &ReviewRequest<'_>) -> Result<Review, ReasoningError>;
    /// What the reasoner is asked, for the prompt digest in the ledger.
    fn prompt(&self, request: &ReviewRequest<'_>) -> serde_json::Value {
        json!({"reasoner": self.id(), "request": request})
    }
    /// The prompt template version, when there is one.
    fn prompt_version(&self) -> Option<String> {
        None
    }
    /// Rules written by the operator (the offline reasoner) are trusted: their `block`
    /// denies. A model is not: its `block` asks a human instead.
    fn trusted(&self) -> bool {
        false
    }
}

/// How the words of an untrusted reasoner are shown wherever a human reads them.
pub const UNTRUSTED_PREFIX: &str = "model output (untrusted): ";

/// The outcome of the reasoning stage: a verdict never below the gate's.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub verdict: Verdict,
    /// What the reasoner asked for on its own (before combining with the gate).
    pub asked: Verdict,
    pub reason: Option<Reason>,
    pub record: ReasonerRecord,
}

/// Ask `reasoner` about the request, bounded by `timeout`, and combine its answer with the
/// gate's verdict. The result is never more permissive than `request.gate_verdict`.
pub async fn check(
    reasoner: &dyn Reasoner,
    request: &ReviewRequest<'_>,
    timeout: Duration,
) -> Checked {
    let prompt_digest = digest_json(&reasoner.prompt(request));
    let call_started = std::time::Instant::now();
    let answer = match tokio::time::timeout(timeout, reasoner.review(request)).await {
        Ok(r) => r,
        Err(_) => Err(ReasoningError::Timeout(timeout)),
    };
    let started = call_started;
    let mut stats = CallStats::default();
    let (asked, reason, rationale, answer_json) = match answer {
        Ok(review) => {
            if let Some(s) = &review.stats {
                stats = s.clone();
            }
            let trusted = reasoner.trusted();
            let asked = match review.judgement {
                // A model's block must not make a finding disappear: a human decides.
                Judgement::Block if !trusted => Verdict::NeedsApproval,
                j => j.verdict(),
            };
            let message = if trusted {
                review.rationale.clone()
            } else {
                format!("{UNTRUSTED_PREFIX}{}", review.rationale)
            };
            let reason = (asked > Verdict::Execute).then(|| Reason {
                stage: Stage::Reasoning,
                rule: review.rule.clone(),
                verdict: asked,
                message,
            });
            let json = match &review.answer {
                Some(raw) => json!({"answer": raw}),
                None => serde_json::to_value(&review).unwrap_or_default(),
            };
            (asked, reason, review.rationale, json)
        }
        Err(e) => {
            let message = e.to_string();
            (
                Verdict::NeedsApproval,
                Some(Reason {
                    stage: Stage::Reasoning,
                    rule: "reasoning.error".into(),
                    verdict: Verdict::NeedsApproval,
                    message: message.clone(),
                }),
                message.clone(),
                json!({"error": message}),
            )
        }
    };
    Checked {
        verdict: request.gate_verdict.most_cautious(asked),
        asked,
        reason,
        record: ReasonerRecord {
            id: reasoner.id(),
            model: reasoner.model(),
            prompt_digest,
            answer_digest: digest_json(&answer_json),
            rationale,
            prompt_version: reasoner.prompt_version(),
            latency_ms: Some(if stats.latency_ms > 0 {
                stats.latency_ms
            } else {
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
            }),
            prompt_tokens: stats.prompt_tokens,
            completion_tokens: stats.completion_tokens,
            cached: stats.cached,
        },
    }
}

/// The reasoning layer: the offline context rules always, and a model when one is
/// configured. The model can only add caution to what the rules decided.
#[derive(Debug, Clone)]
pub struct Reasoning {
    pub offline: OfflineRules,
    pub model: Option<std::sync::Arc<dyn Reasoner>>,
    pub timeout: Duration,
}

/// What the reasoning layer decided about one plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Reasoned {
    /// Never below the gate's verdict.
    pub verdict: Verdict,
    /// The offline rule that restricted, and the model's reason, when they did.
    pub reasons: Vec<Reason>,
    /// The model's record when one was asked, the offline reasoner's otherwise.
    pub record: ReasonerRecord,
    /// What the model asked for on its own (`None`: no model).
    pub model_verdict: Option<Verdict>,
}

impl Reasoning {
    /// The offline rules alone.
    pub fn offline(rules: OfflineRules, timeout: Duration) -> Self {
        Reasoning {
            offline: rules,
            model: None,
            timeout,
        }
    }

    /// The offline rules on their own, synchronously: the guard runs them again at the
    /// moment of execution. A restricting rule gives its reason.
    pub fn rules_verdict(&self, plan: &RemediationPlan) -> (Verdict, Option<Reason>) {
        match self.offline.judge(&plan.tags) {
            Some(r) => {
                let v = r.judgement.verdict();
                (
                    v,
                    Some(Reason {
                        stage: Stage::Reasoning,
                        rule: r.rule,
                        verdict: v,
                        message: r.rationale,
                    }),
                )
            }
            None => (Verdict::Execute, None),
        }
    }

    /// Review a plan: offline rules, then the model (if any); the most cautious wins.
    pub async fn review(&self, request: &ReviewRequest<'_>) -> Reasoned {
        let rules = OfflineReasoner::new(self.offline.clone());
        let offline = check(&rules, request, self.timeout).await;
        let Some(model) = &self.model else {
            return Reasoned {
                verdict: offline.verdict,
                reasons: offline.reason.into_iter().collect(),
                record: offline.record,
                model_verdict: None,
            };
        };
        let asked = check(model.as_ref(), request, self.timeout).await;
        Reasoned {
            verdict: offline.verdict.most_cautious(asked.verdict),
            reasons: offline.reason.into_iter().chain(asked.reason).collect(),
            record: asked.record,
            model_verdict: Some(asked.asked),
        }
    }
}

/// A scripted reasoner for tests of the layers above.
#[derive(Debug, Clone)]
pub struct ScriptedReasoner {
    pub answer: Result<Judgement, String>,
    pub delay: Duration,
}

#[async_trait]
impl Reasoner for ScriptedReasoner {
    fn id(&self) -> String {
        "scripted/test".into()
    }
    async fn review(&self, _request: &ReviewRequest<'_>) -> Result<Review, ReasoningError> {
        tokio::time::sleep(self.delay).await;
        match &self.answer {
            Ok(j) => Ok(Review {
                judgement: *j,
                rationale: format!("scripted {j:?}"),
                concerns: vec![],
                rule: "reasoning.scripted".into(),
                stats: None,
                answer: None,
            }),
            Err(e) => Err(ReasoningError::Transport(e.clone())),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    pub use custos_core::testing::sample_plan as plan;
    use custos_core::testing::verdict;
    use proptest::prelude::*;

    fn answer() -> impl Strategy<Value = Result<Judgement, String>> {
        prop_oneof![
            Just(Ok(Judgement::Proceed)),
            Just(Ok(Judgement::Escalate)),
            Just(Ok(Judgement::Block)),
            ".*".prop_map(Err),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn no_answer_lowers_the_gate(gate in verdict(), answer in answer()) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let p = plan(&[]);
            let req = ReviewRequest { history: None, plan: &p, findings: &[], gate_verdict: gate, gate_reasons: &[] };
            let r = ScriptedReasoner { answer: answer.clone(), delay: Duration::ZERO };
            let out = rt.block_on(check(&r, &req, Duration::from_secs(1)));
            prop_assert!(out.verdict >= gate);
            if answer.is_err() {
                prop_assert!(out.verdict >= Verdict::NeedsApproval);
            }
        }
    }

    fn reasoning(model: Option<Judgement>) -> Reasoning {
        Reasoning {
            offline: OfflineRules::default(),
            model: model.map(|j| {
                std::sync::Arc::new(ScriptedReasoner {
                    answer: Ok(j),
                    delay: Duration::ZERO,
                }) as std::sync::Arc<dyn Reasoner>
            }),
            timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn offline_rules_hold_whatever_the_model_says() {
        let held = plan(&[("legal-hold", "case 7")]);
        let req = ReviewRequest {
            history: None,
            plan: &held,
            findings: &[],
            gate_verdict: Verdict::Execute,
            gate_reasons: &[],
        };
        let out = reasoning(Some(Judgement::Proceed)).review(&req).await;
        assert_eq!(out.verdict, Verdict::Deny);
        assert_eq!(out.model_verdict, Some(Verdict::Execute));
        assert_eq!(out.reasons[0].rule, "reasoning.offline.hold");
        assert_eq!(out.record.id, "scripted/test");
        let (v, r) = reasoning(None).rules_verdict(&held);
        assert_eq!(v, Verdict::Deny);
        assert_eq!(r.unwrap().rule, "reasoning.offline.hold");
    }

    #[tokio::test]
    async fn a_model_block_asks_a_human_and_is_marked_untrusted() {
        let p = plan(&[]);
        let req = ReviewRequest {
            history: None,
            plan: &p,
            findings: &[],
            gate_verdict: Verdict::Execute,
            gate_reasons: &[],
        };
        let out = reasoning(Some(Judgement::Block)).review(&req).await;
        assert_eq!(out.verdict, Verdict::NeedsApproval);
        assert_eq!(out.model_verdict, Some(Verdict::NeedsApproval));
        assert_eq!(out.reasons.len(), 1);
        assert!(
            out.reasons[0].message.starts_with(UNTRUSTED_PREFIX),
            "{}",
            out.reasons[0].message
        );
        // The operator's own rules are trusted: their block denies.
        let held = plan(&[("custos:evidence", "yes")]);
        let req = ReviewRequest {
            history: None,
            plan: &held,
            ..req
        };
        assert_eq!(reasoning(None).review(&req).await.verdict, Verdict::Deny);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hang_becomes_needs_approval() {
        let p = plan(&[]);
        let req = ReviewRequest {
            history: None,
            plan: &p,
            findings: &[],
            gate_verdict: Verdict::Execute,
            gate_reasons: &[],
        };
        let r = ScriptedReasoner {
            answer: Ok(Judgement::Proceed),
            delay: Duration::from_secs(3600),
        };
        let out = check(&r, &req, Duration::from_secs(5)).await;
        assert_eq!(out.verdict, Verdict::NeedsApproval);
        let reason = out.reason.unwrap();
        assert_eq!(reason.rule, "reasoning.error");
        assert!(reason.message.contains("timed out"), "{}", reason.message);
    }
}
