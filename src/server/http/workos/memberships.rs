//! WorkOS organization memberships (`/user_management/organization_memberships`): Lanyard's
//! memberships in WorkOS's shape. A Lanyard user belongs to one organization, so `user_id`
//! names one membership at most. Removed memberships are gone here (404), as deleted ones are
//! at WorkOS.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{invalid, List, ListParams, RawQuery, WosJson};
use crate::domain::ids::{MembershipId, OrgId};
use crate::domain::membership::MembershipState;
use crate::server::audit::RequestContext;
use crate::server::db;
use crate::server::db::memberships::{LiveFilter, MemberRow};
use crate::server::error::AppError;
use crate::server::http::rest::error::{ApiResult, RestError};
use crate::server::http::rest::extract::ApiPath;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::members::{self, UpdateMembership};
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

const BASE: &str = "/user_management/organization_memberships";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(BASE, get(list).post(create))
        .route(
            &format!("{BASE}/{{id}}"),
            get(get_one).put(update).delete(remove),
        )
        .route(&format!("{BASE}/{{id}}/deactivate"), put(deactivate))
        .route(&format!("{BASE}/{{id}}/reactivate"), put(reactivate))
}

/// WorkOS's `OrganizationMembership`.
#[derive(Debug, Serialize)]
pub struct WosMembership {
    object: &'static str,
    id: String,
    user_id: String,
    organization_id: String,
    organization_name: String,
    status: &'static str,
    directory_managed: bool,
    role: Value,
    roles: Vec<Value>,
    custom_attributes: Value,
    user: Value,
    created_at: String,
    updated_at: String,
}

/// A membership row in WorkOS's shape. The user's own times are the membership's (a Lanyard
/// user exists for its one membership); `email_verified` is false (Lanyard does not verify
/// addresses itself: the IdP or the invitation vouched for it).
pub fn render(r: MemberRow, organization_name: String) -> WosMembership {
    let status = if r.state == MembershipState::Suspended.as_str() {
        "inactive"
    } else {
        "active"
    };
    WosMembership {
        object: "organization_membership",
        id: r.id.to_string(),
        user_id: r.user_id.to_string(),
        organization_id: r.organization_id,
        organization_name,
        status,
        directory_managed: r.directory_name.is_some(),
        role: json!({ "slug": r.role }),
        roles: vec![json!({ "slug": r.role })],
        custom_attributes: json!({}),
        user: json!({
            "object": "user",
            "id": r.user_id.to_string(),
            "email": r.email,
            "first_name": r.first_name,
            "last_name": r.last_name,
            "profile_picture_url": null,
            "email_verified": false,
            "external_id": null,
            "metadata": {},
            "locale": null,
            "last_sign_in_at": r.last_sign_in_at.map(rfc3339),
            "created_at": rfc3339(r.created_at),
            "updated_at": rfc3339(r.updated_at),
        }),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(flatten)]
    page: ListParams,
    organization_id: Option<String>,
    user_id: Option<String>,
}

/// `GET …?organization_id|user_id&statuses=active,inactive` (default: active) + pagination.
async fn list(State(state): State<AppState>, q: RawQuery) -> ApiResult<Json<List<WosMembership>>> {
    let params: ListQuery = q.parse()?;
    let page = params.page.page()?;
    let organization_id = params.organization_id.filter(|s| !s.is_empty());
    let user_id = params.user_id.filter(|s| !s.is_empty());
    if organization_id.is_none() && user_id.is_none() {
        return Err(invalid(
            "organization_id",
            "send organization_id or user_id",
        ));
    }
    // As WorkOS: active ones unless `statuses` says otherwise.
    let asked = q.list("statuses");
    let mut states = Vec::new();
    if asked.is_empty() {
        states.push(MembershipState::Active.as_str().to_owned());
    }
    for s in asked {
        match s.as_str() {
            "active" => states.push(MembershipState::Active.as_str().to_owned()),
            "inactive" => states.push(MembershipState::Suspended.as_str().to_owned()),
            // Lanyard has no pending memberships (an invitation is pending until accepted).
            "pending" => states.push("pending".to_owned()),
            other => {
                return Err(invalid(
                    "statuses",
                    format!("status '{other}' is not one; use active, inactive or pending"),
                ))
            }
        }
    }
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let rows = db::memberships::page_live(
        &mut conn,
        &page.keyset(),
        &LiveFilter {
            organization_id,
            user_id,
            states,
        },
    )
    .await
    .map_err(AppError::from)?;
    let (rows, meta) = page.finish(rows, |r| r.id.as_str());
    let mut names: Vec<(String, String)> = Vec::new();
    let mut data = Vec::with_capacity(rows.len());
    for r in rows {
        let name = match names.iter().find(|(id, _)| *id == r.organization_id) {
            Some((_, n)) => n.clone(),
            None => {
                let n = db::organizations::get(&mut conn, &r.organization_id)
                    .await
                    .map_err(AppError::from)?
                    .map(|o| o.name)
                    .unwrap_or_default();
                names.push((r.organization_id.clone(), n.clone()));
                n
            }
        };
        data.push(render(r, name));
    }
    Ok(Json(List::new(data, meta)))
}

