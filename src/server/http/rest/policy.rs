//! The access policy: `/organizations/{id}/policy/…`.

use axum::extract::State;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::{ApiJson, ApiPath};
use super::refusals;
use crate::domain::ids::OrgId;
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::state::AppState;

#[utoipa::path(get, path = "/organizations/{id}/policy", tag = "policy",
    params(("id" = String, Path, description = "org_…")),
    responses(refusals::IdPath, (status = 200, body = crate::server::service::policy::PolicyView), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The organization's access policy.
pub async fn get_policy(
    State(state): State<AppState>,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<crate::server::service::policy::PolicyView>> {
    Ok(Json(
        crate::server::service::policy::get(&state, &org).await?,
    ))
}

#[utoipa::path(patch, path = "/organizations/{id}/policy", tag = "policy",
    params(("id" = String, Path, description = "org_…")),
    request_body = crate::server::service::policy::PolicyPatch,
    responses(refusals::IdJson, (status = 200, body = crate::server::service::policy::PolicyUpdate), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Changes the policy (audited with the values before and after) or, with `dry_run`, answers
/// only who would gain or lose access. The vendor may also `locked` fields against the
/// customer's admin.
pub async fn update_policy(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(input): ApiJson<crate::server::service::policy::PolicyPatch>,
) -> ApiResult<Json<crate::server::service::policy::PolicyUpdate>> {
    use crate::server::service::policy;
    Ok(Json(
        policy::update(
            &state,
            &p.actor(),
            &ctx,
            &org,
            policy::Editor::Vendor,
            input,
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/organizations/{id}/policy/simulate", tag = "policy",
    params(("id" = String, Path, description = "org_…")),
    request_body = crate::server::service::policy::SimulateInput,
    responses(refusals::IdJsonPost, (status = 200, body = crate::server::service::policy::Simulation), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Runs the enforcement rules for a hypothetical sign-in, invitation or directory change and
/// answers the decision with the rules that made it. Writes nothing.
pub async fn simulate_policy(
    State(state): State<AppState>,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(input): ApiJson<crate::server::service::policy::SimulateInput>,
) -> ApiResult<Json<crate::server::service::policy::Simulation>> {
    Ok(Json(
        crate::server::service::policy::simulate(&state, &org, input).await?,
    ))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_policy, update_policy))
        .routes(routes!(simulate_policy))
}
