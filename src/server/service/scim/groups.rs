//! SCIM Groups: list, get, create, replace or patch (members applied in bounded steps), delete.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::domain::ids::IdKind;
use crate::server::audit::{AuditedTx, RequestContext, Target};
use crate::server::db::directory_groups::DirGroupRow;
use crate::server::db::directory_users::DirUserRow;
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::events::Snapshot;
use crate::server::protocol::scim::patch::{self, ScimType};
use crate::server::protocol::scim::resource::{self, normalize_group, project, ScimError};
use crate::server::state::AppState;

use crate::server::service::directories::{recompute_roles, DirCtx, RoleRules};

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

/// Applies one step of a member diff with one event per user actually added or removed (one
/// statement adds them all, one removes them all), then recomputes the roles of those users.
/// Answers whether anything changed.
async fn apply_members(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    group: &DirGroupRow,
    diff: &MemberDiff,
) -> Result<bool, AppError> {
    let now = tx.now();
    let added: HashSet<String> = db::directory_groups::add_members(
        tx.conn(),
        &dir.directory_id,
        &group.id,
        &diff.added,
        now,
    )
    .await?
    .into_iter()
    .collect();
    let removed: HashSet<String> = db::directory_groups::remove_members(
        tx.conn(),
        &dir.directory_id,
        &group.id,
        &diff.removed,
    )
    .await?
    .into_iter()
    .collect();
    // Each event keeps the user as it is (one read for every member changed).
    let changed: Vec<String> = added.iter().chain(&removed).cloned().collect();
    let users: HashMap<String, DirUserRow> = if changed.is_empty() {
        HashMap::new()
    } else {
        db::directory_users::get_users(tx.conn(), &dir.directory_id, &changed, db::Lock::Plain)
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect()
    };
    let mut touched: Vec<&String> = Vec::with_capacity(added.len() + removed.len());
    for (list, done, action) in [
        (&diff.added, &added, EventType::DsyncGroupUserAdded),
        (&diff.removed, &removed, EventType::DsyncGroupUserRemoved),
    ] {
        // Events in the order the request listed the members.
        for m in list.iter().filter(|m| done.contains(m.as_str())) {
            touched.push(m);
            let event = tx
                .record(
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
            if let Some(user) = users.get(m.as_str()) {
                tx.snapshot(
                    &event,
                    &Snapshot::GroupMember {
                        user: user.clone(),
                        group: group.clone(),
                    },
                );
            }
        }
    }
    if !touched.is_empty() {
        if let Some(rules) = RoleRules::load_if_mapped(tx.conn(), dir).await? {
            recompute_roles(tx, dir, &rules, &touched).await?;
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
        let mut tx = super::begin_write(state, dir, ctx, state.clock.now()).await?;
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

/// A PATCH that only adds members, or only removes listed members (`path` `members`, each
/// value `{"value": id}`): the shape Entra sends in batches of 100. It is applied without
/// reading the group's current members; anything else goes through [`patch::apply`].
#[derive(Debug, PartialEq, Eq)]
struct MemberPatch {
    /// Adds the members (else removes them).
    add: bool,
    /// The member ids, each once, in request order.
    ids: Vec<String>,
    /// How many values each operation lists.
    per_op: Vec<usize>,
}

impl MemberPatch {
    fn of(ops: &[patch::PatchOp]) -> Option<MemberPatch> {
        let on_members = |p: &str| {
            let p = p.trim();
            let urn = resource::GROUP_SCHEMA;
            let attr = if p.len() > urn.len()
                && p[..urn.len()].eq_ignore_ascii_case(urn)
                && p.as_bytes()[urn.len()] == b':'
            {
                &p[urn.len() + 1..]
            } else {
                p
            };
            attr.eq_ignore_ascii_case("members")
        };
        let kind = ops.first()?.op;
        if !matches!(kind, patch::OpKind::Add | patch::OpKind::Remove) {
            return None;
        }
        let mut ids = Vec::new();
        let mut per_op = Vec::with_capacity(ops.len());
        let mut seen = HashSet::new();
        for op in ops {
            if op.op != kind || !op.path.as_deref().is_some_and(on_members) {
                return None;
            }
            let values = op.value.as_ref()?.as_array()?;
            for m in values {
                let id = m.as_object()?.get("value")?.as_str()?;
                if seen.insert(id) {
                    ids.push(id.to_owned());
                }
            }
            per_op.push(values.len());
        }
        Some(MemberPatch {
            add: kind == patch::OpKind::Add,
            ids,
            per_op,
        })
    }

    /// At least what [`patch::apply`] would count against [`patch::MAX_WORK`] for this request
    /// on a group of `members` (each operation: one, plus the list as it stands, plus its
    /// values). A request over the budget goes through the general path, which refuses it as
    /// before.
    fn work(&self, members: usize) -> u64 {
        let mut list = members as u64;
        let mut total = 0u64;
        for &n in &self.per_op {
            total = total.saturating_add(1 + list + n as u64);
            if self.add {
                list += n as u64;
            }
        }
        total
    }
}

/// Applies a [`MemberPatch`]. `None` when the general path must decide: the group is near its
/// size limit (where the members a request adds are counted exactly) or the request is over
/// the PATCH work budget.
async fn patch_members(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    id: &str,
    change: MemberPatch,
) -> Result<Option<ScimOut>, ScimError> {
    let mut tx = super::begin_write(state, dir, ctx, state.clock.now()).await?;
    let row =
        db::directory_groups::get_group(tx.conn(), &dir.directory_id, id, db::Lock::ForUpdate)
            .await?
            .ok_or_else(|| not_found("Group", id))?;
    let members = db::directory_groups::count_members(tx.conn(), &dir.directory_id, id).await?;
    let members = usize::try_from(members).unwrap_or(usize::MAX);
    if change.work(members) > patch::MAX_WORK
        || (change.add && members.saturating_add(change.ids.len()) > resource::MAX_GROUP_MEMBERS)
    {
        return Ok(None);
    }
    let mut diff = if change.add {
        check_members(tx.conn(), dir, &change.ids).await?;
        MemberDiff {
            added: change.ids,
            removed: Vec::new(),
        }
    } else {
        // In id order, the order the general path removes members in.
        let mut ids = change.ids;
        ids.sort();
        MemberDiff {
            added: Vec::new(),
            removed: ids,
        }
    };
    if apply_members(&mut tx, dir, &row, &diff.take(MEMBER_CHANGES_PER_TX)).await? {
        tx.commit().await?;
    } else {
        drop(tx);
    }
    apply_remaining_members(state, dir, ctx, &row, diff).await?;
    let mut conn = state.db.pool.acquire().await?;
    let v = render_group(&mut conn, &base(state, dir), &row, true).await?;
    Ok(Some(ScimOut::resource(200, v)))
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
    // Checked before the write begins, so a large push does not hold the writer for it; a user
    // deleted meanwhile is skipped when the members are added.
    if !f.members.is_empty() {
        let mut conn = state.db.pool.acquire().await?;
        check_members(&mut conn, dir, &f.members).await?;
    }
    let now = state.clock.now();
    let mut tx = super::begin_write(state, dir, ctx, now).await?;
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
    let event = tx
        .record(
            Some(&dir.organization_id),
            EventType::DsyncGroupCreated,
            group_targets(&row, dir),
            json!({ "display_name": row.display_name, "members": f.members.len() }),
        )
        .await?;
    tx.snapshot(
        &event,
        &Snapshot::DirectoryGroup {
            group: row.clone(),
            previous: None,
        },
    );
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
    if let Some(members) = ops.as_deref().and_then(MemberPatch::of) {
        if let Some(out) = patch_members(state, dir, ctx, id, members).await? {
            return Ok(out);
        }
    }
    let now = state.clock.now();
    let base = base(state, dir);
    let mut tx = super::begin_write(state, dir, ctx, now).await?;
    let mut row =
        db::directory_groups::get_group(tx.conn(), &dir.directory_id, id, db::Lock::ForUpdate)
            .await?
            .ok_or_else(|| not_found("Group", id))?;
    let before = db::directory_groups::member_ids(tx.conn(), &dir.directory_id, id).await?;
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
        let previous = Box::new(row.clone());
        let old_name = row.display_name.clone();
        row.display_name = f.display_name.clone();
        row.external_id = f.external_id.clone();
        row.resource = new_resource;
        row.version += 1;
        row.updated_at = now;
        db::directory_groups::update_group(tx.conn(), &row).await?;
        let event = tx
            .record(
                Some(&dir.organization_id),
                EventType::DsyncGroupUpdated,
                group_targets(&row, dir),
                json!({ "display_name": { "from": old_name, "to": row.display_name } }),
            )
            .await?;
        tx.snapshot(
            &event,
            &Snapshot::DirectoryGroup {
                group: row.clone(),
                previous: Some(previous),
            },
        );
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

/// The targets of an event about a group: the group, then its directory.
fn group_targets(row: &DirGroupRow, dir: &DirCtx) -> Vec<Target> {
    vec![
        Target::new(TargetKind::DirectoryGroup, &row.id, Some(&row.display_name)),
        Target::new(TargetKind::Directory, &dir.directory_id, Some(&dir.name)),
    ]
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
    let mut tx = super::begin_write(state, dir, ctx, now).await?;
    let row =
        db::directory_groups::get_group(tx.conn(), &dir.directory_id, id, db::Lock::ForUpdate)
            .await?
            .ok_or_else(|| not_found("Group", id))?;
    let ids = db::directory_groups::member_ids(tx.conn(), &dir.directory_id, id).await?;
    db::directory_groups::delete_group(tx.conn(), &dir.directory_id, id).await?;
    let event = tx
        .record(
            Some(&dir.organization_id),
            EventType::DsyncGroupDeleted,
            group_targets(&row, dir),
            json!({ "display_name": row.display_name, "members": ids.len() }),
        )
        .await?;
    tx.snapshot(
        &event,
        &Snapshot::DirectoryGroup {
            group: row.clone(),
            previous: None,
        },
    );
    // Former members' roles are recomputed in bounded steps (see [`MEMBER_CHANGES_PER_TX`]);
    // the first step commits with the deletion.
    // The group's own mapping went with it, so its members are recomputed even when no mapping
    // is left (a role it gave falls back to the default role).
    let mut steps = ids.chunks(MEMBER_CHANGES_PER_TX);
    let rules = RoleRules::load(tx.conn(), dir).await?;
    let first: Vec<&String> = steps.next().unwrap_or_default().iter().collect();
    recompute_roles(&mut tx, dir, &rules, &first).await?;
    tx.commit().await?;
    for step in steps {
        let mut tx = super::begin_write(state, dir, ctx, state.clock.now()).await?;
        let rules = RoleRules::load(tx.conn(), dir).await?;
        let step: Vec<&String> = step.iter().collect();
        recompute_roles(&mut tx, dir, &rules, &step).await?;
        if tx.has_events() {
            tx.commit().await?;
        }
    }
    Ok(ScimOut::no_content())
}

#[cfg(test)]
mod tests {
    use super::MemberPatch;
    use crate::server::protocol::scim::patch::parse_request;
    use serde_json::json;

    fn of(ops: serde_json::Value) -> Option<MemberPatch> {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        MemberPatch::of(&parse_request(&body).unwrap())
    }

    #[test]
    fn only_plain_member_adds_or_removes_skip_the_general_path() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            // Entra's batches, repeated ids once, the schema's URN in front, any case.
            (
                json!([{"op": "Add", "path": "members", "value": [{"value": "a"}, {"value": "b"}, {"value": "a"}]}]),
                Some((true, ids(&["a", "b"]))),
            ),
            (
                json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:Members", "value": [{"value": "a", "display": "A"}]},
                       {"op": "ADD", "path": "members", "value": [{"value": "c"}]}]),
                Some((true, ids(&["a", "c"]))),
            ),
            (
                json!([{"op": "Remove", "path": "members", "value": [{"value": "b"}]}]),
                Some((false, ids(&["b"]))),
            ),
            // Everything else is applied to the current members as a whole.
            (json!([{"op": "Remove", "path": "members"}]), None),
            (
                json!([{"op": "remove", "path": "members[value eq \"a\"]"}]),
                None,
            ),
            (
                json!([{"op": "replace", "path": "members", "value": [{"value": "a"}]}]),
                None,
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "a"}]},
                       {"op": "remove", "path": "members", "value": [{"value": "b"}]}]),
                None,
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"Value": "a"}]}]),
                None,
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"value": 1}]}]),
                None,
            ),
            (
                json!([{"op": "add", "path": "members", "value": {"value": "a"}}]),
                None,
            ),
            (
                json!([{"op": "add", "value": {"members": [{"value": "a"}]}}]),
                None,
            ),
            (
                json!([{"op": "add", "path": "displayName", "value": "x"}]),
                None,
            ),
        ];
        for (ops, want) in cases {
            assert_eq!(of(ops.clone()).map(|p| (p.add, p.ids)), want, "{ops}");
        }
    }

    #[test]
    fn the_work_counted_is_what_the_general_path_would_count() {
        let one = |i: usize| json!({"op": "add", "path": "members", "value": [{"value": format!("y{i}")}]});
        // One add of 100 values to a group of 1,000: 1 + 1,000 + 100.
        let p = of(json!([{"op": "add", "path": "members", "value": (0..100).map(|i| json!({"value": format!("x{i}")})).collect::<Vec<_>>()}])).unwrap();
        assert_eq!(p.work(1_000), 1_101);
        // Many one-value adds each count the list as it grows: over budget on a large group.
        let p = of(serde_json::Value::Array((0..999).map(one).collect())).unwrap();
        assert!(p.work(22_000) > crate::server::protocol::scim::patch::MAX_WORK);
        // Removes count the list as it stands.
        let p = of(json!([{"op": "remove", "path": "members", "value": [{"value": "a"}]}, {"op": "remove", "path": "members", "value": [{"value": "b"}]}])).unwrap();
        assert_eq!(p.work(10), 24);
    }
}
