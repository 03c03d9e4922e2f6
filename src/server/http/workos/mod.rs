//! The WorkOS-compatible API (`LANYARD_WORKOS_COMPAT=true`): WorkOS's own paths at the root of
//! the public URL, so that a vendor's code written against the official WorkOS SDKs reaches
//! Lanyard by changing only the API host. Same API keys, rate limits and idempotency as
//! `/api/v1`; WorkOS's shapes, pagination and error bodies. `docs/workos.md` lists every WorkOS
//! endpoint and what is supported.
//!
//! Handlers answer Lanyard's own errors ([`RestError`]); [`workos_errors`] rewrites every error
//! body into WorkOS's shape on the way out, so the SDKs raise their typed exceptions.

pub mod audit_logs;
pub mod directories;
pub mod events;
pub mod invitations;
pub mod logout;
pub mod memberships;
pub mod organizations;
pub mod portal;
pub mod sso;
pub mod webhooks;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::rest;
use super::rest::error::RestError;
use crate::server::state::AppState;

/// WorkOS's top-level path prefixes. Any path under one of them is answered by this layer (JSON,
/// never the HTML fallback, never a redirect), also when Lanyard does not provide the endpoint.
pub const PREFIXES: &[&str] = &[
    "/organizations",
    "/organization_domains",
    "/connections",
    "/directories",
    "/directory_users",
    "/directory_groups",
    "/events",
    "/audit_logs",
    "/webhook_endpoints",
    "/user_management",
    "/sso/token",
    "/sso/profile",
    "/sso/logout",
    "/sso/jwks",
    "/portal/generate_link",
    "/portal/revoke_link",
    "/passwordless",
    "/auth",
    "/authorization",
    "/api_keys",
    "/vault",
    "/widgets",
    "/radar",
    "/fga",
    "/feature-flags",
    "/mfa",
    "/authkit",
    "/connect",
    "/data-integrations",
];

/// WorkOS products Lanyard does not provide, by path prefix, and what to say.
const NOT_PROVIDED: &[(&str, &str)] = &[
    ("/user_management/authenticate", "AuthKit"),
    ("/user_management/sessions", "AuthKit"),
    ("/user_management/users", "AuthKit users"),
    ("/passwordless", "Magic Link (passwordless)"),
    ("/auth", "Multi-Factor Authentication"),
    ("/mfa", "Multi-Factor Authentication"),
    ("/authorization", "Fine-Grained Authorization"),
    ("/fga", "Fine-Grained Authorization"),
    ("/api_keys", "API Keys"),
    ("/vault", "Vault"),
    ("/widgets", "Widgets"),
    ("/radar", "Radar"),
    ("/feature-flags", "Feature Flags"),
    ("/authkit", "AuthKit"),
    ("/connect", "Connect (OAuth applications)"),
    ("/data-integrations", "Pipes (data integrations)"),
    (
        "/sso/jwks",
        "AuthKit session tokens (the keys of Lanyard's own OpenID Provider are at /oauth2/jwks)",
    ),
];

/// Whether a path belongs to this layer.
pub fn owns(path: &str) -> bool {
    PREFIXES.iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Whether a request path is this layer's once runs of `/` are made one, as [`dispatch`]
/// serves it (an SDK whose base URL ends in `/` asks for `//organizations`). The guards that
/// run before [`dispatch`] decide with this.
pub fn serves(path: &str) -> bool {
    if !path.contains("//") {
        return owns(path);
    }
    let mut collapsed = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    owns(&collapsed)
}

/// The compatibility routes, with their state: [`dispatch`] hands them every request under
/// [`PREFIXES`].
pub fn router(state: AppState) -> Router {
    organizations::routes()
        .merge(sso::routes())
        .merge(portal::routes())
        .merge(directories::routes())
        .merge(events::routes())
        .merge(audit_logs::routes())
        .merge(webhooks::routes())
        .merge(memberships::routes())
        .merge(invitations::routes())
        .merge(logout::routes())
        .route_layer(middleware::from_fn(rest::refuse_nul_in_path))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            rest::idempotency::idempotency,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            rest::authenticate,
        ))
        // The code exchange and the profile authenticate on their own.
        .merge(sso::open_routes().route_layer(middleware::from_fn(rest::refuse_nul_in_path)))
        .merge(audit_logs::open_routes().route_layer(middleware::from_fn(rest::refuse_nul_in_path)))
        .merge(logout::open_routes().route_layer(middleware::from_fn(rest::refuse_nul_in_path)))
        // Everything else under WorkOS's prefixes: a JSON 404 that says what is not there.
        .fallback(unsupported)
        .layer(middleware::from_fn(workos_errors))
        .with_state(state)
}

