#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The OpenAI-compatible reasoner against a real HTTP server that speaks the
//! chat-completions protocol, scripted per case.

mod support;

use custos_core::testing::sample_plan;
use custos_core::Verdict;
use custos_reasoning::{check, LlmReasoner, LlmSettings, ReviewRequest};
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

async fn verdict_for(url: &str, model: &str, gate: Verdict, timeout: Duration) -> custos_reasoning::Checked {
    let plan = sample_plan(&[("environment", "dev")]);
    let req = ReviewRequest { plan: &plan, findings: &[], gate_verdict: gate, gate_reasons: &[] };
    check(&reasoner(url, model), &req, timeout).await
}

#[tokio::test]
async fn answers_map_to_verdicts_and_never_lower_the_gate() {
    let s = support::start().await;
    let t = Duration::from_secs(5);
    assert_eq!(verdict_for(&s.url, "proceed", Verdict::Execute, t).await.verdict, Verdict::Execute);
    let esc = verdict_for(&s.url, "escalate", Verdict::Execute, t).await;
    assert_eq!(esc.verdict, Verdict::NeedsApproval);
    assert_eq!(esc.reason.unwrap().rule, "reasoning.llm.escalate");
    assert_eq!(verdict_for(&s.url, "block", Verdict::Execute, t).await.verdict, Verdict::Deny);
    // `proceed` cannot lift a gate escalation.
    assert_eq!(verdict_for(&s.url, "proceed", Verdict::NeedsApproval, t).await.verdict, Verdict::NeedsApproval);
    let rec = verdict_for(&s.url, "proceed", Verdict::Execute, t).await.record;
    assert_eq!(rec.model.as_deref(), Some("proceed"));
    assert_eq!(rec.prompt_version.as_deref(), Some("custos-review/1"));
    assert_eq!(rec.prompt_tokens, Some(321));
    assert_eq!(rec.completion_tokens, Some(42));
}

#[tokio::test]
async fn every_fault_becomes_needs_approval_with_its_reason() {
    let s = support::start().await;
    let cases = [
        ("malformed", "schema"),
        ("empty", ""),
        ("http500", ""),
        ("ratelimited", ""),
        ("hang", "timed out"),
        ("huge", "bytes"),
        ("unknown", "unknown verdict `approve`"),
        ("lowconf", "below the threshold"),
        ("refusal", "refused"),
    ];
    for (model, needle) in cases {
        let out = verdict_for(&s.url, model, Verdict::Execute, Duration::from_secs(4)).await;
        assert_eq!(out.verdict, Verdict::NeedsApproval, "{model}: {out:?}");
        let reason = out.reason.unwrap_or_else(|| panic!("{model}: no reason"));
        assert_eq!(reason.rule, "reasoning.error", "{model}");
        assert!(reason.message.contains(needle), "{model}: {}", reason.message);
    }
}

#[tokio::test]
async fn the_request_uses_a_json_schema_and_fences_the_data() {
    let s = support::start().await;
    verdict_for(&s.url, "proceed", Verdict::Execute, Duration::from_secs(5)).await;
    let body = s.seen.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["schema"]["properties"]["verdict"]["enum"], serde_json::json!(["proceed", "escalate", "block"]));
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("<<<CUSTOS_UNTRUSTED_DATA") && user.contains("Black Friday"), "{user}");
    assert_eq!(body["temperature"].as_f64(), Some(0.0));
}

#[tokio::test]
async fn identical_plans_within_the_ttl_reuse_the_answer() {
    let s = support::start().await;
    let r = reasoner(&s.url, "escalate");
    let plan = sample_plan(&[]);
    let req = ReviewRequest { plan: &plan, findings: &[], gate_verdict: Verdict::Execute, gate_reasons: &[] };
    let first = check(&r, &req, Duration::from_secs(5)).await;
    let second = check(&r, &req, Duration::from_secs(5)).await;
    assert_eq!(s.seen.calls.load(Ordering::SeqCst), 1, "a retry storm must not hit the endpoint");
    assert!(!first.record.cached && second.record.cached);
    assert_eq!(first.verdict, second.verdict);
}
