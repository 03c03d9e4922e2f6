//! Tenant health, drift and the credentials inventory: what support staff and the vendor's
//! backend read to answer "is Acme's SSO working, why can't this person sign in, what is about to
//! break". Everything here reads; the only write is the snapshot the scheduled job (or an
//! on-demand check) keeps so the tenants list can sort by "needs attention" without recomputing
//! every organization.

use crate::domain::connection::ConnectionState;
use crate::domain::domain_state::DomainState;
use crate::domain::event_type::EventType;
use crate::domain::health::{
    CredentialFlag, CredentialKind, DriftKind, HealthStatus, Severity, SignalArea,
};
use crate::domain::membership::GrantKind;
use serde::{Deserialize, Serialize};

use crate::server::db::{self, health as q, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

const DAY_MS: i64 = 86_400_000;
/// A credential unused for this long is flagged.
pub const UNUSED_DAYS: i64 = 90;
/// A credential older than this is due for rotation.
pub const ROTATION_DAYS: i64 = 365;
/// Certificates and tokens expiring within this many days are flagged.
pub const EXPIRING_DAYS: i64 = 30;
/// Default for "members with no sign-in for N days".
pub const DEFAULT_INACTIVE_DAYS: i64 = 90;
/// A search matching at most this many tenants checks them now rather than showing snapshots.
const FRESH_ON_SEARCH: usize = 5;
/// A directory that has not called for this long while it has users is flagged.
const DIRECTORY_SILENT_DAYS: i64 = 7;

/// Something support should look at, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Signal {
    /// `error` (something is failing now) or `warning` (something will break or drifted).
    pub severity: String,
    /// sso | directory | domains | invitations | drift | credentials
    pub area: String,
    pub message: String,
}

/// A SAML signing certificate close to (or past) its expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpiringCertificate {
    pub fingerprint: String,
    pub subject: String,
    pub not_after: i64,
}

/// One SSO connection's sign-in record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectionHealth {
    pub id: String,
    pub name: String,
    /// oidc | saml
    #[serde(rename = "type")]
    pub kind: String,
    /// draft | active | inactive
    pub state: String,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub last_failure_reason: Option<String>,
    pub failures_24h: i64,
    /// Certificates expiring within 30 days (or expired).
    pub certificates_expiring: Vec<ExpiringCertificate>,
}

/// One directory's traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryHealthLine {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub authoritative: bool,
    pub last_request_at: Option<i64>,
    pub requests_24h: i64,
    pub errors_24h: i64,
    /// errors / requests over the last 24 hours (0 when there were none).
    pub error_rate: f64,
    pub last_error: Option<String>,
    /// Age of the newest live bearer token.
    pub token_age_days: Option<i64>,
    pub users: i64,
}

/// Domains by state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DomainCounts {
    pub verified: i64,
    pub pending: i64,
    pub failed: i64,
    pub lapsed: i64,
}

/// Pending invitations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvitationCounts {
    pub pending: i64,
    /// Pending, whose last email failed or is being retried after an error.
    pub bouncing: i64,
    /// Still pending although their expiry passed (the sweep has not run yet).
    pub past_expiry: i64,
}

/// `GET /organizations/{id}/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrganizationHealth {
    pub organization_id: String,
    pub organization_name: String,
    /// ok | attention | failing
    pub status: String,
    /// Higher needs attention sooner (errors weigh ten warnings).
    pub score: i64,
    pub computed_at: i64,
    pub connections: Vec<ConnectionHealth>,
    pub directories: Vec<DirectoryHealthLine>,
    pub domains: DomainCounts,
    pub invitations: InvitationCounts,
    pub setup_links_outstanding: i64,
    pub drift_findings: i64,
    pub credentials_flagged: i64,
    /// What needs attention, worst first.
    pub signals: Vec<Signal>,
}

/// One drift finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DriftFinding {
    /// deactivated_in_directory | absent_from_directory | joined_outside_directory |
    /// role_from_departed_group | domain_lapsed | domain_owned_elsewhere | inactive |
    /// invitation_past_expiry
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// What is wrong and what to do, in words.
    pub detail: String,
}

/// `GET /organizations/{id}/drift`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DriftReport {
    pub data: Vec<DriftFinding>,
    pub computed_at: i64,
}

/// A non-human credential, described without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credential {
    /// scim_token | api_key | webhook_secret | log_stream_credential | idp_client_secret |
    /// saml_certificate
    pub kind: String,
    /// The credential's own id (token, key, endpoint, connection or certificate).
    pub id: String,
    /// What it belongs to, in words ("Okta production (dir_…)").
    pub name: String,
    /// The last characters of a token, or a certificate's fingerprint prefix; never the secret.
    pub hint: Option<String>,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// unused_90_days | rotation_overdue | expiring_soon | expired
    pub flags: Vec<String>,
}

fn days_ago(now: i64, t: i64) -> i64 {
    crate::server::timefmt::days_between(t, now)
}

fn when(t: i64) -> String {
    crate::server::timefmt::rfc3339(t)
}

