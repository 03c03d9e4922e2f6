//! `idempotency_keys` table: one row per (API key, Idempotency-Key).

use super::Conn;

/// A remembered request and, once finished, its response.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub request_hash: String,
    pub status_code: Option<i64>,
    /// The response body, sealed (`SecretBox`) by the middleware: it may carry secrets shown once.
    pub response_body: Option<String>,
    pub created_at: i64,
}

/// Claims a key; false when a row already exists.
pub async fn claim(
    conn: &mut Conn,
    api_key_id: &str,
    key: &str,
    request_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO idempotency_keys (api_key_id, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(api_key_id)
    .bind(key)
    .bind(request_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Reads a claimed key.
pub async fn get(
    conn: &mut Conn,
    api_key_id: &str,
    key: &str,
) -> Result<Option<IdempotencyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_hash, status_code, response_body, created_at FROM idempotency_keys WHERE api_key_id = $1 AND idem_key = $2",
    )
    .bind(api_key_id)
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// Stores the (sealed) response of a finished request.
pub async fn complete(
    conn: &mut Conn,
    api_key_id: &str,
    key: &str,
    status: i64,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $3, response_body = $4 WHERE api_key_id = $1 AND idem_key = $2",
    )
    .bind(api_key_id)
    .bind(key)
    .bind(status)
    .bind(body)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Forgets a key (after a server error, so the client may retry).
pub async fn release(conn: &mut Conn, api_key_id: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE api_key_id = $1 AND idem_key = $2")
        .bind(api_key_id)
        .bind(key)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Deletes keys older than `before`.
pub async fn purge(conn: &mut Conn, before: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}
