//! The approval web page: a queue of pending requests, one page per request with
//! everything a reviewer needs, approve and deny with a comment. Server-rendered; the
//! session comes from an API token or an OIDC ID token pasted at login; every form
//! carries the session's CSRF token; responses forbid scripts, framing and caching.

mod pages;
mod session;

pub use session::Sessions;

use crate::{ApiError, AppState};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use custos_core::{ApprovalStatus, Digest, Principal};
use maud::Markup;
use serde::Deserialize;
use session::{LOGIN_COOKIE, SESSION_COOKIE, Session, same};

const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
];

fn page(status: StatusCode, markup: Markup) -> Response {
    let mut r = (status, markup).into_response();
    for (name, value) in SECURITY_HEADERS {
        r.headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    r
}

fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .path("/")
        .build()
}

/// The session and its principal, authenticated again now; `Err`: go to the login page.
async fn signed_in(state: &AppState, jar: &CookieJar) -> Result<(Principal, Session), Response> {
    let now = state.engine.ledger().now();
    let to_login = || Redirect::to("/ui/login").into_response();
    let Some(id) = jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) else {
        return Err(to_login());
    };
    let Some(s) = state.sessions.get(&id, now) else {
        return Err(to_login());
    };
    match state.auth.authenticate(&s.credential).await {
        Ok(p) => Ok((p, s)),
        Err(e) => {
            tracing::info!(error = %custos_core::for_log(&e.to_string()), "a session's credential is no longer accepted");
            state.sessions.close(&id);
            Err(to_login())
        }
    }
}

fn csrf_ok(session: &Session, given: &str) -> Result<(), Box<Response>> {
    if same(&session.csrf, given) {
        Ok(())
    } else {
        Err(Box::new(page(
            StatusCode::FORBIDDEN,
            pages::message(
                "Refused",
                None,
                None,
                "The form's CSRF token does not match your session; reload the page and try again.",
            ),
        )))
    }
}

#[utoipa::path(get, path = "/", tag = "web", responses((status = 303, description = "to the approval queue")))]
pub async fn root() -> Redirect {
    Redirect::to("/ui")
}

#[utoipa::path(get, path = "/ui/style.css", tag = "web", responses((status = 200, description = "the page's style sheet", content_type = "text/css", body = String)))]
pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        pages::STYLE,
    )
        .into_response()
}

#[utoipa::path(get, path = "/ui/login", tag = "web", responses((status = 200, description = "the login form", content_type = "text/html", body = String)))]
pub async fn login_page(State(s): State<AppState>, jar: CookieJar) -> Response {
    match session::random_token() {
        Ok(t) => {
            let jar = jar.add(cookie(&s, LOGIN_COOKIE, t.clone()));
            (jar, page(StatusCode::OK, pages::login(&t, None))).into_response()
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: String,
    token: String,
}

#[utoipa::path(post, path = "/ui/login", tag = "web",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf` and `token` (an API token or an OIDC ID token)"),
    responses((status = 303, description = "signed in: to the queue"), (status = 401, description = "the credential was refused", content_type = "text/html", body = String)))]
