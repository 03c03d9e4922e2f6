//! Sign-in vocabulary: why a sign-in started, how it ended, and the admission rules' refusals.

vocabulary! {
    /// Why a sign-in was started (`sso_requests.purpose`, `login_attempts.purpose`).
    pub enum SignInPurpose {
        /// A person signing in to the vendor's product.
        Signin = "signin",
        /// An admin's test sign-in from the setup portal.
        Test = "test",
        /// An invitee accepting an invitation through SSO.
        Invite = "invite",
    }
}

vocabulary! {
    /// How a sign-in attempt ended (`login_attempts.outcome`).
    pub enum SignInOutcome {
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

vocabulary! {
    /// Why the authoritative directory keeps a person out (sign-in, invitation, reactivation).
    pub enum GateRefusal {
        /// The directory has no account for the person.
        NotProvisioned = "not_provisioned",
        /// An account that stands for the person is deactivated in the directory.
        Deprovisioned = "deprovisioned",
    }
}

impl GateRefusal {
    /// What the person signing in is told.
    pub const fn message(self) -> &'static str {
        match self {
            GateRefusal::NotProvisioned => "your organization's directory has not given you access to this application; ask your IT admin to assign it to you",
            GateRefusal::Deprovisioned => "your account was deactivated in your organization's directory; contact your IT admin",
        }
    }
}

vocabulary! {
    /// Why the admission rules refuse a sign-in (`login_attempts.reason`, the error code shown).
    pub enum AdmissionRefusal {
        /// The connection is not active.
        ConnectionInactive = "connection_inactive",
        /// The identity provider sent no email address.
        NoEmail = "no_email",
        /// The email address is not valid.
        InvalidEmail = "invalid_email",
        /// The IdP says the email address is not verified (a new identity is not matched or added by it).
        EmailUnverified = "email_unverified",
        /// The person's membership is suspended (or removed).
        MembershipSuspended = "membership_suspended",
        /// The address's domain is not a verified domain of the organization.
        DomainNotVerified = "domain_not_verified",
        /// The address's domain is the organization's, but the connection is limited to others.
        DomainNotServed = "domain_not_served",
        /// The person is not a member and JIT provisioning is off.
        JitDisabled = "jit_disabled",
        /// The authoritative directory has no account for the person.
        NotProvisioned = "not_provisioned",
        /// The authoritative directory deactivated the person.
        Deprovisioned = "deprovisioned",
    }
}

impl From<GateRefusal> for AdmissionRefusal {
    fn from(g: GateRefusal) -> Self {
        match g {
            GateRefusal::NotProvisioned => AdmissionRefusal::NotProvisioned,
            GateRefusal::Deprovisioned => AdmissionRefusal::Deprovisioned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        use crate::domain::check_vocabulary;
        check_vocabulary(SignInPurpose::ALL, |v| v.as_str(), SignInPurpose::parse);
        check_vocabulary(SignInOutcome::ALL, |v| v.as_str(), SignInOutcome::parse);
        check_vocabulary(GateRefusal::ALL, |v| v.as_str(), GateRefusal::parse);
        check_vocabulary(
            AdmissionRefusal::ALL,
            |v| v.as_str(),
            AdmissionRefusal::parse,
        );
    }

    #[test]
    fn gate_refusals_keep_their_codes_as_admission_refusals() {
        for g in GateRefusal::ALL {
            assert_eq!(AdmissionRefusal::from(*g).as_str(), g.as_str());
            assert!(g.message().contains("directory"));
        }
    }
}
