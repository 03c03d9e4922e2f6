//! SCIM Users: list, get, create, replace or patch, delete.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;

use serde_json::{json, Value};

use crate::domain::ids::IdKind;
use crate::server::audit::{AuditedTx, RequestContext, Target};
use crate::server::db;
use crate::server::db::directory_users::DirUserRow;
use crate::server::events::Snapshot;
use crate::server::protocol::scim::patch;
use crate::server::protocol::scim::resource::{
    self, normalize_user, project, user_name_key, ScimError,
};
use crate::server::state::AppState;

use crate::server::error::AppError;
use crate::server::service::directories::{access_email, reconcile_with, DirCtx, Known};

use super::{
    base, list, not_found, render_user, stored, user_meta, ListQuery, Projection, ScimOut, Users,
};

/// `GET /Users`.
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn list_users(
    state: &AppState,
    dir: &DirCtx,
    lq: &ListQuery,
) -> Result<ScimOut, ScimError> {
    list::<Users>(state, dir, lq).await
}

/// `GET /Users/{id}`.
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn get_user(
    state: &AppState,
    dir: &DirCtx,
    id: &str,
    p: &Projection,
) -> Result<ScimOut, ScimError> {
    let mut conn = state.db.read().await?;
    let r = db::directory_users::get_user(&mut conn, &dir.directory_id, id, db::Lock::Plain)
        .await?
        .ok_or_else(|| not_found("User", id))?;
    let v = render_user(&mut conn, &base(state, dir), &r, true).await?;
    Ok(ScimOut::resource(
        200,
        project(v, p.attributes.as_deref(), p.excluded_attributes.as_deref()),
    ))
}

fn uniqueness(user_name: &str) -> ScimError {
    ScimError::new(
        409,
        Some("uniqueness"),
        format!("a user with userName \"{user_name}\" already exists in this directory (userName is compared without regard to case)"),
    )
}

