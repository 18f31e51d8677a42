//! `/metrics` in the OpenMetrics text format (which Prometheus scrapes).
//!
//! Counts come from the ledger (decisions by verdict, actions by outcome, approvals by
//! status, open findings by control and tier, the age of the oldest pending request, the kill switch and the breaker), so
//! every worker's work is counted once, whichever process is scraped, and the figures
//! match what an auditor reads back. They are read into a snapshot at most once per
//! refresh interval (5 s by default): a scrape costs the same however large the ledger
//! is and however many scrapes arrive at once (they share one refresh), and
//! `custos_metrics_snapshot_age_seconds` says how old the counts are. Latencies are this
//! process's own: the gate and reasoning histograms, queue lag, and HTTP requests. With a
//! scrape token set, `/metrics` answers only a request that presents it.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use custos_engine::observe::Observe;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Verdict {
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct Open {
    control: String,
    severity: String,
    tier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// The ledger's counts as of one refresh.
#[derive(Debug, Clone)]
struct Snapshot {
    taken: std::time::Instant,
    counts: custos_ledger::LedgerCounts,
    /// Open findings (each resource's latest evaluation) by control, severity and tier.
    open: std::collections::BTreeMap<Open, u64>,
    breaker_open: bool,
    paused: bool,
    /// The escalation share's counts per ISO week, oldest first (`None`: unreadable).
    weeks: Option<Vec<custos_engine::WeekShare>>,
}

/// How often the ledger's counts are read at most, by default.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5);

/// This process's latency histograms and request counts, and the ledger's counts as of
/// the last refresh.
#[derive(Debug, Clone)]
pub struct Metrics {
    gate: Histogram,
    reasoning: Histogram,
    queue_lag: Histogram,
    http: Family<HttpLabels, Counter>,
    refresh: Duration,
    snapshot: std::sync::Arc<tokio::sync::Mutex<Option<Snapshot>>>,
    refreshes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    scrape_token: Option<std::sync::Arc<str>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            refresh: DEFAULT_REFRESH,
            snapshot: std::sync::Arc::default(),
            refreshes: std::sync::Arc::default(),
            scrape_token: None,
            // 50 us .. ~1.6 s
            gate: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            // 1 ms .. ~33 s
            reasoning: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            // 10 ms .. ~5.5 min
            queue_lag: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            http: Family::default(),
        }
    }
}

impl Observe for Metrics {
    fn gate(&self, elapsed: Duration) {
        self.gate.observe(elapsed.as_secs_f64());
    }
    fn reasoning(&self, elapsed: Duration) {
        self.reasoning.observe(elapsed.as_secs_f64());
    }
    fn queue_lag(&self, lag: Duration) {
        self.queue_lag.observe(lag.as_secs_f64());
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// Read the ledger's counts at most once per `refresh` (zero: at every scrape).
    pub fn with_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }

    /// Answer `/metrics` only with `Authorization: Bearer <token>`.
    pub fn with_scrape_token(mut self, token: Option<String>) -> Self {
        self.scrape_token = token.map(std::sync::Arc::from);
        self
    }

