//! The OpenID Provider's endpoints: discovery, authorize, token, userinfo and end-session.

use base64::Engine as _;
use serde::Deserialize;
use tracing::Instrument as _;

use crate::domain::connection::ConnectionState;
use crate::domain::domain_name::{email_domain, DomainName};
use crate::domain::ids::{ConnectionId, MembershipId, OrgId};
use crate::domain::membership::MembershipState;
use crate::domain::sign_in::SignInPurpose;
use crate::server::crypto::{ct_eq, hash_secret};
use crate::server::db::{self, oauth::OauthClientRow};
use crate::server::error::AppError;
use crate::server::service::sso::{self, Next, Origin, SignInResult};
use crate::server::state::AppState;

use super::clients::{self, AuthMethod};
use super::keys::{self, TokenRefusal};
use super::{ClientRequest, TOKEN_TTL_MS};

/// `/.well-known/openid-configuration`.
pub async fn discovery(state: &AppState) -> Result<serde_json::Value, AppError> {
    let base = state.config.base_url();
    Ok(serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
        "jwks_uri": format!("{base}/oauth2/jwks"),
        "end_session_endpoint": format!("{base}/oauth2/end_session"),
        "scopes_supported": ["openid", "email", "profile"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        // No refresh tokens: a client signs the person in again through /oauth2/authorize.
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": keys::signing_algs(state).await?,
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr",
            "email", "email_verified", "name", "given_name", "family_name",
            "org_id", "org_name", "role", "groups", "connection_id", "connection_type"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    }))
}

/// `GET /oauth2/authorize` parameters (RFC 6749, OpenID Connect Core, RFC 7636), and the
/// organization hints `/sso/authorize` takes.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub organization: Option<String>,
    pub connection: Option<String>,
    pub login_hint: Option<String>,
    pub domain_hint: Option<String>,
}

/// What `/oauth2/authorize` answers.
#[derive(Debug, Clone)]
pub enum Authorize {
    /// A redirect (to the IdP, or back to the client with an error) or an error page.
    Next(Next),
    /// The home-realm discovery page: "enter your work email".
    Discover {
        client_name: String,
        /// The client's parameters, carried through the form.
        params: Vec<(&'static str, String)>,
        email: Option<String>,
        error: Option<String>,
    },
}

fn error_redirect(redirect_uri: &str, state: Option<&str>, code: &str, desc: &str) -> Authorize {
    let mut u = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return Authorize::Next(sso::page(400, "Sign-in link is not valid", desc)),
    };
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("error", code);
        q.append_pair("error_description", desc);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    Authorize::Next(Next::Redirect(u.to_string()))
}

