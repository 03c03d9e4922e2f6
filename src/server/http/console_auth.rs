//! Staff sign-in for the support console, as plain pages that work without JavaScript:
//! `/console/setup/{token}` (GET shows the TOTP secret and the form and consumes nothing; the
//! form's POST sets the password, proves the authenticator and signs in), `/console/signin` and
//! `/console/signout`. The staff grant lives under its own session key (`STAFF_KEY`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use tower_sessions::Session;

use super::pages::{client_key, page, too_many};
use super::ratelimit::limits;
use crate::domain::text::escape_html as esc;
use crate::domain::FieldError;
use crate::server::audit::RequestContext;
use crate::server::error::AppError;
use crate::server::service::staff::{self, SetupStatus, StaffGrant, STAFF_KEY};
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;
use crate::server::totp;

pub(crate) const INPUT: &str = "mt-1 block w-full rounded-lg border border-slate-300 px-3 py-2 text-slate-900 focus:border-indigo-500 focus:outline-none";
pub(crate) const BUTTON: &str =
    "rounded-lg bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-700";

/// The setup form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    #[serde(default)]
    code: String,
}

/// The sign-in form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

/// `?signed_out=1` after signing out.
#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    signed_out: Option<String>,
}

fn field_error(err: Option<&FieldError>, field: &str) -> String {
    match err {
        Some(e) if e.field == field => format!(
            r#"<p id="{field}-error" class="mt-1 text-sm text-red-700" data-testid="error-{field}" role="alert">{}</p>"#,
            esc(&e.message)
        ),
        _ => String::new(),
    }
}

fn invalid_attr(err: Option<&FieldError>, field: &str) -> &'static str {
    match err {
        Some(e) if e.field == field => r#" aria-invalid="true""#,
        _ => "",
    }
}

