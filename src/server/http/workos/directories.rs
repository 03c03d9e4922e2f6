//! WorkOS Directory Sync: directories, directory users (with their groups) and directory groups,
//! across organizations and per directory. Read-only but for deleting a directory: the users
//! and groups are what the customer's IdP pushes over SCIM.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{List, ListParams, RawQuery};
use crate::domain::directory::DirectoryKind;
use crate::domain::ids::{DirectoryGroupId, DirectoryId, DirectoryUserId, PublicId};
use crate::server::db::directory_users::DirUserRow;
use crate::server::db::{self, directories::DirectoryRow, directory_groups::DirGroupRow};
use crate::server::error::AppError;
use crate::server::http::rest::error::{ApiResult, RestError};
use crate::server::http::rest::extract::ApiPath;
use crate::server::protocol::scim::resource::ENTERPRISE_SCHEMA;
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

/// Routes behind the API key.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/directories", get(list_directories))
        .route(
            "/directories/{id}",
            // DELETE is `/api/v1/directories/{id}`: the members the directory managed are
            // suspended, its tokens stop working.
            get(get_directory).delete(crate::server::http::rest::directories::delete_directory),
        )
        .route("/directory_users", get(list_users))
        .route("/directory_users/{id}", get(get_user))
        .route("/directory_groups", get(list_groups))
        .route("/directory_groups/{id}", get(get_group))
        // The directory-scoped routes of @workos-inc/node 12.
        .route("/directories/{id}/users", get(list_users_of_directory))
        .route("/directories/{id}/users/{user}", get(get_user_of_directory))
        .route("/directories/{id}/groups", get(list_groups_of_directory))
        .route(
            "/directories/{id}/groups/{group}",
            get(get_group_of_directory),
        )
}

/// WorkOS's `type` of a directory of this kind.
pub fn directory_type(kind: &str) -> &'static str {
    match DirectoryKind::parse(kind) {
        Some(DirectoryKind::Okta) => "okta scim v2.0",
        Some(DirectoryKind::Entra) => "azure scim v2.0",
        Some(DirectoryKind::OneLogin) => "onelogin scim v2.0",
        Some(DirectoryKind::JumpCloud) => "jump cloud scim v2.0",
        Some(DirectoryKind::GenericScim) | None => "generic scim v2.0",
    }
}

/// WorkOS `Directory`.
#[derive(Debug, Serialize)]
pub struct WosDirectory {
    object: &'static str,
    id: String,
    organization_id: String,
    /// The key in the SCIM base URL: the directory's id.
    external_key: String,
    #[serde(rename = "type")]
    kind: &'static str,
    state: &'static str,
    name: String,
    /// The organization's first verified domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    metadata: Value,
    created_at: String,
    updated_at: String,
}

/// Renders directories with their sizes and their organizations' first verified domain.
async fn render_directories(
    conn: &mut db::Conn,
    rows: Vec<DirectoryRow>,
) -> Result<Vec<WosDirectory>, AppError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut sizes: HashMap<String, db::directories::DirectorySize> =
        db::directories::sizes(conn, &ids)
            .await?
            .into_iter()
            .map(|s| (s.directory_id.clone(), s))
            .collect();
    let orgs: Vec<&str> = rows.iter().map(|r| r.organization_id.as_str()).collect();
    let mut first_domain: HashMap<String, String> = HashMap::new();
    // Domains come in id order: the first verified one of each organization is its oldest.
    for d in db::domains::of_organizations(conn, &orgs).await? {
        if d.state == "verified" {
            first_domain.entry(d.organization_id).or_insert(d.domain);
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let size = sizes.remove(&r.id);
            let (active, inactive, groups) =
                size.map_or((0, 0, 0), |s| (s.active, s.inactive, s.groups));
            WosDirectory {
                object: "directory",
                external_key: r.id.clone(),
                kind: directory_type(&r.kind),
                state: "linked",
                domain: first_domain.get(&r.organization_id).cloned(),
                metadata: json!({ "users": { "active": active, "inactive": inactive }, "groups": groups }),
                id: r.id,
                organization_id: r.organization_id,
                name: r.name,
                created_at: rfc3339(r.created_at),
                updated_at: rfc3339(r.updated_at),
            }
        })
        .collect())
}

