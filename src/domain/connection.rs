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

/// The identity providers the portal guides an admin through, in the order it offers them:
/// (wire name, label, whether it offers SAML, whether it offers OpenID Connect).
pub const IDPS: [(&str, &str, bool, bool); 7] = [
    ("okta", "Okta", true, true),
    ("entra", "Microsoft Entra ID", true, true),
    ("google", "Google Workspace", true, true),
    ("adfs", "ADFS", true, false),
    ("onelogin", "OneLogin", true, true),
    ("jumpcloud", "JumpCloud", true, true),
    ("generic", "Another identity provider", true, true),
];

/// How an IdP's wire name is written for people ("Microsoft Entra ID"); unknown ones as they are.
pub fn idp_label(idp: &str) -> &str {
    IDPS.iter()
        .find(|(k, ..)| *k == idp)
        .map(|(_, l, ..)| *l)
        .unwrap_or(idp)
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
        assert_eq!(idp_label("entra"), "Microsoft Entra ID");
        assert_eq!(idp_label("made-up"), "made-up");
    }
}
