//! Memberships: who is in an organization, in which role and state, and why — every grant is
//! kept as history and told in words. Admins change roles of members no directory manages and
//! suspend, remove or reactivate members; a suspension or removal voids the member's
//! unredeemed sign-in codes in the same transaction.

use crate::domain::connection::ConnectionKind;
use crate::domain::event_type::EventType;
use crate::domain::membership::{ChangeSource, GrantKind, MembershipState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::ids::{MembershipId, OrgId};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext};
use crate::server::db::memberships::{MemberFilter, MemberRow};
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::membership_lifecycle::Change;
use super::roles::{self, Role};

/// One step of a membership's history.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// jit, jit_link, invitation, directory, directory_group, directory_suspended,
    /// directory_reactivated, manual_role, manual_suspended, manual_removed, manual_reactivated.
    pub kind: String,
    pub role: String,
    /// The step in words ("invited by dana@acme.com").
    pub description: String,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub created_at: i64,
}

/// The directory that manages a membership's role.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ManagedBy {
    pub directory_id: String,
    pub directory_name: String,
}

/// A membership as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Membership {
    /// `om_…`
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: String,
    /// active | suspended | removed
    pub state: String,
    /// How the membership came to be, in words.
    pub source: String,
    /// Where the current role comes from, in words.
    pub role_source: String,
    /// Set when a directory manages the role: change it there or in the group mapping.
    pub managed_by: Option<ManagedBy>,
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The chain of grants, oldest first (only on single reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<Grant>>,
}

/// `PATCH /memberships/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMembership {
    pub role: Option<String>,
    /// active | suspended | removed
    pub state: Option<String>,
    /// The member on whose behalf your product makes the change: the change is refused when
    /// their role could not grant the new role.
    pub acting_membership_id: Option<String>,
}

fn s<'a>(d: &'a Value, k: &str) -> &'a str {
    d.get(k).and_then(Value::as_str).unwrap_or("")
}

fn kind_label(k: &str) -> &str {
    ConnectionKind::parse(k).map_or("SSO", ConnectionKind::label)
}

/// A grant in words.
pub fn describe(kind: &str, role: &str, detail: &Value) -> String {
    let by = || {
        let n = s(detail, "actor_name");
        if n.is_empty() {
            "an admin".to_owned()
        } else {
            n.to_owned()
        }
    };
    // A kind this version does not know (written by another version) is spelt out.
    let Some(kind) = GrantKind::parse(kind) else {
        return kind.replace('_', " ");
    };
    match kind {
        GrantKind::Jit => format!(
            "JIT through {} connection {} on {}",
            kind_label(s(detail, "connection_kind")),
            or(s(detail, "connection_name"), s(detail, "connection_id")),
            s(detail, "domain")
        ),
        GrantKind::JitLink => format!(
            "signed in through {} connection {} on {} (linked by verified email)",
            kind_label(s(detail, "connection_kind")),
            or(s(detail, "connection_name"), s(detail, "connection_id")),
            s(detail, "domain")
        ),
        GrantKind::Invitation => {
            format!("invited by {}", or(s(detail, "inviter_name"), "an admin"))
        }
        GrantKind::DirectoryGroup => format!(
            "via directory group {} in {}",
            or(s(detail, "group_name"), s(detail, "group_id")),
            or(s(detail, "directory_name"), s(detail, "directory_id"))
        ),
        GrantKind::Directory => format!(
            "via directory {}",
            or(s(detail, "directory_name"), s(detail, "directory_id"))
        ),
        GrantKind::DirectorySuspended => format!(
            "suspended by directory {} ({})",
            or(s(detail, "directory_name"), s(detail, "directory_id")),
            or(s(detail, "reason"), "deactivated")
        ),
        GrantKind::DirectoryReactivated => format!(
            "reactivated by directory {}",
            or(s(detail, "directory_name"), s(detail, "directory_id"))
        ),
        GrantKind::DirectoryRemoved => kind.as_str().replace('_', " "),
        GrantKind::ManualRole => format!("role set to {role} by {}", by()),
        GrantKind::ManualSuspended => format!("suspended by {}", by()),
        GrantKind::ManualRemoved => format!("removed by {}", by()),
        GrantKind::ManualReactivated => format!("reactivated by {}", by()),
    }
}

fn or<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

fn to_view(r: MemberRow, grants: Vec<Grant>, with_grants: bool) -> Membership {
    let source = grants
        .first()
        .map(|g| g.description.clone())
        .unwrap_or_else(|| "added before provenance was recorded".into());
    let role_source = grants
        .iter()
        .rev()
        .find(|g| GrantKind::parse(&g.kind).is_some_and(GrantKind::gives_role))
        .map(|g| g.description.clone())
        .unwrap_or_else(|| source.clone());
    let managed_by = match (&r.directory_id, &r.directory_name) {
        (Some(id), Some(name)) => Some(ManagedBy {
            directory_id: id.clone(),
            directory_name: name.clone(),
        }),
        _ => None,
    };
    Membership {
        id: r.id.into_string(),
        organization_id: r.organization_id,
        user_id: r.user_id.into_string(),
        email: r.email,
        first_name: r.first_name,
        last_name: r.last_name,
        role: r.role,
        state: r.state,
        source,
        role_source,
        managed_by,
        last_sign_in_at: r.last_sign_in_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
        grants: with_grants.then_some(grants),
    }
}

