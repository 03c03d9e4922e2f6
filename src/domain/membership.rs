//! A membership's state and how it got its access (the provenance recorded as grants).

vocabulary! {
    /// Where a membership stands.
    pub enum MembershipState {
        /// May sign in.
        Active = "active",
        /// Kept, without access (an admin, a directory deactivation or deletion).
        Suspended = "suspended",
        /// Ended by an admin or the directory deactivation policy.
        Removed = "removed",
    }
}

vocabulary! {
    /// How a membership, its state or its role came to be: one row of its history
    /// (`membership_grants.kind`).
    pub enum GrantKind {
        /// Joined by signing in through SSO on a verified domain (just-in-time provisioning).
        Jit = "jit",
        /// An SSO sign-in linked to an existing member by verified email.
        JitLink = "jit_link",
        /// Accepted an invitation.
        Invitation = "invitation",
        /// Provisioned by a directory, role from no group.
        Directory = "directory",
        /// Provisioned by a directory, role from a mapped group.
        DirectoryGroup = "directory_group",
        /// Suspended by a directory (deactivated or deleted there, or the directory removed).
        DirectorySuspended = "directory_suspended",
        /// Reactivated by the directory that suspended it.
        DirectoryReactivated = "directory_reactivated",
        /// Removed by the directory deactivation policy.
        DirectoryRemoved = "directory_removed",
        /// Role set by an admin.
        ManualRole = "manual_role",
        /// Suspended by an admin.
        ManualSuspended = "manual_suspended",
        /// Removed by an admin.
        ManualRemoved = "manual_removed",
        /// Reactivated by an admin.
        ManualReactivated = "manual_reactivated",
    }
}

impl GrantKind {
    /// Kinds of grant that give a role (the others change only the state).
    pub const fn gives_role(self) -> bool {
        matches!(
            self,
            GrantKind::Jit
                | GrantKind::Invitation
                | GrantKind::Directory
                | GrantKind::DirectoryGroup
                | GrantKind::ManualRole
        )
    }

    /// Access that came from outside the directory (sign-in or invitation).
    pub const fn outside_directory(self) -> bool {
        matches!(
            self,
            GrantKind::Jit | GrantKind::JitLink | GrantKind::Invitation
        )
    }

    /// Grants that took access away (a suspension or a removal, by an admin or a directory).
    pub const fn takes_access(self) -> bool {
        matches!(
            self,
            GrantKind::DirectorySuspended
                | GrantKind::DirectoryRemoved
                | GrantKind::ManualSuspended
                | GrantKind::ManualRemoved
        )
    }

    /// The grant an admin's state change writes (`None` for a state that is not one an admin
    /// sets this way).
    pub const fn manual_for(state: MembershipState) -> GrantKind {
        match state {
            MembershipState::Active => GrantKind::ManualReactivated,
            MembershipState::Suspended => GrantKind::ManualSuspended,
            MembershipState::Removed => GrantKind::ManualRemoved,
        }
    }
}

vocabulary! {
    /// Where a role or state change recorded in an event came from (its `source` metadata).
    pub enum ChangeSource {
        /// An admin (portal, console or API) changed it by hand.
        Manual = "manual",
        /// A directory provisioned or changed it.
        Directory = "directory",
        /// A JIT sign-in created it.
        Jit = "jit",
        /// An accepted invitation gave it.
        Invitation = "invitation",
    }
}

vocabulary! {
    /// What an admin asks of a membership from the portal's member page (the form's `action`).
    pub enum MemberAction {
        /// Give the member another role.
        Role = "role",
        /// Suspend: sign-ins end now, the membership stays.
        Suspend = "suspend",
        /// Remove from the organization.
        Remove = "remove",
        /// Undo a suspension.
        Reactivate = "reactivate",
    }
}

impl MemberAction {
    /// The state this action sets (`None` for a role change).
    pub const fn target_state(self) -> Option<MembershipState> {
        match self {
            MemberAction::Role => None,
            MemberAction::Suspend => Some(MembershipState::Suspended),
            MemberAction::Remove => Some(MembershipState::Removed),
            MemberAction::Reactivate => Some(MembershipState::Active),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        crate::domain::check_vocabulary(
            MembershipState::ALL,
            |v| v.as_str(),
            MembershipState::parse,
        );
        crate::domain::check_vocabulary(GrantKind::ALL, |v| v.as_str(), GrantKind::parse);
        crate::domain::check_vocabulary(ChangeSource::ALL, |v| v.as_str(), ChangeSource::parse);
        crate::domain::check_vocabulary(MemberAction::ALL, |v| v.as_str(), MemberAction::parse);
    }

    #[test]
    fn role_giving_grants() {
        use GrantKind::*;
        let giving: Vec<_> = GrantKind::ALL.iter().filter(|g| g.gives_role()).collect();
        assert_eq!(
            giving,
            [&Jit, &Invitation, &Directory, &DirectoryGroup, &ManualRole]
        );
        assert!(!JitLink.gives_role());
        assert!(Jit.outside_directory() && JitLink.outside_directory());
        assert!(!DirectoryGroup.outside_directory());
        let taking: Vec<_> = GrantKind::ALL.iter().filter(|g| g.takes_access()).collect();
        assert_eq!(
            taking,
            [
                &DirectorySuspended,
                &DirectoryRemoved,
                &ManualSuspended,
                &ManualRemoved
            ]
        );
        // The same kinds whose names end in the state they set.
        for g in GrantKind::ALL {
            let s = g.as_str();
            assert_eq!(
                g.takes_access(),
                s.ends_with("suspended") || s.ends_with("removed"),
                "{s}"
            );
        }
        assert_eq!(
            GrantKind::manual_for(MembershipState::Suspended),
            ManualSuspended
        );
        assert_eq!(
            GrantKind::manual_for(MembershipState::Removed),
            ManualRemoved
        );
        assert_eq!(
            GrantKind::manual_for(MembershipState::Active),
            ManualReactivated
        );
    }

    #[test]
    fn comparisons_with_stored_strings() {
        assert!(MembershipState::Active == "active");
        let (suspended, capitalised) = (String::from("suspended"), String::from("Active"));
        assert!(suspended == MembershipState::Suspended);
        assert!("removed" == MembershipState::Removed);
        assert!(capitalised != MembershipState::Active);
    }
}
