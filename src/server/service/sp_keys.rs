//! Lanyard's own SP keys of SAML connections: generated when a connection first needs one
//! (signed AuthnRequests, encrypted assertions), the private half sealed under
//! `LANYARD_SECRET_KEY` with the key's id as context, the certificate published in the SP
//! metadata. States as for the OpenID Provider's keys: `next` (published ahead), `active`
//! (used), `retired`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use openssl::pkey::{PKey, Private};

use crate::domain::ids::IdKind;
use crate::server::db::{self, connections::ConnectionRow, saml::SpKeyRow, Conn};
use crate::server::error::AppError;
use crate::server::protocol::saml::{metadata, sp_key, xmlenc::DecryptionKey};
use crate::server::state::AppState;

/// The key that signs AuthnRequests.
pub const SIGNING: &str = "signing";
/// The key IdPs encrypt assertions to.
pub const ENCRYPTION: &str = "encryption";
/// How long a generated SP certificate is valid.
pub const VALID_DAYS: i64 = 5 * 365;

fn seal_context(id: &str) -> String {
    format!("saml_sp_keys:{id}")
}

/// Makes sure `row` has an active key for `key_use` ([`SIGNING`] or [`ENCRYPTION`]), generating
/// one in the caller's transaction when it has none; answers the fingerprint of a key it made.
pub async fn ensure_key(
    conn: &mut Conn,
    state: &AppState,
    row: &ConnectionRow,
    key_use: &'static str,
    now: i64,
) -> Result<Option<String>, AppError> {
    let keys = db::saml::published_sp_keys(conn, &row.organization_id, &row.id).await?;
    if keys
        .iter()
        .any(|k| k.state == "active" && k.key_use == key_use)
    {
        return Ok(None);
    }
    make_key(conn, state, row, key_use, "active", now)
        .await
        .map(Some)
}

/// Generates, seals and stores a key in `key_state` (`active` or `next`); answers its fingerprint.
async fn make_key(
    conn: &mut Conn,
    state: &AppState,
    row: &ConnectionRow,
    key_use: &'static str,
    key_state: &'static str,
    now: i64,
) -> Result<String, AppError> {
    let common_name = format!("Lanyard SP {} {key_use}", row.id);
    let made = tokio::task::spawn_blocking(move || sp_key::generate(&common_name, now, VALID_DAYS))
        .await
        .map_err(|e| AppError::Internal(format!("SP key generation: {e}")))?
        .map_err(AppError::Internal)?;
    let made = sp_key::UploadedKey {
        private_pem: made.private_pem,
        certificate_der: made.certificate_der,
    };
    store_key(conn, state, row, key_use, key_state, made, now).await
}

/// Seals and stores a key pair in `key_state`; answers its fingerprint.
async fn store_key(
    conn: &mut Conn,
    state: &AppState,
    row: &ConnectionRow,
    key_use: &'static str,
    key_state: &'static str,
    made: sp_key::UploadedKey,
    now: i64,
) -> Result<String, AppError> {
    let id = db::new_id(IdKind::SpKey);
    let info = metadata::certificate_info(&made.certificate_der).map_err(AppError::Internal)?;
    let key = SpKeyRow {
        private_key_enc: state.secrets.seal(&made.private_pem, &seal_context(&id)),
        id,
        organization_id: row.organization_id.clone(),
        connection_id: row.id.clone(),
        key_use: key_use.into(),
        state: key_state.into(),
        certificate_pem: metadata::to_pem(&made.certificate_der),
        fingerprint: info.fingerprint.clone(),
        not_before: info.not_before_ms,
        not_after: info.not_after_ms,
        created_at: now,
        activated_at: (key_state == "active").then_some(now),
        retired_at: None,
    };
    db::saml::insert_sp_key(conn, &key).await?;
    Ok(info.fingerprint)
}

/// How long a retired encryption key still decrypts (an IdP that switches late, or a sign-in in
/// flight, is not refused).
pub const OVERLAP_MS: i64 = 7 * 86_400_000;

