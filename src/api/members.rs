//! Members and invitations in the portal (intent `invitations`): who is in the organization,
//! why each person has access, role and state changes, and invitations with their delivery.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PortalError;

/// One member in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberLine {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub state: String,
    /// How they came in, in words.
    pub source: String,
    /// Where the role comes from, in words.
    pub role_source: String,
    /// The directory that manages the role, if any.
    pub managed_by: Option<String>,
    pub last_sign_in: Option<String>,
}

/// One step of a member's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantLine {
    pub at: String,
    pub kind: String,
    pub role: String,
    pub description: String,
}

/// One invitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationLine {
    pub id: String,
    pub email: String,
    pub role: String,
    pub state: String,
    pub inviter: String,
    pub expires_at: String,
    /// "sent", "retrying (2 attempts): 451 …", …
    pub delivery: String,
    pub delivery_failed: bool,
}

/// The members page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembersPage {
    pub members: Vec<MemberLine>,
    /// Filters in use.
    pub search: String,
    pub state: String,
    pub role: String,
    /// (slug, name) of every role.
    pub roles: Vec<(String, String)>,
    pub invitations: Vec<InvitationLine>,
    pub default_role: String,
}

/// One member's page: "why does this person have access".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberPage {
    pub member: MemberLine,
    pub grants: Vec<GrantLine>,
    pub roles: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
async fn caller() -> Result<super::ctx::Caller, PortalError> {
    let c = super::ctx::caller().await?;
    c.require(
        crate::domain::intent::Intent::Invitations,
        "members and invitations",
    )?;
    Ok(c)
}

#[cfg(feature = "ssr")]
fn when(ms: i64) -> String {
    crate::server::timefmt::rfc3339(ms)
}

#[cfg(feature = "ssr")]
fn line(m: crate::server::service::members::Membership) -> MemberLine {
    let name = match (m.first_name, m.last_name) {
        (None, None) => None,
        (f, l) => Some(
            format!("{} {}", f.unwrap_or_default(), l.unwrap_or_default())
                .trim()
                .to_owned(),
        ),
    };
    MemberLine {
        id: m.id,
        email: m.email,
        name,
        role: m.role,
        state: m.state,
        source: m.source,
        role_source: m.role_source,
        managed_by: m.managed_by.map(|d| d.directory_name),
        last_sign_in: m.last_sign_in_at.map(when),
    }
}

#[cfg(feature = "ssr")]
async fn role_names(c: &super::ctx::Caller) -> Result<Vec<(String, String)>, PortalError> {
    Ok(crate::server::service::roles::list(&c.state)
        .await?
        .into_iter()
        .map(|r| (r.slug, r.name))
        .collect())
}

/// The members page data.
#[server(prefix = "/portal/api", endpoint = "members")]
pub async fn portal_members(
    search: String,
    state: String,
    role: String,
) -> Result<MembersPage, PortalError> {
    use crate::domain::membership::MembershipState;
    use crate::server::service::{invitations, members, organizations};
    let c = caller().await?;
    let org = &c.grant.org();
    let state_f = if MembershipState::parse(&state).is_some() {
        state
    } else {
        String::new()
    };
    let (list, _) = members::list(
        &c.state,
        org,
        &members::ListMembers {
            search: Some(search.clone()),
            state: Some(state_f.clone()),
            role: Some(role.clone()),
            limit: Some(200),
            after: None,
        },
    )
    .await?;
    let invitations = invitations::list(&c.state, org, None)
        .await?
        .into_iter()
        .take(100)
        .map(|i| {
            let (delivery, failed) = match &i.delivery {
                None => ("not mailed".to_owned(), false),
                Some(d) => match d.state.as_str() {
                    "sent" => (
                        format!("mail sent {}", d.sent_at.map(when).unwrap_or_default()),
                        false,
                    ),
                    "queued" => ("mail queued".to_owned(), false),
                    "retrying" => (
                        format!(
                            "mail not delivered yet ({} attempts, retrying at {}): {}",
                            d.attempts,
                            d.next_attempt_at.map(when).unwrap_or_default(),
                            d.last_error.clone().unwrap_or_default()
                        ),
                        true,
                    ),
                    "cancelled" => ("mail replaced by a newer one".to_owned(), false),
                    _ => (
                        format!(
                            "mail could not be delivered after {} attempts: {}",
                            d.attempts,
                            d.last_error.clone().unwrap_or_default()
                        ),
                        true,
                    ),
                },
            };
            InvitationLine {
                id: i.id,
                email: i.email,
                role: i.role,
                state: i.state,
                inviter: i.inviter.name,
                expires_at: when(i.expires_at),
                delivery,
                delivery_failed: failed,
            }
        })
        .collect();
    let default_role = organizations::get(&c.state, org).await?.default_role;
    Ok(MembersPage {
        members: list.into_iter().map(line).collect(),
        search,
        state: state_f,
        role,
        roles: role_names(&c).await?,
        invitations,
        default_role,
    })
}

