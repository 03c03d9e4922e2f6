//! `directory_groups` and `directory_group_members` tables: the groups a directory pushes and
//! their members.

use super::directory_users::Page;
use super::{for_update, Conn, Lock};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
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

/// Columns a SCIM `eq` filter on Groups can be answered from with SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupColumn {
    Id,
    DisplayName,
    /// Not indexed by directory.
    ExternalId,
}

impl GroupColumn {
    pub const ALL: [GroupColumn; 3] = [
        GroupColumn::Id,
        GroupColumn::DisplayName,
        GroupColumn::ExternalId,
    ];
}

/// [`page_groups`]' statements: a page (directory `$1`, value `$2`, limit `$3`, offset `$4`)
/// and the count of all the rows that match.
pub fn page_groups_sql(eq: Option<GroupColumn>) -> (String, String) {
    let cond = match eq {
        Some(GroupColumn::Id) => " AND id = $2",
        // displayName is caseExact=false (RFC 7643 §4.2)
        Some(GroupColumn::DisplayName) => " AND LOWER(display_name) = LOWER($2)",
        Some(GroupColumn::ExternalId) => " AND external_id = $2",
        None => " AND $2 = $2",
    };
    (
        format!("SELECT {GROUP_COLS} FROM directory_groups WHERE directory_id = $1{cond} ORDER BY id LIMIT $3 OFFSET $4"),
        format!("SELECT COUNT(*) FROM directory_groups WHERE directory_id = $1{cond}"),
    )
}

/// One page of groups, optionally narrowed by an indexed equality.
pub async fn page_groups(
    conn: &mut Conn,
    directory_id: &str,
    eq: Option<(GroupColumn, &str)>,
    offset: i64,
    limit: i64,
) -> Result<Page<DirGroupRow>, sqlx::Error> {
    let value = eq.map_or("", |(_, v)| v);
    super::directory_users::fetch_page(
        conn,
        &page_groups_sql(eq.map(|(c, _)| c)),
        directory_id,
        value,
        offset,
        limit,
    )
    .await
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

/// The ids of a group's members, in id order (the primary key's order: no join, no sort).
pub async fn member_ids(
    conn: &mut Conn,
    directory_id: &str,
    group_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM directory_group_members WHERE group_id = $1 AND directory_id = $2 ORDER BY user_id",
    )
    .bind(group_id)
    .bind(directory_id)
    .fetch_all(conn)
    .await
}

/// Most ids bound in one member statement (well under both databases' parameter limits).
const IDS_PER_STATEMENT: usize = 500;

