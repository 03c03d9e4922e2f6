//! An SSO connection's protocol and state.

vocabulary! {
    /// The protocol a connection speaks.
    pub enum ConnectionKind {
        Saml = "saml",
        Oidc = "oidc",
    }
}

impl ConnectionKind {
    /// How the protocol is written in prose.
    pub const fn label(self) -> &'static str {
        match self {
            ConnectionKind::Saml => "SAML",
            ConnectionKind::Oidc => "OIDC",
        }
    }
}

vocabulary! {
    /// Where a connection stands.
    pub enum ConnectionState {
        /// Created, never activated: nobody signs in through it yet.
        Draft = "draft",
        /// People sign in through it.
        Active = "active",
        /// Switched off by an admin.
        Inactive = "inactive",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        crate::domain::check_vocabulary(ConnectionKind::ALL, |v| v.as_str(), ConnectionKind::parse);
        crate::domain::check_vocabulary(
            ConnectionState::ALL,
            |v| v.as_str(),
            ConnectionState::parse,
        );
        assert_eq!(ConnectionKind::Saml.label(), "SAML");
        assert_eq!(ConnectionKind::Oidc.label(), "OIDC");
    }
}
