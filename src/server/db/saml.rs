//! Pinned IdP certificates of SAML connections and the assertion replay cache.

use super::Conn;
use crate::domain::ids::{CertificateId, ConnectionId, OrgId};

/// A pinned IdP signing certificate.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CertificateRow {
    pub id: String,
    pub organization_id: String,
    pub connection_id: String,
    pub der_b64: String,
    pub fingerprint: String,
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
    pub warned_days: Option<i64>,
    pub created_at: i64,
    /// Set when the IdP's metadata no longer lists it: it verifies until then, then is removed.
    pub retire_after: Option<i64>,
}

const CERT_COLUMNS: &str = "id, organization_id, connection_id, der_b64, fingerprint, subject, not_before, not_after, warned_days, created_at, retire_after";

/// Pins a certificate; `false` when the connection already has it.
pub async fn insert_certificate(conn: &mut Conn, r: &CertificateRow) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(&format!(
        "INSERT INTO saml_certificates ({CERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (connection_id, fingerprint) DO NOTHING"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.connection_id)
    .bind(&r.der_b64)
    .bind(&r.fingerprint)
    .bind(&r.subject)
    .bind(r.not_before)
    .bind(r.not_after)
    .bind(r.warned_days)
    .bind(r.created_at)
    .bind(r.retire_after)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// The certificates of one connection of one organization, oldest first.
pub async fn list_certificates(
    conn: &mut Conn,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
) -> Result<Vec<CertificateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CERT_COLUMNS} FROM saml_certificates WHERE organization_id = $1 AND connection_id = $2 ORDER BY id"
    ))
    .bind(organization_id)
    .bind(connection_id)
    .fetch_all(conn)
    .await
}

/// The stored (base64 DER) certificates pinned on one connection of one organization: only
/// the column the ACS needs, read on every SAML response so a removal anywhere counts at once.
pub async fn pinned_certificate_texts(
    conn: &mut Conn,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
    // A certificate past its retirement verifies nothing, even before the refresh removes it.
    sqlx::query_scalar(
        "SELECT der_b64 FROM saml_certificates WHERE organization_id = $1 AND connection_id = $2 \
         AND (retire_after IS NULL OR retire_after > $3) ORDER BY id",
    )
    .bind(organization_id)
    .bind(connection_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Starts (a time) or stops (`None`) a pinned certificate's retirement.
pub async fn set_retire_after(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &str,
    at: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE saml_certificates SET retire_after = $3 WHERE organization_id = $1 AND id = $2",
    )
    .bind(organization_id)
    .bind(id)
    .bind(at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The metadata refresh state of a connection.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub connection_id: String,
    pub organization_id: String,
    pub refreshed_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub error: Option<String>,
    pub next_at: i64,
}

pub async fn refresh_state(
    conn: &mut Conn,
    connection_id: &str,
) -> Result<Option<RefreshRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT connection_id, organization_id, refreshed_at, failed_at, error, next_at \
         FROM saml_metadata_refresh WHERE connection_id = $1",
    )
    .bind(connection_id)
    .fetch_optional(conn)
    .await
}

