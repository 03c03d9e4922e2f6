//! Directories, their tokens, the users and groups a directory pushes, group → role mappings
//! and the SCIM request log. Every query on tenant data takes the directory id (which belongs to
//! exactly one organization) or the organization id.

use super::{Conn, Dialect};
use crate::domain::membership::GrantKind;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const GRANT_DIRECTORY_SUSPENDED: &str = GrantKind::DirectorySuspended.as_str();
const MEMBER_ACTIVE: &str = crate::domain::membership::MembershipState::Active.as_str();
const MEMBER_SUSPENDED: &str = crate::domain::membership::MembershipState::Suspended.as_str();

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirectoryRow {
    pub id: String,
    pub organization_id: String,
    pub kind: String,
    pub name: String,
    pub authoritative: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

const DIR_COLS: &str =
    "id, organization_id, kind, name, authoritative, created_at, updated_at, deleted_at";

pub async fn insert_directory(conn: &mut Conn, r: &DirectoryRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO directories ({DIR_COLS}, authoritative_since) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $5 = 1 THEN $6 ELSE NULL END)"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.kind)
    .bind(&r.name)
    .bind(r.authoritative)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.deleted_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A live directory of the organization.
pub async fn get_directory(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
) -> Result<Option<DirectoryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DIR_COLS} FROM directories WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

/// The organization a live directory belongs to.
pub async fn directory_owner(conn: &mut Conn, id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT organization_id FROM directories WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn list_directories(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<DirectoryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DIR_COLS} FROM directories WHERE organization_id = $1 AND deleted_at IS NULL ORDER BY id"
    ))
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

