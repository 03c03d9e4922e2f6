//! The sign-in flow for the vendor's product and the admin's test sign-in: authorize → IdP →
//! callback → JIT policy → one-time code → `POST /api/v1/sso/token`.

use serde::{Deserialize, Serialize};

use crate::server::db;
use crate::server::error::AppError;
use crate::server::state::AppState;

mod admit;
mod authorize;
mod callback;
pub(crate) mod logout;
mod redirect_uris;
pub(crate) mod route;
mod saml;
mod token;

pub(crate) use admit::admission;
pub use admit::Admit;
pub(crate) use authorize::begin_for;
pub use authorize::{authorize, begin_invite, begin_test};
pub(crate) use callback::record_failure;
pub use callback::{callback, last_test};
pub use logout::{
    logout_at_idp, oidc_logout_return, purge_sessions, saml_slo, start_logout, LogoutRequest,
    LogoutStart,
};
pub(crate) use redirect_uris::check_redirect_uri;
pub use redirect_uris::{add_redirect_uri, list_redirect_uris, remove_redirect_uri, RedirectUri};
pub(crate) use saml::default_redirect;
pub use saml::{saml_acs, sp_metadata, AcsForm};
pub use token::{exchange_code, hand_off};

/// How long the browser has to come back from the IdP.
pub const REQUEST_TTL_MS: i64 = 10 * 60 * 1000;
/// How long the vendor has to redeem a code.
pub const CODE_TTL_MS: i64 = 60 * 1000;

/// `GET /sso/authorize` parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub organization: Option<String>,
    pub connection: Option<String>,
    pub login_hint: Option<String>,
    /// The person's domain, when the application knows it but not the address.
    pub domain_hint: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    /// WorkOS's `provider` (`GoogleOAuth`, `MicrosoftOAuth`, …): WorkOS's own social sign-in,
    /// which Lanyard does not provide. Named alone, it is refused with a message that says so.
    pub provider: Option<String>,
}

/// Where a sign-in returns and for whom, kept with the pending sign-in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    /// The vendor's (or the OAuth client's) redirect URI.
    pub redirect_uri: Option<String>,
    pub client_state: Option<String>,
    /// An invitation accepted through SSO: (invitation id, link hash).
    pub invitation: Option<(String, String)>,
    /// The OAuth client's request (JSON) when Lanyard's OpenID Provider started it.
    pub oauth: Option<String>,
    /// The person must authenticate afresh at the IdP (an OAuth client's `prompt=login` or
    /// `max_age`): OIDC `prompt=login`, SAML `ForceAuthn="true"`.
    pub force_authn: bool,
}

/// The callback's query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Where the browser goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Redirect(String),
    /// An error page: status, title, message.
    Page(u16, String, String),
    /// The organization has several identity providers and nothing says which is the person's.
    Choose(Chooser),
    /// An HTTP-POST binding message: a form the browser posts to `action` (by itself when
    /// JavaScript is on, by a button when it is off).
    Post {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// The page where a person picks their identity provider: plain links (no JavaScript needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chooser {
    pub organization: String,
    pub options: Vec<Choice>,
}

/// One identity provider on the chooser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub name: String,
    /// The kind of IdP and protocol.
    pub detail: String,
    /// Where the link goes: the same sign-in, naming this connection.
    pub href: String,
}

/// The chooser for `rows`, each linking to `href(row)`.
pub(crate) async fn chooser(
    conn: &mut db::Conn,
    org: &crate::domain::ids::OrgId,
    rows: &[db::connections::ConnectionRow],
    href: impl Fn(&db::connections::ConnectionRow) -> String,
) -> Result<Chooser, AppError> {
    let organization = db::organizations::get(conn, org)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    Ok(Chooser {
        organization,
        options: rows
            .iter()
            .map(|r| Choice {
                name: r.name.clone(),
                detail: route::chooser_detail(r),
                href: href(r),
            })
            .collect(),
    })
}

/// What `POST /api/v1/sso/token` returns.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignInResult {
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
    #[schema(value_type = Object)]
    pub membership: serde_json::Value,
}

pub(crate) fn page(status: u16, title: &str, message: impl Into<String>) -> Next {
    Next::Page(status, title.into(), message.into())
}

/// `base` with `pairs` added to its query, and the client's `state` when it sent one (RFC 6749
/// §4.1.2: returned exactly when the request had it; an empty `state=` breaks strict clients).
fn with_query(base: &str, pairs: &[(&str, &str)], client_state: Option<&str>) -> String {
    let mut u = match url::Url::parse(base) {
        Ok(u) => u,
        Err(_) => return base.to_owned(),
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(st) = client_state {
            q.append_pair("state", st);
        }
    }
    u.to_string()
}

pub(crate) async fn redirect_allowed(state: &AppState, uri: &str) -> Result<bool, AppError> {
    if state.config.redirect_uris.iter().any(|u| u == uri) {
        return Ok(true);
    }
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::redirect_uris::redirect_uri_allowed(&mut conn, uri).await?)
}
