//! `directory_users` table: the users a directory pushes.

use super::{for_update, Conn, Flag, Lock};
use crate::domain::ids::{OrgId, UserId};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct DirUserRow {
    pub id: String,
    pub directory_id: String,
    pub organization_id: String,
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    #[sqlx(try_from = "super::Flag")]
    pub active: bool,
    pub resource: String,
    /// The organization user the directory user is linked to (never read back from JSON: a
    /// snapshot's reader has no use for it).
    #[serde(skip_deserializing)]
    pub user_id: Option<UserId>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const USER_COLS: &str = "id, directory_id, organization_id, user_name, user_name_key, external_id, email, display_name, active, resource, user_id, version, created_at, updated_at";

pub async fn insert_user(conn: &mut Conn, r: &DirUserRow) -> Result<(), sqlx::Error> {
    insert_user_held(r).execute(conn).await
}

/// [`insert_user`], to be sent later (see [`super::held`]).
pub fn insert_user_held(r: &DirUserRow) -> super::held::Held {
    super::held::Held::new(
        format!("INSERT INTO directory_users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"),
        vec![
            r.id.clone().into(),
            r.directory_id.clone().into(),
            r.organization_id.clone().into(),
            r.user_name.clone().into(),
            r.user_name_key.clone().into(),
            r.external_id.clone().into(),
            r.email.clone().into(),
            r.display_name.clone().into(),
            i64::from(r.active).into(),
            r.resource.clone().into(),
            r.user_id.as_ref().map(|u| u.to_string()).into(),
            r.version.into(),
            r.created_at.into(),
            r.updated_at.into(),
        ],
    )
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
        .bind(i64::from(r.active))
        .bind(&r.resource)
        .bind(&r.user_id)
        .bind(r.version)
        .bind(r.updated_at)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A directory user; with `lock`, the row stays locked until the transaction ends.
pub async fn get_user(
    conn: &mut Conn,
    directory_id: &str,
    id: &str,
    lock: Lock,
) -> Result<Option<DirUserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLS} FROM directory_users WHERE id = $1 AND directory_id = $2{}",
        for_update(conn, lock)
    ))
    .bind(id)
    .bind(directory_id)
    .fetch_optional(conn)
    .await
}

/// The directory's users among `ids`, in id order; with `lock`, the rows stay locked until the
/// transaction ends (taken in id order, so two transactions locking overlapping sets queue
/// instead of deadlocking).
pub async fn get_users(
    conn: &mut Conn,
    directory_id: &str,
    ids: &[String],
    lock: Lock,
) -> Result<Vec<DirUserRow>, sqlx::Error> {
    let mut rows = Vec::with_capacity(ids.len());
    let mut sorted: Vec<&String> = ids.iter().collect();
    sorted.sort();
    sorted.dedup();
    for chunk in sorted.chunks(500) {
        let sql = format!(
            "SELECT {USER_COLS} FROM directory_users WHERE id IN ({}) AND {} ORDER BY id{}",
            super::placeholders(2, chunk.len()),
            super::row_check(conn, "directory_id", 1),
            for_update(conn, lock)
        );
        let mut q = sqlx::query_as::<_, DirUserRow>(&sql).bind(directory_id);
        for id in chunk {
            q = q.bind(*id);
        }
        rows.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
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

/// Columns a SCIM `eq` filter can be answered from with SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserColumn {
    Id,
    UserNameKey,
    ExternalId,
    /// Indexed by organization, not by directory.
    Email,
}

impl UserColumn {
    pub const ALL: [UserColumn; 4] = [
        UserColumn::Id,
        UserColumn::UserNameKey,
        UserColumn::ExternalId,
        UserColumn::Email,
    ];

    fn sql(self) -> &'static str {
        match self {
            UserColumn::Id => "id",
            UserColumn::UserNameKey => "user_name_key",
            UserColumn::ExternalId => "external_id",
            UserColumn::Email => "email",
        }
    }
}

/// One page of rows and how many rows match in all.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub total: i64,
    pub rows: Vec<T>,
}

/// The number of matching rows when a page of `got` rows read at `offset` with `limit` tells
/// it: a page that is not full is the last one (unless it is empty past the start, when rows
/// before it may or may not exist). `None`: count them.
pub(crate) fn total_from_page(offset: i64, limit: i64, got: usize) -> Option<i64> {
    let got = got as i64;
    (got < limit && (got > 0 || offset == 0)).then_some(offset + got)
}

/// [`page_users`]' statements: a page (directory `$1`, value `$2`, limit `$3`, offset `$4`) and
/// the count of all the rows that match.
pub fn page_users_sql(eq: Option<UserColumn>) -> (String, String) {
    let cond = match eq {
        Some(c) => format!(" AND {} = $2", c.sql()),
        None => " AND $2 = $2".to_owned(),
    };
    // A lookup by a key unique in the directory finds one row at most: nothing to order. With
    // `ORDER BY id` PostgreSQL at times planned such a lookup as a walk of the directory's id
    // index in order (in one run of issue 17's lookup-then-create bench, 695 ms of execution for
    // ~6,400 lookups against 66–97 ms in the others); without it only the unique index serves.
    let order = match eq {
        Some(UserColumn::Id | UserColumn::UserNameKey) => "",
        _ => " ORDER BY id",
    };
    (
        format!("SELECT {USER_COLS} FROM directory_users WHERE directory_id = $1{cond}{order} LIMIT $3 OFFSET $4"),
        format!("SELECT COUNT(*) FROM directory_users WHERE directory_id = $1{cond}"),
    )
}

