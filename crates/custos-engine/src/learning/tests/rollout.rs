//! The staged rollout's rule under drawn outcome streams, checked against a model kept
//! here (its own stage, its own count of successes and setbacks since the stage was
//! set), and the limited stage's share.

use super::{Stream, key, rule, t0};
use crate::learning::outcomes::Outcomes;
use crate::learning::rollout::{facts, in_share, recommend_stage, stage_in};
use crate::learning::rule::{Move, Rule};
use chrono::Duration;
use custos_core::{OutcomeKey, RolloutStage};
use proptest::prelude::*;
use serde_json::json;

fn stage_event(
    s: &mut Stream,
    k: &OutcomeKey,
    stage: RolloutStage,
    at: chrono::DateTime<chrono::Utc>,
) {
    s.push(
        at,
        "rollout.set",
        json!({"playbook": k.playbook, "version": k.playbook_version, "stage": stage.as_str(), "by": "custos:learner"}),
    );
}

/// Who approves the `n`th approval: two people, in turn.
fn approver(n: usize) -> &'static str {
    ["rita", "raj"][n % 2]
}

/// One outcome of the playbook version: 0 a fix alone, 1 an approved request and its
/// fix, 2 a denial, 3 a rollback, 4 a failure, 5 a recurrence.
fn outcome(s: &mut Stream, k: &OutcomeKey, what: usize, at: chrono::DateTime<chrono::Utc>) {
    outcome_by(s, k, what, at, "rita");
}

/// [`outcome`], approved (when it is) by `who`.
fn outcome_by(
    s: &mut Stream,
    k: &OutcomeKey,
    what: usize,
    at: chrono::DateTime<chrono::Utc>,
    who: &str,
) {
    match what {
        0 => {
            s.fix(at, k, None, "executed");
        }
        1 => {
            let a = s.ask(at, k);
            s.push(
                at,
                "approval.reviewed",
                json!({"approval_id": a, "status": "approved", "by": who}),
            );
            s.fix(at, k, Some(&a), "executed");
        }
        2 => {
            let a = s.ask(at, k);
            s.push(
                at,
                "approval.denied",
                json!({"approval_id": a, "status": "denied"}),
            );
        }
        3 => {
            s.fix(at, k, None, "rolled_back");
        }
        4 => {
            s.fix(at, k, None, "failed");
        }
        _ => {
            let id = s.fix(at, k, None, "executed");
            s.push(at, "recurrence", json!({"fixed_by": id}));
        }
    }
}

fn fold(s: &Stream, r: &Rule, now: chrono::DateTime<chrono::Utc>) -> Outcomes {
    let mut o = Outcomes::new(r.window);
    o.fold(&s.events, now);
    o
}