fn grant_of(kind: String, role: String, detail: String, at: i64) -> Grant {
    let detail: Value = serde_json::from_str(&detail).unwrap_or(Value::Null);
    Grant {
        description: describe(&kind, &role, &detail),
        kind,
        role,
        detail,
        created_at: at,
    }
}

/// The filters of `list`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListMembers {
    /// Part of an email or name.
    pub search: Option<String>,
    /// active | suspended | removed
    pub state: Option<String>,
    pub role: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    pub after: Option<String>,
}

/// Members of an organization, in id order.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn list(
    state: &AppState,
    organization_id: &OrgId,
    p: &ListMembers,
) -> Result<(Vec<Membership>, Option<String>), AppError> {
    if let Some(st) = p.state.as_deref().filter(|s| !s.is_empty()) {
        if MembershipState::parse(st).is_none() {
            return Err(
                FieldError::new("state", "state must be active, suspended or removed").into(),
            );
        }
    }
    let limit = super::page_limit(p.limit, 50, 200)?;
    let mut conn = state.db.pool.acquire().await?;
    let rows = db::memberships::list_members(
        &mut conn,
        organization_id,
        &MemberFilter {
            search: p
                .search
                .clone()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_owned()),
            state: p.state.clone().filter(|s| !s.is_empty()),
            role: p.role.clone().filter(|s| !s.is_empty()),
            after: p.after.clone(),
        },
        limit + 1,
    )
    .await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<MemberRow> = rows.into_iter().take(limit as usize).collect();
    let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
    let mut grants = db::memberships::grants_of(&mut conn, organization_id, &ids).await?;
    let next = if more { ids.last().cloned() } else { None };
    let out = rows
        .into_iter()
        .map(|r| {
            let mine: Vec<Grant> = grants
                .iter()
                .filter(|g| r.id == g.membership_id)
                .map(|g| {
                    grant_of(
                        g.kind.clone(),
                        g.role.clone(),
                        g.detail.clone(),
                        g.created_at,
                    )
                })
                .collect();
            to_view(r, mine, false)
        })
        .collect();
    grants.clear();
    Ok((out, next))
}

/// The organization a membership belongs to (404 when there is none).
pub async fn organization_of(state: &AppState, id: &MembershipId) -> Result<OrgId, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::memberships::membership_owner(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("membership"))
}

async fn read(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
) -> Result<Membership, AppError> {
    let row = db::memberships::get_member(conn, organization_id, id, db::Lock::Plain)
        .await?
        .ok_or(AppError::NotFound("membership"))?;
    let grants = db::memberships::grants(conn, organization_id, id)
        .await?
        .into_iter()
        .map(|g| grant_of(g.kind, g.role, g.detail, g.created_at))
        .collect();
    Ok(to_view(row, grants, true))
}

/// One membership with its chain of grants ("why does this person have access").
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn get(
    state: &AppState,
    organization_id: &OrgId,
    id: &MembershipId,
) -> Result<Membership, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    read(&mut conn, organization_id, id).await
}

/// The role a caller acts with: `None` is full authority (the vendor, the portal's admin).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn acting_role(
    conn: &mut Conn,
    organization_id: &OrgId,
    field: &'static str,
    acting_membership_id: Option<&str>,
) -> Result<Option<(Role, MemberRow)>, AppError> {
    let Some(id) = acting_membership_id else {
        return Ok(None);
    };
    let bad = || {
        AppError::Invalid(FieldError::new(
            field,
            format!("{field} must be an active member of this organization"),
        ))
    };
    let id = MembershipId::parse(id).ok_or_else(bad)?;
    let m = db::memberships::get_member(conn, organization_id, &id, db::Lock::Plain)
        .await?
        .filter(|m| m.state == MembershipState::Active)
        .ok_or_else(bad)?;
    let role = roles::resolve(conn, &m.role).await?.ok_or_else(bad)?;
    Ok(Some((role, m)))
}

/// Refuses when `acting` may not give `target`.
pub fn check_grant(acting: &Option<(Role, MemberRow)>, target: &Role) -> Result<(), AppError> {
    match acting {
        Some((r, m)) if !roles::can_grant(r, target) => Err(AppError::Forbidden(format!(
            "{} holds the role {}, which cannot grant the role {}",
            m.email, r.slug, target.slug
        ))),
        _ => Ok(()),
    }
}

