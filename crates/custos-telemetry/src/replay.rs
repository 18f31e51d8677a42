//! Replay source: configuration items, AWS Config SNS notifications or EventBridge
//! "Config Configuration Item Change" events from a JSON file (one value or an array) or
//! NDJSON (one value per line), or from standard input (`-`).

use crate::{Batch, Rejected, Source, TelemetryError};
use async_trait::async_trait;
use custos_core::ci::truncate;
use custos_core::{CiError, ConfigurationItem};
use serde_json::Value;
use serde_json::value::RawValue;
use std::path::PathBuf;

/// Most raw text kept per dead letter.
const MAX_RAW_CHARS: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct ReplaySource {
    path: PathBuf,
}

impl ReplaySource {
    /// `-` reads standard input.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ReplaySource { path: path.into() }
    }
}

#[async_trait]
impl Source for ReplaySource {
    fn name(&self) -> String {
        format!("replay:{}", self.path.display())
    }

    async fn collect(&self) -> Result<Batch, TelemetryError> {
        let label = self.path.display().to_string();
        let text = if label == "-" {
            use tokio::io::AsyncReadExt as _;
            let mut s = String::new();
            tokio::io::stdin()
                .read_to_string(&mut s)
                .await
                .map_err(|source| TelemetryError::Io {
                    path: "<stdin>".into(),
                    source,
                })?;
            s
        } else {
            tokio::fs::read_to_string(&self.path)
                .await
                .map_err(|source| TelemetryError::Io {
                    path: label.clone(),
                    source,
                })?
        };
        let label = if label == "-" {
            "<stdin>".to_string()
        } else {
            label
        };
        Ok(parse_replay(&label, &text))
    }
}

/// Parse replay text; every value becomes an item or a rejection naming `label:line`.
/// Values are parsed one at a time as they are turned into items: the memory a replay
/// takes is the text and the items, not a parsed tree of every value at once.
pub fn parse_replay(label: &str, text: &str) -> Batch {
    let mut batch = Batch::default();
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return batch;
    }
    if trimmed.starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(raws) => {
                for raw in raws {
                    let parsed = serde_json::from_str(raw.get()).map_err(|e| e.to_string());
                    take(
                        &mut batch,
                        label,
                        line_of(text, raw.get()),
                        raw.get(),
                        parsed,
                    );
                }
            }
            Err(e) => {
                let error = format!("invalid JSON: {e}");
                take(&mut batch, label, e.line(), text, Err(error));
            }
        }
        return batch;
    }
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .peekable();
    let first = lines.peek().copied();
    let first_ok = first.is_some_and(|(_, l)| serde_json::from_str::<Value>(l).is_ok());
    if !first_ok && let Ok(v) = serde_json::from_str::<Value>(text) {
        // One pretty-printed document.
        take(&mut batch, label, first.map_or(1, |l| l.0), text, Ok(v));
        return batch;
    }
    for (n, l) in lines {
        let parsed = serde_json::from_str(l).map_err(|e| format!("invalid JSON: {e}"));
        take(&mut batch, label, n, l, parsed);
    }
    batch
}

/// One value of a replay (`raw`, at `label:line`) into the batch: an item, an oversized
/// summary, or a rejection that keeps the raw text.
fn take(batch: &mut Batch, label: &str, line: usize, raw: &str, parsed: Result<Value, String>) {
    let location = format!("{label}:{line}");
    let result = parsed
        .map_err(|e| (None, e))
        .and_then(|v| unwrap_event(&v).map_err(|e| (Some(e.field.clone()), e.to_string())));
    match result {
        Ok(Envelope::Item(ci)) => batch.items.push(*ci),
        Ok(Envelope::Oversized(summary)) => batch.oversized.push(crate::Oversized {
            location,
            summary: *summary,
        }),
        Err((field, error)) => batch.rejected.push(Rejected {
            location,
            field,
            error,
            raw: truncate(raw, MAX_RAW_CHARS),
        }),
    }
}

/// What one notification carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    Item(Box<ConfigurationItem>),
    /// Too large to inline: only a summary arrived; the resource must be read.
    Oversized(Box<ConfigurationItem>),
}

/// Accept a bare configuration item, an SNS-style Config notification (or its SNS
/// envelope), or an EventBridge event, and return what is inside.
pub fn unwrap_event(v: &Value) -> Result<Envelope, CiError> {
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let msg = v
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| CiError {
                field: "Message".into(),
                message: "missing SNS message".into(),
            })?;
        let inner: Value = serde_json::from_str(msg).map_err(|e| CiError {
            field: "Message".into(),
            message: format!("SNS message is not JSON: {e}"),
        })?;
        return unwrap_event(&inner).map_err(|e| CiError {
            field: format!("Message.{}", e.field),
            message: e.message,
        });
    }
    if v.get("detail-type").is_some() || v.get("source").is_some() && v.get("detail").is_some() {
        let source = v.get("source").and_then(Value::as_str).unwrap_or_default();
        let kind = v
            .get("detail-type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if source != "aws.config" || kind != "Config Configuration Item Change" {
            return Err(CiError {
                field: "detail-type".into(),
                message: format!(
                    "not an AWS Config item change event (source `{}`, detail-type `{}`)",
                    truncate(source, 40),
                    truncate(kind, 60)
                ),
            });
        }
        let detail = v.get("detail").ok_or_else(|| CiError {
            field: "detail".into(),
            message: "missing".into(),
        })?;
        let envelope = inner(detail, "detail.")?;
        // EventBridge stamps the account the event came from; an item claiming another
        // account was not sent by that account's AWS Config.
        if let Some(account) = v.get("account").and_then(Value::as_str) {
            let item = match &envelope {
                Envelope::Item(ci) | Envelope::Oversized(ci) => ci,
            };
            if account != item.aws_account_id {
                return Err(CiError {
                    field: "account".into(),
                    message: format!(
                        "event from account `{}` carries an item of account `{}`",
                        truncate(account, 20),
                        item.aws_account_id
                    ),
                });
            }
        }
        return Ok(envelope);
    }
    if v.get("messageType").is_some() || v.get("configurationItem").is_some() {
        return inner(v, "");
    }
    ConfigurationItem::from_json(v).map(|ci| Envelope::Item(Box::new(ci)))
}

