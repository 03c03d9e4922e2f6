//! Roles, memberships with their grant history, invitations with their tokens, and the mail
//! outbox.

use super::directories::lock_suffix;
use super::{Conn, Dialect};
use crate::domain::invitation::InvitationState;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const INVITATION_ACCEPTED: &str = InvitationState::Accepted.as_str();
const INVITATION_PENDING: &str = InvitationState::Pending.as_str();

// --- roles ----------------------------------------------------------------------------------

/// A custom role: (slug, name, permissions JSON, created_at).
pub type RoleRow = (String, String, String, i64);

pub async fn list_roles(conn: &mut Conn) -> Result<Vec<RoleRow>, sqlx::Error> {
    sqlx::query_as("SELECT slug, name, permissions, created_at FROM roles ORDER BY slug")
        .fetch_all(conn)
        .await
}

pub async fn get_role(conn: &mut Conn, slug: &str) -> Result<Option<RoleRow>, sqlx::Error> {
    sqlx::query_as("SELECT slug, name, permissions, created_at FROM roles WHERE slug = $1")
        .bind(slug)
        .fetch_optional(conn)
        .await
}

pub async fn insert_role(
    conn: &mut Conn,
    slug: &str,
    name: &str,
    permissions: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO roles (slug, name, permissions, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(slug)
        .bind(name)
        .bind(permissions)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn delete_role(conn: &mut Conn, slug: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM roles WHERE slug = $1")
        .bind(slug)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// How many memberships, pending invitations, organization defaults and group mappings use a role.
pub async fn role_uses(conn: &mut Conn, slug: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT (SELECT COUNT(*) FROM memberships WHERE role = $1) \
         + (SELECT COUNT(*) FROM invitations WHERE role = $1 AND state = '{INVITATION_PENDING}') \
         + (SELECT COUNT(*) FROM organizations WHERE default_role = $1 AND deleted_at IS NULL) \
         + (SELECT COUNT(*) FROM group_role_mappings WHERE role = $1)"
    ))
    .bind(slug)
    .fetch_one(conn)
    .await
}

// --- memberships ----------------------------------------------------------------------------

/// A membership with its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: String,
    pub state: String,
    pub directory_id: Option<String>,
    pub directory_name: Option<String>,
    pub role_group_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_sign_in_at: Option<i64>,
}

const MEMBER_SELECT: &str = "SELECT m.id, m.organization_id, m.user_id, u.email, u.first_name, u.last_name, m.role, m.state, \
     m.directory_id, d.name AS directory_name, m.role_group_id, m.created_at, m.updated_at, m.last_sign_in_at \
     FROM memberships m JOIN users u ON u.id = m.user_id \
     LEFT JOIN directories d ON d.id = m.directory_id AND d.deleted_at IS NULL";

/// Filters of the member list.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// Part of the email or name, case-insensitive.
    pub search: Option<String>,
    pub state: Option<String>,
    pub role: Option<String>,
    /// Only members whose id sorts after this one.
    pub after: Option<String>,
}

