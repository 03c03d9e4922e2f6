//! The portal's access policy page (`/portal/policy`): readable by every intent; each field is
//! editable by the intent that owns it (sso: SSO-required domains, JIT, default role;
//! invitations: guests, inviters, invitable roles; dsync: the directory fields) unless the vendor
//! locked it. The simulator runs the enforcement's decision functions.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PortalError;

/// One control point and its decisions in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointLine {
    pub key: String,
    pub title: String,
    pub decisions: Vec<String>,
}

/// A simulated decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimLine {
    pub email: String,
    pub path: String,
    pub decision: String,
    pub role: Option<String>,
    /// (rule, outcome, detail)
    pub reasons: Vec<(String, String, String)>,
}

/// The result of a save or a preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeLine {
    pub saved: bool,
    pub summary: Vec<String>,
    pub people: Vec<String>,
}

/// The page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyPage {
    pub points: Vec<PointLine>,
    /// Field values as the form shows them.
    pub sso_required_domains: String,
    pub guest_invitations: bool,
    pub jit_enabled: bool,
    pub default_role: String,
    pub inviters: String,
    pub invitable_roles: String,
    pub directory_authoritative: bool,
    pub directory_deactivation: String,
    pub removal_grace_days: i64,
    pub protect_last_admin: bool,
    /// Fields this session may change.
    pub editable: Vec<String>,
    pub locked: Vec<String>,
    /// (value, label) for the simulator's path.
    pub paths: Vec<(String, String)>,
    /// (slug, name)
    pub roles: Vec<(String, String)>,
    pub simulation: Option<SimLine>,
    pub change: Option<ChangeLine>,
}

/// The edit form: only the fields the page rendered are posted (`policy[field]=…`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyForm {
    pub sso_required_domains: Option<String>,
    pub guest_invitations: Option<String>,
    pub jit_enabled: Option<String>,
    pub default_role: Option<String>,
    pub inviters: Option<String>,
    pub invitable_roles: Option<String>,
    pub directory_authoritative: Option<String>,
    pub directory_deactivation: Option<String>,
    pub removal_grace_days: Option<String>,
    pub protect_last_admin: Option<String>,
    /// Present (any value) for "Preview impact".
    pub dry_run: Option<String>,
}

#[cfg(feature = "ssr")]
const SIM_FLASH: &str = "policy.simulation";
#[cfg(feature = "ssr")]
const CHANGE_FLASH: &str = "policy.change";

/// The page data (any portal session).
#[server(prefix = "/portal/api", endpoint = "policy")]
pub async fn portal_policy() -> Result<PolicyPage, PortalError> {
    use crate::server::service::policy::{self, FIELDS};
    let c = super::ctx::caller().await?;
    let org = c.grant.org();
    let v = policy::get(&c.state, &org).await?;
    let points = policy::control_points(&c.state, &org)
        .await?
        .into_iter()
        .map(|p| PointLine {
            key: p.key,
            title: p.title,
            decisions: p.decisions,
        })
        .collect();
    let editable = FIELDS
        .iter()
        .filter(|(f, intent)| {
            c.grant.intents.contains(intent) && !v.policy.locked.iter().any(|l| l == f)
        })
        .map(|(f, _)| (*f).to_owned())
        .collect();
    let mut conn = c
        .state
        .db
        .pool
        .acquire()
        .await
        .map_err(crate::server::error::AppError::from)?;
    let paths = sim_paths(&mut conn, &org).await?;
    let roles = crate::server::service::roles::all(&mut conn)
        .await
        .map_err(crate::server::error::AppError::from)?
        .into_iter()
        .map(|r| (r.slug, r.name))
        .collect();
    drop(conn);
    let simulation: Option<SimLine> = super::directories::flash::take(SIM_FLASH).await;
    let change: Option<ChangeLine> = super::directories::flash::take(CHANGE_FLASH).await;
    let p = v.policy;
    Ok(PolicyPage {
        points,
        sso_required_domains: p.sso_required_domains.join(", "),
        guest_invitations: p.guest_invitations,
        jit_enabled: p.jit_enabled,
        default_role: v.default_role,
        inviters: p.inviters,
        invitable_roles: p.invitable_roles.join(", "),
        directory_authoritative: v.directory_authoritative,
        directory_deactivation: p.directory_deactivation,
        removal_grace_days: p.removal_grace_days,
        protect_last_admin: p.protect_last_admin,
        editable,
        locked: p.locked,
        paths,
        roles,
        simulation,
        change,
    })
}

/// What the simulator can run for an organization: (value, label).
#[cfg(feature = "ssr")]
pub(crate) async fn sim_paths(
    conn: &mut crate::server::db::Conn,
    org: &str,
) -> Result<Vec<(String, String)>, PortalError> {
    use crate::domain::policy::{SimulatedDirectoryEvent, SimulatedPath};
    use crate::server::error::AppError;
    let mut paths = vec![(
        SimulatedPath::Invitation.as_str().to_owned(),
        "Invitation and its acceptance".to_owned(),
    )];
    for k in crate::server::db::connections::list_connections(conn, org)
        .await
        .map_err(AppError::from)?
    {
        paths.push((
            format!("{}:{}", SimulatedPath::Sso, k.id),
            format!("Sign-in through {} ({})", k.name, k.state),
        ));
    }
    for d in crate::server::db::directories::list_directories(conn, org)
        .await
        .map_err(AppError::from)?
    {
        paths.push((
            format!(
                "{}:{}:{}",
                SimulatedPath::Directory,
                d.id,
                SimulatedDirectoryEvent::Create
            ),
            format!("{} provisions them", d.name),
        ));
        paths.push((
            format!(
                "{}:{}:{}",
                SimulatedPath::Directory,
                d.id,
                SimulatedDirectoryEvent::Deactivate
            ),
            format!("{} deactivates them", d.name),
        ));
    }
    Ok(paths)
}

