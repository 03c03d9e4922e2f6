//! `/scim/v2/{directory_id}/…`: the SCIM 2.0 server the customer's IdP pushes to. One entry
//! point authenticates the directory's bearer token, bounds the body, dispatches, answers in
//! SCIM's shapes (`application/scim+json`, errors with `scimType`) and logs every exchange.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use super::ratelimit::limits;
use crate::server::audit::RequestContext;
use crate::server::protocol::scim::patch::ScimType;
use crate::server::protocol::scim::resource::{self, list_response, ScimError};
use crate::server::service::directories::DirCtx;
use crate::server::service::scim::{self, Exchange, ListQuery, Projection, ScimOut, UserChange};
use crate::server::state::AppState;

/// Largest SCIM Group request body: a push of [`resource::MAX_MEMBERS`] members fits.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Largest body of every other SCIM request (a User, even with Entra's extensions, is a few KB).
pub const MAX_OTHER_BODY: usize = 256 * 1024;

/// The body limit for a request to `rest` (the path under the directory's base URL).
fn body_limit(rest: &str) -> usize {
    let first = rest.trim_start_matches('/').split('/').next().unwrap_or("");
    if first.eq_ignore_ascii_case("Groups") {
        MAX_BODY
    } else {
        MAX_OTHER_BODY
    }
}

const SCIM_JSON: &str = "application/scim+json";

fn respond(out: &ScimOut) -> Response {
    let mut resp = match &out.body {
        Some(b) => (
            StatusCode::from_u16(out.status).unwrap_or(StatusCode::OK),
            [(header::CONTENT_TYPE, SCIM_JSON)],
            b.to_string(),
        )
            .into_response(),
        None => StatusCode::from_u16(out.status)
            .unwrap_or(StatusCode::NO_CONTENT)
            .into_response(),
    };
    let h = resp.headers_mut();
    if let Some(l) = out
        .location
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        h.insert(header::LOCATION, l);
    }
    if let Some(e) = out
        .etag
        .as_deref()
        .and_then(|e| HeaderValue::from_str(e).ok())
    {
        h.insert(header::ETAG, e);
    }
    resp
}

fn error_out(e: &ScimError) -> ScimOut {
    ScimOut {
        status: e.status,
        body: Some(e.body()),
        location: None,
        etag: None,
    }
}

