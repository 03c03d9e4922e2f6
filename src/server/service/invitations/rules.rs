//! The rules an invitation must pass, at creation (and in the policy simulator) and again at acceptance, and how an invitee accepts.

use crate::domain::ids::{MembershipId, OrgId};
use crate::domain::membership::MembershipState;
use crate::domain::policy::Inviters;
use crate::domain::policy::TraceRule;
use crate::domain::sign_in::GateRefusal;

use crate::domain::domain_name::email_domain;
use crate::domain::invitation::InviterKind;
use crate::domain::FieldError;
use crate::server::db::invitations::InvitationRow;
use crate::server::db::{self, Conn};
use crate::server::error::AppError;

use crate::server::service::members::check_grant;
use crate::server::service::policy::Trace;

/// What the admin is told when the directory gate refuses an address.
fn gate_refusal(reason: GateRefusal, email: &str) -> AppError {
    let message = if reason == GateRefusal::Deprovisioned {
        format!("{email} was deactivated in this organization's authoritative directory; reactivate them in the directory instead of inviting them")
    } else {
        format!("this organization's directory is authoritative and has not provisioned {email}; assign them to the application in the identity provider instead")
    };
    AppError::Conflict {
        code: "directory_refuses",
        message,
        field: Some("email"),
    }
}

/// The policy's `inviters` and `invitable_roles`, and the inviter's own role as the bound of what
/// they may grant, for an invitation of `role` from `acting` (`None`: the vendor or the
/// organization's admin). Shared by `invite_checks` (creation and the simulator) and by the
/// acceptance, which re-runs them under the policy of the moment (`recheck_at_acceptance`).
fn inviter_and_role_rules(
    policy: &crate::server::service::policy::Policy,
    role: &crate::server::service::roles::Role,
    acting: Option<&(
        crate::server::service::roles::Role,
        db::memberships::MemberRow,
    )>,
    t: &mut Trace,
) -> Result<(), AppError> {
    if let Some((r, m)) = acting {
        if policy.inviters == Inviters::Admins && !r.permissions.iter().any(|p| p == "*") {
            let e = AppError::Forbidden(format!(
                "{} holds the role {}: in this organization only admins may invite",
                m.email, r.slug
            ));
            t.deny(TraceRule::Inviter.as_str(), e.to_string());
            return Err(e);
        }
        t.allow(
            TraceRule::Inviter.as_str(),
            format!("{} may invite ({} may invite)", m.email, policy.inviters),
        );
    } else {
        t.info(
            TraceRule::Inviter.as_str(),
            "invited by the vendor or the organization's admin (always allowed)",
        );
    }
    if !policy.invitable_roles.is_empty() && !policy.invitable_roles.contains(&role.slug) {
        let e = AppError::Invalid(FieldError::new(
            "role",
            format!(
                "invitations in this organization may grant only: {}",
                policy.invitable_roles.join(", ")
            ),
        ));
        t.deny(TraceRule::Role.as_str(), e.to_string());
        return Err(e);
    }
    if let Err(e) = check_grant(&acting.cloned(), role) {
        t.deny(TraceRule::Role.as_str(), e.to_string());
        return Err(e);
    }
    t.allow(
        TraceRule::Role.as_str(),
        format!("the invitation grants {}", role.slug),
    );
    Ok(())
}

