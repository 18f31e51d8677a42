//! `custos serve`: one axum router holding
//!
//! - the JSON API under `/api/v1` (every call authenticated by a bearer credential, every
//!   state change through the engine and its guard), described by the OpenAPI document at
//!   [`OPENAPI_PATH`];
//! - the approval web page under `/ui` (server-rendered, every value escaped, a session
//!   from a token or an OIDC bearer JWT, a CSRF token on every form);
//! - `/metrics` in the Prometheus text format, `/healthz` and `/readyz`.
//!
//! The routes are declared once, in [`routes`], as a table of (method, path) pairs; the
//! router is built from it, and a test compares it with the OpenAPI document, which
//! describes every route (the web page's and `/metrics` too).

mod api;
mod error;
pub mod metrics;
pub mod notify;
mod openapi;
mod web;

pub use error::ApiError;
pub use metrics::Metrics;
pub use openapi::{ApiDoc, OPENAPI_PATH};

use axum::Router;
use axum::routing::MethodRouter;
use custos_engine::Engine;
use custos_identity::Authenticate;
use std::sync::Arc;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub auth: Arc<dyn Authenticate>,
    pub metrics: Arc<Metrics>,
    pub sessions: web::Sessions,
    /// Set the `Secure` attribute on the session cookie (off only for loopback addresses,
    /// where browsers send cookies over plain HTTP).
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(
        engine: Arc<Engine>,
        auth: Arc<dyn Authenticate>,
        metrics: Arc<Metrics>,
        secure_cookies: bool,
    ) -> Self {
        AppState {
            engine,
            auth,
            metrics,
            sessions: web::Sessions::default(),
            secure_cookies,
        }
    }
}

/// An HTTP method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
        }
    }
}

/// One route: method, path (axum syntax, `{id}`), handler.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path)
    }
}

fn route(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Route {
    Route {
        method,
        path,
        handler,
    }
}

/// Every route the server answers.
pub fn routes() -> Vec<Route> {
    use Method::{Get, Post, Put};
    use axum::routing::{get, post, put};
    vec![
        route(Get, "/healthz", get(api::health)),
        route(Get, "/readyz", get(api::ready)),
        route(Get, "/metrics", get(metrics::scrape)),
        route(Get, OPENAPI_PATH, get(openapi::document)),
        route(Get, "/api/v1/whoami", get(api::whoami)),
        route(Get, "/api/v1/approvals", get(api::list_approvals)),
        route(Get, "/api/v1/approvals/{id}", get(api::show_approval)),
        route(Post, "/api/v1/approvals/{id}/approve", post(api::approve)),
        route(Post, "/api/v1/approvals/{id}/deny", post(api::deny)),
        route(Get, "/api/v1/history", get(api::history)),
        route(Get, "/api/v1/findings", get(api::findings)),
        route(Get, "/api/v1/autonomy", get(api::show_autonomy)),
        route(Put, "/api/v1/autonomy", put(api::set_autonomy)),
        route(Post, "/api/v1/pause", post(api::pause)),
        route(Post, "/api/v1/resume", post(api::resume)),
        route(Get, "/api/v1/breaker", get(api::breaker)),
        route(Post, "/api/v1/breaker/reset", post(api::reset_breaker)),
        route(Post, "/api/v1/actions/{id}/rollback", post(api::rollback)),
        route(Get, "/", get(web::root)),
        route(Get, "/ui", get(web::queue)),
        route(Get, "/ui/login", get(web::login_page)),
        route(Post, "/ui/login", post(web::login)),
        route(Post, "/ui/logout", post(web::logout)),
        route(Get, "/ui/style.css", get(web::style)),
        route(Get, "/ui/findings", get(web::findings_page)),
        route(Get, "/ui/approvals/{id}", get(web::request_page)),
        route(Post, "/ui/approvals/{id}/approve", post(web::approve)),
        route(Post, "/ui/approvals/{id}/deny", post(web::deny)),
    ]
}

/// The router: every route of [`routes`], the state, and a JSON 404.
pub fn router(state: AppState) -> Router {
    let mut by_path: std::collections::BTreeMap<&'static str, MethodRouter<AppState>> =
        std::collections::BTreeMap::new();
    for r in routes() {
        let merged = match by_path.remove(r.path) {
            Some(m) => m.merge(r.handler),
            None => r.handler,
        };
        by_path.insert(r.path, merged);
    }
    let mut router = Router::new();
    for (path, m) in by_path {
        router = router.route(path, m);
    }
    router
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(with_peer))
        .with_state(state)
}

/// Serve the request with its network peer known to the ledger, so that refusals are
/// rate-limited per peer as well as per credential ([`custos_ledger::refusals`]).
async fn with_peer(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    match peer {
        Some(p) => custos_ledger::refusals::PEER.scope(p, next.run(req)).await,
        None => next.run(req).await,
    }
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests;
