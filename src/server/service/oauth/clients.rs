//! The vendor's OAuth clients of Lanyard's OpenID Provider: created, listed, changed and deleted
//! through the vendor API and the CLI; secrets shown once, stored as hashes, rotated with overlap.

use serde::{Deserialize, Serialize};

use crate::domain::event_type::EventType;
use crate::domain::ids::{OauthClientId, OrgId};
use crate::domain::target::TargetKind;
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::crypto::{ct_eq, hash_secret, new_secret};
use crate::server::db::{self, oauth::OauthClientRow};
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

/// Client secrets start with this.
pub const CLIENT_SECRET_PREFIX: &str = "lanyard_cs_";
/// How long the previous secret keeps working after a rotation, unless told otherwise.
pub const DEFAULT_SECRET_OVERLAP_SECONDS: i64 = 24 * 60 * 60;
const MAX_URIS: usize = 20;

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic (the default; `client_secret_post` is accepted too).
    ClientSecretBasic,
    /// The secret in the form body (`client_secret_basic` is accepted too).
    ClientSecretPost,
    /// A public client (browser or native app): no secret, PKCE S256 required.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }
}

/// An OAuth client as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OauthClient {
    /// `oc_…`
    pub id: String,
    /// What the client library is configured with.
    pub client_id: String,
    pub name: String,
    /// Exact redirect URIs (no wildcards).
    pub redirect_uris: Vec<String>,
    /// Where `/oauth2/end_session` may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Organizations whose people may sign in through this client; null = every organization.
    pub allowed_organizations: Option<Vec<String>>,
    pub token_endpoint_auth_method: AuthMethod,
    /// The secret's last four characters (null for a public client).
    pub secret_hint: Option<String>,
    /// Until when the secret before the last rotation still works.
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub last_used_at: Option<String>,
}

/// The answer to a create or a secret rotation: the client and its secret, shown only here.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OauthClientWithSecret {
    #[serde(flatten)]
    pub client: OauthClient,
    /// `lanyard_cs_…`; null for a public client.
    pub client_secret: Option<String>,
}

/// Body of `POST /oauth_clients`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub allowed_organizations: Option<Vec<String>>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<AuthMethod>,
}

/// Body of `PATCH /oauth_clients/{id}` (absent fields stay).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `null` opens the client to every organization; a list limits it.
    #[serde(default, with = "crate::server::service::double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_organizations: Option<Option<Vec<String>>>,
}

/// Query of `POST /oauth_clients/{id}/secret`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the current secret keeps working (0 ends it now; at most 7 days; default 1 day).
    pub previous_secret_expires_in_seconds: Option<i64>,
}

fn json_list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

pub(crate) fn view(r: &OauthClientRow) -> OauthClient {
    OauthClient {
        id: r.id.clone(),
        client_id: r.client_id.clone(),
        name: r.name.clone(),
        redirect_uris: json_list(&r.redirect_uris),
        post_logout_redirect_uris: json_list(&r.post_logout_redirect_uris),
        allowed_organizations: r.allowed_organizations.as_deref().map(json_list),
        token_endpoint_auth_method: AuthMethod::parse(&r.token_endpoint_auth_method)
            .unwrap_or(AuthMethod::ClientSecretBasic),
        secret_hint: r.secret_hint.clone(),
        previous_secret_expires_at: r.previous_secret_expires_at.map(rfc3339),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
        last_used_at: r.last_used_at.map(rfc3339),
    }
}

fn check_name(name: &str) -> Result<String, FieldError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(FieldError::new(
            "name",
            "name is required (1 to 100 characters), e.g. \"Acme web app\"",
        ));
    }
    Ok(n.to_owned())
}

fn check_uris(field: &'static str, uris: &[String], required: bool) -> Result<String, FieldError> {
    if required && uris.is_empty() {
        return Err(FieldError::new(
            field,
            format!("{field} needs at least one exact URI, e.g. https://app.example.com/api/auth/callback/lanyard"),
        ));
    }
    if uris.len() > MAX_URIS {
        return Err(FieldError::new(
            field,
            format!("{field} takes at most {MAX_URIS} URIs"),
        ));
    }
    for u in uris {
        crate::server::service::sso::check_redirect_uri(u).map_err(|_| {
            FieldError::new(
                field,
                format!("{u} is not allowed: each URI must be an absolute https URL without a fragment (http only for localhost)"),
            )
        })?;
    }
    Ok(serde_json::to_string(uris).unwrap_or_else(|_| "[]".into()))
}

