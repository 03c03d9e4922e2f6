//! Server functions of the vendor's support console (`/console`). The caller is a signed-in staff
//! member (session key `staff`, never the portal's); `viewer` reads, `admin` may also act. The
//! console reads across tenants, so these take an organization id — scope comes from the staff
//! role, and every action is audited with the staff member as actor. Secrets are never read:
//! credentials are described by kind, age, use and hint only.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PortalError;
use crate::domain::health::{CredentialKind, DriftKind};

/// The signed-in staff member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffInfo {
    pub email: String,
    /// viewer | admin
    pub role: String,
}

/// A health signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalLine {
    /// error | warning
    pub severity: String,
    pub area: String,
    pub message: String,
}

/// One row of the tenants list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
    /// ok | attention | failing
    pub status: String,
    pub sso: String,
    pub directory: String,
    pub domains: String,
    pub invitations: String,
    pub setup_links: i64,
    pub drift: i64,
    pub top_signal: Option<String>,
    pub checked_at: String,
}

/// The tenants list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantsPage {
    pub me: StaffInfo,
    pub tenants: Vec<TenantRow>,
    pub total: usize,
}

/// A drift finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftLine {
    pub kind: String,
    pub kind_label: String,
    pub membership_id: Option<String>,
    pub email: Option<String>,
    pub detail: String,
}

/// A credential, never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialLine {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub hint: Option<String>,
    pub age: String,
    pub created_by: String,
    pub last_used: String,
    pub expires: String,
    pub flags: Vec<String>,
}

/// A dated line (timeline, failed sign-ins, SCIM log, deliveries, invitations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub at: String,
    pub title: String,
    pub detail: String,
    /// A problem line (failed request, failed delivery).
    pub bad: bool,
}

/// A pending invitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationLine {
    pub id: String,
    pub email: String,
    pub role: String,
    pub expires: String,
    pub delivery: String,
}

/// Everything about one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantPage {
    pub me: StaffInfo,
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
    pub status: String,
    pub computed_at: String,
    pub signals: Vec<SignalLine>,
    pub sso: Vec<String>,
    pub directories: Vec<String>,
    /// (label, value)
    pub summary: Vec<(String, String)>,
    pub drift: Vec<DriftLine>,
    pub credentials: Vec<CredentialLine>,
    pub timeline: Vec<Line>,
    pub failed_sign_ins: Vec<Line>,
    pub scim_log: Vec<Line>,
    pub deliveries: Vec<Line>,
    pub invitations: Vec<InvitationLine>,
    /// A setup link just created by this staff member: shown once.
    pub new_link: Option<String>,
    /// The organization's control points in words.
    pub points: Vec<super::policy::PointLine>,
    /// What the simulator can run: (value, label).
    pub paths: Vec<(String, String)>,
    /// The last simulation this staff member ran for this organization.
    pub simulation: Option<super::policy::SimLine>,
    /// The last days per connection, directory and for deliveries.
    pub charts: Vec<ChartLine>,
}

/// One chart of the tenant page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartLine {
    pub title: String,
    pub ok_label: String,
    pub bad_label: String,
    pub days: Vec<crate::domain::chart::DayCount>,
}

/// One member's access, explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberPage {
    pub me: StaffInfo,
    pub organization_id: String,
    pub organization_name: String,
    pub email: String,
    pub role: String,
    pub state: String,
    pub source: String,
    pub role_source: String,
    pub last_sign_in: String,
    /// Oldest first.
    pub grants: Vec<Line>,
    pub drift: Vec<DriftLine>,
}

/// Vendor-wide credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialsPage {
    pub me: StaffInfo,
    pub credentials: Vec<CredentialLine>,
}

/// Plain words for a drift kind.
pub fn drift_label(kind: &str) -> &'static str {
    DriftKind::parse(kind).map_or("Drift", DriftKind::label)
}

/// Plain words for a credential kind.
pub fn credential_label(kind: &str) -> &'static str {
    CredentialKind::parse(kind).map_or("Credential", CredentialKind::label)
}

#[cfg(feature = "ssr")]
pub(crate) mod staff_ctx {
    use super::{PortalError, StaffInfo};
    use crate::server::audit::{Actor, RequestContext};
    use crate::server::service::staff::{self, StaffGrant, STAFF_KEY};
    use crate::server::state::AppState;

