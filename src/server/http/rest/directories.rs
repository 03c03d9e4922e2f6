//! SCIM directories: `/organizations/{id}/directories`, `/directories/{id}/…`.

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
use crate::domain::ids::{DirectoryId, OrgId};
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::directories::{
    self, CreateDirectory, Directory, DirectoryUser, DirectoryWithToken, GroupInfo, GroupMapping,
    RoleChange, UpdateDirectory,
};
use crate::server::service::organizations;
use crate::server::state::AppState;

/// A list of directories.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryList {
    pub data: Vec<Directory>,
    pub next_cursor: Option<String>,
}

/// A directory's users.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryUserList {
    pub data: Vec<DirectoryUser>,
    pub next_cursor: Option<String>,
}

/// A directory's groups with their role mapping.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryGroupList {
    pub data: Vec<GroupInfo>,
    pub next_cursor: Option<String>,
}

/// `PUT /directories/{id}/role_mappings` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMappingsInput {
    /// The complete set of mappings; groups not listed are unmapped.
    pub mappings: Vec<GroupMapping>,
    /// When true nothing is saved: the answer lists who would gain or lose which role.
    pub dry_run: Option<bool>,
}

/// Who gains or loses which role.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleChangeList {
    pub dry_run: bool,
    pub data: Vec<RoleChange>,
}

#[utoipa::path(post, path = "/organizations/{id}/directories", tag = "directories",
    params(("id" = String, Path, description = "org_…")),
    request_body = CreateDirectory,
    responses(refusals::IdJsonPost, (status = 201, body = DirectoryWithToken), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Creates a SCIM directory. The answer carries `scim_base_url` and `bearer_token` for the IdP;
/// the token is shown only here (rotate it to get a new one).
pub async fn create_directory(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(input): ApiJson<CreateDirectory>,
) -> ApiResult<Response> {
    organizations::get(&state, &org).await?;
    let d = directories::create(&state, &p.actor(), &ctx, &org, input).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

#[utoipa::path(get, path = "/organizations/{id}/directories", tag = "directories",
    params(("id" = String, Path, description = "org_…")),
    responses(refusals::IdPath, (status = 200, body = DirectoryList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's directories with their health.
pub async fn list_directories(
    State(state): State<AppState>,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<DirectoryList>> {
    organizations::get(&state, &org).await?;
    Ok(Json(DirectoryList {
        data: directories::list(&state, &org).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/directories/{id}", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses(refusals::IdPath, (status = 200, body = Directory), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a directory.
pub async fn get_directory(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DirectoryId>,
) -> ApiResult<Json<Directory>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(directories::get(&state, &org, &id).await?))
}

#[utoipa::path(patch, path = "/directories/{id}", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    request_body = UpdateDirectory,
    responses(refusals::IdJson, (status = 200, body = Directory), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Renames a directory or changes whether it is authoritative for membership.
pub async fn update_directory(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<DirectoryId>,
    ApiJson(input): ApiJson<UpdateDirectory>,
) -> ApiResult<Json<Directory>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(
        directories::update(&state, &p.actor(), &ctx, &org, &id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/directories/{id}", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses(refusals::IdPath, (status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes a directory: its tokens stop working and the members it managed are suspended.
pub async fn delete_directory(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<DirectoryId>,
) -> ApiResult<StatusCode> {
    let org = directories::organization_of(&state, &id).await?;
    directories::delete(&state, &p.actor(), &ctx, &org, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/directories/{id}/token", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses(refusals::IdPost, (status = 200, body = DirectoryWithToken), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Issues a new SCIM token. Earlier tokens keep working for `LANYARD_SCIM_TOKEN_OVERLAP`
/// (default 1 hour), then stop.
pub async fn rotate_directory_token(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<DirectoryId>,
) -> ApiResult<Json<DirectoryWithToken>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(
        directories::rotate_token(&state, &p.actor(), &ctx, &org, &id).await?,
    ))
}

#[utoipa::path(get, path = "/directories/{id}/users", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses(refusals::IdPath, (status = 200, body = DirectoryUserList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The directory's users (first 1000) with their groups, role and membership state.
pub async fn list_directory_users(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DirectoryId>,
) -> ApiResult<Json<DirectoryUserList>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(DirectoryUserList {
        data: directories::users(&state, &org, &id, 1000).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/directories/{id}/groups", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses(refusals::IdPath, (status = 200, body = DirectoryGroupList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The directory's groups with member counts and role mappings.
pub async fn list_directory_groups(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DirectoryId>,
) -> ApiResult<Json<DirectoryGroupList>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(DirectoryGroupList {
        data: directories::groups(&state, &org, &id).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(put, path = "/directories/{id}/role_mappings", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    request_body = RoleMappingsInput,
    responses(refusals::IdJson, (status = 200, body = RoleChangeList), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Sets the group → role mappings (highest priority wins) and recomputes every member's role;
/// with `dry_run` only answers who would gain or lose which role.
pub async fn put_role_mappings(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<DirectoryId>,
    ApiJson(input): ApiJson<RoleMappingsInput>,
) -> ApiResult<Json<RoleChangeList>> {
    let org = directories::organization_of(&state, &id).await?;
    let dry_run = input.dry_run.unwrap_or(false);
    let data = if dry_run {
        directories::preview_mappings(&state, &org, &id, &input.mappings).await?
    } else {
        directories::save_mappings(&state, &p.actor(), &ctx, &org, &id, &input.mappings).await?
    };
    Ok(Json(RoleChangeList { dry_run, data }))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_directory, list_directories))
        .routes(routes!(get_directory, update_directory, delete_directory))
        .routes(routes!(rotate_directory_token))
        .routes(routes!(list_directory_users))
        .routes(routes!(list_directory_groups))
        .routes(routes!(put_role_mappings))
}
