//! Email domains an organization may claim: normalization and the claimability rules.

use super::FieldError;

/// A normalized DNS name: lower case ASCII (internationalized names as punycode), no trailing
/// dot, at least two labels, each 1–63 letters, digits or hyphens, not starting or ending with a
/// hyphen, 253 characters at most.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

const CONSUMER_DOMAINS: &str = include_str!("consumer_domains.txt");

impl DomainName {
    /// Normalizes and validates syntax only.
    pub fn parse(raw: &str) -> Result<DomainName, FieldError> {
        let bad = |m: &str| FieldError::new("domain", m.to_owned());
        let trimmed = raw.trim().trim_end_matches('.');
        let trimmed = trimmed
            .strip_prefix("http://")
            .or_else(|| trimmed.strip_prefix("https://"))
            .unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(bad("enter a domain such as acme.com"));
        }
        if trimmed.contains(['/', '@', ':', ' ']) {
            return Err(bad(
                "enter only the domain, such as acme.com (no scheme, path, port or email address)",
            ));
        }
        let ascii = idna::domain_to_ascii(trimmed)
            .map_err(|_| bad("this is not a valid domain name"))?
            .to_ascii_lowercase();
        if ascii.len() > 253 {
            return Err(bad("a domain name is at most 253 characters long"));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("enter a full domain such as acme.com"));
        }
        for l in &labels {
            let ok = !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-');
            if !ok {
                return Err(bad(
                    "each part of the domain must be 1 to 63 letters, digits or hyphens",
                ));
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("an IP address is not a domain"));
        }
        Ok(DomainName(ascii))
    }

    /// Normalizes and applies every rule for a claim: not a public suffix, not a consumer mail
    /// domain.
    pub fn parse_claimable(raw: &str) -> Result<DomainName, FieldError> {
        let d = DomainName::parse(raw)?;
        if d.is_public_suffix() {
            return Err(FieldError::new(
                "domain",
                format!("{} is a public suffix shared by many owners and cannot be claimed; enter your own domain under it", d.0),
            ));
        }
        if d.is_consumer_mail() {
            return Err(FieldError::new(
                "domain",
                format!(
                    "{} is a consumer mail provider and cannot be claimed by an organization",
                    d.0
                ),
            ));
        }
        Ok(d)
    }

    /// True when the name is itself a public suffix (`com`, `co.uk`, `github.io`, …), per the
    /// Public Suffix List compiled into the `psl` crate.
    pub fn is_public_suffix(&self) -> bool {
        match psl::suffix(self.0.as_bytes()) {
            Some(s) => s.as_bytes() == self.0.as_bytes(),
            None => true,
        }
    }

    /// True for consumer mail domains (see `consumer_domains.txt`) and their subdomains.
    pub fn is_consumer_mail(&self) -> bool {
        CONSUMER_DOMAINS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .any(|c| self.0 == c || self.0.ends_with(&format!(".{c}")))
    }

    /// True when `self` is `other` or a subdomain of it.
    pub fn is_within(&self, other: &DomainName) -> bool {
        self.0 == other.0 || self.0.ends_with(&format!(".{}", other.0))
    }

    /// Every parent of this name that is still claimable (for `eu.acme.com`: `acme.com`).
    pub fn parents(&self) -> Vec<DomainName> {
        let mut out = Vec::new();
        let mut rest = self.0.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            let p = DomainName(parent.to_owned());
            if p.is_public_suffix() {
                break;
            }
            out.push(p);
            rest = parent;
        }
        out
    }

    /// The name where the challenge record must be published.
    pub fn challenge_name(&self) -> String {
        format!("_lanyard-challenge.{}", self.0)
    }

    /// The normalized name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The domain part of an email address, normalized.
pub fn email_domain(email: &str) -> Option<DomainName> {
    let (_, d) = email.trim().rsplit_once('@')?;
    DomainName::parse(d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_trailing_dot_and_scheme() {
        assert_eq!(
            DomainName::parse(" Acme.COM. ").unwrap().as_str(),
            "acme.com"
        );
        assert_eq!(
            DomainName::parse("https://acme.com").unwrap().as_str(),
            "acme.com"
        );
    }

    #[test]
    fn internationalized_names_become_punycode() {
        assert_eq!(
            DomainName::parse("bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            DomainName::parse("MÜNCHEN.de").unwrap().as_str(),
            "xn--mnchen-3ya.de"
        );
    }

    #[test]
    fn refuses_bad_syntax() {
        for bad in [
            "",
            "acme",
            "acme..com",
            "-acme.com",
            "acme-.com",
            "a b.com",
            "dana@acme.com",
            "acme.com/x",
            "10.0.0.1",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_suffixes_cannot_be_claimed() {
        for s in ["com", "co.uk", "github.io", "s3.amazonaws.com"] {
            // Single labels fail syntax; the rest fail the suffix rule.
            assert!(DomainName::parse_claimable(s).is_err(), "{s}");
        }
        let e = DomainName::parse_claimable("co.uk").unwrap_err();
        assert!(e.message.contains("public suffix"));
        assert!(DomainName::parse_claimable("acme.co.uk").is_ok());
        assert!(DomainName::parse_claimable("acme.github.io").is_ok());
    }

    #[test]
    fn consumer_mail_domains_cannot_be_claimed() {
        for s in [
            "gmail.com",
            "GMAIL.COM",
            "outlook.com",
            "proton.me",
            "mail.yahoo.com",
        ] {
            let e = DomainName::parse_claimable(s).unwrap_err();
            assert!(e.message.contains("consumer mail"), "{s}");
        }
        assert!(DomainName::parse_claimable("notgmail.com").is_ok());
    }

    #[test]
    fn reserved_test_names_are_claimable() {
        assert!(DomainName::parse_claimable("example.com").is_ok());
        assert!(DomainName::parse_claimable("acme.test").is_ok());
    }

    #[test]
    fn subdomain_relations() {
        let eu = DomainName::parse("eu.acme.com").unwrap();
        let acme = DomainName::parse("acme.com").unwrap();
        assert!(eu.is_within(&acme));
        assert!(!acme.is_within(&eu));
        assert!(!DomainName::parse("notacme.com").unwrap().is_within(&acme));
        assert_eq!(eu.parents(), vec![acme.clone()]);
        assert_eq!(
            DomainName::parse("a.acme.co.uk").unwrap().parents(),
            vec![DomainName::parse("acme.co.uk").unwrap()]
        );
        assert_eq!(acme.challenge_name(), "_lanyard-challenge.acme.com");
        assert_eq!(email_domain("Dana@Acme.com"), Some(acme));
    }
}
