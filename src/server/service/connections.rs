//! SSO connections of an organization: OIDC and SAML.

use crate::domain::connection::{ConnectionKind, ConnectionState};
use crate::domain::domain_state::DomainState;
use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{CertificateId, ConnectionId, IdKind, OrgId};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::clock::rfc3339;
use crate::server::crypto::SecretBox;
use crate::server::db::{
    self,
    connections::ConnectionRow,
    saml::{CertificateRow, SpKeyRow},
};
use crate::server::error::AppError;
use crate::server::events::{ConnectionSnapshot, Snapshot};
use crate::server::oidc;
use crate::server::protocol::saml::attributes::AttributeMapping;
use crate::server::protocol::saml::metadata as saml_md;
use crate::server::state::AppState;

/// OIDC settings as shown (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    /// Whether a client secret is stored (it is never shown again).
    pub client_secret_set: bool,
    /// The daily refresh of the IdP's discovery document and JWKS (a change of its signing keys
    /// is audited; a failure is a health warning). `null` before the first.
    pub discovery_refresh: Option<MetadataRefresh>,
}

/// What the admin copies into the IdP for a SAML connection.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpInfo {
    pub entity_id: String,
    pub acs_url: String,
    /// SP metadata XML to download or give to the IdP.
    pub metadata_url: String,
    /// Lanyard's own SP certificates for this connection (published in its metadata), for IdPs
    /// that verify signed AuthnRequests. Empty until the connection first needs a key.
    pub certificates: Vec<SpCertificate>,
    /// Lanyard's SingleLogoutService (HTTP-Redirect and HTTP-POST), when single logout is on.
    pub slo_url: Option<String>,
}

/// One of Lanyard's SP certificates of a connection (its private key never leaves Lanyard).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpCertificate {
    /// `spkey_…`
    pub id: String,
    /// `signing`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// `next` (published ahead of use) or `active`.
    pub state: String,
    /// SHA-256 fingerprint.
    pub fingerprint: String,
    pub not_after: String,
    /// Whole days until expiry.
    pub expires_in_days: i64,
    /// The certificate, PEM, to upload where an IdP asks for the SP's signing certificate.
    pub pem: String,
}

/// A pinned IdP signing certificate (never its private half; Lanyard has none).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SamlCertificate {
    /// `cert_…`
    pub id: String,
    /// SHA-256 fingerprint.
    pub fingerprint: String,
    pub subject: String,
    pub not_before: String,
    pub not_after: String,
    /// Whole days until expiry (negative once expired).
    pub expires_in_days: i64,
    /// When the IdP's metadata stopped listing it: it verifies until then, then is removed.
    pub retires_at: Option<String>,
}

/// The refresh of a connection set up from a metadata URL.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetadataRefresh {
    /// The last successful fetch.
    pub refreshed_at: Option<String>,
    /// The last failed fetch since then, and why (nothing was changed by it).
    pub failed_at: Option<String>,
    pub error: Option<String>,
    /// When the next scheduled fetch is due (`null` before the first).
    pub next_refresh_at: Option<String>,
}

/// SAML settings as shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SamlSettings {
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    /// Where the metadata was fetched from, when it was given by URL.
    pub idp_metadata_url: Option<String>,
    pub allow_idp_initiated: bool,
    /// Whether Lanyard signs its AuthnRequests (HTTP-Redirect, RSA-SHA256) with its SP key.
    pub sign_authn_requests: bool,
    /// Whether a plain assertion is refused (the IdP must encrypt to Lanyard's SP encryption
    /// certificate).
    pub require_encrypted_assertions: bool,
    /// `redirect` or `post`: how AuthnRequests are sent.
    pub authn_request_binding: String,
    /// Whether the Assertion itself must be signed (WantAssertionsSigned in the SP metadata).
    pub want_assertions_signed: bool,
    /// Whether single logout is on: the IdP's signed LogoutRequests end sign-in sessions, and
    /// the vendor can start a logout at the IdP (`POST /api/v1/sso/logout`).
    pub single_logout: bool,
    /// The IdP's HTTP-Redirect SingleLogoutService (from its metadata, or set by hand).
    pub idp_slo_url: Option<String>,
    /// Several may be active at once so that a rotation has no downtime.
    pub certificates: Vec<SamlCertificate>,
    /// Set up from a metadata URL: its scheduled refresh.
    pub metadata_refresh: Option<MetadataRefresh>,
}

/// A connection as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Connection {
    /// `conn_…`
    pub id: String,
    pub object: String,
    pub organization_id: String,
    /// `oidc` or `saml`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// `draft`, `active` or `inactive`.
    pub state: String,
    /// `okta`, `entra`, `google`, `adfs`, `onelogin`, `jumpcloud` or `generic`.
    pub idp: String,
    /// OIDC: the redirect URI to register with the IdP.
    pub redirect_uri: Option<String>,
    pub oidc: Option<OidcSettings>,
    /// SAML: the values to copy into the IdP.
    pub sp: Option<SpInfo>,
    pub saml: Option<SamlSettings>,
    /// Overrides of the attributes (SAML) or claims read for email, names and groups.
    pub attribute_mapping: AttributeMapping,
    /// The verified domains of the organization this connection signs people in for; `null`:
    /// every verified domain.
    pub domains: Option<Vec<String>>,
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

/// SAML input: the IdP metadata as XML or by URL, or its values by hand.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SamlInput {
    #[serde(default)]
    pub idp_metadata_xml: Option<String>,
    /// Fetched once, through the same network guard as OIDC discovery.
    #[serde(default)]
    pub idp_metadata_url: Option<String>,
    #[serde(default)]
    pub idp_entity_id: Option<String>,
    #[serde(default)]
    pub idp_sso_url: Option<String>,
    /// PEM (or bare base64 DER) signing certificates.
    #[serde(default)]
    pub idp_certificates: Option<Vec<String>>,
    #[serde(default)]
    pub allow_idp_initiated: Option<bool>,
    /// Sign AuthnRequests with Lanyard's SP key (made on first use).
    #[serde(default)]
    pub sign_authn_requests: Option<bool>,
    /// Refuse plain assertions; Lanyard's SP encryption key is made and published on first use.
    #[serde(default)]
    pub require_encrypted_assertions: Option<bool>,
    /// Turn single logout on (Lanyard's SP signing key is made on first use: logout messages
    /// are always signed).
    #[serde(default)]
    pub single_logout: Option<bool>,
    /// The IdP's HTTP-Redirect SingleLogoutService URL (metadata fills it in; `""` clears it).
    #[serde(default)]
    pub idp_slo_url: Option<String>,
    /// `redirect` (HTTP-Redirect; the default when the IdP offers it) or `post` (HTTP-POST, an
    /// auto-submitted form; a signed request carries an enveloped signature).
    #[serde(default)]
    pub authn_request_binding: Option<String>,
    /// WantAssertionsSigned: refuse a response whose Assertion itself is not signed by the IdP
    /// (a signature on the Response alone no longer suffices); the SP metadata says so.
    #[serde(default)]
    pub want_assertions_signed: Option<bool>,
}

