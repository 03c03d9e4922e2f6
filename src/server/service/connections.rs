//! SSO connections of an organization (OIDC now; SAML arrives with its own release).

use serde::{Deserialize, Serialize};

use crate::domain::ids::{is_valid_id, IdKind};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::clock::rfc3339;
use crate::server::crypto::SecretBox;
use crate::server::db::{self, sso::ConnectionRow};
use crate::server::error::AppError;
use crate::server::oidc;
use crate::server::state::AppState;

/// OIDC settings as shown (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    /// Whether a client secret is stored (it is never shown again).
    pub client_secret_set: bool,
}

/// A connection as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Connection {
    /// `conn_…`
    pub id: String,
    pub object: String,
    pub organization_id: String,
    /// `oidc`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// `draft`, `active` or `inactive`.
    pub state: String,
    /// `okta`, `entra`, `google` or `generic`.
    pub idp: String,
    /// The redirect URI to register with the IdP.
    pub redirect_uri: String,
    pub oidc: Option<OidcSettings>,
    pub last_test_at: Option<String>,
    pub last_test_ok: Option<bool>,
    pub created_at: String,
}

/// OIDC input.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcInput {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Input of `create`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// `oidc` (SAML is not available yet).
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub idp: Option<String>,
    #[serde(default)]
    pub oidc: Option<OidcInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub saml: Option<serde_json::Value>,
}

/// OIDC changes.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcPatch {
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// Input of `update`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    #[serde(default)]
    pub name: Option<String>,
    /// `active` or `inactive`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub oidc: Option<OidcPatch>,
}

fn secret_context(id: &str) -> String {
    format!("connections:{id}:client_secret")
}

/// The callback URL registered with every OIDC IdP.
pub fn callback_url(state: &AppState) -> String {
    format!("{}/sso/oidc/callback", state.config.base_url())
}

fn view(state: &AppState, r: ConnectionRow) -> Connection {
    Connection {
        redirect_uri: callback_url(state),
        oidc: r.oidc_issuer.clone().map(|issuer| OidcSettings {
            issuer,
            client_id: r.oidc_client_id.clone().unwrap_or_default(),
            client_secret_set: r.oidc_client_secret_enc.is_some(),
        }),
        id: r.id,
        object: "connection".into(),
        organization_id: r.organization_id,
        kind: r.kind,
        name: r.name,
        state: r.state,
        idp: r.idp,
        last_test_at: r.last_test_at.map(rfc3339),
        last_test_ok: r.last_test_ok.map(|v| v != 0),
        created_at: rfc3339(r.created_at),
    }
}

fn not_found() -> AppError {
    AppError::NotFound("connection")
}

fn check_name(name: &str) -> Result<String, FieldError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(FieldError::new("name", "name must be 1 to 100 characters"));
    }
    Ok(n.to_owned())
}

fn check_idp(idp: Option<&str>) -> Result<String, FieldError> {
    match idp.unwrap_or("generic") {
        v @ ("okta" | "entra" | "google" | "generic") => Ok(v.to_owned()),
        other => Err(FieldError::new(
            "idp",
            format!("unknown idp '{other}'; use okta, entra, google or generic"),
        )),
    }
}

/// Validates OIDC settings by running discovery against the issuer (through the SSRF guard).
async fn check_oidc(
    state: &AppState,
    issuer: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<String, AppError> {
    let issuer = issuer.trim().trim_end_matches('/').to_owned();
    if client_id.trim().is_empty() {
        return Err(FieldError::new(
            "oidc.client_id",
            "client_id is required; copy it from your IdP's app settings",
        )
        .into());
    }
    if client_secret.is_empty() {
        return Err(FieldError::new(
            "oidc.client_secret",
            "client_secret is required; copy it from your IdP's app settings",
        )
        .into());
    }
    oidc::discover(&state.outbound, &issuer)
        .await
        .map_err(|f| AppError::Invalid(FieldError::new("oidc.issuer", f.message)))?;
    Ok(issuer)
}

/// Creates a draft connection.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    input: CreateConnection,
) -> Result<Connection, AppError> {
    let name = check_name(&input.name)?;
    let idp = check_idp(input.idp.as_deref())?;
    let oidc_in =
        match (input.kind.as_str(), input.oidc) {
            ("oidc", Some(o)) => o,
            ("oidc", None) => {
                return Err(FieldError::new(
                    "oidc",
                    "type oidc needs oidc: {issuer, client_id, client_secret}",
                )
                .into())
            }
            ("saml", _) => return Err(FieldError::new(
                "type",
                "SAML connections are not available in this version of Lanyard yet; use type oidc",
            )
            .into()),
            _ => return Err(FieldError::new("type", "type must be oidc").into()),
        };
    let issuer = check_oidc(
        state,
        &oidc_in.issuer,
        &oidc_in.client_id,
        &oidc_in.client_secret,
    )
    .await?;
    let now = state.clock.now();
    let id = db::new_id(IdKind::Connection);
    let sealed = state
        .secrets
        .seal(&oidc_in.client_secret, &secret_context(&id));
    let row = ConnectionRow {
        id,
        organization_id: organization_id.to_owned(),
        kind: "oidc".into(),
        name,
        state: "draft".into(),
        idp,
        oidc_issuer: Some(issuer),
        oidc_client_id: Some(oidc_in.client_id.trim().to_owned()),
        oidc_client_secret_enc: Some(sealed),
        last_test_at: None,
        last_test_ok: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    db::organizations::get(tx.conn(), organization_id)
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    db::sso::insert_connection(tx.conn(), &row).await?;
    tx.record(
        Some(organization_id),
        "connection.created",
        vec![Target::new("connection", &row.id, Some(&row.name))],
        serde_json::json!({ "type": row.kind, "idp": row.idp, "issuer": row.oidc_issuer }),
    )
    .await?;
    tx.commit().await?;
    Ok(view(state, row))
}

/// The organization a connection id belongs to.
pub async fn organization_of(state: &AppState, id: &str) -> Result<String, AppError> {
    if !is_valid_id(IdKind::Connection, id) {
        return Err(not_found());
    }
    let mut conn = state.db.pool.acquire().await?;
    db::sso::connection_owner(&mut conn, id)
        .await?
        .ok_or_else(not_found)
}

/// Reads a connection of an organization.
pub async fn get(
    state: &AppState,
    organization_id: &str,
    id: &str,
) -> Result<Connection, AppError> {
    Ok(view(state, get_row(state, organization_id, id).await?))
}

pub(crate) async fn get_row(
    state: &AppState,
    organization_id: &str,
    id: &str,
) -> Result<ConnectionRow, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::sso::get_connection(&mut conn, organization_id, id)
        .await?
        .ok_or_else(not_found)
}