/// The handler behind `/scim/v2/{directory}` and everything under it.
pub async fn entry(
    state: State<AppState>,
    ctx: Extension<RequestContext>,
    Path(params): Path<Vec<(String, String)>>,
    req: Request,
) -> Response {
    let started = std::time::Instant::now();
    let operation = operation(req.method(), &params);
    let resp = serve(state, ctx, Path(params), req).await;
    metrics::counter!(
        "lanyard_scim_requests_total",
        "operation" => operation,
        "status" => resp.status().as_u16().to_string(),
    )
    .increment(1);
    metrics::histogram!("lanyard_scim_request_duration_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// The operation a SCIM request names, from a bounded set (`POST Users`, `PATCH Groups`, …).
fn operation(method: &axum::http::Method, params: &[(String, String)]) -> &'static str {
    use axum::http::Method;
    let resource = params
        .iter()
        .find(|(k, _)| k == "rest")
        .map(|(_, v)| v.trim_start_matches('/'))
        .unwrap_or("");
    let (kind, item) = match resource.split_once('/') {
        Some((k, rest)) => (k, !rest.is_empty()),
        None => (resource, false),
    };
    match (kind, item, method) {
        ("Users", false, &Method::POST) => "create_user",
        ("Users", false, &Method::GET) => "list_users",
        ("Users", true, &Method::GET) => "get_user",
        ("Users", true, &Method::PUT) => "replace_user",
        ("Users", true, &Method::PATCH) => "patch_user",
        ("Users", true, &Method::DELETE) => "delete_user",
        ("Groups", false, &Method::POST) => "create_group",
        ("Groups", false, &Method::GET) => "list_groups",
        ("Groups", true, &Method::GET) => "get_group",
        ("Groups", true, &Method::PUT) => "replace_group",
        ("Groups", true, &Method::PATCH) => "patch_group",
        ("Groups", true, &Method::DELETE) => "delete_group",
        ("ServiceProviderConfig" | "Schemas" | "ResourceTypes", _, &Method::GET) => "discovery",
        ("Bulk", _, _) => "bulk",
        _ => "other",
    }
}

async fn serve(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(params): Path<Vec<(String, String)>>,
    req: Request,
) -> Response {
    let started = std::time::Instant::now();
    let directory_id = params
        .iter()
        .find(|(k, _)| k == "directory")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let rest = params
        .iter()
        .find(|(k, _)| k == "rest")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let method = req.method().clone();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let query = req.uri().query().unwrap_or("").to_owned();
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        });

    let dir = match scim::authenticate(&state, &directory_id, token.as_deref()).await {
        Ok(d) => d,
        Err(e) => {
            let now = state.clock.now();
            let client = ctx.ip.clone().unwrap_or_else(|| "unknown".into());
            if !state
                .limiter
                .check("scim_auth_failure", &client, limits::API_AUTH_FAILURE, now)
                .await
            {
                let e = ScimError::new(
                    429,
                    None,
                    "too many failed authentications; retry in a minute",
                );
                return respond(&error_out(&e));
            }
            let out = error_out(&e);
            // A wrong token sent to a real directory shows up in that directory's log, so the
            // admin sees "Okta is using an old token" without a database shell.
            if let Some(org) = scim::directory_owner(&state, &directory_id).await {
                let body = out.body.as_ref().map(Value::to_string).unwrap_or_default();
                scim::log_exchange(
                    &state,
                    Exchange {
                        directory_id: &directory_id,
                        organization_id: &org,
                        method: method.as_str(),
                        path: &path_and_query,
                        status: out.status,
                        scim_type: None,
                        request_body: b"",
                        response_body: body.as_bytes(),
                        duration_ms: started.elapsed().as_millis() as i64,
                    },
                )
                .await;
            }
            let mut resp = respond(&out);
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
            return resp;
        }
    };

    let limit = body_limit(&rest);
    let body = axum::body::to_bytes(req.into_body(), limit).await;
    let (out, body) = match body {
        Err(_) => (
            error_out(&ScimError::new(
                413,
                None,
                if limit == MAX_BODY {
                    format!("the request body is larger than {} MiB; send large groups in several PATCH requests", MAX_BODY / 1024 / 1024)
                } else {
                    format!("the request body is larger than {} KiB, the most a SCIM request other than a Group push may carry", limit / 1024)
                },
            )),
            Bytes::new(),
        ),
        Ok(body) => {
            let out = match dispatch(&state, &dir, &ctx, &method, &rest, &query, &body).await {
                Ok(o) => o,
                Err(e) => error_out(&e),
            };
            (out, body)
        }
    };
    let response_text = out.body.as_ref().map(Value::to_string).unwrap_or_default();
    let scim_type = out
        .body
        .as_ref()
        .and_then(|b| b.get("scimType"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    scim::log_exchange(
        &state,
        Exchange {
            directory_id: &dir.directory_id,
            organization_id: &dir.organization_id,
            method: method.as_str(),
            path: &path_and_query,
            status: out.status,
            scim_type: scim_type.as_deref(),
            request_body: &body,
            response_body: response_text.as_bytes(),
            duration_ms: started.elapsed().as_millis() as i64,
        },
    )
    .await;
    respond(&out)
}

fn json_body(body: &[u8]) -> Result<Value, ScimError> {
    if body.is_empty() {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "the request needs a JSON body",
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ScimError::bad(
            ScimType::InvalidSyntax,
            format!(
                "the body is not valid JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    if carries_nul(&v) {
        return Err(nul_refused());
    }
    Ok(v)
}

/// Whether a string anywhere in the value (or a key) holds U+0000, which no attribute needs and
/// PostgreSQL text cannot store.
fn carries_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(carries_nul),
        Value::Object(o) => o.iter().any(|(k, x)| k.contains('\0') || carries_nul(x)),
        _ => false,
    }
}

fn nul_refused() -> ScimError {
    ScimError::bad(
        ScimType::InvalidValue,
        "a string holds the character U+0000 (NUL); remove it",
    )
}

fn method_not_allowed(allowed: &str) -> ScimError {
    ScimError::new(405, None, format!("this endpoint accepts {allowed}"))
}

fn query<T: serde::de::DeserializeOwned + Default>(raw: &str) -> Result<T, ScimError> {
    if url::form_urlencoded::parse(raw.as_bytes())
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(nul_refused());
    }
    serde_urlencoded::from_str(raw)
        .map_err(|e| ScimError::bad(ScimType::InvalidValue, format!("query string: {e}")))
}