/// SAML changes: a new source replaces the IdP values and the certificate set; single
/// certificates can be added and removed for a rotation without downtime.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SamlPatch {
    #[serde(default)]
    pub idp_metadata_xml: Option<String>,
    #[serde(default)]
    pub idp_metadata_url: Option<String>,
    #[serde(default)]
    pub idp_entity_id: Option<String>,
    #[serde(default)]
    pub idp_sso_url: Option<String>,
    #[serde(default)]
    pub idp_certificates: Option<Vec<String>>,
    #[serde(default)]
    pub allow_idp_initiated: Option<bool>,
    /// Sign AuthnRequests with Lanyard's SP key (made on first use).
    #[serde(default)]
    pub sign_authn_requests: Option<bool>,
    /// Refuse plain assertions; Lanyard's SP encryption key is made and published on first use.
    #[serde(default)]
    pub require_encrypted_assertions: Option<bool>,
    /// Turn single logout on (Lanyard's SP signing key is made on first use: logout messages
    /// are always signed).
    #[serde(default)]
    pub single_logout: Option<bool>,
    /// The IdP's HTTP-Redirect SingleLogoutService URL (metadata fills it in; `""` clears it).
    #[serde(default)]
    pub idp_slo_url: Option<String>,
    /// `redirect` (HTTP-Redirect; the default when the IdP offers it) or `post` (HTTP-POST, an
    /// auto-submitted form; a signed request carries an enveloped signature).
    #[serde(default)]
    pub authn_request_binding: Option<String>,
    /// WantAssertionsSigned: refuse a response whose Assertion itself is not signed by the IdP
    /// (a signature on the Response alone no longer suffices); the SP metadata says so.
    #[serde(default)]
    pub want_assertions_signed: Option<bool>,
    /// `signing` or `encryption`: publish a `next` SP key of that use beside the active one (in
    /// the SP metadata, so the IdP can take it before Lanyard switches).
    #[serde(default)]
    pub publish_next_sp_key: Option<String>,
    /// `signing` or `encryption`: the `next` SP key becomes the active one and the active one is
    /// retired (a retired encryption key still decrypts for 7 days).
    #[serde(default)]
    pub activate_next_sp_key: Option<String>,
    /// The customer's own SP key pair (PEM key and certificate chain from their CA): active when
    /// the connection has no key of that use, otherwise published as the next one.
    #[serde(default)]
    pub upload_sp_key: Option<super::sp_keys::UploadSpKey>,
    /// A PEM certificate to pin beside the current ones.
    #[serde(default)]
    pub add_certificate: Option<String>,
    /// A `cert_…` id to unpin (the last one cannot be removed).
    #[serde(default)]
    pub remove_certificate: Option<String>,
}

/// Input of `create`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// `oidc` or `saml`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub idp: Option<String>,
    #[serde(default)]
    pub oidc: Option<OidcInput>,
    #[serde(default)]
    pub saml: Option<SamlInput>,
    #[serde(default)]
    pub attribute_mapping: Option<AttributeMapping>,
    /// Limits the connection to these verified domains of the organization (absent: all).
    #[serde(default)]
    pub domains: Option<Vec<String>>,
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
    #[serde(default)]
    pub saml: Option<SamlPatch>,
    #[serde(default)]
    pub attribute_mapping: Option<AttributeMapping>,
    /// A list limits the connection to those verified domains of the organization; `null` lets
    /// it sign in people of every verified domain.
    #[serde(default, with = "crate::server::service::double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub domains: Option<Option<Vec<String>>>,
}

/// Checks a connection's `domains`: each a verified domain of the organization (normalized, no
/// repeats, at least one). Answers the JSON stored.
async fn check_domains(
    state: &AppState,
    organization_id: &str,
    list: &[String],
) -> Result<String, AppError> {
    if list.is_empty() {
        return Err(FieldError::new(
            "domains",
            "list at least one verified domain, or send null to let the connection sign in people of every verified domain",
        )
        .into());
    }
    let claims = {
        let mut conn = state.db.pool.acquire().await?;
        db::domains::list(&mut conn, organization_id).await?
    };
    let mut out: Vec<String> = Vec::new();
    for raw in list {
        let d = crate::domain::domain_name::DomainName::parse(raw)
            .map_err(|e| FieldError::new("domains", format!("{raw:?}: {}", e.message)))?;
        if !claims
            .iter()
            .any(|c| c.domain == d.as_str() && c.state == DomainState::Verified)
        {
            return Err(FieldError::new(
                "domains",
                format!("{} is not a verified domain of this organization; verify it on the Domains page (or through POST /organizations/{{id}}/domains) first", d.as_str()),
            )
            .into());
        }
        if !out.iter().any(|o| o == d.as_str()) {
            out.push(d.as_str().to_owned());
        }
    }
    Ok(serde_json::to_string(&out).unwrap_or_else(|_| "[]".into()))
}

fn secret_context(id: &str) -> String {
    format!("connections:{id}:client_secret")
}

/// The callback URL registered with every OIDC IdP.
pub fn callback_url(state: &AppState) -> String {
    format!("{}/sso/oidc/callback", state.config.base_url())
}

/// The SP entity id of a SAML connection (also the URL of its SP metadata).
pub fn sp_entity_id(state: &AppState, id: &str) -> String {
    format!("{}/sso/saml/{id}/metadata", state.config.base_url())
}

/// The ACS URL of a SAML connection.
pub fn acs_url(state: &AppState, id: &str) -> String {
    format!("{}/sso/saml/{id}/acs", state.config.base_url())
}

/// Lanyard's SingleLogoutService of a SAML connection (the Destination of the IdP's logout
/// messages).
pub fn slo_url(state: &AppState, id: &str) -> String {
    format!("{}/sso/saml/{id}/slo", state.config.base_url())
}