/// `GET /directories`: every organization's, or one's (`organization_id`), of an organization
/// with a verified `domain`, or with a name containing `search`.
async fn list_directories(
    State(state): State<AppState>,
    q: RawQuery,
) -> ApiResult<Json<List<WosDirectory>>> {
    #[derive(Deserialize)]
    struct Filters {
        organization_id: Option<String>,
        domain: Option<String>,
        search: Option<String>,
    }
    let page = q.parse::<ListParams>()?.page()?;
    let f = q.parse::<Filters>()?;
    let filter = db::directories::ListFilter {
        organization_id: nonempty(f.organization_id),
        domain: nonempty(f.domain).map(|d| d.to_ascii_lowercase()),
        search: super::search_param(f.search)?,
    };
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let rows = db::directories::page(&mut conn, &page.keyset(), &filter)
        .await
        .map_err(AppError::from)?;
    let (rows, meta) = page.finish(rows, |r| r.id.as_str());
    Ok(Json(List::new(
        render_directories(&mut conn, rows).await?,
        meta,
    )))
}

async fn get_directory(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DirectoryId>,
) -> ApiResult<Json<WosDirectory>> {
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let row = live_directory(&mut conn, &id).await?;
    let mut out = render_directories(&mut conn, vec![row]).await?;
    Ok(Json(out.remove(0)))
}

/// WorkOS `DirectoryGroup`.
#[derive(Debug, Clone, Serialize)]
pub struct WosGroup {
    object: &'static str,
    id: String,
    /// The IdP's id: the SCIM `externalId`, else Lanyard's id.
    idp_id: String,
    directory_id: String,
    organization_id: String,
    name: String,
    /// The SCIM resource as stored, without its members.
    raw_attributes: Value,
    created_at: String,
    updated_at: String,
}

pub fn render_group(g: DirGroupRow) -> WosGroup {
    let mut raw = stored(&g.resource);
    raw.remove("members");
    WosGroup {
        object: "directory_group",
        idp_id: g.external_id.unwrap_or_else(|| g.id.clone()),
        id: g.id,
        directory_id: g.directory_id,
        organization_id: g.organization_id,
        name: g.display_name,
        raw_attributes: Value::Object(raw),
        created_at: rfc3339(g.created_at),
        updated_at: rfc3339(g.updated_at),
    }
}

/// WorkOS `DirectoryUser`, and `DirectoryUserWithGroups` when `groups` is set.
#[derive(Debug, Serialize)]
pub struct WosUser {
    object: &'static str,
    id: String,
    directory_id: String,
    organization_id: String,
    idp_id: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    name: Option<String>,
    /// WorkOS's deprecated fields, still read by older SDKs.
    emails: Vec<Value>,
    job_title: Option<String>,
    username: Option<String>,
    state: &'static str,
    /// The SCIM resource as stored (Lanyard never stores a password).
    raw_attributes: Value,
    custom_attributes: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<WosGroup>>,
    created_at: String,
    updated_at: String,
}

