//! Roles: `/roles`, `/roles/{slug}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::ApiJson;
use super::refusals;
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::roles::{self, CreateRole, Role};
use crate::server::state::AppState;

/// Every role.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleList {
    pub data: Vec<Role>,
}

#[utoipa::path(get, path = "/roles", tag = "members",
    responses(refusals::KeyOnly, (status = 200, body = RoleList)),
    security(("api_key" = [])))]
/// Lists the built-in and custom roles.
pub async fn list_roles(State(state): State<AppState>) -> ApiResult<Json<RoleList>> {
    Ok(Json(RoleList {
        data: roles::list(&state).await?,
    }))
}

#[utoipa::path(post, path = "/roles", tag = "members",
    request_body = CreateRole,
    responses(refusals::JsonPost, (status = 201, body = Role), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Defines a custom role (slug, name, permissions).
pub async fn create_role(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateRole>,
) -> ApiResult<Response> {
    let r = roles::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

#[utoipa::path(delete, path = "/roles/{slug}", tag = "members",
    params(("slug" = String, Path, description = "the role's slug")),
    responses(refusals::IdPath, (status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes a custom role that nobody uses.
pub async fn delete_role(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(slug): Path<String>,
) -> ApiResult<StatusCode> {
    roles::delete(&state, &p.actor(), &ctx, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(delete_role))
}