/// Flags for a credential.
pub fn credential_flags(
    now: i64,
    created_at: i64,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
    rotates: bool,
) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(e) = expires_at {
        if e <= now {
            flags.push(CredentialFlag::Expired.as_str().to_owned());
        } else if e - now <= EXPIRING_DAYS * DAY_MS {
            flags.push(CredentialFlag::ExpiringSoon.as_str().to_owned());
        }
    }
    let idle_since = last_used_at.unwrap_or(created_at);
    if now - idle_since >= UNUSED_DAYS * DAY_MS {
        flags.push(CredentialFlag::Unused90Days.as_str().to_owned());
    }
    if rotates && now - created_at >= ROTATION_DAYS * DAY_MS {
        flags.push(CredentialFlag::RotationOverdue.as_str().to_owned());
    }
    flags
}

async fn organization_name(conn: &mut Conn, id: &str) -> Result<String, AppError> {
    db::organizations::get(conn, id)
        .await?
        .map(|o| o.name)
        .ok_or(AppError::NotFound("organization"))
}

/// The organization's credentials: SCIM tokens, log-stream credentials, IdP client secrets and
/// SAML certificates. (Vendor API keys and webhook secrets are vendor-wide: [`vendor_credentials`].)
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn credentials(
    state: &AppState,
    organization_id: &str,
) -> Result<Vec<Credential>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    organization_name(&mut conn, organization_id).await?;
    organization_credentials(&mut conn, organization_id, state.clock.now(), true).await
}

/// Who created a credential (from the audit trail), when asked for: the health check only
/// counts flags and skips these lookups.
async fn creator(
    conn: &mut Conn,
    wanted: bool,
    organization_id: Option<&str>,
    actions: &[EventType],
    target_id: &str,
    at: i64,
) -> Result<Option<String>, AppError> {
    if !wanted {
        return Ok(None);
    }
    Ok(q::creator(conn, organization_id, actions, target_id, at).await?)
}

async fn organization_credentials(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    with_creators: bool,
) -> Result<Vec<Credential>, AppError> {
    let org = Some(organization_id);
    let mut out = Vec::new();
    scim_token_credentials(conn, organization_id, now, with_creators, &mut out).await?;
    oidc_secret_credentials(conn, organization_id, now, with_creators, &mut out).await?;
    saml_certificate_credentials(conn, organization_id, now, with_creators, &mut out).await?;
    out.extend(endpoint_credentials(conn, org, now, with_creators).await?);
    Ok(out)
}

/// The SCIM bearer tokens of the organization's directories.
async fn scim_token_credentials(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    with_creators: bool,
    out: &mut Vec<Credential>,
) -> Result<(), AppError> {
    let org = Some(organization_id);
    for q::ScimTokenRow {
        id,
        directory_id: dir_id,
        directory_name: dir_name,
        hint,
        created_at,
        last_used_at,
        expires_at,
    } in q::scim_tokens(conn, organization_id, now).await?
    {
        let created_by = creator(
            conn,
            with_creators,
            org,
            &[
                EventType::DirectoryCreated,
                EventType::DirectoryTokenRotated,
            ],
            &dir_id,
            created_at,
        )
        .await?;
        out.push(Credential {
            kind: CredentialKind::ScimToken.as_str().into(),
            id,
            name: format!("SCIM token of {dir_name} ({dir_id})"),
            hint: Some(format!("…{hint}")),
            created_at,
            created_by,
            last_used_at,
            expires_at,
            flags: credential_flags(now, created_at, last_used_at, expires_at, true),
        });
    }
    Ok(())
}

/// The client secrets of the organization's OIDC connections.
async fn oidc_secret_credentials(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    with_creators: bool,
    out: &mut Vec<Credential>,
) -> Result<(), AppError> {
    let org = Some(organization_id);
    for q::OidcSecret {
        id,
        name,
        created_at,
        updated_at,
        last_sign_in_at: last,
    } in q::oidc_secrets(conn, organization_id).await?
    {
        let created_by = creator(
            conn,
            with_creators,
            org,
            &[EventType::ConnectionCreated, EventType::ConnectionUpdated],
            &id,
            updated_at.max(created_at),
        )
        .await?;
        out.push(Credential {
            kind: CredentialKind::IdpClientSecret.as_str().into(),
            name: format!("OIDC client secret of {name} ({id})"),
            id,
            hint: None,
            // The secret may have been replaced by an edit since.
            created_at: updated_at.max(created_at),
            created_by,
            last_used_at: last,
            expires_at: None,
            flags: credential_flags(now, updated_at.max(created_at), last, None, true),
        });
    }
    Ok(())
}

/// The IdP signing certificates pinned on the organization's SAML connections.
async fn saml_certificate_credentials(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    with_creators: bool,
    out: &mut Vec<Credential>,
) -> Result<(), AppError> {
    let org = Some(organization_id);
    for q::CertRow {
        id,
        connection_id: conn_id,
        connection_name: conn_name,
        fingerprint,
        subject,
        not_after,
        created_at,
    } in q::certificates(conn, organization_id).await?
    {
        let last = q::connection_last_sign_in(conn, &conn_id).await?;
        out.push(Credential {
            kind: CredentialKind::SamlCertificate.as_str().into(),
            id,
            name: format!("SAML signing certificate of {conn_name} ({conn_id}): {subject}"),
            hint: Some(fingerprint.chars().take(23).collect()),
            created_at,
            created_by: creator(
                conn,
                with_creators,
                org,
                &[EventType::ConnectionCreated, EventType::ConnectionUpdated],
                &conn_id,
                created_at,
            )
            .await?,
            last_used_at: last,
            expires_at: Some(not_after),
            // The IdP rotates its certificate; its expiry is what matters.
            flags: credential_flags(now, created_at, last, Some(not_after), false),
        });
    }
    Ok(())
}