/// The enrolment page: the secret as text and as an `otpauth://` URI, and the form.
#[expect(clippy::too_many_arguments, reason = "one page, its parts spelled out")]
fn setup_page(
    state: &AppState,
    status: StatusCode,
    token: &str,
    email: &str,
    role: &str,
    secret: &str,
    uri: &str,
    expires_at: i64,
    err: Option<&FieldError>,
    code: &str,
) -> Response {
    let role_text = if role == crate::domain::staff::StaffRole::Admin {
        "admin (may read and act)"
    } else {
        "viewer (read only)"
    };
    page(
        status,
        &state.config.branding,
        "Set up your support console account",
        &format!(
            r#"<p class="text-slate-700">This sets up the support console account <strong data-testid="email">{email}</strong>, role <strong data-testid="role">{role_text}</strong>.</p>
<h2 class="mt-6 text-lg font-semibold">1. Add the account to your authenticator app</h2>
<p class="mt-2 text-slate-700">Scan this code with your authenticator app (1Password, Google Authenticator, Authy, Microsoft Authenticator, …), then enter the 6-digit code it shows.</p>
{qr}
<p class="mt-3 text-slate-700">Can't scan? Type this key into the app instead (time-based, SHA-1, 6 digits, 30 seconds):</p>
<p class="mt-3 rounded-lg bg-slate-100 px-4 py-3 font-mono text-lg tracking-wider" data-testid="totp-secret">{grouped}</p>
<p class="mt-3 text-slate-700">Or paste this setup address into an app that accepts one:</p>
<label class="mt-1 block text-sm text-slate-600" for="totp-uri">otpauth URI</label>
<input id="totp-uri" type="text" readonly class="{INPUT} font-mono text-xs" value="{uri}" data-testid="totp-uri">
<p class="mt-2 text-sm"><a class="text-indigo-700 underline" href="{uri}">Open in the authenticator app on this device</a></p>
<h2 class="mt-8 text-lg font-semibold">2. Choose a password and confirm the code</h2>
<form method="post" action="/console/setup/{token}" class="mt-4 space-y-4">
<div><label for="password" class="block text-sm font-medium text-slate-700">Password (at least {min} characters)</label>
<input id="password" name="password" type="password" required minlength="{min}" autocomplete="new-password" class="{INPUT}" data-testid="password"{inv_pw}>{err_pw}</div>
<div><label for="password_confirm" class="block text-sm font-medium text-slate-700">Password again</label>
<input id="password_confirm" name="password_confirm" type="password" required autocomplete="new-password" class="{INPUT}" data-testid="password-confirm"{inv_pc}>{err_pc}</div>
<div><label for="code" class="block text-sm font-medium text-slate-700">6-digit code from your authenticator app</label>
<input id="code" name="code" type="text" required inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="7" class="{INPUT} font-mono tracking-widest" value="{code}" data-testid="code"{inv_code}>{err_code}</div>
<button type="submit" class="{BUTTON}" data-testid="complete-setup">Complete setup and sign in</button>
</form>
<p class="mt-4 text-sm text-slate-500">This link works once and expires at {expires} (UTC). Keep the key private: anyone who has it and your password can sign in as you.</p>"#,
            email = esc(email),
            grouped = esc(&totp::grouped(secret)),
            qr = totp::qr_svg(uri)
                .map(|svg| format!(r#"<div class="mt-3 inline-block rounded-lg border border-slate-200 bg-white p-2"><div role="img" aria-label="QR code with the authenticator setup address for {email}" data-testid="totp-qr">{svg}</div></div>"#, email = esc(email)))
                .unwrap_or_default(),
            uri = esc(uri),
            token = esc(token),
            min = staff::MIN_PASSWORD_CHARS,
            inv_pw = invalid_attr(err, "password"),
            inv_pc = invalid_attr(err, "password_confirm"),
            inv_code = invalid_attr(err, "code"),
            err_pw = field_error(err, "password"),
            err_pc = field_error(err, "password_confirm"),
            err_code = field_error(err, "code"),
            code = esc(code),
            expires = esc(&rfc3339(expires_at)),
        ),
    )
}

fn gone(state: &AppState, status: &SetupStatus) -> Response {
    let why = match status {
        SetupStatus::Used => "This staff setup link has already been used.",
        SetupStatus::Expired => "This staff setup link has expired.",
        _ => "This staff setup link was revoked.",
    };
    page(
        StatusCode::GONE,
        &state.config.branding,
        "This setup link no longer works",
        &format!(
            r#"<p class="text-slate-700">{why}</p>
<p class="mt-4 text-slate-700">Setup links work once and expire after 7 days. If you already set up your account, <a class="text-indigo-700 underline" href="/console/signin" data-testid="signin-link">sign in to the support console</a>. Otherwise ask whoever runs Lanyard for a new link: they run <code>lanyard staff reset --email</code> with your address.</p>"#
        ),
    )
}

fn unknown(state: &AppState) -> Response {
    page(
        StatusCode::NOT_FOUND,
        &state.config.branding,
        "Setup link not found",
        r#"<p class="text-slate-700">We don't recognise this staff setup link. Check that you copied the whole address; if it still fails, ask whoever runs Lanyard for a new link.</p>"#,
    )
}

fn internal(state: &AppState, e: AppError) -> Response {
    super::pages::error_page(&state.config.branding, e)
}

/// Puts `grant` in a fresh session: a new id (no fixation) and nothing else in it, so that a
/// portal grant this browser held does not live on beside the staff one.
async fn start_session(state: &AppState, session: &Session, grant: &StaffGrant) -> Response {
    // Nothing an earlier session kept — a portal grant, a one-time value the portal was about
    // to show (a fresh SCIM token) — carries over into the staff session.
    session.clear().await;
    if let Err(e) = session.cycle_id().await {
        return internal(state, AppError::dependency("session", e));
    }
    if let Err(e) = session.insert(STAFF_KEY, grant).await {
        return internal(state, AppError::dependency("session", e));
    }
    Redirect::to("/console").into_response()
}

/// GET `/console/setup/{token}`: the enrolment page; consumes nothing.
pub async fn setup_show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(token): Path<String>,
) -> Response {
    if !state
        .limiter
        .check(
            "staff_setup_view",
            &client_key(&ctx),
            limits::LINK_VIEW,
            state.clock.now(),
        )
        .await
    {
        return too_many(&state.config.branding, "setup-link");
    }
    render_setup(&state, &token, StatusCode::OK, None, "").await
}

async fn render_setup(
    state: &AppState,
    token: &str,
    status: StatusCode,
    err: Option<&FieldError>,
    code: &str,
) -> Response {
    match staff::inspect(state, token).await {
        Ok(SetupStatus::Valid {
            email,
            role,
            totp_secret,
            otpauth_uri,
            expires_at,
        }) => setup_page(
            state,
            status,
            token,
            &email,
            &role,
            &totp_secret,
            &otpauth_uri,
            expires_at,
            err,
            code,
        ),
        Ok(SetupStatus::Unknown) => unknown(state),
        Ok(other) => gone(state, &other),
        Err(e) => internal(state, e),
    }
}

/// POST `/console/setup/{token}`: set the password, prove the authenticator, sign in.
pub async fn setup_complete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    session: Session,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Response {
    if !state
        .limiter
        .check(
            "staff_setup",
            &client_key(&ctx),
            limits::LINK_REDEEM,
            state.clock.now(),
        )
        .await
    {
        return too_many(&state.config.branding, "setup-link");
    }
    let result = staff::complete_setup(
        &state,
        &ctx,
        &token,
        &form.password,
        &form.password_confirm,
        &form.code,
    )
    .await;
    match result {
        Ok(grant) => start_session(&state, &session, &grant).await,
        Err(AppError::Invalid(fe)) => {
            // Everything typed comes back except the passwords; a wrong code is cleared.
            let code = if fe.field == "code" { "" } else { &form.code };
            render_setup(
                &state,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&fe),
                code,
            )
            .await
        }
        Err(AppError::NotFound(_)) => unknown(&state),
        Err(AppError::Gone(_)) => match staff::inspect(&state, &token).await {
            Ok(status @ (SetupStatus::Used | SetupStatus::Expired | SetupStatus::Revoked)) => {
                gone(&state, &status)
            }
            _ => gone(&state, &SetupStatus::Revoked),
        },
        Err(e) => internal(&state, e),
    }
}

