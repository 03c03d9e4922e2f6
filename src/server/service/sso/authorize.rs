//! Starting a sign-in: the vendor's authorize, the admin's test sign-in and an invitation acceptance through SSO.

use crate::domain::connection::{ConnectionKind, ConnectionState};
use crate::domain::ids::{ConnectionId, OrgId};
use crate::domain::sign_in::SignInPurpose;

use crate::server::crypto::hash_secret;
use crate::server::db::{self, sign_in::SsoRequestRow};
use crate::server::error::AppError;
use crate::server::oidc::{self, RpConfig};
use crate::server::service::connections;
use crate::server::state::AppState;

use super::callback::record_failure;
use super::route::{self, Route};
use super::saml::begin_saml;
use super::{page, redirect_allowed, with_query, AuthorizeParams, Next, Origin, REQUEST_TTL_MS};

/// Starts a sign-in for the vendor's product.
pub async fn authorize(state: &AppState, p: AuthorizeParams) -> Result<Next, AppError> {
    let Some(redirect_uri) = p.redirect_uri.clone() else {
        return Ok(page(
            400,
            "Sign-in link is incomplete",
            "The sign-in link has no redirect_uri. Go back to the application and start again.",
        ));
    };
    if !redirect_allowed(state, &redirect_uri).await? {
        // Never redirect to a URI that is not on the allow-list.
        return Ok(page(400, "Sign-in link is not valid", "The application asked to return to an address Lanyard does not know. Tell the application's support."));
    }
    let client_state = p.state.clone();
    let fail = |code: &str, desc: &str| {
        Next::Redirect(with_query(
            &redirect_uri,
            &[("error", code), ("error_description", desc)],
            client_state.as_deref(),
        ))
    };
    if let Some(provider) = p.provider.as_deref().filter(|v| !v.trim().is_empty()) {
        if p.connection.is_none() && p.organization.is_none() {
            return Ok(fail(
                "invalid_request",
                &format!("Lanyard does not provide WorkOS's {provider} sign-in; start the sign-in with organization or connection (an enterprise SSO connection)"),
            ));
        }
    }
    let conn_row = match resolve_connection(state, &p).await? {
        Resolved::Row(r) => *r,
        Resolved::Choose(rows, org) => {
            let mut conn = state.db.pool.acquire().await?;
            let link = |r: &db::connections::ConnectionRow| {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                q.append_pair("organization", &r.organization_id)
                    .append_pair("connection", &r.id)
                    .append_pair("redirect_uri", &redirect_uri);
                if let Some(st) = &p.state {
                    q.append_pair("state", st);
                }
                if let Some(h) = p.login_hint.as_deref().filter(|h| !h.trim().is_empty()) {
                    q.append_pair("login_hint", h);
                }
                format!("/sso/authorize?{}", q.finish())
            };
            return Ok(Next::Choose(
                super::chooser(&mut conn, &org, &rows, link).await?,
            ));
        }
        Resolved::Unserved(domain) => {
            return Ok(fail(
                "access_denied",
                &format!("no active SSO connection of this organization signs in people of {domain}; ask the organization's IT admin to add {domain} to a connection"),
            ))
        }
        Resolved::Nothing => return Ok(fail("invalid_request", "no active SSO connection matches this sign-in; check the organization, connection or email")),
    };
    if conn_row.state != ConnectionState::Active {
        return Ok(fail("access_denied", "this SSO connection is not active"));
    }
    begin_for(
        state,
        conn_row,
        SignInPurpose::Signin,
        Origin {
            redirect_uri: Some(redirect_uri),
            client_state,
            ..Origin::default()
        },
    )
    .await
}

/// What the authorize parameters name.
enum Resolved {
    Row(Box<db::connections::ConnectionRow>),
    /// Several connections could be the person's: they choose.
    Choose(Vec<db::connections::ConnectionRow>, OrgId),
    /// A verified domain of the organization that no active connection serves.
    Unserved(String),
    Nothing,
}

