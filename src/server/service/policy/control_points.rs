//! The organization's control points: the five places an access decision is made, each with
//! what it decides now, in words.

use serde::{Deserialize, Serialize};

use crate::domain::connection::ConnectionState;
use crate::domain::domain_state::DomainState;
use crate::domain::policy::{ControlPointKey, DeactivationAction, Inviters};
use crate::server::db;
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{view, Policy, ALL_VERIFIED};

/// One of the five places an access decision is made, and what it decides now, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlPoint {
    /// sso_connection | domain_verification | invitation | jit_provisioning | directory_sync
    pub key: String,
    pub title: String,
    /// Each sentence is one decision this point makes for the organization right now.
    pub decisions: Vec<String>,
}

fn or_list(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// The organization's control points, written from the same policy and configuration the
/// enforcement reads.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn control_points(
    state: &AppState,
    organization_id: &str,
) -> Result<Vec<ControlPoint>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let v = view(&mut conn, organization_id).await?;
    let p = &v.policy;
    let connections = db::connections::list_connections(&mut conn, organization_id).await?;
    let active: Vec<String> = connections
        .iter()
        .filter(|c| c.state == ConnectionState::Active)
        .map(|c| format!("{} {}", c.name, c.kind.to_uppercase()))
        .collect();
    let domains = db::domains::list(&mut conn, organization_id).await?;
    let verified: Vec<String> = domains
        .iter()
        .filter(|d| d.state == DomainState::Verified)
        .map(|d| d.domain.clone())
        .collect();
    let role_name = crate::server::service::roles::resolve(&mut conn, &v.default_role)
        .await?
        .map(|r| r.name)
        .unwrap_or_else(|| v.default_role.clone());
    let dirs = db::directories::list_directories(&mut conn, organization_id).await?;

    let mut sso = sso_decisions(&connections, &active);
    sso.extend(routing_decisions(&connections, &verified));
    let dom = domain_decisions(&domains, &verified);
    let inv = invitation_decisions(p, &verified, &active);
    let jit = jit_decisions(p, &verified, &active, &role_name);
    let dsync = directory_decisions(p, &dirs);

    Ok([
        (ControlPointKey::SsoConnection, sso),
        (ControlPointKey::DomainVerification, dom),
        (ControlPointKey::Invitation, inv),
        (ControlPointKey::JitProvisioning, jit),
        (ControlPointKey::DirectorySync, dsync),
    ]
    .into_iter()
    .map(|(key, decisions)| ControlPoint {
        key: key.as_str().into(),
        title: key.title().into(),
        decisions,
    })
    .collect())
}

/// `@a.com, @b.com or @c.com`.
fn at(list: &[String]) -> String {
    or_list(
        &list
            .iter()
            .map(|d| format!("@{d}"))
            .collect::<Vec<String>>(),
    )
}

/// Who signs in through which connection.
fn sso_decisions(connections: &[db::connections::ConnectionRow], active: &[String]) -> Vec<String> {
    let mut sso = Vec::new();
    if active.is_empty() {
        sso.push(if connections.is_empty() {
            "No SSO connection yet: nobody signs in through the organization's identity provider.".to_owned()
        } else {
            "No SSO connection is active: sign-ins through the identity provider are refused until one is tested and activated.".to_owned()
        });
    } else {
        sso.push(format!(
            "People sign in through {}; Lanyard checks the identity provider's signature, issuer, audience and expiry on every sign-in.",
            or_list(active)
        ));
    }
    for c in connections
        .iter()
        .filter(|c| c.state != ConnectionState::Active)
    {
        sso.push(format!(
            "{} ({}) is {}: sign-ins through it are refused.",
            c.name,
            c.kind.to_uppercase(),
            c.state
        ));
    }
    sso
}

