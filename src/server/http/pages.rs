//! Plain server-rendered pages for the link flows. They need exact status codes (404, 410, 429)
//! and must act only on a form POST, with or without JavaScript, so they are ordinary axum
//! handlers rather than Leptos routes.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::text::escape_html as esc;
use crate::server::config::Branding;

/// A full page around `body_html` (already escaped).
pub fn page(status: StatusCode, branding: &Branding, title: &str, body_html: &str) -> Response {
    let logo = branding
        .logo_url
        .as_deref()
        .map(|u| format!(r#"<img src="{}" alt="" class="h-8 w-auto">"#, esc(u)))
        .unwrap_or_default();
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {vendor}</title><link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/pkg/lanyard.css"></head>
<body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
<main class="mx-auto max-w-xl px-6 py-16">
<div class="mb-8 flex items-center gap-3">{logo}<span class="text-lg font-semibold">{vendor}</span></div>
<div class="rounded-xl border border-slate-200 bg-white p-8 shadow-sm">
<h1 class="mb-4 text-2xl font-semibold">{title}</h1>
{body_html}
</div>
<p class="mt-6 text-xs text-slate-500">Secured by Lanyard</p>
</main></body></html>"#,
        title = esc(title),
        vendor = esc(&branding.vendor_name),
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// The key rate limits count a browser by.
pub fn client_key(ctx: &crate::server::audit::RequestContext) -> String {
    ctx.ip.clone().unwrap_or_else(|| "unknown".into())
}

/// The 429 page of the link flows; `what` names them ("setup-link", "invitation").
pub fn too_many(branding: &Branding, what: &str) -> Response {
    page(
        StatusCode::TOO_MANY_REQUESTS,
        branding,
        "Too many attempts",
        &format!(
            r#"<p class="text-slate-700">Too many {what} attempts came from your network. Wait a minute and try again.</p>"#
        ),
    )
}

/// Ends the browser session (portal or console), or, when its row could not be deleted, says
/// so: the person is still signed in and must not be told otherwise (503, with the request id
/// to quote). `then` is where a signed-out browser goes.
pub async fn end_session(
    branding: &Branding,
    session: tower_sessions::Session,
    then: &str,
) -> Response {
    match session.flush().await {
        Ok(()) => axum::response::Redirect::to(then).into_response(),
        Err(e) => {
            let rid = crate::server::request_id::current_request_id();
            crate::server::error::AppError::dependency("session", e).log(&rid);
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                branding,
                "You are still signed in",
                &format!(
                    r#"<p class="text-slate-700" role="alert">Lanyard could not end your session just now, so it is still active. Go back and sign out again; if this keeps happening, close the browser and quote request id {} to support.</p>"#,
                    esc(&rid)
                ),
            )
        }
    }
}

/// The page for an unexpected failure on a link or sign-in page: the public message with the
/// request id to quote, never the cause.
pub fn error_page(branding: &Branding, e: crate::server::error::AppError) -> Response {
    let rid = crate::server::request_id::current_request_id();
    e.log(&rid);
    let msg = e.public_message(&rid);
    page(
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        branding,
        "Something went wrong",
        &format!(r#"<p class="text-slate-700">{}</p>"#, esc(&msg)),
    )
}
