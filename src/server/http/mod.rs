//! The HTTP surface: non-Leptos routes by audience, the Leptos app, and the middleware every
//! request passes (request id, security headers, CSRF check, sessions).

pub mod console_auth;
pub mod exports;
pub mod invite;
pub mod oauth;
pub mod pages;
pub mod portal_link;
pub mod ratelimit;
pub mod rest;
pub mod scim;
pub mod sso;
pub mod workos;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use super::audit::RequestContext;
use super::request_id;
use super::session::DbSessionStore;
use super::state::AppState;
use crate::app::{shell, App};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "lanyard_session";
/// Portal sessions end after this long without a request.
pub const SESSION_IDLE_MINUTES: i64 = 30;

/// Kept here for `rest/error.rs`; the home is [`crate::server::request_id`].
pub use crate::server::request_id::current_request_id;

/// A per-request nonce for the Content-Security-Policy.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// A response extension: an origin (besides Lanyard's own) this page's forms may post to — an
/// HTTP-POST binding page to the IdP. Only that response's CSP `form-action` admits it.
#[derive(Clone)]
pub struct FormAction(pub String);

/// Builds the complete router, used by `main` and by the tests.
pub fn build_router(state: AppState) -> Router {
    // Generated once per process: `generate_route_list` suppresses resource loading process-wide
    // while it runs (leptos#4773), so generating it again for another router (the tests build
    // one per app, in parallel) could leave a concurrent page render waiting forever.
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    request_id::install_task_executor();
    let routes = ROUTES.get_or_init(|| generate_route_list(App)).clone();
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            SESSION_IDLE_MINUTES,
        )));

    let browser = Router::new()
        .route(
            "/portal/link/{token}",
            get(portal_link::show).post(portal_link::redeem),
        )
        .route(
            "/portal/signout",
            axum::routing::post(portal_link::sign_out),
        )
        .route("/portal/sso/test/{connection}", get(sso::portal_test))
        .route(
            "/console/setup/{token}",
            get(console_auth::setup_show).post(console_auth::setup_complete),
        )
        .route(
            "/console/signin",
            get(console_auth::signin_show).post(console_auth::signin),
        )
        .route(
            "/console/signout",
            axum::routing::post(console_auth::signout),
        )
        .route("/portal/activity/export", get(exports::portal_export))
        .route(
            "/console/organizations/{id}/drift.csv",
            get(exports::console_drift_export),
        )
        .leptos_routes_with_context(&state, routes, || (), {
            let opts = state.leptos_options.clone();
            move || shell(opts.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(sessions);

    let mut top = Router::new();
    if state.config.metrics_listen.is_none() {
        top = top.route("/metrics", get(metrics_text));
    }
    top = top
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/invite/{token}", get(invite::show).post(invite::accept))
        .route("/sso/authorize", get(sso::authorize))
        .route("/.well-known/openid-configuration", get(oauth::discovery))
        .route("/oauth2/jwks", get(oauth::jwks))
        .route("/oauth2/authorize", get(oauth::authorize))
        .route("/oauth2/token", axum::routing::post(oauth::token))
        .route(
            "/oauth2/userinfo",
            get(oauth::userinfo).post(oauth::userinfo),
        )
        .route("/oauth2/end_session", get(oauth::end_session))
        .route("/sso/oidc/callback", get(sso::oidc_callback))
        .route(
            "/sso/saml/{connection}/acs",
            axum::routing::post(sso::saml_acs),
        )
        .route("/sso/saml/{connection}/metadata", get(sso::saml_metadata))
        .route(
            "/sso/saml/{connection}/slo",
            get(sso::saml_slo_redirect).post(sso::saml_slo_post),
        )
        .route("/sso/oidc/logout", get(sso::oidc_logout))
        .route("/sso/post.js", get(sso::post_js))
        .route("/scim/v2", axum::routing::any(scim::no_directory))
        .route("/scim/v2/", axum::routing::any(scim::no_directory))
        .route("/scim/v2/{directory}", axum::routing::any(scim::entry))
        .route(
            "/scim/v2/{directory}/{*rest}",
            axum::routing::any(scim::entry),
        )
        .nest("/api/v1", rest::router(state.clone()))
        .merge(browser);
    if state.config.workos_compat {
        top = top.layer(middleware::from_fn_with_state(
            workos::router(state.clone()),
            workos::dispatch,
        ));
    }
    top.layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .layer(middleware::from_fn(track_http))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span as fn(&Request) -> tracing::Span)
                .on_response(record_response as fn(&Response, std::time::Duration, &tracing::Span)),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_context,
        ))
        .with_state(state)
}

