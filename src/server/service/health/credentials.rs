//! The credentials inventory: every non-human credential (SCIM tokens, IdP client secrets,
//! SAML certificates, webhook and log-stream secrets, API keys) described without its secret,
//! with who created it and what is due.

use serde::{Deserialize, Serialize};

use crate::domain::event_type::EventType;
use crate::domain::health::{CredentialFlag, CredentialKind};
use crate::server::db::{self, health as q, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{organization_name, DAY_MS, EXPIRING_DAYS, ROTATION_DAYS, UNUSED_DAYS};

/// A non-human credential, described without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credential {
    /// scim_token | api_key | webhook_secret | log_stream_credential | idp_client_secret |
    /// saml_certificate | saml_sp_key | oauth_client_secret
    pub kind: String,
    /// The credential's own id (token, key, endpoint, connection or certificate).
    pub id: String,
    /// What it belongs to, in words ("Okta production (dir_…)").
    pub name: String,
    /// The last characters of a token, or a certificate's fingerprint prefix; never the secret.
    pub hint: Option<String>,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// unused_90_days | rotation_overdue | expiring_soon | expired
    pub flags: Vec<String>,
}

/// Flags for a credential.
pub fn credential_flags(
    now: i64,
    created_at: i64,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
    rotates: bool,
) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(e) = expires_at {
        if e <= now {
            flags.push(CredentialFlag::Expired.as_str().to_owned());
        } else if e - now <= EXPIRING_DAYS * DAY_MS {
            flags.push(CredentialFlag::ExpiringSoon.as_str().to_owned());
        }
    }
    let idle_since = last_used_at.unwrap_or(created_at);
    if now - idle_since >= UNUSED_DAYS * DAY_MS {
        flags.push(CredentialFlag::Unused90Days.as_str().to_owned());
    }
    if rotates && now - created_at >= ROTATION_DAYS * DAY_MS {
        flags.push(CredentialFlag::RotationOverdue.as_str().to_owned());
    }
    flags
}

/// The organization's credentials: SCIM tokens, log-stream credentials, IdP client secrets and
/// SAML certificates. (Vendor API keys and webhook secrets are vendor-wide: [`vendor_credentials`].)
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn credentials(
    state: &AppState,
    organization_id: &str,
) -> Result<Vec<Credential>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    organization_name(&mut conn, organization_id).await?;
    organization_credentials(&mut conn, organization_id, state.clock.now(), true).await
}

/// Who created a credential (from the audit trail), when asked for: the health check only
/// counts flags and skips these lookups.
async fn creator(
    conn: &mut Conn,
    wanted: bool,
    organization_id: Option<&str>,
    actions: &[EventType],
    target_id: &str,
    at: i64,
) -> Result<Option<String>, AppError> {
    if !wanted {
        return Ok(None);
    }
    Ok(q::creator(conn, organization_id, actions, target_id, at).await?)
}

async fn organization_credentials(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    with_creators: bool,
) -> Result<Vec<Credential>, AppError> {
    let org = Some(organization_id);
    let mut out = Vec::new();
    scim_token_credentials(conn, organization_id, now, with_creators, &mut out).await?;
    oidc_secret_credentials(conn, organization_id, now, with_creators, &mut out).await?;
    saml_certificate_credentials(conn, organization_id, now, with_creators, &mut out).await?;
    sp_key_credentials(conn, organization_id, now, with_creators, &mut out).await?;
    out.extend(endpoint_credentials(conn, org, now, with_creators).await?);
    Ok(out)
}

/// The SCIM bearer tokens of the organization's directories.
async fn scim_token_credentials(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    with_creators: bool,
    out: &mut Vec<Credential>,
) -> Result<(), AppError> {
    let org = Some(organization_id);
    for q::ScimTokenRow {
        id,
        directory_id: dir_id,
        directory_name: dir_name,
        hint,
        created_at,
        last_used_at,
        expires_at,
    } in q::scim_tokens(conn, organization_id, now).await?
    {
        let created_by = creator(
            conn,
            with_creators,
            org,
            &[
                EventType::DirectoryCreated,
                EventType::DirectoryTokenRotated,
            ],
            &dir_id,
            created_at,
        )
        .await?;
        out.push(Credential {
            kind: CredentialKind::ScimToken.as_str().into(),
            id,
            name: format!("SCIM token of {dir_name} ({dir_id})"),
            hint: Some(format!("…{hint}")),
            created_at,
            created_by,
            last_used_at,
            expires_at,
            flags: credential_flags(now, created_at, last_used_at, expires_at, true),
        });
    }
    Ok(())
}

