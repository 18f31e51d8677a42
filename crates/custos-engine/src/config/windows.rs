//! Change windows and blackouts: recurring periods (cron + time zone + duration) that
//! govern environments chosen by the one environment classification.

use custos_core::{EnvSelector, Environment};

/// A recurring period: opens at each cron fire (in its time zone) for `duration`.
#[derive(Debug, Clone)]
pub struct TimedWindow {
    pub name: String,
    pub environments: Vec<EnvSelector>,
    pub expression: String,
    pub cron: cron::Schedule,
    pub duration: chrono::Duration,
    pub tz: chrono_tz::Tz,
}

impl TimedWindow {
    /// Is `now` inside one of the periods?
    pub fn active_at(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let start = (now - self.duration).with_timezone(&self.tz);
        self.cron
            .after(&start)
            .next()
            .is_some_and(|s| s.with_timezone(&chrono::Utc) <= now)
    }

    /// Does it govern this environment?
    pub fn governs(&self, env: &Environment) -> bool {
        self.environments.iter().any(|s| s.matches(env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::Environments;

    fn window(envs: &[&str]) -> TimedWindow {
        let e = Environments::default();
        TimedWindow {
            name: "w".into(),
            environments: envs.iter().map(|s| e.selector(s).unwrap()).collect(),
            expression: "0 0 22 * * Sat".into(),
            cron: "0 0 22 * * Sat".parse().unwrap(),
            duration: chrono::Duration::hours(4),
            tz: chrono_tz::Europe::Berlin,
        }
    }

    #[test]
    fn opens_at_the_cron_fire_in_its_time_zone_for_its_duration() {
        let w = window(&["production"]);
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        // Saturday 2026-11-21, 22:00 in Berlin is 21:00 UTC.
        assert!(!w.active_at(at("2026-11-21T20:59:00Z")));
        assert!(w.active_at(at("2026-11-21T21:00:00Z")));
        assert!(w.active_at(at("2026-11-22T00:59:00Z")));
        assert!(!w.active_at(at("2026-11-22T01:00:01Z")));
    }

    #[test]
    fn a_production_window_governs_every_production_name() {
        let e = Environments::default();
        let w = window(&["production"]);
        for name in ["production", "prod", "PRD", "live", "payments-eu"] {
            assert!(w.governs(&e.classify(name)), "{name}");
        }
        assert!(!w.governs(&e.classify("dev")));
        let staging = window(&["stage"]);
        assert!(staging.governs(&e.classify("staging")));
        assert!(!staging.governs(&e.classify("production")));
    }
}
