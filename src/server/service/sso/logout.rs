//! Single logout. Every sign-in through a connection opens an SSO session (the subject and, for
//! SAML, the NameID format and SessionIndex the IdP asserted); its id reaches the vendor as the
//! profile's `session_id`.
//!
//! - The vendor ends a session with `POST /api/v1/sso/logout {session_id, return_to}` and sends
//!   the browser to the URL it gets: the IdP's SingleLogoutService with Lanyard's signed
//!   LogoutRequest (SAML), or the IdP's `end_session_endpoint` (OIDC); the IdP answers at
//!   Lanyard, which sends the browser on to `return_to`.
//! - The IdP ends sessions with a signed LogoutRequest at `/sso/saml/{conn}/slo`: Lanyard ends the
//!   sessions it names, tells the vendor (`session.logout_requested`, webhook and events feed)
//!   and answers with a signed LogoutResponse.

use serde::{Deserialize, Serialize};

use crate::domain::connection::ConnectionKind;
use crate::domain::event_type::EventType;
use crate::domain::ids::{IdKind, OrgId};
use crate::domain::target::TargetKind;
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::crypto::{hash_secret, new_secret};
use crate::server::db::{self, connections::ConnectionRow, sso_sessions::SsoSessionRow};
use crate::server::error::AppError;
use crate::server::oidc::Identity;
use crate::server::protocol::saml::{logout, request};
use crate::server::service::connections;
use crate::server::state::AppState;

use super::{page, redirect_allowed, Next};

/// How long a session is kept for a logout to find it.
pub const SESSION_KEEP_MS: i64 = 30 * 86_400_000;
/// Most trips to the IdP that wait for its answer for one session that already ended.
const MAX_WAITING_LOGOUTS: i64 = 5;
/// How long the browser has to come back from the IdP's logout.
pub const LOGOUT_TTL_MS: i64 = 10 * 60_000;

/// Opens the SSO session of a sign-in that succeeded; answers its id (`ssn_…`).
pub(super) async fn open_session(
    state: &AppState,
    row: &ConnectionRow,
    identity: &Identity,
    membership_id: Option<&str>,
) -> Result<String, AppError> {
    let now = state.clock.now();
    let raw = |k: &str| {
        identity
            .raw
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let saml = row.kind == ConnectionKind::Saml;
    let s = SsoSessionRow {
        id: db::new_id(IdKind::SsoSession),
        organization_id: row.organization_id.clone(),
        connection_id: row.id.clone(),
        membership_id: membership_id.map(str::to_owned),
        protocol: row.kind.clone(),
        subject: identity.subject.clone(),
        name_id_format: if saml { raw("name_id_format") } else { None },
        session_index: if saml { raw("session_index") } else { None },
        created_at: now,
        expires_at: now + SESSION_KEEP_MS,
        ended_at: None,
        ended_by: None,
    };
    let mut conn = state.db.pool.acquire().await?;
    db::sso_sessions::insert(&mut conn, &s).await?;
    Ok(s.id)
}

/// `POST /api/v1/sso/logout` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// The profile's `session_id` (`ssn_…`).
    pub session_id: String,
    /// Where the browser returns after the IdP's logout: an allow-listed redirect URI.
    pub return_to: String,
}

/// What `POST /api/v1/sso/logout` answers.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogoutStart {
    pub object: String,
    pub session_id: String,
    /// Send the browser here: the IdP's logout with Lanyard's signed request, or `return_to`
    /// itself when the IdP cannot be asked (see `idp_logout` and `reason`).
    pub url: String,
    /// Whether `url` signs the person out at the IdP.
    pub idp_logout: bool,
    /// Why the IdP is not asked, when it is not.
    pub reason: Option<String>,
}

/// Ends an SSO session for the vendor and gives the URL that ends it at the IdP. A session that
/// already ended answers `return_to` (`idp_logout` false, with the reason).
pub async fn start_logout(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: LogoutRequest,
) -> Result<LogoutStart, AppError> {
    logout_session(state, actor, ctx, input, false).await
}

