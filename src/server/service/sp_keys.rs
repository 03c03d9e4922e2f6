//! Lanyard's own SP keys of SAML connections: generated when a connection first needs one
//! (signed AuthnRequests), the private half sealed under `LANYARD_SECRET_KEY` with the key's id
//! as context, the certificate published in the SP metadata. States as for the OpenID Provider's
//! keys: `next` (published ahead), `active` (used), `retired`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use openssl::pkey::{PKey, Private};

use crate::domain::ids::IdKind;
use crate::server::db::{self, connections::ConnectionRow, saml::SpKeyRow, Conn};
use crate::server::error::AppError;
use crate::server::protocol::saml::{metadata, sp_key};
use crate::server::state::AppState;

/// The one use of SP keys today.
pub const SIGNING: &str = "signing";
/// How long a generated SP certificate is valid.
pub const VALID_DAYS: i64 = 5 * 365;

fn seal_context(id: &str) -> String {
    format!("saml_sp_keys:{id}")
}

/// Makes sure `row` has an active signing key, generating one in the caller's transaction when
/// it has none; answers the fingerprint of a key it made.
pub async fn ensure_signing_key(
    conn: &mut Conn,
    state: &AppState,
    row: &ConnectionRow,
    now: i64,
) -> Result<Option<String>, AppError> {
    let keys = db::saml::published_sp_keys(conn, &row.organization_id, &row.id, SIGNING).await?;
    if keys.iter().any(|k| k.state == "active") {
        return Ok(None);
    }
    let id = db::new_id(IdKind::SpKey);
    let common_name = format!("Lanyard SP {}", row.id);
    let made = tokio::task::spawn_blocking(move || sp_key::generate(&common_name, now, VALID_DAYS))
        .await
        .map_err(|e| AppError::Internal(format!("SP key generation: {e}")))?
        .map_err(AppError::Internal)?;
    let info = metadata::certificate_info(&made.certificate_der).map_err(AppError::Internal)?;
    let key = SpKeyRow {
        private_key_enc: state.secrets.seal(&made.private_pem, &seal_context(&id)),
        id,
        organization_id: row.organization_id.clone(),
        connection_id: row.id.clone(),
        key_use: SIGNING.into(),
        state: "active".into(),
        certificate_pem: metadata::to_pem(&made.certificate_der),
        fingerprint: info.fingerprint.clone(),
        not_before: info.not_before_ms,
        not_after: info.not_after_ms,
        created_at: now,
        activated_at: Some(now),
        retired_at: None,
    };
    db::saml::insert_sp_key(conn, &key).await?;
    Ok(Some(info.fingerprint))
}

/// The published signing keys of a connection (for its metadata and its view).
pub async fn published(state: &AppState, row: &ConnectionRow) -> Result<Vec<SpKeyRow>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::saml::published_sp_keys(&mut conn, &row.organization_id, &row.id, SIGNING).await?)
}

/// The base64 DER of a key's certificate, as metadata carries it.
pub fn certificate_b64(k: &SpKeyRow) -> String {
    metadata::decode_certificate(&k.certificate_pem)
        .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
        .unwrap_or_default()
}

/// The private key that signs for `row` now, opened once per key and kept in memory.
pub async fn active_signing_key(
    state: &AppState,
    row: &ConnectionRow,
) -> Result<Option<PKey<Private>>, AppError> {
    let Some(k) = published(state, row)
        .await?
        .into_iter()
        .find(|k| k.state == "active")
    else {
        return Ok(None);
    };
    static CACHE: OnceLock<Mutex<HashMap<String, PKey<Private>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(key) = cache.lock().ok().and_then(|c| c.get(&k.id).cloned()) {
        return Ok(Some(key));
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
    Ok(Some(key))
}