/// What the request spans show for a request no route matched: never its raw path, which can
/// carry a token.
const UNMATCHED_ROUTE: &str = "<unmatched>";

/// The `request` span of a request, made inside [`request_context`] (so it knows the request
/// id) and outside everything else: every event logged while serving the request carries the
/// request id, the method and the matched route template (`/invite/{token}`, never the raw
/// path: link, setup and SCIM paths carry secrets, and the query string is never recorded).
fn request_span(req: &Request) -> tracing::Span {
    let request_id = req
        .extensions()
        .get::<RequestContext>()
        .and_then(|c| c.request_id.as_deref())
        .unwrap_or("-");
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        request_id,
        method = %req.method(),
        route,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    crate::server::telemetry::continue_request(&span, req.headers());
    span
}

/// Records the status and the latency on the request's span (5xx answers are also logged as
/// errors by the trace layer's failure hook).
fn record_response(resp: &Response, latency: std::time::Duration, span: &tracing::Span) {
    span.record("status", resp.status().as_u16());
    span.record("latency_ms", latency.as_millis() as u64);
    tracing::debug!("response");
}

/// Counts the request by route template (never the raw path), method and status, with its
/// latency.
async fn track_http(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    crate::server::metrics::http_request(
        &route,
        &method,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

/// `GET /metrics`: Prometheus text format (behind `LANYARD_METRICS_TOKEN` when set).
pub async fn metrics_text(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !crate::server::crypto::ct_eq(given, token) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
                "metrics need the bearer token from LANYARD_METRICS_TOKEN",
            )
                .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::server::metrics::render(&state).await,
    )
        .into_response()
}

