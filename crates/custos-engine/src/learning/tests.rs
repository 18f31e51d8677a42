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
        // Each fix on a resource of its own.
        if let Some(e) = self.events.last_mut() {
            e.resource = Some(format!("{}/{id}", k.class));
        }
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
        json!({"approval_id": a1, "status": "approved", "by": "rita"}),
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
    o.fold(&s.events, t + Duration::days(3));
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
    o.fold(&s.events, t + Duration::days(3));
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
    o.fold(&s.events, t);
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
    /// A person sets a level on one of the keys that decide it (0: the environment's
    /// name, 1: its class, 2: `*`).
    Person {
        class: usize,
        production: bool,
        key: usize,
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
        1 => (0..CLASSES.len(), any::<bool>(), 0_usize..3, 1_u8..=5)
            .prop_map(|(class, production, key, level)| Step::Person { class, production, key, level }),
    ]
}

/// One move of the learner: when, in which class/environment, what, from and to.
type Played = (DateTime<Utc>, String, Move, u8, u8);

/// The model's own levels: `(class, key) -> (level, set by the learner)`.
type Levels = BTreeMap<(usize, String), (AutonomyLevel, bool)>;

/// The level in force for a class in an environment, as the README states it: the most
/// specific key set wins, the ceiling caps it, and a level the learner set never
/// exceeds one a person set on a broader key.
fn level_in(
    levels: &Levels,
    class: usize,
    production: bool,
    start: AutonomyLevel,
) -> AutonomyLevel {
    let keys = [env(production), class_key(production), "*"];
    for (i, k) in keys.iter().enumerate() {
        if let Some((l, learned)) = levels.get(&(class, (*k).to_string())) {
            let mut l = *l;
            if *learned {
                for b in &keys[i + 1..] {
                    if let Some((p, false)) = levels.get(&(class, (*b).to_string())) {
                        l = l.min(*p);
                    }
                }
            }
            return l.min(CEILING);
        }
    }
    start
}

fn env(production: bool) -> &'static str {
    if production { "production" } else { "dev" }
}

fn class_key(production: bool) -> &'static str {
    if production {
        "production"
    } else {
        "non-production"
    }
}

/// What the model knows besides the moves: every person's setting and setback, by scope.
#[derive(Default)]
struct Record {
    moves: Vec<Played>,
    /// Scope -> when a person set a level bearing on it (time, and the step's place).
    people: BTreeMap<String, Vec<(DateTime<Utc>, usize)>>,
    /// Scope -> when a fix there was rolled back, failed or undone.
    setbacks: BTreeMap<String, Vec<(DateTime<Utc>, usize)>>,
    /// The step each move was made at.
    move_steps: Vec<usize>,
    levels: Levels,
}

