//! The organization's access policy: where each access decision is made and by which rule. The
//! rules themselves live where they are enforced (JIT in `sso::admission`, invitations in
//! `invitations::invite_checks` and `invitations::acceptance_route`, directories in
//! `directories::gate` and `directories::deactivation_plan`); each writes what it decided into a
//! [`Trace`]. Enforcement ignores the trace; the simulator returns it — so the simulator's answer
//! is, by construction, the enforcement's.

use crate::domain::ids::OrgId;
use serde::{Deserialize, Serialize};

use crate::domain::policy::{DeactivationAction, Inviters, RuleOutcome};
use crate::domain::FieldError;
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

mod control_points;
mod simulator;
mod update;

pub use control_points::{control_points, ControlPoint};
pub use simulator::{simulate, SimMembership, SimPath, SimulateInput, Simulation};
pub use update::{update, Editor, Impact, PolicyPatch, PolicyUpdate, FIELDS};

/// `sso_required_domains` entry meaning every domain the organization verifies.
pub const ALL_VERIFIED: &str = "*";
/// Longest grace period before a directory-deactivated member is removed.
pub const MAX_GRACE_DAYS: i64 = 90;

fn yes() -> bool {
    true
}
fn all_verified() -> Vec<String> {
    vec![ALL_VERIFIED.to_owned()]
}
fn members() -> String {
    Inviters::default().as_str().into()
}
fn suspend() -> String {
    DeactivationAction::default().as_str().into()
}

/// The stored policy (`organizations.policy`, JSON; absent fields take their defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    /// Verified domains whose people must accept invitations through the organization's SSO
    /// connection. `"*"` means every verified domain once a connection is active (the default,
    /// `["*"]`); a domain listed by name requires SSO even before then — acceptance is refused
    /// until a connection is active.
    #[serde(default = "all_verified")]
    pub sso_required_domains: Vec<String>,
    /// Whether addresses outside the organization's verified domains may be invited. Default true.
    #[serde(default = "yes")]
    pub guest_invitations: bool,
    /// Whether people on a verified domain who sign in through an active connection become
    /// members (JIT provisioning). Default true.
    #[serde(default = "yes")]
    pub jit_enabled: bool,
    /// Which members may invite (besides the vendor and the customer's admin): `members` (any
    /// active member, up to their own role) or `admins`. Default `members`.
    #[serde(default = "members")]
    pub inviters: String,
    /// Roles an invitation may grant; empty means any (within the inviter's own role).
    #[serde(default)]
    pub invitable_roles: Vec<String>,
    /// What a directory deactivation does after suspending the member and ending their sessions
    /// (always, at once): `suspend` (stay suspended) or `remove`. Default `suspend`.
    #[serde(default = "suspend")]
    pub directory_deactivation: String,
    /// With `remove`: days between the suspension and the removal (0–90). Default 0.
    #[serde(default)]
    pub removal_grace_days: i64,
    /// A directory cannot remove the organization's last active admin: they stay suspended, a
    /// warning event is recorded and support sees a flag. Default true.
    #[serde(default = "yes")]
    pub protect_last_admin: bool,
    /// Fields the customer's admin may not change in the portal (set by the vendor).
    #[serde(default)]
    pub locked: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

impl Policy {
    /// Whether the policy requires SSO for an address on `domain` (which the organization
    /// verifies): listed itself, through a listed parent, or `"*"`.
    pub fn sso_required_for(&self, domain: &str) -> Option<String> {
        self.sso_required_domains
            .iter()
            .find(|d| {
                d.as_str() == ALL_VERIFIED
                    || domain == d.as_str()
                    || domain.ends_with(&format!(".{d}"))
            })
            .cloned()
    }
}

/// One step of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reason {
    /// The rule or control point: `connection`, `email`, `directory`, `membership`, `jit`,
    /// `domain`, `inviter`, `role`, `guest_invitations`, `sso_required`, `deactivation`,
    /// `last_admin`, …
    pub rule: String,
    /// `allow`, `deny` or `info`.
    pub outcome: String,
    pub detail: String,
}

/// The reasons a decision collects as it is made.
#[derive(Debug, Default, Clone)]
pub struct Trace(pub Vec<Reason>);

impl Trace {
    pub fn allow(&mut self, rule: &str, detail: impl Into<String>) {
        self.push(rule, RuleOutcome::Allow, detail)
    }
    pub fn deny(&mut self, rule: &str, detail: impl Into<String>) {
        self.push(rule, RuleOutcome::Deny, detail)
    }
    pub fn info(&mut self, rule: &str, detail: impl Into<String>) {
        self.push(rule, RuleOutcome::Info, detail)
    }
    fn push(&mut self, rule: &str, outcome: RuleOutcome, detail: impl Into<String>) {
        self.0.push(Reason {
            rule: rule.into(),
            outcome: outcome.as_str().into(),
            detail: detail.into(),
        })
    }
}

/// Reads an organization's policy (defaults for a missing or unreadable one).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn load(conn: &mut Conn, organization_id: &str) -> Result<Policy, sqlx::Error> {
    let raw: Option<String> =
        sqlx::query_scalar("SELECT policy FROM organizations WHERE id = $1 AND deleted_at IS NULL")
            .bind(organization_id)
            .fetch_optional(conn)
            .await?;
    Ok(match raw {
        None => Policy::default(),
        Some(r) => serde_json::from_str(&r).unwrap_or_else(|e| {
            // Only Lanyard writes this column; an unreadable value is a bug worth seeing.
            tracing::error!(error = %e, organization_id, "stored policy unreadable; using defaults");
            Policy::default()
        }),
    })
}

/// `GET /organizations/{id}/policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub organization_id: String,
    #[serde(flatten)]
    pub policy: Policy,
    /// The role JIT and directories give when nothing else decides.
    pub default_role: String,
    /// Whether the organization's directories are authoritative (any of them).
    pub directory_authoritative: bool,
}

async fn view(conn: &mut Conn, organization_id: &str) -> Result<PolicyView, AppError> {
    let org = db::organizations::get(conn, organization_id)
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    Ok(PolicyView {
        organization_id: org.id,
        policy: load(conn, organization_id).await?,
        default_role: org.default_role,
        directory_authoritative: db::directories::has_authoritative(conn, organization_id).await?,
    })
}

/// Reads the policy.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn get(state: &AppState, organization_id: &OrgId) -> Result<PolicyView, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    view(&mut conn, organization_id).await
}

fn invalid(field: &'static str, message: impl Into<String>) -> AppError {
    FieldError::new(field, message).into()
}
