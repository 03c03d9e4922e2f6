//! Connections, users, identities, memberships, pending sign-ins and one-time codes.

use super::Conn;
use crate::domain::connection::ConnectionState;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const CONNECTION_INACTIVE: &str = ConnectionState::Inactive.as_str();

/// A stored connection.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRow {
    pub id: String,
    pub organization_id: String,
    pub kind: String,
    pub name: String,
    pub state: String,
    pub idp: String,
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: Option<String>,
    pub oidc_client_secret_enc: Option<String>,
    pub last_test_at: Option<i64>,
    pub last_test_ok: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub saml_idp_entity_id: Option<String>,
    pub saml_idp_sso_url: Option<String>,
    pub saml_idp_metadata_url: Option<String>,
    pub saml_allow_idp_initiated: i64,
    /// JSON of the attribute-mapping overrides.
    pub attribute_mapping: Option<String>,
}

const CONN_COLUMNS: &str = "id, organization_id, kind, name, state, idp, oidc_issuer, oidc_client_id, oidc_client_secret_enc, last_test_at, last_test_ok, created_at, updated_at, saml_idp_entity_id, saml_idp_sso_url, saml_idp_metadata_url, saml_allow_idp_initiated, attribute_mapping";

pub async fn insert_connection(conn: &mut Conn, r: &ConnectionRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO connections ({CONN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.kind)
    .bind(&r.name)
    .bind(&r.state)
    .bind(&r.idp)
    .bind(&r.oidc_issuer)
    .bind(&r.oidc_client_id)
    .bind(&r.oidc_client_secret_enc)
    .bind(r.last_test_at)
    .bind(r.last_test_ok)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(&r.saml_idp_entity_id)
    .bind(&r.saml_idp_sso_url)
    .bind(&r.saml_idp_metadata_url)
    .bind(r.saml_allow_idp_initiated)
    .bind(&r.attribute_mapping)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn update_connection(
    conn: &mut Conn,
    organization_id: &str,
    r: &ConnectionRow,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE connections SET name = $3, state = $4, idp = $5, oidc_issuer = $6, oidc_client_id = $7, \
         oidc_client_secret_enc = $8, last_test_at = $9, last_test_ok = $10, updated_at = $11, \
         saml_idp_entity_id = $12, saml_idp_sso_url = $13, saml_idp_metadata_url = $14, saml_allow_idp_initiated = $15, \
         attribute_mapping = $16 WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL",
    )
    .bind(&r.id)
    .bind(organization_id)
    .bind(&r.name)
    .bind(&r.state)
    .bind(&r.idp)
    .bind(&r.oidc_issuer)
    .bind(&r.oidc_client_id)
    .bind(&r.oidc_client_secret_enc)
    .bind(r.last_test_at)
    .bind(r.last_test_ok)
    .bind(r.updated_at)
    .bind(&r.saml_idp_entity_id)
    .bind(&r.saml_idp_sso_url)
    .bind(&r.saml_idp_metadata_url)
    .bind(r.saml_allow_idp_initiated)
    .bind(&r.attribute_mapping)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn get_connection(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
) -> Result<Option<ConnectionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CONN_COLUMNS} FROM connections WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

/// The organization a live connection id belongs to.
pub async fn connection_owner(conn: &mut Conn, id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.organization_id FROM connections c JOIN organizations o ON o.id = c.organization_id \
         WHERE c.id = $1 AND c.deleted_at IS NULL AND o.deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn list_connections(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<ConnectionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CONN_COLUMNS} FROM connections WHERE organization_id = $1 AND deleted_at IS NULL ORDER BY id"
    ))
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

pub async fn delete_connection(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        &format!("UPDATE connections SET deleted_at = $3, state = '{CONNECTION_INACTIVE}', updated_at = $3 WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL"),
    )
    .bind(id)
    .bind(organization_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

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
}

