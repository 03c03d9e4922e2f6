//! Lanyard's OpenID Provider over HTTP: discovery, JWKS, `/oauth2/authorize` (with the
//! home-realm discovery page), `/oauth2/token`, `/oauth2/userinfo` and `/oauth2/end_session`.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use base64::Engine as _;

use super::pages::{client_key, error_page, page, too_many};
use super::ratelimit::limits;
use super::sso::render;
use crate::domain::text::escape_html as esc;
use crate::server::audit::RequestContext;
use crate::server::service::oauth::{self, Authorize, EndSession};
use crate::server::state::AppState;

use super::console_auth::{BUTTON, INPUT};

/// JSON any origin may read (discovery, JWKS, token and UserInfo answers carry no cookie).
fn public_json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(state): State<AppState>) -> Response {
    match oauth::discovery(&state).await {
        Ok(d) => public_json(StatusCode::OK, d),
        Err(e) => error_json(e),
    }
}

/// `GET /oauth2/jwks`.
pub async fn jwks(State(state): State<AppState>) -> Response {
    match oauth::keys::jwks(&state).await {
        Ok(d) => public_json(StatusCode::OK, d),
        Err(e) => error_json(e),
    }
}

fn error_json(e: crate::server::error::AppError) -> Response {
    let rid = crate::server::request_id::current_request_id();
    e.log(&rid);
    public_json(
        StatusCode::INTERNAL_SERVER_ERROR,
        serde_json::json!({ "error": "server_error", "error_description": e.public_message(&rid) }),
    )
}

/// `GET /oauth2/authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    axum::Extension(ctx): axum::Extension<RequestContext>,
    Query(p): Query<oauth::AuthorizeParams>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    // An email typed on the discovery page (or a domain hint) is a lookup of which organization
    // holds its domain: limited per address, like the link pages.
    if (p.login_hint.is_some() || p.domain_hint.is_some())
        && !state
            .limiter
            .check(
                "oauth_discovery",
                &client_key(&ctx),
                limits::OAUTH_DISCOVERY,
                state.clock.now(),
            )
            .await
    {
        return too_many(&state.config.branding, "sign-in");
    }
    // Submitted from the discovery page: Chrome applies that page's CSP `form-action 'self'` to
    // every redirect after the form post, which would stop the hop to the IdP (and back to the
    // client). A page that moves on by itself (Refresh header, and a link) is not a redirect of
    // the form submission, so the CSP stays strict.
    let from_form = raw.as_deref().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "hrd" && v == "1")
    });
    match oauth::authorize(&state, p).await {
        Ok(Authorize::Next(crate::server::service::sso::Next::Redirect(to))) if from_form => {
            continue_page(&state, &to)
        }
        Ok(Authorize::Next(next)) => render(&state, Ok(next)),
        Ok(Authorize::Discover {
            client_name,
            params,
            email,
            error,
        }) => discovery_page(
            &state,
            &client_name,
            &params,
            email.as_deref(),
            error.as_deref(),
        ),
        Err(e) => render(&state, Err(e)),
    }
}