fn signin_page(state: &AppState, status: StatusCode, email: &str, notice: &str) -> Response {
    page(
        status,
        &state.config.branding,
        "Support console sign-in",
        &format!(
            r#"{notice}<form method="post" action="/console/signin" class="space-y-4">
<div><label for="email" class="block text-sm font-medium text-slate-700">Email</label>
<input id="email" name="email" type="email" required autocomplete="username" class="{INPUT}" value="{email}" data-testid="email"></div>
<div><label for="password" class="block text-sm font-medium text-slate-700">Password</label>
<input id="password" name="password" type="password" required autocomplete="current-password" class="{INPUT}" data-testid="password"></div>
<div><label for="code" class="block text-sm font-medium text-slate-700">6-digit code from your authenticator app</label>
<input id="code" name="code" type="text" required inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="7" class="{INPUT} font-mono tracking-widest" data-testid="code"></div>
<button type="submit" class="{BUTTON}" data-testid="sign-in">Sign in</button>
</form>
<p class="mt-4 text-sm text-slate-500">Support staff only. Lost your authenticator? Ask whoever runs Lanyard for a new setup link.</p>"#,
            email = esc(email),
        ),
    )
}

/// GET `/console/signin`.
pub async fn signin_show(State(state): State<AppState>, Query(q): Query<SignInQuery>) -> Response {
    let notice = if q.signed_out.is_some() {
        r#"<p class="mb-4 rounded-lg bg-slate-100 px-4 py-3 text-slate-700" data-testid="signed-out" role="status">You are signed out.</p>"#
    } else {
        ""
    };
    signin_page(&state, StatusCode::OK, "", notice)
}

/// POST `/console/signin`: email, password and a fresh TOTP code. Limits: every attempt counts
/// per client address (10 a minute); failures count per (address, account), 10 in 15 minutes
/// refuse that address for that account only; failures per account from all addresses never
/// refuse anything — past 30 in 15 minutes the owner is warned, once per window. Nobody can
/// lock the owner out from elsewhere, and successful sign-ins count toward no failure limit.
pub async fn signin(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    session: Session,
    Form(form): Form<SignInForm>,
) -> Response {
    let now = state.clock.now();
    let address = client_key(&ctx);
    if !state
        .limiter
        .check("staff_sign_in", &address, limits::STAFF_SIGN_IN, now)
        .await
    {
        return too_many(&state.config.branding, "sign-in");
    }
    let email_key: String = form.email.trim().to_lowercase().chars().take(254).collect();
    let pair_key = format!("{address} {email_key}");
    if state
        .limiter
        .over(
            "staff_sign_in_failures",
            &pair_key,
            limits::STAFF_SIGN_IN_FAILURES,
            now,
        )
        .await
    {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            &state.config.branding,
            "Too many attempts",
            r#"<p class="text-slate-700">Too many failed sign-ins for this account came from your network. Wait 15 minutes and try again.</p>"#,
        );
    }
    match staff::sign_in(&state, &ctx, &form.email, &form.password, &form.code).await {
        Ok(grant) => start_session(&state, &session, &grant).await,
        Err(AppError::Unauthorized(msg)) => {
            let (_, window) = limits::STAFF_SIGN_IN_FAILURES;
            state
                .limiter
                .hit("staff_sign_in_failures", &pair_key, window, now)
                .await;
            let (alert_at, alert_window) = limits::STAFF_SIGN_IN_FAILURES_ALERT;
            let failures = state
                .limiter
                .hit(
                    "staff_sign_in_account_failures",
                    &email_key,
                    alert_window,
                    now,
                )
                .await;
            // Exactly once per window: the failure that crosses the threshold.
            if failures == alert_at + 1 {
                if let Err(e) =
                    staff::alert_failed_sign_ins(&state, &ctx, &form.email, failures, alert_window)
                        .await
                {
                    tracing::error!(error = %e.cause_chain(), "could not warn a staff member of failed sign-ins");
                }
            }
            signin_page(
                &state,
                StatusCode::UNAUTHORIZED,
                form.email.trim(),
                &format!(
                    r#"<p class="mb-4 rounded-lg bg-red-50 px-4 py-3 text-red-800" data-testid="error" role="alert">{}</p>"#,
                    esc(&msg)
                ),
            )
        }
        Err(e) => internal(&state, e),
    }
}

/// POST `/console/signout`: end the session.
pub async fn signout(State(state): State<AppState>, session: Session) -> Response {
    super::pages::end_session(
        &state.config.branding,
        session,
        "/console/signin?signed_out=1",
    )
    .await
}
