//! `directory_groups` and `directory_group_members` tables: the groups a directory pushes and
//! their members.

use super::directory_users::Page;
use super::{for_update, Conn, Lock};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirGroupRow {
    pub id: String,
    pub directory_id: String,
    pub organization_id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub resource: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const GROUP_COLS: &str = "id, directory_id, organization_id, display_name, external_id, resource, version, created_at, updated_at";

pub async fn insert_group(conn: &mut Conn, r: &DirGroupRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO directory_groups ({GROUP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&r.id)
    .bind(&r.directory_id)
    .bind(&r.organization_id)
    .bind(&r.display_name)
    .bind(&r.external_id)
    .bind(&r.resource)
    .bind(r.version)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn update_group(conn: &mut Conn, r: &DirGroupRow) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE directory_groups SET display_name = $3, external_id = $4, resource = $5, version = $6, updated_at = $7 WHERE id = $1 AND directory_id = $2")
        .bind(&r.id)
        .bind(&r.directory_id)
        .bind(&r.display_name)
        .bind(&r.external_id)
        .bind(&r.resource)
        .bind(r.version)
        .bind(r.updated_at)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A group; with `lock`, the row stays locked until the transaction ends (concurrent PATCHes
/// of one group queue here, so no member change is lost).
pub async fn get_group(
    conn: &mut Conn,
    directory_id: &str,
    id: &str,
    lock: Lock,
) -> Result<Option<DirGroupRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {GROUP_COLS} FROM directory_groups WHERE id = $1 AND directory_id = $2{}",
        for_update(conn, lock)
    ))
    .bind(id)
    .bind(directory_id)
    .fetch_optional(conn)
    .await
}

pub async fn delete_group(
    conn: &mut Conn,
    directory_id: &str,
    id: &str,
) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM directory_group_members WHERE group_id = $1 AND directory_id = $2",
        "DELETE FROM group_role_mappings WHERE group_id = $1 AND directory_id = $2",
        "DELETE FROM directory_groups WHERE id = $1 AND directory_id = $2",
    ] {
        sqlx::query(sql)
            .bind(id)
            .bind(directory_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Indexed columns a SCIM `eq` filter on Groups can be answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupColumn {
    Id,
    DisplayName,
    ExternalId,
}

/// One page of groups, optionally narrowed by an indexed equality.
pub async fn page_groups(
    conn: &mut Conn,
    directory_id: &str,
    eq: Option<(GroupColumn, &str)>,
    offset: i64,
    limit: i64,
) -> Result<Page<DirGroupRow>, sqlx::Error> {
    let (cond, value) = match eq {
        Some((GroupColumn::Id, v)) => (" AND id = $2", v),
        // displayName is caseExact=false (RFC 7643 §4.2)
        Some((GroupColumn::DisplayName, v)) => (" AND LOWER(display_name) = LOWER($2)", v),
        Some((GroupColumn::ExternalId, v)) => (" AND external_id = $2", v),
        None => (" AND $2 = $2", ""),
    };
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM directory_groups WHERE directory_id = $1{cond}"
    ))
    .bind(directory_id)
    .bind(value)
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {GROUP_COLS} FROM directory_groups WHERE directory_id = $1{cond} ORDER BY id LIMIT $3 OFFSET $4"
    ))
    .bind(directory_id)
    .bind(value)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok(Page { total, rows })
}

pub async fn all_groups(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Vec<DirGroupRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {GROUP_COLS} FROM directory_groups WHERE directory_id = $1 ORDER BY display_name, id"
    ))
    .bind(directory_id)
    .fetch_all(conn)
    .await
}

/// A directory user by id and userName.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirUserName {
    pub id: String,
    pub user_name: String,
}

/// Members of a group.
pub async fn group_members(
    conn: &mut Conn,
    directory_id: &str,
    group_id: &str,
) -> Result<Vec<DirUserName>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.user_name FROM directory_group_members m JOIN directory_users u ON u.id = m.user_id \
         WHERE m.group_id = $1 AND m.directory_id = $2 ORDER BY u.id",
    )
    .bind(group_id)
    .bind(directory_id)
    .fetch_all(conn)
    .await
}

/// Adds a group member; true when they were not one already.
pub async fn add_member(
    conn: &mut Conn,
    directory_id: &str,
    group_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query("INSERT INTO directory_group_members (group_id, user_id, directory_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(group_id)
        .bind(user_id)
        .bind(directory_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// Removes a group member; true when they were one.
pub async fn remove_member(
    conn: &mut Conn,
    directory_id: &str,
    group_id: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM directory_group_members WHERE group_id = $1 AND user_id = $2 AND directory_id = $3")
        .bind(group_id)
        .bind(user_id)
        .bind(directory_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// A directory group by id and displayName.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirGroupName {
    pub id: String,
    pub display_name: String,
}

/// Groups a directory user belongs to.
pub async fn groups_of_user(
    conn: &mut Conn,
    directory_id: &str,
    user_id: &str,
) -> Result<Vec<DirGroupName>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id, g.display_name FROM directory_group_members m JOIN directory_groups g ON g.id = m.group_id \
         WHERE m.user_id = $1 AND m.directory_id = $2 ORDER BY g.display_name, g.id",
    )
    .bind(user_id)
    .bind(directory_id)
    .fetch_all(conn)
    .await
}

/// A group one of several directory users belongs to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserGroupName {
    /// The directory user.
    pub user_id: String,
    pub id: String,
    pub display_name: String,
}

/// The groups of each of `user_ids` in the directory, each user's in [`groups_of_user`]'s
/// order: one statement for a page of users.
pub async fn groups_of_users(
    conn: &mut Conn,
    directory_id: &str,
    user_ids: &[String],
) -> Result<Vec<UserGroupName>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..user_ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT m.user_id, g.id, g.display_name FROM directory_group_members m JOIN directory_groups g ON g.id = m.group_id \
         WHERE m.directory_id = $1 AND m.user_id IN ({}) ORDER BY m.user_id, g.display_name, g.id",
        list.join(", ")
    );
    let mut q = sqlx::query_as(&sql).bind(directory_id);
    for id in user_ids {
        q = q.bind(id);
    }
    q.fetch_all(conn).await
}

/// How many members a group has.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupMemberCount {
    pub group_id: String,
    pub members: i64,
}

/// Number of members of each group of the directory (groups without members are absent).
pub async fn member_counts(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Vec<GroupMemberCount>, sqlx::Error> {
    sqlx::query_as("SELECT group_id, COUNT(*) AS members FROM directory_group_members WHERE directory_id = $1 GROUP BY group_id")
        .bind(directory_id)
        .fetch_all(conn)
        .await
}