/// One member with the chain of grants.
#[server(prefix = "/portal/api", endpoint = "member")]
pub async fn portal_member(id: String) -> Result<MemberPage, PortalError> {
    use crate::server::service::members;
    let c = caller().await?;
    let m = members::get(
        &c.state,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    let grants = m
        .grants
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|g| GrantLine {
            at: when(g.created_at),
            kind: g.kind,
            role: g.role,
            description: g.description,
        })
        .collect();
    Ok(MemberPage {
        member: line(m),
        grants,
        roles: role_names(&c).await?,
    })
}

/// Changes a member: `action` is `role` (with `role`), `suspend`, `remove` or `reactivate`.
#[server(prefix = "/portal/api", endpoint = "change_member")]
pub async fn change_member(
    id: String,
    action: String,
    role: Option<String>,
) -> Result<(), PortalError> {
    use crate::domain::membership::MemberAction;
    use crate::server::service::members::{self, UpdateMembership};
    let c = caller().await?;
    let input = match MemberAction::parse(&action) {
        Some(MemberAction::Role) => UpdateMembership {
            role: Some(
                role.filter(|r| !r.is_empty())
                    .ok_or_else(|| PortalError::Invalid {
                        field: "role".into(),
                        message: "choose a role".into(),
                    })?,
            ),
            ..Default::default()
        },
        Some(a) => UpdateMembership {
            state: a.target_state().map(|s| s.as_str().into()),
            ..Default::default()
        },
        None => {
            return Err(PortalError::Invalid {
                field: "action".into(),
                message: "choose change role, suspend, remove or reactivate".into(),
            })
        }
    };
    members::update(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
        input,
    )
    .await?;
    Ok(())
}

/// Invites someone.
#[server(prefix = "/portal/api", endpoint = "invite")]
pub async fn invite(
    email: String,
    role: String,
    expires_in_days: String,
) -> Result<(), PortalError> {
    use crate::server::service::invitations::{self, CreateInvitation};
    let c = caller().await?;
    let days = match expires_in_days.trim() {
        "" => None,
        d => Some(d.parse::<i64>().map_err(|_| PortalError::Invalid {
            field: "expires_in_days".into(),
            message: "expires in must be a number of days from 1 to 30".into(),
        })?),
    };
    invitations::create(
        &c.state,
        &c.actor(),
        &c.ctx,
        CreateInvitation {
            organization_id: c.grant.organization_id.clone(),
            email,
            role: Some(role).filter(|r| !r.is_empty()),
            expires_in_days: days,
            inviter_membership_id: None,
            redirect_uri: None,
        },
    )
    .await?;
    Ok(())
}

/// Resends an invitation with a new link.
#[server(prefix = "/portal/api", endpoint = "resend_invitation")]
pub async fn resend_invitation(id: String) -> Result<(), PortalError> {
    let c = caller().await?;
    crate::server::service::invitations::resend(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    Ok(())
}

/// Revokes an invitation.
#[server(prefix = "/portal/api", endpoint = "revoke_invitation")]
pub async fn revoke_invitation(id: String) -> Result<(), PortalError> {
    let c = caller().await?;
    crate::server::service::invitations::revoke(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    Ok(())
}
