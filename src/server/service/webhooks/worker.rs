//! The worker: fans events out into deliveries and sends what is due.
//!
//! Each endpoint is driven by its own task ([`drive`]) that keeps up to [`PER_ENDPOINT`] attempts
//! in flight, leases new deliveries as attempts finish and records outcomes in batches — one
//! transaction records the finished attempts and leases the next ones. An endpoint whose
//! receiver hangs holds only its own slots until the HTTP timeout; other endpoints' tasks go on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::event_type::EventType;
use crate::domain::ids::IdKind;
use crate::domain::target::TargetKind;
use crate::domain::webhook::DeliveryState;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db;
use crate::server::db::webhooks::{self as q, DeliveryRow, EndpointRow, Finished};
use crate::server::error::AppError;
use crate::server::events::Event;
use crate::server::state::AppState;

use super::{event_filter, wants, Outcome, Sender, LEASE_MS, RETRY_WINDOW_MS};

/// Attempts in flight at once per endpoint.
const PER_ENDPOINT: usize = 32;
/// Attempts in flight at once per owner (an organization's log streams, or the vendor's
/// webhooks): a tenant with many endpoints whose receivers hang holds at most this many.
const PER_OWNER: usize = 64;
/// Attempts in flight at once on this node (sockets, memory), whatever the number of endpoints.
const PER_NODE: usize = 256;
/// Finished attempts recorded together at most (more wait for the next transaction).
const RECORD_AT: usize = 64;
/// Events fanned out per endpoint per transaction.
const FAN_OUT_BATCH: i64 = 1000;
/// While attempts are in flight and nothing was due, look again this often.
const RECHECK: Duration = Duration::from_millis(250);

/// Queues a delivery per (enabled endpoint, new event it wants). Safe on several nodes: each
/// endpoint's position moves with a conditional update in the transaction that queues them.
pub async fn fan_out(state: &AppState) -> Result<usize, AppError> {
    // Every event committed before this call is numbered first (PostgreSQL: writes do not wait
    // for the sequencer), so a fan-out never misses what was answered before it began.
    state.db.caught_up().await;
    let endpoints = {
        let mut conn = state.db.pool.acquire().await?;
        q::list_endpoints(&mut conn, true, None).await?
    };
    let mut queued = 0;
    for ep in endpoints {
        queued += fan_out_endpoint(state, &ep).await?;
    }
    Ok(queued)
}

async fn fan_out_endpoint(state: &AppState, ep: &EndpointRow) -> Result<usize, AppError> {
    if let Some(org) = ep.organization_id.as_deref() {
        return fan_out_stream(state, ep, org).await;
    }
    // Read first: an endpoint with nothing new costs no write turn.
    let events = {
        let mut conn = state.db.pool.acquire().await?;
        q::events_after(&mut conn, ep.fanout_cursor, FAN_OUT_BATCH).await?
    };
    let Some(last) = events.last().map(|e| e.cursor) else {
        return Ok(0);
    };
    let filter = event_filter(ep.events.as_deref());
    let workos = crate::domain::webhook::EndpointKind::parse(&ep.kind)
        == Some(crate::domain::webhook::EndpointKind::Workos);
    let rows: Vec<q::NewDelivery> = events
        .iter()
        // A WorkOS-format endpoint gets the events WorkOS has a name for, filtered by that name.
        .filter(|e| match workos {
            true => crate::server::http::workos::events::workos_name(&e.kind)
                .is_some_and(|name| wants(filter.as_deref(), name)),
            false => wants(filter.as_deref(), &e.kind),
        })
        .map(|e| q::NewDelivery {
            id: db::new_id(IdKind::WebhookDelivery),
            endpoint_id: &ep.id,
            event_cursor: e.cursor,
            event_id: &e.id,
            entity_key: &e.entity_key,
        })
        .collect();
    queue(state, ep, last, &rows).await
}