async fn endpoint_credentials(
    conn: &mut Conn,
    organization_id: Option<&str>,
    now: i64,
    with_creators: bool,
) -> Result<Vec<Credential>, AppError> {
    let mut out = Vec::new();
    for q::EndpointCredRow {
        id,
        organization_id: org,
        kind,
        name,
        url,
        created_at,
        prev_secret_expires_at: prev_expires,
        has_credential,
        last_attempt_at: last,
    } in q::endpoint_credentials(conn, organization_id).await?
    {
        // A rotation keeps the old secret for 24 hours: the current one is that much younger.
        let secret_at = prev_expires.map_or(created_at, |e| e - DAY_MS);
        // Receivers sometimes take their token in the URL: never show more than host and path.
        let label = name
            .clone()
            .unwrap_or_else(|| crate::server::outbound::redact_url(&url));
        let created_by = creator(
            conn,
            with_creators,
            organization_id,
            &[
                EventType::WebhookEndpointCreated,
                EventType::WebhookEndpointSecretRotated,
                EventType::LogStreamCreated,
            ],
            &id,
            secret_at,
        )
        .await?;
        if org.is_none() || kind == "json" {
            out.push(Credential {
                kind: CredentialKind::WebhookSecret.as_str().into(),
                id: id.clone(),
                name: format!("Signing secret of {label} ({id})"),
                hint: None,
                created_at: secret_at,
                created_by: created_by.clone(),
                last_used_at: last,
                expires_at: None,
                flags: credential_flags(now, secret_at, last, None, true),
            });
        }
        if has_credential {
            out.push(Credential {
                kind: CredentialKind::LogStreamCredential.as_str().into(),
                id: id.clone(),
                name: format!("{kind} credential of log stream {label} ({id})"),
                hint: None,
                created_at,
                created_by,
                last_used_at: last,
                expires_at: None,
                flags: credential_flags(now, created_at, last, None, true),
            });
        }
    }
    Ok(out)
}

/// Vendor-wide credentials: API keys and webhook signing secrets.
pub async fn vendor_credentials(state: &AppState) -> Result<Vec<Credential>, AppError> {
    let now = state.clock.now();
    let mut conn = state.db.pool.acquire().await?;
    let mut out = Vec::new();
    for k in db::api_keys::list(&mut conn).await? {
        if k.revoked_at.is_some() {
            continue;
        }
        let created_by = creator(
            &mut conn,
            true,
            None,
            &[EventType::ApiKeyCreated],
            &k.id,
            k.created_at,
        )
        .await?;
        out.push(Credential {
            kind: CredentialKind::ApiKey.as_str().into(),
            flags: credential_flags(now, k.created_at, k.last_used_at, None, true),
            name: format!("API key {} ({})", k.name, k.id),
            id: k.id,
            hint: Some(format!("…{}", k.hint)),
            created_at: k.created_at,
            created_by,
            last_used_at: k.last_used_at,
            expires_at: None,
        });
    }
    out.extend(endpoint_credentials(&mut conn, None, now, true).await?);
    Ok(out)
}

async fn compute_health(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    drift_findings: i64,
) -> Result<OrganizationHealth, AppError> {
    let organization_name = organization_name(conn, organization_id).await?;
    let mut signals = Signals::default();
    let connections = connections_health(conn, organization_id, now, &mut signals).await?;
    let directories = directories_health(conn, organization_id, now, &mut signals).await?;
    let domains = domain_counts(conn, organization_id).await?;
    domain_signals(&domains, &mut signals);
    let q::PendingInvitationCounts {
        unexpired: pending,
        past_expiry,
        bouncing,
    } = q::invitation_counts(conn, organization_id, now).await?;
    let invitations = InvitationCounts {
        pending: pending + past_expiry,
        bouncing,
        past_expiry,
    };
    if bouncing > 0 {
        signals.say(
            Severity::Warning,
            SignalArea::Invitations,
            format!("{bouncing} invitation email(s) could not be delivered"),
        );
    }
    if q::admin_gap(conn, organization_id).await? {
        signals.say(Severity::Error, SignalArea::Members, "No active admin: the last one was suspended or removed (see membership.last_admin_deprovisioned in the timeline); someone must be made admin".into());
    }
    let setup_links_outstanding = q::outstanding_links(conn, organization_id, now).await?;
    if drift_findings > 0 {
        signals.say(
            Severity::Warning,
            SignalArea::Drift,
            format!("{drift_findings} drift finding(s): access and the organization's sources of truth disagree"),
        );
    }
    let credentials_flagged = credentials_flagged(conn, organization_id, now).await?;
    if credentials_flagged > 0 {
        signals.say(
            Severity::Warning,
            SignalArea::Credentials,
            format!(
                "{credentials_flagged} credential(s) expiring, expired or overdue for rotation"
            ),
        );
    }
    let (status, score, signals) = signals.verdict();
    Ok(OrganizationHealth {
        organization_id: organization_id.to_owned(),
        organization_name,
        status: status.as_str().into(),
        score,
        computed_at: now,
        connections,
        directories,
        domains,
        invitations,
        setup_links_outstanding,
        drift_findings,
        credentials_flagged,
        signals,
    })
}