/// Middleware of the main router: a request under one of WorkOS's prefixes is served by the
/// compatibility routes, whatever the main router matched (its HTML fallback, say).
pub async fn dispatch(
    axum::extract::State(compat): axum::extract::State<Router>,
    mut req: Request,
    next: Next,
) -> Response {
    // An SDK configured with a base URL ending in `/` asks for `//organizations`: the same path.
    if req.uri().path().contains("//") {
        if let Some(uri) = collapse_slashes(req.uri()).filter(|u| owns(u.path())) {
            *req.uri_mut() = uri;
        }
    }
    if owns(req.uri().path()) {
        use tower::ServiceExt as _;
        match compat.oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    } else {
        next.run(req).await
    }
}

/// The URI with each run of `/` in its path made one.
fn collapse_slashes(uri: &axum::http::Uri) -> Option<axum::http::Uri> {
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    axum::http::Uri::from_parts(parts).ok()
}

/// The WorkOS product a path belongs to, when Lanyard does not provide it.
fn not_provided(path: &str) -> Option<&'static str> {
    if let Some((_, product)) = NOT_PROVIDED.iter().find(|(p, _)| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    }) {
        return Some(product);
    }
    // WorkOS Groups: `/organizations/{id}/groups…`, `/user_management/organization_memberships/{id}/groups`.
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["organizations", _, "groups", ..]
        | ["user_management", "organization_memberships", _, "groups", ..] => Some(
            "Groups (organization groups; the groups a directory pushes are at /directory_groups)",
        ),
        _ => None,
    }
}

/// A JSON 404 for a WorkOS endpoint Lanyard does not serve.
async fn unsupported(req: Request) -> Response {
    let path = req.uri().path();
    let message = match not_provided(path) {
        Some(product) => format!(
            "Lanyard does not provide WorkOS {product}; see docs/workos.md for what the compatible API covers"
        ),
        None => format!(
            "{} {path} is not an endpoint of Lanyard's WorkOS-compatible API; see docs/workos.md",
            req.method()
        ),
    };
    RestError::new(StatusCode::NOT_FOUND, "not_found", message).into_response()
}

/// Largest error body rewritten (Lanyard's error bodies are a few hundred bytes).
const ERROR_BODY_MAX: usize = 64 * 1024;

