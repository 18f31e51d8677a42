#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The OpenAI-compatible reasoner against a real HTTP server that speaks the
//! chat-completions protocol, scripted per case.

use custos_testkit::openai_stub as support;

use custos_core::Verdict;
use custos_core::testing::sample_plan;
use custos_reasoning::{LlmReasoner, LlmSettings, ReviewRequest, check};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn reasoner(url: &str, model: &str) -> LlmReasoner {
    LlmReasoner::new(LlmSettings {
        base_url: url.into(),
        model: model.into(),
        api_key: Some("test-key".into()),
        min_confidence: 0.6,
        max_answer_bytes: 64 * 1024,
        cache_ttl: Duration::from_secs(300),
        calendar: vec!["2026-11-27: Black Friday traffic event".into()],
    })
}

async fn verdict_for(
    url: &str,
    model: &str,
    gate: Verdict,
    timeout: Duration,
) -> custos_reasoning::Checked {
    let plan = sample_plan(&[("environment", "dev")]);
    let req = ReviewRequest {
        history: None,
        plan: &plan,
        findings: &[],
        gate_verdict: gate,
        gate_reasons: &[],
    };
    check(&reasoner(url, model), &req, timeout).await
}

#[tokio::test]
async fn answers_map_to_verdicts_and_never_lower_the_gate() {
    let s = support::start().await;
    let t = Duration::from_secs(5);
    assert_eq!(
        verdict_for(&s.url, "proceed", Verdict::Execute, t)
            .await
            .verdict,
        Verdict::Execute
    );
    let esc = verdict_for(&s.url, "escalate", Verdict::Execute, t).await;
    assert_eq!(esc.verdict, Verdict::NeedsApproval);
    assert_eq!(esc.reason.unwrap().rule, "reasoning.llm.escalate");
    // A model is untrusted: its block asks a human (the finding stays visible) and its
    // words are marked as model output.
    let block = verdict_for(&s.url, "block", Verdict::Execute, t).await;
    assert_eq!(block.verdict, Verdict::NeedsApproval);
    assert_eq!(block.asked, Verdict::NeedsApproval);
    let reason = block.reason.unwrap();
    assert_eq!(reason.rule, "reasoning.llm.block");
    assert_eq!(reason.message, "model output (untrusted): scripted block");
    // `proceed` cannot lift a gate escalation.
    assert_eq!(
        verdict_for(&s.url, "proceed", Verdict::NeedsApproval, t)
            .await
            .verdict,
        Verdict::NeedsApproval
    );
    let rec = verdict_for(&s.url, "proceed", Verdict::Execute, t)
        .await
        .record;
    assert_eq!(rec.model.as_deref(), Some("proceed"));
    assert_eq!(rec.prompt_version.as_deref(), Some("custos-review/2"));
    assert_eq!(rec.prompt_tokens, Some(321));
    assert_eq!(rec.completion_tokens, Some(42));
}

#[tokio::test]
async fn every_fault_becomes_needs_approval_with_its_reason() {
    let s = support::start().await;
    // The whole message, for every fault: each names what went wrong.
    let cases = [
        (
            "malformed",
            "reasoner answer is unusable: answer does not match the schema: expected ident at line 1 column 2",
        ),
        (
            "empty",
            "reasoner answer is unusable: response is not a chat completion: EOF while parsing a value at line 1 column 0 (0 bytes)",
        ),
        (
            "http500",
            r#"reasoner transport failed: 500 Internal Server Error {"error":{"message":"boom","type":"server_error","param":null,"code":null}}"#,
        ),
        (
            "ratelimited",
            "reasoner transport failed: 429 Too Many Requests rate_limit_error: slow down",
        ),
        ("hang", "reasoner timed out after 4s"),
        (
            "huge",
            "reasoner answer is unusable: answer is 5242947 bytes, more than the limit of 65536",
        ),
        (
            "unknown",
            "reasoner answer is unusable: unknown verdict `approve`",
        ),
        (
            "lowconf",
            "reasoner answer is unusable: confidence 0.20 is below the threshold 0.60 (model said `proceed`)",
        ),
        (
            "refusal",
            "reasoner answer is unusable: model refused: I cannot help with that",
        ),
    ];
    for (model, message) in cases {
        let out = verdict_for(&s.url, model, Verdict::Execute, Duration::from_secs(4)).await;
        assert_eq!(out.verdict, Verdict::NeedsApproval, "{model}: {out:?}");
        let reason = out.reason.unwrap_or_else(|| panic!("{model}: no reason"));
        assert_eq!(reason.rule, "reasoning.error", "{model}");
        assert_eq!(reason.message, message, "{model}");
    }
}