async fn check_orgs(
    tx: &mut AuditedTx,
    orgs: &Option<Vec<String>>,
) -> Result<Option<String>, AppError> {
    let Some(list) = orgs else { return Ok(None) };
    if list.is_empty() || list.len() > 1000 {
        return Err(AppError::Invalid(FieldError::new(
            "allowed_organizations",
            "allowed_organizations is a list of 1 to 1000 organization ids, or null for every organization",
        )));
    }
    for o in list {
        let known = match OrgId::parse(o) {
            Some(id) => db::organizations::get(tx.conn(), &id).await?.is_some(),
            None => false,
        };
        if !known {
            return Err(AppError::Invalid(FieldError::new(
                "allowed_organizations",
                format!("{o} is not an organization id of this Lanyard (org_…)"),
            )));
        }
    }
    Ok(Some(serde_json::to_string(list).unwrap_or_default()))
}

fn hint(secret: &str) -> String {
    secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

fn target(r: &OauthClientRow) -> Target {
    Target::new(TargetKind::OauthClient, &r.id, Some(&r.name))
}

/// Creates a client; returns it with its secret (never stored).
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: CreateClient,
) -> Result<OauthClientWithSecret, AppError> {
    let name = check_name(&input.name)?;
    let redirect_uris = check_uris("redirect_uris", &input.redirect_uris, true)?;
    let post_logout = check_uris(
        "post_logout_redirect_uris",
        &input.post_logout_redirect_uris,
        false,
    )?;
    let method = input
        .token_endpoint_auth_method
        .unwrap_or(AuthMethod::ClientSecretBasic);
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let allowed = check_orgs(&mut tx, &input.allowed_organizations).await?;
    let secret = (method != AuthMethod::None).then(|| new_secret(CLIENT_SECRET_PREFIX));
    let id = OauthClientId::generate();
    let row = OauthClientRow {
        client_id: format!("client_{}", &id.as_str()[3..]).to_lowercase(),
        id: id.into_string(),
        name,
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        allowed_organizations: allowed,
        token_endpoint_auth_method: method.as_str().into(),
        secret_hash: secret.as_deref().map(hash_secret),
        secret_hint: secret.as_deref().map(hint),
        secret_created_at: secret.is_some().then_some(now),
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        created_at: now,
        updated_at: now,
        last_used_at: None,
    };
    db::oauth::insert_client(tx.conn(), &row).await?;
    tx.record(
        None,
        EventType::OauthClientCreated,
        vec![target(&row)],
        serde_json::json!({ "client_id": row.client_id, "redirect_uris": json_list(&row.redirect_uris), "token_endpoint_auth_method": method.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(OauthClientWithSecret {
        client: view(&row),
        client_secret: secret,
    })
}

async fn load(tx: &mut AuditedTx, id: &OauthClientId) -> Result<OauthClientRow, AppError> {
    db::oauth::get_client(tx.conn(), id)
        .await?
        .ok_or(AppError::NotFound("OAuth client"))
}

pub async fn get(state: &AppState, id: &OauthClientId) -> Result<OauthClient, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::oauth::get_client(&mut conn, id)
        .await?
        .map(|r| view(&r))
        .ok_or(AppError::NotFound("OAuth client"))
}

/// Every client (a vendor has a handful), in creation order.
pub async fn list(state: &AppState) -> Result<Vec<OauthClient>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::oauth::list_clients(&mut conn, None, 1000)
        .await?
        .iter()
        .map(view)
        .collect())
}

pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &OauthClientId,
    input: UpdateClient,
) -> Result<OauthClient, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let mut row = load(&mut tx, id).await?;
    let mut changed = Vec::new();
    if let Some(n) = &input.name {
        row.name = check_name(n)?;
        changed.push("name");
    }
    if let Some(u) = &input.redirect_uris {
        row.redirect_uris = check_uris("redirect_uris", u, true)?;
        changed.push("redirect_uris");
    }
    if let Some(u) = &input.post_logout_redirect_uris {
        row.post_logout_redirect_uris = check_uris("post_logout_redirect_uris", u, false)?;
        changed.push("post_logout_redirect_uris");
    }
    if let Some(a) = &input.allowed_organizations {
        row.allowed_organizations = check_orgs(&mut tx, a).await?;
        changed.push("allowed_organizations");
    }
    if changed.is_empty() {
        return Ok(view(&row));
    }
    row.updated_at = now;
    db::oauth::update_client(tx.conn(), &row).await?;
    tx.record(
        None,
        EventType::OauthClientUpdated,
        vec![target(&row)],
        serde_json::json!({ "changed": changed }),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&row))
}

