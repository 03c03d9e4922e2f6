//! The OpenID Provider's clients: `/oauth_clients/…`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::refusals;
use crate::domain::ids::OauthClientId;
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::oauth::clients::{
    self, CreateClient, OauthClient, OauthClientWithSecret, RotateSecret, UpdateClient,
};
use crate::server::state::AppState;

/// Every OAuth client.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct OauthClientList {
    pub data: Vec<OauthClient>,
    /// Always null.
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/oauth_clients", tag = "openid_provider",
    request_body = CreateClient,
    responses(refusals::JsonPost, (status = 201, body = OauthClientWithSecret), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Registers an OAuth client of Lanyard's OpenID Provider. The answer's `client_secret` is
/// shown only here and on rotation.
pub async fn create_oauth_client(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateClient>,
) -> ApiResult<Response> {
    let c = clients::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

#[utoipa::path(get, path = "/oauth_clients", tag = "openid_provider",
    responses(refusals::KeyOnly, (status = 200, body = OauthClientList)),
    security(("api_key" = [])))]
/// Lists the OAuth clients.
pub async fn list_oauth_clients(State(state): State<AppState>) -> ApiResult<Json<OauthClientList>> {
    Ok(Json(OauthClientList {
        data: clients::list(&state).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/oauth_clients/{id}", tag = "openid_provider",
    params(("id" = String, Path, description = "oc_…")),
    responses(refusals::IdPath, (status = 200, body = OauthClient), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads an OAuth client.
pub async fn get_oauth_client(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OauthClientId>,
) -> ApiResult<Json<OauthClient>> {
    Ok(Json(clients::get(&state, &id).await?))
}

#[utoipa::path(patch, path = "/oauth_clients/{id}", tag = "openid_provider",
    params(("id" = String, Path, description = "oc_…")),
    request_body = UpdateClient,
    responses(refusals::IdJson, (status = 200, body = OauthClient), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Changes a client's name, redirect URIs or organizations.
pub async fn update_oauth_client(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<OauthClientId>,
    ApiJson(input): ApiJson<UpdateClient>,
) -> ApiResult<Json<OauthClient>> {
    Ok(Json(
        clients::update(&state, &p.actor(), &ctx, &id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/oauth_clients/{id}", tag = "openid_provider",
    params(("id" = String, Path, description = "oc_…")),
    responses(refusals::IdPath, (status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes a client: its codes can no longer be redeemed.
pub async fn delete_oauth_client(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<OauthClientId>,
) -> ApiResult<StatusCode> {
    clients::delete(&state, &p.actor(), &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/oauth_clients/{id}/secret", tag = "openid_provider",
    params(("id" = String, Path, description = "oc_…"), RotateSecret),
    responses(refusals::IdPost, (status = 200, body = OauthClientWithSecret), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Issues a new client secret; the current one keeps working for the overlap (1 day unless
/// `previous_secret_expires_in_seconds` says otherwise; 0 ends it now).
pub async fn rotate_oauth_client_secret(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<OauthClientId>,
    ApiQuery(q): ApiQuery<RotateSecret>,
) -> ApiResult<Json<OauthClientWithSecret>> {
    Ok(Json(
        clients::rotate_secret(&state, &p.actor(), &ctx, &id, q).await?,
    ))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_oauth_client, list_oauth_clients))
        .routes(routes!(
            get_oauth_client,
            update_oauth_client,
            delete_oauth_client
        ))
        .routes(routes!(rotate_oauth_client_secret))
}
