//! The fold against hand-counted event streams, and the rule under every sequence of
//! outcomes proptest draws. The properties are the issue's, checked by a model kept
//! here (its own record of levels and raises), not by the rule's own reasons.

use super::outcomes::{Ending, Outcomes};
use super::rule::{Facts, LEARNER, Move, Rule, recommend};
use crate::decide::verdict_of;
use chrono::{DateTime, Duration, TimeZone, Utc};
use custos_core::{AutonomyLevel, OutcomeKey, Reason, Stage, Verdict};
use custos_ledger::Event;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap()
}

fn key(class: &str, env: &str, production: bool) -> OutcomeKey {
    OutcomeKey {
        control: format!("{class}-control"),
        playbook: format!("{class}-fix"),
        playbook_version: "1".into(),
        class: class.into(),
        environment: env.into(),
        production,
    }
}

/// Builds a stream the way the engine writes it.
struct Stream {
    events: Vec<Event>,
    n: usize,
}

impl Stream {
    fn new() -> Self {
        Stream {
            events: vec![],
            n: 0,
        }
    }

    fn push(&mut self, at: DateTime<Utc>, kind: &str, payload: Value) {
        self.n += 1;
        self.events.push(Event {
            seq: self.n as i64,
            index: self.n as i64 - 1,
            id: format!("ev-{}", self.n),
            at,
            run_id: None,
            kind: kind.into(),
            resource: None,
            payload,
            prev_hash: String::new(),
            hash: String::new(),
        });
    }

    /// An admitted fix and its outcome (`executed`, `rolled_back`, `failed`); the
    /// action's id.
    fn fix(
        &mut self,
        at: DateTime<Utc>,
        k: &OutcomeKey,
        approval: Option<&str>,
        end: &str,
    ) -> String {
        let id = format!("act-{}", self.n);
        self.push(
            at,
            "action.intent",
            json!({"action_id": id, "kind": "fix", "approval_id": approval, "outcome": k}),
        );
        self.push(at, &format!("action.{end}"), json!({"action_id": id}));
        id
    }

    fn ask(&mut self, at: DateTime<Utc>, k: &OutcomeKey) -> String {
        let id = format!("apr-{}", self.n);
        self.push(
            at,
            "approval.requested",
            json!({"approval_id": id, "outcome": k}),
        );
        id
    }

    fn level(&mut self, at: DateTime<Utc>, class: &str, env: &str, level: u8, by: &str) {
        self.push(
            at,
            "autonomy.set",
            json!({"class": class, "environment": env, "level": level, "by": by}),
        );
    }
}

#[test]
fn the_fold_counts_what_the_stream_says() {
    let prod = key("s3", "production", true);
    let dev = key("s3", "dev", false);
    let mut s = Stream::new();
    let t = t0();
    // Development: two verified fixes, then one recurs within the window.
    let d1 = s.fix(t, &dev, None, "executed");
    s.fix(t, &dev, None, "executed");
    // Production: asked, approved after an hour, executed; asked, denied after two;
    // asked, expired; one autonomous fix rolled back.
    let a1 = s.ask(t, &prod);
    s.push(
        t + Duration::hours(1),
        "approval.reviewed",
        json!({"approval_id": a1, "status": "approved"}),
    );
    s.fix(t + Duration::hours(1), &prod, Some(&a1), "executed");
    let a2 = s.ask(t, &prod);
    s.push(
        t + Duration::hours(2),
        "approval.denied",
        json!({"approval_id": a2, "status": "denied"}),
    );
    let a3 = s.ask(t, &prod);
    s.push(
        t + Duration::hours(30),
        "approval.expired",
        json!({"approval_id": a3, "status": "expired"}),
    );
    let rb = s.fix(t + Duration::hours(3), &prod, None, "rolled_back");
    // A rollback the operator asked for is not a fix: it counts nothing itself.
    s.push(
        t + Duration::hours(4),
        "action.intent",
        json!({"action_id": "act-undo", "kind": "rollback", "outcome": prod}),
    );
    s.push(
        t + Duration::hours(4),
        "action.executed",
        json!({"action_id": "act-undo"}),
    );
    s.push(t + Duration::days(2), "recurrence", json!({"fixed_by": d1}));
    // The same fix recurring again is not a second failure.
    s.push(t + Duration::days(3), "recurrence", json!({"fixed_by": d1}));
    let mut o = Outcomes::new(Duration::days(30));
    o.fold(&s.events);
    let d = &o.tallies[&dev];
    assert_eq!((d.executed, d.recurred, d.rolled_back), (2, 1, 0));
    let p = &o.tallies[&prod];
    assert_eq!(
        (
            p.executed,
            p.rolled_back,
            p.approval_requests,
            p.approved,
            p.denied,
            p.expired
        ),
        (1, 1, 3, 1, 1, 1)
    );
    assert_eq!(p.mean_decision_seconds(), Some(3 * 3600 / 2));
    // Cases: dev 1 success + 1 failure (recurred); prod approved-and-executed success,
    // denied failure, rolled-back failure; the expired request is no case.
    let count = |env: &str, e: Ending| {
        o.cases
            .values()
            .filter(|c| c.key.environment == env && c.result == e)
            .count()
    };
    assert_eq!(
        (
            count("dev", Ending::Success),
            count("dev", Ending::Failure),
            count("production", Ending::Success),
            count("production", Ending::Failure)
        ),
        (1, 1, 1, 2)
    );
    // The production rollback and the recurrence reset the playbook's proof.
    assert_eq!(o.proof_of("s3-fix", "1").verified_lower, 0);
    // The rollback is a setback; the recurrence is not (the fix held and the resource
    // was changed back), though it voided the proof all the same.
    let what: Vec<_> = o
        .setbacks
        .iter()
        .map(|s| (s.what.as_str(), s.action_id.as_str()))
        .collect();
    assert_eq!(what, [("rolled_back", rb.as_str())]);
    // Folding the same events again changes nothing.
    let before = o.tallies.clone();
    o.fold(&s.events);
    assert_eq!(o.tallies, before);
}

