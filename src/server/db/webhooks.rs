//! `webhook_endpoints`, `webhook_deliveries`, `webhook_attempts`.

use super::Conn;
use crate::domain::webhook::DeliveryState;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const DELIVERY_DISCARDED: &str = DeliveryState::Discarded.as_str();
const DELIVERY_PENDING: &str = DeliveryState::Pending.as_str();
const DELIVERY_SUCCEEDED: &str = DeliveryState::Succeeded.as_str();

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

/// A delivery fan-out queues.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub id: String,
    pub endpoint_id: &'a str,
    pub event_cursor: i64,
    pub event_id: &'a str,
    pub entity_key: &'a str,
}

/// Rows per multi-row statement: at 7 parameters a row this stays far below both databases'
/// limits on bound parameters (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_STATEMENT: usize = 500;

/// Queues deliveries, due at `now`, in multi-row statements; an (endpoint, event) pair already
/// queued is left as it is.
pub async fn insert_deliveries(
    conn: &mut Conn,
    rows: &[NewDelivery<'_>],
    now: i64,
) -> Result<(), sqlx::Error> {
    // Every parameter in VALUES order (anonymous `?` on SQLite: see `values_template_for`).
    let pending = format!("'{DELIVERY_PENDING}'");
    let columns = [
        None,
        None,
        None,
        None,
        None,
        Some(pending.as_str()),
        Some("0"),
        None,
        None,
    ];
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let values = super::values_template_for(conn, chunk.len(), &columns);
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_cursor, event_id, entity_key, state, attempts, next_attempt_at, created_at) \
             VALUES {values} ON CONFLICT DO NOTHING"
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(&r.id)
                .bind(r.endpoint_id)
                .bind(r.event_cursor)
                .bind(r.event_id)
                .bind(r.entity_key)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
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

/// The deliveries of one endpoint that may be attempted now: pending, due, and the oldest
/// undelivered event of their entity for this endpoint (each entity's events go out in order).
/// Selects `what`. The head of each entity's queue is a correlated `MIN` (one probe of the
/// partial index `webhook_deliveries_pending_heads` per candidate) rather than `NOT EXISTS`,
/// which PostgreSQL planned as a nested loop over every pending row when its statistics were
/// stale (a burst of events before an ANALYZE): 2.2 s per lease at 3,500 pending deliveries.
/// The head test reads `<=` (the same as `=`: the row is itself one of its entity's pending
/// deliveries, so the `MIN` is never above its cursor): PostgreSQL rates an equality with the
/// probe as matching almost no row, so once the table is analyzed it expected the walk to never
/// reach its limit and read every pending delivery of the endpoint, sorted, with a probe each
/// (6.3 ms per lease at 3,000 pending against 1.0 ms for the walk, issue 17).
/// `next_attempt_at + 0` keeps any index on that column out of the walk, and `created_at >= 0`
/// (always true) is the condition of `webhook_deliveries_pending_walk` (migration 42), so the
/// planners walk that index in feed order (see [`lease_sql`]); the head probe does not state
/// it, so the probe cannot walk that index.
fn due(what: &str) -> String {
    format!(
        "SELECT {what} FROM webhook_deliveries d \
         WHERE d.endpoint_id = $1 AND d.state = '{DELIVERY_PENDING}' AND d.created_at >= 0 AND d.next_attempt_at + 0 <= $2 \
         AND d.event_cursor <= (SELECT MIN(p.event_cursor) FROM webhook_deliveries p \
                               WHERE p.endpoint_id = d.endpoint_id AND p.entity_key = d.entity_key \
                               AND p.state = '{DELIVERY_PENDING}')"
    )
}

/// Whether the endpoint has a delivery to attempt now (a read: no lock, no write).
pub async fn has_due(conn: &mut Conn, endpoint_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let sql = format!("{} LIMIT 1", due("1"));
    let row: Option<(i64,)> = sqlx::query_as(&sql)
        .bind(endpoint_id)
        .bind(now)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// The statement of [`lease_due`] ($1 endpoint, $2 now, $3 lease until, $4 limit), with
/// PostgreSQL's row locks when `locks_rows`. A CTE: PostgreSQL runs it (and takes its row locks)
/// once. It walks the endpoint's pending deliveries in feed order (index
/// `webhook_deliveries_pending_walk`) and stops at the limit; the update then finds the leased
/// rows by key: its re-check reads `state || ''` and `next_attempt_at + 0` so that no index on
/// those columns is usable for it (both databases otherwise read every due delivery through
/// `webhook_deliveries_due`, before migration 43 dropped it, or every pending one through the
/// pending-only indexes). Neither statement needs an index that names `next_attempt_at`: since
/// migration 43 dropped them, a lease on PostgreSQL can update its rows in place (heap-only
/// tuples: no new index entry, when the page has room). Checked by tests/api/query_plans.rs.
pub fn lease_sql(locks_rows: bool) -> String {
    let skip_locked = if locks_rows {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let due = due("d.id");
    format!(
        "WITH leased AS ({due} ORDER BY d.event_cursor LIMIT $4{skip_locked}) \
         UPDATE webhook_deliveries SET next_attempt_at = $3 \
         WHERE id IN (SELECT id FROM leased) AND state || '' = '{DELIVERY_PENDING}' AND next_attempt_at + 0 <= $2 \
         RETURNING {RETURNED}"
    )
}

/// Leases up to `limit` of the endpoint's due deliveries, oldest first, until `lease_until`, in
/// one statement. On PostgreSQL rows another node is leasing are skipped (`SKIP LOCKED`) and the
/// outer conditions are checked again on the row as it is then, so exactly one node leases a
/// delivery; on SQLite the caller holds the write lock.
pub async fn lease_due(
    conn: &mut Conn,
    endpoint_id: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let sql = lease_sql(super::locks_rows(conn));
    let mut rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
        .bind(endpoint_id)
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.sort_by_key(|r| r.event_cursor);
    Ok(rows)
}

/// Ends a lease early: the delivery is due `now` if it is still pending under that lease.
pub async fn release_lease(
    conn: &mut Conn,
    id: &str,
    lease_until: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&format!(
        "UPDATE webhook_deliveries SET next_attempt_at = $3 WHERE id = $1 AND next_attempt_at = $2 AND state = '{DELIVERY_PENDING}'"
    ))
    .bind(id)
    .bind(lease_until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// [`D_COLUMNS`] without the table alias (`RETURNING` names the updated table's columns).
const RETURNED: &str = "id, endpoint_id, event_cursor, event_id, entity_key, state, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at";

/// One attempt's outcome, recorded with others by [`finish_attempts`].
#[derive(Debug, Clone)]
pub struct Finished {
    pub attempt_id: String,
    pub delivery_id: String,
    /// The delivery's endpoint (the attempt row names it: `webhook_attempts_endpoint`).
    pub endpoint_id: String,
    pub attempted_at: i64,
    /// succeeded | pending | failed
    pub state: &'static str,
    /// When to try again (pending); otherwise when it ended.
    pub next: i64,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub excerpt: Option<String>,
    pub error: Option<String>,
}

/// Records attempts' outcomes (`now` is when they are recorded): their attempt rows in
/// multi-row inserts, and one update per distinct (state, next attempt, status, error), so a
/// batch of successes is one statement. A delivery that is no longer pending (discarded with its
/// endpoint meanwhile) keeps its state; its attempt is still logged.
/// The update finds its rows by key: its state check reads `state || ''`, so that no index on
/// pending or due deliveries is used for it (on a new, unanalyzed table PostgreSQL planned it as
/// a bitmap scan of `webhook_deliveries_pending_heads`, SQLite as a search of
/// `webhook_deliveries_due`, since dropped: every pending delivery of every endpoint per statement, ~110 µs per
/// delivered event on PostgreSQL with a 20,000-event backlog, issue 17).
pub async fn finish_attempts(
    conn: &mut Conn,
    done: &[Finished],
    now: i64,
) -> Result<(), sqlx::Error> {
    for chunk in done.chunks(ROWS_PER_STATEMENT) {
        let values = super::values_template_for(conn, chunk.len(), &[None; 8]);
        let sql = format!(
            "INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, attempted_at, status, latency_ms, response_excerpt, error) VALUES {values}"
        );
        let mut q = sqlx::query(&sql);
        for f in chunk {
            q = q
                .bind(&f.attempt_id)
                .bind(&f.delivery_id)
                .bind(&f.endpoint_id)
                .bind(f.attempted_at)
                .bind(f.status)
                .bind(f.latency_ms)
                .bind(&f.excerpt)
                .bind(&f.error);
        }
        q.execute(&mut *conn).await?;
    }
    let mut groups: Vec<(&Finished, Vec<&str>)> = Vec::new();
    for f in done {
        match groups.iter_mut().find(|(g, _)| {
            (g.state, g.next, g.status, &g.error) == (f.state, f.next, f.status, &f.error)
        }) {
            Some((_, ids)) => ids.push(&f.delivery_id),
            None => groups.push((f, vec![&f.delivery_id])),
        }
    }
    for (g, ids) in groups {
        for ids in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = outcome_sql(ids.len());
            let mut q = sqlx::query(&sql)
                .bind(g.state)
                .bind(g.next)
                .bind(g.status)
                .bind(&g.error)
                .bind(i64::from(g.state == DELIVERY_SUCCEEDED))
                .bind(now);
            for id in ids {
                q = q.bind(*id);
            }
            q.execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// The update of [`finish_attempts`] for `n` deliveries ($1 state, $2 next attempt, $3 status,
/// $4 error, $5 1 when delivered, $6 now, then the ids). Public for tests/api/query_plans.rs.
pub fn outcome_sql(n: usize) -> String {
    let list = (0..n)
        .map(|i| format!("${}", 7 + i))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, next_attempt_at = $2, last_status = $3, last_error = $4, \
         delivered_at = CASE WHEN $5 = 1 THEN $6 ELSE delivered_at END \
         WHERE id IN ({list}) AND state || '' = '{DELIVERY_PENDING}'"
    )
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
/// entity_seq, created_at, data, snapshot`).
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
    /// JSON of the resource as it was, when the event type keeps one.
    pub snapshot: Option<String>,
}

/// The stored events at `cursors` (those still kept), in one query.
pub async fn events_at(conn: &mut Conn, cursors: &[i64]) -> Result<Vec<EventRow>, sqlx::Error> {
    if cursors.is_empty() {
        return Ok(Vec::new());
    }
    let list = super::placeholders(1, cursors.len());
    let sql = format!(
        "SELECT cursor, id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data, snapshot FROM events WHERE cursor IN ({list})"
    );
    let mut q = sqlx::query_as(&sql);
    for c in cursors {
        q = q.bind(*c);
    }
    q.fetch_all(conn).await
}
