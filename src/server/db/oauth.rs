//! Lanyard's OpenID Provider: `oauth_clients` (the vendor's OAuth clients) and `signing_keys`
//! (the keys ID and access tokens are signed with).

use super::Conn;

/// A vendor OAuth client.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OauthClientRow {
    pub id: String,
    pub client_id: String,
    pub name: String,
    /// JSON array.
    pub redirect_uris: String,
    /// JSON array.
    pub post_logout_redirect_uris: String,
    /// JSON array, or NULL for every organization.
    pub allowed_organizations: Option<String>,
    pub token_endpoint_auth_method: String,
    pub secret_hash: Option<String>,
    pub secret_hint: Option<String>,
    pub secret_created_at: Option<i64>,
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
}

const CLIENT_COLUMNS: &str = "id, client_id, name, redirect_uris, post_logout_redirect_uris, allowed_organizations, \
     token_endpoint_auth_method, secret_hash, secret_hint, secret_created_at, previous_secret_hash, previous_secret_expires_at, \
     created_at, updated_at, last_used_at";

pub async fn insert_client(conn: &mut Conn, r: &OauthClientRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO oauth_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&r.id)
    .bind(&r.client_id)
    .bind(&r.name)
    .bind(&r.redirect_uris)
    .bind(&r.post_logout_redirect_uris)
    .bind(&r.allowed_organizations)
    .bind(&r.token_endpoint_auth_method)
    .bind(&r.secret_hash)
    .bind(&r.secret_hint)
    .bind(r.secret_created_at)
    .bind(&r.previous_secret_hash)
    .bind(r.previous_secret_expires_at)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.last_used_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Writes every mutable column of a client.
pub async fn update_client(conn: &mut Conn, r: &OauthClientRow) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oauth_clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4, allowed_organizations = $5, \
         secret_hash = $6, secret_hint = $7, previous_secret_hash = $8, previous_secret_expires_at = $9, updated_at = $10, \
         secret_created_at = $11 WHERE id = $1",
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(&r.redirect_uris)
    .bind(&r.post_logout_redirect_uris)
    .bind(&r.allowed_organizations)
    .bind(&r.secret_hash)
    .bind(&r.secret_hint)
    .bind(&r.previous_secret_hash)
    .bind(r.previous_secret_expires_at)
    .bind(r.updated_at)
    .bind(r.secret_created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_client(conn: &mut Conn, id: &str) -> Result<Option<OauthClientRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn client_by_client_id(
    conn: &mut Conn,
    client_id: &str,
) -> Result<Option<OauthClientRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1"
    ))
    .bind(client_id)
    .fetch_optional(conn)
    .await
}

/// Clients in id order after `after`, at most `limit`.
pub async fn list_clients(
    conn: &mut Conn,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<OauthClientRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn delete_client(conn: &mut Conn, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Notes a client's use (at most one write a minute per client).
pub async fn touch_client(conn: &mut Conn, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE oauth_clients SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(now)
    .bind(now - 60_000)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key_enc: String,
    pub public_jwk: String,
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

const KEY_COLUMNS: &str =
    "kid, alg, private_key_enc, public_jwk, state, created_at, activated_at, retired_at, expires_at";

/// Every key still published (next, active, retired until `expires_at`), newest first.
pub async fn published_keys(conn: &mut Conn, now: i64) -> Result<Vec<SigningKeyRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM signing_keys WHERE state IN ('next', 'active') OR (state = 'retired' AND expires_at > $1) \
         ORDER BY created_at DESC, kid DESC"
    ))
    .bind(now)
    .fetch_all(conn)
    .await
}

pub async fn insert_key(conn: &mut Conn, r: &SigningKeyRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&r.kid)
    .bind(&r.alg)
    .bind(&r.private_key_enc)
    .bind(&r.public_jwk)
    .bind(&r.state)
    .bind(r.created_at)
    .bind(r.activated_at)
    .bind(r.retired_at)
    .bind(r.expires_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Retires the given active keys (published until `expires_at`); returns how many were still
/// active (fewer than given: another rotation got there first).
pub async fn retire_active(
    conn: &mut Conn,
    kids: &[String],
    now: i64,
    expires_at: i64,
) -> Result<usize, sqlx::Error> {
    let mut n = 0;
    for kid in kids {
        let done = sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $2, expires_at = $3 WHERE kid = $1 AND state = 'active'",
        )
        .bind(kid)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
        n += done.rows_affected() as usize;
    }
    Ok(n)
}

/// Makes the published `next` key the signing one; false when there was none.
pub async fn promote_next(conn: &mut Conn, kid: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE signing_keys SET state = 'active', activated_at = $2 WHERE kid = $1 AND state = 'next'",
    )
    .bind(kid)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the publication of retired keys now (an emergency rotation: their tokens stop verifying).
pub async fn withdraw_retired(conn: &mut Conn, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE signing_keys SET expires_at = $1 WHERE state = 'retired' AND expires_at > $1",
    )
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Retires one key and ends its publication now.
pub async fn withdraw_key(conn: &mut Conn, kid: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE signing_keys SET state = 'retired', retired_at = $2, expires_at = $2 WHERE kid = $1",
    )
    .bind(kid)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}
