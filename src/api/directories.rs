//! Directory sync in the portal (intent `dsync`): create a SCIM directory, copy its URL and
//! token, watch what the IdP sends, map groups to roles with a preview.
//!
//! A new token and a mapping preview must show after a plain form post too (no JavaScript), so
//! they travel to the next page render through the session ("flash"), never through a URL.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PortalError;

/// A directory as the portal shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirInfo {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub authoritative: bool,
    pub scim_base_url: String,
    /// `…abcd (rotated out, works until …)`
    pub tokens: Vec<String>,
    /// The token, only right after it was made.
    pub fresh_token: Option<String>,
    pub last_request_at: Option<String>,
    pub requests_24h: i64,
    pub errors_24h: i64,
    pub last_error: Option<String>,
    pub users: Vec<DirUser>,
    pub user_count: i64,
    pub groups: Vec<DirGroup>,
    pub log: Vec<LogLine>,
    /// The mapping preview asked for on this directory, if any.
    pub preview: Option<Preview>,
    /// SCIM requests per day, the last days.
    pub requests_per_day: Vec<crate::domain::chart::DayCount>,
}

/// Where a directory's first sync stands: what the portal looks at again while it waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstSyncState {
    pub id: String,
    pub last_request_at: Option<String>,
    pub user_count: i64,
    /// One person the directory pushed, once there is one.
    pub first_user: Option<String>,
}

/// Each directory's first-sync state (cheap: no log, no groups, no flash taken), for the page to
/// poll while a directory waits for its first person.
#[server(prefix = "/portal/api", endpoint = "directory_progress")]
pub async fn directory_progress() -> Result<Vec<FirstSyncState>, PortalError> {
    use crate::server::service::directories as dirs;
    let c = caller().await?;
    let org = &c.grant.org();
    let mut out = Vec::new();
    for d in dirs::list(&c.state, org).await? {
        let first_user = if d.health.users > 0 {
            dirs::users(
                &c.state,
                org,
                &crate::domain::ids::DirectoryId::from_stored(d.id.as_str()),
                1,
            )
            .await?
            .into_iter()
            .next()
            .map(|u| u.user_name)
        } else {
            None
        };
        out.push(FirstSyncState {
            last_request_at: d.health.last_request_at.map(when),
            user_count: d.health.users,
            first_user,
            id: d.id,
        });
    }
    Ok(out)
}

/// One synced person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirUser {
    pub user_name: String,
    pub active: bool,
    pub groups: Vec<String>,
    pub role: Option<String>,
    pub membership_state: Option<String>,
}

/// One synced group with its mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirGroup {
    pub id: String,
    pub name: String,
    pub members: i64,
    pub role: Option<String>,
    pub priority: Option<i64>,
}

/// One logged SCIM exchange. On the directories page each body is cut to its first
/// [`BODY_PREVIEW_CHARS`] characters (`cut` says whether one was); the exchange's own page
/// ([`portal_directory_request`]) has them whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub id: String,
    pub at: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub scim_type: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i64,
    /// A body was cut for the list.
    pub cut: bool,
    /// The bodies' whole sizes, in bytes.
    pub request_bytes: usize,
    pub response_bytes: usize,
}

/// How much of each body the directories page shows: a group's exchange can carry thousands of
/// members (16 KB each way is common), and 25 of them made the page 1.4 MB (issue 17).
pub const BODY_PREVIEW_CHARS: usize = 600;

/// One logged exchange whole, with the name of the directory it belongs to (for the way back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedExchange {
    pub directory_name: String,
    pub line: LogLine,
}

/// A dry run of a mapping change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub group_name: String,
    pub role: String,
    pub priority: i64,
    /// (who, from, to, granting group)
    pub changes: Vec<(String, Option<String>, String, Option<String>)>,
}

/// The page: directories plus the log filters in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DsyncPage {
    pub directories: Vec<DirInfo>,
    pub errors_only: bool,
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or empty for all.
    pub method: String,
}

#[cfg(feature = "ssr")]
pub(crate) mod flash {
    use super::PortalError;