/// The engine's learner, played against a model of the levels: after every outcome the
/// rule is asked and its move applied, as `Engine::learn` does.
fn play(steps: &[Step], start: AutonomyLevel) -> Record {
    let mut s = Stream::new();
    let mut now = t0();
    let mut r = Record::default();
    let mut o = Outcomes::new(rule().window);
    let scope = |class: usize, production: bool| format!("{}/{}", CLASSES[class], env(production));
    let mut turn = 0_usize;
    for (i, st) in steps.iter().enumerate() {
        match *st {
            Step::Wait(h) => now += Duration::hours(i64::from(h)),
            Step::Person {
                class,
                production,
                key,
                level,
            } => {
                // A person's level passes the same ceiling check.
                let l = AutonomyLevel::try_from(level).unwrap().min(CEILING);
                let k = [env(production), class_key(production), "*"][key];
                r.levels.insert((class, k.to_string()), (l, false));
                s.level(now, CLASSES[class], k, l.number(), "pat");
                for p in [true, false] {
                    if [env(p), class_key(p), "*"].contains(&k) {
                        r.people.entry(scope(class, p)).or_default().push((now, i));
                    }
                }
            }
            Step::Outcome {
                class,
                production,
                end,
            } => {
                let k = key(CLASSES[class], env(production), production);
                // Two reviewers take turns.
                turn += 1;
                let by = if turn.is_multiple_of(2) {
                    "rita"
                } else {
                    "raj"
                };
                match ENDS[end] {
                    "approved" => {
                        let a = s.ask(now, &k);
                        s.push(
                            now,
                            "approval.reviewed",
                            json!({"approval_id": a, "status": "approved", "by": by}),
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
                if ["rolled_back", "failed", "reverted"].contains(&ENDS[end]) {
                    r.setbacks
                        .entry(scope(class, production))
                        .or_default()
                        .push((now, i));
                }
                o.fold(&s.events, now);
                let level = level_in(&r.levels, class, production, start);
                let rec = recommend(
                    &rule(),
                    &o,
                    &Facts {
                        class: CLASSES[class],
                        environment: env(production),
                        production,
                        level,
                        ceiling: CEILING,
                        never_automated: CLASSES[class] == "kms",
                        now,
                    },
                );
                if let Some(to) = rec.to {
                    r.levels
                        .insert((class, env(production).to_string()), (to, true));
                    s.level(now, CLASSES[class], env(production), to.number(), LEARNER);
                    r.move_steps.push(i);
                    r.moves.push((
                        now,
                        scope(class, production),
                        rec.movement,
                        level.number(),
                        to.number(),
                    ));
                }
            }
        }
        o.fold(&s.events, now);
    }
    r
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
        let r = play(&steps, start);
        let moves = &r.moves;
        let window = rule().window;
        let mut last_move: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for ((at, scope, m, from, to), step) in moves.iter().zip(&r.move_steps) {
            prop_assert!(*to <= CEILING.number(), "{moves:?}");
            match m {
                Move::Raise => {
                    prop_assert_eq!(*to, from + 1);
                    prop_assert!(!scope.starts_with("kms/"), "{moves:?}");
                    // Not within a window of the learner's last move, a person's setting
                    // or a setback, in that class and environment.
                    let recent = |times: Option<&Vec<(DateTime<Utc>, usize)>>| {
                        times.is_some_and(|v| v.iter().any(|(t, i)| i <= step && *at - *t < window))
                    };
                    prop_assert!(last_move.get(scope).is_none_or(|t| *at - *t >= window), "two moves of {} within a window: {:?}", scope, moves);
                    prop_assert!(!recent(r.people.get(scope)), "a raise of {} within a window of a person's setting: {:?}", scope, moves);
                    prop_assert!(!recent(r.setbacks.get(scope)), "a raise of {} within a window of a setback: {:?}", scope, moves);
                }
                Move::Lower => prop_assert!(*to < *from && *to >= 3, "{moves:?}"),
                Move::Hold => prop_assert!(false, "a hold recorded as a move"),
            }
            last_move.insert(scope.clone(), *at);
        }
        // Whatever level was learned, a floor denial stays a denial and a floor
        // `needs_approval` still needs one.
        for (class, production) in [(0, true), (0, false), (1, true), (1, false)] {
            let level = level_in(&r.levels, class, production, start);
            {
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
                end: 1,
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
    let moves = play(&steps, AutonomyLevel::Approve).moves;
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

/// No one alone earns custos the right to act alone: production at 4 (asks) does not go
/// to 5 (acts) on one reviewer's approvals, however many; with a second reviewer it does.
#[test]
fn one_reviewer_alone_does_not_earn_acting_alone() {
    let prod = key("s3", "production", true);
    let facts = |now| Facts {
        class: "s3",
        environment: "production",
        production: true,
        level: AutonomyLevel::AutoLower,
        ceiling: CEILING,
        never_automated: false,
        now,
    };
    for (reviewers, want) in [
        (vec!["rita"], Move::Hold),
        (vec!["rita", "raj"], Move::Raise),
    ] {
        let mut s = Stream::new();
        let t = t0();
        for i in 0..30 {
            let a = s.ask(t, &prod);
            let by = reviewers[i % reviewers.len()];
            s.push(
                t,
                "approval.reviewed",
                json!({"approval_id": a, "status": "approved", "by": by}),
            );
            s.fix(t, &prod, Some(&a), "executed");
        }
        let mut o = Outcomes::new(rule().window);
        o.fold(&s.events, t);
        let rec = recommend(&rule(), &o, &facts(t));
        assert_eq!(rec.movement, want, "{reviewers:?}: {rec:#?}");
    }
}

/// Outside production 4 and 5 both act alone: a setback there lowers to 3.
#[test]
fn a_setback_outside_production_lowers_to_where_a_person_is_asked() {
    let dev = key("s3", "dev", false);
    let mut s = Stream::new();
    s.fix(t0(), &dev, None, "rolled_back");
    let mut o = Outcomes::new(rule().window);
    o.fold(&s.events, t0());
    for level in [AutonomyLevel::Auto, AutonomyLevel::AutoLower] {
        let rec = recommend(
            &rule(),
            &o,
            &Facts {
                class: "s3",
                environment: "dev",
                production: false,
                level,
                ceiling: CEILING,
                never_automated: false,
                now: t0(),
            },
        );
        assert_eq!(rec.to, Some(AutonomyLevel::Approve), "{rec:#?}");
    }
}

/// A level the learner set never exceeds one a person set on a broader key (an operator's
/// `autonomy set s3 '*' 1` stops what the learner earned in `dev`); a person's own, more
/// specific level still decides over their broader one, as before.
#[test]
fn a_learned_level_never_exceeds_a_persons_on_a_broader_key() {
    let set = |env: &str, level: u8, by: &str| custos_ledger::AutonomySetting {
        class: "s3".into(),
        environment: env.into(),
        level: AutonomyLevel::try_from(level).unwrap(),
        set_by: by.into(),
        set_at: t0(),
        reason: "test".into(),
    };
    let dev = custos_core::Environment {
        name: "dev".into(),
        class: custos_core::EnvClass::NonProduction,
    };
    let policy = custos_approval::AutonomyPolicy::default();
    let level = |settings: Vec<custos_ledger::AutonomySetting>| {
        policy.level_with("s3", &dev, super::runtime_level(&settings, "s3", &dev))
    };
    assert_eq!(
        level(vec![set("dev", 5, LEARNER), set("*", 1, "olivia")]),
        AutonomyLevel::Observe
    );
    assert_eq!(
        level(vec![
            set("dev", 5, LEARNER),
            set("non-production", 4, "olivia")
        ]),
        AutonomyLevel::AutoLower
    );
    assert_eq!(
        level(vec![set("dev", 5, "pat"), set("*", 1, "olivia")]),
        AutonomyLevel::Auto
    );
    // A broader level the learner set caps nothing.
    assert_eq!(
        level(vec![set("dev", 5, LEARNER), set("*", 3, LEARNER)]),
        AutonomyLevel::Auto
    );
}

// ---- candidate fixes ----

use super::candidates::{Candidate, Ranking, choose, lower_bound};
use crate::config::Fallback;

const WAYS: [&str; 3] = ["sg-revoke", "sg-narrow", "sg-third"];

fn way_key(i: usize, environment: &str) -> OutcomeKey {
    OutcomeKey {
        control: "ec2-sg-open-ingress".into(),
        playbook: WAYS[i].into(),
        playbook_version: "1".into(),
        class: "ec2".into(),
        environment: environment.into(),
        production: environment == "production",
    }
}

fn ranking(ranked: bool, min_cases: u64) -> Ranking {
    Ranking {
        fallback: if ranked {
            Fallback::Ranked
        } else {
            Fallback::Baseline
        },
        min_cases,
        confidence: 0.95,
    }
}

/// The candidates as the engine builds them, from a fold's records in `dev`.
fn scored(o: &Outcomes, r: Ranking, offered: &[bool], gates: &[Verdict]) -> Vec<Candidate> {
    (0..WAYS.len())
        .map(|i| {
            let (s, f) = o.record_of(WAYS[i], "1", "ec2", "dev");
            Candidate {
                playbook: WAYS[i].into(),
                baseline: i == 0,
                not_offered: (!offered[i]).then(|| "not configured".into()),
                version: offered[i].then(|| "1".into()),
                gate: offered[i].then_some(gates[i]),
                refused_by: vec![],
                successes: s,
                failures: f,
                lower_bound: lower_bound(r, s, f),
                chosen: false,
            }
        })
        .collect()
}

fn verdict(n: u8) -> Verdict {
    [
        Verdict::Execute,
        Verdict::NeedsApproval,
        Verdict::RecommendOnly,
        Verdict::Deny,
    ][usize::from(n % 4)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No sequence of outcomes makes the choice take a candidate the gate refused while
    /// another passes, prefer a candidate to a baseline that passes when its record does
    /// not beat the baseline's (fewer than `min_cases` successes, or dominated: no more
    /// successes and no fewer failures), or rank at all under `fallback = "baseline"`
    /// (the baseline then, its own gate deciding). The model counts each playbook's
    /// successes and failures itself, in `dev` only (outcomes in production are drawn
    /// too and must not count).
    #[test]
    fn no_outcomes_let_the_choice_take_a_refused_or_worse_candidate(
        outcomes in proptest::collection::vec((0..3_usize, 0..4_usize, proptest::bool::weighted(0.8)), 0..80),
        gates in proptest::collection::vec(0_u8..4, 3),
        offered in proptest::collection::vec(proptest::bool::weighted(0.85), 3),
        ranked in proptest::bool::weighted(0.8),
        min_cases in 1_u64..6,
    ) {
        let mut s = Stream::new();
        let mut model = [(0_u64, 0_u64); 3];
        for (i, (way, end, dev)) in outcomes.iter().enumerate() {
            let at = t0() + Duration::minutes(i as i64);
            let k = way_key(*way, if *dev { "dev" } else { "production" });
            let (ok, bad) = match end {
                0 => {
                    s.fix(at, &k, None, "executed");
                    (1, 0)
                }
                1 => {
                    s.fix(at, &k, None, "rolled_back");
                    (0, 1)
                }
                2 => {
                    s.fix(at, &k, None, "failed");
                    (0, 1)
                }
                _ => {
                    let a = s.ask(at, &k);
                    s.push(at, "approval.denied", json!({"approval_id": a, "status": "denied"}));
                    (0, 1)
                }
            };
            if *dev {
                model[*way].0 += ok;
                model[*way].1 += bad;
            }
        }
        let mut o = Outcomes::new(Duration::days(30));
        o.fold(&s.events, t0() + Duration::days(1));
        let gates: Vec<Verdict> = gates.into_iter().map(verdict).collect();
        let r = ranking(ranked, min_cases);
        let c = scored(&o, r, &offered, &gates);
        for (i, m) in model.iter().enumerate() {
            prop_assert_eq!((c[i].successes, c[i].failures), *m, "the fold's record of {}", WAYS[i]);
        }
        let (chosen, why) = choose(r, &c);
        let passes = |i: usize| offered[i] && gates[i] <= Verdict::NeedsApproval;
        match chosen {
            None => prop_assert!(!offered.iter().any(|o| *o) || (!ranked && !offered[0]), "{why}"),
            Some(i) => {
                prop_assert!(offered[i], "chose `{}`, not offered: {}", WAYS[i], why);
                if ranked {
                    // Never a refused one while another passes.
                    prop_assert!(passes(i) || !(0..3).any(passes), "chose refused `{}`: {}", WAYS[i], why);
                } else {
                    // Ranking off: the baseline, whatever its gate says (a refusal
                    // stands, as it did before candidates existed).
                    prop_assert_eq!(i, 0, "ranked under fallback = baseline: {}", why);
                }
                if passes(0) && i != 0 {
                    let (cand, base) = (model[i], model[0]);
                    prop_assert!(cand.0 >= min_cases, "`{}` ({:?}) displaced the baseline with fewer than {} successes: {}", WAYS[i], cand, min_cases, why);
                    prop_assert!(!(cand.0 <= base.0 && cand.1 >= base.1), "`{}` ({:?}) preferred to the baseline ({:?}), whose record is no worse: {}", WAYS[i], cand, base, why);
                    // And by the bound the rule ranks with (checked against closed
                    // forms in `rule::tests`), computed here from the model's counts.
                    prop_assert!(lower_bound(r, cand.0, cand.1) > lower_bound(r, base.0, base.1), "`{}` ({:?}) preferred to the baseline ({:?}) without a higher bound: {}", WAYS[i], cand, base, why);
                }
            }
        }
    }
}

/// Liveness: a candidate with a clearly better record than the baseline is chosen; one
/// the gate lets through is chosen when the gate refuses the baseline, record or not;
/// and the baseline keeps its place on a tie or against a candidate with too few cases.
/// (A choice that always keeps the baseline fails here.)
#[test]
fn a_better_candidate_is_chosen_and_a_refused_baseline_gives_way() {
    let mut s = Stream::new();
    for i in 0..30 {
        s.fix(
            t0() + Duration::minutes(i),
            &way_key(1, "dev"),
            None,
            "executed",
        );
    }
    for i in 0..5 {
        s.fix(
            t0() + Duration::minutes(50 + i),
            &way_key(2, "dev"),
            None,
            "executed",
        );
    }
    for i in 0..10 {
        let end = if i < 3 { "rolled_back" } else { "executed" };
        s.fix(
            t0() + Duration::minutes(100 + i),
            &way_key(0, "dev"),
            None,
            end,
        );
    }
    let mut o = Outcomes::new(Duration::days(30));
    o.fold(&s.events, t0() + Duration::days(1));
    let all = [true, true, true];
    let on = ranking(true, 20);
    let pass = [Verdict::Execute, Verdict::NeedsApproval, Verdict::Execute];
    let (chosen, why) = choose(on, &scored(&o, on, &all, &pass));
    assert_eq!(chosen, Some(1), "{why}");
    assert!(why.contains("above the baseline"), "{why}");
    // `sg-third` (5 of 5) beats the baseline's bound too, but has too few cases.
    let only_third = [Verdict::Execute, Verdict::Deny, Verdict::Execute];
    let (chosen, why) = choose(on, &scored(&o, on, &all, &only_third));
    assert_eq!(chosen, Some(0), "{why}");
    assert!(why.contains("needs 20"), "{why}");
    // Ranking off: the baseline.
    let off = ranking(false, 20);
    assert_eq!(choose(off, &scored(&o, off, &all, &pass)).0, Some(0));
    // The baseline refused: the best of the rest, even with no record.
    let refused = [Verdict::Deny, Verdict::Execute, Verdict::Execute];
    let fresh = Outcomes::new(Duration::days(30));
    assert_eq!(choose(on, &scored(&fresh, on, &all, &refused)).0, Some(1));
    let third = [
        Verdict::Deny,
        Verdict::RecommendOnly,
        Verdict::NeedsApproval,
    ];
    let (chosen, why) = choose(on, &scored(&o, on, &all, &third));
    assert_eq!(chosen, Some(2), "{why}");
    // Equal records: the baseline stays.
    assert_eq!(choose(on, &scored(&fresh, on, &all, &pass)).0, Some(0));
    // Every one refused: the baseline's refusal is what is decided.
    let none = [Verdict::Deny, Verdict::Deny, Verdict::RecommendOnly];
    let (chosen, why) = choose(on, &scored(&o, on, &all, &none));
    assert_eq!(chosen, Some(0), "{why}");
    assert!(why.contains("refuses every"), "{why}");
}

fn rows(o: &Outcomes) -> Vec<(String, u64, u64, u64)> {
    o.weeks
        .values()
        .map(|w| (w.week.clone(), w.alone, w.asked, w.denied))
        .collect()
}

/// The escalation share's counts per ISO week, hand-counted: week 1 (2026-W01, from
/// Thursday 1 January) has two fixes alone and one request; week 2 one request, denied
/// there, and a fix made after an approval (not alone).
#[test]
fn the_weeks_count_fixes_alone_requests_and_denials() {
    let mut s = Stream::new();
    let k = key("s3", "dev", false);
    s.fix(t0(), &k, None, "executed");
    s.fix(t0() + Duration::hours(5), &k, None, "rolled_back");
    s.ask(t0() + Duration::days(1), &k);
    let a = s.ask(t0() + Duration::days(5), &k);
    s.push(
        t0() + Duration::days(6),
        "approval.denied",
        json!({"approval_id": a, "status": "denied"}),
    );
    s.fix(t0() + Duration::days(6), &k, Some("apr-x"), "executed");
    let mut o = Outcomes::new(Duration::days(30));
    o.fold(&s.events, t0() + Duration::days(7));
    let weeks = rows(&o);
    assert_eq!(
        weeks,
        [
            ("2026-W01".to_string(), 2, 1, 0),
            ("2026-W02".to_string(), 0, 1, 1)
        ]
    );
    assert_eq!(o.weeks["2026-W01"].share(), Some(1.0 / 3.0));
    assert_eq!(o.weeks["2026-W02"].share(), Some(1.0));

    // A denial counts in its own week, an expiry counts nothing, and the ISO year is
    // not the calendar year: Friday 1 January 2027 is in 2026-W53.
    let mut s = Stream::new();
    let new_year = Utc.with_ymd_and_hms(2027, 1, 1, 12, 0, 0).single().unwrap();
    let a = s.ask(new_year - Duration::days(14), &k);
    s.push(
        new_year,
        "approval.denied",
        json!({"approval_id": a, "status": "denied"}),
    );
    let b = s.ask(new_year, &k);
    s.push(
        new_year + Duration::days(1),
        "approval.expired",
        json!({"approval_id": b, "status": "expired"}),
    );
    let mut o = Outcomes::new(Duration::days(30));
    o.fold(&s.events, new_year + Duration::days(2));
    let weeks = rows(&o);
    assert_eq!(
        weeks,
        [
            ("2026-W51".to_string(), 0, 1, 0),
            ("2026-W53".to_string(), 0, 1, 1)
        ]
    );
}

mod rollout;
