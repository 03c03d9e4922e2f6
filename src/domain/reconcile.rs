//! What a directory does to one person's membership when it syncs them: the decision half of
//! the directory's `reconcile` (joiner, mover, leaver). Pure: the service reads the membership,
//! its newest grant, the directory user and the role the group mappings give, calls [`decide`],
//! and writes the [`Effect`].

use crate::domain::event_type::EventType;
use crate::domain::membership::{GrantKind, MembershipState};

vocabulary! {
    /// Why a directory suspends a membership (`reason` in the event and in the grant's detail).
    pub enum SuspendReason {
        /// The person was deactivated in the directory.
        DirectoryDeactivated = "directory_deactivated",
        /// The person was deleted from the directory.
        DirectoryDeletedUser = "directory_deleted_user",
        /// The directory itself was removed.
        DirectoryDeleted = "directory_deleted",
    }
}

impl SuspendReason {
    /// Why a directory user should have no access: deletion wins over deactivation. `None`
    /// when the user is active and still there.
    pub const fn of_user(active: bool, deleted: bool) -> Option<SuspendReason> {
        if deleted {
            Some(SuspendReason::DirectoryDeletedUser)
        } else if !active {
            Some(SuspendReason::DirectoryDeactivated)
        } else {
            None
        }
    }

    /// Only a person's deactivation or deletion follows the organization's deactivation policy
    /// (remove, at once or after a grace period); removing the directory itself only suspends.
    pub const fn follows_deactivation_policy(self) -> bool {
        matches!(
            self,
            SuspendReason::DirectoryDeactivated | SuspendReason::DirectoryDeletedUser
        )
    }
}

/// A directory group that gives a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// The grant a directory writes for a role it gives: from a mapped group, or from none (the
/// organization's default role, or a role it keeps).
pub const fn grant_for(group: Option<&Group<'_>>) -> GrantKind {
    if group.is_some() {
        GrantKind::DirectoryGroup
    } else {
        GrantKind::Directory
    }
}

/// A membership's newest grant, as far as restoring it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewestGrant<'a> {
    pub kind: GrantKind,
    /// The directory its detail names (`directory_id`), if any.
    pub directory_id: Option<&'a str>,
}

/// The membership the person holds in the organization today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current<'a> {
    pub state: MembershipState,
    pub role: &'a str,
    /// The directory group the role came from (`role_group_id`).
    pub group_id: Option<&'a str>,
    /// The directory that manages the membership (`directory_id`).
    pub managed_by: Option<&'a str>,
    /// Needed only for a membership that is not active (whether this directory may restore it).
    pub newest_grant: Option<NewestGrant<'a>>,
}

/// What the directory says about the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDirectory<'a> {
    /// Active there: should have access, with the role (and the group that gives it) its
    /// group mappings decide — the organization's default role when no mapped group applies.
    Active {
        role: &'a str,
        group: Option<Group<'a>>,
    },
    /// Deactivated or deleted there: should have no access.
    Inactive(SuspendReason),
}

/// One directory sync of one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs<'a> {
    /// The directory syncing.
    pub directory_id: &'a str,
    pub user: InDirectory<'a>,
    /// The address is held: its domain is verified by another organization, or it cannot be
    /// read as an address at all (fail closed).
    pub held: bool,
    /// `None`: the person has no membership here.
    pub membership: Option<Current<'a>>,
}

/// What the directory does to the membership, in the order the writes happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect<'a> {
    /// Nothing changes.
    Nothing,
    /// A new active membership managed by the directory: grant `grant`, event
    /// `membership.created`.
    Create {
        role: &'a str,
        group: Option<Group<'a>>,
        grant: GrantKind,
    },
    /// Suspend the active membership (grant `directory_suspended`, event `membership.suspended`,
    /// sign-in codes voided), then apply the deactivation policy if the reason follows it.
    Suspend { reason: SuspendReason },
    /// The membership becomes active and managed by the directory with this role and group.
    Update(Update<'a>),
}

/// The writes of [`Effect::Update`]: the membership row, then when `reactivated` the grant
/// `directory_reactivated` and the event `membership.reactivated`, then `grant`, then `event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update<'a> {
    pub role: &'a str,
    pub group: Option<Group<'a>>,
    /// It was suspended (by this directory) and is restored.
    pub reactivated: bool,
    pub role_changed: bool,
    /// The role grant written after the reactivation: when the role or (without a
    /// reactivation) the granting group changed.
    pub grant: Option<GrantKind>,
    /// `membership.role_changed` when the role changed, otherwise `membership.updated` unless
    /// the membership was reactivated (which has its own event).
    pub event: Option<EventType>,
}