    /// A signed-in staff member: the grant from the session, re-checked against the account on
    /// every call.
    pub struct Staff {
        pub state: AppState,
        pub grant: StaffGrant,
        pub ctx: RequestContext,
    }

    impl Staff {
        pub fn actor(&self) -> Actor {
            Actor::staff(&self.grant)
        }

        pub fn info(&self) -> StaffInfo {
            StaffInfo {
                email: self.grant.email.clone(),
                role: self.grant.role.clone(),
            }
        }

        /// Fails unless the staff member may act (role admin).
        pub fn require_admin(&self) -> Result<(), PortalError> {
            if self.grant.is_admin() {
                Ok(())
            } else {
                Err(PortalError::NotInScope(
                    "changes: your staff role is viewer (read only)".into(),
                ))
            }
        }
    }

    fn internal() -> PortalError {
        PortalError::Internal {
            request_id: crate::server::request_id::current_request_id(),
        }
    }

    /// Resolves the staff member or fails closed (signed out).
    pub async fn staff() -> Result<Staff, PortalError> {
        let state = leptos::prelude::use_context::<AppState>().ok_or_else(internal)?;
        let session: tower_sessions::Session = leptos_axum::extract().await.map_err(|e| {
            tracing::error!(error = %e, "no session layer");
            internal()
        })?;
        let grant: Option<StaffGrant> = session.get(STAFF_KEY).await.map_err(|e| {
            tracing::error!(error = %e, "session read failed");
            internal()
        })?;
        let grant = grant.ok_or(PortalError::SignedOut)?;
        if !staff::active_grant(&state, &grant).await? {
            let _ = session.remove::<StaffGrant>(STAFF_KEY).await;
            return Err(PortalError::SignedOut);
        }
        let ctx = leptos_axum::extract::<axum::Extension<RequestContext>>()
            .await
            .map(|e| e.0)
            .unwrap_or_default();
        Ok(Staff { state, grant, ctx })
    }
}

#[cfg(feature = "ssr")]
mod view {
    use super::*;
    use crate::server::service::health::{Credential, DriftFinding};

    pub fn when(ms: i64) -> String {
        crate::server::timefmt::rfc3339(ms)
    }

    pub fn maybe(ms: Option<i64>) -> String {
        ms.map(when).unwrap_or_else(|| "never".into())
    }

    pub fn drift(f: DriftFinding) -> DriftLine {
        DriftLine {
            kind_label: drift_label(&f.kind).into(),
            kind: f.kind,
            membership_id: f.membership_id,
            email: f.email,
            detail: f.detail,
        }
    }

    pub fn credential(c: Credential, now: i64) -> CredentialLine {
        CredentialLine {
            kind: credential_label(&c.kind).into(),
            id: c.id,
            name: c.name,
            hint: c.hint,
            age: format!(
                "{} days",
                crate::server::timefmt::days_between(c.created_at, now)
            ),
            created_by: c.created_by.unwrap_or_else(|| "unknown".into()),
            last_used: maybe(c.last_used_at),
            expires: c.expires_at.map(when).unwrap_or_else(|| "no expiry".into()),
            flags: c.flags,
        }
    }

    /// An audit event: what happened, by whom, to what.
    pub fn timeline_line(r: crate::server::audit::AuditRow) -> Line {
        let targets: Vec<crate::server::audit::Target> =
            serde_json::from_str(&r.targets).unwrap_or_default();
        Line {
            at: when(r.occurred_at),
            title: crate::domain::event_type::describe_action(&r.action),
            detail: format!(
                "by {} ({}){}",
                r.actor_name,
                r.actor_type,
                targets
                    .iter()
                    .map(|t| format!(
                        " · {} {}",
                        t.kind,
                        t.name.clone().unwrap_or_else(|| t.id.clone())
                    ))
                    .collect::<String>()
            ),
            bad: crate::domain::event_type::is_failure_action(&r.action),
        }
    }

