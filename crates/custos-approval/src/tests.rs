use super::*;
use custos_core::ApprovalChain;
use custos_core::testing::{sample_decision as decision, sample_plan};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn req() -> Approval {
    req_n(1)
}

fn req_n(n: u8) -> Approval {
    request(
        sample_plan(&[]),
        decision(),
        vec![],
        None,
        "custos",
        t0(),
        Duration::hours(24),
        n,
    )
}

fn who(name: &str, roles: &[Role]) -> Principal {
    Principal {
        name: name.into(),
        roles: roles.iter().copied().collect(),
        via: custos_core::AuthMethod::Token {
            token_id: format!("tok-{name}"),
        },
    }
}

fn alice() -> Principal {
    who("alice", &[Role::Reviewer])
}

fn bob() -> Principal {
    who("bob", &[Role::Reviewer])
}

/// The events an honest ledger would hold for `a` (a separate model of the projection).
fn chain_of(a: &Approval) -> ApprovalChain {
    ApprovalChain {
        request: Some(custos_core::ChainedRequest {
            plan_digest: custos_core::plan_digest(&a.plan),
            before_digest: a.before_digest.clone(),
            policy_digest: a.decision.policy_digest.clone(),
            requested_by: a.requested_by.clone(),
            required_reviewers: a.required_reviewers,
            expires_at: a.expires_at,
        }),
        reviews: a
            .reviews
            .iter()
            .map(|r| custos_core::ChainedReview {
                by: r.by.clone(),
                via: Some(r.via.clone()),
                roles: r.roles.clone(),
                plan_digest: r.plan_digest.clone(),
                before_digest: r.before_digest.clone(),
                policy_digest: r.policy_digest.clone(),
            })
            .collect(),
        status: Some(a.status),
        broken_events: vec![],
    }
}

#[test]
fn autonomy_resolution_and_ceiling() {
    let mut p = AutonomyPolicy::default();
    p.classes.insert(
        "s3".into(),
        [
            ("dev".to_string(), AutonomyLevel::Auto),
            ("*".to_string(), AutonomyLevel::AutoLower),
        ]
        .into(),
    );
    let envs = custos_core::Environments::default();
    let env = |n: &str| envs.classify(n);
    assert_eq!(p.level("s3", &env("dev")), AutonomyLevel::Auto);
    assert_eq!(p.level("s3", &env("production")), AutonomyLevel::AutoLower);
    assert_eq!(p.level("ec2", &env("dev")), AutonomyLevel::Approve);
    // A setting for the production class covers aliases and unknown names.
    p.classes
        .get_mut("s3")
        .unwrap()
        .insert("production".into(), AutonomyLevel::Approve);
    for name in ["prod", "live", "prd-eu"] {
        assert_eq!(p.level("s3", &env(name)), AutonomyLevel::Approve, "{name}");
    }
    assert_eq!(p.level("s3", &env("staging")), AutonomyLevel::AutoLower);
    p.ceiling = AutonomyLevel::Recommend;
    assert_eq!(p.level("s3", &env("dev")), AutonomyLevel::Recommend);
}

#[test]
fn runtime_levels_decide_over_the_configuration_under_the_ceiling() {
    let mut p = AutonomyPolicy::default();
    p.classes.insert(
        "s3".into(),
        [
            ("dev".to_string(), AutonomyLevel::Auto),
            ("production".to_string(), AutonomyLevel::Approve),
        ]
        .into(),
    );
    let envs = custos_core::Environments::default();
    let env = |n: &str| envs.classify(n);
    let runtime = |key: &str| (key == "production").then_some(AutonomyLevel::Recommend);
    // Same key: the runtime level replaces the configured one.
    assert_eq!(
        p.level_with("s3", &env("prod"), runtime),
        AutonomyLevel::Recommend
    );
    // A runtime class-wide level decides even where the file names the environment
    // (an emergency `s3 * 1` stops dev too) ...
    let star = |key: &str| (key == "*").then_some(AutonomyLevel::Observe);
    assert_eq!(
        p.level_with("s3", &env("dev"), star),
        AutonomyLevel::Observe
    );
    assert_eq!(
        p.level_with("s3", &env("staging"), star),
        AutonomyLevel::Observe
    );
    // ... and among runtime levels the most specific wins.
    let both = |key: &str| match key {
        "dev" => Some(AutonomyLevel::AutoLower),
        "*" => Some(AutonomyLevel::Observe),
        _ => None,
    };
    assert_eq!(
        p.level_with("s3", &env("dev"), both),
        AutonomyLevel::AutoLower
    );
    assert_eq!(
        p.level_with("s3", &env("prod"), both),
        AutonomyLevel::Observe
    );
    // Other classes keep the file's levels.
    assert_eq!(
        p.level_with("ec2", &env("dev"), |_| None),
        AutonomyLevel::Approve
    );
    // The ceiling caps a runtime level as it caps the configuration.
    p.ceiling = AutonomyLevel::AutoLower;
    let high = |_: &str| Some(AutonomyLevel::Auto);
    assert_eq!(
        p.level_with("ec2", &env("dev"), high),
        AutonomyLevel::AutoLower
    );
}

