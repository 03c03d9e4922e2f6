//! Who a sign-in admits: the JIT policy's decision and the writes it makes.

use crate::domain::connection::ConnectionState;
use crate::domain::event_type::EventType;
use crate::domain::membership::{ChangeSource, GrantKind, MembershipState};
use crate::domain::target::TargetKind;

use crate::domain::domain_name::email_domain;
use crate::domain::ids::{MembershipId, UserId};
use crate::domain::policy::TraceRule;
use crate::domain::sign_in::AdmissionRefusal;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::oidc::{Identity, OidcFailure};
use crate::server::service::membership_lifecycle::Change;
use crate::server::service::policy::Trace;
use crate::server::state::AppState;

use super::SignInResult;

/// Who a sign-in admits: an identity seen before, a member found by email (linked to this
/// connection), or a new member by JIT.
#[derive(Debug, Clone)]
pub enum Admit {
    Returning {
        user_id: UserId,
        membership_id: MembershipId,
        role: String,
    },
    Link {
        user_id: UserId,
        membership_id: MembershipId,
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
    // What the IdP says of the address (OIDC `email_verified`; `None` when it does not say).
    email_verified: Option<bool>,
    subject: Option<&str>,
    t: &mut Trace,
) -> Result<Result<Admit, OidcFailure>, AppError> {
    let org_id = row.org_id();
    let org = &org_id;
    let refuse = |t: &mut Trace, rule: TraceRule, reason: AdmissionRefusal, message: String| {
        t.deny(rule.as_str(), message.clone());
        Ok(Err(OidcFailure {
            reason: reason.as_str().into(),
            message,
        }))
    };
    if row.state != ConnectionState::Active {
        return refuse(
            t,
            TraceRule::Connection,
            AdmissionRefusal::ConnectionInactive,
            format!("the SSO connection {} is not active", row.name),
        );
    }
    t.allow(
        TraceRule::Connection.as_str(),
        format!(
            "{} connection {} is active",
            row.kind.to_uppercase(),
            row.name
        ),
    );
    // ASCII-only trimming and case folding: a no-break space or a Kelvin sign (which Unicode
    // lowercases to `k`) must never turn one person's address into another's.
    let Some(email) = email.map(fold_email) else {
        return refuse(t, TraceRule::Email, AdmissionRefusal::NoEmail, "your identity provider did not send an email address; ask your IT admin to release the email claim".into());
    };
    // An address with two `@` reads as one domain here and another elsewhere (a product that
    // splits at the first): refused before anything is judged by its domain.
    if email.matches('@').count() > 1 {
        return refuse(
            t,
            TraceRule::Email,
            AdmissionRefusal::InvalidEmail,
            "the email address your identity provider sent is not valid (it has more than one @)"
                .into(),
        );
    }
    let connection_id = row.connection_id();
    let existing = match subject {
        Some(sub) => db::users::identity_membership(conn, org, &connection_id, sub).await?,
        None => None,
    };
    let by_email = db::users::member_by_email(conn, org, &email).await?;
    let known_user = existing
        .as_ref()
        .or(by_email.as_ref())
        .map(|m| m.user_id.clone());
    // A connection limited to some of the organization's domains signs in nobody of its other
    // domains, new, linked or returning (they belong to the connection bound to their domain):
    // judged by the address the IdP sends now and by the address of the person it is already
    // linked to, against every domain the organization claims (a lapsed or pending one is still
    // its own). Addresses outside them (guests, invitees) are left to the rules below.
    if let Some(served) = row.served_domains() {
        let claims = db::domains::list(conn, org.as_str()).await?;
        let mut addresses = vec![email.clone()];
        if let Some(u) = &known_user {
            if let Some(e) = db::users::user_email(conn, org, u).await? {
                addresses.push(fold_email(&e));
            }
        }
        let mut served_claim = None;
        for address in &addresses {
            let Some(c) =
                email_domain(address).and_then(|d| super::route::claim_for_any(&d, &claims))
            else {
                continue;
            };
            if served.contains(&c) {
                served_claim.get_or_insert(c);
                continue;
            }
            let others: Vec<String> = super::route::serving(conn, &org_id, &c)
                .await?
                .into_iter()
                .filter(|o| o.id != row.id)
                .map(|o| o.name)
                .collect();
            let go = match others.as_slice() {
                [] => "no active connection of this organization serves it yet; ask your IT admin"
                    .to_owned(),
                names => format!("sign in through {} instead", names.join(" or ")),
            };
            return refuse(
                t,
                TraceRule::Routing,
                AdmissionRefusal::DomainNotServed,
                format!(
                    "{c} is a domain of this organization, but {} signs in only people of {}: {go}",
                    row.name,
                    served.join(", ")
                ),
            );
        }
        match served_claim {
            Some(c) => t.allow(
                TraceRule::Routing.as_str(),
                format!("{} serves {c}", row.name),
            ),
            None => t.info(
                TraceRule::Routing.as_str(),
                format!(
                    "{} serves {}; {email} is not on a domain of the organization",
                    row.name,
                    served.join(", ")
                ),
            ),
        }
    }
    match crate::server::service::directories::gate(conn, org, known_user.as_ref(), &email).await? {
        Some(why) => {
            return refuse(t, TraceRule::Directory, why.into(), why.message().into());
        }
        None if db::directories::has_authoritative(conn, org).await? => t.allow(
            TraceRule::Directory.as_str(),
            format!("the authoritative directory provisions {email} and keeps them active"),
        ),
        None => t.info(
            TraceRule::Directory.as_str(),
            "no directory is authoritative",
        ),
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
                TraceRule::Membership,
                AdmissionRefusal::MembershipSuspended,
                "your access to this organization is suspended; contact your IT admin".into(),
            );
        }
        t.allow(
            TraceRule::Membership.as_str(),
            format!("returning member with role {r}"),
        );
        return Ok(Ok(Admit::Returning {
            user_id: u,
            membership_id: m,
            role: r,
        }));
    }
    // A new identity is matched to a member, or added, by its email: only when the IdP does not
    // say the address is unverified (an IdP with self-service sign-up could otherwise hand a
    // stranger a colleague's address).
    if email_verified == Some(false) {
        return refuse(t, TraceRule::Email, AdmissionRefusal::EmailUnverified, format!("your identity provider says {email} is not verified, so you cannot be matched to a member or added by it; verify the address with your identity provider or ask your IT admin"));
    }
    let Some(domain) = email_domain(&email) else {
        return refuse(
            t,
            TraceRule::Email,
            AdmissionRefusal::InvalidEmail,
            "the email address your identity provider sent is not valid".into(),
        );
    };
    let domain = domain.as_str().to_owned();
    let holders = crate::server::service::domains::holders_of_email(conn, &email).await?;
    if holders.first().map(String::as_str) != Some(org.as_str()) {
        return refuse(t, TraceRule::Domain, AdmissionRefusal::DomainNotVerified, format!("{domain} is not a verified domain of this organization, so you cannot join it by signing in; ask your IT admin for an invitation"));
    }
    t.allow(
        TraceRule::Domain.as_str(),
        format!("{domain} is verified by this organization"),
    );
    match by_email {
        Some(db::users::UserMembership { state: st, .. }) if st != MembershipState::Active => {
            refuse(
                t,
                TraceRule::Membership,
                AdmissionRefusal::MembershipSuspended,
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
                TraceRule::Membership.as_str(),
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
            let policy = crate::server::service::policy::load(conn, org).await?;
            if !policy.jit_enabled {
                return refuse(t, TraceRule::Jit, AdmissionRefusal::JitDisabled, format!("{email} is not a member yet and this organization does not add people when they first sign in; ask your IT admin for an invitation"));
            }
            let role = db::organizations::get(conn, org)
                .await?
                .map(|o| o.default_role)
                .unwrap_or_else(|| "member".into());
            t.allow(
                TraceRule::Jit.as_str(),
                format!("JIT provisioning is on: {email} joins with the default role {role}"),
            );
            Ok(Ok(Admit::Jit { role, domain }))
        }
    }
}

