//! Operations: Prometheus metrics (`/metrics`, through the `metrics` facade and its Prometheus
//! exporter), the background workers' heartbeats and readiness (`/readyz`).
//!
//! Labels are bounded sets (route templates, protocols, reason codes, outcomes): never an
//! organization, a user or a raw path, so a thousand tenants do not make a thousand series.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::db::Db;
use super::state::AppState;

/// Latency buckets (seconds) for every `*_duration_seconds` histogram.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder (installed once; every app in the process shares it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), BUCKETS)
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only its own");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "lanyard_http_requests_total",
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        "lanyard_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route template and method"
    );
    describe_counter!(
        "lanyard_sign_ins_total",
        "Sign-ins by protocol (oidc, saml), purpose (signin, test, invite), outcome and failure reason"
    );
    describe_counter!(
        "lanyard_scim_requests_total",
        "SCIM requests by operation and status"
    );
    describe_histogram!(
        "lanyard_scim_request_duration_seconds",
        Unit::Seconds,
        "SCIM request latency by operation"
    );
    describe_counter!(
        "lanyard_scim_create_batches_total",
        "PostgreSQL: transactions writing concurrent SCIM user creates together, by outcome (committed, rolled_back: each create then written alone)"
    );
    describe_counter!(
        "lanyard_scim_create_batched_total",
        "PostgreSQL: SCIM user creates written in committed batches"
    );
    describe_counter!(
        "lanyard_sqlite_commits_total",
        "SQLite: commits of the writer connection that answered writes (each commits the writes queued together)"
    );
    describe_counter!(
        "lanyard_sqlite_committed_writes_total",
        "SQLite: writes (transactions of requests and background tasks) in committed batches"
    );
    describe_counter!(
        "lanyard_webhook_attempts_total",
        "Webhook delivery attempts by outcome (delivered, failed, gone)"
    );
    describe_counter!(
        "lanyard_log_stream_attempts_total",
        "Log stream sends by outcome"
    );
    describe_counter!("lanyard_dns_checks_total", "Domain DNS checks by outcome");
    describe_gauge!(
        "lanyard_webhook_backlog",
        "Webhook deliveries waiting to be sent"
    );
    describe_gauge!(
        "lanyard_webhook_oldest_pending_age_seconds",
        "Age of the oldest pending webhook delivery"
    );
    describe_gauge!(
        "lanyard_webhook_endpoints_disabled",
        "Webhook endpoints disabled (410 Gone or too many failures)"
    );
    describe_gauge!("lanyard_mail_outbox", "Mail in the outbox by state");
    describe_gauge!(
        "lanyard_saml_certificates_expiring",
        "IdP signing certificates of active SAML connections expiring within the window (7d, 30d) or expired"
    );
    describe_gauge!(
        "lanyard_db_pool_connections",
        "Database pool connections by state (idle, used)"
    );
    describe_gauge!(
        "lanyard_db_read_connections",
        "SQLite: connections of short reads (sessions, portal pages, SCIM lookups) by state (idle, used)"
    );
    describe_gauge!(
        "lanyard_job_last_run_timestamp_seconds",
        "When a background job last finished a run (Unix seconds)"
    );
    describe_gauge!(
        "lanyard_audit_sequencer_waiting",
        "PostgreSQL: committed audit events and feed events not yet linked and numbered by the sequencer"
    );
    describe_counter!(
        "lanyard_audit_sequencer_wait_timeouts_total",
        "Reads of the audit log or the feed that stopped waiting for the sequencer and read without the newest events"
    );
    // Shown from the start at 0: `increase()` does not count a series' first sample, so a
    // counter first shown at its first give-up would not raise the alert.
    metrics::counter!("lanyard_audit_sequencer_wait_timeouts_total").absolute(0);
    describe_gauge!(
        "lanyard_job_duration_seconds",
        "How long a background job's last run took"
    );
}

