//! `group_role_mappings` table: the role a directory group gives.

use super::Conn;
use crate::domain::ids::{DirectoryId, OrgId};

/// The role a directory group gives; of several, the highest priority wins.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupRoleMapping {
    pub group_id: String,
    pub role: String,
    pub priority: i64,
}

/// Every mapped group of the directory, highest priority first.
pub async fn mappings(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Vec<GroupRoleMapping>, sqlx::Error> {
    sqlx::query_as("SELECT group_id, role, priority FROM group_role_mappings WHERE directory_id = $1 ORDER BY priority DESC, group_id")
        .bind(directory_id)
        .fetch_all(conn)
        .await
}

/// Replaces the directory's mappings.
pub async fn replace_mappings(
    conn: &mut Conn,
    directory_id: &DirectoryId,
    organization_id: &OrgId,
    rows: &[GroupRoleMapping],
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM group_role_mappings WHERE directory_id = $1")
        .bind(directory_id)
        .execute(&mut *conn)
        .await?;
    for GroupRoleMapping {
        group_id: group,
        role,
        priority,
    } in rows
    {
        sqlx::query("INSERT INTO group_role_mappings (group_id, directory_id, organization_id, role, priority, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
            .bind(group)
            .bind(directory_id)
            .bind(organization_id)
            .bind(role)
            .bind(priority)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