#[test]
fn proof_counts_verified_lower_fixes_since_the_last_setback_per_version() {
    let dev = key("s3", "dev", false);
    let mut v2 = dev.clone();
    v2.playbook_version = "2".into();
    let mut s = Stream::new();
    let t = t0();
    s.fix(t, &dev, None, "executed");
    s.fix(t, &dev, None, "failed");
    s.fix(t, &dev, None, "executed");
    s.fix(t, &dev, None, "executed");
    s.fix(t, &v2, None, "executed");
    s.fix(t, &key("s3", "production", true), None, "executed");
    let mut o = Outcomes::new(Duration::days(30));
    o.fold(&s.events);
    assert_eq!(o.proof_of("s3-fix", "1").verified_lower, 2);
    assert_eq!(o.proof_of("s3-fix", "2").verified_lower, 1);
    assert_eq!(o.proof_of("s3-fix", "3").verified_lower, 0);
}

const CEILING: AutonomyLevel = AutonomyLevel::Auto;

fn rule() -> Rule {
    Rule {
        window: Duration::days(7),
        min_cases: 5,
        threshold: 0.6,
        confidence: 0.95,
    }
}

/// One step of a drawn history.
#[derive(Debug, Clone)]
enum Step {
    /// Hours pass.
    Wait(u32),
    /// An outcome in a class and environment.
    Outcome {
        class: usize,
        production: bool,
        end: usize,
    },
    /// A person sets a level.
    Person {
        class: usize,
        production: bool,
        level: u8,
    },
}

const CLASSES: [&str; 2] = ["s3", "kms"];
const ENDS: [&str; 7] = [
    "executed",
    "approved",
    "denied",
    "rolled_back",
    "failed",
    "reverted",
    "recurred",
];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (1_u32..72).prop_map(Step::Wait),
        // Mostly successes, so raises happen and their bounds are tested.
        6 => (0..CLASSES.len(), any::<bool>(), prop_oneof![8 => 0_usize..2, 1 => 2..ENDS.len()])
            .prop_map(|(class, production, end)| Step::Outcome { class, production, end }),
        1 => (0..CLASSES.len(), any::<bool>(), 1_u8..=5)
            .prop_map(|(class, production, level)| Step::Person { class, production, level }),
    ]
}

