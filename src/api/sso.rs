//! SSO connections in the portal (intent `sso`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PortalError;

/// The newest test sign-in of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    pub ok: bool,
    pub at: String,
    /// On failure: the reason code and the evidence.
    pub reason: Option<String>,
    pub message: Option<String>,
    /// On failure: expected and received values, pretty-printed.
    pub evidence: Option<String>,
    /// On success: the normalized profile.
    pub subject: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// On success: every claim the IdP sent, pretty-printed.
    pub raw_claims: Option<String>,
    /// On a SAML success: the id of Lanyard's SP key that decrypted the assertion, or `None`
    /// when the IdP sent it unencrypted.
    pub decrypted_with: Option<String>,
}

/// A pinned IdP certificate as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    pub id: String,
    pub fingerprint: String,
    pub subject: String,
    pub not_after: String,
    pub expires_in_days: i64,
    /// No longer in the IdP's metadata: trusted until then.
    pub retires_at: Option<String>,
}

/// The scheduled refresh of a connection set up from a metadata URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataRefreshInfo {
    pub refreshed_at: Option<String>,
    pub failed_at: Option<String>,
    pub error: Option<String>,
    pub next_refresh_at: Option<String>,
}

/// One of Lanyard's own SP certificates of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpCertificate {
    /// `signing` or `encryption`.
    pub key_use: String,
    pub pem: String,
    pub not_after: String,
}

/// SAML values of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlInfo {
    pub sp_entity_id: String,
    pub acs_url: String,
    pub metadata_url: String,
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub idp_metadata_url: Option<String>,
    pub allow_idp_initiated: bool,
    /// Whether Lanyard signs its AuthnRequests.
    pub sign_authn_requests: bool,
    /// Whether plain assertions are refused (the IdP encrypts to Lanyard's certificate).
    pub require_encrypted_assertions: bool,
    /// Whether the Assertion itself must be signed.
    pub want_assertions_signed: bool,
    /// `redirect` or `post`.
    pub authn_request_binding: String,
    /// Whether single logout is on, Lanyard's logout URL then, and the IdP's.
    pub single_logout: bool,
    pub slo_url: Option<String>,
    pub idp_slo_url: Option<String>,
    /// Lanyard's active SP certificates (signing, encryption), once made.
    pub sp_certificates: Vec<SpCertificate>,
    pub certificates: Vec<CertInfo>,
    pub metadata_refresh: Option<MetadataRefreshInfo>,
    /// Overrides: email, first name, last name, groups (empty = the IdP's defaults).
    pub mapping: [String; 4],
}

/// A connection as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    pub id: String,
    /// `oidc` or `saml`.
    pub kind: String,
    pub name: String,
    pub idp: String,
    pub state: String,
    pub issuer: String,
    pub client_id: String,
    pub saml: Option<SamlInfo>,
    pub last_test: Option<TestResult>,
    /// Whether the IdP's side is filled in (a guided-setup draft is not until step 2).
    pub configured: bool,
    /// SAML: Lanyard's values for the IdP (ACS URL, SP entity ID, SP metadata), configured or not.
    pub sp: Option<SpValues>,
    /// Sign-ins (not tests) per day, the last days.
    pub sign_ins: Vec<crate::domain::chart::DayCount>,
    /// The verified domains it signs people in for; `None`: all of them.
    pub domains: Option<Vec<String>>,
}

/// What the admin copies into the IdP for a SAML connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpValues {
    pub acs_url: String,
    pub entity_id: String,
    pub metadata_url: String,
}

/// The guided setup page's data: one connection and the OIDC redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupPage {
    pub redirect_uri: String,
    pub connection: ConnectionInfo,
}

/// The SSO page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoPage {
    pub redirect_uri: String,
    pub connections: Vec<ConnectionInfo>,
    /// The organization's verified domains (a connection may be limited to some of them).
    pub verified_domains: Vec<String>,
}

#[cfg(feature = "ssr")]
async fn caller() -> Result<super::ctx::Caller, PortalError> {
    let c = super::ctx::caller().await?;
    c.require(crate::domain::intent::Intent::Sso, "single sign-on")?;
    Ok(c)
}

