//! Every background task of a serving node, in one place: what runs, how often, and what makes
//! it safe when several nodes run it against one database. The tasks' bodies live in their
//! services (and the tests call them directly); this module only schedules them.
//!
//! | task | period | on several nodes |
//! |---|---|---|
//! | domain re-checks (`domains::run_due_checks`) | 1 min | row lease: `next_check_at` compare-and-set per domain (`db::domains::lease`), 5 min lease |
//! | IdP metadata refresh, daily per connection set up from a metadata URL (`saml_metadata::refresh_due`) | 1 min | row lease: `next_at` compare-and-set per connection (`db::saml::lease_refresh`), 5 min lease |
//! | IdP certificate expiry warnings (`connections::warn_expiring_certificates`) | 1 min | conditional update of `warned_days` (`db::saml::mark_warned`) in the audit transaction: one warning per threshold |
//! | scheduled removals of directory-suspended members, incl. the re-check of protected ones (`directories::remove_due`) | 1 min | row claim: `remove_after` cleared by a conditional update (`claim_removal`) in the audit transaction; the organization row is locked on PostgreSQL |
//! | invitation expiry (`invitations::expire_due`) | 1 min | conditional update `state = 'pending'` → `expired` per invitation (`finish_invitation`): a row another node expired is skipped |
//! | expired sessions (`DbSessionStore::delete_expired`) | 10 min | idempotent `DELETE … WHERE expires_at < now` |
//! | SCIM request log retention (`directories::purge_request_log`) | 10 min | idempotent `DELETE` by age, one statement per directory (`db::retention`) |
//! | events feed retention (`events::purge`) | 10 min | idempotent `DELETE` by age |
//! | sign-in attempt retention, 90 days (`activity::purge_attempts`) | 10 min | idempotent `DELETE` by age, one statement per connection |
//! | SSO sessions kept for single logout, 30 days, and unanswered logouts (`sso::purge_sessions`) | 10 min | idempotent `DELETE` by age |
//! | shared rate-limit windows, PostgreSQL (`ratelimit::purge`) | 10 min | idempotent `DELETE` by age |
//! | signing key rotation (`oauth::keys::rotate_if_due`) | 10 min | a rotation moves only the keys it read (conditional updates): of two at once, the second gives up |
//! | audit retention purge (`audit_log::purge_expired`) | 10 min | **not fully safe**: see [`spawn_every_ten_minutes`] |
//! | tenant health and drift snapshots (`health::refresh_all`) | 10 min | a cache: each node recomputes and upserts; duplicate work, last write wins, no audit event |
//! | invitation mail outbox (`invitations::deliver_mail`) | 5 s, and at once when mail is queued (`AppState::mail_kick`, this node only) | row lease: `next_attempt_at` compare-and-set per message (`claim_mail`), 5 min lease |
//! | webhook fan-out (`webhooks::work`) | continuous: 0.5 s when idle | per endpoint, the `fanout_cursor` compare-and-set commits in the same transaction as the deliveries it queues |
//! | webhook delivery (`webhooks::work`, one task per endpoint with due deliveries) | continuous, while the endpoint has deliveries due | row lease: `next_attempt_at` set for a batch in one statement (`lease_due`), `FOR UPDATE SKIP LOCKED` on PostgreSQL |
//!
//! Database tasks, per node, started by [`spawn_all`] through `Db::start_background` (and at the
//! first write otherwise):
//! - SQLite, the committer (`db::spawn_committer`): commits the batch of writes that queued on the
//!   writer connection and answers them; this node's writes only (SQLite has one writer);
//! - SQLite, the checkpointer (`db::spawn_checkpointer`): every 0.25 s a passive WAL checkpoint
//!   off the request path; past 4,096 WAL frames it finishes one holding the write turn, so the
//!   WAL starts over;
//! - PostgreSQL, the sequencer (`db::spawn_sequencer` running `audit::sequence_step`): links committed
//!   audit events into their chains and numbers committed feed events, whenever a write of this
//!   node asks for a pass or a reader waits for one (`Db::caught_up`), and every 2 s; several nodes queue on the `events_head` row
//!   (`FOR UPDATE`), so one pass runs at a time and hands out positions in commit order.
//!
//! Started elsewhere, per node and not periodic:
//! - the SCIM request log writer (`scim::LogSink::start`, from `AppState::new`): a channel
//!   consumer batching this node's log rows into one commit;
//! - the SCIM token last-use touch (`scim::authenticate`): fire-and-forget, at most once a minute
//!   per token, last write wins;
//! - `spawn_blocking` for SAML signature validation and Argon2 hashing, awaited by the request.

use std::time::Duration;

use super::error::AppError;
use super::service;
use super::session::DbSessionStore;
use super::state::AppState;

