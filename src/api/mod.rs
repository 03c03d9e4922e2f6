//! Server functions: thin adapters that resolve the actor from the session, call one service
//! function and map its error. They never take an organization id: tenant scope comes from the
//! session alone.

pub mod console;
pub mod directories;
pub mod domains;
pub mod log_streams;
pub mod members;
pub mod policy;
pub mod portal;
pub mod sso;

use serde::{Deserialize, Serialize};
use std::fmt;

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::{Bytes, Encodes};

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
            PortalError::Invalid { message, .. } => f.write_str(message),
            PortalError::Internal { request_id } => write!(
                f,
                "Something went wrong on our side. Quote request id {request_id} when you contact support."
            ),
            PortalError::Transport(m) => write!(f, "Could not reach Lanyard: {m}"),
        }
    }
}

impl std::error::Error for PortalError {}

impl PortalError {
    /// The HTTP status this error answers with: client errors are 4xx, so that monitoring counts
    /// only real failures as 5xx.
    pub fn status_code(&self) -> u16 {
        match self {
            PortalError::SignedOut => 401,
            PortalError::NotInScope(_) => 403,
            PortalError::Invalid { .. } => 422,
            PortalError::Internal { .. } => 500,
            // On the server: the request could not be decoded (bad arguments, wrong encoding).
            PortalError::Transport(_) => 400,
        }
    }
}

impl FromServerFnError for PortalError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        PortalError::Transport(value.to_string())
    }

    /// Encodes the error for the response and, on the server, sets the response's status to
    /// [`PortalError::status_code`]: server_fn 0.8 answers every error with 500 (0.9 adds
    /// `FromServerFnError::status_code` for this).
    fn ser(&self) -> Bytes {
        #[cfg(feature = "ssr")]
        set_response_status(self.status_code());
        <JsonEncoding as Encodes<Self>>::encode(self)
            .unwrap_or_else(|_| Bytes::from_static(br#"{"Transport":"unencodable error"}"#))
    }
}

/// Sets the status of the server function's response, unless the call is a plain form post
/// (no JavaScript): that one is redirected back to its page with the error in the URL
/// (`?__err=…`), and its redirect status must stay.
#[cfg(feature = "ssr")]
fn set_response_status(status: u16) {
    use leptos::prelude::use_context;
    let form_post = use_context::<http::request::Parts>().is_some_and(|p| {
        p.headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
    });
    if form_post {
        return;
    }
    if let (Some(res), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(status),
    ) {
        res.set_status(status);
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
            AppError::NotFound(what) => PortalError::Invalid {
                field: "id".into(),
                message: format!("{what} not found"),
            },
            AppError::Conflict { message, field, .. } => PortalError::Invalid {
                field: field.unwrap_or("request").to_owned(),
                message,
            },
            // The same words as the API's 429 (which adds Retry-After).
            AppError::TooSoon { message, .. } => PortalError::Invalid {
                field: "request".into(),
                message,
            },
            other => {
                let request_id = crate::server::request_id::current_request_id();
                other.log(&request_id);
                PortalError::Internal { request_id }
            }
        }
    }
}

#[cfg(feature = "ssr")]
pub(crate) mod ctx {
    use super::PortalError;
    use crate::server::audit::{Actor, RequestContext};
    use crate::server::service::setup_links::{self, PortalGrant};
    use crate::server::state::AppState;

    /// Who is calling: the portal grant from the session, never from arguments.
    pub struct Caller {
        pub state: AppState,
        pub grant: PortalGrant,
        /// The grant's organization as read when the grant was checked on this request: for
        /// display only. A write re-reads what it relies on inside its own transaction (the
        /// organization may be changed or deleted meanwhile).
        pub organization: crate::server::db::organizations::OrganizationRow,
        pub ctx: RequestContext,
    }

    impl Caller {
        pub fn actor(&self) -> Actor {
            Actor {
                kind: crate::domain::actor::ActorKind::PortalAdmin,
                id: self.grant.link_id.clone(),
                name: self
                    .grant
                    .admin_email
                    .clone()
                    .unwrap_or_else(|| "Admin (setup link)".into()),
            }
        }
    }

    impl Caller {
        /// Fails unless the session's setup link granted `intent`.
        pub fn require(
            &self,
            intent: crate::domain::intent::Intent,
            what: &str,
        ) -> Result<(), PortalError> {
            if self.grant.intents.contains(&intent) {
                Ok(())
            } else {
                Err(PortalError::NotInScope(what.to_owned()))
            }
        }
    }

    /// What a portal server function reads of its request: the application, the browser
    /// session and where the request came from.
    pub struct Request {
        pub state: AppState,
        pub session: tower_sessions::Session,
        pub ctx: RequestContext,
    }

    /// The request's parts (one extraction: each clones the request's head).
    pub async fn request() -> Result<Request, PortalError> {
        let internal = || PortalError::Internal {
            request_id: crate::server::request_id::current_request_id(),
        };
        let state = leptos::prelude::use_context::<AppState>().ok_or_else(internal)?;
        let (session, ctx) = leptos_axum::extract::<(
            tower_sessions::Session,
            Option<axum::Extension<RequestContext>>,
        )>()
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "no session in the request (is the session layer installed?)");
            internal()
        })?;
        Ok(Request {
            state,
            session,
            ctx: ctx.map(|e| e.0).unwrap_or_default(),
        })
    }

    /// Resolves the caller or fails closed.
    pub async fn caller() -> Result<Caller, PortalError> {
        let Request {
            state,
            session,
            ctx,
        } = request().await?;
        // Session age and the organization's existence are checked on every call; a grant that
        // no longer holds ends the session.
        let (grant, organization) = setup_links::session_grant_with_organization(&state, &session)
            .await
            .map_err(PortalError::from)?
            .ok_or(PortalError::SignedOut)?;
        Ok(Caller {
            state,
            grant,
            organization,
            ctx,
        })
    }
}
