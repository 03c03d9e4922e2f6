//! The support console's page about one organization, assembled from the services: its health
//! and drift computed now (the same [`health::refresh`] the REST health endpoint answers with),
//! its credentials, recent audit events, failed sign-ins, SCIM requests, deliveries, control
//! points and pending invitations. The console's server function words it; this reads only.

use crate::domain::ids::OrgId;
use crate::domain::invitation::InvitationState;
use crate::server::audit::{self, AuditFilter, AuditRow};
use crate::server::db::health::{self as q, OrgDeliveryRow};
use crate::server::error::AppError;
use crate::server::service::health::{self, Credential, DriftReport, OrganizationHealth};
use crate::server::service::invitations::{self, Invitation};
use crate::server::service::organizations::{self, Organization};
use crate::server::service::policy::{self, ControlPoint};
use crate::server::state::AppState;

/// How many recent audit events the page shows.
const TIMELINE: i64 = 30;
/// How many failed sign-ins the page shows.
const FAILED_SIGN_INS: i64 = 10;
/// How many SCIM requests the page shows.
const SCIM_REQUESTS: i64 = 20;
/// How many webhook and log stream deliveries the page shows.
const DELIVERIES: i64 = 20;

/// A failed sign-in: (at, connection name, purpose, reason, evidence JSON).
pub use crate::server::db::health::FailedSignIn;
/// A SCIM request: (at, directory name, method, path, status, scimType, duration ms).
pub use crate::server::db::health::ScimRequestLine as ScimRequest;

/// Everything the console shows about one organization, read now.
pub struct TenantOverview {
    pub organization: Organization,
    pub health: OrganizationHealth,
    pub drift: DriftReport,
    /// When it was read (the clock's now).
    pub now: i64,
    pub credentials: Vec<Credential>,
    /// Most recent first.
    pub timeline: Vec<AuditRow>,
    pub failed_sign_ins: Vec<FailedSignIn>,
    pub scim_requests: Vec<ScimRequest>,
    pub deliveries: Vec<OrgDeliveryRow>,
    pub control_points: Vec<ControlPoint>,
    pub pending_invitations: Vec<Invitation>,
}

/// Reads one organization for the console (404 when it does not exist).
pub async fn tenant_overview(state: &AppState, id: &OrgId) -> Result<TenantOverview, AppError> {
    let organization = organizations::get(state, id).await?;
    let (health, drift) = health::refresh(state, id, None).await?;
    let now = state.clock.now();
    let credentials = health::credentials(state, id).await?;
    state.db.caught_up().await;
    let mut conn = state.db.pool.acquire().await?;
    let timeline =
        audit::list_filtered_recent(&mut conn, id, 0, &AuditFilter::default(), TIMELINE).await?;
    let failed_sign_ins = q::failed_sign_ins(&mut conn, id, FAILED_SIGN_INS).await?;
    let scim_requests = q::scim_requests(&mut conn, id, SCIM_REQUESTS).await?;
    let deliveries = q::deliveries(&mut conn, id, DELIVERIES).await?;
    drop(conn);
    let control_points = policy::control_points(state, id).await?;
    let pending_invitations =
        invitations::list(state, id, Some(InvitationState::Pending.as_str())).await?;
    Ok(TenantOverview {
        organization,
        health,
        drift,
        now,
        credentials,
        timeline,
        failed_sign_ins,
        scim_requests,
        deliveries,
        control_points,
        pending_invitations,
    })
}