pub async fn login(
    State(s): State<AppState>,
    jar: CookieJar,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return Redirect::to("/ui/login").into_response();
    };
    let expected = jar.get(LOGIN_COOKIE).map(|c| c.value().to_string());
    let retry = |status, msg: &str| match session::random_token() {
        Ok(t) => (
            jar.clone().add(cookie(&s, LOGIN_COOKIE, t.clone())),
            page(status, pages::login(&t, Some(msg))),
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    };
    if !expected.is_some_and(|e| same(&e, &f.csrf)) {
        return retry(StatusCode::FORBIDDEN, "The login form expired; try again.");
    }
    let credential = f.token.trim().to_string();
    let who = match s.auth.authenticate(&credential).await {
        Ok(who) => who,
        Err(e) => {
            // The API's mapping: credential problems are told, ledger failures are not.
            let e = ApiError::from(e);
            return retry(e.status, &format!("Refused: {}", e.message));
        }
    };
    // A browser logging in again leaves its old session behind: end it.
    if let Some(old) = jar.get(SESSION_COOKIE) {
        s.sessions.close(old.value());
    }
    match s.sessions.open(credential, s.engine.ledger().now()) {
        Ok((id, _)) => {
            tracing::info!(principal = %who.name, "signed in to the approval page");
            let jar = jar
                .remove(Cookie::build(LOGIN_COOKIE).path("/"))
                .add(cookie(&s, SESSION_COOKIE, id));
            (jar, Redirect::to("/ui")).into_response()
        }
        Err(e) => retry(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

#[utoipa::path(post, path = "/ui/logout", tag = "web",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`"),
    responses((status = 303, description = "signed out: to the login page")))]
pub async fn logout(
    State(s): State<AppState>,
    jar: CookieJar,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let (_, session) = match signed_in(&s, &jar).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let given = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if let Err(r) = csrf_ok(&session, &given) {
        return *r;
    }
    if let Some(c) = jar.get(SESSION_COOKIE) {
        s.sessions.close(c.value());
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    (jar, Redirect::to("/ui/login")).into_response()
}

#[utoipa::path(get, path = "/ui", tag = "web", responses((status = 200, description = "the queue of pending requests", content_type = "text/html", body = String), (status = 303, description = "not signed in: to the login page")))]
pub async fn queue(State(s): State<AppState>, jar: CookieJar) -> Response {
    let (who, session) = match signed_in(&s, &jar).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let list = async {
        s.engine.expire_due().await?;
        let list = s
            .engine
            .ledger()
            .approvals(Some(ApprovalStatus::Pending))
            .await?;
        // The queue is what reviewers need: a fold that cannot be read only hides the
        // share (the page says so).
        let weeks = s
            .engine
            .escalation_weeks(pages::WEEKS_SHOWN)
            .await
            .map_err(|e| {
                tracing::error!(error = %custos_core::for_log(&e.to_string()), "the escalation counts cannot be read");
            })
            .ok();
        Ok::<_, custos_engine::EngineError>((list, weeks))
    }
    .await;
    match list {
        Ok((list, weeks)) => page(
            StatusCode::OK,
            pages::queue(
                &list,
                weeks.as_deref(),
                &who,
                &session.csrf,
                s.engine.ledger().now(),
            ),
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/ui/findings", tag = "web", responses((status = 200, description = "open findings; alert-only ones with the commands and Terraform a person applies", content_type = "text/html", body = String), (status = 303, description = "not signed in: to the login page")))]
pub async fn findings_page(State(s): State<AppState>, jar: CookieJar) -> Response {
    let (who, session) = match signed_in(&s, &jar).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let list = async {
        custos_identity::require(
            s.engine.ledger(),
            &who,
            custos_core::Permission::Read,
            serde_json::json!("findings"),
        )
        .await
        .map_err(custos_engine::EngineError::from)?;
        Ok::<_, custos_engine::EngineError>(s.engine.ledger().current_findings().await?)
    }
    .await;
    match list {
        Ok(list) => page(StatusCode::OK, pages::findings(&list, &who, &session.csrf)),
        Err(e) => {
            let e = ApiError::from(e);
            page(
                e.status,
                pages::message("Findings", Some(&who), Some(&session.csrf), &e.message),
            )
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The banner after a redirect: only these fixed texts, never a value from the URL.
fn banner(done: Option<&str>) -> Option<(bool, String)> {
    let text = match done? {
        "approved" => "Approved. More reviewers are needed before it runs.",
        "executed" => "Approved and executed: the change was made and verified.",
        "no_op" => "Approved: the resource was already compliant, nothing was changed.",
        "not_executed" => {
            "Approved, but the guard did not execute it now (see the ledger for why)."
        }
        "failed" => "Approved, but the execution failed or was rolled back (see the ledger).",
        "denied" => "Denied.",
        _ => return None,
    };
    Some((true, text.to_string()))
}

async fn render_request(
    s: &AppState,
    who: &Principal,
    session: &Session,
    id: &str,
    banner: Option<(bool, String)>,
    status: StatusCode,
) -> Response {
    let a = match s.engine.ledger().approval(id).await {
        Ok(a) => a,
        Err(e) => {
            let e = ApiError::from(e);
            return page(
                e.status,
                pages::message("Not found", Some(who), Some(&session.csrf), &e.message),
            );
        }
    };
    let current = match tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.engine.current_state(&a.plan.resource),
    )
    .await
    {
        Ok(Ok(ci)) => Ok(ci),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, resource = %a.plan.resource.resource_id, "cannot read the resource for the approval page");
            Err("the account did not answer (the server log has the detail)".into())
        }
        Err(_) => Err("the read timed out after 10 s".into()),
    };
    page(
        status,
        pages::request(&pages::RequestView {
            a: &a,
            current,
            who,
            csrf: &session.csrf,
            now: s.engine.ledger().now(),
            banner,
        }),
    )
}

#[utoipa::path(get, path = "/ui/approvals/{id}", tag = "web", params(("id" = String, Path, description = "approval id")),
    responses((status = 200, description = "one request, with the approve and deny forms", content_type = "text/html", body = String), (status = 303, description = "not signed in: to the login page")))]
pub async fn request_page(
    State(s): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    q: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (who, session) = match signed_in(&s, &jar).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let b = q.ok().and_then(|Query(d)| banner(d.done.as_deref()));
    render_request(&s, &who, &session, &id, b, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    csrf: String,
    plan_digest: Option<String>,
    comment: Option<String>,
}

fn done_code(row: Option<&custos_engine::RunRow>, status: ApprovalStatus) -> &'static str {
    use custos_engine::Outcome as O;
    match row.map(|r| r.outcome) {
        None if status == ApprovalStatus::Pending => "approved",
        None => "not_executed",
        Some(O::Fixed) => "executed",
        Some(O::AlreadyCompliant) => "no_op",
        Some(O::Failed | O::RolledBack | O::Stale) => "failed",
        Some(_) => "not_executed",
    }
}

async fn review(
    s: AppState,
    jar: CookieJar,
    id: String,
    form: Result<Form<ReviewForm>, FormRejection>,
    approve: bool,
) -> Response {
    let (who, session) = match signed_in(&s, &jar).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Form(f)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            pages::message(
                "Refused",
                Some(&who),
                Some(&session.csrf),
                "The form is incomplete.",
            ),
        );
    };
    if let Err(r) = csrf_ok(&session, &f.csrf) {
        return *r;
    }
    let comment = f
        .comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let result = if approve {
        let Some(seen) = f.plan_digest.filter(|d| !d.is_empty()) else {
            return page(
                StatusCode::BAD_REQUEST,
                pages::message(
                    "Refused",
                    Some(&who),
                    Some(&session.csrf),
                    "The form lacks the plan digest you reviewed.",
                ),
            );
        };
        s.engine
            .approve(&id, &who, Some(&Digest(seen)), comment, true)
            .await
            .map(|(a, row)| (a.id.clone(), done_code(row.as_ref(), a.status)))
    } else {
        s.engine
            .deny(&id, &who, comment)
            .await
            .map(|a| (a.id, "denied"))
    };
    match result {
        Ok((id, code)) => Redirect::to(&format!("/ui/approvals/{id}?done={code}")).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            let msg = format!("Refused ({}): {}", e.code, e.message);
            render_request(&s, &who, &session, &id, Some((false, msg)), e.status).await
        }
    }
}

#[utoipa::path(post, path = "/ui/approvals/{id}/approve", tag = "web", operation_id = "web_approve", params(("id" = String, Path, description = "approval id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`, `plan_digest` (the digest shown), `comment`"),
    responses((status = 303, description = "recorded: back to the request"), (status = 409, description = "refused, with the reason", content_type = "text/html", body = String)))]
pub async fn approve(
    State(s): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    form: Result<Form<ReviewForm>, FormRejection>,
) -> Response {
    review(s, jar, id, form, true).await
}

#[utoipa::path(post, path = "/ui/approvals/{id}/deny", tag = "web", operation_id = "web_deny", params(("id" = String, Path, description = "approval id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`, `comment` (required)"),
    responses((status = 303, description = "recorded: back to the request"), (status = 409, description = "refused, with the reason", content_type = "text/html", body = String)))]
pub async fn deny(
    State(s): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    form: Result<Form<ReviewForm>, FormRejection>,
) -> Response {
    review(s, jar, id, form, false).await
}
