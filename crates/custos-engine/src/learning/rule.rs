//! The rule that moves an autonomy level, pure and conservative (README, "Earned
//! autonomy"):
//! - lower at once when a fix in the class and environment was rolled back, failed or
//!   was undone by an operator since the level was last set (on any key that decides it,
//!   in the ledger's order), to the next level that is stricter there (never below 3,
//!   where every change waits for a person);
//! - raise one level only when, over the window, at least `min_cases` cases succeeded,
//!   none was rolled back, failed or undone, and the lower bound of the Beta(1 + successes, 1 + failures)
//!   posterior at `confidence` clears `threshold` (a denied request and a recurred fix
//!   count as failures there); never above the ceiling, never for a
//!   class the floor never automates, never twice in one window, never within a window
//!   of a person setting the level (on any key that decides it), and never to a level
//!   that lets custos act alone in the environment unless the window's successes were
//!   approved by at least two people.
//!
//! The rule only proposes a level. The floor and the gate are evaluated apart and the
//! most cautious verdict wins, so no level it proposes lifts a floor rule.

use super::outcomes::{Ending, LevelChange, Outcomes, Setback};
use chrono::{DateTime, Duration, Utc};
use custos_core::AutonomyLevel;
use serde::Serialize;

/// Who the learner records itself as.
pub const LEARNER: &str = "custos:learner";

/// The rule's settings (`[autonomy]` in `custos.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rule {
    pub window: Duration,
    pub min_cases: u64,
    pub threshold: f64,
    pub confidence: f64,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            window: Duration::days(30),
            min_cases: 20,
            threshold: 0.85,
            confidence: 0.95,
        }
    }
}

/// Raise, lower or keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    Raise,
    Lower,
    Hold,
}

/// What the rule says about one class in one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub class: String,
    pub environment: String,
    pub level: AutonomyLevel,
    pub to: Option<AutonomyLevel>,
    #[serde(rename = "move")]
    pub movement: Move,
    pub reason: String,
    pub successes: u64,
    pub failures: u64,
    /// The 95 % lower bound of success, when the rule got as far as computing it (0
    /// otherwise).
    pub lower_bound: f64,
    /// The setback that lowers the level, when one does.
    pub evidence: Option<Setback>,
}

/// What the rule reads about one class in one environment (a canonical name).
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub class: &'a str,
    pub environment: &'a str,
    /// The environment counts as production.
    pub production: bool,
    /// The level in effect now (configured or set at runtime, capped by the ceiling).
    pub level: AutonomyLevel,
    pub ceiling: AutonomyLevel,
    /// The floor never automates this class.
    pub never_automated: bool,
    pub now: DateTime<Utc>,
}

