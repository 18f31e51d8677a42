use super::*;
use custos_core::testing::{sample_decision as decision, sample_plan};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn req() -> Approval {
    request(
        sample_plan(&[]),
        decision(),
        vec![],
        None,
        "custos",
        t0(),
        Duration::hours(24),
    )
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
fn requester_cannot_approve_but_can_deny() {
    let a = req();
    assert_eq!(
        approve(&a, "Custos", None, t0()).unwrap_err(),
        ApprovalError::SelfApproval {
            who: "Custos".into()
        }
    );
    assert_eq!(
        deny(&a, "custos", None, t0()).unwrap().status,
        ApprovalStatus::Denied
    );
    assert_eq!(
        approve(&a, "  ", None, t0()).unwrap_err(),
        ApprovalError::NoIdentity
    );
}

#[test]
fn expired_requests_cannot_be_approved_or_executed() {
    let a = req();
    let late = t0() + Duration::hours(25);
    assert!(matches!(
        approve(&a, "alice", None, late),
        Err(ApprovalError::Expired { .. })
    ));
    let ok = approve(&a, "alice", None, t0()).unwrap();
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
        Just(String::new())
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
                Op::Approve(w, h) => approve(&a, w, None, t0() + Duration::hours(*h)).ok(),
                Op::Deny(w, h) => deny(&a, w, None, t0() + Duration::hours(*h)).ok(),
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
                        prop_assert!(by != "custos" && !by.is_empty());
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
