//! Time to fix, folded from the ledger's events and nothing else: per resource and
//! control, an episode opens when an evaluation (`resource.evaluated`) sees the control
//! failing and closes when it is fixed, either by custos (its fix's `action.executed`)
//! or outside custos (a later evaluation sees the control passing: a person or a
//! pipeline fixed it). A resource deleted while failing ends its episodes as gone, not
//! fixed. Like [`super::outcomes`], the fold is pure: the same events give the same
//! times.

use chrono::{DateTime, Utc};
use custos_ledger::{Evaluated, Event};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many episodes were fixed one way, and how long they took.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Durations {
    pub count: u64,
    /// The median in seconds, the lower of the two middle values for an even count
    /// (`None`: no episode).
    pub median_seconds: Option<u64>,
    /// The mean in seconds, rounded down (`None`: no episode).
    pub mean_seconds: Option<u64>,
}

impl Durations {
    /// The count, median and mean of `seconds` (in any order).
    pub fn of(seconds: &[u64]) -> Self {
        let mut sorted = seconds.to_vec();
        sorted.sort_unstable();
        let count = sorted.len() as u64;
        let median_seconds = sorted
            .len()
            .checked_sub(1)
            .and_then(|last| sorted.get(last / 2))
            .copied();
        let sum: u128 = sorted.iter().map(|s| u128::from(*s)).sum();
        let mean_seconds =
            (count > 0).then(|| u64::try_from(sum / u128::from(count)).unwrap_or(u64::MAX));
        Durations {
            count,
            median_seconds,
            mean_seconds,
        }
    }
}

/// Time to fix one control, over every resource it was failing on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FixTime {
    pub control: String,
    /// Episodes closed by a fix custos executed (an approved fix includes the time the
    /// request waited for a person).
    pub by_custos: Durations,
    /// Episodes an evaluation saw fixed with no fix of custos executed in between.
    pub outside: Durations,
    /// Episodes still open: the control is failing on the resource as last evaluated.
    pub open: u64,
    /// Episodes ended by the resource's deletion (not a fix).
    pub gone: u64,
}

/// The seconds of every closed episode of one control, by who fixed it.
#[derive(Debug, Clone, Default)]
struct Closed {
    by_custos: Vec<u64>,
    outside: Vec<u64>,
    gone: u64,
}

/// Everything the fold knows.
#[derive(Debug, Clone, Default)]
pub struct FixTimes {
    /// The last event folded.
    pub seq: i64,
    /// Open episodes: `(resource key, control)` -> when an evaluation first saw it fail.
    open: BTreeMap<(String, String), DateTime<Utc>>,
    /// Fix intents without their `action.executed` yet, by action id: the resource key
    /// and the control.
    intents: HashMap<String, (String, String)>,
    /// Closed episodes per control.
    closed: BTreeMap<String, Closed>,
}

fn text<'a>(payload: &'a Value, field: &str) -> Option<&'a str> {
    payload.get(field).and_then(Value::as_str)
}

/// Whole seconds from `from` to `to`; a negative span (clock skew between workers)
/// counts as 0.
fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_seconds()).unwrap_or(0)
}