/// As [`start_logout`], but a session that already ended still sends the browser to the IdP's
/// logout (WorkOS's `GET /sso/logout`: an earlier fetch of the link, by a mail scanner or a
/// double click, must not leave the person signed in at the IdP). Asking the IdP again is
/// harmless; the session ends, and is reported, once.
pub async fn logout_at_idp(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: LogoutRequest,
) -> Result<LogoutStart, AppError> {
    logout_session(state, actor, ctx, input, true).await
}

async fn logout_session(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: LogoutRequest,
    idp_even_if_ended: bool,
) -> Result<LogoutStart, AppError> {
    let return_to = input.return_to.trim().to_owned();
    if return_to.is_empty() || !redirect_allowed(state, &return_to).await? {
        return Err(FieldError::new(
            "return_to",
            "return_to must be one of the allow-listed redirect URIs (add it with POST /api/v1/redirect_uris)",
        )
        .into());
    }
    let now = state.clock.now();
    let session = {
        let mut conn = state.db.pool.acquire().await?;
        db::sso_sessions::get(&mut conn, input.session_id.trim()).await?
    }
    .filter(|s| s.expires_at > now)
    .ok_or(AppError::NotFound("session"))?;
    let answer = |url: String, reason: Option<String>| LogoutStart {
        object: "sso_logout".into(),
        session_id: session.id.clone(),
        idp_logout: reason.is_none(),
        url,
        reason,
    };
    if let Some(at) = session.ended_at.filter(|_| !idp_even_if_ended) {
        let by = session.ended_by.as_deref().unwrap_or("vendor");
        return Ok(answer(
            return_to,
            Some(format!(
                "the session already ended ({} logout at {})",
                if by == "idp" { "the IdP's" } else { "your" },
                crate::server::timefmt::rfc3339(at)
            )),
        ));
    }
    let row = {
        let mut conn = state.db.pool.acquire().await?;
        db::connections::get_connection(
            &mut conn,
            &OrgId::from_stored(session.organization_id.as_str()),
            &crate::domain::ids::ConnectionId::from_stored(session.connection_id.as_str()),
        )
        .await?
    };
    // A logout link used again and again (WorkOS's `GET /sso/logout`): a few trips to the IdP
    // wait at a time, no more rows and IdP requests than that.
    if session.ended_at.is_some() {
        let waiting = {
            let mut conn = state.db.pool.acquire().await?;
            db::sso_sessions::waiting_logouts(&mut conn, &session.id, now).await?
        };
        if waiting >= MAX_WAITING_LOGOUTS {
            return Ok(answer(
                return_to,
                Some(
                    "the session already ended and its logout was sent to the IdP several times"
                        .into(),
                ),
            ));
        }
    }
    let relay_state = new_secret("");
    // Where the IdP is asked to end its session, and the request id its answer must carry.
    let idp = match &row {
        None => Err("the connection was removed".to_owned()),
        Some(r) if r.kind == ConnectionKind::Saml => {
            saml_logout_url(state, r, &session, &relay_state).await?
        }
        Some(r) => oidc_logout_url(state, r, &relay_state).await,
    };
    if session.ended_at.is_none() {
        end_sessions(state, actor, ctx, std::slice::from_ref(&session), "vendor").await?;
    }
    match idp {
        Ok((url, request_id)) => {
            let pending = db::sso_sessions::PendingLogoutRow {
                state_hash: hash_secret(&relay_state),
                organization_id: session.organization_id.clone(),
                connection_id: session.connection_id.clone(),
                session_id: session.id.clone(),
                request_id,
                return_to,
                created_at: now,
                expires_at: now + LOGOUT_TTL_MS,
            };
            let mut conn = state.db.pool.acquire().await?;
            db::sso_sessions::insert_logout(&mut conn, &pending).await?;
            Ok(answer(url, None))
        }
        Err(reason) => Ok(answer(return_to, Some(reason))),
    }
}

