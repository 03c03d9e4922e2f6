//! Setup links in the browser: GET shows what the link opens and consumes nothing; the form's
//! POST redeems it into a portal session.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use tower_sessions::Session;

use super::pages::{client_key, page, too_many};
use super::ratelimit::limits;
use crate::domain::text::escape_html as esc;
use crate::server::audit::RequestContext;
use crate::server::error::AppError;
use crate::server::service::setup_links::{self, LinkStatus};
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

/// Session key holding the portal grant.
pub use crate::server::service::setup_links::PORTAL_KEY;

fn ask_for_new(state: &AppState, status: StatusCode, title: &str, why: &str) -> Response {
    let vendor = esc(&state.config.branding.vendor_name);
    page(
        status,
        &state.config.branding,
        title,
        &format!(
            r#"<p class="text-slate-700">{why}</p>
<p class="mt-4 text-slate-700">Setup links work once and expire. Ask your contact at {vendor} for a new setup link, then open it in this browser.</p>"#
        ),
    )
}

fn gone(state: &AppState, status: &LinkStatus) -> Response {
    let why = match status {
        LinkStatus::Used => "This setup link has already been used.",
        LinkStatus::Expired => "This setup link has expired.",
        _ => "This setup link was revoked.",
    };
    ask_for_new(
        state,
        StatusCode::GONE,
        "This setup link no longer works",
        why,
    )
}

fn unknown(state: &AppState) -> Response {
    ask_for_new(
        state,
        StatusCode::NOT_FOUND,
        "Setup link not found",
        "We don't recognise this setup link. Check that you copied the whole address.",
    )
}

/// GET: describe the link, never consume it.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(token): Path<String>,
) -> Response {
    if !state
        .limiter
        .check(
            "link_view",
            &client_key(&ctx),
            limits::LINK_VIEW,
            state.clock.now(),
        )
        .await
    {
        return too_many(&state.config.branding, "setup-link");
    }
    match setup_links::inspect(&state, &token).await {
        Ok(LinkStatus::Valid {
            organization_name,
            intents,
            expires_at,
        }) => {
            let steps: String = intents
                .as_slice()
                .iter()
                .map(|i| format!(r#"<li>{}</li>"#, esc(i.title())))
                .collect();
            let vendor = esc(&state.config.branding.vendor_name);
            page(
                StatusCode::OK,
                &state.config.branding,
                &format!("Set up {organization_name}"),
                &format!(
                    r#"<p class="text-slate-700">{vendor} asked you to connect <strong>{org}</strong> to its product. This link lets you:</p>
<ul class="my-4 list-disc pl-6 text-slate-700">{steps}</ul>
<form method="post" action="/portal/link/{token}">
<button type="submit" class="rounded-lg bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-700" data-testid="redeem">Continue to setup</button>
</form>
<p class="mt-4 text-sm text-slate-500">The link works once and expires at {expires} (UTC). Continuing signs you in to the setup portal in this browser.</p>"#,
                    org = esc(&organization_name),
                    token = esc(&token),
                    expires = esc(&rfc3339(expires_at)),
                ),
            )
        }
        Ok(LinkStatus::Unknown) => unknown(&state),
        Ok(other) => gone(&state, &other),
        Err(e) => internal(&state, e),
    }
}

/// POST: redeem the link into a portal session scoped to its organization and intents.
pub async fn redeem(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    session: Session,
    Path(token): Path<String>,
) -> Response {
    if !state
        .limiter
        .check(
            "link_redeem",
            &client_key(&ctx),
            limits::LINK_REDEEM,
            state.clock.now(),
        )
        .await
    {
        return too_many(&state.config.branding, "setup-link");
    }
    match setup_links::redeem(&state, &ctx, &token).await {
        Ok(grant) => {
            // One browser session is either a portal or a staff session, never both: nothing an
            // earlier session kept (a grant, a one-time value shown once) carries over.
            session.clear().await;
            // A fresh session id on every sign-in: no fixation.
            if let Err(e) = session.cycle_id().await {
                return internal(&state, AppError::dependency("session", e));
            }
            if let Err(e) = session.insert(PORTAL_KEY, &grant).await {
                return internal(&state, AppError::dependency("session", e));
            }
            Redirect::to("/portal").into_response()
        }
        Err(AppError::NotFound(_)) => unknown(&state),
        Err(AppError::Gone(_)) => match setup_links::inspect(&state, &token).await {
            Ok(status @ (LinkStatus::Used | LinkStatus::Expired | LinkStatus::Revoked)) => {
                gone(&state, &status)
            }
            _ => gone(&state, &LinkStatus::Revoked),
        },
        Err(e) => internal(&state, e),
    }
}

/// POST: end the portal session.
pub async fn sign_out(State(state): State<AppState>, session: Session) -> Response {
    super::pages::end_session(&state.config.branding, session, "/?signed_out=1").await
}

fn internal(state: &AppState, e: AppError) -> Response {
    super::pages::error_page(&state.config.branding, e)
}
