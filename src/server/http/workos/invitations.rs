//! WorkOS invitations (`/user_management/invitations`): Lanyard's invitations in WorkOS's
//! shape. Lanyard mails the invitation itself, as WorkOS does; the invitee accepts in the
//! browser (there is no accept call). Tokens are stored hashed: `token` and
//! `accept_invitation_url` are filled in the answers to send and resend only (and `token` when
//! it was the lookup key), `""` elsewhere.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::{invalid, List, ListParams, RawQuery, WosJson};
use crate::domain::ids::{InvitationId, OrgId};
use crate::server::audit::RequestContext;
use crate::server::crypto::{hash_secret, INVITE_TOKEN_PREFIX};
use crate::server::db;
use crate::server::db::invitations::{InvitationRow, LiveFilter};
use crate::server::db::Conn;
use crate::server::error::AppError;
use crate::server::http::rest::error::{ApiResult, RestError};
use crate::server::http::rest::extract::ApiPath;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::invitations::{self, CreateInvitation};
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

const BASE: &str = "/user_management/invitations";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(BASE, get(list).post(send))
        .route(&format!("{BASE}/by_token/{{token}}"), get(by_token))
        .route(&format!("{BASE}/{{id}}"), get(get_one))
        .route(&format!("{BASE}/{{id}}/revoke"), post(revoke))
        .route(&format!("{BASE}/{{id}}/resend"), post(resend))
        .route(&format!("{BASE}/{{id}}/accept"), post(accept))
}

/// WorkOS's `Invitation`.
#[derive(Debug, Serialize)]
pub(super) struct WosInvitation {
    object: &'static str,
    id: String,
    email: String,
    state: String,
    accepted_at: Option<String>,
    revoked_at: Option<String>,
    expires_at: String,
    organization_id: String,
    inviter_user_id: Option<String>,
    accepted_user_id: Option<String>,
    role_slug: String,
    token: String,
    accept_invitation_url: String,
    created_at: String,
    updated_at: String,
}

/// Renders invitations, reading the users behind their inviting and accepting memberships in
/// one query.
async fn render(
    conn: &mut Conn,
    rows: Vec<InvitationRow>,
    now: i64,
) -> Result<Vec<WosInvitation>, AppError> {
    let inviter = crate::domain::invitation::InviterKind::Membership.as_str();
    let mut ids: Vec<String> = rows
        .iter()
        .filter(|r| r.inviter_kind == inviter)
        .map(|r| r.inviter_id.clone())
        .chain(rows.iter().filter_map(|r| r.membership_id.clone()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let users = db::memberships::users_of(conn, &ids).await?;
    let user_of = |m: &str| users.iter().find(|(om, _)| om == m).map(|(_, u)| u.clone());
    Ok(rows
        .into_iter()
        .map(|r| {
            let inviter_user = (r.inviter_kind == inviter)
                .then(|| user_of(&r.inviter_id))
                .flatten();
            let accepted_user = r.membership_id.as_deref().and_then(user_of);
            let state = invitations::state_of(&r, now);
            render_row(r, state, inviter_user, accepted_user)
        })
        .collect())
}

/// An invitation row in WorkOS's shape (without its token or link).
pub(super) fn render_row(
    r: InvitationRow,
    state: String,
    inviter_user_id: Option<String>,
    accepted_user_id: Option<String>,
) -> WosInvitation {
    WosInvitation {
        object: "invitation",
        state,
        inviter_user_id,
        accepted_user_id,
        accepted_at: r.accepted_at.map(rfc3339),
        revoked_at: r.revoked_at.map(rfc3339),
        expires_at: rfc3339(r.expires_at),
        updated_at: rfc3339(r.updated_at),
        created_at: rfc3339(r.created_at),
        token: String::new(),
        accept_invitation_url: String::new(),
        id: r.id,
        email: r.email,
        organization_id: r.organization_id,
        role_slug: r.role,
    }
}

/// One invitation of a live organization.
async fn load(state: &AppState, id: &InvitationId) -> Result<WosInvitation, RestError> {
    let org = invitations::organization_of(state, id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    db::organizations::get(&mut conn, org.as_str())
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound("invitation"))?;
    let row = db::invitations::get_invitation(&mut conn, &org, id)
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound("invitation"))?;
    let mut out = render(&mut conn, vec![row], state.clock.now()).await?;
    out.pop()
        .ok_or_else(|| AppError::NotFound("invitation").into())
}

/// Adds the link Lanyard answered (`{base}/invite/{token}`) and its token.
fn with_link(mut inv: WosInvitation, accept_url: Option<String>) -> WosInvitation {
    if let Some(url) = accept_url {
        inv.token = url.rsplit('/').next().unwrap_or_default().to_owned();
        inv.accept_invitation_url = url;
    }
    inv
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(flatten)]
    page: ListParams,
    organization_id: Option<String>,
    email: Option<String>,
}

