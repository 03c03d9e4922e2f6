//! The sign-in flow for the vendor's product and the admin's test sign-in: authorize → IdP →
//! callback → JIT policy → one-time code → `POST /api/v1/sso/token`.

use crate::domain::connection::{ConnectionKind, ConnectionState};
use crate::domain::event_type::EventType;
use crate::domain::membership::{GrantKind, MembershipState};
use serde::{Deserialize, Serialize};

use super::membership_lifecycle::{self as lifecycle, Change, Record, RowWrite};
use super::policy::Trace;
use crate::domain::domain_name::email_domain;
use crate::domain::ids::IdKind;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::crypto::{hash_secret, new_secret};
use crate::server::db::{self, sign_in::SsoRequestRow, Conn};
use crate::server::error::AppError;
use crate::server::oidc::{self, Identity, OidcFailure, RpConfig};
use crate::server::service::connections;
use crate::server::state::AppState;

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
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
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

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut u = match url::Url::parse(base) {
        Ok(u) => u,
        Err(_) => return base.to_owned(),
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
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
    let client_state = p.state.clone().unwrap_or_default();
    let fail = |code: &str, desc: &str| {
        Next::Redirect(with_query(
            &redirect_uri,
            &[
                ("error", code),
                ("error_description", desc),
                ("state", &client_state),
            ],
        ))
    };
    let conn_row = match resolve_connection(state, &p).await? {
        Some(r) => r,
        None => return Ok(fail("invalid_request", "no active SSO connection matches this sign-in; check the organization, connection or email")),
    };
    if conn_row.state != ConnectionState::Active {
        return Ok(fail("access_denied", "this SSO connection is not active"));
    }
    begin(
        state,
        conn_row,
        "signin",
        Some(redirect_uri),
        Some(client_state),
    )
    .await
}

async fn resolve_connection(
    state: &AppState,
    p: &AuthorizeParams,
) -> Result<Option<db::connections::ConnectionRow>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    if let Some(id) = &p.connection {
        let Some(org) = db::connections::connection_owner(&mut conn, id).await? else {
            return Ok(None);
        };
        return Ok(db::connections::get_connection(&mut conn, &org, id).await?);
    }
    let org = match (&p.organization, &p.login_hint) {
        (Some(o), _) => Some(o.clone()),
        (None, Some(email)) => {
            drop(conn);
            let owner = super::domains::verified_owner_of_email(state, email).await?;
            conn = state.db.pool.acquire().await?;
            owner
        }
        _ => None,
    };
    let Some(org) = org else { return Ok(None) };
    Ok(db::connections::list_connections(&mut conn, &org)
        .await?
        .into_iter()
        .find(|c| c.state == ConnectionState::Active))
}

/// Starts the admin's test sign-in of a connection (any state).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn begin_test(
    state: &AppState,
    organization_id: &str,
    connection_id: &str,
) -> Result<Next, AppError> {
    let row = connections::get_row(state, organization_id, connection_id).await?;
    begin(state, row, "test", None, None).await
}

fn rp(state: &AppState, row: &db::connections::ConnectionRow) -> Result<RpConfig, AppError> {
    Ok(RpConfig {
        issuer: row.oidc_issuer.clone().unwrap_or_default(),
        client_id: row.oidc_client_id.clone().unwrap_or_default(),
        client_secret: connections::client_secret(&state.secrets, row)?,
        redirect_uri: connections::callback_url(state),
    })
}

async fn begin(
    state: &AppState,
    row: db::connections::ConnectionRow,
    purpose: &str,
    redirect_uri: Option<String>,
    client_state: Option<String>,
) -> Result<Next, AppError> {
    begin_for(state, row, purpose, redirect_uri, client_state, None).await
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
        "invite",
        redirect_uri,
        None,
        Some((invitation_id.to_owned(), token_hash.to_owned())),
    )
    .await
}