/// `redirect` or `post`.
fn checked_binding(b: &str) -> Result<String, AppError> {
    match b.trim() {
        "redirect" | "post" => Ok(b.trim().to_owned()),
        other => Err(FieldError::new(
            "saml.authn_request_binding",
            format!("authn_request_binding must be redirect or post (got {other:?}); use post only when the IdP's SingleSignOnService takes HTTP-POST"),
        )
        .into()),
    }
}

/// The IdP's SLO URL as given: blank clears it, anything else must be a usable URL.
fn checked_slo_url(state: &AppState, u: &str) -> Result<Option<String>, AppError> {
    let u = u.trim();
    if u.is_empty() {
        return Ok(None);
    }
    state.outbound.check_url(u).map_err(|e| {
        FieldError::new(
            "saml.idp_slo_url",
            format!("the IdP's single logout URL is not usable: {e}; copy the SingleLogoutService (HTTP-Redirect) URL from the IdP's metadata"),
        )
    })?;
    Ok(Some(u.to_owned()))
}

fn cert_view(c: &CertificateRow, now: i64) -> SamlCertificate {
    SamlCertificate {
        id: c.id.clone(),
        fingerprint: c.fingerprint.clone(),
        subject: c.subject.clone(),
        not_before: rfc3339(c.not_before),
        not_after: rfc3339(c.not_after),
        expires_in_days: (c.not_after - now).div_euclid(86_400_000),
        retires_at: c.retire_after.map(rfc3339),
    }
}

fn refresh_view(r: Option<&db::saml::RefreshRow>) -> MetadataRefresh {
    MetadataRefresh {
        refreshed_at: r.and_then(|r| r.refreshed_at).map(rfc3339),
        failed_at: r.and_then(|r| r.failed_at).map(rfc3339),
        error: r.and_then(|r| r.error.clone()),
        next_refresh_at: r.map(|r| rfc3339(r.next_at)),
    }
}

pub(crate) fn mapping_of(r: &ConnectionRow) -> AttributeMapping {
    r.attribute_mapping
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default()
}

