//! Pure rules and validated types. No IO; compiled for both the server and the browser.

/// Declares a closed vocabulary stored and sent as snake_case strings: the enum (serde
/// `rename_all = "snake_case"`, so the wire keeps the strings), `ALL`, `as_str` (wire name),
/// `parse` (a stored name; `None` for one this version does not know), `Display` and
/// `TryFrom<&str>`. A table test per enum checks that `as_str` and serde agree.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire, )+
                }
            }

            /// Parses a stored or submitted name.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $( $wire => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<&str> for $name {
            type Error = String;
            fn try_from(s: &str) -> Result<Self, String> {
                $name::parse(s).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " {:?}"), s)
                })
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }

        impl PartialEq<$name> for &String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }
    };
}

/// Checks a vocabulary's table: `as_str`, `parse`, serde and `TryFrom` agree for every value,
/// names are unique, and `parse` refuses anything else.
#[cfg(test)]
pub(crate) fn check_vocabulary<T>(
    all: &[T],
    as_str: fn(&T) -> &'static str,
    parse: fn(&str) -> Option<T>,
) where
    T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let mut seen = std::collections::HashSet::new();
    for v in all {
        let s = as_str(v);
        assert!(seen.insert(s), "duplicate wire name {s}");
        assert_eq!(parse(s), Some(*v), "{s}");
        let json = serde_json::to_string(v).unwrap();
        assert_eq!(json, format!("\"{s}\""), "serde spells {v:?} as {json}");
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
        assert_eq!(parse(&s.to_uppercase()), None);
        assert_eq!(parse(&format!(" {s}")), None);
    }
    assert_eq!(parse(""), None);
    assert_eq!(parse("unknown"), None);
}

pub mod actor;
pub mod chart;
pub mod connection;
pub mod directory;
#[cfg(feature = "ssr")]
pub mod domain_name;
pub mod domain_state;
#[cfg(feature = "ssr")]
pub mod email;
pub mod event_type;
pub mod health;
pub mod ids;
pub mod intent;
pub mod invitation;
pub mod membership;
pub mod organization;
pub mod policy;
pub mod reconcile;
pub mod sign_in;
pub mod staff;
pub mod target;
pub mod text;
pub mod webhook;

/// A validation failure that names the offending field and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// Name of the input field (as the API and the forms spell it).
    pub field: &'static str,
    /// Human readable message; safe to show to any caller.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
