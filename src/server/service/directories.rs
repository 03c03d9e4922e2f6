//! Directories (SCIM directory sync): creation with a bearer token shown once, token rotation
//! with overlap, the membership lifecycle a directory drives (joiner, mover, leaver), group →
//! role mappings with a dry-run preview, the SCIM request log and the directory's health.

use super::policy::Trace;
use crate::domain::event_type::EventType;
use crate::domain::membership::{GrantKind, MembershipState};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::membership_lifecycle::{self as lifecycle, Change, Record, RowWrite};
use crate::domain::directory::{winning_group, DirectoryKind};
use crate::domain::ids::{is_valid_id, IdKind};
use crate::domain::reconcile::{
    self, Effect, Group, InDirectory, Inputs, NewestGrant, SuspendReason,
};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::crypto::{hash_secret, new_secret};
use crate::server::db::{self, Conn};
use crate::server::db::{
    directories::DirectoryRow, directory_users::DirUserRow, scim_log::LogFilter,
};
use crate::server::error::AppError;
use crate::server::state::AppState;

/// Prefix of SCIM bearer tokens, so a leaked one is recognisable.
pub const SCIM_TOKEN_PREFIX: &str = "lanyard_scim_";

/// A still-valid bearer token, described without its secret.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// The last four characters.
    pub hint: String,
    pub created_at: i64,
    /// Set once the token was rotated out: it stops working at this time.
    pub expires_at: Option<i64>,
}

/// How the directory has been talking to Lanyard.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryHealth {
    pub last_request_at: Option<i64>,
    pub requests_24h: i64,
    pub errors_24h: i64,
    /// The last failed request: `"<status> <METHOD> <path>: <detail>"`.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub users: i64,
    pub groups: i64,
}

/// A directory as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Directory {
    /// `dir_…`
    pub id: String,
    pub organization_id: String,
    /// okta | entra | onelogin | jumpcloud | generic_scim
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// When true, only people this directory provisioned and keeps active can get in.
    pub authoritative: bool,
    /// The SCIM base URL to paste into the IdP.
    pub scim_base_url: String,
    pub tokens: Vec<TokenInfo>,
    pub health: DirectoryHealth,
    pub created_at: i64,
}

/// A new directory (or a rotated token): the only time the token is shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryWithToken {
    #[serde(flatten)]
    pub directory: Directory,
    /// `lanyard_scim_…`; stored only as a hash, shown this once.
    pub bearer_token: String,
}

/// `POST /organizations/{id}/directories`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDirectory {
    /// okta | entra | onelogin | jumpcloud | generic_scim
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// Default true: the directory is the source of truth for membership.
    pub authoritative: Option<bool>,
}

/// `PATCH /directories/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDirectory {
    pub name: Option<String>,
    pub authoritative: Option<bool>,
}

fn not_found() -> AppError {
    AppError::NotFound("directory")
}

/// The SCIM base URL of a directory.
pub fn scim_base_url(state: &AppState, id: &str) -> String {
    format!("{}/scim/v2/{id}", state.config.base_url())
}

fn check_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FieldError::new(
            "name",
            "give the directory a name of 1 to 100 characters, like \"Okta production\"",
        ));
    }
    Ok(name.to_owned())
}

/// The audit actor for changes a directory pushes.
pub fn directory_actor(id: &str, name: &str) -> Actor {
    Actor {
        kind: crate::domain::actor::ActorKind::Directory,
        id: id.to_owned(),
        name: name.to_owned(),
    }
}

async fn view(state: &AppState, conn: &mut Conn, r: DirectoryRow) -> Result<Directory, AppError> {
    let now = state.clock.now();
    let tokens = db::directory_tokens::live_tokens(conn, &r.id, now)
        .await?
        .into_iter()
        .map(
            |db::directory_tokens::LiveToken {
                 hint,
                 created_at,
                 expires_at,
             }| TokenInfo {
                hint,
                created_at,
                expires_at,
            },
        )
        .collect();
    let db::scim_log::RequestStats {
        requests: requests_24h,
        errors: errors_24h,
        last_request_at,
    } = db::scim_log::request_stats(conn, &r.id, now - 86_400_000).await?;
    let last = db::scim_log::last_error(conn, &r.id).await?;
    let users = db::directory_users::page_users(conn, &r.id, None, 0, 0)
        .await?
        .total;
    let groups = db::directory_groups::page_groups(conn, &r.id, None, 0, 0)
        .await?
        .total;
    Ok(Directory {
        scim_base_url: scim_base_url(state, &r.id),
        id: r.id,
        organization_id: r.organization_id,
        kind: r.kind,
        name: r.name,
        authoritative: r.authoritative != 0,
        tokens,
        health: DirectoryHealth {
            last_request_at,
            requests_24h,
            errors_24h,
            last_error_at: last.as_ref().map(|l| l.created_at),
            last_error: last.map(|l| {
                let detail = l
                    .response_body
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                    .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                    .unwrap_or_default();
                format!("{} {} {}: {detail}", l.status, l.method, l.path)
            }),
            users,
            groups,
        },
        created_at: r.created_at,
    })
}

