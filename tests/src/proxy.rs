//! A fault-injecting HTTP proxy in front of LocalStack, started by a test, for faults
//! LocalStack cannot produce on its own:
//!
//! - [`Fault::Hold`]: the request is held, neither forwarded nor answered, until
//!   [`FaultProxy::release_held`] forwards it; a process can be killed meanwhile, with its
//!   call in flight (after its intent, before any outcome);
//! - [`Fault::LandThenFail`]: the request is forwarded (the change lands) and the client
//!   gets a 500 instead of the answer (a lost response);
//! - [`Fault::Fail`]: a 500 without forwarding (a failing API, a resource that cannot be
//!   read).
//!
//! Requests are signed for the proxy's address; LocalStack takes the account from the
//! access key in the signature, so forwarding keeps each test in its own account.

use axum::Router;
pub use axum::body::Bytes;

/// A response body mend (see [`FaultProxy::mend_responses`]).
pub type Mend = fn(Bytes) -> Bytes;
use axum::extract::State;
pub use axum::http::Method;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Which requests a rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    pub method: Option<Method>,
    /// The path starts with this (path-style S3: `/<bucket>`).
    pub path_prefix: Option<String>,
    /// The query string contains this (`publicAccessBlock`, `tagging`).
    pub query: Option<String>,
}

impl Matcher {
    /// An S3 sub-resource call on one bucket: `PUT /<bucket>?publicAccessBlock`.
    pub fn s3(method: Method, bucket: &str, subresource: &str) -> Self {
        Matcher {
            method: Some(method),
            path_prefix: Some(format!("/{bucket}")),
            query: Some(subresource.to_string()),
        }
    }

    fn matches(&self, method: &Method, uri: &Uri) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self
                .path_prefix
                .as_ref()
                .is_none_or(|p| uri.path() == p || uri.path().starts_with(&format!("{p}/")))
            && self
                .query
                .as_ref()
                .is_none_or(|q| uri.query().is_some_and(|x| x.contains(q.as_str())))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Hold,
    LandThenFail,
    Fail,
}

#[derive(Debug, Clone)]
struct Rule {
    matcher: Matcher,
    fault: Fault,
    /// Matching requests to let through before the rule applies.
    skip: usize,
    /// How many more requests it applies to (`None`: all).
    remaining: Option<usize>,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    /// It reached LocalStack.
    pub forwarded: bool,
    pub fault: Option<Fault>,
    /// When the proxy received it (forwarded after a hold: when it was let go).
    pub at: std::time::SystemTime,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    held: Notify,
    release: Notify,
    /// Added before every request is handled (a slower, more distant API).
    latency: Mutex<Duration>,
    /// Applied to every response body forwarded (an emulator's known deviation from
    /// the service, mended on the wire; see [`FaultProxy::mend_responses`]).
    mend: Mutex<Option<Mend>>,
}

#[derive(Debug, Clone)]
pub struct FaultProxy {
    /// Point `AWS_ENDPOINT_URL` here.
    pub url: String,
    shared: Arc<Shared>,
}

fn s3_error(code: &str, message: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "application/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
        ),
    )
        .into_response()
}

async fn forward(
    s: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, String> {
    let url = format!(
        "{}{}",
        s.upstream.trim_end_matches('/'),
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut req = s.client.request(method.clone(), url).body(body);
    for (k, v) in headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let mut out_headers = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out_headers.insert(k.clone(), v.clone());
        }
    }
    let mut bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    let mend = *s.mend.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = mend {
        bytes = f(bytes);
    }
    Ok((status, out_headers, bytes).into_response())
}