/// Adds to the group those of `user_ids` that are users of the directory and not members yet,
/// with one statement per [`IDS_PER_STATEMENT`] ids; answers the ones added (in no particular
/// order). Ids of no user of this directory are skipped.
pub async fn add_members(
    conn: &mut Conn,
    directory_id: &str,
    group_id: &str,
    user_ids: &[String],
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let mut added = Vec::new();
    for chunk in user_ids.chunks(IDS_PER_STATEMENT) {
        // The WHERE clause also keeps SQLite from reading ON CONFLICT as part of the SELECT.
        let sql = format!(
            "INSERT INTO directory_group_members (group_id, user_id, directory_id, created_at) \
             SELECT $1, id, directory_id, $3 FROM directory_users WHERE id IN ({}) AND {} \
             ON CONFLICT DO NOTHING RETURNING user_id",
            super::placeholders(4, chunk.len()),
            super::row_check(conn, "directory_id", 2)
        );
        let mut q = sqlx::query_scalar::<_, String>(&sql)
            .bind(group_id)
            .bind(directory_id)
            .bind(now);
        for id in chunk {
            q = q.bind(id);
        }
        added.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(added)
}

/// Removes those of `user_ids` that are members of the group, with one statement per
/// [`IDS_PER_STATEMENT`] ids; answers the ones removed (in no particular order).
pub async fn remove_members(
    conn: &mut Conn,
    directory_id: &str,
    group_id: &str,
    user_ids: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let mut removed = Vec::new();
    for chunk in user_ids.chunks(IDS_PER_STATEMENT) {
        let sql = format!(
            "DELETE FROM directory_group_members WHERE group_id = $1 AND directory_id = $2 AND user_id IN ({}) RETURNING user_id",
            super::placeholders(3, chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, String>(&sql)
            .bind(group_id)
            .bind(directory_id);
        for id in chunk {
            q = q.bind(id);
        }
        removed.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(removed)
}

/// How many members the group has.
pub async fn count_members(
    conn: &mut Conn,
    directory_id: &str,
    group_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM directory_group_members WHERE group_id = $1 AND directory_id = $2",
    )
    .bind(group_id)
    .bind(directory_id)
    .fetch_one(conn)
    .await
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

/// [`groups_of_users`] by directory user id (a user in no group is not in the map).
pub async fn groups_by_user(
    conn: &mut Conn,
    directory_id: &str,
    user_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<DirGroupName>>, sqlx::Error> {
    let mut out: std::collections::HashMap<String, Vec<DirGroupName>> =
        std::collections::HashMap::new();
    for g in groups_of_users(conn, directory_id, user_ids).await? {
        out.entry(g.user_id).or_default().push(DirGroupName {
            id: g.id,
            display_name: g.display_name,
        });
    }
    Ok(out)
}

/// How many members a group has.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupMemberCount {
    pub group_id: String,
    pub members: i64,
}

/// The statement of [`member_counts`] (`$1`: the directory).
pub const MEMBER_COUNTS_SQL: &str = "SELECT g.id AS group_id, \
     (SELECT COUNT(*) FROM directory_group_members m WHERE m.group_id = g.id) AS members \
     FROM directory_groups g WHERE g.directory_id = $1";

/// Number of members of each group of the directory (0 for a group without members). Counted
/// group by group through the members' key `(group_id, user_id)`: a filter on the members'
/// `directory_id`, which no index leads with, read every directory's memberships (issue 17).
pub async fn member_counts(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Vec<GroupMemberCount>, sqlx::Error> {
    sqlx::query_as(MEMBER_COUNTS_SQL)
        .bind(directory_id)
        .fetch_all(conn)
        .await
}

/// Filters of a page of directory groups across directories.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub directory_id: Option<String>,
    /// Groups this directory user belongs to.
    pub user_id: Option<String>,
}

/// A page of groups of live directories of live organizations, in id order.
pub async fn page_live(
    conn: &mut Conn,
    keyset: &super::Keyset,
    f: &ListFilter,
) -> Result<Vec<DirGroupRow>, sqlx::Error> {
    let mut q = super::Filtered::new(format!(
        "SELECT {GROUP_COLS} FROM directory_groups WHERE directory_id IN ({})",
        super::directories::LIVE_DIRECTORY_IDS
    ));
    if let Some(d) = &f.directory_id {
        q.and("directory_id = {}", d);
    }
    if let Some(u) = &f.user_id {
        q.and(
            "id IN (SELECT group_id FROM directory_group_members WHERE user_id = {})",
            u,
        );
    }
    q.fetch_page(conn, keyset).await
}

/// A group of a live directory of a live organization, by id alone.
pub async fn get_live(conn: &mut Conn, id: &str) -> Result<Option<DirGroupRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {GROUP_COLS} FROM directory_groups WHERE id = $1 AND directory_id IN ({})",
        super::directories::LIVE_DIRECTORY_IDS
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A group of one of several directory users.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberGroup {
    /// The directory user.
    pub member_id: String,
    #[sqlx(flatten)]
    pub group: DirGroupRow,
}

/// The groups of each of `user_ids` (whole rows, by group name): one statement for a page.
pub async fn groups_of_members(
    conn: &mut Conn,
    user_ids: &[&str],
) -> Result<Vec<MemberGroup>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT m.user_id AS member_id, g.id, g.directory_id, g.organization_id, g.display_name, g.external_id, \
         g.resource, g.version, g.created_at, g.updated_at \
         FROM directory_group_members m JOIN directory_groups g ON g.id = m.group_id \
         WHERE m.user_id IN ({}) ORDER BY m.user_id, g.display_name, g.id",
        super::placeholders(1, user_ids.len())
    );
    let mut q = sqlx::query_as(&sql);
    for id in user_ids {
        q = q.bind(*id);
    }
    q.fetch_all(conn).await
}