#[test]
fn each_promotion_rests_on_its_own_cases_and_a_setback_demotes_at_once() {
    let r = rule(); // 5 cases, threshold 0.6
    let k = key("s3", "dev", false);
    let mut s = Stream::new();
    let t = t0();
    let rec = |s: &Stream| recommend_stage(&r, &fold(s, &r, t), &k.playbook, &k.playbook_version);
    // Never set: shadow, and nothing to go on.
    let first = rec(&s);
    assert_eq!(
        (first.stage, first.movement),
        (RolloutStage::Shadow, Move::Hold)
    );
    // Five fixes approved by one person: not enough people.
    for _ in 0..5 {
        outcome(&mut s, &k, 1, t);
    }
    let alone = rec(&s);
    assert_eq!(
        (alone.movement, alone.successes),
        (Move::Hold, 5),
        "{alone:?}"
    );
    assert!(alone.reason.contains("at least two"), "{alone:?}");
    // Four approved by two people: not yet ...
    let mut s = Stream::new();
    for i in 0..4 {
        outcome_by(&mut s, &k, 1, t, approver(i));
    }
    assert_eq!(rec(&s).movement, Move::Hold, "{:?}", rec(&s));
    // ... the fifth: promote one stage, to limited.
    outcome_by(&mut s, &k, 1, t, approver(4));
    let up = rec(&s);
    assert_eq!(
        (up.movement, up.to, up.successes),
        (Move::Raise, Some(RolloutStage::Limited), 5)
    );
    stage_event(&mut s, &k, RolloutStage::Limited, t);
    // The five before the change count for nothing now.
    let after = rec(&s);
    assert_eq!(
        (after.stage, after.movement, after.successes),
        (RolloutStage::Limited, Move::Hold, 0)
    );
    // Two alone and three approved by two people: to broad.
    for (i, w) in [0, 0, 1, 1, 1].into_iter().enumerate() {
        outcome_by(&mut s, &k, w, t, approver(i));
    }
    let o = fold(&s, &r, t);
    assert_eq!(o.alone_since_stage(&k.playbook, &k.playbook_version), 2);
    let up = recommend_stage(&r, &o, &k.playbook, &k.playbook_version);
    assert_eq!(up.to, Some(RolloutStage::Broad), "{up:?}");
    stage_event(&mut s, &k, RolloutStage::Broad, t);
    assert_eq!(rec(&s).movement, Move::Hold);
    // One rollback: back to limited at once, with the rollback as evidence.
    outcome(&mut s, &k, 3, t + Duration::hours(1));
    let down = rec(&s);
    assert_eq!(
        (down.movement, down.to),
        (Move::Lower, Some(RolloutStage::Limited))
    );
    assert_eq!(
        down.evidence.as_ref().map(|e| e.what.as_str()),
        Some("rolled_back")
    );
    stage_event(&mut s, &k, RolloutStage::Limited, t + Duration::hours(1));
    // The rollback was acted on: it does not demote twice.
    assert_eq!(rec(&s).movement, Move::Hold);
    // Another version of the same playbook has a stage of its own.
    let v2 = OutcomeKey {
        playbook_version: "2".into(),
        ..k.clone()
    };
    let o = fold(&s, &r, t + Duration::hours(1));
    assert_eq!(
        stage_in(&o, &v2.playbook, &v2.playbook_version).0,
        RolloutStage::Shadow
    );
}