pub async fn insert_request(conn: &mut Conn, r: &SsoRequestRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sso_requests (state_hash, organization_id, connection_id, purpose, redirect_uri, client_state, nonce, pkce_verifier_enc, created_at, expires_at, invitation_id, invitation_token_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        "SELECT state_hash, organization_id, connection_id, purpose, redirect_uri, client_state, nonce, pkce_verifier_enc, created_at, expires_at, invitation_id, invitation_token_hash \
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
    organization_id: &str,
    connection_id: &str,
    redirect_uri: &str,
    result: &str,
    membership_id: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sso_codes (code_hash, organization_id, connection_id, redirect_uri, result, created_at, expires_at, membership_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(code_hash)
    .bind(organization_id)
    .bind(connection_id)
    .bind(redirect_uri)
    .bind(result)
    .bind(now)
    .bind(expires_at)
    .bind(membership_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Redeems a code exactly once: returns (redirect_uri, result JSON). With `redirect_uri`, only
/// a code issued for that redirect is redeemed; a code issued for another stays unspent.
pub async fn take_code(
    conn: &mut Conn,
    code_hash: &str,
    redirect_uri: Option<&str>,
    now: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sso_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         AND ($3 IS NULL OR redirect_uri = $3)",
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

/// Whether a code is still redeemable (unused, unexpired); reads only.
pub async fn code_is_live(conn: &mut Conn, code_hash: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sso_codes WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Vendor redirect URIs registered through the API.
pub async fn redirect_uri_allowed(conn: &mut Conn, uri: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM redirect_uris WHERE uri = $1")
        .bind(uri)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn insert_attempt(
    conn: &mut Conn,
    id: &str,
    organization_id: &str,
    connection_id: &str,
    purpose: &str,
    outcome: &str,
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
    .bind(outcome)
    .bind(reason)
    .bind(evidence)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The newest attempt of a connection for a purpose: (outcome, reason, evidence, created_at).
pub async fn last_attempt(
    conn: &mut Conn,
    organization_id: &str,
    connection_id: &str,
    purpose: &str,
) -> Result<Option<(String, Option<String>, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT outcome, reason, evidence, created_at FROM login_attempts WHERE organization_id = $1 AND connection_id = $2 AND purpose = $3 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(organization_id)
    .bind(connection_id)
    .bind(purpose)
    .fetch_optional(conn)
    .await
}

/// A user's membership: (user id, membership id, role, state).
pub async fn identity_membership(
    conn: &mut Conn,
    organization_id: &str,
    connection_id: &str,
    subject: &str,
) -> Result<Option<(String, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, m.id, m.role, m.state FROM user_identities i JOIN users u ON u.id = i.user_id \
         JOIN memberships m ON m.user_id = u.id AND m.organization_id = i.organization_id \
         WHERE i.organization_id = $1 AND i.connection_id = $2 AND i.idp_subject = $3",
    )
    .bind(organization_id)
    .bind(connection_id)
    .bind(subject)
    .fetch_optional(conn)
    .await
}

/// The state of a membership (`active`, `suspended`, …).
pub async fn membership_state(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT state FROM memberships WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .fetch_optional(conn)
        .await
}

/// A member of the organization with this email: (user id, membership id, role, state).
pub async fn member_by_email(
    conn: &mut Conn,
    organization_id: &str,
    email: &str,
) -> Result<Option<(String, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, m.id, m.role, m.state FROM users u JOIN memberships m ON m.user_id = u.id AND m.organization_id = u.organization_id \
         WHERE u.organization_id = $1 AND u.email = $2 ORDER BY u.id LIMIT 1",
    )
    .bind(organization_id)
    .bind(email)
    .fetch_optional(conn)
    .await
}

pub async fn insert_user(
    conn: &mut Conn,
    id: &str,
    organization_id: &str,
    email: &str,
    first: Option<&str>,
    last: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO users (id, organization_id, email, first_name, last_name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
        .bind(id)
        .bind(organization_id)
        .bind(email)
        .bind(first)
        .bind(last)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn insert_identity(
    conn: &mut Conn,
    connection_id: &str,
    subject: &str,
    organization_id: &str,
    user_id: &str,
    email: &str,
    raw: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_identities (connection_id, idp_subject, organization_id, user_id, email, raw_attributes, created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(connection_id)
    .bind(subject)
    .bind(organization_id)
    .bind(user_id)
    .bind(email)
    .bind(raw)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn touch_identity(
    conn: &mut Conn,
    connection_id: &str,
    subject: &str,
    email: &str,
    raw: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE user_identities SET last_login_at = $3, email = $4, raw_attributes = $5 WHERE connection_id = $1 AND idp_subject = $2")
        .bind(connection_id)
        .bind(subject)
        .bind(now)
        .bind(email)
        .bind(raw)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn insert_membership(
    conn: &mut Conn,
    id: &str,
    organization_id: &str,
    user_id: &str,
    role: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO memberships (id, organization_id, user_id, role, state, created_at, updated_at) VALUES ($1, $2, $3, $4, 'active', $5, $5)")
        .bind(id)
        .bind(organization_id)
        .bind(user_id)
        .bind(role)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn set_membership_state(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    state: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        // Any change of state by hand or by invitation cancels a removal the directory scheduled.
        "UPDATE memberships SET state = $3, updated_at = $4, remove_after = NULL WHERE id = $1 AND organization_id = $2",
    )
    .bind(id)
    .bind(organization_id)
    .bind(state)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn insert_grant(
    conn: &mut Conn,
    id: &str,
    membership_id: &str,
    organization_id: &str,
    kind: &str,
    role: &str,
    detail: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO membership_grants (id, membership_id, organization_id, kind, role, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(id)
        .bind(membership_id)
        .bind(organization_id)
        .bind(kind)
        .bind(role)
        .bind(detail)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
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

/// Vendor redirect URIs with their creation time.
pub async fn list_redirect_uris(conn: &mut Conn) -> Result<Vec<(String, i64)>, sqlx::Error> {
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
