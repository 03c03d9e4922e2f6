//! `directory_tokens` table: the bearer tokens a directory's SCIM client presents (stored as
//! hashes).

use super::Conn;
use crate::domain::ids::{DirectoryId, OrgId};

pub async fn insert_token(
    conn: &mut Conn,
    id: &str,
    directory_id: &DirectoryId,
    organization_id: &OrgId,
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

/// The directory a SCIM token opens.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenDirectory {
    pub directory_id: String,
    pub organization_id: String,
    pub token_hash: String,
    /// Set once the token was rotated out.
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// The directory a presented token's hash belongs to, when the token is still valid and its
/// directory and organization live.
pub async fn token_directory(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<Option<TokenDirectory>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.directory_id, t.organization_id, t.token_hash, t.expires_at, t.last_used_at FROM directory_tokens t JOIN directories d ON d.id = t.directory_id \
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

/// A directory token still valid.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveToken {
    pub hint: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// The directory's tokens still valid at `now`, newest first.
pub async fn live_tokens(
    conn: &mut Conn,
    directory_id: &str,
    now: i64,
) -> Result<Vec<LiveToken>, sqlx::Error> {
    sqlx::query_as("SELECT hint, created_at, expires_at FROM directory_tokens WHERE directory_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC, id DESC")
        .bind(directory_id)
        .bind(now)
        .fetch_all(conn)
        .await
}

/// A still-valid token of one of several directories.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirectoryLiveToken {
    pub directory_id: String,
    pub hint: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// The tokens of `directory_ids` still valid at `now`, each directory's newest first: one
/// statement for any number of directories.
pub async fn live_tokens_of(
    conn: &mut Conn,
    directory_ids: &[String],
    now: i64,
) -> Result<Vec<DirectoryLiveToken>, sqlx::Error> {
    if directory_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..directory_ids.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let sql = format!(
        "SELECT directory_id, hint, created_at, expires_at FROM directory_tokens \
         WHERE directory_id IN ({}) AND (expires_at IS NULL OR expires_at > $1) \
         ORDER BY directory_id, created_at DESC, id DESC",
        list.join(", ")
    );
    let mut q = sqlx::query_as(&sql).bind(now);
    for id in directory_ids {
        q = q.bind(id);
    }
    q.fetch_all(conn).await
}