async fn dispatch(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    method: &Method,
    rest: &str,
    raw_query: &str,
    body: &[u8],
) -> Result<ScimOut, ScimError> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let base = crate::server::service::directories::scim_base_url(state, &dir.directory_id);
    let ok = |v: Value| ScimOut {
        status: 200,
        body: Some(v),
        location: None,
        etag: None,
    };
    match (segments.as_slice(), method) {
        (["Users"], &Method::GET) => scim::list_users(state, dir, &query::<ListQuery>(raw_query)?).await,
        (["Users"], &Method::POST) => scim::create_user(state, dir, ctx, &json_body(body)?).await,
        (["Users"], _) => Err(method_not_allowed("GET and POST")),
        (["Users", id], &Method::GET) => scim::get_user(state, dir, id, &query::<Projection>(raw_query)?).await,
        (["Users", id], &Method::PUT) => scim::update_user(state, dir, ctx, id, UserChange::Put(&json_body(body)?)).await,
        (["Users", id], &Method::PATCH) => scim::update_user(state, dir, ctx, id, UserChange::Patch(&json_body(body)?)).await,
        (["Users", id], &Method::DELETE) => scim::delete_user(state, dir, ctx, id).await,
        (["Groups"], &Method::GET) => scim::list_groups(state, dir, &query::<ListQuery>(raw_query)?).await,
        (["Groups"], &Method::POST) => scim::create_group(state, dir, ctx, &json_body(body)?).await,
        (["Groups"], _) => Err(method_not_allowed("GET and POST")),
        (["Groups", id], &Method::GET) => scim::get_group(state, dir, id, &query::<Projection>(raw_query)?).await,
        (["Groups", id], &Method::PUT) => scim::update_group(state, dir, ctx, id, UserChange::Put(&json_body(body)?)).await,
        (["Groups", id], &Method::PATCH) => scim::update_group(state, dir, ctx, id, UserChange::Patch(&json_body(body)?)).await,
        (["Groups", id], &Method::DELETE) => scim::delete_group(state, dir, ctx, id).await,
        (["Users", _] | ["Groups", _], _) => Err(method_not_allowed("GET, PUT, PATCH and DELETE")),
        (["ServiceProviderConfig"], &Method::GET) => Ok(ok(resource::service_provider_config(&base))),
        (["ResourceTypes"], &Method::GET) => {
            let all = resource::resource_types(&base);
            Ok(ok(list_response(all.len(), 1, all)))
        }
        (["ResourceTypes", id], &Method::GET) => resource::resource_types(&base)
            .into_iter()
            .find(|r| r["id"] == *id)
            .map(ok)
            .ok_or_else(|| ScimError::new(404, None, format!("no resource type {id}; there are User and Group"))),
        (["Schemas"], &Method::GET) => {
            let all = resource::schemas(&base);
            Ok(ok(list_response(all.len(), 1, all)))
        }
        (["Schemas", id], &Method::GET) => resource::schemas(&base)
            .into_iter()
            .find(|r| r["id"] == *id)
            .map(ok)
            .ok_or_else(|| ScimError::new(404, None, format!("no schema {id}"))),
        (["ServiceProviderConfig"] | ["ResourceTypes", ..] | ["Schemas", ..], _) => Err(method_not_allowed("GET")),
        ([".search"] | [_, ".search"], _) => Err(ScimError::new(501, None, "search by POST is not supported; use GET with a filter")),
        (["Bulk"], _) => Err(ScimError::new(501, None, "bulk operations are not supported (see /ServiceProviderConfig)")),
        _ => Err(ScimError::new(404, None, format!("no SCIM endpoint /{rest}; there are /Users, /Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas"))),
    }
}

/// `/scim/v2` itself and anything without a directory id.
pub async fn no_directory() -> Response {
    let e = ScimError::new(
        404,
        None,
        "the SCIM base URL ends with the directory id: /scim/v2/dir_…; copy it from the directory's setup page",
    );
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, SCIM_JSON)],
        Body::from(e.body().to_string()),
    )
        .into_response()
}