/// The organization's connections with their last test.
#[server(prefix = "/portal/api", endpoint = "sso")]
pub async fn portal_sso() -> Result<SsoPage, PortalError> {
    use crate::server::service::connections;
    let c = caller().await?;
    let org = &c.grant.org();
    let activity = crate::server::service::activity::sign_ins(&c.state, org).await?;
    let mut out = Vec::new();
    for conn in connections::list(&c.state, org).await? {
        out.push(info(&c.state, org, conn, &activity).await?);
    }
    let verified_domains = crate::server::service::domains::list(&c.state, org)
        .await?
        .into_iter()
        .filter(|d| d.state == crate::domain::domain_state::DomainState::Verified.as_str())
        .map(|d| d.domain)
        .collect();
    Ok(SsoPage {
        redirect_uri: connections::callback_url(&c.state),
        connections: out,
        verified_domains,
    })
}

/// One connection as the portal shows it, with its newest test sign-in.
#[cfg(feature = "ssr")]
async fn info(
    state: &crate::server::state::AppState,
    org: &crate::domain::ids::OrgId,
    conn: crate::server::service::connections::Connection,
    activity: &crate::server::service::activity::PerKey,
) -> Result<ConnectionInfo, PortalError> {
    use crate::server::service::sso;
    use crate::server::timefmt::rfc3339;
    let last_test = sso::last_test(
        state,
        org,
        &crate::domain::ids::ConnectionId::from_stored(conn.id.as_str()),
    )
    .await?
    .map(|(ok, ev, at)| {
        let s = |k: &str| ev.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        TestResult {
            ok,
            at: rfc3339(at),
            reason: if ok { None } else { s("reason") },
            message: if ok { None } else { s("message") },
            evidence: if ok {
                None
            } else {
                ev.get("evidence")
                    .and_then(|e| serde_json::to_string_pretty(e).ok())
            },
            subject: if ok { s("subject") } else { None },
            email: if ok { s("email") } else { None },
            name: if ok {
                Some(
                    format!(
                        "{} {}",
                        s("first_name").unwrap_or_default(),
                        s("last_name").unwrap_or_default()
                    )
                    .trim()
                    .to_owned(),
                )
            } else {
                None
            },
            groups: ev
                .get("groups")
                .and_then(|g| g.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            raw_claims: if ok {
                ev.get("raw")
                    .and_then(|r| serde_json::to_string_pretty(r).ok())
            } else {
                None
            },
            decrypted_with: ev
                .pointer("/raw/decryption_key")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .filter(|_| ok),
        }
    });
    Ok(ConnectionInfo {
        sign_ins: activity.series(&conn.id),
        domains: conn.domains.clone(),
        configured: conn.saml.is_some() || conn.oidc.as_ref().is_some_and(|o| o.client_secret_set),
        sp: conn.sp.as_ref().map(|sp| SpValues {
            acs_url: sp.acs_url.clone(),
            entity_id: sp.entity_id.clone(),
            metadata_url: sp.metadata_url.clone(),
        }),
        issuer: conn
            .oidc
            .as_ref()
            .map(|o| o.issuer.clone())
            .unwrap_or_default(),
        client_id: conn
            .oidc
            .as_ref()
            .map(|o| o.client_id.clone())
            .unwrap_or_default(),
        saml: conn
            .saml
            .as_ref()
            .zip(conn.sp.as_ref())
            .map(|(m, sp)| SamlInfo {
                sp_entity_id: sp.entity_id.clone(),
                acs_url: sp.acs_url.clone(),
                metadata_url: sp.metadata_url.clone(),
                idp_entity_id: m.idp_entity_id.clone(),
                idp_sso_url: m.idp_sso_url.clone(),
                idp_metadata_url: m.idp_metadata_url.clone(),
                allow_idp_initiated: m.allow_idp_initiated,
                sign_authn_requests: m.sign_authn_requests,
                require_encrypted_assertions: m.require_encrypted_assertions,
                want_assertions_signed: m.want_assertions_signed,
                authn_request_binding: m.authn_request_binding.clone(),
                single_logout: m.single_logout,
                slo_url: sp.slo_url.clone(),
                idp_slo_url: m.idp_slo_url.clone(),
                sp_certificates: sp
                    .certificates
                    .iter()
                    .filter(|k| k.state == "active")
                    .map(|k| SpCertificate {
                        key_use: k.key_use.clone(),
                        pem: k.pem.clone(),
                        not_after: k.not_after.clone(),
                    })
                    .collect(),
                certificates: m
                    .certificates
                    .iter()
                    .map(|c| CertInfo {
                        id: c.id.clone(),
                        fingerprint: c.fingerprint.clone(),
                        subject: c.subject.clone(),
                        not_after: c.not_after.clone(),
                        expires_in_days: c.expires_in_days,
                        retires_at: c.retires_at.clone(),
                    })
                    .collect(),
                metadata_refresh: m.metadata_refresh.as_ref().map(|r| MetadataRefreshInfo {
                    refreshed_at: r.refreshed_at.clone(),
                    failed_at: r.failed_at.clone(),
                    error: r.error.clone(),
                    next_refresh_at: r.next_refresh_at.clone(),
                }),
                mapping: [
                    conn.attribute_mapping.email.clone().unwrap_or_default(),
                    conn.attribute_mapping
                        .first_name
                        .clone()
                        .unwrap_or_default(),
                    conn.attribute_mapping.last_name.clone().unwrap_or_default(),
                    conn.attribute_mapping.groups.clone().unwrap_or_default(),
                ],
            }),
        kind: conn.kind,
        id: conn.id,
        name: conn.name,
        idp: conn.idp,
        state: conn.state,
        last_test,
    })
}

/// One connection for its guided setup page.
#[server(prefix = "/portal/api", endpoint = "sso_setup")]
pub async fn portal_sso_setup(id: String) -> Result<SetupPage, PortalError> {
    use crate::server::service::connections;
    let c = caller().await?;
    let org = c.grant.org();
    let conn = connections::get(&c.state, &org, &crate::server::error::parse_id(&id)?).await?;
    let activity = crate::server::service::activity::sign_ins(&c.state, &org).await?;
    Ok(SetupPage {
        redirect_uri: connections::callback_url(&c.state),
        connection: info(&c.state, &org, conn, &activity).await?,
    })
}

/// Step 1 of the guided setup: the admin chose the IdP and the protocol; a draft with Lanyard's
/// side only is made so its values exist, and the admin is taken to it.
#[server(prefix = "/portal/api", endpoint = "start_sso_setup")]
pub async fn start_sso_setup(protocol: String, idp: String) -> Result<String, PortalError> {
    use crate::domain::connection::ConnectionKind;
    use crate::server::service::connections;
    let c = caller().await?;
    let kind = ConnectionKind::parse(&protocol).ok_or_else(|| PortalError::Invalid {
        field: "protocol".into(),
        message: "choose SAML or OpenID Connect".into(),
    })?;
    let offered = crate::domain::connection::IDPS
        .iter()
        .find(|(k, ..)| *k == idp)
        .map(|(_, _, saml, oidc)| {
            if kind == ConnectionKind::Saml {
                *saml
            } else {
                *oidc
            }
        });
    match offered {
        None => {
            return Err(PortalError::Invalid {
                field: "idp".into(),
                message:
                    "choose your identity provider from the list (or Another identity provider)"
                        .into(),
            })
        }
        Some(false) => {
            return Err(PortalError::Invalid {
                field: "protocol".into(),
                message: format!(
                    "{} connects over SAML; choose SAML 2.0",
                    crate::domain::connection::idp_label(&idp)
                ),
            })
        }
        Some(true) => {}
    }
    let name = if idp == "generic" {
        format!("{} connection", kind.label())
    } else {
        format!(
            "{} {}",
            crate::domain::connection::idp_label(&idp),
            kind.label()
        )
    };
    let conn = connections::create_unconfigured(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        kind,
        &idp,
        &name,
    )
    .await?;
    leptos_axum::redirect(&format!("/portal/sso/setup/{}", conn.id));
    Ok(conn.id)
}

/// Step 2 of the guided setup for SAML: the IdP's metadata (URL or XML) or its values by hand.
#[server(prefix = "/portal/api", endpoint = "configure_saml_connection")]
pub async fn configure_saml_connection(
    id: String,
    metadata_url: Option<String>,
    metadata_xml: Option<String>,
    entity_id: Option<String>,
    sso_url: Option<String>,
    certificate: Option<String>,
) -> Result<(), PortalError> {
    use crate::server::service::connections::{SamlPatch, UpdateConnection};
    let c = caller().await?;
    let given = [&metadata_url, &metadata_xml, &entity_id, &sso_url]
        .into_iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()));
    if !given {
        return Err(PortalError::Invalid {
            field: "metadata_url".into(),
            message: "give your identity provider's metadata URL, its metadata XML, or its entity ID, SSO URL and certificate".into(),
        });
    }
    let input = UpdateConnection {
        saml: Some(SamlPatch {
            idp_metadata_xml: opt(metadata_xml),
            idp_metadata_url: opt(metadata_url),
            idp_entity_id: opt(entity_id),
            idp_sso_url: opt(sso_url),
            idp_certificates: opt(certificate).map(|c| vec![c]),
            ..Default::default()
        }),
        ..Default::default()
    };
    change(&c, &id, input).await?;
    leptos_axum::redirect(&format!("/portal/sso/setup/{id}?step=3"));
    Ok(())
}