/// The signals of one health computation, in the order they were found.
#[derive(Default)]
struct Signals(Vec<Signal>);

impl Signals {
    fn say(&mut self, severity: Severity, area: SignalArea, message: String) {
        self.0.push(Signal {
            severity: severity.as_str().into(),
            area: area.as_str().into(),
            message,
        })
    }

    /// Errors first (otherwise in the order found); the status (`failing` with any error,
    /// `attention` with only warnings, else `ok`) and the score (10 per error, 1 per warning).
    fn verdict(self) -> (HealthStatus, i64, Vec<Signal>) {
        let mut signals = self.0;
        signals.sort_by_key(|s| if s.severity == Severity::Error { 0 } else { 1 });
        let errors = signals
            .iter()
            .filter(|s| s.severity == Severity::Error)
            .count() as i64;
        let warnings = signals.len() as i64 - errors;
        let status = if errors > 0 {
            HealthStatus::Failing
        } else if warnings > 0 {
            HealthStatus::Attention
        } else {
            HealthStatus::Ok
        };
        (status, errors * 10 + warnings, signals)
    }
}

/// Each SSO connection: its sign-ins in the last 24 hours and its certificates expiring soon.
async fn connections_health(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    signals: &mut Signals,
) -> Result<Vec<ConnectionHealth>, AppError> {
    let certs = q::certificates(conn, organization_id).await?;
    let mut connections = Vec::new();
    for q::ConnectionStats {
        id,
        name,
        kind,
        state: st,
        last_success_at: ok_at,
        last_failure_at: fail_at,
        last_failure_reason: reason,
        failures,
    } in q::connections(conn, organization_id, now - DAY_MS).await?
    {
        let certificates_expiring: Vec<ExpiringCertificate> = certs
            .iter()
            .filter(|c| c.connection_id == id && c.not_after - now <= EXPIRING_DAYS * DAY_MS)
            .map(|c| ExpiringCertificate {
                fingerprint: c.fingerprint.clone(),
                subject: c.subject.clone(),
                not_after: c.not_after,
            })
            .collect();
        let line = ConnectionHealth {
            id,
            name,
            kind,
            state: st,
            last_success_at: ok_at,
            last_failure_at: fail_at,
            last_failure_reason: reason,
            failures_24h: failures,
            certificates_expiring,
        };
        connection_signals(&line, now, signals);
        connections.push(line);
    }
    Ok(connections)
}

/// An active connection failing or with expiring certificates; a draft nobody can use yet.
fn connection_signals(c: &ConnectionHealth, now: i64, signals: &mut Signals) {
    let name = &c.name;
    let failures = c.failures_24h;
    if c.state == ConnectionState::Active {
        // One refused person (wrong domain, suspended) is not an outage: failing means
        // several failures and no success since.
        let failing = failures >= 3 && c.last_failure_at > c.last_success_at;
        if failing {
            signals.say(
                Severity::Error,
                SignalArea::Sso,
                format!(
                    "Sign-ins through {name} are failing: {} ({failures} in the last 24 hours, none succeeded since)",
                    c.last_failure_reason.clone().unwrap_or_else(|| "unknown reason".into())
                ),
            );
        } else if failures > 0 {
            signals.say(
                Severity::Warning,
                SignalArea::Sso,
                format!("{failures} sign-ins through {name} failed in the last 24 hours"),
            );
        }
        for cert in &c.certificates_expiring {
            if cert.not_after <= now {
                signals.say(Severity::Error, SignalArea::Sso, format!("The SAML certificate of {name} ({}) expired on {}: sign-ins fail until the IdP's new certificate is added", cert.subject, when(cert.not_after)));
            } else {
                signals.say(
                    Severity::Warning,
                    SignalArea::Sso,
                    format!(
                        "The SAML certificate of {name} ({}) expires on {} (in {} days)",
                        cert.subject,
                        when(cert.not_after),
                        (cert.not_after - now) / DAY_MS
                    ),
                );
            }
        }
    } else if c.state == ConnectionState::Draft {
        signals.say(
            Severity::Warning,
            SignalArea::Sso,
            format!("SSO connection {name} is still a draft: nobody can sign in through it until it is tested and activated"),
        );
    }
}

/// Each directory: its SCIM traffic in the last 24 hours, last error, token age and users.
async fn directories_health(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    signals: &mut Signals,
) -> Result<Vec<DirectoryHealthLine>, AppError> {
    let mut directories = Vec::new();
    for d in db::directories::list_directories(conn, organization_id).await? {
        let db::scim_log::RequestStats {
            requests: requests_24h,
            errors: errors_24h,
            last_request_at,
        } = db::scim_log::request_stats(conn, &d.id, now - DAY_MS).await?;
        let last_error = db::scim_log::last_error(conn, &d.id)
            .await?
            .map(|l| format!("{} {} {}", l.status, l.method, l.path));
        let token_age_days = db::directory_tokens::live_tokens(conn, &d.id, now)
            .await?
            .iter()
            .map(|t| t.created_at)
            .max()
            .map(|c| days_ago(now, c));
        let users = db::directory_users::page_users(conn, &d.id, None, 0, 0)
            .await?
            .total;
        let error_rate = if requests_24h > 0 {
            errors_24h as f64 / requests_24h as f64
        } else {
            0.0
        };
        let line = DirectoryHealthLine {
            id: d.id,
            name: d.name,
            kind: d.kind,
            authoritative: d.authoritative != 0,
            last_request_at,
            requests_24h,
            errors_24h,
            error_rate,
            last_error,
            token_age_days,
            users,
        };
        directory_signals(&line, now, signals);
        directories.push(line);
    }
    Ok(directories)
}

