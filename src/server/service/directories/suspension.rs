//! Suspension and removal of the members a directory manages, and what a directory may restore.

use crate::domain::event_type::EventType;
use crate::domain::ids::{DirectoryId, MembershipId, OrgId, UserId};
use crate::domain::membership::{GrantKind, MembershipState};
use crate::domain::policy::DeactivationAction;
use crate::domain::target::TargetKind;
use crate::server::service::policy::Trace;
use serde_json::json;

use crate::domain::reconcile::{self, NewestGrant, SuspendReason};
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::service::membership_lifecycle::Change;
use crate::server::state::AppState;

use super::plans::deactivation_plan_for;
use super::DirCtx;

/// Suspends a member in the caller's transaction when the directory's suspension applies to
/// the membership ([`reconcile::suspends`]: with `only_managed`, a membership this directory
/// does not manage — joined by JIT, managed by another directory — is left alone).
pub(super) async fn suspend(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    user_id: &UserId,
    label: &str,
    reason: SuspendReason,
    only_managed: bool,
) -> Result<(), AppError> {
    let org = dir.organization_id.clone();
    let lock = db::Lock::ForUpdate;
    let Some(db::memberships::ManagedMembership {
        id: m,
        role,
        state: st,
        role_group_id: group,
        directory_id: managed_by,
    }) = db::memberships::membership_of_user(tx.conn(), &org, user_id, lock).await?
    else {
        return Ok(());
    };
    let Some(state) = MembershipState::parse(&st) else {
        return Ok(());
    };
    let current = reconcile::Current {
        state,
        role: &role,
        group_id: group.as_deref(),
        managed_by: managed_by.as_deref(),
        newest_grant: None,
    };
    if !reconcile::suspends(&current, &dir.directory_id, only_managed) {
        return Ok(());
    }
    write_suspension(tx, dir, user_id, &m, &role, group.as_deref(), label, reason).await
}

/// The writes of a directory suspension of an active membership: state, voided sign-in codes,
/// revoked invitations, grant and event commit together; then the deactivation policy.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write_suspension(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    user_id: &UserId,
    m: &MembershipId,
    role: &str,
    group_id: Option<&str>,
    label: &str,
    reason: SuspendReason,
) -> Result<(), AppError> {
    let now = tx.now();
    let org = dir.organization_id.clone();
    let (m, role) = (m.clone(), role.to_owned());
    // An invitation sent to the address before must not undo the deprovisioning.
    let email = db::users::user_email(tx.conn(), &org, user_id).await?;
    Change::new(&org, &m, label)
        .managed(MembershipState::Suspended, &role, group_id, &dir.directory_id)
        .revoking_invitations_to(email.as_deref())
        .grant(
            GrantKind::DirectorySuspended,
            &role,
            json!({ "directory_id": dir.directory_id, "directory_name": dir.name, "reason": reason.as_str() }),
        )
        .event_counting_voided(
            EventType::MembershipSuspended,
            json!({ "reason": reason.as_str(), "directory_id": dir.directory_id }),
        )
        .apply(tx)
        .await?;
    // The policy's reads (the other admins) and writes (the scheduled removal) below must see,
    // and come after, this suspension's writes, also when the caller holds directory writes.
    tx.write_held().await?;
    // What the policy does next (remove, at once or after a grace period), and the last-admin
    // protection — decided by the same function the policy simulator runs.
    // Only a person's deactivation (or deletion) in the directory follows the deactivation
    // policy; removing the directory itself only suspends.
    if !reason.follows_deactivation_policy() {
        return Ok(());
    }
    // Two concurrent deactivations must not both count the other as the remaining admin.
    db::organizations::lock(tx.conn(), &org).await?;
    let policy = crate::server::service::policy::load(tx.conn(), &org).await?;
    let plan =
        deactivation_plan_for(tx.conn(), &policy, &org, &m, &role, &mut Trace::default()).await?;
    if plan.last_admin {
        tx.record(
            Some(&org),
            EventType::MembershipLastAdminDeprovisioned,
            vec![Target::new(TargetKind::Membership, &m, Some(label))],
            json!({ "directory_id": dir.directory_id, "protected": plan.protected, "warning": "the organization has no active admin left" }),
        )
        .await?;
    }
    match plan.remove_after_days {
        Some(0) => remove(tx, &org, &m, label, &role, &dir.directory_id, &dir.name).await?,
        Some(days) => {
            db::memberships::schedule_removal(tx.conn(), &org, &m, now + days * 86_400_000).await?
        }
        // Held by the last-admin protection: looked at again until another admin exists.
        None if plan.protected => {
            db::memberships::schedule_removal(tx.conn(), &org, &m, now + PROTECTED_RECHECK_MS)
                .await?
        }
        None => {}
    }
    Ok(())
}

/// How often a removal held by the last-admin protection is reconsidered.
pub const PROTECTED_RECHECK_MS: i64 = 3600 * 1000;

/// Removes a directory-suspended member (policy `remove`), in the caller's transaction.
async fn remove(
    tx: &mut AuditedTx,
    org: &OrgId,
    m: &MembershipId,
    label: &str,
    role: &str,
    directory_id: &str,
    directory_name: &str,
) -> Result<(), AppError> {
    // The suspension before voided the sign-in codes and revoked the invitations.
    Change::new(org, m, label)
        .state(MembershipState::Removed)
        .grant(
            GrantKind::DirectoryRemoved,
            role,
            json!({ "directory_id": directory_id, "directory_name": directory_name }),
        )
        .event(
            EventType::MembershipRemoved,
            json!({ "reason": SuspendReason::DirectoryDeactivated.as_str(), "directory_id": directory_id, "policy": DeactivationAction::Remove }),
        )
        .apply(tx)
        .await?;
    Ok(())
}

