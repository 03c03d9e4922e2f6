//! The options of an organization's access policy.

vocabulary! {
    /// Who may send invitations.
    #[derive(Default)]
    pub enum Inviters {
        /// Any member, up to their own role.
        #[default]
        Members = "members",
        /// Admins only.
        Admins = "admins",
    }
}

vocabulary! {
    /// What a directory deactivation does after suspending the member.
    #[derive(Default)]
    pub enum DeactivationAction {
        /// The member stays suspended.
        #[default]
        Suspend = "suspend",
        /// The member is removed (at once or after a grace period).
        Remove = "remove",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        crate::domain::check_vocabulary(Inviters::ALL, |v| v.as_str(), Inviters::parse);
        crate::domain::check_vocabulary(
            DeactivationAction::ALL,
            |v| v.as_str(),
            DeactivationAction::parse,
        );
        assert_eq!(Inviters::default(), Inviters::Members);
        assert_eq!(DeactivationAction::default(), DeactivationAction::Suspend);
    }
}
