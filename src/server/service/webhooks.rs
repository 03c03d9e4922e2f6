//! Webhooks (Standard Webhooks): the vendor registers endpoints; a background worker fans every
//! event of the feed out to each enabled endpoint that wants its type and delivers it signed
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), at least
//! once, one entity's events in order, retrying with exponential back-off and jitter for up to
//! three days. A 410 disables the endpoint; 3xx counts as a failure.

use crate::domain::event_type::EventType;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::ids::{is_valid_id, IdKind};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db::webhooks::{self as q, DeliveryRow, EndpointRow};
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

/// Deliveries are retried for this long after the event.
pub const RETRY_WINDOW_MS: i64 = 3 * 24 * 3600 * 1000;
/// A rotated-out secret keeps signing (as a second signature) this long.
pub const SECRET_OVERLAP_MS: i64 = 24 * 3600 * 1000;
/// How long one attempt holds its lease: three times the 10 s HTTP timeout. A node killed
/// mid-attempt leaves its lease behind; another node (or the restarted one) retries after it.
const LEASE_MS: i64 = 30 * 1000;

/// An endpoint as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEndpoint {
    /// `we_…`
    pub id: String,
    pub url: String,
    /// Event types it receives (`dsync.*` matches a prefix); null for all.
    pub events: Option<Vec<String>>,
    pub enabled: bool,
    /// Why it was disabled (a 410 from the receiver), if it was.
    pub disabled_reason: Option<String>,
    /// While set, deliveries carry a second signature made with the previous secret.
    pub previous_secret_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An endpoint with its secret: only in the answers to create and rotate.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_…` (Standard Webhooks format).
    pub secret: String,
}

/// `POST /webhook_endpoints`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    pub url: String,
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// `PATCH /webhook_endpoints/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    /// An empty list or null means all events.
    #[serde(default)]
    pub events: Option<Option<Vec<String>>>,
    /// Re-enable after a 410 (missed events are delivered then) or pause.
    pub enabled: Option<bool>,
}

/// One attempt.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempted_at: i64,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `whd_…`
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_cursor: i64,
    /// pending | succeeded | failed | discarded
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub attempt_log: Vec<Attempt>,
}

fn view(r: &EndpointRow, now: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: r.id.clone(),
        url: r.url.clone(),
        events: r
            .events
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok()),
        enabled: r.enabled == 1,
        disabled_reason: r.disabled_reason.clone(),
        previous_secret_expires_at: r.prev_secret_expires_at.filter(|t| *t > now),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn new_webhook_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn seal(state: &AppState, id: &str, secret: &str) -> String {
    state
        .secrets
        .seal(secret, &format!("webhook_endpoints:{id}"))
}

fn open(state: &AppState, id: &str, sealed: &str) -> Option<String> {
    state
        .secrets
        .open(sealed, &format!("webhook_endpoints:{id}"))
}

/// The Standard Webhooks signature of one message with one secret: `v1,<base64>`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

fn check_events(events: Option<Vec<String>>) -> Result<Option<String>, FieldError> {
    let Some(list) = events.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if list.len() > 100 {
        return Err(FieldError::new("events", "at most 100 event types"));
    }
    for t in &list {
        let body = t.strip_suffix(".*").unwrap_or(t);
        let ok = !body.is_empty()
            && body.len() <= 100
            && body
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
        if !ok {
            return Err(FieldError::new(
                "events",
                format!("'{t}' is not an event type; use names like dsync.user.deactivated, or a prefix like dsync.*"),
            ));
        }
    }
    Ok(Some(serde_json::to_string(&list).unwrap_or_default()))
}

fn wants(events: Option<&str>, kind: &str) -> bool {
    let Some(list) = events.and_then(|e| serde_json::from_str::<Vec<String>>(e).ok()) else {
        return true;
    };
    list.iter().any(|t| match t.strip_suffix(".*") {
        Some(prefix) => kind.starts_with(prefix) && kind[prefix.len()..].starts_with('.'),
        None => t == kind,
    })
}

fn check_url(state: &AppState, raw: &str) -> Result<String, FieldError> {
    state
        .outbound
        .check_url(raw.trim())
        .map(|u| u.to_string())
        .map_err(|e| FieldError::new("url", e.to_string()))
}

/// A vendor webhook endpoint (log streams are reached through their organization).
async fn endpoint(conn: &mut Conn, id: &str) -> Result<EndpointRow, AppError> {
    scoped_endpoint(conn, id, None).await
}