/// Creates a directory and its first token.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    input: CreateDirectory,
) -> Result<DirectoryWithToken, AppError> {
    let kind = DirectoryKind::parse(&input.kind).ok_or_else(|| {
        FieldError::new(
            "type",
            "choose one of okta, entra, onelogin, jumpcloud, generic_scim",
        )
    })?;
    let name = check_name(&input.name)?;
    let now = state.clock.now();
    let row = DirectoryRow {
        id: db::new_id(IdKind::Directory),
        organization_id: organization_id.to_owned(),
        kind: kind.as_str().into(),
        name,
        authoritative: i64::from(input.authoritative.unwrap_or(true)),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    let token = new_secret(SCIM_TOKEN_PREFIX);
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    db::directories::insert_directory(tx.conn(), &row).await?;
    db::directory_tokens::insert_token(
        tx.conn(),
        &db::new_id(IdKind::DirectoryToken),
        &row.id,
        organization_id,
        &hash_secret(&token),
        &token[token.len() - 4..],
        now,
    )
    .await?;
    tx.record(
        Some(organization_id),
        EventType::DirectoryCreated,
        vec![Target::new("directory", &row.id, Some(&row.name))],
        json!({ "type": row.kind, "authoritative": row.authoritative != 0 }),
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.pool.acquire().await?;
    Ok(DirectoryWithToken {
        directory: view(state, &mut conn, row).await?,
        bearer_token: token,
    })
}

/// The organization a directory belongs to (vendor API lookups by directory id).
pub async fn organization_of(state: &AppState, id: &str) -> Result<String, AppError> {
    if !is_valid_id(IdKind::Directory, id) {
        return Err(not_found());
    }
    let mut conn = state.db.pool.acquire().await?;
    db::directories::directory_owner(&mut conn, id)
        .await?
        .ok_or_else(not_found)
}

/// Reads a directory of the organization.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn get(state: &AppState, organization_id: &str, id: &str) -> Result<Directory, AppError> {
    if !is_valid_id(IdKind::Directory, id) {
        return Err(not_found());
    }
    let mut conn = state.db.pool.acquire().await?;
    let row = db::directories::get_directory(&mut conn, organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    view(state, &mut conn, row).await
}

/// The organization's directories.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn list(state: &AppState, organization_id: &str) -> Result<Vec<Directory>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = db::directories::list_directories(&mut conn, organization_id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(view(state, &mut conn, r).await?);
    }
    Ok(out)
}

