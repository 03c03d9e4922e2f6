//! `invitations` and `invitation_tokens` tables.

use super::Conn;
use crate::domain::ids::{InvitationId, OrgId};
use crate::domain::invitation::InvitationState;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const INVITATION_ACCEPTED: &str = InvitationState::Accepted.as_str();
const INVITATION_PENDING: &str = InvitationState::Pending.as_str();

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
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

impl InvitationRow {
    /// The inviting organization, as the typed id it was stored as.
    pub fn org_id(&self) -> OrgId {
        OrgId::from_stored(self.organization_id.as_str())
    }
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
    organization_id: &OrgId,
    id: &InvitationId,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INV_COLUMNS} FROM invitations WHERE id = $1 AND organization_id = $2"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

pub async fn invitation_owner(
    conn: &mut Conn,
    id: &InvitationId,
) -> Result<Option<OrgId>, sqlx::Error> {
    sqlx::query_scalar("SELECT organization_id FROM invitations WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// An invitation by id alone.
pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INV_COLUMNS} FROM invitations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Filters of the WorkOS-compatible invitation list.
#[derive(Debug, Clone, Default)]
pub struct LiveFilter {
    pub organization_id: Option<String>,
    pub email: Option<String>,
}

/// One page of the invitations of live organizations, by id.
pub async fn page_live(
    conn: &mut Conn,
    keyset: &super::Keyset,
    f: &LiveFilter,
) -> Result<Vec<InvitationRow>, sqlx::Error> {
    let mut q = super::Filtered::new(format!(
        "SELECT {INV_COLUMNS} FROM invitations \
         WHERE organization_id IN (SELECT id FROM organizations WHERE deleted_at IS NULL)"
    ));
    if let Some(o) = &f.organization_id {
        q.and("organization_id = {}", o);
    }
    if let Some(e) = &f.email {
        q.and("LOWER(email) = {}", &e.to_lowercase());
    }
    q.fetch_page(conn, keyset).await
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

/// The invitation a token opens.
#[derive(Debug, Clone)]
pub struct TokenInvitation {
    pub invitation: InvitationRow,
    /// When the token was replaced by a resend (None: it is the live one).
    pub replaced_at: Option<i64>,
}

/// The invitation a token opens and when the token was replaced by a resend.
pub async fn invitation_by_token(
    conn: &mut Conn,
    token_hash: &str,
) -> Result<Option<TokenInvitation>, sqlx::Error> {
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
    Ok(row.map(|invitation| TokenInvitation {
        invitation,
        replaced_at,
    }))
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