/// Lists an organization's connections.
pub async fn list(state: &AppState, organization_id: &str) -> Result<Vec<Connection>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::sso::list_connections(&mut conn, organization_id)
        .await?
        .into_iter()
        .map(|r| view(state, r))
        .collect())
}

/// The stored client secret, decrypted.
pub(crate) fn client_secret(secrets: &SecretBox, row: &ConnectionRow) -> Result<String, AppError> {
    row.oidc_client_secret_enc
        .as_deref()
        .and_then(|s| secrets.open(s, &secret_context(&row.id)))
        .ok_or_else(|| AppError::Internal(format!("client secret of {} does not decrypt", row.id)))
}

/// Changes a connection. Activation from the portal needs a successful test sign-in first;
/// the vendor (`require_test = false`) may activate directly.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &str,
    input: UpdateConnection,
    require_test: bool,
) -> Result<Connection, AppError> {
    let mut row = get_row(state, organization_id, id).await?;
    let mut changed: Vec<&str> = Vec::new();
    let mut events: Vec<&str> = Vec::new();
    if let Some(n) = &input.name {
        row.name = check_name(n)?;
        changed.push("name");
    }
    if let Some(o) = &input.oidc {
        let issuer = o
            .issuer
            .clone()
            .or(row.oidc_issuer.clone())
            .unwrap_or_default();
        let client_id = o
            .client_id
            .clone()
            .or(row.oidc_client_id.clone())
            .unwrap_or_default();
        let secret = match &o.client_secret {
            Some(s) => s.clone(),
            None => client_secret(&state.secrets, &row)?,
        };
        row.oidc_issuer = Some(check_oidc(state, &issuer, &client_id, &secret).await?);
        row.oidc_client_id = Some(client_id.trim().to_owned());
        row.oidc_client_secret_enc = Some(state.secrets.seal(&secret, &secret_context(&row.id)));
        // New settings need a new successful test before the portal can activate them.
        row.last_test_ok = None;
        changed.push("oidc");
    }
    if let Some(s) = &input.state {
        match s.as_str() {
            "active" if row.state != "active" => {
                if require_test && row.last_test_ok != Some(1) {
                    return Err(AppError::Conflict {
                        code: "test_required",
                        message: "run a successful Test sign-in with the current settings before activating this connection".into(),
                        field: Some("state"),
                    });
                }
                row.state = "active".into();
                events.push("connection.activated");
            }
            "inactive" if row.state != "inactive" => {
                row.state = "inactive".into();
                events.push("connection.deactivated");
            }
            "active" | "inactive" => {}
            _ => return Err(FieldError::new("state", "state must be active or inactive").into()),
        }
    }
    if changed.is_empty() && events.is_empty() {
        return Ok(view(state, row));
    }
    let now = state.clock.now();
    row.updated_at = now;
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if !db::sso::update_connection(tx.conn(), organization_id, &row).await? {
        return Err(not_found());
    }
    let target = vec![Target::new("connection", &row.id, Some(&row.name))];
    if !changed.is_empty() {
        tx.record(
            Some(organization_id),
            "connection.updated",
            target.clone(),
            serde_json::json!({ "changed": changed }),
        )
        .await?;
    }
    for e in events {
        tx.record(
            Some(organization_id),
            e,
            target.clone(),
            serde_json::json!({ "tested": row.last_test_ok == Some(1) }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(view(state, row))
}

/// Deletes a connection.
pub async fn delete(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &str,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = db::sso::get_connection(tx.conn(), organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    db::sso::delete_connection(tx.conn(), organization_id, id, now).await?;
    tx.record(
        Some(organization_id),
        "connection.deleted",
        vec![Target::new("connection", id, Some(&row.name))],
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
