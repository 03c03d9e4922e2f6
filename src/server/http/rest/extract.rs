//! Request extractors whose failures use the error envelope and name the field at fault.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::RestError;
use crate::domain::ids::PublicId;
use crate::server::error::AppError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body: `application/json`, at most [`MAX_BODY_BYTES`], fields checked strictly.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = RestError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, RestError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" {
            return Err(RestError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                RestError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, turning serde's error into an envelope that names the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RestError> {
    if let Some(field) = nul_in_strings(bytes) {
        return Err(RestError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("{field}: text must not contain NUL characters (\\u0000)"),
        )
        .with_field(field));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return RestError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!(
                    "the request body is not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                ),
            );
        }
        let msg = inner.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        // serde names an unknown field in backticks; report it as the field at fault.
        let field = if let Some(rest) = msg.strip_prefix("unknown field `") {
            // serde_path_to_error's path already ends with the unknown field's name.
            let name = rest.split('`').next().unwrap_or_default();
            if path == "." || path.is_empty() {
                name.to_owned()
            } else {
                path.clone()
            }
        } else if let Some(rest) = msg.strip_prefix("missing field `") {
            rest.split('`').next().unwrap_or_default().to_owned()
        } else {
            path.clone()
        };
        RestError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            if field.is_empty() || field == "." {
                msg
            } else {
                format!("{field}: {msg}")
            },
        )
        .with_field(if field.is_empty() { ".".into() } else { field })
    })
}

/// The first field (as `a.b[0]`, `.` for the body itself) of valid JSON whose text or name
/// holds a NUL character: PostgreSQL cannot store one, so it is refused here rather than failing
/// as an internal error there.
fn nul_in_strings(bytes: &[u8]) -> Option<String> {
    if !bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return None;
    }
    fn find(v: &serde_json::Value, at: &str) -> Option<String> {
        let here = || {
            if at.is_empty() {
                ".".to_owned()
            } else {
                at.to_owned()
            }
        };
        match v {
            serde_json::Value::String(s) if s.contains('\0') => Some(here()),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| find(item, &format!("{at}[{i}]"))),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                if k.contains('\0') {
                    Some(here())
                } else {
                    find(item, &path)
                }
            }),
            _ => None,
        }
    }
    find(&serde_json::from_slice(bytes).ok()?, "")
}

/// Query-string parameters with envelope errors.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, RestError> {
        let q = parts.uri.query().unwrap_or("");
        // `%00` is the only way to a NUL character, which PostgreSQL cannot compare or store.
        if q.contains("%00") {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "query parameters are invalid: they must not contain NUL characters (%00)",
            ));
        }
        serde_urlencoded::from_str(q).map(ApiQuery).map_err(|e| {
            RestError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("query parameters are invalid: {e}"),
            )
        })
    }
}

/// One typed id from the path (`/connections/{id}`), checked once here: a malformed id answers
/// 404 with the same envelope the service gives for an id that names nothing.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: PublicId + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, RestError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| {
                    // As `envelope_errors` words axum's own rejection (not UTF-8 once decoded).
                    RestError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        "the request is malformed",
                    )
                })?;
        T::parse(&raw)
            .map(ApiPath)
            .ok_or_else(|| AppError::NotFound(T::NOUN).into())
    }
}