fn view(state: &AppState, r: ConnectionRow, parts: &Parts) -> Connection {
    let (certs, sp_keys) = (&parts.certs, &parts.sp);
    let saml = r.kind == ConnectionKind::Saml;
    let now = state.clock.now();
    Connection {
        redirect_uri: (!saml).then(|| callback_url(state)),
        oidc: r.oidc_issuer.clone().map(|issuer| OidcSettings {
            issuer,
            client_id: r.oidc_client_id.clone().unwrap_or_default(),
            client_secret_set: r.oidc_client_secret_enc.is_some(),
            discovery_refresh: parts.refresh.as_ref().map(|x| refresh_view(Some(x))),
        }),
        sp: saml.then(|| SpInfo {
            entity_id: sp_entity_id(state, &r.id),
            acs_url: acs_url(state, &r.id),
            metadata_url: sp_entity_id(state, &r.id),
            certificates: sp_keys.iter().map(|k| sp_cert_view(k, now)).collect(),
            slo_url: r.saml_single_logout.then(|| slo_url(state, &r.id)),
        }),
        saml: (saml && r.is_configured()).then(|| SamlSettings {
            idp_entity_id: r.saml_idp_entity_id.clone().unwrap_or_default(),
            idp_sso_url: r.saml_idp_sso_url.clone().unwrap_or_default(),
            idp_metadata_url: r.saml_idp_metadata_url.clone(),
            allow_idp_initiated: r.saml_allow_idp_initiated,
            sign_authn_requests: r.saml_sign_authn_requests,
            require_encrypted_assertions: r.saml_require_encrypted_assertions,
            authn_request_binding: r.saml_authn_request_binding.clone(),
            want_assertions_signed: r.saml_want_assertions_signed,
            single_logout: r.saml_single_logout,
            idp_slo_url: r.saml_idp_slo_url.clone(),
            certificates: certs.iter().map(|c| cert_view(c, now)).collect(),
            metadata_refresh: r
                .saml_idp_metadata_url
                .as_ref()
                .map(|_| refresh_view(parts.refresh.as_ref())),
        }),
        attribute_mapping: mapping_of(&r),
        domains: r.served_domains(),
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

fn sp_cert_view(k: &SpKeyRow, now: i64) -> SpCertificate {
    SpCertificate {
        id: k.id.clone(),
        key_use: k.key_use.clone(),
        state: k.state.clone(),
        fingerprint: k.fingerprint.clone(),
        not_after: rfc3339(k.not_after),
        expires_in_days: (k.not_after - now).div_euclid(86_400_000),
        pem: k.certificate_pem.clone(),
    }
}

/// The IdP values a SAML source resolves to.
struct SamlSource {
    entity_id: String,
    sso_url: String,
    metadata_url: Option<String>,
    certificates: Vec<Vec<u8>>,
    /// The IdP's SingleLogoutService from its metadata.
    slo_url: Option<String>,
    /// The IdP's HTTP-POST SingleSignOnService, and whether it takes only that binding.
    sso_post_url: Option<String>,
    post_only: bool,
}

/// Resolves exactly one source (metadata XML, metadata URL, or values by hand) into IdP values.
async fn resolve_saml(
    state: &AppState,
    xml: Option<&str>,
    url: Option<&str>,
    entity_id: Option<&str>,
    sso_url: Option<&str>,
    certs: Option<&[String]>,
) -> Result<SamlSource, AppError> {
    let blank = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (xml, url) = (blank(xml), blank(url));
    let manual = blank(entity_id).is_some()
        || blank(sso_url).is_some()
        || certs.is_some_and(|c| !c.is_empty());
    let sources = [xml.is_some(), url.is_some(), manual]
        .iter()
        .filter(|b| **b)
        .count();
    if sources != 1 {
        return Err(FieldError::new(
            "saml",
            "give the IdP's metadata as idp_metadata_xml, or as idp_metadata_url, or give idp_entity_id, idp_sso_url and idp_certificates by hand (exactly one of the three)",
        )
        .into());
    }
    let field = if xml.is_some() {
        "saml.idp_metadata_xml"
    } else {
        "saml.idp_metadata_url"
    };
    let src = if let Some(x) = xml {
        let m = saml_md::parse_idp_metadata(&x)
            .map_err(|e| FieldError::new("saml.idp_metadata_xml", e))?;
        SamlSource {
            entity_id: m.entity_id,
            sso_url: m.sso_url,
            metadata_url: None,
            slo_url: m.slo_url,
            post_only: !m.sso_redirect,
            sso_post_url: m.sso_post_url,
            certificates: m.certificates,
        }
    } else if let Some(u) = url {
        let text = state.outbound.get_text(&u).await.map_err(|e| {
            FieldError::new(
                "saml.idp_metadata_url",
                format!("could not fetch the metadata: {e}"),
            )
        })?;
        let m = saml_md::parse_idp_metadata(&text)
            .map_err(|e| FieldError::new("saml.idp_metadata_url", e))?;
        SamlSource {
            entity_id: m.entity_id,
            sso_url: m.sso_url,
            metadata_url: Some(u),
            slo_url: m.slo_url,
            post_only: !m.sso_redirect,
            sso_post_url: m.sso_post_url,
            certificates: m.certificates,
        }
    } else {
        let entity_id = blank(entity_id).ok_or_else(|| {
            FieldError::new(
                "saml.idp_entity_id",
                "idp_entity_id is required; your IdP calls it Issuer, Entity ID or Identifier",
            )
        })?;
        let sso_url = blank(sso_url).ok_or_else(|| {
            FieldError::new(
                "saml.idp_sso_url",
                "idp_sso_url is required; your IdP calls it SSO URL, Sign-on URL or Login URL",
            )
        })?;
        let mut certificates = Vec::new();
        for c in certs.unwrap_or_default() {
            let der = saml_md::decode_certificate(c)
                .map_err(|e| FieldError::new("saml.idp_certificates", e))?;
            certificates.push(der);
        }
        if certificates.is_empty() {
            return Err(FieldError::new("saml.idp_certificates", "at least one IdP signing certificate is required; download it from the IdP's app (PEM or .cer)").into());
        }
        SamlSource {
            entity_id,
            sso_url,
            metadata_url: None,
            slo_url: None,
            sso_post_url: None,
            post_only: false,
            certificates,
        }
    };
    state.outbound.check_url(&src.sso_url).map_err(|e| {
        FieldError::new(
            "saml.idp_sso_url",
            format!("the IdP's SSO URL is not usable: {e}"),
        )
    })?;
    // The other IdP URLs the metadata names go to browsers too (a form's action, the logout
    // URL the vendor sends people to): the same check, so no javascript: or data: URL, nor
    // plain http outside a private-network setup, is ever stored.

    for (what, u) in [
        ("single logout", &src.slo_url),
        ("HTTP-POST SSO", &src.sso_post_url),
    ] {
        if let Some(u) = u {
            state.outbound.check_url(u).map_err(|e| {
                FieldError::new(
                    field,
                    format!("the IdP metadata's {what} URL is not usable: {e}"),
                )
            })?;
        }
    }
    if src.entity_id.chars().count() > 1024 {
        return Err(FieldError::new(
            "saml.idp_entity_id",
            "the entity id is longer than 1024 characters",
        )
        .into());
    }
    Ok(src)
}

pub(crate) fn cert_row(
    organization_id: &str,
    connection_id: &str,
    der: &[u8],
    now: i64,
) -> Result<CertificateRow, AppError> {
    use base64::Engine as _;
    let info =
        saml_md::certificate_info(der).map_err(|e| FieldError::new("saml.idp_certificates", e))?;
    Ok(CertificateRow {
        id: db::new_id(IdKind::Certificate),
        organization_id: organization_id.to_string(),
        connection_id: connection_id.to_owned(),
        der_b64: base64::engine::general_purpose::STANDARD.encode(der),
        fingerprint: info.fingerprint,
        subject: info.subject,
        not_before: info.not_before_ms,
        not_after: info.not_after_ms,
        warned_days: None,
        created_at: now,
        retire_after: None,
    })
}

/// The pinned IdP certificates and Lanyard's published SP keys of a connection.
/// What a connection's view shows beside its row (SAML only).
#[derive(Default)]
struct Parts {
    /// The pinned IdP certificates.
    certs: Vec<CertificateRow>,
    /// Lanyard's published SP keys.
    sp: Vec<SpKeyRow>,
    /// The metadata refresh state (connections set up from a metadata URL).
    refresh: Option<db::saml::RefreshRow>,
}

/// The pinned IdP certificates, Lanyard's published SP keys and the metadata refresh state of a
/// connection.
async fn parts_of(state: &AppState, r: &ConnectionRow) -> Result<Parts, AppError> {
    if r.kind != ConnectionKind::Saml {
        let mut conn = state.db.pool.acquire().await?;
        return Ok(Parts {
            refresh: db::saml::refresh_state(&mut conn, &r.id).await?,
            ..Parts::default()
        });
    }
    let (certs, refresh) = {
        let mut conn = state.db.pool.acquire().await?;
        (
            db::saml::list_certificates(&mut conn, &r.org_id(), &r.connection_id()).await?,
            db::saml::refresh_state(&mut conn, &r.id).await?,
        )
    };
    Ok(Parts {
        certs,
        sp: super::sp_keys::published(state, r).await?,
        refresh,
    })
}

fn check_mapping(m: Option<AttributeMapping>) -> Result<Option<String>, FieldError> {
    let Some(m) = m else { return Ok(None) };
    let clean = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let m = AttributeMapping {
        email: clean(m.email),
        first_name: clean(m.first_name),
        last_name: clean(m.last_name),
        groups: clean(m.groups),
    };
    for v in [&m.email, &m.first_name, &m.last_name, &m.groups]
        .into_iter()
        .flatten()
    {
        if v.chars().count() > 512 {
            return Err(FieldError::new(
                "attribute_mapping",
                "attribute names are at most 512 characters",
            ));
        }
    }
    Ok((m != AttributeMapping::default()).then(|| serde_json::to_string(&m).unwrap_or_default()))
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
        v @ ("okta" | "entra" | "google" | "adfs" | "onelogin" | "jumpcloud" | "generic") => {
            Ok(v.to_owned())
        }
        other => Err(FieldError::new(
            "idp",
            format!(
                "unknown idp '{other}'; use okta, entra, google, adfs, onelogin, jumpcloud or generic"
            ),
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
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    input: CreateConnection,
) -> Result<Connection, AppError> {
    let name = check_name(&input.name)?;
    let idp = check_idp(input.idp.as_deref())?;
    let attribute_mapping = check_mapping(input.attribute_mapping)?;
    let domains = match &input.domains {
        Some(list) => Some(check_domains(state, organization_id, list).await?),
        None => None,
    };
    let now = state.clock.now();
    let mut row = draft_row(
        organization_id,
        input.kind.clone(),
        name,
        idp,
        attribute_mapping,
        now,
    );
    row.domains = domains;
    let certs = apply_create_settings(
        state,
        organization_id,
        &mut row,
        input.oidc,
        input.saml,
        now,
    )
    .await?;
    insert_audited(state, actor, ctx, organization_id, row, certs, now).await
}

/// Creates a draft with Lanyard's side only (the portal's guided setup): its ACS URL, SP entity
/// id and redirect URI exist for the admin to copy before they have the IdP's values. Nobody can
/// sign in through it, test it or activate it until the IdP's settings are added.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn create_unconfigured(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    kind: ConnectionKind,
    idp: &str,
    name: &str,
) -> Result<Connection, AppError> {
    let name = check_name(name)?;
    let idp = check_idp(Some(idp))?;
    // Starting the same setup again resumes the unfinished draft, and unfinished drafts are
    // capped, so that the chooser cannot be used to fill the organization with rows.
    let unfinished: Vec<ConnectionRow> = {
        let mut conn = state.db.pool.acquire().await?;
        db::connections::list_connections(&mut conn, organization_id.as_str())
            .await?
            .into_iter()
            .filter(|r| !r.is_configured() && r.state == ConnectionState::Draft.as_str())
            .collect()
    };
    let count = unfinished.len();
    if let Some(same) = unfinished
        .into_iter()
        .find(|r| r.kind == kind && r.idp == idp)
    {
        return Ok(view(state, same, &Parts::default()));
    }
    if count >= MAX_UNFINISHED_DRAFTS {
        return Err(AppError::Conflict {
            code: "too_many_drafts",
            message: format!(
                "this organization already has {MAX_UNFINISHED_DRAFTS} connections whose setup is unfinished; continue or delete one of them on the Single sign-on page"
            ),
            field: Some("idp"),
        });
    }
    let now = state.clock.now();
    let row = draft_row(organization_id, kind.as_str().into(), name, idp, None, now);
    insert_audited(state, actor, ctx, organization_id, row, Vec::new(), now).await
}

/// How many connections without IdP settings an organization may hold at once.
pub const MAX_UNFINISHED_DRAFTS: usize = 10;

/// A new draft connection's row, with no IdP settings yet.
fn draft_row(
    organization_id: &OrgId,
    kind: String,
    name: String,
    idp: String,
    attribute_mapping: Option<String>,
    now: i64,
) -> ConnectionRow {
    ConnectionRow {
        id: db::new_id(IdKind::Connection),
        organization_id: organization_id.to_string(),
        kind,
        name,
        state: ConnectionState::Draft.as_str().into(),
        idp,
        oidc_issuer: None,
        oidc_client_id: None,
        oidc_client_secret_enc: None,
        last_test_at: None,
        last_test_ok: None,
        created_at: now,
        updated_at: now,
        saml_idp_entity_id: None,
        saml_idp_sso_url: None,
        saml_idp_metadata_url: None,
        saml_allow_idp_initiated: false,
        attribute_mapping,
        saml_sign_authn_requests: false,
        saml_require_encrypted_assertions: false,
        domains: None,
        saml_single_logout: false,
        saml_idp_slo_url: None,
        saml_authn_request_binding: "redirect".into(),
        saml_idp_sso_post_url: None,
        saml_want_assertions_signed: false,
    }
}

/// Makes the SP keys a SAML connection's settings need (signing for signed requests, encryption
/// for encrypted assertions) in the caller's transaction; answers `{use: fingerprint}` of those
/// it made, for the audit event.
async fn ensure_sp_keys(
    tx: &mut AuditedTx,
    state: &AppState,
    row: &ConnectionRow,
    now: i64,
) -> Result<serde_json::Map<String, serde_json::Value>, AppError> {
    use super::sp_keys::{ensure_key, ENCRYPTION, SIGNING};
    let mut made = serde_json::Map::new();
    if row.kind != ConnectionKind::Saml {
        return Ok(made);
    }
    for (wanted, key_use) in [
        (row.saml_sign_authn_requests, SIGNING),
        (row.saml_single_logout, SIGNING),
        (row.saml_require_encrypted_assertions, ENCRYPTION),
    ] {
        if wanted {
            if let Some(fp) = ensure_key(tx.conn(), state, row, key_use, now).await? {
                made.insert(key_use.into(), fp.into());
            }
        }
    }
    Ok(made)
}

/// Inserts a new connection and its pinned certificates, audited as `connection.created`.
async fn insert_audited(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    row: ConnectionRow,
    certs: Vec<CertificateRow>,
    now: i64,
) -> Result<Connection, AppError> {
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    db::organizations::get(tx.conn(), organization_id)
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    db::connections::insert_connection(tx.conn(), &row).await?;
    for c in &certs {
        db::saml::insert_certificate(tx.conn(), c).await?;
    }
    let sp_keys = ensure_sp_keys(&mut tx, state, &row, now).await?;
    tx.record(
        Some(organization_id),
        EventType::ConnectionCreated,
        vec![Target::new(
            TargetKind::Connection,
            &row.id,
            Some(&row.name),
        )],
        serde_json::json!({
            "type": row.kind,
            "idp": row.idp,
            "issuer": row.oidc_issuer,
            "idp_entity_id": row.saml_idp_entity_id,
            "certificates": certs.iter().map(|c| &c.fingerprint).collect::<Vec<_>>(),
            "configured": row.is_configured(),
            "domains": row.served_domains(),
            "sp_keys_created": sp_keys,
        }),
    )
    .await?;
    tx.commit().await?;
    let sp = super::sp_keys::published(state, &row).await?;
    Ok(view(
        state,
        row,
        &Parts {
            certs,
            sp,
            refresh: None,
        },
    ))
}

/// Checks the kind's settings (OIDC discovery, SAML metadata) into `row`; returns the SAML
/// certificates to pin.
async fn apply_create_settings(
    state: &AppState,
    organization_id: &str,
    row: &mut ConnectionRow,
    oidc: Option<OidcInput>,
    saml: Option<SamlInput>,
    now: i64,
) -> Result<Vec<CertificateRow>, AppError> {
    let id = row.id.clone();
    let mut certs = Vec::new();
    match (ConnectionKind::parse(&row.kind), oidc, saml) {
        (Some(ConnectionKind::Oidc), Some(o), None) => {
            let issuer = check_oidc(state, &o.issuer, &o.client_id, &o.client_secret).await?;
            row.oidc_issuer = Some(issuer);
            row.oidc_client_id = Some(o.client_id.trim().to_owned());
            row.oidc_client_secret_enc = Some(state.secrets.seal(&o.client_secret, &secret_context(&id)));
        }
        (Some(ConnectionKind::Saml), None, Some(m)) => {
            let src = resolve_saml(
                state,
                m.idp_metadata_xml.as_deref(),
                m.idp_metadata_url.as_deref(),
                m.idp_entity_id.as_deref(),
                m.idp_sso_url.as_deref(),
                m.idp_certificates.as_deref(),
            )
            .await?;
            row.saml_idp_entity_id = Some(src.entity_id);
            row.saml_idp_sso_url = Some(src.sso_url);
            row.saml_idp_metadata_url = src.metadata_url;
            row.saml_allow_idp_initiated = m.allow_idp_initiated.unwrap_or(false);
            row.saml_sign_authn_requests = m.sign_authn_requests.unwrap_or(false);
            row.saml_require_encrypted_assertions =
                m.require_encrypted_assertions.unwrap_or(false);
            row.saml_single_logout = m.single_logout.unwrap_or(false);
            row.saml_want_assertions_signed = m.want_assertions_signed.unwrap_or(false);
            row.saml_idp_slo_url = src.slo_url.clone();
            row.saml_idp_sso_post_url = src.sso_post_url.clone();
            row.saml_authn_request_binding = match m.authn_request_binding.as_deref() {
                Some(b) => checked_binding(b)?,
                None if src.post_only => "post".into(),
                None => "redirect".into(),
            };
            if let Some(u) = &m.idp_slo_url {
                row.saml_idp_slo_url = checked_slo_url(state, u)?;
            }
            for der in &src.certificates {
                certs.push(cert_row(organization_id, &id, der, now)?);
            }
        }
        (Some(ConnectionKind::Oidc), _, _) => {
            return Err(FieldError::new(
                "oidc",
                "type oidc needs oidc: {issuer, client_id, client_secret} (and no saml)",
            )
            .into())
        }
        (Some(ConnectionKind::Saml), _, _) => {
            return Err(FieldError::new(
                "saml",
                "type saml needs saml: {idp_metadata_xml | idp_metadata_url | idp_entity_id, idp_sso_url, idp_certificates} (and no oidc)",
            )
            .into())
        }
        _ => return Err(FieldError::new("type", "type must be oidc or saml").into()),
    }
    Ok(certs)
}

/// The organization a connection id belongs to.
pub async fn organization_of(state: &AppState, id: &ConnectionId) -> Result<OrgId, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::connections::connection_owner(&mut conn, id)
        .await?
        .ok_or_else(not_found)
}

/// Reads a connection of an organization.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn get(
    state: &AppState,
    organization_id: &OrgId,
    id: &ConnectionId,
) -> Result<Connection, AppError> {
    let row = get_row(state, organization_id, id).await?;
    let parts = parts_of(state, &row).await?;
    Ok(view(state, row, &parts))
}

pub(crate) async fn get_row(
    state: &AppState,
    organization_id: &OrgId,
    id: &ConnectionId,
) -> Result<ConnectionRow, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::connections::get_connection(&mut conn, organization_id, id)
        .await?
        .ok_or_else(not_found)
}

