//! SAML: the AuthnRequest, the ACS and the SP metadata.

use crate::domain::connection::ConnectionKind;
use crate::domain::sign_in::SignInPurpose;
use serde::Deserialize;
use tracing::Instrument as _;

use crate::domain::ids::{ConnectionId, OrgId};
use crate::server::audit::RequestContext;
use crate::server::crypto::{hash_secret, new_secret};
use crate::server::db::{self, sign_in::SsoRequestRow};
use crate::server::error::AppError;
use crate::server::oidc::{Identity, OidcFailure};
use crate::server::protocol::saml::dsig::PinnedCertificate;
use crate::server::service::connections;
use crate::server::state::AppState;

use super::callback::conclude;
use super::{page, redirect_allowed, Next, REQUEST_TTL_MS};

/// Starts a SAML sign-in: an AuthnRequest by HTTP-Redirect, remembered by RelayState (the IdP's
/// cross-site POST back carries no SameSite=Lax cookie, so the state lives server-side).
pub(super) async fn begin_saml(
    state: &AppState,
    row: db::connections::ConnectionRow,
    purpose: SignInPurpose,
    origin: super::Origin,
) -> Result<Next, AppError> {
    use crate::server::protocol::saml::request;
    let super::Origin {
        redirect_uri,
        client_state,
        invitation,
        oauth,
        force_authn,
    } = origin;
    let now = state.clock.now();
    let relay_state = new_secret("");
    let request_id = format!(
        "_lanyard_{}",
        hash_secret(&new_secret("")).get(..32).unwrap_or("0")
    );
    let (post, sso_url) = row.sso_endpoint();
    let xml = request::authn_request(
        &request_id,
        now,
        &connections::sp_entity_id(state, &row.id),
        &connections::acs_url(state, &row.id),
        &sso_url,
        force_authn,
    );
    // Fail closed: a connection that signs never sends an unsigned request.
    let signing = if row.saml_sign_authn_requests {
        let Some(k) = crate::server::service::sp_keys::active_signing(state, &row).await? else {
            return Err(AppError::Internal(format!(
                "connection {} signs AuthnRequests but has no active SP key",
                row.id
            )));
        };
        Some(k)
    } else {
        None
    };
    let next = if post {
        let xml = match &signing {
            Some((key, cert)) => {
                request::sign_enveloped(&xml, key, cert).map_err(AppError::Internal)?
            }
            None => xml,
        };
        if url::Url::parse(&sso_url).is_err() {
            return Ok(page(
                502,
                "The identity provider's address is not valid",
                format!("the IdP SSO URL {sso_url} is not a URL"),
            ));
        }
        Next::Post {
            action: sso_url,
            fields: vec![
                (request::SAML_REQUEST.into(), request::post_value(&xml)),
                ("RelayState".into(), relay_state.clone()),
            ],
        }
    } else {
        let url = match &signing {
            Some((key, _)) => request::signed_redirect_url(&sso_url, &xml, &relay_state, key),
            None => request::redirect_url(&sso_url, &xml, &relay_state),
        };
        match url {
            Ok(u) => Next::Redirect(u),
            Err(m) => return Ok(page(502, "The identity provider's address is not valid", m)),
        }
    };
    let req = SsoRequestRow {
        state_hash: hash_secret(&relay_state),
        organization_id: row.organization_id.clone(),
        connection_id: row.id.clone(),
        purpose: purpose.as_str().into(),
        redirect_uri,
        client_state,
        // The AuthnRequest ID: the Response must answer exactly this request.
        nonce: request_id,
        pkce_verifier_enc: String::new(),
        created_at: now,
        expires_at: now + REQUEST_TTL_MS,
        invitation_id: invitation.as_ref().map(|i| i.0.clone()),
        invitation_token_hash: invitation.map(|i| i.1),
        oauth,
        traceparent: crate::server::telemetry::current_traceparent(),
    };
    let mut conn = state.db.pool.acquire().await?;
    db::sign_in::insert_request(&mut conn, &req).await?;
    Ok(next)
}

/// The ACS form (HTTP-POST binding).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    pub saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

