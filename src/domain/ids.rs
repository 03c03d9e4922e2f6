//! Public identifiers: a type prefix and a ULID (time-sortable), e.g. `org_01JD…`.

/// The kinds of public ids Lanyard hands out, with their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Organization,
    ApiKey,
    SetupLink,
    AuditEvent,
    Domain,
    Connection,
    User,
    Membership,
    Grant,
    LoginAttempt,
    Certificate,
    Directory,
    DirectoryToken,
    DirectoryUser,
    DirectoryGroup,
    ScimRequest,
    Invitation,
    Mail,
    Event,
    WebhookEndpoint,
    WebhookDelivery,
    WebhookAttempt,
    Staff,
}

impl IdKind {
    /// The prefix including the trailing underscore.
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Organization => "org_",
            IdKind::ApiKey => "key_",
            IdKind::SetupLink => "link_",
            IdKind::AuditEvent => "audit_",
            IdKind::Domain => "dom_",
            IdKind::Connection => "conn_",
            IdKind::User => "user_",
            IdKind::Membership => "om_",
            IdKind::Grant => "grant_",
            IdKind::LoginAttempt => "attempt_",
            IdKind::Certificate => "cert_",
            IdKind::Directory => "dir_",
            IdKind::DirectoryToken => "dtok_",
            IdKind::DirectoryUser => "diru_",
            IdKind::DirectoryGroup => "dirg_",
            IdKind::ScimRequest => "scimreq_",
            IdKind::Invitation => "inv_",
            IdKind::Mail => "mail_",
            IdKind::Event => "event_",
            IdKind::WebhookEndpoint => "we_",
            IdKind::WebhookDelivery => "whd_",
            IdKind::WebhookAttempt => "wha_",
            IdKind::Staff => "stf_",
        }
    }
}

/// Checks that `raw` is an id of `kind`: the right prefix followed by 26 Crockford base32 characters.
pub fn is_valid_id(kind: IdKind, raw: &str) -> bool {
    match raw.strip_prefix(kind.prefix()) {
        Some(rest) => {
            rest.len() == 26
                && rest.bytes().all(|b| {
                    b.is_ascii_digit()
                        || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'L' | b'O' | b'U'))
                })
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_prefixed_ulid() {
        assert!(is_valid_id(
            IdKind::Organization,
            "org_01JDZQ8V6M3W9X4N5P7R2S0T1A"
        ));
    }

    #[test]
    fn rejects_wrong_prefix_length_and_alphabet() {
        assert!(!is_valid_id(
            IdKind::Organization,
            "key_01JDZQ8V6M3W9X4N5P7R2S0T1A"
        ));
        assert!(!is_valid_id(
            IdKind::Organization,
            "org_01JDZQ8V6M3W9X4N5P7R2S0T1"
        ));
        assert!(!is_valid_id(
            IdKind::Organization,
            "org_01JDZQ8V6M3W9X4N5P7R2S0TIU"
        ));
        assert!(!is_valid_id(
            IdKind::Organization,
            "org_01jdzq8v6m3w9x4n5p7r2s0t1a"
        ));
        assert!(!is_valid_id(IdKind::Organization, ""));
    }
}