/// Step 2 of the guided setup for OpenID Connect: issuer, client id and secret (checked by
/// discovery before they are kept).
#[server(prefix = "/portal/api", endpoint = "configure_oidc_connection")]
pub async fn configure_oidc_connection(
    id: String,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
) -> Result<(), PortalError> {
    use crate::server::service::connections::{OidcPatch, UpdateConnection};
    let c = caller().await?;
    let input = UpdateConnection {
        oidc: Some(OidcPatch {
            issuer: Some(issuer),
            client_id: Some(client_id),
            client_secret: client_secret.filter(|s| !s.is_empty()),
        }),
        ..Default::default()
    };
    change(&c, &id, input).await?;
    leptos_axum::redirect(&format!("/portal/sso/setup/{id}?step=3"));
    Ok(())
}

/// Creates a draft OIDC connection.
#[server(prefix = "/portal/api", endpoint = "create_connection")]
pub async fn create_connection(
    idp: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: String,
) -> Result<String, PortalError> {
    use crate::domain::connection::ConnectionKind;
    use crate::server::service::connections::{self, CreateConnection, OidcInput};
    let c = caller().await?;
    let input = CreateConnection {
        kind: ConnectionKind::Oidc.as_str().into(),
        name,
        idp: Some(idp),
        oidc: Some(OidcInput {
            issuer,
            client_id,
            client_secret,
        }),
        saml: None,
        attribute_mapping: None,
        domains: None,
    };
    Ok(
        connections::create(&c.state, &c.actor(), &c.ctx, &c.grant.org(), input)
            .await?
            .id,
    )
}