/// The IdP's POST to a connection's ACS. SP-initiated when RelayState names a pending request
/// of this connection; otherwise IdP-initiated (only when the connection allows it), returning
/// to the allow-listed URI named by RelayState or the first configured one.
pub async fn saml_acs(
    state: &AppState,
    ctx: &RequestContext,
    connection_id: &str,
    form: AcsForm,
) -> Result<Next, AppError> {
    use crate::server::protocol::saml::{attributes, response};
    let now = state.clock.now();
    let unknown = || {
        Ok(page(
            404,
            "Unknown SSO connection",
            "This sign-in was sent to a SAML connection that does not exist (or was removed). Check the ACS URL in your IdP.",
        ))
    };
    let Some(row) = saml_connection(state, connection_id).await? else {
        return unknown();
    };
    if !row.is_configured() {
        // A guided-setup draft: no IdP is trusted yet, so nothing posted here can be believed.
        return Ok(page(
            409,
            "This connection is not set up yet",
            "No identity provider has been entered for this connection. In the setup portal, add the IdP's metadata (step 2), then start the test sign-in from there.",
        ));
    }
    let relay = form
        .relay_state
        .clone()
        .filter(|s| !s.is_empty() && s.len() <= 1024);
    let pending = match &relay {
        Some(rs) => {
            let mut conn = state.db.pool.acquire().await?;
            db::sign_in::take_request(&mut conn, &hash_secret(rs), now)
                .await?
                .filter(|r| r.connection_id == row.id)
        }
        None => None,
    };
    let req = match pending {
        Some(r) => r,
        None => {
            let target = match &relay {
                Some(rs) if redirect_allowed(state, rs).await? => Some(rs.clone()),
                _ => default_redirect(state).await?,
            };
            SsoRequestRow {
                state_hash: String::new(),
                organization_id: row.organization_id.clone(),
                connection_id: row.id.clone(),
                purpose: SignInPurpose::Signin.as_str().into(),
                redirect_uri: target,
                client_state: None,
                nonce: String::new(),
                pkce_verifier_enc: String::new(),
                created_at: now,
                expires_at: now,
                invitation_id: None,
                invitation_token_hash: None,
                oauth: None,
                traceparent: None,
            }
        }
    };
    let sp_initiated = !req.nonce.is_empty();
    let Some(b64) = form.saml_response.filter(|s| !s.trim().is_empty()) else {
        return Ok(page(
            400,
            "Sign-in could not be completed",
            "The identity provider posted no SAMLResponse. Start the sign-in again.",
        ));
    };
    let trust = response::Trust {
        sp_entity_id: connections::sp_entity_id(state, &row.id),
        acs_url: connections::acs_url(state, &row.id),
        idp_entity_id: row.saml_idp_entity_id.clone().unwrap_or_default(),
        certificates: pinned_certificates(state, &row.org_id(), &row.connection_id()).await?,
        skew_ms: state.config.saml_clock_skew_ms,
        allow_idp_initiated: row.saml_allow_idp_initiated,
        decryption_keys: crate::server::service::sp_keys::decryption_keys(state, &row).await?,
        require_encrypted: row.saml_require_encrypted_assertions,
        require_assertion_signed: row.saml_want_assertions_signed,
    };
    let expected = sp_initiated.then(|| req.nonce.clone());
    // Parsing and signature checks are CPU-bound: keep them off the async workers.
    let validated = tokio::task::spawn_blocking(move || {
        let xml = response::decode_post(&b64)?;
        response::validate(
            &xml,
            &response::Validation {
                trust: &trust,
                now_ms: now,
                expected_request_id: expected.as_deref(),
            },
        )
    })
    .await
    .map_err(|e| AppError::Internal(format!("SAML validation task: {e}")))?;
    let identity = match validated {
        Err(f) => Err((
            OidcFailure {
                reason: f.code.into(),
                message: f.message,
            },
            Some(f.evidence),
        )),
        Ok(a) => {
            let mut conn = state.db.pool.acquire().await?;
            if !db::saml::remember_assertion(&mut conn, &row.id, &a.id, a.replay_until_ms, now)
                .await?
            {
                Err((
                    OidcFailure {
                        reason: "replay".into(),
                        message: "this assertion was already used to sign in; a SAML response is valid once. Start the sign-in again".into(),
                    },
                    Some(serde_json::json!({ "assertion_id": a.id })),
                ))
            } else {
                let m = attributes::map(&a, &row.idp, &connections::mapping_of(&row));
                Ok(Identity {
                    subject: a.name_id.clone(),
                    email: m.email,
                    email_verified: None,
                    first_name: m.first_name,
                    last_name: m.last_name,
                    groups: m.groups,
                    raw: serde_json::json!({
                        "name_id": a.name_id,
                        "name_id_format": a.name_id_format,
                        "issuer": a.issuer,
                        "session_index": a.session_index,
                        "signed": a.signed,
                        // Which of Lanyard's SP keys opened an EncryptedAssertion (null: plain).
                        "encrypted": a.decrypted_with.is_some(),
                        "decryption_key": a.decrypted_with,
                        "attributes": a.attributes,
                    }),
                })
            }
        }
    };
    conclude(state, ctx, &row, &req, identity)
        .instrument(crate::server::telemetry::span_continuing(
            "sign_in.finish",
            req.traceparent.as_deref(),
        ))
        .await
}