/// A log stream carries its organization's audit trail (what the vendor's product reported
/// too): its position is the chain's sequence number, dense per organization.
async fn fan_out_stream(state: &AppState, ep: &EndpointRow, org: &str) -> Result<usize, AppError> {
    let trail = {
        let mut conn = state.db.pool.acquire().await?;
        crate::server::audit::list_for_organization(&mut conn, org, ep.fanout_cursor, FAN_OUT_BATCH)
            .await?
    };
    let Some(last) = trail.last().map(|r| r.chain_seq) else {
        return Ok(0);
    };
    let filter = event_filter(ep.events.as_deref());
    let keys: Vec<String> = trail
        .iter()
        .map(crate::server::events::stream_entity_key)
        .collect();
    let rows: Vec<q::NewDelivery> = trail
        .iter()
        .zip(&keys)
        .filter(|(r, _)| wants(filter.as_deref(), &r.action))
        .map(|(r, key)| q::NewDelivery {
            id: db::new_id(IdKind::WebhookDelivery),
            endpoint_id: &ep.id,
            event_cursor: r.chain_seq,
            event_id: &r.id,
            entity_key: key,
        })
        .collect();
    queue(state, ep, last, &rows).await
}

/// Moves the endpoint's position to `last` and queues `rows`, unless another node did first.
async fn queue(
    state: &AppState,
    ep: &EndpointRow,
    last: i64,
    rows: &[q::NewDelivery<'_>],
) -> Result<usize, AppError> {
    let mut tx = state.db.write().await?;
    if !q::advance_fanout(tx.conn(), &ep.id, ep.fanout_cursor, last).await? {
        return Ok(0); // another node queued them
    }
    q::insert_deliveries(tx.conn(), rows, state.clock.now()).await?;
    tx.commit().await?;
    Ok(rows.len())
}

fn backoff_ms(attempts: i64) -> i64 {
    // 5 s, 20 s, 80 s, … doubling twice per step, capped at 10 hours; ±20 % jitter.
    let base = 5_000i64.saturating_mul(4i64.saturating_pow(attempts.clamp(0, 12) as u32));
    let base = base.min(10 * 3600 * 1000);
    let spread = base / 5;
    base - spread + (rand::random::<u32>() as i64 % (2 * spread + 1))
}

/// Sends what is due, every endpoint side by side, each until nothing more is due; returns how
/// many attempts were made. (The serving node runs [`work`]; tests call this.)
pub async fn deliver(state: &AppState) -> Result<usize, AppError> {
    let due = endpoints_due(state, |_| false).await?;
    let slots = Slots::new();
    let runs = futures::future::join_all(
        due.iter()
            .map(|(id, owner)| drive(state, id, &slots, owner)),
    )
    .await;
    runs.into_iter().sum()
}

/// The enabled endpoints with a delivery due now, with their owners, leaving out those `busy`
/// says are being driven.
async fn endpoints_due(
    state: &AppState,
    busy: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Option<String>)>, AppError> {
    let now = state.clock.now();
    let mut conn = state.db.pool.acquire().await?;
    let mut due = Vec::new();
    for ep in q::list_endpoints(&mut conn, true, None).await? {
        if !busy(&ep.id) && q::has_due(&mut conn, &ep.id, now).await? {
            due.push((ep.id, ep.organization_id));
        }
    }
    Ok(due)
}

/// Slots for attempts in flight: one per node and one per owner, both taken for each attempt.
struct Slots {
    node: Arc<Semaphore>,
    owners: std::sync::Mutex<HashMap<Option<String>, Arc<Semaphore>>>,
}

/// An attempt's two slots, given back when it ends.
struct Slot {
    _owner: OwnedSemaphorePermit,
    _node: OwnedSemaphorePermit,
}

impl Slots {
    fn new() -> Slots {
        Slots {
            node: Arc::new(Semaphore::new(PER_NODE)),
            owners: Default::default(),
        }
    }

    fn owner(&self, owner: &Option<String>) -> Arc<Semaphore> {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        // Owners no endpoint task is driving (and with nothing in flight: every slot holds the
        // semaphore too) are forgotten, so the map stays as small as the number of owners sending.
        owners.retain(|_, s| Arc::strong_count(s) > 1);
        owners
            .entry(owner.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(PER_OWNER)))
            .clone()
    }

    /// Up to `want` slots free now (never waits).
    fn take(&self, owner: &Arc<Semaphore>, want: usize) -> Vec<Slot> {
        let mut got = Vec::new();
        while got.len() < want {
            let Ok(o) = owner.clone().try_acquire_owned() else {
                break;
            };
            let Ok(n) = self.node.clone().try_acquire_owned() else {
                break;
            };
            got.push(Slot {
                _owner: o,
                _node: n,
            });
        }
        got
    }
}

