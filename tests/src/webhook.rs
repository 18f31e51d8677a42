//! A Slack-compatible webhook receiver on 127.0.0.1, started by the tests: it answers
//! with the scripted statuses in order (then 200) and keeps every body it was sent. A
//! scripted `0` never answers (the request hangs until the client gives up).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct Received {
    pub bodies: Mutex<Vec<Value>>,
    script: Mutex<std::collections::VecDeque<u16>>,
}

#[derive(Debug)]
pub struct Receiver {
    pub url: String,
    pub received: Arc<Received>,
}

impl Receiver {
    pub fn bodies(&self) -> Vec<Value> {
        match self.received.bodies.lock() {
            Ok(b) => b.clone(),
            Err(_) => panic!("webhook receiver lock poisoned"),
        }
    }
}

async fn hook(State(r): State<Arc<Received>>, body: String) -> StatusCode {
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    match r.bodies.lock() {
        Ok(mut b) => b.push(v),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR,
    }
    let next = r.script.lock().ok().and_then(|mut s| s.pop_front());
    if next == Some(0) {
        std::future::pending::<()>().await;
    }
    next.and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK)
}

/// Start a receiver at `/services/T000/B000/secret` answering `statuses` first.
pub async fn start(statuses: &[u16]) -> Receiver {
    let received = Arc::new(Received {
        script: Mutex::new(statuses.iter().copied().collect()),
        ..Received::default()
    });
    let app = Router::new()
        .route("/services/T000/B000/secret", post(hook))
        .with_state(received.clone());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("cannot bind the webhook receiver: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("no local address: {e}"),
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url: format!("http://{addr}/services/T000/B000/secret"),
        received,
    }
}