/// PKCE code challenges and verifiers: 43 to 128 unreserved characters (RFC 7636).
fn pkce_shaped(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Handles `/oauth2/authorize`.
pub async fn authorize(state: &AppState, p: AuthorizeParams) -> Result<Authorize, AppError> {
    let client = match p.client_id.as_deref() {
        Some(c) => clients::by_client_id(state, c).await?,
        None => None,
    };
    let Some(client) = client else {
        return Ok(Authorize::Next(sso::page(
            400,
            "Unknown application",
            "The application that sent you here is not registered with Lanyard (unknown client_id). Tell the application's support.",
        )));
    };
    let Some(redirect_uri) = p
        .redirect_uri
        .clone()
        .filter(|r| clients::has_redirect_uri(&client, r))
    else {
        // Never redirect to an address the client did not register.
        return Ok(Authorize::Next(sso::page(
            400,
            "Sign-in link is not valid",
            format!(
                "{} asked to return to an address it has not registered with Lanyard (redirect_uri). Tell the application's support.",
                client.name
            ),
        )));
    };
    let st = p.state.as_deref();
    let fail = |code: &str, desc: &str| Ok(error_redirect(&redirect_uri, st, code, desc));
    if st.is_some_and(|s| s.len() > 2048) || p.nonce.as_deref().is_some_and(|n| n.len() > 512) {
        return fail("invalid_request", "state or nonce is too long");
    }
    if p.response_type.as_deref() != Some("code") {
        return fail(
            "unsupported_response_type",
            "only the authorization code flow is supported (response_type=code)",
        );
    }
    if p.response_mode.as_deref().is_some_and(|m| m != "query") {
        return fail("invalid_request", "only response_mode=query is supported");
    }
    let asked = p.scope.clone().unwrap_or_default();
    if !asked.split(' ').any(|s| s == "openid") {
        return fail("invalid_scope", "the scope must include openid");
    }
    // Only the scopes Lanyard supports are granted (and echoed in the access token); others are
    // ignored, as OpenID Connect Core §3.1.2.1 says, so a scope edited into the URL grants nothing.
    let scope = ["openid", "email", "profile"]
        .into_iter()
        .filter(|s| asked.split(' ').any(|a| a == *s))
        .collect::<Vec<_>>()
        .join(" ");
    match (
        p.code_challenge.as_deref(),
        p.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256")) if pkce_shaped(c) => {}
        (Some(_), Some("S256")) => {
            return fail(
                "invalid_request",
                "code_challenge is not a PKCE S256 challenge",
            )
        }
        (Some(_), _) => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            )
        }
        (None, _) if client.token_endpoint_auth_method == AuthMethod::None.as_str() => {
            return fail(
                "invalid_request",
                "a public client must send a PKCE code_challenge (S256)",
            )
        }
        (None, _) => {}
    }
    if p.prompt
        .as_deref()
        .is_some_and(|pr| pr.split(' ').any(|x| x == "none"))
    {
        return fail(
            "login_required",
            "Lanyard keeps no sign-in session: the person must sign in at their identity provider",
        );
    }
    let force_authn = p
        .prompt
        .as_deref()
        .is_some_and(|pr| pr.split(' ').any(|x| x == "login"))
        || p.max_age.as_deref().is_some_and(|m| !m.trim().is_empty());
    if p.max_age
        .as_deref()
        .is_some_and(|m| !m.trim().is_empty() && m.trim().parse::<u64>().is_err())
    {
        return fail("invalid_request", "max_age must be a number of seconds");
    }
    let carry = carried(&p);
    let discover = |email: Option<String>, error: Option<String>| {
        Ok(Authorize::Discover {
            client_name: client.name.clone(),
            params: carry.clone(),
            email,
            error,
        })
    };
    // Which organization: named, by connection, by a hint, or asked on the discovery page.
    let hint_email = p
        .login_hint
        .clone()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            p.domain_hint
                .as_ref()
                .map(|d| format!("person@{}", d.trim()))
        });
    let hint = sso::route::hint_domain(p.login_hint.as_deref(), p.domain_hint.as_deref());
    let routed = if p.connection.is_some() {
        match resolve_named(state, &p).await? {
            Some(r) => sso::route::Route::One(Box::new(r)),
            None => sso::route::Route::NoneActive,
        }
    } else if let Some(org) = &p.organization {
        match OrgId::parse(org) {
            Some(org) => {
                let mut conn = state.db.pool.acquire().await?;
                sso::route::route(&mut conn, &org, hint.as_ref()).await?
            }
            None => sso::route::Route::NoneActive,
        }
    } else if let Some(email) = hint_email {
        let shown = p.login_hint.clone().filter(|h| !h.trim().is_empty());
        let Some(domain) = email_domain(&email) else {
            return discover(
                shown,
                Some("Enter a work email address, e.g. dana@yourcompany.com.".into()),
            );
        };
        if domain.is_consumer_mail() {
            return discover(shown, Some(format!("{} is a personal email provider. Enter the email address your company gave you (e.g. you@yourcompany.com); personal addresses cannot sign in with SSO.", domain.as_str())));
        }
        match by_domain(state, &domain).await? {
            Some(r) => r,
            None => return discover(shown, Some(format!("No organization has set up single sign-on for {}. Check the address, or ask your IT admin whether SSO is set up for your company.", domain.as_str()))),
        }
    } else {
        return discover(None, None);
    };
    let row = match routed {
        sso::route::Route::One(r) => *r,
        sso::route::Route::Choose(rows) => {
            let org = rows[0].org_id();
            // Only for an organization the client is enabled for: the chooser names its IdPs.
            if !clients::allows_org(&client, &org) {
                return fail(
                    "access_denied",
                    "this application is not enabled for your organization",
                );
            }
            let link = |r: &db::connections::ConnectionRow| {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in &carry {
                    q.append_pair(k, v);
                }
                q.append_pair("organization", &r.organization_id)
                    .append_pair("connection", &r.id);
                if let Some(h) = p.login_hint.as_deref().filter(|h| !h.trim().is_empty()) {
                    q.append_pair("login_hint", h);
                }
                format!("/oauth2/authorize?{}", q.finish())
            };
            let mut conn = state.db.pool.acquire().await?;
            return Ok(Authorize::Next(Next::Choose(
                sso::chooser(&mut conn, &org, &rows, link).await?,
            )));
        }
        sso::route::Route::Unserved(domain) => {
            return fail(
                "access_denied",
                &format!(
                    "no active SSO connection of this organization signs in people of {domain}"
                ),
            )
        }
        sso::route::Route::NoneActive => {
            return fail(
                "invalid_request",
                "no SSO connection matches this organization or connection",
            )
        }
    };
    if row.state != ConnectionState::Active {
        return fail("access_denied", "this SSO connection is not active");
    }
    if !clients::allows_org(&client, &row.organization_id) {
        return fail(
            "access_denied",
            "this application is not enabled for your organization",
        );
    }
    let request = ClientRequest {
        client_id: client.client_id.clone(),
        nonce: p.nonce.clone(),
        code_challenge: p.code_challenge.clone(),
        scope,
    };
    let next = sso::begin_for(
        state,
        row,
        SignInPurpose::Signin,
        Origin {
            redirect_uri: Some(redirect_uri.clone()),
            client_state: p.state.clone(),
            invitation: None,
            oauth: Some(serde_json::to_string(&request).unwrap_or_default()),
            // `prompt=login`, or a `max_age` (Lanyard keeps no session, so any maximum age is
            // met by authenticating now): the IdP must not reuse its session.
            force_authn,
        },
    )
    .await?;
    Ok(Authorize::Next(next))
}

