//! The OpenAPI 3.1 document, assembled from the routers of [`super::operations`] (each route is
//! registered with its operation, so none can be missing) and the annotations of their
//! handlers. A test compares it with `docs/openapi.json` so that a change to the API is a visible
//! change to the document.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorEnvelope};
use crate::server::protocol::saml::attributes::AttributeMapping;
use crate::server::service::audit_log::AuditEvent;
use crate::server::service::connections::{
    Connection, CreateConnection, OidcInput, OidcPatch, OidcSettings, SamlCertificate, SamlInput,
    SamlPatch, SamlSettings, SpInfo, UpdateConnection,
};
use crate::server::service::directories::{
    CreateDirectory, Directory, DirectoryHealth, DirectoryUser, DirectoryWithToken, GroupInfo,
    GroupMapping, RoleChange, TokenInfo, UpdateDirectory,
};
use crate::server::service::domains::{CheckResult, CreateDomain, Domain, Verification};
use crate::server::service::invitations::{CreateInvitation, Delivery, Invitation, Inviter};
use crate::server::service::members::{Grant, ManagedBy, Membership, UpdateMembership};
use crate::server::service::organizations::{CreateOrganization, Organization, UpdateOrganization};
use crate::server::service::roles::{CreateRole, Role};
use crate::server::service::setup_links::{CreateSetupLink, CreatedSetupLink};
use crate::server::service::sso::{RedirectUri, SignInResult};

#[derive(OpenApi)]
#[openapi(
    info(title = "Lanyard vendor API", version = "1", description = "See docs/api.md for conventions."),
    components(schemas(
        Organization, CreateOrganization, UpdateOrganization, CreateSetupLink, CreatedSetupLink,
        AuditEvent, ErrorEnvelope, ErrorBody, super::organizations::OrganizationList, super::audit_events::AuditEventList,
        Domain, CreateDomain, super::domains::DomainList, Verification, CheckResult,
        Connection, CreateConnection, UpdateConnection, OidcInput, OidcPatch, OidcSettings,
        SamlInput, SamlPatch, SamlSettings, SamlCertificate, SpInfo, AttributeMapping,
        super::connections::ConnectionList, super::sso::TokenRequest, SignInResult,
        RedirectUri, super::redirect_uris::RedirectUriInput, super::redirect_uris::RedirectUriList,
        Directory, DirectoryWithToken, CreateDirectory, UpdateDirectory, TokenInfo, DirectoryHealth,
        DirectoryUser, GroupInfo, GroupMapping, RoleChange, super::directories::DirectoryList,
        super::directories::DirectoryUserList, super::directories::DirectoryGroupList, super::directories::RoleMappingsInput,
        super::directories::RoleChangeList,
        Role, CreateRole, Membership, UpdateMembership, ManagedBy, Grant, super::roles::RoleList,
        super::memberships::MembershipList, Invitation, CreateInvitation, Inviter, Delivery,
        super::invitations::InvitationList,
        crate::server::events::Event, crate::server::events::Entity, super::events::EventList,
        crate::server::service::webhooks::WebhookEndpoint, crate::server::service::webhooks::EndpointWithSecret,
        crate::server::service::webhooks::CreateEndpoint, crate::server::service::webhooks::UpdateEndpoint,
        crate::server::service::webhooks::Delivery, crate::server::service::webhooks::Attempt,
        super::webhooks::WebhookEndpointList, super::webhooks::DeliveryList,
        crate::server::service::health::OrganizationHealth, crate::server::service::health::Signal,
        crate::server::service::health::ConnectionHealth, crate::server::service::health::ExpiringCertificate,
        crate::server::service::health::DirectoryHealthLine, crate::server::service::health::DomainCounts,
        crate::server::service::health::InvitationCounts, crate::server::service::health::DriftReport,
        crate::server::service::health::DriftFinding,
        crate::server::service::policy::Policy, crate::server::service::policy::PolicyView,
        crate::server::service::policy::PolicyPatch, crate::server::service::policy::PolicyUpdate,
        crate::server::service::policy::Impact, crate::server::service::policy::Reason,
        crate::server::service::policy::SimPath, crate::server::service::policy::SimulateInput,
        crate::server::service::policy::Simulation, crate::server::service::policy::SimMembership,
    )),
    modifiers(&BearerKey)
)]
pub struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "api_key",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("lanyard_sk_…")
                        .build(),
                ),
            );
        }
    }
}

/// The document of `operations` (whose paths are relative to `/api/v1`).
pub fn assemble(operations: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    ApiDoc::openapi().nest("/api/v1", operations)
}

/// The document of every operation.
pub fn spec() -> utoipa::openapi::OpenApi {
    assemble(super::operations().into_openapi())
}

/// The document as pretty JSON.
pub fn document() -> String {
    spec().to_pretty_json().unwrap_or_default()
}

static SERVED: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::to_value(spec()).unwrap_or_default());

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<serde_json::Value> {
    Json(SERVED.clone())
}