    pub const TOKEN: &str = "dsync.fresh_token";
    pub const PREVIEW: &str = "dsync.preview";

    async fn session() -> Result<tower_sessions::Session, PortalError> {
        leptos_axum::extract().await.map_err(|e| {
            tracing::error!(error = %e, "no session layer");
            PortalError::Internal {
                request_id: crate::server::request_id::current_request_id(),
            }
        })
    }

    /// Keeps `value` for the next page render of this session.
    pub async fn put<T: serde::Serialize>(key: &str, value: &T) -> Result<(), PortalError> {
        session().await?.insert(key, value).await.map_err(|e| {
            tracing::error!(error = %e, "session write failed");
            PortalError::Internal {
                request_id: crate::server::request_id::current_request_id(),
            }
        })
    }

    /// Takes (and forgets) what `put` kept. Only a flash that is there is removed: removing marks
    /// the session changed, and a changed session is written back at the end of the request,
    /// which no page view without a flash should cost.
    pub async fn take<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
        let session = session().await.ok()?;
        session.get_value(key).await.ok()??;
        session.remove(key).await.ok().flatten()
    }
}

#[cfg(feature = "ssr")]
async fn caller() -> Result<super::ctx::Caller, PortalError> {
    let c = super::ctx::caller().await?;
    c.require(crate::domain::intent::Intent::Dsync, "directory sync")?;
    Ok(c)
}

#[cfg(feature = "ssr")]
fn when(ms: i64) -> String {
    crate::server::timefmt::human_utc(ms)
}

/// The organization's directories with health, people, groups and the request log.
#[server(prefix = "/portal/api", endpoint = "directories")]
pub async fn portal_directories(
    errors_only: bool,
    method: String,
) -> Result<DsyncPage, PortalError> {
    use crate::server::db::scim_log::LogFilter;
    use crate::server::service::directories as dirs;
    let c = caller().await?;
    let org = &c.grant.org();
    let method = method.to_ascii_uppercase();
    let method = if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
        method
    } else {
        String::new()
    };
    // The token waits in the session sealed under the server key, never in clear.
    let fresh: Option<(String, String)> = flash::take::<(String, String)>(flash::TOKEN)
        .await
        .and_then(|(id, sealed)| Some((id, c.state.secrets.open(&sealed, flash::TOKEN)?)));
    let preview: Option<(String, Preview)> = flash::take(flash::PREVIEW).await;
    let per_day = crate::server::service::activity::scim_requests(&c.state, org).await?;
    let mut out = Vec::new();
    for d in dirs::list(&c.state, org).await? {
        let users = dirs::users(
            &c.state,
            org,
            &crate::domain::ids::DirectoryId::from_stored(d.id.as_str()),
            200,
        )
        .await?;
        let groups = dirs::groups(
            &c.state,
            org,
            &crate::domain::ids::DirectoryId::from_stored(d.id.as_str()),
        )
        .await?;
        let filter = LogFilter {
            errors_only,
            method: (!method.is_empty()).then(|| method.clone()),
            before: None,
        };
        let log = dirs::request_log(
            &c.state,
            org,
            &crate::domain::ids::DirectoryId::from_stored(d.id.as_str()),
            &filter,
            25,
        )
        .await?;
        out.push(DirInfo {
            requests_per_day: per_day.series(&d.id),
            fresh_token: fresh
                .as_ref()
                .filter(|(id, _)| *id == d.id)
                .map(|(_, t)| t.clone()),
            preview: preview
                .as_ref()
                .filter(|(id, _)| *id == d.id)
                .map(|(_, p)| p.clone()),
            tokens: d
                .tokens
                .iter()
                .map(|t| match t.expires_at {
                    None => format!("…{} (current, made {})", t.hint, when(t.created_at)),
                    Some(e) => format!("…{} (rotated out, works until {})", t.hint, when(e)),
                })
                .collect(),
            last_request_at: d.health.last_request_at.map(when),
            requests_24h: d.health.requests_24h,
            errors_24h: d.health.errors_24h,
            last_error: d.health.last_error.clone(),
            user_count: d.health.users,
            users: users
                .into_iter()
                .map(|u| DirUser {
                    user_name: u.user_name,
                    active: u.active,
                    groups: u.groups,
                    role: u.role,
                    membership_state: u.membership_state,
                })
                .collect(),
            groups: groups
                .into_iter()
                .map(|g| DirGroup {
                    id: g.id,
                    name: g.display_name,
                    members: g.members,
                    role: g.role,
                    priority: g.priority,
                })
                .collect(),
            log: log
                .into_iter()
                .map(|l| log_line(l, Some(BODY_PREVIEW_CHARS)))
                .collect(),
            id: d.id,
            kind: d.kind,
            name: d.name,
            authoritative: d.authoritative,
            scim_base_url: d.scim_base_url,
        });
    }
    Ok(DsyncPage {
        directories: out,
        errors_only,
        method,
    })
}