pub async fn delete(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &OauthClientId,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = load(&mut tx, id).await?;
    db::oauth::delete_client(tx.conn(), id).await?;
    tx.record(
        None,
        EventType::OauthClientDeleted,
        vec![target(&row)],
        serde_json::json!({ "client_id": row.client_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A new secret; the current one keeps working for the overlap.
pub async fn rotate_secret(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &OauthClientId,
    input: RotateSecret,
) -> Result<OauthClientWithSecret, AppError> {
    let overlap = input
        .previous_secret_expires_in_seconds
        .unwrap_or(DEFAULT_SECRET_OVERLAP_SECONDS);
    if !(0..=7 * 24 * 60 * 60).contains(&overlap) {
        return Err(AppError::Invalid(FieldError::new(
            "previous_secret_expires_in_seconds",
            "previous_secret_expires_in_seconds must be between 0 (end the current secret now) and 604800 (7 days)",
        )));
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let mut row = load(&mut tx, id).await?;
    if row.token_endpoint_auth_method == AuthMethod::None.as_str() {
        return Err(AppError::Invalid(FieldError::new(
            "token_endpoint_auth_method",
            "a public client (token_endpoint_auth_method none) has no secret to rotate",
        )));
    }
    let secret = new_secret(CLIENT_SECRET_PREFIX);
    row.previous_secret_hash = (overlap > 0).then(|| row.secret_hash.clone()).flatten();
    row.previous_secret_expires_at = (overlap > 0).then_some(now + overlap * 1000);
    row.secret_hash = Some(hash_secret(&secret));
    row.secret_hint = Some(hint(&secret));
    row.secret_created_at = Some(now);
    row.updated_at = now;
    db::oauth::update_client(tx.conn(), &row).await?;
    tx.record(
        None,
        EventType::OauthClientSecretRotated,
        vec![target(&row)],
        serde_json::json!({ "previous_secret_expires_at": row.previous_secret_expires_at.map(rfc3339) }),
    )
    .await?;
    tx.commit().await?;
    Ok(OauthClientWithSecret {
        client: view(&row),
        client_secret: Some(secret),
    })
}

/// The client `client_id` names, if it exists.
pub(crate) async fn by_client_id(
    state: &AppState,
    client_id: &str,
) -> Result<Option<OauthClientRow>, AppError> {
    if client_id.is_empty() || client_id.len() > 100 {
        return Ok(None);
    }
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::oauth::client_by_client_id(&mut conn, client_id).await?)
}

/// Whether `secret` is the client's secret, or its previous one within the overlap.
pub fn secret_matches(row: &OauthClientRow, secret: &str, now: i64) -> bool {
    let h = hash_secret(secret);
    let current = row.secret_hash.as_deref().is_some_and(|s| ct_eq(s, &h));
    let previous = row.previous_secret_expires_at.is_some_and(|t| t > now)
        && row
            .previous_secret_hash
            .as_deref()
            .is_some_and(|s| ct_eq(s, &h));
    current || previous
}

/// Whether the client may sign in people of `org`.
pub(crate) fn allows_org(row: &OauthClientRow, org: &str) -> bool {
    match &row.allowed_organizations {
        None => true,
        Some(list) => json_list(list).iter().any(|o| o == org),
    }
}

/// Whether `uri` is one of the client's redirect URIs (exact match).
pub(crate) fn has_redirect_uri(row: &OauthClientRow, uri: &str) -> bool {
    json_list(&row.redirect_uris).iter().any(|u| u == uri)
}

/// Whether `uri` is one of the client's post-logout redirect URIs (exact match).
pub(crate) fn has_post_logout_uri(row: &OauthClientRow, uri: &str) -> bool {
    json_list(&row.post_logout_redirect_uris)
        .iter()
        .any(|u| u == uri)
}