/// Rewrites every error answer into WorkOS's error shape (see [`workos_error_body`]), adds
/// `Retry-After` to a 429 that lacks it, and gives a body-less error (405 from the router) one.
async fn workos_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if status.as_u16() < 400 || resp.extensions().get::<Verbatim>().is_some() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, ERROR_BODY_MAX)
        .await
        .unwrap_or_default();
    let lanyard: Option<Value> = serde_json::from_slice(&bytes).ok();
    let (code, message, field) = match lanyard.as_ref().and_then(|v| v.get("error")) {
        Some(Value::Object(e)) => (
            e.get("code")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            e.get("field").and_then(Value::as_str).map(str::to_owned),
        ),
        _ => {
            let (code, message) = rest::error::code_for_status(status);
            // Lanyard's generic words point at its own API's document.
            let message = message.replace("/api/v1/openapi.json", "docs/workos.md");
            (code.to_owned(), message, None)
        }
    };
    // WorkOS answers a taken external id with 400 `external_id_already_used`.
    let status = if code == "external_id_taken" {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    parts.status = status;
    let body = workos_error_body(status, &code, &message, field.as_deref());
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    if status == StatusCode::TOO_MANY_REQUESTS && !parts.headers.contains_key(header::RETRY_AFTER) {
        parts
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// A response extension: an error already in the shape WorkOS documents for its endpoint (the
/// OAuth-style errors of `/sso/token`, the 401 of `/sso/profile`), left as it is.
#[derive(Clone, Copy, Debug)]
pub struct Verbatim;

/// WorkOS's error body for a Lanyard error: `{code, message}`, plus `errors: [{field, code}]` on
/// 422. Never a top-level `error` key: the Node SDK would raise `OauthException` for it.
pub fn workos_error_body(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Value {
    let code = match status.as_u16() {
        400 => match code {
            "external_id_taken" => "external_id_already_used",
            _ => "invalid_request",
        },
        401 => "unauthorized",
        403 => "forbidden",
        404 => "entity_not_found",
        422 => "invalid_request_parameters",
        429 => "rate_limit_exceeded",
        500..=599 => "server_error",
        _ => code,
    };
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        let errors: Vec<Value> = field
            .map(|f| vec![json!({ "field": f, "code": "invalid", "message": message })])
            .unwrap_or_default();
        return json!({ "code": code, "message": message, "errors": errors });
    }
    json!({ "code": code, "message": message })
}

/// A 422 naming the field that is wrong.
pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> RestError {
    RestError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
}

/// A JSON body as the SDKs send it: any content type, an empty body is `{}`, unknown fields are
/// ignored (the SDKs add fields Lanyard has no use for).
pub struct WosJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WosJson<T> {
    type Rejection = RestError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, RestError> {
        let bytes = axum::body::to_bytes(req.into_body(), rest::extract::MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                RestError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "the request body is larger than {} bytes",
                        rest::extract::MAX_BODY_BYTES
                    ),
                )
            })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        rest::extract::parse_json(bytes).map(WosJson)
    }
}

/// WorkOS list parameters: `limit` 1–100 (default 10), `order` `desc` (default), `asc` or
/// `normal`, and a cursor id in `before` or `after`.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub limit: Option<String>,
    pub order: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Which page of an id-ordered list to read (ids are ULIDs: they sort in creation order).
#[derive(Debug, Clone)]
pub struct Page {
    /// The page shows rows newest first.
    pub descending: bool,
    /// The cursor, and whether the page lies after it in the shown order.
    pub cursor: Option<(String, bool)>,
    pub limit: i64,
}

/// A list's `limit`: 1 to 100, 10 when absent.
pub fn limit_param(raw: Option<&str>) -> Result<i64, RestError> {
    match raw.filter(|l| !l.is_empty()) {
        None => Ok(10),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(RestError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "limit must be a whole number from 1 to 100",
            )
            .with_field("limit")),
        },
    }
}

impl ListParams {
    /// Checks the parameters.
    pub fn page(&self) -> Result<Page, RestError> {
        let invalid = |field: &str, message: &str| {
            RestError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
                .with_field(field)
        };
        let limit = limit_param(self.limit.as_deref())?;
        let order = self
            .order
            .as_deref()
            .filter(|o| !o.is_empty())
            .unwrap_or("desc");
        let (descending, normal) = match order {
            "desc" => (true, false),
            "normal" => (true, true),
            "asc" => (false, false),
            _ => return Err(invalid("order", "order must be asc, desc or normal")),
        };
        let before = self.before.as_deref().filter(|b| !b.is_empty());
        let after = self.after.as_deref().filter(|a| !a.is_empty());
        let cursor = match (before, after) {
            (Some(_), Some(_)) => {
                return Err(invalid("before", "send either before or after, not both"))
            }
            // `normal`: descending, with `after` meaning newer (before it in the shown order).
            (Some(b), None) => Some((b.to_owned(), normal)),
            (None, Some(a)) => Some((a.to_owned(), !normal)),
            (None, None) => None,
        };
        Ok(Page {
            descending,
            cursor,
            limit,
        })
    }
}