pub async fn update_directory(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    name: &str,
    authoritative: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE directories SET name = $3, authoritative = $4, updated_at = $5, \
         authoritative_since = CASE WHEN $4 = 1 THEN COALESCE(authoritative_since, $5) ELSE NULL END \
         WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .bind(name)
        .bind(i64::from(authoritative))
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Soft-deletes a directory and ends its tokens at once.
pub async fn delete_directory(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE directories SET deleted_at = $3, updated_at = $3 WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL")
        .bind(id)
        .bind(organization_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    expire_tokens(conn, id, now).await?;
    Ok(r.rows_affected() == 1)
}

/// True when one of the organization's live directories is authoritative for membership.
pub async fn has_authoritative(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM directories WHERE organization_id = $1 AND deleted_at IS NULL AND authoritative = 1")
        .bind(organization_id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

// --- tokens -------------------------------------------------------------------------------

pub async fn insert_token(
    conn: &mut Conn,
    id: &str,
    directory_id: &str,
    organization_id: &str,
    token_hash: &str,
    hint: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO directory_tokens (id, directory_id, organization_id, token_hash, hint, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)")
        .bind(id)
        .bind(directory_id)
        .bind(organization_id)
        .bind(token_hash)
        .bind(hint)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Makes every token of the directory that would outlive `at` end at `at`.
pub async fn expire_tokens(
    conn: &mut Conn,
    directory_id: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE directory_tokens SET expires_at = $2 WHERE directory_id = $1 AND (expires_at IS NULL OR expires_at > $2)")
        .bind(directory_id)
        .bind(at)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The (directory id, organization id, token hash) a presented token's hash belongs to, when the
/// token is still valid and its directory and organization live.
pub async fn token_directory(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<Option<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.directory_id, t.organization_id, t.token_hash FROM directory_tokens t JOIN directories d ON d.id = t.directory_id \
         JOIN organizations o ON o.id = d.organization_id \
         WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) AND d.deleted_at IS NULL AND o.deleted_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// When a token was last used (None: never).
pub async fn token_last_used(
    conn: &mut Conn,
    token_hash: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT last_used_at FROM directory_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_one(conn)
        .await
}

/// Records a token's use, at most once a minute per token to keep writes low.
pub async fn touch_token(conn: &mut Conn, token_hash: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE directory_tokens SET last_used_at = $2 WHERE token_hash = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(token_hash)
    .bind(now)
    .bind(now - 60_000)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The directory's tokens still valid at `now`: (hint, created_at, expires_at).
pub async fn live_tokens(
    conn: &mut Conn,
    directory_id: &str,
    now: i64,
) -> Result<Vec<(String, i64, Option<i64>)>, sqlx::Error> {
    sqlx::query_as("SELECT hint, created_at, expires_at FROM directory_tokens WHERE directory_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC, id DESC")
        .bind(directory_id)
        .bind(now)
        .fetch_all(conn)
        .await
}

// --- users --------------------------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirUserRow {
    pub id: String,
    pub directory_id: String,
    pub organization_id: String,
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub active: i64,
    pub resource: String,
    pub user_id: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const USER_COLS: &str = "id, directory_id, organization_id, user_name, user_name_key, external_id, email, display_name, active, resource, user_id, version, created_at, updated_at";

pub async fn insert_user(conn: &mut Conn, r: &DirUserRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("INSERT INTO directory_users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"))
        .bind(&r.id)
        .bind(&r.directory_id)
        .bind(&r.organization_id)
        .bind(&r.user_name)
        .bind(&r.user_name_key)
        .bind(&r.external_id)
        .bind(&r.email)
        .bind(&r.display_name)
        .bind(r.active)
        .bind(&r.resource)
        .bind(&r.user_id)
        .bind(r.version)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Writes a user's changed attributes (the row must already be locked by the transaction).
pub async fn update_user(conn: &mut Conn, r: &DirUserRow) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE directory_users SET user_name = $3, user_name_key = $4, external_id = $5, email = $6, display_name = $7, active = $8, resource = $9, user_id = $10, version = $11, updated_at = $12 WHERE id = $1 AND directory_id = $2")
        .bind(&r.id)
        .bind(&r.directory_id)
        .bind(&r.user_name)
        .bind(&r.user_name_key)
        .bind(&r.external_id)
        .bind(&r.email)
        .bind(&r.display_name)
        .bind(r.active)
        .bind(&r.resource)
        .bind(&r.user_id)
        .bind(r.version)
        .bind(r.updated_at)
        .execute(conn)
        .await
        .map(|_| ())
}

pub(crate) fn lock_suffix(dialect: Dialect) -> &'static str {
    match dialect {
        // SQLite transactions begin IMMEDIATE: the whole database is already locked for writing.
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    }
}

/// A directory user; with `lock`, the row stays locked until the transaction ends.
pub async fn get_user(
    conn: &mut Conn,
    directory_id: &str,
    id: &str,
    lock: Option<Dialect>,
) -> Result<Option<DirUserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLS} FROM directory_users WHERE id = $1 AND directory_id = $2{}",
        lock.map(lock_suffix).unwrap_or("")
    ))
    .bind(id)
    .bind(directory_id)
    .fetch_optional(conn)
    .await
}

pub async fn user_by_name_key(
    conn: &mut Conn,
    directory_id: &str,
    key: &str,
) -> Result<Option<DirUserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLS} FROM directory_users WHERE directory_id = $1 AND user_name_key = $2"
    ))
    .bind(directory_id)
    .bind(key)
    .fetch_optional(conn)
    .await
}

pub async fn delete_user(conn: &mut Conn, directory_id: &str, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM directory_group_members WHERE user_id = $1 AND directory_id = $2")
        .bind(id)
        .bind(directory_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM directory_users WHERE id = $1 AND directory_id = $2")
        .bind(id)
        .bind(directory_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Indexed columns a SCIM `eq` filter can be answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserColumn {
    Id,
    UserNameKey,
    ExternalId,
    Email,
}

impl UserColumn {
    fn sql(self) -> &'static str {
        match self {
            UserColumn::Id => "id",
            UserColumn::UserNameKey => "user_name_key",
            UserColumn::ExternalId => "external_id",
            UserColumn::Email => "email",
        }
    }
}

/// One page of users, optionally narrowed by an indexed equality; returns (total, page).
pub async fn page_users(
    conn: &mut Conn,
    directory_id: &str,
    eq: Option<(UserColumn, &str)>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<DirUserRow>), sqlx::Error> {
    let (cond, value) = match eq {
        Some((c, v)) => (format!(" AND {} = $2", c.sql()), v),
        None => (" AND $2 = $2".to_owned(), ""),
    };
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM directory_users WHERE directory_id = $1{cond}"
    ))
    .bind(directory_id)
    .bind(value)
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {USER_COLS} FROM directory_users WHERE directory_id = $1{cond} ORDER BY id LIMIT $3 OFFSET $4"
    ))
    .bind(directory_id)
    .bind(value)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((total, rows))
}