/// Removes directory-suspended members whose grace period ended (the housekeeping job), unless
/// the last-admin protection holds them. Returns how many were removed.
pub async fn remove_due(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let due = {
        let mut conn = state.db.pool.acquire().await?;
        db::memberships::due_removals(&mut conn, now).await?
    };
    let mut n = 0;
    for db::memberships::DueRemoval {
        organization_id: org,
        membership_id: m,
        email,
    } in due
    {
        let mut tx =
            AuditedTx::begin(&state.db, &Actor::system(), &RequestContext::default(), now).await?;
        // Claimed with a conditional update: on several nodes, exactly one removes.
        if !db::memberships::claim_removal(tx.conn(), &org, &m, now).await? {
            continue;
        }
        let Some(db::memberships::ManagedMembership {
            role,
            directory_id: dir,
            ..
        }) = db::memberships::membership_of_id(tx.conn(), &org, &m).await?
        else {
            continue;
        };
        db::organizations::lock(tx.conn(), &org).await?;
        let policy = crate::server::service::policy::load(tx.conn(), &org).await?;
        let plan =
            deactivation_plan_for(tx.conn(), &policy, &org, &m, &role, &mut Trace::default())
                .await?;
        if plan.remove_after_days.is_none() {
            // Protected: looked at again later, so that the removal happens once another admin
            // exists; the skip is recorded once, not at every look.
            if plan.protected {
                db::memberships::schedule_removal(tx.conn(), &org, &m, now + PROTECTED_RECHECK_MS)
                    .await?;
                let since = db::memberships::newest_grant_at(tx.conn(), &org, &m)
                    .await?
                    .unwrap_or(0);
                if db::memberships::removal_skipped_since(tx.conn(), &org, &m, since).await? {
                    tx.commit_observation().await?;
                    continue;
                }
            }
            // Protected (or the policy changed back to suspend): nothing to remove.
            tx.record(
                Some(&org),
                EventType::MembershipRemovalSkipped,
                vec![Target::new(TargetKind::Membership, &m, Some(&email))],
                json!({ "reason": if plan.protected { "last_admin_protected" } else { "policy_suspend" } }),
            )
            .await?;
        } else {
            let dir_id = dir.unwrap_or_default();
            let dir_name = db::directories::get_directory(
                tx.conn(),
                &org,
                &DirectoryId::from_stored(dir_id.as_str()),
            )
            .await?
            .map(|d| d.name)
            .unwrap_or_else(|| dir_id.clone());
            remove(&mut tx, &org, &m, &email, &role, &dir_id, &dir_name).await?;
            n += 1;
        }
        tx.commit().await?;
    }
    Ok(n)
}

/// Whether the address's domain is verified by an organization other than `org` (the most
/// specific verified holder decides, as for invitations and JIT).
pub(crate) async fn domain_owned_elsewhere(
    conn: &mut Conn,
    org: &str,
    email: &str,
) -> Result<bool, AppError> {
    let holders = crate::server::service::domains::holders_of_email(conn, email).await?;
    Ok(holders.first().is_some_and(|h| h != org))
}

/// [`reconcile::may_restore`] for a stored state and newest grant `(kind, detail JSON)`.
pub(crate) fn may_restore(
    state: &str,
    newest_grant: Option<&db::memberships::GrantKindDetail>,
    directory_id: &str,
) -> bool {
    let by = newest_grant.and_then(|g| directory_named(&g.detail));
    let newest = newest_grant.and_then(|g| {
        Some(NewestGrant {
            kind: GrantKind::parse(&g.kind)?,
            directory_id: by.as_deref(),
        })
    });
    MembershipState::parse(state)
        .is_some_and(|state| reconcile::may_restore(state, newest, directory_id))
}

/// The directory a grant's detail names.
pub(super) fn directory_named(detail: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(detail)
        .ok()
        .and_then(|d| {
            d.get("directory_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
}

#[cfg(test)]
mod tests {
    use super::may_restore;
    use crate::domain::membership::{GrantKind, MembershipState};

    #[test]
    fn a_directory_restores_only_what_it_suspended_itself() {
        let grant = |kind: &str, dir: &str| crate::server::db::memberships::GrantKindDetail {
            kind: kind.to_owned(),
            detail: serde_json::json!({ "directory_id": dir }).to_string(),
        };
        let cases = [
            (
                "its own suspension",
                MembershipState::Suspended.as_str(),
                Some(grant(GrantKind::DirectorySuspended.as_str(), "dir_a")),
                true,
            ),
            (
                "another directory's suspension",
                MembershipState::Suspended.as_str(),
                Some(grant(GrantKind::DirectorySuspended.as_str(), "dir_b")),
                false,
            ),
            (
                "an admin's suspension",
                MembershipState::Suspended.as_str(),
                Some(grant(GrantKind::ManualSuspended.as_str(), "dir_a")),
                false,
            ),
            (
                "removed by the directory's policy",
                MembershipState::Removed.as_str(),
                Some(grant(GrantKind::DirectoryRemoved.as_str(), "dir_a")),
                false,
            ),
            (
                "removed although the newest grant is its suspension",
                MembershipState::Removed.as_str(),
                Some(grant(GrantKind::DirectorySuspended.as_str(), "dir_a")),
                false,
            ),
            (
                "no history",
                MembershipState::Suspended.as_str(),
                None,
                false,
            ),
            (
                "already active",
                MembershipState::Active.as_str(),
                Some(grant(GrantKind::DirectorySuspended.as_str(), "dir_a")),
                false,
            ),
        ];
        for (name, state, newest, want) in cases {
            assert_eq!(may_restore(state, newest.as_ref(), "dir_a"), want, "{name}");
        }
    }
}