/// A serving node's webhook worker: fans out at once while there is work and every 0.5 s when
/// idle, and keeps one [`drive`] task per endpoint with due deliveries, which ends when its
/// endpoint has nothing left due. Never returns.
pub async fn work(state: AppState) {
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let slots = Arc::new(Slots::new());
    loop {
        let queued = match fan_out(&state).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e.cause_chain(), "webhook fan-out failed");
                0
            }
        };
        running.retain(|_, task| !task.is_finished());
        match endpoints_due(&state, |id| running.contains_key(id)).await {
            Ok(due) => {
                for (id, owner) in due {
                    let state = state.clone();
                    let endpoint = id.clone();
                    let slots = slots.clone();
                    let task = tokio::spawn(async move {
                        if let Err(e) = drive(&state, &endpoint, &slots, &owner).await {
                            tracing::warn!(endpoint, error = %e.cause_chain(), "webhook delivery failed");
                            // Leased deliveries are tried again when their lease ends.
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    });
                    running.insert(id, task);
                }
            }
            Err(e) => tracing::warn!(error = %e.cause_chain(), "webhook delivery failed"),
        }
        let now = state.clock.now();
        state.workers.beat("webhooks", now, 0, 1_000);
        if queued == 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// One attempt that ended, waiting to be recorded.
struct Sent {
    delivery: DeliveryRow,
    out: Outcome,
    at: i64,
}

/// Delivers one endpoint's due deliveries until none is left due and none is in flight; returns
/// how many attempts were made.
async fn drive(
    state: &AppState,
    endpoint_id: &str,
    slots: &Slots,
    owner: &Option<String>,
) -> Result<usize, AppError> {
    // An organization's endpoints are its log streams; the vendor's are webhooks.
    let counter = if owner.is_some() {
        "lanyard_log_stream_attempts_total"
    } else {
        "lanyard_webhook_attempts_total"
    };
    let owner = slots.owner(owner);
    let mut in_flight = FuturesUnordered::new();
    let mut done: Vec<Sent> = Vec::new();
    let mut attempts = 0;
    // The last lease found fewer deliveries than it asked for. Recorded outcomes can make more
    // due (an entity's next event), so recording leases again; so does every RECHECK.
    let mut drained = false;
    loop {
        let room = PER_ENDPOINT - in_flight.len();
        let record = !done.is_empty() && (room >= PER_ENDPOINT / 2 || done.len() >= RECORD_AT);
        let lease = room >= PER_ENDPOINT / 2 && (record || !drained);
        // Slots are taken before leasing, so a leased delivery never waits for one.
        let mut free = if lease {
            slots.take(&owner, room)
        } else {
            Vec::new()
        };
        if lease && free.is_empty() && done.is_empty() && in_flight.is_empty() {
            // The owner's or the node's slots are all in use by other endpoints.
            tokio::time::sleep(RECHECK).await;
            continue;
        }
        if record || !free.is_empty() {
            let finished: Vec<Sent> = std::mem::take(&mut done);
            let want = free.len();
            let (sender, leased) = cycle(state, endpoint_id, &finished, want).await?;
            if want > 0 {
                drained = leased.len() < want;
            }
            attempts += leased.len();
            if let Some(sender) = sender {
                for (delivery, event) in leased {
                    let sender = sender.clone();
                    let slot = free.pop();
                    in_flight.push(async move {
                        let _slot = slot;
                        let out = match event {
                            // Each delivery is a trace of its own; the receiver gets its
                            // traceparent.
                            Some(ev) => {
                                sender
                                    .send(state, &ev)
                                    .instrument(tracing::info_span!(
                                        "webhook.deliver",
                                        event_type = %ev.kind,
                                    ))
                                    .await
                            }
                            None => Outcome::failed(
                                std::time::Instant::now(),
                                "the event is no longer kept (retention)".into(),
                            ),
                        };
                        let outcome = match out.status {
                            Some(s) if (200..300).contains(&s) => "delivered",
                            Some(410) => "gone",
                            _ => "failed",
                        };
                        metrics::counter!(counter, "outcome" => outcome).increment(1);
                        Sent {
                            delivery,
                            out,
                            at: state.clock.now(),
                        }
                    });
                }
            }
        }
        if in_flight.is_empty() {
            if done.is_empty() && drained {
                return Ok(attempts);
            }
            continue;
        }
        tokio::select! {
            Some(sent) = in_flight.next() => done.push(sent),
            _ = tokio::time::sleep(RECHECK) => drained = false,
        }
        while let Some(Some(sent)) = in_flight.next().now_or_never() {
            done.push(sent);
        }
    }
}

/// One transaction: records `finished` and leases up to `want` due deliveries with their events.
/// No sender (and nothing leased) when the endpoint is disabled or deleted.
async fn cycle(
    state: &AppState,
    endpoint_id: &str,
    finished: &[Sent],
    want: usize,
) -> Result<(Option<Arc<Sender>>, Vec<(DeliveryRow, Option<Event>)>), AppError> {
    let now = state.clock.now();
    let records: Vec<Finished> = finished.iter().map(record).collect();
    state.webhook_leases.recorded(finished);
    if let Some(gone) = finished.iter().find(|s| s.out.status == Some(410)) {
        record_gone(state, &gone.delivery, &records, now).await?;
        return Ok((None, Vec::new()));
    }
    // On SQLite a write on the writer connection, batched with whatever else is writing: its
    // page cache stays warm (a pooled connection starts cold after another one wrote).
    let mut tx = state.db.write().await?;
    // The lease runs from when this transaction got its turn, not from before the wait for it.
    let now = state.clock.now();
    q::finish_attempts(tx.conn(), &records, now).await?;
    let ep = q::get_endpoint(tx.conn(), endpoint_id)
        .await?
        .filter(|e| e.enabled);
    let mut leased = Vec::new();
    if let Some(ep) = ep.as_ref().filter(|_| want > 0) {
        let rows = q::lease_due(tx.conn(), &ep.id, now, now + LEASE_MS, want as i64).await?;
        let cursors: Vec<i64> = rows.iter().map(|r| r.event_cursor).collect();
        // A log stream's positions are its organization's chain positions.
        let mut events: HashMap<i64, Event> = match ep.organization_id.as_deref() {
            Some(org) => crate::server::audit::at_positions(tx.conn(), org, &cursors)
                .await?
                .iter()
                .map(|r| (r.chain_seq, crate::server::events::stream_event(r)))
                .collect(),
            None => q::events_at(tx.conn(), &cursors)
                .await?
                .into_iter()
                .map(|e| (e.cursor, crate::server::events::to_event(e)))
                .collect(),
        };
        leased = rows
            .into_iter()
            .map(|r| {
                let ev = events.remove(&r.event_cursor);
                (r, ev)
            })
            .collect();
    }
    tx.commit().await?;
    state.webhook_leases.held(&leased);
    Ok((ep.map(|ep| Arc::new(Sender::new(state, ep))), leased))
}

/// The deliveries this node leased and has not recorded yet, with the lease's end: given back
/// when the node stops ([`release_leases`]) so another node sends them at once instead of after
/// the lease.
#[derive(Debug, Default)]
pub struct Leases(std::sync::Mutex<HashMap<String, i64>>);

impl Leases {
    fn held(&self, rows: &[(DeliveryRow, Option<Event>)]) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (r, _) in rows {
            m.insert(r.id.clone(), r.next_attempt_at);
        }
    }

    fn recorded(&self, finished: &[Sent]) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for s in finished {
            m.remove(&s.delivery.id);
        }
    }
}