/// A log entry for the page, its bodies cut to `preview` characters when given.
#[cfg(feature = "ssr")]
fn log_line(
    l: crate::server::service::directories::ScimLogEntry,
    preview: Option<usize>,
) -> LogLine {
    let request_bytes = l.request_body.as_ref().map_or(0, String::len);
    let response_bytes = l.response_body.as_ref().map_or(0, String::len);
    let mut cut = false;
    let mut shorten = |body: Option<String>| {
        let (Some(b), Some(max)) = (body.as_deref(), preview) else {
            return body;
        };
        match b.char_indices().nth(max) {
            Some((end, _)) => {
                cut = true;
                Some(format!("{}…", &b[..end]))
            }
            None => body,
        }
    };
    let request_body = shorten(l.request_body);
    let response_body = shorten(l.response_body);
    LogLine {
        id: l.id,
        at: when(l.created_at),
        method: l.method,
        path: l.path,
        status: l.status,
        scim_type: l.scim_type,
        request_body,
        response_body,
        duration_ms: l.duration_ms,
        cut,
        request_bytes,
        response_bytes,
    }
}

/// One exchange of the organization's SCIM request log, with its bodies whole.
#[server(prefix = "/portal/api", endpoint = "directory_request")]
pub async fn portal_directory_request(id: String) -> Result<LoggedExchange, PortalError> {
    use crate::server::service::directories as dirs;
    let c = caller().await?;
    let (directory_name, entry) = dirs::request_log_entry(&c.state, &c.grant.org(), &id).await?;
    Ok(LoggedExchange {
        directory_name,
        line: log_line(entry, None),
    })
}

/// Creates a directory; its token shows once on the next render.
#[server(prefix = "/portal/api", endpoint = "create_directory")]
pub async fn create_directory(kind: String, name: String) -> Result<(), PortalError> {
    use crate::server::service::directories::{self as dirs, CreateDirectory};
    let c = caller().await?;
    // When the vendor locked directory authority, a new directory follows the organization's
    // current setting instead of the portal's default.
    let authoritative = if dir_authority_locked(&c).await? {
        crate::server::service::policy::get(&c.state, &c.grant.org())
            .await?
            .directory_authoritative
    } else {
        true
    };
    let input = CreateDirectory {
        kind,
        name,
        authoritative: Some(authoritative),
    };
    let d = dirs::create(&c.state, &c.actor(), &c.ctx, &c.grant.org(), input).await?;
    let sealed = c.state.secrets.seal(&d.bearer_token, flash::TOKEN);
    flash::put(flash::TOKEN, &(d.directory.id, sealed)).await
}

