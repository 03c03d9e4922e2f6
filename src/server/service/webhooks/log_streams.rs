//! Log streams (the customer's SIEM).

use crate::domain::event_type::EventType;
use crate::domain::ids::WebhookEndpointId;
use crate::domain::target::TargetKind;
use crate::domain::webhook::EndpointKind;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::ids::IdKind;
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db;
use crate::server::db::webhooks::{self as q, EndpointRow};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{check_url, new_webhook_secret, scoped_endpoint, seal, send};

/// Formats a log stream can send.
pub const STREAM_KINDS: [(&str, &str); 3] = [
    (
        EndpointKind::Json.as_str(),
        "Generic JSON (HTTPS POST, signed)",
    ),
    (
        EndpointKind::SplunkHec.as_str(),
        "Splunk HTTP Event Collector",
    ),
    (EndpointKind::Datadog.as_str(), "Datadog Logs"),
];

/// A log stream as the portal shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogStream {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// The newest deliveries.
    pub recent: Vec<RecentDelivery>,
}

/// One of a stream's newest deliveries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecentDelivery {
    pub event_cursor: i64,
    /// pending | succeeded | failed | discarded
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// What the admin enters for a new stream.
#[derive(Debug, Clone)]
pub struct NewLogStream<'a> {
    /// json | splunk_hec | datadog
    pub kind: &'a str,
    pub name: &'a str,
    pub url: &'a str,
    /// Splunk HEC token or Datadog API key.
    pub credential: &'a str,
}

/// What a test send came to: (ok, message).
pub type TestResult = (bool, String);

/// An organization's log streams with their newest deliveries.
pub async fn log_streams(
    state: &AppState,
    organization_id: &str,
) -> Result<Vec<LogStream>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let mut out = Vec::new();
    for r in q::list_endpoints(&mut conn, false, Some(Some(organization_id))).await? {
        let recent = q::list_deliveries(&mut conn, &r.id, 10)
            .await?
            .into_iter()
            .map(|d| RecentDelivery {
                event_cursor: d.event_cursor,
                state: d.state,
                attempts: d.attempts,
                last_error: d.last_error,
            })
            .collect();
        out.push(LogStream {
            id: r.id,
            name: r.name.unwrap_or_default(),
            kind: r.kind,
            url: r.url,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            recent,
        });
    }
    Ok(out)
}

/// Adds a log stream: the organization's audit events from now on.
pub async fn create_log_stream(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    input: NewLogStream<'_>,
) -> Result<LogStream, AppError> {
    let NewLogStream {
        kind,
        name,
        url,
        credential,
    } = input;
    if !STREAM_KINDS.iter().any(|(k, _)| *k == kind) {
        return Err(FieldError::new(
            "kind",
            "choose Generic JSON, Splunk HTTP Event Collector or Datadog Logs",
        )
        .into());
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FieldError::new(
            "name",
            "name the stream (1–100 characters), e.g. Splunk production",
        )
        .into());
    }
    let url = check_url(state, url)?;
    let credential = credential.trim();
    if kind != EndpointKind::Json && credential.is_empty() {
        return Err(FieldError::new(
            "credential",
            if kind == EndpointKind::SplunkHec {
                "paste the HEC token"
            } else {
                "paste a Datadog API key"
            },
        )
        .into());
    }
    let now = state.clock.now();
    // Every event answered before this request is linked first (PostgreSQL), so the chain's
    // head below is after all of them.
    state.db.caught_up().await;
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let id = db::new_id(IdKind::WebhookEndpoint);
    // It carries the organization's trail from its next event on (its own creation first).
    let head = crate::server::audit::chain_head(tx.conn(), organization_id).await?;
    let row = EndpointRow {
        id: id.clone(),
        organization_id: Some(organization_id.to_owned()),
        kind: kind.to_owned(),
        name: Some(name.to_owned()),
        credential_enc: (!credential.is_empty()).then(|| seal(state, &id, credential)),
        url,
        events: None,
        secret_enc: seal(state, &id, &new_webhook_secret()),
        prev_secret_enc: None,
        prev_secret_expires_at: None,
        enabled: true,
        disabled_reason: None,
        fanout_cursor: head,
        created_at: now,
        updated_at: now,
    };
    q::insert_endpoint(tx.conn(), &row).await?;
    tx.record(
        Some(organization_id),
        EventType::LogStreamCreated,
        vec![Target::new(TargetKind::LogStream, &id, Some(name))],
        // Receivers take tokens in the user-info or the query: never into the trail.
        json!({ "kind": kind, "url": crate::server::outbound::redact_url(&row.url) }),
    )
    .await?;
    tx.commit().await?;
    log_streams(state, organization_id)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(AppError::NotFound("log stream"))
}

/// Removes a log stream.
pub async fn delete_log_stream(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &WebhookEndpointId,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = scoped_endpoint(tx.conn(), id, Some(organization_id)).await?;
    q::delete_endpoint(tx.conn(), id, now).await?;
    tx.record(
        Some(organization_id),
        EventType::LogStreamDeleted,
        vec![Target::new(TargetKind::LogStream, id, row.name.as_deref())],
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends a test event now and says what the receiver answered.
pub async fn test_log_stream(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &WebhookEndpointId,
) -> Result<TestResult, AppError> {
    let row = {
        let mut conn = state.db.pool.acquire().await?;
        scoped_endpoint(&mut conn, id, Some(organization_id)).await?
    };
    let now = state.clock.now();
    let ev = crate::server::events::Event {
        id: db::new_id(IdKind::Event),
        kind: "log_stream.test".into(),
        created_at: crate::server::clock::rfc3339(now),
        organization_id: Some(organization_id.to_owned()),
        cursor: "0".into(),
        entity: crate::server::events::Entity {
            kind: TargetKind::LogStream.as_str().into(),
            id: id.to_string(),
            sequence: 0,
        },
        data: json!({ "message": "Test event from Lanyard: if you can read this, the stream works." }),
        snapshot: None,
    };
    let out = send(state, &row, &ev).await;
    let ok = out.status.is_some_and(|s| (200..300).contains(&s));
    let message = match (out.status, &out.error) {
        (Some(s), _) if ok => format!(
            "The receiver accepted the test event (HTTP {s}, {} ms).",
            out.latency_ms
        ),
        (Some(s), _) => format!(
            "The receiver answered HTTP {s}: {}",
            out.excerpt
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect::<String>()
        ),
        (None, Some(e)) => format!("The test event was not delivered: {e}"),
        (None, None) => "The test event was not delivered.".into(),
    };
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    tx.record(
        Some(organization_id),
        EventType::LogStreamTested,
        vec![Target::new(TargetKind::LogStream, id, row.name.as_deref())],
        json!({ "ok": ok, "status": out.status }),
    )
    .await?;
    tx.commit().await?;
    Ok((ok, message))
}