/// The `q` quantile of Beta(a, b) for whole `a, b >= 1`, by bisection on
/// I_x(a, b) = P(Binomial(a + b - 1, x) >= a).
pub fn beta_quantile(a: u64, b: u64, q: f64) -> f64 {
    let cdf = |x: f64| -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        if x >= 1.0 {
            return 1.0;
        }
        let n = a + b - 1;
        let (lx, ly) = (x.ln(), (1.0 - x).ln());
        // ln C(n, j), built up from j = 0.
        let mut lc = 0.0_f64;
        let mut sum = 0.0;
        for j in 0..=n {
            if j > 0 {
                lc += ((n - j + 1) as f64).ln() - (j as f64).ln();
            }
            if j >= a {
                sum += (lc + j as f64 * lx + (n - j) as f64 * ly).exp();
            }
        }
        sum.min(1.0)
    };
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..64 {
        let mid = (lo + hi) / 2.0;
        if cdf(mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

fn step(level: AutonomyLevel, up: bool) -> Option<AutonomyLevel> {
    let n = level.number();
    let next = if up {
        n.checked_add(1)?
    } else {
        n.checked_sub(1)?
    };
    AutonomyLevel::try_from(next).ok()
}

/// The runtime keys that decide a class's level in an environment, most specific first
/// (as `AutonomyPolicy::level_with` reads them).
pub fn keys(environment: &str, production: bool) -> [&str; 3] {
    [
        environment,
        if production {
            "production"
        } else {
            "non-production"
        },
        "*",
    ]
}

/// The level changes that bear on one class in one environment: on any of its keys.
fn changes<'a>(o: &'a Outcomes, facts: &Facts<'_>) -> Vec<&'a LevelChange> {
    let mut v: Vec<&LevelChange> = keys(facts.environment, facts.production)
        .iter()
        .filter_map(|k| o.changes.get(&(facts.class.to_string(), (*k).to_string())))
        .flatten()
        .collect();
    v.sort_by_key(|c| c.seq);
    v
}

/// The highest level below `level` whose verdict in this environment is stricter: 4 and
/// 5 both act alone outside production, so lowering there goes to 3. `None` below 3.
fn lower(level: AutonomyLevel, production: bool) -> Option<AutonomyLevel> {
    let now = level.allows(production);
    let mut l = level;
    while let Some(next) = step(l, false).filter(|l| *l >= AutonomyLevel::Approve) {
        if next.allows(production) > now {
            return Some(next);
        }
        l = next;
    }
    None
}

/// What the rule says for `facts`, from `outcomes`.
pub fn recommend(rule: &Rule, o: &Outcomes, facts: &Facts<'_>) -> Recommendation {
    let in_scope = |class: &str, env: &str| class == facts.class && env == facts.environment;
    let horizon = facts.now - rule.window;
    let history = changes(o, facts);
    let last_set = history.last().map(|c| c.seq);
    let (mut successes, mut failures) = (0, 0);
    let mut approvers = std::collections::BTreeSet::new();
    for c in o.cases.values() {
        if in_scope(&c.key.class, &c.key.environment) && c.at >= horizon {
            match c.result {
                Ending::Success => {
                    successes += 1;
                    approvers.extend(c.approvers.iter().cloned());
                }
                Ending::Failure => failures += 1,
                Ending::Pending => {}
            }
        }
    }
    let out =
        |movement: Move, to: Option<AutonomyLevel>, reason: String, evidence, lower_bound: f64| {
            Recommendation {
                class: facts.class.to_string(),
                environment: facts.environment.to_string(),
                level: facts.level,
                to,
                movement,
                reason,
                successes,
                failures,
                lower_bound,
                evidence,
            }
        };
    // Setbacks and level changes are ordered by their place in the ledger.
    let setback = o
        .setbacks
        .iter()
        .rev()
        .filter(|s| in_scope(&s.key.class, &s.key.environment))
        .find(|s| last_set.is_none_or(|t| s.seq > t));
    if let Some(s) = setback {
        return match lower(facts.level, facts.production) {
            Some(to) => out(
                Move::Lower,
                Some(to),
                format!(
                    "`{}` {} action `{}` on a {} resource in `{}`: lowered at once",
                    s.key.playbook, s.what, s.action_id, facts.class, facts.environment
                ),
                Some(s.clone()),
                0.0,
            ),
            None => out(
                Move::Hold,
                None,
                format!(
                    "`{}` {} action `{}`, but level {} already waits for a person",
                    s.key.playbook, s.what, s.action_id, facts.level
                ),
                Some(s.clone()),
                0.0,
            ),
        };
    }
    let hold = |why: String| out(Move::Hold, None, why, None, 0.0);
    if facts.never_automated {
        return hold(format!("the floor never automates class `{}`", facts.class));
    }
    let Some(to) = step(facts.level, true).filter(|l| *l <= facts.ceiling) else {
        return hold(format!("level {} is the ceiling", facts.level));
    };
    if let Some(s) = o
        .setbacks
        .iter()
        .rev()
        .find(|s| in_scope(&s.key.class, &s.key.environment) && s.at >= horizon)
    {
        return hold(format!(
            "action `{}` {} at {}, within the window",
            s.action_id, s.what, s.at
        ));
    }
    if successes < rule.min_cases {
        return hold(format!(
            "{successes} case(s) in the window; raising needs {}",
            rule.min_cases
        ));
    }
    if let Some(c) = history.iter().rev().find(|c| c.at >= horizon) {
        return hold(if c.by == LEARNER {
            format!("raised or lowered at {} already in this window", c.at)
        } else {
            format!("{} set this level at {}, within the window", c.by, c.at)
        });
    }
    // No one alone earns custos the right to act alone: a raise that lets custos change
    // this environment without asking rests on at least two people's approvals.
    let alone = |l: AutonomyLevel| l.allows(facts.production) == custos_core::Verdict::Execute;
    if alone(to) && !alone(facts.level) && approvers.len() < 2 {
        return hold(format!(
            "the successes in the window were approved by {} person(s); letting custos act alone here needs the approvals of at least two",
            approvers.len()
        ));
    }
    let lower_bound = beta_quantile(1 + successes, 1 + failures, 1.0 - rule.confidence);
    if lower_bound < rule.threshold {
        return out(
            Move::Hold,
            None,
            format!(
                "the lower bound of success ({lower_bound:.3}) is below {}",
                rule.threshold
            ),
            None,
            lower_bound,
        );
    }
    out(
        Move::Raise,
        Some(to),
        format!(
            "{successes} of {} cases in the window succeeded, none rolled back, approved by {} people; the {:.0} % lower bound of success is {lower_bound:.3} (at least {})",
            successes + failures,
            approvers.len(),
            rule.confidence * 100.0,
            rule.threshold
        ),
        None,
        lower_bound,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_quantiles_match_closed_forms() {
        // Beta(a, 1): CDF x^a, so the q quantile is q^(1/a).
        for a in [1_u64, 2, 11, 21, 60] {
            let want = 0.05_f64.powf(1.0 / a as f64);
            assert!((beta_quantile(a, 1, 0.05) - want).abs() < 1e-9, "a = {a}");
        }
        // Beta(1, b): CDF 1 - (1 - x)^b.
        for b in [1_u64, 3, 8] {
            let want = 1.0 - 0.95_f64.powf(1.0 / b as f64);
            assert!((beta_quantile(1, b, 0.05) - want).abs() < 1e-9, "b = {b}");
        }
        // Beta(2, 2) is symmetric: the median is 1/2.
        assert!((beta_quantile(2, 2, 0.5) - 0.5).abs() < 1e-9);
    }
}
