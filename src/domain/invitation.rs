//! An invitation's state and who sent it.

use super::actor::ActorKind;

vocabulary! {
    /// Where an invitation stands.
    pub enum InvitationState {
        /// Sent, not yet used; the link works until it expires.
        Pending = "pending",
        /// Used: the invitee is a member.
        Accepted = "accepted",
        /// Not used in time.
        Expired = "expired",
        /// Withdrawn by an admin, or voided when the address's membership was suspended or removed.
        Revoked = "revoked",
    }
}

vocabulary! {
    /// Where the invitation mail's delivery stands (an invitation's `delivery.state`).
    pub enum MailDeliveryState {
        /// Waiting for its first attempt.
        Queued = "queued",
        /// An attempt failed; it is tried again.
        Retrying = "retrying",
        /// Handed to the mail server.
        Sent = "sent",
        /// Given up after the last attempt.
        Failed = "failed",
        /// Dropped before it was sent: the link was replaced or revoked.
        Cancelled = "cancelled",
    }
}

/// Who sent an invitation (`invitations.inviter_kind`): a member of the organization, acting
/// within their own role, or another party (the vendor's API key, a portal admin, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviterKind {
    /// A member; `inviter_id` is the membership.
    Membership,
    /// Any other actor; `inviter_id` is the actor's id.
    Actor(ActorKind),
}

impl InviterKind {
    /// Wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            InviterKind::Membership => "membership",
            InviterKind::Actor(a) => a.as_str(),
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<InviterKind> {
        match s {
            "membership" => Some(InviterKind::Membership),
            other => ActorKind::parse(other).map(InviterKind::Actor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        crate::domain::check_vocabulary(
            InvitationState::ALL,
            |v| v.as_str(),
            InvitationState::parse,
        );
        crate::domain::check_vocabulary(
            MailDeliveryState::ALL,
            |v| v.as_str(),
            MailDeliveryState::parse,
        );
        assert_eq!(
            InviterKind::parse("membership"),
            Some(InviterKind::Membership)
        );
        for a in ActorKind::ALL {
            assert_eq!(InviterKind::parse(a.as_str()), Some(InviterKind::Actor(*a)));
            assert_eq!(InviterKind::Actor(*a).as_str(), a.as_str());
        }
        assert_eq!(InviterKind::Membership.as_str(), "membership");
        assert_eq!(InviterKind::parse("nobody"), None);
    }
}
