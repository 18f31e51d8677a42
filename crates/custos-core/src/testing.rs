//! Shared test fixtures (feature `testing`): one sample plan and decision, and a proptest
//! strategy over verdicts, so every crate's tests build them the same way.

use crate::{
    ActionKind, AutonomyLevel, Decision, Digest, Operation, ReasonerRecord, RemediationPlan,
    ResourceRef, Risk, Verdict,
};
use proptest::prelude::*;
use serde_json::json;

/// A plan for bucket `b` in account 000000000000, production, with the given tags.
pub fn sample_plan(tags: &[(&str, &str)]) -> RemediationPlan {
    RemediationPlan {
        id: "plan-sample".into(),
        resource: ResourceRef {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            resource_type: "AWS::S3::Bucket".into(),
            resource_id: "b".into(),
        },
        resource_name: None,
        arn: Some("arn:aws:s3:::b".into()),
        resource_created: None,
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        environment: "production".into(),
        production: true,
        related: vec![],
        control_id: "s3-versioning".into(),
        playbook: "s3-enable-versioning".into(),
        playbook_version: "1".into(),
        action: "s3:PutBucketVersioning".into(),
        action_kinds: vec![ActionKind::Configure],
        parameters: json!({}),
        risk: Risk::Low,
        reversible: true,
        requires_approval: false,
        before: json!({}),
        before_digest: Digest::of_bytes(b"before"),
        desired: json!({}),
        rollback: vec![],
        operation: Operation::Fix,
        guided: None,
    }
}

/// A `needs_approval` decision about [`sample_plan`].
pub fn sample_decision() -> Decision {
    Decision {
        verdict: Verdict::NeedsApproval,
        gate_verdict: Verdict::Execute,
        reasons: vec![],
        policy_digest: Digest::of_bytes(b"policy"),
        playbook: "s3-enable-versioning".into(),
        playbook_version: "1".into(),
        reasoner: ReasonerRecord {
            id: "offline/v1".into(),
            model: None,
            prompt_digest: Digest::of_bytes(b""),
            answer_digest: Digest::of_bytes(b""),
            rationale: String::new(),
            prompt_version: None,
            latency_ms: None,
            prompt_tokens: None,
            completion_tokens: None,
            cached: false,
        },
        autonomy: AutonomyLevel::Approve,
        environment: "production".into(),
        model_verdict: None,
        input_digest: Digest::of_bytes(b""),
    }
}

/// Any verdict.
pub fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Execute),
        Just(Verdict::NeedsApproval),
        Just(Verdict::RecommendOnly),
        Just(Verdict::Deny)
    ]
}