/// One page of users, optionally narrowed by an indexed equality.
pub async fn page_users(
    conn: &mut Conn,
    directory_id: &str,
    eq: Option<(UserColumn, &str)>,
    offset: i64,
    limit: i64,
) -> Result<Page<DirUserRow>, sqlx::Error> {
    let value = eq.map_or("", |(_, v)| v);
    fetch_page(
        conn,
        &page_users_sql(eq.map(|(c, _)| c)),
        directory_id,
        value,
        offset,
        limit,
    )
    .await
}

/// Runs a page statement and, when the page is full, its count statement (see
/// [`page_users_sql`] for their parameters).
pub(crate) async fn fetch_page<T>(
    conn: &mut Conn,
    (page_sql, count_sql): &(String, String),
    directory_id: &str,
    value: &str,
    offset: i64,
    limit: i64,
) -> Result<Page<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let rows: Vec<T> = sqlx::query_as(page_sql)
        .bind(directory_id)
        .bind(value)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    // A page that is not full ends the list: its rows are all that is left (a lookup by
    // userName, the commonest request, is answered with one statement).
    let total = match total_from_page(offset, limit, rows.len()) {
        Some(total) => total,
        None => {
            sqlx::query_scalar(count_sql)
                .bind(directory_id)
                .bind(value)
                .fetch_one(conn)
                .await?
        }
    };
    Ok(Page { total, rows })
}

/// The directory's first `limit` users in [`page_users`]' order, without counting them all.
pub async fn first_users(
    conn: &mut Conn,
    directory_id: &str,
    limit: i64,
) -> Result<Vec<DirUserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLS} FROM directory_users WHERE directory_id = $1 ORDER BY id LIMIT $2"
    ))
    .bind(directory_id)
    .bind(limit)
    .fetch_all(conn)
    .await
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
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id FROM directory_users WHERE id IN ({}) AND {}",
            super::placeholders(2, chunk.len()),
            super::row_check(conn, "directory_id", 1)
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
    organization_id: &OrgId,
    user_id: Option<&UserId>,
    email: &str,
) -> Result<Vec<bool>, sqlx::Error> {
    let base =
        "SELECT u.active FROM directory_users u JOIN directories d ON d.id = u.directory_id \
         WHERE d.organization_id = $1 AND d.deleted_at IS NULL AND d.authoritative = 1";
    if let Some(uid) = user_id {
        let linked: Vec<Flag> = sqlx::query_scalar(&format!("{base} AND u.user_id = $2"))
            .bind(organization_id)
            .bind(uid)
            .fetch_all(&mut *conn)
            .await?;
        if !linked.is_empty() {
            return Ok(linked.into_iter().map(bool::from).collect());
        }
    }
    let flags: Vec<Flag> = sqlx::query_scalar(&format!("{base} AND u.email = $2"))
        .bind(organization_id)
        .bind(email)
        .fetch_all(conn)
        .await?;
    Ok(flags.into_iter().map(bool::from).collect())
}

#[cfg(test)]
mod tests {
    use super::total_from_page;

    #[test]
    fn a_page_that_is_not_full_gives_the_total() {
        // (offset, limit, rows read) → total, or None when it must be counted.
        let cases = [
            ((0, 100, 0), Some(0)),
            ((0, 100, 1), Some(1)),
            ((20, 10, 3), Some(23)),
            ((0, 10, 10), None),
            ((50, 10, 0), None),
            ((0, 0, 0), None),
        ];
        for ((offset, limit, got), want) in cases {
            assert_eq!(
                total_from_page(offset, limit, got),
                want,
                "{offset} {limit} {got}"
            );
        }
    }
}

/// Filters of a page of directory users across directories.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub directory_id: Option<String>,
    /// Members of this group.
    pub group_id: Option<String>,
    /// The IdP's id: the SCIM `externalId`, or Lanyard's id when the IdP sent none.
    pub idp_id: Option<String>,
    /// The primary email (compared in lower case).
    pub email: Option<String>,
}

/// A page of users of live directories of live organizations, in id order.
pub async fn page_live(
    conn: &mut Conn,
    keyset: &super::Keyset,
    f: &ListFilter,
) -> Result<Vec<DirUserRow>, sqlx::Error> {
    let mut q = super::Filtered::new(format!(
        "SELECT {USER_COLS} FROM directory_users WHERE directory_id IN ({})",
        super::directories::LIVE_DIRECTORY_IDS
    ));
    if let Some(d) = &f.directory_id {
        q.and("directory_id = {}", d);
    }
    if let Some(g) = &f.group_id {
        q.and(
            "id IN (SELECT user_id FROM directory_group_members WHERE group_id = {})",
            g,
        );
    }
    if let Some(i) = &f.idp_id {
        q.and("COALESCE(external_id, id) = {}", i);
    }
    if let Some(e) = &f.email {
        q.and("LOWER(email) = {}", &e.to_lowercase());
    }
    q.fetch_page(conn, keyset).await
}

/// A user of a live directory of a live organization, by id alone.
pub async fn get_live(conn: &mut Conn, id: &str) -> Result<Option<DirUserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLS} FROM directory_users WHERE id = $1 AND directory_id IN ({})",
        super::directories::LIVE_DIRECTORY_IDS
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}
