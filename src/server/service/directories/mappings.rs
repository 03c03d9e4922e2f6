//! Group → role mappings, with a dry-run preview.

use crate::domain::event_type::EventType;
use crate::domain::ids::{DirectoryId, OrgId};
use crate::domain::membership::MembershipState;
use crate::domain::target::TargetKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;

use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{
    default_role, desired_role, dir_ctx, not_found, recompute_roles, DirCtx, Known, RoleRules,
};

/// Directory users whose groups and memberships a dry run (or a save) reads in one statement
/// each.
const ROLE_CHANGES_PAGE: usize = 500;

/// One mapping as the portal edits it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GroupMapping {
    pub group_id: String,
    pub role: String,
    pub priority: i64,
}

/// A directory group with its member count and mapping.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupInfo {
    pub id: String,
    pub display_name: String,
    pub members: i64,
    pub role: Option<String>,
    pub priority: Option<i64>,
}

/// Someone whose role a mapping change would change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RoleChange {
    pub user_name: String,
    pub from: Option<String>,
    pub to: String,
    /// The group that would give the new role; null for the organization's default role.
    pub group: Option<String>,
}

fn check_mappings(
    input: &[GroupMapping],
    groups: &[db::directory_groups::DirGroupRow],
) -> Result<Vec<db::group_mappings::GroupRoleMapping>, FieldError> {
    let mut out: Vec<db::group_mappings::GroupRoleMapping> = Vec::new();
    for m in input {
        if !groups.iter().any(|g| g.id == m.group_id) {
            return Err(FieldError::new(
                "group_id",
                format!(
                    "{} is not a group of this directory; reload the page",
                    m.group_id
                ),
            ));
        }
        if !(0..=1000).contains(&m.priority) {
            return Err(FieldError::new(
                "priority",
                "priority must be from 0 to 1000",
            ));
        }
        if out.iter().any(|o| o.group_id == m.group_id) {
            return Err(FieldError::new("group_id", "each group can be mapped once"));
        }
        out.push(db::group_mappings::GroupRoleMapping {
            group_id: m.group_id.clone(),
            role: m.role.clone(),
            priority: m.priority,
        });
    }
    Ok(out)
}

/// The directory's groups with their mapping.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn groups(
    state: &AppState,
    organization_id: &OrgId,
    id: &DirectoryId,
) -> Result<Vec<GroupInfo>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::directories::get_directory(&mut conn, organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    let rows = db::directory_groups::all_groups(&mut conn, id).await?;
    // Looked up by group id: a directory with thousands of groups made a linear search per
    // group quadratic.
    let counts: HashMap<String, i64> = db::directory_groups::member_counts(&mut conn, id)
        .await?
        .into_iter()
        .map(|c| (c.group_id, c.members))
        .collect();
    let maps: HashMap<String, db::group_mappings::GroupRoleMapping> =
        db::group_mappings::mappings(&mut conn, id)
            .await?
            .into_iter()
            .map(|m| (m.group_id.clone(), m))
            .collect();
    Ok(rows
        .into_iter()
        .map(|g| {
            let m = maps.get(&g.id);
            GroupInfo {
                members: counts.get(&g.id).copied().unwrap_or(0),
                role: m.map(|m| m.role.clone()),
                priority: m.map(|m| m.priority),
                id: g.id,
                display_name: g.display_name,
            }
        })
        .collect())
}