/// The IdP's SingleLogoutService with Lanyard's signed LogoutRequest for `session`, or why
/// there is none.
async fn saml_logout_url(
    state: &AppState,
    row: &ConnectionRow,
    session: &SsoSessionRow,
    relay_state: &str,
) -> Result<Result<(String, String), String>, AppError> {
    if !row.saml_single_logout {
        return Ok(Err(
            "single logout is off for this connection (saml.single_logout)".into(),
        ));
    }
    let Some(slo) = row.saml_idp_slo_url.clone() else {
        return Ok(Err(
            "the IdP has no single logout URL (saml.idp_slo_url)".into()
        ));
    };
    if let Err(e) = state.outbound.check_url(&slo) {
        return Ok(Err(format!(
            "the IdP's single logout URL is not usable: {e}"
        )));
    }
    // Fail closed: a logout request is never sent unsigned.
    let Some(key) = crate::server::service::sp_keys::active_signing_key(state, row).await? else {
        return Err(AppError::Internal(format!(
            "connection {} has single logout on but no active SP signing key",
            row.id
        )));
    };
    let request_id = format!(
        "_lanyard_logout_{}",
        hash_secret(&new_secret("")).get(..32).unwrap_or("0")
    );
    let xml = logout::logout_request(
        &request_id,
        state.clock.now(),
        &connections::sp_entity_id(state, &row.id),
        &slo,
        &session.subject,
        session.name_id_format.as_deref(),
        session.session_index.as_deref(),
    );
    Ok(request::message_url(
        &slo,
        request::SAML_REQUEST,
        &xml,
        Some(relay_state),
        Some(&key),
    )
    .map(|u| (u, request_id)))
}

/// Lanyard's return address from an OIDC IdP's logout (register it at the IdP as a
/// post-logout redirect URI).
pub fn oidc_logout_return_url(state: &AppState) -> String {
    format!("{}/sso/oidc/logout", state.config.base_url())
}

/// The OIDC IdP's `end_session_endpoint` (RP-Initiated Logout 1.0) for this client, or why
/// there is none.
async fn oidc_logout_url(
    state: &AppState,
    row: &ConnectionRow,
    relay_state: &str,
) -> Result<(String, String), String> {
    let issuer = row.oidc_issuer.clone().unwrap_or_default();
    let doc = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let text = state
        .outbound
        .get_text(&doc)
        .await
        .map_err(|e| format!("the IdP's discovery document could not be read: {e}"))?;
    let meta: serde_json::Value = serde_json::from_str(&text)
        .map_err(|_| "the IdP's discovery document is not JSON".to_owned())?;
    let Some(end) = meta.get("end_session_endpoint").and_then(|v| v.as_str()) else {
        return Err("the IdP publishes no end_session_endpoint".into());
    };
    state
        .outbound
        .check_url(end)
        .map_err(|e| format!("the IdP's end_session_endpoint is not usable: {e}"))?;
    let mut url = url::Url::parse(end).map_err(|_| "the end_session_endpoint is not a URL")?;
    url.query_pairs_mut()
        .append_pair("client_id", row.oidc_client_id.as_deref().unwrap_or(""))
        .append_pair("post_logout_redirect_uri", &oidc_logout_return_url(state))
        .append_pair("state", relay_state);
    Ok((url.to_string(), String::new()))
}