/// Which connection signs in which verified domain, when connections are limited to some.
fn routing_decisions(
    connections: &[db::connections::ConnectionRow],
    verified: &[String],
) -> Vec<String> {
    let active: Vec<&db::connections::ConnectionRow> = connections
        .iter()
        .filter(|c| c.state == ConnectionState::Active)
        .collect();
    if active.iter().all(|c| c.served_domains().is_none()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for d in verified {
        let names: Vec<String> = active
            .iter()
            .filter(|c| c.serves(d))
            .map(|c| c.name.clone())
            .collect();
        out.push(if names.is_empty() {
            format!("@{d}: no active connection serves it, so its people cannot sign in through SSO, join by signing in, or accept an invitation while SSO is required for it.")
        } else {
            format!("@{d} signs in through {}; any other connection refuses its people.", or_list(&names))
        });
    }
    out
}

/// Which domains are the organization's.
fn domain_decisions(domains: &[db::domains::DomainRow], verified: &[String]) -> Vec<String> {
    let mut dom = Vec::new();
    if verified.is_empty() {
        dom.push("No verified domain: nobody is recognised as the organization's by their email address, so JIT adds nobody.".to_owned());
    } else {
        dom.push(format!(
            "{} verified: addresses there are recognised as this organization's, and no other organization can claim them.",
            or_list(verified)
        ));
    }
    for d in domains.iter().filter(|d| d.state != DomainState::Verified) {
        dom.push(format!(
            "{} is {}: it grants nothing until its TXT record is found.",
            d.domain, d.state
        ));
    }
    dom
}

/// How invitations are accepted, to whom, by whom and with which roles.
fn invitation_decisions(p: &Policy, verified: &[String], active: &[String]) -> Vec<String> {
    let mut inv = Vec::new();
    let required: Vec<String> = if p.sso_required_domains.iter().any(|d| d == ALL_VERIFIED) {
        verified.to_vec()
    } else {
        p.sso_required_domains.clone()
    };
    if required.is_empty() {
        inv.push(
            "Invitations need only the emailed link: SSO is not required for any domain."
                .to_owned(),
        );
    } else if active.is_empty() && p.sso_required_domains.iter().any(|d| d == ALL_VERIFIED) {
        inv.push(format!(
            "Invitations to {} addresses will go through single sign-on once a connection is active; until then the emailed link is enough.",
            at(&required)
        ));
    } else if active.is_empty() {
        inv.push(format!(
            "SSO is required for {} but no connection is active: those invitations cannot be accepted yet.",
            at(&required)
        ));
    } else {
        inv.push(format!(
            "Invitations to {} addresses go through single sign-on with {}: the person must sign in there as the invited address.",
            at(&required),
            or_list(active)
        ));
    }
    let outside = if verified.is_empty() {
        "any address".to_owned()
    } else {
        format!("addresses outside {}", or_list(verified))
    };
    inv.push(if p.guest_invitations {
        format!("Invitations to {outside} are allowed and need an emailed link.")
    } else {
        format!("Invitations to {outside} are not allowed.")
    });
    inv.push(if p.inviters == Inviters::Admins {
        "Only admins (and the vendor) may invite.".to_owned()
    } else {
        "Any active member may invite, up to their own role (and the vendor and the organization's admin).".to_owned()
    });
    if !p.invitable_roles.is_empty() {
        inv.push(format!(
            "Invitations may grant only: {}.",
            p.invitable_roles.join(", ")
        ));
    }
    inv
}

/// Whom JIT provisioning adds, and as what.
fn jit_decisions(
    p: &Policy,
    verified: &[String],
    active: &[String],
    role_name: &str,
) -> Vec<String> {
    let mut jit = Vec::new();
    if !p.jit_enabled {
        jit.push("JIT provisioning is off: only invited or directory-provisioned people become members; others are refused at sign-in.".to_owned());
    } else if verified.is_empty() || active.is_empty() {
        jit.push(format!("JIT provisioning is on, but nobody is added yet: it needs a verified domain and an active SSO connection. New members get the role {role_name}."));
    } else {
        jit.push(format!(
            "People with an {} address who sign in through {} are added as {role_name}.",
            at(verified),
            or_list(active)
        ));
    }
    jit
}

/// What each directory decides, and what its deactivations do.
fn directory_decisions(p: &Policy, dirs: &[db::directories::DirectoryRow]) -> Vec<String> {
    let mut dsync = Vec::new();
    if dirs.is_empty() {
        dsync.push(
            "No directory: joiners, movers and leavers are not synced; remove people by hand."
                .to_owned(),
        );
    }
    for d in dirs {
        dsync.push(if d.authoritative {
            format!("{} is authoritative: only people it provisions and keeps active can sign in or accept invitations.", d.name)
        } else {
            format!("{} is not authoritative: people it does not know may still join by JIT or invitation.", d.name)
        });
        let then = if p.directory_deactivation == DeactivationAction::Remove {
            if p.removal_grace_days == 0 {
                ", and removes them at once".to_owned()
            } else {
                format!(", and removes them after {} days", p.removal_grace_days)
            }
        } else {
            ", and keeps them suspended until it reactivates them".to_owned()
        };
        dsync.push(format!(
            "When {} deactivates someone, Lanyard suspends them and ends their sessions immediately{then}.",
            d.name
        ));
    }
    dsync.push(if p.protect_last_admin {
        "A directory cannot remove the last active admin: they stay suspended, a warning event is recorded and support sees a flag.".to_owned()
    } else {
        "The last active admin is removed like anyone else (a warning event is recorded and support sees a flag).".to_owned()
    });
    dsync
}