/// A sign-in's end, for `lanyard_sign_ins_total`.
pub fn sign_in(protocol: &str, purpose: &str, outcome: &str, reason: &str) {
    metrics::counter!(
        "lanyard_sign_ins_total",
        "protocol" => protocol.to_owned(),
        "purpose" => purpose.to_owned(),
        "outcome" => outcome.to_owned(),
        "reason" => reason.to_owned(),
    )
    .increment(1);
}

/// One heartbeat per background loop: when it last finished a run and how often it runs.
#[derive(Debug, Default)]
pub struct Workers {
    beats: Mutex<BTreeMap<&'static str, Beat>>,
}

#[derive(Debug, Clone, Copy)]
struct Beat {
    at_ms: i64,
    every_ms: i64,
}

impl Workers {
    /// A loop finished a run at `now_ms` that took `took_ms`; it runs every `every_ms`.
    pub fn beat(&self, job: &'static str, now_ms: i64, took_ms: i64, every_ms: i64) {
        if let Ok(mut b) = self.beats.lock() {
            b.insert(
                job,
                Beat {
                    at_ms: now_ms,
                    every_ms,
                },
            );
        }
        metrics::gauge!("lanyard_job_last_run_timestamp_seconds", "job" => job)
            .set(now_ms as f64 / 1000.0);
        metrics::gauge!("lanyard_job_duration_seconds", "job" => job).set(took_ms as f64 / 1000.0);
    }

