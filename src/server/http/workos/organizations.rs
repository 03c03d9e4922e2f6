//! WorkOS organizations and organization domains: `/organizations`, `/organizations/{id}`,
//! `/organizations/external_id/{external_id}`, `/organization_domains`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::{invalid, List, ListParams, RawQuery, WosJson};
use crate::domain::domain_name::DomainName;
use crate::domain::domain_state::DomainVerifier;
use crate::domain::ids::{DomainId, OrgId};
use crate::server::audit::RequestContext;
use crate::server::db::{self, domains::DomainRow, organizations::OrganizationRow};
use crate::server::error::AppError;
use crate::server::http::rest::error::{ApiResult, RestError};
use crate::server::http::rest::extract::ApiPath;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::domains;
use crate::server::service::organizations::{
    self as orgs, CreateOrganization, NewDomain, UpdateOrganization,
};
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

/// Most domains one `GET /organizations?domains=…` may name (each is a bound parameter).
const MAX_DOMAIN_FILTER: usize = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/organizations",
            get(list_organizations).post(create_organization),
        )
        .route(
            "/organizations/external_id/{external_id}",
            get(get_by_external_id),
        )
        .route(
            "/organizations/{id}/audit_logs_retention",
            get(get_retention).put(put_retention),
        )
        .route(
            "/organizations/{id}",
            get(get_organization)
                .put(update_organization)
                .delete(delete_organization),
        )
        .route("/organization_domains", post(create_domain))
        .route(
            "/organization_domains/{id}",
            // The same as `/api/v1/domains/{id}`.
            get(get_domain).delete(crate::server::http::rest::domains::delete_domain),
        )
        .route("/organization_domains/{id}/verify", post(verify_domain))
}

/// WorkOS `OrganizationDomain`.
#[derive(Debug, Serialize)]
pub struct WosDomain {
    object: &'static str,
    id: String,
    organization_id: String,
    domain: String,
    /// `pending`, `verified` or `failed`; a lapsed claim (its record gone past the grace
    /// period) is `unverified`.
    state: &'static str,
    /// Where the TXT record goes.
    verification_prefix: String,
    /// The TXT record's value.
    verification_token: String,
    /// `dns`, or `manual` when the vendor vouched for the domain.
    verification_strategy: &'static str,
    created_at: String,
    updated_at: String,
}

