//! The sign-in code exchange: `/sso/token`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::ApiJson;
use super::refusals;
use crate::server::service::sso::{self, SignInResult};
use crate::server::state::AppState;

/// `POST /sso/token` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub code: String,
    /// When sent, must equal the redirect_uri the sign-in returned to; a mismatch is refused
    /// without using the code up.
    #[serde(default)]
    pub redirect_uri: Option<String>,
}

#[utoipa::path(post, path = "/sso/token", tag = "sso",
    request_body = TokenRequest,
    responses(refusals::JsonPost, (status = 200, body = SignInResult), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Exchanges a one-time sign-in code (60 s, single use) for the profile and membership.
pub async fn sso_token(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TokenRequest>,
) -> ApiResult<Json<SignInResult>> {
    Ok(Json(
        sso::exchange_code(&state, &input.code, input.redirect_uri.as_deref()).await?,
    ))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sso_token))
}
