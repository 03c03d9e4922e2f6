//! The admin's side: reading invitations, creating, resending and revoking them, the expiry sweep and the invitation mail caps.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use serde_json::json;

use crate::domain::email::EmailAddress;
use crate::domain::ids::{IdKind, InvitationId, OrgId};
use crate::domain::invitation::{InvitationState, InviterKind};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::clock::rfc3339;
use crate::server::db;
use crate::server::db::invitations::InvitationRow;
use crate::server::error::AppError;
use crate::server::state::AppState;

use crate::server::service::members::acting_role;
use crate::server::service::policy::Trace;

use super::mail::{commit_with_link, mail_new_link};
use super::rules::invite_checks;
use super::{
    view, CreateInvitation, Invitation, DAY_MS, DEFAULT_DAYS, HOUR_MS, ORG_MAILS_PER_HOUR,
    RECIPIENT_MAILS_PER_HOUR, RESEND_COOLDOWN_MS,
};

/// The organization an invitation belongs to (404 when there is none).
pub async fn organization_of(state: &AppState, id: &InvitationId) -> Result<OrgId, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::invitations::invitation_owner(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("invitation"))
}

/// One invitation.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn get(
    state: &AppState,
    organization_id: &OrgId,
    id: &InvitationId,
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
    organization_id: &OrgId,
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
                vec![Target::new(TargetKind::Invitation, &r.id, Some(&r.email))],
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
    let org = OrgId::parse(&input.organization_id).ok_or_else(|| {
        FieldError::new(
            "organization_id",
            "organization_id is not an organization id (org_…)",
        )
    })?;
    let email = EmailAddress::parse(&input.email, "email")?.into_string();
    let days = input.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=30).contains(&days) {
        return Err(
            FieldError::new("expires_in_days", "expires_in_days must be from 1 to 30").into(),
        );
    }
    if let Some(r) = &input.redirect_uri {
        if !crate::server::service::sso::redirect_allowed(state, r).await? {
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
    let policy = crate::server::service::policy::load(tx.conn(), &org).await?;
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
            m.id.to_string(),
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
        organization_id: org.to_string(),
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
    let ev = tx
        .record(
            Some(&org),
            EventType::InvitationCreated,
            vec![Target::new(TargetKind::Invitation, &row.id, Some(&email))],
            json!({ "email": email, "role": row.role, "expires_at": row.expires_at, "inviter": row.inviter_name }),
        )
        .await?;
    tx.snapshot_invitation(&ev, &row.id).await?;
    commit_with_link(state, tx, row, &token).await
}

/// Sends the invitation again with a new link; the old link stops working. The expiry restarts.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn resend(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &InvitationId,
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
    let ev = tx
        .record(
            Some(organization_id),
            EventType::InvitationResent,
            vec![Target::new(TargetKind::Invitation, id, Some(&row.email))],
            json!({ "email": row.email, "expires_at": row.expires_at }),
        )
        .await?;
    tx.snapshot_invitation(&ev, id.as_str()).await?;
    commit_with_link(state, tx, row, &token).await
}

/// Revokes a pending invitation: its link stops working and unsent mail is cancelled.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn revoke(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &InvitationId,
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
    let ev = tx
        .record(
            Some(organization_id),
            EventType::InvitationRevoked,
            vec![Target::new(TargetKind::Invitation, id, Some(&row.email))],
            json!({ "email": row.email }),
        )
        .await?;
    tx.snapshot_invitation(&ev, id.as_str()).await?;
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
            let ev = tx
                .record(
                    Some(organization_id),
                    EventType::InvitationRevoked,
                    vec![Target::new(TargetKind::Invitation, &r.id, Some(&r.email))],
                    json!({ "email": r.email, "reason": format!("member {because}") }),
                )
                .await?;
            tx.snapshot_invitation(&ev, &r.id).await?;
        }
    }
    Ok(())
}
