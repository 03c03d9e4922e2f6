//! The organization's access policy: where each access decision is made and by which rule. The
//! rules themselves live where they are enforced (JIT in `sso::admission`, invitations in
//! `invitations::invite_checks` and `invitations::acceptance_route`, directories in
//! `directories::gate` and `directories::deactivation_plan`); each writes what it decided into a
//! [`Trace`]. Enforcement ignores the trace; the simulator returns it — so the simulator's answer
//! is, by construction, the enforcement's.

use crate::domain::connection::ConnectionState;
use crate::domain::domain_state::DomainState;
use crate::domain::event_type::EventType;
use crate::domain::ids::OrgId;
use crate::domain::invitation::InvitationState;
use crate::domain::policy::{
    ControlPointKey, DeactivationAction, Inviters, RuleOutcome, SimulatedDirectoryEvent, TraceRule,
};
use crate::domain::target::TargetKind;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::intent::Intent;
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

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

/// `PATCH /organizations/{id}/policy`: any subset of the fields; `dry_run` answers the impact
/// without saving.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    pub sso_required_domains: Option<Vec<String>>,
    pub guest_invitations: Option<bool>,
    pub jit_enabled: Option<bool>,
    pub default_role: Option<String>,
    pub inviters: Option<String>,
    pub invitable_roles: Option<Vec<String>>,
    pub directory_authoritative: Option<bool>,
    pub directory_deactivation: Option<String>,
    pub removal_grace_days: Option<i64>,
    pub protect_last_admin: Option<bool>,
    /// Vendor only: fields the customer's admin may not change.
    pub locked: Option<Vec<String>>,
    #[serde(default)]
    pub dry_run: bool,
}

/// Field names of the policy, with the portal intent that may change each.
pub const FIELDS: [(&str, Intent); 10] = [
    ("sso_required_domains", Intent::Sso),
    ("jit_enabled", Intent::Sso),
    ("default_role", Intent::Sso),
    ("guest_invitations", Intent::Invitations),
    ("inviters", Intent::Invitations),
    ("invitable_roles", Intent::Invitations),
    ("directory_authoritative", Intent::Dsync),
    ("directory_deactivation", Intent::Dsync),
    ("removal_grace_days", Intent::Dsync),
    ("protect_last_admin", Intent::Dsync),
];

impl PolicyPatch {
    /// The fields this patch sets.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        let set = [
            self.sso_required_domains.is_some(),
            self.jit_enabled.is_some(),
            self.default_role.is_some(),
            self.guest_invitations.is_some(),
            self.inviters.is_some(),
            self.invitable_roles.is_some(),
            self.directory_authoritative.is_some(),
            self.directory_deactivation.is_some(),
            self.removal_grace_days.is_some(),
            self.protect_last_admin.is_some(),
        ];
        for (i, on) in set.into_iter().enumerate() {
            if on {
                f.push(FIELDS[i].0);
            }
        }
        if self.locked.is_some() {
            f.push("locked");
        }
        f
    }
}

/// Who edits: the vendor (API) may change everything and lock fields; the customer's admin
/// only the fields their setup link's intents cover and the vendor did not lock.
pub enum Editor<'a> {
    Vendor,
    Portal(&'a [Intent]),
}

/// Who would gain or lose what if a change were saved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Impact {
    /// Active members who could no longer sign in.
    pub lose_access: Vec<String>,
    /// Active members whom the directory keeps out today and who could sign in again.
    pub gain_access: Vec<String>,
    /// Pending invitations whose acceptance would change: "dana@acme.com: by emailed link → through SSO (Okta)".
    pub invitations: Vec<String>,
    /// The same in words.
    pub summary: Vec<String>,
}

/// The answer of a PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyUpdate {
    pub policy: PolicyView,
    pub impact: Impact,
    /// False for a dry run.
    pub saved: bool,
}

fn invalid(field: &'static str, message: impl Into<String>) -> AppError {
    FieldError::new(field, message).into()
}