/// A directory whose requests fail, that never called or went silent, or whose token is old.
fn directory_signals(d: &DirectoryHealthLine, now: i64, signals: &mut Signals) {
    let name = &d.name;
    let (errors_24h, requests_24h) = (d.errors_24h, d.requests_24h);
    if errors_24h > 0 && d.error_rate >= 0.5 {
        signals.say(Severity::Error, SignalArea::Directory, format!("Directory {name}: {errors_24h} of {requests_24h} requests failed in the last 24 hours (last: {})", d.last_error.clone().unwrap_or_default()));
    } else if errors_24h > 0 {
        signals.say(
            Severity::Warning,
            SignalArea::Directory,
            format!("Directory {name}: {errors_24h} of {requests_24h} requests failed in the last 24 hours"),
        );
    }
    match d.last_request_at {
        None => signals.say(
            Severity::Warning,
            SignalArea::Directory,
            format!("Directory {name} has never called Lanyard: check the SCIM base URL and token in the IdP"),
        ),
        Some(t) if d.users > 0 && now - t > DIRECTORY_SILENT_DAYS * DAY_MS => signals.say(
            Severity::Warning,
            SignalArea::Directory,
            format!("Directory {name} has not called Lanyard since {}: changes in the IdP may not be arriving", when(t)),
        ),
        _ => {}
    }
    if d.token_age_days.is_some_and(|a| a >= ROTATION_DAYS) {
        signals.say(
            Severity::Warning,
            SignalArea::Credentials,
            format!(
                "The SCIM token of directory {name} is over {ROTATION_DAYS} days old: rotate it"
            ),
        );
    }
}

/// The organization's domains counted by state.
async fn domain_counts(conn: &mut Conn, organization_id: &str) -> Result<DomainCounts, AppError> {
    let mut domains = DomainCounts::default();
    for q::DomainStateCount {
        state: st,
        domains: n,
    } in q::domain_states(conn, organization_id).await?
    {
        match DomainState::parse(&st) {
            Some(DomainState::Verified) => domains.verified = n,
            Some(DomainState::Pending) => domains.pending = n,
            Some(DomainState::Failed) => domains.failed = n,
            Some(DomainState::Lapsed) => domains.lapsed = n,
            None => {}
        }
    }
    Ok(domains)
}

/// Lapsed domains are an error; failed and pending ones a warning.
fn domain_signals(domains: &DomainCounts, signals: &mut Signals) {
    if domains.lapsed > 0 {
        signals.say(Severity::Error, SignalArea::Domains, format!("{} domain(s) lapsed: the DNS record that proved ownership is gone, so sign-ins and JIT for those addresses stop", domains.lapsed));
    }
    if domains.failed > 0 {
        signals.say(
            Severity::Warning,
            SignalArea::Domains,
            format!(
                "{} domain(s) failed verification: the TXT record was not found",
                domains.failed
            ),
        );
    }
    if domains.pending > 0 {
        signals.say(
            Severity::Warning,
            SignalArea::Domains,
            format!("{} domain(s) waiting for their TXT record", domains.pending),
        );
    }
}

/// The organization's credentials flagged for anything but disuse.
async fn credentials_flagged(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
) -> Result<i64, AppError> {
    Ok(organization_credentials(conn, organization_id, now, false)
        .await?
        .iter()
        .filter(|c| c.flags.iter().any(|f| *f != CredentialFlag::Unused90Days))
        .count() as i64)
}

fn s<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("")
}

/// Computes the drift report of one organization. Directory findings ask the very gate that
/// admits sign-ins and invitations (`directories::gate`), so the report and enforcement cannot
/// disagree about who an authoritative directory lets in.
async fn compute_drift(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    inactive_days: i64,
) -> Result<Vec<DriftFinding>, AppError> {
    let mut out = Vec::new();
    let members = q::active_members(conn, organization_id).await?;
    let facts = DriftFacts::load(conn, organization_id).await?;
    let mut domain_cache: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    let mut owner_cache: std::collections::HashMap<String, bool> = std::collections::HashMap::new();

    for m in &members {
        if !facts.authoritative.is_empty() {
            directory_findings(&facts, m, &mut out);
        }
        domain_owned_elsewhere_finding(conn, organization_id, m, &mut owner_cache, &mut out)
            .await?;
        if let Some((group, name)) = facts.departed.get(&m.id) {
            let what = match name {
                Some(n) => format!("directory group {n}, which they have left"),
                None => format!("directory group {group}, which no longer exists"),
            };
            out.push(member_finding(
                m,
                DriftKind::RoleFromDepartedGroup,
                format!("{} holds role {} through {what}: the next directory push should change it; if it doesn't, check the group mapping", m.email, m.role),
            ));
        }
        domain_lapsed_finding(
            conn,
            organization_id,
            &facts,
            m,
            &mut domain_cache,
            &mut out,
        )
        .await?;
        inactive_finding(m, now, inactive_days, &mut out);
    }
    for q::OverdueInvitation {
        id,
        email,
        expires_at,
    } in q::overdue_invitations(conn, organization_id, now).await?
    {
        out.push(DriftFinding {
            kind: DriftKind::InvitationPastExpiry.as_str().into(),
            membership_id: None,
            invitation_id: Some(id),
            email: Some(email.clone()),
            detail: format!("The invitation to {email} expired on {} but is still pending: it will be marked expired by the next sweep; its link already refuses", when(expires_at)),
        });
    }
    Ok(out)
}