/// Runs the sign-in decision and writes what it admits.
pub(super) async fn admit(
    state: &AppState,
    ctx: &RequestContext,
    row: &db::connections::ConnectionRow,
    id: &Identity,
    // The OpenID Provider's client the sign-in is for, if any.
    client_id: Option<&str>,
) -> Result<Result<SignInResult, (OidcFailure, serde_json::Value)>, AppError> {
    let org = &row.organization_id;
    let now = state.clock.now();
    let email = id.email.clone().map(|e| fold_email(&e)).unwrap_or_default();
    let raw = id.raw.to_string();
    let actor = Actor {
        kind: crate::domain::actor::ActorKind::User,
        id: format!("{}:{}", row.id, id.subject),
        name: email.clone(),
    };
    let mut tx = AuditedTx::begin(&state.db, &actor, ctx, now).await?;
    let admitted = match decide_locked(&mut tx, row, id).await? {
        (Err(f), trace) => {
            drop(tx);
            // The decision's rules, as the policy simulator would show them: the evidence of why.
            return Ok(Err((f, serde_json::json!({ "rules": trace.0 }))));
        }
        (Ok(a), _) => a,
    };
    let (user_id, membership_id, role) =
        write_admitted(&mut tx, row, id, &email, &raw, admitted).await?;
    db::memberships::touch_sign_in(tx.conn(), &membership_id, now).await?;
    // Counted per day for the connection's chart (failures are recorded where they happen).
    db::sign_in::insert_attempt(
        tx.conn(),
        &db::new_id(crate::domain::ids::IdKind::LoginAttempt),
        &row.org_id(),
        &row.connection_id(),
        crate::domain::sign_in::SignInPurpose::Signin.as_str(),
        crate::domain::sign_in::SignInOutcome::Succeeded,
        None,
        "{}",
        now,
    )
    .await?;
    let ev = tx
        .record(
            Some(org),
            EventType::AuthenticationSucceeded,
            vec![
                Target::new(TargetKind::Connection, &row.id, Some(&row.name)),
                Target::new(TargetKind::User, &user_id, Some(&email)),
            ],
            match client_id {
                Some(c) => serde_json::json!({ "subject": id.subject, "client_id": c }),
                None => serde_json::json!({ "subject": id.subject }),
            },
        )
        .await?;
    let snapshot = crate::server::events::Snapshot::SignIn {
        succeeded: true,
        organization_id: org.to_string(),
        connection_id: row.id.clone(),
        user_id: Some(user_id.to_string()),
        email: Some(email.clone()),
        ip: tx.context().ip.clone(),
        user_agent: tx.context().user_agent.clone(),
        error: None,
    };
    tx.snapshot(&ev, &snapshot);
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

/// The sign-in decision, made in `tx`. On PostgreSQL the decision reads the membership without a
/// lock, so a directory suspension could commit between it and the writes that follow. A
/// returning or linked member's row is locked, then the decision is made again: it sees any
/// suspension that committed first, and one that comes later waits for this sign-in and then
/// voids its code.
async fn decide_locked(
    tx: &mut AuditedTx,
    row: &db::connections::ConnectionRow,
    id: &Identity,
) -> Result<(Result<Admit, OidcFailure>, Trace), AppError> {
    let mut locked = false;
    loop {
        let mut trace = Trace::default();
        let decided = admission(
            tx.conn(),
            row,
            id.email.as_deref(),
            id.email_verified,
            Some(&id.subject),
            &mut trace,
        )
        .await?;
        if let Ok(Admit::Returning { membership_id, .. } | Admit::Link { membership_id, .. }) =
            &decided
        {
            if !locked {
                let m = membership_id.clone();
                // Decide again only when a lock was taken (PostgreSQL).
                if db::memberships::lock_membership(
                    tx.conn(),
                    &row.org_id(),
                    &MembershipId::from_stored(m),
                )
                .await?
                {
                    locked = true;
                    continue;
                }
            }
        }
        return Ok((decided, trace));
    }
}

/// Writes what the decision admits: the identity touched or linked, or a new user, identity and
/// membership (JIT). Answers the user, the membership and the role.
async fn write_admitted(
    tx: &mut AuditedTx,
    row: &db::connections::ConnectionRow,
    id: &Identity,
    email: &str,
    raw: &str,
    admitted: Admit,
) -> Result<(UserId, MembershipId, String), AppError> {
    let (org, connection_id) = (&row.org_id(), &row.connection_id());
    let now = tx.now();
    let grant = |domain: &str| serde_json::json!({ "connection_id": row.id, "connection_name": row.name, "connection_kind": row.kind, "domain": domain });
    Ok(match admitted {
        Admit::Returning {
            user_id,
            membership_id,
            role,
        } => {
            db::users::touch_identity(tx.conn(), &row.id, &id.subject, email, raw, now).await?;
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
                connection_id,
                &id.subject,
                org,
                &user_id,
                email,
                raw,
                now,
            )
            .await?;
            Change::new(org, &membership_id, email)
                .grant(GrantKind::JitLink, &role, grant(&domain))
                .apply(tx)
                .await?;
            (user_id, membership_id, role)
        }
        Admit::Jit { role, domain } => {
            let u = UserId::generate();
            let m = MembershipId::generate();
            db::users::insert_user(
                tx.conn(),
                &u,
                org,
                email,
                id.first_name.as_deref(),
                id.last_name.as_deref(),
                now,
            )
            .await?;
            db::users::insert_identity(
                tx.conn(),
                connection_id,
                &id.subject,
                org,
                &u,
                email,
                raw,
                now,
            )
            .await?;
            Change::new(org, &m, email)
                .insert(&u, &role)
                .grant(GrantKind::Jit, &role, grant(&domain))
                .event(
                    EventType::MembershipCreated,
                    serde_json::json!({ "role": role, "source": ChangeSource::Jit, "connection_id": row.id, "domain": domain }),
                )
                .apply(tx)
                .await?;
            (u, m, role)
        }
    })
}

/// The form an IdP's email is compared in: ASCII whitespace trimmed, ASCII letters lowercased,
/// everything else kept as sent.
fn fold_email(e: &str) -> String {
    e.trim_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_lowercase()
}

#[cfg(test)]
mod fold_tests {
    use super::fold_email;

    #[test]
    fn only_ascii_is_trimmed_and_folded() {
        assert_eq!(fold_email("  Kate@Acme.TEST\t"), "kate@acme.test");
        // U+212A KELVIN SIGN lowercases to `k` in Unicode: never someone else's address.
        assert_ne!(fold_email("\u{212a}ate@acme.test"), "kate@acme.test");
        // A no-break space is part of the address as sent, not trimmed into the CEO's.
        assert_ne!(fold_email("ceo@acme.test\u{a0}"), "ceo@acme.test");
    }
}
