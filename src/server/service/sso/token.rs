//! The one-time code: handed to the vendor's product and redeemed for the profile.

use crate::domain::ids::{ConnectionId, MembershipId, OrgId};
use crate::domain::membership::MembershipState;

use crate::server::crypto::{hash_secret, new_secret};
use crate::server::db;
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{with_query, Next, SignInResult, CODE_TTL_MS};

/// Gives the vendor's product a one-time code for `result` at `redirect_uri` (SSO sign-ins and
/// invitation acceptances end here alike).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn hand_off(
    state: &AppState,
    organization_id: &OrgId,
    // `None` for an invitation accepted through its email link.
    connection_id: Option<&ConnectionId>,
    redirect_uri: &str,
    client_state: Option<&str>,
    result: &SignInResult,
    // The OAuth client's request when Lanyard's OpenID Provider started the sign-in: the code
    // is then redeemable only at `/oauth2/token`.
    oauth: Option<&str>,
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
        oauth,
        now,
        now + CODE_TTL_MS,
    )
    .await?;
    Ok(Next::Redirect(with_query(
        redirect_uri,
        &[("code", &code)],
        client_state,
    )))
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
    if db::memberships::membership_state(
        &mut conn,
        &OrgId::from_stored(org),
        &MembershipId::from_stored(membership),
    )
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