/// The client's parameters the discovery form carries (everything but the hints).
fn carried(p: &AuthorizeParams) -> Vec<(&'static str, String)> {
    [
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("response_type", &p.response_type),
        ("response_mode", &p.response_mode),
        ("scope", &p.scope),
        ("state", &p.state),
        ("nonce", &p.nonce),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
        ("prompt", &p.prompt),
        ("max_age", &p.max_age),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
    .collect()
}

async fn resolve_named(
    state: &AppState,
    p: &AuthorizeParams,
) -> Result<Option<db::connections::ConnectionRow>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let Some(id) = p.connection.as_deref().and_then(ConnectionId::parse) else {
        return Ok(None);
    };
    let Some(org) = db::connections::connection_owner(&mut conn, &id).await? else {
        return Ok(None);
    };
    // Both named: they must agree.
    if p.organization.as_deref().is_some_and(|o| o != org.as_str()) {
        return Ok(None);
    }
    Ok(db::connections::get_connection(&mut conn, &org, &id).await?)
}

/// Routes a sign-in by the person's domain: the organization that holds it verified, then the
/// connection bound to it (or the chooser).
async fn by_domain(
    state: &AppState,
    domain: &DomainName,
) -> Result<Option<sso::route::Route>, AppError> {
    let Some(org) = crate::server::service::domains::verified_owner_of_email(
        state,
        &format!("person@{}", domain.as_str()),
    )
    .await?
    else {
        return Ok(None);
    };
    let mut conn = state.db.pool.acquire().await?;
    // An organization without an active connection has not set up SSO (the discovery page says
    // so), as if nobody held the domain.
    Ok(
        match sso::route::route(&mut conn, &OrgId::from_stored(org), Some(domain)).await? {
            sso::route::Route::NoneActive => None,
            r => Some(r),
        },
    )
}

/// The token endpoint's form and the client's credentials from the `Authorization` header.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    #[serde(skip)]
    pub basic: Option<(String, String)>,
}

/// An RFC 6749 error answer.
#[derive(Debug, Clone)]
pub struct TokenError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

fn token_err(status: u16, error: &'static str, description: impl Into<String>) -> TokenError {
    TokenError {
        status,
        error,
        description: description.into(),
    }
}

fn grant_err(description: impl Into<String>) -> TokenError {
    token_err(400, "invalid_grant", description)
}

/// Authenticates the client at the token endpoint.
async fn authenticate(
    state: &AppState,
    r: &TokenRequest,
) -> Result<Result<OauthClientRow, TokenError>, AppError> {
    let bad = || token_err(401, "invalid_client", "client authentication failed");
    let (client_id, secret) = match (&r.basic, &r.client_secret) {
        (Some(_), Some(_)) => {
            return Ok(Err(token_err(
                400,
                "invalid_request",
                "use one client authentication method (HTTP Basic or client_secret in the body), not both",
            )))
        }
        (Some((id, s)), None) => {
            if r.client_id.as_deref().is_some_and(|c| c != id) {
                return Ok(Err(bad()));
            }
            (id.clone(), Some(s.clone()))
        }
        (None, s) => match &r.client_id {
            Some(id) => (id.clone(), s.clone()),
            None => return Ok(Err(bad())),
        },
    };
    let Some(client) = clients::by_client_id(state, &client_id).await? else {
        return Ok(Err(bad()));
    };
    let public = client.token_endpoint_auth_method == AuthMethod::None.as_str();
    let ok = match (&secret, public) {
        (None, true) => true,
        (Some(s), false) => clients::secret_matches(&client, s, state.clock.now()),
        _ => false,
    };
    Ok(if ok { Ok(client) } else { Err(bad()) })
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(openssl::sha::sha256(verifier.as_bytes()))
}