#[test]
fn requester_cannot_approve_but_can_deny() {
    let a = req();
    let requester = who("Custos", &[Role::Reviewer]);
    assert_eq!(
        approve(&a, &requester, None, None, t0()).unwrap_err(),
        ApprovalError::SelfApproval {
            who: "Custos".into()
        }
    );
    assert_eq!(
        deny(&a, &requester, Some("not now".into()), t0())
            .unwrap()
            .status,
        ApprovalStatus::Denied
    );
    assert_eq!(
        deny(&a, &alice(), Some("  ".into()), t0()).unwrap_err(),
        ApprovalError::DenialNeedsReason
    );
}

#[test]
fn policy_admins_operators_and_auditors_never_approve() {
    let a = req();
    let admin = who("root", &[Role::PolicyAdmin, Role::Reviewer]);
    assert_eq!(
        approve(&a, &admin, None, None, t0()).unwrap_err().code(),
        "policy_admin_approval"
    );
    for role in [Role::Operator, Role::Auditor, Role::Service] {
        let p = who("pat", &[role]);
        let err = approve(&a, &p, None, None, t0()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("`pat` (roles: {role}) may not approve")
        );
    }
}

#[test]
fn two_person_rule_needs_two_distinct_reviewers() {
    let a = req_n(2);
    let one = approve(&a, &alice(), None, None, t0()).unwrap();
    assert_eq!(one.status, ApprovalStatus::Pending);
    assert_eq!(
        approve(&one, &who("ALICE", &[Role::Reviewer]), None, None, t0()).unwrap_err(),
        ApprovalError::AlreadyReviewed {
            id: a.id.clone(),
            who: "ALICE".into()
        }
    );
    let two = approve(&one, &bob(), None, None, t0()).unwrap();
    assert_eq!(two.status, ApprovalStatus::Approved);
    assert_eq!(two.decided_by.as_deref(), Some("alice, bob"));
    assert!(check_chain(&two, &chain_of(&two)).is_empty());
}

/// Issue 22 item 3: one person (same OIDC issuer and subject) who signs in with two
/// emails is one reviewer, not two; two people who share a display name are two.
#[test]
fn reviewers_are_counted_by_stable_identity_not_by_name() {
    let oidc = |email: &str, subject: &str| Principal {
        name: format!("oidc:{email}"),
        roles: [Role::Reviewer].into_iter().collect(),
        via: custos_core::AuthMethod::Oidc {
            issuer: "https://idp.example.test".into(),
            subject: subject.into(),
        },
    };
    let a = req_n(2);
    let one = approve(&a, &oidc("carol@example.test", "00u1"), None, None, t0()).unwrap();
    let again = approve(
        &one,
        &oidc("carol.new@example.test", "00u1"),
        None,
        None,
        t0(),
    );
    assert_eq!(
        again.unwrap_err().code(),
        "already_reviewed",
        "the same subject counted twice"
    );
    // A stored request whose two reviews are one person (a row edited to add a second
    // review under another email) fails the chain's quorum.
    let mut forged = one.clone();
    let mut second = forged.reviews[0].clone();
    second.by = "oidc:carol.new@example.test".into();
    forged.reviews.push(second);
    forged.status = ApprovalStatus::Approved;
    assert!(
        check_chain(&forged, &chain_of(&forged))
            .iter()
            .any(|p| matches!(p, ChainProblem::Quorum { valid: 1, .. })),
        "{:?}",
        check_chain(&forged, &chain_of(&forged))
    );
    // Another subject with the same display name is another person.
    let two = approve(&one, &oidc("carol@example.test", "00u2"), None, None, t0()).unwrap();
    assert_eq!(two.status, ApprovalStatus::Approved);
    assert_eq!(
        two.decided_by.as_deref(),
        Some(
            "oidc:carol@example.test (oidc:https://idp.example.test#00u1), oidc:carol@example.test (oidc:https://idp.example.test#00u2)"
        )
    );
}