/// Every user of the directory, for filters that cannot be answered from an index.
pub async fn all_users(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Vec<DirUserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLS} FROM directory_users WHERE directory_id = $1 ORDER BY id"
    ))
    .bind(directory_id)
    .fetch_all(conn)
    .await
}

/// Which of `ids` are users of the directory.
pub async fn existing_user_ids(
    conn: &mut Conn,
    directory_id: &str,
    ids: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let mut found = Vec::new();
    for chunk in ids.chunks(200) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT id FROM directory_users WHERE directory_id = $1 AND id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query_scalar::<_, String>(&sql).bind(directory_id);
        for id in chunk {
            q = q.bind(id);
        }
        found.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(found)
}

/// The `active` flags of the organization's authoritative directory users linked to `user_id`
/// or, when none is linked, carrying `email`.
pub async fn authoritative_users(
    conn: &mut Conn,
    organization_id: &str,
    user_id: Option<&str>,
    email: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    let base =
        "SELECT u.active FROM directory_users u JOIN directories d ON d.id = u.directory_id \
         WHERE d.organization_id = $1 AND d.deleted_at IS NULL AND d.authoritative = 1";
    if let Some(uid) = user_id {
        let linked: Vec<i64> = sqlx::query_scalar(&format!("{base} AND u.user_id = $2"))
            .bind(organization_id)
            .bind(uid)
            .fetch_all(&mut *conn)
            .await?;
        if !linked.is_empty() {
            return Ok(linked);
        }
    }
    sqlx::query_scalar(&format!("{base} AND u.email = $2"))
        .bind(organization_id)
        .bind(email)
        .fetch_all(conn)
        .await
}

// --- groups -------------------------------------------------------------------------------

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
    lock: Option<Dialect>,
) -> Result<Option<DirGroupRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {GROUP_COLS} FROM directory_groups WHERE id = $1 AND directory_id = $2{}",
        lock.map(lock_suffix).unwrap_or("")
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