impl From<DomainRow> for WosDomain {
    fn from(r: DomainRow) -> Self {
        WosDomain {
            object: "organization_domain",
            state: match r.state.as_str() {
                "verified" => "verified",
                "failed" => "failed",
                "lapsed" => "unverified",
                _ => "pending",
            },
            verification_strategy: if r.verified_by.as_deref()
                == Some(DomainVerifier::Vendor.as_str())
            {
                "manual"
            } else {
                "dns"
            },
            id: r.id,
            organization_id: r.organization_id,
            domain: r.domain,
            verification_prefix: r.record_name,
            verification_token: r.record_value,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// WorkOS `Organization`, with its domains inline.
#[derive(Debug, Serialize)]
pub struct WosOrganization {
    object: &'static str,
    id: String,
    name: String,
    domains: Vec<WosDomain>,
    metadata: serde_json::Map<String, serde_json::Value>,
    external_id: Option<String>,
    allow_profiles_outside_organization: bool,
    created_at: String,
    updated_at: String,
}

pub(super) fn render(row: OrganizationRow, domains: Vec<DomainRow>) -> WosOrganization {
    WosOrganization {
        object: "organization",
        metadata: serde_json::from_str(&row.metadata).unwrap_or_default(),
        id: row.id,
        name: row.name,
        domains: domains.into_iter().map(Into::into).collect(),
        external_id: row.external_id,
        allow_profiles_outside_organization: false,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

/// Reads an organization with its live domains.
async fn load(state: &AppState, id: &str) -> Result<WosOrganization, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let row = db::organizations::get(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    let domains = db::domains::list(&mut conn, id).await?;
    Ok(render(row, domains))
}

/// `GET /organizations`: `domains` (any of them, in any state), `search` (in the name), newest
/// first by default.
async fn list_organizations(
    State(state): State<AppState>,
    q: RawQuery,
) -> ApiResult<Json<List<WosOrganization>>> {
    #[derive(Deserialize)]
    struct Filters {
        search: Option<String>,
    }
    let page = q.parse::<ListParams>()?.page()?;
    let search = super::search_param(q.parse::<Filters>()?.search)?;
    let domains: Vec<String> = q
        .list("domains")
        .into_iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    if domains.len() > MAX_DOMAIN_FILTER {
        return Err(invalid(
            "domains",
            format!("list at most {MAX_DOMAIN_FILTER} domains in one request"),
        ));
    }
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let rows = db::organizations::page(&mut conn, &page.keyset(), &domains, search.as_deref())
        .await
        .map_err(AppError::from)?;
    let (rows, meta) = page.finish(rows, |r| r.id.as_str());
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut claims = db::domains::of_organizations(&mut conn, &ids)
        .await
        .map_err(AppError::from)?;
    let data = rows
        .into_iter()
        .map(|r| {
            let (mine, rest): (Vec<DomainRow>, Vec<DomainRow>) =
                claims.drain(..).partition(|d| d.organization_id == r.id);
            claims = rest;
            render(r, mine)
        })
        .collect();
    Ok(Json(List::new(data, meta)))
}

/// One entry of `domain_data`.
#[derive(Debug, Deserialize)]
struct DomainData {
    domain: String,
    /// `verified` (the vendor vouches for it) or `pending` (proved by DNS).
    #[serde(default)]
    state: Option<String>,
}

/// `POST /organizations` and `PUT /organizations/{id}` bodies (unknown fields are ignored).
#[derive(Debug, Deserialize)]
struct OrganizationBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain_data: Option<Vec<DomainData>>,
    /// Legacy: plain domain names, claimed as pending.
    #[serde(default)]
    domains: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    external_id: Option<Option<String>>,
    #[serde(default)]
    metadata: Option<Option<serde_json::Map<String, serde_json::Value>>>,
    #[serde(default)]
    allow_profiles_outside_organization: Option<bool>,
    #[serde(default)]
    stripe_customer_id: Option<String>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl OrganizationBody {
    /// Refuses what Lanyard does not do, naming the field.
    fn refuse_unsupported(&self) -> Result<(), RestError> {
        if self.allow_profiles_outside_organization == Some(true) {
            return Err(invalid(
                "allow_profiles_outside_organization",
                "Lanyard signs in only members of the organization's own domains and connections; allow_profiles_outside_organization=true is not supported",
            ));
        }
        if self.stripe_customer_id.is_some() {
            return Err(invalid(
                "stripe_customer_id",
                "Lanyard keeps no billing data; stripe_customer_id is not supported",
            ));
        }
        Ok(())
    }

    /// The domains asked for (`domain_data`, else the legacy `domains`), each checked, the
    /// field named as sent.
    fn domains(&self) -> Result<Option<Vec<NewDomain>>, RestError> {
        let wanted: Vec<(String, String, bool)> = match (&self.domain_data, &self.domains) {
            (Some(data), _) => data
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let verified = match d.state.as_deref() {
                        None | Some("pending") => false,
                        Some("verified") => true,
                        Some(other) => {
                            return Err(invalid(
                                format!("domain_data[{i}].state"),
                                format!(
                                    "domain_data[{i}].state is '{other}'; use verified or pending"
                                ),
                            ))
                        }
                    };
                    Ok((
                        format!("domain_data[{i}].domain"),
                        d.domain.clone(),
                        verified,
                    ))
                })
                .collect::<Result<_, _>>()?,
            (None, Some(names)) => names
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("domains[{i}]"), n.clone(), false))
                .collect(),
            (None, None) => return Ok(None),
        };
        let mut out: Vec<NewDomain> = Vec::with_capacity(wanted.len());
        for (field, raw, verified) in wanted {
            let name = DomainName::parse_claimable(&raw)
                .map_err(|e| invalid(field.clone(), format!("{field}: {}", e.message)))?;
            if out.iter().any(|d| d.name == name) {
                return Err(invalid(field, format!("{} is listed twice", name.as_str())));
            }
            out.push(NewDomain { name, verified });
        }
        Ok(Some(out))
    }
}

/// `POST /organizations`: the organization and its domains in one write.
async fn create_organization(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    WosJson(body): WosJson<OrganizationBody>,
) -> ApiResult<Response> {
    body.refuse_unsupported()?;
    let domains = body.domains()?.unwrap_or_default();
    let Some(name) = body.name.clone() else {
        return Err(invalid("name", "name is required"));
    };
    let input = CreateOrganization {
        name,
        external_id: body.external_id.clone().flatten(),
        metadata: body.metadata.clone().flatten(),
        default_role: None,
    };
    let (org, claimed) =
        orgs::create_with_domains(&state, &p.actor(), &ctx, input, &domains).await?;
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let row = db::organizations::get(&mut conn, &org.id)
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound("organization"))?;
    Ok((StatusCode::CREATED, Json(render(row, claimed))).into_response())
}

async fn get_organization(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrgId>,
) -> ApiResult<Json<WosOrganization>> {
    Ok(Json(load(&state, &id).await?))
}