/// One step of an SP key rotation.
pub enum Rotation {
    /// The customer's own key (checked): active when the connection has none of that use,
    /// otherwise published as the `next` key.
    Upload(&'static str, sp_key::UploadedKey),
    /// Publish a `next` key of this use beside the active one (the IdP can take it first).
    PublishNext(&'static str),
    /// The `next` key becomes the active one; the active one is retired.
    ActivateNext(&'static str),
}

/// Applies a rotation step in the caller's transaction; answers what it did, for the audit event.
pub async fn rotate(
    conn: &mut Conn,
    state: &AppState,
    row: &ConnectionRow,
    step: Rotation,
    now: i64,
) -> Result<serde_json::Value, AppError> {
    let keys = db::saml::published_sp_keys(conn, &row.organization_id, &row.id).await?;
    let find = |u: &str, s: &str| keys.iter().find(|k| k.key_use == u && k.state == s);
    match step {
        Rotation::Upload(u, key) => {
            if let Some(n) = find(u, "next") {
                return Err(AppError::Conflict {
                    code: "next_sp_key_exists",
                    message: format!("a next {u} key ({}) is already published; activate it with activate_next_sp_key first", n.id),
                    field: Some("saml.upload_sp_key"),
                });
            }
            let key_state = if find(u, "active").is_some() {
                "next"
            } else {
                "active"
            };
            let fp = store_key(conn, state, row, u, key_state, key, now).await?;
            Ok(serde_json::json!({ "use": u, "uploaded": fp, "state": key_state }))
        }
        Rotation::PublishNext(u) => {
            if find(u, "active").is_none() {
                // The first key of this use, ahead of the setting that needs it: the admin gives
                // its certificate to the IdP first (an encryption key decrypts at once, so the
                // IdP may start encrypting before assertions are required to be encrypted; a
                // signing key signs once sign_authn_requests is on).
                let fp = make_key(conn, state, row, u, "active", now).await?;
                return Ok(serde_json::json!({ "use": u, "published_first": fp }));
            }
            if let Some(n) = find(u, "next") {
                return Err(AppError::Conflict {
                    code: "next_sp_key_exists",
                    message: format!("a next {u} key ({}) is already published; activate it with activate_next_sp_key first", n.id),
                    field: Some("saml.publish_next_sp_key"),
                });
            }
            let fp = make_key(conn, state, row, u, "next", now).await?;
            Ok(serde_json::json!({ "use": u, "published_next": fp }))
        }
        Rotation::ActivateNext(u) => {
            let Some(next) = find(u, "next") else {
                return Err(AppError::Conflict {
                    code: "no_next_sp_key",
                    message: format!("no next {u} key is published; publish one with publish_next_sp_key, give it to the IdP, then activate it"),
                    field: Some("saml.activate_next_sp_key"),
                });
            };
            let old = find(u, "active");
            if let Some(o) = old {
                db::saml::set_sp_key_state(conn, &row.organization_id, &o.id, "retired", now)
                    .await?;
            }
            db::saml::set_sp_key_state(conn, &row.organization_id, &next.id, "active", now).await?;
            Ok(serde_json::json!({
                "use": u,
                "activated": next.fingerprint,
                "retired": old.map(|o| &o.fingerprint),
            }))
        }
    }
}

/// A customer's own SP key pair (from their CA) for `PATCH …/connections/{id}`
/// `saml.upload_sp_key`.
#[derive(Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadSpKey {
    /// `signing` or `encryption`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// The private key, PEM (PKCS#8 or PKCS#1, no passphrase), RSA of 2048 bits or more. Sealed
    /// under `LANYARD_SECRET_KEY`; never shown again.
    pub private_key_pem: String,
    /// The key's certificate, PEM, followed by its CA chain in order; the first is published.
    pub certificate_pem: String,
}

impl std::fmt::Debug for UploadSpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadSpKey")
            .field("use", &self.key_use)
            .field("private_key_pem", &"[redacted]")
            .finish()
    }
}

