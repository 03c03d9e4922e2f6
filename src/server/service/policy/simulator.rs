//! The simulator: the enforcement functions run for a hypothetical request, writing nothing.

use crate::domain::ids::{ConnectionId, DirectoryId, OrgId};
use serde::{Deserialize, Serialize};

use crate::domain::policy::{RuleOutcome, SimulatedDirectoryEvent, TraceRule};
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{invalid, load, Policy, Reason, Trace};

/// The path of a simulated decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SimPath {
    /// A sign-in through this connection.
    Sso { connection_id: String },
    /// An invitation to the address, and its acceptance.
    Invitation {
        #[serde(default)]
        role: Option<String>,
        /// The member who invites (the vendor or the organization's admin when absent).
        #[serde(default)]
        inviter_membership_id: Option<String>,
    },
    /// A directory pushing this person: `create` or `deactivate`.
    Directory { directory_id: String, event: String },
}

/// `POST /organizations/{id}/policy/simulate`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateInput {
    pub email: String,
    pub path: SimPath,
}

/// The role a simulated decision would give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SimMembership {
    pub role: String,
}

/// The simulated decision and the rules that made it, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Simulation {
    /// allow | deny
    pub decision: String,
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership: Option<SimMembership>,
}

/// Runs the enforcement functions for a hypothetical request, writing nothing.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn simulate(
    state: &AppState,
    organization_id: &OrgId,
    input: SimulateInput,
) -> Result<Simulation, AppError> {
    let email = crate::domain::email::EmailAddress::parse(&input.email, "email")?.into_string();
    let mut conn = state.db.pool.acquire().await?;
    let org = db::organizations::get(&mut conn, organization_id)
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    let policy = load(&mut conn, organization_id).await?;
    let mut t = Trace::default();
    let (allowed, role) = match input.path {
        SimPath::Sso { connection_id } => {
            simulate_sso(&mut conn, organization_id, &connection_id, &email, &mut t).await?
        }
        SimPath::Invitation {
            role,
            inviter_membership_id,
        } => {
            let wanted = role
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| org.default_role.clone());
            simulate_invitation(
                &mut conn,
                organization_id,
                &policy,
                &email,
                &wanted,
                inviter_membership_id.as_deref(),
                &mut t,
            )
            .await?
        }
        SimPath::Directory {
            directory_id,
            event,
        } => {
            simulate_directory(
                &mut conn,
                organization_id,
                &org,
                &policy,
                &directory_id,
                &event,
                &email,
                &mut t,
            )
            .await?
        }
    };
    Ok(Simulation {
        decision: if allowed {
            RuleOutcome::Allow
        } else {
            RuleOutcome::Deny
        }
        .as_str()
        .into(),
        reasons: t.0,
        membership: role.map(|role| SimMembership { role }),
    })
}

/// A sign-in through the connection: the admission JIT and returning identities go through.
async fn simulate_sso(
    conn: &mut Conn,
    organization_id: &OrgId,
    connection_id: &str,
    email: &str,
    t: &mut Trace,
) -> Result<(bool, Option<String>), AppError> {
    let unknown = || {
        invalid(
            "path.connection_id",
            "no SSO connection with this id in this organization",
        )
    };
    // A malformed id names no connection: the same answer as an unknown one.
    let connection_id = ConnectionId::parse(connection_id).ok_or_else(unknown)?;
    let row = db::connections::get_connection(conn, organization_id, &connection_id)
        .await?
        .ok_or_else(unknown)?;
    // Where a sign-in that names only the organization (and the person's address) would go.
    let domain = crate::domain::domain_name::email_domain(email);
    let rule = TraceRule::Routing.as_str();
    use crate::server::service::sso::route::{route, Route};
    match route(conn, organization_id, domain.as_ref()).await? {
        Route::One(r) if r.id == row.id => t.info(
            rule,
            format!("a sign-in for {email} that names the organization goes through {}", r.name),
        ),
        Route::One(r) => t.info(
            rule,
            format!("a sign-in for {email} that names the organization goes through {}, not {}", r.name, row.name),
        ),
        Route::Choose(rs) => t.info(
            rule,
            format!(
                "a sign-in for {email} that names the organization lets the person choose: {}",
                rs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(" or ")
            ),
        ),
        Route::Unserved(d) => t.info(
            rule,
            format!("no active connection serves {d}: a sign-in for {email} that names the organization is refused"),
        ),
        Route::NoneActive => t.info(rule, "the organization has no active connection"),
    }
    // Someone who signed in through this connection before is a returning identity.
    let subject: Option<String> = sqlx::query_scalar(
        "SELECT idp_subject FROM user_identities WHERE connection_id = $1 AND email = $2 ORDER BY last_login_at DESC LIMIT 1",
    )
    .bind(&row.id)
    .bind(email)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(
        match crate::server::service::sso::admission(
            conn,
            &row,
            Some(email),
            None,
            subject.as_deref(),
            t,
        )
        .await?
        {
            Ok(a) => (true, Some(a.role().to_owned())),
            Err(_) => (false, None),
        },
    )
}

