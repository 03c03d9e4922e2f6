//! Exports of an organization's audit trail asked for through WorkOS's `POST /audit_logs/exports`.

use super::Conn;

/// What an export was asked for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRow {
    pub id: String,
    pub organization_id: String,
    pub range_start: i64,
    pub range_end: i64,
    /// JSON: `{actions, actor_names, actor_ids, targets}`.
    pub filter: String,
    pub created_at: i64,
}

pub async fn insert(conn: &mut Conn, r: &ExportRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log_exports (id, organization_id, range_start, range_end, filter, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(r.range_start)
    .bind(r.range_end)
    .bind(&r.filter)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An export of a live organization.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<ExportRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, organization_id, range_start, range_end, filter, created_at FROM audit_log_exports \
         WHERE id = $1 AND organization_id IN (SELECT id FROM organizations WHERE deleted_at IS NULL)",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}
