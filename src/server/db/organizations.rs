//! `organizations` table.

use super::Conn;

/// One stored organization.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
    pub metadata: String,
    pub default_role: String,
    pub audit_retention_days: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, name, external_id, metadata, default_role, audit_retention_days, created_at, updated_at";

/// Inserts an organization.
pub async fn insert(conn: &mut Conn, row: &OrganizationRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO organizations (id, name, external_id, metadata, created_at, updated_at, default_role, audit_retention_days) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(&row.name)
    .bind(&row.external_id)
    .bind(&row.metadata)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(&row.default_role)
    .bind(row.audit_retention_days)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The live organization with this `external_id`.
pub async fn by_external_id(
    conn: &mut Conn,
    external_id: &str,
) -> Result<Option<OrganizationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organizations WHERE external_id = $1 AND deleted_at IS NULL"
    ))
    .bind(external_id)
    .fetch_optional(conn)
    .await
}

/// A page of live organizations: those holding any of `domains` (in any state) when given, whose
/// name contains `search` (case-insensitive) when given.
pub async fn page(
    conn: &mut Conn,
    keyset: &super::Keyset,
    domains: &[String],
    search: Option<&str>,
) -> Result<Vec<OrganizationRow>, sqlx::Error> {
    let mut q = super::Filtered::new(format!(
        "SELECT {COLUMNS} FROM organizations WHERE deleted_at IS NULL"
    ));
    if !domains.is_empty() {
        let list: Vec<String> = domains.iter().map(|d| q.param(d.as_str())).collect();
        q.raw(&format!(
            "id IN (SELECT organization_id FROM domains WHERE deleted_at IS NULL AND domain IN ({}))",
            list.join(", ")
        ));
    }
    if let Some(s) = search {
        q.contains("name", s);
    }
    q.fetch_page(conn, keyset).await
}

/// Reads a live (not deleted) organization.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<OrganizationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organizations WHERE id = $1 AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// What the portal's overview reads of an organization, in one statement: its name while it is
/// live, its live domain claims by state, its live connections by state and its live
/// directories' ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupCounts {
    /// (state, claims in it)
    pub domains: Vec<(String, i64)>,
    /// (state, connections in it)
    pub connections: Vec<(String, i64)>,
    /// Oldest first. Private: only [`setup_counts`] fills it, so whatever reads a directory's
    /// counts through [`SetupCounts::directory_ids`] reads the organization's own.
    directory_ids: Vec<String>,
    /// (id, name); `None` when the organization is deleted (or never was): the overview then
    /// ends the session instead of showing anything. Private for the same reason as the ids.
    organization: Option<(String, String)>,
}

impl SetupCounts {
    /// The organization's live directories, as [`setup_counts`] read them.
    pub fn directory_ids(&self) -> &[String] {
        &self.directory_ids
    }

    /// The organization's id when the statement found it live, `None` when it is deleted.
    pub fn live_organization(&self) -> Option<&str> {
        self.organization.as_ref().map(|(id, _)| id.as_str())
    }

    /// The organization's name, `None` when it is deleted.
    pub fn live_name(&self) -> Option<&str> {
        self.organization.as_ref().map(|(_, name)| name.as_str())
    }
}

/// Reads [`SetupCounts`] for an organization (one statement: the overview used to take four,
/// each on a connection of its own: the organization, its domains, connections and directories).
pub async fn setup_counts(conn: &mut Conn, id: &str) -> Result<SetupCounts, sqlx::Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT 'domain', state, count(*) FROM domains \
           WHERE organization_id = $1 AND deleted_at IS NULL GROUP BY state \
         UNION ALL SELECT 'connection', state, count(*) FROM connections \
           WHERE organization_id = $1 AND deleted_at IS NULL GROUP BY state \
         UNION ALL SELECT 'directory', id, count(*) FROM directories \
           WHERE organization_id = $1 AND deleted_at IS NULL GROUP BY id \
         UNION ALL SELECT 'organization', name, 0 FROM organizations \
           WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    let mut out = SetupCounts::default();
    for (kind, key, n) in rows {
        match kind.as_str() {
            "domain" => out.domains.push((key, n)),
            "connection" => out.connections.push((key, n)),
            "directory" => out.directory_ids.push(key),
            "organization" => {
                // One row at most (the key): a second would mean the statement read beyond
                // the organization asked about.
                if out.organization.is_some() {
                    return Err(sqlx::Error::Protocol(
                        "setup_counts read more than one organization".into(),
                    ));
                }
                out.organization = Some((id.to_owned(), key));
            }
            _ => {}
        }
    }
    out.directory_ids.sort();
    Ok(out)
}

/// Lists live organizations after the cursor id, oldest first.
pub async fn list(
    conn: &mut Conn,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<OrganizationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organizations WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Writes name, external id and metadata of a live organization.
pub async fn update(conn: &mut Conn, row: &OrganizationRow) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE organizations SET name = $2, external_id = $3, metadata = $4, updated_at = $5, default_role = $6, audit_retention_days = $7 \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(&row.id)
    .bind(&row.name)
    .bind(&row.external_id)
    .bind(&row.metadata)
    .bind(row.updated_at)
    .bind(&row.default_role)
    .bind(row.audit_retention_days)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Marks an organization deleted (rows stay for the audit trail) and frees its external id.
pub async fn soft_delete(conn: &mut Conn, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE organizations SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes the browser sessions holding a portal grant of the organization (the session store
/// fills `sessions.organization_id`); returns how many.
pub async fn delete_sessions(conn: &mut Conn, id: &str) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE organization_id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

/// How long an organization keeps its audit events.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Retention {
    pub id: String,
    pub audit_retention_days: i64,
}

/// The audit retention of every live organization.
pub async fn retentions(conn: &mut Conn) -> Result<Vec<Retention>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, audit_retention_days FROM organizations WHERE deleted_at IS NULL ORDER BY id",
    )
    .fetch_all(conn)
    .await
}

/// Locks the organization's row until the transaction ends (PostgreSQL only: SQLite has one
/// writer, so nothing is done there), to serialise decisions that count across its memberships
/// or rewrite its policy. `FOR NO KEY UPDATE`: these decisions run inside SCIM writes, which
/// hold a key-share lock on the row (`directories::live_for_write`); two of them upgrading to
/// `FOR UPDATE` would deadlock.
pub async fn lock(conn: &mut Conn, id: &str) -> Result<(), sqlx::Error> {
    if !super::locks_rows(conn) {
        return Ok(());
    }
    sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map(|_| ())
}

/// Locks the organization's row against every write in flight under it (PostgreSQL only):
/// `FOR UPDATE` waits for the key-share locks SCIM writes hold to their commit, and writes that
/// begin later find the organization deleted. Taken by the deletion, first.
pub async fn lock_against_writes(conn: &mut Conn, id: &str) -> Result<(), sqlx::Error> {
    if !super::locks_rows(conn) {
        return Ok(());
    }
    sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map(|_| ())
}
