//! SCIM Groups: list, get, create, replace or patch (members applied in bounded steps), delete.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use std::collections::HashSet;

use serde_json::{json, Value};

use crate::domain::ids::IdKind;
use crate::server::audit::{AuditedTx, RequestContext, Target};
use crate::server::db::directory_groups::DirGroupRow;
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::protocol::scim::patch::{self, ScimType};
use crate::server::protocol::scim::resource::{self, normalize_group, project, ScimError};
use crate::server::state::AppState;

use crate::server::service::directories::{directory_actor, reconcile, DirCtx};

use super::users::UserChange;
use super::{
    base, group_meta, list, mentions, not_found, render_group, stored, Groups, ListQuery,
    Projection, ScimOut,
};

/// `GET /Groups`.
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn list_groups(
    state: &AppState,
    dir: &DirCtx,
    lq: &ListQuery,
) -> Result<ScimOut, ScimError> {
    list::<Groups>(state, dir, lq).await
}

/// `GET /Groups/{id}`.
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn get_group(
    state: &AppState,
    dir: &DirCtx,
    id: &str,
    p: &Projection,
) -> Result<ScimOut, ScimError> {
    let mut conn = state.db.pool.acquire().await?;
    let r = db::directory_groups::get_group(&mut conn, &dir.directory_id, id, db::Lock::Plain)
        .await?
        .ok_or_else(|| not_found("Group", id))?;
    let with_members = !mentions(p.excluded_attributes.as_deref(), "members");
    let v = render_group(&mut conn, &base(state, dir), &r, with_members).await?;
    Ok(ScimOut::resource(
        200,
        project(v, p.attributes.as_deref(), p.excluded_attributes.as_deref()),
    ))
}

async fn check_members(conn: &mut Conn, dir: &DirCtx, members: &[String]) -> Result<(), ScimError> {
    let found: HashSet<String> =
        db::directory_users::existing_user_ids(conn, &dir.directory_id, members)
            .await?
            .into_iter()
            .collect();
    if let Some(missing) = members.iter().find(|m| !found.contains(*m)) {
        return Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("member \"{missing}\" is not a User of this directory; create the user first, then add it to the group"),
        ));
    }
    Ok(())
}

/// Most member changes applied under one write transaction. A larger group push is applied in
/// several transactions, one after the other, so that no directory holds the database's writer
/// for long and other tenants' writes go through in between (each step is idempotent: an IdP
/// that retries after a failure part-way converges on the same members).
pub const MEMBER_CHANGES_PER_TX: usize = 250;

/// The members a Group request adds and removes, computed in linear time.
#[derive(Debug, Default)]
struct MemberDiff {
    added: Vec<String>,
    removed: Vec<String>,
}

