//! Staff accounts of the vendor's support console: created from the command line with a one-time
//! setup link, on which their owner sets a password (Argon2id) and enrols a TOTP authenticator;
//! then sign-in with email, password and a fresh code. `viewer` reads; `admin` may also act.
//! Staff sessions live under their own session key, apart from portal sessions.

use crate::domain::event_type::EventType;
use crate::domain::staff::{StaffRole, StaffState};
use crate::domain::target::TargetKind;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use crate::domain::ids::{IdKind, StaffId};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::clock::rfc3339;
use crate::server::crypto::{hash_secret, new_secret, STAFF_TOKEN_PREFIX};
use crate::server::db::{
    self,
    staff::{StaffRow, StaffTokenRow},
};
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::totp;

/// The session key holding a [`StaffGrant`]. The portal's grant lives under `"portal"`; neither
/// ever reads the other's key.
pub const STAFF_KEY: &str = "staff";
/// How long a setup link works: 7 days.
pub const SETUP_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;
/// A staff session ends this long after sign-in, however active (on top of the idle timeout).
pub const SESSION_MAX_MS: i64 = 12 * 3600 * 1000;
/// Shortest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1000;
/// The one answer to every failed sign-in, whatever failed.
pub const SIGN_IN_FAILED: &str = "Email, password or code is wrong";
/// What a used, expired or revoked setup link answers.
pub const SETUP_GONE: &str = "This staff setup link was already used, has expired or was revoked. Ask a Lanyard operator to run `lanyard staff reset --email <your email>` for a new link.";

/// What a signed-in staff member's session holds (under [`STAFF_KEY`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StaffGrant {
    pub staff_id: String,
    pub email: String,
    /// `viewer` or `admin`.
    pub role: String,
    /// Sign-in time, Unix milliseconds.
    pub started_at: i64,
}

impl StaffGrant {
    /// Whether this grant may act (change state), not only read.
    pub fn is_admin(&self) -> bool {
        self.role == StaffRole::Admin
    }
}

impl Actor {
    /// The audit actor of a signed-in staff member.
    pub fn staff(g: &StaffGrant) -> Actor {
        staff_actor(&g.staff_id, &g.email)
    }
}

fn staff_actor(id: &str, email: &str) -> Actor {
    Actor {
        kind: crate::domain::actor::ActorKind::Staff,
        id: id.to_owned(),
        name: email.to_owned(),
    }
}

/// A staff account as shown to operators (never its secrets).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StaffMember {
    pub id: String,
    pub email: String,
    pub role: String,
    /// `pending` (setup link not completed), `active` or `disabled`.
    pub state: String,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

impl From<&StaffRow> for StaffMember {
    fn from(r: &StaffRow) -> Self {
        StaffMember {
            id: r.id.clone(),
            email: r.email.clone(),
            role: r.role.clone(),
            state: r.state.clone(),
            created_at: r.created_at,
            last_sign_in_at: r.last_sign_in_at,
        }
    }
}

/// What a setup token currently opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupStatus {
    Valid {
        email: String,
        role: String,
        /// The TOTP secret, RFC 4648 base32 without padding.
        totp_secret: String,
        /// The same secret as an `otpauth://totp/…` URI.
        otpauth_uri: String,
        expires_at: i64,
    },
    Used,
    Expired,
    Revoked,
    Unknown,
}

fn parse_role(raw: &str) -> Result<String, FieldError> {
    match StaffRole::parse(&raw.trim().to_ascii_lowercase()) {
        Some(r) => Ok(r.as_str().to_owned()),
        None => Err(FieldError::new("role", "role must be viewer or admin")),
    }
}

fn secret_context(staff_id: &str) -> String {
    format!("staff:{staff_id}:totp_secret")
}

/// The issuer authenticator apps show beside the account.
fn issuer(state: &AppState) -> String {
    format!("{} Support", state.config.branding.vendor_name)
}

fn setup_link(state: &AppState, token: &str) -> String {
    format!("{}/console/setup/{token}", state.config.base_url())
}

