//! Directories (SCIM directory sync): creation with a bearer token shown once, token rotation
//! with overlap, the membership lifecycle a directory drives (joiner, mover, leaver), group →
//! role mappings with a dry-run preview, the SCIM request log and the directory's health.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::directory::winning_group;
use crate::domain::ids::{DirectoryId, OrgId};
use crate::domain::reconcile::Group;
use crate::domain::FieldError;
use crate::server::audit::Actor;
use crate::server::db::directories::DirectoryRow;
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

mod counts;
mod manage;
mod mappings;
mod plans;
mod suspension;
mod sync;
mod users;

pub use counts::CountsCache;
pub(crate) use manage::delete_in;
pub use manage::{
    create, delete, get, list, organization_of, rotate_token, summary, update, Summary,
};
pub use mappings::{groups, preview_mappings, save_mappings, GroupInfo, GroupMapping, RoleChange};
pub use plans::DeactivationPlan;
pub(crate) use plans::{creation_plan, deactivation_plan};
pub(crate) use suspension::domain_owned_elsewhere;
pub use suspension::{remove_due, PROTECTED_RECHECK_MS};
pub use sync::{access_email, reconcile, reconcile_with, Known};
pub(crate) use sync::{recompute_roles, RoleRules};
pub use users::{
    gate, gate_verdict, purge_request_log, request_log, request_log_entry, users,
    AuthoritativeIndex, DirectoryUser, ScimLogEntry, LOG_RETENTION_MS,
};

/// Prefix of SCIM bearer tokens, so a leaked one is recognisable.
pub const SCIM_TOKEN_PREFIX: &str = "lanyard_scim_";

/// A still-valid bearer token, described without its secret.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// The last four characters.
    pub hint: String,
    pub created_at: i64,
    /// Set once the token was rotated out: it stops working at this time.
    pub expires_at: Option<i64>,
}

/// How the directory has been talking to Lanyard.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryHealth {
    pub last_request_at: Option<i64>,
    pub requests_24h: i64,
    pub errors_24h: i64,
    /// The last failed request: `"<status> <METHOD> <path>: <detail>"`.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub users: i64,
    pub groups: i64,
}

/// A directory as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Directory {
    /// `dir_…`
    pub id: String,
    pub organization_id: String,
    /// okta | entra | onelogin | jumpcloud | generic_scim
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// When true, only people this directory provisioned and keeps active can get in.
    pub authoritative: bool,
    /// The SCIM base URL to paste into the IdP.
    pub scim_base_url: String,
    pub tokens: Vec<TokenInfo>,
    pub health: DirectoryHealth,
    pub created_at: i64,
}

/// A new directory (or a rotated token): the only time the token is shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryWithToken {
    #[serde(flatten)]
    pub directory: Directory,
    /// `lanyard_scim_…`; stored only as a hash, shown this once.
    pub bearer_token: String,
}

/// `POST /organizations/{id}/directories`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDirectory {
    /// okta | entra | onelogin | jumpcloud | generic_scim
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// Default true: the directory is the source of truth for membership.
    pub authoritative: Option<bool>,
}

/// `PATCH /directories/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDirectory {
    pub name: Option<String>,
    pub authoritative: Option<bool>,
}

fn not_found() -> AppError {
    AppError::NotFound("directory")
}

/// The SCIM base URL of a directory.
pub fn scim_base_url(state: &AppState, id: &str) -> String {
    format!("{}/scim/v2/{id}", state.config.base_url())
}

fn check_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FieldError::new(
            "name",
            "give the directory a name of 1 to 100 characters, like \"Okta production\"",
        ));
    }
    Ok(name.to_owned())
}

/// The audit actor for changes a directory pushes.
pub fn directory_actor(id: &str, name: &str) -> Actor {
    Actor {
        kind: crate::domain::actor::ActorKind::Directory,
        id: id.to_owned(),
        name: name.to_owned(),
    }
}

async fn view(state: &AppState, conn: &mut Conn, r: DirectoryRow) -> Result<Directory, AppError> {
    views(state, conn, vec![r])
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal("a directory without its view".into()))
}