/// Renames a directory or changes whether it is authoritative.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &str,
    input: UpdateDirectory,
) -> Result<Directory, AppError> {
    if !is_valid_id(IdKind::Directory, id) {
        return Err(not_found());
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let mut row = db::directories::get_directory(tx.conn(), organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    let mut changes = serde_json::Map::new();
    if let Some(n) = &input.name {
        let n = check_name(n)?;
        if n != row.name {
            changes.insert("name".into(), json!({ "from": row.name, "to": n }));
            row.name = n;
        }
    }
    if let Some(a) = input.authoritative {
        if i64::from(a) != row.authoritative {
            changes.insert("authoritative".into(), json!({ "from": !a, "to": a }));
            row.authoritative = i64::from(a);
        }
    }
    if !changes.is_empty() {
        db::directories::update_directory(
            tx.conn(),
            organization_id,
            id,
            &row.name,
            row.authoritative != 0,
            now,
        )
        .await?;
        tx.record(
            Some(organization_id),
            EventType::DirectoryUpdated,
            vec![Target::new("directory", id, Some(&row.name))],
            serde_json::Value::Object(changes),
        )
        .await?;
        tx.commit().await?;
    }
    get(state, organization_id, id).await
}

/// Issues a new token; the old ones keep working for `LANYARD_SCIM_TOKEN_OVERLAP` (default 1 h)
/// so the admin can paste the new one into the IdP without a gap.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn rotate_token(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &str,
) -> Result<DirectoryWithToken, AppError> {
    if !is_valid_id(IdKind::Directory, id) {
        return Err(not_found());
    }
    let now = state.clock.now();
    let overlap = state.config.scim_token_overlap_ms;
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = db::directories::get_directory(tx.conn(), organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    db::directory_tokens::expire_tokens(tx.conn(), id, now + overlap).await?;
    let token = new_secret(SCIM_TOKEN_PREFIX);
    db::directory_tokens::insert_token(
        tx.conn(),
        &db::new_id(IdKind::DirectoryToken),
        id,
        organization_id,
        &hash_secret(&token),
        &token[token.len() - 4..],
        now,
    )
    .await?;
    tx.record(
        Some(organization_id),
        EventType::DirectoryTokenRotated,
        vec![Target::new("directory", id, Some(&row.name))],
        json!({ "previous_tokens_expire_at": now + overlap }),
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.pool.acquire().await?;
    Ok(DirectoryWithToken {
        directory: view(state, &mut conn, row).await?,
        bearer_token: token,
    })
}

/// Deletes a directory: its tokens stop at once and the members it managed are suspended (the
/// directory can no longer vouch for them).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn delete(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &str,
) -> Result<(), AppError> {
    if !is_valid_id(IdKind::Directory, id) {
        return Err(not_found());
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let row = db::directories::get_directory(tx.conn(), organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    let users = db::directory_users::all_users(tx.conn(), id).await?;
    let dir = DirCtx {
        directory_id: id.to_owned(),
        organization_id: organization_id.to_owned(),
        name: row.name.clone(),
    };
    for u in &users {
        if let Some(uid) = &u.user_id {
            suspend(
                &mut tx,
                &dir,
                uid,
                &u.user_name,
                SuspendReason::DirectoryDeleted,
                true,
            )
            .await?;
        }
    }
    db::directories::delete_directory(tx.conn(), organization_id, id, now).await?;
    tx.record(
        Some(organization_id),
        EventType::DirectoryDeleted,
        vec![Target::new("directory", id, Some(&row.name))],
        json!({ "users": users.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// --- lifecycle ----------------------------------------------------------------------------

/// The directory a SCIM request acts in.
#[derive(Debug, Clone)]
pub struct DirCtx {
    pub directory_id: String,
    pub organization_id: String,
    pub name: String,
}

/// The role a directory user should hold: (role, group that gave it).
async fn desired_role(
    conn: &mut Conn,
    dir: &DirCtx,
    dir_user_id: &str,
    mappings: Option<&[db::group_mappings::GroupRoleMapping]>,
) -> Result<(String, Option<(String, String)>), sqlx::Error> {
    let owned;
    let mappings = match mappings {
        Some(m) => m,
        None => {
            owned = db::group_mappings::mappings(conn, &dir.directory_id).await?;
            &owned
        }
    };
    if !mappings.is_empty() {
        let groups =
            db::directory_groups::groups_of_user(conn, &dir.directory_id, dir_user_id).await?;
        let mapped = mappings
            .iter()
            .filter(|m| groups.iter().any(|g| g.id == m.group_id))
            .map(|m| (m.group_id.as_str(), m.role.as_str(), m.priority));
        if let Some((g, r)) = winning_group(mapped) {
            let name = groups
                .iter()
                .find(|x| x.id == g)
                .map(|x| x.display_name.clone())
                .unwrap_or_default();
            return Ok((r.to_owned(), Some((g.to_owned(), name))));
        }
    }
    let role = db::organizations::get(conn, &dir.organization_id)
        .await?
        .map(|o| o.default_role)
        .unwrap_or_else(|| "member".into());
    Ok((role, None))
}

fn grant_detail(dir: &DirCtx, group: Option<Group<'_>>) -> serde_json::Value {
    json!({
        "directory_id": dir.directory_id,
        "directory_name": dir.name,
        "group_id": group.map(|g| g.id),
        "group_name": group.map(|g| g.name),
    })
}

/// Suspends a member in the caller's transaction when the directory's suspension applies to
/// the membership ([`reconcile::suspends`]: with `only_managed`, a membership this directory
/// does not manage — joined by JIT, managed by another directory — is left alone).
async fn suspend(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    user_id: &str,
    label: &str,
    reason: SuspendReason,
    only_managed: bool,
) -> Result<(), AppError> {
    let org = dir.organization_id.clone();
    let lock = db::Lock::ForUpdate;
    let Some(db::memberships::ManagedMembership {
        id: m,
        role,
        state: st,
        role_group_id: group,
        directory_id: managed_by,
    }) = db::memberships::membership_of_user(tx.conn(), &org, user_id, lock).await?
    else {
        return Ok(());
    };
    let Some(state) = MembershipState::parse(&st) else {
        return Ok(());
    };
    let current = reconcile::Current {
        state,
        role: &role,
        group_id: group.as_deref(),
        managed_by: managed_by.as_deref(),
        newest_grant: None,
    };
    if !reconcile::suspends(&current, &dir.directory_id, only_managed) {
        return Ok(());
    }
    write_suspension(tx, dir, user_id, &m, &role, group.as_deref(), label, reason).await
}

/// The writes of a directory suspension of an active membership: state, voided sign-in codes,
/// revoked invitations, grant and event commit together; then the deactivation policy.
#[allow(clippy::too_many_arguments)]
async fn write_suspension(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    user_id: &str,
    m: &str,
    role: &str,
    group_id: Option<&str>,
    label: &str,
    reason: SuspendReason,
) -> Result<(), AppError> {
    let now = tx.now();
    let org = dir.organization_id.clone();
    let (m, role) = (m.to_owned(), role.to_owned());
    // An invitation sent to the address before must not undo the deprovisioning.
    let email = db::users::user_email(tx.conn(), &org, user_id).await?;
    lifecycle::apply(
        tx,
        Change {
            organization_id: &org,
            membership_id: &m,
            label,
            rows: vec![RowWrite::Managed {
                state: MembershipState::Suspended,
                role: &role,
                group_id,
                directory_id: &dir.directory_id,
            }],
            revoke_invitations_to: email.as_deref(),
            records: vec![
                Record::Grant {
                    kind: GrantKind::DirectorySuspended,
                    role: &role,
                    detail: json!({ "directory_id": dir.directory_id, "directory_name": dir.name, "reason": reason.as_str() }),
                },
                Record::EventCountingVoided {
                    kind: EventType::MembershipSuspended,
                    metadata: json!({ "reason": reason.as_str(), "directory_id": dir.directory_id }),
                },
            ],
        },
    )
    .await?;
    // What the policy does next (remove, at once or after a grace period), and the last-admin
    // protection — decided by the same function the policy simulator runs.
    // Only a person's deactivation (or deletion) in the directory follows the deactivation
    // policy; removing the directory itself only suspends.
    if !reason.follows_deactivation_policy() {
        return Ok(());
    }
    // Two concurrent deactivations must not both count the other as the remaining admin.
    db::organizations::lock(tx.conn(), &org).await?;
    let policy = super::policy::load(tx.conn(), &org).await?;
    let plan =
        deactivation_plan_for(tx.conn(), &policy, &org, &m, &role, &mut Trace::default()).await?;
    if plan.last_admin {
        tx.record(
            Some(&org),
            EventType::MembershipLastAdminDeprovisioned,
            vec![Target::new("membership", &m, Some(label))],
            json!({ "directory_id": dir.directory_id, "protected": plan.protected, "warning": "the organization has no active admin left" }),
        )
        .await?;
    }
    match plan.remove_after_days {
        Some(0) => remove(tx, &org, &m, label, &role, &dir.directory_id, &dir.name).await?,
        Some(days) => {
            db::memberships::schedule_removal(tx.conn(), &org, &m, now + days * 86_400_000).await?
        }
        // Held by the last-admin protection: looked at again until another admin exists.
        None if plan.protected => {
            db::memberships::schedule_removal(tx.conn(), &org, &m, now + PROTECTED_RECHECK_MS)
                .await?
        }
        None => {}
    }
    Ok(())
}

/// How often a removal held by the last-admin protection is reconsidered.
pub const PROTECTED_RECHECK_MS: i64 = 3600 * 1000;

/// Removes a directory-suspended member (policy `remove`), in the caller's transaction.
async fn remove(
    tx: &mut AuditedTx,
    org: &str,
    m: &str,
    label: &str,
    role: &str,
    directory_id: &str,
    directory_name: &str,
) -> Result<(), AppError> {
    // The suspension before voided the sign-in codes and revoked the invitations.
    lifecycle::apply(
        tx,
        Change {
            organization_id: org,
            membership_id: m,
            label,
            rows: vec![RowWrite::State(MembershipState::Removed)],
            revoke_invitations_to: None,
            records: vec![
                Record::Grant {
                    kind: GrantKind::DirectoryRemoved,
                    role,
                    detail: json!({ "directory_id": directory_id, "directory_name": directory_name }),
                },
                Record::Event {
                    kind: EventType::MembershipRemoved,
                    metadata: json!({ "reason": SuspendReason::DirectoryDeactivated.as_str(), "directory_id": directory_id, "policy": "remove" }),
                },
            ],
        },
    )
    .await?;
    Ok(())
}

/// What a directory deactivation does to a member under the policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeactivationPlan {
    /// Days until removal (0: at once); None: stays suspended.
    pub remove_after_days: Option<i64>,
    /// The member is the organization's last active admin.
    pub last_admin: bool,
    /// The last-admin protection keeps them suspended instead of removed.
    pub protected: bool,
}

/// The policy's deactivation rules for one active membership (role `role`).
async fn deactivation_plan_for(
    conn: &mut Conn,
    policy: &super::policy::Policy,
    org: &str,
    membership_id: &str,
    role: &str,
    t: &mut Trace,
) -> Result<DeactivationPlan, AppError> {
    t.deny(
        "deactivation",
        "suspended at once: sessions end and unredeemed sign-in codes are void; the vendor is told (membership.suspended)",
    );
    let is_admin = super::roles::resolve(conn, role)
        .await?
        .is_some_and(|r| r.permissions.iter().any(|p| p == "*"));
    let last_admin =
        is_admin && db::memberships::other_active_admins(conn, org, membership_id).await? == 0;
    let mut plan = DeactivationPlan {
        last_admin,
        ..Default::default()
    };
    if policy.directory_deactivation == "remove" {
        if last_admin && policy.protect_last_admin {
            plan.protected = true;
            t.info("last_admin", "the last active admin: kept suspended, not removed (protection on); a warning event is recorded and support sees a flag");
        } else {
            plan.remove_after_days = Some(policy.removal_grace_days);
            t.deny(
                "deactivation",
                if policy.removal_grace_days == 0 {
                    "then removed at once (policy: remove)".to_owned()
                } else {
                    format!(
                        "then removed after {} days unless the directory reactivates them (policy: remove)",
                        policy.removal_grace_days
                    )
                },
            );
            if last_admin {
                t.info("last_admin", "the last active admin: removed anyway (protection off); a warning event is recorded and support sees a flag");
            }
        }
    } else {
        t.info(
            "deactivation",
            "stays suspended until the directory reactivates them (policy: suspend)",
        );
        if last_admin {
            t.info(
                "last_admin",
                "the last active admin: a warning event is recorded and support sees a flag",
            );
        }
    }
    Ok(plan)
}

/// The simulator's directory deactivation: what happens to the member with this address.
pub(crate) async fn deactivation_plan(
    conn: &mut Conn,
    policy: &super::policy::Policy,
    org: &str,
    dir: &DirectoryRow,
    email: &str,
    t: &mut Trace,
) -> Result<Option<DeactivationPlan>, AppError> {
    match db::users::member_by_email(conn, org, email).await? {
        Some(db::users::UserMembership {
            membership_id: m,
            role,
            state: st,
            ..
        }) if st == MembershipState::Active => {
            t.info(
                "directory",
                format!("{} deactivates {email} (role {role})", dir.name),
            );
            Ok(Some(
                deactivation_plan_for(conn, policy, org, &m, &role, t).await?,
            ))
        }
        Some(db::users::UserMembership { state: st, .. }) => {
            t.info(
                "directory",
                format!("{email} is already {st}: nothing more to end"),
            );
            Ok(None)
        }
        None => {
            t.info(
                "directory",
                format!("{email} is not a member: the directory keeps them out while it is authoritative"),
            );
            Ok(None)
        }
    }
}

/// The simulator's side of [`domain_owned_elsewhere`]: true (and the trace says why) when the
/// directory would keep the address without access.
async fn held_elsewhere(
    conn: &mut Conn,
    org: &str,
    dir: &DirectoryRow,
    email: &str,
    t: &mut Trace,
) -> Result<bool, AppError> {
    if crate::domain::email::EmailAddress::parse(email, "email").is_err() {
        t.deny(
            "email",
            format!("{email} is not an email address whose domain can be checked: {} keeps them as a directory user but gives them no access here", dir.name),
        );
        return Ok(true);
    }
    if !domain_owned_elsewhere(conn, org, email).await? {
        return Ok(false);
    }
    let d = crate::domain::domain_name::email_domain(email)
        .map(|d| d.as_str().to_owned())
        .unwrap_or_default();
    t.deny(
        "domain",
        format!("{d} is verified by another organization: {} keeps {email} as a directory user but gives them no access here", dir.name),
    );
    Ok(true)
}

/// The simulator's directory creation: what `reconcile` does when this directory provisions the
/// address (before any group mapping applies): create a membership with the default role, link
/// and manage an existing one (a role no group gave is kept), restore one this directory
/// suspended — or leave alone one an admin or another directory suspended, or that was removed.
/// Answers (allowed, role).
pub(crate) async fn creation_plan(
    conn: &mut Conn,
    org: &db::organizations::OrganizationRow,
    dir: &DirectoryRow,
    email: &str,
    t: &mut Trace,
) -> Result<(bool, String), AppError> {
    let Some(db::users::UserMembership { user_id, .. }) =
        db::users::member_by_email(conn, &org.id, email).await?
    else {
        if held_elsewhere(conn, &org.id, dir, email, t).await? {
            return Ok((false, org.default_role.clone()));
        }
        t.allow(
            "directory",
            format!("{} provisions {email}: a membership is created at once with the default role {} (a mapped group's role wins)", dir.name, org.default_role),
        );
        return Ok((true, org.default_role.clone()));
    };
    let membership =
        db::memberships::membership_of_user(conn, &org.id, &user_id, db::Lock::Plain).await?;
    if membership
        .as_ref()
        .is_none_or(|m| m.state != MembershipState::Active)
        && held_elsewhere(conn, &org.id, dir, email, t).await?
    {
        return Ok((false, org.default_role.clone()));
    }
    let Some(db::memberships::ManagedMembership {
        id: m,
        role,
        state: st,
        role_group_id: group,
        ..
    }) = membership
    else {
        t.allow(
            "directory",
            format!(
                "{} provisions {email}: a membership is created with the default role {}",
                dir.name, org.default_role
            ),
        );
        return Ok((true, org.default_role.clone()));
    };
    if st != MembershipState::Active
        && !may_restore(
            &st,
            db::memberships::newest_grant(conn, &org.id, &m)
                .await?
                .as_ref(),
            &dir.id,
        )
    {
        t.deny(
            "directory",
            format!("{email} is {st}, not by {}: a directory restores only a membership it suspended itself", dir.name),
        );
        return Ok((false, role));
    }
    let (role, how) = if group.is_none() {
        (
            role.clone(),
            format!("the role stays {role} until a mapped group gives one"),
        )
    } else {
        (
            org.default_role.clone(),
            format!("the role came from a directory group; without a mapped group in {} it becomes the default role {}", dir.name, org.default_role),
        )
    };
    t.allow(
        "directory",
        if st == MembershipState::Active {
            format!(
                "{email} is already a member: {} links to the membership and manages it; {how}",
                dir.name
            )
        } else {
            format!(
                "{} suspended {email} earlier and restores them; {how}",
                dir.name
            )
        },
    );
    Ok((true, role))
}

/// Removes directory-suspended members whose grace period ended (the housekeeping job), unless
/// the last-admin protection holds them. Returns how many were removed.
pub async fn remove_due(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let due = {
        let mut conn = state.db.pool.acquire().await?;
        db::memberships::due_removals(&mut conn, now).await?
    };
    let mut n = 0;
    for db::memberships::DueRemoval {
        organization_id: org,
        membership_id: m,
        email,
    } in due
    {
        let mut tx =
            AuditedTx::begin(&state.db, &Actor::system(), &RequestContext::default(), now).await?;
        // Claimed with a conditional update: on several nodes, exactly one removes.
        if !db::memberships::claim_removal(tx.conn(), &org, &m, now).await? {
            continue;
        }
        let Some(db::memberships::ManagedMembership {
            role,
            directory_id: dir,
            ..
        }) = db::memberships::membership_of_id(tx.conn(), &org, &m).await?
        else {
            continue;
        };
        db::organizations::lock(tx.conn(), &org).await?;
        let policy = super::policy::load(tx.conn(), &org).await?;
        let plan =
            deactivation_plan_for(tx.conn(), &policy, &org, &m, &role, &mut Trace::default())
                .await?;
        if plan.remove_after_days.is_none() {
            // Protected: looked at again later, so that the removal happens once another admin
            // exists; the skip is recorded once, not at every look.
            if plan.protected {
                db::memberships::schedule_removal(tx.conn(), &org, &m, now + PROTECTED_RECHECK_MS)
                    .await?;
                let since = db::memberships::newest_grant_at(tx.conn(), &org, &m)
                    .await?
                    .unwrap_or(0);
                if db::memberships::removal_skipped_since(tx.conn(), &org, &m, since).await? {
                    tx.commit_observation().await?;
                    continue;
                }
            }
            // Protected (or the policy changed back to suspend): nothing to remove.
            tx.record(
                Some(&org),
                EventType::MembershipRemovalSkipped,
                vec![Target::new("membership", &m, Some(&email))],
                json!({ "reason": if plan.protected { "last_admin_protected" } else { "policy_suspend" } }),
            )
            .await?;
        } else {
            let dir_id = dir.unwrap_or_default();
            let dir_name = db::directories::get_directory(tx.conn(), &org, &dir_id)
                .await?
                .map(|d| d.name)
                .unwrap_or_else(|| dir_id.clone());
            remove(&mut tx, &org, &m, &email, &role, &dir_id, &dir_name).await?;
            n += 1;
        }
        tx.commit().await?;
    }
    Ok(n)
}

/// Whether the address's domain is verified by an organization other than `org` (the most
/// specific verified holder decides, as for invitations and JIT).
pub(crate) async fn domain_owned_elsewhere(
    conn: &mut Conn,
    org: &str,
    email: &str,
) -> Result<bool, AppError> {
    let holders = super::domains::holders_of_email(conn, email).await?;
    Ok(holders.first().is_some_and(|h| h != org))
}

/// [`reconcile::may_restore`] for a stored state and newest grant `(kind, detail JSON)`.
pub(crate) fn may_restore(
    state: &str,
    newest_grant: Option<&db::memberships::GrantKindDetail>,
    directory_id: &str,
) -> bool {
    let by = newest_grant.and_then(|g| directory_named(&g.detail));
    let newest = newest_grant.and_then(|g| {
        Some(NewestGrant {
            kind: GrantKind::parse(&g.kind)?,
            directory_id: by.as_deref(),
        })
    });
    MembershipState::parse(state)
        .is_some_and(|state| reconcile::may_restore(state, newest, directory_id))
}

/// The directory a grant's detail names.
fn directory_named(detail: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(detail)
        .ok()
        .and_then(|d| {
            d.get("directory_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
}

/// Brings a directory user's membership in line with the directory: links or creates the
/// organization user, creates, suspends or reactivates the membership and sets the role its
/// groups give. Runs inside the transaction that changed the directory user, so access never
/// lags the directory. `gone` is true when the user was deleted from the directory.
pub async fn reconcile(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    u: &mut DirUserRow,
    gone: bool,
    mappings: Option<&[db::group_mappings::GroupRoleMapping]>,
) -> Result<(), AppError> {
    let now = tx.now();
    let org = dir.organization_id.clone();
    // Work from the row as this transaction sees it, locked: a deactivation committed by a
    // concurrent request must not be undone by a group change that read the user before it.
    let lock = db::Lock::ForUpdate;
    if let Some(fresh) =
        db::directory_users::get_user(tx.conn(), &dir.directory_id, &u.id, lock).await?
    {
        *u = fresh;
    }
    let label = u.email.clone().unwrap_or_else(|| u.user_name.clone());
    let no_access = SuspendReason::of_user(u.active != 0, gone);
    let wants_access = no_access.is_none();
    let email = u
        .email
        .clone()
        .unwrap_or_else(|| u.user_name.trim().to_lowercase());
    // A directory grants no access on another organization's verified domain (the rule
    // invitations follow): the directory user is kept, without an active membership here.
    // An address whose domain cannot be read cannot be checked against that rule: it gets no
    // access either (fail closed).
    let held = wants_access
        && (crate::domain::email::EmailAddress::parse(&email, "email").is_err()
            || domain_owned_elsewhere(tx.conn(), &org, &email).await?);
    if u.user_id.is_none() {
        // The same person may already be a member (JIT, an invitation, another directory).
        if let Some(db::users::UserMembership { user_id: uid, .. }) =
            db::users::member_by_email(tx.conn(), &org, &email).await?
        {
            u.user_id = Some(uid);
        } else if wants_access && !held {
            let uid = db::new_id(IdKind::User);
            let resource: serde_json::Value = serde_json::from_str(&u.resource).unwrap_or_default();
            let name = |k: &str| {
                resource
                    .get("name")
                    .and_then(|n| n.get(k))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            db::users::insert_user(
                tx.conn(),
                &uid,
                &org,
                &email,
                name("givenName").as_deref(),
                name("familyName").as_deref(),
                now,
            )
            .await?;
            u.user_id = Some(uid);
        } else {
            return Ok(());
        }
        db::directory_users::update_user(tx.conn(), u).await?;
    }
    let Some(uid) = u.user_id.clone() else {
        return Ok(());
    };
    // Reads, then the decision (`domain::reconcile`), then its writes.
    let desired;
    let user = match no_access {
        Some(reason) => InDirectory::Inactive(reason),
        None => {
            desired = desired_role(tx.conn(), dir, &u.id, mappings).await?;
            InDirectory::Active {
                role: &desired.0,
                group: desired.1.as_ref().map(|(id, name)| Group { id, name }),
            }
        }
    };
    let current = db::memberships::membership_of_user(tx.conn(), &org, &uid, lock).await?;
    // Whether this directory may restore a membership that is not active.
    let newest = match &current {
        Some(db::memberships::ManagedMembership {
            id: m, state: st, ..
        }) if wants_access && *st != MembershipState::Active => {
            db::memberships::newest_grant(tx.conn(), &org, m).await?
        }
        _ => None,
    };
    let newest_by = newest.as_ref().and_then(|g| directory_named(&g.detail));
    let membership = match &current {
        None => None,
        Some(db::memberships::ManagedMembership {
            role,
            state: st,
            role_group_id: group,
            directory_id: managed_by,
            ..
        }) => {
            // A state this version does not know is left as it is.
            let Some(state) = MembershipState::parse(st) else {
                return Ok(());
            };
            Some(reconcile::Current {
                state,
                role,
                group_id: group.as_deref(),
                managed_by: managed_by.as_deref(),
                newest_grant: newest.as_ref().and_then(|g| {
                    Some(NewestGrant {
                        kind: GrantKind::parse(&g.kind)?,
                        directory_id: newest_by.as_deref(),
                    })
                }),
            })
        }
    };
    let effect = reconcile::decide(&Inputs {
        directory_id: &dir.directory_id,
        user,
        held,
        membership,
    });
    match effect {
        Effect::Nothing => {}
        Effect::Suspend { reason } => {
            if let Some(db::memberships::ManagedMembership {
                id: m,
                role,
                role_group_id: group,
                ..
            }) = &current
            {
                write_suspension(tx, dir, &uid, m, role, group.as_deref(), &label, reason).await?;
            }
        }
        Effect::Create { role, group, grant } => {
            let m = db::new_id(IdKind::Membership);
            lifecycle::apply(
                tx,
                Change {
                    organization_id: &org,
                    membership_id: &m,
                    label: &label,
                    rows: vec![
                        RowWrite::Insert { user_id: &uid, role },
                        RowWrite::Managed {
                            state: MembershipState::Active,
                            role,
                            group_id: group.map(|g| g.id),
                            directory_id: &dir.directory_id,
                        },
                    ],
                    revoke_invitations_to: None,
                    records: vec![
                        Record::Grant {
                            kind: grant,
                            role,
                            detail: grant_detail(dir, group),
                        },
                        Record::Event {
                            kind: EventType::MembershipCreated,
                            metadata: json!({ "role": role, "source": "directory", "directory_id": dir.directory_id, "group_id": group.map(|g| g.id) }),
                        },
                    ],
                },
            )
            .await?;
        }
        Effect::Update(up) => {
            let Some(db::memberships::ManagedMembership {
                id: m,
                role: old_role,
                ..
            }) = &current
            else {
                return Ok(());
            };
            let (role, group) = (up.role, up.group);
            let detail = grant_detail(dir, group);
            let group_id = group.map(|g| g.id);
            let mut records = Vec::new();
            if up.reactivated {
                records.push(Record::Grant {
                    kind: GrantKind::DirectoryReactivated,
                    role,
                    detail: detail.clone(),
                });
                records.push(Record::Event {
                    kind: EventType::MembershipReactivated,
                    metadata: json!({ "role": role, "directory_id": dir.directory_id }),
                });
            }
            if let Some(kind) = up.grant {
                records.push(Record::Grant { kind, role, detail });
            }
            match up.event {
                Some(kind @ EventType::MembershipRoleChanged) => records.push(Record::Event {
                    kind,
                    metadata: json!({ "from": old_role, "to": role, "source": "directory", "directory_id": dir.directory_id, "group_id": group_id, "group_name": group.map(|g| g.name) }),
                }),
                Some(kind) => records.push(Record::Event {
                    kind,
                    metadata: json!({ "role": role, "directory_id": dir.directory_id, "group_id": group_id }),
                }),
                None => {}
            }
            lifecycle::apply(
                tx,
                Change {
                    organization_id: &org,
                    membership_id: m,
                    label: &label,
                    rows: vec![RowWrite::Managed {
                        state: MembershipState::Active,
                        role,
                        group_id,
                        directory_id: &dir.directory_id,
                    }],
                    revoke_invitations_to: None,
                    records,
                },
            )
            .await?;
        }
    }
    Ok(())
}

// --- group → role mappings ----------------------------------------------------------------

/// One mapping as the portal edits it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GroupMapping {
    pub group_id: String,
    pub role: String,
    pub priority: i64,
}

/// A directory group with its member count and mapping.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupInfo {
    pub id: String,
    pub display_name: String,
    pub members: i64,
    pub role: Option<String>,
    pub priority: Option<i64>,
}

/// Someone whose role a mapping change would change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RoleChange {
    pub user_name: String,
    pub from: Option<String>,
    pub to: String,
    /// The group that would give the new role; null for the organization's default role.
    pub group: Option<String>,
}

fn check_mappings(
    input: &[GroupMapping],
    groups: &[db::directory_groups::DirGroupRow],
) -> Result<Vec<db::group_mappings::GroupRoleMapping>, FieldError> {
    let mut out: Vec<db::group_mappings::GroupRoleMapping> = Vec::new();
    for m in input {
        if !groups.iter().any(|g| g.id == m.group_id) {
            return Err(FieldError::new(
                "group_id",
                format!(
                    "{} is not a group of this directory; reload the page",
                    m.group_id
                ),
            ));
        }
        if !(0..=1000).contains(&m.priority) {
            return Err(FieldError::new(
                "priority",
                "priority must be from 0 to 1000",
            ));
        }
        if out.iter().any(|o| o.group_id == m.group_id) {
            return Err(FieldError::new("group_id", "each group can be mapped once"));
        }
        out.push(db::group_mappings::GroupRoleMapping {
            group_id: m.group_id.clone(),
            role: m.role.clone(),
            priority: m.priority,
        });
    }
    Ok(out)
}

/// The directory's groups with their mapping.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn groups(
    state: &AppState,
    organization_id: &str,
    id: &str,
) -> Result<Vec<GroupInfo>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::directories::get_directory(&mut conn, organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    let rows = db::directory_groups::all_groups(&mut conn, id).await?;
    let counts = db::directory_groups::member_counts(&mut conn, id).await?;
    let maps = db::group_mappings::mappings(&mut conn, id).await?;
    Ok(rows
        .into_iter()
        .map(|g| {
            let m = maps.iter().find(|m| m.group_id == g.id);
            GroupInfo {
                members: counts
                    .iter()
                    .find(|c| c.group_id == g.id)
                    .map(|c| c.members)
                    .unwrap_or(0),
                role: m.map(|m| m.role.clone()),
                priority: m.map(|m| m.priority),
                id: g.id,
                display_name: g.display_name,
            }
        })
        .collect())
}

async fn role_changes(
    conn: &mut Conn,
    dir: &DirCtx,
    proposed: &[db::group_mappings::GroupRoleMapping],
) -> Result<Vec<RoleChange>, AppError> {
    let mut out = Vec::new();
    for u in db::directory_users::all_users(conn, &dir.directory_id).await? {
        if u.active == 0 {
            continue;
        }
        let membership = match &u.user_id {
            Some(uid) => db::memberships::membership_of_user(
                conn,
                &dir.organization_id,
                uid,
                db::Lock::Plain,
            )
            .await?
            .filter(|m| m.state == MembershipState::Active),
            None => None,
        };
        let (mut to, group) = desired_role(conn, dir, &u.id, Some(proposed)).await?;
        // Same rule as `reconcile`: a role no group gave is kept until a mapped group gives one.
        if let Some(m) = membership
            .as_ref()
            .filter(|m| group.is_none() && m.role_group_id.is_none())
        {
            to = m.role.clone();
        }
        let current = membership.map(|m| m.role);
        if current.as_deref() != Some(to.as_str()) {
            out.push(RoleChange {
                user_name: u.user_name,
                from: current,
                to,
                group: group.map(|g| g.1),
            });
        }
    }
    Ok(out)
}

async fn dir_ctx(conn: &mut Conn, organization_id: &str, id: &str) -> Result<DirCtx, AppError> {
    if !is_valid_id(IdKind::Directory, id) {
        return Err(not_found());
    }
    let row = db::directories::get_directory(conn, organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(DirCtx {
        directory_id: row.id,
        organization_id: row.organization_id,
        name: row.name,
    })
}

/// Dry run: who would gain or lose which role if these mappings were saved. Changes nothing.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn preview_mappings(
    state: &AppState,
    organization_id: &str,
    id: &str,
    input: &[GroupMapping],
) -> Result<Vec<RoleChange>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let dir = dir_ctx(&mut conn, organization_id, id).await?;
    let groups = db::directory_groups::all_groups(&mut conn, id).await?;
    let proposed = check_mappings(input, &groups)?;
    for db::group_mappings::GroupRoleMapping { role, .. } in &proposed {
        super::roles::check(&mut conn, "role", role).await?;
    }
    role_changes(&mut conn, &dir, &proposed).await
}

/// Saves the mappings and recomputes every member's role in the same transaction.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn save_mappings(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &str,
    id: &str,
    input: &[GroupMapping],
) -> Result<Vec<RoleChange>, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let dir = dir_ctx(tx.conn(), organization_id, id).await?;
    let groups = db::directory_groups::all_groups(tx.conn(), id).await?;
    let proposed = check_mappings(input, &groups)?;
    for db::group_mappings::GroupRoleMapping { role, .. } in &proposed {
        super::roles::check(tx.conn(), "role", role).await?;
    }
    let changes = role_changes(tx.conn(), &dir, &proposed).await?;
    db::group_mappings::replace_mappings(tx.conn(), id, organization_id, &proposed, now).await?;
    tx.record(
        Some(organization_id),
        EventType::DirectoryRoleMappingsUpdated,
        vec![Target::new("directory", id, Some(&dir.name))],
        json!({ "mappings": input, "role_changes": changes.len() }),
    )
    .await?;
    for mut u in db::directory_users::all_users(tx.conn(), id).await? {
        reconcile(&mut tx, &dir, &mut u, false, Some(&proposed)).await?;
    }
    tx.commit().await?;
    Ok(changes)
}

// --- users, request log -------------------------------------------------------------------

/// A directory user as the portal lists it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryUser {
    pub id: String,
    pub user_name: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub groups: Vec<String>,
    /// The membership's role and state in the organization, when there is one.
    pub role: Option<String>,
    pub membership_state: Option<String>,
}

/// The directory's first `limit` users (oldest first) with their groups and membership.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn users(
    state: &AppState,
    organization_id: &str,
    id: &str,
    limit: i64,
) -> Result<Vec<DirectoryUser>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    let dir = dir_ctx(&mut conn, organization_id, id).await?;
    let mut out = Vec::new();
    for u in db::directory_users::page_users(&mut conn, id, None, 0, limit)
        .await?
        .rows
    {
        let groups = db::directory_groups::groups_of_user(&mut conn, id, &u.id).await?;
        let m = match &u.user_id {
            Some(uid) => {
                db::memberships::membership_of_user(
                    &mut conn,
                    &dir.organization_id,
                    uid,
                    db::Lock::Plain,
                )
                .await?
            }
            None => None,
        };
        out.push(DirectoryUser {
            id: u.id,
            user_name: u.user_name,
            email: u.email,
            display_name: u.display_name,
            active: u.active != 0,
            groups: groups.into_iter().map(|g| g.display_name).collect(),
            role: m.as_ref().map(|m| m.role.clone()),
            membership_state: m.map(|m| m.state),
        });
    }
    Ok(out)
}

/// One logged SCIM exchange.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScimLogEntry {
    pub id: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub scim_type: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i64,
    pub created_at: i64,
}