/// Handles `POST /oauth2/token`: the authorization code grant.
pub async fn token(
    state: &AppState,
    r: TokenRequest,
) -> Result<Result<serde_json::Value, TokenError>, AppError> {
    let code_hash = r.code.as_deref().map(hash_secret).unwrap_or_default();
    // The sign-in's trace, when its code is known: the redemption joins it.
    let traceparent = {
        let mut conn = state.db.pool.acquire().await?;
        db::sign_in::peek_oauth_code(&mut conn, &code_hash, state.clock.now())
            .await?
            .and_then(|c| c.traceparent)
    };
    token_grant(state, r)
        .instrument(crate::server::telemetry::span_continuing(
            "sign_in.redeem",
            traceparent.as_deref(),
        ))
        .await
}

async fn token_grant(
    state: &AppState,
    r: TokenRequest,
) -> Result<Result<serde_json::Value, TokenError>, AppError> {
    let client = match authenticate(state, &r).await? {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    match r.grant_type.as_deref() {
        Some("authorization_code") => {}
        Some("refresh_token") => return Ok(Err(token_err(
            400,
            "unsupported_grant_type",
            "Lanyard issues no refresh tokens: sign the person in again through /oauth2/authorize",
        ))),
        _ => {
            return Ok(Err(token_err(
                400,
                "unsupported_grant_type",
                "grant_type must be authorization_code",
            )))
        }
    }
    let Some(code) = r
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 200)
    else {
        return Ok(Err(token_err(400, "invalid_request", "code is required")));
    };
    let now = state.clock.now();
    let code_hash = hash_secret(code);
    let mut conn = state.db.pool.acquire().await?;
    let Some(found) = db::sign_in::peek_oauth_code(&mut conn, &code_hash, now).await? else {
        if db::sign_in::oauth_code_spent(&mut conn, &code_hash).await? {
            return Ok(Err(grant_err(
                "the code was already used (codes are single use)",
            )));
        }
        return Ok(Err(grant_err(
            "the code is unknown or expired (codes last 60 seconds)",
        )));
    };
    let Ok(request) = serde_json::from_str::<ClientRequest>(&found.oauth) else {
        return Ok(Err(grant_err("the code is unknown or expired")));
    };
    // Checked before the code is spent: another client cannot burn it.
    if !ct_eq(&request.client_id, &client.client_id) {
        return Ok(Err(grant_err("the code was issued to another client")));
    }
    if r.redirect_uri.as_deref() != Some(found.redirect_uri.as_str()) {
        return Ok(Err(grant_err(
            "redirect_uri must be the one the authorization request used",
        )));
    }
    match (&request.code_challenge, &r.code_verifier) {
        (Some(ch), Some(v)) if pkce_shaped(v) && ct_eq(&s256(v), ch) => {}
        (Some(_), _) => {
            return Ok(Err(grant_err(
                "code_verifier does not match the code_challenge (PKCE)",
            )))
        }
        (None, Some(_)) => {
            return Ok(Err(grant_err(
                "code_verifier sent but the authorization request had no code_challenge",
            )))
        }
        (None, None) => {}
    }
    if !db::sign_in::spend_oauth_code(&mut conn, &code_hash, now).await? {
        return Ok(Err(grant_err(
            "the code was already used (codes are single use)",
        )));
    }
    let result: SignInResult = serde_json::from_str(&found.result)
        .map_err(|e| AppError::Internal(format!("stored sign-in result: {e}")))?;
    let org = result.profile["organization_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let membership = result.membership["id"].as_str().unwrap_or("").to_owned();
    // Fail closed: suspended after the code was issued, or the client lost the organization.
    if !member_active(&mut conn, &org, &membership).await? {
        return Ok(Err(grant_err(
            "the member's access was suspended after this sign-in began",
        )));
    }
    if !clients::allows_org(&client, &org) {
        return Ok(Err(grant_err(
            "this application is not enabled for the person's organization",
        )));
    }
    db::oauth::touch_client(&mut conn, &client.id, now).await?;
    drop(conn);
    let claims = person_claims(state, &result, &request.scope).await?;
    let (iat, exp) = (now / 1000, (now + TOKEN_TTL_MS) / 1000);
    let base = state.config.base_url();
    let mut id_claims = claims.clone();
    id_claims["iss"] = base.clone().into();
    id_claims["aud"] = client.client_id.clone().into();
    id_claims["iat"] = iat.into();
    id_claims["exp"] = exp.into();
    id_claims["auth_time"] = (found.created_at / 1000).into();
    if let Some(n) = &request.nonce {
        id_claims["nonce"] = n.clone().into();
    }
    let mut at_claims = claims;
    at_claims["iss"] = base.into();
    at_claims["aud"] = client.client_id.clone().into();
    at_claims["client_id"] = client.client_id.clone().into();
    at_claims["scope"] = request.scope.clone().into();
    at_claims["iat"] = iat.into();
    at_claims["exp"] = exp.into();
    at_claims["jti"] = crate::server::crypto::new_secret("").into();
    at_claims["membership_id"] = membership.into();
    let id_token = keys::sign(state, "JWT", &id_claims).await?;
    let access_token = keys::sign(state, "at+jwt", &at_claims).await?;
    Ok(Ok(serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_MS / 1000,
        "id_token": id_token,
        "scope": request.scope,
    })))
}