async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = *s.latency.lock().unwrap_or_else(|e| e.into_inner());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = {
        let mut rules = s.rules.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = None;
        for r in rules.iter_mut() {
            if !r.matcher.matches(&method, &uri) || r.remaining == Some(0) {
                continue;
            }
            if r.skip > 0 {
                r.skip -= 1;
                continue;
            }
            if let Some(n) = r.remaining.as_mut() {
                *n -= 1;
            }
            found = Some(r.fault);
            break;
        }
        found
    };
    let record = |forwarded: bool| {
        s.seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
            method: method.clone(),
            uri: uri.clone(),
            forwarded,
            fault,
            at: std::time::SystemTime::now(),
        });
    };
    match fault {
        Some(Fault::Hold) => {
            record(false);
            s.held.notify_waiters();
            s.held.notify_one();
            s.release.notified().await;
            s.seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
                method: method.clone(),
                uri: uri.clone(),
                forwarded: true,
                fault: None,
                at: std::time::SystemTime::now(),
            });
            match forward(&s, &method, &uri, &headers, body).await {
                Ok(r) => r,
                Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
            }
        }
        Some(Fault::Fail) => {
            record(false);
            s3_error("InternalError", "injected by the fault proxy")
        }
        Some(Fault::LandThenFail) => {
            record(true);
            match forward(&s, &method, &uri, &headers, body).await {
                Ok(_) => s3_error(
                    "InternalError",
                    "response lost (injected by the fault proxy)",
                ),
                Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
            }
        }
        None => {
            record(true);
            match forward(&s, &method, &uri, &headers, body).await {
                Ok(r) => r,
                Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
            }
        }
    }
}

impl FaultProxy {
    /// Start on a free loopback port in front of `upstream`; it lives as long as the
    /// runtime (use a multi-threaded test runtime when the test blocks on a child).
    pub async fn start(upstream: &str) -> FaultProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_else(|e| panic!("cannot build the proxy's client: {e}")),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            held: Notify::new(),
            release: Notify::new(),
            latency: Mutex::new(Duration::ZERO),
            mend: Mutex::new(None),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("cannot bind the fault proxy: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("no local address: {e}"),
        };
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy {
            url: format!("http://{addr}"),
            shared,
        }
    }

    /// Pass every forwarded response body through `f`: for an emulator's documented
    /// deviation from the real service that the SDK refuses (never to fake a result).
    pub fn mend_responses(&self, f: Mend) {
        *self.shared.mend.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }

    /// Delay every request by `latency` before handling it.
    pub fn set_latency(&self, latency: Duration) {
        *self
            .shared
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = latency;
    }

    /// Requests seen so far.
    pub fn requests(&self) -> usize {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Apply `fault` to the next `times` matching requests (`None`: all of them).
    pub fn inject(&self, matcher: Matcher, fault: Fault, times: Option<usize>) {
        self.inject_after(matcher, fault, 0, times);
    }

    /// Let `skip` matching requests through, then apply `fault` to `times` of them.
    pub fn inject_after(&self, matcher: Matcher, fault: Fault, skip: usize, times: Option<usize>) {
        self.shared
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Rule {
                matcher,
                fault,
                skip,
                remaining: times,
            });
    }

    /// Remove every rule: requests pass through again.
    pub fn heal(&self) {
        self.shared
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Requests seen that match.
    pub fn seen(&self, matcher: &Matcher) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| matcher.matches(&s.method, &s.uri))
            .cloned()
            .collect()
    }

    /// Matching requests that reached LocalStack.
    pub fn forwarded(&self, matcher: &Matcher) -> usize {
        self.seen(matcher).iter().filter(|s| s.forwarded).count()
    }

    /// Wait until a request is being held (true), or `timeout` passes (false).
    pub async fn wait_held(&self, timeout: Duration) -> bool {
        let held = |s: &Shared| {
            s.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|x| x.fault == Some(Fault::Hold))
        };
        if held(&self.shared) {
            return true;
        }
        tokio::time::timeout(timeout, async {
            loop {
                self.shared.held.notified().await;
                if held(&self.shared) {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }

    /// Forward every held request now (each is then seen once more, as forwarded).
    pub fn release_held(&self) {
        self.shared.release.notify_waiters();
    }
}