    /// A failed sign-in with its evidence pretty-printed.
    pub fn failed_sign_in_line(
        crate::server::service::console::FailedSignIn {
            created_at: at,
            connection_name: conn_name,
            purpose,
            reason,
            evidence,
        }: crate::server::service::console::FailedSignIn,
    ) -> Line {
        let pretty = serde_json::from_str::<serde_json::Value>(&evidence)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(evidence);
        Line {
            at: when(at),
            title: format!(
                "{conn_name} ({purpose}): {}",
                reason.unwrap_or_else(|| "failed".into())
            ),
            detail: pretty,
            bad: true,
        }
    }

    /// A SCIM request, its path redacted.
    pub fn scim_line(
        crate::server::service::console::ScimRequest {
            created_at: at,
            directory_name: dir,
            method,
            path,
            status,
            scim_type,
            duration_ms: ms,
        }: crate::server::service::console::ScimRequest,
    ) -> Line {
        Line {
            at: when(at),
            title: format!(
                "{status} {method} {}",
                crate::server::service::scim::redact_path(&path)
            ),
            detail: format!(
                "{dir}{} · {ms} ms",
                scim_type.map(|t| format!(" · {t}")).unwrap_or_default()
            ),
            bad: status >= 400,
        }
    }

    /// A webhook or log stream delivery, its URL redacted.
    pub fn delivery_line(
        crate::server::db::health::OrgDeliveryRow {
            endpoint,
            event_type: event,
            event_created_at: at,
            state: st,
            attempts,
            last_status: status,
            last_error: err,
        }: crate::server::db::health::OrgDeliveryRow,
    ) -> Line {
        Line {
            at: when(at),
            title: format!(
                "{event} → {}",
                crate::server::outbound::redact_url(&endpoint)
            ),
            detail: format!(
                "{st}, {attempts} attempt(s){}{}",
                status
                    .map(|c| format!(", last HTTP {c}"))
                    .unwrap_or_default(),
                err.map(|e| format!(": {e}")).unwrap_or_default()
            ),
            bad: st == crate::domain::webhook::DeliveryState::Failed
                || (st == crate::domain::webhook::DeliveryState::Pending && attempts > 0),
        }
    }

