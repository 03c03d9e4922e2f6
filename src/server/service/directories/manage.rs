//! Creating, reading, renaming and deleting directories, and rotating their SCIM token.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use serde_json::json;

use crate::domain::directory::DirectoryKind;
use crate::domain::ids::{DirectoryId, IdKind, OrgId};
use crate::domain::reconcile::SuspendReason;
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::crypto::{hash_secret, new_secret};
use crate::server::db;
use crate::server::db::directories::DirectoryRow;
use crate::server::error::AppError;
use crate::server::events::Snapshot;
use crate::server::state::AppState;

use super::suspension::suspend;
use super::{
    check_name, not_found, view, views, CreateDirectory, DirCtx, Directory, DirectoryWithToken,
    UpdateDirectory, SCIM_TOKEN_PREFIX,
};

/// Creates a directory and its first token.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
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
    let directory_id = DirectoryId::generate();
    let row = DirectoryRow {
        id: directory_id.to_string(),
        organization_id: organization_id.to_string(),
        kind: kind.as_str().into(),
        name,
        authoritative: input.authoritative.unwrap_or(true),
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
        &directory_id,
        organization_id,
        &hash_secret(&token),
        &token[token.len() - 4..],
        now,
    )
    .await?;
    let event = tx
        .record(
            Some(organization_id),
            EventType::DirectoryCreated,
            vec![Target::new(TargetKind::Directory, &row.id, Some(&row.name))],
            json!({ "type": row.kind, "authoritative": row.authoritative }),
        )
        .await?;
    let domains = crate::server::events::verified_domains(tx.conn(), organization_id).await?;
    tx.snapshot(
        &event,
        &Snapshot::Directory {
            directory: row.clone(),
            domains,
        },
    );
    tx.commit().await?;
    // The view counts every SCIM exchange answered so far: flushed before taking a pooled
    // connection, as the log writer itself needs one.
    state.scim_log.flush().await;
    let mut conn = state.db.pool.acquire().await?;
    Ok(DirectoryWithToken {
        directory: view(state, &mut conn, row).await?,
        bearer_token: token,
    })
}

/// The organization a directory belongs to (vendor API lookups by directory id).
pub async fn organization_of(state: &AppState, id: &DirectoryId) -> Result<OrgId, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::directories::directory_owner(&mut conn, id)
        .await?
        .ok_or_else(not_found)
}

/// Reads a directory of the organization.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn get(
    state: &AppState,
    organization_id: &OrgId,
    id: &DirectoryId,
) -> Result<Directory, AppError> {
    // The view counts every SCIM exchange answered so far: flushed before taking a pooled
    // connection, as the log writer itself needs one.
    state.scim_log.flush().await;
    let mut conn = state.db.pool.acquire().await?;
    let row = db::directories::get_directory(&mut conn, organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    view(state, &mut conn, row).await
}

/// The organization's directories.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn list(state: &AppState, organization_id: &OrgId) -> Result<Vec<Directory>, AppError> {
    // The view counts every SCIM exchange answered so far: flushed before taking a pooled
    // connection, as the log writer itself needs one.
    state.scim_log.flush().await;
    // The pool, not the inline readers: counting a large directory (when the counts are not
    // cached) reads every entry of its indexes.
    let mut conn = state.db.pool.acquire().await?;
    let rows = db::directories::list_directories(&mut conn, organization_id).await?;
    views(state, &mut conn, rows).await
}

/// What the portal's overview says about an organization's directories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub directories: usize,
    /// Users across the directories.
    pub users: i64,
    /// A directory answered a SCIM request with an error in the last 24 hours.
    pub failing: bool,
}

