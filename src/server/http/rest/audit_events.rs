//! The audit log: `/audit_events`, `/audit_events/export`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope, RestError};
use super::extract::ApiQuery;
use super::refusals;
use crate::domain::ids::OrgId;
use crate::server::service::audit_log::{self, AuditEvent};
use crate::server::service::organizations;
use crate::server::state::AppState;

/// A page of audit events.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEventList {
    pub data: Vec<AuditEvent>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Audit listing parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Required: whose events.
    pub organization_id: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
    pub after: Option<String>,
    /// An action (`membership.suspended`) or a prefix (`membership.*`).
    pub action: Option<String>,
    /// An actor's id or name.
    pub actor: Option<String>,
    /// A target's id.
    pub target: Option<String>,
    /// From (RFC 3339 or `2026-11-01`), inclusive.
    pub from: Option<String>,
    /// To (RFC 3339 or a date), exclusive.
    pub to: Option<String>,
    /// Export only: `csv` (default) or `ndjson`.
    pub format: Option<String>,
}

impl AuditParams {
    fn filter(&self) -> Result<crate::server::audit::AuditFilter, RestError> {
        audit_log::FilterParams {
            action: self.action.clone(),
            actor: self.actor.clone(),
            target: self.target.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
        }
        .to_filter()
        .map_err(|f| crate::server::error::AppError::Invalid(f).into())
    }

    async fn organization(&self, state: &AppState) -> Result<OrgId, RestError> {
        let Some(org) = self.organization_id.clone() else {
            return Err(RestError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "organization_id is required",
            )
            .with_field("organization_id"));
        };
        let org =
            OrgId::parse(&org).ok_or(crate::server::error::AppError::NotFound(OrgId::NOUN))?;
        // Existence check, so an unknown organization is a 404 rather than an empty page.
        organizations::get(state, &org).await?;
        Ok(org)
    }
}

#[utoipa::path(get, path = "/audit_events", tag = "audit",
    params(AuditParams),
    responses(refusals::QueryString, (status = 200, body = AuditEventList), (status = 422, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope, description = "no organization with this `organization_id`")),
    security(("api_key" = [])))]
/// Lists an organization's audit events, oldest first, filtered by action, actor, target and
/// time.
pub async fn list_audit_events(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditEventList>> {
    let org = q.organization(&state).await?;
    let filter = q.filter()?;
    let (data, next_cursor) =
        audit_log::list_filtered(&state, &org, q.after.as_deref(), q.limit, &filter).await?;
    Ok(Json(AuditEventList { data, next_cursor }))
}

#[utoipa::path(get, path = "/audit_events/export", tag = "audit",
    params(AuditParams),
    responses(refusals::QueryString, (status = 200, description = "CSV or NDJSON, streamed"), (status = 422, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope, description = "no organization with this `organization_id`")),
    security(("api_key" = [])))]
/// Exports an organization's audit events (same filters) as CSV or NDJSON, streamed.
pub async fn export_audit_events(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    let org = q.organization(&state).await?;
    let filter = q.filter()?;
    // The export streams everything; `limit` is accepted (same parameters as the list) but must
    // still be in range.
    crate::server::service::check_limit(q.limit).map_err(crate::server::error::AppError::from)?;
    let format = match q.format.as_deref().unwrap_or("csv") {
        "csv" => audit_log::ExportFormat::Csv,
        "ndjson" => audit_log::ExportFormat::Ndjson,
        _ => {
            return Err(RestError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "format must be csv or ndjson",
            )
            .with_field("format"))
        }
    };
    Ok(audit_log::export_response(state, org, filter, format))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_events))
        .routes(routes!(export_audit_events))
}
