//! Memberships: `/organizations/{id}/memberships`, `/memberships/{id}`.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::refusals;
use crate::domain::ids::{MembershipId, OrgId};
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::members::{self, ListMembers, Membership, UpdateMembership};
use crate::server::service::organizations;
use crate::server::state::AppState;

/// A page of memberships.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct MembershipList {
    pub data: Vec<Membership>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The events feed's cursor when this page was read: after reconciling from this snapshot,
    /// read `GET /events?after=` this value to miss nothing.
    pub events_cursor: String,
}

#[utoipa::path(get, path = "/organizations/{id}/memberships", tag = "members",
    params(("id" = String, Path, description = "org_…"), ListMembers),
    responses(refusals::IdPathQuery, (status = 200, body = MembershipList), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's memberships with their role, state and where they come from.
pub async fn list_memberships(
    State(state): State<AppState>,
    ApiPath(org): ApiPath<OrgId>,
    ApiQuery(q): ApiQuery<ListMembers>,
) -> ApiResult<Json<MembershipList>> {
    organizations::get(&state, &org).await?;
    let events_cursor = crate::server::service::events::current_cursor(&state).await?;
    let (data, next_cursor) = members::list(&state, &org, &q).await?;
    Ok(Json(MembershipList {
        data,
        next_cursor,
        events_cursor,
    }))
}

#[utoipa::path(get, path = "/memberships/{id}", tag = "members",
    params(("id" = String, Path, description = "om_…")),
    responses(refusals::IdPath, (status = 200, body = Membership), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a membership with its chain of grants: why this person has access.
pub async fn get_membership(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<MembershipId>,
) -> ApiResult<Json<Membership>> {
    let org = members::organization_of(&state, &id).await?;
    Ok(Json(members::get(&state, &org, &id).await?))
}

#[utoipa::path(patch, path = "/memberships/{id}", tag = "members",
    params(("id" = String, Path, description = "om_…")),
    request_body = UpdateMembership,
    responses(refusals::IdJson, (status = 200, body = Membership), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Changes a member's role (not for members a directory manages) or state (active, suspended,
/// removed). Suspending or removing voids the member's unredeemed sign-in codes at once.
pub async fn update_membership(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<MembershipId>,
    ApiJson(input): ApiJson<UpdateMembership>,
) -> ApiResult<Json<Membership>> {
    let org = members::organization_of(&state, &id).await?;
    Ok(Json(
        members::update(&state, &p.actor(), &ctx, &org, &id, input).await?,
    ))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_memberships))
        .routes(routes!(get_membership, update_membership))
}
