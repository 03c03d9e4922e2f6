//! WorkOS SSO logout: `POST /sso/logout/authorize {profile_id}` gives a short-lived logout token
//! and the URL of `GET /sso/logout?token=…`, where the vendor sends the browser. That GET is
//! Lanyard's single logout (`POST /api/v1/sso/logout`): the person's SSO session ends at once
//! and the browser goes to the IdP's logout (SAML LogoutRequest or OIDC `end_session_endpoint`),
//! which comes back through Lanyard to the vendor's return address.
//!
//! The token is not stored: it is the session, the return address, the API key that asked and
//! the expiry, with an HMAC keyed with the deployment's secret key. The key must still be live
//! when the browser arrives; the session ends once (a second use only returns the browser).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{invalid, RawQuery, WosJson};
use crate::domain::ids::UserId;
use crate::server::audit::{Actor, RequestContext};
use crate::server::db;
use crate::server::error::AppError;
use crate::server::http::rest::error::{ApiResult, RestError};
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::sso;
use crate::server::state::AppState;

/// How long a logout token opens `GET /sso/logout`.
const TOKEN_TTL_MS: i64 = 5 * 60_000;

/// `POST /sso/logout/authorize` (with the API key).
pub fn routes() -> Router<AppState> {
    Router::new().route("/sso/logout/authorize", post(authorize))
}

/// `GET /sso/logout` (the browser, no API key: the token is the authority).
pub fn open_routes() -> Router<AppState> {
    // HEAD (a link checker, a prefetch) reads nothing and ends nothing: only the browser's GET.
    Router::new().route("/sso/logout", get(logout).head(head))
}

#[derive(Debug, Deserialize)]
struct AuthorizeBody {
    profile_id: Option<String>,
    /// Lanyard's addition: where the browser returns after the IdP's logout (allow-listed).
    /// Without it, the first allow-listed redirect URI, as for an IdP-initiated sign-in
    /// (WorkOS's dashboard setting for this has no Lanyard equivalent).
    return_to: Option<String>,
}

/// What a logout token carries.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The SSO session (`ssn_…`).
    sid: String,
    return_to: String,
    /// The API key that asked.
    key: String,
    /// Expiry (ms).
    exp: i64,
}

fn mac(state: &AppState, payload: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&state.config.secret_key)
        .expect("HMAC takes any key length");
    m.update(b"workos_sso_logout\n");
    m.update(payload.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

fn seal(state: &AppState, c: &Claims) -> String {
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(c).unwrap_or_default());
    let sig = mac(state, &payload);
    format!("{payload}.{sig}")
}

/// The claims of a genuine token that has not expired.
fn open(state: &AppState, token: &str) -> Option<Claims> {
    let (payload, sig) = token.split_once('.')?;
    if !crate::server::crypto::ct_eq(sig, &mac(state, payload)) {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let c: Claims = serde_json::from_slice(&bytes).ok()?;
    (c.exp > state.clock.now()).then_some(c)
}

/// `POST /sso/logout/authorize {profile_id, return_to?}` → `{logout_url, logout_token}`. The
/// profile id is the user's (a profile's `id`); the newest SSO session of that person still open
/// is the one logged out.
async fn authorize(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    WosJson(body): WosJson<AuthorizeBody>,
) -> ApiResult<Json<Value>> {
    let raw = body
        .profile_id
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("profile_id", "profile_id is required: the profile's id"))?;
    if raw.len() > 64 {
        return Err(invalid(
            "profile_id",
            "profile_id is too long: send the profile's id (user_…)",
        ));
    }
    let not_found = || {
        RestError::new(
            StatusCode::NOT_FOUND,
            "entity_not_found",
            format!("no open SSO session for profile '{raw}': it ended, or the sign-in is older than 30 days"),
        )
    };
    let user = UserId::parse(&raw).ok_or_else(not_found)?;
    let return_to = match body.return_to.map(|s| s.trim().to_owned()) {
        Some(r) if !r.is_empty() => {
            if !sso::redirect_allowed(&state, &r).await? {
                return Err(invalid(
                    "return_to",
                    "return_to must be one of the allow-listed redirect URIs (add it with POST /api/v1/redirect_uris)",
                ));
            }
            r
        }
        _ => sso::default_redirect(&state).await?.ok_or_else(|| {
            invalid(
                "return_to",
                "send return_to, or allow-list a redirect URI (POST /api/v1/redirect_uris): the browser returns there after the logout",
            )
        })?,
    };
    let now = state.clock.now();
    let session = {
        let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
        db::sso_sessions::newest_live_of_user(&mut conn, &user, now)
            .await
            .map_err(AppError::from)?
    }
    .ok_or_else(not_found)?;
    let token = seal(
        &state,
        &Claims {
            sid: session.id,
            return_to,
            key: p.key_id,
            exp: now + TOKEN_TTL_MS,
        },
    );
    let mut url = url::Url::parse(&format!("{}/sso/logout", state.config.base_url()))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    url.query_pairs_mut().append_pair("token", &token);
    Ok(Json(json!({
        "logout_url": url.to_string(),
        "logout_token": token,
    })))
}

#[derive(Debug, Deserialize)]
struct LogoutQuery {
    token: Option<String>,
}

/// `HEAD /sso/logout`: nothing happens.
async fn head() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "no-store")],
    )
        .into_response()
}

/// `GET /sso/logout?token=…`: ends the session and sends the browser to the IdP's logout (or
/// straight to the return address when the IdP cannot be asked). While the token lasts, every
/// use goes to the IdP: an earlier fetch of the link must not leave the person signed in there.
async fn logout(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    q: RawQuery,
) -> ApiResult<Response> {
    let refused = || {
        RestError::new(
            StatusCode::NOT_FOUND,
            "entity_not_found",
            "this logout link is not valid or has expired (links work 5 minutes); ask for a new one with POST /sso/logout/authorize",
        )
    };
    let query: LogoutQuery = q.parse()?;
    let claims = query
        .token
        .as_deref()
        .and_then(|t| open(&state, t))
        .ok_or_else(refused)?;
    // The key that asked must still be live: revoking it voids its links.
    let key = {
        let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
        db::api_keys::live_by_id(&mut conn, &claims.key)
            .await
            .map_err(AppError::from)?
    }
    .ok_or_else(refused)?;
    let actor = Actor {
        kind: crate::domain::actor::ActorKind::ApiKey,
        id: key.id,
        name: key.name,
    };
    let start = sso::logout_at_idp(
        &state,
        &actor,
        &ctx,
        sso::LogoutRequest {
            session_id: claims.sid,
            return_to: claims.return_to,
        },
    )
    .await?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, start.url),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response())
}
