//! The directory's users, its SCIM request log and the directory gate of the sign-in policy.

use crate::domain::sign_in::GateRefusal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::domain::ids::{DirectoryId, OrgId, UserId};
use crate::server::db::scim_log::LogFilter;
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::dir_ctx;

/// A directory user as the portal lists it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryUser {
    pub id: String,
    pub user_name: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub groups: Vec<String>,
    /// The membership's role and state in the organization, when there is one.
    pub role: Option<String>,
    pub membership_state: Option<String>,
}

/// The directory's first `limit` users (oldest first) with their groups and membership.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn users(
    state: &AppState,
    organization_id: &OrgId,
    id: &DirectoryId,
    limit: i64,
) -> Result<Vec<DirectoryUser>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let dir = dir_ctx(&mut conn, organization_id, id).await?;
    // Four statements for any page size: the page, then its users' groups and memberships.
    let rows = db::directory_users::first_users(&mut conn, id, limit).await?;
    let ids: Vec<String> = rows.iter().map(|u| u.id.clone()).collect();
    let user_ids: Vec<String> = rows
        .iter()
        .filter_map(|u| u.user_id.as_ref().map(|x| x.to_string()))
        .collect();
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for g in db::directory_groups::groups_of_users(&mut conn, id, &ids).await? {
        groups.entry(g.user_id).or_default().push(g.display_name);
    }
    let mut memberships: HashMap<String, db::memberships::UserMembership> =
        db::memberships::memberships_of_users(&mut conn, &dir.organization_id, &user_ids)
            .await?
            .into_iter()
            .map(|m| (m.user_id.clone(), m))
            .collect();
    Ok(rows
        .into_iter()
        .map(|u| {
            let m = u
                .user_id
                .as_ref()
                .and_then(|uid| memberships.remove(uid.as_str()));
            DirectoryUser {
                groups: groups.remove(&u.id).unwrap_or_default(),
                id: u.id,
                user_name: u.user_name,
                email: u.email,
                display_name: u.display_name,
                active: u.active,
                role: m.as_ref().map(|m| m.role.clone()),
                membership_state: m.map(|m| m.state),
            }
        })
        .collect())
}

/// One logged SCIM exchange.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScimLogEntry {
    pub id: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub scim_type: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i64,
    pub created_at: i64,
}

/// The directory's SCIM request log, newest first.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn request_log(
    state: &AppState,
    organization_id: &OrgId,
    id: &DirectoryId,
    filter: &LogFilter,
    limit: i64,
) -> Result<Vec<ScimLogEntry>, AppError> {
    // Every exchange answered so far is in the log.
    state.scim_log.flush().await;
    let mut conn = state.db.pool.acquire().await?;
    dir_ctx(&mut conn, organization_id, id).await?;
    Ok(
        db::scim_log::list_requests(&mut conn, organization_id, id, filter, limit.clamp(1, 200))
            .await?
            .into_iter()
            .map(log_entry)
            .collect(),
    )
}

/// One exchange of the organization's request log, whole (the page lists the start of each
/// body), with its directory's name. Not found when it is another organization's, or its
/// directory is deleted.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn request_log_entry(
    state: &AppState,
    organization_id: &OrgId,
    id: &str,
) -> Result<(String, ScimLogEntry), AppError> {
    state.scim_log.flush().await;
    let mut conn = state.db.pool.acquire().await?;
    let row = db::scim_log::get_request(&mut conn, organization_id, id)
        .await?
        .ok_or(AppError::NotFound("logged request"))?;
    let dir = dir_ctx(
        &mut conn,
        organization_id,
        &DirectoryId::from_stored(row.directory_id.as_str()),
    )
    .await?;
    Ok((dir.name, log_entry(row)))
}

fn log_entry(r: db::scim_log::ScimRequestRow) -> ScimLogEntry {
    ScimLogEntry {
        id: r.id,
        method: r.method,
        // Rows logged before redaction existed are redacted as they are shown.
        path: crate::server::service::scim::redact_path(&r.path),
        status: r.status,
        scim_type: r.scim_type,
        request_body: r.request_body,
        response_body: r.response_body,
        duration_ms: r.duration_ms,
        created_at: r.created_at,
    }
}

/// How long SCIM request log entries are kept.
pub const LOG_RETENTION_MS: i64 = 30 * 86_400_000;

/// Deletes request log entries past retention (minute job).
pub async fn purge_request_log(state: &AppState) -> Result<u64, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let purged =
        db::scim_log::purge_requests(&mut conn, state.clock.now() - LOG_RETENTION_MS).await?;
    if purged > 0 {
        // A directory's last request may be among them (see `CountsCache`).
        state.db.note_change();
    }
    Ok(purged)
}

/// The directory gate of the sign-in policy: when a directory is authoritative for the
/// organization, only people it provisioned and keeps active get in. `Ok(None)` allows;
/// `Ok(Some(refusal))` refuses.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn gate(
    conn: &mut Conn,
    organization_id: &OrgId,
    user_id: Option<&UserId>,
    email: &str,
) -> Result<Option<GateRefusal>, sqlx::Error> {
    if !db::directories::has_authoritative(conn, organization_id).await? {
        return Ok(None);
    }
    let flags =
        db::directory_users::authoritative_users(conn, organization_id, user_id, email).await?;
    Ok(gate_verdict(&flags))
}

/// An organization's authoritative directory users indexed the way [`db::directory_users::authoritative_users`]
/// selects them, to ask [`gate_verdict`] about many people with one query.
#[derive(Debug, Default)]
pub struct AuthoritativeIndex {
    by_user: std::collections::HashMap<String, Vec<bool>>,
    by_email: std::collections::HashMap<String, Vec<bool>>,
}

impl AuthoritativeIndex {
    /// Indexes directory users by linked user and by email.
    pub fn new(rows: Vec<db::health::DirectoryFlag>) -> Self {
        let mut ix = AuthoritativeIndex::default();
        for db::health::DirectoryFlag {
            user_id: user,
            email,
            active,
        } in rows
        {
            if let Some(u) = user {
                ix.by_user.entry(u).or_default().push(active);
            }
            if let Some(e) = email {
                ix.by_email.entry(e).or_default().push(active);
            }
        }
        ix
    }

    /// The flags standing for this person: those linked to `user_id`, or when none is linked,
    /// those carrying `email`.
    pub fn flags(&self, user_id: Option<&str>, email: &str) -> Vec<bool> {
        user_id
            .and_then(|u| self.by_user.get(u))
            .filter(|v| !v.is_empty())
            .or_else(|| self.by_email.get(email))
            .cloned()
            .unwrap_or_default()
    }
}

/// The gate's decision from the person's authoritative `active` flags (the organization has an
/// authoritative directory): none → not provisioned, any deactivated → deprovisioned.
pub fn gate_verdict(flags: &[bool]) -> Option<GateRefusal> {
    // Fail closed: any deactivated account among those that stand for this person keeps them out.
    if flags.is_empty() {
        Some(GateRefusal::NotProvisioned)
    } else if flags.contains(&false) {
        Some(GateRefusal::Deprovisioned)
    } else {
        None
    }
}