async fn get_by_external_id(
    State(state): State<AppState>,
    axum::extract::Path(external_id): axum::extract::Path<String>,
) -> ApiResult<Json<WosOrganization>> {
    let org = orgs::get_by_external_id(&state, &external_id).await?;
    Ok(Json(load(&state, &org.id).await?))
}

/// `PUT /organizations/{id}`: a partial update; `domain_data` makes the claims that set.
async fn update_organization(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<OrgId>,
    WosJson(body): WosJson<OrganizationBody>,
) -> ApiResult<Json<WosOrganization>> {
    body.refuse_unsupported()?;
    let domains = body.domains()?;
    let input = UpdateOrganization {
        name: body.name.clone(),
        external_id: body.external_id.clone(),
        // `metadata: null` clears it, as WorkOS does.
        metadata: body.metadata.clone().map(Option::unwrap_or_default),
        default_role: None,
        audit_retention_days: None,
    };
    orgs::update_with_domains(&state, &p.actor(), &ctx, &id, input, domains.as_deref()).await?;
    Ok(Json(load(&state, &id).await?))
}

async fn delete_organization(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<OrgId>,
) -> ApiResult<StatusCode> {
    orgs::delete(&state, &p.actor(), &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct CreateDomainBody {
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    organization_id: Option<String>,
}

/// `POST /organization_domains`: a pending claim, proved by DNS.
async fn create_domain(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    WosJson(body): WosJson<CreateDomainBody>,
) -> ApiResult<Response> {
    let Some(raw_org) = body.organization_id.as_deref() else {
        return Err(invalid("organization_id", "organization_id is required"));
    };
    let Some(domain) = body.domain.clone() else {
        return Err(invalid("domain", "domain is required"));
    };
    let org = OrgId::parse(raw_org).ok_or(AppError::NotFound("organization"))?;
    let d = domains::add(
        &state,
        &p.actor(),
        &ctx,
        &org,
        domains::CreateDomain {
            domain,
            verified: None,
            include_subdomains: None,
        },
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(read_domain(&state, &d.id).await?)).into_response())
}

/// A claim by id alone (the vendor's key sees every organization).
async fn read_domain(state: &AppState, id: &str) -> Result<WosDomain, AppError> {
    let claim = DomainId::parse(id).ok_or(AppError::NotFound("domain"))?;
    let org = domains::organization_of(state, &claim).await?;
    let mut conn = state.db.pool.acquire().await?;
    db::domains::get(&mut conn, &org, &claim)
        .await?
        .map(Into::into)
        .ok_or(AppError::NotFound("domain"))
}

async fn get_domain(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DomainId>,
) -> ApiResult<Json<WosDomain>> {
    Ok(Json(read_domain(&state, &id).await?))
}

/// `POST /organization_domains/{id}/verify`: checks the DNS record now; answers the claim in
/// its state after the check, whatever the outcome (201, as WorkOS documents it).
async fn verify_domain(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<DomainId>,
) -> ApiResult<Response> {
    let org = domains::organization_of(&state, &id).await?;
    domains::check(&state, &p.actor(), &ctx, &org, &id).await?;
    Ok((StatusCode::CREATED, Json(read_domain(&state, &id).await?)).into_response())
}

/// `GET /organizations/{id}/audit_logs_retention` → `{retention_period_in_days}`.
async fn get_retention(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrgId>,
) -> ApiResult<Json<serde_json::Value>> {
    let org = orgs::get(&state, &id).await?;
    Ok(Json(
        serde_json::json!({ "retention_period_in_days": org.audit_retention_days }),
    ))
}

#[derive(Debug, Deserialize)]
struct RetentionBody {
    #[serde(default)]
    retention_period_in_days: Option<i64>,
    /// What Node SDK 12 sends for the same thing.
    #[serde(default)]
    retention_period: Option<i64>,
}

/// `PUT /organizations/{id}/audit_logs_retention {retention_period_in_days}`: Lanyard keeps
/// 1 to 3650 days (WorkOS offers 30 or 365); older events are purged with a checkpoint, so the
/// chain still verifies.
async fn put_retention(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    ApiPath(id): ApiPath<OrgId>,
    WosJson(body): WosJson<RetentionBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let Some(days) = body.retention_period_in_days.or(body.retention_period) else {
        return Err(invalid(
            "retention_period_in_days",
            "retention_period_in_days is required (1 to 3650)",
        ));
    };
    if !(1..=3650).contains(&days) {
        return Err(invalid(
            "retention_period_in_days",
            "retention_period_in_days must be from 1 to 3650",
        ));
    }
    let org = orgs::update(
        &state,
        &p.actor(),
        &ctx,
        &id,
        UpdateOrganization {
            audit_retention_days: Some(days),
            ..Default::default()
        },
    )
    .await?;
    Ok(Json(
        serde_json::json!({ "retention_period_in_days": org.audit_retention_days }),
    ))
}