async fn begin_for(
    state: &AppState,
    row: db::connections::ConnectionRow,
    purpose: &str,
    redirect_uri: Option<String>,
    client_state: Option<String>,
    invitation: Option<(String, String)>,
) -> Result<Next, AppError> {
    if row.kind == ConnectionKind::Saml {
        return begin_saml(state, row, purpose, redirect_uri, client_state, invitation).await;
    }
    let cfg = rp(state, &row)?;
    let meta = state
        .oidc_cache
        .get(&state.outbound, &cfg.issuer, state.clock.now())
        .await;
    let started = match meta.and_then(|m| oidc::start(m, &cfg)) {
        Ok(s) => s,
        Err(f) => {
            record_failure(state, &row, purpose, &f).await?;
            return Ok(match (purpose, redirect_uri) {
                ("signin", Some(r)) => Next::Redirect(with_query(
                    &r,
                    &[
                        ("error", "server_error"),
                        (
                            "error_description",
                            "the identity provider could not be reached",
                        ),
                        ("state", client_state.as_deref().unwrap_or("")),
                    ],
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
        purpose: purpose.into(),
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
    };
    let mut conn = state.db.pool.acquire().await?;
    db::sign_in::insert_request(&mut conn, &req).await?;
    Ok(Next::Redirect(started.url))
}

pub(crate) async fn record_failure(
    state: &AppState,
    row: &db::connections::ConnectionRow,
    purpose: &str,
    f: &OidcFailure,
) -> Result<(), AppError> {
    record_failure_with(state, row, purpose, f, None).await
}

/// Records a failed sign-in with its evidence (SAML: expected vs received values).
async fn record_failure_with(
    state: &AppState,
    row: &db::connections::ConnectionRow,
    purpose: &str,
    f: &OidcFailure,
    evidence: Option<&serde_json::Value>,
) -> Result<(), AppError> {
    let mut stored = serde_json::to_value(f).unwrap_or_default();
    if let Some(e) = evidence {
        stored["evidence"] = e.clone();
    }
    let now = state.clock.now();
    let mut tx =
        AuditedTx::begin(&state.db, &Actor::system(), &RequestContext::default(), now).await?;
    db::sign_in::insert_attempt(
        tx.conn(),
        &db::new_id(IdKind::LoginAttempt),
        &row.organization_id,
        &row.id,
        purpose,
        "failed",
        Some(&f.reason),
        &stored.to_string(),
        now,
    )
    .await?;
    if purpose == "test" {
        let mut r = row.clone();
        r.last_test_at = Some(now);
        r.last_test_ok = Some(0);
        db::connections::update_connection(tx.conn(), &row.organization_id, &r).await?;
    }
    tx.record(
        Some(&row.organization_id),
        EventType::AuthenticationFailed,
        vec![Target::new("connection", &row.id, Some(&row.name))],
        serde_json::json!({ "purpose": purpose, "reason": f.reason, "detail": f.message }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Handles the IdP's redirect back.
pub async fn callback(
    state: &AppState,
    ctx: &RequestContext,
    p: CallbackParams,
) -> Result<Next, AppError> {
    let now = state.clock.now();
    let Some(st) = p.state.clone().filter(|s| !s.is_empty() && s.len() < 512) else {
        return Ok(page(
            400,
            "Sign-in could not be completed",
            "The identity provider sent no state. Start the sign-in again from the application.",
        ));
    };
    let req = {
        let mut conn = state.db.pool.acquire().await?;
        db::sign_in::take_request(&mut conn, &hash_secret(&st), now).await?
    };
    let Some(req) = req else {
        return Ok(page(400, "Sign-in could not be completed", "This sign-in is unknown, expired or was already completed (state mismatch). Start the sign-in again from the application."));
    };
    let row = connections::get_row(state, &req.organization_id, &req.connection_id).await?;
    let identity = finish(state, &row, &req, &p).await.map_err(|f| (f, None));
    conclude(state, ctx, &row, &req, identity).await
}

/// After the IdP answered (OIDC callback or SAML ACS): records a test, or applies the JIT
/// policy and hands the vendor a one-time code; failures are recorded with their evidence.
async fn conclude(
    state: &AppState,
    ctx: &RequestContext,
    row: &db::connections::ConnectionRow,
    req: &SsoRequestRow,
    identity: Result<Identity, (OidcFailure, Option<serde_json::Value>)>,
) -> Result<Next, AppError> {
    let now = state.clock.now();
    let fail_to = |f: &OidcFailure| -> Next {
        match (&req.redirect_uri, req.purpose.as_str()) {
            (Some(r), "signin") => Next::Redirect(with_query(
                r,
                &[
                    ("error", "access_denied"),
                    ("error_description", &f.message),
                    ("state", req.client_state.as_deref().unwrap_or("")),
                ],
            )),
            (None, "signin") => page(
                403,
                "Sign-in refused",
                format!(
                    "{} Start the sign-in again from the application.",
                    f.message
                ),
            ),
            (_, "invite") => page(
                403,
                "The invitation was not accepted",
                format!(
                    "{} Open the invitation link from your email again.",
                    f.message
                ),
            ),
            _ => Next::Redirect(format!("/portal/sso?connection={}", row.id)),
        }
    };
    let identity = match identity {
        Ok(i) => i,
        Err((f, evidence)) => {
            record_failure_with(state, row, &req.purpose, &f, evidence.as_ref()).await?;
            return Ok(fail_to(&f));
        }
    };
    if req.purpose == "test" {
        let mut tx = AuditedTx::begin(&state.db, &Actor::system(), ctx, now).await?;
        db::sign_in::insert_attempt(
            tx.conn(),
            &db::new_id(IdKind::LoginAttempt),
            &row.organization_id,
            &row.id,
            "test",
            "succeeded",
            None,
            &serde_json::to_string(&identity).unwrap_or_default(),
            now,
        )
        .await?;
        let mut r = row.clone();
        r.last_test_at = Some(now);
        r.last_test_ok = Some(1);
        db::connections::update_connection(tx.conn(), &row.organization_id, &r).await?;
        tx.record(
            Some(&row.organization_id),
            EventType::ConnectionTested,
            vec![Target::new("connection", &row.id, Some(&row.name))],
            serde_json::json!({ "subject": identity.subject, "email": identity.email }),
        )
        .await?;
        tx.commit().await?;
        return Ok(Next::Redirect(format!("/portal/sso?connection={}", row.id)));
    }
    if req.purpose == "invite" {
        return super::invitations::accept_after_sso(state, ctx, row, req, &identity).await;
    }
    if req.redirect_uri.is_none() {
        // IdP-initiated with nowhere to go: refuse before admitting anyone.
        let f = OidcFailure {
            reason: "no_redirect_uri".into(),
            message: "Lanyard does not know which application to return to: set RelayState in the IdP to an allow-listed redirect URI, or add one to LANYARD_REDIRECT_URIS".into(),
        };
        record_failure(state, row, "signin", &f).await?;
        return Ok(fail_to(&f));
    }
    match admit(state, ctx, row, &identity).await? {
        Err(f) => {
            record_failure(state, row, "signin", &f).await?;
            Ok(fail_to(&f))
        }
        Ok(result) => {
            let redirect_uri = req.redirect_uri.clone().unwrap_or_default();
            hand_off(
                state,
                &row.organization_id,
                &row.id,
                &redirect_uri,
                req.client_state.as_deref(),
                &result,
            )
            .await
        }
    }
}

/// Gives the vendor's product a one-time code for `result` at `redirect_uri` (SSO sign-ins and
/// invitation acceptances end here alike).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn hand_off(
    state: &AppState,
    organization_id: &str,
    connection_id: &str,
    redirect_uri: &str,
    client_state: Option<&str>,
    result: &SignInResult,
) -> Result<Next, AppError> {
    let now = state.clock.now();
    let code = new_secret("lanyard_code_");
    let mut conn = state.db.pool.acquire().await?;
    db::sign_in::insert_code(
        &mut conn,
        &hash_secret(&code),
        organization_id,
        connection_id,
        redirect_uri,
        &serde_json::to_string(result).unwrap_or_default(),
        result.membership.get("id").and_then(|v| v.as_str()),
        now,
        now + CODE_TTL_MS,
    )
    .await?;
    Ok(Next::Redirect(with_query(
        redirect_uri,
        &[("code", &code), ("state", client_state.unwrap_or(""))],
    )))
}

async fn finish(
    state: &AppState,
    row: &db::connections::ConnectionRow,
    req: &SsoRequestRow,
    p: &CallbackParams,
) -> Result<Identity, OidcFailure> {
    if let Some(e) = &p.error {
        return Err(OidcFailure {
            reason: "idp_error".into(),
            message: format!(
                "the identity provider answered {e}{}",
                p.error_description
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
        });
    }
    let cfg = rp(state, row).map_err(|_| OidcFailure {
        reason: "configuration".into(),
        message: "the connection's client secret cannot be read; enter it again".into(),
    })?;
    // RFC 9207: when the IdP names itself in the response, it must be the configured issuer.
    if let Some(iss) = &p.iss {
        if iss.trim_end_matches('/') != cfg.issuer.trim_end_matches('/') {
            return Err(OidcFailure {
                reason: "issuer_mismatch".into(),
                message: format!(
                    "expected issuer {}, the response came from {iss}",
                    cfg.issuer
                ),
            });
        }
    }
    let Some(code) = &p.code else {
        return Err(OidcFailure {
            reason: "missing_code".into(),
            message: "the identity provider returned no authorization code".into(),
        });
    };
    let verifier = state
        .secrets
        .open(
            &req.pkce_verifier_enc,
            &format!("sso_requests:{}", req.state_hash),
        )
        .ok_or_else(|| OidcFailure {
            reason: "configuration".into(),
            message: "the pending sign-in cannot be read".into(),
        })?;
    oidc::finish(
        &state.outbound,
        &state.oidc_cache,
        state.clock.now(),
        &cfg,
        code,
        &req.nonce,
        &verifier,
    )
    .await
}

/// Who a sign-in admits: an identity seen before, a member found by email (linked to this
/// connection), or a new member by JIT.
#[derive(Debug, Clone)]
pub enum Admit {
    Returning {
        user_id: String,
        membership_id: String,
        role: String,
    },
    Link {
        user_id: String,
        membership_id: String,
        role: String,
        domain: String,
    },
    Jit {
        role: String,
        domain: String,
    },
}

impl Admit {
    /// The role the person signs in with.
    pub fn role(&self) -> &str {
        match self {
            Admit::Returning { role, .. } | Admit::Link { role, .. } | Admit::Jit { role, .. } => {
                role
            }
        }
    }
}

/// The sign-in decision (the JIT policy), shared by the sign-in itself and the policy
/// simulator; every step is written to `trace`. A returning identity signs in if its membership
/// is active. A new one becomes a member only through an active connection of this organization,
/// with JIT provisioning on and an email on one of its verified (not lapsed) domains. When a
/// directory is authoritative, only people it provisioned and keeps active get in.
pub(crate) async fn admission(
    conn: &mut Conn,
    row: &db::connections::ConnectionRow,
    email: Option<&str>,
    subject: Option<&str>,
    t: &mut Trace,
) -> Result<Result<Admit, OidcFailure>, AppError> {
    let org = &row.organization_id;
    let refuse = |t: &mut Trace, rule: &str, reason: &str, message: String| {
        t.deny(rule, message.clone());
        Ok(Err(OidcFailure {
            reason: reason.into(),
            message,
        }))
    };
    if row.state != ConnectionState::Active {
        return refuse(
            t,
            "connection",
            "connection_inactive",
            format!("the SSO connection {} is not active", row.name),
        );
    }
    t.allow(
        "connection",
        format!(
            "{} connection {} is active",
            row.kind.to_uppercase(),
            row.name
        ),
    );
    let Some(email) = email.map(|e| e.trim().to_lowercase()) else {
        return refuse(t, "email", "no_email", "your identity provider did not send an email address; ask your IT admin to release the email claim".into());
    };
    let existing = match subject {
        Some(sub) => db::users::identity_membership(conn, org, &row.id, sub).await?,
        None => None,
    };
    let by_email = db::users::member_by_email(conn, org, &email).await?;
    let known_user = existing
        .as_ref()
        .or(by_email.as_ref())
        .map(|m| m.user_id.clone());
    match super::directories::gate(conn, org, known_user.as_deref(), &email).await? {
        Some((reason, message)) => return refuse(t, "directory", reason, message.into()),
        None if db::directories::has_authoritative(conn, org).await? => t.allow(
            "directory",
            format!("the authoritative directory provisions {email} and keeps them active"),
        ),
        None => t.info("directory", "no directory is authoritative"),
    }
    if let Some(db::users::UserMembership {
        user_id: u,
        membership_id: m,
        role: r,
        state: st,
    }) = existing
    {
        if st != MembershipState::Active {
            return refuse(
                t,
                "membership",
                "membership_suspended",
                "your access to this organization is suspended; contact your IT admin".into(),
            );
        }
        t.allow("membership", format!("returning member with role {r}"));
        return Ok(Ok(Admit::Returning {
            user_id: u,
            membership_id: m,
            role: r,
        }));
    }
    let Some(domain) = email_domain(&email) else {
        return refuse(
            t,
            "email",
            "invalid_email",
            "the email address your identity provider sent is not valid".into(),
        );
    };
    let domain = domain.as_str().to_owned();
    let holders = super::domains::holders_of_email(conn, &email).await?;
    if holders.first().map(String::as_str) != Some(org.as_str()) {
        return refuse(t, "domain", "domain_not_verified", format!("{domain} is not a verified domain of this organization, so you cannot join it by signing in; ask your IT admin for an invitation"));
    }
    t.allow(
        "domain",
        format!("{domain} is verified by this organization"),
    );
    match by_email {
        Some(db::users::UserMembership { state: st, .. }) if st != MembershipState::Active => {
            refuse(
                t,
                "membership",
                "membership_suspended",
                "your access to this organization is suspended; contact your IT admin".into(),
            )
        }
        Some(db::users::UserMembership {
            user_id: u,
            membership_id: m,
            role: r,
            ..
        }) => {
            t.allow(
                "membership",
                format!("{email} is already a member (role {r}): this sign-in is linked to them by verified email"),
            );
            Ok(Ok(Admit::Link {
                user_id: u,
                membership_id: m,
                role: r,
                domain,
            }))
        }
        None => {
            let policy = super::policy::load(conn, org).await?;
            if !policy.jit_enabled {
                return refuse(t, "jit", "jit_disabled", format!("{email} is not a member yet and this organization does not add people when they first sign in; ask your IT admin for an invitation"));
            }
            let role = db::organizations::get(conn, org)
                .await?
                .map(|o| o.default_role)
                .unwrap_or_else(|| "member".into());
            t.allow(
                "jit",
                format!("JIT provisioning is on: {email} joins with the default role {role}"),
            );
            Ok(Ok(Admit::Jit { role, domain }))
        }
    }
}

/// Runs the sign-in decision and writes what it admits.
async fn admit(
    state: &AppState,
    ctx: &RequestContext,
    row: &db::connections::ConnectionRow,
    id: &Identity,
) -> Result<Result<SignInResult, OidcFailure>, AppError> {
    let org = &row.organization_id;
    let now = state.clock.now();
    let email = id
        .email
        .clone()
        .map(|e| e.trim().to_lowercase())
        .unwrap_or_default();
    let raw = id.raw.to_string();
    let actor = Actor {
        kind: crate::domain::actor::ActorKind::User,
        id: format!("{}:{}", row.id, id.subject),
        name: email.clone(),
    };
    let mut tx = AuditedTx::begin(&state.db, &actor, ctx, now).await?;
    // On PostgreSQL the decision reads the membership without a lock, so a directory suspension
    // could commit between it and the writes below. A returning or linked member's row is locked,
    // then the decision is made again: it sees any suspension that committed first, and one that
    // comes later waits for this sign-in and then voids its code.
    let mut locked = false;
    let decided = loop {
        let decided = admission(
            tx.conn(),
            row,
            id.email.as_deref(),
            Some(&id.subject),
            &mut Trace::default(),
        )
        .await?;
        if let Ok(Admit::Returning { membership_id, .. } | Admit::Link { membership_id, .. }) =
            &decided
        {
            if !locked {
                let m = membership_id.clone();
                // Decide again only when a lock was taken (PostgreSQL).
                if db::memberships::lock_membership(tx.conn(), org, &m).await? {
                    locked = true;
                    continue;
                }
            }
        }
        break decided;
    };
    let admitted = match decided {
        Err(f) => {
            drop(tx);
            return Ok(Err(f));
        }
        Ok(a) => a,
    };
    let grant = |domain: &str| serde_json::json!({ "connection_id": row.id, "connection_name": row.name, "connection_kind": row.kind, "domain": domain });
    let (user_id, membership_id, role) = match admitted {
        Admit::Returning {
            user_id,
            membership_id,
            role,
        } => {
            db::users::touch_identity(tx.conn(), &row.id, &id.subject, &email, &raw, now).await?;
            (user_id, membership_id, role)
        }
        Admit::Link {
            user_id,
            membership_id,
            role,
            domain,
        } => {
            // Same person through a second connection: link by verified email on a verified domain.
            db::users::insert_identity(
                tx.conn(),
                &row.id,
                &id.subject,
                org,
                &user_id,
                &email,
                &raw,
                now,
            )
            .await?;
            lifecycle::apply(
                &mut tx,
                Change {
                    organization_id: org,
                    membership_id: &membership_id,
                    label: &email,
                    rows: vec![],
                    revoke_invitations_to: None,
                    records: vec![Record::Grant {
                        kind: GrantKind::JitLink,
                        role: &role,
                        detail: grant(&domain),
                    }],
                },
            )
            .await?;
            (user_id, membership_id, role)
        }
        Admit::Jit { role, domain } => {
            let u = db::new_id(IdKind::User);
            let m = db::new_id(IdKind::Membership);
            db::users::insert_user(
                tx.conn(),
                &u,
                org,
                &email,
                id.first_name.as_deref(),
                id.last_name.as_deref(),
                now,
            )
            .await?;
            db::users::insert_identity(tx.conn(), &row.id, &id.subject, org, &u, &email, &raw, now)
                .await?;
            lifecycle::apply(
                &mut tx,
                Change {
                    organization_id: org,
                    membership_id: &m,
                    label: &email,
                    rows: vec![RowWrite::Insert {
                        user_id: &u,
                        role: &role,
                    }],
                    revoke_invitations_to: None,
                    records: vec![
                        Record::Grant {
                            kind: GrantKind::Jit,
                            role: &role,
                            detail: grant(&domain),
                        },
                        Record::Event {
                            kind: EventType::MembershipCreated,
                            metadata: serde_json::json!({ "role": role, "source": "jit", "connection_id": row.id, "domain": domain }),
                        },
                    ],
                },
            )
            .await?;
            (u, m, role)
        }
    };
    db::memberships::touch_sign_in(tx.conn(), &membership_id, now).await?;
    tx.record(
        Some(org),
        EventType::AuthenticationSucceeded,
        vec![
            Target::new("connection", &row.id, Some(&row.name)),
            Target::new("user", &user_id, Some(&email)),
        ],
        serde_json::json!({ "subject": id.subject }),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(SignInResult {
        profile: serde_json::json!({
            "id": user_id,
            "email": email,
            "first_name": id.first_name,
            "last_name": id.last_name,
            "idp_subject": id.subject,
            "connection_id": row.id,
            "organization_id": org,
            "groups": id.groups,
            "raw_attributes": id.raw,
        }),
        membership: serde_json::json!({ "id": membership_id, "role": role }),
    }))
}

/// Redeems a one-time code for the profile (vendor API).
pub async fn exchange_code(
    state: &AppState,
    code: &str,
    redirect_uri: Option<&str>,
) -> Result<SignInResult, AppError> {
    let bad = || {
        AppError::Invalid(crate::domain::FieldError::new(
            "code",
            "the code is unknown, expired (codes last 60 seconds) or was already used",
        ))
    };
    if code.is_empty() || code.len() > 200 {
        return Err(bad());
    }
    let mut conn = state.db.pool.acquire().await?;
    let now = state.clock.now();
    let code_hash = hash_secret(code);
    // A code issued for one vendor redirect is not valid for another. The mismatch leaves the
    // code unspent (the redirect is part of the redemption's condition), so a misconfigured or
    // hostile caller cannot burn a code the right redirect is about to redeem.
    let Some(db::sign_in::RedeemedCode { result, .. }) =
        db::sign_in::take_code(&mut conn, &code_hash, redirect_uri, now).await?
    else {
        if redirect_uri.is_some() && db::sign_in::code_is_live(&mut conn, &code_hash, now).await? {
            return Err(AppError::Invalid(crate::domain::FieldError::new(
                "redirect_uri",
                "the code was issued for a different redirect_uri (the code was not used up)",
            )));
        }
        return Err(bad());
    };
    let result: SignInResult = serde_json::from_str(&result)
        .map_err(|e| AppError::Internal(format!("stored sign-in result: {e}")))?;
    // Fail closed: a member suspended after the code was issued (a directory deactivation racing
    // the sign-in) gets nothing, even if the code escaped being voided.
    let org = result
        .profile
        .get("organization_id")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let membership = result
        .membership
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if db::memberships::membership_state(&mut conn, org, membership)
        .await?
        .as_deref()
        != Some(MembershipState::Active.as_str())
    {
        return Err(AppError::Invalid(crate::domain::FieldError::new(
            "code",
            "the member's access was suspended after this sign-in began; they cannot sign in",
        )));
    }
    Ok(result)
}

/// The newest test sign-in of a connection: (succeeded, evidence JSON, when).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn last_test(
    state: &AppState,
    organization_id: &str,
    connection_id: &str,
) -> Result<Option<(bool, serde_json::Value, i64)>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(
        db::sign_in::last_attempt(&mut conn, organization_id, connection_id, "test")
            .await?
            .map(
                |db::sign_in::AttemptResult {
                     outcome,
                     evidence,
                     created_at: at,
                     ..
                 }| {
                    (
                        outcome == "succeeded",
                        serde_json::from_str(&evidence).unwrap_or_default(),
                        at,
                    )
                },
            ),
    )
}

/// A vendor redirect URI on the allow-list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RedirectUri {
    pub uri: String,
    /// `api` (managed here) or `environment` (`LANYARD_REDIRECT_URIS`, read-only).
    pub source: String,
    pub created_at: Option<String>,
}

fn check_redirect_uri(raw: &str) -> Result<String, crate::domain::FieldError> {
    let bad = || {
        crate::domain::FieldError::new(
            "uri",
            "uri must be an absolute https URL without a fragment (http only for localhost)",
        )
    };
    let u = url::Url::parse(raw).map_err(|_| bad())?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if u.fragment().is_some() || !(u.scheme() == "https" || (u.scheme() == "http" && loopback)) {
        return Err(bad());
    }
    Ok(raw.to_owned())
}

/// Adds a URI to the allow-list (exact match at sign-in).
pub async fn add_redirect_uri(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    uri: &str,
) -> Result<RedirectUri, AppError> {
    let uri = check_redirect_uri(uri)?;
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if db::redirect_uris::add_redirect_uri(tx.conn(), &uri, now).await? {
        tx.record(
            None,
            EventType::RedirectUriAdded,
            vec![Target::new("redirect_uri", &uri, None)],
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(RedirectUri {
        uri,
        source: "api".into(),
        created_at: Some(crate::server::clock::rfc3339(now)),
    })
}

/// The allow-list: environment entries first, then API-managed ones.
pub async fn list_redirect_uris(state: &AppState) -> Result<Vec<RedirectUri>, AppError> {
    let mut out: Vec<RedirectUri> = state
        .config
        .redirect_uris
        .iter()
        .map(|u| RedirectUri {
            uri: u.clone(),
            source: "environment".into(),
            created_at: None,
        })
        .collect();
    let mut conn = state.db.pool.acquire().await?;
    out.extend(
        db::redirect_uris::list_redirect_uris(&mut conn)
            .await?
            .into_iter()
            .map(
                |db::redirect_uris::RedirectUriRow {
                     uri,
                     created_at: at,
                 }| RedirectUri {
                    uri,
                    source: "api".into(),
                    created_at: Some(crate::server::clock::rfc3339(at)),
                },
            ),
    );
    Ok(out)
}

/// Removes an API-managed URI.
pub async fn remove_redirect_uri(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    uri: &str,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if !db::redirect_uris::remove_redirect_uri(tx.conn(), uri).await? {
        return Err(AppError::NotFound(
            "redirect URI (environment entries are changed in LANYARD_REDIRECT_URIS)",
        ));
    }
    tx.record(
        None,
        EventType::RedirectUriRemoved,
        vec![Target::new("redirect_uri", uri, None)],
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Starts a SAML sign-in: an AuthnRequest by HTTP-Redirect, remembered by RelayState (the IdP's
/// cross-site POST back carries no SameSite=Lax cookie, so the state lives server-side).
async fn begin_saml(
    state: &AppState,
    row: db::connections::ConnectionRow,
    purpose: &str,
    redirect_uri: Option<String>,
    client_state: Option<String>,
    invitation: Option<(String, String)>,
) -> Result<Next, AppError> {
    use crate::server::protocol::saml::request;
    let now = state.clock.now();
    let relay_state = new_secret("");
    let request_id = format!(
        "_lanyard_{}",
        hash_secret(&new_secret("")).get(..32).unwrap_or("0")
    );
    let sso_url = row.saml_idp_sso_url.clone().unwrap_or_default();
    let xml = request::authn_request(
        &request_id,
        now,
        &connections::sp_entity_id(state, &row.id),
        &connections::acs_url(state, &row.id),
        &sso_url,
    );
    let url = match request::redirect_url(&sso_url, &xml, &relay_state) {
        Ok(u) => u,
        Err(m) => return Ok(page(502, "The identity provider's address is not valid", m)),
    };
    let req = SsoRequestRow {
        state_hash: hash_secret(&relay_state),
        organization_id: row.organization_id.clone(),
        connection_id: row.id.clone(),
        purpose: purpose.into(),
        redirect_uri,
        client_state,
        // The AuthnRequest ID: the Response must answer exactly this request.
        nonce: request_id,
        pkce_verifier_enc: String::new(),
        created_at: now,
        expires_at: now + REQUEST_TTL_MS,
        invitation_id: invitation.as_ref().map(|i| i.0.clone()),
        invitation_token_hash: invitation.map(|i| i.1),
    };
    let mut conn = state.db.pool.acquire().await?;
    db::sign_in::insert_request(&mut conn, &req).await?;
    Ok(Next::Redirect(url))
}

/// The ACS form (HTTP-POST binding).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    pub saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

/// The IdP's POST to a connection's ACS. SP-initiated when RelayState names a pending request
/// of this connection; otherwise IdP-initiated (only when the connection allows it), returning
/// to the allow-listed URI named by RelayState or the first configured one.
pub async fn saml_acs(
    state: &AppState,
    ctx: &RequestContext,
    connection_id: &str,
    form: AcsForm,
) -> Result<Next, AppError> {
    use crate::server::protocol::saml::{attributes, response};
    let now = state.clock.now();
    let unknown = || {
        Ok(page(
            404,
            "Unknown SSO connection",
            "This sign-in was sent to a SAML connection that does not exist (or was removed). Check the ACS URL in your IdP.",
        ))
    };
    let Some(row) = saml_connection(state, connection_id).await? else {
        return unknown();
    };
    let relay = form
        .relay_state
        .clone()
        .filter(|s| !s.is_empty() && s.len() <= 1024);
    let pending = match &relay {
        Some(rs) => {
            let mut conn = state.db.pool.acquire().await?;
            db::sign_in::take_request(&mut conn, &hash_secret(rs), now)
                .await?
                .filter(|r| r.connection_id == row.id)
        }
        None => None,
    };
    let req = match pending {
        Some(r) => r,
        None => {
            let target = match &relay {
                Some(rs) if redirect_allowed(state, rs).await? => Some(rs.clone()),
                _ => default_redirect(state).await?,
            };
            SsoRequestRow {
                state_hash: String::new(),
                organization_id: row.organization_id.clone(),
                connection_id: row.id.clone(),
                purpose: "signin".into(),
                redirect_uri: target,
                client_state: None,
                nonce: String::new(),
                pkce_verifier_enc: String::new(),
                created_at: now,
                expires_at: now,
                invitation_id: None,
                invitation_token_hash: None,
            }
        }
    };
    let sp_initiated = !req.nonce.is_empty();
    let Some(b64) = form.saml_response.filter(|s| !s.trim().is_empty()) else {
        return Ok(page(
            400,
            "Sign-in could not be completed",
            "The identity provider posted no SAMLResponse. Start the sign-in again.",
        ));
    };
    let trust = response::Trust {
        sp_entity_id: connections::sp_entity_id(state, &row.id),
        acs_url: connections::acs_url(state, &row.id),
        idp_entity_id: row.saml_idp_entity_id.clone().unwrap_or_default(),
        certificates: connections::pinned_certificates(state, &row.organization_id, &row.id)
            .await?,
        skew_ms: state.config.saml_clock_skew_ms,
        allow_idp_initiated: row.saml_allow_idp_initiated != 0,
    };
    let expected = sp_initiated.then(|| req.nonce.clone());
    // libxml2/xmlsec work is CPU-bound: keep it off the async workers.
    let validated = tokio::task::spawn_blocking(move || {
        let xml = response::decode_post(&b64)?;
        response::validate(
            &xml,
            &response::Validation {
                trust: &trust,
                now_ms: now,
                expected_request_id: expected.as_deref(),
            },
        )
    })
    .await
    .map_err(|e| AppError::Internal(format!("SAML validation task: {e}")))?;
    let identity = match validated {
        Err(f) => Err((
            OidcFailure {
                reason: f.code.into(),
                message: f.message,
            },
            Some(f.evidence),
        )),
        Ok(a) => {
            let mut conn = state.db.pool.acquire().await?;
            if !db::saml::remember_assertion(&mut conn, &row.id, &a.id, a.replay_until_ms, now)
                .await?
            {
                Err((
                    OidcFailure {
                        reason: "replay".into(),
                        message: "this assertion was already used to sign in; a SAML response is valid once. Start the sign-in again".into(),
                    },
                    Some(serde_json::json!({ "assertion_id": a.id })),
                ))
            } else {
                let m = attributes::map(&a, &row.idp, &connections::mapping_of(&row));
                Ok(Identity {
                    subject: a.name_id.clone(),
                    email: m.email,
                    email_verified: None,
                    first_name: m.first_name,
                    last_name: m.last_name,
                    groups: m.groups,
                    raw: serde_json::json!({
                        "name_id": a.name_id,
                        "name_id_format": a.name_id_format,
                        "issuer": a.issuer,
                        "session_index": a.session_index,
                        "signed": a.signed,
                        "attributes": a.attributes,
                    }),
                })
            }
        }
    };
    conclude(state, ctx, &row, &req, identity).await
}

/// Where an IdP-initiated sign-in returns when RelayState names no allow-listed URI.
pub(crate) async fn default_redirect(state: &AppState) -> Result<Option<String>, AppError> {
    if let Some(first) = state.config.redirect_uris.first() {
        return Ok(Some(first.clone()));
    }
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::redirect_uris::list_redirect_uris(&mut conn)
        .await?
        .into_iter()
        .next()
        .map(|r| r.uri))
}

/// A live SAML connection by its id alone (the ACS and SP metadata URLs carry only that).
async fn saml_connection(
    state: &AppState,
    connection_id: &str,
) -> Result<Option<db::connections::ConnectionRow>, AppError> {
    if !crate::domain::ids::is_valid_id(IdKind::Connection, connection_id) {
        return Ok(None);
    }
    let mut conn = state.db.pool.acquire().await?;
    let Some(org) = db::connections::connection_owner(&mut conn, connection_id).await? else {
        return Ok(None);
    };
    Ok(
        db::connections::get_connection(&mut conn, &org, connection_id)
            .await?
            .filter(|r| r.kind == ConnectionKind::Saml),
    )
}

/// Lanyard's SP metadata for a SAML connection (public: IdPs fetch it).
pub async fn sp_metadata(
    state: &AppState,
    connection_id: &str,
) -> Result<Option<String>, AppError> {
    Ok(saml_connection(state, connection_id).await?.map(|r| {
        crate::server::protocol::saml::metadata::sp_metadata(
            &connections::sp_entity_id(state, &r.id),
            &connections::acs_url(state, &r.id),
        )
    }))
}