/// Gives back this node's unrecorded leases (a stopping node): each delivery still pending
/// under the same lease becomes due now. An attempt cut off mid-send may then be delivered twice;
/// receivers deduplicate by `webhook-id`, as Standard Webhooks asks.
pub async fn release_leases(state: &AppState) -> Result<usize, AppError> {
    let held: Vec<(String, i64)> = {
        let mut m = state
            .webhook_leases
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        m.drain().collect()
    };
    if held.is_empty() {
        return Ok(0);
    }
    let now = state.clock.now();
    let mut tx = state.db.write().await?;
    let mut released = 0;
    for (id, lease_until) in &held {
        released += q::release_lease(tx.conn(), id, *lease_until, now).await?;
    }
    tx.commit().await?;
    Ok(released as usize)
}

/// What an attempt comes to: the delivery's next state and the attempt's log line.
fn record(sent: &Sent) -> Finished {
    let Sent {
        delivery: d,
        out,
        at,
    } = sent;
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
        (DeliveryState::Succeeded, *at)
    } else if gone || at - d.created_at > RETRY_WINDOW_MS {
        (DeliveryState::Failed, *at)
    } else {
        (DeliveryState::Pending, at + backoff_ms(d.attempts))
    };
    Finished {
        attempt_id: db::new_id(IdKind::WebhookAttempt),
        delivery_id: d.id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        attempted_at: *at,
        state: st.as_str(),
        next,
        status: out.status,
        latency_ms: out.latency_ms,
        excerpt: out.excerpt.clone(),
        error,
    }
}

