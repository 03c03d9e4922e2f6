//! `connections` table: the SSO connections (OIDC and SAML) of an organization.

use super::Conn;
use crate::domain::connection::ConnectionState;
use crate::domain::ids::{ConnectionId, OrgId};

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const CONNECTION_INACTIVE: &str = ConnectionState::Inactive.as_str();

/// A stored connection.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRow {
    pub id: String,
    pub organization_id: String,
    pub kind: String,
    pub name: String,
    pub state: String,
    pub idp: String,
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: Option<String>,
    pub oidc_client_secret_enc: Option<String>,
    pub last_test_at: Option<i64>,
    pub last_test_ok: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub saml_idp_entity_id: Option<String>,
    pub saml_idp_sso_url: Option<String>,
    pub saml_idp_metadata_url: Option<String>,
    #[sqlx(try_from = "super::Flag")]
    pub saml_allow_idp_initiated: bool,
    /// JSON of the attribute-mapping overrides.
    pub attribute_mapping: Option<String>,
    /// Whether AuthnRequests are signed with the connection's SP key.
    #[sqlx(try_from = "super::Flag")]
    pub saml_sign_authn_requests: bool,
    /// Whether a plain (unencrypted) assertion is refused.
    #[sqlx(try_from = "super::Flag")]
    pub saml_require_encrypted_assertions: bool,
    /// JSON array of the verified domains the connection may sign people in for; `None`: all.
    pub domains: Option<String>,
    /// Whether single logout is on (SP metadata publishes a SingleLogoutService).
    #[sqlx(try_from = "super::Flag")]
    pub saml_single_logout: bool,
    /// The IdP's HTTP-Redirect SingleLogoutService.
    pub saml_idp_slo_url: Option<String>,
    /// `redirect` or `post`: how AuthnRequests are sent.
    pub saml_authn_request_binding: String,
    /// The IdP's HTTP-POST SingleSignOnService, when it differs from `saml_idp_sso_url`'s.
    pub saml_idp_sso_post_url: Option<String>,
    /// Whether the Assertion itself must be signed (WantAssertionsSigned).
    #[sqlx(try_from = "super::Flag")]
    pub saml_want_assertions_signed: bool,
}

impl ConnectionRow {
    /// The organization the connection belongs to, as the typed id it was stored as.
    pub fn org_id(&self) -> OrgId {
        OrgId::from_stored(self.organization_id.as_str())
    }

    /// The connection's id, typed.
    pub fn connection_id(&self) -> ConnectionId {
        ConnectionId::from_stored(self.id.as_str())
    }

    /// Whether the IdP's side is filled in: SAML its entity id and SSO URL, OIDC its issuer,
    /// client id and secret. A draft made by the portal's guided setup (so that Lanyard's values
    /// exist before the IdP's) is not, and nobody can sign in through it, test it or activate it.
    pub fn is_configured(&self) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        if self.kind == crate::domain::connection::ConnectionKind::Saml {
            set(&self.saml_idp_entity_id) && set(&self.saml_idp_sso_url)
        } else {
            set(&self.oidc_issuer) && set(&self.oidc_client_id) && set(&self.oidc_client_secret_enc)
        }
    }

    /// The domains the connection is limited to, or `None` when it serves every verified domain
    /// of its organization. A stored value that does not read as a list serves nothing (fail
    /// closed).
    pub fn served_domains(&self) -> Option<Vec<String>> {
        self.domains
            .as_deref()
            .map(|d| serde_json::from_str(d).unwrap_or_default())
    }

    /// Where and how an AuthnRequest goes: (`post`?, URL).
    pub fn sso_endpoint(&self) -> (bool, String) {
        let post = self.saml_authn_request_binding == "post";
        let url = if post {
            self.saml_idp_sso_post_url.clone()
        } else {
            None
        };
        (
            post,
            url.or_else(|| self.saml_idp_sso_url.clone())
                .unwrap_or_default(),
        )
    }

    /// Whether the connection may sign in people of the organization's verified claim `claim`.
    pub fn serves(&self, claim: &str) -> bool {
        self.served_domains()
            .is_none_or(|list| list.iter().any(|d| d == claim))
    }
}

const CONN_COLUMNS: &str = "id, organization_id, kind, name, state, idp, oidc_issuer, oidc_client_id, oidc_client_secret_enc, last_test_at, last_test_ok, created_at, updated_at, saml_idp_entity_id, saml_idp_sso_url, saml_idp_metadata_url, saml_allow_idp_initiated, attribute_mapping, saml_sign_authn_requests, saml_require_encrypted_assertions, domains, saml_single_logout, saml_idp_slo_url, saml_authn_request_binding, saml_idp_sso_post_url, saml_want_assertions_signed";