/// Lists an organization's connections.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn list(state: &AppState, organization_id: &OrgId) -> Result<Vec<Connection>, AppError> {
    let rows = {
        let mut conn = state.db.read().await?;
        db::connections::list_connections(&mut conn, organization_id).await?
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let parts = parts_of(state, &r).await?;
        out.push(view(state, r, &parts));
    }
    Ok(out)
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
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &ConnectionId,
    input: UpdateConnection,
    require_test: bool,
) -> Result<Connection, AppError> {
    let mut row = get_row(state, organization_id, id).await?;
    let mut changed: Vec<&str> = Vec::new();
    let mut events: Vec<EventType> = Vec::new();
    if let Some(n) = &input.name {
        row.name = check_name(n)?;
        changed.push("name");
    }
    if input.oidc.is_some() && row.kind != ConnectionKind::Oidc {
        return Err(FieldError::new(
            "oidc",
            "this is a SAML connection; change its saml settings",
        )
        .into());
    }
    if let Some(o) = &input.oidc {
        apply_oidc_patch(state, &mut row, o).await?;
        changed.push("oidc");
    }
    let mut certs_change = CertificateChanges::default();
    let mut rotations = Vec::new();
    if let Some(m) = &input.saml {
        certs_change = apply_saml_patch(state, organization_id, &mut row, m, &mut changed).await?;
        use super::sp_keys::{parse_use, Rotation};
        if let Some(u) = &m.upload_sp_key {
            rotations.push(super::sp_keys::check_upload(u, state.clock.now())?);
        }
        if let Some(u) = &m.publish_next_sp_key {
            rotations.push(Rotation::PublishNext(parse_use(
                u,
                "saml.publish_next_sp_key",
            )?));
        }
        if let Some(u) = &m.activate_next_sp_key {
            rotations.push(Rotation::ActivateNext(parse_use(
                u,
                "saml.activate_next_sp_key",
            )?));
        }
        if !rotations.is_empty() {
            changed.push("sp_keys");
        }
    }
    if let Some(mp) = input.attribute_mapping.clone() {
        row.attribute_mapping = check_mapping(Some(mp))?;
        changed.push("attribute_mapping");
    }
    if let Some(d) = &input.domains {
        let stored = match d {
            Some(list) => Some(check_domains(state, organization_id, list).await?),
            None => None,
        };
        if stored != row.domains {
            row.domains = stored;
            changed.push("domains");
        }
    }
    if let Some(s) = &input.state {
        apply_state_change(&mut row, s, require_test, &mut events)?;
    }
    if changed.is_empty() && events.is_empty() {
        let parts = parts_of(state, &row).await?;
        return Ok(view(state, row, &parts));
    }
    let now = state.clock.now();
    row.updated_at = now;
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if !db::connections::update_connection(tx.conn(), organization_id, &row).await? {
        return Err(not_found());
    }
    let (certs_added, certs_removed) = write_certificate_changes(
        &mut tx,
        organization_id,
        &row.connection_id(),
        &certs_change,
    )
    .await?;
    // Rotations (an uploaded key first) before the keys the settings need are made, so an
    // uploaded key becomes the active one rather than a generated one.
    let mut rotated = Vec::new();
    for step in rotations {
        rotated.push(super::sp_keys::rotate(tx.conn(), state, &row, step, now).await?);
    }
    let sp_keys = ensure_sp_keys(&mut tx, state, &row, now).await?;
    let target = vec![Target::new(
        TargetKind::Connection,
        &row.id,
        Some(&row.name),
    )];
    if !changed.is_empty() {
        tx.record(
            Some(organization_id),
            EventType::ConnectionUpdated,
            target.clone(),
            serde_json::json!({ "changed": changed, "domains": row.served_domains(), "certificates_added": certs_added, "certificates_removed": certs_removed, "sp_keys_created": sp_keys, "sp_keys_rotated": rotated }),
        )
        .await?;
    }
    let domains = if events.is_empty() {
        Vec::new()
    } else {
        crate::server::events::verified_domains(tx.conn(), organization_id).await?
    };
    for e in events {
        let event = tx
            .record(
                Some(organization_id),
                e,
                target.clone(),
                serde_json::json!({ "tested": row.last_test_ok == Some(1) }),
            )
            .await?;
        tx.snapshot(
            &event,
            &Snapshot::Connection {
                connection: ConnectionSnapshot {
                    domains: domains.clone(),
                    ..(&row).into()
                },
            },
        );
    }
    tx.commit().await?;
    let parts = parts_of(state, &row).await?;
    Ok(view(state, row, &parts))
}

