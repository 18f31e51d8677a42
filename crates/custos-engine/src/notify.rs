//! Notifications: when an approval is requested and when the circuit breaker opens, the
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
}

impl Notification {
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::ApprovalRequested { .. } => "approval_requested",
            Notification::BreakerOpened { .. } => "breaker_opened",
        }
    }

    /// One line for people (Slack's `text`), with a link to the page when known.
    pub fn text(&self, page_url: Option<&str>) -> String {
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
                    Some(n) => format!("{n} ({resource})"),
                    None => resource.clone(),
                };
                format!(
                    "custos asks for approval {approval_id}: fix `{control_id}` on {on} in {environment}{}; {required_reviewers} reviewer(s) needed before {}.{link}",
                    if *production { ", production" } else { "" },
                    expires_at.to_rfc3339()
                )
            }
            Notification::BreakerOpened { reason, at } => format!(
                "custos opened its circuit breaker at {}: {reason}. Nothing is executed until an operator runs `custos breaker reset`.",
                at.to_rfc3339()
            ),
        }
    }
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
