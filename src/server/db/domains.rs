//! `domains` table. Every query that reads or changes one organization's claims takes its id.

use super::Conn;
use crate::domain::domain_state::DomainState;
use crate::domain::ids::{DomainId, OrgId};
use crate::domain::membership::GrantKind;
use crate::domain::membership::MembershipState;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const DOMAIN_VERIFIED: &str = DomainState::Verified.as_str();
const GRANT_JIT: &str = GrantKind::Jit.as_str();
const GRANT_JIT_LINK: &str = GrantKind::JitLink.as_str();
const MEMBER_REMOVED: &str = MembershipState::Removed.as_str();

/// One stored claim.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct DomainRow {
    pub id: String,
    pub organization_id: String,
    pub domain: String,
    pub state: String,
    #[sqlx(try_from = "super::Flag")]
    pub include_subdomains: bool,
    pub record_name: String,
    pub record_value: String,
    pub verified_by: Option<String>,
    pub verified_at: Option<i64>,
    pub last_proved_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    pub last_result: Option<String>,
    pub missing_since: Option<i64>,
    pub check_failures: i64,
    pub next_check_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, organization_id, domain, state, include_subdomains, record_name, record_value, verified_by, verified_at, last_proved_at, last_checked_at, last_result, missing_since, check_failures, next_check_at, created_at, updated_at";

/// Inserts a claim.
pub async fn insert(conn: &mut Conn, r: &DomainRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO domains ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.domain)
    .bind(&r.state)
    .bind(i64::from(r.include_subdomains))
    .bind(&r.record_name)
    .bind(&r.record_value)
    .bind(&r.verified_by)
    .bind(r.verified_at)
    .bind(r.last_proved_at)
    .bind(r.last_checked_at)
    .bind(&r.last_result)
    .bind(r.missing_since)
    .bind(r.check_failures)
    .bind(r.next_check_at)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Writes the mutable columns of a claim of `organization_id`.
pub async fn update(
    conn: &mut Conn,
    organization_id: &str,
    r: &DomainRow,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE domains SET state = $3, verified_by = $4, verified_at = $5, last_proved_at = $6, last_checked_at = $7, \
         last_result = $8, missing_since = $9, check_failures = $10, next_check_at = $11, updated_at = $12 \
         WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL",
    )
    .bind(&r.id)
    .bind(organization_id)
    .bind(&r.state)
    .bind(&r.verified_by)
    .bind(r.verified_at)
    .bind(r.last_proved_at)
    .bind(r.last_checked_at)
    .bind(&r.last_result)
    .bind(r.missing_since)
    .bind(r.check_failures)
    .bind(r.next_check_at)
    .bind(r.updated_at)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Makes a live claim of `organization_id` that is not verified yet verified by the vendor;
/// `false` when it was verified meanwhile (a concurrent request did it) or is gone. On
/// PostgreSQL a concurrent update of the row waits, then sees the claim verified.
pub async fn vendor_verify(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE domains SET state = 'verified', verified_by = 'vendor', verified_at = $3, missing_since = NULL, \
         check_failures = 0, next_check_at = NULL, updated_at = $3 \
         WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL AND state <> 'verified'",
    )
    .bind(id)
    .bind(organization_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// A live claim of `organization_id`.
pub async fn get(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &DomainId,
) -> Result<Option<DomainRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM domains WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

/// The organization that owns a live claim id (for vendor-wide API keys, which address claims by
/// id alone).
pub async fn owner_of(conn: &mut Conn, id: &DomainId) -> Result<Option<OrgId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT d.organization_id FROM domains d JOIN organizations o ON o.id = d.organization_id \
         WHERE d.id = $1 AND d.deleted_at IS NULL AND o.deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Live claims of an organization, oldest first.
pub async fn list(conn: &mut Conn, organization_id: &str) -> Result<Vec<DomainRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM domains WHERE organization_id = $1 AND deleted_at IS NULL ORDER BY id"
    ))
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// Live claims of several organizations, oldest first.
pub async fn of_organizations(
    conn: &mut Conn,
    organization_ids: &[&str],
) -> Result<Vec<DomainRow>, sqlx::Error> {
    if organization_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = super::placeholders(1, organization_ids.len());
    let sql = format!(
        "SELECT {COLUMNS} FROM domains WHERE organization_id IN ({list}) AND deleted_at IS NULL ORDER BY id"
    );
    let mut q = sqlx::query_as(&sql);
    for id in organization_ids {
        q = q.bind(*id);
    }
    q.fetch_all(conn).await
}

/// Organizations holding `domain` verified: exactly, or through one of `parents` (nearest first)
/// verified with subdomains included. Nearest first. One statement.
pub async fn verified_holders(
    conn: &mut Conn,
    domain: &str,
    parents: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let sql = format!(
        "SELECT organization_id FROM domains WHERE {} ORDER BY length(domain) DESC, organization_id",
        holders_condition("domains", 1, parents.len())
    );
    let mut q = sqlx::query_scalar(&sql).bind(domain);
    for p in parents {
        q = q.bind(p);
    }
    q.fetch_all(conn).await
}

/// The condition on `table` (the `domains` table or an alias of it) that a row holds a domain
/// verified for an address in `$first`'s domain: that domain exactly, or one of its `parents`
/// (bound right after it) that includes subdomains. Order by `length(domain) DESC` for the
/// nearest first.
pub(crate) fn holders_condition(table: &str, first: usize, parents: usize) -> String {
    let mut sql = format!(
        "{table}.state = '{DOMAIN_VERIFIED}' AND {table}.deleted_at IS NULL AND ({table}.domain = ${first}"
    );
    if parents > 0 {
        // A parent counts only when its owner opted in to cover subdomains.
        sql.push_str(&format!(
            " OR ({table}.include_subdomains = 1 AND {table}.domain IN ({}))",
            super::placeholders(first + 1, parents)
        ));
    }
    sql.push(')');
    sql
}

/// A domain claim due for a check.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueCheck {
    pub id: DomainId,
    pub organization_id: OrgId,
    pub next_check_at: i64,
}

/// Claims due for a check, across organizations (for the background job).
pub async fn due(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<DueCheck>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, organization_id, next_check_at FROM domains WHERE deleted_at IS NULL AND next_check_at IS NOT NULL \
         AND next_check_at <= $1 ORDER BY next_check_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Takes a due claim for `lease_ms` so that only one node checks it.
pub async fn lease(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &DomainId,
    seen_next: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE domains SET next_check_at = $4 WHERE id = $1 AND organization_id = $2 AND next_check_at = $3 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(organization_id)
    .bind(seen_next)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Soft-deletes a claim of `organization_id`.
pub async fn soft_delete(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &DomainId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE domains SET deleted_at = $3, updated_at = $3, next_check_at = NULL WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(organization_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Members of `organization_id` who joined (or were linked) by JIT sign-in on `domain`.
pub async fn members_provisioned(
    conn: &mut Conn,
    organization_id: &str,
    domain: &str,
) -> Result<i64, sqlx::Error> {
    // `detail` is JSON written by serde_json (no spaces), so the domain field has one spelling.
    sqlx::query_scalar(
        &format!("SELECT COUNT(DISTINCT g.membership_id) FROM membership_grants g JOIN memberships m ON m.id = g.membership_id \
         WHERE g.organization_id = $1 AND g.kind IN ('{GRANT_JIT}', '{GRANT_JIT_LINK}') AND g.detail LIKE $2 AND m.state <> '{MEMBER_REMOVED}'"),
    )
    .bind(organization_id)
    .bind(format!("%\"domain\":\"{domain}\"%"))
    .fetch_one(conn)
    .await
}
