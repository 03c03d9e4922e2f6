//! The vendor's webhook endpoints and their deliveries.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use crate::domain::webhook::DeliveryState;
use crate::domain::webhook::EndpointKind;
use serde_json::json;

use crate::domain::ids::{IdKind, WebhookDeliveryId, WebhookEndpointId};
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db;
use crate::server::db::webhooks::{self as q, DeliveryRow, EndpointRow};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{
    check_events, check_url, endpoint, new_webhook_secret, seal, view, Attempt, CreateEndpoint,
    Delivery, EndpointWithSecret, UpdateEndpoint, WebhookEndpoint, SECRET_OVERLAP_MS,
};

/// Registers an endpoint; it receives events from now on.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: CreateEndpoint,
) -> Result<EndpointWithSecret, AppError> {
    let url = check_url(state, &input.url)?;
    let events = check_events(input.events)?;
    let kind = match input.format.as_deref() {
        None | Some("standard") => EndpointKind::Webhook,
        Some("workos") => EndpointKind::Workos,
        Some(other) => {
            return Err(crate::domain::FieldError::new(
                "format",
                format!("'{other}' is not a format; use standard (Standard Webhooks) or workos (WorkOS-Signature)"),
            )
            .into())
        }
    };
    let now = state.clock.now();
    // It starts after the feed's head: every event answered before this request is numbered
    // first (PostgreSQL), so none of them is delivered to the new endpoint.
    state.db.caught_up().await;
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let id = db::new_id(IdKind::WebhookEndpoint);
    let secret = new_webhook_secret();
    let head = crate::server::events::head(tx.conn()).await?;
    let row = EndpointRow {
        id: id.clone(),
        organization_id: None,
        kind: kind.as_str().into(),
        name: None,
        credential_enc: None,
        url,
        events,
        secret_enc: seal(state, &id, &secret),
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
        None,
        EventType::WebhookEndpointCreated,
        vec![Target::new(
            TargetKind::WebhookEndpoint,
            &id,
            Some(&row.url),
        )],
        json!({ "url": row.url, "events": row.events, "format": kind.as_str() }),
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
pub async fn get(state: &AppState, id: &WebhookEndpointId) -> Result<WebhookEndpoint, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(view(&endpoint(&mut conn, id).await?, state.clock.now()))
}

/// Changes the URL, the event types or whether it is enabled.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &WebhookEndpointId,
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
        row.enabled = en;
        if en {
            row.disabled_reason = None;
        }
    }
    q::update_endpoint(tx.conn(), &row, now).await?;
    tx.record(
        None,
        EventType::WebhookEndpointUpdated,
        vec![Target::new(TargetKind::WebhookEndpoint, id, Some(&row.url))],
        json!({ "url": row.url, "events": row.events, "enabled": row.enabled }),
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
    id: &WebhookEndpointId,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = endpoint(tx.conn(), id).await?;
    q::delete_endpoint(tx.conn(), id, now).await?;
    tx.record(
        None,
        EventType::WebhookEndpointDeleted,
        vec![Target::new(TargetKind::WebhookEndpoint, id, Some(&row.url))],
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
    id: &WebhookEndpointId,
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
        vec![Target::new(TargetKind::WebhookEndpoint, id, Some(&row.url))],
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
        next_attempt_at: (d.state == DeliveryState::Pending).then_some(d.next_attempt_at),
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
                |q::AttemptRow {
                     attempted_at: at,
                     status,
                     latency_ms,
                     response_excerpt,
                     error,
                 }| Attempt {
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
pub async fn deliveries(
    state: &AppState,
    id: &WebhookEndpointId,
    limit: i64,
) -> Result<Vec<Delivery>, AppError> {
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
    id: &WebhookDeliveryId,
) -> Result<Delivery, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    // The vendor's endpoints only: a customer's log stream is reached through its organization.
    let vendors = match q::get_delivery(tx.conn(), id).await? {
        Some(d) => endpoint(
            tx.conn(),
            &WebhookEndpointId::parse(&d.endpoint_id)
                .ok_or(AppError::NotFound("webhook delivery"))?,
        )
        .await
        .is_ok(),
        None => false,
    };
    if !vendors || !q::requeue(tx.conn(), id, now).await? {
        return Err(AppError::NotFound("webhook delivery"));
    }
    tx.record(
        None,
        EventType::WebhookEndpointRedeliveryRequested,
        vec![Target::new(TargetKind::WebhookDelivery, id, None)],
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
