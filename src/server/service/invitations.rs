//! Invitations: an admin (or the vendor) invites an email address into an organization with a
//! role; Lanyard mails a single-use link (256-bit token, stored hashed; a resend replaces it);
//! the invitee's GET shows the invitation, the POST accepts it — through the organization's SSO
//! connection when SSO is required for the address's domain — and the vendor's product receives
//! the member through the same one-time code exchange as SSO.

use crate::domain::connection::ConnectionState;
use crate::domain::event_type::EventType;
use crate::domain::membership::{GrantKind, MembershipState};
use crate::domain::policy::Inviters;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::domain_name::email_domain;
use crate::domain::email::EmailAddress;
use crate::domain::ids::{is_valid_id, IdKind};
use crate::domain::invitation::{InvitationState, InviterKind};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::clock::rfc3339;
use crate::server::crypto::{hash_secret, new_secret, INVITE_TOKEN_PREFIX};
use crate::server::db::{self, Conn};
use crate::server::db::{invitations::InvitationRow, mail::MailRow};
use crate::server::error::AppError;
use crate::server::mail::Mail;
use crate::server::oidc::{Identity, OidcFailure};
use crate::server::state::AppState;

use super::members::{acting_role, check_grant};
use super::membership_lifecycle::{self as lifecycle, Change, Record, RowWrite};
use super::policy::Trace;
use super::sso::{Next, SignInResult};

/// Default lifetime in days.
pub const DEFAULT_DAYS: i64 = 7;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// A message is retried this many times before it is given up.
pub const MAX_MAIL_ATTEMPTS: i64 = 8;
/// An invitation's mail is sent again at most once in this long (since its last mail).
pub const RESEND_COOLDOWN_MS: i64 = 60 * 1000;
/// Invitation mails (new invitations and resends) one organization may send per hour.
pub const ORG_MAILS_PER_HOUR: i64 = 200;
/// Invitation mails (new invitations and resends) one organization may send to one address per
/// hour: revoking and re-creating an invitation does not restart anything.
pub const RECIPIENT_MAILS_PER_HOUR: i64 = 5;
const HOUR_MS: i64 = 3600 * 1000;

/// Input of `create`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub organization_id: String,
    pub email: String,
    /// Default: the organization's default role.
    #[serde(default)]
    pub role: Option<String>,
    /// 1 to 30; default 7.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
    /// The member who invites (`om_…`): they cannot grant a role above their own, and the
    /// invitation says it comes from them.
    #[serde(default)]
    pub inviter_membership_id: Option<String>,
    /// Where the invitee lands after accepting (an allow-listed redirect URI); default: the first
    /// allow-listed one.
    #[serde(default)]
    pub redirect_uri: Option<String>,
}

/// Who invited.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Inviter {
    /// api_key | portal_admin | membership
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// The invitation mail's delivery.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// queued | sent | retrying | failed | cancelled
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub next_attempt_at: Option<i64>,
}

/// An invitation as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invitation {
    /// `inv_…`
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    /// pending | accepted | expired | revoked
    pub state: String,
    pub inviter: Inviter,
    pub expires_at: i64,
    pub created_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The membership the acceptance created or joined.
    pub membership_id: Option<String>,
    pub delivery: Option<Delivery>,
    /// The acceptance link; only in the answer to create and resend (it is stored hashed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_url: Option<String>,
}

fn state_of(r: &InvitationRow, now: i64) -> String {
    if r.state == InvitationState::Pending && r.expires_at <= now {
        InvitationState::Expired.as_str().into()
    } else {
        r.state.clone()
    }
}

fn delivery_of(m: Option<MailRow>) -> Option<Delivery> {
    m.map(|m| {
        let state = if m.sent_at.is_some() {
            "sent"
        } else if m.failed_at.is_some() {
            if m.last_error
                .as_deref()
                .unwrap_or("")
                .starts_with("cancelled")
            {
                "cancelled"
            } else {
                "failed"
            }
        } else if m.attempts > 0 {
            "retrying"
        } else {
            "queued"
        };
        Delivery {
            state: state.into(),
            attempts: m.attempts,
            last_error: m.last_error,
            sent_at: m.sent_at,
            next_attempt_at: (m.sent_at.is_none() && m.failed_at.is_none())
                .then_some(m.next_attempt_at),
        }
    })
}

async fn view(conn: &mut Conn, r: InvitationRow, now: i64) -> Result<Invitation, sqlx::Error> {
    let delivery = delivery_of(db::mail::latest_mail(conn, &r.id).await?);
    Ok(Invitation {
        state: state_of(&r, now),
        inviter: Inviter {
            kind: r.inviter_kind,
            id: r.inviter_id,
            name: r.inviter_name,
        },
        id: r.id,
        organization_id: r.organization_id,
        email: r.email,
        role: r.role,
        expires_at: r.expires_at,
        created_at: r.created_at,
        accepted_at: r.accepted_at,
        revoked_at: r.revoked_at,
        membership_id: r.membership_id,
        delivery,
        accept_url: None,
    })
}

/// The organization an invitation belongs to (404 when there is none).
pub async fn organization_of(state: &AppState, id: &str) -> Result<String, AppError> {
    if !is_valid_id(IdKind::Invitation, id) {
        return Err(AppError::NotFound("invitation"));
    }
    let mut conn = state.db.pool.acquire().await?;
    db::invitations::invitation_owner(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("invitation"))
}