/// The home-realm discovery page: a plain GET form back to `/oauth2/authorize` with the
/// client's parameters and the person's email as `login_hint` (works without JavaScript).
fn discovery_page(
    state: &AppState,
    client_name: &str,
    params: &[(&'static str, String)],
    email: Option<&str>,
    error: Option<&str>,
) -> Response {
    let hidden: String = params
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, esc(v)))
        .collect();
    let (err_html, invalid) = match error {
        Some(e) => (
            format!(
                r#"<p id="email-error" class="mt-2 text-sm text-red-700" role="alert" data-testid="error-email">{}</p>"#,
                esc(e)
            ),
            r#" aria-invalid="true" aria-describedby="email-error""#,
        ),
        None => (String::new(), r#" aria-describedby="email-help""#),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page(
        status,
        &state.config.branding,
        &format!("Sign in to {client_name}"),
        &format!(
            r#"<form method="get" action="/oauth2/authorize" class="space-y-4" data-testid="discovery-form">{hidden}<input type="hidden" name="hrd" value="1">
<div><label for="email" class="block text-sm font-medium text-slate-700">Work email</label>
<input id="email" name="login_hint" type="email" required autocomplete="email" autofocus class="{INPUT}" value="{email}" placeholder="you@yourcompany.com" data-testid="email"{invalid}>
<p id="email-help" class="mt-1 text-sm text-slate-600">We send you to your company's sign-in page.</p>{err_html}</div>
<button type="submit" class="{BUTTON}" data-testid="continue">Continue</button>
</form>"#,
            email = esc(email.unwrap_or("")),
        ),
    )
}

/// After the discovery form: a page that moves on to `to` at once (Refresh header), with a link
/// for a browser that does not follow it.
fn continue_page(state: &AppState, to: &str) -> Response {
    // Only ever a web address (an IdP's discovery document could name anything).
    if !(to.starts_with("https://") || to.starts_with("http://")) {
        return render(
            state,
            Ok(crate::server::service::sso::Next::Page(
                502,
                "The identity provider's address is not valid".into(),
                "The sign-in page of your company's identity provider is not a web address. Tell your IT admin.".into(),
            )),
        );
    }
    let mut r = page(
        StatusCode::OK,
        &state.config.branding,
        "Continuing to sign in",
        &format!(
            r#"<p class="text-slate-700" role="status">Taking you to your company's sign-in page…</p>
<p class="mt-4"><a href="{href}" class="{BUTTON}" data-testid="continue-link">Continue</a></p>"#,
            href = esc(to),
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("0;url={to}")) {
        r.headers_mut().insert("refresh", v);
    }
    r
}

/// The client's credentials in an `Authorization: Basic` header (RFC 6749 §2.3.1: each part
/// form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<AppState>,
    axum::Extension(ctx): axum::Extension<RequestContext>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let now = state.clock.now();
    let mut req: oauth::TokenRequest = match serde_urlencoded::from_bytes(&body) {
        Ok(r) => r,
        Err(_) => {
            return no_store(public_json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": "invalid_request", "error_description": "the body must be application/x-www-form-urlencoded with each parameter once" }),
            ))
        }
    };
    req.basic = basic_credentials(&headers);
    // Failed client authentications count per (address, client): guessing one client's secret
    // stops, while a stranger behind the same address cannot lock other clients out.
    // Only a client that exists gets a count of its own: made-up client ids share the
    // address's count (and cannot fill the shared table with rows).
    let claimed = req
        .basic
        .as_ref()
        .map(|(id, _)| id.as_str())
        .or(req.client_id.as_deref())
        .unwrap_or("");
    let known = match oauth::clients::by_client_id(&state, claimed).await {
        Ok(c) => c.is_some(),
        Err(e) => return no_store(error_json(e)),
    };
    let key = if known {
        format!("{}|{claimed}", client_key(&ctx))
    } else {
        client_key(&ctx)
    };
    if state
        .limiter
        .over(
            "oauth_client_auth_failure",
            &key,
            limits::OAUTH_CLIENT_AUTH_FAILURE,
            now,
        )
        .await
    {
        let mut r = no_store(public_json(
            StatusCode::TOO_MANY_REQUESTS,
            serde_json::json!({ "error": "invalid_client", "error_description": "too many failed authentications of this client from this address; retry in a minute" }),
        ));
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return r;
    }
    match oauth::token(&state, req).await {
        Ok(Ok(t)) => no_store(public_json(StatusCode::OK, t)),
        Ok(Err(e)) => {
            let mut r = public_json(
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                serde_json::json!({ "error": e.error, "error_description": e.description }),
            );
            if e.status == 401 {
                state
                    .limiter
                    .hit(
                        "oauth_client_auth_failure",
                        &key,
                        limits::OAUTH_CLIENT_AUTH_FAILURE.1,
                        now,
                    )
                    .await;
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="lanyard""#),
                );
            }
            no_store(r)
        }
        Err(e) => no_store(error_json(e)),
    }
}

/// `GET`/`POST /oauth2/userinfo` with `Authorization: Bearer <access token>`.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    match oauth::userinfo(&state, bearer.as_deref()).await {
        Ok(Ok(claims)) => no_store(public_json(StatusCode::OK, claims)),
        Ok(Err(code)) => {
            let mut r = public_json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({ "error": code, "error_description": "the access token is missing, invalid, expired, or the person's access was suspended" }),
            );
            if let Ok(v) =
                HeaderValue::from_str(&format!(r#"Bearer realm="lanyard", error="{code}""#))
            {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            no_store(r)
        }
        Err(e) => no_store(error_json(e)),
    }
}

/// `GET /oauth2/end_session`.
pub async fn end_session(
    State(state): State<AppState>,
    Query(p): Query<oauth::EndSessionParams>,
) -> Response {
    match oauth::end_session(&state, p).await {
        Ok(EndSession::Redirect(to)) => Redirect::to(&to).into_response(),
        Ok(EndSession::SignedOut(note)) => page(
            if note.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK },
            &state.config.branding,
            "You are signed out",
            &format!(
                r#"{}<p class="text-slate-700">Lanyard keeps no sign-in session for you, so there is nothing more to sign out of here. To end your company account's session too, sign out at your identity provider.</p>"#,
                note.map(|n| format!(r#"<p class="mb-4 rounded-lg bg-amber-50 px-4 py-3 text-amber-900" role="alert" data-testid="error">{}</p>"#, esc(&n))).unwrap_or_default()
            ),
        ),
        Err(e) => error_page(&state.config.branding, e),
    }
}
