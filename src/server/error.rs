//! One domain error, translated at each boundary (REST envelope, portal message).

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
    /// Anything else. The cause is logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Invalid(e)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(format!("database: {e}"))
    }
}

impl From<super::audit::AuditError> for AppError {
    fn from(e: super::audit::AuditError) -> Self {
        AppError::Internal(format!("audit: {e}"))
    }
}

impl AppError {
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
            AppError::Internal(_) => 500,
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
            AppError::Internal(_) => "internal_error",
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

    /// A message safe for any client; internal causes are logged here and replaced.
    pub fn public_message(&self, request_id: &str) -> String {
        match self {
            AppError::Internal(cause) => {
                tracing::error!(request_id, cause = %cause, "internal error");
                format!("Something went wrong on our side. Quote request id {request_id} when you contact support.")
            }
            other => other.to_string(),
        }
    }
}
