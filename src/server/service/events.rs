//! The events feed for the vendor: `GET /api/v1/events?after=&types=&organization_id=&limit=`.

use serde::Deserialize;

use crate::domain::ids::OrgId;
use crate::domain::FieldError;
use crate::server::error::AppError;
use crate::server::events::{self, Event};
use crate::server::state::AppState;

/// Query of the feed.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// The `cursor` of the last event you processed (or `next_cursor`); omit to start at the oldest
    /// kept event.
    pub after: Option<String>,
    /// Comma-separated event types, e.g. `dsync.user.deactivated,membership.role_changed`.
    pub types: Option<String>,
    pub organization_id: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
}

/// A page of the feed and where to continue.
pub struct FeedPage {
    pub data: Vec<Event>,
    /// Pass as `after` next time: the last event's cursor, or `after` itself when nothing is new.
    pub next_cursor: String,
}

/// Reads the feed.
pub async fn list(state: &AppState, p: &EventParams) -> Result<FeedPage, AppError> {
    let after: i64 = match p.after.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => 0,
        Some(a) => a.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
            FieldError::new(
                "after",
                "after must be a cursor from an earlier answer (a number)",
            )
        })?,
    };
    let types: Vec<String> = p
        .types
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if types.len() > 50 || types.iter().any(|t| t.len() > 100) {
        return Err(
            FieldError::new("types", "types takes up to 50 event types, comma-separated").into(),
        );
    }
    let organization_id = p
        .organization_id
        .as_deref()
        .map(|o| {
            OrgId::parse(o).ok_or_else(|| {
                FieldError::new(
                    "organization_id",
                    "organization_id is not an organization id (org_…)",
                )
            })
        })
        .transpose()?;
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(FieldError::new("limit", "limit must be from 1 to 500").into());
    }
    state.db.caught_up().await;
    let mut conn = state.db.pool.acquire().await?;
    // A consumer that fell behind the retention window missed events it can no longer read:
    // say so instead of silently skipping them.
    if after > 0 {
        if let Some(oldest) = events::oldest_kept(&mut conn).await? {
            if after + 1 < oldest {
                return Err(AppError::Gone(format!(
                    "events up to cursor {} were deleted by retention; reconcile from GET /api/v1/organizations/{{id}}/memberships, then read the feed from after={}",
                    oldest - 1,
                    oldest - 1
                )));
            }
        }
    }
    let data = events::list(&mut conn, after, &types, organization_id.as_deref(), limit).await?;
    let next_cursor = data
        .last()
        .map(|e| e.cursor.clone())
        .unwrap_or_else(|| after.to_string());
    Ok(FeedPage { data, next_cursor })
}

/// Deletes events older than the retention (`LANYARD_EVENT_RETENTION`).
pub async fn purge(state: &AppState) -> Result<u64, AppError> {
    // Events committed before the purge and still waiting for their cursor (PostgreSQL) are
    // numbered first, so an old one is purged now rather than at a later run.
    state.db.caught_up().await;
    let _turn = state.db.write_turn().await?;
    let mut conn = state.db.pool.acquire().await?;
    Ok(events::purge(
        &mut conn,
        state.clock.now() - state.config.event_retention_ms,
    )
    .await?)
}

/// The feed's newest cursor: read before a snapshot, so a consumer that reconciles from the
/// snapshot and then reads the feed from here misses nothing (it may see a change twice).
pub async fn current_cursor(state: &AppState) -> Result<String, AppError> {
    // No wait for the sequencer: an event committed and not numbered yet gets a cursor above
    // this one, so it is read after it.
    let mut conn = state.db.pool.acquire().await?;
    Ok(events::head(&mut conn).await?.to_string())
}
