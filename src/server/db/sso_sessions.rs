//! SSO sessions (one per sign-in through a connection: what the IdP asserted, so that single
//! logout names the same session in either direction) and the logouts waiting for the IdP.

use super::Conn;
use crate::domain::ids::{OrgId, UserId};

/// One sign-in's session at the IdP.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SsoSessionRow {
    pub id: String,
    pub organization_id: String,
    pub connection_id: String,
    pub membership_id: Option<String>,
    pub protocol: String,
    pub subject: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub ended_by: Option<String>,
}

const COLUMNS: &str = "id, organization_id, connection_id, membership_id, protocol, subject, name_id_format, session_index, created_at, expires_at, ended_at, ended_by";

pub async fn insert(conn: &mut Conn, r: &SsoSessionRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO sso_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.connection_id)
    .bind(&r.membership_id)
    .bind(&r.protocol)
    .bind(&r.subject)
    .bind(&r.name_id_format)
    .bind(&r.session_index)
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(r.ended_at)
    .bind(&r.ended_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// A session by id, in any organization (the vendor's API key spans them all).
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<SsoSessionRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM sso_sessions WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The live sessions of one subject on one connection of one organization; with
/// `session_indexes`, only those the IdP named.
pub async fn live_for_subject(
    conn: &mut Conn,
    organization_id: &OrgId,
    connection_id: &str,
    subject: &str,
    now: i64,
) -> Result<Vec<SsoSessionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sso_sessions WHERE organization_id = $1 AND connection_id = $2 \
         AND subject = $3 AND ended_at IS NULL AND expires_at > $4 ORDER BY id"
    ))
    .bind(organization_id)
    .bind(connection_id)
    .bind(subject)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// The newest live session of the organization user `user_id` (through their membership).
pub async fn newest_live_of_user(
    conn: &mut Conn,
    user_id: &UserId,
    now: i64,
) -> Result<Option<SsoSessionRow>, sqlx::Error> {
    let member_join = super::fk_eq(conn, "m.user_id", "u.id");
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sso_sessions WHERE membership_id = \
         (SELECT m.id FROM memberships m JOIN users u ON {member_join} \
          WHERE u.id = $1 AND m.organization_id = u.organization_id) \
         AND ended_at IS NULL AND expires_at > $2 ORDER BY id DESC LIMIT 1"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Ends a live session; `false` when it had already ended.
pub async fn end(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    by: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sso_sessions SET ended_at = $3, ended_by = $4 \
         WHERE organization_id = $1 AND id = $2 AND ended_at IS NULL",
    )
    .bind(organization_id)
    .bind(id)
    .bind(now)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A logout Lanyard started at the IdP.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingLogoutRow {
    pub state_hash: String,
    pub organization_id: String,
    pub connection_id: String,
    pub session_id: String,
    pub request_id: String,
    pub return_to: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert_logout(conn: &mut Conn, r: &PendingLogoutRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sso_logouts (state_hash, organization_id, connection_id, session_id, request_id, return_to, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&r.state_hash)
    .bind(&r.organization_id)
    .bind(&r.connection_id)
    .bind(&r.session_id)
    .bind(&r.request_id)
    .bind(&r.return_to)
    .bind(r.created_at)
    .bind(r.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many logouts of the session `session_id` wait for the IdP's answer.
pub async fn waiting_logouts(
    conn: &mut Conn,
    session_id: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM sso_logouts WHERE session_id = $1 AND expires_at > $2")
        .bind(session_id)
        .bind(now)
        .fetch_one(conn)
        .await
}

/// Takes (deletes and returns) a live pending logout: each answer is used once.
pub async fn take_logout(
    conn: &mut Conn,
    state_hash: &str,
    now: i64,
) -> Result<Option<PendingLogoutRow>, sqlx::Error> {
    let row: Option<PendingLogoutRow> = sqlx::query_as(
        "SELECT state_hash, organization_id, connection_id, session_id, request_id, return_to, created_at, expires_at \
         FROM sso_logouts WHERE state_hash = $1 AND expires_at > $2",
    )
    .bind(state_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_none() {
        return Ok(None);
    }
    let r = sqlx::query("DELETE FROM sso_logouts WHERE state_hash = $1")
        .bind(state_hash)
        .execute(conn)
        .await?;
    Ok(row.filter(|_| r.rows_affected() == 1))
}

/// Removes sessions kept past their time and unanswered logouts.
pub async fn purge(conn: &mut Conn, now: i64) -> Result<u64, sqlx::Error> {
    let a = sqlx::query("DELETE FROM sso_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let b = sqlx::query("DELETE FROM sso_logouts WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(a.rows_affected() + b.rows_affected())
}