async fn scoped_endpoint(
    conn: &mut Conn,
    id: &str,
    organization_id: Option<&str>,
) -> Result<EndpointRow, AppError> {
    if !is_valid_id(IdKind::WebhookEndpoint, id) {
        return Err(AppError::NotFound("webhook endpoint"));
    }
    q::get_endpoint(conn, id)
        .await?
        .filter(|e| e.organization_id.as_deref() == organization_id)
        .ok_or(AppError::NotFound("webhook endpoint"))
}

/// Registers an endpoint; it receives events from now on.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: CreateEndpoint,
) -> Result<EndpointWithSecret, AppError> {
    let url = check_url(state, &input.url)?;
    let events = check_events(input.events)?;
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let id = db::new_id(IdKind::WebhookEndpoint);
    let secret = new_webhook_secret();
    let head = crate::server::events::head(tx.conn()).await?;
    let row = EndpointRow {
        id: id.clone(),
        organization_id: None,
        kind: "webhook".into(),
        name: None,
        credential_enc: None,
        url,
        events,
        secret_enc: seal(state, &id, &secret),
        prev_secret_enc: None,
        prev_secret_expires_at: None,
        enabled: 1,
        disabled_reason: None,
        fanout_cursor: head,
        created_at: now,
        updated_at: now,
    };
    q::insert_endpoint(tx.conn(), &row).await?;
    tx.record(
        None,
        EventType::WebhookEndpointCreated,
        vec![Target::new("webhook_endpoint", &id, Some(&row.url))],
        json!({ "url": row.url, "events": row.events }),
    )
    .await?;
    tx.commit().await?;
    Ok(EndpointWithSecret {
        endpoint: view(&row, now),
        secret,
    })
}

/// Every endpoint.
pub async fn list(state: &AppState) -> Result<Vec<WebhookEndpoint>, AppError> {
    let now = state.clock.now();
    let mut conn = state.db.pool.acquire().await?;
    Ok(q::list_endpoints(&mut conn, false, Some(None))
        .await?
        .iter()
        .map(|r| view(r, now))
        .collect())
}

/// One endpoint.
pub async fn get(state: &AppState, id: &str) -> Result<WebhookEndpoint, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(view(&endpoint(&mut conn, id).await?, state.clock.now()))
}

/// Changes the URL, the event types or whether it is enabled.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &str,
    input: UpdateEndpoint,
) -> Result<WebhookEndpoint, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let mut row = endpoint(tx.conn(), id).await?;
    if let Some(u) = &input.url {
        row.url = check_url(state, u)?;
    }
    if let Some(e) = input.events {
        row.events = check_events(e)?;
    }
    if let Some(en) = input.enabled {
        row.enabled = i64::from(en);
        if en {
            row.disabled_reason = None;
        }
    }
    q::update_endpoint(tx.conn(), &row, now).await?;
    tx.record(
        None,
        EventType::WebhookEndpointUpdated,
        vec![Target::new("webhook_endpoint", id, Some(&row.url))],
        json!({ "url": row.url, "events": row.events, "enabled": row.enabled == 1 }),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&row, now))
}

/// Deletes an endpoint; its pending deliveries are discarded.
pub async fn delete(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = endpoint(tx.conn(), id).await?;
    q::delete_endpoint(tx.conn(), id, now).await?;
    tx.record(
        None,
        EventType::WebhookEndpointDeleted,
        vec![Target::new("webhook_endpoint", id, Some(&row.url))],
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A new secret; the previous one keeps signing alongside for a day.
pub async fn rotate_secret(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &str,
) -> Result<EndpointWithSecret, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let mut row = endpoint(tx.conn(), id).await?;
    let secret = new_webhook_secret();
    row.prev_secret_enc = Some(row.secret_enc.clone());
    row.prev_secret_expires_at = Some(now + SECRET_OVERLAP_MS);
    row.secret_enc = seal(state, id, &secret);
    q::update_endpoint(tx.conn(), &row, now).await?;
    tx.record(
        None,
        EventType::WebhookEndpointSecretRotated,
        vec![Target::new("webhook_endpoint", id, Some(&row.url))],
        json!({ "previous_secret_expires_at": row.prev_secret_expires_at }),
    )
    .await?;
    tx.commit().await?;
    Ok(EndpointWithSecret {
        endpoint: view(&row, now),
        secret,
    })
}

fn delivery_view(d: DeliveryRow, attempts: Vec<q::AttemptRow>) -> Delivery {
    Delivery {
        next_attempt_at: (d.state == "pending").then_some(d.next_attempt_at),
        id: d.id,
        endpoint_id: d.endpoint_id,
        event_id: d.event_id,
        event_cursor: d.event_cursor,
        state: d.state,
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: d.created_at,
        delivered_at: d.delivered_at,
        attempt_log: attempts
            .into_iter()
            .map(
                |(at, status, latency_ms, response_excerpt, error)| Attempt {
                    attempted_at: at,
                    status,
                    latency_ms,
                    response_excerpt,
                    error,
                },
            )
            .collect(),
    }
}

/// An endpoint's newest deliveries with their attempts.
pub async fn deliveries(state: &AppState, id: &str, limit: i64) -> Result<Vec<Delivery>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    endpoint(&mut conn, id).await?;
    let mut out = Vec::new();
    for d in q::list_deliveries(&mut conn, id, limit.clamp(1, 200)).await? {
        let a = q::attempts(&mut conn, &d.id).await?;
        out.push(delivery_view(d, a));
    }
    Ok(out)
}