/// Activates (after a successful test) or deactivates a connection.
#[server(prefix = "/portal/api", endpoint = "set_connection_state")]
pub async fn set_connection_state(id: String, state: String) -> Result<(), PortalError> {
    use crate::server::service::connections::UpdateConnection;
    let c = caller().await?;
    let input = UpdateConnection {
        state: Some(state),
        ..Default::default()
    };
    change(&c, &id, input).await
}

/// Changes a connection's settings; an empty secret keeps the stored one. New settings need a
/// new successful test before activation.
#[server(prefix = "/portal/api", endpoint = "update_connection")]
pub async fn update_connection(
    id: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
) -> Result<(), PortalError> {
    use crate::server::service::connections::{OidcPatch, UpdateConnection};
    let c = caller().await?;
    let input = UpdateConnection {
        name: Some(name),
        state: None,
        oidc: Some(OidcPatch {
            issuer: Some(issuer),
            client_id: Some(client_id),
            client_secret: client_secret.filter(|s| !s.is_empty()),
        }),
        ..Default::default()
    };
    change(&c, &id, input).await
}

/// Which verified domains a connection signs people in for: `scope` `all`, or `some` with the
/// ticked domains (`serve[i]=domain`, one per checkbox).
#[server(prefix = "/portal/api", endpoint = "set_connection_domains")]
pub async fn set_connection_domains(
    id: String,
    scope: String,
    serve: Option<std::collections::BTreeMap<String, String>>,
) -> Result<(), PortalError> {
    use crate::server::service::connections::UpdateConnection;
    let c = caller().await?;
    let domains = match scope.as_str() {
        "all" => None,
        _ => Some(serve.unwrap_or_default().into_values().collect()),
    };
    let input = UpdateConnection {
        domains: Some(domains),
        ..Default::default()
    };
    change(&c, &id, input).await
}