#[test]
fn denials_keep_a_version_in_shadow() {
    let r = rule();
    let k = key("sns", "dev", false);
    let mut s = Stream::new();
    // Five approved, five denied: the lower bound of Beta(6, 6) is far below 0.6.
    for i in 0..10 {
        outcome_by(
            &mut s,
            &k,
            if i % 2 == 0 { 1 } else { 2 },
            t0(),
            approver(i / 2),
        );
    }
    let rec = recommend_stage(&r, &fold(&s, &r, t0()), &k.playbook, &k.playbook_version);
    assert_eq!(
        (rec.movement, rec.successes, rec.failures),
        (Move::Hold, 5, 5),
        "{rec:?}"
    );
    assert!(
        rec.lower_bound < r.threshold && rec.lower_bound > 0.0,
        "{rec:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the outcomes, the rule moves a version one stage at a time, promotes
    /// only on `min_cases` successes since its stage was set with no setback since,
    /// demotes whenever a setback came since (shadow aside), and a version with only
    /// successes reaches broad (liveness).
    #[test]
    fn no_outcomes_let_a_version_skip_a_stage_or_keep_one_after_a_setback(
        steps in prop_oneof![
            // Approved successes only: the liveness half.
            1 => proptest::collection::vec(Just(1_usize), 10..40),
            3 => proptest::collection::vec(prop_oneof![6 => 0_usize..2, 1 => 2_usize..6], 1..80),
        ]
    ) {
        let r = rule();
        let k = key("s3", "dev", false);
        let mut s = Stream::new();
        let t = t0();
        // The model: its own stage, successes and setback since the stage was set.
        let (mut stage, mut successes, mut setback) = (RolloutStage::Shadow, 0_u64, false);
        let (mut approvals, mut all_approvals) = (0_usize, 0_usize);
        let mut reached_broad = false;
        for w in &steps {
            outcome_by(&mut s, &k, *w, t, approver(all_approvals));
            match w {
                0 => successes += 1,
                1 => {
                    successes += 1;
                    approvals += 1;
                    all_approvals += 1;
                }
                3 | 4 => setback = true,
                _ => {}
            }
            let rec = recommend_stage(&r, &fold(&s, &r, t), &k.playbook, &k.playbook_version);
            prop_assert_eq!(rec.stage, stage);
            match rec.movement {
                Move::Raise => {
                    prop_assert!(!setback, "promoted after a setback: {:?}", rec);
                    prop_assert!(successes >= r.min_cases, "promoted on {} successes", successes);
                    prop_assert!(approvals >= 2, "promoted on {} approval(s)", approvals);
                    prop_assert_eq!(rec.to, stage.up());
                }
                Move::Lower => {
                    prop_assert!(setback, "demoted without a setback: {:?}", rec);
                    prop_assert_eq!(rec.to, stage.down());
                }
                Move::Hold => {
                    prop_assert!(!setback || stage == RolloutStage::Shadow, "kept {} after a setback", stage);
                }
            }
            if let Some(to) = rec.to {
                stage_event(&mut s, &k, to, t);
                stage = to;
                successes = 0;
                approvals = 0;
                setback = false;
                reached_broad |= to == RolloutStage::Broad;
            }
        }
        // Liveness: approved successes only, from the start, always reach broad.
        if steps.iter().all(|w| *w == 1) && steps.len() as u64 >= 2 * r.min_cases {
            prop_assert!(reached_broad, "{} successes and still {}", steps.len(), stage);
        }
    }
}

#[test]
fn the_limited_share_is_about_its_percent_and_stable() {
    let keys: Vec<String> = (0..2000)
        .map(|i| format!("111122223333/us-east-1/AWS::S3::Bucket/b-{i}"))
        .collect();
    let picked = |p: u64| keys.iter().filter(|k| in_share("s3-fix", k, p)).count();
    let ten = picked(10);
    // Binomial(2000, 0.1): mean 200, sd 13.4; six sd either way.
    assert!((120..=280).contains(&ten), "{ten} of 2000 at 10 %");
    assert_eq!(picked(100), 2000);
    assert_eq!(picked(10), ten, "the same resources every time");
    // Another playbook picks other canaries.
    let other = keys
        .iter()
        .filter(|k| in_share("s3-fix", k, 10) != in_share("s3-other", k, 10))
        .count();
    assert!(other > 100, "{other}");
}

#[test]
fn a_setback_demotes_in_every_decision_before_it_is_recorded() {
    let r = rule();
    let k = key("s3", "dev", false);
    let settings = crate::config::RolloutSettings {
        limited_percent: 100,
        limited_count: 3,
    };
    let mut s = Stream::new();
    let t = t0();
    stage_event(&mut s, &k, RolloutStage::Broad, t);
    let now = |s: &Stream| {
        facts(
            &fold(s, &r, t),
            &settings,
            &k.playbook,
            &k.playbook_version,
            "r1",
        )
    };
    assert_eq!(
        (now(&s).stage, now(&s).selected),
        (RolloutStage::Broad, true)
    );
    // A rollback, not yet acted on by anyone: limited at once, and in limited the share's
    // count (3) is spent on the fixes made alone since the stage was set (2 of them).
    outcome(&mut s, &k, 0, t);
    outcome(&mut s, &k, 3, t);
    let f = now(&s);
    assert_eq!(
        (f.stage, f.selected),
        (RolloutStage::Limited, true),
        "{f:?}"
    );
    outcome(&mut s, &k, 0, t);
    let f = now(&s);
    assert_eq!(
        (f.stage, f.selected),
        (RolloutStage::Limited, false),
        "{f:?}"
    );
    // Recorded as limited by the learner: the rollback is behind it, nothing more.
    stage_event(&mut s, &k, RolloutStage::Limited, t);
    let f = now(&s);
    assert_eq!(
        (f.stage, f.selected),
        (RolloutStage::Limited, true),
        "{f:?}"
    );
    // Another rollback in limited: shadow, nothing selected.
    outcome(&mut s, &k, 4, t);
    let f = now(&s);
    assert_eq!(
        (f.stage, f.selected),
        (RolloutStage::Shadow, false),
        "{f:?}"
    );
}