fn inner(container: &Value, prefix: &str) -> Result<Envelope, CiError> {
    let nested = |key: &str, ci: &Value| {
        ConfigurationItem::from_json(ci)
            .map(Box::new)
            .map_err(|e| CiError {
                field: format!("{prefix}{key}.{}", e.field),
                message: e.message,
            })
    };
    if let Some(ci) = container.get("configurationItem") {
        return nested("configurationItem", ci).map(Envelope::Item);
    }
    if let Some(summary) = container.get("configurationItemSummary") {
        // The summary names the resource and the capture time; the state is read later.
        return nested("configurationItemSummary", summary).map(Envelope::Oversized);
    }
    Err(CiError {
        field: format!("{prefix}configurationItem"),
        message: "missing".into(),
    })
}

fn line_of(text: &str, slice: &str) -> usize {
    let offset = (slice.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    text.get(..offset.min(text.len()))
        .map_or(1, |t| t.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"configurationItemCaptureTime":"2026-11-01T00:00:00Z","awsAccountId":"000000000000","awsRegion":"us-east-1","resourceType":"AWS::S3::Bucket","resourceId":"a"}"#;

    #[test]
    fn ndjson_with_bad_lines_names_each_line_and_field() {
        let bad_time = GOOD
            .replace("\"a\"", "\"b\"")
            .replace("2026-11-01T00:00:00Z", "soon");
        let event = format!(
            r#"{{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":{{"configurationItem":{GOOD}}}}}"#
        );
        let text = format!("{GOOD}\n\n{{not json\n{bad_time}\n{event}\n");
        let batch = parse_replay("f.ndjson", &text);
        assert_eq!(batch.items.len(), 2);
        assert_eq!(batch.rejected.len(), 2);
        assert_eq!(batch.rejected[0].location, "f.ndjson:3");
        assert!(batch.rejected[0].error.starts_with("invalid JSON"));
        assert_eq!(batch.rejected[1].location, "f.ndjson:4");
        assert_eq!(
            batch.rejected[1].field.as_deref(),
            Some("configurationItemCaptureTime")
        );
    }

    #[test]
    fn json_array_reports_element_lines() {
        let text = format!("[\n{GOOD},\n{{\"resourceType\": 1}}\n]");
        let batch = parse_replay("a.json", &text);
        assert_eq!(batch.items.len(), 1);
        assert_eq!(batch.rejected[0].location, "a.json:3");
        assert_eq!(batch.rejected[0].field.as_deref(), Some("resourceType"));
    }

    #[test]
    fn pretty_single_document() {
        let text = "{\n  \"configurationItem\": ".to_string()
            + GOOD
            + ",\n  \"messageType\": \"ConfigurationItemChangeNotification\"\n}\n";
        let batch = parse_replay("one.json", &text);
        assert_eq!(batch.items.len(), 1, "{:?}", batch.rejected);
    }

    #[test]
    fn event_field_paths_are_prefixed() {
        let text = r#"{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":{"configurationItem":{"resourceType":"AWS::S3::Bucket"}}}"#;
        let batch = parse_replay("e.ndjson", text);
        assert_eq!(
            batch.rejected[0].field.as_deref(),
            Some("detail.configurationItem.resourceId")
        );
        let other = r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}"#;
        assert_eq!(
            parse_replay("e", other).rejected[0].field.as_deref(),
            Some("detail-type")
        );
    }

    #[test]
    fn oversized_summaries_are_kept_for_resolution() {
        let bad = r#"{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":{"configurationItemSummary":{"resourceId":"x"}}}"#;
        let b = parse_replay("o", bad);
        assert_eq!(
            b.rejected[0].field.as_deref(),
            Some("detail.configurationItemSummary.resourceType")
        );
        let good = format!(
            r#"{{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":{{"messageType":"OversizedConfigurationItemChangeNotification","configurationItemSummary":{GOOD}}}}}"#
        );
        let b = parse_replay("o", &good);
        assert_eq!(b.oversized.len(), 1);
        assert_eq!(b.oversized[0].summary.resource_id, "a");
    }

    #[test]
    fn an_event_whose_account_differs_from_its_item_is_rejected() {
        let event = |account: &str| {
            format!(
                r#"{{"source":"aws.config","detail-type":"Config Configuration Item Change","account":"{account}","detail":{{"configurationItem":{GOOD}}}}}"#
            )
        };
        assert_eq!(parse_replay("e", &event("000000000000")).items.len(), 1);
        let b = parse_replay("e", &event("999999999999"));
        assert_eq!(b.rejected[0].field.as_deref(), Some("account"));
        assert!(
            b.rejected[0].error.contains("`999999999999`"),
            "{}",
            b.rejected[0].error
        );
    }

    #[test]
    fn sns_wrapped_notifications_are_unwrapped() {
        let inner = format!(
            r#"{{"messageType":"ConfigurationItemChangeNotification","configurationItem":{GOOD}}}"#
        );
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": inner})
            .to_string();
        assert_eq!(parse_replay("s", &sns).items.len(), 1);
        let broken = serde_json::json!({"Type": "Notification", "Message": "{"}).to_string();
        assert_eq!(
            parse_replay("s", &broken).rejected[0].field.as_deref(),
            Some("Message")
        );
    }
}
