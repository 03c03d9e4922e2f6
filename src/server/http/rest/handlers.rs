//! REST handlers: thin adapters from HTTP to one service call each.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::error::{ErrorEnvelope, RestError};
use super::extract::{ApiJson, ApiQuery};
use crate::domain::ids::{is_valid_id, IdKind};
use crate::server::audit::RequestContext;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::audit_log::{self, AuditEvent};
use crate::server::service::connections::{self, Connection, CreateConnection, UpdateConnection};
use crate::server::service::directories::{
    self, CreateDirectory, Directory, DirectoryUser, DirectoryWithToken, GroupInfo, GroupMapping,
    RoleChange, UpdateDirectory,
};
use crate::server::service::domains::{self, CreateDomain, Domain};
use crate::server::service::invitations::{self, CreateInvitation, Invitation};
use crate::server::service::members::{self, ListMembers, Membership, UpdateMembership};
use crate::server::service::organizations::{
    self, CreateOrganization, Organization, UpdateOrganization,
};
use crate::server::service::roles::{self, CreateRole, Role};
use crate::server::service::setup_links::{self, CreateSetupLink, CreatedSetupLink};
use crate::server::service::sso::{self, RedirectUri, SignInResult};
use crate::server::service::webhooks::{
    self, CreateEndpoint, Delivery, EndpointWithSecret, UpdateEndpoint, WebhookEndpoint,
};
use crate::server::state::AppState;

/// A page of organizations.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrganizationList {
    pub data: Vec<Organization>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A page of audit events.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEventList {
    pub data: Vec<AuditEvent>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `limit` and `after`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
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

    async fn organization(&self, state: &AppState) -> Result<String, RestError> {
        let Some(org) = self.organization_id.clone() else {
            return Err(RestError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "organization_id is required",
            )
            .with_field("organization_id"));
        };
        if !is_valid_id(IdKind::Organization, &org) {
            return Err(crate::server::error::AppError::NotFound("organization").into());
        }
        // Existence check, so an unknown organization is a 404 rather than an empty page.
        organizations::get(state, &org).await?;
        Ok(org)
    }
}

type ApiResult<T> = Result<T, RestError>;

#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations",
    request_body = CreateOrganization,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = Organization), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Creates an organization.
pub async fn create_organization(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateOrganization>,
) -> ApiResult<Response> {
    let org = organizations::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(org)).into_response())
}