/// Checks and applies OIDC changes to `row` (unchanged values kept; the secret re-sealed).
async fn apply_oidc_patch(
    state: &AppState,
    row: &mut ConnectionRow,
    o: &OidcPatch,
) -> Result<(), AppError> {
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
        None if row.oidc_client_secret_enc.is_none() => {
            return Err(FieldError::new(
                "oidc.client_secret",
                "client_secret is required; copy it from your IdP's app settings",
            )
            .into())
        }
        None => client_secret(&state.secrets, row)?,
    };
    row.oidc_issuer = Some(check_oidc(state, &issuer, &client_id, &secret).await?);
    row.oidc_client_id = Some(client_id.trim().to_owned());
    row.oidc_client_secret_enc = Some(state.secrets.seal(&secret, &secret_context(&row.id)));
    // New settings need a new successful test before the portal can activate them.
    row.last_test_ok = None;
    Ok(())
}

/// The certificate changes a SAML patch asks for, written in the update's transaction.
#[derive(Default)]
struct CertificateChanges {
    replace: Option<Vec<CertificateRow>>,
    add: Option<CertificateRow>,
    remove: Option<String>,
}

/// Checks and applies SAML changes to `row`, naming each changed part in `changed`; returns the
/// certificate changes to write.
async fn apply_saml_patch(
    state: &AppState,
    organization_id: &str,
    row: &mut ConnectionRow,
    m: &SamlPatch,
    changed: &mut Vec<&str>,
) -> Result<CertificateChanges, AppError> {
    let mut out = CertificateChanges::default();
    if row.kind != ConnectionKind::Saml {
        return Err(FieldError::new(
            "saml",
            "this is an OIDC connection; change its oidc settings",
        )
        .into());
    }
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    let has_source = given(&m.idp_metadata_xml)
        || given(&m.idp_metadata_url)
        || given(&m.idp_entity_id)
        || given(&m.idp_sso_url)
        || m.idp_certificates.as_ref().is_some_and(|c| !c.is_empty());
    let now = state.clock.now();
    if has_source {
        let src = resolve_saml(
            state,
            m.idp_metadata_xml.as_deref(),
            m.idp_metadata_url.as_deref(),
            m.idp_entity_id.as_deref(),
            m.idp_sso_url.as_deref(),
            m.idp_certificates.as_deref(),
        )
        .await?;
        row.saml_idp_entity_id = Some(src.entity_id);
        row.saml_idp_sso_url = Some(src.sso_url);
        row.saml_idp_metadata_url = src.metadata_url;
        row.saml_idp_slo_url = src.slo_url;
        row.saml_idp_sso_post_url = src.sso_post_url;
        if src.post_only {
            row.saml_authn_request_binding = "post".into();
        }
        let mut rows = Vec::new();
        for der in &src.certificates {
            rows.push(cert_row(organization_id, &row.id, der, now)?);
        }
        out.replace = Some(rows);
        row.last_test_ok = None;
        changed.push("saml");
    }
    if let Some(b) = m.allow_idp_initiated {
        row.saml_allow_idp_initiated = b;
        changed.push("allow_idp_initiated");
    }
    if let Some(b) = m
        .sign_authn_requests
        .filter(|b| *b != row.saml_sign_authn_requests)
    {
        row.saml_sign_authn_requests = b;
        // The IdP sees different requests: they need a new successful test.
        row.last_test_ok = None;
        changed.push("sign_authn_requests");
    }
    if let Some(b) = m
        .require_encrypted_assertions
        .filter(|b| *b != row.saml_require_encrypted_assertions)
    {
        row.saml_require_encrypted_assertions = b;
        row.last_test_ok = None;
        changed.push("require_encrypted_assertions");
    }
    if let Some(b) = m.authn_request_binding.as_deref() {
        let b = checked_binding(b)?;
        if b != row.saml_authn_request_binding {
            row.saml_authn_request_binding = b;
            // The IdP sees requests another way: they need a new successful test.
            row.last_test_ok = None;
            changed.push("authn_request_binding");
        }
    }
    if let Some(b) = m
        .want_assertions_signed
        .filter(|b| *b != row.saml_want_assertions_signed)
    {
        row.saml_want_assertions_signed = b;
        row.last_test_ok = None;
        changed.push("want_assertions_signed");
    }
    if let Some(b) = m.single_logout.filter(|b| *b != row.saml_single_logout) {
        row.saml_single_logout = b;
        changed.push("single_logout");
    }
    if let Some(u) = &m.idp_slo_url {
        let u = checked_slo_url(state, u)?;
        if u != row.saml_idp_slo_url {
            row.saml_idp_slo_url = u;
            changed.push("idp_slo_url");
        }
    }
    if let Some(pem) = m
        .add_certificate
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    {
        let der = saml_md::decode_certificate(pem)
            .map_err(|e| FieldError::new("saml.add_certificate", e))?;
        out.add = Some(cert_row(organization_id, &row.id, &der, now)?);
        changed.push("certificates");
    }
    if let Some(c) = m.remove_certificate.as_deref().filter(|c| !c.is_empty()) {
        out.remove = Some(c.to_owned());
        changed.push("certificates");
    }
    Ok(out)
}