/// Sends a delivery again (whatever its state, unless its endpoint was deleted).
pub async fn redeliver(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &str,
) -> Result<Delivery, AppError> {
    if !is_valid_id(IdKind::WebhookDelivery, id) {
        return Err(AppError::NotFound("webhook delivery"));
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if !q::requeue(tx.conn(), id, now).await? {
        return Err(AppError::NotFound("webhook delivery"));
    }
    tx.record(
        None,
        EventType::WebhookEndpointRedeliveryRequested,
        vec![Target::new("webhook_delivery", id, None)],
        json!({}),
    )
    .await?;
    let d = q::get_delivery(tx.conn(), id)
        .await?
        .ok_or(AppError::NotFound("webhook delivery"))?;
    let a = q::attempts(tx.conn(), id).await?;
    tx.commit().await?;
    Ok(delivery_view(d, a))
}

// --- the worker -------------------------------------------------------------------------------

/// Queues a delivery per (enabled endpoint, new event it wants). Safe on several nodes: each
/// endpoint's position moves with a conditional update.
pub async fn fan_out(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let endpoints = {
        let mut conn = state.db.pool.acquire().await?;
        q::list_endpoints(&mut conn, true, None).await?
    };
    let mut queued = 0;
    for ep in endpoints {
        let (mut tx, _turn) = state.db.begin().await?;
        let events = q::events_after(&mut tx, ep.fanout_cursor, 1000).await?;
        let Some(last) = events.last().map(|e| e.0) else {
            continue;
        };
        if !q::advance_fanout(&mut tx, &ep.id, ep.fanout_cursor, last).await? {
            continue;
        }
        for (cursor, event_id, kind, entity, org) in &events {
            // A log stream gets its own organization's events only.
            let in_scope = ep.organization_id.is_none() || ep.organization_id == *org;
            if in_scope && wants(ep.events.as_deref(), kind) {
                q::insert_delivery(
                    &mut tx,
                    &db::new_id(IdKind::WebhookDelivery),
                    &ep.id,
                    *cursor,
                    event_id,
                    entity,
                    now,
                    "pending",
                )
                .await?;
                queued += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(queued)
}

fn backoff_ms(attempts: i64) -> i64 {
    // 5 s, 20 s, 80 s, … doubling twice per step, capped at 10 hours; ±20 % jitter.
    let base = 5_000i64.saturating_mul(4i64.saturating_pow(attempts.clamp(0, 12) as u32));
    let base = base.min(10 * 3600 * 1000);
    let spread = base / 5;
    base - spread + (rand::random::<u32>() as i64 % (2 * spread + 1))
}

/// What one attempt came to.
struct Outcome {
    status: Option<i64>,
    latency_ms: i64,
    excerpt: Option<String>,
    error: Option<String>,
}

async fn attempt(state: &AppState, ep: &EndpointRow, d: &DeliveryRow) -> Outcome {
    let started = std::time::Instant::now();
    let fail = |error: String| Outcome {
        status: None,
        latency_ms: started.elapsed().as_millis() as i64,
        excerpt: None,
        error: Some(error),
    };
    let row = {
        let Ok(mut conn) = state.db.pool.acquire().await else {
            return fail("database unavailable".into());
        };
        q::event(&mut conn, d.event_cursor).await.ok().flatten()
    };
    let Some(row) = row else {
        return fail("the event is no longer kept (retention)".into());
    };
    send(state, ep, &crate::server::events::to_event(row)).await
}

/// Sends one event to one endpoint in the endpoint's format.
async fn send(state: &AppState, ep: &EndpointRow, ev: &crate::server::events::Event) -> Outcome {
    let started = std::time::Instant::now();
    let fail = |error: String| Outcome {
        status: None,
        latency_ms: started.elapsed().as_millis() as i64,
        excerpt: None,
        error: Some(error),
    };
    let body = json!({
        "id": ev.id,
        "type": ev.kind,
        "created_at": ev.created_at,
        "organization_id": ev.organization_id,
        "cursor": ev.cursor,
        "entity": ev.entity,
        "data": ev.data,
    })
    .to_string();
    // Receivers compare the timestamp with their own clock (replay window): real time, not the
    // scheduling clock (which tests move forward).
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let now = state.clock.now();
    let credential = ep
        .credential_enc
        .as_deref()
        .and_then(|c| open(state, &ep.id, c));
    let (body, auth) = match ep.kind.as_str() {
        "splunk_hec" => (
            json!({ "time": ts, "source": "lanyard", "sourcetype": "lanyard:audit", "event": serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default() }).to_string(),
            credential.map(|c| ("authorization", format!("Splunk {c}"))),
        ),
        "datadog" => (
            json!([{ "ddsource": "lanyard", "service": "lanyard", "ddtags": format!("event_type:{}", ev.kind), "message": body }]).to_string(),
            credential.map(|c| ("dd-api-key", c)),
        ),
        _ => (body, None),
    };
    let mut req = http::Request::post(&ep.url)
        .header("content-type", "application/json")
        .header("webhook-id", &ev.id)
        .header("webhook-timestamp", ts.to_string());
    // Every format is signed over the exact body sent (Standard Webhooks headers).
    let mut sigs = Vec::new();
    for sealed in std::iter::once(Some(&ep.secret_enc)).chain(std::iter::once(
        ep.prev_secret_enc
            .as_ref()
            .filter(|_| ep.prev_secret_expires_at.is_some_and(|t| t > now)),
    )) {
        if let Some(secret) = sealed.and_then(|s| open(state, &ep.id, s)) {
            if let Some(sig) = sign(&secret, &ev.id, ts, &body) {
                sigs.push(sig);
            }
        }
    }
    if sigs.is_empty() {
        return fail(
            "the endpoint's secret cannot be read (was LANYARD_SECRET_KEY changed?); rotate it"
                .into(),
        );
    }
    req = req.header("webhook-signature", sigs.join(" "));
    if let Some((k, v)) = auth {
        req = req.header(k, v);
    }
    let req = req.body(body.into_bytes());
    let req = match req {
        Ok(r) => r,
        Err(_) => return fail(format!("{} is not a valid URL", ep.url)),
    };
    match state.outbound.execute(req).await {
        Ok(resp) => {
            let text = String::from_utf8_lossy(resp.body());
            Outcome {
                status: Some(i64::from(resp.status().as_u16())),
                latency_ms: started.elapsed().as_millis() as i64,
                excerpt: Some(text.chars().take(500).collect()),
                error: None,
            }
        }
        Err(e) => fail(e.to_string()),
    }
}

/// Sends what is due; returns how many attempts were made.
pub async fn deliver(state: &AppState) -> Result<usize, AppError> {
    use futures::StreamExt as _;
    let now = state.clock.now();
    let due = {
        let mut conn = state.db.pool.acquire().await?;
        q::due_deliveries(&mut conn, now, 64).await?
    };
    let mut claimed = Vec::new();
    for d in due {
        let _turn = state.db.write_turn().await?;
        let mut conn = state.db.pool.acquire().await?;
        if q::claim_delivery(
            &mut conn,
            &d.id,
            d.next_attempt_at,
            state.clock.now() + LEASE_MS,
        )
        .await?
        {
            claimed.push(d);
        }
    }
    let n = claimed.len();
    // Only the first undelivered event of each entity is due, so attempts can run side by side.
    futures::stream::iter(claimed)
        .map(|d| async move { finish(state, d).await })
        .buffer_unordered(8)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, "recording a webhook attempt failed");
            }
        })
        .await;
    Ok(n)
}

