//! Invitations: `/invitations`, `/invitations/{id}/…`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope, RestError};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::refusals;
use crate::domain::ids::{InvitationId, OrgId};
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::invitations::{self, CreateInvitation, Invitation};
use crate::server::service::organizations;
use crate::server::state::AppState;

/// An organization's invitations.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvitationList {
    pub data: Vec<Invitation>,
    /// Always null (newest 500).
    pub next_cursor: Option<String>,
}

/// `GET /invitations` parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvitationParams {
    /// Required: whose invitations.
    pub organization_id: Option<String>,
    /// pending | accepted | expired | revoked
    pub state: Option<String>,
}

#[utoipa::path(post, path = "/invitations", tag = "members",
    request_body = CreateInvitation,
    responses(refusals::JsonPost, (status = 201, body = Invitation), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope),
        (status = 429, body = ErrorEnvelope, description = "`invitation_mail_limit`: the organization's hourly invitation mails are used up; `invitation_address_limit`: this address had its 5 invitation mails of the hour from this organization; see `Retry-After`")),
    security(("api_key" = [])))]
/// Invites an email address; Lanyard mails the link. The answer's `accept_url` is the link
/// (shown only here and on resend).
pub async fn create_invitation(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateInvitation>,
) -> ApiResult<Response> {
    let inv = invitations::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(inv)).into_response())
}

#[utoipa::path(get, path = "/invitations", tag = "members",
    params(InvitationParams),
    responses(refusals::QueryString, (status = 200, body = InvitationList), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's invitations, newest first.
pub async fn list_invitations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InvitationParams>,
) -> ApiResult<Json<InvitationList>> {
    let Some(org) = q.organization_id else {
        return Err(RestError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "organization_id is required",
        )
        .with_field("organization_id"));
    };
    let org = OrgId::parse(&org).ok_or(crate::server::error::AppError::NotFound(OrgId::NOUN))?;
    organizations::get(&state, &org).await?;
    Ok(Json(InvitationList {
        data: invitations::list(&state, &org, q.state.as_deref()).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/invitations/{id}", tag = "members",
    params(("id" = String, Path, description = "inv_…")),
    responses(refusals::IdPath, (status = 200, body = Invitation), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads an invitation with its mail delivery.
pub async fn get_invitation(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<Invitation>> {
    let org = invitations::organization_of(&state, &id).await?;
    Ok(Json(invitations::get(&state, &org, &id).await?))
}

#[utoipa::path(delete, path = "/invitations/{id}", tag = "members",
    params(("id" = String, Path, description = "inv_…")),
    responses(refusals::IdPath, (status = 200, body = Invitation), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Revokes a pending invitation: its link stops working at once.
pub async fn revoke_invitation(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<Invitation>> {
    let org = invitations::organization_of(&state, &id).await?;
    Ok(Json(
        invitations::revoke(&state, &p.actor(), &ctx, &org, &id).await?,
    ))
}

#[utoipa::path(post, path = "/invitations/{id}/resend", tag = "members",
    params(("id" = String, Path, description = "inv_…")),
    responses(refusals::IdPost, (status = 200, body = Invitation), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 429, body = ErrorEnvelope, description = "`invitation_resend_too_soon` (at most one mail a minute per invitation), `invitation_address_limit` (at most 5 invitation mails an hour to one address) or `invitation_mail_limit`; see `Retry-After`")),
    security(("api_key" = [])))]
/// Mails the invitation again with a new link; the previous link stops working. At most once a
/// minute per invitation, within the address's and the organization's hourly invitation mails.
pub async fn resend_invitation(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<Invitation>> {
    let org = invitations::organization_of(&state, &id).await?;
    Ok(Json(
        invitations::resend(&state, &p.actor(), &ctx, &org, &id).await?,
    ))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invitation, list_invitations))
        .routes(routes!(get_invitation, revoke_invitation))
        .routes(routes!(resend_invitation))
}