/// Runs the simulator for `path` (as [`sim_paths`] names it) and describes the answer.
#[cfg(feature = "ssr")]
pub(crate) async fn run_simulation(
    state: &crate::server::state::AppState,
    org: &crate::domain::ids::OrgId,
    email: String,
    path: String,
) -> Result<SimLine, PortalError> {
    use crate::domain::policy::SimulatedPath;
    use crate::server::service::policy::{self, SimPath, SimulateInput};
    let parts: Vec<&str> = path.split(':').collect();
    let (first, rest) = parts.split_first().map_or(("", &[][..]), |(f, r)| (*f, r));
    let sim_path = match (SimulatedPath::parse(first), rest) {
        (Some(SimulatedPath::Invitation), []) => SimPath::Invitation {
            role: None,
            inviter_membership_id: None,
        },
        (Some(SimulatedPath::Sso), [id]) => SimPath::Sso {
            connection_id: (*id).to_owned(),
        },
        (Some(SimulatedPath::Directory), [id, event]) => SimPath::Directory {
            directory_id: (*id).to_owned(),
            event: (*event).to_owned(),
        },
        _ => {
            return Err(PortalError::Invalid {
                field: "path".into(),
                message: "choose what to simulate: an invitation, a sign-in or a directory change"
                    .into(),
            })
        }
    };
    let r = policy::simulate(
        state,
        org,
        SimulateInput {
            email: email.clone(),
            path: sim_path,
        },
    )
    .await?;
    Ok(SimLine {
        email,
        path,
        decision: r.decision,
        role: r.membership.map(|m| m.role),
        reasons: r
            .reasons
            .into_iter()
            .map(|x| (x.rule, x.outcome, x.detail))
            .collect(),
    })
}

#[cfg(feature = "ssr")]
fn on_off(field: &'static str, v: Option<String>) -> Result<Option<bool>, PortalError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some("on" | "true" | "yes") => Ok(Some(true)),
        Some("off" | "false" | "no") => Ok(Some(false)),
        Some(_) => Err(PortalError::Invalid {
            field: field.into(),
            message: format!("{field} must be on or off"),
        }),
    }
}

#[cfg(feature = "ssr")]
fn list(v: Option<String>) -> Option<Vec<String>> {
    v.map(|s| {
        s.split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// Saves the posted fields (or previews their impact). Each field needs its intent.
#[server(prefix = "/portal/api", endpoint = "update_policy")]
pub async fn update_policy(policy: PolicyForm) -> Result<(), PortalError> {
    use crate::server::service::policy::{self as svc, Editor, PolicyPatch};
    let c = super::ctx::caller().await?;
    let f = policy;
    let grace = match f.removal_grace_days.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(d.parse::<i64>().map_err(|_| PortalError::Invalid {
            field: "removal_grace_days".into(),
            message: "removal_grace_days must be a number of days from 0 to 90".into(),
        })?),
    };
    let patch = PolicyPatch {
        sso_required_domains: list(f.sso_required_domains),
        guest_invitations: on_off("guest_invitations", f.guest_invitations)?,
        jit_enabled: on_off("jit_enabled", f.jit_enabled)?,
        default_role: f.default_role.filter(|r| !r.trim().is_empty()),
        inviters: f.inviters.filter(|r| !r.trim().is_empty()),
        invitable_roles: list(f.invitable_roles),
        directory_authoritative: on_off("directory_authoritative", f.directory_authoritative)?,
        directory_deactivation: f.directory_deactivation.filter(|r| !r.trim().is_empty()),
        removal_grace_days: grace,
        protect_last_admin: on_off("protect_last_admin", f.protect_last_admin)?,
        locked: None,
        dry_run: f.dry_run.is_some(),
    };
    let intents = c.grant.intents.as_slice().to_vec();
    let r = svc::update(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        Editor::Portal(&intents),
        patch,
    )
    .await?;
    let mut people: Vec<String> = Vec::new();
    people.extend(
        r.impact
            .lose_access
            .iter()
            .map(|e| format!("loses access: {e}")),
    );
    people.extend(
        r.impact
            .gain_access
            .iter()
            .map(|e| format!("gets access back: {e}")),
    );
    people.extend(
        r.impact
            .invitations
            .iter()
            .map(|e| format!("invitation: {e}")),
    );

    super::directories::flash::put(
        CHANGE_FLASH,
        &ChangeLine {
            saved: r.saved,
            summary: r.impact.summary,
            people,
        },
    )
    .await
}

/// Runs the simulator (any portal session) and keeps the answer for the page.
#[server(prefix = "/portal/api", endpoint = "simulate")]
pub async fn simulate_access(email: String, path: String) -> Result<(), PortalError> {
    let c = super::ctx::caller().await?;
    let line = run_simulation(&c.state, &c.grant.org(), email, path).await?;
    super::directories::flash::put(SIM_FLASH, &line).await
}
