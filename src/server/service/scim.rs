//! The SCIM 2.0 operations a directory's IdP drives: Users and Groups, each change committed with
//! its audit event and the membership change it causes (see [`super::directories::reconcile`]).

use crate::domain::event_type::EventType;
use std::collections::HashSet;

use serde_json::{json, Value};

use crate::domain::ids::IdKind;
use crate::server::audit::{AuditedTx, RequestContext, Target};
use crate::server::clock::rfc3339;
use crate::server::crypto::hash_secret;
use crate::server::db::{self, Conn};
use crate::server::db::{
    directory_groups::{DirGroupRow, GroupColumn},
    directory_users::{DirUserRow, UserColumn},
    scim_log::ScimRequestRow,
};
use crate::server::error::AppError;
use crate::server::protocol::scim::filter::{self, CompareOp, Filter};
use crate::server::protocol::scim::patch::{self, ScimType};
use crate::server::protocol::scim::resource::{
    self, list_response, normalize_group, normalize_user, project, user_name_key, Meta, ScimError,
};
use crate::server::state::AppState;

use super::directories::{directory_actor, reconcile, DirCtx};

/// A SCIM answer: status, body and the headers RFC 7644 asks for.
#[derive(Debug, Clone)]
pub struct ScimOut {
    pub status: u16,
    pub body: Option<Value>,
    /// `Location` of a created resource (equal to its `meta.location`).
    pub location: Option<String>,
    /// `ETag` (equal to `meta.version`).
    pub etag: Option<String>,
}

impl ScimOut {
    fn ok(body: Value) -> ScimOut {
        ScimOut {
            status: 200,
            body: Some(body),
            location: None,
            etag: None,
        }
    }

    fn resource(status: u16, body: Value) -> ScimOut {
        let etag = body
            .pointer("/meta/version")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let location = (status == 201)
            .then(|| body.pointer("/meta/location").and_then(Value::as_str))
            .flatten()
            .map(str::to_owned);
        ScimOut {
            status,
            body: Some(body),
            location,
            etag,
        }
    }

    fn no_content() -> ScimOut {
        ScimOut {
            status: 204,
            body: None,
            location: None,
            etag: None,
        }
    }
}

impl From<AppError> for ScimError {
    fn from(e: AppError) -> Self {
        let status = e.status();
        let request_id = crate::server::request_id::current_request_id();
        e.log(&request_id);
        ScimError::new(status, None, e.public_message(&request_id))
    }
}

impl From<sqlx::Error> for ScimError {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}

impl From<crate::server::audit::AuditError> for ScimError {
    fn from(e: crate::server::audit::AuditError) -> Self {
        AppError::from(e).into()
    }
}

impl From<patch::PatchError> for ScimError {
    fn from(e: patch::PatchError) -> Self {
        match e.scim_type {
            ScimType::TooMany => ScimError::new(413, Some(ScimType::TooMany.as_str()), e.message),
            t => ScimError::bad(t, e.message),
        }
    }
}

/// The directory a request's bearer token opens, when it is the directory in the path.
/// Anything else — unknown directory, wrong token, another directory's token, a token
/// rotated out past its overlap — is the same 401, so a token never reveals other directories.
pub async fn authenticate(
    state: &AppState,
    directory_id: &str,
    presented: Option<&str>,
) -> Result<DirCtx, ScimError> {
    let unauthorized = || {
        ScimError::new(
            401,
            None,
            "send this directory's SCIM token as `Authorization: Bearer lanyard_scim_…`; copy it from the directory's setup page (rotate it there if it is lost)",
        )
    };
    let Some(token) = presented.filter(|t| !t.is_empty()) else {
        return Err(unauthorized());
    };
    let mut conn = state.db.pool.acquire().await?;
    let Some(db::directory_tokens::TokenDirectory {
        directory_id: dir,
        organization_id: org,
        token_hash: stored,
    }) = db::directory_tokens::token_directory(&mut conn, &hash_secret(token), state.clock.now())
        .await?
    else {
        return Err(unauthorized());
    };
    if dir != directory_id || !crate::server::crypto::ct_eq(&stored, &hash_secret(token)) {
        return Err(unauthorized());
    }
    // Last use, for the credentials inventory: at most once a minute, best effort and off the
    // request's path (it waits for this node's write turn on SQLite, and must never fail or
    // slow the IdP's push).
    let now = state.clock.now();
    if db::directory_tokens::token_last_used(&mut conn, &stored)
        .await?
        .is_none_or(|t| t < now - 60_000)
    {
        let db = state.db.clone();
        let hash = stored.clone();
        tokio::spawn(async move {
            let touched = async {
                let _turn = db.write_turn().await?;
                let mut c = db.pool.acquire().await?;
                db::directory_tokens::touch_token(&mut c, &hash, now).await
            };
            if let Err(e) = touched.await {
                tracing::warn!(error = %e, "SCIM token last use not recorded");
            }
        });
    }
    let row = db::directories::get_directory(&mut conn, &org, &dir)
        .await?
        .ok_or_else(unauthorized)?;
    Ok(DirCtx {
        directory_id: row.id,
        organization_id: row.organization_id,
        name: row.name,
    })
}