impl Page {
    /// Which rows to read: one more than the page shows, so that `finish` knows whether more
    /// follow.
    pub fn keyset(&self) -> crate::server::db::Keyset {
        // Reading towards older ids, or towards newer ones.
        let older = match &self.cursor {
            Some((_, after)) => *after == self.descending,
            None => self.descending,
        };
        crate::server::db::Keyset {
            from: self.cursor.as_ref().map(|(id, _)| id.clone()),
            older,
            take: self.limit + 1,
        }
    }

    /// Turns the rows read (at most `limit + 1`, in read order) into the page's rows in shown
    /// order and its `list_metadata`.
    pub fn finish<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, ListMetadata) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let backwards = matches!(&self.cursor, Some((_, false)));
        if backwards {
            rows.reverse();
        }
        let first = rows.first().map(|r| id(r).to_owned());
        let last = rows.last().map(|r| id(r).to_owned());
        let (before, after) = match &self.cursor {
            // Paging forwards: rows lie behind the cursor; more ahead if read.
            Some((_, true)) => (first, if more { last } else { None }),
            // Paging backwards: rows lie ahead of the cursor.
            Some((_, false)) => (if more { first } else { None }, last),
            None => (None, if more { last } else { None }),
        };
        (rows, ListMetadata { before, after })
    }
}

/// `list_metadata`: cursors for the pages before and after this one (null at either end).
#[derive(Debug, Serialize)]
pub struct ListMetadata {
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A WorkOS list answer.
#[derive(Debug, Serialize)]
pub struct List<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub list_metadata: ListMetadata,
}

impl<T> List<T> {
    pub fn new(data: Vec<T>, list_metadata: ListMetadata) -> Self {
        List {
            object: "list",
            data,
            list_metadata,
        }
    }
}

/// Longest `search` accepted: names are at most a few hundred characters, and a long pattern
/// is work for the database (SQLite refuses a LIKE pattern past 50,000 bytes).
const SEARCH_MAX: usize = 256;

/// A list's `search` parameter: `None` when empty or blank, 422 when longer than
/// [`SEARCH_MAX`] characters.
pub fn search_param(raw: Option<String>) -> Result<Option<String>, RestError> {
    match raw.filter(|s| !s.trim().is_empty()) {
        Some(s) if s.chars().count() > SEARCH_MAX => Err(RestError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("search may be at most {SEARCH_MAX} characters"),
        )
        .with_field("search")),
        s => Ok(s),
    }
}

/// The raw query string, for parameters WorkOS sends as comma-joined lists.
pub struct RawQuery(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RawQuery(parts.uri.query().unwrap_or("").to_owned()))
    }
}

/// The filters that narrow a list to one organization, directory, user or group. One sent
/// empty, or in an array form the list does not read, would otherwise be ignored and the list
/// would show every organization's: refused instead (fail closed).
const SCOPES: &[&str] = &[
    "organization_id",
    "user_id",
    "directory",
    "directory_id",
    "user",
    "group",
    "connection_id",
    "domain",
    "domains",
];