/// The engine's learner, played against a model of the levels: after every outcome the
/// rule is asked and its move applied, as `Engine::learn` does. Returns every move.
fn play(steps: &[Step], start: AutonomyLevel) -> Vec<(DateTime<Utc>, String, Move, u8, u8)> {
    let mut s = Stream::new();
    let mut now = t0();
    let mut levels: BTreeMap<(usize, bool), AutonomyLevel> = BTreeMap::new();
    let mut moves = vec![];
    let mut o = Outcomes::new(rule().window);
    let env = |p: bool| if p { "production" } else { "dev" };
    for st in steps {
        match *st {
            Step::Wait(h) => now += Duration::hours(i64::from(h)),
            Step::Person {
                class,
                production,
                level,
            } => {
                // A person's level passes the same ceiling check.
                let l = AutonomyLevel::try_from(level).unwrap().min(CEILING);
                levels.insert((class, production), l);
                s.level(now, CLASSES[class], env(production), l.number(), "pat");
            }
            Step::Outcome {
                class,
                production,
                end,
            } => {
                let k = key(CLASSES[class], env(production), production);
                match ENDS[end] {
                    "approved" => {
                        let a = s.ask(now, &k);
                        s.push(
                            now,
                            "approval.reviewed",
                            json!({"approval_id": a, "status": "approved"}),
                        );
                        s.fix(now, &k, Some(&a), "executed");
                    }
                    "denied" => {
                        let a = s.ask(now, &k);
                        s.push(
                            now,
                            "approval.denied",
                            json!({"approval_id": a, "status": "denied"}),
                        );
                    }
                    "reverted" | "recurred" => {
                        let id = s.fix(now, &k, None, "executed");
                        if ENDS[end] == "reverted" {
                            s.push(now, "action.reverted", json!({"action_id": id}));
                        } else {
                            s.push(now, "recurrence", json!({"fixed_by": id}));
                        }
                    }
                    e => {
                        s.fix(now, &k, None, e);
                    }
                }
                o.fold(&s.events);
                let level = *levels.get(&(class, production)).unwrap_or(&start);
                let rec = recommend(
                    &rule(),
                    &o,
                    &Facts {
                        class: CLASSES[class],
                        environment: env(production),
                        level,
                        ceiling: CEILING,
                        never_automated: CLASSES[class] == "kms",
                        now,
                    },
                );
                if let Some(to) = rec.to {
                    levels.insert((class, production), to);
                    s.level(now, CLASSES[class], env(production), to.number(), LEARNER);
                    moves.push((
                        now,
                        format!("{}/{}", CLASSES[class], env(production)),
                        rec.movement,
                        level.number(),
                        to.number(),
                    ));
                }
            }
        }
        o.fold(&s.events);
    }
    moves
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No sequence of outcomes moves a level by more than one, above the ceiling, up for
    /// a class the floor never automates, up twice in one window, or up right after a
    /// setback; and no level it reaches lifts a floor rule.
    #[test]
    fn no_outcomes_let_the_learner_pass_its_bounds(
        steps in proptest::collection::vec(step(), 1..160),
        start in 3_u8..=5,
    ) {
        let start = AutonomyLevel::try_from(start).unwrap();
        let moves = play(&steps, start);
        let mut last_raise: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for (at, scope, m, from, to) in &moves {
            prop_assert!(*to <= CEILING.number(), "{moves:?}");
            prop_assert!(*m != Move::Lower || *to >= 3, "{moves:?}");
            prop_assert_eq!(u8::abs_diff(*from, *to), 1);
            if *m == Move::Raise {
                prop_assert!(!scope.starts_with("kms/"), "{moves:?}");
                if let Some(prev) = last_raise.get(scope) {
                    prop_assert!(*at - *prev >= rule().window, "two raises of {} within a window: {:?}", scope, moves);
                }
                last_raise.insert(scope.clone(), *at);
            }
        }
        // Whatever level is learned, a floor denial stays a denial and a floor
        // `needs_approval` still needs one.
        for l in 1..=5_u8 {
            let level = AutonomyLevel::try_from(l).unwrap();
            for production in [true, false] {
                let env = custos_core::Environment {
                    name: "e".into(),
                    class: if production { custos_core::EnvClass::Production } else { custos_core::EnvClass::NonProduction },
                };
                let (_, autonomy) = custos_approval::autonomy_verdict(level, &env);
                for floor in [Verdict::Deny, Verdict::NeedsApproval] {
                    let reasons: Vec<Reason> = std::iter::once(Reason {
                        stage: Stage::Gate,
                        rule: "floor.rule".into(),
                        verdict: floor,
                        message: String::new(),
                    })
                    .chain(autonomy.clone())
                    .collect();
                    prop_assert!(verdict_of(&reasons) >= floor);
                }
            }
        }
    }
}

/// Liveness: a class whose fixes keep succeeding earns its levels, one per window, up to
/// the ceiling; a setback then lowers it at once. (A learner that never raises, or never
/// lowers, fails here.)
#[test]
fn steady_success_earns_levels_and_a_setback_takes_one_back() {
    let mut steps = vec![];
    for _ in 0..3 {
        for _ in 0..6 {
            steps.push(Step::Outcome {
                class: 0,
                production: true,
                end: 0,
            });
            steps.push(Step::Wait(24));
        }
        steps.push(Step::Wait(24 * 3));
    }
    steps.push(Step::Outcome {
        class: 0,
        production: true,
        end: 3,
    });
    let moves = play(&steps, AutonomyLevel::Approve);
    let path: Vec<(Move, u8)> = moves.iter().map(|m| (m.2, m.4)).collect();
    assert_eq!(
        path,
        [(Move::Raise, 4), (Move::Raise, 5), (Move::Lower, 4)],
        "{moves:#?}"
    );
    // The fifth success raises (day 4); the next raise waits out the window (day 12);
    // the rollback lowers the moment it is recorded (day 27).
    let days: Vec<i64> = moves.iter().map(|m| (m.0 - t0()).num_days()).collect();
    assert_eq!(days, [4, 12, 27], "{moves:#?}");
}