/// The stored SCIM resource as an object (an unreadable one as empty: never an error to a
/// reader).
fn stored(resource: &str) -> Map<String, Value> {
    match serde_json::from_str(resource) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

/// WorkOS's fixed custom attributes from the SCIM enterprise extension.
fn custom_attributes(res: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    if let Some(ext) = res.get(ENTERPRISE_SCHEMA).and_then(Value::as_object) {
        for (from, to) in [
            ("department", "department"),
            ("division", "division"),
            ("costCenter", "cost_center"),
            ("employeeNumber", "employee_number"),
            ("organization", "organization"),
        ] {
            if let Some(v) = text(ext.get(from)) {
                out.insert(to.into(), Value::String(v));
            }
        }
        if let Some(m) = text(ext.get("manager").and_then(|m| m.get("value"))) {
            out.insert("manager_id".into(), Value::String(m));
        }
    }
    if let Some(t) = text(res.get("title")) {
        out.insert("job_title".into(), Value::String(t));
    }
    Value::Object(out)
}

/// Renders a directory user; `role` is its membership's role when it has one.
pub fn render_user(u: DirUserRow, role: Option<&str>, groups: Option<Vec<WosGroup>>) -> WosUser {
    let res = stored(&u.resource);
    let name = res.get("name");
    let emails = res
        .get("emails")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    let value = text(e.get("value"))?;
                    Some(json!({
                        "primary": e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                        "type": text(e.get("type")).unwrap_or_else(|| "work".into()),
                        "value": value,
                    }))
                })
                .collect()
        })
        .unwrap_or_default();
    WosUser {
        object: "directory_user",
        idp_id: u.external_id.clone().unwrap_or_else(|| u.id.clone()),
        first_name: text(name.and_then(|n| n.get("givenName"))),
        last_name: text(name.and_then(|n| n.get("familyName"))),
        name: text(name.and_then(|n| n.get("formatted"))).or_else(|| u.display_name.clone()),
        emails,
        job_title: text(res.get("title")),
        username: Some(u.user_name.clone()),
        state: if u.active { "active" } else { "inactive" },
        custom_attributes: custom_attributes(&res),
        raw_attributes: Value::Object(res),
        role: role.map(|r| json!({ "slug": r })),
        roles: role.map(|r| vec![json!({ "slug": r })]),
        groups,
        id: u.id,
        directory_id: u.directory_id,
        organization_id: u.organization_id,
        email: u.email,
        created_at: rfc3339(u.created_at),
        updated_at: rfc3339(u.updated_at),
    }
}

/// Renders a page of directory users with their roles, and with their groups when asked.
async fn render_users(
    conn: &mut db::Conn,
    rows: Vec<DirUserRow>,
    with_groups: bool,
) -> Result<Vec<WosUser>, AppError> {
    let linked: Vec<&str> = rows
        .iter()
        .filter_map(|u| u.user_id.as_ref().map(|x| x.as_str()))
        .collect();
    let roles: HashMap<(String, String), String> = db::memberships::roles_of_users(conn, &linked)
        .await?
        .into_iter()
        .map(|m| ((m.organization_id, m.user_id), m.role))
        .collect();
    let mut groups: HashMap<String, Vec<WosGroup>> = HashMap::new();
    if with_groups {
        let ids: Vec<&str> = rows.iter().map(|u| u.id.as_str()).collect();
        for m in db::directory_groups::groups_of_members(conn, &ids).await? {
            groups
                .entry(m.member_id)
                .or_default()
                .push(render_group(m.group));
        }
    }
    Ok(rows
        .into_iter()
        .map(|u| {
            let role = u.user_id.as_ref().and_then(|uid| {
                roles
                    .get(&(u.organization_id.clone(), uid.to_string()))
                    .cloned()
            });
            let g = with_groups.then(|| groups.remove(&u.id).unwrap_or_default());
            render_user(u, role.as_deref(), g)
        })
        .collect())
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// A filter naming an id: its typed form, or 404 when it cannot name one.
fn id_filter<T: PublicId>(v: Option<String>) -> Result<Option<T>, RestError> {
    match nonempty(v) {
        None => Ok(None),
        Some(raw) => T::parse(&raw)
            .map(Some)
            .ok_or_else(|| AppError::NotFound(T::NOUN).into()),
    }
}

async fn live_directory(conn: &mut db::Conn, id: &DirectoryId) -> Result<DirectoryRow, AppError> {
    db::directories::get_live(conn, id)
        .await?
        .ok_or(AppError::NotFound("directory"))
}

async fn live_user(conn: &mut db::Conn, id: &DirectoryUserId) -> Result<DirUserRow, AppError> {
    db::directory_users::get_live(conn, id)
        .await?
        .ok_or(AppError::NotFound("directory user"))
}

async fn live_group(conn: &mut db::Conn, id: &DirectoryGroupId) -> Result<DirGroupRow, AppError> {
    db::directory_groups::get_live(conn, id)
        .await?
        .ok_or(AppError::NotFound("directory group"))
}

#[derive(Deserialize)]
struct UserFilters {
    directory: Option<String>,
    group: Option<String>,
    idp_id: Option<String>,
    email: Option<String>,
}

/// A page of users: of a directory or of a group (the scope must exist), by IdP id or email.
async fn users_page(
    state: &AppState,
    q: &RawQuery,
    directory: Option<DirectoryId>,
    with_groups: bool,
) -> ApiResult<Json<List<WosUser>>> {
    let page = q.parse::<ListParams>()?.page()?;
    let f = q.parse::<UserFilters>()?;
    let directory = match directory {
        Some(d) => Some(d),
        None => id_filter::<DirectoryId>(f.directory)?,
    };
    let group = id_filter::<DirectoryGroupId>(f.group)?;
    if directory.is_none() && group.is_none() {
        return Err(RestError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "send `directory` (a directory id) or `group` (a directory group id) to say whose users to list",
        )
        .with_field("directory"));
    }
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    if let Some(d) = &directory {
        live_directory(&mut conn, d).await?;
    }
    if let Some(g) = &group {
        live_group(&mut conn, g).await?;
    }
    let filter = db::directory_users::ListFilter {
        directory_id: directory.map(String::from),
        group_id: group.map(String::from),
        idp_id: nonempty(f.idp_id),
        email: nonempty(f.email),
    };
    let rows = db::directory_users::page_live(&mut conn, &page.keyset(), &filter)
        .await
        .map_err(AppError::from)?;
    let (rows, meta) = page.finish(rows, |r| r.id.as_str());
    Ok(Json(List::new(
        render_users(&mut conn, rows, with_groups).await?,
        meta,
    )))
}

