//! The sign-in code exchange: `/sso/token`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::ApiJson;
use super::refusals;
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::sso::{self, LogoutRequest, LogoutStart, SignInResult};
use crate::server::state::AppState;
use axum::Extension;

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

#[utoipa::path(post, path = "/sso/logout", tag = "sso",
    request_body = LogoutRequest,
    responses(refusals::JsonPost, (status = 200, body = LogoutStart), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Ends an SSO session (the profile's `session_id`) and answers the URL to send the browser to:
/// the IdP's logout with Lanyard's signed LogoutRequest (SAML) or its `end_session_endpoint`
/// (OIDC), which comes back to `return_to` through Lanyard. When the IdP cannot be asked,
/// `idp_logout` is false, `reason` says why and `url` is `return_to`.
pub async fn sso_logout(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<LogoutRequest>,
) -> ApiResult<Json<LogoutStart>> {
    Ok(Json(
        sso::start_logout(&state, &p.actor(), &ctx, input).await?,
    ))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sso_token))
        .routes(routes!(sso_logout))
}