/// Applies a patch to a copy, validating every field.
async fn patched(
    conn: &mut Conn,
    organization_id: &str,
    current: &PolicyView,
    p: &PolicyPatch,
) -> Result<PolicyView, AppError> {
    let mut next = current.clone();
    if let Some(list) = &p.sso_required_domains {
        let domains = db::domains::list(conn, organization_id).await?;
        let mut clean = Vec::new();
        for d in list {
            let d = d.trim().trim_end_matches('.').to_lowercase();
            if d != ALL_VERIFIED {
                match domains.iter().find(|x| x.domain == d) {
                    None => return Err(invalid(
                        "sso_required_domains",
                        format!("{d} is not one of this organization's domains; add and verify it first, or use \"*\" for every verified domain"),
                    )),
                    Some(x) if x.state != DomainState::Verified => return Err(invalid(
                        "sso_required_domains",
                        format!("{d} is {}: SSO can be required only for a verified domain", x.state),
                    )),
                    Some(_) => {}
                }
            }
            if !clean.contains(&d) {
                clean.push(d);
            }
        }
        if clean.len() > 1 && clean.iter().any(|d| d == ALL_VERIFIED) {
            return Err(invalid(
                "sso_required_domains",
                "use either \"*\" (every verified domain) or a list of domains, not both",
            ));
        }
        next.policy.sso_required_domains = clean;
    }
    if let Some(v) = p.guest_invitations {
        next.policy.guest_invitations = v;
    }
    if let Some(v) = p.jit_enabled {
        next.policy.jit_enabled = v;
    }
    if let Some(r) = &p.default_role {
        next.default_role = super::roles::check(conn, "default_role", r).await?.slug;
    }
    if let Some(v) = &p.inviters {
        if Inviters::parse(v).is_none() {
            return Err(invalid(
                "inviters",
                "inviters must be \"members\" (any active member, up to their own role) or \"admins\"",
            ));
        }
        next.policy.inviters = v.clone();
    }
    if let Some(list) = &p.invitable_roles {
        let mut clean = Vec::new();
        for r in list {
            let role = super::roles::check(conn, "invitable_roles", r).await?;
            if !clean.contains(&role.slug) {
                clean.push(role.slug);
            }
        }
        next.policy.invitable_roles = clean;
    }
    if let Some(v) = p.directory_authoritative {
        next.directory_authoritative = v;
    }
    if let Some(v) = &p.directory_deactivation {
        if DeactivationAction::parse(v).is_none() {
            return Err(invalid(
                "directory_deactivation",
                "directory_deactivation must be \"suspend\" or \"remove\"",
            ));
        }
        next.policy.directory_deactivation = v.clone();
    }
    if let Some(v) = p.removal_grace_days {
        if !(0..=MAX_GRACE_DAYS).contains(&v) {
            return Err(invalid(
                "removal_grace_days",
                format!("removal_grace_days must be from 0 to {MAX_GRACE_DAYS}"),
            ));
        }
        next.policy.removal_grace_days = v;
    }
    if let Some(v) = p.protect_last_admin {
        next.policy.protect_last_admin = v;
    }
    if let Some(list) = &p.locked {
        for f in list {
            if !FIELDS.iter().any(|(n, _)| n == f) {
                return Err(invalid(
                    "locked",
                    format!("{f} is not a policy field; lockable: {}", lockable()),
                ));
            }
        }
        next.policy.locked = list.clone();
    }
    Ok(next)
}