/// The directory's SCIM request log, newest first.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn request_log(
    state: &AppState,
    organization_id: &str,
    id: &str,
    filter: &LogFilter,
    limit: i64,
) -> Result<Vec<ScimLogEntry>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    dir_ctx(&mut conn, organization_id, id).await?;
    Ok(
        db::scim_log::list_requests(&mut conn, organization_id, id, filter, limit.clamp(1, 200))
            .await?
            .into_iter()
            .map(|r| ScimLogEntry {
                id: r.id,
                method: r.method,
                // Rows logged before redaction existed are redacted as they are shown.
                path: super::scim::redact_path(&r.path),
                status: r.status,
                scim_type: r.scim_type,
                request_body: r.request_body,
                response_body: r.response_body,
                duration_ms: r.duration_ms,
                created_at: r.created_at,
            })
            .collect(),
    )
}

/// How long SCIM request log entries are kept.
pub const LOG_RETENTION_MS: i64 = 30 * 86_400_000;

/// Deletes request log entries past retention (minute job).
pub async fn purge_request_log(state: &AppState) -> Result<u64, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::scim_log::purge_requests(&mut conn, state.clock.now() - LOG_RETENTION_MS).await?)
}

/// The directory gate of the sign-in policy: when a directory is authoritative for the
/// organization, only people it provisioned and keeps active get in. `Ok(None)` allows;
/// `Ok(Some((reason, message)))` refuses.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn gate(
    conn: &mut Conn,
    organization_id: &str,
    user_id: Option<&str>,
    email: &str,
) -> Result<Option<(&'static str, &'static str)>, sqlx::Error> {
    if !db::directories::has_authoritative(conn, organization_id).await? {
        return Ok(None);
    }
    let flags =
        db::directory_users::authoritative_users(conn, organization_id, user_id, email).await?;
    Ok(gate_verdict(&flags))
}