impl RawQuery {
    /// Parses the query into `T`, refusing NUL characters and empty or array-form scoping
    /// filters ([`SCOPES`]).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, RestError> {
        if url::form_urlencoded::parse(self.0.as_bytes())
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "a query parameter must not contain NUL characters",
            ));
        }
        for (k, v) in url::form_urlencoded::parse(self.0.as_bytes()) {
            // `organization_id[]`, `organization_id[0]`, `Organization_Id`: the same filter in a
            // form the list does not read.
            let base = k.split('[').next().unwrap_or_default();
            let Some(scope) = SCOPES.iter().find(|s| s.eq_ignore_ascii_case(base)) else {
                continue;
            };
            // `domains` is a list (comma-joined or repeated `domains[]`).
            let listed = *scope == "domains" && (k == "domains" || k == "domains[]");
            if k != *scope && !listed {
                return Err(invalid(
                    *scope,
                    format!("send {scope} as {scope}=<value> (lower case, no brackets): this list reads no other form"),
                ));
            }
            if v.split(',').all(|part| part.trim().is_empty()) {
                return Err(invalid(
                    *scope,
                    format!("{scope} is empty: send a value, or leave it out to list everything"),
                ));
            }
        }
        serde_urlencoded::from_str(&self.0).map_err(|e| {
            RestError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("query string: {e}"),
            )
        })
    }

    /// A list parameter: comma-joined (`domains=a,b`) or repeated (`domains=a&domains=b`).
    pub fn list(&self, name: &str) -> Vec<String> {
        url::form_urlencoded::parse(self.0.as_bytes())
            .filter(|(k, _)| k == name || *k == format!("{name}[]"))
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(q: &str) -> Page {
        let p: ListParams = serde_urlencoded::from_str(q).unwrap();
        p.page().unwrap()
    }

    #[test]
    fn pages_walk_ids_in_both_orders() {
        let ids: Vec<String> = (1..=5).map(|i| format!("x{i}")).collect();
        // What the database would return for the condition and order of `sql`.
        let read = |p: &Page| -> Vec<String> {
            let k = p.keyset();
            let mut rows: Vec<String> = ids
                .iter()
                .filter(|id| match &k.from {
                    Some(v) if k.older => id.as_str() < v.as_str(),
                    Some(v) => id.as_str() > v.as_str(),
                    None => true,
                })
                .cloned()
                .collect();
            if k.older {
                rows.reverse();
            }
            rows.truncate(k.take as usize);
            rows
        };
        let p = page("limit=2");
        let (rows, m) = p.finish(read(&p), |s| s);
        assert_eq!(rows, ["x5", "x4"]);
        assert_eq!((m.before, m.after.clone()), (None, Some("x4".into())));
        let p = page("limit=2&after=x4");
        let (rows, m) = p.finish(read(&p), |s| s);
        assert_eq!(rows, ["x3", "x2"]);
        assert_eq!(
            (m.before.clone(), m.after),
            (Some("x3".into()), Some("x2".into()))
        );
        let p = page("limit=2&before=x3");
        let (rows, m) = p.finish(read(&p), |s| s);
        assert_eq!(rows, ["x5", "x4"]);
        assert_eq!((m.before, m.after), (None, Some("x4".into())));
        let p = page("limit=2&order=asc&after=x2");
        let (rows, m) = p.finish(read(&p), |s| s);
        assert_eq!(rows, ["x3", "x4"]);
        assert_eq!((m.before, m.after), (Some("x3".into()), Some("x4".into())));
        let p = page("limit=3&order=asc&after=x2");
        let (rows, m) = p.finish(read(&p), |s| s);
        assert_eq!(rows, ["x3", "x4", "x5"]);
        assert_eq!(m.after, None);
        // `normal`: newest first, `after` fetches newer rows.
        let p = page("limit=2&order=normal&after=x2");
        let (rows, _) = p.finish(read(&p), |s| s);
        assert_eq!(rows, ["x4", "x3"]);
    }

    #[test]
    fn bad_list_parameters_name_their_field() {
        for (q, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("order=sideways", "order"),
            ("before=a&after=b", "before"),
        ] {
            let p: ListParams = serde_urlencoded::from_str(q).unwrap();
            assert_eq!(p.page().unwrap_err().field.as_deref(), Some(field), "{q}");
        }
    }

    #[test]
    fn error_bodies_have_workos_shape_and_no_error_key() {
        let b = workos_error_body(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "name: x",
            Some("name"),
        );
        assert_eq!(b["code"], "invalid_request_parameters");
        assert_eq!(b["errors"][0]["field"], "name");
        assert!(b.get("error").is_none());
        let b = workos_error_body(
            StatusCode::NOT_FOUND,
            "not_found",
            "organization not found",
            None,
        );
        assert_eq!(b["code"], "entity_not_found");
        let b = workos_error_body(StatusCode::CONFLICT, "domain_claimed", "m", Some("domain"));
        assert_eq!(b["code"], "domain_claimed");
        assert!(owns("/organizations"));
        assert!(owns("/organizations/org_1/x"));
        assert!(!owns("/organizationsx"));
        assert!(!owns("/portal/link/abc"));
        assert!(owns("/portal/generate_link"));
    }
}
