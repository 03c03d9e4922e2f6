//! One domain error, translated at each boundary (REST envelope, SCIM error, portal message,
//! link page). Internal failures keep their cause: [`AppError::Dependency`] holds the failing
//! library's error as its `source`, and the edge that answers the request logs the whole chain
//! once, with the request id ([`AppError::log`]); the client sees only an opaque message.

use crate::domain::FieldError;

/// What went wrong, in terms every boundary can translate.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input failed validation; names the field.
    #[error("{0}")]
    Invalid(FieldError),
    /// The object does not exist (or is not visible to this caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness or state conflict.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    /// A one-time token that was used, expired or revoked.
    #[error("{0}")]
    Gone(String),
    /// Missing or bad credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests.
    #[error("too many requests; retry in a minute")]
    RateLimited,
    /// A limit on an action (not on requests as such) was reached: the message says which and
    /// when to retry; REST adds `Retry-After`.
    #[error("{message}")]
    TooSoon {
        code: &'static str,
        message: String,
        retry_after_secs: i64,
    },
    /// Anything else, described in words (an inconsistency with no error value to keep). The
    /// cause is logged at the edge, never shown.
    #[error("internal error")]
    Internal(String),
    /// Something Lanyard relies on failed (the database, the audit store, the session store, a
    /// blocking task): `context` says what, `source` is the failure itself. Logged at the edge
    /// with its whole source chain, never shown.
    #[error("internal error")]
    Dependency {
        context: &'static str,
        #[source]
        source: BoxError,
    },
}

/// A failure kept whole as the source of an [`AppError::Dependency`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Invalid(e)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        super::db::note_error(&e);
        AppError::dependency("database", e)
    }
}

impl From<super::audit::AuditError> for AppError {
    fn from(e: super::audit::AuditError) -> Self {
        AppError::dependency("audit", e)
    }
}

impl AppError {
    /// An internal failure of `context` ("database", "session", …) caused by `source`.
    pub fn dependency(
        context: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> AppError {
        AppError::Dependency {
            context,
            source: Box::new(source),
        }
    }

    /// Whether the database refused a duplicate in a unique index whose name or message names
    /// `table` (PostgreSQL names the index, SQLite the table and columns), anywhere in the
    /// failure's source chain.
    pub fn is_unique_violation_on(&self, table: &str) -> bool {
        let AppError::Dependency { source, .. } = self else {
            return false;
        };
        let mut at: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
        while let Some(e) = at {
            if let Some(sqlx::Error::Database(db)) = e.downcast_ref::<sqlx::Error>() {
                let duplicate = db.is_unique_violation()
                    || db.code().as_deref() == Some("23505")
                    || db.message().contains("UNIQUE constraint failed");
                return duplicate
                    && (db.constraint().is_some_and(|c| c.contains(table))
                        || db.message().contains(table));
            }
            at = e.source();
        }
        false
    }

    /// Whether this is a failure on Lanyard's side (500), as opposed to a refusal of the request.
    pub fn is_internal(&self) -> bool {
        matches!(self, AppError::Internal(_) | AppError::Dependency { .. })
    }

    /// Seconds after which a refused action may be retried, when the refusal says.
    pub fn retry_after_secs(&self) -> Option<i64> {
        match self {
            AppError::TooSoon {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid(_) => 422,
            AppError::NotFound(_) => 404,
            AppError::Conflict { .. } => 409,
            AppError::Gone(_) => 410,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::RateLimited => 429,
            AppError::TooSoon { .. } => 429,
            AppError::Internal(_) | AppError::Dependency { .. } => 500,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid(_) => "invalid_field",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict { code, .. } => code,
            AppError::Gone(_) => "gone",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::RateLimited => "rate_limited",
            AppError::TooSoon { code, .. } => code,
            AppError::Internal(_) | AppError::Dependency { .. } => "internal_error",
        }
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AppError::Invalid(f) => Some(f.field),
            AppError::Conflict { field, .. } => *field,
            _ => None,
        }
    }

    /// A message safe for any client: internal causes are replaced by the request id to quote.
    /// Pure; the edge that answers calls [`AppError::log`] once as well.
    pub fn public_message(&self, request_id: &str) -> String {
        if self.is_internal() {
            format!("Something went wrong on our side. Quote request id {request_id} when you contact support.")
        } else {
            self.to_string()
        }
    }

    /// What went wrong with every cause, for logs only (never for a client): `database: error
    /// returned from database: …`.
    pub fn cause_chain(&self) -> String {
        let mut out = match self {
            AppError::Internal(cause) => cause.clone(),
            AppError::Dependency { context, .. } => (*context).to_owned(),
            other => other.to_string(),
        };
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            let text = e.to_string();
            // Wrappers often repeat their source's words ("database error: {0}"): say them once.
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = e.source();
        }
        out
    }

    /// Logs an internal failure with its cause chain and the request it failed; refusals (4xx)
    /// are the client's business and are not logged. Called once, by the edge that builds the
    /// response (REST envelope, SCIM error, portal error, link page, CLI).
    pub fn log(&self, request_id: &str) {
        if self.is_internal() {
            tracing::error!(request_id, cause = %self.cause_chain(), "internal error");
        }
    }
}

/// Parses a public id that came from outside (a form, a path): a malformed one answers as an id
/// naming nothing does, `NotFound` with the kind's noun.
pub fn parse_id<T: crate::domain::ids::PublicId>(raw: &str) -> Result<T, AppError> {
    T::parse(raw).ok_or(AppError::NotFound(T::NOUN))
}