/// The organization's directories in three figures ([`Summary`]), from their ids as
/// `db::organizations::setup_counts` read them with the rest of the overview's counts (only it
/// fills them: the counts are keyed by directory id alone): their counts, without the tokens and
/// last errors [`list`] reads.
pub async fn summary(
    state: &AppState,
    setup: &db::organizations::SetupCounts,
) -> Result<Summary, AppError> {
    let ids = setup.directory_ids();
    if ids.is_empty() {
        return Ok(Summary::default());
    }
    state.scim_log.flush().await;
    let (generation, now) = (state.db.generation(), state.clock.now());
    let counts = match state.directory_counts.cached(generation, now, ids) {
        Some(counts) => counts,
        None => {
            // Counting reads every entry of a directory's indexes: on a pooled connection,
            // whose statements run on a thread of their own, not on this request's.
            let mut conn = state.db.pool.acquire().await?;
            state
                .directory_counts
                .get(&mut conn, generation, now, ids)
                .await?
        }
    };
    Ok(Summary {
        directories: ids.len(),
        users: counts.iter().map(|c| c.user_count).sum(),
        failing: counts.iter().any(|c| c.errors > 0),
    })
}

/// Renames a directory or changes whether it is authoritative.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &DirectoryId,
    input: UpdateDirectory,
) -> Result<Directory, AppError> {
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
        if a != row.authoritative {
            changes.insert("authoritative".into(), json!({ "from": !a, "to": a }));
            row.authoritative = a;
        }
    }
    if !changes.is_empty() {
        db::directories::update_directory(
            tx.conn(),
            organization_id,
            id,
            &row.name,
            row.authoritative,
            now,
        )
        .await?;
        tx.record(
            Some(organization_id),
            EventType::DirectoryUpdated,
            vec![Target::new(TargetKind::Directory, id, Some(&row.name))],
            serde_json::Value::Object(changes),
        )
        .await?;
        tx.commit().await?;
        // SCIM requests act under the directory's name: they see the new one at once.
        state.scim_tokens.forget_all();
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
    organization_id: &OrgId,
    id: &DirectoryId,
) -> Result<DirectoryWithToken, AppError> {
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
        vec![Target::new(TargetKind::Directory, id, Some(&row.name))],
        json!({ "previous_tokens_expire_at": now + overlap }),
    )
    .await?;
    tx.commit().await?;
    // The old tokens now expire: this node stops trusting what it remembered of them.
    state.scim_tokens.forget_all();
    // The view counts every SCIM exchange answered so far: flushed before taking a pooled
    // connection, as the log writer itself needs one.
    state.scim_log.flush().await;
    let mut conn = state.db.pool.acquire().await?;
    Ok(DirectoryWithToken {
        directory: view(state, &mut conn, row).await?,
        bearer_token: token,
    })
}

/// Marks the directory `row` deleted (its tokens expire) and records `directory.deleted` with
/// `metadata` and the directory as it ends, in the caller's transaction.
pub(crate) async fn delete_in(
    tx: &mut AuditedTx,
    organization_id: &OrgId,
    row: db::directories::DirectoryRow,
    metadata: serde_json::Value,
) -> Result<(), AppError> {
    let now = tx.now();
    let id = DirectoryId::from_stored(row.id.as_str());
    db::directories::delete_directory(tx.conn(), organization_id, &id, now).await?;
    let event = tx
        .record(
            Some(organization_id),
            EventType::DirectoryDeleted,
            vec![Target::new(TargetKind::Directory, &id, Some(&row.name))],
            metadata,
        )
        .await?;
    let mut deleted = row;
    deleted.deleted_at = Some(now);
    deleted.updated_at = now;
    tx.snapshot(
        &event,
        &Snapshot::Directory {
            directory: deleted,
            domains: Vec::new(),
        },
    );
    Ok(())
}

/// Deletes a directory: its tokens stop at once and the members it managed are suspended (the
/// directory can no longer vouch for them).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn delete(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &DirectoryId,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    // Locked first: a SCIM write key-share-locks the row (`live_for_write`), so none commits a user
    // between the read below and the deletion.
    db::directories::lock(tx.conn(), organization_id, id).await?;
    let row = db::directories::get_directory(tx.conn(), organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    let users = db::directory_users::all_users(tx.conn(), id).await?;
    let dir = DirCtx {
        directory_id: id.clone(),
        organization_id: organization_id.clone(),
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
    delete_in(
        &mut tx,
        organization_id,
        row,
        json!({ "users": users.len() }),
    )
    .await?;
    tx.commit().await?;
    // Its tokens stop at once: SCIM writes re-check the directory in their transaction, and this
    // node forgets what it remembered of the tokens (reads on other nodes: within `TOKEN_TRUST`).
    state.scim_tokens.forget_all();
    Ok(())
}
