//! `setup_links` table.

use super::Conn;

/// One stored setup link (the token only as a hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SetupLinkRow {
    pub id: String,
    pub organization_id: String,
    pub token_hash: String,
    pub intents: String,
    pub return_url: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Who the vendor sent the link to (shown as the inviter of the admin's invitations).
    pub admin_email: Option<String>,
}

const COLUMNS: &str = "id, organization_id, token_hash, intents, return_url, created_by, created_at, expires_at, redeemed_at, revoked_at, admin_email";

/// Inserts a link.
pub async fn insert(conn: &mut Conn, row: &SetupLinkRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO setup_links ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9)"
    ))
    .bind(&row.id)
    .bind(&row.organization_id)
    .bind(&row.token_hash)
    .bind(&row.intents)
    .bind(&row.return_url)
    .bind(&row.created_by)
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(&row.admin_email)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Finds a link by token hash.
pub async fn find_by_hash(
    conn: &mut Conn,
    hash: &str,
) -> Result<Option<SetupLinkRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM setup_links WHERE token_hash = $1"
    ))
    .bind(hash)
    .fetch_optional(conn)
    .await
}

/// Marks a link used if, and only if, it is still unused, unrevoked and unexpired. Exactly one of
/// several concurrent callers gets `true`.
pub async fn redeem(conn: &mut Conn, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE setup_links SET redeemed_at = $2 \
         WHERE id = $1 AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Counts links of an organization that can still be redeemed.
pub async fn count_outstanding(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM setup_links WHERE organization_id = $1 AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(organization_id)
    .bind(now)
    .fetch_one(conn)
    .await
}