/// Decoded pinned certificates by the exact stored text (base64 DER) they were decoded from.
/// Content-addressed: an entry only says what a given certificate's key is, never that it is
/// trusted. Trust is the list read from the database on every response, so a certificate
/// removed on any node stops verifying at the next response on every node, with no
/// invalidation to get wrong.
static DECODED_CERTIFICATES: std::sync::LazyLock<
    std::sync::RwLock<std::collections::HashMap<String, PinnedCertificate>>,
> = std::sync::LazyLock::new(Default::default);

/// Entries kept before the cache starts over (a few KiB each).
const DECODED_CERTIFICATES_MAX: usize = 4096;

/// The certificates pinned on the connection now, decoded once per certificate. A stored value
/// that does not decode is left out, as before.
pub(super) async fn pinned_certificates(
    state: &AppState,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
) -> Result<Vec<PinnedCertificate>, AppError> {
    use base64::Engine as _;
    let stored = {
        let mut conn = state.db.pool.acquire().await?;
        db::saml::pinned_certificate_texts(
            &mut conn,
            organization_id,
            connection_id,
            state.clock.now(),
        )
        .await?
    };
    let mut pinned = Vec::with_capacity(stored.len());
    for text in stored {
        let cached = DECODED_CERTIFICATES
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&text)
            .cloned();
        if let Some(c) = cached {
            pinned.push(c);
            continue;
        }
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&text) else {
            continue;
        };
        let Ok(c) = PinnedCertificate::from_der(&der) else {
            continue;
        };
        let mut cache = DECODED_CERTIFICATES
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if cache.len() >= DECODED_CERTIFICATES_MAX {
            cache.clear();
        }
        cache.insert(text, c.clone());
        pinned.push(c);
    }
    Ok(pinned)
}

/// Where an IdP-initiated sign-in returns when RelayState names no allow-listed URI.
pub(crate) async fn default_redirect(state: &AppState) -> Result<Option<String>, AppError> {
    if let Some(first) = state.config.redirect_uris.first() {
        return Ok(Some(first.clone()));
    }
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::redirect_uris::list_redirect_uris(&mut conn)
        .await?
        .into_iter()
        .next()
        .map(|r| r.uri))
}

/// A live SAML connection by its id alone (the ACS and SP metadata URLs carry only that).
pub(super) async fn saml_connection(
    state: &AppState,
    connection_id: &str,
) -> Result<Option<db::connections::ConnectionRow>, AppError> {
    let Some(connection_id) = crate::domain::ids::ConnectionId::parse(connection_id) else {
        return Ok(None);
    };
    let mut conn = state.db.pool.acquire().await?;
    let Some(org) = db::connections::connection_owner(&mut conn, &connection_id).await? else {
        return Ok(None);
    };
    Ok(
        db::connections::get_connection(&mut conn, &org, &connection_id)
            .await?
            .filter(|r| r.kind == ConnectionKind::Saml),
    )
}

/// Lanyard's SP metadata for a SAML connection (public: IdPs fetch it).
pub async fn sp_metadata(
    state: &AppState,
    connection_id: &str,
) -> Result<Option<String>, AppError> {
    let Some(r) = saml_connection(state, connection_id).await? else {
        return Ok(None);
    };
    use crate::server::service::sp_keys;
    let keys = sp_keys::published(state, &r).await?;
    let of = |key_use: &str| -> Vec<String> {
        keys.iter()
            .filter(|k| k.key_use == key_use)
            .map(sp_keys::certificate_b64)
            .collect()
    };
    Ok(Some(crate::server::protocol::saml::metadata::sp_metadata(
        &connections::sp_entity_id(state, &r.id),
        &connections::acs_url(state, &r.id),
        &of(sp_keys::SIGNING),
        &of(sp_keys::ENCRYPTION),
        r.saml_sign_authn_requests,
        r.saml_want_assertions_signed,
        r.saml_single_logout
            .then(|| connections::slo_url(state, &r.id))
            .as_deref(),
    )))
}
