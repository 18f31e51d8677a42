//! `[notifications]`: a Slack-compatible webhook, validated purely. A URL kept in an
//! environment variable is read when custos starts (the binary's edge), like the model's
//! key.

use super::raw::NotificationsSection;
use super::sections::Errors;
use std::time::Duration;

/// Where the webhook URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookUrl {
    /// The name of an environment variable holding it.
    Env(String),
    Literal(String),
}

/// Where and how to deliver notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub url: WebhookUrl,
    pub attempts: u32,
    pub backoff: Duration,
    pub timeout: Duration,
    pub page_url: Option<String>,
}

fn http_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

fn bounded(
    field: &str,
    v: Option<i64>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
    e: &mut Errors,
) -> u64 {
    let v = v.unwrap_or(default);
    if range.contains(&v) {
        v as u64
    } else {
        e.bad(
            field,
            format!("must be {} to {}, got `{v}`", range.start(), range.end()),
        );
        default as u64
    }
}

pub(crate) fn notifications(raw: &NotificationsSection, e: &mut Errors) -> Option<WebhookSettings> {
    let attempts = bounded("notifications.attempts", raw.attempts, 4, 1..=10, e);
    let backoff = bounded(
        "notifications.backoff_ms",
        raw.backoff_ms,
        1000,
        10..=60_000,
        e,
    );
    let timeout = bounded(
        "notifications.timeout_seconds",
        raw.timeout_seconds,
        5,
        1..=60,
        e,
    );
    if let Some(p) = &raw.page_url
        && !http_url(p)
    {
        e.bad(
            "notifications.page_url",
            format!("must be an http(s) URL, got `{p}`"),
        );
    }
    let url = match (&raw.webhook_url_env, &raw.webhook_url) {
        (None, None) => return None,
        (Some(_), Some(_)) => {
            e.bad(
                "notifications.webhook_url",
                "give `webhook_url_env` or `webhook_url`, not both".into(),
            );
            return None;
        }
        (Some(var), None) if var.trim().is_empty() => {
            e.bad("notifications.webhook_url_env", "is empty".into());
            return None;
        }
        (Some(var), None) => WebhookUrl::Env(var.trim().to_string()),
        (None, Some(u)) if http_url(u.trim()) => WebhookUrl::Literal(u.trim().to_string()),
        (None, Some(_)) => {
            // The URL may be a secret: say what is wrong, not what it is.
            e.bad("notifications.webhook_url", "must be an http(s) URL".into());
            return None;
        }
    };
    Some(WebhookSettings {
        url,
        attempts: attempts as u32,
        backoff: Duration::from_millis(backoff),
        timeout: Duration::from_secs(timeout),
        page_url: raw.page_url.clone(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(toml_text: &str) -> (Option<WebhookSettings>, Vec<String>) {
        let raw: NotificationsSection = toml::from_str(toml_text).unwrap();
        let mut e = Errors {
            file: "c.toml".into(),
            list: Vec::new(),
        };
        let s = notifications(&raw, &mut e);
        (
            s,
            e.list
                .iter()
                .map(|x| format!("{}: {}", x.field, x.message))
                .collect(),
        )
    }

    #[test]
    fn every_problem_is_named_and_the_url_is_never_echoed() {
        let (s, errors) = check(
            "webhook_url = \"ftp://hooks.slack.com/services/SECRET\"\nattempts = 0\nbackoff_ms = 5\ntimeout_seconds = 99\npage_url = \"custos.local\"\n",
        );
        assert_eq!(s, None);
        assert_eq!(
            errors,
            [
                "notifications.attempts: must be 1 to 10, got `0`",
                "notifications.backoff_ms: must be 10 to 60000, got `5`",
                "notifications.timeout_seconds: must be 1 to 60, got `99`",
                "notifications.page_url: must be an http(s) URL, got `custos.local`",
                "notifications.webhook_url: must be an http(s) URL",
            ]
        );
        let (_, errors) = check("webhook_url = \"https://a\"\nwebhook_url_env = \"X\"\n");
        assert_eq!(
            errors,
            ["notifications.webhook_url: give `webhook_url_env` or `webhook_url`, not both"]
        );
        let (s, errors) = check("webhook_url_env = \"SLACK_HOOK\"\n");
        assert!(errors.is_empty());
        let s = s.unwrap();
        assert_eq!(s.url, WebhookUrl::Env("SLACK_HOOK".into()));
        assert_eq!(
            (s.attempts, s.backoff, s.timeout),
            (4, Duration::from_millis(1000), Duration::from_secs(5))
        );
        assert_eq!(check("").0, None);
    }
}
