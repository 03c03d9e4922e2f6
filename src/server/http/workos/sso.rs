//! WorkOS SSO and connections: `POST /sso/token` (the code for an access token and the
//! profile), `GET /sso/profile`, `/connections`. The sign-in itself starts at Lanyard's own
//! `GET /sso/authorize`, which takes WorkOS's parameters.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{List, ListParams, RawQuery, Verbatim};
use crate::domain::ids::{ConnectionId, OrgId};
use crate::server::audit::RequestContext;
use crate::server::crypto::{hash_secret, new_secret};
use crate::server::db;
use crate::server::error::AppError;
use crate::server::http::rest::error::{ApiResult, RestError};
use crate::server::http::rest::extract::ApiPath;
use crate::server::http::rest::{self};
use crate::server::service::{connections, sso};
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

/// How long an access token of `/sso/token` reads its profile at `/sso/profile`.
const ACCESS_TOKEN_TTL_MS: i64 = 600_000;

/// Routes that authenticate on their own (the code exchange with `client_secret`, the profile
/// with an access token). Their answers carry a token or a person's profile: never stored by a
/// cache (RFC 6749 §5.1).
pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/sso/token", post(token))
        .route("/sso/profile", get(profile))
        .layer(axum::middleware::map_response(no_store))
}

async fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    r
}

/// Routes behind the API key.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connections", get(list_connections))
        .route(
            "/connections/{id}",
            // The same as `/api/v1/connections/{id}`.
            get(get_connection).delete(crate::server::http::rest::connections::delete_connection),
        )
}

/// WorkOS's name for a connection's protocol and IdP.
pub fn connection_type(kind: &str, idp: &str) -> &'static str {
    match (kind, idp) {
        ("saml", "okta") => "OktaSAML",
        ("saml", "entra") => "AzureSAML",
        ("saml", "google") => "GoogleSAML",
        ("saml", "adfs") => "ADFSSAML",
        ("saml", "onelogin") => "OneLoginSAML",
        ("saml", "jumpcloud") => "JumpCloudSAML",
        ("saml", _) => "GenericSAML",
        ("oidc", "okta") => "OktaOIDC",
        ("oidc", "entra") => "EntraIdOIDC",
        ("oidc", "google") => "GoogleOIDC",
        _ => "GenericOIDC",
    }
}

/// The (protocol, IdP) pairs WorkOS's `connection_type` names.
fn kinds_of(connection_type: &str) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for kind in ["saml", "oidc"] {
        for (idp, ..) in crate::domain::connection::IDPS {
            if self::connection_type(kind, idp) == connection_type {
                out.push((kind, idp));
            }
        }
    }
    out
}

/// Largest `/sso/token` body read.
const TOKEN_BODY_MAX: usize = 16 * 1024;

/// The credential of `Authorization: Bearer …` (the scheme in any case, RFC 7235).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// An OAuth-style error of `/sso/token`, as WorkOS answers it (the one place a top-level
/// `error` key belongs).
fn oauth_error(error: &str, description: &str) -> Response {
    let mut r = (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    r.extensions_mut().insert(Verbatim);
    r
}

#[derive(Debug, Default, Deserialize)]
struct TokenBody {
    client_secret: Option<String>,
    grant_type: Option<String>,
    code: Option<String>,
}

/// `POST /sso/token`, form-encoded (Node) or JSON (Python): the API key in `Authorization` or as
/// `client_secret`; the code (60 s, single use) for a 10-minute access token and the profile.
async fn token(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    // A code and a key are a few hundred bytes: nothing larger is read before authentication.
    let Ok(body) = axum::body::to_bytes(body, TOKEN_BODY_MAX).await else {
        return oauth_error(
            "invalid_request",
            &format!("the request body is larger than {TOKEN_BODY_MAX} bytes"),
        );
    };
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| {
            c.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let parsed: Result<TokenBody, String> = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(TokenBody::default())
    } else if form {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    };
    let body = match parsed {
        Ok(b) => b,
        Err(e) => {
            return oauth_error(
                "invalid_request",
                &format!("the body could not be read: {e}"),
            )
        }
    };
    let now = state.clock.now();
    let bearer = bearer_token(&headers);
    if let (Some(b), Some(c)) = (bearer, body.client_secret.as_deref()) {
        if b != c {
            return oauth_error(
                "invalid_request",
                "send the API key once: as client_secret or as Authorization: Bearer, not two different ones",
            );
        }
    }
    // A used code presented again revokes what it gave, whoever presents it (RFC 6749
    // §4.1.2): the code is the secret; a thief without the key must not keep the token alive.
    let reused = |state: AppState, code: Option<String>| async move {
        match code.filter(|c| !c.is_empty() && c.len() <= 200) {
            Some(c) => revoke_tokens_of_code(&state, &c).await,
            None => Ok(()),
        }
    };
    let Some(key) = bearer.or(body.client_secret.as_deref()) else {
        if let Err(e) = reused(state.clone(), body.code.clone()).await {
            return RestError::from(e).into_response();
        }
        return oauth_error(
            "invalid_client",
            "send your Lanyard API key as client_secret (or as Authorization: Bearer)",
        );
    };
    let client = ctx.ip.clone().unwrap_or_else(|| "unknown".into());
    let principal = match rest::check_key(&state, &client, key, now).await {
        Ok(p) => p,
        Err(rest::KeyRefusal::Throttled(r)) => return r.into_response(),
        Err(rest::KeyRefusal::Invalid(_)) => {
            if let Err(e) = reused(state.clone(), body.code.clone()).await {
                return RestError::from(e).into_response();
            }
            return oauth_error(
                "invalid_client",
                "the client_secret is not a live Lanyard API key",
            );
        }
    };
    if body.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        );
    }
    let Some(code) = body.code.as_deref().filter(|c| !c.is_empty()) else {
        return oauth_error("invalid_request", "code is required");
    };
    let result = match sso::exchange_code(&state, code, None).await {
        Ok(r) => r,
        Err(AppError::Invalid(e)) => {
            // A code presented again may have been stolen: what it gave is revoked too
            // (RFC 6749 §4.1.2).
            if let Err(e) = revoke_tokens_of_code(&state, code).await {
                return RestError::from(e).into_response();
            }
            return oauth_error("invalid_grant", &e.message);
        }
        Err(e) => return RestError::from(e).into_response(),
    };
    match issue(&state, &result, &principal.key_id, &hash_secret(code), now).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => RestError::from(e).into_response(),
    }
}