/// One invitation.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn get(
    state: &AppState,
    organization_id: &str,
    id: &str,
) -> Result<Invitation, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let r = db::invitations::get_invitation(&mut conn, organization_id, id)
        .await?
        .ok_or(AppError::NotFound("invitation"))?;
    Ok(view(&mut conn, r, state.clock.now()).await?)
}

/// An organization's invitations, newest first.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn list(
    state: &AppState,
    organization_id: &str,
    filter_state: Option<&str>,
) -> Result<Vec<Invitation>, AppError> {
    if let Some(s) = filter_state {
        if InvitationState::parse(s).is_none() {
            return Err(FieldError::new(
                "state",
                "state must be pending, accepted, expired or revoked",
            )
            .into());
        }
    }
    let now = state.clock.now();
    let mut conn = state.db.pool.acquire().await?;
    let rows = db::invitations::list_invitations(&mut conn, organization_id, None, 500).await?;
    let mut out = Vec::new();
    for r in rows {
        let v = view(&mut conn, r, now).await?;
        if filter_state.is_none_or(|s| s == v.state) {
            out.push(v);
        }
    }
    Ok(out)
}

/// What the admin is told when the directory gate refuses an address.
fn gate_refusal(reason: &str, email: &str) -> AppError {
    let message = if reason == "deprovisioned" {
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

/// Marks due pending invitations expired (all of them, or one address's in one organization),
/// with an `invitation.expired` event each.
async fn expire_in(tx: &mut AuditedTx, only: Option<(&str, &str)>) -> Result<usize, AppError> {
    let now = tx.now();
    let due = db::invitations::due_expiries(tx.conn(), now, only).await?;
    let mut n = 0;
    for r in due {
        if db::invitations::finish_invitation(
            tx.conn(),
            &r.id,
            InvitationState::Expired.as_str(),
            None,
            now,
        )
        .await?
        {
            db::invitations::replace_tokens(tx.conn(), &r.id, now).await?;
            tx.record(
                Some(&r.organization_id),
                EventType::InvitationExpired,
                vec![Target::new("invitation", &r.id, Some(&r.email))],
                json!({ "email": r.email, "role": r.role, "expired_at": r.expires_at }),
            )
            .await?;
            n += 1;
        }
    }
    Ok(n)
}

/// The housekeeping sweep: pending invitations past their expiry become `expired`.
pub async fn expire_due(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let mut tx =
        AuditedTx::begin(&state.db, &Actor::system(), &RequestContext::default(), now).await?;
    let n = expire_in(&mut tx, None).await?;
    if n > 0 {
        tx.commit().await?;
    }
    Ok(n)
}

fn accept_url(state: &AppState, token: &str) -> String {
    format!("{}/invite/{token}", state.config.base_url())
}

/// Queues the invitation mail in the caller's transaction (the body is sealed: it carries the link).
async fn queue_mail(
    state: &AppState,
    tx: &mut AuditedTx,
    r: &InvitationRow,
    org_name: &str,
    token: &str,
) -> Result<(), AppError> {
    let link = accept_url(state, token);
    let conn = tx.conn();
    let role_name = super::roles::resolve(conn, &r.role)
        .await?
        .map(|x| x.name)
        .unwrap_or_else(|| r.role.clone());
    let mail = invitation_mail(
        state,
        org_name,
        &r.inviter_name,
        &role_name,
        &r.email,
        &link,
        r.expires_at,
    );
    crate::server::mail::queue(
        tx,
        &state.secrets,
        crate::server::mail::MailFor {
            organization_id: Some(&r.organization_id),
            invitation_id: Some(&r.id),
        },
        &r.email,
        mail.subject,
        &mail.text,
        &mail.html,
    )
    .await?;
    if state.config.smtp_url.is_none() {
        if state.config.env == crate::server::config::Environment::Production {
            tracing::warn!(invitation = %r.id, "no LANYARD_SMTP_URL: the invitation mail is written under the data directory's mail/ folder");
        } else {
            // Development quickstart: the link in the log is the way in without a mail server.
            tracing::info!(to = %r.email, link = %link, "invitation link (no LANYARD_SMTP_URL: the mail is written under the data directory's mail/ folder)");
        }
    }
    Ok(())
}

fn esc(s: &str) -> String {
    crate::domain::text::escape_html(s)
}

/// The invitation mail: plain text and HTML with the vendor's branding.
pub fn invitation_mail(
    state: &AppState,
    org_name: &str,
    inviter: &str,
    role_name: &str,
    to: &str,
    link: &str,
    expires_at: i64,
) -> Mail {
    let b = &state.config.branding;
    let vendor = &b.vendor_name;
    let expires = rfc3339(expires_at);
    let subject = format!("{inviter} invited you to {org_name} on {vendor}");
    let text = format!(
        "{inviter} invited you to join {org_name} on {vendor} as {role_name}.\n\n\
         Accept the invitation:\n{link}\n\n\
         The link works once and expires at {expires} (UTC). If you did not expect this invitation, ignore this email.\n"
    );
    let logo = b
        .logo_url
        .as_deref()
        .map(|u| {
            format!(
                r#"<img src="{}" alt="{}" height="32"><br>"#,
                esc(u),
                esc(vendor)
            )
        })
        .unwrap_or_default();
    let html = format!(
        r#"<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#0f172a;max-width:560px;margin:24px auto">
{logo}<h1 style="font-size:20px">Join {org} on {vendor}</h1>
<p><strong>{inviter}</strong> invited you to join <strong>{org}</strong> as <strong>{role}</strong>.</p>
<p><a href="{link}" style="display:inline-block;background:{color};color:#fff;padding:10px 16px;border-radius:8px;text-decoration:none">Accept the invitation</a></p>
<p style="font-size:13px;color:#475569">Or paste this address into your browser: {link}<br>The link works once and expires at {expires} (UTC). If you did not expect this invitation, ignore this email.</p>
</body></html>"#,
        org = esc(org_name),
        vendor = esc(vendor),
        inviter = esc(inviter),
        role = esc(role_name),
        link = esc(link),
        color = esc(&b.color),
        expires = esc(&expires),
    );
    Mail {
        to: to.to_owned(),
        subject,
        text,
        html,
    }
}

/// Makes a new link for the invitation and queues its mail; returns the link's token.
async fn mail_new_link(
    state: &AppState,
    tx: &mut AuditedTx,
    row: &InvitationRow,
    org_name: &str,
) -> Result<String, AppError> {
    let token = new_secret(INVITE_TOKEN_PREFIX);
    let now = tx.now();
    db::invitations::insert_token(tx.conn(), &hash_secret(&token), &row.id, now).await?;
    queue_mail(state, tx, row, org_name, &token).await?;
    Ok(token)
}

/// Commits, wakes the mail worker and answers with the link (shown this once).
async fn commit_with_link(
    state: &AppState,
    mut tx: AuditedTx,
    row: InvitationRow,
    token: &str,
) -> Result<Invitation, AppError> {
    let now = tx.now();
    let mut out = view(tx.conn(), row, now).await?;
    tx.commit().await?;
    state.mail_kick.notify_one();
    out.accept_url = Some(accept_url(state, token));
    Ok(out)
}

/// The policy's `inviters` and `invitable_roles`, and the inviter's own role as the bound of what
/// they may grant, for an invitation of `role` from `acting` (`None`: the vendor or the
/// organization's admin). Shared by `invite_checks` (creation and the simulator) and by the
/// acceptance, which re-runs them under the policy of the moment (`recheck_at_acceptance`).
fn inviter_and_role_rules(
    policy: &super::policy::Policy,
    role: &super::roles::Role,
    acting: Option<&(super::roles::Role, db::memberships::MemberRow)>,
    t: &mut Trace,
) -> Result<(), AppError> {
    if let Some((r, m)) = acting {
        if policy.inviters == Inviters::Admins && !r.permissions.iter().any(|p| p == "*") {
            let e = AppError::Forbidden(format!(
                "{} holds the role {}: in this organization only admins may invite",
                m.email, r.slug
            ));
            t.deny("inviter", e.to_string());
            return Err(e);
        }
        t.allow(
            "inviter",
            format!("{} may invite ({} may invite)", m.email, policy.inviters),
        );
    } else {
        t.info(
            "inviter",
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
        t.deny("role", e.to_string());
        return Err(e);
    }
    if let Err(e) = check_grant(&acting.cloned(), role) {
        t.deny("role", e.to_string());
        return Err(e);
    }
    t.allow("role", format!("the invitation grants {}", role.slug));
    Ok(())
}

/// An invitation made earlier, under the policy as it is now: its role must still exist and be
/// invitable, and an invitation from a member must still come from an active member whom the
/// policy lets invite and whose role may grant it. A policy that tightened after the mail went
/// out therefore holds at acceptance. Answers the refusal in the invitee's words.
pub(crate) async fn recheck_at_acceptance(
    conn: &mut Conn,
    policy: &super::policy::Policy,
    inv: &InvitationRow,
    t: &mut Trace,
) -> Result<Result<(), String>, AppError> {
    let ask = "Ask the person who invited you for a new invitation.";
    let Some(role) = super::roles::resolve(conn, &inv.role).await? else {
        let why = format!(
            "The role this invitation grants ({}) no longer exists.",
            inv.role
        );
        t.deny("role", why.clone());
        return Ok(Err(format!("{why} {ask}")));
    };
    let acting = if InviterKind::parse(&inv.inviter_kind) == Some(InviterKind::Membership) {
        let inviter = db::memberships::get_member(
            conn,
            &inv.organization_id,
            &inv.inviter_id,
            db::Lock::Plain,
        )
        .await?
        .filter(|m| m.state == MembershipState::Active);
        let inviter_role = match &inviter {
            Some(m) => super::roles::resolve(conn, &m.role).await?,
            None => None,
        };
        match (inviter, inviter_role) {
            (Some(m), Some(r)) => Some((r, m)),
            _ => {
                let why = format!(
                    "{} is no longer an active member of the organization, so their invitations no longer grant access.",
                    inv.inviter_name
                );
                t.deny("inviter", why.clone());
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
    org: &str,
    policy: &super::policy::Policy,
    email: &str,
    role: &str,
    acting: Option<&(super::roles::Role, db::memberships::MemberRow)>,
    t: &mut Trace,
) -> Result<String, AppError> {
    let role = super::roles::check(conn, "role", role).await?;
    inviter_and_role_rules(policy, &role, acting, t)?;
    let acting_owned = acting.cloned();
    let holders = super::domains::holders_of_email(conn, email).await?;
    if holders.first().is_some_and(|h| h != org) {
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
        t.deny("domain", e.to_string());
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
            match super::roles::resolve(conn, &current).await? {
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
            t.deny("membership", e.to_string());
            return Err(e);
        }
        t.info(
            "membership",
            format!("{email} was a member ({st}): accepting restores their access"),
        );
    }
    let user = db::users::user_by_email(conn, org, email).await?;
    match super::directories::gate(conn, org, user.as_deref(), email).await? {
        Some((reason, _)) => {
            let e = gate_refusal(reason, email);
            t.deny("directory", e.to_string());
            return Err(e);
        }
        None if db::directories::has_authoritative(conn, org).await? => t.allow(
            "directory",
            format!("the authoritative directory provisions {email}"),
        ),
        None => t.info("directory", "no directory is authoritative"),
    }
    Ok(role.slug)
}

/// The policy's `guest_invitations`: an address outside the organization's verified domains may
/// be invited only while guests are allowed.
pub(crate) async fn guest_check(
    conn: &mut Conn,
    org: &str,
    policy: &super::policy::Policy,
    email: &str,
    t: &mut Trace,
) -> Result<(), AppError> {
    let holders = super::domains::holders_of_email(conn, email).await?;
    if holders.first().map(String::as_str) == Some(org) {
        t.info(
            "guest_invitations",
            "the address is on one of the organization's verified domains",
        );
        return Ok(());
    }
    if policy.guest_invitations {
        t.allow(
            "guest_invitations",
            "the address is outside the organization's verified domains; guest invitations are allowed",
        );
        Ok(())
    } else {
        let e = AppError::Conflict {
            code: "guest_invitations_off",
            message: format!("{email} is outside this organization's verified domains, and it invites only people on its own domains"),
            field: Some("email"),
        };
        t.deny("guest_invitations", e.to_string());
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

/// The policy's `sso_required_domains`: an invitee whose address is on a verified domain the
/// policy lists accepts through the organization's active connection. Shared by the acceptance
/// and the simulator.
pub(crate) async fn acceptance_route(
    conn: &mut Conn,
    org: &str,
    policy: &super::policy::Policy,
    email: &str,
    t: &mut Trace,
) -> Result<Route, AppError> {
    let holders = super::domains::holders_of_email(conn, email).await?;
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
            "sso_required",
            format!("SSO is not required for {domain}: the emailed link is enough"),
        );
        return Ok(Route::Link);
    };
    let why = if rule == super::policy::ALL_VERIFIED {
        "every verified domain".to_owned()
    } else {
        rule
    };
    match db::connections::list_connections(conn, org)
        .await?
        .into_iter()
        .find(|c| c.state == ConnectionState::Active)
    {
        Some(c) => {
            t.allow(
                "sso_required",
                format!("SSO is required for {domain} ({why}): accepting goes through {} and the signed-in address must be {email}", c.name),
            );
            Ok(Route::Sso(Box::new(c)))
        }
        None if why == "every verified domain" => {
            t.info(
                "sso_required",
                format!("SSO will be required for {domain} (every verified domain) once a connection is active; until then the emailed link is enough"),
            );
            Ok(Route::Link)
        }
        None => {
            t.deny(
                "sso_required",
                format!("SSO is required for {domain} ({why}) but the organization has no active SSO connection"),
            );
            Ok(Route::Unavailable(domain))
        }
    }
}

/// Serialises the invitation mail decisions of one organization on PostgreSQL (an advisory lock
/// taken before any row lock, so it cannot join a lock cycle; SQLite has one writer), so that
/// the counts below hold across nodes and concurrent requests.
async fn lock_mail_decisions(tx: &mut AuditedTx, org: &str) -> Result<(), AppError> {
    db::mail::lock_invitation_mail(tx.conn(), org).await?;
    Ok(())
}

fn seconds_until(ms: i64) -> i64 {
    (ms.max(1) + 999) / 1000
}

/// The organization's cap on invitation mails: [`ORG_MAILS_PER_HOUR`] in any hour, counted from
/// the mail outbox (shared by every node). Refuses with when to retry.
async fn check_org_mail_cap(tx: &mut AuditedTx, org: &str) -> Result<(), AppError> {
    let now = tx.now();
    let db::mail::MailCount {
        sent,
        oldest_at: oldest,
    } = db::mail::invitation_mails_since(tx.conn(), org, now - HOUR_MS).await?;
    if sent < ORG_MAILS_PER_HOUR {
        return Ok(());
    }
    Err(cap_refusal(
        now,
        oldest,
        "invitation_mail_limit",
        &format!("This organization has sent {ORG_MAILS_PER_HOUR} invitation emails in the last hour, the most allowed"),
    ))
}

/// A mail cap's refusal: a slot frees when the oldest mail of the hour leaves the window.
fn cap_refusal(now: i64, oldest: Option<i64>, code: &'static str, what: &str) -> AppError {
    let secs = seconds_until(oldest.unwrap_or(now) + HOUR_MS - now);
    AppError::TooSoon {
        code,
        message: format!(
            "{what}; try again in {} minute(s) (after {} UTC).",
            (secs + 59) / 60,
            rfc3339(now + secs * 1000)
        ),
        retry_after_secs: secs,
    }
}

/// The per-address cap on invitation mails: [`RECIPIENT_MAILS_PER_HOUR`] to one address from one
/// organization in any hour, whichever invitations they belonged to (revoked and re-created ones
/// included), counted from the mail outbox. Refuses with when to retry.
async fn check_recipient_mail_cap(
    tx: &mut AuditedTx,
    org: &str,
    email: &str,
) -> Result<(), AppError> {
    let now = tx.now();
    let db::mail::MailCount {
        sent,
        oldest_at: oldest,
    } = db::mail::invitation_mails_to_since(tx.conn(), org, email, now - HOUR_MS).await?;
    if sent < RECIPIENT_MAILS_PER_HOUR {
        return Ok(());
    }
    Err(cap_refusal(
        now,
        oldest,
        "invitation_address_limit",
        &format!("{email} has been sent {RECIPIENT_MAILS_PER_HOUR} invitation emails from this organization in the last hour, the most allowed for one address"),
    ))
}

/// The resend cool-down: an invitation's mail goes out again only [`RESEND_COOLDOWN_MS`] after
/// its previous mail (the first one included). Refuses with when to retry.
async fn check_resend_cooldown(tx: &mut AuditedTx, row: &InvitationRow) -> Result<(), AppError> {
    let now = tx.now();
    let Some(last) = db::mail::last_invitation_mail_at(tx.conn(), &row.id).await? else {
        return Ok(());
    };
    let wait = last + RESEND_COOLDOWN_MS - now;
    if wait <= 0 {
        return Ok(());
    }
    let secs = seconds_until(wait);
    Err(AppError::TooSoon {
        code: "invitation_resend_too_soon",
        message: format!(
            "An invitation email went to {} less than a minute ago; it can be sent again in {secs} second(s) (after {} UTC).",
            row.email,
            rfc3339(now + secs * 1000)
        ),
        retry_after_secs: secs,
    })
}

/// Invites an address. `actor` is who acts (API key, portal admin); with
/// `inviter_membership_id` the invitation comes from that member and is bounded by their role.
#[tracing::instrument(skip_all, fields(organization_id = %input.organization_id))]
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: CreateInvitation,
) -> Result<Invitation, AppError> {
    if !is_valid_id(IdKind::Organization, &input.organization_id) {
        return Err(FieldError::new(
            "organization_id",
            "organization_id is not an organization id (org_…)",
        )
        .into());
    }
    let org = input.organization_id.clone();
    let email = EmailAddress::parse(&input.email, "email")?.into_string();
    let days = input.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=30).contains(&days) {
        return Err(
            FieldError::new("expires_in_days", "expires_in_days must be from 1 to 30").into(),
        );
    }
    if let Some(r) = &input.redirect_uri {
        if !super::sso::redirect_allowed(state, r).await? {
            return Err(FieldError::new(
                "redirect_uri",
                "redirect_uri is not on the allow-list; add it with POST /api/v1/redirect_uris",
            )
            .into());
        }
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    lock_mail_decisions(&mut tx, &org).await?;
    let org_row = db::organizations::get(tx.conn(), &org)
        .await?
        .ok_or_else(|| FieldError::new("organization_id", "no organization with this id"))?;
    let acting = acting_role(
        tx.conn(),
        &org,
        "inviter_membership_id",
        input.inviter_membership_id.as_deref(),
    )
    .await?;
    let policy = super::policy::load(tx.conn(), &org).await?;
    let wanted = input
        .role
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| org_row.default_role.clone());
    let role = invite_checks(
        tx.conn(),
        &org,
        &policy,
        &email,
        &wanted,
        acting.as_ref(),
        &mut Trace::default(),
    )
    .await?;
    check_org_mail_cap(&mut tx, &org).await?;
    check_recipient_mail_cap(&mut tx, &org, &email).await?;
    expire_in(&mut tx, Some((&org, &email))).await?;
    let (inviter_kind, inviter_id, inviter_name) = match &acting {
        Some((_, m)) => (
            InviterKind::Membership.as_str().to_owned(),
            m.id.clone(),
            m.email.clone(),
        ),
        None => (
            InviterKind::Actor(actor.kind).as_str().to_owned(),
            actor.id.clone(),
            actor.name.clone(),
        ),
    };
    let row = InvitationRow {
        id: db::new_id(IdKind::Invitation),
        organization_id: org.clone(),
        email: email.clone(),
        role: role.clone(),
        state: InvitationState::Pending.as_str().into(),
        inviter_kind,
        inviter_id,
        inviter_name,
        redirect_uri: input.redirect_uri.clone(),
        expires_at: now + days * DAY_MS,
        lifetime_ms: days * DAY_MS,
        created_at: now,
        updated_at: now,
        accepted_at: None,
        revoked_at: None,
        membership_id: None,
    };
    match db::invitations::insert_invitation(tx.conn(), &row).await {
        Err(e) if db::is_unique_violation(&e) => {
            return Err(AppError::Conflict {
                code: "invitation_pending",
                message: format!("{email} already has a pending invitation; resend or revoke it"),
                field: Some("email"),
            })
        }
        r => r?,
    }
    let token = mail_new_link(state, &mut tx, &row, &org_row.name).await?;
    tx.record(
        Some(&org),
        EventType::InvitationCreated,
        vec![Target::new("invitation", &row.id, Some(&email))],
        json!({ "email": email, "role": row.role, "expires_at": row.expires_at, "inviter": row.inviter_name }),
    )
    .await?;
    commit_with_link(state, tx, row, &token).await
}

/// Sends the invitation again with a new link; the old link stops working. The expiry restarts.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn resend(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &str,
) -> Result<Invitation, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    lock_mail_decisions(&mut tx, organization_id).await?;
    let mut row = db::invitations::get_invitation(tx.conn(), organization_id, id)
        .await?
        .ok_or(AppError::NotFound("invitation"))?;
    if row.state != InvitationState::Pending {
        return Err(AppError::Conflict {
            code: "invitation_not_pending",
            message: format!(
                "this invitation is {}; create a new invitation instead",
                row.state
            ),
            field: None,
        });
    }
    check_resend_cooldown(&mut tx, &row).await?;
    check_org_mail_cap(&mut tx, organization_id).await?;
    check_recipient_mail_cap(&mut tx, organization_id, &row.email).await?;
    row.expires_at = now + row.lifetime_ms.clamp(DAY_MS, 30 * DAY_MS);
    // Conditional (and it takes the row lock first): an acceptance or revocation that committed
    // since the read above wins.
    if !db::invitations::extend_invitation(tx.conn(), id, row.expires_at, now).await? {
        return Err(AppError::Conflict {
            code: "invitation_not_pending",
            message: "this invitation was just accepted or revoked; reload the page".into(),
            field: None,
        });
    }
    db::invitations::replace_tokens(tx.conn(), id, now).await?;
    db::mail::cancel_invitation_mail(tx.conn(), id, now).await?;
    let org_name = db::organizations::get(tx.conn(), organization_id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    let token = mail_new_link(state, &mut tx, &row, &org_name).await?;
    tx.record(
        Some(organization_id),
        EventType::InvitationResent,
        vec![Target::new("invitation", id, Some(&row.email))],
        json!({ "email": row.email, "expires_at": row.expires_at }),
    )
    .await?;
    commit_with_link(state, tx, row, &token).await
}

/// Revokes a pending invitation: its link stops working and unsent mail is cancelled.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn revoke(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &str,
) -> Result<Invitation, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = db::invitations::get_invitation(tx.conn(), organization_id, id)
        .await?
        .ok_or(AppError::NotFound("invitation"))?;
    if !db::invitations::finish_invitation(
        tx.conn(),
        id,
        InvitationState::Revoked.as_str(),
        None,
        now,
    )
    .await?
    {
        drop(tx);
        let current = get(state, organization_id, id).await?.state;
        return Err(AppError::Conflict {
            code: "invitation_not_pending",
            message: format!("this invitation is {current} and can no longer be revoked"),
            field: None,
        });
    }
    db::invitations::replace_tokens(tx.conn(), id, now).await?;
    db::mail::cancel_invitation_mail(tx.conn(), id, now).await?;
    tx.record(
        Some(organization_id),
        EventType::InvitationRevoked,
        vec![Target::new("invitation", id, Some(&row.email))],
        json!({ "email": row.email }),
    )
    .await?;
    let row = db::invitations::get_invitation(tx.conn(), organization_id, id)
        .await?
        .ok_or(AppError::NotFound("invitation"))?;
    let out = view(tx.conn(), row, now).await?;
    tx.commit().await?;
    Ok(out)
}

/// Revokes an address's pending invitations in the caller's transaction (a member was just
/// suspended or removed).
pub(crate) async fn revoke_pending_for(
    tx: &mut AuditedTx,
    organization_id: &str,
    email: &str,
    because: &str,
) -> Result<(), AppError> {
    let now = tx.now();
    for r in db::invitations::pending_for(tx.conn(), organization_id, email).await? {
        if db::invitations::finish_invitation(
            tx.conn(),
            &r.id,
            InvitationState::Revoked.as_str(),
            None,
            now,
        )
        .await?
        {
            db::invitations::replace_tokens(tx.conn(), &r.id, now).await?;
            db::mail::cancel_invitation_mail(tx.conn(), &r.id, now).await?;
            tx.record(
                Some(organization_id),
                EventType::InvitationRevoked,
                vec![Target::new("invitation", &r.id, Some(&r.email))],
                json!({ "email": r.email, "reason": format!("member {because}") }),
            )
            .await?;
        }
    }
    Ok(())
}

// --- the invitee's side -----------------------------------------------------------------------

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
                let role_name = super::roles::resolve(&mut conn, &r.role)
                    .await?
                    .map(|x| x.name)
                    .unwrap_or_else(|| r.role.clone());
                let policy = super::policy::load(&mut conn, &r.organization_id).await?;
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
                    refused.or(Some(format!("{} requires single sign-on for {d}, but no SSO connection is active yet. Ask your IT admin to finish setting up SSO, then open this link again.", org.name))),
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
        return super::sso::begin_invite(state, *conn_row, redirect, &invitation.id, &token_hash)
            .await;
    }
    match accept(state, ctx, &invitation, &token_hash, None).await? {
        Err((status, title, message)) => Ok(Next::Page(status, title, message)),
        Ok(result) => finish_redirect(state, &invitation, redirect, "", &result).await,
    }
}

