//! Tenant health, drift and the credentials inventory: what support staff and the vendor's
//! backend read to answer "is Acme's SSO working, why can't this person sign in, what is about to
//! break". Everything here reads; the only write is the snapshot the scheduled job (or an
//! on-demand check) keeps so the tenants list can sort by "needs attention" without recomputing
//! every organization.

use crate::domain::connection::ConnectionState;
use crate::domain::domain_state::DomainState;
use crate::domain::health::{HealthStatus, Severity, SignalArea};
use crate::domain::ids::OrgId;
use crate::domain::text::count;
use serde::{Deserialize, Serialize};

use crate::server::db::{self, health as q, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

mod credentials;
mod drift;

use credentials::credentials_flagged;
pub use credentials::{credential_flags, credentials, vendor_credentials, Credential};
use drift::compute_drift;
pub use drift::{drift_csv, DriftFinding, DriftReport};

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

fn days_ago(now: i64, t: i64) -> i64 {
    crate::server::timefmt::days_between(t, now)
}

fn when(t: i64) -> String {
    crate::server::timefmt::rfc3339(t)
}

async fn organization_name(conn: &mut Conn, id: &str) -> Result<String, AppError> {
    db::organizations::get(conn, id)
        .await?
        .map(|o| o.name)
        .ok_or(AppError::NotFound("organization"))
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
    unserved_domain_signals(conn, organization_id, &mut signals).await?;
    for (name, failed_at, error, refreshed_at) in
        crate::server::db::saml::refresh_failures(conn, organization_id).await?
    {
        let since = match refreshed_at {
            Some(t) => format!("last refreshed {}", when(t)),
            None => "never refreshed".to_owned(),
        };
        signals.say(
            Severity::Warning,
            SignalArea::Sso,
            format!("The IdP metadata of {name} (SAML metadata, or OIDC discovery and JWKS) could not be refreshed on {} ({since}): {error}. Nothing was changed; certificates or keys the IdP adds are not picked up until a refresh succeeds", when(failed_at)),
        );
    }
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
            format!(
                "{} could not be delivered",
                count(bouncing, "invitation email", "invitation emails")
            ),
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
            format!(
                "{}: access and the organization's sources of truth disagree",
                count(drift_findings, "drift finding", "drift findings")
            ),
        );
    }
    let credentials_flagged = credentials_flagged(conn, organization_id, now).await?;
    if credentials_flagged > 0 {
        signals.say(
            Severity::Warning,
            SignalArea::Credentials,
            format!(
                "{} expiring, expired or overdue for rotation",
                count(credentials_flagged, "credential", "credentials")
            ),
        );
    }
    let (status, score, signals) = signals.verdict();
    Ok(OrganizationHealth {
        organization_id: organization_id.to_string(),
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
            authoritative: d.authoritative,
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
        signals.say(Severity::Error, SignalArea::Domains, format!("{} lapsed: the DNS record that proved ownership is gone, so sign-ins and JIT for those addresses stop", count(domains.lapsed, "domain", "domains")));
    }
    if domains.failed > 0 {
        signals.say(
            Severity::Warning,
            SignalArea::Domains,
            format!(
                "{} failed verification: the TXT record was not found",
                count(domains.failed, "domain", "domains")
            ),
        );
    }
    if domains.pending > 0 {
        signals.say(
            Severity::Warning,
            SignalArea::Domains,
            format!(
                "{} waiting for a TXT record",
                count(domains.pending, "domain", "domains")
            ),
        );
    }
}

/// A verified domain that no active connection serves (every active connection is limited to
/// other domains): its people cannot sign in through SSO. Only when SSO is set up at all.
async fn unserved_domain_signals(
    conn: &mut Conn,
    organization_id: &str,
    signals: &mut Signals,
) -> Result<(), AppError> {
    let active: Vec<_> = crate::server::db::connections::list_connections(conn, organization_id)
        .await?
        .into_iter()
        .filter(|c| c.state == ConnectionState::Active)
        .collect();
    if active.is_empty() || active.iter().all(|c| c.served_domains().is_none()) {
        return Ok(());
    }
    for d in crate::server::db::domains::list(conn, organization_id).await? {
        if d.state == DomainState::Verified && !active.iter().any(|c| c.serves(&d.domain)) {
            signals.say(
                Severity::Warning,
                SignalArea::Sso,
                format!("{} is verified but no active SSO connection serves it: its people cannot sign in through SSO; add it to a connection's domains", d.domain),
            );
        }
    }
    Ok(())
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
    organization_id: &OrgId,
    inactive_days: Option<i64>,
) -> Result<(OrganizationHealth, DriftReport), AppError> {
    let inactive_days = check_inactive_days(inactive_days)?;
    // The SCIM traffic counted below includes every exchange answered so far.
    state.scim_log.flush().await;
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
        organization_id: organization_id.to_string(),
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
        tracing::warn!(error = %e, organization_id = %organization_id, "health snapshot not saved");
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
            match refresh(state, &OrgId::from_stored(o.id.clone()), None).await {
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
            _ => {
                refresh(state, &OrgId::from_stored(o.id.clone()), None)
                    .await?
                    .0
            }
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