/// Ends `sessions`, each audited as `session.logout_requested` (webhook and events feed tell
/// the vendor), in one transaction. Answers how many were still live.
async fn end_sessions(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    sessions: &[SsoSessionRow],
    by: &str,
) -> Result<usize, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let mut ended = 0;
    for s in sessions {
        if !db::sso_sessions::end(tx.conn(), &s.organization_id, &s.id, by, now).await? {
            continue;
        }
        ended += 1;
        let mut targets = vec![Target::new(TargetKind::Connection, &s.connection_id, None)];
        if let Some(m) = &s.membership_id {
            targets.push(Target::new(TargetKind::Membership, m, None));
        }
        tx.record(
            Some(&s.organization_id),
            EventType::SessionLogoutRequested,
            targets,
            serde_json::json!({
                "session_id": s.id,
                "connection_id": s.connection_id,
                "membership_id": s.membership_id,
                "protocol": s.protocol,
                "subject": s.subject,
                // idp: the IdP's LogoutRequest (end the person's session in the product now);
                // vendor: the product asked Lanyard to log out at the IdP.
                "initiated_by": by,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(ended)
}

/// The IdP's logout message at `/sso/saml/{conn}/slo` (HTTP-Redirect or HTTP-POST).
pub async fn saml_slo(
    state: &AppState,
    ctx: &RequestContext,
    connection_id: &str,
    binding: logout::Binding<'_>,
) -> Result<Next, AppError> {
    let Some(row) = super::saml::saml_connection(state, connection_id).await? else {
        return Ok(page(
            404,
            "Unknown SSO connection",
            "This logout was sent to a SAML connection that does not exist (or was removed). Check the single logout URL in your IdP.",
        ));
    };
    if !row.saml_single_logout || !row.is_configured() {
        return Ok(page(
            404,
            "Single logout is off",
            "This connection does not take logout requests. Turn single logout on for it in Lanyard, or remove Lanyard's logout URL from the IdP.",
        ));
    }
    let now = state.clock.now();
    let certificates =
        super::saml::pinned_certificates(state, &row.org_id(), &row.connection_id()).await?;
    let slo_url = connections::slo_url(state, &row.id);
    let decryption_keys = crate::server::service::sp_keys::decryption_keys(state, &row).await?;
    let trust = logout::Trust {
        idp_entity_id: row.saml_idp_entity_id.as_deref().unwrap_or(""),
        slo_url: &slo_url,
        certificates: &certificates,
        decryption_keys: &decryption_keys,
        skew_ms: state.config.saml_clock_skew_ms,
        now_ms: now,
    };
    let message = match logout::verify(binding, &trust) {
        Ok(m) => m,
        Err(r) => {
            tracing::warn!(connection_id = %row.id, code = r.code, "refused a SAML logout message: {}", r.message);
            crate::server::metrics::sign_in(&row.kind, "logout", "failed", r.code);
            return Ok(page(
                400,
                "Logout could not be completed",
                format!(
                    "Lanyard did not accept this logout message ({}): {}.",
                    r.code, r.message
                ),
            ));
        }
    };
    match message {
        logout::Message::Request(req, relay_state) => {
            idp_logout(state, ctx, &row, req, relay_state).await
        }
        logout::Message::Response(resp, relay_state) => {
            logout_answered(state, &row, resp, relay_state).await
        }
    }
}

/// An IdP's verified LogoutRequest: ends the sessions it names and answers the IdP.
async fn idp_logout(
    state: &AppState,
    ctx: &RequestContext,
    row: &ConnectionRow,
    req: logout::LogoutRequest,
    relay_state: Option<String>,
) -> Result<Next, AppError> {
    let now = state.clock.now();
    let sessions = {
        let mut conn = state.db.pool.acquire().await?;
        // Each LogoutRequest is acted on once (its ID in the connection's replay cache).
        let replay_key = format!("logout:{}", req.id);
        if !db::saml::remember_assertion(&mut conn, &row.id, &replay_key, req.replay_until_ms, now)
            .await?
        {
            return Ok(page(
                409,
                "Logout already done",
                "This logout request was already used. Sign out again from your identity provider.",
            ));
        }
        db::sso_sessions::live_for_subject(&mut conn, &row.org_id(), &row.id, &req.name_id, now)
            .await?
    };
    // A format the IdP names must be the one it asserted; SessionIndexes, when given, pick the
    // sessions (none given: every session of the subject, SAML Core §3.7.3.2).
    let sessions: Vec<_> = sessions
        .into_iter()
        .filter(|s| match (&req.name_id_format, &s.name_id_format) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        })
        .filter(|s| {
            req.session_indexes.is_empty()
                || s.session_index
                    .as_ref()
                    .is_some_and(|i| req.session_indexes.contains(i))
        })
        .collect();
    let ended = end_sessions(state, &Actor::system(), ctx, &sessions, "idp").await?;
    crate::server::metrics::sign_in(&row.kind, "logout", "succeeded", "");
    tracing::info!(connection_id = %row.id, ended, "IdP-initiated logout");
    let Some(idp_slo) = row
        .saml_idp_slo_url
        .clone()
        .filter(|u| state.outbound.check_url(u).is_ok())
    else {
        return Ok(page(
            200,
            "You are signed out",
            "You are signed out of the application. You can close this window.",
        ));
    };
    let Some(key) = crate::server::service::sp_keys::active_signing_key(state, row).await? else {
        return Err(AppError::Internal(format!(
            "connection {} has single logout on but no active SP signing key",
            row.id
        )));
    };
    let xml = logout::logout_response(
        &format!(
            "_lanyard_{}",
            hash_secret(&new_secret("")).get(..32).unwrap_or("0")
        ),
        now,
        &connections::sp_entity_id(state, &row.id),
        &idp_slo,
        &req.id,
        logout::STATUS_SUCCESS,
    );
    match request::message_url(
        &idp_slo,
        request::SAML_RESPONSE,
        &xml,
        relay_state.as_deref(),
        Some(&key),
    ) {
        Ok(url) => Ok(Next::Redirect(url)),
        Err(m) => Ok(page(
            502,
            "The identity provider's logout address is not valid",
            m,
        )),
    }
}

/// The IdP's verified LogoutResponse to a logout Lanyard started: on to the vendor's
/// `return_to`.
async fn logout_answered(
    state: &AppState,
    row: &ConnectionRow,
    resp: logout::LogoutResponse,
    relay_state: Option<String>,
) -> Result<Next, AppError> {
    let now = state.clock.now();
    let pending = match relay_state.filter(|r| !r.is_empty() && r.len() <= 1024) {
        Some(rs) => {
            let mut conn = state.db.pool.acquire().await?;
            db::sso_sessions::take_logout(&mut conn, &hash_secret(&rs), now)
                .await?
                .filter(|p| p.connection_id == row.id)
        }
        None => None,
    };
    let Some(p) = pending.filter(|p| p.request_id == resp.in_response_to) else {
        return Ok(page(
            400,
            "Logout could not be completed",
            "This answer from the identity provider does not belong to a logout in progress (it expired or was already used). You are signed out of the application; sign out at your identity provider if it still shows you signed in.",
        ));
    };
    if resp.status != logout::STATUS_SUCCESS {
        tracing::warn!(connection_id = %row.id, status = %resp.status, "the IdP did not complete a logout");
    }
    Ok(Next::Redirect(p.return_to))
}

/// `/sso/oidc/logout?state=…`: the OIDC IdP's return from its logout, on to `return_to`.
pub async fn oidc_logout_return(
    state: &AppState,
    relay_state: Option<&str>,
) -> Result<Next, AppError> {
    let now = state.clock.now();
    let pending = match relay_state.filter(|r| !r.is_empty() && r.len() <= 1024) {
        Some(rs) => {
            let mut conn = state.db.pool.acquire().await?;
            db::sso_sessions::take_logout(&mut conn, &hash_secret(rs), now).await?
        }
        None => None,
    };
    match pending {
        Some(p) if p.request_id.is_empty() => Ok(Next::Redirect(p.return_to)),
        _ => Ok(page(
            400,
            "Logout could not be completed",
            "This return from the identity provider does not belong to a logout in progress (it expired or was already used). You are signed out of the application.",
        )),
    }
}

/// Removes sessions kept past [`SESSION_KEEP_MS`], logouts the IdP never answered and expired
/// access tokens of the WorkOS-compatible `/sso/token`.
pub async fn purge_sessions(state: &AppState) -> Result<u64, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let now = state.clock.now();
    let access_tokens = db::sign_in::purge_access_tokens(&mut conn, now).await?;
    Ok(db::sso_sessions::purge(&mut conn, now).await? + access_tokens)
}
