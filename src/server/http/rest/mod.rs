//! The vendor API, `/api/v1`: bearer API keys, one error envelope, cursor pagination,
//! idempotent POSTs.

pub mod error;
pub mod extract;
pub mod handlers;
pub mod idempotency;
pub mod openapi;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use self::error::{code_for_status, RestError};
use super::ratelimit::limits;
use crate::server::audit::RequestContext;
use crate::server::service::api_keys;
use crate::server::state::AppState;

/// Routes under `/api/v1`.
pub fn router(state: AppState) -> Router<AppState> {
    let authed = Router::new()
        .route(
            "/organizations",
            post(handlers::create_organization).get(handlers::list_organizations),
        )
        .route(
            "/organizations/{id}",
            get(handlers::get_organization)
                .patch(handlers::update_organization)
                .delete(handlers::delete_organization),
        )
        .route(
            "/organizations/{id}/domains",
            post(handlers::create_domain).get(handlers::list_domains),
        )
        .route(
            "/domains/{id}",
            get(handlers::get_domain).delete(handlers::delete_domain),
        )
        .route("/domains/{id}/verify", post(handlers::verify_domain))
        .route(
            "/organizations/{id}/connections",
            post(handlers::create_connection).get(handlers::list_connections),
        )
        .route(
            "/connections/{id}",
            get(handlers::get_connection)
                .patch(handlers::update_connection)
                .delete(handlers::delete_connection),
        )
        .route(
            "/organizations/{id}/directories",
            post(handlers::create_directory).get(handlers::list_directories),
        )
        .route(
            "/directories/{id}",
            get(handlers::get_directory)
                .patch(handlers::update_directory)
                .delete(handlers::delete_directory),
        )
        .route(
            "/directories/{id}/token",
            post(handlers::rotate_directory_token),
        )
        .route(
            "/directories/{id}/users",
            get(handlers::list_directory_users),
        )
        .route(
            "/directories/{id}/groups",
            get(handlers::list_directory_groups),
        )
        .route(
            "/directories/{id}/role_mappings",
            axum::routing::put(handlers::put_role_mappings),
        )
        .route(
            "/roles",
            get(handlers::list_roles).post(handlers::create_role),
        )
        .route(
            "/roles/{slug}",
            axum::routing::delete(handlers::delete_role),
        )
        .route(
            "/organizations/{id}/memberships",
            get(handlers::list_memberships),
        )
        .route(
            "/organizations/{id}/health",
            get(handlers::organization_health),
        )
        .route(
            "/organizations/{id}/drift",
            get(handlers::organization_drift),
        )
        .route(
            "/organizations/{id}/policy",
            get(handlers::get_policy).patch(handlers::update_policy),
        )
        .route(
            "/organizations/{id}/policy/simulate",
            post(handlers::simulate_policy),
        )
        .route(
            "/memberships/{id}",
            get(handlers::get_membership).patch(handlers::update_membership),
        )
        .route(
            "/invitations",
            post(handlers::create_invitation).get(handlers::list_invitations),
        )
        .route(
            "/invitations/{id}",
            get(handlers::get_invitation).delete(handlers::revoke_invitation),
        )
        .route(
            "/invitations/{id}/resend",
            post(handlers::resend_invitation),
        )
        .route("/sso/token", post(handlers::sso_token))
        .route(
            "/redirect_uris",
            post(handlers::add_redirect_uri)
                .get(handlers::list_redirect_uris)
                .delete(handlers::remove_redirect_uri),
        )
        .route("/portal/links", post(handlers::create_setup_link))
        .route("/audit_events", get(handlers::list_audit_events))
        .route("/audit_events/export", get(handlers::export_audit_events))
        .route("/events", get(handlers::list_events))
        .route(
            "/webhook_endpoints",
            post(handlers::create_webhook_endpoint).get(handlers::list_webhook_endpoints),
        )
        .route(
            "/webhook_endpoints/{id}",
            get(handlers::get_webhook_endpoint)
                .patch(handlers::update_webhook_endpoint)
                .delete(handlers::delete_webhook_endpoint),
        )
        .route(
            "/webhook_endpoints/{id}/secret",
            post(handlers::rotate_webhook_secret),
        )
        .route(
            "/webhook_endpoints/{id}/deliveries",
            get(handlers::list_webhook_deliveries),
        )
        .route(
            "/webhook_deliveries/{id}/redeliver",
            post(handlers::redeliver_webhook),
        )
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
async fn authenticate(
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
    match api_keys::authenticate(&state.db, &presented, now).await {
        Ok(principal) => {
            if !state
                .limiter
                .check("api", &principal.key_id, limits::API, now)
            {
                return RestError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "this API key sent too many requests; retry in a minute",
                )
                .into_response();
            }
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => {
            if !state
                .limiter
                .check("api_auth_failure", &client, limits::API_AUTH_FAILURE, now)
            {
                return RestError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many failed authentications; retry in a minute",
                )
                .into_response();
            }
            RestError::from(e).into_response()
        }
    }
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