/// Where the invitee goes after accepting: the invitation's redirect URI while it is still
/// allow-listed, else the first allow-listed one.
async fn redirect_for(state: &AppState, inv: &InvitationRow) -> Result<Option<String>, AppError> {
    if let Some(r) = &inv.redirect_uri {
        if super::sso::redirect_allowed(state, r).await? {
            return Ok(Some(r.clone()));
        }
    }
    super::sso::default_redirect(state).await
}

async fn finish_redirect(
    state: &AppState,
    inv: &InvitationRow,
    redirect: Option<String>,
    connection_id: &str,
    result: &SignInResult,
) -> Result<Next, AppError> {
    match redirect {
        Some(r) => {
            super::sso::hand_off(state, &inv.organization_id, connection_id, &r, None, result).await
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
        db::invitations::get_invitation(&mut conn, &row.organization_id, &invitation_id).await?
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
        super::sso::record_failure(state, row, "signin", &f).await?;
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
            finish_redirect(state, &inv, redirect, &row.id, &result).await
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
    let org = inv.organization_id.clone();
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
        let mut conn = state.db.pool.acquire().await?;
        let cur = db::invitations::get_invitation(&mut conn, &org, &inv.id).await?;
        let st = match cur
            .as_ref()
            .and_then(|r| InvitationState::parse(&state_of(r, now)))
        {
            Some(InvitationState::Accepted) => LinkState::Accepted,
            Some(InvitationState::Expired) => LinkState::Expired,
            Some(InvitationState::Pending) => LinkState::Replaced,
            _ => LinkState::Revoked,
        };
        return Ok(Err(
            match gone_page(&state.config.branding.vendor_name, &st) {
                Next::Page(s, t, m) => (s, t, m),
                Next::Redirect(_) => refusal(410, "This invitation link no longer works", ""),
            },
        ));
    }
    let holders = super::domains::holders_of_email(tx.conn(), &email).await?;
    if holders.first().is_some_and(|h| *h != org) {
        drop(tx);
        return Ok(Err(refusal(403, "This invitation can no longer be accepted", "Your email domain is now verified by another organization. Ask the person who invited you for help.")));
    }
    let user = db::users::user_by_email(tx.conn(), &org, &email).await?;
    if let Some((_, message)) =
        super::directories::gate(tx.conn(), &org, user.as_deref(), &email).await?
    {
        drop(tx);
        return Ok(Err(refusal(
            403,
            "This invitation can no longer be accepted",
            capitalize(message) + ".",
        )));
    }
    // The policy as it is now, not as it was when the invitation was sent.
    let policy = super::policy::load(tx.conn(), &org).await?;
    if let Err(why) = recheck_at_acceptance(tx.conn(), &policy, inv, &mut Trace::default()).await? {
        drop(tx);
        return Ok(Err(refusal(
            403,
            "This invitation can no longer be accepted",
            why,
        )));
    }
    let grant_detail = json!({
        "invitation_id": inv.id,
        "inviter_type": inv.inviter_kind,
        "inviter_id": inv.inviter_id,
        "inviter_name": inv.inviter_name,
        "connection_id": sso.map(|(c, _)| c.id.clone()),
    });
    let (user_id, membership_id, role) = match db::users::member_by_email(tx.conn(), &org, &email)
        .await?
    {
        Some(db::users::UserMembership {
            user_id: u,
            membership_id: m,
            role: r,
            state: st,
        }) if st == MembershipState::Active => {
            // Already in (a directory or a sign-in got there first): keep the membership as it is.
            let mut detail = grant_detail.clone();
            detail["note"] = json!("already a member; role unchanged");
            lifecycle::apply(
                &mut tx,
                Change {
                    organization_id: &org,
                    membership_id: &m,
                    label: &email,
                    rows: vec![],
                    revoke_invitations_to: None,
                    records: vec![Record::Grant {
                        kind: GrantKind::Invitation,
                        role: &r,
                        detail,
                    }],
                },
            )
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
            let managed = db::memberships::get_member(tx.conn(), &org, &m, db::Lock::Plain)
                .await?
                .is_some_and(|r| r.directory_name.is_some());
            let role = if managed {
                old_role.clone()
            } else {
                inv.role.clone()
            };
            let mut rows = vec![RowWrite::State(MembershipState::Active)];
            let mut records = vec![];
            if !managed && role != old_role {
                rows.push(RowWrite::Role(&role));
                records.push(Record::Event {
                    kind: EventType::MembershipRoleChanged,
                    metadata: json!({ "from": old_role, "to": role, "source": "invitation", "invitation_id": inv.id }),
                });
            }
            records.push(Record::Grant {
                kind: GrantKind::Invitation,
                role: &role,
                detail: grant_detail.clone(),
            });
            records.push(Record::Event {
                kind: EventType::MembershipReactivated,
                metadata: json!({ "source": "invitation", "invitation_id": inv.id, "role": role }),
            });
            lifecycle::apply(
                &mut tx,
                Change {
                    organization_id: &org,
                    membership_id: &m,
                    label: &email,
                    rows,
                    revoke_invitations_to: None,
                    records,
                },
            )
            .await?;
            (u, m, role)
        }
        None => {
            let u = match user {
                Some(u) => u,
                None => {
                    let u = db::new_id(IdKind::User);
                    let (first, last) = sso
                        .map(|(_, i)| (i.first_name.clone(), i.last_name.clone()))
                        .unwrap_or_default();
                    db::users::insert_user(
                        tx.conn(),
                        &u,
                        &org,
                        &email,
                        first.as_deref(),
                        last.as_deref(),
                        now,
                    )
                    .await?;
                    u
                }
            };
            let m = db::new_id(IdKind::Membership);
            lifecycle::apply(
                &mut tx,
                Change {
                    organization_id: &org,
                    membership_id: &m,
                    label: &email,
                    rows: vec![RowWrite::Insert {
                        user_id: &u,
                        role: &inv.role,
                    }],
                    revoke_invitations_to: None,
                    records: vec![
                        Record::Grant {
                            kind: GrantKind::Invitation,
                            role: &inv.role,
                            detail: grant_detail.clone(),
                        },
                        Record::Event {
                            kind: EventType::MembershipCreated,
                            metadata: json!({ "role": inv.role, "source": "invitation", "invitation_id": inv.id, "inviter": inv.inviter_name }),
                        },
                    ],
                },
            )
            .await?;
            (u, m, inv.role.clone())
        }
    };
    if let Some((c, i)) = sso {
        let raw = i.raw.to_string();
        match db::users::identity_user(tx.conn(), &c.id, &i.subject).await? {
            None => {
                db::users::insert_identity(
                    tx.conn(),
                    &c.id,
                    &i.subject,
                    &org,
                    &user_id,
                    &email,
                    &raw,
                    now,
                )
                .await?;
            }
            Some(u) if u == user_id => {
                db::users::touch_identity(tx.conn(), &c.id, &i.subject, &email, &raw, now).await?;
            }
            Some(_) => {
                // This IdP account already stands for someone else here: never merge two people.
                drop(tx);
                return Ok(Err(refusal(
                    403,
                    "This invitation can no longer be accepted",
                    "The account you signed in with already belongs to another member of this organization. Ask the person who invited you for help.",
                )));
            }
        }
    }
    db::invitations::set_invitation_membership(tx.conn(), &inv.id, &membership_id).await?;
    db::invitations::replace_tokens(tx.conn(), &inv.id, now).await?;
    db::memberships::touch_sign_in(tx.conn(), &membership_id, now).await?;
    tx.record(
        Some(&org),
        EventType::InvitationAccepted,
        vec![
            Target::new("invitation", &inv.id, Some(&email)),
            Target::new("membership", &membership_id, Some(&email)),
        ],
        json!({ "email": email, "role": role, "via": if sso.is_some() { "sso" } else { "email_link" } }),
    )
    .await?;
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

// --- mail delivery ----------------------------------------------------------------------------

fn backoff_ms(attempts: i64) -> i64 {
    let base = 30_000i64.saturating_mul(1 << attempts.clamp(0, 7));
    let base = base.min(3600 * 1000);
    let jitter: i64 = rand::random::<u32>() as i64 % (base / 5 + 1);
    base + jitter
}

/// Sends the mail that is due; returns how many messages were attempted. Several nodes may run
/// it at once: each attempt is leased first.
pub async fn deliver_mail(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let due = {
        let mut conn = state.db.pool.acquire().await?;
        db::mail::due_mail(&mut conn, now, 20).await?
    };
    let from = format!(
        "no-reply@{}",
        state.config.public_url.host_str().unwrap_or("localhost")
    );
    let mut n = 0;
    for m in due {
        {
            let _turn = state.db.write_turn().await?;
            let mut conn = state.db.pool.acquire().await?;
            let lease_until = state.clock.now() + 5 * 60 * 1000;
            if !db::mail::claim_mail(&mut conn, &m.id, m.next_attempt_at, lease_until).await? {
                continue;
            }
        }
        n += 1;
        let body = state
            .secrets
            .open(&m.body_enc, &format!("mail_outbox:{}", m.id))
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok());
        let outcome = match body {
            None => Err(
                "the stored message cannot be read (was LANYARD_SECRET_KEY changed?)".to_owned(),
            ),
            Some(b) => {
                let mail = Mail {
                    to: m.recipient.clone(),
                    subject: m.subject.clone(),
                    text: b["text"].as_str().unwrap_or_default().to_owned(),
                    html: b["html"].as_str().unwrap_or_default().to_owned(),
                };
                state
                    .mailer
                    .send(&state.config.branding.vendor_name, &from, &mail)
                    .await
            }
        };
        let done = state.clock.now();
        let _turn = state.db.write_turn().await?;
        let mut conn = state.db.pool.acquire().await?;
        match outcome {
            Ok(info) => {
                tracing::info!(mail = %m.id, to = %m.recipient, %info, "mail sent");
                db::mail::mail_sent(&mut conn, &m.id, done).await?;
            }
            Err(e) => {
                let e: String = e.chars().take(500).collect();
                let next =
                    (m.attempts + 1 < MAX_MAIL_ATTEMPTS).then(|| done + backoff_ms(m.attempts));
                tracing::warn!(mail = %m.id, to = %m.recipient, error = %e, retry_at = ?next, "mail delivery failed");
                db::mail::mail_failed(&mut conn, &m.id, &e, next, done).await?;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff_ms(0) >= 30_000 && backoff_ms(0) <= 36_000);
        assert!(backoff_ms(3) >= 240_000);
        assert!(backoff_ms(20) <= 3600 * 1000 + 720_000);
    }
}
