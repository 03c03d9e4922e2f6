//! WorkOS webhook endpoints (`/webhook_endpoints`, SDK 12's and Python's `webhooks.*`): the
//! vendor's endpoints in WorkOS's format (`format: workos` in `/api/v1`), signed with
//! `WorkOS-Signature` and sent WorkOS's event names and shapes. Endpoints in Lanyard's standard
//! format and customers' log streams are not seen here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::{invalid, List, ListParams, RawQuery, WosJson};
use crate::domain::ids::WebhookEndpointId;
use crate::server::audit::RequestContext;
use crate::server::error::AppError;
use crate::server::http::rest::error::{ApiResult, RestError};
use crate::server::http::rest::extract::ApiPath;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::webhooks::{self, CreateEndpoint, UpdateEndpoint, WebhookEndpoint};
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhook_endpoints", get(list).post(create))
        .route("/webhook_endpoints/{id}", patch(update).delete(delete))
}

/// WorkOS's `WebhookEndpoint`. `secret` is the signing secret in the create answer only (Lanyard
/// seals secrets and shows them once); `""` elsewhere.
#[derive(Debug, Serialize)]
struct WosEndpoint {
    object: &'static str,
    id: String,
    endpoint_url: String,
    secret: String,
    status: &'static str,
    events: Vec<String>,
    created_at: String,
    updated_at: String,
}

fn render(e: WebhookEndpoint, secret: Option<String>) -> WosEndpoint {
    WosEndpoint {
        object: "webhook_endpoint",
        id: e.id,
        endpoint_url: e.url,
        secret: secret.unwrap_or_default(),
        status: if e.enabled { "enabled" } else { "disabled" },
        events: e.events.unwrap_or_default(),
        created_at: rfc3339(e.created_at),
        updated_at: rfc3339(e.updated_at),
    }
}

fn is_workos(e: &WebhookEndpoint) -> bool {
    e.format == crate::domain::webhook::EndpointKind::Workos.as_str()
}

/// The vendor's WorkOS-format endpoints, by id.
async fn workos_endpoints(state: &AppState) -> Result<Vec<WebhookEndpoint>, AppError> {
    let mut all: Vec<WebhookEndpoint> = webhooks::list(state)
        .await?
        .into_iter()
        .filter(is_workos)
        .collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(all)
}

/// `GET /webhook_endpoints`: WorkOS pagination over the vendor's WorkOS-format endpoints (a
/// handful per deployment: read whole, then paged).
async fn list(State(state): State<AppState>, q: RawQuery) -> ApiResult<Json<List<WosEndpoint>>> {
    let page = q.parse::<ListParams>()?.page()?;
    let keyset = page.keyset();
    let mut rows: Vec<WebhookEndpoint> = workos_endpoints(&state)
        .await?
        .into_iter()
        .filter(|e| match &keyset.from {
            Some(from) if keyset.older => e.id.as_str() < from.as_str(),
            Some(from) => e.id.as_str() > from.as_str(),
            None => true,
        })
        .collect();
    if keyset.older {
        rows.reverse();
    }
    rows.truncate(keyset.take.max(0) as usize);
    let (rows, meta) = page.finish(rows, |e| e.id.as_str());
    Ok(Json(List::new(
        rows.into_iter().map(|e| render(e, None)).collect(),
        meta,
    )))
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    #[serde(default)]
    endpoint_url: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
}

/// A URL already registered as a WorkOS-format endpoint: WorkOS answers 409.
async fn refuse_duplicate(
    state: &AppState,
    url: &str,
    except: Option<&str>,
) -> Result<(), RestError> {
    // Compared as stored: `HTTPS://Host:443/a` is `https://host/a`.
    let url = webhooks::normalized_url(state, url).map_err(AppError::from)?;
    if workos_endpoints(state)
        .await?
        .iter()
        .any(|e| e.url == url && Some(e.id.as_str()) != except)
    {
        return Err(RestError::new(
            StatusCode::CONFLICT,
            "duplicate_endpoint",
            format!("a webhook endpoint for {url} exists already; update it instead"),
        ));
    }
    Ok(())
}

/// `POST /webhook_endpoints {endpoint_url, events}` → 201 with its secret.
async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    WosJson(body): WosJson<CreateBody>,
) -> ApiResult<Response> {
    let Some(url) = body.endpoint_url.filter(|u| !u.trim().is_empty()) else {
        return Err(invalid(
            "endpoint_url",
            "endpoint_url is required (https://…)",
        ));
    };
    let Some(events) = body.events.filter(|e| !e.is_empty()) else {
        return Err(invalid(
            "events",
            "events is required: the WorkOS event names to receive, e.g. [\"dsync.user.created\"]",
        ));
    };
    refuse_duplicate(&state, url.trim(), None).await?;
    let made = webhooks::create(
        &state,
        &p.actor(),
        &ctx,
        CreateEndpoint {
            url,
            events: Some(events),
            format: Some("workos".into()),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(render(made.endpoint, Some(made.secret))),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    #[serde(default)]
    endpoint_url: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
}

/// An endpoint of this API: a WorkOS-format one of the vendor's, else 404.
async fn load(state: &AppState, id: &WebhookEndpointId) -> Result<WebhookEndpoint, RestError> {
    let e = webhooks::get(state, id).await?;
    if !is_workos(&e) {
        return Err(AppError::NotFound("webhook endpoint").into());
    }
    Ok(e)
}

/// `PATCH /webhook_endpoints/{id} {endpoint_url?, status?, events?}`.
async fn update(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<WebhookEndpointId>,
    WosJson(body): WosJson<UpdateBody>,
) -> ApiResult<Json<WosEndpoint>> {
    load(&state, &id).await?;
    let enabled = match body.status.as_deref() {
        None => None,
        Some("enabled") => Some(true),
        Some("disabled") => Some(false),
        Some(other) => {
            return Err(invalid(
                "status",
                format!("status '{other}' is not one; use enabled or disabled"),
            ))
        }
    };
    if let Some(u) = &body.endpoint_url {
        refuse_duplicate(&state, u.trim(), Some(id.as_str())).await?;
    }
    if body.events.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid(
            "events",
            "events must name at least one WorkOS event",
        ));
    }
    let e = webhooks::update(
        &state,
        &p.actor(),
        &ctx,
        &id,
        UpdateEndpoint {
            url: body.endpoint_url,
            events: body.events.map(Some),
            enabled,
        },
    )
    .await?;
    Ok(Json(render(e, None)))
}

/// `DELETE /webhook_endpoints/{id}` → 204.
async fn delete(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<WebhookEndpointId>,
) -> ApiResult<StatusCode> {
    load(&state, &id).await?;
    webhooks::delete(&state, &p.actor(), &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