impl MemberDiff {
    fn between(before: &[String], after: &[String]) -> Self {
        let b: HashSet<&str> = before.iter().map(String::as_str).collect();
        let a: HashSet<&str> = after.iter().map(String::as_str).collect();
        MemberDiff {
            added: after
                .iter()
                .filter(|m| !b.contains(m.as_str()))
                .cloned()
                .collect(),
            removed: before
                .iter()
                .filter(|m| !a.contains(m.as_str()))
                .cloned()
                .collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// Splits off the first `n` changes (additions first); `self` keeps the rest.
    fn take(&mut self, n: usize) -> MemberDiff {
        let a = n.min(self.added.len());
        let added: Vec<String> = self.added.drain(..a).collect();
        let r = (n - a).min(self.removed.len());
        let removed: Vec<String> = self.removed.drain(..r).collect();
        MemberDiff { added, removed }
    }
}

/// Refuses a Group request that carries more members than one request may, before any work or
/// lock (the body is parsed, nothing else).
fn check_request_members(body: &Value) -> Result<(), ScimError> {
    let n = resource::members_in_request(body);
    if n > resource::MAX_MEMBERS {
        return Err(ScimError::new(
            413,
            None,
            format!(
                "the request carries {n} members; at most {} are accepted per request — send the rest in further PATCH requests",
                resource::MAX_MEMBERS
            ),
        ));
    }
    Ok(())
}

/// Applies one step of a member diff with one event per user actually added or removed, then
/// recomputes the roles of those users. Answers whether anything changed.
async fn apply_members(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    group: &DirGroupRow,
    diff: &MemberDiff,
) -> Result<bool, AppError> {
    let now = tx.now();
    let mut touched: Vec<&String> = Vec::new();
    for (list, action) in [
        (&diff.added, EventType::DsyncGroupUserAdded),
        (&diff.removed, EventType::DsyncGroupUserRemoved),
    ] {
        for m in list.iter() {
            let changed = if action == EventType::DsyncGroupUserAdded {
                db::directory_groups::add_member(tx.conn(), &dir.directory_id, &group.id, m, now)
                    .await?
            } else {
                db::directory_groups::remove_member(tx.conn(), &dir.directory_id, &group.id, m)
                    .await?
            };
            if !changed {
                continue;
            }
            touched.push(m);
            tx.record(
                Some(&dir.organization_id),
                action,
                vec![
                    Target::new(
                        TargetKind::DirectoryGroup,
                        &group.id,
                        Some(&group.display_name),
                    ),
                    Target::new(TargetKind::DirectoryUser, m, None),
                ],
                json!({ "directory_id": dir.directory_id }),
            )
            .await?;
        }
    }
    if !touched.is_empty() {
        let mappings = db::group_mappings::mappings(tx.conn(), &dir.directory_id).await?;
        // Without mappings every member holds the organization's default role already.
        if !mappings.is_empty() {
            for m in touched.iter() {
                if let Some(mut u) =
                    db::directory_users::get_user(tx.conn(), &dir.directory_id, m, db::Lock::Plain)
                        .await?
                {
                    reconcile(tx, dir, &mut u, false, Some(&mappings)).await?;
                }
            }
        }
    }
    Ok(!touched.is_empty())
}

/// Applies what is left of a member diff after the first transaction, in bounded steps.
async fn apply_remaining_members(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    group: &DirGroupRow,
    mut rest: MemberDiff,
) -> Result<(), AppError> {
    while !rest.is_empty() {
        let step = rest.take(MEMBER_CHANGES_PER_TX);
        let mut tx = AuditedTx::begin(
            &state.db,
            &directory_actor(&dir.directory_id, &dir.name),
            ctx,
            state.clock.now(),
        )
        .await?;
        // The group may have been deleted by a concurrent request between two steps.
        if db::directory_groups::get_group(
            tx.conn(),
            &dir.directory_id,
            &group.id,
            db::Lock::ForUpdate,
        )
        .await?
        .is_none()
        {
            return Ok(());
        }
        if apply_members(&mut tx, dir, group, &step).await? {
            tx.commit().await?;
        }
    }
    Ok(())
}

/// `POST /Groups`, members inside the body included (Okta pushes them that way).
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn create_group(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    body: &Value,
) -> Result<ScimOut, ScimError> {
    check_request_members(body)?;
    let (res, f) = normalize_group(body)?;
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(
        &state.db,
        &directory_actor(&dir.directory_id, &dir.name),
        ctx,
        now,
    )
    .await?;
    check_members(tx.conn(), dir, &f.members).await?;
    let row = DirGroupRow {
        id: db::new_id(IdKind::DirectoryGroup),
        directory_id: dir.directory_id.to_string(),
        organization_id: dir.organization_id.to_string(),
        display_name: f.display_name.clone(),
        external_id: f.external_id.clone(),
        resource: res.to_string(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    db::directory_groups::insert_group(tx.conn(), &row).await?;
    tx.record(
        Some(&dir.organization_id),
        EventType::DsyncGroupCreated,
        vec![
            Target::new(TargetKind::DirectoryGroup, &row.id, Some(&row.display_name)),
            Target::new(TargetKind::Directory, &dir.directory_id, Some(&dir.name)),
        ],
        json!({ "display_name": row.display_name, "members": f.members.len() }),
    )
    .await?;
    let mut diff = MemberDiff::between(&[], &f.members);
    apply_members(&mut tx, dir, &row, &diff.take(MEMBER_CHANGES_PER_TX)).await?;
    tx.commit().await?;
    apply_remaining_members(state, dir, ctx, &row, diff).await?;
    let mut conn = state.db.pool.acquire().await?;
    let v = render_group(&mut conn, &base(state, dir), &row, true).await?;
    Ok(ScimOut::resource(201, v))
}

/// PUT or PATCH of a Group. The group row is locked for the transaction, so concurrent PATCHes
/// of one group apply one after the other and no member change is lost.
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn update_group(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    id: &str,
    change: UserChange<'_>,
) -> Result<ScimOut, ScimError> {
    let (UserChange::Patch(body) | UserChange::Put(body)) = &change;
    check_request_members(body)?;
    let ops = match &change {
        UserChange::Patch(body) => Some(patch::parse_request(body)?),
        UserChange::Put(_) => None,
    };
    let now = state.clock.now();
    let base = base(state, dir);
    let mut tx = AuditedTx::begin(
        &state.db,
        &directory_actor(&dir.directory_id, &dir.name),
        ctx,
        now,
    )
    .await?;
    let mut row =
        db::directory_groups::get_group(tx.conn(), &dir.directory_id, id, db::Lock::ForUpdate)
            .await?
            .ok_or_else(|| not_found("Group", id))?;
    let before: Vec<String> = db::directory_groups::group_members(tx.conn(), &dir.directory_id, id)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    let next = match (&change, ops) {
        (UserChange::Put(body), _) => (*body).clone(),
        (UserChange::Patch(_), Some(ops)) => {
            let mut v = resource::render(&stored(&row.resource), &row.id, &group_meta(&base, &row));
            v["members"] = Value::Array(before.iter().map(|m| json!({ "value": m })).collect());
            patch::apply(&mut v, &ops, &patch::Schema::GROUP)?;
            v
        }
        (UserChange::Patch(_), None) => unreachable!("ops parsed above"),
    };
    let (res, f) = normalize_group(&next)?;
    let mut diff = MemberDiff::between(&before, &f.members);
    // Whatever shape the request took, it may change at most as many members as it may carry.
    let changes = diff.added.len() + diff.removed.len();
    if changes > resource::MAX_MEMBERS {
        return Err(ScimError::new(
            413,
            None,
            format!(
                "the request changes {changes} members; at most {} are accepted per request — send the rest in further PATCH requests",
                resource::MAX_MEMBERS
            ),
        ));
    }
    check_members(tx.conn(), dir, &diff.added).await?;
    let new_resource = res.to_string();
    let mut changed = false;
    if new_resource != row.resource {
        let old_name = row.display_name.clone();
        row.display_name = f.display_name.clone();
        row.external_id = f.external_id.clone();
        row.resource = new_resource;
        row.version += 1;
        row.updated_at = now;
        db::directory_groups::update_group(tx.conn(), &row).await?;
        tx.record(
            Some(&dir.organization_id),
            EventType::DsyncGroupUpdated,
            vec![
                Target::new(TargetKind::DirectoryGroup, &row.id, Some(&row.display_name)),
                Target::new(TargetKind::Directory, &dir.directory_id, Some(&dir.name)),
            ],
            json!({ "display_name": { "from": old_name, "to": row.display_name } }),
        )
        .await?;
        changed = true;
    }
    if apply_members(&mut tx, dir, &row, &diff.take(MEMBER_CHANGES_PER_TX)).await? {
        changed = true;
    }
    if changed {
        tx.commit().await?;
    } else {
        drop(tx);
    }
    apply_remaining_members(state, dir, ctx, &row, diff).await?;
    let mut conn = state.db.pool.acquire().await?;
    let v = render_group(&mut conn, &base, &row, true).await?;
    Ok(ScimOut::resource(200, v))
}

/// `DELETE /Groups/{id}`: former members' roles are recomputed in the same transaction.
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn delete_group(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    id: &str,
) -> Result<ScimOut, ScimError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(
        &state.db,
        &directory_actor(&dir.directory_id, &dir.name),
        ctx,
        now,
    )
    .await?;
    let row =
        db::directory_groups::get_group(tx.conn(), &dir.directory_id, id, db::Lock::ForUpdate)
            .await?
            .ok_or_else(|| not_found("Group", id))?;
    let members = db::directory_groups::group_members(tx.conn(), &dir.directory_id, id).await?;
    db::directory_groups::delete_group(tx.conn(), &dir.directory_id, id).await?;
    tx.record(
        Some(&dir.organization_id),
        EventType::DsyncGroupDeleted,
        vec![
            Target::new(TargetKind::DirectoryGroup, &row.id, Some(&row.display_name)),
            Target::new(TargetKind::Directory, &dir.directory_id, Some(&dir.name)),
        ],
        json!({ "display_name": row.display_name, "members": members.len() }),
    )
    .await?;
    // Former members' roles are recomputed in bounded steps (see [`MEMBER_CHANGES_PER_TX`]);
    // the first step commits with the deletion.
    let mappings = db::group_mappings::mappings(tx.conn(), &dir.directory_id).await?;
    let mut steps = members.chunks(MEMBER_CHANGES_PER_TX);
    for db::directory_groups::DirUserName { id: m, .. } in steps.next().unwrap_or_default() {
        if let Some(mut u) =
            db::directory_users::get_user(tx.conn(), &dir.directory_id, m, db::Lock::Plain).await?
        {
            reconcile(&mut tx, dir, &mut u, false, Some(&mappings)).await?;
        }
    }
    tx.commit().await?;
    for step in steps {
        let mut tx = AuditedTx::begin(
            &state.db,
            &directory_actor(&dir.directory_id, &dir.name),
            ctx,
            state.clock.now(),
        )
        .await?;
        let mappings = db::group_mappings::mappings(tx.conn(), &dir.directory_id).await?;
        for db::directory_groups::DirUserName { id: m, .. } in step {
            if let Some(mut u) =
                db::directory_users::get_user(tx.conn(), &dir.directory_id, m, db::Lock::Plain)
                    .await?
            {
                reconcile(&mut tx, dir, &mut u, false, Some(&mappings)).await?;
            }
        }
        if tx.has_events() {
            tx.commit().await?;
        }
    }
    Ok(ScimOut::no_content())
}