/// The directories of `rows` as the API and the portal show them, with their tokens, traffic and
/// size: three statements however many directories there are.
async fn views(
    state: &AppState,
    conn: &mut Conn,
    rows: Vec<DirectoryRow>,
) -> Result<Vec<Directory>, AppError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Callers flush the SCIM log first (before they take `conn`: its writer needs a pooled
    // connection of its own).
    let now = state.clock.now();
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let counts = state
        .directory_counts
        .get(conn, state.db.generation(), now, &ids)
        .await?;
    let mut tokens = db::directory_tokens::live_tokens_of(conn, &ids, now).await?;
    let mut last_errors = db::scim_log::last_errors(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let c = counts.iter().find(|c| c.directory_id == r.id);
            let last = last_errors
                .iter()
                .position(|l| l.directory_id == r.id)
                .map(|i| last_errors.swap_remove(i));
            let (mine, others): (Vec<_>, Vec<_>) =
                tokens.drain(..).partition(|t| t.directory_id == r.id);
            tokens = others;
            Directory {
                scim_base_url: scim_base_url(state, &r.id),
                tokens: mine
                    .into_iter()
                    .map(
                        |db::directory_tokens::DirectoryLiveToken {
                             hint,
                             created_at,
                             expires_at,
                             ..
                         }| TokenInfo {
                            hint,
                            created_at,
                            expires_at,
                        },
                    )
                    .collect(),
                health: DirectoryHealth {
                    last_request_at: c.and_then(|c| c.last_request_at),
                    requests_24h: c.map_or(0, |c| c.requests),
                    errors_24h: c.map_or(0, |c| c.errors),
                    last_error_at: last.as_ref().map(|l| l.created_at),
                    last_error: last.map(|l| {
                        let detail = l
                            .response_body
                            .as_deref()
                            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                            .and_then(|v| {
                                v.get("detail").and_then(|d| d.as_str()).map(str::to_owned)
                            })
                            .unwrap_or_default();
                        format!("{} {} {}: {detail}", l.status, l.method, l.path)
                    }),
                    users: c.map_or(0, |c| c.user_count),
                    groups: c.map_or(0, |c| c.group_count),
                },
                id: r.id,
                organization_id: r.organization_id,
                kind: r.kind,
                name: r.name,
                authoritative: r.authoritative,
                created_at: r.created_at,
            }
        })
        .collect())
}

/// The directory a SCIM request acts in.
#[derive(Debug, Clone)]
pub struct DirCtx {
    pub directory_id: DirectoryId,
    pub organization_id: OrgId,
    pub name: String,
}

/// The role a directory user should hold: (role, group that gave it). Reads what `known` does
/// not carry; a user not stored yet is in no group.
async fn desired_role(
    conn: &mut Conn,
    dir: &DirCtx,
    dir_user_id: &str,
    known: Known<'_>,
) -> Result<(String, Option<(String, String)>), sqlx::Error> {
    if !known.unsaved {
        let owned;
        let mappings = match known.mappings {
            Some(m) => m,
            None => {
                owned = db::group_mappings::mappings(conn, &dir.directory_id).await?;
                &owned
            }
        };
        if !mappings.is_empty() {
            let groups = match known.groups {
                Some(by_user) => by_user.get(dir_user_id).cloned().unwrap_or_default(),
                None => {
                    db::directory_groups::groups_of_user(conn, &dir.directory_id, dir_user_id)
                        .await?
                }
            };
            let mapped = mappings
                .iter()
                .filter(|m| groups.iter().any(|g| g.id == m.group_id))
                .map(|m| (m.group_id.as_str(), m.role.as_str(), m.priority));
            if let Some((g, r)) = winning_group(mapped) {
                let name = groups
                    .iter()
                    .find(|x| x.id == g)
                    .map(|x| x.display_name.clone())
                    .unwrap_or_default();
                return Ok((r.to_owned(), Some((g.to_owned(), name))));
            }
        }
    }
    let role = match known.default_role {
        Some(r) => r.to_owned(),
        None => default_role(conn, &dir.organization_id).await?,
    };
    Ok((role, None))
}

/// The organization's default role: what a directory gives when no mapped group applies.
pub async fn default_role(conn: &mut Conn, organization_id: &OrgId) -> Result<String, sqlx::Error> {
    Ok(db::organizations::get(conn, organization_id)
        .await?
        .map(|o| o.default_role)
        .unwrap_or_else(|| "member".into()))
}

fn grant_detail(dir: &DirCtx, group: Option<Group<'_>>) -> serde_json::Value {
    json!({
        "directory_id": dir.directory_id,
        "directory_name": dir.name,
        "group_id": group.map(|g| g.id),
        "group_name": group.map(|g| g.name),
    })
}

async fn dir_ctx(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &DirectoryId,
) -> Result<DirCtx, AppError> {
    let row = db::directories::get_directory(conn, organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(DirCtx {
        directory_id: DirectoryId::from_stored(row.id),
        organization_id: OrgId::from_stored(row.organization_id),
        name: row.name,
    })
}