/// Changes a member's role or state.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &MembershipId,
    input: UpdateMembership,
) -> Result<Membership, AppError> {
    if let Some(st) = input.state.as_deref() {
        if MembershipState::parse(st).is_none() {
            return Err(
                FieldError::new("state", "state must be active, suspended or removed").into(),
            );
        }
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let lock = db::Lock::ForUpdate;
    let m = db::memberships::get_member(tx.conn(), organization_id, id, lock)
        .await?
        .ok_or(AppError::NotFound("membership"))?;
    let acting = acting_role(
        tx.conn(),
        organization_id,
        "acting_membership_id",
        input.acting_membership_id.as_deref(),
    )
    .await?;
    if let Some((_, am)) = &acting {
        // Nobody changes the access of someone who holds more than they do.
        match roles::resolve(tx.conn(), &m.role).await? {
            Some(cur) => check_grant(&acting, &cur)?,
            // Fail closed: a role that no longer exists is treated as above everyone but admin.
            None if !acting.as_ref().is_some_and(|(r, _)| r.permissions.iter().any(|p| p == roles::ALL)) => {
                return Err(AppError::Forbidden(format!(
                    "{} holds the role {}, which no longer exists; only an admin can change this member",
                    m.email, m.role
                )))
            }
            None => {}
        }
        if am.id == m.id && input.role.is_some() {
            return Err(AppError::Forbidden(
                "members cannot change their own role".into(),
            ));
        }
    }
    let by = json!({ "actor_type": actor.kind, "actor_id": actor.id, "actor_name": actor.name });
    let mut changed = false;
    if let Some(role) = input.role.as_deref().filter(|r| *r != m.role) {
        change_role(&mut tx, organization_id, &m, &acting, role, &by).await?;
        changed = true;
    }
    if let Some(st) = input.state.as_deref().filter(|s| *s != m.state) {
        let role = input.role.clone().unwrap_or_else(|| m.role.clone());
        change_state(&mut tx, organization_id, &m, st, &role, &by).await?;
        changed = true;
    }
    if changed {
        let out = read(tx.conn(), organization_id, id).await?;
        tx.commit().await?;
        Ok(out)
    } else {
        drop(tx);
        get(state, organization_id, id).await
    }
}

/// Gives `m` the role `role` by hand (refused for a removed member or one whose role a
/// directory sets, and beyond what `acting` may grant).
async fn change_role(
    tx: &mut AuditedTx,
    organization_id: &OrgId,
    m: &MemberRow,
    acting: &Option<(Role, MemberRow)>,
    role: &str,
    by: &serde_json::Value,
) -> Result<(), AppError> {
    if m.state == MembershipState::Removed {
        return Err(AppError::Conflict {
            code: "membership_removed",
            message:
                "this member was removed; reactivate them (state active) before changing the role"
                    .into(),
            field: Some("state"),
        });
    }
    if let Some(name) = &m.directory_name {
        return Err(AppError::Conflict {
            code: "managed_by_directory",
            message: format!("{}'s role comes from the directory {name}; change it in the directory or in its group-to-role mapping", m.email),
            field: Some("role"),
        });
    }
    let target_role = roles::check(tx.conn(), "role", role).await?;
    check_grant(acting, &target_role)?;
    let mut d = by.clone();
    d["from"] = json!(m.role);
    Change::new(organization_id, &m.id, &m.email)
        .role(&target_role.slug)
        .grant(GrantKind::ManualRole, &target_role.slug, d)
        .event(
            EventType::MembershipRoleChanged,
            json!({ "from": m.role, "to": target_role.slug, "source": ChangeSource::Manual }),
        )
        .apply(tx)
        .await?;
    Ok(())
}

/// Moves `m` to the state `st` by hand; `role` is the role the grant records.
async fn change_state(
    tx: &mut AuditedTx,
    organization_id: &OrgId,
    m: &MemberRow,
    st: &str,
    role: &str,
    by: &serde_json::Value,
) -> Result<(), AppError> {
    let change = Change::new(organization_id, &m.id, &m.email);
    if st == MembershipState::Active {
        if let Some(why) =
            super::directories::gate(tx.conn(), organization_id, Some(&m.user_id), &m.email).await?
        {
            let msg = why.message();
            return Err(AppError::Conflict {
                code: "directory_refuses",
                message: format!("{} cannot be reactivated here: {msg}", m.email)
                    .replace(
                        "your organization's directory",
                        "the authoritative directory",
                    )
                    .replace("your account", "the account"),
                field: Some("state"),
            });
        }
        change
            .state(MembershipState::Active)
            .grant(GrantKind::ManualReactivated, role, by.clone())
            .event(
                EventType::MembershipReactivated,
                json!({ "source": ChangeSource::Manual }),
            )
            .apply(tx)
            .await?;
    } else {
        let (state, action) = if st == MembershipState::Suspended {
            (MembershipState::Suspended, EventType::MembershipSuspended)
        } else {
            (MembershipState::Removed, EventType::MembershipRemoved)
        };
        // Sign-ins in flight end with the membership, and so do invitations sent to the
        // address before (an old link must not undo this).
        change
            .state(state)
            .revoking_invitations_to(m.email.as_str())
            .grant(GrantKind::manual_for(state), role, by.clone())
            .event_counting_voided(
                action,
                json!({ "source": ChangeSource::Manual, "from": m.state }),
            )
            .apply(tx)
            .await?;
    }
    Ok(())
}
