//! `webhook_endpoints`, `webhook_deliveries`, `webhook_attempts`.

use super::Conn;
use crate::domain::webhook::DeliveryState;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const DELIVERY_DISCARDED: &str = DeliveryState::Discarded.as_str();
const DELIVERY_PENDING: &str = DeliveryState::Pending.as_str();

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: String,
    pub organization_id: Option<String>,
    pub kind: String,
    pub name: Option<String>,
    pub credential_enc: Option<String>,
    pub url: String,
    pub events: Option<String>,
    pub secret_enc: String,
    pub prev_secret_enc: Option<String>,
    pub prev_secret_expires_at: Option<i64>,
    #[sqlx(try_from = "super::Flag")]
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub fanout_cursor: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const EP_COLUMNS: &str = "id, organization_id, kind, name, credential_enc, url, events, secret_enc, prev_secret_enc, prev_secret_expires_at, enabled, disabled_reason, fanout_cursor, created_at, updated_at";

pub async fn insert_endpoint(conn: &mut Conn, r: &EndpointRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO webhook_endpoints ({EP_COLUMNS}) VALUES ($1, $7, $8, $9, $10, $2, $3, $4, NULL, NULL, 1, NULL, $5, $6, $6)"
    ))
    .bind(&r.id)
    .bind(&r.url)
    .bind(&r.events)
    .bind(&r.secret_enc)
    .bind(r.fanout_cursor)
    .bind(r.created_at)
    .bind(&r.organization_id)
    .bind(&r.kind)
    .bind(&r.name)
    .bind(&r.credential_enc)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn get_endpoint(conn: &mut Conn, id: &str) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {EP_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Endpoints: `scope` None = all (the worker), Some(None) = the vendor's webhooks, Some(Some(org))
/// = that organization's log streams.
pub async fn list_endpoints(
    conn: &mut Conn,
    only_enabled: bool,
    scope: Option<Option<&str>>,
) -> Result<Vec<EndpointRow>, sqlx::Error> {
    let (any, org) = match scope {
        None => (1i64, None),
        Some(o) => (0i64, o),
    };
    sqlx::query_as(&format!(
        "SELECT {EP_COLUMNS} FROM webhook_endpoints WHERE deleted_at IS NULL AND ($1 = 0 OR enabled = 1) \
         AND ($2 = 1 OR ($3 IS NULL AND organization_id IS NULL) OR organization_id = $3) ORDER BY id"
    ))
    .bind(i64::from(only_enabled))
    .bind(any)
    .bind(org)
    .fetch_all(conn)
    .await
}

pub async fn update_endpoint(
    conn: &mut Conn,
    r: &EndpointRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints SET url = $2, events = $3, secret_enc = $4, prev_secret_enc = $5, prev_secret_expires_at = $6, \
         enabled = $7, disabled_reason = $8, updated_at = $9 WHERE id = $1",
    )
    .bind(&r.id)
    .bind(&r.url)
    .bind(&r.events)
    .bind(&r.secret_enc)
    .bind(&r.prev_secret_enc)
    .bind(r.prev_secret_expires_at)
    .bind(i64::from(r.enabled))
    .bind(&r.disabled_reason)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn delete_endpoint(conn: &mut Conn, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE webhook_endpoints SET deleted_at = $2, enabled = 0 WHERE id = $1 AND deleted_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!("UPDATE webhook_deliveries SET state = '{DELIVERY_DISCARDED}' WHERE endpoint_id = $1 AND state = '{DELIVERY_PENDING}'"))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Disables an endpoint (its receiver answered 410); false when it already was.
pub async fn disable_endpoint(
    conn: &mut Conn,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $2, updated_at = $3 WHERE id = $1 AND enabled = 1")
        .bind(id)
        .bind(reason)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Moves an endpoint's fan-out position from `from` to `to` (false when another node did first).
pub async fn advance_fanout(
    conn: &mut Conn,
    id: &str,
    from: i64,
    to: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE webhook_endpoints SET fanout_cursor = $3 WHERE id = $1 AND fanout_cursor = $2",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// What fan-out needs of an event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRef {
    pub cursor: i64,
    pub id: String,
    /// The event type.
    #[sqlx(rename = "type")]
    pub kind: String,
    /// `entity_type:entity_id`.
    pub entity_key: String,
    pub organization_id: Option<String>,
}

/// Events after `after`, oldest first.
pub async fn events_after(
    conn: &mut Conn,
    after: i64,
    limit: i64,
) -> Result<Vec<EventRef>, sqlx::Error> {
    sqlx::query_as(
        "SELECT cursor, id, type, entity_type || ':' || entity_id AS entity_key, organization_id FROM events WHERE cursor > $1 ORDER BY cursor LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

#[expect(clippy::too_many_arguments, reason = "one argument per column")]
pub async fn insert_delivery(
    conn: &mut Conn,
    id: &str,
    endpoint_id: &str,
    cursor: i64,
    event_id: &str,
    entity_key: &str,
    now: i64,
    state: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_cursor, event_id, entity_key, state, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $7, 0, $6, $6) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(endpoint_id)
    .bind(cursor)
    .bind(event_id)
    .bind(entity_key)
    .bind(now)
    .bind(state)
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_cursor: i64,
    pub event_id: String,
    pub entity_key: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const D_COLUMNS: &str = "d.id, d.endpoint_id, d.event_cursor, d.event_id, d.entity_key, d.state, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at";

/// Deliveries due now whose entity has no earlier undelivered event for the same endpoint (per
/// entity order), on enabled endpoints.
pub async fn due_deliveries(
    conn: &mut Conn,
    now: i64,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {D_COLUMNS} FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.state = '{DELIVERY_PENDING}' AND d.next_attempt_at <= $1 AND e.enabled = 1 AND e.deleted_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.entity_key = d.entity_key \
                         AND p.state = '{DELIVERY_PENDING}' AND p.event_cursor < d.event_cursor) \
         ORDER BY d.event_cursor LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Leases one attempt (several nodes: exactly one wins).
pub async fn claim_delivery(
    conn: &mut Conn,
    id: &str,
    seen: i64,
    lease_until: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(&format!("UPDATE webhook_deliveries SET next_attempt_at = $3 WHERE id = $1 AND state = '{DELIVERY_PENDING}' AND next_attempt_at = $2"))
        .bind(id)
        .bind(seen)
        .bind(lease_until)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Records an attempt's outcome: `state` succeeded|pending|failed, retried at `next`.
#[expect(clippy::too_many_arguments, reason = "one argument per column")]
pub async fn finish_attempt(
    conn: &mut Conn,
    attempt_id: &str,
    delivery_id: &str,
    state: &str,
    next: i64,
    status: Option<i64>,
    latency_ms: i64,
    excerpt: Option<&str>,
    error: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_attempts (id, delivery_id, attempted_at, status, latency_ms, response_excerpt, error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(attempt_id)
    .bind(delivery_id)
    .bind(now)
    .bind(status)
    .bind(latency_ms)
    .bind(excerpt)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, next_attempt_at = $3, last_status = $4, last_error = $5, \
         delivered_at = CASE WHEN $2 = 'succeeded' THEN $6 ELSE delivered_at END WHERE id = $1",
    )
    .bind(delivery_id)
    .bind(state)
    .bind(next)
    .bind(status)
    .bind(error)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn list_deliveries(
    conn: &mut Conn,
    endpoint_id: &str,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {D_COLUMNS} FROM webhook_deliveries d WHERE d.endpoint_id = $1 ORDER BY d.event_cursor DESC LIMIT $2"
    ))
    .bind(endpoint_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn get_delivery(conn: &mut Conn, id: &str) -> Result<Option<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {D_COLUMNS} FROM webhook_deliveries d WHERE d.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// One delivery attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempted_at: i64,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

pub async fn attempts(conn: &mut Conn, delivery_id: &str) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT attempted_at, status, latency_ms, response_excerpt, error FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempted_at DESC, id DESC LIMIT 50",
    )
    .bind(delivery_id)
    .fetch_all(conn)
    .await
}

pub async fn requeue(conn: &mut Conn, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(&format!("UPDATE webhook_deliveries SET state = '{DELIVERY_PENDING}', next_attempt_at = $2 WHERE id = $1 AND state <> '{DELIVERY_DISCARDED}'"))
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// A stored event (`SELECT cursor, id, type, organization_id, entity_type, entity_id,
/// entity_seq, created_at, data`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub cursor: i64,
    pub id: String,
    /// The event type.
    #[sqlx(rename = "type")]
    pub kind: String,
    pub organization_id: Option<String>,
    pub entity_type: String,
    pub entity_id: String,
    pub entity_seq: i64,
    pub created_at: i64,
    /// JSON.
    pub data: String,
}

pub async fn event(conn: &mut Conn, cursor: i64) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT cursor, id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data FROM events WHERE cursor = $1",
    )
    .bind(cursor)
    .fetch_optional(conn)
    .await
}
