//! Pure rules and validated types. No IO; compiled for both the server and the browser.

pub mod directory;
#[cfg(feature = "ssr")]
pub mod domain_name;
pub mod domain_state;
pub mod ids;
pub mod intent;
pub mod organization;
pub mod text;

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