/// One page of groups, optionally narrowed by an indexed equality; returns (total, page).
pub async fn page_groups(
    conn: &mut Conn,
    directory_id: &str,
    eq: Option<(GroupColumn, &str)>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<DirGroupRow>), sqlx::Error> {
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
    Ok((total, rows))
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

/// Members of a group: (directory user id, userName).
pub async fn group_members(
    conn: &mut Conn,
    directory_id: &str,
    group_id: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
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

/// Groups a directory user belongs to: (group id, displayName).
pub async fn groups_of_user(
    conn: &mut Conn,
    directory_id: &str,
    user_id: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id, g.display_name FROM directory_group_members m JOIN directory_groups g ON g.id = m.group_id \
         WHERE m.user_id = $1 AND m.directory_id = $2 ORDER BY g.display_name, g.id",
    )
    .bind(user_id)
    .bind(directory_id)
    .fetch_all(conn)
    .await
}

/// Number of members of each group of the directory: (group id, count).
pub async fn member_counts(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT group_id, COUNT(*) FROM directory_group_members WHERE directory_id = $1 GROUP BY group_id")
        .bind(directory_id)
        .fetch_all(conn)
        .await
}

// --- mappings -----------------------------------------------------------------------------

/// (group id, role, priority) of every mapped group of the directory.
pub async fn mappings(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT group_id, role, priority FROM group_role_mappings WHERE directory_id = $1 ORDER BY priority DESC, group_id")
        .bind(directory_id)
        .fetch_all(conn)
        .await
}

/// Replaces the directory's mappings.
pub async fn replace_mappings(
    conn: &mut Conn,
    directory_id: &str,
    organization_id: &str,
    rows: &[(String, String, i64)],
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM group_role_mappings WHERE directory_id = $1")
        .bind(directory_id)
        .execute(&mut *conn)
        .await?;
    for (group, role, priority) in rows {
        sqlx::query("INSERT INTO group_role_mappings (group_id, directory_id, organization_id, role, priority, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
            .bind(group)
            .bind(directory_id)
            .bind(organization_id)
            .bind(role)
            .bind(priority)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// --- memberships managed by a directory ---------------------------------------------------

/// (membership id, role, state, role_group_id, directory_id) of a user's membership.
pub type MembershipState = (String, String, String, Option<String>, Option<String>);

/// A user's membership; with `lock`, the row stays locked until the transaction ends.
pub async fn membership_of_user(
    conn: &mut Conn,
    organization_id: &str,
    user_id: &str,
    lock: Option<Dialect>,
) -> Result<Option<MembershipState>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT id, role, state, role_group_id, directory_id FROM memberships WHERE organization_id = $1 AND user_id = $2{}",
        lock.map(lock_suffix).unwrap_or("")
    ))
    .bind(organization_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// Locks a membership's row until the transaction ends (PostgreSQL; SQLite's write transaction
/// already holds the whole database).
pub async fn lock_membership(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    dialect: Dialect,
) -> Result<(), sqlx::Error> {
    if dialect == Dialect::Sqlite {
        return Ok(());
    }
    sqlx::query(&format!(
        "SELECT id FROM memberships WHERE id = $1 AND organization_id = $2{}",
        lock_suffix(dialect)
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
    .map(|_| ())
}

/// When a membership's newest grant was made.
pub async fn newest_grant_at(
    conn: &mut Conn,
    organization_id: &str,
    membership_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MAX(created_at) FROM membership_grants WHERE membership_id = $1 AND organization_id = $2",
    )
    .bind(membership_id)
    .bind(organization_id)
    .fetch_one(conn)
    .await
}

/// Whether a `membership.removal_skipped` event names the membership since `since`.
pub async fn removal_skipped_since(
    conn: &mut Conn,
    organization_id: &str,
    membership_id: &str,
    since: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND action = 'membership.removal_skipped' \
         AND occurred_at >= $2 AND targets LIKE $3",
    )
    .bind(organization_id)
    .bind(since)
    .bind(format!("%\"{membership_id}\"%"))
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// An organization user's email address.
pub async fn user_email(
    conn: &mut Conn,
    organization_id: &str,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND organization_id = $2")
        .bind(user_id)
        .bind(organization_id)
        .fetch_optional(conn)
        .await
}

/// A membership's newest grant: (kind, detail JSON).
pub async fn newest_grant(
    conn: &mut Conn,
    organization_id: &str,
    membership_id: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, detail FROM membership_grants WHERE membership_id = $1 AND organization_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(membership_id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn set_managed_membership(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    role: &str,
    state: &str,
    role_group_id: Option<&str>,
    directory_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    // Any state change through the directory clears a pending removal (re-set after a suspension
    // by `schedule_removal`).
    sqlx::query("UPDATE memberships SET role = $3, state = $4, role_group_id = $5, directory_id = $6, updated_at = $7, remove_after = NULL WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .bind(role)
        .bind(state)
        .bind(role_group_id)
        .bind(directory_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Voids a member's unredeemed sign-in codes; returns how many.
pub async fn void_codes(
    conn: &mut Conn,
    membership_id: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sso_codes SET used_at = $2 WHERE membership_id = $1 AND used_at IS NULL",
    )
    .bind(membership_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

// --- request log --------------------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScimRequestRow {
    pub id: String,
    pub directory_id: String,
    pub organization_id: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub scim_type: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i64,
    pub created_at: i64,
}

const LOG_COLS: &str = "id, directory_id, organization_id, method, path, status, scim_type, request_body, response_body, duration_ms, created_at";

pub async fn insert_request(conn: &mut Conn, r: &ScimRequestRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO scim_requests ({LOG_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&r.id)
    .bind(&r.directory_id)
    .bind(&r.organization_id)
    .bind(&r.method)
    .bind(&r.path)
    .bind(r.status)
    .bind(&r.scim_type)
    .bind(&r.request_body)
    .bind(&r.response_body)
    .bind(r.duration_ms)
    .bind(r.created_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Filters of the request log.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only responses with status ≥ 400.
    pub errors_only: bool,
    pub method: Option<String>,
    /// Entries older than this id (paging backwards).
    pub before: Option<String>,
}

/// Newest first.
pub async fn list_requests(
    conn: &mut Conn,
    organization_id: &str,
    directory_id: &str,
    f: &LogFilter,
    limit: i64,
) -> Result<Vec<ScimRequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LOG_COLS} FROM scim_requests WHERE organization_id = $1 AND directory_id = $2 \
         AND ($3 = 0 OR status >= 400) AND ($4 = '' OR method = $4) AND ($5 = '' OR id < $5) \
         ORDER BY id DESC LIMIT $6"
    ))
    .bind(organization_id)
    .bind(directory_id)
    .bind(i64::from(f.errors_only))
    .bind(f.method.clone().unwrap_or_default())
    .bind(f.before.clone().unwrap_or_default())
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// (requests since, errors since, last request at).
pub async fn request_stats(
    conn: &mut Conn,
    directory_id: &str,
    since: i64,
) -> Result<(i64, i64, Option<i64>), sqlx::Error> {
    let (n, e): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), 0) FROM scim_requests WHERE directory_id = $1 AND created_at >= $2",
    )
    .bind(directory_id)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(created_at) FROM scim_requests WHERE directory_id = $1")
            .bind(directory_id)
            .fetch_one(conn)
            .await?;
    Ok((n, e, last))
}

/// The last failed request: (created_at, status, method, path, detail).
pub async fn last_error(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Option<ScimRequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LOG_COLS} FROM scim_requests WHERE directory_id = $1 AND status >= 400 ORDER BY id DESC LIMIT 1"
    ))
    .bind(directory_id)
    .fetch_optional(conn)
    .await
}

/// Deletes log entries older than `before`.
pub async fn purge_requests(conn: &mut Conn, before: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query("DELETE FROM scim_requests WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}

/// Schedules a directory-suspended membership's removal.
pub async fn schedule_removal(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE memberships SET remove_after = $3 WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .bind(at)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Suspended memberships whose scheduled removal is due: (organization, membership, email).
pub async fn due_removals(
    conn: &mut Conn,
    now: i64,
) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    // Only members whose newest grant is still the directory's suspension: an admin's later
    // change (reactivation, a manual suspension) leaves them alone.
    sqlx::query_as(
        &format!("SELECT m.organization_id, m.id, u.email FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.state = '{MEMBER_SUSPENDED}' AND m.remove_after IS NOT NULL AND m.remove_after <= $1 \
         AND (SELECT g.kind FROM membership_grants g WHERE g.membership_id = m.id ORDER BY g.created_at DESC, g.id DESC LIMIT 1) = '{GRANT_DIRECTORY_SUSPENDED}' \
         ORDER BY m.remove_after LIMIT 500"),
    )
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Active members holding a role with every permission (`*`), other than `except`.
pub async fn other_active_admins(
    conn: &mut Conn,
    organization_id: &str,
    except: &str,
) -> Result<i64, sqlx::Error> {
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT slug FROM roles WHERE permissions LIKE '%\"*\"%'")
            .fetch_all(&mut *conn)
            .await?;
    let mut n: i64 = sqlx::query_scalar(
        &format!("SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND state = '{MEMBER_ACTIVE}' AND role = 'admin' AND id <> $2"),
    )
    .bind(organization_id)
    .bind(except)
    .fetch_one(&mut *conn)
    .await?;
    for r in roles {
        n += sqlx::query_scalar::<_, i64>(
            &format!("SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND state = '{MEMBER_ACTIVE}' AND role = $2 AND id <> $3"),
        )
        .bind(organization_id)
        .bind(&r)
        .bind(except)
        .fetch_one(&mut *conn)
        .await?;
    }
    Ok(n)
}

/// A membership by id: (id, role, state, role group, managing directory).
pub async fn membership_of_id(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
) -> Result<Option<MembershipState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, role, state, role_group_id, directory_id FROM memberships WHERE organization_id = $1 AND id = $2",
    )
    .bind(organization_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Takes a due removal for this node: true for exactly one caller.
pub async fn claim_removal(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        &format!("UPDATE memberships SET remove_after = NULL WHERE id = $1 AND organization_id = $2 AND state = '{MEMBER_SUSPENDED}' \
         AND remove_after IS NOT NULL AND remove_after <= $3"),
    )
    .bind(id)
    .bind(organization_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