/// A live membership of a live organization, with the organization's name.
async fn load(state: &AppState, id: &MembershipId) -> Result<(OrgId, WosMembership), RestError> {
    let org = members::organization_of(state, id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let org_row = db::organizations::get(&mut conn, org.as_str())
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound("membership"))?;
    let row = db::memberships::get_member(&mut conn, &org, id, db::Lock::Plain)
        .await
        .map_err(AppError::from)?
        .filter(|r| r.state != MembershipState::Removed.as_str())
        .ok_or(AppError::NotFound("membership"))?;
    Ok((org, render(row, org_row.name)))
}

async fn get_one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<MembershipId>,
) -> ApiResult<Json<WosMembership>> {
    Ok(Json(load(&state, &id).await?.1))
}

/// Creating memberships directly is AuthKit's: Lanyard's come from sign-ins, invitations and
/// directories.
async fn create() -> RestError {
    invalid(
        "user_id",
        "Lanyard does not create memberships directly (that is WorkOS AuthKit); invite the person (POST /user_management/invitations) or let them sign in through the organization's SSO or directory",
    )
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    #[serde(default)]
    role_slug: Option<String>,
    #[serde(default)]
    role_slugs: Option<Vec<String>>,
}

async fn change(
    state: &AppState,
    p: &ApiPrincipal,
    ctx: &RequestContext,
    id: &MembershipId,
    input: UpdateMembership,
) -> ApiResult<Json<WosMembership>> {
    let (org, _) = load(state, id).await?;
    members::update(state, &p.actor(), ctx, &org, id, input).await?;
    Ok(Json(load(state, id).await?.1))
}

/// `PUT …/{id} {role_slug}` or `{role_slugs: [one]}`: Lanyard gives one role per membership.
async fn update(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<MembershipId>,
    WosJson(body): WosJson<UpdateBody>,
) -> ApiResult<Json<WosMembership>> {
    let role = match (body.role_slug, body.role_slugs) {
        (Some(r), None) => r,
        (None, Some(rs)) if rs.len() == 1 => rs.into_iter().next().unwrap_or_default(),
        (None, Some(_)) => {
            return Err(invalid(
                "role_slugs",
                "Lanyard gives a membership one role: send one slug",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "role_slugs",
                "send role_slug or role_slugs, not both",
            ))
        }
        (None, None) => return Err(invalid("role_slug", "role_slug is required")),
    };
    change(
        &state,
        &p,
        &ctx,
        &id,
        UpdateMembership {
            role: Some(role),
            ..Default::default()
        },
    )
    .await
}

fn to_state(s: MembershipState) -> UpdateMembership {
    UpdateMembership {
        state: Some(s.as_str().to_owned()),
        ..Default::default()
    }
}

/// `PUT …/{id}/deactivate`: suspended (sessions end at once, as for any suspension).
async fn deactivate(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<MembershipId>,
) -> ApiResult<Json<WosMembership>> {
    change(&state, &p, &ctx, &id, to_state(MembershipState::Suspended)).await
}

/// `PUT …/{id}/reactivate`.
async fn reactivate(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<MembershipId>,
) -> ApiResult<Json<WosMembership>> {
    change(&state, &p, &ctx, &id, to_state(MembershipState::Active)).await
}

/// `DELETE …/{id}` → 204: the membership is removed.
async fn remove(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<MembershipId>,
) -> ApiResult<StatusCode> {
    let (org, _) = load(&state, &id).await?;
    members::update(
        &state,
        &p.actor(),
        &ctx,
        &org,
        &id,
        to_state(MembershipState::Removed),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
