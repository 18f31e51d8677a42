//! The one environment classification every layer uses (autonomy, the gate, change
//! windows, blackouts): a resource's environment tag is normalised (trimmed, lowercase,
//! aliases resolved) to a canonical name, and every name is either production or
//! non-production. A name custos does not know is production: the cautious reading.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The canonical production name.
pub const PRODUCTION: &str = "production";
/// Longest environment tag value taken as a name; longer values fall back to the default.
const MAX_NAME_CHARS: usize = 64;

/// Production or not. Everything custos cannot place is production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvClass {
    Production,
    NonProduction,
}

impl EnvClass {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvClass::Production => "production",
            EnvClass::NonProduction => "non-production",
        }
    }

    pub fn is_production(self) -> bool {
        self == EnvClass::Production
    }
}

impl fmt::Display for EnvClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified environment: canonical name and class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    pub class: EnvClass,
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.class)
    }
}

/// Which environments a change window, blackout or autonomy setting governs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnvSelector {
    /// `*`: every environment.
    Any,
    /// `production` or `non-production`: every environment of that class, including
    /// names custos does not know (they are production).
    Class(EnvClass),
    /// One canonical non-production name (after aliases).
    Name(String),
}

impl EnvSelector {
    pub fn matches(&self, env: &Environment) -> bool {
        match self {
            EnvSelector::Any => true,
            EnvSelector::Class(c) => env.class == *c,
            EnvSelector::Name(n) => env.name == *n,
        }
    }
}

impl fmt::Display for EnvSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvSelector::Any => f.write_str("*"),
            EnvSelector::Class(c) => f.write_str(c.as_str()),
            EnvSelector::Name(n) => f.write_str(n),
        }
    }
}

/// How a resource's environment is found and classified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environments {
    /// Tag keys, first present wins (compared case-insensitively).
    pub tag_keys: Vec<String>,
    /// The environment of a resource without such a tag.
    pub default: String,
    /// Canonical names that are not production.
    pub non_production: BTreeSet<String>,
    /// Other spellings -> canonical name (`prod` -> `production`).
    pub aliases: BTreeMap<String, String>,
}

impl Default for Environments {
    fn default() -> Self {
        Environments {
            tag_keys: vec!["environment".into(), "env".into()],
            default: PRODUCTION.into(),
            non_production: [
                "dev",
                "development",
                "test",
                "testing",
                "staging",
                "sandbox",
                "qa",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            aliases: [
                ("prod", PRODUCTION),
                ("prd", PRODUCTION),
                ("live", PRODUCTION),
                ("stage", "staging"),
                ("stg", "staging"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        }
    }
}

fn normalise(raw: &str) -> String {
    raw.trim().to_lowercase()
}

impl Environments {
    /// The canonical spelling of a name: trimmed, lowercase, alias resolved.
    pub fn canonical(&self, raw: &str) -> String {
        let n = normalise(raw);
        self.aliases.get(&n).cloned().unwrap_or(n)
    }

    /// Classify a name (tag value or configuration entry).
    pub fn classify(&self, raw: &str) -> Environment {
        let name = self.canonical(raw);
        let class = if self.non_production.contains(&name) {
            EnvClass::NonProduction
        } else {
            EnvClass::Production
        };
        Environment { name, class }
    }

    /// The environment of a resource, from its tags.
    pub fn of(&self, tags: &BTreeMap<String, String>) -> Environment {
        let value = self.tag_keys.iter().find_map(|key| {
            tags.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.trim())
        });
        match value {
            Some(v) if !v.is_empty() && v.chars().count() <= MAX_NAME_CHARS => self.classify(v),
            _ => self.classify(&self.default),
        }
    }

    /// Names custos knows: `production`, the non-production names and every alias.
    pub fn known(&self, raw: &str) -> bool {
        let n = normalise(raw);
        n == PRODUCTION || self.non_production.contains(&n) || self.aliases.contains_key(&n)
    }

    /// Parse a selector from configuration: `*`, `production`, `non-production`, or a
    /// known name. An unknown name is an error, so a typo cannot silently select nothing.
    pub fn selector(&self, raw: &str) -> Result<EnvSelector, String> {
        let n = normalise(raw);
        if n == "*" {
            return Ok(EnvSelector::Any);
        }
        if n == EnvClass::NonProduction.as_str() {
            return Ok(EnvSelector::Class(EnvClass::NonProduction));
        }
        if !self.known(&n) {
            return Err(format!(
                "unknown environment `{}`: use `*`, `production`, `non-production`, or one of {} (add others under [environments] non_production or aliases)",
                crate::ci::truncate(raw, 40),
                self.non_production
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let env = self.classify(&n);
        Ok(match env.class {
            // Every production name is the production class: a setting for `production`
            // covers `prod`, `live` and names custos has never seen.
            EnvClass::Production => EnvSelector::Class(EnvClass::Production),
            EnvClass::NonProduction => EnvSelector::Name(env.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn aliases_unknown_names_and_missing_tags_are_production() {
        let e = Environments::default();
        for v in [
            "prod",
            "PROD ",
            "production",
            "prd",
            "live",
            "prd-eu",
            "payments",
        ] {
            assert_eq!(
                e.of(&tags(&[("env", v)])).class,
                EnvClass::Production,
                "{v}"
            );
        }
        assert_eq!(e.of(&tags(&[("env", "prod")])).name, "production");
        assert_eq!(e.of(&tags(&[])).class, EnvClass::Production);
        assert_eq!(e.of(&tags(&[("env", "")])).class, EnvClass::Production);
        assert_eq!(
            e.of(&tags(&[("env", &"d".repeat(65))])).class,
            EnvClass::Production
        );
        let stg = e.of(&tags(&[("Environment", "STG")]));
        assert_eq!(
            stg,
            Environment {
                name: "staging".into(),
                class: EnvClass::NonProduction
            }
        );
    }

    #[test]
    fn selectors_match_by_class_and_refuse_typos() {
        let e = Environments::default();
        let prod = e.selector("production").unwrap();
        for v in ["prod", "prd-eu", "production"] {
            assert!(prod.matches(&e.classify(v)), "{v}");
        }
        assert!(!prod.matches(&e.classify("dev")));
        assert_eq!(e.selector("prod").unwrap(), prod);
        assert_eq!(
            e.selector("stage").unwrap(),
            EnvSelector::Name("staging".into())
        );
        assert!(
            e.selector("non-production")
                .unwrap()
                .matches(&e.classify("qa"))
        );
        assert!(e.selector("*").unwrap().matches(&e.classify("anything")));
        let err = e.selector("prodution").unwrap_err();
        assert!(err.contains("`prodution`"), "{err}");
    }
}