/// An invitation with the role `wanted` from the inviter, and its acceptance route.
async fn simulate_invitation(
    conn: &mut Conn,
    organization_id: &OrgId,
    policy: &Policy,
    email: &str,
    wanted: &str,
    inviter_membership_id: Option<&str>,
    t: &mut Trace,
) -> Result<(bool, Option<String>), AppError> {
    let acting = crate::server::service::members::acting_role(
        conn,
        organization_id,
        "path.inviter_membership_id",
        inviter_membership_id,
    )
    .await?;
    Ok(
        match crate::server::service::invitations::invite_checks(
            conn,
            organization_id,
            policy,
            email,
            wanted,
            acting.as_ref(),
            t,
        )
        .await
        {
            // A refusal is the answer (the failing rule is already in the trace); anything
            // else is an error.
            Err(
                e @ (AppError::Invalid(_) | AppError::Conflict { .. } | AppError::Forbidden(_)),
            ) => {
                if !t.0.iter().any(|r| r.outcome == RuleOutcome::Deny) {
                    t.deny(TraceRule::Invitation.as_str(), e.to_string());
                }
                (false, None)
            }
            Err(e) => return Err(e),
            Ok(role) => {
                match crate::server::service::invitations::acceptance_route(
                    conn,
                    organization_id,
                    policy,
                    email,
                    t,
                )
                .await?
                {
                    crate::server::service::invitations::Route::Unavailable(_) => (false, None),
                    _ => (true, Some(role)),
                }
            }
        },
    )
}

/// A directory creating or deactivating the person: the plans its sync would follow.
#[expect(
    clippy::too_many_arguments,
    reason = "the simulated request's parts, each named"
)]
async fn simulate_directory(
    conn: &mut Conn,
    organization_id: &OrgId,
    org: &db::organizations::OrganizationRow,
    policy: &Policy,
    directory_id: &str,
    event: &str,
    email: &str,
    t: &mut Trace,
) -> Result<(bool, Option<String>), AppError> {
    let unknown = || {
        invalid(
            "path.directory_id",
            "no directory with this id in this organization",
        )
    };
    // A malformed id names no directory: the same answer as an unknown one.
    let directory_id = DirectoryId::parse(directory_id).ok_or_else(unknown)?;
    let dir = db::directories::get_directory(conn, organization_id, &directory_id)
        .await?
        .ok_or_else(unknown)?;
    Ok(match SimulatedDirectoryEvent::parse(event) {
        Some(SimulatedDirectoryEvent::Create) => {
            let (allowed, role) =
                crate::server::service::directories::creation_plan(conn, org, &dir, email, t)
                    .await?;
            (allowed, allowed.then_some(role))
        }
        Some(SimulatedDirectoryEvent::Deactivate) => {
            crate::server::service::directories::deactivation_plan(
                conn,
                policy,
                organization_id,
                &dir,
                email,
                t,
            )
            .await?;
            (false, None)
        }
        _ => {
            return Err(invalid(
                "path.event",
                "event must be \"create\" or \"deactivate\"",
            ))
        }
    })
}