#[test]
fn the_ledgers_microsecond_times_match_the_stored_request() {
    let mut a = req();
    a.expires_at += Duration::nanoseconds(123_456_789);
    let mut chain = chain_of(&a);
    if let Some(r) = chain.request.as_mut() {
        r.expires_at -= Duration::nanoseconds(789);
    }
    assert!(check_chain(&a, &chain).is_empty());
    chain.request.as_mut().unwrap().expires_at -= Duration::microseconds(1);
    assert_eq!(check_chain(&a, &chain).len(), 1);
}

#[test]
fn a_review_of_another_plan_is_refused() {
    let a = req();
    let other = custos_core::Digest::of_bytes(b"another plan");
    assert_eq!(
        approve(&a, &alice(), Some(&other), None, t0())
            .unwrap_err()
            .code(),
        "plan_digest_mismatch"
    );
    let seen = a.plan_digest();
    assert!(approve(&a, &alice(), Some(&seen), None, t0()).is_ok());
}

#[test]
fn the_chain_decides_not_the_stored_row() {
    let a = req();
    let approved = approve(&a, &alice(), None, None, t0()).unwrap();
    // A row set to approved by SQL, while the events only know a pending request.
    let mut forged = a.clone();
    forged.status = ApprovalStatus::Approved;
    let problems = check_chain(&forged, &chain_of(&a));
    assert_eq!(
        problems,
        vec![
            ChainProblem::Status {
                stored: "approved".into(),
                chained: "pending".into()
            },
            ChainProblem::Quorum {
                valid: 0,
                required: 1
            }
        ]
    );
    // The plan changed after the approval.
    let mut changed = approved.clone();
    changed.plan.parameters = serde_json::json!({"sneaky": true});
    let problems = check_chain(&changed, &chain_of(&approved));
    assert!(
        matches!(
            &problems[..],
            [ChainProblem::Mismatch {
                field: "plan digest",
                ..
            }]
        ),
        "{problems:?}"
    );
    // A review by the requester, or by a policy admin, written into the events, does not count.
    let mut chain = chain_of(&approved);
    chain.reviews[0].by = "custos".into();
    assert_eq!(
        check_chain(&approved, &chain),
        vec![ChainProblem::Quorum {
            valid: 0,
            required: 1
        }]
    );
    let mut chain = chain_of(&approved);
    chain.reviews[0].roles.push(Role::PolicyAdmin);
    assert_eq!(check_chain(&approved, &chain).len(), 1);
    let mut chain = chain_of(&approved);
    chain.broken_events.push(7);
    assert_eq!(
        check_chain(&approved, &chain),
        vec![ChainProblem::BrokenEvent(7)]
    );
    assert!(check_chain(&approved, &chain_of(&approved)).is_empty());
}

#[test]
fn expired_requests_cannot_be_approved_or_executed() {
    let a = req();
    let late = t0() + Duration::hours(25);
    assert!(matches!(
        approve(&a, &alice(), None, None, late),
        Err(ApprovalError::Expired { .. })
    ));
    let ok = approve(&a, &alice(), None, None, t0()).unwrap();
    assert!(matches!(
        claim(&ok, late),
        Err(ApprovalError::Expired { .. })
    ));
    // Claimed in time: closing after the expiry records what was done.
    let running = claim(&ok, t0()).unwrap();
    assert_eq!(
        close(&running, false).unwrap().status,
        ApprovalStatus::Executed
    );
    assert_eq!(release(&running).unwrap().status, ApprovalStatus::Approved);
    assert!(close(&ok, false).is_err(), "closing needs a claim");
    assert_eq!(
        expire_if_due(&ok, late).unwrap().status,
        ApprovalStatus::Expired
    );
}

