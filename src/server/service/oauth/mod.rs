//! Lanyard as a standard OpenID Provider: any OIDC client library signs the vendor's users in
//! through their company's IdP. `/oauth2/authorize` picks the organization (parameters, a hint,
//! or the home-realm discovery page) and starts the same sign-in as `/sso/authorize`; the
//! connection's callback admits the person by the same rules and leaves a code bound to the
//! client, its redirect URI and its PKCE challenge; `/oauth2/token` redeems it for an ID token
//! and an access token signed with Lanyard's own keys ([`keys`]).

use serde::{Deserialize, Serialize};

pub mod clients;
mod flow;
pub mod keys;

pub use flow::{
    authorize, discovery, end_session, token, userinfo, Authorize, AuthorizeParams, EndSession,
    EndSessionParams, TokenError, TokenRequest,
};

/// Lifetime of ID and access tokens.
pub const TOKEN_TTL_MS: i64 = 60 * 60 * 1000;

/// What an OAuth client asked for, kept with the pending sign-in and its code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRequest {
    pub client_id: String,
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    pub scope: String,
}

/// The client id of a pending sign-in's OAuth request (`sso_requests.oauth`), if any.
pub(crate) fn client_id_of(oauth: Option<&str>) -> Option<String> {
    oauth
        .and_then(|o| serde_json::from_str::<ClientRequest>(o).ok())
        .map(|c| c.client_id)
}