/// Checks an upload into a rotation step.
pub fn check_upload(u: &UploadSpKey, now: i64) -> Result<Rotation, AppError> {
    let key_use = parse_use(&u.key_use, "saml.upload_sp_key.use")?;
    let key = sp_key::check_uploaded(&u.private_key_pem, &u.certificate_pem, now)
        .map_err(|(field, m)| crate::domain::FieldError::new(field, m))?;
    Ok(Rotation::Upload(key_use, key))
}

/// The SP key use a request names, or the field error that says which ones exist.
pub fn parse_use(value: &str, field: &'static str) -> Result<&'static str, AppError> {
    match value {
        SIGNING => Ok(SIGNING),
        ENCRYPTION => Ok(ENCRYPTION),
        _ => Err(
            crate::domain::FieldError::new(field, "must be \"signing\" or \"encryption\"").into(),
        ),
    }
}

/// The published keys of a connection, both uses (for its metadata and its view).
pub async fn published(state: &AppState, row: &ConnectionRow) -> Result<Vec<SpKeyRow>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::saml::published_sp_keys(&mut conn, &row.organization_id, &row.id).await?)
}

/// The base64 DER of a key's certificate, as metadata carries it.
pub fn certificate_b64(k: &SpKeyRow) -> String {
    metadata::decode_certificate(&k.certificate_pem)
        .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
        .unwrap_or_default()
}

/// The private key that signs for `row` now.
pub async fn active_signing_key(
    state: &AppState,
    row: &ConnectionRow,
) -> Result<Option<PKey<Private>>, AppError> {
    Ok(active_signing(state, row).await?.map(|(k, _)| k))
}

/// The active signing key with its certificate (base64 DER, for an enveloped signature's
/// KeyInfo).
pub async fn active_signing(
    state: &AppState,
    row: &ConnectionRow,
) -> Result<Option<(PKey<Private>, String)>, AppError> {
    match published(state, row)
        .await?
        .into_iter()
        .find(|k| k.state == "active" && k.key_use == SIGNING)
    {
        Some(k) => Ok(Some((open(state, &k)?, certificate_b64(&k)))),
        None => Ok(None),
    }
}

/// The keys an EncryptedAssertion for `row` may be encrypted to: every published encryption key
/// (the next one too, so that an IdP that switched early is not refused) and a retired one
/// during its overlap ([`OVERLAP_MS`]).
pub async fn decryption_keys(
    state: &AppState,
    row: &ConnectionRow,
) -> Result<Vec<DecryptionKey>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::saml::decryption_sp_keys(
        &mut conn,
        &row.organization_id,
        &row.id,
        state.clock.now() - OVERLAP_MS,
    )
    .await?
    .into_iter()
    .map(|k| {
        Ok(DecryptionKey {
            key: open(state, &k)?,
            id: k.id,
        })
    })
    .collect()
}

/// A key's private half, opened once per key and kept in memory.
fn open(state: &AppState, k: &SpKeyRow) -> Result<PKey<Private>, AppError> {
    static CACHE: OnceLock<Mutex<HashMap<String, PKey<Private>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(key) = cache.lock().ok().and_then(|c| c.get(&k.id).cloned()) {
        return Ok(key);
    }
    let pem = state
        .secrets
        .open(&k.private_key_enc, &seal_context(&k.id))
        .ok_or_else(|| {
            AppError::Internal(format!(
                "SP key {} cannot be opened with LANYARD_SECRET_KEY",
                k.id
            ))
        })?;
    let key = PKey::private_key_from_pem(pem.as_bytes())
        .map_err(|e| AppError::Internal(format!("SP key {}: {e}", k.id)))?;
    if let Ok(mut c) = cache.lock() {
        c.insert(k.id.clone(), key.clone());
    }
    Ok(key)
}