/// Issues a new token (the old one keeps working for the overlap); it shows once.
#[server(prefix = "/portal/api", endpoint = "rotate_directory_token")]
pub async fn rotate_directory_token(id: String) -> Result<(), PortalError> {
    use crate::server::service::directories as dirs;
    let c = caller().await?;
    let d = dirs::rotate_token(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    let sealed = c.state.secrets.seal(&d.bearer_token, flash::TOKEN);
    flash::put(flash::TOKEN, &(d.directory.id, sealed)).await
}

/// Makes a directory authoritative for membership or not (a checkbox: absent means off).
#[server(prefix = "/portal/api", endpoint = "set_directory_authoritative")]
pub async fn set_directory_authoritative(
    id: String,
    authoritative: Option<String>,
) -> Result<(), PortalError> {
    use crate::server::service::directories::{self as dirs, UpdateDirectory};
    let c = caller().await?;
    if dir_authority_locked(&c).await? {
        return Err(PortalError::NotInScope(
            "changing whether the directory is authoritative: your vendor set it for your organization".into(),
        ));
    }
    let input = UpdateDirectory {
        name: None,
        authoritative: Some(authoritative.is_some()),
    };
    dirs::update(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
        input,
    )
    .await?;
    Ok(())
}

/// Deletes a directory (its members are suspended).
#[server(prefix = "/portal/api", endpoint = "delete_directory")]
pub async fn delete_directory(id: String) -> Result<(), PortalError> {
    use crate::server::service::directories as dirs;
    let c = caller().await?;
    if dir_authority_locked(&c).await?
        && dirs::get(
            &c.state,
            &c.grant.org(),
            &crate::server::error::parse_id(&id)?,
        )
        .await?
        .authoritative
    {
        return Err(PortalError::NotInScope(
            "removing an authoritative directory: your vendor set directory authority for your organization".into(),
        ));
    }
    dirs::delete(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    Ok(())
}

/// Whether the vendor locked `directory_authoritative` against the customer's admin.
#[cfg(feature = "ssr")]
async fn dir_authority_locked(c: &super::ctx::Caller) -> Result<bool, PortalError> {
    Ok(
        crate::server::service::policy::get(&c.state, &c.grant.org())
            .await?
            .policy
            .locked
            .iter()
            .any(|f| f == "directory_authoritative"),
    )
}

/// Maps one group to a role (`role` empty: unmapped). `mode` is `preview` (a dry run shown on the
/// page, nothing saved) or `save` (roles recomputed at once).
#[server(prefix = "/portal/api", endpoint = "map_group")]
pub async fn map_group(
    id: String,
    group_id: String,
    role: String,
    priority: String,
    mode: String,
) -> Result<(), PortalError> {
    use crate::domain::FieldError;
    use crate::server::service::directories::{self as dirs, GroupMapping};
    let c = caller().await?;
    let org = &c.grant.org();
    let priority: i64 = if role.is_empty() {
        0
    } else {
        priority.trim().parse().map_err(|_| {
            crate::server::error::AppError::from(FieldError::new(
                "priority",
                "priority must be a whole number from 0 to 1000; the highest mapped group wins",
            ))
        })?
    };
    let groups = dirs::groups(&c.state, org, &crate::server::error::parse_id(&id)?).await?;
    let group_name = groups
        .iter()
        .find(|g| g.id == group_id)
        .map(|g| g.display_name.clone())
        .unwrap_or_default();
    let mut mappings: Vec<GroupMapping> = groups
        .iter()
        .filter(|g| g.id != group_id)
        .filter_map(|g| {
            Some(GroupMapping {
                group_id: g.id.clone(),
                role: g.role.clone()?,
                priority: g.priority?,
            })
        })
        .collect();
    if !role.is_empty() {
        mappings.push(GroupMapping {
            group_id: group_id.clone(),
            role: role.clone(),
            priority,
        });
    }
    let changes = if mode == "save" {
        dirs::save_mappings(
            &c.state,
            &c.actor(),
            &c.ctx,
            org,
            &crate::server::error::parse_id(&id)?,
            &mappings,
        )
        .await?
    } else {
        dirs::preview_mappings(
            &c.state,
            org,
            &crate::server::error::parse_id(&id)?,
            &mappings,
        )
        .await?
    };
    let preview = Preview {
        group_name,
        role: if role.is_empty() {
            "no role".into()
        } else {
            role
        },
        priority,
        changes: changes
            .into_iter()
            .map(|c| (c.user_name, c.from, c.to, c.group))
            .collect(),
    };
    if mode == "save" {
        return Ok(());
    }
    flash::put(flash::PREVIEW, &(id, preview)).await
}