/// An invitation made earlier, under the policy as it is now: its role must still exist and be
/// invitable, and an invitation from a member must still come from an active member whom the
/// policy lets invite and whose role may grant it. A policy that tightened after the mail went
/// out therefore holds at acceptance. Answers the refusal in the invitee's words.
pub(crate) async fn recheck_at_acceptance(
    conn: &mut Conn,
    policy: &crate::server::service::policy::Policy,
    inv: &InvitationRow,
    t: &mut Trace,
) -> Result<Result<(), String>, AppError> {
    let ask = "Ask the person who invited you for a new invitation.";
    let Some(role) = crate::server::service::roles::resolve(conn, &inv.role).await? else {
        let why = format!(
            "The role this invitation grants ({}) no longer exists.",
            inv.role
        );
        t.deny(TraceRule::Role.as_str(), why.clone());
        return Ok(Err(format!("{why} {ask}")));
    };
    let acting = if InviterKind::parse(&inv.inviter_kind) == Some(InviterKind::Membership) {
        let inviter = db::memberships::get_member(
            conn,
            &OrgId::from_stored(inv.organization_id.as_str()),
            &MembershipId::from_stored(inv.inviter_id.as_str()),
            db::Lock::Plain,
        )
        .await?
        .filter(|m| m.state == MembershipState::Active);
        let inviter_role = match &inviter {
            Some(m) => crate::server::service::roles::resolve(conn, &m.role).await?,
            None => None,
        };
        match (inviter, inviter_role) {
            (Some(m), Some(r)) => Some((r, m)),
            _ => {
                let why = format!(
                    "{} is no longer an active member of the organization, so their invitations no longer grant access.",
                    inv.inviter_name
                );
                t.deny(TraceRule::Inviter.as_str(), why.clone());
                return Ok(Err(format!("{why} {ask}")));
            }
        }
    } else {
        None
    };
    Ok(
        match inviter_and_role_rules(policy, &role, acting.as_ref(), t) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!(
                "The organization's rules changed after you were invited: {e}. {ask}"
            )),
        },
    )
}

/// The rules an invitation must pass (the policy's `inviters`, `invitable_roles` and
/// `guest_invitations`, the inviter's own role, the domain and directory rules), shared by
/// `create` and the policy simulator; every step is written to `t`. Answers the role's slug.
pub(crate) async fn invite_checks(
    conn: &mut Conn,
    org: &OrgId,
    policy: &crate::server::service::policy::Policy,
    email: &str,
    role: &str,
    acting: Option<&(
        crate::server::service::roles::Role,
        db::memberships::MemberRow,
    )>,
    t: &mut Trace,
) -> Result<String, AppError> {
    let role = crate::server::service::roles::check(conn, "role", role).await?;
    inviter_and_role_rules(policy, &role, acting, t)?;
    let acting_owned = acting.cloned();
    let holders = crate::server::service::domains::holders_of_email(conn, email).await?;
    if holders.first().is_some_and(|h| h.as_str() != org.as_str()) {
        let d = email_domain(email)
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default();
        let e = AppError::Conflict {
            code: "domain_owned_elsewhere",
            message: format!(
                "{d} is verified by another organization, so its addresses cannot be invited here"
            ),
            field: Some("email"),
        };
        t.deny(TraceRule::Domain.as_str(), e.to_string());
        return Err(e);
    }
    guest_check(conn, org, policy, email, t).await?;
    if let Some(db::users::UserMembership {
        role: current,
        state: st,
        ..
    }) = db::users::member_by_email(conn, org, email).await?
    {
        // Re-inviting a suspended or removed member gives their access back: only someone who
        // could grant the role they held may do it.
        if acting.is_some() {
            match crate::server::service::roles::resolve(conn, &current).await? {
                Some(r) => check_grant(&acting_owned, &r)?,
                None => {
                    return Err(AppError::Forbidden(format!(
                        "{email} held the role {current}, which no longer exists; only an admin can invite them back"
                    )))
                }
            }
        }
        if st == MembershipState::Active {
            let e = AppError::Conflict {
                code: "already_member",
                message: format!("{email} is already an active member of this organization"),
                field: Some("email"),
            };
            t.deny(TraceRule::Membership.as_str(), e.to_string());
            return Err(e);
        }
        t.info(
            TraceRule::Membership.as_str(),
            format!("{email} was a member ({st}): accepting restores their access"),
        );
    }
    let user = db::users::user_by_email(conn, org, email).await?;
    match crate::server::service::directories::gate(conn, org, user.as_ref(), email).await? {
        Some(reason) => {
            let e = gate_refusal(reason, email);
            t.deny(TraceRule::Directory.as_str(), e.to_string());
            return Err(e);
        }
        None if db::directories::has_authoritative(conn, org).await? => t.allow(
            TraceRule::Directory.as_str(),
            format!("the authoritative directory provisions {email}"),
        ),
        None => t.info(
            TraceRule::Directory.as_str(),
            "no directory is authoritative",
        ),
    }
    Ok(role.slug)
}