/// Finds an account by email address or by id (`stf_…`).
async fn find(conn: &mut db::Conn, who: &str) -> Result<StaffRow, AppError> {
    let who = who.trim();
    let row = if who.starts_with(IdKind::Staff.prefix()) {
        let id = StaffId::parse(who)
            .ok_or_else(|| FieldError::new("email", "not a staff id (stf_…)"))?;
        db::staff::get(conn, &id).await?
    } else {
        let email = crate::domain::email::EmailAddress::parse(who, "email")?.into_string();
        db::staff::find_by_email(conn, &email).await?
    };
    row.ok_or(AppError::NotFound("staff account"))
}

/// Writes a fresh setup token for `staff_id`; returns the link.
async fn issue_token(
    state: &AppState,
    tx: &mut AuditedTx,
    staff_id: &str,
) -> Result<(String, i64), AppError> {
    let now = tx.now();
    let token = new_secret(STAFF_TOKEN_PREFIX);
    let expires_at = now + SETUP_LIFETIME_MS;
    db::staff::insert_token(
        tx.conn(),
        &StaffTokenRow {
            token_hash: hash_secret(&token),
            staff_id: staff_id.to_owned(),
            created_at: now,
            expires_at,
            used_at: None,
            revoked_at: None,
        },
    )
    .await?;
    Ok((setup_link(state, &token), expires_at))
}

/// Creates a pending account and its setup link (shown once; it expires in 7 days).
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    email: &str,
    role: &str,
) -> Result<(StaffMember, String), AppError> {
    let email = crate::domain::email::EmailAddress::parse(email, "email")?.into_string();
    let role = parse_role(role)?;
    let now = state.clock.now();
    let id = db::new_id(IdKind::Staff);
    let secret = totp::base32_encode(&totp::new_secret());
    let row = StaffRow {
        id: id.clone(),
        email: email.clone(),
        role: role.clone(),
        state: StaffState::Pending.as_str().into(),
        password_hash: None,
        totp_secret_enc: state.secrets.seal(&secret, &secret_context(&id)),
        totp_last_step: None,
        created_at: now,
        updated_at: now,
        last_sign_in_at: None,
    };
    let taken = || {
        AppError::Conflict {
        code: "staff_exists",
        message: format!("a staff account for {email} already exists; use `lanyard staff reset` to send its owner a new setup link"),
        field: Some("email"),
    }
    };
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if db::staff::find_by_email(tx.conn(), &email).await?.is_some() {
        return Err(taken());
    }
    if let Err(e) = db::staff::insert(tx.conn(), &row).await {
        return Err(if db::is_unique_violation(&e) {
            taken()
        } else {
            e.into()
        });
    }
    let (link, expires_at) = issue_token(state, &mut tx, &id).await?;
    tx.record(
        None,
        EventType::StaffCreated,
        vec![Target::new(TargetKind::Staff, &id, Some(&email))],
        serde_json::json!({ "role": role, "setup_expires_at": rfc3339(expires_at) }),
    )
    .await?;
    tx.commit().await?;
    Ok((StaffMember::from(&row), link))
}

/// Starts an account over: a new TOTP secret, no password, state pending, earlier unused links
/// revoked and a new setup link returned. Also the way back for a disabled account.
pub async fn reset(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    who: &str,
) -> Result<(StaffMember, String), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let mut row = find(tx.conn(), who).await?;
    let secret = totp::base32_encode(&totp::new_secret());
    let sealed = state.secrets.seal(&secret, &secret_context(&row.id));
    let revoked = db::staff::revoke_tokens(tx.conn(), &row.id, now).await?;
    db::staff::reset(tx.conn(), &row.id, &sealed, now).await?;
    let (link, expires_at) = issue_token(state, &mut tx, &row.id).await?;
    tx.record(
        None,
        EventType::StaffReset,
        vec![Target::new(TargetKind::Staff, &row.id, Some(&row.email))],
        serde_json::json!({
            "previous_state": row.state,
            "links_revoked": revoked,
            "setup_expires_at": rfc3339(expires_at),
        }),
    )
    .await?;
    tx.commit().await?;
    row.state = StaffState::Pending.as_str().into();
    Ok((StaffMember::from(&row), link))
}

