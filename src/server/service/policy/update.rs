//! Changing the policy: a patch checked field by field, its impact on members and pending
//! invitations, and the audited write.

use crate::domain::ids::{DirectoryId, OrgId};
use crate::domain::text::count;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::domain_state::DomainState;
use crate::domain::event_type::EventType;
use crate::domain::intent::Intent;
use crate::domain::invitation::InvitationState;
use crate::domain::policy::{DeactivationAction, Inviters};
use crate::domain::target::TargetKind;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{invalid, view, Policy, PolicyView, Trace, ALL_VERIFIED, MAX_GRACE_DAYS};

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

/// Applies a patch to a copy, validating every field.
async fn patched(
    conn: &mut Conn,
    organization_id: &str,
    current: &PolicyView,
    p: &PolicyPatch,
) -> Result<PolicyView, AppError> {
    let mut next = current.clone();
    if let Some(list) = &p.sso_required_domains {
        next.policy.sso_required_domains =
            clean_sso_required_domains(conn, organization_id, list).await?;
    }
    if let Some(v) = p.guest_invitations {
        next.policy.guest_invitations = v;
    }
    if let Some(v) = p.jit_enabled {
        next.policy.jit_enabled = v;
    }
    if let Some(r) = &p.default_role {
        next.default_role = crate::server::service::roles::check(conn, "default_role", r)
            .await?
            .slug;
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
        next.policy.invitable_roles = clean_invitable_roles(conn, list).await?;
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

/// The domains SSO is required for, checked (each verified by the organization, or `"*"`
/// alone), normalized and without repeats.
async fn clean_sso_required_domains(
    conn: &mut Conn,
    organization_id: &str,
    list: &[String],
) -> Result<Vec<String>, AppError> {
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
    Ok(clean)
}

/// The roles invitations may grant, each checked, without repeats.
async fn clean_invitable_roles(conn: &mut Conn, list: &[String]) -> Result<Vec<String>, AppError> {
    let mut clean = Vec::new();
    for r in list {
        let role = crate::server::service::roles::check(conn, "invitable_roles", r).await?;
        if !clean.contains(&role.slug) {
            clean.push(role.slug);
        }
    }
    Ok(clean)
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
    if let Err(e) = crate::server::service::invitations::guest_check(
        conn,
        organization_id,
        policy,
        email,
        &mut t,
    )
    .await
    {
        return Ok(format!("refused ({e})"));
    }
    if let Err(why) =
        crate::server::service::invitations::recheck_at_acceptance(conn, policy, inv, &mut t)
            .await?
    {
        return Ok(format!("refused ({why})"));
    }
    Ok(
        match crate::server::service::invitations::acceptance_route(
            conn,
            organization_id,
            policy,
            email,
            &mut t,
        )
        .await?
        {
            crate::server::service::invitations::Route::Link => "by emailed link".into(),
            crate::server::service::invitations::Route::Sso(c) => {
                format!("through SSO ({})", c.name)
            }
            crate::server::service::invitations::Route::Unavailable(d) => {
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
        let index = crate::server::service::directories::AuthoritativeIndex::new(rows);
        for m in crate::server::db::health::active_members(conn, organization_id).await? {
            let refused = crate::server::service::directories::gate_verdict(
                &index.flags(Some(&m.user_id), &m.email),
            )
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
                    ": the {} the directory already suspended stay as they are",
                    count(already, "member", "members")
                )
            } else {
                String::new()
            }
        ));
    }
    if !out.lose_access.is_empty() {
        out.summary.push(format!(
            "{} could no longer sign in: the directory does not provision them or deactivated them",
            count(out.lose_access.len(), "active member", "active members")
        ));
    }
    if !out.gain_access.is_empty() {
        out.summary.push(format!(
            "{} the directory keeps out could sign in again",
            count(out.gain_access.len(), "member", "members")
        ));
    }
    if !out.invitations.is_empty() {
        out.summary.push(format!(
            "{} would be accepted differently",
            count(
                out.invitations.len(),
                "pending invitation",
                "pending invitations"
            )
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
        check_portal_fields(intents, &fields, &before)?;
    }
    let after = patched(tx.conn(), organization_id, &before, &patch).await?;
    // The policy's authority setting applies to every live directory: "already so" only when
    // each of them already has it.
    let directories_to_change =
        directories_to_change(tx.conn(), organization_id, patch.directory_authoritative).await?;
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
    set_directories_authority(
        &mut tx,
        organization_id,
        &directories_to_change,
        after.directory_authoritative,
        now,
    )
    .await?;
    let (changed_before, changed_after) = changed_values(&before, &after);
    tx.record(
        Some(organization_id),
        EventType::PolicyUpdated,
        vec![Target::new(TargetKind::Organization, organization_id, None)],
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

/// The customer's admin may change only the fields their setup link's intents cover and the
/// vendor did not lock.
fn check_portal_fields(
    intents: &[Intent],
    fields: &[&'static str],
    before: &PolicyView,
) -> Result<(), AppError> {
    for f in fields {
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
    Ok(())
}

/// The live directories whose authority a patch's `directory_authoritative` changes, as (id,
/// name): none without the field; an error when there is no directory to change.
async fn directories_to_change(
    conn: &mut Conn,
    organization_id: &str,
    authoritative: Option<bool>,
) -> Result<Vec<(String, String)>, AppError> {
    let directories = db::directories::list_directories(conn, organization_id).await?;
    Ok(match authoritative {
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
    })
}

/// Gives each listed directory the policy's authority setting, each change audited.
async fn set_directories_authority(
    tx: &mut AuditedTx,
    organization_id: &str,
    directories: &[(String, String)],
    authoritative: bool,
    now: i64,
) -> Result<(), AppError> {
    for (id, name) in directories {
        db::directories::update_directory(
            tx.conn(),
            &OrgId::from_stored(organization_id),
            &DirectoryId::from_stored(id.as_str()),
            name,
            authoritative,
            now,
        )
        .await?;
        tx.record(
            Some(organization_id),
            EventType::DirectoryUpdated,
            vec![Target::new(TargetKind::Directory, id, Some(name))],
            json!({ "authoritative": authoritative, "via": "policy" }),
        )
        .await?;
    }
    Ok(())
}

/// The fields whose value differs between two views: (their values before, after).
fn changed_values(
    before: &PolicyView,
    after: &PolicyView,
) -> (
    serde_json::Map<String, serde_json::Value>,
    serde_json::Map<String, serde_json::Value>,
) {
    let (b, a) = (
        serde_json::to_value(before).unwrap_or_default(),
        serde_json::to_value(after).unwrap_or_default(),
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
    (changed_before, changed_after)
}
