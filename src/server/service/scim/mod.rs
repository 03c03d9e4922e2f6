//! The SCIM 2.0 operations a directory's IdP drives: Users and Groups, each change committed with
//! its audit event and the membership change it causes (see [`super::directories::reconcile`]).

use crate::domain::ids::{DirectoryId, OrgId};
use serde_json::{json, Value};

use crate::server::audit::{AuditedTx, RequestContext};
use crate::server::clock::rfc3339;
use crate::server::crypto::hash_secret;
use crate::server::db::Conn;
use crate::server::db::{
    self,
    directory_groups::{DirGroupRow, GroupColumn},
    directory_users::{DirUserRow, UserColumn},
};
use crate::server::error::AppError;
use crate::server::protocol::scim::filter::{self, CompareOp, Filter};
use crate::server::protocol::scim::patch::{self, ScimType};
use crate::server::protocol::scim::resource::{
    self, list_response, project, user_name_key, Meta, ScimError,
};
use crate::server::state::AppState;

use super::directories::{directory_actor, DirCtx};

mod batch;
mod groups;
mod request_log;
mod tokens;
mod users;

pub use batch::{BatchCounts, CreateBatcher};
pub use groups::{
    create_group, delete_group, get_group, list_groups, update_group, MEMBER_CHANGES_PER_TX,
};
pub use request_log::{directory_owner, log_exchange, redact, redact_path, Exchange, LogSink};
pub use tokens::{TokenCache, TOKEN_TRUST};
pub use users::{create_user, delete_user, get_user, list_users, update_user, UserChange};

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

/// Begins a SCIM write for `dir` and checks, inside that transaction, that the directory and
/// its organization are still live. The token check before it may be up to
/// [`tokens::TOKEN_TRUST`] old (or a moment old, without the cache): a deletion committed since
/// then — on this node, another node or the command line — refuses the write here (401), so no
/// user, membership or restored access can land in a deleted directory.
pub(crate) async fn begin_write(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    now: i64,
) -> Result<AuditedTx, AppError> {
    Ok(begin_write_with_role(state, dir, ctx, now).await?.0)
}

/// [`begin_write`], with the organization's default role read by the same statement.
pub(crate) async fn begin_write_with_role(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    now: i64,
) -> Result<(AuditedTx, String), AppError> {
    let mut tx = begin_unchecked(state, dir, ctx, now).await?;
    let Some(default_role) =
        db::directories::live_for_write(tx.conn(), &dir.organization_id, &dir.directory_id).await?
    else {
        return Err(directory_gone());
    };
    Ok((tx, default_role))
}

/// The audited transaction of a SCIM write for `dir`, before the check that the directory is
/// still live: the caller makes it in its first statement ([`begin_write_with_role`], or a
/// create's `live_for_create`) and refuses with [`directory_gone`].
pub(crate) async fn begin_unchecked(
    state: &AppState,
    dir: &DirCtx,
    ctx: &RequestContext,
    now: i64,
) -> Result<AuditedTx, AppError> {
    Ok(AuditedTx::begin(
        &state.db,
        &directory_actor(&dir.directory_id, &dir.name),
        ctx,
        now,
    )
    .await?)
}

/// The refusal of a write to a directory deleted since its token was checked (401).
pub(crate) fn directory_gone() -> AppError {
    AppError::Unauthorized(
        "this directory was deleted (or its organization was); its SCIM token no longer opens it. Create a new directory and give its token to the identity provider".into(),
    )
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
    let hash = hash_secret(token);
    let now = state.clock.now();
    if let Some(tokens::Hit { dir, touch }) = state.scim_tokens.get(&hash, now) {
        if dir.directory_id.as_str() != directory_id {
            return Err(unauthorized());
        }
        if touch {
            touch_token(state, hash, now);
        }
        return Ok(dir);
    }
    let generation = state.scim_tokens.generation();
    let mut conn = state.db.pool.acquire().await?;
    let Some(db::directory_tokens::TokenDirectory {
        directory_id: dir,
        organization_id: org,
        token_hash: stored,
        expires_at,
        last_used_at,
    }) = db::directory_tokens::token_directory(&mut conn, &hash, now).await?
    else {
        return Err(unauthorized());
    };
    if dir != directory_id || !crate::server::crypto::ct_eq(&stored, &hash) {
        return Err(unauthorized());
    }
    let row = db::directories::get_directory(
        &mut conn,
        &OrgId::from_stored(org.as_str()),
        &DirectoryId::from_stored(dir.as_str()),
    )
    .await?
    .ok_or_else(unauthorized)?;
    drop(conn);
    let ctx = DirCtx {
        directory_id: DirectoryId::from_stored(row.id),
        organization_id: OrgId::from_stored(row.organization_id),
        name: row.name,
    };
    let verified = tokens::Verified {
        dir: ctx.clone(),
        expires_at,
        last_used_at,
    };
    if state.scim_tokens.remember(generation, &hash, verified, now) {
        touch_token(state, stored, now);
    }
    Ok(ctx)
}

/// Records a token's last use, for the credentials inventory: best effort and off the request's
/// path (it waits for this node's write turn on SQLite, and must never fail or slow the IdP's
/// push).
fn touch_token(state: &AppState, token_hash: String, now: i64) {
    let db = state.db.clone();
    tokio::spawn(async move {
        let touched = async {
            let _turn = db.write_turn().await?;
            let mut c = db.pool.acquire().await?;
            db::directory_tokens::touch_token(&mut c, &token_hash, now).await
        };
        if let Err(e) = touched.await {
            tracing::warn!(error = %e, "SCIM token last use not recorded");
        }
    });
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
        let members = db::directory_groups::member_ids(conn, &r.directory_id, &r.id).await?;
        v["members"] = Value::Array(
            members
                .into_iter()
                // `display` is left out: clients compare members as they sent them.
                .map(|id| json!({ "value": id, "type": "User", "$ref": format!("{base}/Users/{id}") }))
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
    /// Whether an `eq` on `col` finds at most one row through a unique index, and rendering
    /// with `extra` stays as short: then the page is read on the inline readers (`Db::read`),
    /// whose statements run on the request's own thread.
    fn short(col: Self::Col, extra: bool) -> bool;
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

/// Whether a `GET /Users` filtered by an `eq` on `col` is read on the inline readers.
pub fn short_user_lookup(col: UserColumn) -> bool {
    Users::short(col, true)
}

/// Whether a `GET /Groups` filtered by an `eq` on `col` (and rendering `members` or not) is
/// read on the inline readers.
pub fn short_group_lookup(col: GroupColumn, members: bool) -> bool {
    Groups::short(col, members)
}

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
    fn short(col: UserColumn, _groups: bool) -> bool {
        // Unique in the directory: one row at most. externalId is not unique (a directory could
        // give a million users one value and count them on a request's thread); emails are
        // indexed by organization. A user's groups are few.
        matches!(col, UserColumn::Id | UserColumn::UserNameKey)
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
    fn short(col: GroupColumn, members: bool) -> bool {
        // By id only: display names are not unique, and a group's members may be tens of
        // thousands.
        !members && col == GroupColumn::Id
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
    // A lookup an index answers is a short read; a whole list (it counts the directory),
    // evaluating a filter on candidates or rendering a large group may read much more, on a
    // connection with a thread of its own.
    let short = exact && eq.is_some_and(|(c, _)| K::short(c, with_extra));
    let mut conn = if short {
        state.db.read().await?
    } else {
        db::ReadConn::pooled(state.db.pool.acquire().await?)
    };
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
