//! IdP metadata refresh: a SAML connection set up from a metadata URL is fetched again every
//! day (and on demand). A certificate the IdP adds is pinned at once, so a rollover it announces
//! ahead never fails a sign-in; one it drops keeps verifying for an overlap, then stops and is
//! removed; a moved SSO URL is followed. Every change is audited (`connection.updated` with
//! `metadata_refresh`). A fetch that fails, metadata that does not parse or that names another
//! IdP changes nothing: the failure is kept for health and the portal, and retried in an hour.

use serde::Serialize;

use crate::domain::event_type::EventType;
use crate::domain::ids::{ConnectionId, OrgId};
use crate::domain::target::TargetKind;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db;
use crate::server::db::connections::IdpUrl;
use crate::server::error::AppError;
use crate::server::protocol::saml::metadata as saml_md;
use crate::server::state::AppState;

use super::connections::{self, Connection};

/// How often a connection's metadata is fetched.
pub const REFRESH_INTERVAL_MS: i64 = 24 * 3_600_000;
/// How soon a failed fetch is tried again.
pub const RETRY_MS: i64 = 3_600_000;
/// How long a certificate the IdP dropped from its metadata keeps verifying.
pub const CERTIFICATE_OVERLAP_MS: i64 = 24 * 3_600_000;
/// How long a node holds a due refresh before another may take it.
const LEASE_MS: i64 = 5 * 60_000;

/// What one refresh changed (fingerprints of certificates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Newly listed by the IdP: pinned.
    pub added: Vec<String>,
    /// No longer listed: verifying until their overlap ends.
    pub retiring: Vec<String>,
    /// Listed again while retiring: kept.
    pub restored: Vec<String>,
    /// Past their overlap: removed.
    pub removed: Vec<String>,
    /// The SSO URL the IdP moved to: `[from, to]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso_url: Option<[String; 2]>,
    /// The single logout URL the IdP's metadata names now: `[from, to]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo_url: Option<[String; 2]>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// Refreshes one connection now (the vendor's or the admin's request). A failure changes
/// nothing and is `409 metadata_refresh_failed` naming what went wrong.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn refresh_now(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &ConnectionId,
) -> Result<Connection, AppError> {
    let row = connections::get_row(state, organization_id, id).await?;
    if row.kind == crate::domain::connection::ConnectionKind::Oidc && row.is_configured() {
        if let Err(message) = refresh_oidc_one(state, actor, ctx, row).await? {
            return Err(AppError::Conflict {
                code: "metadata_refresh_failed",
                message: format!("{message}; nothing was changed"),
                field: Some("oidc.issuer"),
            });
        }
        return connections::get(state, organization_id, id).await;
    }
    if row.saml_idp_metadata_url.is_none() {
        return Err(AppError::Conflict {
            code: "no_metadata_url",
            message: "this connection was not set up from a metadata URL, so there is nothing to refresh; change its certificates with saml.add_certificate and saml.remove_certificate".into(),
            field: Some("saml.idp_metadata_url"),
        });
    }
    if let Err(message) = refresh_one(state, actor, ctx, row).await? {
        return Err(AppError::Conflict {
            code: "metadata_refresh_failed",
            message: format!("{message}; nothing was changed"),
            field: Some("saml.idp_metadata_url"),
        });
    }
    connections::get(state, organization_id, id).await
}

/// Refreshes every connection whose refresh is due (the minute job); answers how many were
/// fetched. Safe on several nodes: each refresh is leased first.
pub async fn refresh_due(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let (due, due_oidc) = {
        let mut conn = state.db.pool.acquire().await?;
        (
            db::saml::due_refreshes(&mut conn, now, 20, false).await?,
            db::saml::due_refreshes(&mut conn, now, 20, true).await?,
        )
    };
    let oidc: std::collections::HashSet<String> =
        due_oidc.iter().map(|(_, id)| id.clone()).collect();
    let mut done = 0;
    for (org, id) in due.into_iter().chain(due_oidc) {
        let leased = {
            let mut conn = state.db.pool.acquire().await?;
            db::saml::lease_refresh(&mut conn, &org, &id, now, now + LEASE_MS).await?
        };
        if !leased {
            continue;
        }
        let Some(row) = ({
            let mut conn = state.db.pool.acquire().await?;
            db::connections::get_connection(
                &mut conn,
                &OrgId::from_stored(org.as_str()),
                &ConnectionId::from_stored(id.as_str()),
            )
            .await?
        }) else {
            continue;
        };
        let (actor, ctx) = (Actor::system(), RequestContext::default());
        let outcome = if oidc.contains(&id) {
            refresh_oidc_one(state, &actor, &ctx, row)
                .await?
                .map(|_| ())
        } else {
            refresh_one(state, &actor, &ctx, row).await?.map(|_| ())
        };
        if let Err(message) = outcome {
            tracing::warn!(connection_id = %id, %message, "IdP metadata refresh failed");
        }
        done += 1;
    }
    Ok(done)
}

