//! A scripted OpenAI-compatible chat-completions server on 127.0.0.1, started by the
//! tests. The `model` field of each request picks the behaviour.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct Seen {
    pub calls: AtomicUsize,
    pub bodies: Mutex<Vec<Value>>,
}

#[derive(Debug)]
pub struct Server {
    pub url: String,
    pub seen: Arc<Seen>,
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1_790_000_000u32, "model": "scripted",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 321, "completion_tokens": 42, "total_tokens": 363},
    })
}

fn answer(verdict: &str, confidence: f64) -> String {
    json!({"verdict": verdict, "confidence": confidence, "rationale": format!("scripted {verdict}"), "concerns": []}).to_string()
}

/// What a model that obeys instructions hidden in the data would say: `proceed` whenever
/// the data asks for it, otherwise `escalate`.
fn obedient(body: &Value) -> String {
    let user = body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    let asks = [
        "proceed",
        "approve",
        "ignore",
        "execute",
        "allow",
        "genehmig",
        "aprob",
        "approuv",
        "批准",
        "承認",
        "разреш",
    ];
    if asks.iter().any(|w| user.contains(w)) {
        answer("proceed", 1.0)
    } else {
        answer("escalate", 0.9)
    }
}

async fn chat(State(seen): State<Arc<Seen>>, body: axum::body::Bytes) -> Response {
    seen.calls.fetch_add(1, Ordering::SeqCst);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut b) = seen.bodies.lock() {
        b.push(body.clone());
    }
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let ok = |content: String| (StatusCode::OK, axum::Json(completion(&content))).into_response();
    match model.as_str() {
        "proceed" | "escalate" | "block" => ok(answer(&model, 0.95)),
        "malformed" => ok("this is not json {".into()),
        "empty" => (StatusCode::OK, "").into_response(),
        "http500" => (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}))).into_response(),
        "ratelimited" => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": null}})),
        )
            .into_response(),
        "hang" => {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            ok(answer("proceed", 1.0))
        }
        "huge" => ok(json!({"verdict": "proceed", "confidence": 1.0, "rationale": "x".repeat(5 * 1024 * 1024), "concerns": []}).to_string()),
        "unknown" => ok(answer("approve", 0.99)),
        "lowconf" => ok(answer("proceed", 0.2)),
        "refusal" => (StatusCode::OK, axum::Json(json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": null, "refusal": "I cannot help with that"}}],
        }))).into_response(),
        "obedient" => ok(obedient(&body)),
        other => (StatusCode::NOT_FOUND, format!("unknown scripted model `{other}`")).into_response(),
    }
}

/// Start on a free loopback port; the server lives as long as the runtime.
pub async fn start() -> Server {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(seen.clone());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("cannot bind the scripted OpenAI server: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("no local address: {e}"),
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        url: format!("http://{addr}/v1"),
        seen,
    }
}
