//! `/sso/...`: the browser legs of sign-in.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use super::pages::page;
use crate::domain::text::escape_html as esc;
use crate::server::audit::RequestContext;
use crate::server::service::sso::{self, AuthorizeParams, CallbackParams, Next};
use crate::server::state::AppState;

pub(crate) fn render(
    state: &AppState,
    next: Result<Next, crate::server::error::AppError>,
) -> Response {
    match next {
        Ok(Next::Redirect(to)) => Redirect::to(&to).into_response(),
        Ok(Next::Page(status, title, message)) => page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            &state.config.branding,
            &title,
            &format!(r#"<p class="text-slate-700">{}</p>"#, esc(&message)),
        ),
        Ok(Next::Choose(c)) => page(
            StatusCode::OK,
            &state.config.branding,
            "Choose how to sign in",
            &chooser_html(&c),
        ),
        Ok(Next::Post { action, fields }) => post_page(state, &action, &fields),
        Err(e) => {
            let rid = crate::server::request_id::current_request_id();
            e.log(&rid);
            page(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &state.config.branding,
                "Sign-in could not be completed",
                &format!(
                    r#"<p class="text-slate-700">{}</p>"#,
                    esc(&e.public_message(&rid))
                ),
            )
        }
    }
}

/// An HTTP-POST binding page: the form goes to the IdP by itself (a same-origin script, so the
/// CSP needs no inline script) or by its button. The CSP's `form-action` admits that IdP's
/// origin for this response only.
fn post_page(state: &AppState, action: &str, fields: &[(String, String)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                esc(k),
                esc(v)
            )
        })
        .collect();
    let body = format!(
        r#"<form method="post" action="{action}">{inputs}<p class="mb-4 text-slate-700">Taking you to your identity provider to sign in.</p><button type="submit" class="rounded-lg bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-700 focus:outline-none focus:ring-2 focus:ring-indigo-500 focus:ring-offset-2">Continue to your identity provider</button></form><script src="/sso/post.js"></script>"#,
        action = esc(action),
    );
    let web = url::Url::parse(action).ok().filter(|u| {
        matches!(u.scheme(), "https" | "http") && u.host_str().is_some_and(|h| !h.contains('*'))
    });
    let Some(u) = web else {
        // Never a form to a javascript:, data: or wildcard URL (stored URLs are checked; this is
        // the last line).
        return page(
            StatusCode::BAD_GATEWAY,
            &state.config.branding,
            "The identity provider's address is not valid",
            r#"<p class="text-slate-700">The IdP's sign-in URL is not an http(s) address. Ask your IT admin to upload the IdP's metadata again.</p>"#,
        );
    };
    let mut resp = page(StatusCode::OK, &state.config.branding, "Signing in…", &body);
    resp.extensions_mut()
        .insert(super::FormAction(u.origin().ascii_serialization()));
    resp
}

/// `GET /sso/post.js`: submits an HTTP-POST binding page's form.
pub async fn post_js() -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        "document.forms[0].submit();\n",
    )
        .into_response()
}

/// The identity-provider chooser: a list of plain links, one per connection, each naming the
/// domains it serves (works without JavaScript, reachable by keyboard).
fn chooser_html(c: &sso::Chooser) -> String {
    let items: String = c
        .options
        .iter()
        .map(|o| {
            format!(
                r#"<li><a class="block rounded-lg border border-slate-200 px-4 py-3 hover:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500" href="{href}"><span class="block font-medium text-indigo-700">Sign in with {name}</span><span class="block text-sm text-slate-600">{detail}</span></a></li>"#,
                href = esc(&o.href),
                name = esc(&o.name),
                detail = esc(&o.detail),
            )
        })
        .collect();
    format!(
        r#"<p class="text-slate-700">{org} signs in through more than one identity provider. Choose the one that manages your work email address; if you are not sure, ask your IT admin.</p><ul class="mt-6 space-y-3" aria-label="Identity providers of {org}">{items}</ul>"#,
        org = esc(&c.organization),
    )
}

/// `GET /sso/authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    let next = sso::authorize(&state, p).await;
    render(&state, next)
}

/// `GET /sso/oidc/callback`.
pub async fn oidc_callback(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Query(p): Query<CallbackParams>,
) -> Response {
    let next = sso::callback(&state, &ctx, p).await;
    render(&state, next)
}

