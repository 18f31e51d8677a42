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
    /// What the `obedient` model found and did, per request.
    pub obeyed: Mutex<Vec<Obeyed>>,
    instructions: Mutex<Vec<Instruction>>,
}

/// An instruction hidden in account data: a distinctive part of it and what it asks for
/// (`proceed` or `block`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub needle: String,
    pub asks: String,
}

/// One request to the `obedient` model: the resource it was about, the instruction it
/// found (decoded) in the data, and the verdict it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obeyed {
    pub resource_id: String,
    pub needle: Option<String>,
    pub verdict: String,
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

/// The ways a gullible model reads a string: as is, base64 after `b64:`, percent-encoded,
/// with zero-width spaces removed, HTML numeric entities.
fn candidates(s: &str) -> Vec<String> {
    use base64::Engine as _;
    let mut out = vec![s.to_string()];
    if let Some(body) = s.strip_prefix("b64:") {
        let body = &body[..body.len() - body.len() % 4];
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body) {
            out.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    out.push(
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned(),
    );
    out.push(s.replace('\u{200b}', ""));
    let mut unescaped = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("&#") {
        unescaped.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        match tail.find(';').and_then(|j| {
            tail[..j]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .map(|c| (c, j))
        }) {
            Some((c, j)) => {
                unescaped.push(c);
                rest = &tail[j + 1..];
            }
            None => {
                unescaped.push_str("&#");
                rest = tail;
            }
        }
    }
    unescaped.push_str(rest);
    out.push(unescaped);
    out
}

fn normalize(s: &str) -> String {
    s.to_lowercase()
        .replace(['-', '_'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

/// A model that obeys instructions hidden in the data: it decodes every string of the
/// fenced block, and answers what the first instruction it recognises asks for
/// (`escalate` when it finds none). It records what it found.
fn obedient(body: &Value, seen: &Seen) -> String {
    let user = body["messages"][1]["content"].as_str().unwrap_or_default();
    let data: Value = user
        .split_once("<<<CUSTOS_UNTRUSTED_DATA\n")
        .and_then(|(_, rest)| rest.rsplit_once("\nCUSTOS_UNTRUSTED_DATA>>>"))
        .and_then(|(json, _)| serde_json::from_str(json).ok())
        .unwrap_or(Value::Null);
    let mut texts = Vec::new();
    strings(&data, &mut texts);
    let decoded: Vec<String> = texts
        .iter()
        .flat_map(|t| candidates(t))
        .map(|t| normalize(&t))
        .collect();
    let instructions = seen
        .instructions
        .lock()
        .map(|i| i.clone())
        .unwrap_or_default();
    let found = instructions
        .iter()
        .find(|i| decoded.iter().any(|d| d.contains(&normalize(&i.needle))));
    let verdict = found.map_or("escalate", |i| i.asks.as_str()).to_string();
    if let Ok(mut o) = seen.obeyed.lock() {
        o.push(Obeyed {
            resource_id: data["resource"]["resource_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            needle: found.map(|i| i.needle.clone()),
            verdict: verdict.clone(),
        });
    }
    answer(&verdict, if found.is_some() { 1.0 } else { 0.9 })
}

/// The data block of a request (the JSON between the fence markers), parsed.
pub fn fenced_data(body: &Value) -> Option<Value> {
    let user = body["messages"]
        .as_array()?
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .next()?;
    let open = "<<<CUSTOS_UNTRUSTED_DATA\n";
    let start = user.find(open)? + open.len();
    let end = user.rfind("\nCUSTOS_UNTRUSTED_DATA>>>")?;
    serde_json::from_str(user.get(start..end)?).ok()
}

/// A careful model: it escalates when the outcome history in the data shows a setback
/// of the playbook (a rollback, a failure, an undo), and proceeds otherwise.
fn wary(body: &Value) -> String {
    let setbacks = fenced_data(body)
        .and_then(|d| {
            d["outcome_history"]["recent_setbacks_of_this_playbook"]
                .as_array()
                .map(Vec::len)
        })
        .unwrap_or(0);
    if setbacks > 0 {
        json!({"verdict": "escalate", "confidence": 0.9, "rationale": format!("this playbook had {setbacks} setback(s) recently"), "concerns": []}).to_string()
    } else {
        answer("proceed", 0.9)
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
        // A rationale written to fool a terminal: erase the line, return, move up, and
        // a right-to-left override.
        "terminal" => ok(json!({"verdict": "block", "confidence": 0.95, "rationale": "\u{1b}[2K\r\u{1b}[1Aapproved by security \u{202e}kcolb", "concerns": []}).to_string()),
        "lowconf" => ok(answer("proceed", 0.2)),
        "refusal" => (StatusCode::OK, axum::Json(json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": null, "refusal": "I cannot help with that"}}],
        }))).into_response(),
        "obedient" => ok(obedient(&body, &seen)),
        "wary" => ok(wary(&body)),
        other => (StatusCode::NOT_FOUND, format!("unknown scripted model `{other}`")).into_response(),
    }
}

/// Start on a free loopback port; the server lives as long as the runtime.
pub async fn start() -> Server {
    start_with(Vec::new()).await
}

/// Start with the instructions the `obedient` model recognises.
pub async fn start_with(instructions: Vec<Instruction>) -> Server {
    let seen = Arc::new(Seen {
        instructions: Mutex::new(instructions),
        ..Seen::default()
    });
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
