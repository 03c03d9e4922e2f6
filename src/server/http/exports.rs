//! `GET /portal/activity/export`: the admin downloads their organization's audit log (intent
//! `audit_logs`) as CSV or NDJSON for a date range, streamed.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;

use crate::domain::intent::Intent;
use crate::server::service::audit_log::{self, ExportFormat, FilterParams};
use crate::server::service::setup_links;
use crate::server::state::AppState;

/// The query: format plus the viewer's filters.
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    pub format: Option<String>,
    #[serde(flatten)]
    pub filter: FilterParams,
}

fn plain(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        msg.to_owned(),
    )
        .into_response()
}

/// Streams the export for the session's organization.
pub async fn portal_export(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ExportQuery>,
) -> Response {
    let grant = match setup_links::session_grant(&state, &session).await {
        Ok(g) => g,
        Err(e) => {
            let rid = crate::server::request_id::current_request_id();
            e.log(&rid);
            return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.public_message(&rid));
        }
    };
    let Some(grant) = grant else {
        return plain(
            StatusCode::UNAUTHORIZED,
            "Your setup session has ended. Open a new setup link from your vendor.",
        );
    };
    if !grant.intents.contains(&Intent::AuditLogs) {
        return plain(
            StatusCode::FORBIDDEN,
            "This setup link does not include the activity log.",
        );
    }
    let format = match q.format.as_deref().unwrap_or("csv") {
        "ndjson" => ExportFormat::Ndjson,
        "csv" => ExportFormat::Csv,
        _ => return plain(StatusCode::BAD_REQUEST, "format must be csv or ndjson"),
    };
    let filter = match q.filter.to_filter() {
        Ok(f) => f,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &e.message),
    };
    audit_log::export_response(state, grant.org(), filter, format)
}

/// `GET /console/organizations/{id}/drift.csv`: a signed-in staff member downloads an
/// organization's drift report, computed now.
pub async fn console_drift_export(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    use crate::server::service::staff::{self, StaffGrant, STAFF_KEY};
    let grant: Option<StaffGrant> = session.get(STAFF_KEY).await.ok().flatten();
    let signed_in = match &grant {
        Some(g) => staff::active_grant(&state, g).await.unwrap_or(false),
        None => false,
    };
    if !signed_in {
        return plain(
            StatusCode::UNAUTHORIZED,
            "Sign in to the support console at /console/signin first.",
        );
    }
    let org = crate::server::error::parse_id(&id);
    match async { crate::server::service::health::refresh(&state, &org?, None).await }.await {
        Ok((_, report)) => (
            StatusCode::OK,
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "text/csv; charset=utf-8".to_owned(),
                ),
                // Names and addresses: never kept by a browser or proxy cache.
                (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"drift-{id}.csv\""),
                ),
            ],
            crate::server::service::health::drift_csv(&report),
        )
            .into_response(),
        Err(crate::server::error::AppError::NotFound(_)) => {
            plain(StatusCode::NOT_FOUND, "No organization with this id.")
        }
        Err(e) => {
            let rid = crate::server::request_id::current_request_id();
            e.log(&rid);
            plain(StatusCode::INTERNAL_SERVER_ERROR, &e.public_message(&rid))
        }
    }
}
