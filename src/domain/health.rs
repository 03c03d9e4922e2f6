//! The words of tenant health: signal severities and areas, the overall status, drift findings
//! and credential kinds and flags. The health report and drift export carry them as strings.

vocabulary! {
    /// How bad a health signal is.
    pub enum Severity {
        /// Something is failing now.
        Error = "error",
        /// Something will break, or drifted.
        Warning = "warning",
    }
}

vocabulary! {
    /// What a health signal is about.
    pub enum SignalArea {
        Sso = "sso",
        Directory = "directory",
        Domains = "domains",
        Invitations = "invitations",
        Members = "members",
        Drift = "drift",
        Credentials = "credentials",
    }
}

vocabulary! {
    /// A tenant's overall health.
    pub enum HealthStatus {
        /// No signal.
        Ok = "ok",
        /// Warnings only.
        Attention = "attention",
        /// At least one error.
        Failing = "failing",
    }
}

vocabulary! {
    /// What a drift finding says disagrees.
    pub enum DriftKind {
        /// Active here, deactivated in the authoritative directory.
        DeactivatedInDirectory = "deactivated_in_directory",
        /// Active here, not provisioned by the authoritative directory.
        AbsentFromDirectory = "absent_from_directory",
        /// Joined by JIT or invitation while a directory was authoritative.
        JoinedOutsideDirectory = "joined_outside_directory",
        /// Holds a role through a directory group they left.
        RoleFromDepartedGroup = "role_from_departed_group",
        /// Provisioned by JIT through a domain the organization no longer verifies.
        DomainLapsed = "domain_lapsed",
        /// Their email domain is verified by another organization.
        DomainOwnedElsewhere = "domain_owned_elsewhere",
        /// No sign-in for the inactivity period.
        Inactive = "inactive",
        /// An invitation still pending after its expiry.
        InvitationPastExpiry = "invitation_past_expiry",
    }
}

vocabulary! {
    /// A non-human credential's kind.
    pub enum CredentialKind {
        ScimToken = "scim_token",
        ApiKey = "api_key",
        WebhookSecret = "webhook_secret",
        LogStreamCredential = "log_stream_credential",
        IdpClientSecret = "idp_client_secret",
        SamlCertificate = "saml_certificate",
        SamlSpKey = "saml_sp_key",
        OauthClientSecret = "oauth_client_secret",
    }
}

vocabulary! {
    /// Why a credential needs attention.
    pub enum CredentialFlag {
        /// Past its expiry.
        Expired = "expired",
        /// Expires within 30 days.
        ExpiringSoon = "expiring_soon",
        /// Not used for 90 days.
        // snake_case alone would spell it `unused90_days`.
        #[serde(rename = "unused_90_days")]
        Unused90Days = "unused_90_days",
        /// Older than a year.
        RotationOverdue = "rotation_overdue",
    }
}

impl DriftKind {
    /// Plain words for the console.
    pub const fn label(self) -> &'static str {
        match self {
            DriftKind::DeactivatedInDirectory => "Deactivated in the directory, active here",
            DriftKind::AbsentFromDirectory => "Not in the authoritative directory",
            DriftKind::JoinedOutsideDirectory => "Joined outside the authoritative directory",
            DriftKind::RoleFromDepartedGroup => "Role from a group they left",
            DriftKind::DomainLapsed => "Provisioned through a lapsed domain",
            // Has had no words of its own so far; kept as it was (issue 23: no behaviour change).
            DriftKind::DomainOwnedElsewhere => "Drift",
            DriftKind::Inactive => "No recent sign-in",
            DriftKind::InvitationPastExpiry => "Invitation pending past expiry",
        }
    }
}

impl CredentialKind {
    /// Plain words for the console.
    pub const fn label(self) -> &'static str {
        match self {
            CredentialKind::ScimToken => "SCIM token",
            CredentialKind::ApiKey => "Vendor API key",
            CredentialKind::WebhookSecret => "Webhook signing secret",
            CredentialKind::LogStreamCredential => "Log stream credential",
            CredentialKind::IdpClientSecret => "IdP client secret",
            CredentialKind::SamlCertificate => "SAML certificate",
            CredentialKind::SamlSpKey => "SAML SP key",
            CredentialKind::OauthClientSecret => "OAuth client secret",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        use crate::domain::check_vocabulary;
        check_vocabulary(Severity::ALL, |v| v.as_str(), Severity::parse);
        check_vocabulary(SignalArea::ALL, |v| v.as_str(), SignalArea::parse);
        check_vocabulary(HealthStatus::ALL, |v| v.as_str(), HealthStatus::parse);
        check_vocabulary(DriftKind::ALL, |v| v.as_str(), DriftKind::parse);
        check_vocabulary(CredentialKind::ALL, |v| v.as_str(), CredentialKind::parse);
        check_vocabulary(CredentialFlag::ALL, |v| v.as_str(), CredentialFlag::parse);
    }
}
