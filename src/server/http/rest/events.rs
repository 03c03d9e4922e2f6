//! The events feed: `/events`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::ApiQuery;
use super::refusals;
use crate::server::state::AppState;

/// A page of the events feed.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventList {
    pub data: Vec<crate::server::events::Event>,
    /// Pass as `after` next time (the last event's cursor; unchanged when nothing is new).
    pub next_cursor: String,
}

#[utoipa::path(get, path = "/events", tag = "events",
    params(crate::server::service::events::EventParams),
    responses(refusals::QueryString, (status = 200, body = EventList), (status = 410, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The events feed, oldest first after `after`. Cursors follow commit order: reading from the
/// last cursor you processed never skips an event. A cursor older than the retention is `410`.
pub async fn list_events(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<crate::server::service::events::EventParams>,
) -> ApiResult<Json<EventList>> {
    let page = crate::server::service::events::list(&state, &q).await?;
    Ok(Json(EventList {
        data: page.data,
        next_cursor: page.next_cursor,
    }))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}