    /// A pending invitation with how its email fared.
    pub fn invitation_line(i: crate::server::service::invitations::Invitation) -> InvitationLine {
        InvitationLine {
            delivery: i
                .delivery
                .map(|d| {
                    format!(
                        "{} ({} attempt(s)){}",
                        d.state,
                        d.attempts,
                        d.last_error.map(|e| format!(": {e}")).unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "no email".into()),
            id: i.id,
            email: i.email,
            role: i.role,
            expires: when(i.expires_at),
        }
    }

    /// An SSO connection's health in one line.
    pub fn sso_line(c: &crate::server::service::health::ConnectionHealth) -> String {
        format!(
            "{} ({}, {}): last success {}, last failure {}{}; {} in 24h{}",
            c.name,
            c.kind,
            c.state,
            maybe(c.last_success_at),
            maybe(c.last_failure_at),
            c.last_failure_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            crate::domain::text::count(c.failures_24h, "failure", "failures"),
            c.certificates_expiring
                .iter()
                .map(|x| format!("; certificate {} expires {}", x.subject, when(x.not_after)))
                .collect::<String>()
        )
    }

    /// A directory's health in one line.
    pub fn directory_line(d: &crate::server::service::health::DirectoryHealthLine) -> String {
        format!(
            "{} ({}{}): {} users; last call {}; {} requests, {} errors in 24h ({:.0}%){}; token {}",
            d.name,
            d.kind,
            if d.authoritative {
                ", authoritative"
            } else {
                ""
            },
            d.users,
            maybe(d.last_request_at),
            d.requests_24h,
            d.errors_24h,
            d.error_rate * 100.0,
            d.last_error
                .as_deref()
                .map(|e| format!(", last error {e}"))
                .unwrap_or_default(),
            d.token_age_days
                .map(|a| format!("{a} days old"))
                .unwrap_or_else(|| "none live".into())
        )
    }

    /// The summary tiles: domains, invitations, setup links, drift.
    pub fn summary(
        h: &crate::server::service::health::OrganizationHealth,
    ) -> Vec<(String, String)> {
        vec![
            (
                "Domains".to_owned(),
                format!(
                    "{} verified, {} pending, {} failed, {} lapsed",
                    h.domains.verified, h.domains.pending, h.domains.failed, h.domains.lapsed
                ),
            ),
            (
                "Invitations".to_owned(),
                format!(
                    "{} pending, {} bouncing, {} past expiry",
                    h.invitations.pending, h.invitations.bouncing, h.invitations.past_expiry
                ),
            ),
            (
                "Setup links outstanding".to_owned(),
                h.setup_links_outstanding.to_string(),
            ),
            ("Drift findings".to_owned(), h.drift_findings.to_string()),
        ]
    }
}

/// The tenants list, filtered and sorted by "needs attention".
#[server(prefix = "/console/api", endpoint = "tenants")]
pub async fn console_tenants(search: String, status: String) -> Result<TenantsPage, PortalError> {
    use crate::server::service::health;
    let s = staff_ctx::staff().await?;
    let (lines, total) = health::tenants(&s.state, &search, &status).await?;
    let tenants = lines
        .into_iter()
        .map(|t| {
            let h = t.health;
            let active = h
                .connections
                .iter()
                .filter(|c| c.state == crate::domain::connection::ConnectionState::Active)
                .count();
            let sso = if h.connections.is_empty() {
                "not set up".to_owned()
            } else {
                let failing = h.connections.iter().filter(|c| c.failures_24h > 0).count();
                let last_ok = h.connections.iter().filter_map(|c| c.last_success_at).max();
                let expiring: usize = h
                    .connections
                    .iter()
                    .map(|c| c.certificates_expiring.len())
                    .sum();
                format!(
                    "{active} active of {}{}; last sign-in {}{}",
                    h.connections.len(),
                    if failing > 0 {
                        format!(", {failing} with failed sign-ins in 24h")
                    } else {
                        String::new()
                    },
                    view::maybe(last_ok),
                    if expiring > 0 {
                        format!(
                            "; {} expiring within 30 days",
                            crate::domain::text::count(expiring, "certificate", "certificates")
                        )
                    } else {
                        String::new()
                    }
                )
            };
            let directory = if h.directories.is_empty() {
                "not set up".to_owned()
            } else {
                h.directories
                    .iter()
                    .map(|d| {
                        format!(
                            "{}: {} users, {} of {} requests failed in 24h, last call {}, token {}",
                            d.name,
                            d.users,
                            d.errors_24h,
                            d.requests_24h,
                            view::maybe(d.last_request_at),
                            d.token_age_days
                                .map(|a| format!("{a} days old"))
                                .unwrap_or_else(|| "none live".into())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            TenantRow {
                id: h.organization_id,
                name: h.organization_name,
                external_id: t.external_id,
                status: h.status,
                sso,
                directory,
                domains: format!(
                    "{} verified, {} pending, {} failed, {} lapsed",
                    h.domains.verified, h.domains.pending, h.domains.failed, h.domains.lapsed
                ),
                invitations: format!(
                    "{} pending, {} bouncing",
                    h.invitations.pending, h.invitations.bouncing
                ),
                setup_links: h.setup_links_outstanding,
                drift: h.drift_findings,
                top_signal: h.signals.first().map(|s| s.message.clone()),
                checked_at: view::when(h.computed_at),
            }
        })
        .collect();
    Ok(TenantsPage {
        me: s.info(),
        tenants,
        total,
    })
}

#[cfg(feature = "ssr")]
const LINK_FLASH: &str = "console.new_link";
#[cfg(feature = "ssr")]
const SIM_FLASH: &str = "console.simulation";

/// Everything about one organization (health and drift computed now).
#[server(prefix = "/console/api", endpoint = "tenant")]
pub async fn console_tenant(id: String) -> Result<TenantPage, PortalError> {
    let s = staff_ctx::staff().await?;
    let o = crate::server::service::console::tenant_overview(
        &s.state,
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    let new_link: Option<(String, String)> = super::directories::flash::take(LINK_FLASH).await;
    let paths = {
        let mut conn = s
            .state
            .db
            .pool
            .acquire()
            .await
            .map_err(crate::server::error::AppError::from)?;
        super::policy::sim_paths(&mut conn, &id).await?
    };
    let simulation: Option<(String, super::policy::SimLine)> =
        super::directories::flash::take(SIM_FLASH).await;
    let h = o.health;
    let charts = {
        use crate::server::service::activity;
        let org = crate::domain::ids::OrgId::from_stored(id.as_str());
        let sign_ins = activity::sign_ins(&s.state, &org).await?;
        let scim = activity::scim_requests(&s.state, &org).await?;
        let line = |title: String, ok: &str, bad: &str, days| ChartLine {
            title,
            ok_label: ok.into(),
            bad_label: bad.into(),
            days,
        };
        let mut charts: Vec<ChartLine> = h
            .connections
            .iter()
            .map(|c| {
                line(
                    format!("Sign-ins through {}", c.name),
                    "succeeded",
                    "failed",
                    sign_ins.series(&c.id),
                )
            })
            .collect();
        charts.extend(h.directories.iter().map(|d| {
            line(
                format!("SCIM requests from {}", d.name),
                "answered",
                "failed",
                scim.series(&d.id),
            )
        }));
        charts.push(line(
            "Webhook and log stream deliveries".into(),
            "delivered",
            "given up",
            activity::deliveries(&s.state, &org).await?,
        ));
        charts
    };
    Ok(TenantPage {
        charts,
        me: s.info(),
        id: o.organization.id,
        name: o.organization.name,
        external_id: o.organization.external_id,
        status: h.status.clone(),
        computed_at: view::when(h.computed_at),
        sso: h.connections.iter().map(view::sso_line).collect(),
        directories: h.directories.iter().map(view::directory_line).collect(),
        summary: view::summary(&h),
        signals: h
            .signals
            .into_iter()
            .map(|x| SignalLine {
                severity: x.severity,
                area: x.area,
                message: x.message,
            })
            .collect(),
        drift: o.drift.data.into_iter().map(view::drift).collect(),
        credentials: o
            .credentials
            .into_iter()
            .map(|c| view::credential(c, o.now))
            .collect(),
        timeline: o.timeline.into_iter().map(view::timeline_line).collect(),
        failed_sign_ins: o
            .failed_sign_ins
            .into_iter()
            .map(view::failed_sign_in_line)
            .collect(),
        scim_log: o.scim_requests.into_iter().map(view::scim_line).collect(),
        deliveries: o.deliveries.into_iter().map(view::delivery_line).collect(),
        invitations: o
            .pending_invitations
            .into_iter()
            .map(view::invitation_line)
            .collect(),
        new_link: new_link.filter(|(o, _)| *o == id).map(|(_, l)| l),
        points: o
            .control_points
            .into_iter()
            .map(|p| super::policy::PointLine {
                key: p.key,
                title: p.title,
                decisions: p.decisions,
            })
            .collect(),
        paths,
        simulation: simulation.filter(|(o, _)| *o == id).map(|(_, l)| l),
    })
}

/// One member's access: the grant chain and their drift findings.
#[server(prefix = "/console/api", endpoint = "member")]
pub async fn console_member(
    organization_id: String,
    id: String,
) -> Result<MemberPage, PortalError> {
    use crate::server::service::{health, members, organizations};
    let s = staff_ctx::staff().await?;
    let organization_id = crate::server::error::parse_id(&organization_id)?;
    let org = organizations::get(&s.state, &organization_id).await?;
    let m = members::get(
        &s.state,
        &organization_id,
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    let (_, d) = health::refresh(&s.state, &organization_id, None).await?;
    Ok(MemberPage {
        me: s.info(),
        organization_id: org.id,
        organization_name: org.name,
        email: m.email,
        role: m.role,
        state: m.state,
        source: m.source,
        role_source: m.role_source,
        last_sign_in: view::maybe(m.last_sign_in_at),
        grants: m
            .grants
            .unwrap_or_default()
            .into_iter()
            .map(|g| Line {
                at: view::when(g.created_at),
                title: g.description,
                detail: format!("role {}", g.role),
                bad: crate::domain::membership::GrantKind::parse(&g.kind)
                    .is_some_and(crate::domain::membership::GrantKind::takes_access),
            })
            .collect(),
        drift: d
            .data
            .into_iter()
            .filter(|f| f.membership_id.as_deref() == Some(id.as_str()))
            .map(view::drift)
            .collect(),
    })
}

/// Vendor-wide credentials: API keys and webhook secrets.
#[server(prefix = "/console/api", endpoint = "credentials")]
pub async fn console_credentials() -> Result<CredentialsPage, PortalError> {
    let s = staff_ctx::staff().await?;
    let now = s.state.clock.now();
    Ok(CredentialsPage {
        me: s.info(),
        credentials: crate::server::service::health::vendor_credentials(&s.state)
            .await?
            .into_iter()
            .map(|c| view::credential(c, now))
            .collect(),
    })
}

/// Recomputes an organization's health and drift now (reading only; any staff member).
#[server(prefix = "/console/api", endpoint = "refresh")]
pub async fn console_refresh(organization_id: String) -> Result<(), PortalError> {
    let s = staff_ctx::staff().await?;
    crate::server::service::health::refresh(
        &s.state,
        &crate::server::error::parse_id(&organization_id)?,
        None,
    )
    .await?;
    Ok(())
}

/// The console's setup-link form: one checkbox per intent (posted as `link[sso]=on`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewLink {
    pub organization_id: String,
    pub sso: Option<String>,
    pub domain_verification: Option<String>,
    pub dsync: Option<String>,
    pub invitations: Option<String>,
    pub audit_logs: Option<String>,
    pub log_streams: Option<String>,
    pub admin_email: Option<String>,
}

/// Creates a setup link for the organization's IT admin (admin staff only). The link is shown
/// once, on the next render of the tenant page.
#[server(prefix = "/console/api", endpoint = "create_link")]
pub async fn console_create_link(link: NewLink) -> Result<String, PortalError> {
    use crate::server::service::setup_links::{self, CreateSetupLink};
    let s = staff_ctx::staff().await?;
    s.require_admin()?;
    let NewLink {
        organization_id,
        sso,
        domain_verification,
        dsync,
        invitations,
        audit_logs,
        log_streams,
        admin_email,
    } = link;
    let intents: Vec<String> = [
        ("sso", sso),
        ("domain_verification", domain_verification),
        ("dsync", dsync),
        ("invitations", invitations),
        ("audit_logs", audit_logs),
        ("log_streams", log_streams),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(k, _)| k.to_owned())
    .collect();
    let created = setup_links::create(
        &s.state,
        &s.actor(),
        &s.ctx,
        CreateSetupLink {
            organization_id: organization_id.clone(),
            intents,
            expires_in_seconds: None,
            return_url: None,
            admin_email: admin_email.filter(|e| !e.trim().is_empty()),
        },
    )
    .await?;
    super::directories::flash::put(LINK_FLASH, &(organization_id, created.link.clone())).await?;
    Ok(created.link)
}

/// Sends a pending invitation's email again (admin staff only).
#[server(prefix = "/console/api", endpoint = "resend_invitation")]
pub async fn console_resend_invitation(
    organization_id: String,
    invitation_id: String,
) -> Result<(), PortalError> {
    let s = staff_ctx::staff().await?;
    s.require_admin()?;
    crate::server::service::invitations::resend(
        &s.state,
        &s.actor(),
        &s.ctx,
        // A malformed id names no invitation, as the lookup said before ids were typed.
        &crate::domain::ids::OrgId::parse(&organization_id)
            .ok_or(crate::server::error::AppError::NotFound("invitation"))?,
        &crate::server::error::parse_id(&invitation_id)?,
    )
    .await?;
    Ok(())
}

/// Revokes a vendor API key (admin staff only).
#[server(prefix = "/console/api", endpoint = "revoke_api_key")]
pub async fn console_revoke_api_key(id: String) -> Result<(), PortalError> {
    let s = staff_ctx::staff().await?;
    s.require_admin()?;
    crate::server::service::api_keys::revoke(
        &s.state.db,
        &s.actor(),
        &s.ctx,
        &id,
        s.state.clock.now(),
    )
    .await?;
    Ok(())
}

/// Runs the access-policy simulator for an organization (any staff member: it writes nothing).
#[server(prefix = "/console/api", endpoint = "simulate")]
pub async fn console_simulate(
    organization_id: String,
    email: String,
    path: String,
) -> Result<(), PortalError> {
    let s = staff_ctx::staff().await?;
    let org = crate::server::error::parse_id(&organization_id)?;
    crate::server::service::organizations::get(&s.state, &org).await?;
    let line = super::policy::run_simulation(&s.state, &org, email, path).await?;
    super::directories::flash::put(SIM_FLASH, &(organization_id, line)).await
}