/// Disables an account: its sessions end on their next request and its setup links stop working.
pub async fn disable(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    who: &str,
) -> Result<StaffMember, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let mut row = find(tx.conn(), who).await?;
    if row.state == StaffState::Disabled {
        return Ok(StaffMember::from(&row));
    }
    db::staff::set_state(tx.conn(), &row.id, StaffState::Disabled.as_str(), now).await?;
    let revoked = db::staff::revoke_tokens(tx.conn(), &row.id, now).await?;
    tx.record(
        None,
        EventType::StaffDisabled,
        vec![Target::new(TargetKind::Staff, &row.id, Some(&row.email))],
        serde_json::json!({ "previous_state": row.state, "links_revoked": revoked }),
    )
    .await?;
    tx.commit().await?;
    row.state = StaffState::Disabled.as_str().into();
    Ok(StaffMember::from(&row))
}

/// Every staff account, oldest first.
pub async fn list(state: &AppState) -> Result<Vec<StaffMember>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::staff::list(&mut conn)
        .await?
        .iter()
        .map(StaffMember::from)
        .collect())
}

fn plausible_token(token: &str) -> bool {
    token.starts_with(STAFF_TOKEN_PREFIX) && token.len() <= 200
}

/// The token's account, if the token is known; with what the token can still do.
async fn token_status(
    state: &AppState,
    conn: &mut db::Conn,
    token: &str,
) -> Result<(SetupStatus, Option<(StaffTokenRow, StaffRow)>), AppError> {
    if !plausible_token(token) {
        return Ok((SetupStatus::Unknown, None));
    }
    let Some(tok) = db::staff::find_token(conn, &hash_secret(token)).await? else {
        return Ok((SetupStatus::Unknown, None));
    };
    let Some(staff) = db::staff::get(conn, &tok.staff_id).await? else {
        return Ok((SetupStatus::Unknown, None));
    };
    let now = state.clock.now();
    let status = if tok.revoked_at.is_some() {
        SetupStatus::Revoked
    } else if tok.used_at.is_some() {
        SetupStatus::Used
    } else if tok.expires_at <= now {
        SetupStatus::Expired
    } else if staff.state != StaffState::Pending {
        // Disabled (or completed through another link) since this link was made.
        SetupStatus::Revoked
    } else {
        let secret = state
            .secrets
            .open(&staff.totp_secret_enc, &secret_context(&staff.id))
            .ok_or_else(|| {
                AppError::Internal(format!("cannot open the TOTP secret of {}", staff.id))
            })?;
        SetupStatus::Valid {
            email: staff.email.clone(),
            role: staff.role.clone(),
            otpauth_uri: totp::otpauth_uri(&issuer(state), &staff.email, &secret),
            totp_secret: secret,
            expires_at: tok.expires_at,
        }
    };
    Ok((status, Some((tok, staff))))
}

/// Looks at a setup token without consuming it (mail scanners and previews follow links).
pub async fn inspect(state: &AppState, token: &str) -> Result<SetupStatus, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(token_status(state, &mut conn, token).await?.0)
}

fn check_password(email: &str, password: &str, confirm: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(FieldError::new(
            "password",
            format!("Choose a password of at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(FieldError::new(
            "password",
            format!("Use at most {MAX_PASSWORD_CHARS} characters."),
        ));
    }
    if password.trim().eq_ignore_ascii_case(email) {
        return Err(FieldError::new(
            "password",
            "Your password must not be your email address.",
        ));
    }
    if password != confirm {
        return Err(FieldError::new(
            "password_confirm",
            "The two passwords differ; type the same password twice.",
        ));
    }
    Ok(())
}

async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|e| AppError::Internal(format!("argon2 salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("argon2 hash: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(format!("argon2 task: {e}")))?
}