/// `GET /directory_users?directory=…|group=…`: users with their groups.
async fn list_users(State(state): State<AppState>, q: RawQuery) -> ApiResult<Json<List<WosUser>>> {
    users_page(&state, &q, None, true).await
}

/// `GET /directories/{id}/users`: the same, without groups (12.x's `DirectoryUser`).
async fn list_users_of_directory(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DirectoryId>,
    q: RawQuery,
) -> ApiResult<Json<List<WosUser>>> {
    users_page(&state, &q, Some(id), false).await
}

async fn get_user(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DirectoryUserId>,
) -> ApiResult<Json<WosUser>> {
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let row = live_user(&mut conn, &id).await?;
    let mut out = render_users(&mut conn, vec![row], true).await?;
    Ok(Json(out.remove(0)))
}

/// Parses `/directories/{id}/…/{member}`: both ids, or 404 naming the one that is not an id.
fn scoped<T: PublicId>((dir, member): (String, String)) -> Result<(DirectoryId, T), RestError> {
    let d = DirectoryId::parse(&dir).ok_or(AppError::NotFound("directory"))?;
    let m = T::parse(&member).ok_or(AppError::NotFound(T::NOUN))?;
    Ok((d, m))
}

async fn get_user_of_directory(
    State(state): State<AppState>,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<WosUser>> {
    let (dir, id) = scoped::<DirectoryUserId>(ids)?;
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let row = live_user(&mut conn, &id).await?;
    if row.directory_id != dir.as_str() {
        return Err(AppError::NotFound("directory user").into());
    }
    let mut out = render_users(&mut conn, vec![row], false).await?;
    Ok(Json(out.remove(0)))
}

#[derive(Deserialize)]
struct GroupFilters {
    directory: Option<String>,
    user: Option<String>,
}

/// A page of groups: of a directory or of a user (the scope must exist).
async fn groups_page(
    state: &AppState,
    q: &RawQuery,
    directory: Option<DirectoryId>,
) -> ApiResult<Json<List<WosGroup>>> {
    let page = q.parse::<ListParams>()?.page()?;
    let f = q.parse::<GroupFilters>()?;
    let directory = match directory {
        Some(d) => Some(d),
        None => id_filter::<DirectoryId>(f.directory)?,
    };
    let user = id_filter::<DirectoryUserId>(f.user)?;
    if directory.is_none() && user.is_none() {
        return Err(RestError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "send `directory` (a directory id) or `user` (a directory user id) to say whose groups to list",
        )
        .with_field("directory"));
    }
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    if let Some(d) = &directory {
        live_directory(&mut conn, d).await?;
    }
    if let Some(u) = &user {
        live_user(&mut conn, u).await?;
    }
    let filter = db::directory_groups::ListFilter {
        directory_id: directory.map(String::from),
        user_id: user.map(String::from),
    };
    let rows = db::directory_groups::page_live(&mut conn, &page.keyset(), &filter)
        .await
        .map_err(AppError::from)?;
    let (rows, meta) = page.finish(rows, |r| r.id.as_str());
    Ok(Json(List::new(
        rows.into_iter().map(render_group).collect(),
        meta,
    )))
}