    /// (job, seconds since its last run, alive): alive while the last run is no older than two
    /// periods and a minute.
    pub fn status(&self, now_ms: i64) -> Vec<(&'static str, i64, bool)> {
        self.beats
            .lock()
            .map(|b| {
                b.iter()
                    .map(|(job, beat)| {
                        let age = now_ms - beat.at_ms;
                        (
                            job.to_owned(),
                            age / 1000,
                            age <= 2 * beat.every_ms + 60_000,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The jobs a serving node runs ([`crate::server::jobs::spawn_all`]): readiness waits for each.
pub const JOBS: &[&str] = &["every_minute", "every_ten_minutes", "mail", "webhooks"];

/// Readiness: the database answers, every migration this binary knows is applied, and every
/// background job has run recently. Answers the report and whether all hold.
pub async fn readiness(state: &AppState) -> (bool, serde_json::Value) {
    let now = state.clock.now();
    let database = state.db.ping().await.is_ok();
    let missing = if database {
        missing_migrations(&state.db).await.ok()
    } else {
        None
    };
    let migrations_ok = missing.as_ref().is_some_and(Vec::is_empty);
    let status = state.workers.status(now);
    let mut workers = serde_json::Map::new();
    let mut workers_ok = true;
    for job in JOBS {
        match status.iter().find(|(j, _, _)| j == job) {
            Some((_, age, alive)) => {
                workers_ok &= *alive;
                workers.insert(
                    (*job).into(),
                    serde_json::json!({ "last_run_seconds_ago": age, "alive": alive }),
                );
            }
            None => {
                workers_ok = false;
                workers.insert(
                    (*job).into(),
                    serde_json::json!({ "alive": false, "detail": "has not run yet" }),
                );
            }
        }
    }
    let ready = database && migrations_ok && workers_ok;
    (
        ready,
        serde_json::json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": if database { "ok" } else { "unreachable" },
            "migrations": match &missing {
                Some(m) if m.is_empty() => serde_json::json!("current"),
                Some(m) => serde_json::json!({ "missing": m }),
                None => serde_json::json!("unknown"),
            },
            "workers": workers,
        }),
    )
}

/// Versions of the migrations this binary carries that the database has not applied.
async fn missing_migrations(db: &Db) -> Result<Vec<i64>, sqlx::Error> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&db.pool)
            .await?;
    Ok(db
        .known_migrations()
        .into_iter()
        .filter(|v| !applied.contains(v))
        .collect())
}

/// Sets the gauges read from the database, then renders every metric in the Prometheus text
/// format.
pub async fn render(state: &AppState) -> String {
    let now = state.clock.now();
    if let Err(e) = database_gauges(state, now).await {
        tracing::warn!(error = %e, "metrics: database gauges not read");
    }
    let pool = &state.db.pool;
    let idle = pool.num_idle() as f64;
    metrics::gauge!("lanyard_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("lanyard_db_pool_connections", "state" => "used")
        .set((pool.size() as f64 - idle).max(0.0));
    let (idle, used) = state.db.read_connections();
    metrics::gauge!("lanyard_db_read_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("lanyard_db_read_connections", "state" => "used").set(used as f64);
    handle().render()
}

/// The webhook backlog and its oldest delivery's creation, from an index of pending deliveries
/// (on SQLite: checked by tests/api/query_plans.rs).
pub const WEBHOOK_BACKLOG_SQL: &str =
    "SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE state = 'pending'";

async fn database_gauges(state: &AppState, now: i64) -> Result<(), sqlx::Error> {
    let pool = &state.db.pool;
    let (backlog, oldest): (i64, Option<i64>) =
        sqlx::query_as(WEBHOOK_BACKLOG_SQL).fetch_one(pool).await?;
    metrics::gauge!("lanyard_webhook_backlog").set(backlog as f64);
    metrics::gauge!("lanyard_webhook_oldest_pending_age_seconds")
        .set(oldest.map_or(0.0, |o| ((now - o).max(0)) as f64 / 1000.0));
    let disabled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_endpoints WHERE enabled = 0 AND deleted_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    metrics::gauge!("lanyard_webhook_endpoints_disabled").set(disabled as f64);
    let (expired, week, month): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(CASE WHEN c.not_after <= $1 THEN 1 END), \
                COUNT(CASE WHEN c.not_after > $1 AND c.not_after <= $2 THEN 1 END), \
                COUNT(CASE WHEN c.not_after > $1 AND c.not_after <= $3 THEN 1 END) \
         FROM saml_certificates c JOIN connections n ON n.id = c.connection_id WHERE n.state = 'active'",
    )
    .bind(now)
    .bind(now + 7 * 86_400_000)
    .bind(now + 30 * 86_400_000)
    .fetch_one(pool)
    .await?;
    metrics::gauge!("lanyard_saml_certificates_expiring", "within" => "expired")
        .set(expired as f64);
    metrics::gauge!("lanyard_saml_certificates_expiring", "within" => "7d").set(week as f64);
    metrics::gauge!("lanyard_saml_certificates_expiring", "within" => "30d").set(month as f64);
    // Pending and given-up mail (sent mail is history, not a state to watch).
    let (pending, failed): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(CASE WHEN failed_at IS NULL THEN 1 END), COUNT(failed_at) FROM mail_outbox \
         WHERE sent_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    metrics::gauge!("lanyard_mail_outbox", "state" => "pending").set(pending as f64);
    metrics::gauge!("lanyard_mail_outbox", "state" => "failed").set(failed as f64);
    if state.db.dialect == crate::server::db::Dialect::Postgres {
        // Both counts walk only the waiting rows: a partial index and the negative end of the
        // feed's key.
        let waiting: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM audit_events WHERE chain_seq < 0) \
                  + (SELECT COUNT(*) FROM events WHERE cursor < 0)",
        )
        .fetch_one(pool)
        .await?;
        metrics::gauge!("lanyard_audit_sequencer_waiting").set(waiting as f64);
    }
    Ok(())
}

/// Records a request's route template, method, status and latency.
pub fn http_request(route: &str, method: &str, status: u16, seconds: f64) {
    metrics::counter!(
        "lanyard_http_requests_total",
        "route" => route.to_owned(),
        "method" => method.to_owned(),
        "status" => status.to_string(),
    )
    .increment(1);
    metrics::histogram!(
        "lanyard_http_request_duration_seconds",
        "route" => route.to_owned(),
        "method" => method.to_owned(),
    )
    .record(seconds);
}
