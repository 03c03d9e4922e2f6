//! Organization health and drift: `/organizations/{id}/health`, `/organizations/{id}/drift`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::{ApiPath, ApiQuery};
use super::refusals;
use crate::domain::ids::OrgId;
use crate::server::state::AppState;

/// The query of `GET /organizations/{id}/drift`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriftQuery {
    /// Flag members with no sign-in for this many days (1–3650, default 90).
    pub inactive_days: Option<i64>,
}

#[utoipa::path(get, path = "/organizations/{id}/health", tag = "health",
    params(("id" = String, Path, description = "org_…")),
    responses(refusals::IdPath, (status = 200, body = crate::server::service::health::OrganizationHealth), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The organization's health, computed now: SSO connections and their sign-ins, certificates,
/// directories, domains, invitations, setup links, drift and credentials, with what needs
/// attention in words.
pub async fn organization_health(
    State(state): State<AppState>,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<crate::server::service::health::OrganizationHealth>> {
    let (h, _) = crate::server::service::health::refresh(&state, &org, None).await?;
    Ok(Json(h))
}

#[utoipa::path(get, path = "/organizations/{id}/drift", tag = "health",
    params(("id" = String, Path, description = "org_…"), DriftQuery),
    responses(refusals::IdPathQuery, (status = 200, body = crate::server::service::health::DriftReport), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Where access and the organization's sources of truth disagree, computed now: members an
/// authoritative directory deactivated or does not know, members who joined outside it, roles
/// held through a group the member left, members provisioned through a domain that lapsed,
/// members with no recent sign-in, invitations pending past expiry.
pub async fn organization_drift(
    State(state): State<AppState>,
    ApiPath(org): ApiPath<OrgId>,
    ApiQuery(q): ApiQuery<DriftQuery>,
) -> ApiResult<Json<crate::server::service::health::DriftReport>> {
    let (_, d) = crate::server::service::health::refresh(&state, &org, q.inactive_days).await?;
    Ok(Json(d))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(organization_health))
        .routes(routes!(organization_drift))
}
