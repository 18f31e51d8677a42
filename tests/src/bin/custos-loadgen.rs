//! Load for `scripts/bench` (LocalStack only; the account is `AWS_ACCESS_KEY_ID`):
//!
//! - `public PREFIX N`: N buckets `PREFIX-00000..` without a public access block (dev),
//!   otherwise compliant: the one misconfiguration both custos and Cloud Custodian fix;
//! - `replay-file PATH N`: N EventBridge "Config Configuration Item Change" events (NDJSON)
//!   for buckets in seven shapes (compliant, three misconfigurations, production,
//!   excluded, under an incident); no AWS;
//! - `stream QUEUE PREFIX N RATE`: one change event per bucket `PREFIX-00000..`, RATE per
//!   second, each sent alone; prints `{"bucket", "sent_ms"}` per event (milliseconds since
//!   the epoch, taken just before the send);
//! - `backlog QUEUE PREFIX N EVENTS`: EVENTS change events over N buckets (captures one
//!   millisecond apart, sent in a shuffled order, ten per batch);
//! - `queue NAME`: makes a queue (30 s visibility); prints its URL;
//! - `proxy LATENCY_MS`: a proxy in front of `AWS_ENDPOINT_URL` that delays every request;
//!   prints its URL, then serves until killed.

use anyhow::{Context, bail};
use custos_testkit::{Fixture, bucket_item, config_change_event, make_buckets, publish};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> anyhow::Result<T> {
    args.get(i)
        .with_context(|| format!("missing argument `{name}`"))?
        .parse()
        .map_err(|_| anyhow::anyhow!("argument `{name}` is not valid: `{}`", args[i]))
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn rfc3339(ms: u128) -> String {
    aws_sdk_s3::primitives::DateTime::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| "2026-01-01T00:00:00Z".into())
}

fn account() -> anyhow::Result<String> {
    let key = std::env::var("AWS_ACCESS_KEY_ID").context("AWS_ACCESS_KEY_ID is not set")?;
    if key.len() != 12 || !key.chars().all(|c| c.is_ascii_digit()) {
        bail!("AWS_ACCESS_KEY_ID must be a 12-digit LocalStack account, got `{key}`");
    }
    Ok(key)
}

fn endpoint() -> anyhow::Result<String> {
    std::env::var("AWS_ENDPOINT_URL").context(
        "refusing to run without AWS_ENDPOINT_URL: point it at LocalStack (http://127.0.0.1:4566)",
    )
}

/// A fixed permutation (a linear congruential walk), so runs are comparable.
fn shuffle<T>(v: &mut [T]) {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..v.len()).rev() {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from((x >> 33) % (i as u64 + 1)).unwrap_or(0);
        v.swap(i, j);
    }
}

const SHAPES: [Fixture; 7] = [
    Fixture::Compliant,
    Fixture::Compliant,
    Fixture::NoPublicAccessBlock,
    Fixture::NoEncryption,
    Fixture::VersioningOff,
    Fixture::Production,
    Fixture::Excluded,
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("replay-file") => {
            let path: String = arg(&args, 1, "PATH")?;
            let n: usize = arg(&args, 2, "N")?;
            let account = "123456789012";
            let at = rfc3339(millis(SystemTime::now()) - 60_000);
            let file = std::fs::File::create(&path).with_context(|| format!("`{path}`"))?;
            let mut out = std::io::BufWriter::new(file);
            for i in 0..n {
                // Every 50th bucket is under an incident: a hold the gate must see.
                let shape = if i % 50 == 49 {
                    Fixture::Incident
                } else {
                    SHAPES[i % SHAPES.len()]
                };
                let item = bucket_item(account, &format!("replay-{i:06}"), shape, &at);
                writeln!(out, "{}", config_change_event(&item))?;
            }
            out.flush()?;
            println!("wrote {n} events to {path}");
        }
        Some("public") => {
            endpoint()?;
            let prefix: String = arg(&args, 1, "PREFIX")?;
            let n: usize = arg(&args, 2, "N")?;
            let sdk = custos_testkit::sdk(&account()?);
            let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:05}")).collect();
            make_buckets(
                &custos_testkit::s3(&sdk),
                &names,
                Fixture::NoPublicAccessBlock,
                16,
            )
            .await?;
            println!("seeded {n} buckets {prefix}-00000.. without a public access block");
        }
        Some("stream") => {
            endpoint()?;
            let queue: String = arg(&args, 1, "QUEUE")?;
            let prefix: String = arg(&args, 2, "PREFIX")?;
            let n: usize = arg(&args, 3, "N")?;
            let rate: f64 = arg(&args, 4, "RATE")?;
            let account = account()?;
            let sqs = custos_testkit::sqs(&custos_testkit::sdk(&account));
            let every = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let start = tokio::time::Instant::now();
            let mut stdout = std::io::stdout().lock();
            for i in 0..n {
                tokio::time::sleep_until(start + every * u32::try_from(i)?).await;
                let bucket = format!("{prefix}-{i:05}");
                let sent = millis(SystemTime::now());
                let item = bucket_item(
                    &account,
                    &bucket,
                    Fixture::NoPublicAccessBlock,
                    &rfc3339(sent),
                );
                sqs.send_message()
                    .queue_url(&queue)
                    .message_body(config_change_event(&item))
                    .send()
                    .await?;
                writeln!(
                    stdout,
                    "{}",
                    serde_json::json!({"bucket": bucket, "sent_ms": sent as u64})
                )?;
            }
        }
        Some("backlog") => {
            endpoint()?;
            let queue: String = arg(&args, 1, "QUEUE")?;
            let prefix: String = arg(&args, 2, "PREFIX")?;
            let n: usize = arg(&args, 3, "N")?;
            let events: usize = arg(&args, 4, "EVENTS")?;
            let account = account()?;
            let sqs = custos_testkit::sqs(&custos_testkit::sdk(&account));
            let base = millis(SystemTime::now()) - 600_000;
            let mut bodies: Vec<String> = (0..events)
                .map(|e| {
                    let bucket = format!("{prefix}-{:05}", e % n.max(1));
                    let at = rfc3339(base + e as u128);
                    config_change_event(&bucket_item(
                        &account,
                        &bucket,
                        Fixture::NoPublicAccessBlock,
                        &at,
                    ))
                })
                .collect();
            shuffle(&mut bodies);
            publish(&sqs, &queue, &bodies).await?;
            println!("published {events} events over {n} buckets");
        }
        Some("queue") => {
            endpoint()?;
            let name: String = arg(&args, 1, "NAME")?;
            let sqs = custos_testkit::sqs(&custos_testkit::sdk(&account()?));
            println!("{}", custos_testkit::make_queue(&sqs, &name, 30).await?);
        }
        Some("proxy") => {
            let upstream = endpoint()?;
            let latency: u64 = arg(&args, 1, "LATENCY_MS")?;
            let proxy = custos_testkit::proxy::FaultProxy::start(&upstream).await;
            proxy.set_latency(Duration::from_millis(latency));
            println!("{}", proxy.url);
            std::io::stdout().flush()?;
            std::future::pending::<()>().await;
        }
        _ => bail!(
            "usage: custos-loadgen public PREFIX N | replay-file PATH N | stream QUEUE PREFIX N RATE | backlog QUEUE PREFIX N EVENTS | queue NAME | proxy LATENCY_MS"
        ),
    }
    Ok(())
}