/// The client secrets of the organization's OIDC connections.
async fn oidc_secret_credentials(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    with_creators: bool,
    out: &mut Vec<Credential>,
) -> Result<(), AppError> {
    let org = Some(organization_id);
    for q::OidcSecret {
        id,
        name,
        created_at,
        updated_at,
        last_sign_in_at: last,
    } in q::oidc_secrets(conn, organization_id).await?
    {
        let created_by = creator(
            conn,
            with_creators,
            org,
            &[EventType::ConnectionCreated, EventType::ConnectionUpdated],
            &id,
            updated_at.max(created_at),
        )
        .await?;
        out.push(Credential {
            kind: CredentialKind::IdpClientSecret.as_str().into(),
            name: format!("OIDC client secret of {name} ({id})"),
            id,
            hint: None,
            // The secret may have been replaced by an edit since.
            created_at: updated_at.max(created_at),
            created_by,
            last_used_at: last,
            expires_at: None,
            flags: credential_flags(now, updated_at.max(created_at), last, None, true),
        });
    }
    Ok(())
}

/// The IdP signing certificates pinned on the organization's SAML connections.
async fn saml_certificate_credentials(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    with_creators: bool,
    out: &mut Vec<Credential>,
) -> Result<(), AppError> {
    let org = Some(organization_id);
    for q::CertRow {
        id,
        connection_id: conn_id,
        connection_name: conn_name,
        fingerprint,
        subject,
        not_after,
        created_at,
    } in q::certificates(conn, organization_id).await?
    {
        let last = q::connection_last_sign_in(conn, &conn_id).await?;
        out.push(Credential {
            kind: CredentialKind::SamlCertificate.as_str().into(),
            id,
            name: format!("SAML signing certificate of {conn_name} ({conn_id}): {subject}"),
            hint: Some(fingerprint.chars().take(23).collect()),
            created_at,
            created_by: creator(
                conn,
                with_creators,
                org,
                &[EventType::ConnectionCreated, EventType::ConnectionUpdated],
                &conn_id,
                created_at,
            )
            .await?,
            last_used_at: last,
            expires_at: Some(not_after),
            // The IdP rotates its certificate; its expiry is what matters.
            flags: credential_flags(now, created_at, last, Some(not_after), false),
        });
    }
    Ok(())
}

/// Lanyard's own SP keys (signing and encryption) of the organization's SAML connections: the
/// IdP holds their certificates, so their expiry needs a rotation before it.
async fn sp_key_credentials(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    with_creators: bool,
    out: &mut Vec<Credential>,
) -> Result<(), AppError> {
    let org = Some(organization_id);
    for q::SpKeyCredRow {
        id,
        connection_id: conn_id,
        connection_name: conn_name,
        key_use,
        state: key_state,
        fingerprint,
        not_after,
        created_at,
    } in q::sp_keys(conn, organization_id).await?
    {
        let last = q::connection_last_sign_in(conn, &conn_id).await?;
        out.push(Credential {
            kind: CredentialKind::SamlSpKey.as_str().into(),
            id,
            name: format!("SAML SP {key_use} key of {conn_name} ({conn_id}), {key_state}"),
            hint: Some(fingerprint.chars().take(23).collect()),
            created_at,
            created_by: creator(
                conn,
                with_creators,
                org,
                &[EventType::ConnectionCreated, EventType::ConnectionUpdated],
                &conn_id,
                created_at,
            )
            .await?,
            last_used_at: last,
            expires_at: Some(not_after),
            flags: credential_flags(now, created_at, last, Some(not_after), false),
        });
    }
    Ok(())
}