/// `GET …?organization_id&email` + pagination.
async fn list(State(state): State<AppState>, q: RawQuery) -> ApiResult<Json<List<WosInvitation>>> {
    let params: ListQuery = q.parse()?;
    let page = params.page.page()?;
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let rows = db::invitations::page_live(
        &mut conn,
        &page.keyset(),
        &LiveFilter {
            organization_id: params.organization_id.filter(|s| !s.is_empty()),
            email: params.email.filter(|s| !s.is_empty()),
        },
    )
    .await
    .map_err(AppError::from)?;
    let (rows, meta) = page.finish(rows, |r| r.id.as_str());
    let data = render(&mut conn, rows, state.clock.now()).await?;
    Ok(Json(List::new(data, meta)))
}

#[derive(Debug, Deserialize)]
struct SendBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    role_slug: Option<String>,
    #[serde(default)]
    expires_in_days: Option<i64>,
    #[serde(default)]
    inviter_user_id: Option<String>,
}

/// `POST … {email, organization_id, role_slug?, expires_in_days?, inviter_user_id?}` → 201.
/// Lanyard's invitations belong to an organization: `organization_id` is required. An inviter
/// is bounded by their role, as in Lanyard's own API.
async fn send(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    WosJson(body): WosJson<SendBody>,
) -> ApiResult<Response> {
    let Some(email) = body.email.filter(|e| !e.trim().is_empty()) else {
        return Err(invalid("email", "email is required"));
    };
    let Some(org) = body.organization_id.filter(|o| !o.is_empty()) else {
        return Err(invalid(
            "organization_id",
            "organization_id is required: Lanyard invites people into an organization",
        ));
    };
    let inviter = match body.inviter_user_id.filter(|u| !u.is_empty()) {
        None => None,
        Some(user) => {
            let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
            Some(
                db::memberships::of_user(&mut conn, &org, &user)
                    .await
                    .map_err(AppError::from)?
                    .ok_or_else(|| {
                        invalid(
                            "inviter_user_id",
                            "inviter_user_id is not a member of this organization",
                        )
                    })?,
            )
        }
    };
    let made = invitations::create(
        &state,
        &p.actor(),
        &ctx,
        CreateInvitation {
            organization_id: org,
            email,
            role: body.role_slug.filter(|r| !r.is_empty()),
            expires_in_days: body.expires_in_days,
            inviter_membership_id: inviter,
            redirect_uri: None,
        },
    )
    .await
    .map_err(|e| {
        // Lanyard's API names the inviter by membership; this one by user.
        let mut e = RestError::from(e);
        if e.field.as_deref() == Some("inviter_membership_id") {
            e.field = Some("inviter_user_id".into());
            e.message = e
                .message
                .replace("inviter_membership_id", "inviter_user_id");
        }
        e
    })?;
    let id = InvitationId::parse(&made.id).ok_or(AppError::NotFound("invitation"))?;
    let inv = with_link(load(&state, &id).await?, made.accept_url);
    Ok((StatusCode::CREATED, Json(inv)).into_response())
}

async fn get_one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<WosInvitation>> {
    Ok(Json(load(&state, &id).await?))
}

/// `GET …/by_token/{token}`: the invitation a live link opens (a link replaced by a resend
/// opens nothing).
async fn by_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<WosInvitation>> {
    if !token.starts_with(INVITE_TOKEN_PREFIX) || token.len() > 200 {
        return Err(AppError::NotFound("invitation").into());
    }
    let found = {
        let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
        db::invitations::invitation_by_token(&mut conn, &hash_secret(&token))
            .await
            .map_err(AppError::from)?
    };
    let Some(found) = found.filter(|f| f.replaced_at.is_none()) else {
        return Err(AppError::NotFound("invitation").into());
    };
    let id = InvitationId::parse(&found.invitation.id).ok_or(AppError::NotFound("invitation"))?;
    let mut inv = load(&state, &id).await?;
    inv.token = token;
    Ok(Json(inv))
}

async fn org_of(state: &AppState, id: &InvitationId) -> Result<OrgId, RestError> {
    // `load` refuses invitations of deleted organizations.
    load(state, id).await?;
    Ok(invitations::organization_of(state, id).await?)
}

/// `POST …/{id}/revoke`.
async fn revoke(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<WosInvitation>> {
    let org = org_of(&state, &id).await?;
    invitations::revoke(&state, &p.actor(), &ctx, &org, &id).await?;
    Ok(Json(load(&state, &id).await?))
}

/// `POST …/{id}/resend`: a new link (the old one stops working), mailed again.
async fn resend(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<WosInvitation>> {
    let org = org_of(&state, &id).await?;
    let made = invitations::resend(&state, &p.actor(), &ctx, &org, &id).await?;
    Ok(Json(with_link(load(&state, &id).await?, made.accept_url)))
}

/// `POST …/{id}/accept`: AuthKit's. The invitee accepts at the link.
async fn accept(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Response> {
    load(&state, &id).await?;
    Err(invalid(
        "id",
        "Lanyard's invitees accept in their browser, at the link in the invitation mail (accept_invitation_url); there is no accept call",
    ))
}
