//! What a directory deactivation or creation does to a member under the policy (the sign-in and the policy simulator share these).

use crate::domain::ids::{MembershipId, OrgId};
use crate::domain::membership::MembershipState;
use crate::domain::policy::DeactivationAction;
use crate::domain::policy::TraceRule;
use crate::server::service::policy::Trace;

use crate::server::db::directories::DirectoryRow;
use crate::server::db::{self, Conn};
use crate::server::error::AppError;

use super::suspension::{domain_owned_elsewhere, may_restore};

/// What a directory deactivation does to a member under the policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeactivationPlan {
    /// Days until removal (0: at once); None: stays suspended.
    pub remove_after_days: Option<i64>,
    /// The member is the organization's last active admin.
    pub last_admin: bool,
    /// The last-admin protection keeps them suspended instead of removed.
    pub protected: bool,
}

/// The policy's deactivation rules for one active membership (role `role`).
pub(super) async fn deactivation_plan_for(
    conn: &mut Conn,
    policy: &crate::server::service::policy::Policy,
    org: &OrgId,
    membership_id: &MembershipId,
    role: &str,
    t: &mut Trace,
) -> Result<DeactivationPlan, AppError> {
    t.deny(
        TraceRule::Deactivation.as_str(),
        "suspended at once: sessions end and unredeemed sign-in codes are void; the vendor is told (membership.suspended)",
    );
    let is_admin = crate::server::service::roles::resolve(conn, role)
        .await?
        .is_some_and(|r| r.permissions.iter().any(|p| p == "*"));
    let last_admin =
        is_admin && db::memberships::other_active_admins(conn, org, membership_id).await? == 0;
    let mut plan = DeactivationPlan {
        last_admin,
        ..Default::default()
    };
    if policy.directory_deactivation == DeactivationAction::Remove {
        if last_admin && policy.protect_last_admin {
            plan.protected = true;
            t.info(TraceRule::LastAdmin.as_str(), "the last active admin: kept suspended, not removed (protection on); a warning event is recorded and support sees a flag");
        } else {
            plan.remove_after_days = Some(policy.removal_grace_days);
            t.deny(
                TraceRule::Deactivation.as_str(),
                if policy.removal_grace_days == 0 {
                    "then removed at once (policy: remove)".to_owned()
                } else {
                    format!(
                        "then removed after {} days unless the directory reactivates them (policy: remove)",
                        policy.removal_grace_days
                    )
                },
            );
            if last_admin {
                t.info(TraceRule::LastAdmin.as_str(), "the last active admin: removed anyway (protection off); a warning event is recorded and support sees a flag");
            }
        }
    } else {
        t.info(
            TraceRule::Deactivation.as_str(),
            "stays suspended until the directory reactivates them (policy: suspend)",
        );
        if last_admin {
            t.info(
                TraceRule::LastAdmin.as_str(),
                "the last active admin: a warning event is recorded and support sees a flag",
            );
        }
    }
    Ok(plan)
}

/// The simulator's directory deactivation: what happens to the member with this address.
pub(crate) async fn deactivation_plan(
    conn: &mut Conn,
    policy: &crate::server::service::policy::Policy,
    org: &OrgId,
    dir: &DirectoryRow,
    email: &str,
    t: &mut Trace,
) -> Result<Option<DeactivationPlan>, AppError> {
    match db::users::member_by_email(conn, org, email).await? {
        Some(db::users::UserMembership {
            membership_id: m,
            role,
            state: st,
            ..
        }) if st == MembershipState::Active => {
            t.info(
                TraceRule::Directory.as_str(),
                format!("{} deactivates {email} (role {role})", dir.name),
            );
            Ok(Some(
                deactivation_plan_for(conn, policy, org, &m, &role, t).await?,
            ))
        }
        Some(db::users::UserMembership { state: st, .. }) => {
            t.info(
                TraceRule::Directory.as_str(),
                format!("{email} is already {st}: nothing more to end"),
            );
            Ok(None)
        }
        None => {
            t.info(
                TraceRule::Directory.as_str(),
                format!("{email} is not a member: the directory keeps them out while it is authoritative"),
            );
            Ok(None)
        }
    }
}

