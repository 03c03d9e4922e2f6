//! Setup-link intents: which parts of the admin portal a link opens.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One portal capability a setup link may grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Sso,
    DomainVerification,
    Dsync,
    Invitations,
    AuditLogs,
    LogStreams,
}

impl Intent {
    /// Every intent, in the order the portal shows its steps.
    pub const ALL: [Intent; 6] = [
        Intent::DomainVerification,
        Intent::Sso,
        Intent::Dsync,
        Intent::Invitations,
        Intent::AuditLogs,
        Intent::LogStreams,
    ];

    /// The wire name (`domain_verification`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Intent::Sso => "sso",
            Intent::DomainVerification => "domain_verification",
            Intent::Dsync => "dsync",
            Intent::Invitations => "invitations",
            Intent::AuditLogs => "audit_logs",
            Intent::LogStreams => "log_streams",
        }
    }

    /// A short title for the portal.
    pub const fn title(self) -> &'static str {
        match self {
            Intent::Sso => "Single sign-on",
            Intent::DomainVerification => "Verify your domains",
            Intent::Dsync => "Directory sync",
            Intent::Invitations => "Invite people",
            Intent::AuditLogs => "Activity",
            Intent::LogStreams => "Log streams",
        }
    }

    /// Parses one wire name.
    pub fn parse(raw: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.as_str() == raw)
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty, duplicate-free, sorted set of intents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentSet(Vec<Intent>);

impl IntentSet {
    /// Validates a list of wire names; the error names the first bad value.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<IntentSet, super::FieldError> {
        if raw.is_empty() {
            return Err(super::FieldError::new(
                "intents",
                "intents must list at least one of: sso, domain_verification, dsync, invitations, audit_logs, log_streams",
            ));
        }
        let mut out = Vec::with_capacity(raw.len());
        for r in raw {
            let r = r.as_ref();
            match Intent::parse(r) {
                Some(i) => out.push(i),
                None => {
                    return Err(super::FieldError::new(
                        "intents",
                        format!(
                            "unknown intent '{r}'; use sso, domain_verification, dsync, invitations, audit_logs or log_streams"
                        ),
                    ))
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(IntentSet(out))
    }

    /// The intents, sorted.
    pub fn as_slice(&self) -> &[Intent] {
        &self.0
    }

    /// Whether the set grants `i`.
    pub fn contains(&self, i: Intent) -> bool {
        self.0.contains(&i)
    }

    /// Comma-separated wire form used for storage.
    pub fn to_csv(&self) -> String {
        self.0
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads the stored comma-separated form.
    pub fn from_csv(raw: &str) -> Result<IntentSet, super::FieldError> {
        let parts: Vec<&str> = raw.split(',').filter(|s| !s.is_empty()).collect();
        IntentSet::parse(&parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sorts_and_dedups() {
        let s = IntentSet::parse(&["sso", "dsync", "sso"]).unwrap();
        assert_eq!(s.as_slice(), &[Intent::Sso, Intent::Dsync]);
        assert_eq!(IntentSet::from_csv(&s.to_csv()).unwrap(), s);
    }

    #[test]
    fn refuses_empty_and_unknown() {
        assert_eq!(IntentSet::parse::<&str>(&[]).unwrap_err().field, "intents");
        let e = IntentSet::parse(&["sso", "billing"]).unwrap_err();
        assert!(e.message.contains("billing"));
    }
}