async fn member_active(conn: &mut db::Conn, org: &str, membership: &str) -> Result<bool, AppError> {
    Ok(db::memberships::membership_state(
        conn,
        &OrgId::from_stored(org),
        &MembershipId::from_stored(membership),
    )
    .await?
    .as_deref()
        == Some(MembershipState::Active.as_str()))
}

/// The claims about the person (shared by the ID token, the access token and UserInfo).
async fn person_claims(
    state: &AppState,
    result: &SignInResult,
    scope: &str,
) -> Result<serde_json::Value, AppError> {
    let profile = &result.profile;
    let org = profile["organization_id"].as_str().unwrap_or("").to_owned();
    let connection = profile["connection_id"].as_str().unwrap_or("").to_owned();
    let email = profile["email"].as_str().unwrap_or("").to_owned();
    let (org_name, connection_type) = {
        let mut conn = state.db.pool.acquire().await?;
        let name = db::organizations::get(&mut conn, &org)
            .await?
            .map(|o| o.name)
            .unwrap_or_default();
        let kind = match db::connections::get_connection(
            &mut conn,
            &OrgId::from_stored(org.as_str()),
            &ConnectionId::from_stored(connection.as_str()),
        )
        .await?
        {
            Some(c) => c.kind.to_string(),
            None => String::new(),
        };
        (name, kind)
    };
    let mut c = serde_json::json!({
        "sub": result.membership["id"],
        "org_id": org,
        "org_name": org_name,
        "role": result.membership["role"],
        "groups": profile.get("groups").cloned().unwrap_or_else(|| serde_json::json!([])),
        "connection_id": connection,
        "connection_type": connection_type,
    });
    let scopes: Vec<&str> = scope.split(' ').collect();
    if scopes.contains(&"email") {
        // Verified only when the organization holds the email's domain verified, and the IdP
        // did not say the address is unverified (a returning identity may have changed its
        // email at a self-service IdP).
        let owner = crate::server::service::domains::verified_owner_of_email(state, &email).await?;
        let idp_unverified = matches!(
            &profile["raw_attributes"]["email_verified"],
            serde_json::Value::Bool(false)
        ) || profile["raw_attributes"]["email_verified"] == "false";
        c["email"] = email.into();
        c["email_verified"] = (owner.as_deref() == Some(org.as_str()) && !idp_unverified).into();
    }
    if scopes.contains(&"profile") {
        let given = profile["first_name"].as_str().unwrap_or("");
        let family = profile["last_name"].as_str().unwrap_or("");
        let name = format!("{given} {family}").trim().to_owned();
        if !given.is_empty() {
            c["given_name"] = given.into();
        }
        if !family.is_empty() {
            c["family_name"] = family.into();
        }
        if !name.is_empty() {
            c["name"] = name.into();
        }
    }
    if let Some(amr) = profile["raw_attributes"]
        .get("amr")
        .filter(|a| a.is_array())
    {
        c["amr"] = amr.clone();
    }
    Ok(c)
}

