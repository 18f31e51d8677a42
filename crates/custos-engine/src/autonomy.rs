//! Autonomy as operators change it at runtime: a level per resource class and
//! environment, stored in the ledger (every worker reads it with the guard state, so a
//! change reaches the next admission), never above the configured ceiling.

use crate::{Engine, EngineError};
use custos_core::{AutonomyLevel, EnvSelector, Permission, Principal};
use custos_ledger::AutonomySetting;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;

/// Autonomy as configured and as set at runtime (runtime levels decide over the file,
/// the most specific first; the ceiling caps both).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AutonomyView {
    pub default: AutonomyLevel,
    pub ceiling: AutonomyLevel,
    /// The classes custos has playbooks for.
    pub classes: Vec<String>,
    /// `class -> environment key -> level` from `custos.toml`.
    pub configured:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, AutonomyLevel>>,
    /// Levels set at runtime, with who set them and why.
    pub runtime: Vec<AutonomySetting>,
}

/// A request to change one level.
#[derive(Debug, Clone)]
pub struct AutonomyChange<'a> {
    pub class: &'a str,
    /// A canonical environment name, `production`, `non-production` or `*`.
    pub environment: &'a str,
    pub level: u8,
    pub reason: &'a str,
}

impl Engine {
    /// The resource classes the loaded playbooks act on.
    pub fn classes(&self) -> Vec<String> {
        self.playbooks
            .iter()
            .flat_map(|p| p.resource_types.iter())
            .map(|t| custos_core::ci::resource_class(t))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    pub async fn autonomy(&self) -> Result<AutonomyView, EngineError> {
        Ok(AutonomyView {
            default: self.config.autonomy.default,
            ceiling: self.config.autonomy.ceiling,
            classes: self.classes(),
            configured: self.config.autonomy.classes.clone(),
            runtime: self.ledger.autonomy_settings().await?,
        })
    }

    /// Set a runtime autonomy level: needs `set_autonomy` (operator, policy admin), a
    /// known class and environment, a reason, and a level no higher than the ceiling
    /// (refused, not capped: the caller learns what took effect). Returns the setting.
    pub async fn set_autonomy(
        &self,
        who: &Principal,
        change: AutonomyChange<'_>,
    ) -> Result<AutonomySetting, EngineError> {
        let subject = json!({"class": change.class, "environment": change.environment, "level": change.level});
        custos_identity::require(&self.ledger, who, Permission::SetAutonomy, subject.clone())
            .await?;
        self.apply_autonomy(&who.name, change, None)
            .await?
            .ok_or_else(|| EngineError::Refused("the level changed while it was being set".into()))
    }

    /// The checks every level change passes, a person's or the learner's: a known class
    /// and environment, a level no higher than the ceiling, a reason; recorded with
    /// `autonomy.set` (by `by`). With `expected`, only if the level stored under the key
    /// is still that (`None` returned otherwise).
    pub(crate) async fn apply_autonomy(
        &self,
        by: &str,
        change: AutonomyChange<'_>,
        expected: Option<Option<custos_core::AutonomyLevel>>,
    ) -> Result<Option<AutonomySetting>, EngineError> {
        let subject = json!({"class": change.class, "environment": change.environment, "level": change.level});
        let refuse = |msg: String| EngineError::Refused(msg);
        let class = change.class.trim().to_ascii_lowercase();
        let known = self.classes();
        if !known.contains(&class) {
            return Err(refuse(format!(
                "unknown resource class `{}` (custos has playbooks for: {})",
                change.class,
                known.join(", ")
            )));
        }
        let environment = match self.config.environments.selector(change.environment) {
            Ok(EnvSelector::Any) => "*".to_string(),
            Ok(EnvSelector::Class(c)) => c.as_str().to_string(),
            Ok(EnvSelector::Name(n)) => n,
            Err(msg) => return Err(refuse(format!("environment: {msg}"))),
        };
        let level = AutonomyLevel::try_from(change.level).map_err(|_| {
            refuse(format!(
                "autonomy level must be 1 to 5, got `{}`",
                change.level
            ))
        })?;
        let ceiling = self.config.autonomy.ceiling;
        if level > ceiling {
            self.ledger
                .record_refusal(
                    "autonomy.refused",
                    &format!("principal:{by}"),
                    &json!({"by": by, "subject": subject, "ceiling": ceiling.number(), "code": "above_ceiling"}),
                )
                .await?;
            return Err(refuse(format!(
                "autonomy level {level} is above the ceiling {ceiling} (`[autonomy] ceiling` in the configuration)"
            )));
        }
        let reason = change.reason.trim();
        if reason.is_empty() {
            return Err(refuse("an autonomy change needs a reason".into()));
        }
        Ok(self
            .ledger
            .set_autonomy_if(&class, &environment, level, by, reason, expected)
            .await?
            .map(|(set, _)| set))
    }
}