/// Starts every periodic task of a serving node (`lanyard serve`; the tests run the bodies by
/// hand).
pub fn spawn_all(state: &AppState) {
    state.db.start_background();
    spawn_every_minute(state.clone());
    spawn_every_ten_minutes(state.clone());
    spawn_mail_worker(state.clone());
    spawn_webhook_worker(state.clone());
}

/// Logs a failed run of a task with the whole cause (an `AppError`'s Display alone says only
/// "internal error").
fn failed(task: &str, e: &AppError) {
    tracing::warn!(task, error = %e.cause_chain(), "background task failed");
}

/// Domain checks, IdP certificate expiry warnings, scheduled removals, invitation expiry and
/// IdP metadata refresh.
fn spawn_every_minute(state: AppState) {
    tokio::spawn(async move {
        loop {
            let started = state.clock.now();
            match service::domains::run_due_checks(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(checked = n, "domain checks"),
                Err(e) => failed("domain checks", &e),
            }
            match service::connections::warn_expiring_certificates(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(warned = n, "IdP certificate expiry warnings"),
                Err(e) => failed("certificate expiry warnings", &e),
            }
            match service::directories::remove_due(&state).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(removed = n, "directory-suspended members removed (policy)")
                }
                Err(e) => failed("scheduled removals", &e),
            }
            match service::invitations::expire_due(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "invitations expired"),
                Err(e) => failed("invitation expiry", &e),
            }
            // Last: it waits on IdPs over the network (each fetch has the outbound timeout).
            match service::saml_metadata::refresh_due(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(fetched = n, "IdP metadata refreshed"),
                Err(e) => failed("IdP metadata refresh", &e),
            }
            let now = state.clock.now();
            state
                .workers
                .beat("every_minute", now, now - started, 60_000);
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    });
}

/// Expired-session and log clean-up, retention purges and the tenants' health and drift
/// snapshots.
///
/// NOT SAFE ON SEVERAL NODES as it stands: the audit retention purge
/// (`audit_log::purge_expired`) takes no claim. Two nodes that run it at the same time for the
/// same organization both find the same cut-off event; the second one's `DELETE` finds nothing
/// left (it waits for the first's row locks on PostgreSQL) but it still records an
/// `audit.purged` event (with `events: 0`) and rewrites the checkpoint with the same values.
/// The chain stays verifiable; the audit trail gets a duplicate, misleading purge event. An
/// advisory lock per organization, or recording only when rows were deleted, would close it.
fn spawn_every_ten_minutes(state: AppState) {
    tokio::spawn(async move {
        let store = DbSessionStore::new(state.db.clone());
        loop {
            let started = state.clock.now();
            if let Err(e) = store.delete_expired(state.clock.now()).await {
                failed("session clean-up", &e.into());
            }
            if let Err(e) = service::directories::purge_request_log(&state).await {
                failed("SCIM request log clean-up", &e);
            }
            if let Err(e) = service::events::purge(&state).await {
                failed("events feed clean-up", &e);
            }
            if let Err(e) = service::activity::purge_attempts(&state).await {
                failed("sign-in attempt clean-up", &e);
            }
            if let Err(e) = service::sso::purge_sessions(&state).await {
                failed("SSO session clean-up", &e);
            }
            if let Err(e) = super::http::ratelimit::purge(&state.db, state.clock.now()).await {
                failed("rate-limit clean-up", &e.into());
            }
            match service::audit_log::purge_expired(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "audit events past retention purged"),
                Err(e) => failed("audit retention purge", &e),
            }
            // The OpenID Provider's automatic key rotation (every 90 days, with overlap).
            match service::oauth::keys::rotate_if_due(&state).await {
                Ok(Some(r)) => {
                    tracing::info!(active = %r.active, "signing key rotated on schedule")
                }
                Ok(None) => {}
                Err(e) => failed("signing key rotation", &e),
            }
            // Tenant health and drift for the support console's list ("needs attention").
            match service::health::refresh_all(&state).await {
                Ok(n) => tracing::debug!(organizations = n, "health and drift checked"),
                Err(e) => failed("health and drift check", &e),
            }
            let now = state.clock.now();
            state
                .workers
                .beat("every_ten_minutes", now, now - started, 600_000);
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    });
}

/// Runs the mail outbox whenever this node queues mail, and every 5 s (mail another node
/// queued, retries that came due).
fn spawn_mail_worker(state: AppState) {
    tokio::spawn(async move {
        loop {
            let started = state.clock.now();
            if let Err(e) = service::invitations::deliver_mail(&state).await {
                tracing::error!(error = %e.cause_chain(), "mail delivery run failed");
            }
            let now = state.clock.now();
            state.workers.beat("mail", now, now - started, 5_000);
            let _ = tokio::time::timeout(Duration::from_secs(5), state.mail_kick.notified()).await;
        }
    });
}

/// Fans events out to webhook endpoints and delivers them, each endpoint on its own task (a
/// receiver that hangs holds up only its own endpoint).
fn spawn_webhook_worker(state: AppState) {
    tokio::spawn(service::webhooks::work(state));
}