impl FixTimes {
    /// Fold events in order (events already folded, by `seq`, are skipped).
    pub fn fold<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        for e in events {
            if e.seq > self.seq {
                self.absorb(e);
                self.seq = e.seq;
            }
        }
    }

    fn closed_of(&mut self, control: &str) -> &mut Closed {
        self.closed.entry(control.to_string()).or_default()
    }

    /// The resource is gone: its open episodes end, not fixed.
    fn gone(&mut self, resource: &str) {
        let ended: Vec<(String, String)> = self
            .open
            .range((resource.to_string(), String::new())..)
            .take_while(|((r, _), _)| r == resource)
            .map(|(k, _)| k.clone())
            .collect();
        for key in ended {
            self.open.remove(&key);
            self.closed_of(&key.1).gone += 1;
        }
    }

    fn absorb(&mut self, e: &Event) {
        let p = &e.payload;
        match e.kind.as_str() {
            "resource.evaluated" => {
                let Some(resource) = e.resource.as_deref() else {
                    return;
                };
                let Ok(ev) = Evaluated::deserialize(p) else {
                    return;
                };
                if ev.deleted {
                    self.gone(resource);
                    return;
                }
                let failing: BTreeSet<&str> = ev.failing.iter().map(String::as_str).collect();
                for control in &failing {
                    self.open
                        .entry((resource.to_string(), (*control).to_string()))
                        .or_insert(e.at);
                }
                for control in ev.controls.iter().filter(|c| !failing.contains(c.as_str())) {
                    let key = (resource.to_string(), control.clone());
                    if let Some(opened) = self.open.remove(&key) {
                        let took = seconds(opened, e.at);
                        // Seen passing while custos's own fix of it is in flight (another
                        // worker's read, or the change notification of the fix): custos's.
                        let fixing = self.intents.values().any(|k| *k == key);
                        let closed = self.closed_of(control);
                        if fixing {
                            closed.by_custos.push(took);
                        } else {
                            closed.outside.push(took);
                        }
                    }
                }
            }
            // A resource a read found gone (a notification about a deleted one).
            "input.resource_gone" => {
                if let Some(resource) = e.resource.as_deref() {
                    self.gone(resource);
                }
            }
            "action.intent" => {
                if text(p, "kind") != Some("fix") {
                    return;
                }
                let (Some(id), Some(resource), Some(control)) = (
                    text(p, "action_id"),
                    e.resource.as_deref(),
                    p.get("outcome").and_then(|o| text(o, "control")),
                ) else {
                    return;
                };
                self.intents
                    .insert(id.to_string(), (resource.to_string(), control.to_string()));
            }
            "action.executed" => {
                let Some(id) = text(p, "action_id") else {
                    return;
                };
                let Some(key) = self.intents.remove(id) else {
                    return;
                };
                if let Some(opened) = self.open.remove(&key) {
                    let took = seconds(opened, e.at);
                    self.closed_of(&key.1).by_custos.push(took);
                }
            }
            // Any other outcome of an action: its intent is settled, nothing was fixed.
            kind if kind.starts_with("action.") => {
                if let Some(id) = text(p, "action_id") {
                    self.intents.remove(id);
                }
            }
            _ => {}
        }
    }

    /// Time to fix per control, by control: every control with any episode, open or
    /// closed.
    pub fn report(&self) -> Vec<FixTime> {
        let mut open: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, control) in self.open.keys() {
            *open.entry(control.as_str()).or_default() += 1;
        }
        let controls: BTreeSet<&str> = self
            .closed
            .keys()
            .map(String::as_str)
            .chain(open.keys().copied())
            .collect();
        controls
            .into_iter()
            .map(|control| {
                let closed = self.closed.get(control);
                FixTime {
                    control: control.to_string(),
                    by_custos: Durations::of(
                        closed.map(|c| c.by_custos.as_slice()).unwrap_or_default(),
                    ),
                    outside: Durations::of(
                        closed.map(|c| c.outside.as_slice()).unwrap_or_default(),
                    ),
                    open: open.get(control).copied().unwrap_or(0),
                    gone: closed.map_or(0, |c| c.gone),
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    const R: &str = "111111111111/us-east-1/AWS::S3::Bucket/logs";

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap()
    }

    /// Builds a stream the way the engine writes it.
    #[derive(Default)]
    struct Stream {
        events: Vec<Event>,
    }

    impl Stream {
        fn push(&mut self, at: DateTime<Utc>, kind: &str, resource: Option<&str>, payload: Value) {
            let n = self.events.len() + 1;
            self.events.push(Event {
                seq: n as i64,
                index: n as i64 - 1,
                id: format!("ev-{n}"),
                at,
                run_id: None,
                kind: kind.into(),
                resource: resource.map(str::to_string),
                payload,
                prev_hash: String::new(),
                hash: String::new(),
            });
        }

        fn evaluated(&mut self, at: DateTime<Utc>, controls: &[&str], failing: &[&str]) {
            self.push(
                at,
                "resource.evaluated",
                Some(R),
                json!({"capture_time": at, "state_digest": "d", "controls": controls,
                       "failing": failing, "deleted": false}),
            );
        }

        fn deleted(&mut self, at: DateTime<Utc>) {
            self.push(
                at,
                "resource.evaluated",
                Some(R),
                json!({"capture_time": at, "state_digest": "d", "controls": ["s3-1"],
                       "failing": [], "deleted": true}),
            );
        }

        /// A fix of `control` on `R` admitted at `at`.
        fn intent(&mut self, id: &str, control: &str, at: DateTime<Utc>) {
            let outcome = json!({
                "control": control, "playbook": "s3-fix", "playbook_version": "1",
                "class": "s3", "environment": "dev", "production": false,
            });
            self.push(
                at,
                "action.intent",
                Some(R),
                json!({"action_id": id, "kind": "fix", "approval_id": null, "outcome": outcome}),
            );
        }

        /// A fix of `control` on `R`, admitted at `at` and executed at `done`.
        fn fix(&mut self, id: &str, control: &str, at: DateTime<Utc>, done: DateTime<Utc>) {
            self.intent(id, control, at);
            self.push(done, "action.executed", Some(R), json!({"action_id": id}));
        }

        fn report(&self) -> Vec<FixTime> {
            let mut f = FixTimes::default();
            f.fold(&self.events);
            f.report()
        }
    }

    #[test]
    fn fixed_outside_custos() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1", "s3-2"], &["s3-1"]);
        s.evaluated(t0() + Duration::hours(2), &["s3-1", "s3-2"], &[]);
        assert_eq!(
            s.report(),
            vec![FixTime {
                control: "s3-1".into(),
                by_custos: Durations::default(),
                outside: Durations {
                    count: 1,
                    median_seconds: Some(7200),
                    mean_seconds: Some(7200),
                },
                open: 0,
                gone: 0,
            }]
        );
    }

    #[test]
    fn fixed_by_custos_is_not_counted_again_outside() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1"], &["s3-1"]);
        s.fix(
            "act-1",
            "s3-1",
            t0() + Duration::minutes(1),
            t0() + Duration::minutes(10),
        );
        s.evaluated(t0() + Duration::hours(1), &["s3-1"], &[]);
        let r = s.report();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].by_custos,
            Durations {
                count: 1,
                median_seconds: Some(600),
                mean_seconds: Some(600),
            }
        );
        assert_eq!(r[0].outside, Durations::default());
        assert_eq!((r[0].open, r[0].gone), (0, 0));
    }

    #[test]
    fn a_deleted_resource_is_gone_not_fixed() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1"], &["s3-1"]);
        s.deleted(t0() + Duration::hours(1));
        let r = s.report();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].gone, 1);
        assert_eq!(r[0].open, 0);
        assert_eq!(r[0].by_custos.count, 0);
        assert_eq!(r[0].outside.count, 0);
    }

    #[test]
    fn a_resource_a_read_found_gone_is_gone_not_fixed() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1", "s3-2"], &["s3-1", "s3-2"]);
        s.push(
            t0() + Duration::hours(1),
            "input.resource_gone",
            Some(R),
            json!({"capture_time": t0()}),
        );
        let r = s.report();
        assert_eq!(
            r.iter().map(|t| (t.gone, t.open)).collect::<Vec<_>>(),
            vec![(1, 0), (1, 0)]
        );
    }

    #[test]
    fn seen_passing_while_custos_fixes_it_is_custos_fix() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1"], &["s3-1"]);
        s.intent("a1", "s3-1", t0() + Duration::minutes(1));
        // Another worker evaluates the fixed state before the outcome is written.
        s.evaluated(t0() + Duration::minutes(2), &["s3-1"], &[]);
        s.push(
            t0() + Duration::minutes(3),
            "action.executed",
            Some(R),
            json!({"action_id": "a1"}),
        );
        let r = s.report();
        assert_eq!((r[0].by_custos.count, r[0].outside.count), (1, 0));
        assert_eq!(r[0].by_custos.median_seconds, Some(120));
    }

    #[test]
    fn a_failed_fix_leaves_no_intent_behind() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1"], &["s3-1"]);
        s.intent("a1", "s3-1", t0() + Duration::minutes(1));
        s.push(
            t0() + Duration::minutes(2),
            "action.rolled_back",
            Some(R),
            json!({"action_id": "a1"}),
        );
        // A person fixes it later: outside custos, not custos's failed fix.
        s.evaluated(t0() + Duration::hours(1), &["s3-1"], &[]);
        let r = s.report();
        assert_eq!((r[0].by_custos.count, r[0].outside.count), (0, 1));
    }

    #[test]
    fn still_failing_is_open() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1"], &["s3-1"]);
        s.evaluated(t0() + Duration::hours(1), &["s3-1"], &["s3-1"]);
        let r = s.report();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].open, 1);
        assert_eq!(r[0].by_custos.count + r[0].outside.count + r[0].gone, 0);
    }

    #[test]
    fn two_episodes_on_one_resource_count_once_each() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1"], &["s3-1"]);
        s.fix("act-1", "s3-1", t0(), t0() + Duration::minutes(10));
        s.evaluated(t0() + Duration::minutes(20), &["s3-1"], &[]);
        s.evaluated(t0() + Duration::hours(1), &["s3-1"], &["s3-1"]);
        s.evaluated(t0() + Duration::hours(4), &["s3-1"], &[]);
        // Passing again: nothing open, nothing counted twice.
        s.evaluated(t0() + Duration::hours(5), &["s3-1"], &[]);
        let r = s.report();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].by_custos, Durations::of(&[600]));
        assert_eq!(r[0].outside, Durations::of(&[3 * 3600]));
        assert_eq!(r[0].outside.median_seconds, Some(10_800));
        assert_eq!((r[0].open, r[0].gone), (0, 0));
    }

    #[test]
    fn an_event_folded_twice_counts_once() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1"], &["s3-1"]);
        s.evaluated(t0() + Duration::hours(2), &["s3-1"], &[]);
        let mut f = FixTimes::default();
        f.fold(&s.events);
        f.fold(&s.events);
        f.fold(s.events.iter().rev());
        let r = f.report();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].outside.count, 1);
        assert_eq!(r[0].open, 0);
    }

    #[test]
    fn a_fix_with_no_open_episode_counts_nothing() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1"], &[]);
        s.fix("act-1", "s3-1", t0(), t0() + Duration::minutes(10));
        assert!(s.report().is_empty());
    }

    #[test]
    fn clock_skew_counts_as_zero() {
        let mut s = Stream::default();
        s.evaluated(t0(), &["s3-1"], &["s3-1"]);
        s.evaluated(t0() - Duration::minutes(5), &["s3-1"], &[]);
        assert_eq!(s.report()[0].outside, Durations::of(&[0]));
    }

    #[test]
    fn events_missing_fields_are_skipped() {
        let mut s = Stream::default();
        s.push(
            t0(),
            "resource.evaluated",
            Some(R),
            json!({"failing": ["s3-1"]}),
        );
        s.push(
            t0(),
            "resource.evaluated",
            None,
            json!({"controls": ["s3-1"], "failing": ["s3-1"]}),
        );
        s.push(
            t0(),
            "action.intent",
            Some(R),
            json!({"action_id": "a", "kind": "fix"}),
        );
        s.push(t0(), "action.executed", Some(R), json!({}));
        assert!(s.report().is_empty());
    }

    #[test]
    fn the_median_is_the_lower_middle() {
        assert_eq!(
            Durations::of(&[40, 10, 30, 20]),
            Durations {
                count: 4,
                median_seconds: Some(20),
                mean_seconds: Some(25),
            }
        );
        assert_eq!(Durations::of(&[5, 1, 3]).median_seconds, Some(3));
        assert_eq!(Durations::of(&[]), Durations::default());
    }
}