#[derive(Debug, Clone)]
enum Op {
    Approve(String, i64),
    Deny(String, i64),
    Expire(i64),
    Claim(i64),
    Release,
    Close(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let who = prop_oneof![
        Just("custos".to_string()),
        Just("alice".to_string()),
        Just("root".to_string())
    ];
    let hours = 0i64..48;
    prop_oneof![
        (who.clone(), hours.clone()).prop_map(|(w, h)| Op::Approve(w, h)),
        (who, hours.clone()).prop_map(|(w, h)| Op::Deny(w, h)),
        hours.clone().prop_map(Op::Expire),
        hours.prop_map(Op::Claim),
        Just(Op::Release),
        any::<bool>().prop_map(Op::Close),
    ]
}

fn person(name: &str) -> Principal {
    match name {
        "root" => who(name, &[Role::PolicyAdmin, Role::Reviewer]),
        _ => who(name, &[Role::Reviewer]),
    }
}

proptest! {
    /// Whatever happens, in any order: terminal states stay terminal, nothing is executed
    /// without an approval by someone other than the requester, and nothing is approved
    /// or executed after expiry.
    #[test]
    fn approval_state_machine_invariants(ops in proptest::collection::vec(op(), 1..12)) {
        let mut a = req();
        let mut approved_by: Option<String> = None;
        for op in ops {
            let before = a.status;
            let next = match &op {
                Op::Approve(w, h) => approve(&a, &person(w), None, None, t0() + Duration::hours(*h)).ok(),
                Op::Deny(w, h) => deny(&a, &person(w), Some("no".into()), t0() + Duration::hours(*h)).ok(),
                Op::Expire(h) => expire_if_due(&a, t0() + Duration::hours(*h)),
                Op::Claim(h) => claim(&a, t0() + Duration::hours(*h)).ok(),
                Op::Release => release(&a).ok(),
                Op::Close(s) => close(&a, *s).ok(),
            };
            if let Some(n) = next {
                prop_assert!(!before.is_terminal(), "left terminal state {before:?} via {op:?}");
                match n.status {
                    ApprovalStatus::Approved => {
                        let by = n.decided_by.clone().unwrap_or_default();
                        prop_assert!(by != "custos" && by != "root" && !by.is_empty());
                        if let Op::Approve(_, h) = op { prop_assert!(h < 24); }
                        approved_by = Some(by);
                    }
                    ApprovalStatus::Executing => {
                        prop_assert_eq!(before, ApprovalStatus::Approved);
                        prop_assert!(approved_by.is_some());
                        if let Op::Claim(h) = op { prop_assert!(h < 24); }
                    }
                    ApprovalStatus::Executed | ApprovalStatus::Stale => {
                        prop_assert_eq!(before, ApprovalStatus::Executing);
                        prop_assert!(approved_by.is_some());
                    }
                    ApprovalStatus::Expired => {
                        prop_assert!(before != ApprovalStatus::Executing, "a running execution expired");
                    }
                    _ => {}
                }
                a = n;
            }
        }
    }
}

#[test]
fn a_request_needs_the_most_reviewers_any_playbook_of_its_control_asks() {
    let q = Quorum {
        default: 1,
        classes: [("s3".to_string(), 2)].into(),
        playbooks: [("revoke".to_string(), 3)].into(),
    };
    let mut plan = sample_plan(&[]);
    plan.playbook = "narrow".into();
    assert_eq!(q.required("ec2", &plan), 1);
    assert_eq!(
        q.required_among("ec2", &plan, ["revoke", "narrow"].into_iter()),
        3
    );
    assert_eq!(q.required_among("s3", &plan, ["other"].into_iter()), 2);
    plan.playbook = "revoke".into();
    assert_eq!(q.required_among("ec2", &plan, std::iter::empty()), 3);
}