/// A hash of a random password with the same parameters, so that a sign-in with an unknown email
/// costs what one with a known email does.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let pw: [u8; 16] = rand::random();
        let salt: [u8; 16] = rand::random();
        let Ok(salt) = SaltString::encode_b64(&salt) else {
            return String::new();
        };
        Argon2::default()
            .hash_password(&pw, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Verifies `password` against a PHC string (or against the dummy hash when there is none).
async fn verify_password(password: String, phc: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let real = phc.is_some();
        let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
        let ok = PasswordHash::new(&phc)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        real && ok
    })
    .await
    .map_err(|e| AppError::Internal(format!("argon2 task: {e}")))
}

/// Completes a setup link: sets the password, proves the authenticator works with a current code,
/// activates the account and signs its owner in. Of several concurrent completions exactly one
/// succeeds; the others get `Gone`.
pub async fn complete_setup(
    state: &AppState,
    ctx: &RequestContext,
    token: &str,
    password: &str,
    password_confirm: &str,
    totp_code: &str,
) -> Result<StaffGrant, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let (status, found) = token_status(state, &mut conn, token).await?;
    drop(conn);
    let (tok, staff, step) = match (status, found) {
        (SetupStatus::Valid { totp_secret, .. }, Some((tok, staff))) => {
            check_password(&staff.email, password, password_confirm)?;
            let secret = totp::base32_decode(&totp_secret).ok_or_else(|| {
                AppError::Internal(format!("TOTP secret of {} is not base32", staff.id))
            })?;
            let Some(step) = totp::verify(&secret, totp_code, state.clock.now(), None) else {
                return Err(FieldError::new(
                    "code",
                    "That code is not right. Enter the current 6-digit code your authenticator app shows for this account (check that your phone's clock is right).",
                )
                .into());
            };
            (tok, staff, step)
        }
        (SetupStatus::Unknown, _) => return Err(AppError::NotFound("staff setup link")),
        _ => return Err(AppError::Gone(SETUP_GONE.into())),
    };
    let hash = hash_password(password.to_owned()).await?;
    let now = state.clock.now();
    let actor = staff_actor(&staff.id, &staff.email);
    let mut tx = AuditedTx::begin(&state.db, &actor, ctx, now).await?;
    if !db::staff::use_token(tx.conn(), &tok.token_hash, now).await?
        || !db::staff::activate(tx.conn(), &staff.id, &hash, step, now).await?
    {
        return Err(AppError::Gone(SETUP_GONE.into()));
    }
    tx.record(
        None,
        EventType::StaffSetupCompleted,
        vec![Target::new(
            TargetKind::Staff,
            &staff.id,
            Some(&staff.email),
        )],
        serde_json::json!({ "role": staff.role, "second_factor": "totp" }),
    )
    .await?;
    tx.commit().await?;
    Ok(StaffGrant {
        staff_id: staff.id,
        email: staff.email,
        role: staff.role,
        started_at: now,
    })
}