/// Removes a connection.
#[server(prefix = "/portal/api", endpoint = "delete_connection")]
pub async fn delete_connection(id: String) -> Result<(), PortalError> {
    use crate::server::service::connections;
    let c = caller().await?;
    connections::delete(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    Ok(())
}

#[cfg(feature = "ssr")]
fn opt(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Applies a change to one of the caller's connections (the portal path: activation needs a test).
#[cfg(feature = "ssr")]
async fn change(
    c: &super::ctx::Caller,
    id: &str,
    input: crate::server::service::connections::UpdateConnection,
) -> Result<(), PortalError> {
    crate::server::service::connections::update(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(id)?,
        input,
        true,
    )
    .await?;
    Ok(())
}

/// Creates a draft SAML connection from the IdP's metadata (URL or XML) or values by hand.
#[server(prefix = "/portal/api", endpoint = "create_saml_connection")]
pub async fn create_saml_connection(
    idp: String,
    name: String,
    metadata_url: Option<String>,
    metadata_xml: Option<String>,
    entity_id: Option<String>,
    sso_url: Option<String>,
    certificate: Option<String>,
) -> Result<String, PortalError> {
    use crate::domain::connection::ConnectionKind;
    use crate::server::service::connections::{self, CreateConnection, SamlInput};
    let c = caller().await?;
    let input = CreateConnection {
        kind: ConnectionKind::Saml.as_str().into(),
        name,
        idp: Some(idp),
        oidc: None,
        saml: Some(SamlInput {
            idp_metadata_xml: opt(metadata_xml),
            idp_metadata_url: opt(metadata_url),
            idp_entity_id: opt(entity_id),
            idp_sso_url: opt(sso_url),
            idp_certificates: opt(certificate).map(|c| vec![c]),
            allow_idp_initiated: None,
            sign_authn_requests: None,
            require_encrypted_assertions: None,
            single_logout: None,
            idp_slo_url: None,
            authn_request_binding: None,
            want_assertions_signed: None,
        }),
        attribute_mapping: None,
        domains: None,
    };
    Ok(
        connections::create(&c.state, &c.actor(), &c.ctx, &c.grant.org(), input)
            .await?
            .id,
    )
}

/// Changes a SAML connection: name, a new IdP source (replaces the certificates and needs a new
/// test) and IdP-initiated sign-in.
#[server(prefix = "/portal/api", endpoint = "update_saml_connection")]
pub async fn update_saml_connection(
    id: String,
    name: String,
    metadata_url: Option<String>,
    metadata_xml: Option<String>,
    allow_idp_initiated: Option<String>,
    sign_authn_requests: Option<String>,
    require_encrypted_assertions: Option<String>,
) -> Result<(), PortalError> {
    use crate::server::service::connections::{SamlPatch, UpdateConnection};
    let c = caller().await?;
    let input = UpdateConnection {
        name: Some(name),
        saml: Some(SamlPatch {
            idp_metadata_xml: opt(metadata_xml),
            idp_metadata_url: opt(metadata_url),
            allow_idp_initiated: Some(allow_idp_initiated.is_some()),
            sign_authn_requests: Some(sign_authn_requests.is_some()),
            require_encrypted_assertions: Some(require_encrypted_assertions.is_some()),
            ..Default::default()
        }),
        ..Default::default()
    };
    change(&c, &id, input).await
}

/// Federation settings of a SAML connection: signed assertions wanted, single logout (and the
/// IdP's logout URL when its metadata has none) and the binding of sign-in requests.
#[server(prefix = "/portal/api", endpoint = "saml_federation")]
pub async fn saml_federation(
    id: String,
    want_assertions_signed: Option<String>,
    single_logout: Option<String>,
    idp_slo_url: Option<String>,
    authn_request_binding: Option<String>,
) -> Result<(), PortalError> {
    use crate::server::service::connections::{SamlPatch, UpdateConnection};
    let c = caller().await?;
    let input = UpdateConnection {
        saml: Some(SamlPatch {
            want_assertions_signed: Some(want_assertions_signed.is_some()),
            single_logout: Some(single_logout.is_some()),
            // Blank leaves the IdP's logout URL (from its metadata) as it is.
            idp_slo_url: opt(idp_slo_url),
            authn_request_binding: opt(authn_request_binding),
            ..Default::default()
        }),
        ..Default::default()
    };
    change(&c, &id, input).await
}

/// Sets the attribute names read for email, names and groups (empty = the IdP's defaults).
#[server(prefix = "/portal/api", endpoint = "save_attribute_mapping")]
pub async fn save_attribute_mapping(
    id: String,
    map_email: Option<String>,
    map_first_name: Option<String>,
    map_last_name: Option<String>,
    map_groups: Option<String>,
) -> Result<(), PortalError> {
    use crate::server::protocol::saml::attributes::AttributeMapping;
    use crate::server::service::connections::UpdateConnection;
    let c = caller().await?;
    let input = UpdateConnection {
        attribute_mapping: Some(AttributeMapping {
            email: opt(map_email),
            first_name: opt(map_first_name),
            last_name: opt(map_last_name),
            groups: opt(map_groups),
        }),
        ..Default::default()
    };
    change(&c, &id, input).await
}

/// The customer's own SP key pair (PEM key and certificate chain from their CA): the first of
/// its use becomes active, otherwise it is published as the next key.
#[server(prefix = "/portal/api", endpoint = "upload_sp_key")]
pub async fn upload_sp_key(
    id: String,
    key_use: String,
    private_key_pem: String,
    certificate_pem: String,
) -> Result<(), PortalError> {
    use crate::server::service::connections::{SamlPatch, UpdateConnection};
    use crate::server::service::sp_keys::UploadSpKey;
    let c = caller().await?;
    let input = UpdateConnection {
        saml: Some(SamlPatch {
            upload_sp_key: Some(UploadSpKey {
                key_use,
                private_key_pem,
                certificate_pem,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    change(&c, &id, input).await
}

/// Pins another IdP certificate (for a rotation) or unpins one.
#[server(prefix = "/portal/api", endpoint = "saml_certificate")]
pub async fn saml_certificate(
    id: String,
    add: Option<String>,
    remove: Option<String>,
    // Any value: fetch the IdP's metadata now (certificates it added or dropped).
    refresh: Option<String>,
    // `encryption` or `signing`: publish Lanyard's first (or next) key of that use.
    publish: Option<String>,
) -> Result<(), PortalError> {
    use crate::server::service::connections::{SamlPatch, UpdateConnection};
    let c = caller().await?;
    if refresh.is_some() {
        crate::server::service::saml_metadata::refresh_now(
            &c.state,
            &c.actor(),
            &c.ctx,
            &c.grant.org(),
            &crate::server::error::parse_id(&id)?,
        )
        .await?;
        return Ok(());
    }
    let input = UpdateConnection {
        saml: Some(SamlPatch {
            add_certificate: opt(add),
            remove_certificate: opt(remove),
            publish_next_sp_key: opt(publish),
            ..Default::default()
        }),
        ..Default::default()
    };
    change(&c, &id, input).await
}