/// `GET /readyz`: 200 when the database answers, its migrations are current and the background
/// jobs run; 503 with what is not, otherwise.
async fn readyz(State(state): State<AppState>) -> Response {
    let (ready, report) = crate::server::metrics::readiness(&state).await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Assigns a request id and records where the request came from: the connection's peer, or,
/// when the peer is one of `LANYARD_TRUSTED_PROXIES`, the client it forwards for (see
/// [`crate::server::forwarded`]). Every per-address limit and audit record uses this address.
async fn request_context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = request_id::new_request_id();
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_ip(&state, c.0, req.headers()));
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(300).collect());
    req.extensions_mut().insert(RequestContext {
        ip,
        user_agent,
        request_id: Some(id.clone()),
    });
    let mut resp = request_id::scope(id.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// The client address of a request from `peer` (as text, as audit records keep it).
fn client_ip(state: &AppState, peer: SocketAddr, headers: &axum::http::HeaderMap) -> String {
    let proxies = &state.config.trusted_proxies;
    if proxies.is_empty() {
        return peer.ip().to_string();
    }
    // Bytes that are not UTF-8 make only their own entry malformed (the client's junk left of
    // the address its proxy appended is never reached).
    let forwarded: Vec<std::borrow::Cow<'_, str>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .collect();
    proxies
        .client_ip(peer.ip(), forwarded.iter().map(|v| v.as_ref()))
        .to_string()
}

/// Sets the security headers, with a fresh script nonce per response.
async fn security_headers(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let nonce = {
        use base64::Engine as _;
        let bytes: [u8; 16] = rand::random();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let path = req.uri().path();
    let compat = state.config.workos_compat && workos::serves(path);
    let is_browser_page = !path.starts_with("/api/v1/") && !path.starts_with("/scim/") && !compat;
    let mut resp = next.run(req).await;
    let form_action = resp
        .extensions()
        .get::<FormAction>()
        .map(|f| format!(" {}", f.0))
        .filter(|o| !o.contains([';', ',', '\'', '"']))
        .unwrap_or_default();
    let h = resp.headers_mut();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' https: data:; connect-src 'self'; \
         font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'{form_action}; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Setup-link tokens travel in URLs: never leak them to other sites through Referer. The
    // same-origin Referer stays: forms posted without JavaScript are redirected back through it.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if is_browser_page && !h.contains_key(header::CACHE_CONTROL) {
        let is_asset = h
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| !ct.starts_with("text/html") && !ct.starts_with("application/json"));
        if !is_asset {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    resp
}

/// Refuses state-changing browser requests that come from another site. Leptos server functions
/// have no CSRF protection of their own; SameSite=Lax cookies are not enough on their own
/// (same-site subdomains, older browsers). The vendor API is exempt: it authenticates with a
/// bearer key, never a cookie.
async fn csrf_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    // The SAML ACS receives the IdP's cross-site form POST by design; the signed assertion and
    // the server-side pending request protect it, and it reads no session.
    // So does its SingleLogoutService (the IdP's signed LogoutRequest or LogoutResponse).
    let saml_acs =
        path.starts_with("/sso/saml/") && (path.ends_with("/acs") || path.ends_with("/slo"));
    // The SCIM server authenticates with the directory's bearer token, never a cookie; the
    // OpenID Provider's token and UserInfo endpoints with the client's credentials or the
    // access token.
    let bearer_only = path.starts_with("/api/v1/")
        || path == "/api/v1"
        || path.starts_with("/scim/")
        || path == "/oauth2/token"
        || path == "/oauth2/userinfo"
        // The WorkOS-compatible API: the vendor's server with its API key, never a cookie.
        || (state.config.workos_compat && workos::serves(path));
    if safe || saml_acs || bearer_only {
        return next.run(req).await;
    }
    let headers = req.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let allowed = match (fetch_site, origin) {
        (Some("same-origin" | "none"), Some(o)) => o == state.config.public_origin(),
        (Some("same-origin" | "none"), None) => true,
        (Some(_), _) => false,
        (None, Some(o)) => o == state.config.public_origin(),
        (None, None) => false,
    };
    if allowed {
        next.run(req).await
    } else {
        // Link paths carry one-time tokens: log only their prefix.
        let logged = ["/invite/", "/portal/link/", "/console/setup/"]
            .into_iter()
            .find(|p| path.starts_with(p))
            .map(|p| format!("{p}…"))
            .unwrap_or_else(|| path.to_owned());
        tracing::warn!(path = %logged, ?fetch_site, ?origin, "cross-site request refused");
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            Body::from(
                "Cross-site request refused. Open Lanyard at its own address and submit the form from there.",
            ),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    /// The request span names the route template, which the outer layers see only because
    /// `Router::layer` runs after routing: pinned here, nested routers included.
    #[tokio::test]
    async fn outer_layers_see_the_route_template_not_the_path() {
        async fn route_of(req: Request, next: Next) -> Response {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
                .to_owned();
            let mut resp = next.run(req).await;
            resp.headers_mut()
                .insert("x-route", HeaderValue::from_str(&route).unwrap());
            resp
        }
        let app = Router::new()
            .route("/invite/{token}", get(|| async { "ok" }))
            .nest(
                "/api/v1",
                Router::new().route("/organizations/{id}", get(|| async { "ok" })),
            )
            .layer(middleware::from_fn(route_of));
        for (path, route) in [
            ("/invite/inv_secret", "/invite/{token}"),
            (
                "/api/v1/organizations/org_1?x=secret",
                "/api/v1/organizations/{id}",
            ),
            ("/nowhere/secret", UNMATCHED_ROUTE),
        ] {
            let req = Request::builder().uri(path).body(Body::empty()).unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.headers()["x-route"], route, "{path}");
        }
    }
}