/// Applies a requested state (`active` needs a passed test when `require_test`), naming the
/// event it causes in `events`.
fn apply_state_change(
    row: &mut ConnectionRow,
    s: &str,
    require_test: bool,
    events: &mut Vec<EventType>,
) -> Result<(), AppError> {
    match ConnectionState::parse(s) {
        Some(ConnectionState::Active) if !row.is_configured() => {
            return Err(AppError::Conflict {
                code: "not_configured",
                message: "this connection has no identity provider settings yet; add the IdP's metadata (SAML) or issuer, client id and secret (OIDC) first".into(),
                field: Some("state"),
            });
        }
        Some(ConnectionState::Active) if row.state != ConnectionState::Active => {
            if require_test && row.last_test_ok != Some(1) {
                return Err(AppError::Conflict {
                    code: "test_required",
                    message: "run a successful Test sign-in with the current settings before activating this connection".into(),
                    field: Some("state"),
                });
            }
            row.state = ConnectionState::Active.as_str().into();
            events.push(EventType::ConnectionActivated);
        }
        Some(ConnectionState::Inactive) if row.state != ConnectionState::Inactive => {
            row.state = ConnectionState::Inactive.as_str().into();
            events.push(EventType::ConnectionDeactivated);
        }
        Some(ConnectionState::Active | ConnectionState::Inactive) => {}
        _ => return Err(FieldError::new("state", "state must be active or inactive").into()),
    }
    Ok(())
}