/// What the drift report reads once per organization, before looking at each member.
struct DriftFacts {
    /// Membership id → the kind and detail of the grant that made them a member.
    origins: std::collections::HashMap<String, (String, serde_json::Value)>,
    authoritative: Vec<q::AuthoritativeDirectory>,
    /// The authoritative directories' names, for the findings' words.
    dir_names: String,
    /// The rows the sign-in gate reads.
    index: super::directories::AuthoritativeIndex,
    /// Membership id → the departed group (id, name) their role still comes from.
    departed: std::collections::HashMap<String, (String, Option<String>)>,
}

impl DriftFacts {
    async fn load(conn: &mut Conn, organization_id: &str) -> Result<Self, AppError> {
        let origins: std::collections::HashMap<String, (String, serde_json::Value)> =
            q::origin_grants(conn, organization_id)
                .await?
                .into_iter()
                .map(|g| {
                    let detail = serde_json::from_str(&g.detail).unwrap_or_default();
                    (g.membership_id, (g.kind, detail))
                })
                .collect();
        let authoritative = q::authoritative_directories(conn, organization_id).await?;
        let dir_names = authoritative
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        // The rows the sign-in gate reads, loaded once; the verdict is the gate's own function.
        let index = super::directories::AuthoritativeIndex::new(if authoritative.is_empty() {
            Vec::new()
        } else {
            q::authoritative_flags(conn, organization_id).await?
        });
        let departed: std::collections::HashMap<String, (String, Option<String>)> =
            q::departed_group_roles(conn, organization_id)
                .await?
                .into_iter()
                .map(|d| (d.membership_id, (d.group_id, d.group_name)))
                .collect();
        Ok(DriftFacts {
            origins,
            authoritative,
            dir_names,
            index,
            departed,
        })
    }
}

/// A finding about member `m`.
fn member_finding(m: &q::ActiveMember, kind: DriftKind, detail: String) -> DriftFinding {
    DriftFinding {
        kind: kind.as_str().into(),
        membership_id: Some(m.id.clone()),
        invitation_id: None,
        email: Some(m.email.clone()),
        detail,
    }
}

/// With an authoritative directory: whether the gate would keep `m` out, and whether they
/// joined around the directory since it became authoritative.
fn directory_findings(facts: &DriftFacts, m: &q::ActiveMember, out: &mut Vec<DriftFinding>) {
    let dir_names = &facts.dir_names;
    match super::directories::gate_verdict(&facts.index.flags(Some(&m.user_id), &m.email)) {
        Some(("deprovisioned", _)) => out.push(member_finding(
            m,
            DriftKind::DeactivatedInDirectory,
            format!("{} is active here with role {} but deactivated in the authoritative directory ({dir_names}): suspend or remove them, or reactivate them in the IdP", m.email, m.role),
        )),
        Some(_) => out.push(member_finding(
            m,
            DriftKind::AbsentFromDirectory,
            format!("{} is active here with role {} but the authoritative directory ({dir_names}) does not provision them: assign them in the IdP or remove them", m.email, m.role),
        )),
        None => {}
    }
    if let Some((kind, detail)) = facts.origins.get(&m.id) {
        let outside = GrantKind::parse(kind).is_some_and(GrantKind::outside_directory);
        let since = facts
            .authoritative
            .iter()
            .filter_map(|d| d.authoritative_since)
            .min();
        if outside && m.directory_id.is_none() && since.is_some_and(|t| m.created_at >= t) {
            let how = if kind == GrantKind::Invitation {
                format!("an invitation from {}", s(detail, "inviter_name"))
            } else {
                format!("JIT sign-in through {}", s(detail, "connection_name"))
            };
            out.push(member_finding(
                m,
                DriftKind::JoinedOutsideDirectory,
                format!("{} joined on {} through {how} while the directory ({dir_names}) was authoritative, not through the directory", m.email, when(m.created_at)),
            ));
        }
    }
}

/// Another organization verified this member's domain: the address belongs to its people (a
/// directory no longer grants access here; invitations and JIT never did).
async fn domain_owned_elsewhere_finding(
    conn: &mut Conn,
    organization_id: &str,
    m: &q::ActiveMember,
    owner_cache: &mut std::collections::HashMap<String, bool>,
    out: &mut Vec<DriftFinding>,
) -> Result<(), AppError> {
    if let Some(d) = crate::domain::domain_name::email_domain(&m.email) {
        let d = d.as_str().to_owned();
        if !owner_cache.contains_key(&d) {
            let elsewhere =
                super::directories::domain_owned_elsewhere(conn, organization_id, &m.email).await?;
            owner_cache.insert(d.clone(), elsewhere);
        }
        if owner_cache.get(&d).copied().unwrap_or(false) {
            out.push(member_finding(
                m,
                DriftKind::DomainOwnedElsewhere,
                format!("{} is active here with role {} but {d} is verified by another organization: check that this person belongs to this organization, then suspend or remove them", m.email, m.role),
            ));
        }
    }
    Ok(())
}

