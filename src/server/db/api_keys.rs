//! `api_keys` table (vendor API keys, stored as SHA-256 hashes).

use super::Conn;

/// One stored API key (never the key itself).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub token_hash: String,
    pub hint: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Inserts a key.
pub async fn insert(conn: &mut Conn, row: &ApiKeyRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_keys (id, name, token_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.id)
    .bind(&row.name)
    .bind(&row.token_hash)
    .bind(&row.hint)
    .bind(row.created_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Finds a key by the hash of the presented secret.
pub async fn find_by_hash(conn: &mut Conn, hash: &str) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, token_hash, hint, created_at, last_used_at, revoked_at FROM api_keys WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(conn)
    .await
}

/// A key that has not been revoked, by id.
pub async fn live_by_id(conn: &mut Conn, id: &str) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, token_hash, hint, created_at, last_used_at, revoked_at FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Lists all keys, newest first.
pub async fn list(conn: &mut Conn) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, token_hash, hint, created_at, last_used_at, revoked_at FROM api_keys ORDER BY id DESC",
    )
    .fetch_all(conn)
    .await
}

/// Records a use, at most once a minute per key to keep writes low.
pub async fn touch(conn: &mut Conn, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(now)
    .bind(now - 60_000)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Revokes a key; false when it was unknown or already revoked.
pub async fn revoke(conn: &mut Conn, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