/// List parameters of `GET /Users` and `GET /Groups`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ListQuery {
    pub filter: Option<String>,
    #[serde(rename = "startIndex")]
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

/// `attributes` / `excludedAttributes` of a single-resource GET.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Projection {
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

fn base(state: &AppState, dir: &DirCtx) -> String {
    super::directories::scim_base_url(state, &dir.directory_id)
}

fn not_found(kind: &str, id: &str) -> ScimError {
    ScimError::new(
        404,
        None,
        format!("{kind} {id} not found in this directory"),
    )
}

fn parse_filter(raw: Option<&str>) -> Result<Option<Filter>, ScimError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(f) => filter::parse(f)
            .map(Some)
            .map_err(|e| ScimError::bad(ScimType::InvalidFilter, format!("filter: {}", e.message))),
    }
}

/// An equality on an indexed column anywhere in the filter's top-level `and` chain: the
/// candidates it selects are a superset of the filter's matches.
fn narrow<'a>(f: &'a Filter, pick: &dyn Fn(&str) -> bool) -> Option<(&'a str, &'a str)> {
    match f {
        Filter::And(a, b) => narrow(a, pick).or_else(|| narrow(b, pick)),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(v),
        } if path.sub.is_none() && path.is_core() && pick(&path.attr) => {
            Some((path.attr.as_str(), v.as_str()))
        }
        _ => None,
    }
}

fn user_column(attr: &str) -> Option<UserColumn> {
    match attr.to_ascii_lowercase().as_str() {
        "id" => Some(UserColumn::Id),
        "username" => Some(UserColumn::UserNameKey),
        "externalid" => Some(UserColumn::ExternalId),
        _ => None,
    }
}

fn group_column(attr: &str) -> Option<GroupColumn> {
    match attr.to_ascii_lowercase().as_str() {
        "id" => Some(GroupColumn::Id),
        "displayname" => Some(GroupColumn::DisplayName),
        "externalid" => Some(GroupColumn::ExternalId),
        _ => None,
    }
}

fn user_meta<'a>(base: &str, r: &DirUserRow) -> Meta<'a> {
    Meta {
        resource_type: "User",
        created: rfc3339(r.created_at),
        last_modified: rfc3339(r.updated_at),
        version: r.version,
        location: format!("{base}/Users/{}", r.id),
    }
}

fn group_meta<'a>(base: &str, r: &DirGroupRow) -> Meta<'a> {
    Meta {
        resource_type: "Group",
        created: rfc3339(r.created_at),
        last_modified: rfc3339(r.updated_at),
        version: r.version,
        location: format!("{base}/Groups/{}", r.id),
    }
}

fn stored(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| json!({}))
}

async fn render_user(
    conn: &mut Conn,
    base: &str,
    r: &DirUserRow,
    with_groups: bool,
) -> Result<Value, sqlx::Error> {
    let mut v = resource::render(&stored(&r.resource), &r.id, &user_meta(base, r));
    if with_groups {
        let groups = db::directory_groups::groups_of_user(conn, &r.directory_id, &r.id).await?;
        if !groups.is_empty() {
            v["groups"] = Value::Array(
                groups
                    .into_iter()
                    .map(|db::directory_groups::DirGroupName { id, display_name: name }| json!({ "value": id, "display": name, "$ref": format!("{base}/Groups/{id}") }))
                    .collect(),
            );
        }
    }
    Ok(v)
}

