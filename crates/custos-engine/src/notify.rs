//! Notifications: when an approval is requested, when the circuit breaker opens and when
//! custos moves an autonomy level itself, the
//! engine hands a [`Notification`] to its notifier and goes on. Delivery (and its
//! retries) happens elsewhere and never blocks or changes a decision; its outcome is
//! recorded by the notifier.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notification {
    ApprovalRequested {
        approval_id: String,
        resource: String,
        resource_name: Option<String>,
        control_id: String,
        playbook: String,
        environment: String,
        production: bool,
        required_reviewers: u8,
        expires_at: DateTime<Utc>,
    },
    BreakerOpened {
        reason: String,
        at: DateTime<Utc>,
    },
    /// custos moved an autonomy level itself (`[autonomy] adjust = "auto"`).
    AutonomyChanged {
        class: String,
        environment: String,
        from: u8,
        to: u8,
        reason: String,
        at: DateTime<Utc>,
    },
    /// custos moved a playbook version's rollout stage itself (`[autonomy] adjust =
    /// "auto"`, `rollout = "staged"`).
    RolloutChanged {
        playbook: String,
        version: String,
        from: String,
        to: String,
        reason: String,
        at: DateTime<Utc>,
    },
}

impl Notification {
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::ApprovalRequested { .. } => "approval_requested",
            Notification::BreakerOpened { .. } => "breaker_opened",
            Notification::AutonomyChanged { .. } => "autonomy_changed",
            Notification::RolloutChanged { .. } => "rollout_changed",
        }
    }

    /// One line for people (Slack's `text`), with a link to the page when known. Values
    /// from the account are escaped as Slack asks (`&`, `<`, `>`), so a forged name
    /// cannot become a link or a mention.
    pub fn text(&self, page_url: Option<&str>) -> String {
        let esc = slack_escape;
        match self {
            Notification::ApprovalRequested {
                approval_id,
                resource,
                resource_name,
                control_id,
                environment,
                production,
                required_reviewers,
                expires_at,
                ..
            } => {
                let link = page_url
                    .map(|u| format!(" {}/approvals/{approval_id}", u.trim_end_matches('/')))
                    .unwrap_or_default();
                let on = match resource_name {
                    Some(n) => format!("{} ({})", esc(n), esc(resource)),
                    None => esc(resource),
                };
                format!(
                    "custos asks for approval {}: fix `{}` on {on} in {}{}; {required_reviewers} reviewer(s) needed before {}.{link}",
                    esc(approval_id),
                    esc(control_id),
                    esc(environment),
                    if *production { ", production" } else { "" },
                    expires_at.to_rfc3339()
                )
            }
            Notification::BreakerOpened { reason, at } => format!(
                "custos opened its circuit breaker at {}: {}. Nothing is executed until an operator runs `custos breaker reset`.",
                at.to_rfc3339(),
                esc(reason)
            ),
            Notification::AutonomyChanged {
                class,
                environment,
                from,
                to,
                reason,
                at,
            } => format!(
                "custos moved autonomy of {} in {} from {from} to {to} at {}: {}",
                esc(class),
                esc(environment),
                at.to_rfc3339(),
                esc(reason)
            ),
            Notification::RolloutChanged {
                playbook,
                version,
                from,
                to,
                reason,
                at,
            } => format!(
                "custos moved playbook {} version {} from {from} to {to} rollout at {}: {}",
                esc(playbook),
                esc(version),
                at.to_rfc3339(),
                esc(reason)
            ),
        }
    }
}

/// Slack's escaping of message text.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[async_trait]
pub trait Notify: Send + Sync + std::fmt::Debug {
    /// Take a notification and return at once.
    fn notify(&self, n: Notification);
    /// Wait, at most `within`, for deliveries in flight (before a one-shot command exits).
    async fn drain(&self, within: Duration);
}

/// Notifies nobody (no `[notifications]`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

#[async_trait]
impl Notify for Silent {
    fn notify(&self, _: Notification) {}
    async fn drain(&self, _: Duration) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn account_values_cannot_become_links_in_slack() {
        let n = Notification::ApprovalRequested {
            approval_id: "apr-1".into(),
            resource: "1/us-east-1/AWS::S3::Bucket/b".into(),
            resource_name: Some("<https://evil.example|Approve now> & <!channel>".into()),
            control_id: "s3-public-access-block".into(),
            playbook: "p".into(),
            environment: "prod".into(),
            production: true,
            required_reviewers: 1,
            expires_at: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .into(),
        };
        assert_eq!(
            n.text(None),
            "custos asks for approval apr-1: fix `s3-public-access-block` on &lt;https://evil.example|Approve now&gt; &amp; &lt;!channel&gt; (1/us-east-1/AWS::S3::Bucket/b) in prod, production; 1 reviewer(s) needed before 2026-01-01T00:00:00+00:00."
        );
    }
}