/// Fetches the metadata and applies what changed; `Err(message)` when it could not be used
/// (recorded, nothing changed).
async fn refresh_one(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    row: db::connections::ConnectionRow,
) -> Result<Result<Changes, String>, AppError> {
    let now = state.clock.now();
    let outcome = match read_metadata(state, &row).await {
        Ok(md) => apply(state, actor, ctx, &row, md, now).await?,
        Err(message) => Err(message),
    };
    if let Err(message) = &outcome {
        failed(state, &row, now, message).await?;
    }
    Ok(outcome)
}

/// Records a failed refresh (nothing changed); the next try is due in an hour.
async fn failed(
    state: &AppState,
    row: &db::connections::ConnectionRow,
    now: i64,
    message: &str,
) -> Result<(), AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::saml::record_refresh(
        &mut conn,
        &row.organization_id,
        &row.id,
        now,
        Some(message),
        now + RETRY_MS,
    )
    .await?)
}

/// The connection's metadata, fetched through the SSRF guard and checked: same IdP (entity
/// id), a usable SSO URL.
async fn read_metadata(
    state: &AppState,
    row: &db::connections::ConnectionRow,
) -> Result<saml_md::IdpMetadata, String> {
    let url = row.saml_idp_metadata_url.clone().unwrap_or_default();
    let text = state
        .outbound
        .get_text(&url)
        .await
        .map_err(|e| format!("could not fetch the IdP metadata from {url}: {e}"))?;
    let md = saml_md::parse_idp_metadata(&text)
        .map_err(|e| format!("the IdP metadata at {url} is not usable: {e}"))?;
    let pinned = row.saml_idp_entity_id.clone().unwrap_or_default();
    if md.entity_id != pinned {
        return Err(format!(
            "the IdP metadata now names the entity id {}, not {pinned}; Lanyard does not change a connection's IdP on its own: if the IdP really changed, set its metadata again",
            md.entity_id
        ));
    }
    state
        .outbound
        .check_url(&md.sso_url)
        .map_err(|e| format!("the IdP metadata's SSO URL is not usable: {e}"))?;
    for u in md.slo_url.iter().chain(md.sso_post_url.iter()) {
        state
            .outbound
            .check_url(u)
            .map_err(|e| format!("the IdP metadata names a URL that is not usable: {e}"))?;
    }
    Ok(md)
}

/// Compares the metadata with what is pinned and writes the differences, audited, with the
/// refresh's success, in one transaction.
async fn apply(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    row: &db::connections::ConnectionRow,
    md: saml_md::IdpMetadata,
    now: i64,
) -> Result<Result<Changes, String>, AppError> {
    let (org, id) = (row.org_id(), row.connection_id());
    let mut listed = Vec::with_capacity(md.certificates.len());
    for der in &md.certificates {
        match connections::cert_row(&row.organization_id, &row.id, der, now) {
            Ok(c) => listed.push(c),
            Err(e) => {
                return Ok(Err(format!(
                    "a certificate in the IdP metadata is not usable: {e}"
                )))
            }
        }
    }
    let mut changes = Changes::default();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let pinned = db::saml::list_certificates(tx.conn(), &org, &id).await?;
    for c in &listed {
        match pinned.iter().find(|p| p.fingerprint == c.fingerprint) {
            None => {
                if db::saml::insert_certificate(tx.conn(), c).await? {
                    changes.added.push(c.fingerprint.clone());
                }
            }
            Some(p) if p.retire_after.is_some() => {
                db::saml::set_retire_after(tx.conn(), &org, &p.id, None).await?;
                changes.restored.push(p.fingerprint.clone());
            }
            Some(_) => {}
        }
    }
    for p in pinned
        .iter()
        .filter(|p| !listed.iter().any(|c| c.fingerprint == p.fingerprint))
    {
        match p.retire_after {
            None => {
                db::saml::set_retire_after(
                    tx.conn(),
                    &org,
                    &p.id,
                    Some(now + CERTIFICATE_OVERLAP_MS),
                )
                .await?;
                changes.retiring.push(p.fingerprint.clone());
            }
            Some(at) if at <= now => {
                db::saml::delete_certificate(
                    tx.conn(),
                    &org,
                    &id,
                    &crate::domain::ids::CertificateId::from_stored(p.id.as_str()),
                )
                .await?;
                changes.removed.push(p.fingerprint.clone());
            }
            Some(_) => {}
        }
    }
    let old_sso = row.saml_idp_sso_url.clone().unwrap_or_default();
    if md.sso_url != old_sso {
        db::connections::set_idp_url(tx.conn(), &org, &id, IdpUrl::Sso, &md.sso_url, now).await?;
        changes.sso_url = Some([old_sso, md.sso_url.clone()]);
    }
    // Followed when the metadata names one (a URL the admin set by hand for an IdP whose
    // metadata has none stays).
    if let Some(slo) = md
        .slo_url
        .as_deref()
        .filter(|u| Some(*u) != row.saml_idp_slo_url.as_deref())
    {
        db::connections::set_idp_url(tx.conn(), &org, &id, IdpUrl::Slo, slo, now).await?;
        changes.slo_url = Some([
            row.saml_idp_slo_url.clone().unwrap_or_default(),
            slo.to_owned(),
        ]);
    }
    if changes.is_empty() {
        // Nothing to audit (an audited transaction records an event): the success alone.
        drop(tx);
        let mut conn = state.db.pool.acquire().await?;
        succeeded(&mut conn, row, now).await?;
        return Ok(Ok(changes));
    }
    {
        let mut changed = Vec::new();
        if changes
            != (Changes {
                sso_url: changes.sso_url.clone(),
                slo_url: changes.slo_url.clone(),
                ..Changes::default()
            })
        {
            changed.push("certificates");
        }
        if changes.sso_url.is_some() {
            changed.push("sso_url");
        }
        if changes.slo_url.is_some() {
            changed.push("idp_slo_url");
        }
        tx.record(
            Some(&org),
            EventType::ConnectionUpdated,
            vec![Target::new(
                TargetKind::Connection,
                &row.id,
                Some(&row.name),
            )],
            serde_json::json!({ "changed": changed, "metadata_refresh": changes }),
        )
        .await?;
    }
    succeeded(tx.conn(), row, now).await?;
    tx.commit().await?;
    Ok(Ok(changes))
}

