//! The vendor's events feed. Every audit event that concerns the vendor becomes an event with a
//! global cursor and a per-entity sequence number, written in the audit event's transaction.
//!
//! Cursors are assigned in commit order: the `events_head` row is updated (and so locked on
//! PostgreSQL; SQLite has one writer) as the last write before the commit. A transaction that
//! gets cursor N therefore commits before any transaction can get N + 1, so a consumer that has
//! seen N has seen everything below it: reading `after=N` never skips an event that commits
//! later.

use serde::{Deserialize, Serialize};

use super::audit::AuditRow;
use super::db::{new_id, Conn};
use crate::domain::ids::IdKind;

/// How long events are kept by default: 90 days.
pub const DEFAULT_RETENTION_MS: i64 = 90 * 24 * 3600 * 1000;

/// True for audit actions the vendor's product gets as events (not the operator's key
/// management, the admin opening the portal, nor the vendor's own webhook settings).
pub fn concerns_vendor(action: &str) -> bool {
    !(action.starts_with("api_key.")
        || action.starts_with("portal.")
        || action.starts_with("webhook_endpoint."))
}

/// The entity an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    /// 1, 2, 3, … per entity: a consumer applies an entity's events in this order.
    pub sequence: i64,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// `event_…`
    pub id: String,
    /// `dsync.user.deactivated`, `membership.role_changed`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339.
    pub created_at: String,
    pub organization_id: Option<String>,
    /// Pass as `after` to read what follows this event.
    pub cursor: String,
    pub entity: Entity,
    /// `{actor, targets, metadata, audit_event_id}`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Writes the events for audit rows just appended to their chains. Called last in the
/// transaction (see the module comment).
pub(crate) async fn append(conn: &mut Conn, rows: &[AuditRow]) -> Result<(), sqlx::Error> {
    let rows: Vec<&AuditRow> = rows.iter().filter(|r| concerns_vendor(&r.action)).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let last: i64 = sqlx::query_scalar(
        "UPDATE events_head SET cursor = cursor + $1 WHERE k = 'global' RETURNING cursor",
    )
    .bind(rows.len() as i64)
    .fetch_one(&mut *conn)
    .await?;
    let mut cursor = last - rows.len() as i64;
    for r in rows {
        cursor += 1;
        let targets: serde_json::Value = serde_json::from_str(&r.targets).unwrap_or_default();
        let (etype, eid) = targets
            .get(0)
            .map(|t| {
                (
                    t["type"].as_str().unwrap_or("").to_owned(),
                    t["id"].as_str().unwrap_or("").to_owned(),
                )
            })
            .filter(|(t, i)| !t.is_empty() && !i.is_empty())
            .unwrap_or_else(|| {
                (
                    "organization".to_owned(),
                    r.organization_id.clone().unwrap_or_else(|| "global".into()),
                )
            });
        let key = format!("{etype}:{eid}");
        sqlx::query(
            "INSERT INTO event_entity_seqs (entity_key, seq) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        )
        .bind(&key)
        .execute(&mut *conn)
        .await?;
        let seq: i64 = sqlx::query_scalar(
            "UPDATE event_entity_seqs SET seq = seq + 1 WHERE entity_key = $1 RETURNING seq",
        )
        .bind(&key)
        .fetch_one(&mut *conn)
        .await?;
        let data = serde_json::json!({
            "audit_event_id": r.id,
            "actor": { "type": r.actor_type, "id": r.actor_id, "name": r.actor_name },
            "targets": targets,
            "metadata": serde_json::from_str::<serde_json::Value>(&r.metadata).unwrap_or_default(),
        });
        sqlx::query(
            "INSERT INTO events (cursor, id, audit_event_id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(cursor)
        .bind(new_id(IdKind::Event))
        .bind(&r.id)
        .bind(&r.action)
        .bind(&r.organization_id)
        .bind(&etype)
        .bind(&eid)
        .bind(seq)
        .bind(r.occurred_at)
        .bind(data.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

type EventRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    String,
);

pub(crate) fn to_event(r: EventRow) -> Event {
    let (cursor, id, kind, organization_id, etype, eid, seq, at, data) = r;
    Event {
        id,
        kind,
        created_at: super::timefmt::rfc3339(at),
        organization_id,
        cursor: cursor.to_string(),
        entity: Entity {
            kind: etype,
            id: eid,
            sequence: seq,
        },
        data: serde_json::from_str(&data).unwrap_or_default(),
    }
}

/// Events after `after`, oldest first, optionally of some types and one organization.
pub async fn list(
    conn: &mut Conn,
    after: i64,
    types: &[String],
    organization_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT cursor, id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data FROM events \
         WHERE cursor > $1 AND ($2 IS NULL OR organization_id = $2)",
    );
    if !types.is_empty() {
        let ph: Vec<String> = (0..types.len()).map(|i| format!("${}", i + 4)).collect();
        sql.push_str(&format!(" AND type IN ({})", ph.join(", ")));
    }
    sql.push_str(" ORDER BY cursor LIMIT $3");
    let mut q = sqlx::query_as::<_, EventRow>(&sql)
        .bind(after)
        .bind(organization_id)
        .bind(limit);
    for t in types {
        q = q.bind(t);
    }
    Ok(q.fetch_all(conn).await?.into_iter().map(to_event).collect())
}

/// The oldest cursor still kept (0 when none was purged and none exists).
pub async fn oldest_kept(conn: &mut Conn) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MIN(cursor) FROM events")
        .fetch_one(conn)
        .await
}

/// The last cursor handed out.
pub async fn head(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT cursor FROM events_head WHERE k = 'global'")
        .fetch_one(conn)
        .await
}

/// Deletes events older than `before`; returns how many.
pub async fn purge(conn: &mut Conn, before: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query("DELETE FROM events WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}