async fn finish(state: &AppState, d: DeliveryRow) -> Result<(), AppError> {
    let ep = {
        let mut conn = state.db.pool.acquire().await?;
        q::get_endpoint(&mut conn, &d.endpoint_id).await?
    };
    let Some(ep) = ep else {
        return Ok(());
    };
    let out = attempt(state, &ep, &d).await;
    let done = state.clock.now();
    let ok = out.status.is_some_and(|s| (200..300).contains(&s));
    let gone = out.status == Some(410);
    let error = out.error.clone().or_else(|| match out.status {
        Some(s) if (300..400).contains(&s) => Some(format!(
            "HTTP {s}: redirects are not followed; point the endpoint at the final URL"
        )),
        Some(s) if !ok => Some(format!("HTTP {s}")),
        _ => None,
    });
    let (st, next) = if ok {
        ("succeeded", d.next_attempt_at)
    } else if gone || done - d.created_at > RETRY_WINDOW_MS {
        ("failed", d.next_attempt_at)
    } else {
        ("pending", done + backoff_ms(d.attempts))
    };
    if gone {
        let mut tx = AuditedTx::begin(
            &state.db,
            &Actor::system(),
            &RequestContext::default(),
            done,
        )
        .await?;
        q::finish_attempt(
            tx.conn(),
            &db::new_id(IdKind::WebhookAttempt),
            &d.id,
            st,
            next,
            out.status,
            out.latency_ms,
            out.excerpt.as_deref(),
            error.as_deref(),
            done,
        )
        .await?;
        if q::disable_endpoint(tx.conn(), &ep.id, "the receiver answered 410 Gone", done).await? {
            tx.record(
                None,
                EventType::WebhookEndpointDisabled,
                vec![Target::new("webhook_endpoint", &ep.id, Some(&ep.url))],
                json!({ "reason": "410 Gone", "delivery_id": d.id }),
            )
            .await?;
            tx.commit().await?;
        } else {
            tx.commit_observation().await?;
        }
        return Ok(());
    }
    let (mut tx, _turn) = state.db.begin().await?;
    q::finish_attempt(
        &mut tx,
        &db::new_id(IdKind::WebhookAttempt),
        &d.id,
        st,
        next,
        out.status,
        out.latency_ms,
        out.excerpt.as_deref(),
        error.as_deref(),
        done,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification (signature scheme section).
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn event_filters_match_exact_types_and_prefixes() {
        let f = Some(r#"["dsync.*","membership.role_changed"]"#);
        assert!(wants(f, EventType::DsyncUserCreated.as_str()));
        assert!(wants(f, EventType::MembershipRoleChanged.as_str()));
        assert!(!wants(f, EventType::MembershipCreated.as_str()));
        assert!(!wants(f, "dsyncx.user"));
        assert!(wants(None, "anything"));
        assert!(check_events(Some(vec!["Bad Type".into()])).is_err());
        assert_eq!(check_events(Some(vec![])).unwrap(), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        assert!((4_000..=6_000).contains(&backoff_ms(0)));
        assert!((16_000..=24_000).contains(&backoff_ms(1)));
        assert!(backoff_ms(30) <= 12 * 3600 * 1000);
    }
}

// --- log streams (the customer's SIEM) --------------------------------------------------------

/// Formats a log stream can send.
pub const STREAM_KINDS: [(&str, &str); 3] = [
    ("json", "Generic JSON (HTTPS POST, signed)"),
    ("splunk_hec", "Splunk HTTP Event Collector"),
    ("datadog", "Datadog Logs"),
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
            enabled: r.enabled == 1,
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
    if kind != "json" && credential.is_empty() {
        return Err(FieldError::new(
            "credential",
            if kind == "splunk_hec" {
                "paste the HEC token"
            } else {
                "paste a Datadog API key"
            },
        )
        .into());
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let id = db::new_id(IdKind::WebhookEndpoint);
    let head = crate::server::events::head(tx.conn()).await?;
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
        enabled: 1,
        disabled_reason: None,
        fanout_cursor: head,
        created_at: now,
        updated_at: now,
    };
    q::insert_endpoint(tx.conn(), &row).await?;
    tx.record(
        Some(organization_id),
        EventType::LogStreamCreated,
        vec![Target::new("log_stream", &id, Some(name))],
        json!({ "kind": kind, "url": row.url }),
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
    id: &str,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = scoped_endpoint(tx.conn(), id, Some(organization_id)).await?;
    q::delete_endpoint(tx.conn(), id, now).await?;
    tx.record(
        Some(organization_id),
        EventType::LogStreamDeleted,
        vec![Target::new("log_stream", id, row.name.as_deref())],
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
    id: &str,
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
            kind: "log_stream".into(),
            id: id.to_owned(),
            sequence: 0,
        },
        data: json!({ "message": "Test event from Lanyard: if you can read this, the stream works." }),
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
        vec![Target::new("log_stream", id, row.name.as_deref())],
        json!({ "ok": ok, "status": out.status }),
    )
    .await?;
    tx.commit().await?;
    Ok((ok, message))
}