async fn role_changes(
    conn: &mut Conn,
    dir: &DirCtx,
    proposed: &[db::group_mappings::GroupRoleMapping],
) -> Result<Vec<RoleChange>, AppError> {
    let default_role = default_role(conn, &dir.organization_id).await?;
    let users: Vec<_> = db::directory_users::all_users(conn, &dir.directory_id)
        .await?
        .into_iter()
        .filter(|u| u.active)
        .collect();
    let mut out = Vec::new();
    // A page of users at a time: their groups and their memberships in one statement each
    // (two statements per user before: a dry run over 10,000 users ran 20,009, issue 17).
    for page in users.chunks(ROLE_CHANGES_PAGE) {
        let groups = if proposed.is_empty() {
            HashMap::new()
        } else {
            let ids: Vec<String> = page.iter().map(|u| u.id.clone()).collect();
            db::directory_groups::groups_by_user(conn, &dir.directory_id, &ids).await?
        };
        let linked: Vec<&str> = page.iter().filter_map(|u| u.user_id.as_deref()).collect();
        let memberships = db::memberships::managed_memberships_of_users(
            conn,
            &dir.organization_id,
            &linked,
            db::Lock::Plain,
        )
        .await?;
        for u in page {
            let membership = u
                .user_id
                .as_deref()
                .and_then(|uid| memberships.get(uid).cloned().flatten())
                .filter(|m| m.state == MembershipState::Active);
            // Everything it would read is known: it runs no statement.
            let (mut to, group) = desired_role(
                conn,
                dir,
                &u.id,
                Known {
                    mappings: Some(proposed),
                    groups: Some(&groups),
                    default_role: Some(&default_role),
                    ..Known::default()
                },
            )
            .await?;
            // Same rule as `reconcile`: a role no group gave is kept until a mapped group gives
            // one.
            if let Some(m) = membership
                .as_ref()
                .filter(|m| group.is_none() && m.role_group_id.is_none())
            {
                to = m.role.clone();
            }
            let current = membership.map(|m| m.role);
            if current.as_deref() != Some(to.as_str()) {
                out.push(RoleChange {
                    user_name: u.user_name.clone(),
                    from: current,
                    to,
                    group: group.map(|g| g.1),
                });
            }
        }
    }
    Ok(out)
}

/// Dry run: who would gain or lose which role if these mappings were saved. Changes nothing.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn preview_mappings(
    state: &AppState,
    organization_id: &OrgId,
    id: &DirectoryId,
    input: &[GroupMapping],
) -> Result<Vec<RoleChange>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let dir = dir_ctx(&mut conn, organization_id, id).await?;
    let groups = db::directory_groups::all_groups(&mut conn, id).await?;
    let proposed = check_mappings(input, &groups)?;
    for db::group_mappings::GroupRoleMapping { role, .. } in &proposed {
        crate::server::service::roles::check(&mut conn, "role", role).await?;
    }
    role_changes(&mut conn, &dir, &proposed).await
}

/// Saves the mappings and recomputes every member's role in the same transaction.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn save_mappings(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &DirectoryId,
    input: &[GroupMapping],
) -> Result<Vec<RoleChange>, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let dir = dir_ctx(tx.conn(), organization_id, id).await?;
    let groups = db::directory_groups::all_groups(tx.conn(), id).await?;
    let proposed = check_mappings(input, &groups)?;
    for db::group_mappings::GroupRoleMapping { role, .. } in &proposed {
        crate::server::service::roles::check(tx.conn(), "role", role).await?;
    }
    let changes = role_changes(tx.conn(), &dir, &proposed).await?;
    db::group_mappings::replace_mappings(tx.conn(), id, organization_id, &proposed, now).await?;
    tx.record(
        Some(organization_id),
        EventType::DirectoryRoleMappingsUpdated,
        vec![Target::new(TargetKind::Directory, id, Some(&dir.name))],
        json!({ "mappings": input, "role_changes": changes.len() }),
    )
    .await?;
    // Every directory user's role under the new mappings, 500 users at a time: each page's
    // rows, groups and memberships read (locked) in one statement each and its writes held and
    // sent together, as a group's PATCH does (~6 statements per user before: 60,140 for 10,000).
    let rules = RoleRules {
        default_role: default_role(tx.conn(), organization_id).await?,
        mappings: proposed,
    };
    let ids: Vec<String> = db::directory_users::all_users(tx.conn(), id)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    for page in ids.chunks(ROLE_CHANGES_PAGE) {
        let page: Vec<&String> = page.iter().collect();
        recompute_roles(&mut tx, &dir, &rules, &page).await?;
    }
    tx.commit().await?;
    Ok(changes)
}