async fn render_group(
    conn: &mut Conn,
    base: &str,
    r: &DirGroupRow,
    with_members: bool,
) -> Result<Value, sqlx::Error> {
    let mut v = resource::render(&stored(&r.resource), &r.id, &group_meta(base, r));
    if with_members {
        let members = db::directory_groups::group_members(conn, &r.directory_id, &r.id).await?;
        v["members"] = Value::Array(
            members
                .into_iter()
                // `display` is left out: clients compare members as they sent them.
                .map(|db::directory_groups::DirUserName { id, .. }| json!({ "value": id, "type": "User", "$ref": format!("{base}/Users/{id}") }))
                .collect(),
        );
    }
    Ok(v)
}

fn mentions(list: Option<&str>, name: &str) -> bool {
    list.is_some_and(|l| {
        l.split(',').any(|a| {
            a.trim().eq_ignore_ascii_case(name)
                || a.trim()
                    .to_ascii_lowercase()
                    .starts_with(&format!("{}.", name.to_ascii_lowercase()))
        })
    })
}

/// What differs between listing Users and listing Groups.
trait Listed {
    type Row;
    type Col: Copy;
    /// The attribute rendered from another table (a User's `groups`, a Group's `members`).
    const EXTRA: &'static str;
    /// The indexed column for an `eq` on `attr`, with the value as the column stores it.
    fn column(attr: &str, value: &str) -> Option<(Self::Col, String)>;
    async fn page(
        conn: &mut Conn,
        dir: &str,
        eq: Option<(Self::Col, &str)>,
        offset: i64,
        limit: i64,
    ) -> Result<db::directory_users::Page<Self::Row>, sqlx::Error>;
    async fn all(conn: &mut Conn, dir: &str) -> Result<Vec<Self::Row>, sqlx::Error>;
    async fn render(
        conn: &mut Conn,
        base: &str,
        row: &Self::Row,
        extra: bool,
    ) -> Result<Value, sqlx::Error>;
}

struct Users;
struct Groups;

impl Listed for Users {
    type Row = DirUserRow;
    type Col = UserColumn;
    const EXTRA: &'static str = "groups";
    fn column(attr: &str, value: &str) -> Option<(UserColumn, String)> {
        let c = user_column(attr)?;
        let v = if c == UserColumn::UserNameKey {
            user_name_key(value)
        } else {
            value.to_owned()
        };
        Some((c, v))
    }
    async fn page(
        conn: &mut Conn,
        dir: &str,
        eq: Option<(UserColumn, &str)>,
        offset: i64,
        limit: i64,
    ) -> Result<db::directory_users::Page<DirUserRow>, sqlx::Error> {
        db::directory_users::page_users(conn, dir, eq, offset, limit).await
    }
    async fn all(conn: &mut Conn, dir: &str) -> Result<Vec<DirUserRow>, sqlx::Error> {
        db::directory_users::all_users(conn, dir).await
    }
    async fn render(
        conn: &mut Conn,
        base: &str,
        row: &DirUserRow,
        extra: bool,
    ) -> Result<Value, sqlx::Error> {
        render_user(conn, base, row, extra).await
    }
}

impl Listed for Groups {
    type Row = DirGroupRow;
    type Col = GroupColumn;
    const EXTRA: &'static str = "members";
    fn column(attr: &str, value: &str) -> Option<(GroupColumn, String)> {
        Some((group_column(attr)?, value.to_owned()))
    }
    async fn page(
        conn: &mut Conn,
        dir: &str,
        eq: Option<(GroupColumn, &str)>,
        offset: i64,
        limit: i64,
    ) -> Result<db::directory_users::Page<DirGroupRow>, sqlx::Error> {
        db::directory_groups::page_groups(conn, dir, eq, offset, limit).await
    }
    async fn all(conn: &mut Conn, dir: &str) -> Result<Vec<DirGroupRow>, sqlx::Error> {
        db::directory_groups::all_groups(conn, dir).await
    }
    async fn render(
        conn: &mut Conn,
        base: &str,
        row: &DirGroupRow,
        extra: bool,
    ) -> Result<Value, sqlx::Error> {
        render_group(conn, base, row, extra).await
    }
}