/// An organization's authoritative directory users indexed the way [`db::directory_users::authoritative_users`]
/// selects them, to ask [`gate_verdict`] about many people with one query.
#[derive(Debug, Default)]
pub struct AuthoritativeIndex {
    by_user: std::collections::HashMap<String, Vec<bool>>,
    by_email: std::collections::HashMap<String, Vec<bool>>,
}

impl AuthoritativeIndex {
    /// Indexes directory users by linked user and by email.
    pub fn new(rows: Vec<db::health::DirectoryFlag>) -> Self {
        let mut ix = AuthoritativeIndex::default();
        for db::health::DirectoryFlag {
            user_id: user,
            email,
            active,
        } in rows
        {
            if let Some(u) = user {
                ix.by_user.entry(u).or_default().push(active);
            }
            if let Some(e) = email {
                ix.by_email.entry(e).or_default().push(active);
            }
        }
        ix
    }

    /// The flags standing for this person: those linked to `user_id`, or when none is linked,
    /// those carrying `email`.
    pub fn flags(&self, user_id: Option<&str>, email: &str) -> Vec<bool> {
        user_id
            .and_then(|u| self.by_user.get(u))
            .filter(|v| !v.is_empty())
            .or_else(|| self.by_email.get(email))
            .cloned()
            .unwrap_or_default()
    }
}