    /// How many times the ledger's counts were read.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The ledger's counts, read again only when the snapshot is older than the refresh
    /// interval; concurrent scrapes wait for one refresh and share it.
    async fn snapshot(&self, state: &AppState) -> Result<Snapshot, custos_engine::EngineError> {
        let mut held = self.snapshot.lock().await;
        if let Some(s) = held.as_ref()
            && s.taken.elapsed() < self.refresh
        {
            return Ok(s.clone());
        }
        let ledger = state.engine.ledger();
        let counts = ledger.counts_for_metrics().await?;
        let guard = ledger.guard_state().await?;
        let mut open = std::collections::BTreeMap::new();
        for f in ledger.current_findings().await? {
            let key = Open {
                tier: f.finding.tier().to_string(),
                severity: f.finding.severity.to_string(),
                control: f.finding.control_id,
            };
            *open.entry(key).or_insert(0u64) += 1;
        }
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let fresh = Snapshot {
            taken: std::time::Instant::now(),
            counts,
            open,
            breaker_open: guard.breaker.is_some(),
            paused: guard.paused.is_some(),
            // The fold failing must not take the ledger's other counts down with it:
            // the escalation series are left out (and the failure logged).
            weeks: match state.engine.escalation_weeks(usize::MAX).await {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::error!(error = %custos_core::for_log(&e.to_string()), "the escalation counts cannot be read: left out of /metrics");
                    None
                }
            },
        };
        *held = Some(fresh.clone());
        Ok(fresh)
    }

    /// The exposition now: the ledger's counts (as of the snapshot) and this process's
    /// histograms.
    pub async fn render(&self, state: &AppState) -> Result<String, custos_engine::EngineError> {
        let snap = self.snapshot(state).await?;
        let counts = &snap.counts;
        let now = state.engine.ledger().now();
        let mut r = Registry::with_prefix("custos");
        let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        age.set(snap.taken.elapsed().as_secs_f64());
        r.register(
            "metrics_snapshot_age_seconds",
            "How old the ledger counts below are (they are read at most once per refresh interval)",
            age,
        );

        let decisions = Family::<Verdict, Counter>::default();
        for (verdict, n) in &counts.decisions {
            decisions
                .get_or_create(&Verdict {
                    verdict: verdict.clone(),
                })
                .inc_by(*n);
        }
        r.register(
            "decisions",
            "Decisions recorded in the ledger, by verdict",
            decisions,
        );
        let actions = Family::<Outcome, Counter>::default();
        for (outcome, n) in &counts.actions {
            actions
                .get_or_create(&Outcome {
                    outcome: outcome.clone(),
                })
                .inc_by(*n);
        }
        r.register(
            "actions",
            "Action outcomes recorded in the ledger (one per action), by outcome",
            actions,
        );
        let reverted = Counter::<u64>::default();
        reverted.inc_by(counts.reverted);
        r.register(
            "actions_reverted",
            "Actions undone by an operator's rollback",
            reverted,
        );
        let in_flight = Gauge::<i64>::default();
        in_flight.set(count(counts.in_flight));
        r.register(
            "actions_in_flight",
            "Actions whose intent is recorded and whose outcome is not (yet)",
            in_flight,
        );
        let approvals = Family::<Status, Gauge>::default();
        for (status, n) in &counts.approvals {
            approvals
                .get_or_create(&Status {
                    status: status.clone(),
                })
                .set(count(*n));
        }
        r.register(
            "approvals",
            "Approval requests in the ledger, by status",
            approvals,
        );
        let pending = Gauge::<i64>::default();
        pending.set(count(counts.approvals.get("pending").copied().unwrap_or(0)));
        r.register(
            "approvals_pending",
            "Approval requests waiting for reviewers",
            pending,
        );
        let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        age.set(
            counts
                .oldest_pending
                .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0),
        );
        r.register(
            "approval_oldest_pending_age_seconds",
            "How long the oldest pending approval request has waited (0: none pending)",
            age,
        );
        let open = Family::<Open, Gauge>::default();
        for (labels, n) in &snap.open {
            open.get_or_create(labels).set(count(*n));
        }
        r.register(
            "findings_open",
            "Open findings (each resource's latest evaluation) by control, severity and tier (fixable, alert: a person applies the guidance)",
            open,
        );
        let breaker = Gauge::<i64>::default();
        breaker.set(i64::from(snap.breaker_open));
        r.register(
            "breaker_open",
            "1 while the circuit breaker is open",
            breaker,
        );
        let paused = Gauge::<i64>::default();
        paused.set(i64::from(snap.paused));
        r.register("paused", "1 while the kill switch is on", paused);

        if let Some(weeks) = &snap.weeks {
            let total = |f: fn(&custos_engine::learning::Week) -> u64| {
                let c = Counter::<u64>::default();
                c.inc_by(weeks.iter().map(|w| f(&w.counts)).sum());
                c
            };
            r.register(
                "fixes_alone",
                "Fixes custos admitted on its own (no approval), from the ledger; each attempt counts",
                total(|w| w.alone),
            );
            r.register(
                "escalations",
                "Requests custos sent to a person, from the ledger; a finding asked about again after a denial or expiry counts again",
                total(|w| w.asked),
            );
            r.register(
                "escalations_denied",
                "Requests a person denied, from the ledger",
                total(|w| w.denied),
            );
            let this_week = custos_engine::learning::outcomes::week_of(now);
            if let Some(x) = weeks
                .iter()
                .find(|w| w.counts.week == this_week)
                .and_then(|w| w.escalation_share)
            {
                let share = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
                share.set(x);
                r.register(
                    "escalation_share_ratio",
                    "This ISO week (UTC): requests sent to a person out of fixes custos made alone plus requests; over any range: increase(custos_escalations_total) / (increase(custos_escalations_total) + increase(custos_fixes_alone_total))",
                    share,
                );
            }
        }
        r.register(
            "gate_duration_seconds",
            "Policy gate evaluations in this process",
            self.gate.clone(),
        );
        r.register(
            "reasoning_duration_seconds",
            "Reasoning reviews in this process (offline rules and model)",
            self.reasoning.clone(),
        );
        r.register(
            "queue_lag_seconds",
            "Age of change events when this process took them from the queue",
            self.queue_lag.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests answered by this process",
            self.http.clone(),
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).map_err(|e| {
            custos_engine::EngineError::Refused(format!("the metrics cannot be encoded: {e}"))
        })?;
        Ok(out)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
pub async fn scrape(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = &s.metrics.scrape_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared as digests: the time taken says nothing about the token.
        let same = custos_core::Digest::of_bytes(presented.as_bytes())
            == custos_core::Digest::of_bytes(token.as_bytes());
        if !same {
            return (
                StatusCode::UNAUTHORIZED,
                "metrics need the scrape token (`Authorization: Bearer …`)\n",
            )
                .into_response();
        }
    }
    match s.metrics.render(&s).await {
        Ok(text) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            text,
        )
            .into_response(),
        Err(e) => crate::ApiError::internal(e).into_response(),
    }
}

/// Count every request by method, matched route (not the raw path: ids stay out of
/// labels) and status.
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    // A fixed set of label values: made-up methods must not create new series.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH") => m,
        _ => "other",
    }
    .to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let resp = next.run(req).await;
    let status: StatusCode = resp.status();
    s.metrics
        .http
        .get_or_create(&HttpLabels {
            method,
            route,
            status: status.as_u16(),
        })
        .inc();
    resp
}
