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

vocabulary! {
    /// How one rule of a policy decision came out (a trace line's `outcome`).
    pub enum RuleOutcome {
        /// The rule lets the request through.
        Allow = "allow",
        /// The rule refuses it; the decision is a refusal.
        Deny = "deny",
        /// Context for the reader; decides nothing.
        Info = "info",
    }
}

vocabulary! {
    /// The rule a trace line of a decision is about (its `rule`).
    pub enum TraceRule {
        /// The SSO connection the sign-in came through.
        Connection = "connection",
        /// The asserted or invited email address.
        Email = "email",
        /// Its domain (verified, lapsed, another organization's).
        Domain = "domain",
        /// Which of the organization's connections serves the person's domain.
        Routing = "routing",
        /// An authoritative directory.
        Directory = "directory",
        /// An existing membership.
        Membership = "membership",
        /// JIT provisioning.
        Jit = "jit",
        /// The invitation as a whole (its acceptance route).
        Invitation = "invitation",
        /// Who may invite.
        Inviter = "inviter",
        /// The role given.
        Role = "role",
        /// Invitations for addresses outside the verified domains.
        GuestInvitations = "guest_invitations",
        /// SSO required for a domain.
        SsoRequired = "sso_required",
        /// What a directory deactivation does.
        Deactivation = "deactivation",
        /// The last active admin's protection.
        LastAdmin = "last_admin",
    }
}

vocabulary! {
    /// The way in whose decision the policy simulator replays (the first word of a path:
    /// `invitation`, `sso:<connection id>`, `directory:<directory id>:<event>`).
    pub enum SimulatedPath {
        Invitation = "invitation",
        Sso = "sso",
        Directory = "directory",
    }
}

vocabulary! {
    /// What the simulator replays on a directory path.
    pub enum SimulatedDirectoryEvent {
        /// The directory provisions the person.
        Create = "create",
        /// The directory deactivates them.
        Deactivate = "deactivate",
    }
}

vocabulary! {
    /// The five places an access decision is made (a control point's `key`).
    pub enum ControlPointKey {
        SsoConnection = "sso_connection",
        DomainVerification = "domain_verification",
        Invitation = "invitation",
        JitProvisioning = "jit_provisioning",
        DirectorySync = "directory_sync",
    }
}

impl ControlPointKey {
    /// The control point's title.
    pub const fn title(self) -> &'static str {
        match self {
            ControlPointKey::SsoConnection => "SSO connection",
            ControlPointKey::DomainVerification => "Domain verification",
            ControlPointKey::Invitation => "Invitation",
            ControlPointKey::JitProvisioning => "JIT provisioning",
            ControlPointKey::DirectorySync => "Directory sync",
        }
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
        crate::domain::check_vocabulary(RuleOutcome::ALL, |v| v.as_str(), RuleOutcome::parse);
        crate::domain::check_vocabulary(TraceRule::ALL, |v| v.as_str(), TraceRule::parse);
        crate::domain::check_vocabulary(SimulatedPath::ALL, |v| v.as_str(), SimulatedPath::parse);
        crate::domain::check_vocabulary(
            SimulatedDirectoryEvent::ALL,
            |v| v.as_str(),
            SimulatedDirectoryEvent::parse,
        );
        crate::domain::check_vocabulary(
            ControlPointKey::ALL,
            |v| v.as_str(),
            ControlPointKey::parse,
        );
        assert_eq!(Inviters::default(), Inviters::Members);
        assert_eq!(DeactivationAction::default(), DeactivationAction::Suspend);
    }
}