async fn record_failure(
    state: &AppState,
    ctx: &RequestContext,
    staff: Option<&StaffRow>,
    email: Option<&str>,
    reason: &str,
) -> Result<(), AppError> {
    let now = state.clock.now();
    // Whoever failed is not known to be the staff member: the account is the target, the actor
    // is anonymous.
    let (actor, targets) = match staff {
        Some(s) => (
            Actor {
                kind: crate::domain::actor::ActorKind::Anonymous,
                id: "anonymous".into(),
                name: s.email.clone(),
            },
            vec![Target::new(TargetKind::Staff, &s.id, Some(&s.email))],
        ),
        None => (
            Actor {
                kind: crate::domain::actor::ActorKind::Anonymous,
                id: "anonymous".into(),
                // Only a well-formed address is kept: people type passwords into the wrong field.
                name: email.unwrap_or("unknown").to_owned(),
            },
            vec![],
        ),
    };
    let mut tx = AuditedTx::begin(&state.db, &actor, ctx, now).await?;
    tx.record(
        None,
        EventType::StaffSignInFailed,
        targets,
        serde_json::json!({ "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Signs a staff member in with email, password and a TOTP code not used before. Every failure,
/// whatever its cause, answers the same `Unauthorized(SIGN_IN_FAILED)` after the same Argon2 work;
/// the cause goes to the audit trail (`staff.sign_in_failed`).
pub async fn sign_in(
    state: &AppState,
    ctx: &RequestContext,
    email: &str,
    password: &str,
    code: &str,
) -> Result<StaffGrant, AppError> {
    let email = crate::domain::email::EmailAddress::parse(email, "email")
        .ok()
        .map(crate::domain::email::EmailAddress::into_string);
    let staff = match &email {
        Some(e) => {
            let mut conn = state.db.pool.acquire().await?;
            db::staff::find_by_email(&mut conn, e).await?
        }
        None => None,
    };
    let password_ok = verify_password(
        password.to_owned(),
        staff.as_ref().and_then(|s| s.password_hash.clone()),
    )
    .await?;
    let now = state.clock.now();
    // Why it failed: for the audit trail, never for the client.
    let reason = match &staff {
        None => "unknown_email",
        Some(s) if s.state == StaffState::Disabled => "account_disabled",
        Some(s) if s.state != StaffState::Active => "setup_not_completed",
        Some(_) if !password_ok => "wrong_password",
        Some(s) => {
            let secret = state
                .secrets
                .open(&s.totp_secret_enc, &secret_context(&s.id))
                .and_then(|b| totp::base32_decode(&b))
                .ok_or_else(|| {
                    AppError::Internal(format!("cannot open the TOTP secret of {}", s.id))
                })?;
            match totp::verify(&secret, code, now, s.totp_last_step) {
                Some(step) => {
                    let mut tx =
                        AuditedTx::begin(&state.db, &staff_actor(&s.id, &s.email), ctx, now)
                            .await?;
                    // Conditional: of two sign-ins racing with one code, one wins.
                    if db::staff::accept_step(tx.conn(), &s.id, step, now).await? {
                        tx.record(
                            None,
                            EventType::StaffSignedIn,
                            vec![Target::new(TargetKind::Staff, &s.id, Some(&s.email))],
                            serde_json::json!({ "role": s.role }),
                        )
                        .await?;
                        tx.commit().await?;
                        return Ok(StaffGrant {
                            staff_id: s.id.clone(),
                            email: s.email.clone(),
                            role: s.role.clone(),
                            started_at: now,
                        });
                    }
                    drop(tx);
                    "replayed_code"
                }
                None if totp::verify(&secret, code, now, None).is_some() => "replayed_code",
                None => "wrong_code",
            }
        }
    };
    record_failure(state, ctx, staff.as_ref(), email.as_deref(), reason).await?;
    Err(AppError::Unauthorized(SIGN_IN_FAILED.into()))
}

/// Warns a staff member that their account is under attack: `failures` sign-ins for `email`
/// failed, from any address, within the last `window_ms`. Nothing is refused because of it — the
/// owner's correct password and code still sign in — but the account's owner and the audit trail
/// hear of it: an audit event `staff.sign_in_failures_alert` and a notice mail to the account.
/// The caller decides when (once per window); nothing happens for an address that is no account.
pub async fn alert_failed_sign_ins(
    state: &AppState,
    ctx: &RequestContext,
    email: &str,
    failures: u32,
    window_ms: i64,
) -> Result<bool, AppError> {
    let Ok(email) = crate::domain::email::EmailAddress::parse(email, "email")
        .map(crate::domain::email::EmailAddress::into_string)
    else {
        return Ok(false);
    };
    let now = state.clock.now();
    let mut conn = state.db.pool.acquire().await?;
    let Some(staff) = db::staff::find_by_email(&mut conn, &email).await? else {
        return Ok(false);
    };
    drop(conn);
    let minutes = window_ms / 60_000;
    let actor = Actor {
        kind: crate::domain::actor::ActorKind::Anonymous,
        id: "anonymous".into(),
        name: staff.email.clone(),
    };
    let mut tx = AuditedTx::begin(&state.db, &actor, ctx, now).await?;
    tx.record(
        None,
        EventType::StaffSignInFailuresAlert,
        vec![Target::new(
            TargetKind::Staff,
            &staff.id,
            Some(&staff.email),
        )],
        serde_json::json!({ "failures": failures, "window_minutes": minutes }),
    )
    .await?;
    let vendor = &state.config.branding.vendor_name;
    let console = format!("{}/console/signin", state.config.base_url());
    let subject = format!("Failed sign-ins to your {vendor} support console account");
    let text = format!(
        "{failures} sign-ins to the support console account {email} failed in the last {minutes} minutes.\n\n\
         Your account is not locked: your password and a fresh code from your authenticator still sign you in at {console}.\n\
         If these attempts were not yours, someone may be guessing your password. Tell whoever runs Lanyard; \
         they can give you a new password and authenticator with `lanyard staff reset --email {email}`.\n",
        email = staff.email,
    );
    let esc = crate::domain::text::escape_html;
    let html = format!(
        r#"<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#0f172a;max-width:560px;margin:24px auto">
<h1 style="font-size:20px">Failed sign-ins to your support console account</h1>
<p>{failures} sign-ins to the support console account <strong>{email}</strong> failed in the last {minutes} minutes.</p>
<p>Your account is not locked: your password and a fresh code from your authenticator still sign you in at <a href="{console}">{console}</a>.</p>
<p style="font-size:13px;color:#475569">If these attempts were not yours, someone may be guessing your password. Tell whoever runs Lanyard; they can give you a new password and authenticator with <code>lanyard staff reset --email {email}</code>.</p>
</body></html>"#,
        email = esc(&staff.email),
        console = esc(&console),
    );
    crate::server::mail::queue(
        &mut tx,
        &state.secrets,
        crate::server::mail::MailFor::default(),
        &staff.email,
        subject,
        &text,
        &html,
    )
    .await?;
    tx.commit().await?;
    state.mail_kick.notify_one();
    Ok(true)
}

/// Whether a session's grant still holds: the account exists, is active, has the grant's role,
/// and the session began less than [`SESSION_MAX_MS`] ago. Check it on every console request, so
/// that disabling someone or changing their role ends their sessions at once.
pub async fn active_grant(state: &AppState, grant: &StaffGrant) -> Result<bool, AppError> {
    if state.clock.now() - grant.started_at >= SESSION_MAX_MS {
        return Ok(false);
    }
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::staff::get(&mut conn, &grant.staff_id)
        .await?
        .is_some_and(|s| {
            s.state == StaffState::Active && s.role == grant.role && s.email == grant.email
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_viewer_or_admin() {
        assert_eq!(parse_role(" Admin ").unwrap(), "admin");
        assert_eq!(parse_role("viewer").unwrap(), "viewer");
        assert_eq!(parse_role("owner").unwrap_err().field, "role");
    }

    #[test]
    fn passwords_are_long_not_the_email_and_confirmed() {
        let e = "dana@acme.com";
        assert_eq!(
            check_password(e, "short", "short").unwrap_err().field,
            "password"
        );
        assert_eq!(
            check_password(e, "Dana@Acme.com", "Dana@Acme.com")
                .unwrap_err()
                .field,
            "password"
        );
        assert_eq!(
            check_password(e, "correct horse battery", "correct horse batterY")
                .unwrap_err()
                .field,
            "password_confirm"
        );
        assert!(check_password(e, "correct horse battery", "correct horse battery").is_ok());
    }

    #[test]
    fn grants_round_trip_through_json() {
        let g = StaffGrant {
            staff_id: "stf_01JDZQ8V6M3W9X4N5P7R2S0T1A".into(),
            email: "dana@acme.com".into(),
            role: "viewer".into(),
            started_at: 1,
        };
        let back: StaffGrant = serde_json::from_value(serde_json::to_value(&g).unwrap()).unwrap();
        assert_eq!(back, g);
        assert!(!g.is_admin());
        assert_eq!(Actor::staff(&g).kind, "staff");
    }
}