/// Whether directory `directory_id` may bring a membership back to active: only one it
/// suspended itself, i.e. whose newest grant is this directory's suspension. A removed
/// membership, one an admin suspended (or reactivated and suspended again), and one another
/// directory suspended stay as they are.
pub fn may_restore(
    state: MembershipState,
    newest_grant: Option<NewestGrant<'_>>,
    directory_id: &str,
) -> bool {
    state == MembershipState::Suspended
        && newest_grant.is_some_and(|g| {
            g.kind == GrantKind::DirectorySuspended && g.directory_id == Some(directory_id)
        })
}

/// Whether a directory suspension applies to the membership: only an active one; with
/// `only_managed` (the directory is being removed) only one this directory manages.
pub fn suspends(current: &Current<'_>, directory_id: &str, only_managed: bool) -> bool {
    current.state == MembershipState::Active
        && (!only_managed || current.managed_by == Some(directory_id))
}

/// The directory's decision for one person (see [`Effect`]).
pub fn decide<'a>(i: &Inputs<'a>) -> Effect<'a> {
    let (desired_role, desired_group) = match i.user {
        InDirectory::Inactive(reason) => {
            return match &i.membership {
                Some(m) if suspends(m, i.directory_id, false) => Effect::Suspend { reason },
                _ => Effect::Nothing,
            };
        }
        InDirectory::Active { role, group } => (role, group),
    };
    let Some(m) = &i.membership else {
        // No access on another organization's verified domain (the rule invitations follow).
        if i.held {
            return Effect::Nothing;
        }
        return Effect::Create {
            role: desired_role,
            group: desired_group,
            grant: grant_for(desired_group.as_ref()),
        };
    };
    // A directory restores only what it suspended itself, and never anyone on another
    // organization's verified domain.
    let reactivated = m.state != MembershipState::Active;
    if reactivated && (i.held || !may_restore(m.state, m.newest_grant, i.directory_id)) {
        return Effect::Nothing;
    }
    // A role that no directory group gave (set by an admin, or the default at JIT) is kept
    // until a mapped group gives one: linking a directory never demotes an admin.
    let (role, group) = if desired_group.is_none() && m.group_id.is_none() {
        (m.role, None)
    } else {
        (desired_role, desired_group)
    };
    let role_changed = m.role != role;
    let group_changed = m.group_id != group.map(|g| g.id);
    if !reactivated && !role_changed && !group_changed && m.managed_by == Some(i.directory_id) {
        return Effect::Nothing;
    }
    Effect::Update(Update {
        role,
        group,
        reactivated,
        role_changed,
        grant: (role_changed || (group_changed && !reactivated)).then(|| grant_for(group.as_ref())),
        event: if role_changed {
            Some(EventType::MembershipRoleChanged)
        } else if !reactivated {
            // Management moved to this directory or the granting group changed with the same
            // role: recorded so the history stays complete.
            Some(EventType::MembershipUpdated)
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use GrantKind::*;
    use MembershipState::*;

    const DIR: &str = "dir_a";
    const ENG: Group<'static> = Group {
        id: "grp_eng",
        name: "Engineering",
    };
    const ADMINS: Group<'static> = Group {
        id: "grp_admins",
        name: "Admins",
    };

    fn active(role: &'static str, group: Option<Group<'static>>) -> InDirectory<'static> {
        InDirectory::Active { role, group }
    }

    fn member(state: MembershipState, role: &'static str) -> Current<'static> {
        Current {
            state,
            role,
            group_id: None,
            managed_by: None,
            newest_grant: None,
        }
    }

    fn managed(
        state: MembershipState,
        role: &'static str,
        group: Option<&'static str>,
    ) -> Current<'static> {
        Current {
            group_id: group,
            managed_by: Some(DIR),
            ..member(state, role)
        }
    }

    fn newest(kind: GrantKind, dir: Option<&'static str>) -> Option<NewestGrant<'static>> {
        Some(NewestGrant {
            kind,
            directory_id: dir,
        })
    }

    fn suspended_by(kind: GrantKind, dir: Option<&'static str>) -> Current<'static> {
        Current {
            newest_grant: newest(kind, dir),
            ..managed(Suspended, "member", None)
        }
    }

    fn run(
        user: InDirectory<'static>,
        held: bool,
        membership: Option<Current<'static>>,
    ) -> Effect<'static> {
        decide(&Inputs {
            directory_id: DIR,
            user,
            held,
            membership,
        })
    }

    fn update(
        role: &'static str,
        group: Option<Group<'static>>,
        reactivated: bool,
        role_changed: bool,
        grant: Option<GrantKind>,
        event: Option<EventType>,
    ) -> Effect<'static> {
        Effect::Update(Update {
            role,
            group,
            reactivated,
            role_changed,
            grant,
            event,
        })
    }

    #[test]
    fn reasons_table() {
        crate::domain::check_vocabulary(SuspendReason::ALL, |v| v.as_str(), SuspendReason::parse);
        assert_eq!(SuspendReason::of_user(true, false), None);
        assert_eq!(
            SuspendReason::of_user(false, false),
            Some(SuspendReason::DirectoryDeactivated)
        );
        // Deletion wins over the active flag the deleted record still carries.
        assert_eq!(
            SuspendReason::of_user(true, true),
            Some(SuspendReason::DirectoryDeletedUser)
        );
        assert_eq!(
            SuspendReason::of_user(false, true),
            Some(SuspendReason::DirectoryDeletedUser)
        );
        assert!(SuspendReason::DirectoryDeactivated.follows_deactivation_policy());
        assert!(SuspendReason::DirectoryDeletedUser.follows_deactivation_policy());
        assert!(!SuspendReason::DirectoryDeleted.follows_deactivation_policy());
    }

    #[test]
    fn a_directory_restores_only_what_it_suspended() {
        let cases = [
            (
                "its own suspension",
                Suspended,
                newest(DirectorySuspended, Some(DIR)),
                true,
            ),
            (
                "another directory's suspension",
                Suspended,
                newest(DirectorySuspended, Some("dir_b")),
                false,
            ),
            (
                "a suspension naming no directory",
                Suspended,
                newest(DirectorySuspended, None),
                false,
            ),
            (
                "an admin's suspension",
                Suspended,
                newest(ManualSuspended, Some(DIR)),
                false,
            ),
            (
                "reactivated by an admin, then suspended again",
                Suspended,
                newest(ManualSuspended, None),
                false,
            ),
            (
                "removed by the directory's policy",
                Removed,
                newest(DirectoryRemoved, Some(DIR)),
                false,
            ),
            (
                "removed although the newest grant is its suspension",
                Removed,
                newest(DirectorySuspended, Some(DIR)),
                false,
            ),
            ("no history", Suspended, None, false),
            (
                "already active",
                Active,
                newest(DirectorySuspended, Some(DIR)),
                false,
            ),
        ];
        for (name, state, grant, want) in cases {
            assert_eq!(may_restore(state, grant, DIR), want, "{name}");
            // And through the decision: restored with a reactivation, or left alone.
            if state != Active {
                let m = Current {
                    newest_grant: grant,
                    ..managed(state, "member", None)
                };
                let got = run(active("member", None), false, Some(m));
                let restored = update("member", None, true, false, None, None);
                assert_eq!(got == restored, want, "{name}: {got:?}");
                if !want {
                    assert_eq!(got, Effect::Nothing, "{name}");
                }
            }
        }
    }

    #[test]
    fn restoring_applies_the_role_the_groups_give_now() {
        let m = Current {
            group_id: Some(ENG.id),
            ..suspended_by(DirectorySuspended, Some(DIR))
        };
        assert_eq!(
            run(active("admin", Some(ADMINS)), false, Some(m)),
            update(
                "admin",
                Some(ADMINS),
                true,
                true,
                Some(DirectoryGroup),
                Some(EventType::MembershipRoleChanged)
            ),
            "role changed: a role grant and a role event after the reactivation"
        );
        assert_eq!(
            run(active("member", Some(ADMINS)), false, Some(m)),
            update("member", Some(ADMINS), true, false, None, None),
            "same role from another group: the reactivation grant records the group"
        );
    }

    #[test]
    fn linking_never_demotes_a_role_no_group_gave() {
        // An admin who joined by JIT or invitation; the directory has no mapped group for them.
        let jit_admin = member(Active, "admin");
        assert_eq!(
            run(active("member", None), false, Some(jit_admin)),
            update(
                "admin",
                None,
                false,
                false,
                None,
                Some(EventType::MembershipUpdated)
            ),
            "linked and managed; the role stays"
        );
        // A mapped group's role wins, and is recorded as the group's grant.
        assert_eq!(
            run(active("member", Some(ENG)), false, Some(jit_admin)),
            update(
                "member",
                Some(ENG),
                false,
                true,
                Some(DirectoryGroup),
                Some(EventType::MembershipRoleChanged)
            ),
        );
        // A role a group gave goes back to the default when no mapped group applies any more.
        let from_group = managed(Active, "admin", Some(ADMINS.id));
        assert_eq!(
            run(active("member", None), false, Some(from_group)),
            update(
                "member",
                None,
                false,
                true,
                Some(Directory),
                Some(EventType::MembershipRoleChanged)
            ),
        );
    }

    #[test]
    fn no_access_on_another_organizations_verified_domain() {
        assert_eq!(run(active("member", None), true, None), Effect::Nothing);
        assert_eq!(
            run(
                active("member", None),
                true,
                Some(suspended_by(DirectorySuspended, Some(DIR)))
            ),
            Effect::Nothing,
            "not even a membership it suspended itself"
        );
        // Not a rule about removing access: an active member stays managed as before.
        assert_eq!(
            run(
                active("member", None),
                true,
                Some(managed(Active, "member", None))
            ),
            Effect::Nothing
        );
        assert_eq!(
            run(
                active("admin", Some(ADMINS)),
                true,
                Some(managed(Active, "member", None))
            ),
            update(
                "admin",
                Some(ADMINS),
                false,
                true,
                Some(DirectoryGroup),
                Some(EventType::MembershipRoleChanged)
            ),
        );
    }

    #[test]
    fn a_new_person_gets_a_membership_with_the_role_the_groups_give() {
        assert_eq!(
            run(active("member", None), false, None),
            Effect::Create {
                role: "member",
                group: None,
                grant: Directory
            }
        );
        assert_eq!(
            run(active("admin", Some(ADMINS)), false, None),
            Effect::Create {
                role: "admin",
                group: Some(ADMINS),
                grant: DirectoryGroup
            }
        );
    }

    #[test]
    fn deactivated_or_deleted_user_is_suspended_with_the_right_reason() {
        let cases = [
            (false, false, SuspendReason::DirectoryDeactivated),
            (true, true, SuspendReason::DirectoryDeletedUser),
            (false, true, SuspendReason::DirectoryDeletedUser),
        ];
        for (active_there, deleted, reason) in cases {
            let user =
                InDirectory::Inactive(SuspendReason::of_user(active_there, deleted).unwrap());
            // Any active membership, managed by this directory or not (a leaver is a leaver).
            for m in [
                managed(Active, "admin", Some(ADMINS.id)),
                member(Active, "member"),
            ] {
                assert_eq!(run(user, false, Some(m)), Effect::Suspend { reason });
                assert_eq!(run(user, true, Some(m)), Effect::Suspend { reason });
            }
            // Nothing more to end.
            for st in [Suspended, Removed] {
                assert_eq!(
                    run(user, false, Some(managed(st, "member", None))),
                    Effect::Nothing
                );
            }
            assert_eq!(run(user, false, None), Effect::Nothing);
        }
    }

    #[test]
    fn removing_a_directory_suspends_only_what_it_manages() {
        let other = Current {
            managed_by: Some("dir_b"),
            ..member(Active, "member")
        };
        let cases = [
            ("managed by it", managed(Active, "member", None), true),
            (
                "joined by JIT, never linked",
                member(Active, "member"),
                false,
            ),
            ("managed by another directory", other, false),
            (
                "already suspended",
                managed(Suspended, "member", None),
                false,
            ),
        ];
        for (name, m, want) in cases {
            assert_eq!(suspends(&m, DIR, true), want, "{name}");
        }
        assert!(suspends(&member(Active, "member"), DIR, false));
    }

    #[test]
    fn nothing_changes_no_effect() {
        let cases = [
            (
                "same role, no group",
                managed(Active, "member", None),
                active("member", None),
            ),
            (
                "same role, same group",
                managed(Active, "admin", Some(ADMINS.id)),
                active("admin", Some(ADMINS)),
            ),
            (
                "kept role, no group",
                managed(Active, "admin", None),
                active("member", None),
            ),
        ];
        for (name, m, user) in cases {
            assert_eq!(run(user, false, Some(m)), Effect::Nothing, "{name}");
        }
    }

    #[test]
    fn management_or_group_moves_are_recorded() {
        // Managed by another directory: this one takes over (same role): an update event only.
        let other = Current {
            managed_by: Some("dir_b"),
            ..member(Active, "member")
        };
        assert_eq!(
            run(active("member", None), false, Some(other)),
            update(
                "member",
                None,
                false,
                false,
                None,
                Some(EventType::MembershipUpdated)
            )
        );
        // Same role from another group: a grant for the group and an update event.
        assert_eq!(
            run(
                active("admin", Some(ADMINS)),
                false,
                Some(managed(Active, "admin", Some(ENG.id)))
            ),
            update(
                "admin",
                Some(ADMINS),
                false,
                false,
                Some(DirectoryGroup),
                Some(EventType::MembershipUpdated)
            )
        );
    }
}