/// `GET /Users` and `GET /Groups`: a filter that is one indexed `eq` (or none) is answered by
/// SQL with paging; anything else narrows by an indexed `eq` in its `and` chain when it has one
/// and evaluates the parsed filter on those candidates.
async fn list<K: Listed>(
    state: &AppState,
    dir: &DirCtx,
    lq: &ListQuery,
) -> Result<ScimOut, ScimError> {
    let f = parse_filter(lq.filter.as_deref())?;
    let (start, count) = resource::page_params(lq.start_index.as_deref(), lq.count.as_deref())?;
    let base = base(state, dir);
    let mut conn = state.db.pool.acquire().await?;
    let with_extra = lq
        .attributes
        .as_deref()
        .is_none_or(|a| mentions(Some(a), K::EXTRA))
        && !mentions(lq.excluded_attributes.as_deref(), K::EXTRA);
    let narrowed = f
        .as_ref()
        .and_then(|f| narrow(f, &|a| K::column(a, "").is_some()))
        .and_then(|(a, v)| K::column(a, v));
    let eq = narrowed.as_ref().map(|(c, v)| (*c, v.as_str()));
    let exact = matches!(
        (&f, &narrowed),
        (Some(Filter::Compare { .. }), Some(_)) | (None, None)
    );
    let (total, page) = if exact {
        let db::directory_users::Page { total, rows } = K::page(
            &mut conn,
            &dir.directory_id,
            eq,
            (start - 1) as i64,
            count as i64,
        )
        .await?;
        let mut page = Vec::with_capacity(rows.len());
        for r in &rows {
            page.push(K::render(&mut conn, &base, r, with_extra).await?);
        }
        (total as usize, page)
    } else {
        let candidates = match eq {
            Some(eq) => {
                K::page(&mut conn, &dir.directory_id, Some(eq), 0, i64::MAX)
                    .await?
                    .rows
            }
            None => K::all(&mut conn, &dir.directory_id).await?,
        };
        let needs_extra = lq
            .filter
            .as_deref()
            .is_some_and(|s| s.to_ascii_lowercase().contains(K::EXTRA));
        let mut hits = Vec::new();
        for r in &candidates {
            let v = K::render(&mut conn, &base, r, needs_extra).await?;
            if f.as_ref().is_none_or(|f| filter::matches(f, &v)) {
                hits.push(r);
            }
        }
        let total = hits.len();
        let mut page = Vec::new();
        for r in hits.into_iter().skip(start - 1).take(count) {
            page.push(K::render(&mut conn, &base, r, with_extra).await?);
        }
        (total, page)
    };
    let page = page
        .into_iter()
        .map(|v| {
            project(
                v,
                lq.attributes.as_deref(),
                lq.excluded_attributes.as_deref(),
            )
        })
        .collect();
    Ok(ScimOut::ok(list_response(total, start, page)))
}

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
    let mut conn = state.db.pool.acquire().await?;
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
    let mut tx = AuditedTx::begin(
        &state.db,
        &directory_actor(&dir.directory_id, &dir.name),
        ctx,
        now,
    )
    .await?;
    if db::directory_users::user_by_name_key(tx.conn(), &dir.directory_id, &key)
        .await?
        .is_some()
    {
        return Err(uniqueness(&f.user_name));
    }
    let mut row = DirUserRow {
        id: db::new_id(IdKind::DirectoryUser),
        directory_id: dir.directory_id.clone(),
        organization_id: dir.organization_id.clone(),
        user_name: f.user_name.clone(),
        user_name_key: key,
        external_id: f.external_id.clone(),
        email: f.email.clone(),
        display_name: f.display_name.clone(),
        active: i64::from(f.active),
        resource: res.to_string(),
        user_id: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    match db::directory_users::insert_user(tx.conn(), &row).await {
        Err(e) if db::is_unique_violation(&e) => return Err(uniqueness(&f.user_name)),
        r => r?,
    }
    tx.record(
        Some(&dir.organization_id),
        EventType::DsyncUserCreated,
        vec![
            Target::new("directory_user", &row.id, Some(&row.user_name)),
            Target::new("directory", &dir.directory_id, Some(&dir.name)),
        ],
        json!({ "user_name": row.user_name, "email": row.email, "active": f.active, "external_id": row.external_id }),
    )
    .await?;
    reconcile(&mut tx, dir, &mut row, false, None).await?;
    tx.commit().await?;
    let mut conn = state.db.pool.acquire().await?;
    let v = render_user(&mut conn, &base(state, dir), &row, true).await?;
    Ok(ScimOut::resource(201, v))
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
    let mut tx = AuditedTx::begin(
        &state.db,
        &directory_actor(&dir.directory_id, &dir.name),
        ctx,
        now,
    )
    .await?;
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
                    o.insert("active".into(), Value::Bool(row.active != 0));
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
    let was_active = row.active != 0;
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
    row.active = i64::from(f.active);
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
    tx.record(
        Some(&dir.organization_id),
        action,
        vec![
            Target::new("directory_user", &row.id, Some(&row.user_name)),
            Target::new("directory", &dir.directory_id, Some(&dir.name)),
        ],
        json!({ "user_name": row.user_name, "email": row.email, "active": f.active }),
    )
    .await?;
    reconcile(&mut tx, dir, &mut row, false, None).await?;
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
    let mut tx = AuditedTx::begin(
        &state.db,
        &directory_actor(&dir.directory_id, &dir.name),
        ctx,
        now,
    )
    .await?;
    let mut row =
        db::directory_users::get_user(tx.conn(), &dir.directory_id, id, db::Lock::ForUpdate)
            .await?
            .ok_or_else(|| not_found("User", id))?;
    tx.record(
        Some(&dir.organization_id),
        EventType::DsyncUserDeleted,
        vec![
            Target::new("directory_user", &row.id, Some(&row.user_name)),
            Target::new("directory", &dir.directory_id, Some(&dir.name)),
        ],
        json!({ "user_name": row.user_name, "email": row.email }),
    )
    .await?;
    reconcile(&mut tx, dir, &mut row, true, None).await?;
    db::directory_users::delete_user(tx.conn(), &dir.directory_id, id).await?;
    tx.commit().await?;
    Ok(ScimOut::no_content())
}

