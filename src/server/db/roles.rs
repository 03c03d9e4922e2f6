//! `roles` table (custom roles).

use super::Conn;
use crate::domain::invitation::InvitationState;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const INVITATION_PENDING: &str = InvitationState::Pending.as_str();

/// A custom role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleRow {
    pub slug: String,
    pub name: String,
    /// JSON.
    pub permissions: String,
    pub created_at: i64,
}

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