/// The gate's decision from the person's authoritative `active` flags (the organization has an
/// authoritative directory): none → not provisioned, any deactivated → deprovisioned.
pub fn gate_verdict(flags: &[bool]) -> Option<(&'static str, &'static str)> {
    // Fail closed: any deactivated account among those that stand for this person keeps them out.
    if flags.is_empty() {
        Some((
            "not_provisioned",
            "your organization's directory has not given you access to this application; ask your IT admin to assign it to you",
        ))
    } else if flags.contains(&false) {
        Some((
            "deprovisioned",
            "your account was deactivated in your organization's directory; contact your IT admin",
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::may_restore;
    use crate::domain::membership::{GrantKind, MembershipState};

    #[test]
    fn a_directory_restores_only_what_it_suspended_itself() {
        let grant = |kind: &str, dir: &str| crate::server::db::memberships::GrantKindDetail {
            kind: kind.to_owned(),
            detail: serde_json::json!({ "directory_id": dir }).to_string(),
        };
        let cases = [
            (
                "its own suspension",
                MembershipState::Suspended.as_str(),
                Some(grant(GrantKind::DirectorySuspended.as_str(), "dir_a")),
                true,
            ),
            (
                "another directory's suspension",
                MembershipState::Suspended.as_str(),
                Some(grant(GrantKind::DirectorySuspended.as_str(), "dir_b")),
                false,
            ),
            (
                "an admin's suspension",
                MembershipState::Suspended.as_str(),
                Some(grant(GrantKind::ManualSuspended.as_str(), "dir_a")),
                false,
            ),
            (
                "removed by the directory's policy",
                MembershipState::Removed.as_str(),
                Some(grant(GrantKind::DirectoryRemoved.as_str(), "dir_a")),
                false,
            ),
            (
                "removed although the newest grant is its suspension",
                MembershipState::Removed.as_str(),
                Some(grant(GrantKind::DirectorySuspended.as_str(), "dir_a")),
                false,
            ),
            (
                "no history",
                MembershipState::Suspended.as_str(),
                None,
                false,
            ),
            (
                "already active",
                MembershipState::Active.as_str(),
                Some(grant(GrantKind::DirectorySuspended.as_str(), "dir_a")),
                false,
            ),
        ];
        for (name, state, newest, want) in cases {
            assert_eq!(may_restore(state, newest.as_ref(), "dir_a"), want, "{name}");
        }
    }
}
