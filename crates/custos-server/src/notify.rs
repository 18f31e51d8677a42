//! The Slack-compatible webhook: `POST {"text": "...", "custos": {...}}`. Each
//! notification is delivered on its own task (at most [`MAX_IN_FLIGHT`] at once; beyond
//! that it is dropped and the drop recorded), retried on network errors, 429 and 5xx
//! with exponential backoff, and its outcome recorded in the ledger
//! (`notification.sent`, `notification.failed`, `notification.dropped`, and
//! `notification.abandoned` when a one-shot command exits before delivery ends) with the
//! attempts made. The URL is never recorded (a Slack webhook URL is a credential); the
//! host is.

use async_trait::async_trait;
use custos_engine::notify::{Notification, Notify};
use custos_ledger::Ledger;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const MAX_IN_FLIGHT: usize = 32;

#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub attempts: u32,
    pub backoff: Duration,
    pub timeout: Duration,
    pub page_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    hook: Arc<Webhook>,
    client: reqwest::Client,
    ledger: Arc<Ledger>,
    active: Arc<AtomicUsize>,
    idle: Arc<tokio::sync::Notify>,
}

/// How one attempt ended.
enum Attempt {
    Delivered(u16),
    /// Worth another try (network, 429, 5xx).
    Retry(String),
    /// Not (another 4xx).
    Fatal(String),
}

impl WebhookNotifier {
    pub fn new(hook: Webhook, ledger: Arc<Ledger>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(hook.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(WebhookNotifier {
            hook: Arc::new(hook),
            client,
            ledger,
            active: Arc::new(AtomicUsize::new(0)),
            idle: Arc::new(tokio::sync::Notify::new()),
        })
    }

    fn host(&self) -> String {
        reqwest::Url::parse(&self.hook.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "unparsable url".into())
    }

    async fn attempt(&self, body: &serde_json::Value) -> Attempt {
        match self.client.post(&self.hook.url).json(body).send().await {
            Ok(r) if r.status().is_success() => Attempt::Delivered(r.status().as_u16()),
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                Attempt::Retry(format!("HTTP {}", r.status().as_u16()))
            }
            Ok(r) => Attempt::Fatal(format!("HTTP {}", r.status().as_u16())),
            // Without the URL: reqwest's message would include it.
            Err(e) if e.is_timeout() => Attempt::Retry("timed out".into()),
            Err(e) if e.is_connect() => Attempt::Retry("connection failed".into()),
            Err(_) => Attempt::Retry("request failed".into()),
        }
    }

    async fn deliver(self, n: Notification) {
        let body = json!({"text": n.text(self.hook.page_url.as_deref()), "custos": n});
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            match self.attempt(&body).await {
                Attempt::Delivered(status) => break Ok(status),
                Attempt::Fatal(e) => break Err(e),
                Attempt::Retry(e) if attempts >= self.hook.attempts => break Err(e),
                Attempt::Retry(e) => {
                    tracing::warn!(attempt = attempts, error = %e, "webhook delivery failed; retrying");
                    let pause = self
                        .hook
                        .backoff
                        .saturating_mul(1 << (attempts - 1).min(10));
                    tokio::time::sleep(pause).await;
                }
            }
        };
        let (kind, detail) = match outcome {
            Ok(status) => (
                "notification.sent",
                json!({"event": n.kind(), "host": self.host(), "attempts": attempts, "status": status}),
            ),
            Err(e) => {
                tracing::error!(error = %e, attempts, "webhook delivery failed");
                (
                    "notification.failed",
                    json!({"event": n.kind(), "host": self.host(), "attempts": attempts, "error": e}),
                )
            }
        };
        self.record(kind, &n, detail).await;
    }

    async fn record(&self, kind: &str, n: &Notification, mut detail: serde_json::Value) {
        if let Notification::ApprovalRequested { approval_id, .. } = n {
            detail["approval_id"] = json!(approval_id);
        }
        if let Err(e) = self.ledger.append(None, kind, None, &detail).await {
            tracing::error!(error = %e, "cannot record a notification's outcome");
        }
    }
}

#[async_trait]
impl Notify for WebhookNotifier {
    fn notify(&self, n: Notification) {
        let me = self.clone();
        if self.active.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
            tokio::spawn(async move {
                me.record(
                    "notification.dropped",
                    &n,
                    json!({"event": n.kind(), "host": me.host(), "in_flight": MAX_IN_FLIGHT}),
                )
                .await;
                me.done();
            });
            return;
        }
        tokio::spawn(async move {
            me.clone().deliver(n).await;
            me.done();
        });
    }

    async fn drain(&self, within: Duration) {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.active.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        if tokio::time::timeout(within, wait).await.is_err() {
            let left = self.active.load(Ordering::SeqCst);
            tracing::warn!(
                "{left} notification(s) still being delivered after {within:?}; leaving them"
            );
            // Neither sent nor failed: say so, or they would vanish from the record.
            if let Err(e) = self
                .ledger
                .append(
                    None,
                    "notification.abandoned",
                    None,
                    &json!({"in_flight": left, "host": self.host(), "waited_seconds": within.as_secs()}),
                )
                .await
            {
                tracing::error!(error = %e, "cannot record abandoned notifications");
            }
        }
    }
}

impl WebhookNotifier {
    fn done(&self) {
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}
