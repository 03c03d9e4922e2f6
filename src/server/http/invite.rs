//! `/invite/{token}`: the invitee's page. GET shows the organization, inviter and role and
//! consumes nothing (mail scanners follow links); the form's POST accepts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use super::pages::{client_key, page, too_many};
use super::ratelimit::limits;
use super::sso::render;
use crate::domain::text::escape_html as esc;
use crate::server::audit::RequestContext;
use crate::server::service::invitations::{self, LinkState};
use crate::server::service::sso::Next;
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

/// GET: describe the invitation.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(token): Path<String>,
) -> Response {
    if !state
        .limiter
        .check(
            "invite_view",
            &client_key(&ctx),
            limits::LINK_VIEW,
            state.clock.now(),
        )
        .await
    {
        return too_many(&state.config.branding, "invitation");
    }
    let st = invitations::inspect(&state, &token).await;
    let vendor = state.config.branding.vendor_name.clone();
    match st {
        Ok(LinkState::Valid {
            invitation,
            organization_name,
            role_name,
            sso,
            refused,
        }) => {
            let how = match (&refused, &sso) {
                (Some(why), _) => format!(
                    r#"<p class="mt-4 rounded-lg bg-amber-50 p-3 text-amber-900" data-testid="refused">{}</p>"#,
                    esc(why)
                ),
                (None, Some(c)) => format!(
                    r#"<p class="mt-4 text-slate-700" data-testid="sso-required">{org} signs in with single sign-on: accepting takes you to <strong>{conn}</strong>, where you sign in as <strong>{email}</strong>.</p>"#,
                    org = esc(&organization_name),
                    conn = esc(&c.name),
                    email = esc(&invitation.email),
                ),
                (None, None) => String::new(),
            };
            page(
                StatusCode::OK,
                &state.config.branding,
                &format!("Join {organization_name}"),
                &format!(
                    r#"<p class="text-slate-700"><strong data-testid="inviter">{inviter}</strong> invited <strong>{email}</strong> to join <strong data-testid="org">{org}</strong> on {vendor} as <strong data-testid="role">{role}</strong>.</p>
{how}
<form method="post" action="/invite/{token}" class="mt-6">
<button type="submit" class="rounded-lg bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-700" data-testid="accept">Accept invitation</button>
</form>
<p class="mt-4 text-sm text-slate-500">The invitation works once and expires at {expires} (UTC). If you did not expect it, close this page.</p>"#,
                    inviter = esc(&invitation.inviter_name),
                    email = esc(&invitation.email),
                    org = esc(&organization_name),
                    vendor = esc(&vendor),
                    role = esc(&role_name),
                    token = esc(&token),
                    expires = esc(&rfc3339(invitation.expires_at)),
                ),
            )
        }
        Ok(LinkState::Unknown) => render(
            &state,
            Ok(Next::Page(
                404,
                "Invitation not found".into(),
                "We don't recognise this invitation link. Check that you copied the whole address from the email.".into(),
            )),
        ),
        Ok(other) => render(&state, Ok(invitations::gone_page(&vendor, &other))),
        Err(e) => render(&state, Err(e)),
    }
}

/// POST: accept.
pub async fn accept(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(token): Path<String>,
) -> Response {
    if !state
        .limiter
        .check(
            "invite_accept",
            &client_key(&ctx),
            limits::LINK_REDEEM,
            state.clock.now(),
        )
        .await
    {
        return too_many(&state.config.branding, "invitation");
    }
    let next = invitations::accept_link(&state, &ctx, &token).await;
    render(&state, next)
}
