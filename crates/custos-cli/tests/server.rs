#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! `custos serve` on LocalStack: the CLI against the server URL with a token approves,
//! refuses and records as it does against the ledger; runtime autonomy stays under the
//! ceiling and reaches the guard; the served OpenAPI document validates (checked by
//! `openapi-spec-validator`); `/metrics` parses with Prometheus' own parser and its
//! counters equal what the ledger's events say (counted here from `history`, not by the
//! server's queries).

mod common;
use common::*;

use custos_testkit::{Fixture, make_bucket, pytools, require_localstack, s3, sdk};
use serde_json::Value;
use std::collections::BTreeMap;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

fn remote(env: &Env, server: &Server, who: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--server", server.url.as_str()];
    all.extend_from_slice(args);
    env.custos_as(who, &all)
}

/// Counters a reader of the ledger's events computes on its own.
fn expected_counts(events: &[Value]) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let mut decisions = BTreeMap::new();
    for e in events.iter().filter(|e| e["kind"] == "decision") {
        *decisions
            .entry(
                e["payload"]["decision"]["verdict"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
            .or_insert(0.0) += 1.0;
    }
    // Each action has one outcome event (`action.<outcome>`, after its intent); a
    // rollback adds `action.reverted` about the action it undid.
    let mut outcome: BTreeMap<String, String> = BTreeMap::new();
    for e in events {
        let kind = e["kind"].as_str().unwrap();
        if let Some(o) = kind.strip_prefix("action.")
            && !["intent", "reverted"].contains(&o)
        {
            let id = e["payload"]["action_id"].as_str().unwrap().to_string();
            assert!(
                outcome.insert(id, o.to_string()).is_none(),
                "two outcomes: {e}"
            );
        }
    }
    let mut actions = BTreeMap::new();
    for o in outcome.values() {
        *actions.entry(o.clone()).or_insert(0.0) += 1.0;
    }
    (decisions, actions)
}

fn samples(parsed: &[Value], name: &str, label: &str) -> BTreeMap<String, f64> {
    parsed
        .iter()
        .filter(|s| s["name"] == name)
        .map(|s| {
            (
                s["labels"][label].as_str().unwrap().to_string(),
                s["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_cli_against_a_server_approves_refuses_and_records_and_metrics_match_the_ledger() {
    require_localstack().await;
    let env = Env::new();
    env.write_config_with(
        "[autonomy]\ndefault = 3\nceiling = 4\n[autonomy.classes.s3]\n\"*\" = 4\n",
        "",
    );
    let client = s3(&sdk(&env.account));
    let bucket = |i: usize| format!("h{}-{i}", env.account);
    for i in 0..2 {
        make_bucket(&client, &bucket(i), Fixture::Production)
            .await
            .unwrap();
    }
    // JSON logs: every item's lines carry its span (run, resource).
    let out = env
        .command_as(
            "alice",
            &["--log-format", "json", "--output", "json", "run", "--once"],
        )
        .env("CUSTOS_LOG", "info")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    for i in 0..2 {
        assert_eq!(outcome_of(&run, &bucket(i)), "awaiting_approval", "{run:#}");
    }
    let logs: Vec<Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not a JSON log line: {l}"))
        })
        .collect();
    let processed: Vec<&Value> = logs
        .iter()
        .filter(|l| l["fields"]["message"] == "item processed")
        .filter(|l| l["span"]["resource"] == bucket(0).as_str())
        .collect();
    assert_eq!(processed.len(), 1, "{logs:#?}");
    assert_eq!(processed[0]["span"]["run"], run["run_id"]);
    assert_eq!(processed[0]["fields"]["disposition"], "processed");
    let server = env.serve(&[]);

    // The served document validates against the OpenAPI specification.
    let http = reqwest::Client::new();
    let doc = http
        .get(format!("{}/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(pytools::validate_openapi(&doc), "OpenAPIV3.1");

    let list: Value = serde_json::from_slice(
        &remote(
            &env,
            &server,
            "bob",
            &["--output", "json", "approvals", "list"],
        )
        .stdout,
    )
    .unwrap();
    let id_of = |i: usize| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["plan"]["resource"]["resource_id"] == bucket(i).as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b) = (id_of(0), id_of(1));
    let shown: Value = http
        .get(format!("{}/api/v1/approvals/{b}", server.url))
        .bearer_auth(env.token("bob"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let digest_b = shown["plan_digest"].as_str().unwrap().to_string();

    // A forged token over HTTP: refused (exit 6) and recorded.
    let id = env.token("bob").split('_').nth(1).unwrap().to_string();
    let forged = format!("cst_{id}_{}", "B".repeat(43));
    let out = env
        .command(&["--server", &server.url, "whoami"])
        .env("CUSTOS_TOKEN", &forged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert_eq!(
        stderr(&out),
        format!("error: token `{id}` is not recognised (token_invalid)")
    );
    // Self-approval and a digest of another plan: refused (exit 5) with the code.
    let out = remote(&env, &server, "alice", &["approvals", "approve", &a]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        stderr(&out).ends_with("(self_approval)"),
        "{}",
        stderr(&out)
    );
    let out = remote(
        &env,
        &server,
        "bob",
        &["approvals", "approve", &a, "--plan-digest", &digest_b],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        stderr(&out).ends_with("(plan_digest_mismatch)"),
        "{}",
        stderr(&out)
    );
    assert!(!has_pab(&client, &bucket(0)).await);
    // bob approves a over HTTP: executed by the server, read back from LocalStack.
    let done: Value = serde_json::from_slice(
        &remote(
            &env,
            &server,
            "bob",
            &[
                "--output",
                "json",
                "approvals",
                "approve",
                &a,
                "--comment",
                "CHG-7",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(done["approval"]["status"], "executed", "{done:#}");
    assert_eq!(done["execution"]["outcome"], "fixed");
    assert!(has_pab(&client, &bucket(0)).await);

    // Autonomy: an auditor may not, nobody above the ceiling, an operator may.
    let out = remote(
        &env,
        &server,
        "audrey",
        &["autonomy", "set", "s3", "production", "2", "--reason", "x"],
    );
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let out = remote(
        &env,
        &server,
        "olivia",
        &["autonomy", "set", "s3", "production", "5", "--reason", "x"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert_eq!(
        stderr(&out),
        "error: autonomy level 5 (auto) is above the ceiling 4 (auto-lower) (`[autonomy] ceiling` in the configuration) (refused)"
    );
    let out = remote(
        &env,
        &server,
        "olivia",
        &[
            "autonomy",
            "set",
            "s3",
            "production",
            "2",
            "--reason",
            "CHG-8 freeze",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Now b is approved, but production s3 is at "recommend": the guard does not execute.
    let out = remote(
        &env,
        &server,
        "carol",
        &[
            "--output",
            "json",
            "approvals",
            "approve",
            &b,
            "--plan-digest",
            &digest_b,
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["execution"]["outcome"], "recommended", "{v:#}");
    assert!(!has_pab(&client, &bucket(1)).await);

    // Pause, resume and the breaker over HTTP, each recorded with its principal.
    let out = remote(&env, &server, "bob", &["pause", "--reason", "INC-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = remote(&env, &server, "bob", &["resume"]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "a reviewer may pause, not resume: {}",
        text(&out)
    );
    let out = remote(&env, &server, "olivia", &["resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: Value =
        serde_json::from_slice(&remote(&env, &server, "audrey", &["breaker", "status"]).stdout)
            .unwrap();
    assert_eq!(status["state"]["breaker"], Value::Null);
    // A rollback over HTTP goes through the guard: production s3 is at "recommend" now,
    // so undoing the fix of a is refused; at "auto-lower" an operator's rollback runs.
    let action = done["execution"]["action_id"].as_str().unwrap().to_string();
    let out = remote(&env, &server, "olivia", &["rollback", &action]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        has_pab(&client, &bucket(0)).await,
        "rolled back against the autonomy level"
    );
    let out = remote(
        &env,
        &server,
        "olivia",
        &[
            "autonomy",
            "set",
            "s3",
            "production",
            "4",
            "--reason",
            "CHG-8 done",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = remote(&env, &server, "audrey", &["rollback", &action]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "an auditor may not roll back: {}",
        text(&out)
    );
    let out = remote(&env, &server, "olivia", &["rollback", &action]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !has_pab(&client, &bucket(0)).await,
        "the rollback did not reach the bucket"
    );

    // Raw HTTP: JSON errors with stable codes.
    let resp = http
        .post(format!("{}/api/v1/pause", server.url))
        .json(&serde_json::json!({"reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "credentials_missing");

    let events = env.all_events();
    let codes = |kind: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["payload"]["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codes("auth.refused"), ["token_invalid"]);
    assert_eq!(
        codes("approval.refused"),
        ["self_approval", "plan_digest_mismatch"]
    );
    assert_eq!(
        codes("access.refused"),
        ["forbidden", "forbidden", "forbidden"]
    );
    let refused: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["kind"] == "access.refused")
        .map(|e| {
            (
                e["payload"]["by"].as_str().unwrap().to_string(),
                e["payload"]["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            ("audrey".to_string(), "set_autonomy".to_string()),
            ("bob".to_string(), "resume".to_string()),
            ("audrey".to_string(), "rollback".to_string()),
        ]
    );
    let by = |kind: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["payload"]["by"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(by("guard.paused"), ["bob"]);
    assert_eq!(by("guard.resumed"), ["olivia"]);
    assert_eq!(codes("autonomy.refused"), ["above_ceiling"]);
    let set: Vec<(Value, Value)> = events
        .iter()
        .filter(|e| e["kind"] == "autonomy.set")
        .map(|e| {
            (
                e["payload"]["level"].clone(),
                e["payload"]["previous"].clone(),
            )
        })
        .collect();
    assert_eq!(set, [(2.into(), Value::Null), (4.into(), 2.into())]);
    assert_eq!(by("autonomy.set"), ["olivia", "olivia"]);

    // /metrics, parsed by Prometheus' parser, against the events counted here.
    let text = http
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parsed = pytools::parse_metrics(&text);
    let (decisions, actions) = expected_counts(&events);
    assert!(!decisions.is_empty() && !actions.is_empty());
    assert_eq!(
        samples(&parsed, "custos_decisions_total", "verdict"),
        decisions
    );
    assert_eq!(samples(&parsed, "custos_actions_total", "outcome"), actions);
    let pending = list.as_array().unwrap().len() as f64 - 2.0;
    let gauge = |name: &str| {
        parsed
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {text}"))["value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(gauge("custos_approvals_pending"), pending);
    assert_eq!(gauge("custos_paused"), 0.0);
    assert_eq!(
        gauge("custos_actions_reverted_total"),
        count(&events, "action.reverted") as f64
    );
    assert_eq!(count(&events, "action.reverted"), 1);
    assert_eq!(gauge("custos_actions_in_flight"), 0.0);
    assert_eq!(gauge("custos_breaker_open"), 0.0);

    // Open findings by control and tier: each resource's latest evaluation in the events,
    // its failing controls, each control's class read from its Rego file.
    let mut latest: BTreeMap<String, &Value> = BTreeMap::new();
    for e in events.iter().filter(|e| e["kind"] == "resource.evaluated") {
        latest.insert(e["resource"].as_str().unwrap().to_string(), e);
    }
    let mut open: BTreeMap<(String, String), f64> = BTreeMap::new();
    for e in latest.values() {
        for c in e["payload"]["failing"].as_array().unwrap() {
            let c = c.as_str().unwrap().to_string();
            let tier = if alert_only(&c) { "alert" } else { "fixable" };
            *open.entry((c, tier.to_string())).or_default() += 1.0;
        }
    }
    let seen: BTreeMap<(String, String), f64> = parsed
        .iter()
        .filter(|s| s["name"] == "custos_findings_open")
        .map(|s| {
            (
                (
                    s["labels"]["control"].as_str().unwrap().to_string(),
                    s["labels"]["tier"].as_str().unwrap().to_string(),
                ),
                s["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(open.keys().any(|(_, t)| t == "alert"), "{open:?}");
    assert!(open.keys().any(|(_, t)| t == "fixable"), "{open:?}");
    assert_eq!(seen, open, "{text}");
}

/// Whether a shipped control is alert-only, read from its Rego file's metadata text.
fn alert_only(control: &str) -> bool {
    let dir = repo().join("rego/controls");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with("_test.rego") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        if text.contains(&format!("\"id\": \"{control}\"")) {
            return text.contains("\"class\": \"alert\"");
        }
    }
    panic!("no Rego file has control `{control}`")
}

/// `serve --worker`: one process serves the API and consumes the change-event queue; its
/// own latencies show in `/metrics` (one message's queue lag, one reasoning review).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_worker_consumes_the_queue_and_reports_its_latencies() {
    use custos_testkit::{bucket_item, config_change_event, make_queue, publish, sqs};
    require_localstack().await;
    let env = Env::new();
    let sdk = sdk(&env.account);
    let queue = make_queue(&sqs(&sdk), &format!("w{}", env.account), 5)
        .await
        .unwrap();
    env.write_config(&format!(
        "[telemetry]\nqueue_url = {queue:?}\nwait_seconds = 1\n"
    ));
    let client = s3(&sdk);
    let bucket = format!("q{}", env.account);
    make_bucket(&client, &bucket, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let server = env.serve(&["--worker"]);
    publish(
        &sqs(&sdk),
        &queue,
        &[config_change_event(&bucket_item(
            &env.account,
            &bucket,
            Fixture::NoPublicAccessBlock,
            "2026-11-01T10:00:00Z",
        ))],
    )
    .await
    .unwrap();
    // Wait for the effect (the message's outcome in the ledger), bounded.
    let http = reqwest::Client::new();
    let token = env.token("audrey");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let received = loop {
        let h: Value = http
            .get(format!("{}/api/v1/history?limit=1000", server.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let got: Vec<Value> = h["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "input.received")
            .cloned()
            .collect();
        if !got.is_empty() {
            break got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never took the message"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["payload"]["disposition"], "processed");
    assert!(
        has_pab(&client, &bucket).await,
        "the worker did not fix the bucket"
    );
    let text = http
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parsed = pytools::parse_metrics(&text);
    let value = |name: &str| {
        parsed
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {text}"))["value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(value("custos_queue_lag_seconds_count"), 1.0);
    assert_eq!(value("custos_reasoning_duration_seconds_count"), 1.0);
    // The gate decides twice for one fix: in the pipeline and again at admission.
    assert_eq!(value("custos_gate_duration_seconds_count"), 2.0);
}
