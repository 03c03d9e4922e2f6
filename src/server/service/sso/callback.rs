//! The IdP's answer: the OIDC callback, the conclusion shared with the SAML ACS, and the record of failed and test sign-ins.

use tracing::Instrument as _;

use crate::domain::event_type::EventType;
use crate::domain::sign_in::{SignInOutcome, SignInPurpose};
use crate::domain::target::TargetKind;

use crate::domain::ids::{ConnectionId, IdKind, OrgId};
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::crypto::hash_secret;
use crate::server::db::{self, sign_in::SsoRequestRow};
use crate::server::error::AppError;
use crate::server::oidc::{self, Identity, OidcFailure};
use crate::server::service::connections;
use crate::server::state::AppState;

use super::admit::admit;
use super::authorize::rp;
use super::token::hand_off;
use super::{page, with_query, CallbackParams, Next};

pub(crate) async fn record_failure(
    state: &AppState,
    row: &db::connections::ConnectionRow,
    purpose: SignInPurpose,
    f: &OidcFailure,
) -> Result<(), AppError> {
    record_failure_with(state, row, purpose.as_str(), f, None, None).await
}

/// Records a failed sign-in with its evidence (SAML: expected vs received values); `purpose` is
/// the pending sign-in's, as stored.
async fn record_failure_with(
    state: &AppState,
    row: &db::connections::ConnectionRow,
    purpose: &str,
    f: &OidcFailure,
    evidence: Option<&serde_json::Value>,
    // The OpenID Provider's client that started the sign-in.
    client_id: Option<&str>,
) -> Result<(), AppError> {
    crate::server::metrics::sign_in(&row.kind, purpose, "failed", &f.reason);
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
        &row.org_id(),
        &row.connection_id(),
        purpose,
        SignInOutcome::Failed,
        Some(&f.reason),
        &stored.to_string(),
        now,
    )
    .await?;
    if purpose == SignInPurpose::Test {
        db::connections::record_test(tx.conn(), row, now, false).await?;
    }
    let ev = tx
        .record(
        Some(&row.organization_id),
        EventType::AuthenticationFailed,
        vec![Target::new(
            TargetKind::Connection,
            &row.id,
            Some(&row.name),
        )],
        {
            let mut data =
                serde_json::json!({ "purpose": purpose, "reason": f.reason, "detail": f.message });
            if let Some(c) = client_id {
                data["client_id"] = c.into();
            }
            // The admission's rules (why the policy refused): the same words the simulator shows.
            if let Some(rules) = evidence.and_then(|e| e.get("rules")) {
                data["rules"] = rules.clone();
            }
            data
        },
    )
    .await?;
    // The IdP's answer reaches Lanyard without the browser's address here: none is kept.
    if purpose == SignInPurpose::Signin.as_str() {
        let snapshot = crate::server::events::Snapshot::SignIn {
            succeeded: false,
            organization_id: row.organization_id.clone(),
            connection_id: row.id.clone(),
            user_id: None,
            email: None,
            ip: None,
            user_agent: None,
            error: Some((f.reason.clone(), f.message.clone())),
        };
        tx.snapshot(&ev, &snapshot);
    }
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
    let row = connections::get_row(
        state,
        &OrgId::from_stored(req.organization_id.as_str()),
        &ConnectionId::from_stored(req.connection_id.as_str()),
    )
    .await?;
    // The sign-in's trace continues here (the IdP's token and JWKS calls included).
    let span =
        crate::server::telemetry::span_continuing("sign_in.finish", req.traceparent.as_deref());
    async {
        let identity = finish(state, &row, &req, &p).await.map_err(|f| (f, None));
        conclude(state, ctx, &row, &req, identity).await
    }
    .instrument(span)
    .await
}

