//! An email address as Lanyard accepts it from people, admins and directories: one parser, so an
//! invitation, a staff account, a setup link and a directory's access check read an address the
//! same way.

use super::domain_name::email_domain;
use super::FieldError;

/// A checked, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Lower-cases and checks an address: one `@`, a local part of the characters RFC 5322 allows
    /// unquoted, a valid domain. `field` names the input in the error.
    pub fn parse(raw: &str, field: &'static str) -> Result<EmailAddress, FieldError> {
        // Invisible and format characters (soft hyphen, zero-width space, word joiner, …) vanish
        // when a domain is mapped, so `vic\u{ad}tim.test` would reach victim.test's mailboxes while
        // counting as another address: refused. A trailing root dot is dropped.
        if raw.chars().any(super::text::is_invisible) {
            return Err(FieldError::new(
                field,
                format!("{field} contains an invisible character; type the address again"),
            ));
        }
        let e = raw.trim().to_lowercase();
        let e = e.strip_suffix('.').unwrap_or(&e).to_owned();
        let bad = || {
            FieldError::new(
                field,
                format!("{field} must be an address like dana@acme.com"),
            )
        };
        let (local, domain) = e.split_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if !local_ok || e.len() > 254 || domain.contains('@') {
            return Err(bad());
        }
        email_domain(&e).ok_or_else(bad)?;
        Ok(EmailAddress(e))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(e: &str) -> Result<String, FieldError> {
        EmailAddress::parse(e, "email").map(EmailAddress::into_string)
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(n(" Dana@Acme.COM ").unwrap(), "dana@acme.com");
        assert_eq!(n("d.lee+tag@acme.com").unwrap(), "d.lee+tag@acme.com");
        for bad in [
            "dana",
            "@acme.com",
            "da na@acme.com",
            "dana@",
            "a@b@acme.com",
            "<dana>@acme.com",
            "dana,eve@acme.com",
            "dana\r\n@acme.com",
            ".dana@acme.com",
        ] {
            assert!(n(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn invisible_characters_are_refused_and_the_root_dot_dropped() {
        let e = n("dana@vic\u{ad}tim.test").unwrap_err();
        assert_eq!(e.field, "email");
        assert_eq!(
            e.message,
            "email contains an invisible character; type the address again"
        );
        assert!(n("da\u{200b}na@acme.com").is_err());
        assert_eq!(n("dana@acme.com.").unwrap(), "dana@acme.com");
        let e = EmailAddress::parse("dana", "admin_email").unwrap_err();
        assert_eq!(e.field, "admin_email");
        assert_eq!(
            e.message,
            "admin_email must be an address like dana@acme.com"
        );
    }

    #[test]
    fn lengths_are_capped() {
        let local = "a".repeat(64);
        assert!(n(&format!("{local}@acme.com")).is_ok());
        assert!(n(&format!("a{local}@acme.com")).is_err());
    }
}
