//! The invitee's side: what a link opens and the acceptance, directly or through SSO.

use crate::domain::connection::ConnectionState;
use crate::domain::event_type::EventType;
use crate::domain::membership::{ChangeSource, GrantKind, MembershipState};
use crate::domain::sign_in::SignInPurpose;
use crate::domain::target::TargetKind;
use serde_json::json;

use crate::domain::ids::{ConnectionId, InvitationId, MembershipId, OrgId, UserId};
use crate::domain::invitation::InvitationState;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::crypto::{hash_secret, INVITE_TOKEN_PREFIX};
use crate::server::db;
use crate::server::db::invitations::InvitationRow;
use crate::server::error::AppError;
use crate::server::oidc::{Identity, OidcFailure};
use crate::server::state::AppState;

use crate::server::service::membership_lifecycle::Change;
use crate::server::service::policy::Trace;
use crate::server::service::sso::{Next, SignInResult};

use super::rules::{acceptance_route, guest_check, recheck_at_acceptance, Route};
use super::state_of;

/// What an invitation link currently opens.
#[derive(Debug, Clone)]
pub enum LinkState {
    Valid {
        invitation: Box<InvitationRow>,
        organization_name: String,
        role_name: String,
        /// The connection the invitee must sign in through, when SSO is required for the domain.
        sso: Option<Box<db::connections::ConnectionRow>>,
        /// Why the policy refuses this acceptance now (guests no longer invited, SSO required
        /// without an active connection).
        refused: Option<String>,
    },
    Accepted,
    Expired,
    Revoked,
    /// A resend replaced this link.
    Replaced,
    Unknown,
}

/// Looks a link up without consuming anything.
pub async fn inspect(state: &AppState, token: &str) -> Result<LinkState, AppError> {
    if !token.starts_with(INVITE_TOKEN_PREFIX) || token.len() > 200 {
        return Ok(LinkState::Unknown);
    }
    let now = state.clock.now();
    let mut conn = state.db.pool.acquire().await?;
    let Some(db::invitations::TokenInvitation {
        invitation: r,
        replaced_at,
    }) = db::invitations::invitation_by_token(&mut conn, &hash_secret(token)).await?
    else {
        return Ok(LinkState::Unknown);
    };
    Ok(
        match (InvitationState::parse(&state_of(&r, now)), replaced_at) {
            (Some(InvitationState::Accepted), _) => LinkState::Accepted,
            (Some(InvitationState::Revoked), _) => LinkState::Revoked,
            (Some(InvitationState::Expired), _) => LinkState::Expired,
            (_, Some(_)) => LinkState::Replaced,
            _ => {
                let org = db::organizations::get(&mut conn, &r.organization_id).await?;
                let Some(org) = org else {
                    return Ok(LinkState::Revoked);
                };
                let role_name = crate::server::service::roles::resolve(&mut conn, &r.role)
                    .await?
                    .map(|x| x.name)
                    .unwrap_or_else(|| r.role.clone());
                let policy =
                    crate::server::service::policy::load(&mut conn, &r.organization_id).await?;
                let mut t = Trace::default();
                let refused = guest_check(&mut conn, &r.organization_id, &policy, &r.email, &mut t)
                    .await
                    .err()
                    .map(|e| e.to_string());
                let refused = match refused {
                    Some(why) => Some(why),
                    None => recheck_at_acceptance(&mut conn, &policy, &r, &mut t)
                        .await?
                        .err(),
                };
                let route =
                    acceptance_route(&mut conn, &r.organization_id, &policy, &r.email, &mut t)
                        .await?;
                let (sso, refused) = match route {
                Route::Sso(c) => (Some(c), refused),
                Route::Link => (None, refused),
                Route::Unavailable(d) => (
                    None,
                    refused.or(Some(format!("{} requires single sign-on for {d}, but no active SSO connection signs in people of {d} yet. Ask your IT admin to finish setting up SSO for {d}, then open this link again.", org.name))),
                ),
            };
                LinkState::Valid {
                    invitation: Box::new(r),
                    organization_name: org.name,
                    role_name,
                    sso,
                    refused,
                }
            }
        },
    )
}

