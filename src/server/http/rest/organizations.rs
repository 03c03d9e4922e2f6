//! Organizations: `/organizations`, `/organizations/{id}`.

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
use crate::domain::ids::OrgId;
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::organizations::{
    self, CreateOrganization, Organization, UpdateOrganization,
};
use crate::server::state::AppState;

/// A page of organizations.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrganizationList {
    pub data: Vec<Organization>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `limit` and `after`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

#[utoipa::path(post, path = "/organizations", tag = "organizations",
    request_body = CreateOrganization,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(refusals::JsonPost, (status = 201, body = Organization), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Creates an organization.
pub async fn create_organization(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateOrganization>,
) -> ApiResult<Response> {
    let org = organizations::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(org)).into_response())
}

#[utoipa::path(get, path = "/organizations", tag = "organizations",
    params(PageParams),
    responses(refusals::QueryString, (status = 200, body = OrganizationList), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists organizations, oldest first.
pub async fn list_organizations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageParams>,
) -> ApiResult<Json<OrganizationList>> {
    let (data, next_cursor) = organizations::list(&state, q.after.as_deref(), q.limit).await?;
    Ok(Json(OrganizationList { data, next_cursor }))
}

#[utoipa::path(get, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "org_…")),
    responses(refusals::IdPath, (status = 200, body = Organization), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads an organization.
pub async fn get_organization(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrgId>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(organizations::get(&state, &id).await?))
}

#[utoipa::path(patch, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "org_…")),
    request_body = UpdateOrganization,
    responses(refusals::IdJson, (status = 200, body = Organization), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "`external_id_taken`: another organization has this `external_id`")),
    security(("api_key" = [])))]
/// Changes an organization.
pub async fn update_organization(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<OrgId>,
    ApiJson(input): ApiJson<UpdateOrganization>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(
        organizations::update(&state, &p.actor(), &ctx, &id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "org_…")),
    responses(refusals::IdPath, (status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes an organization.
pub async fn delete_organization(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<OrgId>,
) -> ApiResult<StatusCode> {
    organizations::delete(&state, &p.actor(), &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_organization, list_organizations))
        .routes(routes!(
            get_organization,
            update_organization,
            delete_organization
        ))
}