async fn endpoint_credentials(
    conn: &mut Conn,
    organization_id: Option<&str>,
    now: i64,
    with_creators: bool,
) -> Result<Vec<Credential>, AppError> {
    let mut out = Vec::new();
    for q::EndpointCredRow {
        id,
        organization_id: org,
        kind,
        name,
        url,
        created_at,
        prev_secret_expires_at: prev_expires,
        has_credential,
        last_attempt_at: last,
    } in q::endpoint_credentials(conn, organization_id).await?
    {
        // A rotation keeps the old secret for 24 hours: the current one is that much younger.
        let secret_at = prev_expires.map_or(created_at, |e| e - DAY_MS);
        // Receivers sometimes take their token in the URL: never show more than host and path.
        let label = name
            .clone()
            .unwrap_or_else(|| crate::server::outbound::redact_url(&url));
        let created_by = creator(
            conn,
            with_creators,
            organization_id,
            &[
                EventType::WebhookEndpointCreated,
                EventType::WebhookEndpointSecretRotated,
                EventType::LogStreamCreated,
            ],
            &id,
            secret_at,
        )
        .await?;
        if org.is_none() || kind == "json" {
            out.push(Credential {
                kind: CredentialKind::WebhookSecret.as_str().into(),
                id: id.clone(),
                name: format!("Signing secret of {label} ({id})"),
                hint: None,
                created_at: secret_at,
                created_by: created_by.clone(),
                last_used_at: last,
                expires_at: None,
                flags: credential_flags(now, secret_at, last, None, true),
            });
        }
        if has_credential {
            out.push(Credential {
                kind: CredentialKind::LogStreamCredential.as_str().into(),
                id: id.clone(),
                name: format!("{kind} credential of log stream {label} ({id})"),
                hint: None,
                created_at,
                created_by,
                last_used_at: last,
                expires_at: None,
                flags: credential_flags(now, created_at, last, None, true),
            });
        }
    }
    Ok(out)
}

/// Vendor-wide credentials: API keys, OAuth client secrets and webhook signing secrets.
pub async fn vendor_credentials(state: &AppState) -> Result<Vec<Credential>, AppError> {
    let now = state.clock.now();
    let mut conn = state.db.pool.acquire().await?;
    let mut out = Vec::new();
    for k in db::api_keys::list(&mut conn).await? {
        if k.revoked_at.is_some() {
            continue;
        }
        let created_by = creator(
            &mut conn,
            true,
            None,
            &[EventType::ApiKeyCreated],
            &k.id,
            k.created_at,
        )
        .await?;
        out.push(Credential {
            kind: CredentialKind::ApiKey.as_str().into(),
            flags: credential_flags(now, k.created_at, k.last_used_at, None, true),
            name: format!("API key {} ({})", k.name, k.id),
            id: k.id,
            hint: Some(format!("…{}", k.hint)),
            created_at: k.created_at,
            created_by,
            last_used_at: k.last_used_at,
            expires_at: None,
        });
    }
    for c in db::oauth::list_clients(&mut conn, None, 1000).await? {
        let Some(issued) = c.secret_created_at else {
            continue; // a public client has no secret
        };
        out.push(Credential {
            kind: CredentialKind::OauthClientSecret.as_str().into(),
            flags: credential_flags(now, issued, c.last_used_at, None, true),
            name: format!("OAuth client {} ({})", c.name, c.client_id),
            id: c.id,
            hint: c.secret_hint.map(|h| format!("…{h}")),
            created_at: issued,
            created_by: None,
            last_used_at: c.last_used_at,
            expires_at: None,
        });
    }
    out.extend(endpoint_credentials(&mut conn, None, now, true).await?);
    Ok(out)
}

/// The organization's credentials flagged for anything but disuse.
pub(super) async fn credentials_flagged(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
) -> Result<i64, AppError> {
    Ok(organization_credentials(conn, organization_id, now, false)
        .await?
        .iter()
        .filter(|c| c.flags.iter().any(|f| *f != CredentialFlag::Unused90Days))
        .count() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_age_use_and_expiry() {
        let now = 1000 * DAY_MS;
        assert!(credential_flags(now, now - DAY_MS, Some(now), None, true).is_empty());
        assert_eq!(
            credential_flags(now, now - 100 * DAY_MS, None, None, true),
            vec!["unused_90_days"]
        );
        assert_eq!(
            credential_flags(now, now - 400 * DAY_MS, Some(now), None, true),
            vec!["rotation_overdue"]
        );
        assert!(credential_flags(now, now - 400 * DAY_MS, Some(now), None, false).is_empty());
        assert_eq!(
            credential_flags(now, now, Some(now), Some(now + 10 * DAY_MS), false),
            vec!["expiring_soon"]
        );
        assert_eq!(
            credential_flags(now, now, Some(now), Some(now - 1), false),
            vec!["expired"]
        );
    }
}
