//! Invitations: an admin (or the vendor) invites an email address into an organization with a
//! role; Lanyard mails a single-use link (256-bit token, stored hashed; a resend replaces it);
//! the invitee's GET shows the invitation, the POST accepts it — through the organization's SSO
//! connection when SSO is required for the address's domain — and the vendor's product receives
//! the member through the same one-time code exchange as SSO.

use crate::domain::invitation::MailDeliveryState;
use serde::{Deserialize, Serialize};

use crate::domain::invitation::InvitationState;
use crate::server::db::Conn;
use crate::server::db::{self, invitations::InvitationRow, mail::MailRow};
use crate::server::state::AppState;

mod admin;
mod invitee;
mod mail;
mod rules;

pub(crate) use admin::revoke_pending_for;
pub use admin::{create, expire_due, get, list, organization_of, resend, revoke};
pub use invitee::{accept_after_sso, accept_link, gone_page, inspect, LinkState, Refusal};
pub use mail::{deliver_mail, invitation_mail};
pub use rules::Route;
pub(crate) use rules::{acceptance_route, guest_check, invite_checks, recheck_at_acceptance};

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

/// The state an invitation shows: a pending one past its expiry is expired.
pub fn state_of(r: &InvitationRow, now: i64) -> String {
    if r.state == InvitationState::Pending && r.expires_at <= now {
        InvitationState::Expired.as_str().into()
    } else {
        r.state.clone()
    }
}

fn delivery_of(m: Option<MailRow>) -> Option<Delivery> {
    m.map(|m| {
        let state = if m.sent_at.is_some() {
            MailDeliveryState::Sent
        } else if m.failed_at.is_some() {
            if m.last_error
                .as_deref()
                .unwrap_or("")
                .starts_with("cancelled")
            {
                MailDeliveryState::Cancelled
            } else {
                MailDeliveryState::Failed
            }
        } else if m.attempts > 0 {
            MailDeliveryState::Retrying
        } else {
            MailDeliveryState::Queued
        };
        Delivery {
            state: state.as_str().into(),
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

fn accept_url(state: &AppState, token: &str) -> String {
    format!("{}/invite/{token}", state.config.base_url())
}