/// After the IdP answered (OIDC callback or SAML ACS): records a test, or applies the JIT
/// policy and hands the vendor a one-time code; failures are recorded with their evidence.
pub(super) async fn conclude(
    state: &AppState,
    ctx: &RequestContext,
    row: &db::connections::ConnectionRow,
    req: &SsoRequestRow,
    identity: Result<Identity, (OidcFailure, Option<serde_json::Value>)>,
) -> Result<Next, AppError> {
    let now = state.clock.now();
    let client_id = crate::server::service::oauth::client_id_of(req.oauth.as_deref());
    let fail_to = |f: &OidcFailure| -> Next {
        match (&req.redirect_uri, SignInPurpose::parse(&req.purpose)) {
            (Some(r), Some(SignInPurpose::Signin)) => Next::Redirect(with_query(
                r,
                &[
                    ("error", "access_denied"),
                    ("error_description", &f.message),
                ],
                req.client_state.as_deref(),
            )),
            (None, Some(SignInPurpose::Signin)) => page(
                403,
                "Sign-in refused",
                format!(
                    "{} Start the sign-in again from the application.",
                    f.message
                ),
            ),
            (_, Some(SignInPurpose::Invite)) => page(
                403,
                "The invitation was not accepted",
                format!(
                    "{} Open the invitation link from your email again.",
                    f.message
                ),
            ),
            _ => Next::Redirect(test_return(row)),
        }
    };
    let identity = match identity {
        Ok(i) => i,
        Err((f, evidence)) => {
            record_failure_with(
                state,
                row,
                &req.purpose,
                &f,
                evidence.as_ref(),
                client_id.as_deref(),
            )
            .await?;
            return Ok(fail_to(&f));
        }
    };
    if req.purpose == SignInPurpose::Test {
        let mut tx = AuditedTx::begin(&state.db, &Actor::system(), ctx, now).await?;
        db::sign_in::insert_attempt(
            tx.conn(),
            &db::new_id(IdKind::LoginAttempt),
            &row.org_id(),
            &row.connection_id(),
            SignInPurpose::Test.as_str(),
            SignInOutcome::Succeeded,
            None,
            &serde_json::to_string(&identity).unwrap_or_default(),
            now,
        )
        .await?;
        db::connections::record_test(tx.conn(), row, now, true).await?;
        tx.record(
            Some(&row.organization_id),
            EventType::ConnectionTested,
            vec![Target::new(
                TargetKind::Connection,
                &row.id,
                Some(&row.name),
            )],
            serde_json::json!({ "subject": identity.subject, "email": identity.email }),
        )
        .await?;
        tx.commit().await?;
        crate::server::metrics::sign_in(&row.kind, SignInPurpose::Test.as_str(), "succeeded", "");
        return Ok(Next::Redirect(test_return(row)));
    }
    if req.purpose == SignInPurpose::Invite {
        return crate::server::service::invitations::accept_after_sso(
            state, ctx, row, req, &identity,
        )
        .await;
    }
    if req.redirect_uri.is_none() {
        // IdP-initiated with nowhere to go: refuse before admitting anyone.
        let f = OidcFailure {
            reason: "no_redirect_uri".into(),
            message: "Lanyard does not know which application to return to: set RelayState in the IdP to an allow-listed redirect URI, or add one to LANYARD_REDIRECT_URIS".into(),
        };
        record_failure(state, row, SignInPurpose::Signin, &f).await?;
        return Ok(fail_to(&f));
    }
    match admit(state, ctx, row, &identity, client_id.as_deref()).await? {
        Err((f, evidence)) => {
            record_failure_with(
                state,
                row,
                SignInPurpose::Signin.as_str(),
                &f,
                Some(&evidence),
                client_id.as_deref(),
            )
            .await?;
            Ok(fail_to(&f))
        }
        Ok(mut result) => {
            // The SSO session single logout names; the vendor keeps its id with its own session.
            let membership = result
                .membership
                .get("id")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let session_id =
                super::logout::open_session(state, row, &identity, membership.as_deref()).await?;
            if let Some(p) = result.profile.as_object_mut() {
                p.insert("session_id".into(), session_id.into());
            }
            crate::server::metrics::sign_in(
                &row.kind,
                SignInPurpose::Signin.as_str(),
                "succeeded",
                "",
            );
            let redirect_uri = req.redirect_uri.clone().unwrap_or_default();
            hand_off(
                state,
                &row.org_id(),
                Some(&row.connection_id()),
                &redirect_uri,
                req.client_state.as_deref(),
                &result,
                req.oauth.as_deref(),
            )
            .await
        }
    }
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

/// The newest test sign-in of a connection: (succeeded, evidence JSON, when).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn last_test(
    state: &AppState,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
) -> Result<Option<(bool, serde_json::Value, i64)>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::sign_in::last_attempt(
        &mut conn,
        organization_id,
        connection_id,
        SignInPurpose::Test,
    )
    .await?
    .map(
        |db::sign_in::AttemptResult {
             outcome,
             evidence,
             created_at: at,
             ..
         }| {
            (
                outcome == SignInOutcome::Succeeded,
                serde_json::from_str(&evidence).unwrap_or_default(),
                at,
            )
        },
    ))
}

/// Where the admin's test sign-in returns: a connection still in draft goes back to its guided
/// setup at the test step (which shows the result and the way on), any other to the SSO page.
fn test_return(row: &db::connections::ConnectionRow) -> String {
    if row.state == crate::domain::connection::ConnectionState::Draft {
        format!("/portal/sso/setup/{}?step=3", row.id)
    } else {
        format!("/portal/sso?connection={}", row.id)
    }
}
