//! Webhook endpoints and deliveries: `/webhook_endpoints/…`, `/webhook_deliveries/{id}/redeliver`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ErrorEnvelope};
use super::extract::{ApiJson, ApiPath};
use super::refusals;
use crate::domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::webhooks::{
    self, CreateEndpoint, Delivery, EndpointWithSecret, UpdateEndpoint, WebhookEndpoint,
};
use crate::server::state::AppState;

/// Every webhook endpoint.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEndpointList {
    pub data: Vec<WebhookEndpoint>,
    pub next_cursor: Option<String>,
}

/// An endpoint's newest deliveries.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub data: Vec<Delivery>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/webhook_endpoints", tag = "webhooks",
    request_body = CreateEndpoint,
    responses(refusals::JsonPost, (status = 201, body = EndpointWithSecret), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Registers a webhook endpoint. The answer's `secret` (`whsec_…`) is shown only here and on
/// rotation. Deliveries follow Standard Webhooks.
pub async fn create_webhook_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateEndpoint>,
) -> ApiResult<Response> {
    let e = webhooks::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

#[utoipa::path(get, path = "/webhook_endpoints", tag = "webhooks",
    responses(refusals::KeyOnly, (status = 200, body = WebhookEndpointList)),
    security(("api_key" = [])))]
/// Lists the webhook endpoints.
pub async fn list_webhook_endpoints(
    State(state): State<AppState>,
) -> ApiResult<Json<WebhookEndpointList>> {
    Ok(Json(WebhookEndpointList {
        data: webhooks::list(&state).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    responses(refusals::IdPath, (status = 200, body = WebhookEndpoint), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a webhook endpoint.
pub async fn get_webhook_endpoint(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<WebhookEndpointId>,
) -> ApiResult<Json<WebhookEndpoint>> {
    Ok(Json(webhooks::get(&state, &id).await?))
}

#[utoipa::path(patch, path = "/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    request_body = UpdateEndpoint,
    responses(refusals::IdJson, (status = 200, body = WebhookEndpoint), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Changes an endpoint's URL or event types, or enables it again after a 410.
pub async fn update_webhook_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<WebhookEndpointId>,
    ApiJson(input): ApiJson<UpdateEndpoint>,
) -> ApiResult<Json<WebhookEndpoint>> {
    Ok(Json(
        webhooks::update(&state, &p.actor(), &ctx, &id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    responses(refusals::IdPath, (status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes an endpoint; its pending deliveries are discarded.
pub async fn delete_webhook_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<WebhookEndpointId>,
) -> ApiResult<StatusCode> {
    webhooks::delete(&state, &p.actor(), &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/webhook_endpoints/{id}/secret", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    responses(refusals::IdPost, (status = 200, body = EndpointWithSecret), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Issues a new secret; for 24 hours deliveries carry a second signature made with the old one.
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<WebhookEndpointId>,
) -> ApiResult<Json<EndpointWithSecret>> {
    Ok(Json(
        webhooks::rotate_secret(&state, &p.actor(), &ctx, &id).await?,
    ))
}

#[utoipa::path(get, path = "/webhook_endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    responses(refusals::IdPath, (status = 200, body = DeliveryList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The newest 100 deliveries with every attempt (status, latency, response excerpt).
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<WebhookEndpointId>,
) -> ApiResult<Json<DeliveryList>> {
    Ok(Json(DeliveryList {
        data: webhooks::deliveries(&state, &id, 100).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(post, path = "/webhook_deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "whd_…")),
    responses(refusals::IdPost, (status = 200, body = Delivery), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Sends a delivery again.
pub async fn redeliver_webhook(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<WebhookDeliveryId>,
) -> ApiResult<Json<Delivery>> {
    Ok(Json(
        webhooks::redeliver(&state, &p.actor(), &ctx, &id).await?,
    ))
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook_endpoint, list_webhook_endpoints))
        .routes(routes!(
            get_webhook_endpoint,
            update_webhook_endpoint,
            delete_webhook_endpoint
        ))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(list_webhook_deliveries))
        .routes(routes!(redeliver_webhook))
}
