//! The vendor API, `/api/v1`: bearer API keys, one error envelope, cursor pagination,
//! idempotent POSTs.

pub mod audit_events;
pub mod connections;
pub mod directories;
pub mod domains;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod invitations;
pub mod memberships;
pub mod oauth_clients;
pub mod openapi;
pub mod organizations;
pub mod policy;
pub mod redirect_uris;
pub mod refusals;
pub mod roles;
pub mod setup_links;
pub mod sso;
pub mod webhooks;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;

use self::error::{code_for_status, RestError};
use super::ratelimit::limits;
use crate::server::audit::RequestContext;
use crate::server::service::api_keys;
use crate::server::state::AppState;

/// Every operation, each route registered together with its OpenAPI entry (paths relative to
/// `/api/v1`). [`openapi::spec`] builds the document from the same routers.
pub fn operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(organizations::routes())
        .merge(setup_links::routes())
        .merge(audit_events::routes())
        .merge(domains::routes())
        .merge(connections::routes())
        .merge(sso::routes())
        .merge(redirect_uris::routes())
        .merge(directories::routes())
        .merge(roles::routes())
        .merge(memberships::routes())
        .merge(invitations::routes())
        .merge(events::routes())
        .merge(webhooks::routes())
        .merge(health::routes())
        .merge(policy::routes())
        .merge(oauth_clients::routes())
}

/// Routes under `/api/v1`.
pub fn router(state: AppState) -> Router<AppState> {
    let (authed, _) = operations().split_for_parts();
    let authed = authed
        .route_layer(middleware::from_fn(refuse_nul_in_path))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .route_layer(middleware::from_fn_with_state(state, authenticate));
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .merge(authed)
        .fallback(|| async {
            RestError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint; see /api/v1/openapi.json",
            )
        })
        .layer(middleware::from_fn(envelope_errors))
}

/// Resolves the bearer key; everything behind it acts as that key.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    mut req: Request,
    next: Next,
) -> Response {
    let now = state.clock.now();
    let client = ctx.ip.clone().unwrap_or_else(|| "unknown".into());
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_owned);
    let Some(presented) = presented else {
        return RestError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send your API key as `Authorization: Bearer lanyard_sk_…`",
        )
        .into_response();
    };
    match check_key(&state, &client, &presented, now).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(KeyRefusal::Throttled(r)) => r.into_response(),
        Err(KeyRefusal::Invalid(e)) => RestError::from(e).into_response(),
    }
}

/// Why [`check_key`] refused a key.
pub(crate) enum KeyRefusal {
    /// Too many failed checks from this client, or too many calls with this key: a 429.
    Throttled(RestError),
    /// Unknown, malformed or revoked.
    Invalid(crate::server::error::AppError),
}

/// Checks a presented API key with both rate limits: failed checks per client address
/// (`API_AUTH_FAILURE`), calls per key (`API`).
pub(crate) async fn check_key(
    state: &AppState,
    client: &str,
    presented: &str,
    now: i64,
) -> Result<api_keys::ApiPrincipal, KeyRefusal> {
    match api_keys::authenticate(&state.db, presented, now).await {
        Ok(principal) => {
            if !state
                .limiter
                .check("api", &principal.key_id, limits::API, now)
                .await
            {
                return Err(KeyRefusal::Throttled(RestError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "this API key sent too many requests; retry in a minute",
                )));
            }
            Ok(principal)
        }
        Err(e) => {
            if !state
                .limiter
                .check("api_auth_failure", client, limits::API_AUTH_FAILURE, now)
                .await
            {
                return Err(KeyRefusal::Throttled(RestError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many failed authentications; retry in a minute",
                )));
            }
            Err(KeyRefusal::Invalid(e))
        }
    }
}

/// Refuses a path parameter holding a NUL character (`%00`, the only way to one), which
/// PostgreSQL cannot compare or store, before any handler looks it up.
pub(crate) async fn refuse_nul_in_path(req: Request, next: Next) -> Response {
    if req.uri().path().contains("%00") {
        return RestError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a path parameter must not contain NUL characters (%00)",
        )
        .into_response();
    }
    next.run(req).await
}

/// Gives every error response without a JSON body (405 from the router, and the like) the envelope.
async fn envelope_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if status.as_u16() >= 400 && !is_json {
        let (code, message) = code_for_status(status);
        let mut out = RestError::new(status, code, message).into_response();
        if let Some(allow) = resp.headers().get(header::ALLOW) {
            out.headers_mut().insert(header::ALLOW, allow.clone());
        }
        return out;
    }
    resp
}
