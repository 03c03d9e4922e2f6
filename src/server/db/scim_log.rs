//! `scim_requests` table: the SCIM request log, its traffic stats and purging.

use super::Conn;
use crate::domain::ids::{DirectoryId, OrgId};

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

/// Most rows in one multi-row insert (11 parameters each).
const ROWS_PER_INSERT: usize = 64;

/// Inserts log rows, [`ROWS_PER_INSERT`] to a statement.
pub async fn insert_requests(conn: &mut Conn, rows: &[ScimRequestRow]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=11).map(|k| format!("${}", i * 11 + k)).collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO scim_requests ({LOG_COLS}) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
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
                .bind(r.created_at);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
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
    organization_id: &OrgId,
    directory_id: &DirectoryId,
    f: &LogFilter,
    limit: i64,
) -> Result<Vec<ScimRequestRow>, sqlx::Error> {
    // Only the filters that are set, as plain conditions: with `($n = '' OR …)` SQLite could not
    // walk the `(directory_id, id)` indexes and read every request's stored bodies to sort
    // them (60 ms on a directory with 10,000 requests).
    let mut sql = format!(
        "SELECT {LOG_COLS} FROM scim_requests WHERE organization_id = $1 AND directory_id = $2"
    );
    let mut n = 2;
    if f.errors_only {
        sql.push_str(" AND status >= 400");
    }
    let method = f.method.as_deref().filter(|m| !m.is_empty());
    if method.is_some() {
        n += 1;
        sql.push_str(&format!(" AND method = ${n}"));
    }
    let before = f.before.as_deref().filter(|b| !b.is_empty());
    if before.is_some() {
        n += 1;
        sql.push_str(&format!(" AND id < ${n}"));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", n + 1));
    let mut q = sqlx::query_as(&sql)
        .bind(organization_id)
        .bind(directory_id);
    if let Some(m) = method {
        q = q.bind(m.to_owned());
    }
    if let Some(b) = before {
        q = q.bind(b.to_owned());
    }
    q.bind(limit).fetch_all(conn).await
}

/// One logged exchange of the organization, by its id.
pub async fn get_request(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &str,
) -> Result<Option<ScimRequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LOG_COLS} FROM scim_requests WHERE id = $1 AND organization_id = $2"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

/// A directory's SCIM traffic.
#[derive(Debug, Clone)]
pub struct RequestStats {
    /// Requests since the window start.
    pub requests: i64,
    /// Of those, answered with status ≥ 400.
    pub errors: i64,
    pub last_request_at: Option<i64>,
}

/// Requests and errors since `since`, and the last request's time.
pub async fn request_stats(
    conn: &mut Conn,
    directory_id: &str,
    since: i64,
) -> Result<RequestStats, sqlx::Error> {
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
    Ok(RequestStats {
        requests: n,
        errors: e,
        last_request_at: last,
    })
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

/// The last failed request of each of `directory_ids` that has one (latest `created_at`, then
/// highest id): one statement for any number of directories, each answered from the index of
/// failed requests.
pub async fn last_errors(
    conn: &mut Conn,
    directory_ids: &[String],
) -> Result<Vec<ScimRequestRow>, sqlx::Error> {
    if directory_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..directory_ids.len())
        .map(|i| format!("${}", i + 1))
        .collect();
    let of_directory = super::fk_eq(conn, "x.directory_id", "d.id");
    let sql = format!(
        "SELECT {LOG_COLS} FROM scim_requests WHERE id IN (\
         SELECT (SELECT x.id FROM scim_requests x WHERE {of_directory} AND x.status >= 400 \
         ORDER BY x.created_at DESC, x.id DESC LIMIT 1) \
         FROM directories d WHERE d.id IN ({}))",
        list.join(", ")
    );
    let mut q = sqlx::query_as(&sql);
    for id in directory_ids {
        q = q.bind(id);
    }
    q.fetch_all(conn).await
}

/// Deletes log entries older than `before`, directory by directory
/// ([`super::retention::purge_by_owner`]).
pub async fn purge_requests(conn: &mut Conn, before: i64) -> Result<u64, sqlx::Error> {
    super::retention::purge_by_owner(conn, "scim_requests", "directory_id", "created_at", before)
        .await
}