pub async fn list_members(
    conn: &mut Conn,
    organization_id: &str,
    f: &MemberFilter,
    limit: i64,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    let like = f.search.as_deref().map(|s| {
        let escaped = s
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.organization_id = $1 \
         AND ($2 IS NULL OR LOWER(u.email) LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(u.first_name, '') || ' ' || COALESCE(u.last_name, '')) LIKE $2 ESCAPE '\\') \
         AND ($3 IS NULL OR m.state = $3) AND ($4 IS NULL OR m.role = $4) AND ($5 IS NULL OR m.id > $5) \
         ORDER BY m.id LIMIT $6"
    ))
    .bind(organization_id)
    .bind(like)
    .bind(f.state.as_deref())
    .bind(f.role.as_deref())
    .bind(f.after.as_deref())
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One membership; with `lock`, the row stays locked until the transaction ends.
pub async fn get_member(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    lock: Option<Dialect>,
) -> Result<Option<MemberRow>, sqlx::Error> {
    if let Some(d) = lock {
        // Lock the membership row alone (FOR UPDATE cannot apply to the nullable side of a join).
        sqlx::query(&format!(
            "SELECT id FROM memberships WHERE id = $1 AND organization_id = $2{}",
            lock_suffix(d)
        ))
        .bind(id)
        .bind(organization_id)
        .fetch_optional(&mut *conn)
        .await?;
    }
    sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.id = $1 AND m.organization_id = $2"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

/// The organization of a membership.
pub async fn membership_owner(conn: &mut Conn, id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT organization_id FROM memberships WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn set_role(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    role: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE memberships SET role = $3, role_group_id = NULL, updated_at = $4 WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .bind(role)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn touch_sign_in(conn: &mut Conn, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE memberships SET last_sign_in_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// One entry of a membership's history: (kind, role, detail JSON, created_at).
pub type GrantRow = (String, String, String, i64);

pub async fn grants(
    conn: &mut Conn,
    organization_id: &str,
    membership_id: &str,
) -> Result<Vec<GrantRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, role, detail, created_at FROM membership_grants WHERE membership_id = $1 AND organization_id = $2 ORDER BY created_at, id",
    )
    .bind(membership_id)
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// The grants of several memberships: (membership id, kind, role, detail, created_at), oldest first.
pub async fn grants_of(
    conn: &mut Conn,
    organization_id: &str,
    membership_ids: &[String],
) -> Result<Vec<(String, String, String, String, i64)>, sqlx::Error> {
    if membership_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..membership_ids.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let sql = format!(
        "SELECT membership_id, kind, role, detail, created_at FROM membership_grants WHERE organization_id = $1 AND membership_id IN ({}) ORDER BY created_at, id",
        placeholders.join(", ")
    );
    let mut q = sqlx::query_as(&sql).bind(organization_id);
    for id in membership_ids {
        q = q.bind(id);
    }
    q.fetch_all(conn).await
}

// --- invitations ----------------------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    pub state: String,
    pub inviter_kind: String,
    pub inviter_id: String,
    pub inviter_name: String,
    pub redirect_uri: Option<String>,
    pub expires_at: i64,
    /// The lifetime asked for at creation (a resend restarts it).
    pub lifetime_ms: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub membership_id: Option<String>,
}

const INV_COLUMNS: &str = "id, organization_id, email, role, state, inviter_kind, inviter_id, inviter_name, redirect_uri, expires_at, lifetime_ms, created_at, updated_at, accepted_at, revoked_at, membership_id";

pub async fn insert_invitation(conn: &mut Conn, r: &InvitationRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO invitations ({INV_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, NULL)"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.email)
    .bind(&r.role)
    .bind(&r.state)
    .bind(&r.inviter_kind)
    .bind(&r.inviter_id)
    .bind(&r.inviter_name)
    .bind(&r.redirect_uri)
    .bind(r.expires_at)
    .bind(r.lifetime_ms)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn get_invitation(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INV_COLUMNS} FROM invitations WHERE id = $1 AND organization_id = $2"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

pub async fn invitation_owner(conn: &mut Conn, id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT organization_id FROM invitations WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn list_invitations(
    conn: &mut Conn,
    organization_id: &str,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INV_COLUMNS} FROM invitations WHERE organization_id = $1 AND ($2 IS NULL OR state = $2) ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(organization_id)
    .bind(state)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The invitation a token opens and when the token was replaced by a resend.
pub async fn invitation_by_token(
    conn: &mut Conn,
    token_hash: &str,
) -> Result<Option<(InvitationRow, Option<i64>)>, sqlx::Error> {
    let Some((id, replaced_at)): Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT invitation_id, replaced_at FROM invitation_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let row: Option<InvitationRow> = sqlx::query_as(&format!(
        "SELECT {INV_COLUMNS} FROM invitations WHERE id = $1"
    ))
    .bind(&id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r, replaced_at)))
}

pub async fn insert_token(
    conn: &mut Conn,
    token_hash: &str,
    invitation_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO invitation_tokens (token_hash, invitation_id, created_at, replaced_at) VALUES ($1, $2, $3, NULL)",
    )
    .bind(token_hash)
    .bind(invitation_id)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Voids every live token of an invitation.
pub async fn replace_tokens(
    conn: &mut Conn,
    invitation_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invitation_tokens SET replaced_at = $2 WHERE invitation_id = $1 AND replaced_at IS NULL")
        .bind(invitation_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Moves a pending invitation to `to` (a conditional update: of two racing callers exactly one
/// gets true).
pub async fn finish_invitation(
    conn: &mut Conn,
    id: &str,
    to: &str,
    membership_id: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        &format!("UPDATE invitations SET state = $2, membership_id = COALESCE($3, membership_id), updated_at = $4, \
         accepted_at = CASE WHEN $2 = '{INVITATION_ACCEPTED}' THEN $4 ELSE accepted_at END, \
         revoked_at = CASE WHEN $2 = 'revoked' THEN $4 ELSE revoked_at END \
         WHERE id = $1 AND state = '{INVITATION_PENDING}'"),
    )
    .bind(id)
    .bind(to)
    .bind(membership_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn extend_invitation(
    conn: &mut Conn,
    id: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        &format!("UPDATE invitations SET expires_at = $2, updated_at = $3 WHERE id = $1 AND state = '{INVITATION_PENDING}'"),
    )
    .bind(id)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Pending invitations past their expiry (optionally of one address of one organization).
pub async fn due_expiries(
    conn: &mut Conn,
    now: i64,
    only: Option<(&str, &str)>,
) -> Result<Vec<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INV_COLUMNS} FROM invitations WHERE state = '{INVITATION_PENDING}' AND expires_at <= $1 \
         AND ($2 IS NULL OR organization_id = $2) AND ($3 IS NULL OR email = $3) ORDER BY id LIMIT 500"
    ))
    .bind(now)
    .bind(only.map(|o| o.0))
    .bind(only.map(|o| o.1))
    .fetch_all(conn)
    .await
}

// --- mail outbox ----------------------------------------------------------------------------

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
/// (PostgreSQL only).
pub async fn lock_invitation_mail(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('lanyard.invitation_mail:' || $1)::bigint)")
        .bind(organization_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// How many invitation mails an organization queued after `since`, and the oldest one's time.
pub async fn invitation_mails_since(
    conn: &mut Conn,
    organization_id: &str,
    since: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM mail_outbox \
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
) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM mail_outbox \
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

/// Claims a pending, unexpired invitation for acceptance (of two racing acceptances exactly one
/// gets true). With `token_hash`, the token must also still be the invitation's live one.
pub async fn claim_acceptance(
    conn: &mut Conn,
    id: &str,
    token_hash: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        &format!("UPDATE invitations SET state = '{INVITATION_ACCEPTED}', accepted_at = $2, updated_at = $2 \
         WHERE id = $1 AND state = '{INVITATION_PENDING}' AND expires_at > $2 \
         AND ($3 IS NULL OR EXISTS (SELECT 1 FROM invitation_tokens t WHERE t.token_hash = $3 AND t.invitation_id = $1 AND t.replaced_at IS NULL))"),
    )
    .bind(id)
    .bind(now)
    .bind(token_hash)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn set_invitation_membership(
    conn: &mut Conn,
    id: &str,
    membership_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invitations SET membership_id = $2 WHERE id = $1")
        .bind(id)
        .bind(membership_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// An organization user with this email (with or without a membership).
pub async fn user_by_email(
    conn: &mut Conn,
    organization_id: &str,
    email: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE organization_id = $1 AND email = $2")
        .bind(organization_id)
        .bind(email)
        .fetch_optional(conn)
        .await
}

/// Spends one live token of an invitation (true once; a resend racing it makes it false).
pub async fn spend_token(
    conn: &mut Conn,
    invitation_id: &str,
    token_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE invitation_tokens SET replaced_at = $3 WHERE token_hash = $2 AND invitation_id = $1 AND replaced_at IS NULL",
    )
    .bind(invitation_id)
    .bind(token_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Pending invitations of one address in one organization.
pub async fn pending_for(
    conn: &mut Conn,
    organization_id: &str,
    email: &str,
) -> Result<Vec<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INV_COLUMNS} FROM invitations WHERE organization_id = $1 AND email = $2 AND state = '{INVITATION_PENDING}'"
    ))
    .bind(organization_id)
    .bind(email)
    .fetch_all(conn)
    .await
}

/// The organization user an IdP identity is linked to.
pub async fn identity_user(
    conn: &mut Conn,
    connection_id: &str,
    subject: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM user_identities WHERE connection_id = $1 AND idp_subject = $2",
    )
    .bind(connection_id)
    .bind(subject)
    .fetch_optional(conn)
    .await
}
