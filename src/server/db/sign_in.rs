//! Sign-ins in flight: `sso_requests` (pending sign-ins, kept between the redirect to the IdP
//! and its callback), `sso_codes` (the one-time codes a finished sign-in is redeemed with) and
//! `login_attempts`.

use super::Conn;
use crate::domain::ids::{ConnectionId, OrgId};
use crate::domain::sign_in::{SignInOutcome, SignInPurpose};

/// A pending sign-in, remembered between the redirect to the IdP and its callback.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SsoRequestRow {
    pub state_hash: String,
    pub organization_id: String,
    pub connection_id: String,
    pub purpose: String,
    pub redirect_uri: Option<String>,
    pub client_state: Option<String>,
    pub nonce: String,
    pub pkce_verifier_enc: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set when the sign-in accepts an invitation that requires SSO.
    pub invitation_id: Option<String>,
    /// The hash of the invitation link that started it.
    pub invitation_token_hash: Option<String>,
    /// Set when an OAuth client of Lanyard's OpenID Provider started it (JSON,
    /// `service::oauth::ClientRequest`).
    pub oauth: Option<String>,
    /// The starting request's trace context (W3C `traceparent`), when traces are exported.
    pub traceparent: Option<String>,
}

pub async fn insert_request(conn: &mut Conn, r: &SsoRequestRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sso_requests (state_hash, organization_id, connection_id, purpose, redirect_uri, client_state, nonce, pkce_verifier_enc, created_at, expires_at, invitation_id, invitation_token_hash, oauth, traceparent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&r.state_hash)
    .bind(&r.organization_id)
    .bind(&r.connection_id)
    .bind(&r.purpose)
    .bind(&r.redirect_uri)
    .bind(&r.client_state)
    .bind(&r.nonce)
    .bind(&r.pkce_verifier_enc)
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(&r.invitation_id)
    .bind(&r.invitation_token_hash)
    .bind(&r.oauth)
    .bind(&r.traceparent)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Takes a pending sign-in exactly once, if unexpired.
pub async fn take_request(
    conn: &mut Conn,
    state_hash: &str,
    now: i64,
) -> Result<Option<SsoRequestRow>, sqlx::Error> {
    let r = sqlx::query("UPDATE sso_requests SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL AND expires_at > $2")
        .bind(state_hash)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query_as(
        "SELECT state_hash, organization_id, connection_id, purpose, redirect_uri, client_state, nonce, pkce_verifier_enc, created_at, expires_at, invitation_id, invitation_token_hash, oauth, traceparent \
         FROM sso_requests WHERE state_hash = $1",
    )
    .bind(state_hash)
    .fetch_optional(conn)
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn insert_code(
    conn: &mut Conn,
    code_hash: &str,
    organization_id: &OrgId,
    // `None` for an invitation accepted through its email link (stored as the empty string).
    connection_id: Option<&ConnectionId>,
    redirect_uri: &str,
    result: &str,
    membership_id: Option<&str>,
    // The OAuth client's request (JSON) when the code is for `/oauth2/token`.
    oauth: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sso_codes (code_hash, organization_id, connection_id, redirect_uri, result, created_at, expires_at, membership_id, oauth, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(code_hash)
    .bind(organization_id)
    .bind(connection_id.map_or("", |c| c.as_str()))
    .bind(redirect_uri)
    .bind(result)
    .bind(now)
    .bind(expires_at)
    .bind(membership_id)
    .bind(oauth)
    .bind(crate::server::telemetry::current_traceparent())
    .execute(conn)
    .await
    .map(|_| ())
}

/// A redeemed sign-in code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RedeemedCode {
    pub redirect_uri: String,
    /// JSON.
    pub result: String,
}

/// Redeems a vendor-API code exactly once (never one issued to an OAuth client). With
/// `redirect_uri`, only a code issued for that redirect is redeemed; a code issued for another
/// stays unspent.
pub async fn take_code(
    conn: &mut Conn,
    code_hash: &str,
    redirect_uri: Option<&str>,
    now: i64,
) -> Result<Option<RedeemedCode>, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sso_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         AND oauth IS NULL AND ($3 IS NULL OR redirect_uri = $3)",
    )
    .bind(code_hash)
    .bind(now)
    .bind(redirect_uri)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query_as("SELECT redirect_uri, result FROM sso_codes WHERE code_hash = $1")
        .bind(code_hash)
        .fetch_optional(conn)
        .await
}

/// A live OAuth code, read without spending it (the token endpoint checks the client first).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OauthCode {
    pub redirect_uri: String,
    /// JSON (`SignInResult`).
    pub result: String,
    /// JSON (`service::oauth::ClientRequest`).
    pub oauth: String,
    pub created_at: i64,
    /// The sign-in's trace context.
    pub traceparent: Option<String>,
}