fn lockable() -> String {
    FIELDS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a pending invitation's acceptance would be under `policy` (in words): the acceptance's
/// own checks (guests, the inviter and role re-check, the SSO route).
async fn route_words(
    conn: &mut Conn,
    organization_id: &str,
    policy: &Policy,
    inv: &db::invitations::InvitationRow,
) -> Result<String, AppError> {
    let email = inv.email.as_str();
    let mut t = Trace::default();
    if let Err(e) =
        super::invitations::guest_check(conn, organization_id, policy, email, &mut t).await
    {
        return Ok(format!("refused ({e})"));
    }
    if let Err(why) = super::invitations::recheck_at_acceptance(conn, policy, inv, &mut t).await? {
        return Ok(format!("refused ({why})"));
    }
    Ok(
        match super::invitations::acceptance_route(conn, organization_id, policy, email, &mut t)
            .await?
        {
            super::invitations::Route::Link => "by emailed link".into(),
            super::invitations::Route::Sso(c) => format!("through SSO ({})", c.name),
            super::invitations::Route::Unavailable(d) => {
                format!("refused (SSO required for {d}, no active connection)")
            }
        },
    )
}

/// Who gains or loses what between two policies.
async fn impact(
    conn: &mut Conn,
    organization_id: &str,
    before: &PolicyView,
    after: &PolicyView,
    now: i64,
) -> Result<Impact, AppError> {
    let mut out = Impact::default();
    if before.directory_authoritative != after.directory_authoritative {
        // The gate's own verdict over the directories' users, as if they were (or were not)
        // authoritative.
        let rows = crate::server::db::health::directory_flags(conn, organization_id).await?;
        let index = super::directories::AuthoritativeIndex::new(rows);
        for m in crate::server::db::health::active_members(conn, organization_id).await? {
            let refused =
                super::directories::gate_verdict(&index.flags(Some(&m.user_id), &m.email))
                    .is_some();
            if refused && after.directory_authoritative {
                out.lose_access.push(m.email);
            } else if refused && before.directory_authoritative {
                out.gain_access.push(m.email);
            }
        }
    }
    if before.policy.sso_required_domains != after.policy.sso_required_domains
        || before.policy.guest_invitations != after.policy.guest_invitations
        || before.policy.inviters != after.policy.inviters
        || before.policy.invitable_roles != after.policy.invitable_roles
    {
        for inv in db::invitations::list_invitations(
            conn,
            organization_id,
            Some(InvitationState::Pending.as_str()),
            1000,
        )
        .await?
        .into_iter()
        .filter(|i| i.expires_at > now)
        {
            let a = route_words(conn, organization_id, &before.policy, &inv).await?;
            let b = route_words(conn, organization_id, &after.policy, &inv).await?;
            if a != b {
                out.invitations.push(format!("{}: {a} → {b}", inv.email));
            }
        }
    }
    if after.policy.directory_deactivation != before.policy.directory_deactivation
        || after.policy.removal_grace_days != before.policy.removal_grace_days
    {
        let already = crate::server::db::health::directory_suspended(conn, organization_id)
            .await?
            .len();
        out.summary.push(format!(
            "The deactivation rule applies to future deactivations{}.",
            if already > 0 {
                format!(
                    ": the {already} member(s) the directory already suspended stay as they are"
                )
            } else {
                String::new()
            }
        ));
    }
    if !out.lose_access.is_empty() {
        out.summary.push(format!(
            "{} active member(s) could no longer sign in: the directory does not provision them or deactivated them",
            out.lose_access.len()
        ));
    }
    if !out.gain_access.is_empty() {
        out.summary.push(format!(
            "{} member(s) the directory keeps out could sign in again",
            out.gain_access.len()
        ));
    }
    if !out.invitations.is_empty() {
        out.summary.push(format!(
            "{} pending invitation(s) would be accepted differently",
            out.invitations.len()
        ));
    }
    if out.summary.is_empty() {
        out.summary
            .push("Nobody gains or loses access or a role right now: the change applies to future sign-ins, invitations and directory changes.".into());
    }
    Ok(out)
}

/// Changes the policy (or, with `dry_run`, only answers its impact). Audited with the values
/// before and after.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    editor: Editor<'_>,
    patch: PolicyPatch,
) -> Result<PolicyUpdate, AppError> {
    let fields = patch.fields();
    if let Editor::Portal(_) = &editor {
        if fields.contains(&"locked") {
            return Err(AppError::Forbidden(
                "locking policy fields is for the vendor".into(),
            ));
        }
    }
    let now = state.clock.now();
    // Read, check, compute and write in one transaction, the organization's row locked on
    // PostgreSQL (SQLite has one writer): a concurrent change — a vendor adding a lock — is
    // either seen by these checks or waits for this write.
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    db::organizations::lock(tx.conn(), organization_id).await?;
    let before = view(tx.conn(), organization_id).await?;
    if let Editor::Portal(intents) = &editor {
        for f in &fields {
            if let Some((_, intent)) = FIELDS.iter().find(|(n, _)| n == f) {
                if !intents.contains(intent) {
                    return Err(AppError::Forbidden(format!(
                        "changing {f} (your setup link does not include {})",
                        intent.title()
                    )));
                }
            }
            if before.policy.locked.iter().any(|l| l == f) {
                return Err(AppError::Forbidden(format!(
                    "changing {f}: your vendor set it for your organization"
                )));
            }
        }
    }
    let after = patched(tx.conn(), organization_id, &before, &patch).await?;
    // The policy's authority setting applies to every live directory: "already so" only when
    // each of them already has it.
    let directories = db::directories::list_directories(tx.conn(), organization_id).await?;
    let directories_to_change: Vec<_> = match patch.directory_authoritative {
        Some(v) if directories.is_empty() => {
            return Err(invalid(
                "directory_authoritative",
                format!(
                "this organization has no directory yet; it can be made {} once one is connected",
                if v {
                    "authoritative"
                } else {
                    "non-authoritative"
                }
            ),
            ))
        }
        Some(v) => directories
            .iter()
            .filter(|d| d.authoritative != v)
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect(),
        None => Vec::new(),
    };
    let impact = impact(tx.conn(), organization_id, &before, &after, now).await?;
    if patch.dry_run || (after == before && directories_to_change.is_empty()) {
        drop(tx);
        return Ok(PolicyUpdate {
            policy: if patch.dry_run { after } else { before },
            impact,
            saved: false,
        });
    }
    let stored = serde_json::to_string(&after.policy).unwrap_or_else(|_| "{}".into());
    sqlx::query("UPDATE organizations SET policy = $2, default_role = $3, updated_at = $4 WHERE id = $1 AND deleted_at IS NULL")
        .bind(organization_id)
        .bind(&stored)
        .bind(&after.default_role)
        .bind(now)
        .execute(&mut *tx.conn())
        .await?;
    for (id, name) in &directories_to_change {
        db::directories::update_directory(
            tx.conn(),
            organization_id,
            id,
            name,
            after.directory_authoritative,
            now,
        )
        .await?;
        tx.record(
            Some(organization_id),
            EventType::DirectoryUpdated,
            vec![Target::new(TargetKind::Directory.as_str(), id, Some(name))],
            json!({ "authoritative": after.directory_authoritative, "via": "policy" }),
        )
        .await?;
    }
    let (b, a) = (
        serde_json::to_value(&before).unwrap_or_default(),
        serde_json::to_value(&after).unwrap_or_default(),
    );
    let mut changed_before = serde_json::Map::new();
    let mut changed_after = serde_json::Map::new();
    if let (Some(bo), Some(ao)) = (b.as_object(), a.as_object()) {
        for (k, v) in ao {
            if bo.get(k) != Some(v) {
                changed_before.insert(k.clone(), bo.get(k).cloned().unwrap_or_default());
                changed_after.insert(k.clone(), v.clone());
            }
        }
    }
    tx.record(
        Some(organization_id),
        EventType::PolicyUpdated,
        vec![Target::new(
            TargetKind::Organization.as_str(),
            organization_id,
            None,
        )],
        json!({ "before": changed_before, "after": changed_after, "impact": impact.summary }),
    )
    .await?;
    tx.commit().await?;
    Ok(PolicyUpdate {
        policy: after,
        impact,
        saved: true,
    })
}