/// `POST /Users`. A retried create answers 409 `uniqueness`: never a second user.
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn create_user(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    body: &Value,
) -> Result<ScimOut, ScimError> {
    let (res, f) = normalize_user(body)?;
    let now = state.clock.now();
    let key = user_name_key(&f.user_name);
    let mut row = DirUserRow {
        id: db::new_id(IdKind::DirectoryUser),
        directory_id: dir.directory_id.to_string(),
        organization_id: dir.organization_id.to_string(),
        user_name: f.user_name.clone(),
        user_name_key: key,
        external_id: f.external_id.clone(),
        email: f.email.clone(),
        display_name: f.display_name.clone(),
        active: f.active,
        resource: res.to_string(),
        user_id: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    // Two directory users with one address created at the same moment (different userNames):
    // the loser fails on the organization user's address; once more, it links to the winner's.
    // PostgreSQL: with the creates of concurrent requests, in one transaction; a batch that
    // fails is not written at all, and each of its creates is then written alone, here.
    let batched = match &state.scim_creates {
        Some(batch) => batch.create(dir, ctx, now, &row).await,
        None => None,
    };
    let mut written = match batched {
        Some(stored) => {
            row = stored;
            Ok(())
        }
        None => write_created(state, dir, ctx, now, &mut row).await,
    };
    if written.as_ref().is_err_and(|e| {
        e.is_unique_violation_on("users_org_email")
            || e.is_unique_violation_on("users.organization_id, users.email")
    }) {
        row.user_id = None;
        written = write_created(state, dir, ctx, now, &mut row).await;
    }
    if let Err(e) = written {
        // The userName's index, or (the winner committed first) the name is now taken.
        if e.is_unique_violation_on("directory_users")
            || name_taken(state, dir, &row.user_name_key).await
        {
            return Err(uniqueness(&f.user_name));
        }
        return Err(e.into());
    }
    // A user created just now is in no group: the answer needs no read.
    let v = resource::render(&res, &row.id, &user_meta(&base(state, dir), &row));
    Ok(ScimOut::resource(201, v))
}

/// The transaction of a create: the policy's reads in one statement, then the directory user,
/// its organization user and membership, held and written at the commit with the audit rows.
async fn write_created(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    now: i64,
    row: &mut DirUserRow,
) -> Result<(), AppError> {
    let tx = super::begin_unchecked(state, dir, ctx, now).await?;
    // The held writes go out at the commit: the userName's unique index refuses a retried
    // create, and of two creates of one userName racing on PostgreSQL the loser waits on the
    // winner's rows and fails there.
    create_in(tx, dir, row).await?.commit().await?;
    Ok(())
}

/// A create's reads and decisions in `tx`, its writes held and its audit events recorded: the
/// transaction, ready for its commit.
async fn create_in(
    mut tx: AuditedTx,
    dir: &DirCtx,
    row: &mut DirUserRow,
) -> Result<AuditedTx, AppError> {
    let Some(reads) = read_for_create(&mut tx, dir, row).await? else {
        return Err(super::directory_gone());
    };
    create_with(tx, dir, row, reads).await
}

/// What the policy reads before a create's writes, in one statement: the directory still live
/// (`None`: deleted), the domain's verified holder, a member with the address. Reads only:
/// nothing is held or recorded.
pub(super) async fn read_for_create(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    row: &DirUserRow,
) -> Result<Option<db::directories::CreateReads>, AppError> {
    let address = CreateAddress::of(row);
    Ok(db::directories::live_for_create(tx.conn(), address.read(dir)).await?)
}

/// The address a create gives access under, with its domain and the domain's parents (nearest
/// first): what its read ([`read_for_create`], `db::directories::live_for_creates`) looks up.
#[derive(Debug)]
pub(super) struct CreateAddress {
    email: String,
    domain: Option<crate::domain::domain_name::DomainName>,
    parents: Vec<String>,
}

impl CreateAddress {
    pub(super) fn of(row: &DirUserRow) -> CreateAddress {
        let email = access_email(row);
        let domain = crate::domain::domain_name::email_domain(&email);
        let parents = domain
            .as_ref()
            .map(crate::server::service::domains::parent_names)
            .unwrap_or_default();
        CreateAddress {
            email,
            domain,
            parents,
        }
    }

    /// The read of a create of this address in `dir`.
    pub(super) fn read<'a>(&'a self, dir: &'a DirCtx) -> db::directories::CreateRead<'a> {
        db::directories::CreateRead {
            organization_id: &dir.organization_id,
            id: &dir.directory_id,
            domain: self
                .domain
                .as_ref()
                .map(|d| (d.as_str(), self.parents.as_slice())),
            email: &self.email,
        }
    }
}

/// The rest of a create after [`read_for_create`]: its decisions, its writes held and its audit
/// events recorded; the transaction, ready for its commit (alone, or with a batch's others:
/// `super::batch`).
pub(super) async fn create_with(
    mut tx: AuditedTx,
    dir: &DirCtx,
    row: &mut DirUserRow,
    reads: db::directories::CreateReads,
) -> Result<AuditedTx, AppError> {
    let domain = crate::domain::domain_name::email_domain(&access_email(row));
    let held_elsewhere: std::collections::HashMap<String, bool> = domain
        .iter()
        .map(|d| {
            let held = reads
                .nearest_holder
                .as_deref()
                .is_some_and(|h| h != dir.organization_id.as_str());
            (d.as_str().to_owned(), held)
        })
        .collect();
    // The writes go out together at the commit: no statement of this transaction reads them.
    tx.hold_membership_writes();
    let event = tx.record(
        Some(&dir.organization_id),
        EventType::DsyncUserCreated,
        vec![
            Target::new(TargetKind::DirectoryUser, &row.id, Some(&row.user_name)),
            Target::new(TargetKind::Directory, &dir.directory_id, Some(&dir.name)),
        ],
        json!({ "user_name": row.user_name, "email": row.email, "active": row.active, "external_id": row.external_id }),
    )
    .await?;
    // The directory user is written last, once its link to the organization user is known:
    // one insert instead of an insert and an update, and the userName's unique index (not an
    // extra read) is what refuses a retried create.
    let known = Known {
        unsaved: true,
        default_role: Some(&reads.default_role),
        held_elsewhere: Some(&held_elsewhere),
        member_by_email: Some(reads.member.as_ref()),
        ..Known::default()
    };
    reconcile_with(&mut tx, dir, row, false, known).await?;
    if let Some(held) = tx.held_membership_writes() {
        held.hold(db::directory_users::insert_user_held(row));
    }
    tx.snapshot(
        &event,
        &Snapshot::DirectoryUser {
            user: row.clone(),
            previous: None,
        },
    );
    Ok(tx)
}

/// Whether the directory has a user with this userName (as compared: `user_name_key`).
async fn name_taken(state: &AppState, dir: &DirCtx, key: &str) -> bool {
    let Ok(mut conn) = state.db.pool.acquire().await else {
        return false;
    };
    matches!(
        db::directory_users::user_by_name_key(&mut conn, &dir.directory_id, key).await,
        Ok(Some(_))
    )
}

/// PUT (`replace` = the new resource) or PATCH (`ops` applied to the current one) of a User.
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn update_user(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    id: &str,
    change: UserChange<'_>,
) -> Result<ScimOut, ScimError> {
    let ops = match &change {
        UserChange::Patch(body) => Some(patch::parse_request(body)?),
        UserChange::Put(_) => None,
    };
    let now = state.clock.now();
    let base = base(state, dir);
    let (mut tx, default_role) = super::begin_write_with_role(state, dir, ctx, now).await?;
    let mut row =
        db::directory_users::get_user(tx.conn(), &dir.directory_id, id, db::Lock::ForUpdate)
            .await?
            .ok_or_else(|| not_found("User", id))?;
    let current = resource::render(&stored(&row.resource), &row.id, &user_meta(&base, &row));
    let next = match (&change, ops) {
        (UserChange::Put(body), _) => {
            let mut next = (*body).clone();
            // Fail closed: a PUT that leaves `active` out keeps the user's current state rather
            // than reactivating a deactivated user by default.
            if let Some(o) = next.as_object_mut() {
                if !o.keys().any(|k| k.eq_ignore_ascii_case("active")) {
                    o.insert("active".into(), Value::Bool(row.active));
                }
            }
            next
        }
        (UserChange::Patch(_), Some(ops)) => {
            let mut v = current.clone();
            patch::apply(&mut v, &ops, &patch::Schema::USER)?;
            v
        }
        (UserChange::Patch(_), None) => unreachable!("ops parsed above"),
    };
    let (res, f) = normalize_user(&next)?;
    let key = user_name_key(&f.user_name);
    if key != row.user_name_key
        && db::directory_users::user_by_name_key(tx.conn(), &dir.directory_id, &key)
            .await?
            .is_some()
    {
        return Err(uniqueness(&f.user_name));
    }
    let new_resource = res.to_string();
    let was_active = row.active;
    let previous = Box::new(row.clone());
    if new_resource == row.resource && f.user_name == row.user_name {
        drop(tx);
        let mut conn = state.db.pool.acquire().await?;
        let v = render_user(&mut conn, &base, &row, true).await?;
        return Ok(ScimOut::resource(200, v));
    }
    row.user_name = f.user_name.clone();
    row.user_name_key = key;
    row.external_id = f.external_id.clone();
    row.email = f.email.clone();
    row.display_name = f.display_name.clone();
    row.active = f.active;
    row.resource = new_resource;
    row.version += 1;
    row.updated_at = now;
    match db::directory_users::update_user(tx.conn(), &row).await {
        Err(e) if db::is_unique_violation(&e) => return Err(uniqueness(&f.user_name)),
        r => r?,
    }
    let action = match (was_active, f.active) {
        (true, false) => EventType::DsyncUserDeactivated,
        (false, true) => EventType::DsyncUserReactivated,
        _ => EventType::DsyncUserUpdated,
    };
    let event = tx
        .record(
            Some(&dir.organization_id),
            action,
            vec![
                Target::new(TargetKind::DirectoryUser, &row.id, Some(&row.user_name)),
                Target::new(TargetKind::Directory, &dir.directory_id, Some(&dir.name)),
            ],
            json!({ "user_name": row.user_name, "email": row.email, "active": f.active }),
        )
        .await?;
    // The row was read locked and written by this transaction: reconcile need not read it.
    let known = Known {
        current: true,
        default_role: Some(&default_role),
        ..Known::default()
    };
    reconcile_with(&mut tx, dir, &mut row, false, known).await?;
    tx.snapshot(
        &event,
        &Snapshot::DirectoryUser {
            user: row.clone(),
            previous: Some(previous),
        },
    );
    tx.commit().await?;
    let mut conn = state.db.pool.acquire().await?;
    let v = render_user(&mut conn, &base, &row, true).await?;
    Ok(ScimOut::resource(200, v))
}

/// How a User is changed.
pub enum UserChange<'a> {
    Put(&'a Value),
    Patch(&'a Value),
}

/// `DELETE /Users/{id}`: the user leaves the directory and their membership is suspended in the
/// same transaction.
#[tracing::instrument(skip_all, fields(organization_id = %dir.organization_id, directory_id = %dir.directory_id))]
pub async fn delete_user(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    id: &str,
) -> Result<ScimOut, ScimError> {
    let now = state.clock.now();
    let (mut tx, default_role) = super::begin_write_with_role(state, dir, ctx, now).await?;
    let mut row =
        db::directory_users::get_user(tx.conn(), &dir.directory_id, id, db::Lock::ForUpdate)
            .await?
            .ok_or_else(|| not_found("User", id))?;
    let event = tx
        .record(
            Some(&dir.organization_id),
            EventType::DsyncUserDeleted,
            vec![
                Target::new(TargetKind::DirectoryUser, &row.id, Some(&row.user_name)),
                Target::new(TargetKind::Directory, &dir.directory_id, Some(&dir.name)),
            ],
            json!({ "user_name": row.user_name, "email": row.email }),
        )
        .await?;
    tx.snapshot(
        &event,
        &Snapshot::DirectoryUser {
            user: row.clone(),
            previous: None,
        },
    );
    let known = Known {
        current: true,
        default_role: Some(&default_role),
        ..Known::default()
    };
    reconcile_with(&mut tx, dir, &mut row, true, known).await?;
    db::directory_users::delete_user(tx.conn(), &dir.directory_id, id).await?;
    tx.commit().await?;
    Ok(ScimOut::no_content())
}