/// Revokes the access tokens issued for `code`.
async fn revoke_tokens_of_code(state: &AppState, code: &str) -> Result<(), AppError> {
    let mut tx = state.db.write().await?;
    let revoked = db::sign_in::revoke_tokens_of_code(tx.conn(), &hash_secret(code)).await?;
    tx.commit().await?;
    if revoked > 0 {
        tracing::warn!(
            revoked,
            "a used code was presented again: the access tokens it gave are revoked"
        );
    }
    Ok(())
}

/// Renders the profile, stores an access token for it (issued for the code `code_hash`) and
/// answers both.
async fn issue(
    state: &AppState,
    result: &sso::SignInResult,
    api_key_id: &str,
    code_hash: &str,
    now: i64,
) -> Result<Value, AppError> {
    let p = &result.profile;
    let org = p["organization_id"].as_str().unwrap_or_default().to_owned();
    let connection = p["connection_id"].as_str().unwrap_or_default();
    let mut conn = state.db.pool.acquire().await?;
    let kind = match ConnectionId::parse(connection) {
        Some(id) => db::connections::get_connection(&mut conn, &OrgId::from_stored(&org), &id)
            .await?
            .map(|c| connection_type(&c.kind, &c.idp))
            .unwrap_or("GenericSAML"),
        None => "GenericSAML",
    };
    let profile = render_profile(result, kind);
    let access_token = new_secret("lanyard_sat_");
    drop(conn);
    let profile_text = profile.to_string();
    let token_hash = hash_secret(&access_token);
    // Through the write turn (SQLite's one writer), like every other write.
    let mut tx = state.db.write().await?;
    db::sign_in::insert_access_token(
        tx.conn(),
        &db::sign_in::AccessToken {
            token_hash: &token_hash,
            organization_id: &org,
            membership_id: result.membership["id"].as_str().unwrap_or_default(),
            connection_id: connection,
            api_key_id,
            code_hash,
            profile: &profile_text,
            created_at: now,
            expires_at: now + ACCESS_TOKEN_TTL_MS,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(json!({
        "token_type": "Bearer",
        "access_token": access_token,
        "expires_in": ACCESS_TOKEN_TTL_MS / 1000,
        "profile": profile,
    }))
}

/// WorkOS's `Profile` from Lanyard's sign-in result: every key present, null when unknown.
fn render_profile(result: &sso::SignInResult, connection_type: &str) -> Value {
    let p = &result.profile;
    let text = |k: &str| p[k].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let (first, last) = (text("first_name"), text("last_name"));
    let name = match (&first, &last) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(n), None) | (None, Some(n)) => Some(n.clone()),
        (None, None) => None,
    };
    let role = result.membership["role"].as_str();
    let groups: Vec<String> = p["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let raw = match &p["raw_attributes"] {
        Value::Object(o) => Value::Object(o.clone()),
        _ => json!({}),
    };
    json!({
        "object": "profile",
        "id": p["id"],
        "idp_id": p["idp_subject"],
        "organization_id": p["organization_id"],
        "connection_id": p["connection_id"],
        "connection_type": connection_type,
        "email": p["email"],
        "first_name": first,
        "last_name": last,
        "name": name,
        "role": role.map(|r| json!({ "slug": r })),
        "roles": role.map(|r| json!([{ "slug": r }])),
        "groups": groups,
        "custom_attributes": {},
        "raw_attributes": raw,
    })
}