// --- groups -------------------------------------------------------------------------------

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
                    Target::new("directory_group", &group.id, Some(&group.display_name)),
                    Target::new("directory_user", m, None),
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
        directory_id: dir.directory_id.clone(),
        organization_id: dir.organization_id.clone(),
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
            Target::new("directory_group", &row.id, Some(&row.display_name)),
            Target::new("directory", &dir.directory_id, Some(&dir.name)),
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
                Target::new("directory_group", &row.id, Some(&row.display_name)),
                Target::new("directory", &dir.directory_id, Some(&dir.name)),
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
            Target::new("directory_group", &row.id, Some(&row.display_name)),
            Target::new("directory", &dir.directory_id, Some(&dir.name)),
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

// --- request log --------------------------------------------------------------------------

/// Longest body kept in the request log.
const LOG_BODY_MAX: usize = 16 * 1024;
/// Largest body the log parses to redact field by field.
const LOG_PARSE_MAX: usize = 256 * 1024;

/// Removes secrets from a logged body: `password` anywhere (case-insensitive), cut to a bound.
pub fn redact(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    fn scrub(v: &mut Value) {
        match v {
            // A PATCH operation on the password: {"op": "replace", "path": "password", "value": …}
            Value::Object(o)
                if o.iter().any(|(k, p)| {
                    k.eq_ignore_ascii_case("path")
                        && p.as_str()
                            .is_some_and(|p| p.to_ascii_lowercase().contains("password"))
                }) =>
            {
                for (k, x) in o.iter_mut() {
                    if k.eq_ignore_ascii_case("value") {
                        *x = Value::String("[redacted]".into());
                    }
                }
            }
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    if k.eq_ignore_ascii_case("password") {
                        *x = Value::String("[redacted]".into());
                    } else {
                        scrub(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(scrub),
            Value::String(t) if looks_secret(t) => *t = "[redacted]".into(),
            _ => {}
        }
    }
    // A large body (a group push) is not parsed a second time just for the log: its start is
    // kept when nothing in it mentions a password or looks like a secret, else only its size.
    if body.len() > LOG_PARSE_MAX {
        let all = String::from_utf8_lossy(body);
        if all.to_ascii_lowercase().contains("password") || looks_secret(&all) {
            return Some(format!(
                "[{} bytes; withheld because it mentions a password or a secret]",
                body.len()
            ));
        }
        let mut cut = LOG_BODY_MAX;
        while !all.is_char_boundary(cut) {
            cut -= 1;
        }
        return Some(format!("{}… [{} bytes in all]", &all[..cut], body.len()));
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            scrub(&mut v);
            let text = v.to_string();
            // Whatever the field-by-field pass missed (a secret used as a key, say).
            if looks_secret(&text) {
                return Some(format!(
                    "[{} bytes; withheld because it carries something shaped like a secret]",
                    body.len()
                ));
            }
            text
        }
        // Not JSON: keep a bounded, lossy excerpt (it cannot carry a parsed secret field, but
        // might carry one as text, so only its size is kept when it mentions a password).
        Err(_) => {
            let s = String::from_utf8_lossy(body);
            if s.to_ascii_lowercase().contains("password") || looks_secret(&s) {
                format!(
                    "[{} bytes, not JSON; withheld because it mentions a password or a secret]",
                    body.len()
                )
            } else {
                s.into_owned()
            }
        }
    };
    Some(if text.len() > LOG_BODY_MAX {
        let mut cut = LOG_BODY_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}… [{} bytes in all]", &text[..cut], text.len())
    } else {
        text
    })
}

