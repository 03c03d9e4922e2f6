//! One module per capability. Each public function owns its transaction and its audit write, and
//! is the single entry used by the REST API, the portal and the command line alike.

pub mod activity;
pub mod api_keys;
pub mod audit_log;
pub mod connections;
pub mod console;
pub mod directories;
pub mod domains;
pub mod events;
pub mod health;
pub mod invitations;
pub mod members;
pub mod membership_lifecycle;
pub mod oauth;
pub mod organizations;
pub mod policy;
pub mod roles;
pub mod saml_metadata;
pub mod scim;
pub mod setup_links;
pub mod sp_keys;
pub mod sso;
pub mod staff;
pub mod webhooks;

/// `#[serde(default, with = "double_option")]` on an `Option<Option<T>>` field of a PATCH body:
/// absent is `None` (unchanged), `null` is `Some(None)` (cleared), a value is `Some(Some(v))`.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A list endpoint's `limit`: `default` when absent, refused (422 naming `limit`) outside
/// `1..=max`, as docs/api.md promises, rather than silently clamped.
pub fn page_limit(
    limit: Option<i64>,
    default: i64,
    max: i64,
) -> Result<i64, crate::domain::FieldError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(crate::domain::FieldError::new(
            "limit",
            format!("limit must be from 1 to {max}"),
        )),
    }
}

/// The usual page: 20 by default, at most 100.
pub fn check_limit(limit: Option<i64>) -> Result<i64, crate::domain::FieldError> {
    page_limit(limit, 20, 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits_outside_the_range_are_refused_not_clamped() {
        assert_eq!(super::check_limit(None), Ok(20));
        assert_eq!(super::check_limit(Some(1)), Ok(1));
        assert_eq!(super::check_limit(Some(100)), Ok(100));
        for bad in [0, -1, 101, i64::MAX, i64::MIN] {
            assert_eq!(super::check_limit(Some(bad)).unwrap_err().field, "limit");
        }
        assert_eq!(super::page_limit(Some(200), 50, 200), Ok(200));
        assert!(super::page_limit(Some(201), 50, 200).is_err());
    }
}
