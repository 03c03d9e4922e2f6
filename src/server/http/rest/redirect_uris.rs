//! The sign-in redirect URI allow-list: `/redirect_uris`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::{ApiJson, ApiQuery};
use super::refusals;
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::sso::{self, RedirectUri};
use crate::server::state::AppState;

/// Body of `POST /redirect_uris`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectUriInput {
    pub uri: String,
}

/// The allow-list.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RedirectUriList {
    pub data: Vec<RedirectUri>,
    /// Always null.
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/redirect_uris", tag = "sso",
    request_body = RedirectUriInput,
    responses(refusals::JsonPost, (status = 201, body = RedirectUri), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Adds a vendor redirect URI to the sign-in allow-list (exact match).
pub async fn add_redirect_uri(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<RedirectUriInput>,
) -> ApiResult<Response> {
    let r = sso::add_redirect_uri(&state, &p.actor(), &ctx, &input.uri).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

#[utoipa::path(get, path = "/redirect_uris", tag = "sso",
    responses(refusals::KeyOnly, (status = 200, body = RedirectUriList)),
    security(("api_key" = [])))]
/// Lists the allow-list (environment and API entries).
pub async fn list_redirect_uris(State(state): State<AppState>) -> ApiResult<Json<RedirectUriList>> {
    Ok(Json(RedirectUriList {
        data: sso::list_redirect_uris(&state).await?,
        next_cursor: None,
    }))
}

/// `uri` query parameter.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RedirectUriQuery {
    /// The exact URI to remove.
    pub uri: String,
}

#[utoipa::path(delete, path = "/redirect_uris", tag = "sso",
    params(RedirectUriQuery),
    responses(refusals::QueryString, (status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Removes an API-managed redirect URI.
pub async fn remove_redirect_uri(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(q): ApiQuery<RedirectUriQuery>,
) -> ApiResult<StatusCode> {
    sso::remove_redirect_uri(&state, &p.actor(), &ctx, &q.uri).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(
        add_redirect_uri,
        list_redirect_uris,
        remove_redirect_uri
    ))
}