async fn resolve_connection(state: &AppState, p: &AuthorizeParams) -> Result<Resolved, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    if let Some(id) = &p.connection {
        let Some(id) = ConnectionId::parse(id) else {
            return Ok(Resolved::Nothing);
        };
        let Some(org) = db::connections::connection_owner(&mut conn, &id).await? else {
            return Ok(Resolved::Nothing);
        };
        // Both named (the chooser's links): they must agree.
        if p.organization.as_deref().is_some_and(|o| o != org.as_str()) {
            return Ok(Resolved::Nothing);
        }
        return Ok(
            match db::connections::get_connection(&mut conn, &org, &id).await? {
                Some(r) => Resolved::Row(Box::new(r)),
                None => Resolved::Nothing,
            },
        );
    }
    let hint = route::hint_domain(p.login_hint.as_deref(), p.domain_hint.as_deref());
    let org = match (&p.organization, &hint) {
        (Some(o), _) => OrgId::parse(o),
        (None, Some(d)) => {
            drop(conn);
            let owner = crate::server::service::domains::verified_owner_of_email(
                state,
                &format!("person@{}", d.as_str()),
            )
            .await?;
            conn = state.db.pool.acquire().await?;
            owner.as_deref().and_then(OrgId::parse)
        }
        _ => None,
    };
    let Some(org) = org else {
        return Ok(Resolved::Nothing);
    };
    Ok(match route::route(&mut conn, &org, hint.as_ref()).await? {
        Route::One(r) => Resolved::Row(r),
        Route::Choose(rows) => Resolved::Choose(rows, org),
        Route::Unserved(d) => Resolved::Unserved(d),
        Route::NoneActive => Resolved::Nothing,
    })
}

/// Starts the admin's test sign-in of a connection (any state).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn begin_test(
    state: &AppState,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
) -> Result<Next, AppError> {
    let row = connections::get_row(state, organization_id, connection_id).await?;
    begin_for(state, row, SignInPurpose::Test, Origin::default()).await
}

pub(super) fn rp(
    state: &AppState,
    row: &db::connections::ConnectionRow,
) -> Result<RpConfig, AppError> {
    Ok(RpConfig {
        issuer: row.oidc_issuer.clone().unwrap_or_default(),
        client_id: row.oidc_client_id.clone().unwrap_or_default(),
        client_secret: connections::client_secret(&state.secrets, row)?,
        redirect_uri: connections::callback_url(state),
    })
}

/// Starts an invitation acceptance that must go through the organization's SSO connection.
pub async fn begin_invite(
    state: &AppState,
    row: db::connections::ConnectionRow,
    redirect_uri: Option<String>,
    invitation_id: &str,
    token_hash: &str,
) -> Result<Next, AppError> {
    begin_for(
        state,
        row,
        SignInPurpose::Invite,
        Origin {
            redirect_uri,
            invitation: Some((invitation_id.to_owned(), token_hash.to_owned())),
            ..Origin::default()
        },
    )
    .await
}

/// Sends the browser to the connection's IdP, remembering `origin` with the pending sign-in.
pub(crate) async fn begin_for(
    state: &AppState,
    row: db::connections::ConnectionRow,
    purpose: SignInPurpose,
    origin: Origin,
) -> Result<Next, AppError> {
    if !row.is_configured() {
        return Ok(page(
            409,
            "This connection is not set up yet",
            "The identity provider's details have not been entered for this connection. In the setup portal, finish step 2 (the IdP's metadata or values), then run the test sign-in again.",
        ));
    }
    if row.kind == ConnectionKind::Saml {
        return begin_saml(state, row, purpose, origin).await;
    }
    let Origin {
        redirect_uri,
        client_state,
        invitation,
        oauth,
        force_authn,
    } = origin;
    let cfg = rp(state, &row)?;
    let meta = state
        .oidc_cache
        .get(&state.outbound, &cfg.issuer, state.clock.now())
        .await;
    let started = match meta.and_then(|m| oidc::start(m, &cfg, force_authn)) {
        Ok(s) => s,
        Err(f) => {
            record_failure(state, &row, purpose, &f).await?;
            return Ok(match (purpose, redirect_uri) {
                (SignInPurpose::Signin, Some(r)) => Next::Redirect(with_query(
                    &r,
                    &[
                        ("error", "server_error"),
                        (
                            "error_description",
                            "the identity provider could not be reached",
                        ),
                    ],
                    client_state.as_deref(),
                )),
                _ => page(502, "Could not reach the identity provider", f.message),
            });
        }
    };
    let now = state.clock.now();
    let req = SsoRequestRow {
        state_hash: hash_secret(&started.state),
        organization_id: row.organization_id.clone(),
        connection_id: row.id.clone(),
        purpose: purpose.as_str().into(),
        redirect_uri,
        client_state,
        nonce: started.nonce,
        pkce_verifier_enc: state.secrets.seal(
            &started.pkce_verifier,
            &format!("sso_requests:{}", hash_secret(&started.state)),
        ),
        created_at: now,
        expires_at: now + REQUEST_TTL_MS,
        invitation_id: invitation.as_ref().map(|i| i.0.clone()),
        invitation_token_hash: invitation.map(|i| i.1),
        oauth,
        traceparent: crate::server::telemetry::current_traceparent(),
    };
    let mut conn = state.db.pool.acquire().await?;
    db::sign_in::insert_request(&mut conn, &req).await?;
    Ok(Next::Redirect(started.url))
}