#[tokio::test]
async fn the_request_uses_a_json_schema_and_fences_the_data() {
    let s = support::start().await;
    verdict_for(&s.url, "proceed", Verdict::Execute, Duration::from_secs(5)).await;
    let body = s.seen.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(
        body["response_format"]["json_schema"]["schema"]["properties"]["verdict"]["enum"],
        serde_json::json!(["proceed", "escalate", "block"])
    );
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("<<<CUSTOS_UNTRUSTED_DATA") && user.contains("Black Friday"),
        "{user}"
    );
    assert_eq!(body["temperature"].as_f64(), Some(0.0));
}

#[tokio::test]
async fn identical_plans_within_the_ttl_reuse_the_answer() {
    let s = support::start().await;
    let r = reasoner(&s.url, "escalate");
    let plan = sample_plan(&[]);
    let req = ReviewRequest {
        history: None,
        plan: &plan,
        findings: &[],
        gate_verdict: Verdict::Execute,
        gate_reasons: &[],
    };
    let first = check(&r, &req, Duration::from_secs(5)).await;
    let second = check(&r, &req, Duration::from_secs(5)).await;
    assert_eq!(
        s.seen.calls.load(Ordering::SeqCst),
        1,
        "a retry storm must not hit the endpoint"
    );
    assert!(!first.record.cached && second.record.cached);
    assert_eq!(first.verdict, second.verdict);
}

/// A reasoner whose model answered `raw`, whatever that is.
#[derive(Debug)]
struct RawAnswer(String);

#[async_trait::async_trait]
impl custos_reasoning::Reasoner for RawAnswer {
    fn id(&self) -> String {
        "raw/test".into()
    }
    async fn review(
        &self,
        _r: &ReviewRequest<'_>,
    ) -> Result<custos_reasoning::Review, custos_reasoning::ReasoningError> {
        custos_reasoning::llm::parse_answer(&self.0, 64 * 1024, 0.6)
    }
}

fn any_verdict() -> impl proptest::strategy::Strategy<Value = Verdict> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Verdict::Execute),
        Just(Verdict::NeedsApproval),
        Just(Verdict::RecommendOnly),
        Just(Verdict::Deny)
    ]
}

fn any_answer() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let verdict = prop_oneof![
        Just("proceed".to_string()),
        Just("escalate".to_string()),
        Just("block".to_string()),
        "[a-zA-Z]{0,12}"
    ];
    let structured = (
        verdict,
        -1.0f64..2.0,
        ".{0,40}",
        proptest::collection::vec(".{0,10}", 0..3),
    )
        .prop_map(|(v, c, r, cs)| {
            serde_json::json!({"verdict": v, "confidence": c, "rationale": r, "concerns": cs})
                .to_string()
        });
    prop_oneof![structured, ".{0,200}", Just(String::new())]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Whatever a model answers, the verdict is never more permissive than the gate's,
    /// and anything that is not a valid confident answer is at least `needs_approval`.
    #[test]
    fn no_answer_is_more_permissive_than_the_gate(gate in any_verdict(), raw in any_answer()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let plan = sample_plan(&[]);
        let req = ReviewRequest { history: None, plan: &plan, findings: &[], gate_verdict: gate, gate_reasons: &[] };
        let out = rt.block_on(check(&RawAnswer(raw.clone()), &req, Duration::from_secs(1)));
        proptest::prop_assert!(out.verdict >= gate);
        if custos_reasoning::llm::parse_answer(&raw, 64 * 1024, 0.6).is_err() {
            proptest::prop_assert!(out.verdict >= Verdict::NeedsApproval);
        }
    }
}