/// The policy's `guest_invitations`: an address outside the organization's verified domains may
/// be invited only while guests are allowed.
pub(crate) async fn guest_check(
    conn: &mut Conn,
    org: &str,
    policy: &crate::server::service::policy::Policy,
    email: &str,
    t: &mut Trace,
) -> Result<(), AppError> {
    let holders = crate::server::service::domains::holders_of_email(conn, email).await?;
    if holders.first().map(String::as_str) == Some(org) {
        t.info(
            TraceRule::GuestInvitations.as_str(),
            "the address is on one of the organization's verified domains",
        );
        return Ok(());
    }
    if policy.guest_invitations {
        t.allow(
            TraceRule::GuestInvitations.as_str(),
            "the address is outside the organization's verified domains; guest invitations are allowed",
        );
        Ok(())
    } else {
        let e = AppError::Conflict {
            code: "guest_invitations_off",
            message: format!("{email} is outside this organization's verified domains, and it invites only people on its own domains"),
            field: Some("email"),
        };
        t.deny(TraceRule::GuestInvitations.as_str(), e.to_string());
        Err(e)
    }
}

/// How an invitee accepts.
#[derive(Debug, Clone)]
pub enum Route {
    /// The emailed link is the proof.
    Link,
    /// Through this connection, as the invited address.
    Sso(Box<db::connections::ConnectionRow>),
    /// SSO is required for this domain but no connection is active: acceptance is refused.
    Unavailable(String),
}

use crate::server::service::sso::route::Route as SsoRoute;

/// The policy's `sso_required_domains`: an invitee whose address is on a verified domain the
/// policy lists accepts through the organization's active connection. Shared by the acceptance
/// and the simulator.
pub(crate) async fn acceptance_route(
    conn: &mut Conn,
    org: &str,
    policy: &crate::server::service::policy::Policy,
    email: &str,
    t: &mut Trace,
) -> Result<Route, AppError> {
    let holders = crate::server::service::domains::holders_of_email(conn, email).await?;
    let domain = email_domain(email)
        .map(|d| d.as_str().to_owned())
        .unwrap_or_default();
    let listed = if holders.first().map(String::as_str) == Some(org) {
        policy.sso_required_for(&domain)
    } else {
        None
    };
    let Some(rule) = listed else {
        t.info(
            TraceRule::SsoRequired.as_str(),
            format!("SSO is not required for {domain}: the emailed link is enough"),
        );
        return Ok(Route::Link);
    };
    let why = if rule == crate::server::service::policy::ALL_VERIFIED {
        "every verified domain".to_owned()
    } else {
        rule
    };
    // The connection that serves the invitee's domain (the first by name when several do).
    let org_id = crate::domain::ids::OrgId::from_stored(org);
    let hint = email_domain(email);
    let served = match crate::server::service::sso::route::route(conn, &org_id, hint.as_ref())
        .await?
    {
        SsoRoute::One(c) => Some(*c),
        SsoRoute::Choose(mut cs) => Some(cs.remove(0)),
        // Connections are active but limited to other domains: SSO is still required and
        // nobody can give it for this domain, so acceptance waits (never the emailed link).
        SsoRoute::Unserved(d) => {
            t.deny(
                    TraceRule::SsoRequired.as_str(),
                    format!("SSO is required for {domain} ({why}) but no active connection serves {d}; add {d} to a connection's domains"),
                );
            return Ok(Route::Unavailable(domain));
        }
        SsoRoute::NoneActive => None,
    };
    match served {
        Some(c) => {
            t.allow(
                TraceRule::SsoRequired.as_str(),
                format!("SSO is required for {domain} ({why}): accepting goes through {} and the signed-in address must be {email}", c.name),
            );
            Ok(Route::Sso(Box::new(c)))
        }
        None if why == "every verified domain" => {
            t.info(
                TraceRule::SsoRequired.as_str(),
                format!("SSO will be required for {domain} (every verified domain) once a connection is active; until then the emailed link is enough"),
            );
            Ok(Route::Link)
        }
        None => {
            t.deny(
                TraceRule::SsoRequired.as_str(),
                format!("SSO is required for {domain} ({why}) but the organization has no active SSO connection"),
            );
            Ok(Route::Unavailable(domain))
        }
    }
}
