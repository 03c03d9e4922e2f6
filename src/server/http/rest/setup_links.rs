//! Setup links into the admin portal: `/portal/links`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::ApiJson;
use super::refusals;
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::setup_links::{self, CreateSetupLink, CreatedSetupLink};
use crate::server::state::AppState;

#[utoipa::path(post, path = "/portal/links", tag = "portal",
    request_body = CreateSetupLink,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(refusals::JsonPost, (status = 201, body = CreatedSetupLink), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Creates a one-time setup link into the admin portal.
pub async fn create_setup_link(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateSetupLink>,
) -> ApiResult<Response> {
    let link = setup_links::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(link)).into_response())
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_setup_link))
}