/// The simulator's side of [`domain_owned_elsewhere`]: true (and the trace says why) when the
/// directory would keep the address without access.
async fn held_elsewhere(
    conn: &mut Conn,
    org: &str,
    dir: &DirectoryRow,
    email: &str,
    t: &mut Trace,
) -> Result<bool, AppError> {
    if crate::domain::email::EmailAddress::parse(email, "email").is_err() {
        t.deny(
            TraceRule::Email.as_str(),
            format!("{email} is not an email address whose domain can be checked: {} keeps them as a directory user but gives them no access here", dir.name),
        );
        return Ok(true);
    }
    if !domain_owned_elsewhere(conn, org, email).await? {
        return Ok(false);
    }
    let d = crate::domain::domain_name::email_domain(email)
        .map(|d| d.as_str().to_owned())
        .unwrap_or_default();
    t.deny(
        TraceRule::Domain.as_str(),
        format!("{d} is verified by another organization: {} keeps {email} as a directory user but gives them no access here", dir.name),
    );
    Ok(true)
}

/// The simulator's directory creation: what `reconcile` does when this directory provisions the
/// address (before any group mapping applies): create a membership with the default role, link
/// and manage an existing one (a role no group gave is kept), restore one this directory
/// suspended — or leave alone one an admin or another directory suspended, or that was removed.
/// Answers (allowed, role).
pub(crate) async fn creation_plan(
    conn: &mut Conn,
    org: &db::organizations::OrganizationRow,
    dir: &DirectoryRow,
    email: &str,
    t: &mut Trace,
) -> Result<(bool, String), AppError> {
    let org_id = OrgId::from_stored(org.id.as_str());
    let Some(db::users::UserMembership { user_id, .. }) =
        db::users::member_by_email(conn, &org_id, email).await?
    else {
        if held_elsewhere(conn, &org.id, dir, email, t).await? {
            return Ok((false, org.default_role.clone()));
        }
        t.allow(
            TraceRule::Directory.as_str(),
            format!("{} provisions {email}: a membership is created at once with the default role {} (a mapped group's role wins)", dir.name, org.default_role),
        );
        return Ok((true, org.default_role.clone()));
    };
    let membership =
        db::memberships::membership_of_user(conn, &org_id, &user_id, db::Lock::Plain).await?;
    if membership
        .as_ref()
        .is_none_or(|m| m.state != MembershipState::Active)
        && held_elsewhere(conn, &org.id, dir, email, t).await?
    {
        return Ok((false, org.default_role.clone()));
    }
    let Some(db::memberships::ManagedMembership {
        id: m,
        role,
        state: st,
        role_group_id: group,
        ..
    }) = membership
    else {
        t.allow(
            TraceRule::Directory.as_str(),
            format!(
                "{} provisions {email}: a membership is created with the default role {}",
                dir.name, org.default_role
            ),
        );
        return Ok((true, org.default_role.clone()));
    };
    if st != MembershipState::Active
        && !may_restore(
            &st,
            db::memberships::newest_grant(
                conn,
                &OrgId::from_stored(org.id.as_str()),
                &MembershipId::from_stored(m.as_str()),
            )
            .await?
            .as_ref(),
            &dir.id,
        )
    {
        t.deny(
            TraceRule::Directory.as_str(),
            format!("{email} is {st}, not by {}: a directory restores only a membership it suspended itself", dir.name),
        );
        return Ok((false, role));
    }
    let (role, how) = if group.is_none() {
        (
            role.clone(),
            format!("the role stays {role} until a mapped group gives one"),
        )
    } else {
        (
            org.default_role.clone(),
            format!("the role came from a directory group; without a mapped group in {} it becomes the default role {}", dir.name, org.default_role),
        )
    };
    t.allow(
        TraceRule::Directory.as_str(),
        if st == MembershipState::Active {
            format!(
                "{email} is already a member: {} links to the membership and manages it; {how}",
                dir.name
            )
        } else {
            format!(
                "{} suspended {email} earlier and restores them; {how}",
                dir.name
            )
        },
    );
    Ok((true, role))
}