/// Records a successful refresh; the next is due a day later.
async fn succeeded(
    conn: &mut db::Conn,
    row: &db::connections::ConnectionRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    db::saml::record_refresh(
        conn,
        &row.organization_id,
        &row.id,
        now,
        None,
        now + REFRESH_INTERVAL_MS,
    )
    .await
}

/// What an OIDC discovery and JWKS refresh saw change (key ids; a key without `kid` by the
/// SHA-256 of its JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JwksChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Fetches an OIDC connection's discovery document and JWKS (through the SSRF guard, issuer
/// checked) and audits a change of its signing keys against the last refresh. A failure is
/// recorded for health and retried in an hour; nothing else changes (the ID token check keeps
/// its own short cache and refetches on an unknown `kid`).
async fn refresh_oidc_one(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    row: db::connections::ConnectionRow,
) -> Result<Result<JwksChanges, String>, AppError> {
    use sha2::Digest as _;
    let now = state.clock.now();
    let issuer = row.oidc_issuer.clone().unwrap_or_default();
    let meta = match crate::server::oidc::discover(&state.outbound, &issuer).await {
        Ok(m) => m,
        Err(f) => {
            failed(state, &row, now, &f.message).await?;
            return Ok(Err(f.message));
        }
    };
    let mut keys: Vec<String> = meta
        .jwks()
        .keys()
        .iter()
        .map(|k| match openidconnect::JsonWebKey::key_id(k) {
            Some(kid) => kid.to_string(),
            None => {
                let json = serde_json::to_string(k).unwrap_or_default();
                format!(
                    "sha256:{}",
                    hex::encode(sha2::Sha256::digest(json.as_bytes()))
                )
            }
        })
        .collect();
    keys.sort();
    keys.dedup();
    let before: Option<Vec<String>> = {
        let mut conn = state.db.pool.acquire().await?;
        db::saml::jwks_keys(&mut conn, &row.id).await?
    }
    .and_then(|j| serde_json::from_str(&j).ok());
    let changes = JwksChanges {
        added: keys
            .iter()
            .filter(|k| before.as_ref().is_some_and(|b| !b.contains(k)))
            .cloned()
            .collect(),
        removed: before
            .iter()
            .flatten()
            .filter(|k| !keys.contains(k))
            .cloned()
            .collect(),
    };
    let seen = serde_json::to_string(&keys).unwrap_or_default();
    if changes == JwksChanges::default() {
        // The first refresh records what the IdP publishes; an unchanged one audits nothing.
        let mut conn = state.db.pool.acquire().await?;
        succeeded(&mut conn, &row, now).await?;
        db::saml::set_jwks_keys(&mut conn, &row.id, &seen).await?;
        return Ok(Ok(changes));
    }
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    succeeded(tx.conn(), &row, now).await?;
    db::saml::set_jwks_keys(tx.conn(), &row.id, &seen).await?;
    tx.record(
        Some(&row.org_id()),
        EventType::ConnectionUpdated,
        vec![Target::new(
            TargetKind::Connection,
            &row.id,
            Some(&row.name),
        )],
        serde_json::json!({ "changed": ["jwks"], "jwks_refresh": changes }),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(changes))
}
