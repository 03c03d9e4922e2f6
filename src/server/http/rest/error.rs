//! The REST error envelope: `{"error":{"code","message","field"?}}` for every 4xx and 5xx.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::server::error::AppError;

/// A REST error response.
#[derive(Debug)]
pub struct RestError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// `Retry-After` in seconds (429 answers that know when).
    pub retry_after: Option<i64>,
}

/// What a handler answers.
pub type ApiResult<T> = Result<T, RestError>;

/// The envelope's schema (for OpenAPI).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// The envelope's inner object.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_field`, `not_found`, `unauthorized`.
    pub code: String,
    /// Human readable explanation that says what to do.
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl RestError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        RestError {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// Names the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::to_string(&ErrorEnvelope {
            error: ErrorBody {
                code: self.code.clone(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        })
        .unwrap_or_default()
    }
}

impl From<AppError> for RestError {
    fn from(e: AppError) -> Self {
        let rid = super::super::current_request_id();
        e.log(&rid);
        RestError {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: e.code().to_owned(),
            message: e.public_message(&rid),
            field: e.field().map(str::to_owned),
            retry_after: e.retry_after_secs(),
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body(),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs.max(1)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"lanyard\""),
            );
        }
        resp
    }
}

/// A generic code for a bare status (used to wrap responses that carry no envelope yet).
pub fn code_for_status(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "the request is malformed"),
        401 => ("unauthorized", "authentication required"),
        403 => ("forbidden", "not allowed"),
        404 => ("not_found", "no such endpoint; see /api/v1/openapi.json"),
        405 => (
            "method_not_allowed",
            "this endpoint does not accept that method; see /api/v1/openapi.json",
        ),
        406 => ("not_acceptable", "only application/json is produced"),
        413 => ("payload_too_large", "the request body is too large"),
        415 => (
            "unsupported_media_type",
            "send the body as application/json",
        ),
        422 => ("invalid_field", "the request body is invalid"),
        429 => ("rate_limited", "too many requests; retry in a minute"),
        s if s >= 500 => ("internal_error", "something went wrong on our side"),
        _ => ("error", "the request failed"),
    }
}