/// Live connections whose refresh is due: SAML ones set up from a metadata URL (`oidc` false)
/// or configured OIDC ones (discovery and JWKS); (organization, id).
pub async fn due_refreshes(
    conn: &mut Conn,
    now: i64,
    limit: i64,
    oidc: bool,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let which = if oidc {
        "c.kind = 'oidc' AND c.oidc_issuer IS NOT NULL"
    } else {
        "c.kind = 'saml' AND c.saml_idp_metadata_url IS NOT NULL"
    };
    sqlx::query_as(&format!(
        "SELECT c.organization_id, c.id FROM connections c \
         LEFT JOIN saml_metadata_refresh r ON r.connection_id = c.id \
         WHERE c.deleted_at IS NULL AND {which} \
         AND (r.next_at IS NULL OR r.next_at <= $1) ORDER BY c.id LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The JWKS key ids an OIDC connection's last refresh saw (JSON array), if any.
pub async fn jwks_keys(
    conn: &mut Conn,
    connection_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT jwks_keys FROM saml_metadata_refresh WHERE connection_id = $1",
    )
    .bind(connection_id)
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// Remembers the JWKS key ids a refresh saw.
pub async fn set_jwks_keys(
    conn: &mut Conn,
    connection_id: &str,
    keys: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE saml_metadata_refresh SET jwks_keys = $2 WHERE connection_id = $1")
        .bind(connection_id)
        .bind(keys)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Leases a connection's refresh until `until` (compare-and-set on `next_at`): `false` when
/// another node holds it or it is not due.
pub async fn lease_refresh(
    conn: &mut Conn,
    organization_id: &str,
    connection_id: &str,
    now: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO saml_metadata_refresh (connection_id, organization_id, next_at) VALUES ($1, $2, $3) \
         ON CONFLICT (connection_id) DO UPDATE SET next_at = excluded.next_at \
         WHERE saml_metadata_refresh.next_at <= $4",
    )
    .bind(connection_id)
    .bind(organization_id)
    .bind(until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records a refresh's outcome: a success (`error` `None`) or a failure, and the next due time.
pub async fn record_refresh(
    conn: &mut Conn,
    organization_id: &str,
    connection_id: &str,
    now: i64,
    error: Option<&str>,
    next_at: i64,
) -> Result<(), sqlx::Error> {
    let sql = if error.is_none() {
        "INSERT INTO saml_metadata_refresh (connection_id, organization_id, refreshed_at, error, next_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (connection_id) DO UPDATE SET refreshed_at = excluded.refreshed_at, \
         error = NULL, failed_at = NULL, next_at = excluded.next_at"
    } else {
        "INSERT INTO saml_metadata_refresh (connection_id, organization_id, failed_at, error, next_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (connection_id) DO UPDATE SET failed_at = excluded.failed_at, \
         error = excluded.error, next_at = excluded.next_at"
    };
    sqlx::query(sql)
        .bind(connection_id)
        .bind(organization_id)
        .bind(now)
        .bind(error)
        .bind(next_at)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn delete_certificate(
    conn: &mut Conn,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
    id: &CertificateId,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "DELETE FROM saml_certificates WHERE organization_id = $1 AND connection_id = $2 AND id = $3",
    )
    .bind(organization_id)
    .bind(connection_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Certificates of live connections that expire before `until` and have not been warned at
/// `days` yet.
pub async fn certificates_to_warn(
    conn: &mut Conn,
    until: i64,
    days: i64,
) -> Result<Vec<CertificateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM saml_certificates s JOIN connections c ON c.id = s.connection_id \
         WHERE c.deleted_at IS NULL AND s.not_after <= $1 AND (s.warned_days IS NULL OR s.warned_days > $2)",
        CERT_COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(until)
    .bind(days)
    .fetch_all(conn)
    .await
}

/// Records that the warning at `days` was sent (conditional: one node wins).
pub async fn mark_warned(conn: &mut Conn, id: &str, days: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE saml_certificates SET warned_days = $2 WHERE id = $1 AND (warned_days IS NULL OR warned_days > $2)",
    )
    .bind(id)
    .bind(days)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Remembers an assertion id; `false` when it was seen before on this connection (a replay).
pub async fn remember_assertion(
    conn: &mut Conn,
    connection_id: &str,
    assertion_id: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM saml_assertions WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let r = sqlx::query(
        "INSERT INTO saml_assertions (connection_id, assertion_id, expires_at, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (connection_id, assertion_id) DO NOTHING",
    )
    .bind(connection_id)
    .bind(assertion_id)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// One of Lanyard's own SP keys of a SAML connection (the private half sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SpKeyRow {
    pub id: String,
    pub organization_id: String,
    pub connection_id: String,
    /// `signing` or `encryption`.
    pub key_use: String,
    /// `next`, `active` or `retired`.
    pub state: String,
    pub private_key_enc: String,
    pub certificate_pem: String,
    pub fingerprint: String,
    pub not_before: i64,
    pub not_after: i64,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

const SP_KEY_COLUMNS: &str = "id, organization_id, connection_id, key_use, state, private_key_enc, certificate_pem, fingerprint, not_before, not_after, created_at, activated_at, retired_at";

pub async fn insert_sp_key(conn: &mut Conn, r: &SpKeyRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO saml_sp_keys ({SP_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.connection_id)
    .bind(&r.key_use)
    .bind(&r.state)
    .bind(&r.private_key_enc)
    .bind(&r.certificate_pem)
    .bind(&r.fingerprint)
    .bind(r.not_before)
    .bind(r.not_after)
    .bind(r.created_at)
    .bind(r.activated_at)
    .bind(r.retired_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The SP keys an EncryptedAssertion for the connection may be encrypted to: every published
/// encryption key, and a retired one while its overlap lasts (retired after `retired_after`).
pub async fn decryption_sp_keys(
    conn: &mut Conn,
    organization_id: &str,
    connection_id: &str,
    retired_after: i64,
) -> Result<Vec<SpKeyRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SP_KEY_COLUMNS} FROM saml_sp_keys WHERE organization_id = $1 AND connection_id = $2 \
         AND key_use = 'encryption' AND (state IN ('next', 'active') OR (state = 'retired' AND retired_at > $3)) \
         ORDER BY id"
    ))
    .bind(organization_id)
    .bind(connection_id)
    .bind(retired_after)
    .fetch_all(conn)
    .await
}

/// Moves one SP key of the connection to `state` (`active` stamps activated_at, `retired`
/// retired_at); answers whether it did.
pub async fn set_sp_key_state(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    state: &str,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE saml_sp_keys SET state = $1, \
         activated_at = CASE WHEN $1 = 'active' THEN $2 ELSE activated_at END, \
         retired_at = CASE WHEN $1 = 'retired' THEN $2 ELSE retired_at END \
         WHERE organization_id = $3 AND id = $4",
    )
    .bind(state)
    .bind(at)
    .bind(organization_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The published (`next` and `active`) SP keys of one connection, oldest first.
pub async fn published_sp_keys(
    conn: &mut Conn,
    organization_id: &str,
    connection_id: &str,
) -> Result<Vec<SpKeyRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SP_KEY_COLUMNS} FROM saml_sp_keys WHERE organization_id = $1 AND connection_id = $2 \
         AND state IN ('next', 'active') ORDER BY id"
    ))
    .bind(organization_id)
    .bind(connection_id)
    .fetch_all(conn)
    .await
}

/// The organization's live connections whose last metadata fetch failed: (name, failed at,
/// error, last success).
pub async fn refresh_failures(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<(String, i64, String, Option<i64>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.name, r.failed_at, r.error, r.refreshed_at FROM saml_metadata_refresh r \
         JOIN connections c ON c.id = r.connection_id \
         WHERE r.organization_id = $1 AND c.deleted_at IS NULL AND r.failed_at IS NOT NULL AND r.error IS NOT NULL \
         ORDER BY c.name",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}