/// Handles `/oauth2/userinfo` with the access token: the person's claims, while their
/// membership is active. `Err` carries the `WWW-Authenticate` error.
pub async fn userinfo(
    state: &AppState,
    bearer: Option<&str>,
) -> Result<Result<serde_json::Value, &'static str>, AppError> {
    let Some(token) = bearer.filter(|t| !t.is_empty() && t.len() < 16_384) else {
        return Ok(Err("invalid_request"));
    };
    let claims = match keys::verify(state, "at+jwt", token).await? {
        Ok(c) => c,
        Err(
            TokenRefusal::Malformed
            | TokenRefusal::Algorithm
            | TokenRefusal::UnknownKey
            | TokenRefusal::Signature
            | TokenRefusal::WrongType,
        ) => return Ok(Err("invalid_token")),
    };
    let now = state.clock.now() / 1000;
    if claims["exp"].as_i64().is_none_or(|e| e <= now)
        || claims["iss"].as_str() != Some(state.config.base_url().as_str())
    {
        return Ok(Err("invalid_token"));
    }
    let org = claims["org_id"].as_str().unwrap_or("").to_owned();
    let membership = claims["membership_id"].as_str().unwrap_or("").to_owned();
    // The client must still exist and still be enabled for the organization: deleting it, or
    // taking the organization off its list, ends its tokens' use at once.
    let client = claims["client_id"].as_str().unwrap_or("");
    match clients::by_client_id(state, client).await? {
        Some(row) if clients::allows_org(&row, &org) => {}
        _ => return Ok(Err("invalid_token")),
    }
    let mut conn = state.db.pool.acquire().await?;
    if !member_active(&mut conn, &org, &membership).await? {
        return Ok(Err("invalid_token"));
    }
    // The role as it is now (a directory move or an admin's change since the sign-in).
    let role = db::memberships::role_of(
        &mut conn,
        &OrgId::from_stored(&org),
        &MembershipId::from_stored(&membership),
    )
    .await?;
    let mut out = claims;
    if let (Some(role), Some(o)) = (role, out.as_object_mut()) {
        o.insert("role".into(), role.into());
    }
    if let Some(o) = out.as_object_mut() {
        for k in [
            "iss",
            "aud",
            "exp",
            "iat",
            "jti",
            "client_id",
            "scope",
            "membership_id",
        ] {
            o.remove(k);
        }
    }
    Ok(Ok(out))
}

/// `/oauth2/end_session` parameters (RP-initiated logout).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EndSessionParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

/// What end-session does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSession {
    Redirect(String),
    /// The signed-out page (and, when the return address was refused, why).
    SignedOut(Option<String>),
}

/// Handles `/oauth2/end_session`. Lanyard keeps no end-user session, so there is nothing to
/// clear: it returns to a registered post-logout URI of the client, or shows a signed-out page.
pub async fn end_session(state: &AppState, p: EndSessionParams) -> Result<EndSession, AppError> {
    let Some(uri) = p.post_logout_redirect_uri.clone() else {
        return Ok(EndSession::SignedOut(None));
    };
    // The client: named, or the audience of the ID token hint (signed by Lanyard; an expired
    // hint still names its client).
    let mut client_id = p.client_id.clone();
    if let Some(hint) = &p.id_token_hint {
        match keys::verify(state, "JWT", hint).await? {
            Ok(claims) => {
                let aud = claims["aud"].as_str().map(str::to_owned);
                if client_id.is_some() && client_id != aud {
                    return Ok(EndSession::SignedOut(Some(
                        "The ID token hint was issued to another application.".into(),
                    )));
                }
                client_id = aud;
            }
            Err(_) => {
                return Ok(EndSession::SignedOut(Some(
                    "The ID token hint is not one Lanyard issued.".into(),
                )))
            }
        }
    }
    let client = match client_id {
        Some(c) => clients::by_client_id(state, &c).await?,
        None => None,
    };
    match client {
        Some(c) if clients::has_post_logout_uri(&c, &uri) => {
            let mut u = url::Url::parse(&uri)
                .map_err(|e| AppError::Internal(format!("registered URI: {e}")))?;
            if let Some(s) = &p.state {
                u.query_pairs_mut().append_pair("state", s);
            }
            Ok(EndSession::Redirect(u.to_string()))
        }
        _ => Ok(EndSession::SignedOut(Some(
            "The application asked to return to an address it has not registered with Lanyard, so you stay here.".into(),
        ))),
    }
}
