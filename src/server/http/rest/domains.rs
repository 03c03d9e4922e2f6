//! Domain claims: `/organizations/{id}/domains`, `/domains/{id}`.

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
use crate::domain::ids::{DomainId, OrgId};
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::domains::{self, CreateDomain, Domain};
use crate::server::service::organizations;
use crate::server::state::AppState;

/// A list of domains (not paginated: an organization has few).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DomainList {
    pub data: Vec<Domain>,
    /// Always null.
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/organizations/{id}/domains", tag = "domains",
    params(("id" = String, Path, description = "org_…"), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    request_body = CreateDomain,
    responses(refusals::IdJsonPost, (status = 201, body = Domain), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Adds a domain claim; `verified: true` records it as verified by the vendor.
pub async fn create_domain(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(input): ApiJson<CreateDomain>,
) -> ApiResult<Response> {
    organizations::get(&state, &org).await?;
    let d = domains::add(&state, &p.actor(), &ctx, &org, input, true).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

#[utoipa::path(get, path = "/organizations/{id}/domains", tag = "domains",
    params(("id" = String, Path, description = "org_…")),
    responses(refusals::IdPath, (status = 200, body = DomainList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's domains.
pub async fn list_domains(
    State(state): State<AppState>,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<DomainList>> {
    organizations::get(&state, &org).await?;
    Ok(Json(DomainList {
        data: domains::list(&state, &org).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/domains/{id}", tag = "domains",
    params(("id" = String, Path, description = "dom_…")),
    responses(refusals::IdPath, (status = 200, body = Domain), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a domain.
pub async fn get_domain(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DomainId>,
) -> ApiResult<Json<Domain>> {
    let org = domains::organization_of(&state, &id).await?;
    Ok(Json(domains::get(&state, &org, &id).await?))
}

#[utoipa::path(post, path = "/domains/{id}/verify", tag = "domains",
    params(("id" = String, Path, description = "dom_…")),
    responses(refusals::IdPost, (status = 200, body = Domain), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Checks the domain's TXT record now.
pub async fn verify_domain(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<DomainId>,
) -> ApiResult<Json<Domain>> {
    let org = domains::organization_of(&state, &id).await?;
    Ok(Json(
        domains::check(&state, &p.actor(), &ctx, &org, &id).await?,
    ))
}

#[utoipa::path(delete, path = "/domains/{id}", tag = "domains",
    params(("id" = String, Path, description = "dom_…")),
    responses(refusals::IdPath, (status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Removes a domain claim.
pub async fn delete_domain(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<DomainId>,
) -> ApiResult<StatusCode> {
    let org = domains::organization_of(&state, &id).await?;
    domains::remove(&state, &p.actor(), &ctx, &org, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_domain, list_domains))
        .routes(routes!(get_domain, delete_domain))
        .routes(routes!(verify_domain))
}