#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations",
    params(PageParams),
    responses((status = 200, body = OrganizationList), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists organizations, oldest first.
pub async fn list_organizations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageParams>,
) -> ApiResult<Json<OrganizationList>> {
    let (data, next_cursor) = organizations::list(&state, q.after.as_deref(), q.limit).await?;
    Ok(Json(OrganizationList { data, next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "org_…")),
    responses((status = 200, body = Organization), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads an organization.
pub async fn get_organization(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(organizations::get(&state, &id).await?))
}

#[utoipa::path(patch, path = "/api/v1/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "org_…")),
    request_body = UpdateOrganization,
    responses((status = 200, body = Organization), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Changes an organization.
pub async fn update_organization(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateOrganization>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(
        organizations::update(&state, &p.actor(), &ctx, &id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "org_…")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes an organization.
pub async fn delete_organization(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    organizations::delete(&state, &p.actor(), &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/portal/links", tag = "portal",
    request_body = CreateSetupLink,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = CreatedSetupLink), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Creates a one-time setup link into the admin portal.
pub async fn create_setup_link(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateSetupLink>,
) -> ApiResult<Response> {
    let link = setup_links::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(link)).into_response())
}

#[utoipa::path(get, path = "/api/v1/audit_events", tag = "audit",
    params(AuditParams),
    responses((status = 200, body = AuditEventList), (status = 422, body = ErrorEnvelope)),
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

#[utoipa::path(get, path = "/api/v1/audit_events/export", tag = "audit",
    params(AuditParams),
    responses((status = 200, description = "CSV or NDJSON, streamed"), (status = 422, body = ErrorEnvelope)),
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

/// A list of domains (not paginated: an organization has few).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DomainList {
    pub data: Vec<Domain>,
    /// Always null.
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/organizations/{id}/domains", tag = "domains",
    params(("id" = String, Path, description = "org_…"), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    request_body = CreateDomain,
    responses((status = 201, body = Domain), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Adds a domain claim; `verified: true` records it as verified by the vendor.
pub async fn create_domain(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(org): Path<String>,
    ApiJson(input): ApiJson<CreateDomain>,
) -> ApiResult<Response> {
    organizations::get(&state, &org).await?;
    let d = domains::add(&state, &p.actor(), &ctx, &org, input, true).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}/domains", tag = "domains",
    params(("id" = String, Path, description = "org_…")),
    responses((status = 200, body = DomainList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's domains.
pub async fn list_domains(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> ApiResult<Json<DomainList>> {
    organizations::get(&state, &org).await?;
    Ok(Json(DomainList {
        data: domains::list(&state, &org).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/domains/{id}", tag = "domains",
    params(("id" = String, Path, description = "dom_…")),
    responses((status = 200, body = Domain), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a domain.
pub async fn get_domain(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Domain>> {
    let org = domains::organization_of(&state, &id).await?;
    Ok(Json(domains::get(&state, &org, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/domains/{id}/verify", tag = "domains",
    params(("id" = String, Path, description = "dom_…")),
    responses((status = 200, body = Domain), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Checks the domain's TXT record now.
pub async fn verify_domain(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Domain>> {
    let org = domains::organization_of(&state, &id).await?;
    Ok(Json(
        domains::check(&state, &p.actor(), &ctx, &org, &id).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/domains/{id}", tag = "domains",
    params(("id" = String, Path, description = "dom_…")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Removes a domain claim.
pub async fn delete_domain(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let org = domains::organization_of(&state, &id).await?;
    domains::remove(&state, &p.actor(), &ctx, &org, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A list of connections.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectionList {
    pub data: Vec<Connection>,
    /// Always null.
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/organizations/{id}/connections", tag = "connections",
    params(("id" = String, Path, description = "org_…"), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    request_body = CreateConnection,
    responses((status = 201, body = Connection), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Creates a draft SSO connection. OIDC: the issuer is checked by discovery. SAML: the IdP's
/// metadata as XML or by URL (fetched through the network guard), or entity ID, SSO URL and
/// signing certificates by hand; the answer carries the SP values (`sp`) for the IdP.
pub async fn create_connection(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(org): Path<String>,
    ApiJson(input): ApiJson<CreateConnection>,
) -> ApiResult<Response> {
    organizations::get(&state, &org).await?;
    let c = connections::create(&state, &p.actor(), &ctx, &org, input).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}/connections", tag = "connections",
    params(("id" = String, Path, description = "org_…")),
    responses((status = 200, body = ConnectionList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's connections.
pub async fn list_connections(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> ApiResult<Json<ConnectionList>> {
    organizations::get(&state, &org).await?;
    Ok(Json(ConnectionList {
        data: connections::list(&state, &org).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "conn_…")),
    responses((status = 200, body = Connection), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a connection.
pub async fn get_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Connection>> {
    let org = connections::organization_of(&state, &id).await?;
    Ok(Json(connections::get(&state, &org, &id).await?))
}

#[utoipa::path(patch, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "conn_…")),
    request_body = UpdateConnection,
    responses((status = 200, body = Connection), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Changes a connection; `{"state":"active"}` activates it (the vendor may do so without a test).
/// SAML: a new metadata source replaces the IdP values and certificates; `add_certificate` and
/// `remove_certificate` rotate one certificate at a time (the last one cannot be removed).
pub async fn update_connection(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateConnection>,
) -> ApiResult<Json<Connection>> {
    let org = connections::organization_of(&state, &id).await?;
    Ok(Json(
        connections::update(&state, &p.actor(), &ctx, &org, &id, input, false).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "conn_…")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes a connection.
pub async fn delete_connection(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let org = connections::organization_of(&state, &id).await?;
    connections::delete(&state, &p.actor(), &ctx, &org, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /sso/token` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub code: String,
    /// When sent, must equal the redirect_uri the sign-in returned to; a mismatch is refused
    /// without using the code up.
    #[serde(default)]
    pub redirect_uri: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/sso/token", tag = "sso",
    request_body = TokenRequest,
    responses((status = 200, body = SignInResult), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Exchanges a one-time sign-in code (60 s, single use) for the profile and membership.
pub async fn sso_token(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TokenRequest>,
) -> ApiResult<Json<SignInResult>> {
    Ok(Json(
        sso::exchange_code(&state, &input.code, input.redirect_uri.as_deref()).await?,
    ))
}

/// Body of `POST /redirect_uris`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectUriInput {
    pub uri: String,
}

/// The allow-list.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RedirectUriList {
    pub data: Vec<RedirectUri>,
    /// Always null.
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/redirect_uris", tag = "sso",
    request_body = RedirectUriInput,
    responses((status = 201, body = RedirectUri), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Adds a vendor redirect URI to the sign-in allow-list (exact match).
pub async fn add_redirect_uri(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<RedirectUriInput>,
) -> ApiResult<Response> {
    let r = sso::add_redirect_uri(&state, &p.actor(), &ctx, &input.uri).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

#[utoipa::path(get, path = "/api/v1/redirect_uris", tag = "sso",
    responses((status = 200, body = RedirectUriList)),
    security(("api_key" = [])))]
/// Lists the allow-list (environment and API entries).
pub async fn list_redirect_uris(State(state): State<AppState>) -> ApiResult<Json<RedirectUriList>> {
    Ok(Json(RedirectUriList {
        data: sso::list_redirect_uris(&state).await?,
        next_cursor: None,
    }))
}

/// `uri` query parameter.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RedirectUriQuery {
    /// The exact URI to remove.
    pub uri: String,
}

#[utoipa::path(delete, path = "/api/v1/redirect_uris", tag = "sso",
    params(RedirectUriQuery),
    responses((status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Removes an API-managed redirect URI.
pub async fn remove_redirect_uri(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(q): ApiQuery<RedirectUriQuery>,
) -> ApiResult<StatusCode> {
    sso::remove_redirect_uri(&state, &p.actor(), &ctx, &q.uri).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A list of directories.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryList {
    pub data: Vec<Directory>,
    pub next_cursor: Option<String>,
}

/// A directory's users.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryUserList {
    pub data: Vec<DirectoryUser>,
    pub next_cursor: Option<String>,
}

/// A directory's groups with their role mapping.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryGroupList {
    pub data: Vec<GroupInfo>,
    pub next_cursor: Option<String>,
}

/// `PUT /directories/{id}/role_mappings` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMappingsInput {
    /// The complete set of mappings; groups not listed are unmapped.
    pub mappings: Vec<GroupMapping>,
    /// When true nothing is saved: the answer lists who would gain or lose which role.
    pub dry_run: Option<bool>,
}

/// Who gains or loses which role.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleChangeList {
    pub dry_run: bool,
    pub data: Vec<RoleChange>,
}

#[utoipa::path(post, path = "/api/v1/organizations/{id}/directories", tag = "directories",
    params(("id" = String, Path, description = "org_…")),
    request_body = CreateDirectory,
    responses((status = 201, body = DirectoryWithToken), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Creates a SCIM directory. The answer carries `scim_base_url` and `bearer_token` for the IdP;
/// the token is shown only here (rotate it to get a new one).
pub async fn create_directory(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(org): Path<String>,
    ApiJson(input): ApiJson<CreateDirectory>,
) -> ApiResult<Response> {
    organizations::get(&state, &org).await?;
    let d = directories::create(&state, &p.actor(), &ctx, &org, input).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}/directories", tag = "directories",
    params(("id" = String, Path, description = "org_…")),
    responses((status = 200, body = DirectoryList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's directories with their health.
pub async fn list_directories(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> ApiResult<Json<DirectoryList>> {
    organizations::get(&state, &org).await?;
    Ok(Json(DirectoryList {
        data: directories::list(&state, &org).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/directories/{id}", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses((status = 200, body = Directory), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a directory.
pub async fn get_directory(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Directory>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(directories::get(&state, &org, &id).await?))
}

#[utoipa::path(patch, path = "/api/v1/directories/{id}", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    request_body = UpdateDirectory,
    responses((status = 200, body = Directory), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Renames a directory or changes whether it is authoritative for membership.
pub async fn update_directory(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateDirectory>,
) -> ApiResult<Json<Directory>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(
        directories::update(&state, &p.actor(), &ctx, &org, &id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/directories/{id}", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes a directory: its tokens stop working and the members it managed are suspended.
pub async fn delete_directory(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let org = directories::organization_of(&state, &id).await?;
    directories::delete(&state, &p.actor(), &ctx, &org, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/directories/{id}/token", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses((status = 200, body = DirectoryWithToken), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Issues a new SCIM token. Earlier tokens keep working for `LANYARD_SCIM_TOKEN_OVERLAP`
/// (default 1 hour), then stop.
pub async fn rotate_directory_token(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<DirectoryWithToken>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(
        directories::rotate_token(&state, &p.actor(), &ctx, &org, &id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/directories/{id}/users", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses((status = 200, body = DirectoryUserList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The directory's users (first 1000) with their groups, role and membership state.
pub async fn list_directory_users(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DirectoryUserList>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(DirectoryUserList {
        data: directories::users(&state, &org, &id, 1000).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/directories/{id}/groups", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    responses((status = 200, body = DirectoryGroupList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The directory's groups with member counts and role mappings.
pub async fn list_directory_groups(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DirectoryGroupList>> {
    let org = directories::organization_of(&state, &id).await?;
    Ok(Json(DirectoryGroupList {
        data: directories::groups(&state, &org, &id).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(put, path = "/api/v1/directories/{id}/role_mappings", tag = "directories",
    params(("id" = String, Path, description = "dir_…")),
    request_body = RoleMappingsInput,
    responses((status = 200, body = RoleChangeList), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Sets the group → role mappings (highest priority wins) and recomputes every member's role;
/// with `dry_run` only answers who would gain or lose which role.
pub async fn put_role_mappings(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RoleMappingsInput>,
) -> ApiResult<Json<RoleChangeList>> {
    let org = directories::organization_of(&state, &id).await?;
    let dry_run = input.dry_run.unwrap_or(false);
    let data = if dry_run {
        directories::preview_mappings(&state, &org, &id, &input.mappings).await?
    } else {
        directories::save_mappings(&state, &p.actor(), &ctx, &org, &id, &input.mappings).await?
    };
    Ok(Json(RoleChangeList { dry_run, data }))
}

// --- roles, memberships, invitations -----------------------------------------------------------

/// Every role.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleList {
    pub data: Vec<Role>,
}

/// A page of memberships.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct MembershipList {
    pub data: Vec<Membership>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The events feed's cursor when this page was read: after reconciling from this snapshot,
    /// read `GET /events?after=` this value to miss nothing.
    pub events_cursor: String,
}

/// An organization's invitations.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvitationList {
    pub data: Vec<Invitation>,
    /// Always null (newest 500).
    pub next_cursor: Option<String>,
}

/// `GET /invitations` parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvitationParams {
    /// Required: whose invitations.
    pub organization_id: Option<String>,
    /// pending | accepted | expired | revoked
    pub state: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/roles", tag = "members",
    responses((status = 200, body = RoleList)),
    security(("api_key" = [])))]
/// Lists the built-in and custom roles.
pub async fn list_roles(State(state): State<AppState>) -> ApiResult<Json<RoleList>> {
    Ok(Json(RoleList {
        data: roles::list(&state).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/roles", tag = "members",
    request_body = CreateRole,
    responses((status = 201, body = Role), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Defines a custom role (slug, name, permissions).
pub async fn create_role(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateRole>,
) -> ApiResult<Response> {
    let r = roles::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/roles/{slug}", tag = "members",
    params(("slug" = String, Path, description = "the role's slug")),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes a custom role that nobody uses.
pub async fn delete_role(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(slug): Path<String>,
) -> ApiResult<StatusCode> {
    roles::delete(&state, &p.actor(), &ctx, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}/memberships", tag = "members",
    params(("id" = String, Path, description = "org_…"), ListMembers),
    responses((status = 200, body = MembershipList), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's memberships with their role, state and where they come from.
pub async fn list_memberships(
    State(state): State<AppState>,
    Path(org): Path<String>,
    ApiQuery(q): ApiQuery<ListMembers>,
) -> ApiResult<Json<MembershipList>> {
    organizations::get(&state, &org).await?;
    let events_cursor = crate::server::service::events::current_cursor(&state).await?;
    let (data, next_cursor) = members::list(&state, &org, &q).await?;
    Ok(Json(MembershipList {
        data,
        next_cursor,
        events_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/memberships/{id}", tag = "members",
    params(("id" = String, Path, description = "om_…")),
    responses((status = 200, body = Membership), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a membership with its chain of grants: why this person has access.
pub async fn get_membership(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Membership>> {
    let org = members::organization_of(&state, &id).await?;
    Ok(Json(members::get(&state, &org, &id).await?))
}

#[utoipa::path(patch, path = "/api/v1/memberships/{id}", tag = "members",
    params(("id" = String, Path, description = "om_…")),
    request_body = UpdateMembership,
    responses((status = 200, body = Membership), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Changes a member's role (not for members a directory manages) or state (active, suspended,
/// removed). Suspending or removing voids the member's unredeemed sign-in codes at once.
pub async fn update_membership(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateMembership>,
) -> ApiResult<Json<Membership>> {
    let org = members::organization_of(&state, &id).await?;
    Ok(Json(
        members::update(&state, &p.actor(), &ctx, &org, &id, input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/invitations", tag = "members",
    request_body = CreateInvitation,
    responses((status = 201, body = Invitation), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope),
        (status = 429, body = ErrorEnvelope, description = "`invitation_mail_limit`: the organization's hourly invitation mails are used up; `invitation_address_limit`: this address had its 5 invitation mails of the hour from this organization; see `Retry-After`")),
    security(("api_key" = [])))]
/// Invites an email address; Lanyard mails the link. The answer's `accept_url` is the link
/// (shown only here and on resend).
pub async fn create_invitation(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(input): ApiJson<CreateInvitation>,
) -> ApiResult<Response> {
    let inv = invitations::create(&state, &p.actor(), &ctx, input).await?;
    Ok((StatusCode::CREATED, Json(inv)).into_response())
}

#[utoipa::path(get, path = "/api/v1/invitations", tag = "members",
    params(InvitationParams),
    responses((status = 200, body = InvitationList), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Lists an organization's invitations, newest first.
pub async fn list_invitations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InvitationParams>,
) -> ApiResult<Json<InvitationList>> {
    let Some(org) = q.organization_id else {
        return Err(RestError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "organization_id is required",
        )
        .with_field("organization_id"));
    };
    if !is_valid_id(IdKind::Organization, &org) {
        return Err(crate::server::error::AppError::NotFound("organization").into());
    }
    organizations::get(&state, &org).await?;
    Ok(Json(InvitationList {
        data: invitations::list(&state, &org, q.state.as_deref()).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/invitations/{id}", tag = "members",
    params(("id" = String, Path, description = "inv_…")),
    responses((status = 200, body = Invitation), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads an invitation with its mail delivery.
pub async fn get_invitation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Invitation>> {
    let org = invitations::organization_of(&state, &id).await?;
    Ok(Json(invitations::get(&state, &org, &id).await?))
}

#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "members",
    params(("id" = String, Path, description = "inv_…")),
    responses((status = 200, body = Invitation), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Revokes a pending invitation: its link stops working at once.
pub async fn revoke_invitation(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Invitation>> {
    let org = invitations::organization_of(&state, &id).await?;
    Ok(Json(
        invitations::revoke(&state, &p.actor(), &ctx, &org, &id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/invitations/{id}/resend", tag = "members",
    params(("id" = String, Path, description = "inv_…")),
    responses((status = 200, body = Invitation), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 429, body = ErrorEnvelope, description = "`invitation_resend_too_soon` (at most one mail a minute per invitation), `invitation_address_limit` (at most 5 invitation mails an hour to one address) or `invitation_mail_limit`; see `Retry-After`")),
    security(("api_key" = [])))]
/// Mails the invitation again with a new link; the previous link stops working. At most once a
/// minute per invitation, within the address's and the organization's hourly invitation mails.
pub async fn resend_invitation(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Invitation>> {
    let org = invitations::organization_of(&state, &id).await?;
    Ok(Json(
        invitations::resend(&state, &p.actor(), &ctx, &org, &id).await?,
    ))
}

/// A page of the events feed.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventList {
    pub data: Vec<crate::server::events::Event>,
    /// Pass as `after` next time (the last event's cursor; unchanged when nothing is new).
    pub next_cursor: String,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(crate::server::service::events::EventParams),
    responses((status = 200, body = EventList), (status = 410, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
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

#[utoipa::path(post, path = "/api/v1/webhook_endpoints", tag = "webhooks",
    request_body = CreateEndpoint,
    responses((status = 201, body = EndpointWithSecret), (status = 422, body = ErrorEnvelope)),
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

#[utoipa::path(get, path = "/api/v1/webhook_endpoints", tag = "webhooks",
    responses((status = 200, body = WebhookEndpointList)),
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

#[utoipa::path(get, path = "/api/v1/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Reads a webhook endpoint.
pub async fn get_webhook_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookEndpoint>> {
    Ok(Json(webhooks::get(&state, &id).await?))
}

#[utoipa::path(patch, path = "/api/v1/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    request_body = UpdateEndpoint,
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Changes an endpoint's URL or event types, or enables it again after a 410.
pub async fn update_webhook_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateEndpoint>,
) -> ApiResult<Json<WebhookEndpoint>> {
    Ok(Json(
        webhooks::update(&state, &p.actor(), &ctx, &id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Deletes an endpoint; its pending deliveries are discarded.
pub async fn delete_webhook_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    webhooks::delete(&state, &p.actor(), &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/webhook_endpoints/{id}/secret", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    responses((status = 200, body = EndpointWithSecret), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Issues a new secret; for 24 hours deliveries carry a second signature made with the old one.
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointWithSecret>> {
    Ok(Json(
        webhooks::rotate_secret(&state, &p.actor(), &ctx, &id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/webhook_endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    responses((status = 200, body = DeliveryList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The newest 100 deliveries with every attempt (status, latency, response excerpt).
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryList>> {
    Ok(Json(DeliveryList {
        data: webhooks::deliveries(&state, &id, 100).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(post, path = "/api/v1/webhook_deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "whd_…")),
    responses((status = 200, body = Delivery), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Sends a delivery again.
pub async fn redeliver_webhook(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Delivery>> {
    Ok(Json(
        webhooks::redeliver(&state, &p.actor(), &ctx, &id).await?,
    ))
}

/// The query of `GET /organizations/{id}/drift`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriftQuery {
    /// Flag members with no sign-in for this many days (1–3650, default 90).
    pub inactive_days: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}/health", tag = "health",
    params(("id" = String, Path, description = "org_…")),
    responses((status = 200, body = crate::server::service::health::OrganizationHealth), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The organization's health, computed now: SSO connections and their sign-ins, certificates,
/// directories, domains, invitations, setup links, drift and credentials, with what needs
/// attention in words.
pub async fn organization_health(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> ApiResult<Json<crate::server::service::health::OrganizationHealth>> {
    let (h, _) = crate::server::service::health::refresh(&state, &org, None).await?;
    Ok(Json(h))
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}/drift", tag = "health",
    params(("id" = String, Path, description = "org_…"), DriftQuery),
    responses((status = 200, body = crate::server::service::health::DriftReport), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Where access and the organization's sources of truth disagree, computed now: members an
/// authoritative directory deactivated or does not know, members who joined outside it, roles
/// held through a group the member left, members provisioned through a domain that lapsed,
/// members with no recent sign-in, invitations pending past expiry.
pub async fn organization_drift(
    State(state): State<AppState>,
    Path(org): Path<String>,
    ApiQuery(q): ApiQuery<DriftQuery>,
) -> ApiResult<Json<crate::server::service::health::DriftReport>> {
    let (_, d) = crate::server::service::health::refresh(&state, &org, q.inactive_days).await?;
    Ok(Json(d))
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}/policy", tag = "policy",
    params(("id" = String, Path, description = "org_…")),
    responses((status = 200, body = crate::server::service::policy::PolicyView), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// The organization's access policy.
pub async fn get_policy(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> ApiResult<Json<crate::server::service::policy::PolicyView>> {
    Ok(Json(
        crate::server::service::policy::get(&state, &org).await?,
    ))
}

#[utoipa::path(patch, path = "/api/v1/organizations/{id}/policy", tag = "policy",
    params(("id" = String, Path, description = "org_…")),
    request_body = crate::server::service::policy::PolicyPatch,
    responses((status = 200, body = crate::server::service::policy::PolicyUpdate), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Changes the policy (audited with the values before and after) or, with `dry_run`, answers
/// only who would gain or lose access. The vendor may also `locked` fields against the
/// customer's admin.
pub async fn update_policy(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    Path(org): Path<String>,
    ApiJson(input): ApiJson<crate::server::service::policy::PolicyPatch>,
) -> ApiResult<Json<crate::server::service::policy::PolicyUpdate>> {
    use crate::server::service::policy;
    Ok(Json(
        policy::update(
            &state,
            &p.actor(),
            &ctx,
            &org,
            policy::Editor::Vendor,
            input,
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/organizations/{id}/policy/simulate", tag = "policy",
    params(("id" = String, Path, description = "org_…")),
    request_body = crate::server::service::policy::SimulateInput,
    responses((status = 200, body = crate::server::service::policy::Simulation), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = [])))]
/// Runs the enforcement rules for a hypothetical sign-in, invitation or directory change and
/// answers the decision with the rules that made it. Writes nothing.
pub async fn simulate_policy(
    State(state): State<AppState>,
    Path(org): Path<String>,
    ApiJson(input): ApiJson<crate::server::service::policy::SimulateInput>,
) -> ApiResult<Json<crate::server::service::policy::Simulation>> {
    Ok(Json(
        crate::server::service::policy::simulate(&state, &org, input).await?,
    ))
}
