//! Who does something: the `type` of an audit event's actor.

vocabulary! {
    /// The kind of party acting (`audit_events.actor_type`).
    pub enum ActorKind {
        /// The vendor's product, through an API key.
        ApiKey = "api_key",
        /// The customer's IT admin in the setup portal.
        PortalAdmin = "portal_admin",
        /// The command line operator.
        Operator = "operator",
        /// Lanyard itself (background jobs).
        System = "system",
        /// A vendor staff member in the console.
        Staff = "staff",
        /// A directory, through SCIM.
        Directory = "directory",
        /// A person signing in or accepting an invitation.
        User = "user",
        /// Someone not yet identified (a refused staff sign-in).
        Anonymous = "anonymous",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        crate::domain::check_vocabulary(ActorKind::ALL, |v| v.as_str(), ActorKind::parse);
    }
}
