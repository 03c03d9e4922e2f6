//! Organization input rules.

use super::FieldError;

/// Longest accepted organization name, in characters.
pub const NAME_MAX: usize = 200;
/// Longest accepted external id, in bytes.
pub const EXTERNAL_ID_MAX: usize = 200;
/// Largest accepted metadata object, serialized, in bytes.
pub const METADATA_MAX_BYTES: usize = 8 * 1024;
/// Most keys in a metadata object.
pub const METADATA_MAX_KEYS: usize = 50;

/// A trimmed, non-empty organization name without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationName(String);

impl OrganizationName {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(FieldError::new("name", "name must not be empty"));
        }
        if name.chars().count() > NAME_MAX {
            return Err(FieldError::new(
                "name",
                format!("name is longer than {NAME_MAX} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                "name must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The validated name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The vendor's own identifier for a customer: printable ASCII without spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    /// Validates an external id.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::new(
                "external_id",
                "external_id must not be empty; omit it or send null instead",
            ));
        }
        if raw.len() > EXTERNAL_ID_MAX {
            return Err(FieldError::new(
                "external_id",
                format!("external_id is longer than {EXTERNAL_ID_MAX} bytes"),
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FieldError::new(
                "external_id",
                "external_id may contain only printable ASCII characters without spaces",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The validated id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a metadata object: string keys (1–40 chars) mapping to strings (≤ 500 chars).
pub fn validate_metadata(
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), FieldError> {
    if map.len() > METADATA_MAX_KEYS {
        return Err(FieldError::new(
            "metadata",
            format!("metadata may hold at most {METADATA_MAX_KEYS} keys"),
        ));
    }
    for (k, v) in map {
        if k.is_empty() || k.chars().count() > 40 {
            return Err(FieldError::new(
                "metadata",
                "metadata keys must be 1 to 40 characters long",
            ));
        }
        match v {
            serde_json::Value::String(s) if s.chars().count() <= 500 => {}
            serde_json::Value::String(_) => {
                return Err(FieldError::new(
                    "metadata",
                    format!("metadata value of '{k}' is longer than 500 characters"),
                ))
            }
            _ => {
                return Err(FieldError::new(
                    "metadata",
                    format!("metadata value of '{k}' must be a string"),
                ))
            }
        }
    }
    let size = serde_json::to_string(map)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if size > METADATA_MAX_BYTES {
        return Err(FieldError::new(
            "metadata",
            format!("metadata is larger than {METADATA_MAX_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_trimmed_and_bounded() {
        assert_eq!(OrganizationName::parse("  Acme ").unwrap().as_str(), "Acme");
        assert_eq!(OrganizationName::parse("   ").unwrap_err().field, "name");
        assert!(OrganizationName::parse(&"x".repeat(NAME_MAX + 1)).is_err());
        assert!(OrganizationName::parse("a\u{0007}b").is_err());
    }

    #[test]
    fn external_id_is_printable_ascii() {
        assert!(ExternalId::parse("cus_123").is_ok());
        assert!(ExternalId::parse("has space").is_err());
        assert!(ExternalId::parse("").is_err());
    }

    #[test]
    fn metadata_values_must_be_short_strings() {
        let ok: serde_json::Map<_, _> = serde_json::from_str(r#"{"plan":"pro"}"#).unwrap();
        assert!(validate_metadata(&ok).is_ok());
        let bad: serde_json::Map<_, _> = serde_json::from_str(r#"{"n":1}"#).unwrap();
        assert_eq!(validate_metadata(&bad).unwrap_err().field, "metadata");
    }
}
