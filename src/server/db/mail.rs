//! `mail_outbox` table.

use super::{locks_rows, Conn};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailRow {
    pub id: String,
    pub organization_id: Option<String>,
    pub invitation_id: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub body_enc: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub sent_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

const MAIL_COLUMNS: &str = "id, organization_id, invitation_id, recipient, subject, body_enc, attempts, next_attempt_at, sent_at, failed_at, last_error, created_at";

pub async fn insert_mail(conn: &mut Conn, r: &MailRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO mail_outbox ({MAIL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, NULL, NULL, NULL, $8)"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.invitation_id)
    .bind(&r.recipient)
    .bind(&r.subject)
    .bind(&r.body_enc)
    .bind(r.next_attempt_at)
    .bind(r.created_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Mail due for a (first or next) attempt.
pub async fn due_mail(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<MailRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Takes a lease on one message (several nodes: exactly one wins each attempt).
pub async fn claim_mail(
    conn: &mut Conn,
    id: &str,
    seen_next_attempt_at: i64,
    lease_until: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE mail_outbox SET next_attempt_at = $3 WHERE id = $1 AND next_attempt_at = $2 AND sent_at IS NULL AND failed_at IS NULL",
    )
    .bind(id)
    .bind(seen_next_attempt_at)
    .bind(lease_until)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn mail_sent(conn: &mut Conn, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE mail_outbox SET sent_at = $2, attempts = attempts + 1, body_enc = '', last_error = NULL WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Records a failed attempt: retried at `next`, or given up when `next` is None.
pub async fn mail_failed(
    conn: &mut Conn,
    id: &str,
    error: &str,
    next: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, \
         next_attempt_at = COALESCE($3, next_attempt_at), failed_at = CASE WHEN $3 IS NULL THEN $4 ELSE NULL END, \
         body_enc = CASE WHEN $3 IS NULL THEN '' ELSE body_enc END WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(next)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Stops sending an invitation's unsent mail (its link was replaced or revoked).
pub async fn cancel_invitation_mail(
    conn: &mut Conn,
    invitation_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE mail_outbox SET failed_at = $2, body_enc = '', last_error = 'cancelled: the invitation link was replaced or revoked' WHERE invitation_id = $1 AND sent_at IS NULL AND failed_at IS NULL")
        .bind(invitation_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Takes the transaction-scoped advisory lock for an organization's invitation mail decisions
/// (PostgreSQL only: SQLite has one writer, so nothing is done there).
pub async fn lock_invitation_mail(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<(), sqlx::Error> {
    if !locks_rows(conn) {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('lanyard.invitation_mail:' || $1)::bigint)")
        .bind(organization_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// How many mails were queued in a window, and when the oldest of them was.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailCount {
    pub sent: i64,
    pub oldest_at: Option<i64>,
}

/// How many invitation mails an organization queued after `since`, and the oldest one's time.
pub async fn invitation_mails_since(
    conn: &mut Conn,
    organization_id: &str,
    since: i64,
) -> Result<MailCount, sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*) AS sent, MIN(created_at) AS oldest_at FROM mail_outbox \
         WHERE organization_id = $1 AND invitation_id IS NOT NULL AND created_at > $2",
    )
    .bind(organization_id)
    .bind(since)
    .fetch_one(conn)
    .await
}

/// How many invitation mails an organization queued to `recipient` after `since`, and the
/// oldest one's time.
pub async fn invitation_mails_to_since(
    conn: &mut Conn,
    organization_id: &str,
    recipient: &str,
    since: i64,
) -> Result<MailCount, sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*) AS sent, MIN(created_at) AS oldest_at FROM mail_outbox \
         WHERE organization_id = $1 AND recipient = $2 AND invitation_id IS NOT NULL AND created_at > $3",
    )
    .bind(organization_id)
    .bind(recipient)
    .bind(since)
    .fetch_one(conn)
    .await
}

/// When the invitation's newest mail was queued.
pub async fn last_invitation_mail_at(
    conn: &mut Conn,
    invitation_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MAX(created_at) FROM mail_outbox WHERE invitation_id = $1")
        .bind(invitation_id)
        .fetch_one(conn)
        .await
}

/// The newest mail of each of these invitations.
pub async fn latest_mail(
    conn: &mut Conn,
    invitation_id: &str,
) -> Result<Option<MailRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE invitation_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(invitation_id)
    .fetch_optional(conn)
    .await
}
