//! `custos run` as a service: consume AWS Config change events from SQS, run scheduled
//! scans and re-verification sweeps, shut down gracefully.
//!
//! A message is deleted only after its outcome is in the ledger. Work interrupted by a
//! crash is either redelivered by SQS (the item is processed again and the executor finds
//! the work done) or left as an intent without outcome, which [`Engine::reconcile`]
//! settles by reading state at the next start.

use crate::config::{ScanFrom, Schedule, Task};
use crate::{Budget, Disposition, Engine, EngineError, Mode, Origin};
use custos_telemetry::sqs::{Decoded, QueueMessage, SqsQueue, decode};
use custos_telemetry::{Rejected, Source};
use serde::Serialize;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct ServiceOptions {
    pub queue: Option<SqsQueue>,
    /// What a `scan` schedule scans.
    pub scan: Option<Arc<dyn Source>>,
    /// What a `scan` schedule with `source = "config"` scans.
    pub config_scan: Option<Arc<dyn Source>>,
    pub schedules: Vec<Schedule>,
    /// Receives after which a message that keeps failing is dead-lettered.
    pub max_receives: u32,
    /// Stop after this long without a message (batch use and tests); `None`: run until
    /// told to stop.
    pub idle_exit: Option<Duration>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct ServiceReport {
    pub messages: u64,
    pub processed: u64,
    pub duplicates: u64,
    pub superseded: u64,
    pub dead_letters: u64,
    pub retried: u64,
    pub runs: u64,
    pub scheduled: u64,
    pub mutating_calls: u64,
}

fn next_fire(schedules: &[Schedule]) -> Option<(chrono::DateTime<chrono::Utc>, Task)> {
    schedules
        .iter()
        .filter_map(|s| s.cron.upcoming(chrono::Utc).next().map(|t| (t, s.task)))
        .min_by_key(|(t, _)| *t)
}

impl Engine {
    /// Run until `shutdown` resolves (or the idle limit passes). In-flight messages finish
    /// before it returns.
    pub async fn serve(
        &self,
        opts: ServiceOptions,
        shutdown: impl Future<Output = ()>,
    ) -> Result<ServiceReport, EngineError> {
        let mut report = ServiceReport::default();
        self.reconcile().await?;
        tokio::pin!(shutdown);
        let mut idle_since = tokio::time::Instant::now();
        loop {
            let fire = next_fire(&opts.schedules);
            let sleep_for = fire
                .map(|(t, _)| (t - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(3600));
            let receive = async {
                match &opts.queue {
                    Some(q) => q.receive().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(sleep_for), if fire.is_some() => {
                    if let Some((_, task)) = fire {
                        report.scheduled += 1;
                        self.scheduled(task, &opts).await;
                    }
                }
                received = receive => {
                    match received {
                        Ok(msgs) if msgs.is_empty() => {
                            if opts.idle_exit.is_some_and(|d| idle_since.elapsed() >= d) {
                                break;
                            }
                        }
                        Ok(msgs) => {
                            if let Some(q) = &opts.queue {
                                self.handle_batch(q, msgs, &opts, &mut report).await?;
                            }
                            idle_since = tokio::time::Instant::now();
                        }
                        Err(e) => {
                            tracing::error!("receiving from the queue failed: {e}; retrying in 5 s");
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(1)), if opts.queue.is_none() && opts.idle_exit.is_some() => {
                    if opts.idle_exit.is_some_and(|d| idle_since.elapsed() >= d) {
                        break;
                    }
                }
            }
        }
        Ok(report)
    }

    async fn scheduled(&self, task: Task, opts: &ServiceOptions) {
        // The service never ends a run: its limits apply to the rolling window.
        let scan = |from| match from {
            ScanFrom::Describe => opts.scan.as_ref(),
            ScanFrom::Config => opts.config_scan.as_ref(),
        };
        let result = match task {
            Task::Scan { from } => match scan(from) {
                Some(source) => {
                    self.run_with(source.as_ref(), Mode::Execute, Budget::RollingWindow)
                        .await
                }
                None => Err(EngineError::Refused(
                    "a scan schedule needs a scan source".into(),
                )),
            },
            Task::Reverify => {
                self.reverify_with(Mode::Execute, Budget::RollingWindow)
                    .await
            }
        };
        match result {
            Ok(r) => tracing::info!("scheduled {task:?} finished: {}", r.summary()),
            Err(e) => tracing::error!("scheduled {task:?} failed: {e}"),
        }
    }

    /// One receive: one run in the ledger (its limits count over the rolling window, not
    /// per receive). Each message is deleted only after its outcome is recorded.
    async fn handle_batch(
        &self,
        q: &SqsQueue,
        msgs: Vec<QueueMessage>,
        opts: &ServiceOptions,
        report: &mut ServiceReport,
    ) -> Result<(), EngineError> {
        let source = format!("sqs:{}", q.url());
        let mut st = self
            .begin(&source, Mode::Execute, Budget::RollingWindow)
            .await?;
        self.execute_approved_all(&mut st).await?;
        report.runs += 1;
        // The percentage rule counts what custos knows and what this batch names.
        let named: Vec<_> = msgs
            .iter()
            .filter_map(|m| match decode(q.url(), m) {
                Decoded::Item(ci) | Decoded::Oversized(ci) => Some(ci.resource_ref()),
                Decoded::Rejected(_) => None,
            })
            .collect();
        st.note_resources(&named);
        for m in msgs {
            report.messages += 1;
            if let Some(sent) = m.sent_at {
                let lag = (self.now() - sent).to_std().unwrap_or_default();
                self.observer().queue_lag(lag);
            }
            let outcome = match decode(q.url(), &m) {
                Decoded::Rejected(r) => self
                    .dead_letter(&mut st, &source, &r)
                    .await
                    .map(|_| ("dead_letter", None)),
                // Config's item for these types lacks what custos adds (a queue's policy, a
                // user's credentials, ...): judged alone it would pass what it cannot see and
                // close an open finding. The change is resolved by reading the resource now.
                Decoded::Item(ci)
                    if custos_telemetry::config_api::LIVE.contains(&ci.resource_type.as_str()) =>
                {
                    let r = ci.resource_ref();
                    self.resolve_live(&mut st, *ci)
                        .await
                        .map(|d| (d.as_str(), Some(r)))
                }
                Decoded::Item(ci) => {
                    let r = ci.resource_ref();
                    self.process(&mut st, *ci, Origin::Notification)
                        .await
                        .map(|d| (d.as_str(), Some(r)))
                }
                Decoded::Oversized(summary) => {
                    let r = summary.resource_ref();
                    let o = custos_telemetry::Oversized {
                        location: format!("sqs:{}#{}", q.url(), m.id),
                        summary: *summary,
                    };
                    self.resolve_oversized(&mut st, &source, &o)
                        .await
                        .map(|d| (d.as_str(), Some(r)))
                }
            };
            let (disposition, resource) = match outcome {
                Ok(x) => x,
                Err(e) if m.receive_count >= opts.max_receives.max(1) => {
                    let rej = Rejected {
                        location: format!("sqs:{}#{}", q.url(), m.id),
                        field: None,
                        error: format!("failed {} times, last: {e}", m.receive_count),
                        raw: m.body.clone(),
                    };
                    self.dead_letter(&mut st, &source, &rej).await?;
                    ("dead_letter", None)
                }
                Err(e) => {
                    // Not deleted: SQS delivers it again after the visibility timeout.
                    tracing::warn!(
                        "message {} failed (receive {}), left for redelivery: {e}",
                        m.id,
                        m.receive_count
                    );
                    report.retried += 1;
                    continue;
                }
            };
            match disposition {
                d if d == Disposition::DeadLetter.as_str() => report.dead_letters += 1,
                d if d == Disposition::Duplicate.as_str() => report.duplicates += 1,
                d if d == Disposition::Superseded.as_str() => report.superseded += 1,
                _ => report.processed += 1,
            }
            self.ledger()
                .append(Some(&st.report.run_id), "input.received", resource.as_ref(), &json!({"message_id": m.id, "receive_count": m.receive_count, "disposition": disposition}))
                .await?;
            q.delete(&m.receipt).await?;
        }
        let run = self.finish(st).await?;
        report.mutating_calls += run.mutating_calls() as u64;
        Ok(())
    }
}
