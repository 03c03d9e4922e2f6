//! Counts per day behind the small charts: sign-ins per connection, SCIM requests per directory,
//! webhook and log stream deliveries of an organization's events. Each is one grouped query over
//! an index on time, so a page's cost does not grow with its tenant's history.

use super::Conn;
use crate::domain::sign_in::{SignInOutcome, SignInPurpose};
use crate::domain::webhook::DeliveryState;

const DAY_MS: i64 = crate::server::timefmt::DAY_MS;
const ATTEMPT_FAILED: &str = SignInOutcome::Failed.as_str();
const PURPOSE_TEST: &str = SignInPurpose::Test.as_str();
const DELIVERED: &str = DeliveryState::Succeeded.as_str();
const GAVE_UP: &str = DeliveryState::Failed.as_str();

/// (key, day number, 1 when it went wrong, count).
pub type DayRow = (String, i64, i64, i64);

/// Sign-ins (not admins' tests) per connection of the organization since `since` (ms), split into
/// succeeded and failed.
pub async fn sign_ins(
    conn: &mut Conn,
    organization_id: &str,
    since: i64,
) -> Result<Vec<DayRow>, sqlx::Error> {
    let of_connection = super::fk_eq(conn, "a.connection_id", "c.id");
    sqlx::query_as(&format!(
        "SELECT a.connection_id, a.created_at / {DAY_MS} AS day, \
         CAST(CASE WHEN a.outcome = '{ATTEMPT_FAILED}' THEN 1 ELSE 0 END AS BIGINT) AS bad, COUNT(*) AS n \
         FROM connections c JOIN login_attempts a ON {of_connection} AND a.created_at >= $2 \
         WHERE c.organization_id = $1 AND a.purpose <> '{PURPOSE_TEST}' \
         GROUP BY a.connection_id, a.created_at / {DAY_MS}, CAST(CASE WHEN a.outcome = '{ATTEMPT_FAILED}' THEN 1 ELSE 0 END AS BIGINT)"
    ))
    .bind(organization_id)
    .bind(since)
    .fetch_all(conn)
    .await
}

/// The statement of [`scim_requests`] on `conn` (`$1`: the organization, `$2`: since). It reads
/// the `(directory_id, created_at, status)` index alone, never the logged rows and their bodies.
pub fn scim_requests_sql(conn: &Conn) -> String {
    let of_directory = super::fk_eq(conn, "r.directory_id", "d.id");
    format!(
        "SELECT r.directory_id, r.created_at / {DAY_MS} AS day, \
         CAST(CASE WHEN r.status >= 400 THEN 1 ELSE 0 END AS BIGINT) AS bad, COUNT(*) AS n \
         FROM directories d JOIN scim_requests r ON {of_directory} AND r.created_at >= $2 \
         WHERE d.organization_id = $1 \
         GROUP BY r.directory_id, r.created_at / {DAY_MS}, CAST(CASE WHEN r.status >= 400 THEN 1 ELSE 0 END AS BIGINT)"
    )
}

/// SCIM requests per directory of the organization since `since`, split into answered and
/// failed (HTTP 4xx/5xx).
pub async fn scim_requests(
    conn: &mut Conn,
    organization_id: &str,
    since: i64,
) -> Result<Vec<DayRow>, sqlx::Error> {
    sqlx::query_as(&scim_requests_sql(conn))
        .bind(organization_id)
        .bind(since)
        .fetch_all(conn)
        .await
}

/// Deliveries of the organization's events (vendor webhooks and its log streams) since `since`,
/// by the day of the event: accepted, or given up after the last retry (pending ones are not
/// counted yet). The key is empty: one series for the organization. A webhook delivery's event
/// is in the feed; a log stream's is in the organization's audit trail.
pub async fn deliveries(
    conn: &mut Conn,
    organization_id: &str,
    since: i64,
) -> Result<Vec<DayRow>, sqlx::Error> {
    let bad = format!("CAST(CASE WHEN d.state = '{GAVE_UP}' THEN 1 ELSE 0 END AS BIGINT)");
    let of_stream = super::fk_eq(conn, "d.endpoint_id", "w.id");
    sqlx::query_as(&format!(
        "SELECT '' AS k, x.day, x.bad, COUNT(*) AS n FROM ( \
         SELECT e.created_at / {DAY_MS} AS day, {bad} AS bad \
         FROM events e JOIN webhook_deliveries d ON d.event_cursor = e.cursor \
         JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.organization_id IS NULL \
         WHERE e.organization_id = $1 AND e.created_at >= $2 AND d.state IN ('{DELIVERED}', '{GAVE_UP}') \
         UNION ALL \
         SELECT a.occurred_at / {DAY_MS} AS day, {bad} AS bad \
         FROM webhook_endpoints w JOIN webhook_deliveries d ON {of_stream} \
         JOIN audit_events a ON a.chain_key = w.organization_id AND a.chain_seq = d.event_cursor \
         WHERE w.organization_id = $1 AND a.occurred_at >= $2 AND d.state IN ('{DELIVERED}', '{GAVE_UP}') \
         ) x GROUP BY x.day, x.bad"
    ))
    .bind(organization_id)
    .bind(since)
    .fetch_all(conn)
    .await
}