/// Why an acceptance was refused: (HTTP status, title, message).
pub type Refusal = (u16, String, String);

fn refusal(status: u16, title: &str, message: impl Into<String>) -> Refusal {
    (status, title.to_owned(), message.into())
}

/// The page for a link that no longer works.
pub fn gone_page(vendor: &str, st: &LinkState) -> Next {
    let why = match st {
        LinkState::Accepted => {
            "This invitation has already been accepted. Sign in to the application instead."
        }
        LinkState::Expired => "This invitation has expired.",
        LinkState::Replaced => {
            "A newer invitation email replaced this link. Use the link in the most recent email."
        }
        _ => "This invitation was withdrawn.",
    };
    Next::Page(
        410,
        "This invitation link no longer works".into(),
        format!("{why} If you still need access, ask the person who invited you (or {vendor}'s support) for a new invitation."),
    )
}

/// The invitee's POST on an emailed link: SSO first when required, otherwise the link is the
/// proof and the acceptance happens now.
pub async fn accept_link(
    state: &AppState,
    ctx: &RequestContext,
    token: &str,
) -> Result<Next, AppError> {
    let vendor = state.config.branding.vendor_name.clone();
    let st = inspect(state, token).await?;
    let LinkState::Valid {
        invitation,
        sso,
        refused,
        ..
    } = st
    else {
        return Ok(match st {
            LinkState::Unknown => Next::Page(404, "Invitation not found".into(), "We don't recognise this invitation link. Check that you copied the whole address from the email.".into()),
            other => gone_page(&vendor, &other),
        });
    };
    if let Some(why) = refused {
        return Ok(Next::Page(
            403,
            "This invitation cannot be accepted right now".into(),
            why,
        ));
    }
    let redirect = redirect_for(state, &invitation).await?;
    let token_hash = hash_secret(token);
    if let Some(conn_row) = sso {
        return crate::server::service::sso::begin_invite(
            state,
            *conn_row,
            redirect,
            &invitation.id,
            &token_hash,
        )
        .await;
    }
    match accept(state, ctx, &invitation, &token_hash, None).await? {
        Err((status, title, message)) => Ok(Next::Page(status, title, message)),
        Ok(result) => finish_redirect(state, &invitation, redirect, None, &result).await,
    }
}

/// Where the invitee goes after accepting: the invitation's redirect URI while it is still
/// allow-listed, else the first allow-listed one.
async fn redirect_for(state: &AppState, inv: &InvitationRow) -> Result<Option<String>, AppError> {
    if let Some(r) = &inv.redirect_uri {
        if crate::server::service::sso::redirect_allowed(state, r).await? {
            return Ok(Some(r.clone()));
        }
    }
    crate::server::service::sso::default_redirect(state).await
}

async fn finish_redirect(
    state: &AppState,
    inv: &InvitationRow,
    redirect: Option<String>,
    // `None` when the invitee accepted through the email link.
    connection_id: Option<&ConnectionId>,
    result: &SignInResult,
) -> Result<Next, AppError> {
    match redirect {
        Some(r) => {
            crate::server::service::sso::hand_off(
                state,
                &inv.org_id(),
                connection_id,
                &r,
                None,
                result,
                None,
            )
            .await
        }
        None => {
            let org = {
                let mut conn = state.db.pool.acquire().await?;
                db::organizations::get(&mut conn, &inv.organization_id)
                    .await?
                    .map(|o| o.name)
                    .unwrap_or_default()
            };
            Ok(Next::Page(
                200,
                format!("You joined {org}"),
                format!(
                    "You are now a member of {org}. Open {} and sign in.",
                    state.config.branding.vendor_name
                ),
            ))
        }
    }
}

