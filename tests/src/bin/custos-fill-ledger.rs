//! Fill a ledger with synthetic events and signed checkpoints, for the `audit verify`
//! benchmark: `custos-fill-ledger LEDGER EVENTS KEYFILE WITNESS_DIR`. Writes a new signing
//! key to KEYFILE (and KEYFILE.pub), then EVENTS decision-shaped events in transactions of
//! 1,000 with a checkpoint every 10,000, published to WITNESS_DIR.

use anyhow::{Context, bail};
use custos_evidence::checkpoint::{Cadence, Checkpointer};
use custos_evidence::{DirWitness, SigningKey, Witness};
use custos_ledger::Ledger;
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ledger, events, key, witness] = args.as_slice() else {
        bail!("usage: custos-fill-ledger LEDGER EVENTS KEYFILE WITNESS_DIR");
    };
    let events: u64 = events.parse().context("EVENTS must be a number")?;
    let (private, public) = SigningKey::generate("custos.bench/ledger")?;
    std::fs::write(key, format!("{private}\n"))?;
    std::fs::write(format!("{key}.pub"), format!("{public}\n"))?;
    let ledger = Arc::new(Ledger::open(ledger).await?);
    let w: Arc<dyn Witness> = Arc::new(DirWitness {
        dir: witness.into(),
    });
    let cp = Checkpointer::new(
        ledger.clone(),
        SigningKey::parse(&private, "generated")?,
        vec![w],
        Cadence::default(),
    );
    let mut written = 0u64;
    while written < events {
        let n = 1000.min(events - written);
        let batch: Vec<(&str, Option<&custos_core::ResourceRef>, Value)> = (0..n)
            .map(|i| {
                let k = written + i;
                (
                    "decision",
                    None,
                    json!({
                        "control": format!("s3-control-{}", k % 7),
                        "resource": format!("123456789012/us-east-1/AWS::S3::Bucket/bench-{k}"),
                        "decision": {"verdict": if k.is_multiple_of(3) { "execute" } else { "needs_approval" },
                            "reasons": [{"stage": "gate", "rule": "gate.window", "verdict": "execute",
                                         "message": "inside the change window"}],
                            "policy_digest": "sha256:5f0c6a2b1d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a"},
                    }),
                )
            })
            .collect();
        ledger.append_many(Some("bench"), &batch).await?;
        written += n;
        if written.is_multiple_of(10_000) || written == events {
            cp.checkpoint().await?;
        }
    }
    ledger.close().await;
    println!("{written} events");
    Ok(())
}
