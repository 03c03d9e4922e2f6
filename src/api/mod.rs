//! Server functions: thin adapters that resolve the actor from the session, call one service
//! function and map its error. They never take an organization id: tenant scope comes from the
//! session alone.

pub mod portal;

use serde::{Deserialize, Serialize};
use std::fmt;

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// Errors the portal shows. Internal causes never cross this boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortalError {
    /// No portal session (never had one, idle timeout, or signed out).
    SignedOut,
    /// The session's setup link did not include this part of the portal.
    NotInScope(String),
    /// Input failed validation.
    Invalid { field: String, message: String },
    /// Something broke on the server; quote the request id.
    Internal { request_id: String },
    /// Transport or encoding failure.
    Transport(String),
}

impl fmt::Display for PortalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortalError::SignedOut => f.write_str(
                "Your setup session has ended. Open a new setup link from your vendor to continue.",
            ),
            PortalError::NotInScope(what) => write!(
                f,
                "Your setup link does not include {what}. Ask your vendor for a link that does."
            ),
            PortalError::Invalid { field, message } => write!(f, "{field}: {message}"),
            PortalError::Internal { request_id } => write!(
                f,
                "Something went wrong on our side. Quote request id {request_id} when you contact support."
            ),
            PortalError::Transport(m) => write!(f, "Could not reach Lanyard: {m}"),
        }
    }
}

impl std::error::Error for PortalError {}

impl FromServerFnError for PortalError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        PortalError::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<crate::server::error::AppError> for PortalError {
    fn from(e: crate::server::error::AppError) -> Self {
        use crate::server::error::AppError;
        match e {
            AppError::Invalid(f) => PortalError::Invalid {
                field: f.field.to_owned(),
                message: f.message,
            },
            AppError::Unauthorized(_) => PortalError::SignedOut,
            AppError::Forbidden(m) => PortalError::NotInScope(m),
            other => {
                let request_id = crate::server::http::current_request_id();
                let _ = other.public_message(&request_id);
                PortalError::Internal { request_id }
            }
        }
    }
}