/// The end of an SSO sign-in that accepts an invitation: the signed-in email must be the
/// invited one.
pub async fn accept_after_sso(
    state: &AppState,
    ctx: &RequestContext,
    row: &db::connections::ConnectionRow,
    req: &db::sign_in::SsoRequestRow,
    identity: &Identity,
) -> Result<Next, AppError> {
    let invitation_id = req.invitation_id.clone().unwrap_or_default();
    let token_hash = req.invitation_token_hash.clone().unwrap_or_default();
    let inv = {
        let mut conn = state.db.pool.acquire().await?;
        db::invitations::get_invitation(
            &mut conn,
            &OrgId::from_stored(row.organization_id.as_str()),
            &InvitationId::from_stored(invitation_id.as_str()),
        )
        .await?
    };
    if row.state != ConnectionState::Active {
        return Ok(Next::Page(
            403,
            "The invitation was not accepted".into(),
            "The organization's SSO connection was switched off while you were signing in. Ask the person who invited you for help.".into(),
        ));
    }
    let Some(inv) = inv else {
        return Ok(Next::Page(
            404,
            "Invitation not found".into(),
            "The invitation this sign-in was for no longer exists.".into(),
        ));
    };
    let signed_in = identity
        .email
        .as_deref()
        .map(|e| e.trim().to_lowercase())
        .unwrap_or_default();
    if signed_in != inv.email {
        let f = OidcFailure {
            reason: "email_mismatch".into(),
            message: format!(
                "the invitation is for {}, but you signed in as {}",
                inv.email,
                if signed_in.is_empty() {
                    "an account without an email address"
                } else {
                    &signed_in
                }
            ),
        };
        crate::server::service::sso::record_failure(state, row, SignInPurpose::Signin, &f).await?;
        return Ok(Next::Page(
            403,
            "Signed in with a different account".into(),
            format!("{}. Sign out of your identity provider, then open the invitation link again and sign in as {}.", capitalize(&f.message), inv.email),
        ));
    }
    match accept(state, ctx, &inv, &token_hash, Some((row, identity))).await? {
        Err((status, title, message)) => Ok(Next::Page(status, title, message)),
        Ok(result) => {
            let redirect = redirect_for(state, &inv).await?;
            finish_redirect(state, &inv, redirect, Some(&row.connection_id()), &result).await
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Accepts: claims the invitation (exactly once), creates or restores the membership with the
/// invited role and records the grant, all in one transaction.
async fn accept(
    state: &AppState,
    ctx: &RequestContext,
    inv: &InvitationRow,
    token_hash: &str,
    sso: Option<(&db::connections::ConnectionRow, &Identity)>,
) -> Result<Result<SignInResult, Refusal>, AppError> {
    let org = inv.org_id();
    let email = inv.email.clone();
    let now = state.clock.now();
    let actor = Actor {
        kind: crate::domain::actor::ActorKind::User,
        id: sso
            .map(|(c, i)| format!("{}:{}", c.id, i.subject))
            .unwrap_or_else(|| format!("invitation:{}", inv.id)),
        name: email.clone(),
    };
    let mut tx = AuditedTx::begin(&state.db, &actor, ctx, now).await?;
    // The link is spent first (a resend racing this replaces the same row, so on PostgreSQL one
    // of the two waits and then finds nothing to update), then the invitation is claimed.
    let claimed = db::invitations::spend_token(tx.conn(), &inv.id, token_hash, now).await?
        && db::invitations::claim_acceptance(tx.conn(), &inv.id, None, now).await?;
    if !claimed {
        drop(tx);
        return Ok(Err(not_claimed(state, inv, now).await?));
    }
    if let Some(why) = still_refused(&mut tx, inv).await? {
        drop(tx);
        return Ok(Err(why));
    }
    let (user_id, membership_id, role) = join(&mut tx, inv, sso).await?;
    if let Some((c, i)) = sso {
        if !link_identity(&mut tx, &org, &user_id, &email, c, i).await? {
            // This IdP account already stands for someone else here: never merge two people.
            drop(tx);
            return Ok(Err(refusal(
                403,
                "This invitation can no longer be accepted",
                "The account you signed in with already belongs to another member of this organization. Ask the person who invited you for help.",
            )));
        }
    }
    db::invitations::set_invitation_membership(tx.conn(), &inv.id, &membership_id).await?;
    db::invitations::replace_tokens(tx.conn(), &inv.id, now).await?;
    db::memberships::touch_sign_in(tx.conn(), &membership_id, now).await?;
    let ev = tx
        .record(
            Some(&org),
            EventType::InvitationAccepted,
            vec![
                Target::new(TargetKind::Invitation, &inv.id, Some(&email)),
                Target::new(TargetKind::Membership, &membership_id, Some(&email)),
            ],
            json!({ "email": email, "role": role, "via": if sso.is_some() { "sso" } else { "email_link" } }),
        )
        .await?;
    tx.snapshot_invitation(&ev, &inv.id).await?;
    tx.commit().await?;
    let (first, last, subject, conn_id, groups, raw) = match sso {
        Some((c, i)) => (
            i.first_name.clone(),
            i.last_name.clone(),
            Some(i.subject.clone()),
            Some(c.id.clone()),
            i.groups.clone(),
            i.raw.clone(),
        ),
        None => (None, None, None, None, Vec::new(), json!({})),
    };
    Ok(Ok(SignInResult {
        profile: json!({
            "id": user_id,
            "email": email,
            "first_name": first,
            "last_name": last,
            "idp_subject": subject,
            "connection_id": conn_id,
            "organization_id": org,
            "groups": groups,
            "raw_attributes": raw,
            "invitation_id": inv.id,
        }),
        membership: json!({ "id": membership_id, "role": role }),
    }))
}

/// Why a link that could not be claimed no longer works (accepted, expired, replaced, revoked).
async fn not_claimed(state: &AppState, inv: &InvitationRow, now: i64) -> Result<Refusal, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let cur = db::invitations::get_invitation(
        &mut conn,
        &inv.org_id(),
        &InvitationId::from_stored(inv.id.as_str()),
    )
    .await?;
    let st = match cur
        .as_ref()
        .and_then(|r| InvitationState::parse(&state_of(r, now)))
    {
        Some(InvitationState::Accepted) => LinkState::Accepted,
        Some(InvitationState::Expired) => LinkState::Expired,
        Some(InvitationState::Pending) => LinkState::Replaced,
        _ => LinkState::Revoked,
    };
    Ok(match gone_page(&state.config.branding.vendor_name, &st) {
        Next::Page(s, t, m) => (s, t, m),
        Next::Redirect(_) | Next::Choose(_) | Next::Post { .. } => {
            refusal(410, "This invitation link no longer works", "")
        }
    })
}

/// Why the invitation can no longer be accepted, checked now rather than when it was sent:
/// another organization verified the domain, the authoritative directory keeps the person
/// out, or the policy refuses it.
async fn still_refused(
    tx: &mut AuditedTx,
    inv: &InvitationRow,
) -> Result<Option<Refusal>, AppError> {
    let org_id = inv.org_id();
    let (org, email) = (&org_id, &inv.email);
    let holders = crate::server::service::domains::holders_of_email(tx.conn(), email).await?;
    if holders.first().is_some_and(|h| h.as_str() != org.as_str()) {
        return Ok(Some(refusal(403, "This invitation can no longer be accepted", "Your email domain is now verified by another organization. Ask the person who invited you for help.")));
    }
    let user = db::users::user_by_email(tx.conn(), org, email).await?;
    if let Some(why) =
        crate::server::service::directories::gate(tx.conn(), org, user.as_ref(), email).await?
    {
        return Ok(Some(refusal(
            403,
            "This invitation can no longer be accepted",
            capitalize(why.message()) + ".",
        )));
    }
    // The policy as it is now, not as it was when the invitation was sent.
    let policy = crate::server::service::policy::load(tx.conn(), org).await?;
    if let Err(why) = recheck_at_acceptance(tx.conn(), &policy, inv, &mut Trace::default()).await? {
        return Ok(Some(refusal(
            403,
            "This invitation can no longer be accepted",
            why,
        )));
    }
    Ok(None)
}

/// Makes the invitee a member with the invited role: an active member stays as they are, an
/// inactive one is reactivated (with the invited role unless a directory manages it), anyone
/// else joins (as a new organization user when there is none). Answers the user, the
/// membership and the role.
async fn join(
    tx: &mut AuditedTx,
    inv: &InvitationRow,
    sso: Option<(&db::connections::ConnectionRow, &Identity)>,
) -> Result<(UserId, MembershipId, String), AppError> {
    let org_id = inv.org_id();
    let (org, email) = (&org_id, inv.email.as_str());
    let grant_detail = json!({
        "invitation_id": inv.id,
        "inviter_type": inv.inviter_kind,
        "inviter_id": inv.inviter_id,
        "inviter_name": inv.inviter_name,
        "connection_id": sso.map(|(c, _)| c.id.clone()),
    });
    Ok(
        match db::users::member_by_email(tx.conn(), org, email).await? {
            Some(db::users::UserMembership {
                user_id: u,
                membership_id: m,
                role: r,
                state: st,
            }) if st == MembershipState::Active => {
                // Already in (a directory or a sign-in got there first): keep the membership as it is.
                let mut detail = grant_detail;
                detail["note"] = json!("already a member; role unchanged");
                Change::new(org, &m, email)
                    .grant(GrantKind::Invitation, &r, detail)
                    .apply(tx)
                    .await?;
                (u, m, r)
            }
            Some(db::users::UserMembership {
                user_id: u,
                membership_id: m,
                role: old_role,
                ..
            }) => {
                // A directory that manages the member keeps deciding the role.
                let managed = db::memberships::get_member(tx.conn(), org, &m, db::Lock::Plain)
                    .await?
                    .is_some_and(|r| r.directory_name.is_some());
                let role = if managed {
                    old_role.clone()
                } else {
                    inv.role.clone()
                };
                let mut change = Change::new(org, &m, email).state(MembershipState::Active);
                if !managed && role != old_role {
                    change = change.role(&role).event(
                    EventType::MembershipRoleChanged,
                    json!({ "from": old_role, "to": role, "source": ChangeSource::Invitation, "invitation_id": inv.id }),
                );
                }
                change
                .grant(GrantKind::Invitation, &role, grant_detail)
                .event(
                    EventType::MembershipReactivated,
                    json!({ "source": ChangeSource::Invitation, "invitation_id": inv.id, "role": role }),
                )
                .apply(tx)
                .await?;
                (u, m, role)
            }
            None => {
                let u = match db::users::user_by_email(tx.conn(), org, email).await? {
                    Some(u) => u,
                    None => {
                        let u = UserId::generate();
                        let (first, last) = sso
                            .map(|(_, i)| (i.first_name.clone(), i.last_name.clone()))
                            .unwrap_or_default();
                        let now = tx.now();
                        db::users::insert_user(
                            tx.conn(),
                            &u,
                            org,
                            email,
                            first.as_deref(),
                            last.as_deref(),
                            now,
                        )
                        .await?;
                        u
                    }
                };
                let m = MembershipId::generate();
                Change::new(org, &m, email)
                .insert(&u, &inv.role)
                .grant(GrantKind::Invitation, &inv.role, grant_detail)
                .event(
                    EventType::MembershipCreated,
                    json!({ "role": inv.role, "source": ChangeSource::Invitation, "invitation_id": inv.id, "inviter": inv.inviter_name }),
                )
                .apply(tx)
                .await?;
                (u, m, inv.role.clone())
            }
        },
    )
}

/// Links the identity the invitee signed in with to `user_id`; false when it already stands
/// for someone else here.
async fn link_identity(
    tx: &mut AuditedTx,
    org: &OrgId,
    user_id: &UserId,
    email: &str,
    c: &db::connections::ConnectionRow,
    i: &Identity,
) -> Result<bool, AppError> {
    let now = tx.now();
    let raw = i.raw.to_string();
    match db::users::identity_user(tx.conn(), &c.id, &i.subject).await? {
        None => {
            db::users::insert_identity(
                tx.conn(),
                &c.connection_id(),
                &i.subject,
                org,
                user_id,
                email,
                &raw,
                now,
            )
            .await?;
        }
        Some(u) if u == *user_id => {
            db::users::touch_identity(tx.conn(), &c.id, &i.subject, email, &raw, now).await?;
        }
        Some(_) => return Ok(false),
    }
    Ok(true)
}