/// Writes the certificate changes; returns the fingerprints added and removed.
async fn write_certificate_changes(
    tx: &mut AuditedTx,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
    change: &CertificateChanges,
) -> Result<(Vec<String>, Vec<String>), AppError> {
    let mut certs_added: Vec<String> = Vec::new();
    let mut certs_removed: Vec<String> = Vec::new();
    if let Some(rows) = &change.replace {
        for old in db::saml::list_certificates(tx.conn(), organization_id, connection_id).await? {
            db::saml::delete_certificate(
                tx.conn(),
                organization_id,
                connection_id,
                &CertificateId::from_stored(old.id.as_str()),
            )
            .await?;
            certs_removed.push(old.fingerprint);
        }
        for c in rows {
            if db::saml::insert_certificate(tx.conn(), c).await? {
                certs_added.push(c.fingerprint.clone());
            }
        }
    }
    if let Some(c) = &change.add {
        if db::saml::insert_certificate(tx.conn(), c).await? {
            certs_added.push(c.fingerprint.clone());
        }
    }
    if let Some(cid) = &change.remove {
        let current =
            db::saml::list_certificates(tx.conn(), organization_id, connection_id).await?;
        let Some(victim) = current.iter().find(|c| &c.id == cid) else {
            return Err(AppError::NotFound("certificate"));
        };
        if current.len() == 1 {
            return Err(AppError::Conflict {
                code: "last_certificate",
                message: "a SAML connection needs at least one IdP certificate; add the new one before removing the old one".into(),
                field: Some("saml.remove_certificate"),
            });
        }
        db::saml::delete_certificate(
            tx.conn(),
            organization_id,
            connection_id,
            &CertificateId::from_stored(victim.id.as_str()),
        )
        .await?;
        certs_removed.push(victim.fingerprint.clone());
    }
    Ok((certs_added, certs_removed))
}

/// Deletes a connection.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn delete(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &ConnectionId,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = db::connections::get_connection(tx.conn(), organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    db::connections::delete_connection(tx.conn(), organization_id, id, now).await?;
    let event = tx
        .record(
            Some(organization_id),
            EventType::ConnectionDeleted,
            vec![Target::new(TargetKind::Connection, id, Some(&row.name))],
            serde_json::json!({}),
        )
        .await?;
    let domains = crate::server::events::verified_domains(tx.conn(), organization_id).await?;
    tx.snapshot(
        &event,
        &Snapshot::Connection {
            connection: ConnectionSnapshot {
                domains,
                ..(&row).into()
            },
        },
    );
    tx.commit().await?;
    Ok(())
}

/// Days before expiry at which an IdP certificate warning fires.
pub const CERTIFICATE_WARNINGS: [i64; 3] = [30, 14, 7];

/// Emits `connection.certificate_expiring` once per threshold (30, 14, 7 days) for each pinned
/// IdP certificate; a certificate first seen inside a threshold gets only the nearest one.
/// Safe on several nodes: the warning is claimed by a conditional update. Returns the count.
pub async fn warn_expiring_certificates(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let day = 86_400_000;
    let due = {
        let mut conn = state.db.pool.acquire().await?;
        db::saml::certificates_to_warn(&mut conn, now + CERTIFICATE_WARNINGS[0] * day, 7).await?
    };
    let mut sent = 0;
    for c in due {
        let left = c.not_after - now;
        let Some(threshold) = CERTIFICATE_WARNINGS
            .iter()
            .rev()
            .copied()
            .find(|t| left <= t * day)
        else {
            continue;
        };
        if c.warned_days.is_some_and(|w| w <= threshold) {
            continue;
        }
        let mut tx =
            AuditedTx::begin(&state.db, &Actor::system(), &RequestContext::default(), now).await?;
        if !db::saml::mark_warned(tx.conn(), &c.id, threshold).await? {
            continue;
        }
        tx.record(
            Some(&c.organization_id),
            EventType::ConnectionCertificateExpiring,
            vec![Target::new(TargetKind::Connection, &c.connection_id, None)],
            serde_json::json!({
                "certificate_id": c.id,
                "fingerprint": c.fingerprint,
                "not_after": rfc3339(c.not_after),
                "threshold_days": threshold,
                "expires_in_days": left.div_euclid(day),
            }),
        )
        .await?;
        tx.commit().await?;
        sent += 1;
    }
    Ok(sent)
}
