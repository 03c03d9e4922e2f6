//! `Idempotency-Key` on POST: the first request's response is stored and replayed for retries
//! with the same key and body; the same key with a different body is refused.
//!
//! The stored body is sealed with the server key: answers to create calls carry secrets shown
//! once (SCIM bearer tokens, setup links, webhook signing secrets), and the replay cache must not
//! be the one place in the database where they sit in clear text.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::RestError;
use super::extract::MAX_BODY_BYTES;
use crate::server::crypto::sha256_hex;
use crate::server::db;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::state::AppState;

/// Keys are remembered for 24 hours.
pub const RETENTION_MS: i64 = 24 * 3600 * 1000;

/// What a stored body is sealed to: the API key, the Idempotency-Key and the request, so a
/// ciphertext copied onto another row does not open.
fn seal_context(api_key_id: &str, key: &str, request_hash: &str) -> String {
    format!(
        "idempotency_keys:{api_key_id}:{}:{request_hash}",
        sha256_hex(key.as_bytes())
    )
}

/// The middleware.
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
    else {
        return next.run(req).await;
    };
    let key = match key {
        Ok(k) if !k.is_empty() && k.len() <= 255 => k,
        _ => return RestError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID is a good choice)",
        )
        .into_response(),
    };
    let Some(principal) = req.extensions().get::<ApiPrincipal>().cloned() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return RestError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )
        .into_response();
    };
    // Inside `/api/v1` the URI has its prefix stripped, so `/api/v1/organizations` and the
    // WorkOS-compatible `/organizations` would fingerprint alike and replay each other's answer
    // (another API's shape): the compatible API's requests are marked as its own.
    let compat = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .is_some_and(|u| crate::server::http::workos::owns(u.path()));
    let mut fingerprint = format!(
        "{}{} {}\n",
        if compat { "workos " } else { "" },
        parts.method,
        parts.uri
    )
    .into_bytes();
    fingerprint.extend_from_slice(&bytes);
    let request_hash = sha256_hex(&fingerprint);
    let now = state.clock.now();

    let claimed = async {
        let mut conn = state.db.pool.acquire().await?;
        db::idempotency::purge(&mut conn, now - RETENTION_MS).await?;
        let claimed =
            db::idempotency::claim(&mut conn, &principal.key_id, &key, &request_hash, now).await?;
        let existing = if claimed {
            None
        } else {
            db::idempotency::get(&mut conn, &principal.key_id, &key).await?
        };
        Ok::<_, sqlx::Error>((claimed, existing))
    }
    .await;
    let (claimed, existing) = match claimed {
        Ok(v) => v,
        Err(e) => return RestError::from(crate::server::error::AppError::from(e)).into_response(),
    };
    if !claimed {
        return match existing {
            Some(row) if row.request_hash != request_hash => RestError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request; use a new key for a new request",
            )
            .into_response(),
            Some(row) => match (row.status_code, row.response_body) {
                (Some(status), Some(sealed)) => {
                    let Some(body) = state.secrets.open(
                        &sealed,
                        &seal_context(&principal.key_id, &key, &row.request_hash),
                    ) else {
                        // Sealed under another server key (LANYARD_SECRET_KEY changed): running
                        // the request again could create a duplicate, so refuse instead.
                        tracing::error!("a stored idempotent response does not open with the current secret key");
                        return RestError::new(
                            StatusCode::CONFLICT,
                            "idempotency_replay_unavailable",
                            "the stored response to this Idempotency-Key cannot be read (the server key changed); check whether the first request took effect before retrying with a new key",
                        )
                        .into_response();
                    };
                    let mut resp = (
                        StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
                        [(header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                        .into_response();
                    resp.headers_mut()
                        .insert("idempotent-replayed", HeaderValue::from_static("true"));
                    resp
                }
                _ => RestError::new(
                    StatusCode::CONFLICT,
                    "idempotency_request_in_progress",
                    "a request with this Idempotency-Key is still being processed; retry shortly",
                )
                .into_response(),
            },
            // Purged between claim and read: let the client retry.
            None => RestError::new(
                StatusCode::CONFLICT,
                "idempotency_request_in_progress",
                "retry the request",
            )
            .into_response(),
        };
    }

    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (rparts, rbody) = resp.into_parts();
    let rbytes = axum::body::to_bytes(rbody, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let store = async {
        let mut conn = state.db.pool.acquire().await?;
        if rparts.status.is_server_error() {
            db::idempotency::release(&mut conn, &principal.key_id, &key).await
        } else {
            db::idempotency::complete(
                &mut conn,
                &principal.key_id,
                &key,
                rparts.status.as_u16() as i64,
                &state.secrets.seal(
                    &String::from_utf8_lossy(&rbytes),
                    &seal_context(&principal.key_id, &key, &request_hash),
                ),
            )
            .await
        }
    }
    .await;
    if let Err(e) = store {
        tracing::error!(error = %e, "could not store idempotent response");
    }
    Response::from_parts(rparts, Body::from(rbytes))
}
