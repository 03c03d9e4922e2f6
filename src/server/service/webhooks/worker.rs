//! The worker: fans events out into deliveries and sends what is due.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use crate::domain::webhook::DeliveryState;
use serde_json::json;

use crate::domain::ids::IdKind;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db;
use crate::server::db::webhooks::{self as q, DeliveryRow, EndpointRow};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{send, wants, Outcome, LEASE_MS, RETRY_WINDOW_MS};

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
        let Some(last) = events.last().map(|e| e.cursor) else {
            continue;
        };
        if !q::advance_fanout(&mut tx, &ep.id, ep.fanout_cursor, last).await? {
            continue;
        }
        for q::EventRef {
            cursor,
            id: event_id,
            kind,
            entity_key: entity,
            organization_id: org,
        } in &events
        {
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
                    DeliveryState::Pending.as_str(),
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
        (DeliveryState::Succeeded, d.next_attempt_at)
    } else if gone || done - d.created_at > RETRY_WINDOW_MS {
        (DeliveryState::Failed, d.next_attempt_at)
    } else {
        (DeliveryState::Pending, done + backoff_ms(d.attempts))
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
            st.as_str(),
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
                vec![Target::new(
                    TargetKind::WebhookEndpoint,
                    &ep.id,
                    Some(&ep.url),
                )],
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
        st.as_str(),
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
    fn backoff_grows_with_jitter_and_is_capped() {
        assert!((4_000..=6_000).contains(&backoff_ms(0)));
        assert!((16_000..=24_000).contains(&backoff_ms(1)));
        assert!(backoff_ms(30) <= 12 * 3600 * 1000);
    }
}
