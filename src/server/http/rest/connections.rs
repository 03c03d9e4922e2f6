//! SSO connections: `/organizations/{id}/connections`, `/connections/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::{ApiJson, ApiPath};
use super::refusals;
use crate::domain::ids::{ConnectionId, OrgId};
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::connections::{self, Connection, CreateConnection, UpdateConnection};
use crate::server::service::organizations;
use crate::server::state::AppState;

/// A list of connections.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectionList {
    pub data: Vec<Connection>,
    /// Always null.
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/organizations/{id}/connections", tag = "connections",
    params(("id" = String, Path, description = "org_…"), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    request_body = CreateConnection,
    responses(refusals::IdJsonPost, (status = 201, body = Connection), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Creates a draft SSO connection. OIDC: the issuer is checked by discovery. SAML: the IdP's
/// metadata as XML or by URL (fetched through the network guard), or entity ID, SSO URL and
/// signing certificates by hand; the answer carries the SP values (`sp`) for the IdP.
pub async fn create_connection(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(input): ApiJson<CreateConnection>,
) -> ApiResult<Response> {
    organizations::get(&state, &org).await?;
    let c = connections::create(&state, &p.actor(), &ctx, &org, input).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

#[utoipa::path(get, path = "/organizations/{id}/connections", tag = "connections",
    params(("id" = String, Path, description = "org_…")),
    responses(refusals::IdPath, (status = 200, body = ConnectionList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's connections.
pub async fn list_connections(
    State(state): State<AppState>,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<ConnectionList>> {
    organizations::get(&state, &org).await?;
    Ok(Json(ConnectionList {
        data: connections::list(&state, &org).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "conn_…")),
    responses(refusals::IdPath, (status = 200, body = Connection), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a connection.
pub async fn get_connection(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ConnectionId>,
) -> ApiResult<Json<Connection>> {
    let org = connections::organization_of(&state, &id).await?;
    Ok(Json(connections::get(&state, &org, &id).await?))
}

#[utoipa::path(patch, path = "/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "conn_…")),
    request_body = UpdateConnection,
    responses(refusals::IdJson, (status = 200, body = Connection), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "`last_certificate`: `saml.remove_certificate` names the connection's only IdP certificate")),
    security(("api_key" = [])))]
/// Changes a connection; `{"state":"active"}` activates it (the vendor may do so without a test).
/// SAML: a new metadata source replaces the IdP values and certificates; `add_certificate` and
/// `remove_certificate` rotate one certificate at a time (the last one cannot be removed).
pub async fn update_connection(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiJson(input): ApiJson<UpdateConnection>,
) -> ApiResult<Json<Connection>> {
    let org = connections::organization_of(&state, &id).await?;
    Ok(Json(
        connections::update(&state, &p.actor(), &ctx, &org, &id, input, false).await?,
    ))
}

#[utoipa::path(delete, path = "/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "conn_…")),
    responses(refusals::IdPath, (status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes a connection.
pub async fn delete_connection(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<ConnectionId>,
) -> ApiResult<StatusCode> {
    let org = connections::organization_of(&state, &id).await?;
    connections::delete(&state, &p.actor(), &ctx, &org, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/connections/{id}/refresh_metadata", tag = "connections",
    params(("id" = String, Path, description = "conn_…"), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(refusals::IdPost, (status = 200, body = Connection), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "`no_metadata_url`: the connection was not set up from a metadata URL; `metadata_refresh_failed`: the metadata could not be fetched or used (nothing changed)")),
    security(("api_key" = [])))]
/// Fetches a SAML connection's IdP metadata now (it is also fetched every day): certificates the
/// IdP added are pinned, ones it dropped keep verifying for 24 hours and are then removed, a
/// moved SSO URL is followed; each change is audited. Metadata naming another entity id, or one
/// that cannot be fetched or parsed, changes nothing.
pub async fn refresh_metadata(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<ConnectionId>,
) -> ApiResult<Json<Connection>> {
    let org = connections::organization_of(&state, &id).await?;
    Ok(Json(
        crate::server::service::saml_metadata::refresh_now(&state, &p.actor(), &ctx, &org, &id)
            .await?,
    ))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_connection, list_connections))
        .routes(routes!(
            get_connection,
            update_connection,
            delete_connection
        ))
        .routes(routes!(refresh_metadata))
}
