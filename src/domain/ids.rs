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
    SpKey,
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
    OauthClient,
    SsoSession,
    AuditLogExport,
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
            IdKind::SpKey => "spkey_",
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
            IdKind::AuditLogExport => "audit_log_export_",
            IdKind::Staff => "stf_",
            IdKind::OauthClient => "oc_",
            IdKind::SsoSession => "ssn_",
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

/// What every typed id offers generic code (path extractors): its check and its noun.
pub trait PublicId: Sized {
    /// The word for the thing it names, as in "organization not found".
    const NOUN: &'static str;
    /// Today's id check: the right prefix followed by 26 Crockford base32 characters.
    fn parse(raw: &str) -> Option<Self>;
}

/// Declares typed public ids: a `String` that passed [`is_valid_id`] for its kind, parsed once at
/// the edge (path extractors, server functions), so a function taking an organization id next to
/// another id cannot be called with the two swapped. `Deref<Target = str>` keeps SQL binds and
/// formatting as they were; JSON carries the plain string.
macro_rules! typed_ids {
    ($($(#[$doc:meta])* $name:ident => $kind:ident, $noun:literal;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(String);

        impl $name {
            /// The kind of id (its prefix).
            pub const KIND: IdKind = IdKind::$kind;
            /// The word for the thing it names, as in "organization not found".
            pub const NOUN: &'static str = $noun;

            /// Today's id check: the right prefix followed by 26 Crockford base32 characters.
            pub fn parse(raw: &str) -> Option<Self> {
                is_valid_id(IdKind::$kind, raw).then(|| Self(raw.to_owned()))
            }

            /// A new id of this kind (strictly increasing within one process).
            #[cfg(feature = "ssr")]
            pub fn generate() -> Self {
                Self(crate::server::db::new_id(IdKind::$kind))
            }

            /// An id Lanyard itself wrote (a row it read, a session it issued): not re-checked.
            pub fn from_stored(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl PublicId for $name {
            const NOUN: &'static str = $noun;
            fn parse(raw: &str) -> Option<Self> {
                $name::parse(raw)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    )+};
}

typed_ids! {
    /// `org_…`
    OrgId => Organization, "organization";
    /// `conn_…`
    ConnectionId => Connection, "connection";
    /// `dir_…`
    DirectoryId => Directory, "directory";
    /// `diru_…`
    DirectoryUserId => DirectoryUser, "directory user";
    /// `dirg_…`
    DirectoryGroupId => DirectoryGroup, "directory group";
    /// `om_…`
    MembershipId => Membership, "membership";
    /// `user_…`
    UserId => User, "user";
    /// `inv_…`
    InvitationId => Invitation, "invitation";
    /// `dom_…`
    DomainId => Domain, "domain";
    /// `link_…`
    SetupLinkId => SetupLink, "setup link";
    /// `audit_…`
    AuditEventId => AuditEvent, "audit event";
    /// `we_…`
    WebhookEndpointId => WebhookEndpoint, "webhook endpoint";
    /// `whd_…`
    WebhookDeliveryId => WebhookDelivery, "webhook delivery";
    /// `cert_…`
    CertificateId => Certificate, "certificate";
    /// `stf_…`
    StaffId => Staff, "staff account";
    /// `key_…`
    ApiKeyId => ApiKey, "API key";
    /// `oc_…`
    OauthClientId => OauthClient, "OAuth client";
    /// `audit_log_export_…` (WorkOS's prefix)
    AuditLogExportId => AuditLogExport, "audit log export";
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

    #[test]
    fn typed_ids_parse_with_the_id_check_of_their_kind() {
        let raw = "org_01JDZQ8V6M3W9X4N5P7R2S0T1A";
        let org = OrgId::parse(raw).expect("a valid organization id");
        assert_eq!(org.as_str(), raw);
        assert_eq!(&*org, raw);
        assert_eq!(org.to_string(), raw);
        assert_eq!(serde_json::to_string(&org).unwrap(), format!("\"{raw}\""));
        // Another kind's prefix, a bad length or alphabet: refused, as by `is_valid_id`.
        assert!(DirectoryId::parse(raw).is_none());
        assert!(OrgId::parse("org_01JDZQ8V6M3W9X4N5P7R2S0T1").is_none());
        assert!(OrgId::parse("org_01jdzq8v6m3w9x4n5p7r2s0t1a").is_none());
        assert!(MembershipId::parse("om_01JDZQ8V6M3W9X4N5P7R2S0T1A").is_some());
        assert_eq!(OrgId::NOUN, "organization");
        assert_eq!(OrgId::KIND.prefix(), "org_");
    }
}