/// `POST /sso/saml/{connection}/acs`: the IdP's HTTP-POST binding.
pub async fn saml_acs(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    axum::extract::Path(connection): axum::extract::Path<String>,
    axum::extract::Form(form): axum::extract::Form<sso::AcsForm>,
) -> Response {
    if let Some(refused) = saml_limit(&state, &ctx).await {
        return refused;
    }
    let next = sso::saml_acs(&state, &ctx, &connection, form).await;
    render(&state, next)
}

/// The per-address limit of the SAML endpoints an IdP's messages reach through the browser
/// (each costs signature checks and maybe an RSA decryption before anything is authenticated).
async fn saml_limit(state: &AppState, ctx: &RequestContext) -> Option<Response> {
    use super::ratelimit::limits;
    let ok = state
        .limiter
        .check(
            "saml_endpoint",
            &super::pages::client_key(ctx),
            limits::SAML_ENDPOINT,
            state.clock.now(),
        )
        .await;
    (!ok).then(|| super::pages::too_many(&state.config.branding, "sign-in"))
}

/// `GET /sso/saml/{connection}/slo`: the IdP's logout message by HTTP-Redirect (its signature
/// covers the raw query bytes, so the query is read as sent).
pub async fn saml_slo_redirect(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    axum::extract::Path(connection): axum::extract::Path<String>,
    uri: axum::http::Uri,
) -> Response {
    if let Some(refused) = saml_limit(&state, &ctx).await {
        return refused;
    }
    let query = uri.query().unwrap_or("");
    let next = sso::saml_slo(
        &state,
        &ctx,
        &connection,
        crate::server::protocol::saml::logout::Binding::Redirect(query),
    )
    .await;
    render(&state, next)
}

/// The HTTP-POST form of a logout message.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SloForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `POST /sso/saml/{connection}/slo`: the IdP's logout message by HTTP-POST.
pub async fn saml_slo_post(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    axum::extract::Path(connection): axum::extract::Path<String>,
    axum::extract::Form(form): axum::extract::Form<SloForm>,
) -> Response {
    if let Some(refused) = saml_limit(&state, &ctx).await {
        return refused;
    }
    let next = sso::saml_slo(
        &state,
        &ctx,
        &connection,
        crate::server::protocol::saml::logout::Binding::Post {
            request: form.saml_request.as_deref(),
            response: form.saml_response.as_deref(),
            relay_state: form.relay_state.as_deref(),
        },
    )
    .await;
    render(&state, next)
}

/// `GET /sso/oidc/logout?state=…`: back from an OIDC IdP's logout.
pub async fn oidc_logout(
    State(state): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let next = sso::oidc_logout_return(&state, q.get("state").map(String::as_str)).await;
    render(&state, next)
}

/// `GET /sso/saml/{connection}/metadata`: the SP metadata XML (also the SP entity id).
pub async fn saml_metadata(
    State(state): State<AppState>,
    axum::extract::Path(connection): axum::extract::Path<String>,
) -> Response {
    match sso::sp_metadata(&state, &connection).await {
        Ok(Some(xml)) => (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "application/samlmetadata+xml; charset=utf-8".to_owned(),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"lanyard-{connection}-metadata.xml\""),
                ),
            ],
            xml,
        )
            .into_response(),
        Ok(None) => render(
            &state,
            Ok(Next::Page(
                404,
                "Unknown SAML connection".into(),
                "There is no SAML connection at this address.".into(),
            )),
        ),
        Err(e) => render(&state, Err(e)),
    }
}

/// `GET /portal/sso/test/{connection}`: starts the admin's test sign-in. Scoped by the portal
/// session (organization and the `sso` intent); a plain link, because a form post that redirects
/// to the IdP would be stopped by the CSP `form-action 'self'`.
pub async fn portal_test(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    axum::extract::Path(connection): axum::extract::Path<String>,
) -> Response {
    use crate::domain::intent::Intent;
    use crate::server::service::setup_links;
    let grant = match setup_links::session_grant(&state, &session).await {
        Ok(g) => g,
        Err(e) => return render(&state, Err(e)),
    };
    let Some(grant) = grant.filter(|g| g.intents.contains(&Intent::Sso)) else {
        return render(
            &state,
            Ok(Next::Page(
                401,
                "Setup session ended".into(),
                "Open a new setup link from your vendor, then try the test again.".into(),
            )),
        );
    };
    // A malformed id names no connection: the same answer as an unknown one.
    let Some(connection) = crate::domain::ids::ConnectionId::parse(&connection) else {
        return render(
            &state,
            Err(crate::server::error::AppError::NotFound("connection")),
        );
    };
    let next = sso::begin_test(&state, &grant.org(), &connection).await;
    render(&state, next)
}
