//! WorkOS Admin Portal links: `POST /portal/generate_link`, a Lanyard setup link for one intent.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{invalid, WosJson};
use crate::domain::ids::OrgId;
use crate::server::audit::RequestContext;
use crate::server::error::AppError;
use crate::server::http::rest::error::ApiResult;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::organizations;
use crate::server::service::setup_links::{self, CreateSetupLink};
use crate::server::state::AppState;

/// WorkOS's portal links last five minutes: the vendor redirects the admin at once.
const LINK_LIFETIME_SECS: i64 = 300;

pub fn routes() -> Router<AppState> {
    Router::new().route("/portal/generate_link", post(generate_link))
}

#[derive(Debug, Deserialize)]
struct GenerateLink {
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    intent: Option<String>,
    #[serde(default)]
    return_url: Option<String>,
}

/// The portal steps a WorkOS intent opens. `certificate_renewal` is the SSO step, where an
/// expiring SAML certificate is replaced.
fn intents_of(intent: &str) -> Option<&'static str> {
    Some(match intent {
        "sso" | "certificate_renewal" => "sso",
        "dsync" => "dsync",
        "audit_logs" => "audit_logs",
        "log_streams" => "log_streams",
        "domain_verification" => "domain_verification",
        _ => return None,
    })
}

/// `POST /portal/generate_link` → `{link}` (201): a setup link for the organization's admin,
/// valid five minutes, for the steps of `intent` (default `sso`). `success_url` is not used:
/// Lanyard's portal returns to `return_url`.
async fn generate_link(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    WosJson(body): WosJson<GenerateLink>,
) -> ApiResult<Response> {
    let Some(organization) = body.organization.filter(|o| !o.is_empty()) else {
        return Err(invalid("organization", "organization is required (org_…)"));
    };
    // An unknown organization is 404 here, as WorkOS answers it (`/api/v1` says 422).
    let org = OrgId::parse(&organization).ok_or(AppError::NotFound("organization"))?;
    organizations::get(&state, &org).await?;
    let intent = body.intent.as_deref().unwrap_or("sso");
    let Some(step) = intents_of(intent) else {
        return Err(invalid(
            "intent",
            format!("intent '{intent}' is not offered by Lanyard's portal; use sso, dsync, domain_verification, audit_logs, log_streams or certificate_renewal"),
        ));
    };
    let link = setup_links::create(
        &state,
        &p.actor(),
        &ctx,
        CreateSetupLink {
            organization_id: organization,
            intents: vec![step.to_owned()],
            expires_in_seconds: Some(LINK_LIFETIME_SECS),
            return_url: body.return_url,
            admin_email: None,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "link": link.link }))).into_response())
}
