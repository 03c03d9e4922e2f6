//! `redirect_uris` table: vendor redirect URIs registered through the API.

use super::Conn;

/// Vendor redirect URIs registered through the API.
pub async fn redirect_uri_allowed(conn: &mut Conn, uri: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM redirect_uris WHERE uri = $1")
        .bind(uri)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// Adds a vendor redirect URI; false when it was already there.
pub async fn add_redirect_uri(conn: &mut Conn, uri: &str, now: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO redirect_uris (uri, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(uri)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A vendor redirect URI registered through the API.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RedirectUriRow {
    pub uri: String,
    pub created_at: i64,
}

/// Vendor redirect URIs with their creation time.
pub async fn list_redirect_uris(conn: &mut Conn) -> Result<Vec<RedirectUriRow>, sqlx::Error> {
    sqlx::query_as("SELECT uri, created_at FROM redirect_uris ORDER BY uri")
        .fetch_all(conn)
        .await
}

/// Removes a vendor redirect URI.
pub async fn remove_redirect_uri(conn: &mut Conn, uri: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM redirect_uris WHERE uri = $1")
        .bind(uri)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