/// Reads a live OAuth code (unused, unexpired, issued to an OAuth client).
pub async fn peek_oauth_code(
    conn: &mut Conn,
    code_hash: &str,
    now: i64,
) -> Result<Option<OauthCode>, sqlx::Error> {
    sqlx::query_as(
        "SELECT redirect_uri, result, oauth, created_at, traceparent FROM sso_codes \
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 AND oauth IS NOT NULL",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Spends an OAuth code exactly once: true for the one caller that did.
pub async fn spend_oauth_code(
    conn: &mut Conn,
    code_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sso_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 AND oauth IS NOT NULL",
    )
    .bind(code_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether an OAuth code was issued and already spent (a replay).
pub async fn oauth_code_spent(conn: &mut Conn, code_hash: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sso_codes WHERE code_hash = $1 AND used_at IS NOT NULL AND oauth IS NOT NULL",
    )
    .bind(code_hash)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Whether a code is still redeemable (unused, unexpired); reads only.
pub async fn code_is_live(conn: &mut Conn, code_hash: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sso_codes WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 AND oauth IS NULL",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Voids a member's unredeemed sign-in codes, and deletes the access tokens of its redeemed ones
/// (a member re-activated later does not get them back); returns how many codes were voided.
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
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM sso_access_tokens WHERE membership_id = $1")
        .bind(membership_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// Deletes sign-in attempts older than `before` (ms), connection by connection
/// ([`super::retention::purge_by_owner`]).
pub async fn purge_attempts(conn: &mut Conn, before: i64) -> Result<u64, sqlx::Error> {
    super::retention::purge_by_owner(
        conn,
        "login_attempts",
        "connection_id",
        "created_at",
        before,
    )
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn insert_attempt(
    conn: &mut Conn,
    id: &str,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
    purpose: &str,
    outcome: SignInOutcome,
    reason: Option<&str>,
    evidence: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_attempts (id, organization_id, connection_id, purpose, outcome, reason, evidence, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(connection_id)
    .bind(purpose)
    .bind(outcome.as_str())
    .bind(reason)
    .bind(evidence)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A sign-in attempt's result.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptResult {
    pub outcome: String,
    pub reason: Option<String>,
    /// JSON.
    pub evidence: String,
    pub created_at: i64,
}

/// The newest attempt of a connection for a purpose.
pub async fn last_attempt(
    conn: &mut Conn,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
    purpose: SignInPurpose,
) -> Result<Option<AttemptResult>, sqlx::Error> {
    sqlx::query_as(
        "SELECT outcome, reason, evidence, created_at FROM login_attempts WHERE organization_id = $1 AND connection_id = $2 AND purpose = $3 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(organization_id)
    .bind(connection_id)
    .bind(purpose.as_str())
    .fetch_optional(conn)
    .await
}

/// An access token of the WorkOS-compatible `/sso/token`, to store.
pub struct AccessToken<'a> {
    pub token_hash: &'a str,
    pub organization_id: &'a str,
    pub membership_id: &'a str,
    pub connection_id: &'a str,
    /// The API key that redeemed the code: revoking it ends the token.
    pub api_key_id: &'a str,
    /// The hash of the code it was issued for: a second redemption of the code revokes it.
    pub code_hash: &'a str,
    /// WorkOS's `Profile`, as JSON.
    pub profile: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores an access token (hashed) with the profile it shows.
pub async fn insert_access_token(conn: &mut Conn, t: &AccessToken<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sso_access_tokens (token_hash, organization_id, membership_id, connection_id, api_key_id, profile, created_at, expires_at, code_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(t.token_hash)
    .bind(t.organization_id)
    .bind(t.membership_id)
    .bind(t.connection_id)
    .bind(t.api_key_id)
    .bind(t.profile)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.code_hash)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Revokes (deletes) the access tokens issued for the code `code_hash`; answers how many.
pub async fn revoke_tokens_of_code(conn: &mut Conn, code_hash: &str) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM sso_access_tokens WHERE code_hash = $1")
            .bind(code_hash)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// The profile of a live access token: unexpired, its organization live, its member active, its
/// connection active and the API key that redeemed it not revoked.
pub async fn access_token_profile(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT t.profile FROM sso_access_tokens t \
         JOIN organizations o ON o.id = t.organization_id \
         JOIN memberships m ON m.id = t.membership_id AND m.organization_id = t.organization_id \
         JOIN connections c ON c.id = t.connection_id AND c.organization_id = t.organization_id \
         JOIN api_keys k ON k.id = t.api_key_id \
         WHERE t.token_hash = $1 AND t.expires_at > $2 AND o.deleted_at IS NULL \
         AND m.state = 'active' AND c.deleted_at IS NULL AND c.state = 'active' AND k.revoked_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Deletes access tokens that expired before `now`; answers how many.
pub async fn purge_access_tokens(conn: &mut Conn, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM sso_access_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