/// `GET /directory_groups?directory=…|user=…`.
async fn list_groups(
    State(state): State<AppState>,
    q: RawQuery,
) -> ApiResult<Json<List<WosGroup>>> {
    groups_page(&state, &q, None).await
}

/// `GET /directories/{id}/groups`.
async fn list_groups_of_directory(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DirectoryId>,
    q: RawQuery,
) -> ApiResult<Json<List<WosGroup>>> {
    groups_page(&state, &q, Some(id)).await
}

async fn get_group(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DirectoryGroupId>,
) -> ApiResult<Json<WosGroup>> {
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    Ok(Json(render_group(live_group(&mut conn, &id).await?)))
}

async fn get_group_of_directory(
    State(state): State<AppState>,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<WosGroup>> {
    let (dir, id) = scoped::<DirectoryGroupId>(ids)?;
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let row = live_group(&mut conn, &id).await?;
    if row.directory_id != dir.as_str() {
        return Err(AppError::NotFound("directory group").into());
    }
    Ok(Json(render_group(row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(resource: Value, external_id: Option<&str>) -> DirUserRow {
        DirUserRow {
            id: "diru_1".into(),
            directory_id: "dir_1".into(),
            organization_id: "org_1".into(),
            user_name: "ann@example.com".into(),
            user_name_key: "ann@example.com".into(),
            external_id: external_id.map(str::to_owned),
            email: Some("ann@example.com".into()),
            display_name: Some("Ann Display".into()),
            active: false,
            resource: resource.to_string(),
            user_id: None,
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_directory_user_reads_its_scim_resource() {
        let res = json!({
            "userName": "ann@example.com",
            "name": { "givenName": "Ann", "familyName": "Lee" },
            "title": "Engineer",
            "emails": [{ "value": "ann@example.com", "primary": true }, { "value": "a@home.example", "type": "home" }],
            ENTERPRISE_SCHEMA: { "department": "R&D", "costCenter": "42", "manager": { "value": "u9" } },
        });
        let u = serde_json::to_value(render_user(
            user(res, Some("00u1")),
            Some("admin"),
            Some(vec![]),
        ))
        .unwrap();
        assert_eq!(u["idp_id"], "00u1");
        assert_eq!(u["first_name"], "Ann");
        assert_eq!(u["last_name"], "Lee");
        // No `name.formatted`: the displayName.
        assert_eq!(u["name"], "Ann Display");
        assert_eq!(u["state"], "inactive");
        assert_eq!(u["role"], json!({ "slug": "admin" }));
        assert_eq!(
            u["emails"][0],
            json!({ "primary": true, "type": "work", "value": "ann@example.com" })
        );
        assert_eq!(u["emails"][1]["type"], "home");
        assert_eq!(
            u["custom_attributes"],
            json!({ "department": "R&D", "cost_center": "42", "manager_id": "u9", "job_title": "Engineer" })
        );
        assert_eq!(u["groups"], json!([]));
        // Without an externalId the IdP id is Lanyard's; without a membership, no role.
        let u = serde_json::to_value(render_user(user(json!({}), None), None, None)).unwrap();
        assert_eq!(u["idp_id"], "diru_1");
        assert!(u.get("role").is_none() && u.get("groups").is_none());
        assert_eq!(u["custom_attributes"], json!({}));
    }

    #[test]
    fn every_directory_kind_has_a_workos_type() {
        for k in DirectoryKind::ALL {
            assert!(directory_type(k.as_str()).ends_with("scim v2.0"));
        }
        assert_eq!(directory_type("entra"), "azure scim v2.0");
    }
}