pub async fn insert_connection(conn: &mut Conn, r: &ConnectionRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO connections ({CONN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.kind)
    .bind(&r.name)
    .bind(&r.state)
    .bind(&r.idp)
    .bind(&r.oidc_issuer)
    .bind(&r.oidc_client_id)
    .bind(&r.oidc_client_secret_enc)
    .bind(r.last_test_at)
    .bind(r.last_test_ok)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(&r.saml_idp_entity_id)
    .bind(&r.saml_idp_sso_url)
    .bind(&r.saml_idp_metadata_url)
    .bind(i64::from(r.saml_allow_idp_initiated))
    .bind(&r.attribute_mapping)
    .bind(i64::from(r.saml_sign_authn_requests))
    .bind(i64::from(r.saml_require_encrypted_assertions))
    .bind(&r.domains)
    .bind(i64::from(r.saml_single_logout))
    .bind(&r.saml_idp_slo_url)
    .bind(&r.saml_authn_request_binding)
    .bind(&r.saml_idp_sso_post_url)
    .bind(i64::from(r.saml_want_assertions_signed))
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn update_connection(
    conn: &mut Conn,
    organization_id: &str,
    r: &ConnectionRow,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE connections SET name = $3, state = $4, idp = $5, oidc_issuer = $6, oidc_client_id = $7, \
         oidc_client_secret_enc = $8, last_test_at = $9, last_test_ok = $10, updated_at = $11, \
         saml_idp_entity_id = $12, saml_idp_sso_url = $13, saml_idp_metadata_url = $14, saml_allow_idp_initiated = $15, \
         attribute_mapping = $16, saml_sign_authn_requests = $17, saml_require_encrypted_assertions = $18, domains = $19, \
         saml_single_logout = $20, saml_idp_slo_url = $21, \
         saml_authn_request_binding = $22, saml_idp_sso_post_url = $23, saml_want_assertions_signed = $24 WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL",
    )
    .bind(&r.id)
    .bind(organization_id)
    .bind(&r.name)
    .bind(&r.state)
    .bind(&r.idp)
    .bind(&r.oidc_issuer)
    .bind(&r.oidc_client_id)
    .bind(&r.oidc_client_secret_enc)
    .bind(r.last_test_at)
    .bind(r.last_test_ok)
    .bind(r.updated_at)
    .bind(&r.saml_idp_entity_id)
    .bind(&r.saml_idp_sso_url)
    .bind(&r.saml_idp_metadata_url)
    .bind(i64::from(r.saml_allow_idp_initiated))
    .bind(&r.attribute_mapping)
    .bind(i64::from(r.saml_sign_authn_requests))
    .bind(i64::from(r.saml_require_encrypted_assertions))
    .bind(&r.domains)
    .bind(i64::from(r.saml_single_logout))
    .bind(&r.saml_idp_slo_url)
    .bind(&r.saml_authn_request_binding)
    .bind(&r.saml_idp_sso_post_url)
    .bind(i64::from(r.saml_want_assertions_signed))
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// An IdP URL its refreshed metadata names that a connection follows.
#[derive(Debug, Clone, Copy)]
pub enum IdpUrl {
    /// The SingleSignOnService.
    Sso,
    /// The HTTP-Redirect SingleLogoutService.
    Slo,
}

/// Follows one of the IdP's URLs to where its refreshed metadata says it is now.
pub async fn set_idp_url(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &ConnectionId,
    which: IdpUrl,
    url: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let column = match which {
        IdpUrl::Sso => "saml_idp_sso_url",
        IdpUrl::Slo => "saml_idp_slo_url",
    };
    sqlx::query(&format!(
        "UPDATE connections SET {column} = $3, updated_at = $4 \
         WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(organization_id)
    .bind(url)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Records a test sign-in's result, only when the connection's settings are still those the test
/// ran against (`updated_at` unchanged): a result never lands on settings it did not test, and no
/// other column is written back.
pub async fn record_test(
    conn: &mut Conn,
    r: &ConnectionRow,
    at: i64,
    ok: bool,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE connections SET last_test_at = $3, last_test_ok = $4 \
         WHERE id = $1 AND organization_id = $2 AND updated_at = $5 AND deleted_at IS NULL",
    )
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(at)
    .bind(i64::from(ok))
    .bind(r.updated_at)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn get_connection(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &ConnectionId,
) -> Result<Option<ConnectionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CONN_COLUMNS} FROM connections WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

/// The organization a live connection id belongs to.
pub async fn connection_owner(
    conn: &mut Conn,
    id: &ConnectionId,
) -> Result<Option<OrgId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.organization_id FROM connections c JOIN organizations o ON o.id = c.organization_id \
         WHERE c.id = $1 AND c.deleted_at IS NULL AND o.deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn list_connections(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<ConnectionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CONN_COLUMNS} FROM connections WHERE organization_id = $1 AND deleted_at IS NULL ORDER BY id"
    ))
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

pub async fn delete_connection(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &ConnectionId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        &format!("UPDATE connections SET deleted_at = $3, state = '{CONNECTION_INACTIVE}', updated_at = $3 WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL"),
    )
    .bind(id)
    .bind(organization_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Filters of a page of connections across organizations.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub organization_id: Option<String>,
    /// (protocol, IdP) pairs; an empty list matches nothing.
    pub kinds: Option<Vec<(&'static str, &'static str)>>,
    /// A domain the connection's organization has verified.
    pub domain: Option<String>,
    /// Part of the name, case-insensitive.
    pub search: Option<String>,
}

/// A page of live connections of live organizations.
pub async fn page(
    conn: &mut Conn,
    keyset: &super::Keyset,
    f: &ListFilter,
) -> Result<Vec<ConnectionRow>, sqlx::Error> {
    if f.kinds.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let mut q = super::Filtered::new(format!(
        "SELECT {CONN_COLUMNS} FROM connections WHERE deleted_at IS NULL \
         AND organization_id IN (SELECT id FROM organizations WHERE deleted_at IS NULL)"
    ));
    if let Some(org) = &f.organization_id {
        q.and("organization_id = {}", org);
    }
    if let Some(kinds) = &f.kinds {
        let alternatives: Vec<String> = kinds
            .iter()
            .map(|(kind, idp)| {
                let k = q.param(*kind);
                let i = q.param(*idp);
                format!("(kind = {k} AND idp = {i})")
            })
            .collect();
        q.raw(&format!("({})", alternatives.join(" OR ")));
    }
    if let Some(domain) = &f.domain {
        q.and(
            "organization_id IN (SELECT organization_id FROM domains WHERE domain = {} AND state = 'verified' AND deleted_at IS NULL)",
            domain,
        );
    }
    if let Some(s) = &f.search {
        q.contains("name", s);
    }
    q.fetch_page(conn, keyset).await
}
