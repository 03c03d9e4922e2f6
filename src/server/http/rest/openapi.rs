//! The OpenAPI 3.1 document, generated from the handlers' annotations. A test compares it with
//! `docs/openapi.json` so that a change to the API is a visible change to the document.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorEnvelope};
use super::handlers;
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
use handlers::DomainList;

#[derive(OpenApi)]
#[openapi(
    info(title = "Lanyard vendor API", version = "1", description = "See docs/api.md for conventions."),
    paths(
        handlers::create_organization,
        handlers::list_organizations,
        handlers::get_organization,
        handlers::update_organization,
        handlers::delete_organization,
        handlers::create_setup_link,
        handlers::list_audit_events,
        handlers::export_audit_events,
        handlers::create_domain,
        handlers::list_domains,
        handlers::get_domain,
        handlers::verify_domain,
        handlers::delete_domain,
        handlers::create_connection,
        handlers::list_connections,
        handlers::get_connection,
        handlers::update_connection,
        handlers::delete_connection,
        handlers::sso_token,
        handlers::add_redirect_uri,
        handlers::list_redirect_uris,
        handlers::remove_redirect_uri,
        handlers::create_directory,
        handlers::list_directories,
        handlers::get_directory,
        handlers::update_directory,
        handlers::delete_directory,
        handlers::rotate_directory_token,
        handlers::list_directory_users,
        handlers::list_directory_groups,
        handlers::put_role_mappings,
        handlers::list_roles,
        handlers::create_role,
        handlers::delete_role,
        handlers::list_memberships,
        handlers::get_membership,
        handlers::update_membership,
        handlers::create_invitation,
        handlers::list_invitations,
        handlers::get_invitation,
        handlers::revoke_invitation,
        handlers::resend_invitation,
        handlers::list_events,
        handlers::create_webhook_endpoint,
        handlers::list_webhook_endpoints,
        handlers::get_webhook_endpoint,
        handlers::update_webhook_endpoint,
        handlers::delete_webhook_endpoint,
        handlers::rotate_webhook_secret,
        handlers::list_webhook_deliveries,
        handlers::redeliver_webhook,
        handlers::organization_health,
        handlers::organization_drift,
        handlers::get_policy,
        handlers::update_policy,
        handlers::simulate_policy,
    ),
    components(schemas(
        Organization, CreateOrganization, UpdateOrganization, CreateSetupLink, CreatedSetupLink,
        AuditEvent, ErrorEnvelope, ErrorBody, handlers::OrganizationList, handlers::AuditEventList,
        Domain, CreateDomain, DomainList, Verification, CheckResult,
        Connection, CreateConnection, UpdateConnection, OidcInput, OidcPatch, OidcSettings,
        SamlInput, SamlPatch, SamlSettings, SamlCertificate, SpInfo, AttributeMapping,
        handlers::ConnectionList, handlers::TokenRequest, SignInResult,
        RedirectUri, handlers::RedirectUriInput, handlers::RedirectUriList,
        Directory, DirectoryWithToken, CreateDirectory, UpdateDirectory, TokenInfo, DirectoryHealth,
        DirectoryUser, GroupInfo, GroupMapping, RoleChange, handlers::DirectoryList,
        handlers::DirectoryUserList, handlers::DirectoryGroupList, handlers::RoleMappingsInput,
        handlers::RoleChangeList,
        Role, CreateRole, Membership, UpdateMembership, ManagedBy, Grant, handlers::RoleList,
        handlers::MembershipList, Invitation, CreateInvitation, Inviter, Delivery,
        handlers::InvitationList,
        crate::server::events::Event, crate::server::events::Entity, handlers::EventList,
        crate::server::service::webhooks::WebhookEndpoint, crate::server::service::webhooks::EndpointWithSecret,
        crate::server::service::webhooks::CreateEndpoint, crate::server::service::webhooks::UpdateEndpoint,
        crate::server::service::webhooks::Delivery, crate::server::service::webhooks::Attempt,
        handlers::WebhookEndpointList, handlers::DeliveryList,
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

/// The document as pretty JSON.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}