/// Whether a logged string is, or carries, a secret by its shape: one of Lanyard's prefixed
/// secrets (`lanyard_scim_…`, `lanyard_sk_…`, …) or a webhook signing secret.
fn looks_secret(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.contains("lanyard_") || l.contains("whsec_")
}

/// Query parameters whose value is a credential by name (some clients send their bearer token
/// as `?access_token=…`).
fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace(['-', '.'], "_");
    [
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "key",
        "auth",
        "authorization",
        "bearer",
        "code",
        "sig",
        "signature",
        "credential",
    ]
    .iter()
    .any(|w| {
        n == *w || n.ends_with(&format!("_{w}")) || n.contains("token") || n.contains("secret")
    })
}

/// A request path fit to store and show: query parameters named like credentials, and any
/// path segment or parameter carrying a secret-shaped value, become `[redacted]`.
pub fn redact_path(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let path = path
        .split('/')
        .map(|seg| {
            if looks_secret(&decode(seg)) {
                "[redacted]"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let Some(query) = query else {
        return path;
    };
    let query = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if secret_param(&decode(k)) || looks_secret(&decode(v)) || looks_secret(&decode(k)) {
                format!("{k}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{path}?{query}")
}

/// One exchange to log.
pub struct Exchange<'a> {
    pub directory_id: &'a str,
    pub organization_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub scim_type: Option<&'a str>,
    pub request_body: &'a [u8],
    pub response_body: &'a [u8],
    pub duration_ms: i64,
}

/// The SCIM request log writer. Each request hands its row over and waits until it is stored;
/// rows that arrive while a write is under way go into the next one, so under load many requests
/// share one commit (and one turn of SQLite's single writer) instead of taking one each.
#[derive(Clone, Debug)]
pub struct LogSink {
    tx: tokio::sync::mpsc::Sender<(ScimRequestRow, tokio::sync::oneshot::Sender<()>)>,
}

/// Most rows written in one transaction.
const LOG_BATCH: usize = 256;

impl LogSink {
    /// Starts the writer task (inside the Tokio runtime).
    pub fn start(db: db::Db) -> LogSink {
        let (tx, mut rx) =
            tokio::sync::mpsc::channel::<(ScimRequestRow, tokio::sync::oneshot::Sender<()>)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < LOG_BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                if let Err(err) = write_batch(&db, &batch).await {
                    tracing::error!(error = %err, rows = batch.len(), "could not write the SCIM request log");
                }
                for (_, done) in batch {
                    let _ = done.send(());
                }
            }
        });
        LogSink { tx }
    }

    async fn write(&self, row: ScimRequestRow) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send((row, done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batch(
    db: &db::Db,
    batch: &[(ScimRequestRow, tokio::sync::oneshot::Sender<()>)],
) -> Result<(), sqlx::Error> {
    let (mut tx, _turn) = db.begin().await?;
    for (row, _) in batch {
        db::scim_log::insert_request(&mut tx, row).await?;
    }
    tx.commit().await
}

/// Records one SCIM exchange in the directory's log. A failure to log is reported, never
/// turned into a failed SCIM request.
pub async fn log_exchange(state: &AppState, e: Exchange<'_>) {
    let row = ScimRequestRow {
        id: db::new_id(IdKind::ScimRequest),
        directory_id: e.directory_id.into(),
        organization_id: e.organization_id.into(),
        method: e.method.into(),
        path: redact_path(e.path).chars().take(2000).collect(),
        status: i64::from(e.status),
        scim_type: e.scim_type.map(str::to_owned),
        request_body: redact(e.request_body),
        response_body: redact(e.response_body),
        duration_ms: e.duration_ms,
        created_at: state.clock.now(),
    };
    state.scim_log.write(row).await;
}

/// The organization of a live directory, to attribute failed authentications in its log.
pub async fn directory_owner(state: &AppState, directory_id: &str) -> Option<String> {
    if !crate::domain::ids::is_valid_id(IdKind::Directory, directory_id) {
        return None;
    }
    let mut conn = state.db.pool.acquire().await.ok()?;
    db::directories::directory_owner(&mut conn, directory_id)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_lose_tokens_in_queries_and_segments() {
        let cases = [
            (
                "/scim/v2/dir_1/Users?access_token=abc123",
                "/scim/v2/dir_1/Users?access_token=[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users?startIndex=1&token=x&count=5",
                "/scim/v2/dir_1/Users?startIndex=1&token=[redacted]&count=5",
            ),
            (
                "/scim/v2/dir_1/Users?x=lanyard_scim_abcdef",
                "/scim/v2/dir_1/Users?x=[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users?filter=userName%20eq%20%22lanyard_scim_zz%22",
                "/scim/v2/dir_1/Users?filter=[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users/lanyard_scim_abc",
                "/scim/v2/dir_1/Users/[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users?API-Key=1&Client_Secret=2",
                "/scim/v2/dir_1/Users?API-Key=[redacted]&Client_Secret=[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users?filter=userName%20eq%20%22a%40b.c%22&count=2",
                "/scim/v2/dir_1/Users?filter=userName%20eq%20%22a%40b.c%22&count=2",
            ),
            ("/scim/v2/dir_1/Groups", "/scim/v2/dir_1/Groups"),
        ];
        for (raw, want) in cases {
            assert_eq!(redact_path(raw), want, "{raw}");
        }
    }

    #[test]
    fn secrets_outside_parsed_values_withhold_the_body() {
        for body in [
            "token=lanyard_sk_abc&x=1".to_owned(),
            r#"{"userName":"a"} lanyard_scim_abc"#.to_owned(),
            r#"{"lanyard_sk_abc":1}"#.to_owned(),
            format!("{}\"whsec_abc\"{}", "[".repeat(200), "]".repeat(200)),
        ] {
            let r = redact(body.as_bytes()).unwrap();
            assert!(
                r.contains("withheld") && !r.contains("_abc"),
                "{body} → {r}"
            );
        }
    }

    #[test]
    fn bodies_lose_secret_shaped_strings() {
        let r =
            redact(br#"{"userName":"a","x":{"note":"lanyard_scim_abc"},"w":["whsec_q"]}"#).unwrap();
        assert!(
            !r.contains("lanyard_scim_abc") && !r.contains("whsec_q"),
            "{r}"
        );
        assert!(r.contains("\"userName\":\"a\""), "{r}");
    }

    #[test]
    fn redaction_removes_passwords_at_any_depth_and_bounds_size() {
        let r = redact(br#"{"userName":"a","password":"hunter2","x":[{"Password":"p"}]}"#).unwrap();
        let patch =
            redact(br#"{"Operations":[{"op":"replace","path":"password","value":"s3cret"}]}"#)
                .unwrap();
        assert!(!patch.contains("s3cret"), "{patch}");
        assert!(!r.contains("hunter2") && !r.contains("\"p\""), "{r}");
        assert!(r.contains("[redacted]"));
        let r = redact(b"password=hunter2").unwrap();
        assert!(!r.contains("hunter2"));
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(40_000));
        assert!(redact(big.as_bytes()).unwrap().len() < LOG_BODY_MAX + 100);
        // Past the parse bound: kept as an excerpt, or withheld when anything looks secret.
        let huge = format!("{{\"members\":[{}]}}", "{\"value\":\"u1\"},".repeat(30_000));
        let r = redact(huge.as_bytes()).unwrap();
        assert!(
            r.starts_with("{\"members\"") && r.len() < LOG_BODY_MAX + 100,
            "{}",
            &r[..80]
        );
        for bad in ["Password", "lanyard_scim_x", "whsec_y"] {
            let huge = format!(
                "{{\"members\":[{}],\"x\":\"{bad}\"}}",
                "{\"value\":\"u1\"},".repeat(30_000)
            );
            let r = redact(huge.as_bytes()).unwrap();
            assert!(r.contains("withheld") && !r.contains(bad), "{r}");
        }
        assert_eq!(redact(b""), None);
    }
}
