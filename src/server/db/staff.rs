//! `staff` and `staff_setup_tokens` tables (support console accounts; tokens as SHA-256 hashes).

use super::Conn;
use crate::domain::staff::StaffState;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const STAFF_ACTIVE: &str = StaffState::Active.as_str();
const STAFF_PENDING: &str = StaffState::Pending.as_str();

/// One staff account. The password only as an Argon2id PHC string, the TOTP secret sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffRow {
    pub id: String,
    pub email: String,
    /// `viewer` or `admin`.
    pub role: String,
    /// `pending`, `active` or `disabled`.
    pub state: String,
    pub password_hash: Option<String>,
    pub totp_secret_enc: String,
    pub totp_last_step: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_sign_in_at: Option<i64>,
}

/// One setup token of a staff account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffTokenRow {
    pub token_hash: String,
    pub staff_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, email, role, state, password_hash, totp_secret_enc, totp_last_step, created_at, updated_at, last_sign_in_at";

/// Inserts an account (fails with a unique violation when the email is taken).
pub async fn insert(conn: &mut Conn, row: &StaffRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO staff ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&row.id)
    .bind(&row.email)
    .bind(&row.role)
    .bind(&row.state)
    .bind(&row.password_hash)
    .bind(&row.totp_secret_enc)
    .bind(row.totp_last_step)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(row.last_sign_in_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// An account by id.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<StaffRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM staff WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// An account by its (lower-cased) email.
pub async fn find_by_email(conn: &mut Conn, email: &str) -> Result<Option<StaffRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM staff WHERE email = $1"))
        .bind(email)
        .fetch_optional(conn)
        .await
}

/// Every account, oldest first.
pub async fn list(conn: &mut Conn) -> Result<Vec<StaffRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM staff ORDER BY id"))
        .fetch_all(conn)
        .await
}

/// Puts an account back to pending with a new TOTP secret and no password.
pub async fn reset(
    conn: &mut Conn,
    id: &str,
    totp_secret_enc: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE staff SET state = '{STAFF_PENDING}', password_hash = NULL, totp_secret_enc = $2, \
         totp_last_step = NULL, updated_at = $3 WHERE id = $1"
    ))
    .bind(id)
    .bind(totp_secret_enc)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Sets the state of an account.
pub async fn set_state(
    conn: &mut Conn,
    id: &str,
    state: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE staff SET state = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Activates a pending account with its password and the TOTP step that proved enrolment.
/// `false` when the account is no longer pending.
pub async fn activate(
    conn: &mut Conn,
    id: &str,
    password_hash: &str,
    totp_step: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        &format!("UPDATE staff SET state = '{STAFF_ACTIVE}', password_hash = $2, totp_last_step = $3, updated_at = $4, \
         last_sign_in_at = $4 WHERE id = $1 AND state = '{STAFF_PENDING}'"),
    )
    .bind(id)
    .bind(password_hash)
    .bind(totp_step)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records a sign-in with the TOTP step it used, if, and only if, the account is active and that
/// step is later than the last one accepted: of two concurrent sign-ins with the same code,
/// exactly one gets `true`.
pub async fn accept_step(
    conn: &mut Conn,
    id: &str,
    step: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        &format!("UPDATE staff SET totp_last_step = $2, last_sign_in_at = $3 \
         WHERE id = $1 AND state = '{STAFF_ACTIVE}' AND (totp_last_step IS NULL OR totp_last_step < $2)"),
    )
    .bind(id)
    .bind(step)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Inserts a setup token.
pub async fn insert_token(conn: &mut Conn, row: &StaffTokenRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO staff_setup_tokens (token_hash, staff_id, created_at, expires_at, used_at, revoked_at) \
         VALUES ($1, $2, $3, $4, NULL, NULL)",
    )
    .bind(&row.token_hash)
    .bind(&row.staff_id)
    .bind(row.created_at)
    .bind(row.expires_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A setup token by hash.
pub async fn find_token(conn: &mut Conn, hash: &str) -> Result<Option<StaffTokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT token_hash, staff_id, created_at, expires_at, used_at, revoked_at \
         FROM staff_setup_tokens WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(conn)
    .await
}

/// Marks a token used if, and only if, it is still unused, unrevoked and unexpired. Exactly one
/// of several concurrent callers gets `true`.
pub async fn use_token(conn: &mut Conn, hash: &str, now: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE staff_setup_tokens SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Revokes every unused token of an account; returns how many.
pub async fn revoke_tokens(conn: &mut Conn, staff_id: &str, now: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE staff_setup_tokens SET revoked_at = $2 \
         WHERE staff_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(staff_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}