/// `GET /sso/profile` with `Authorization: Bearer <access_token>` (not an API key).
async fn profile(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let unauthorized = || {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "error": "Unauthorized",
                "message": "send the access_token of POST /sso/token as Authorization: Bearer; it lasts 10 minutes",
            })),
        )
            .into_response();
        r.extensions_mut().insert(Verbatim);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"lanyard\", error=\"invalid_token\""),
        );
        r
    };
    let Some(token) =
        bearer_token(&headers).filter(|t| t.starts_with("lanyard_sat_") && t.len() <= 200)
    else {
        return unauthorized();
    };
    let found = async {
        let mut conn = state.db.pool.acquire().await?;
        db::sign_in::access_token_profile(&mut conn, &hash_secret(token), state.clock.now()).await
    }
    .await;
    match found {
        Ok(Some(p)) => ([(header::CONTENT_TYPE, "application/json")], p).into_response(),
        Ok(None) => unauthorized(),
        Err(e) => RestError::from(AppError::from(e)).into_response(),
    }
}

/// WorkOS `Connection`.
#[derive(Debug, Serialize)]
pub struct WosConnection {
    object: &'static str,
    id: String,
    organization_id: String,
    connection_type: &'static str,
    name: String,
    state: String,
    /// Deprecated by WorkOS: `linked` when active.
    status: &'static str,
    /// The organization's verified domains.
    domains: Vec<Value>,
    created_at: String,
    updated_at: String,
}

pub(super) fn render_connection(
    c: crate::server::events::ConnectionSnapshot,
    verified: &[(String, String, String)],
) -> WosConnection {
    WosConnection {
        object: "connection",
        connection_type: connection_type(&c.kind, &c.idp),
        status: if c.state == "active" { "linked" } else { "unlinked" },
        domains: verified
            .iter()
            .filter(|(org, ..)| *org == c.organization_id)
            .map(|(_, id, domain)| json!({ "object": "connection_domain", "id": id, "domain": domain }))
            .collect(),
        id: c.id,
        organization_id: c.organization_id,
        name: c.name,
        state: c.state,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    }
}

/// The verified domains of these organizations: (organization, domain id, domain).
pub(super) async fn verified_domains(
    conn: &mut db::Conn,
    orgs: &[&str],
) -> Result<Vec<(String, String, String)>, AppError> {
    Ok(db::domains::of_organizations(conn, orgs)
        .await?
        .into_iter()
        .filter(|d| d.state == "verified")
        .map(|d| (d.organization_id, d.id, d.domain))
        .collect())
}

/// `GET /connections`: every organization's, or one's (`organization_id`), of a
/// `connection_type`, with a verified `domain` of the organization, or a name containing `search`.
async fn list_connections(
    State(state): State<AppState>,
    q: RawQuery,
) -> ApiResult<Json<List<WosConnection>>> {
    #[derive(Deserialize)]
    struct Filters {
        organization_id: Option<String>,
        connection_type: Option<String>,
        domain: Option<String>,
        search: Option<String>,
    }
    let page = q.parse::<ListParams>()?.page()?;
    let f = q.parse::<Filters>()?;
    let kinds = f
        .connection_type
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(kinds_of);
    let filter = db::connections::ListFilter {
        organization_id: f.organization_id.filter(|o| !o.is_empty()),
        kinds,
        domain: f
            .domain
            .filter(|d| !d.is_empty())
            .map(|d| d.to_ascii_lowercase()),
        search: super::search_param(f.search)?,
    };
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let rows = db::connections::page(&mut conn, &page.keyset(), &filter)
        .await
        .map_err(AppError::from)?;
    let (rows, meta) = page.finish(rows, |r| r.id.as_str());
    let orgs: Vec<&str> = rows.iter().map(|r| r.organization_id.as_str()).collect();
    let verified = verified_domains(&mut conn, &orgs).await?;
    let data = rows
        .into_iter()
        .map(|r| render_connection((&r).into(), &verified))
        .collect();
    Ok(Json(List::new(data, meta)))
}

async fn get_connection(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ConnectionId>,
) -> ApiResult<Json<WosConnection>> {
    let org = connections::organization_of(&state, &id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let row = db::connections::get_connection(&mut conn, &org, &id)
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound("connection"))?;
    let verified = verified_domains(&mut conn, &[org.as_str()]).await?;
    Ok(Json(render_connection((&row).into(), &verified)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_type_maps_back_to_its_pairs() {
        for kind in ["saml", "oidc"] {
            for (idp, ..) in crate::domain::connection::IDPS {
                let t = connection_type(kind, idp);
                assert!(kinds_of(t).contains(&(kind, idp)), "{kind} {idp} {t}");
            }
        }
        assert_eq!(kinds_of("AzureSAML"), [("saml", "entra")]);
        assert!(kinds_of("NoSuchType").is_empty());
    }
}
