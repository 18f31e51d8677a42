#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::{AppState, Method, Metrics, routes};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use custos_core::{AuthMethod, ConfigurationItem, Principal, ResourceRef, Role};
use custos_engine::config::{Config, RawConfig};
use custos_engine::{Engine, Parts};
use custos_executor::{PlaybookSet, Registry};
use custos_identity::StaticAuthenticator;
use custos_ledger::Ledger;
use custos_policy::PolicyBundle;
use custos_telemetry::{ResourceReader, TelemetryError};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

#[derive(Debug)]
struct NoReader;

#[async_trait::async_trait]
impl ResourceReader for NoReader {
    async fn read(&self, _r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        Err(TelemetryError::Unsupported("no reads in this test".into()))
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn state() -> AppState {
    let raw: RawConfig = toml::from_str("[autonomy]\ndefault = 3\nceiling = 4\n").unwrap();
    let config = Config::validate(raw, None, &root()).unwrap();
    let registry = Registry::new(custos_executor::executors_for_tests());
    let playbooks = PlaybookSet::load_dirs(
        &config.playbook_dirs(),
        &registry.catalog(),
        &config.playbook_overrides,
    )
    .unwrap();
    let bundle = PolicyBundle::load_layers(&config.policy_dirs(), config.policy_options()).unwrap();
    let engine = Engine::new(Parts {
        bundle,
        reasoning: custos_reasoning::Reasoning {
            offline: config.offline_rules.clone(),
            model: None,
            timeout: std::time::Duration::from_secs(1),
        },
        config,
        playbooks,
        registry,
        reader: Arc::new(NoReader),
        ledger: Arc::new(Ledger::open("sqlite::memory:").await.unwrap()),
        clock: Arc::new(custos_core::SystemClock),
        actor: "custos".into(),
    });
    let mut auth = StaticAuthenticator::default();
    for (token, name, roles) in [
        ("t-olivia", "olivia", vec![Role::Operator]),
        ("t-audrey", "audrey", vec![Role::Auditor]),
        ("t-bob", "bob", vec![Role::Reviewer]),
    ] {
        auth.principals.insert(
            token.into(),
            Principal {
                name: name.into(),
                roles: roles.into_iter().collect(),
                via: AuthMethod::Token {
                    token_id: token.into(),
                },
            },
        );
    }
    AppState::new(
        Arc::new(engine),
        Arc::new(auth),
        Arc::new(Metrics::default()),
        false,
    )
}

async fn call(s: &AppState, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = crate::router(s.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::empty()).unwrap()
}

fn json_req(method: &str, path: &str, token: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"].as_str().unwrap().to_string()
}

/// The document, as a separate reader would see it: `(method, path)` per operation.
fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(<crate::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_openapi_document_describes_exactly_the_routes_of_the_router() {
    let served: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.path.to_string()))
        .collect();
    let doc = documented();
    assert_eq!(
        served.difference(&doc).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes missing from the OpenAPI document"
    );
    assert_eq!(
        doc.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented operations the router does not have"
    );
    assert_eq!(served.len(), 28);
}

#[tokio::test]
async fn every_route_answers_and_unknown_ones_are_json_404() {
    let s = state().await;
    for r in routes() {
        let path = r.path.replace("{id}", "apr-nonexistent");
        let method = match r.method {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        };
        let req = Request::builder()
            .method(method)
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = call(&s, req).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !(status == StatusCode::NOT_FOUND && body.contains("no such route")),
            "{method} {path} is not routed"
        );
    }
    let (status, _, body) = call(&s, get("/api/v1/nothing", Some("t-bob"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
}

#[tokio::test]
async fn api_errors_are_json_with_stable_codes() {
    let s = state().await;
    let (status, _, body) = call(&s, get("/api/v1/approvals", None)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "credentials_missing".into())
    );
    let (status, _, body) = call(&s, get("/api/v1/approvals?status=bogus", Some("t-bob"))).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let (status, _, body) = call(&s, get("/api/v1/approvals/apr-none", Some("t-bob"))).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let (status, _, body) = call(
        &s,
        json_req(
            "POST",
            "/api/v1/approvals/apr-none/approve",
            "t-bob",
            "{\"comment\": 1}",
        ),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    // An auditor reads but may not pause; the refusal is in the ledger.
    let (status, _, _) = call(&s, get("/api/v1/autonomy", Some("t-audrey"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(
        &s,
        json_req("POST", "/api/v1/pause", "t-audrey", "{\"reason\": \"x\"}"),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    let refused = s
        .engine
        .ledger()
        .events(&custos_ledger::EventFilter {
            kind_prefix: Some("access.refused".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].payload["by"], "audrey");
    assert_eq!(refused[0].payload["action"], "pause");
}

#[tokio::test]
async fn autonomy_is_set_up_to_the_ceiling_and_reaches_the_guard_state() {
    let s = state().await;
    let put = |tok: &str, level: u8| {
        json_req(
            "PUT",
            "/api/v1/autonomy",
            tok,
            &format!(
                "{{\"class\": \"s3\", \"environment\": \"prod\", \"level\": {level}, \"reason\": \"CHG-1\"}}"
            ),
        )
    };
    let (status, _, body) = call(&s, put("t-olivia", 5)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "refused".into()),
        "{body}"
    );
    assert!(body.contains("above the ceiling 4"), "{body}");
    let (status, _, body) = call(&s, put("t-bob", 2)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    let (status, _, body) = call(&s, put("t-olivia", 2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // `prod` is an alias of the production class: stored under its canonical key.
    let state = s.engine.ledger().guard_state().await.unwrap();
    assert_eq!(state.autonomy.len(), 1);
    assert_eq!(
        (
            state.autonomy[0].class.as_str(),
            state.autonomy[0].environment.as_str(),
            state.autonomy[0].level.number(),
            state.autonomy[0].set_by.as_str()
        ),
        ("s3", "production", 2, "olivia")
    );
}

/// Issue 22 item 6: an auditor's `PUT /api/v1/autonomy` with a 1.9 MB class name is
/// refused; the `access.refused` event keeps a bounded excerpt with the digest of the
/// whole, and 25 such requests write the per-credential limit of events, not 25. The
/// oracle is the ledger's rows.
#[tokio::test]
async fn refusals_of_huge_requests_are_bounded_and_rate_limited() {
    let s = state().await;
    let class = "c".repeat(1_900_000);
    let body =
        serde_json::json!({"class": class, "environment": "prod", "level": 2, "reason": "x"})
            .to_string();
    for _ in 0..25 {
        let (status, _, answer) =
            call(&s, json_req("PUT", "/api/v1/autonomy", "t-audrey", &body)).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{}",
            &answer[..answer.len().min(300)]
        );
        assert!(answer.len() < 4096, "an answer of {} bytes", answer.len());
    }
    let rows = s
        .engine
        .ledger()
        .events(&custos_ledger::EventFilter {
            kind_prefix: Some("access.refused".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        custos_ledger::refusals::PER_KEY_PER_MINUTE as usize
    );
    for r in &rows {
        let size = r.payload.to_string().len();
        assert!(size < 4096, "an access.refused event of {size} bytes");
    }
    assert!(
        rows[0]
            .payload
            .to_string()
            .contains("cut: 1900000 bytes, sha256:"),
        "{}",
        rows[0].payload
    );
}

/// Log in through the form; returns the session cookie and the page's CSRF token.
async fn login(s: &AppState, token: &str) -> (String, String) {
    let (status, headers, body) = call(s, get("/ui/login", None)).await;
    assert_eq!(status, StatusCode::OK);
    let login_cookie = headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = hidden(&body, "csrf");
    let form = format!("csrf={csrf}&token={token}");
    let req = Request::post("/ui/login")
        .header(header::COOKIE, &login_cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let (status, headers, _) = call(s, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("custos_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let session = session.split(';').next().unwrap().to_string();
    let req = Request::get("/ui")
        .header(header::COOKIE, &session)
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(s, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    (session, hidden(&body, "csrf"))
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no `{name}` in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_are_refused() {
    let s = state().await;
    let (session, csrf) = login(&s, "t-bob").await;
    let post = |cookie: Option<&str>, token: &str| {
        let mut b = Request::post("/ui/approvals/apr-x/deny")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        b.body(Body::from(format!("csrf={token}&comment=no")))
            .unwrap()
    };
    // Another site's form: the browser sends no SameSite=Strict cookie -> login page.
    let (status, headers, _) = call(&s, post(None, &csrf)).await;
    assert_eq!(
        (status, headers[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/ui/login")
    );
    // The cookie without the token, or with a wrong one: refused before anything happens.
    for wrong in ["", "AAAA", &csrf[..csrf.len() - 1]] {
        let (status, _, body) = call(&s, post(Some(&session), wrong)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{wrong}: {body}");
        assert!(body.contains("CSRF"), "{body}");
    }
    // With the token the form reaches the engine (which has no such request).
    let (status, _, body) = call(&s, post(Some(&session), &csrf)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // The login form itself needs its double-submit token.
    let req = Request::post("/ui/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("csrf=abc&token=t-bob"))
        .unwrap();
    let (status, headers, _) = call(&s, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        !headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("custos_session="))
    );
}

#[tokio::test]
async fn metrics_are_openmetrics_text_from_the_ledger() {
    let s = state().await;
    let (status, headers, body) = call(&s, get("/metrics", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], crate::metrics::CONTENT_TYPE);
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body.contains("custos_approvals_pending 0\n"), "{body}");
    assert!(body.contains("custos_paused 0\n"), "{body}");
    s.engine.ledger().pause("olivia", "test").await.unwrap();
    // Within the refresh interval the counts are the snapshot's.
    let (_, _, body) = call(&s, get("/metrics", None)).await;
    assert!(body.contains("custos_paused 0\n"), "{body}");
    assert_eq!(s.metrics.refreshes(), 1);
    // Read at every scrape, the ledger's state now.
    let mut fresh = s.clone();
    fresh.metrics = Arc::new(Metrics::default().with_refresh(std::time::Duration::ZERO));
    let (_, _, body) = call(&fresh, get("/metrics", None)).await;
    assert!(body.contains("custos_paused 1\n"), "{body}");
}

/// Issue 22 item 12: 200 concurrent scrapes while the ledger changes (an approval
/// request, a pause) read the ledger's counts once, not 200 times; every scrape is
/// answered. With a scrape token, only a request that presents it is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scrapes_share_one_snapshot_and_a_token_can_be_required() {
    let s = state().await;
    let writer = {
        let ledger = s.engine.ledger_arc();
        tokio::spawn(async move {
            for i in 0..20 {
                ledger.pause("olivia", &format!("flip {i}")).await.unwrap();
                ledger.resume("olivia").await.unwrap();
            }
        })
    };
    let scrapes: Vec<_> = (0..200)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { call(&s, get("/metrics", None)).await.0 })
        })
        .collect();
    for t in scrapes {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    writer.await.unwrap();
    assert_eq!(s.metrics.refreshes(), 1, "one ledger read for 200 scrapes");

    let mut guarded = s.clone();
    guarded.metrics =
        Arc::new(Metrics::default().with_scrape_token(Some("scrape-token-0123456789".into())));
    let (status, _, _) = call(&guarded, get("/metrics", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&guarded, get("/metrics", Some("wrong-token-0123456789"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(&guarded, get("/metrics", Some("scrape-token-0123456789"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("custos_metrics_snapshot_age_seconds"),
        "{body}"
    );
}

/// Issue 22 item 6, per peer: refusals of several principals from one network peer are
/// written at most `PER_PEER_PER_MINUTE` times a minute, each carrying the peer; another
/// peer's are still written. The oracle is the ledger's rows, read back. Watched failing
/// with the peer left out of the limiter (all 18 of the first peer's written).
#[tokio::test]
async fn refusals_are_rate_limited_per_peer() {
    let s = state().await;
    let body = serde_json::json!({"class": "s3", "environment": "prod", "level": 2, "reason": "x"})
        .to_string();
    let from = |peer: &str, who: &str| {
        let mut req = json_req("PUT", "/api/v1/autonomy", who, &body);
        let addr: std::net::SocketAddr = format!("{peer}:40000").parse().unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        req
    };
    for _ in 0..9 {
        for who in ["t-audrey", "t-bob"] {
            let (status, _, _) = call(&s, from("192.0.2.7", who)).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
    }
    let (status, _, _) = call(&s, from("198.51.100.9", "t-audrey")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let rows = s
        .engine
        .ledger()
        .events(&custos_ledger::EventFilter {
            kind_prefix: Some("access.refused".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let peer = |p: &str| rows.iter().filter(|r| r.payload["peer"] == p).count();
    let per_peer = custos_ledger::refusals::PER_PEER_PER_MINUTE as usize;
    assert_eq!(peer("192.0.2.7"), per_peer, "one peer, two principals");
    assert_eq!(peer("198.51.100.9"), 1, "another peer");
    assert_eq!(rows.len(), per_peer + 1);
}

/// Issue 26, scope 7: the escalation share per ISO week, from the ledger's events, in
/// `/metrics` and on the queue page. Three fixes custos made alone and one request (then
/// denied) in one week: 1 of 4 sent to a person.
#[tokio::test]
async fn the_escalation_share_per_week_is_in_metrics_and_on_the_queue_page() {
    let s = state().await;
    let (_, _, body) = call(&s, get("/metrics", None)).await;
    assert!(body.contains("custos_fixes_alone_total 0\n"), "{body}");
    assert!(!body.contains("custos_escalation_share_ratio"), "{body}");
    let (session, _) = login(&s, "t-bob").await;
    let page = |session: String| {
        let s = s.clone();
        async move {
            let req = Request::get("/ui")
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap();
            call(&s, req).await.2
        }
    };
    assert!(page(session.clone()).await.contains("id=\"no-weeks\""));

    let ledger = s.engine.ledger();
    let key = serde_json::json!({"control": "s3-public-access-block", "playbook": "s3-block-public-access", "playbook_version": "1.0.0", "class": "s3", "environment": "dev", "production": false});
    for i in 0..3 {
        ledger
            .append(None, "action.intent", None, &serde_json::json!({"action_id": format!("act-{i}"), "kind": "fix", "approval_id": null, "outcome": key}))
            .await
            .unwrap();
    }
    // A rollback an operator asked for is not a fix custos made alone.
    ledger
        .append(None, "action.intent", None, &serde_json::json!({"action_id": "act-undo", "kind": "rollback", "approval_id": null, "outcome": key}))
        .await
        .unwrap();
    ledger
        .append(
            None,
            "approval.requested",
            None,
            &serde_json::json!({"approval_id": "apr-1", "outcome": key}),
        )
        .await
        .unwrap();
    let last = ledger
        .append(
            None,
            "approval.denied",
            None,
            &serde_json::json!({"approval_id": "apr-1", "status": "denied"}),
        )
        .await
        .unwrap();
    let iso = chrono::Datelike::iso_week(&last.at);
    let week = format!("{}-W{:02}", iso.year(), iso.week());

    let mut fresh = s.clone();
    fresh.metrics = Arc::new(Metrics::default().with_refresh(std::time::Duration::ZERO));
    let (_, _, body) = call(&fresh, get("/metrics", None)).await;
    assert!(body.contains("custos_fixes_alone_total 3\n"), "{body}");
    assert!(body.contains("custos_escalations_total 1\n"), "{body}");
    assert!(
        body.contains("custos_escalations_denied_total 1\n"),
        "{body}"
    );
    // The share of this ISO week (the events were written now).
    assert!(
        body.contains("custos_escalation_share_ratio 0.25\n"),
        "{body}"
    );
    let html = page(session).await;
    assert!(
        html.contains(&format!(
            "<td>{week}</td><td>3</td><td>1</td><td>1</td><td>25.0 %</td>"
        )),
        "{html}"
    );
}
