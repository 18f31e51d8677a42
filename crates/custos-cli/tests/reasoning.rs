#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The LLM reasoning layer through the whole pipeline on LocalStack: every fault of the
//! model endpoint ends in `needs_approval` with its reason in the ledger, and nothing is
//! called; a model that blocks blocks; history shows the rationale.

mod common;
use common::*;

use custos_testkit::{Fixture, make_bucket, require_localstack, s3, sdk};
use serde_json::Value;

fn config(url: &str, model: &str) -> String {
    format!(
        "[reasoning]\nmode = \"openai\"\nbase_url = {url:?}\nmodel = {model:?}\ntimeout_ms = 3000\nmin_confidence = 0.6\n"
    )
}

/// A bucket missing its public access block, a run with the scripted `model`, and the
/// fix waiting for review.
async fn awaiting_review(
    model: &str,
) -> (
    custos_testkit::openai_stub::Server,
    Env,
    String,
    aws_sdk_s3::Client,
    Value,
) {
    require_localstack().await;
    let server = custos_testkit::openai_stub::start().await;
    let env = Env::with_config(&config(&server.url, model));
    let bucket = format!("l{}-{model}", env.account);
    let client = s3(&sdk(&env.account));
    make_bucket(&client, &bucket, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let report = env.json(&["run", "--once"]);
    assert_eq!(
        outcome_of(&report, &bucket),
        "awaiting_approval",
        "{report:#}"
    );
    (server, env, bucket, client, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_fault_ends_in_needs_approval_with_no_mutating_call() {
    require_localstack().await;
    let server = custos_testkit::openai_stub::start().await;
    for model in [
        "malformed",
        "empty",
        "http500",
        "ratelimited",
        "hang",
        "huge",
        "unknown",
        "lowconf",
        "refusal",
    ] {
        let env = Env::with_config(&config(&server.url, model));
        let bucket = format!("l{}-{model}", env.account);
        make_bucket(
            &s3(&sdk(&env.account)),
            &bucket,
            Fixture::NoPublicAccessBlock,
        )
        .await
        .unwrap();
        let out = env
            .command(&["--output", "json", "run", "--once"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{model}: {}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            outcome_of(&report, &bucket),
            "awaiting_approval",
            "{model}: {report:#}"
        );
        let events = env.events(report["run_id"].as_str().unwrap());
        assert_eq!(
            count(&events, "action.intent"),
            0,
            "{model}: a mutating call was made"
        );
        let decision = events
            .iter()
            .find(|e| e["kind"] == "decision" && e["resource"].as_str().unwrap().ends_with(&bucket))
            .unwrap();
        let d = &decision["payload"]["decision"];
        assert_eq!(d["verdict"], "needs_approval", "{model}");
        assert!(
            d["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["rule"] == "reasoning.error"),
            "{model}: {d:#}"
        );
        assert_eq!(d["reasoner"]["model"], model);
        assert_eq!(d["reasoner"]["prompt_version"], "custos-review/2");
        assert!(
            s3(&sdk(&env.account))
                .get_public_access_block()
                .bucket(&bucket)
                .send()
                .await
                .is_err(),
            "{model}: the bucket changed"
        );
    }
}

/// A model's `block` cannot make a finding disappear (text in a tag could talk it into
/// that): the fix waits in the review queue, the model's words marked as model output,
/// and a human decides. Nothing is called until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_model_leaves_the_finding_visible_for_review() {
    let (_server, env, bucket, client, report) = awaiting_review("block").await;
    let events = env.events(report["run_id"].as_str().unwrap());
    assert_eq!(count(&events, "action.intent"), 0);
    let d = events.iter().find(|e| e["kind"] == "decision").unwrap();
    let decision = &d["payload"]["decision"];
    assert_eq!(decision["verdict"], "needs_approval");
    assert_eq!(decision["model_verdict"], "needs_approval");
    let block = decision["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "reasoning.llm.block")
        .unwrap_or_else(|| panic!("{decision:#}"));
    assert_eq!(
        block["message"], "model output (untrusted): scripted block",
        "{block:#}"
    );
    let r = &decision["reasoner"];
    assert_eq!(r["prompt_tokens"], 321);
    assert!(r["latency_ms"].as_u64().is_some());
    assert!(r["answer_digest"].as_str().unwrap().starts_with("sha256:"));

    // The review queue shows it, with the model's words marked.
    let pending = env.json(&["approvals", "list"]);
    let request = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["plan"]["resource"]["resource_id"] == bucket.as_str())
        .unwrap_or_else(|| panic!("not in the review queue: {pending:#}"));
    let id = request["id"].as_str().unwrap().to_string();
    let show = env.custos(&["approvals", "show", &id]);
    let detail = String::from_utf8_lossy(&show.stdout);
    assert!(
        detail.contains(
            "reasoning.llm.block -> needs_approval: model output (untrusted): scripted block"
        ),
        "{detail}"
    );
    assert!(
        detail.contains(
            "reasoner openai-compatible/custos-review/2: model output (untrusted): scripted block"
        ),
        "{detail}"
    );
    let hist = env.custos(&["history", "--resource", &bucket]);
    assert!(
        String::from_utf8_lossy(&hist.stdout).contains("model output (untrusted): scripted block"),
        "{}",
        text(&hist)
    );
    // A human who judges the model wrong approves; the fix is made.
    let ok = env.json_as("alice", &["approvals", "approve", &id]);
    assert_eq!(ok["execution"]["outcome"], "fixed", "{ok:#}");
    assert!(
        client
            .get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .is_ok()
    );
}

/// Issue 22 item 13: a model's rationale and a reviewer's comment are printed with every
/// terminal control character escaped, so neither can erase the "model output" marker or
/// move the cursor. The oracle is the bytes the command wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_words_and_comments_cannot_drive_the_terminal() {
    let (_server, env, bucket, _client, _report) = awaiting_review("terminal").await;
    let pending = env.json(&["approvals", "list"]);
    let id = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["plan"]["resource"]["resource_id"] == bucket.as_str())
        .unwrap_or_else(|| panic!("not in the review queue: {pending:#}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = "\u{1b}[2K\r\u{1b}[1Aapproved by security \u{202e}kcolb";
    // The stored rationale is the model's, byte for byte (JSON output keeps it).
    assert!(
        pending
            .to_string()
            .contains("\\u001b[2K\\r\\u001b[1Aapproved by security"),
        "{pending:#}"
    );
    let comment = "\u{1b}]0;owned\u{7}\u{1b}[31mLGTM";
    let ok = env.json_as(
        "alice",
        &["approvals", "approve", &id, "--comment", comment],
    );
    assert_eq!(ok["execution"]["outcome"], "fixed", "{ok:#}");
    for args in [
        vec!["approvals", "show", id.as_str()],
        vec!["history", "--resource", bucket.as_str()],
    ] {
        let out = env.custos(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let shown = String::from_utf8(out.stdout.clone()).unwrap();
        let bad: Vec<char> = shown
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || *c == '\u{202e}')
            .collect();
        assert_eq!(bad, Vec::<char>::new(), "{args:?} wrote control characters");
        // The table wraps long cells at its width, wherever the column ends: compare
        // without the layout (whitespace and the column rule).
        let squash = |t: &str| -> String {
            t.chars()
                .filter(|c| !c.is_whitespace() && *c != '│' && *c != '┆')
                .collect()
        };
        assert!(
            squash(&shown).contains(&squash(
                "model output (untrusted): \\u{1b}[2K\\u{d}\\u{1b}[1Aapproved by security \\u{202e}kcolb"
            )),
            "{args:?}: {shown}"
        );
        assert!(!shown.contains(raw));
    }
    let show = env.custos(&["approvals", "show", &id]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.contains("\\u{1b}]0;owned\\u{7}\\u{1b}[31mLGTM"),
        "the comment: {shown}"
    );
}