/// A JIT member whose domain the organization no longer verifies.
async fn domain_lapsed_finding(
    conn: &mut Conn,
    organization_id: &str,
    facts: &DriftFacts,
    m: &q::ActiveMember,
    domain_cache: &mut std::collections::HashMap<String, Option<String>>,
    out: &mut Vec<DriftFinding>,
) -> Result<(), AppError> {
    if let Some((kind, detail)) = facts.origins.get(&m.id) {
        if matches!(
            GrantKind::parse(kind),
            Some(GrantKind::Jit | GrantKind::JitLink)
        ) {
            let domain = s(detail, "domain");
            if !domain.is_empty() {
                if !domain_cache.contains_key(domain) {
                    let v = lapsed_state(conn, organization_id, domain).await?;
                    domain_cache.insert(domain.to_owned(), v);
                }
                if let Some(now_is) = domain_cache.get(domain).cloned().flatten() {
                    out.push(member_finding(
                        m,
                        DriftKind::DomainLapsed,
                        format!("{} was provisioned by JIT through the domain {domain}, which is {now_is}: re-verify the domain or review their access", m.email),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A member with no sign-in for `inactive_days`.
fn inactive_finding(
    m: &q::ActiveMember,
    now: i64,
    inactive_days: i64,
    out: &mut Vec<DriftFinding>,
) {
    let seen = m.last_sign_in_at.unwrap_or(m.created_at);
    if now - seen >= inactive_days * DAY_MS {
        let what = match m.last_sign_in_at {
            Some(t) => format!("last signed in on {}", when(t)),
            None => format!("has never signed in (member since {})", when(m.created_at)),
        };
        out.push(member_finding(
            m,
            DriftKind::Inactive,
            format!(
                "{} {what}: no sign-in for {} days",
                m.email,
                days_ago(now, seen)
            ),
        ));
    }
}

/// None when the organization still verifies `domain` (itself, or a parent covering
/// subdomains — the rule JIT applies); otherwise what became of it, in words.
async fn lapsed_state(
    conn: &mut Conn,
    organization_id: &str,
    domain: &str,
) -> Result<Option<String>, AppError> {
    let Some(name) = crate::domain::domain_name::DomainName::parse(domain).ok() else {
        return Ok(Some("no longer a valid domain".into()));
    };
    let holders = super::domains::holders_of_email(conn, &format!("x@{}", name.as_str())).await?;
    if holders.first().map(String::as_str) == Some(organization_id) {
        return Ok(None);
    }
    let mut names = vec![name.as_str().to_owned()];
    names.extend(name.parents().into_iter().map(|p| p.as_str().to_owned()));
    let rows = q::domain_rows(conn, organization_id, &names).await?;
    Ok(Some(match rows.first() {
        Some(q::DomainNameState {
            domain: d,
            state: st,
        }) if *d == names[0] => format!("now {st}"),
        Some(q::DomainNameState {
            domain: d,
            state: st,
        }) => {
            format!("no longer covered ({d} is {st})")
        }
        None if !holders.is_empty() => "now verified by another organization".into(),
        None => "no longer one of this organization's domains".into(),
    }))
}

fn check_inactive_days(inactive_days: Option<i64>) -> Result<i64, AppError> {
    match inactive_days {
        None => Ok(DEFAULT_INACTIVE_DAYS),
        Some(d) if (1..=3650).contains(&d) => Ok(d),
        Some(_) => Err(crate::domain::FieldError::new(
            "inactive_days",
            "inactive_days must be between 1 and 3650",
        )
        .into()),
    }
}

/// Computes health and drift now, stores the snapshot and answers both.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn refresh(
    state: &AppState,
    organization_id: &str,
    inactive_days: Option<i64>,
) -> Result<(OrganizationHealth, DriftReport), AppError> {
    let inactive_days = check_inactive_days(inactive_days)?;
    let now = state.clock.now();
    let mut conn = state.db.pool.acquire().await?;
    organization_name(&mut conn, organization_id).await?;
    let drift = compute_drift(&mut conn, organization_id, now, inactive_days).await?;
    let health = compute_health(&mut conn, organization_id, now, drift.len() as i64).await?;
    let report = DriftReport {
        data: drift,
        computed_at: now,
    };
    let row = q::SnapshotRow {
        organization_id: organization_id.to_owned(),
        computed_at: now,
        status: health.status.clone(),
        score: health.score,
        health: serde_json::to_string(&health).unwrap_or_default(),
        drift: serde_json::to_string(&report).unwrap_or_default(),
    };
    drop(conn);
    // The snapshot is a cache (no audit event: nothing changed): a failure to write it must not
    // fail the read that computed it.
    if let Err(e) = save_snapshot(state, &row).await {
        tracing::warn!(error = %e, organization_id, "health snapshot not saved");
    }
    Ok((health, report))
}

async fn save_snapshot(state: &AppState, row: &q::SnapshotRow) -> Result<(), AppError> {
    let _turn = state.db.write_turn().await?;
    let mut conn = state.db.pool.acquire().await?;
    Ok(q::save_snapshot(&mut conn, row).await?)
}

/// Recomputes every live organization's snapshot (the scheduled job); returns how many.
pub async fn refresh_all(state: &AppState) -> Result<usize, AppError> {
    let mut after: Option<String> = None;
    let mut n = 0;
    loop {
        let page = {
            let mut conn = state.db.pool.acquire().await?;
            db::organizations::list(&mut conn, after.as_deref(), 100).await?
        };
        let Some(last) = page.last() else {
            return Ok(n);
        };
        after = Some(last.id.clone());
        for o in &page {
            // One organization failing (deleted meanwhile, a busy database) must not leave the
            // others' snapshots stale.
            match refresh(state, &o.id, None).await {
                Ok(_) => n += 1,
                Err(e) => {
                    tracing::warn!(error = %e, organization_id = %o.id, "health check failed")
                }
            }
        }
    }
}

/// One row of the tenants list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantLine {
    pub health: OrganizationHealth,
    pub external_id: Option<String>,
}

/// Every live organization with its latest snapshot (computed now for those without one, and
/// for a search that narrows to a few), filtered by `search` (name, id or external id,
/// case-insensitive) and `status`, sorted by "needs attention" (score, then name); and how many
/// organizations there are in all.
pub async fn tenants(
    state: &AppState,
    search: &str,
    status: &str,
) -> Result<(Vec<TenantLine>, usize), AppError> {
    let needle = search.trim().to_lowercase();
    let mut orgs = Vec::new();
    let mut after: Option<String> = None;
    let mut conn = state.db.pool.acquire().await?;
    loop {
        let page = db::organizations::list(&mut conn, after.as_deref(), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        orgs.extend(page);
    }
    let snaps: std::collections::HashMap<String, OrganizationHealth> = q::snapshots(&mut conn)
        .await?
        .into_iter()
        .filter_map(|s| {
            serde_json::from_str(&s.health)
                .ok()
                .map(|h| (s.organization_id, h))
        })
        .collect();
    drop(conn);
    let orgs_total = orgs.len();
    let matched: Vec<_> = orgs
        .into_iter()
        .filter(|o| {
            needle.is_empty()
                || o.name.to_lowercase().contains(&needle)
                || o.id.to_lowercase() == needle
                || o.external_id
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase().contains(&needle))
        })
        .collect();
    // A search that narrows to a few tenants checks them now, so what support just looked up is
    // current; the whole list uses the scheduled job's snapshots.
    let total = orgs_total;
    let fresh = !needle.is_empty() && matched.len() <= FRESH_ON_SEARCH;
    let mut out = Vec::new();
    for o in matched {
        let health = match snaps.get(&o.id) {
            Some(h) if !fresh => h.clone(),
            _ => refresh(state, &o.id, None).await?.0,
        };
        if !status.is_empty() && status != "all" && health.status != status {
            continue;
        }
        out.push(TenantLine {
            health,
            external_id: o.external_id,
        });
    }
    out.sort_by(|a, b| {
        b.health.score.cmp(&a.health.score).then_with(|| {
            a.health
                .organization_name
                .to_lowercase()
                .cmp(&b.health.organization_name.to_lowercase())
        })
    });
    Ok((out, total))
}

/// The drift report as CSV (for the console's export), formula-looking cells neutralised.
pub fn drift_csv(report: &DriftReport) -> String {
    let cell = |v: &str| {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{v}")
        } else {
            v.to_owned()
        };
        format!("\"{}\"", v.replace('"', "\"\""))
    };
    let mut out = String::from("kind,membership_id,invitation_id,email,detail\n");
    for f in &report.data {
        out.push_str(
            &[
                cell(&f.kind),
                cell(f.membership_id.as_deref().unwrap_or("")),
                cell(f.invitation_id.as_deref().unwrap_or("")),
                cell(f.email.as_deref().unwrap_or("")),
                cell(&f.detail),
            ]
            .join(","),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_age_use_and_expiry() {
        let now = 1000 * DAY_MS;
        assert!(credential_flags(now, now - DAY_MS, Some(now), None, true).is_empty());
        assert_eq!(
            credential_flags(now, now - 100 * DAY_MS, None, None, true),
            vec!["unused_90_days"]
        );
        assert_eq!(
            credential_flags(now, now - 400 * DAY_MS, Some(now), None, true),
            vec!["rotation_overdue"]
        );
        assert!(credential_flags(now, now - 400 * DAY_MS, Some(now), None, false).is_empty());
        assert_eq!(
            credential_flags(now, now, Some(now), Some(now + 10 * DAY_MS), false),
            vec!["expiring_soon"]
        );
        assert_eq!(
            credential_flags(now, now, Some(now), Some(now - 1), false),
            vec!["expired"]
        );
    }

    #[test]
    fn csv_quotes_and_neutralises_formulas() {
        let r = DriftReport {
            computed_at: 0,
            data: vec![DriftFinding {
                kind: "inactive".into(),
                membership_id: Some("om_1".into()),
                invitation_id: None,
                email: Some("=cmd@x.test".into()),
                detail: "say \"hi\"".into(),
            }],
        };
        let csv = drift_csv(&r);
        assert!(csv.contains("\"'=cmd@x.test\""), "{csv}");
        assert!(csv.contains("\"say \"\"hi\"\"\""), "{csv}");
    }
}