// --- the simulator ------------------------------------------------------------------------

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
            let row = db::connections::get_connection(&mut conn, organization_id, &connection_id)
                .await?
                .ok_or_else(|| {
                    invalid(
                        "path.connection_id",
                        "no SSO connection with this id in this organization",
                    )
                })?;
            // Someone who signed in through this connection before is a returning identity.
            let subject: Option<String> = sqlx::query_scalar(
                "SELECT idp_subject FROM user_identities WHERE connection_id = $1 AND email = $2 ORDER BY last_login_at DESC LIMIT 1",
            )
            .bind(&row.id)
            .bind(&email)
            .fetch_optional(&mut *conn)
            .await?;
            match super::sso::admission(&mut conn, &row, Some(&email), subject.as_deref(), &mut t)
                .await?
            {
                Ok(a) => (true, Some(a.role().to_owned())),
                Err(_) => (false, None),
            }
        }
        SimPath::Invitation {
            role,
            inviter_membership_id,
        } => {
            let wanted = role
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| org.default_role.clone());
            let acting = super::members::acting_role(
                &mut conn,
                organization_id,
                "path.inviter_membership_id",
                inviter_membership_id.as_deref(),
            )
            .await?;
            match super::invitations::invite_checks(
                &mut conn,
                organization_id,
                &policy,
                &email,
                &wanted,
                acting.as_ref(),
                &mut t,
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
                    match super::invitations::acceptance_route(
                        &mut conn,
                        organization_id,
                        &policy,
                        &email,
                        &mut t,
                    )
                    .await?
                    {
                        super::invitations::Route::Unavailable(_) => (false, None),
                        _ => (true, Some(role)),
                    }
                }
            }
        }
        SimPath::Directory {
            directory_id,
            event,
        } => {
            let dir = db::directories::get_directory(&mut conn, organization_id, &directory_id)
                .await?
                .ok_or_else(|| {
                    invalid(
                        "path.directory_id",
                        "no directory with this id in this organization",
                    )
                })?;
            match SimulatedDirectoryEvent::parse(&event) {
                Some(SimulatedDirectoryEvent::Create) => {
                    let (allowed, role) =
                        super::directories::creation_plan(&mut conn, &org, &dir, &email, &mut t)
                            .await?;
                    (allowed, allowed.then_some(role))
                }
                Some(SimulatedDirectoryEvent::Deactivate) => {
                    super::directories::deactivation_plan(
                        &mut conn, &policy, &org.id, &dir, &email, &mut t,
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
            }
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

// --- control points -----------------------------------------------------------------------

/// One of the five places an access decision is made, and what it decides now, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlPoint {
    /// sso_connection | domain_verification | invitation | jit_provisioning | directory_sync
    pub key: String,
    pub title: String,
    /// Each sentence is one decision this point makes for the organization right now.
    pub decisions: Vec<String>,
}

fn or_list(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// The organization's control points, written from the same policy and configuration the
/// enforcement reads.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn control_points(
    state: &AppState,
    organization_id: &str,
) -> Result<Vec<ControlPoint>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let v = view(&mut conn, organization_id).await?;
    let p = &v.policy;
    let connections = db::connections::list_connections(&mut conn, organization_id).await?;
    let active: Vec<String> = connections
        .iter()
        .filter(|c| c.state == ConnectionState::Active)
        .map(|c| format!("{} {}", c.name, c.kind.to_uppercase()))
        .collect();
    let domains = db::domains::list(&mut conn, organization_id).await?;
    let verified: Vec<String> = domains
        .iter()
        .filter(|d| d.state == DomainState::Verified)
        .map(|d| d.domain.clone())
        .collect();
    let at = |list: &[String]| {
        or_list(
            &list
                .iter()
                .map(|d| format!("@{d}"))
                .collect::<Vec<String>>(),
        )
    };
    let role_name = super::roles::resolve(&mut conn, &v.default_role)
        .await?
        .map(|r| r.name)
        .unwrap_or_else(|| v.default_role.clone());
    let dirs = db::directories::list_directories(&mut conn, organization_id).await?;

    let mut sso = Vec::new();
    if active.is_empty() {
        sso.push(if connections.is_empty() {
            "No SSO connection yet: nobody signs in through the organization's identity provider.".to_owned()
        } else {
            "No SSO connection is active: sign-ins through the identity provider are refused until one is tested and activated.".to_owned()
        });
    } else {
        sso.push(format!(
            "People sign in through {}; Lanyard checks the identity provider's signature, issuer, audience and expiry on every sign-in.",
            or_list(&active)
        ));
    }
    for c in connections
        .iter()
        .filter(|c| c.state != ConnectionState::Active)
    {
        sso.push(format!(
            "{} ({}) is {}: sign-ins through it are refused.",
            c.name,
            c.kind.to_uppercase(),
            c.state
        ));
    }

    let mut dom = Vec::new();
    if verified.is_empty() {
        dom.push("No verified domain: nobody is recognised as the organization's by their email address, so JIT adds nobody.".to_owned());
    } else {
        dom.push(format!(
            "{} verified: addresses there are recognised as this organization's, and no other organization can claim them.",
            or_list(&verified)
        ));
    }
    for d in domains.iter().filter(|d| d.state != DomainState::Verified) {
        dom.push(format!(
            "{} is {}: it grants nothing until its TXT record is found.",
            d.domain, d.state
        ));
    }

    let mut inv = Vec::new();
    let required: Vec<String> = if p.sso_required_domains.iter().any(|d| d == ALL_VERIFIED) {
        verified.clone()
    } else {
        p.sso_required_domains.clone()
    };
    if required.is_empty() {
        inv.push(
            "Invitations need only the emailed link: SSO is not required for any domain."
                .to_owned(),
        );
    } else if active.is_empty() && p.sso_required_domains.iter().any(|d| d == ALL_VERIFIED) {
        inv.push(format!(
            "Invitations to {} addresses will go through single sign-on once a connection is active; until then the emailed link is enough.",
            at(&required)
        ));
    } else if active.is_empty() {
        inv.push(format!(
            "SSO is required for {} but no connection is active: those invitations cannot be accepted yet.",
            at(&required)
        ));
    } else {
        inv.push(format!(
            "Invitations to {} addresses go through single sign-on with {}: the person must sign in there as the invited address.",
            at(&required),
            or_list(&active)
        ));
    }
    let outside = if verified.is_empty() {
        "any address".to_owned()
    } else {
        format!("addresses outside {}", or_list(&verified))
    };
    inv.push(if p.guest_invitations {
        format!("Invitations to {outside} are allowed and need an emailed link.")
    } else {
        format!("Invitations to {outside} are not allowed.")
    });
    inv.push(if p.inviters == Inviters::Admins {
        "Only admins (and the vendor) may invite.".to_owned()
    } else {
        "Any active member may invite, up to their own role (and the vendor and the organization's admin).".to_owned()
    });
    if !p.invitable_roles.is_empty() {
        inv.push(format!(
            "Invitations may grant only: {}.",
            p.invitable_roles.join(", ")
        ));
    }

    let mut jit = Vec::new();
    if !p.jit_enabled {
        jit.push("JIT provisioning is off: only invited or directory-provisioned people become members; others are refused at sign-in.".to_owned());
    } else if verified.is_empty() || active.is_empty() {
        jit.push(format!("JIT provisioning is on, but nobody is added yet: it needs a verified domain and an active SSO connection. New members get the role {role_name}."));
    } else {
        jit.push(format!(
            "People with an {} address who sign in through {} are added as {role_name}.",
            at(&verified),
            or_list(&active)
        ));
    }

    let mut dsync = Vec::new();
    if dirs.is_empty() {
        dsync.push(
            "No directory: joiners, movers and leavers are not synced; remove people by hand."
                .to_owned(),
        );
    }
    for d in &dirs {
        dsync.push(if d.authoritative {
            format!("{} is authoritative: only people it provisions and keeps active can sign in or accept invitations.", d.name)
        } else {
            format!("{} is not authoritative: people it does not know may still join by JIT or invitation.", d.name)
        });
        let then = if p.directory_deactivation == DeactivationAction::Remove {
            if p.removal_grace_days == 0 {
                ", and removes them at once".to_owned()
            } else {
                format!(", and removes them after {} days", p.removal_grace_days)
            }
        } else {
            ", and keeps them suspended until it reactivates them".to_owned()
        };
        dsync.push(format!(
            "When {} deactivates someone, Lanyard suspends them and ends their sessions immediately{then}.",
            d.name
        ));
    }
    dsync.push(if p.protect_last_admin {
        "A directory cannot remove the last active admin: they stay suspended, a warning event is recorded and support sees a flag.".to_owned()
    } else {
        "The last active admin is removed like anyone else (a warning event is recorded and support sees a flag).".to_owned()
    });

    Ok([
        (ControlPointKey::SsoConnection, sso),
        (ControlPointKey::DomainVerification, dom),
        (ControlPointKey::Invitation, inv),
        (ControlPointKey::JitProvisioning, jit),
        (ControlPointKey::DirectorySync, dsync),
    ]
    .into_iter()
    .map(|(key, decisions)| ControlPoint {
        key: key.as_str().into(),
        title: key.title().into(),
        decisions,
    })
    .collect())
}