/// A receiver answered 410 Gone: the batch's outcomes are recorded in the audited transaction
/// that disables the endpoint (once).
async fn record_gone(
    state: &AppState,
    d: &DeliveryRow,
    records: &[Finished],
    now: i64,
) -> Result<(), AppError> {
    let mut tx =
        AuditedTx::begin(&state.db, &Actor::system(), &RequestContext::default(), now).await?;
    q::finish_attempts(tx.conn(), records, now).await?;
    let ep = q::get_endpoint(tx.conn(), &d.endpoint_id).await?;
    match ep {
        Some(ep)
            if q::disable_endpoint(tx.conn(), &ep.id, "the receiver answered 410 Gone", now)
                .await? =>
        {
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
        }
        _ => tx.commit_observation().await?,
    }
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

    #[test]
    fn an_owner_and_the_node_hold_at_most_their_slots() {
        let slots = Slots::new();
        let tenant = slots.owner(&Some("org_a".into()));
        // One tenant's many endpoints (each asking for its own PER_ENDPOINT) get PER_OWNER in all.
        let mut held = Vec::new();
        for _ in 0..10 {
            held.extend(slots.take(&tenant, PER_ENDPOINT));
        }
        assert_eq!(held.len(), PER_OWNER);
        // Another owner still gets its own.
        let other = slots.owner(&None);
        let theirs = slots.take(&other, PER_ENDPOINT);
        assert_eq!(theirs.len(), PER_ENDPOINT);
        // The node's cap holds across owners.
        let mut all = Vec::new();
        for i in 0..(2 * PER_NODE / PER_OWNER) {
            let o = slots.owner(&Some(format!("org_{i}")));
            all.extend(slots.take(&o, PER_OWNER));
        }
        assert_eq!(all.len() + held.len() + theirs.len(), PER_NODE);
        // Ended attempts give their slots back.
        drop(held);
        assert_eq!(slots.take(&tenant, PER_ENDPOINT).len(), PER_ENDPOINT);
    }
}
