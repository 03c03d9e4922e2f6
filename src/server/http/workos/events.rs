//! WorkOS `GET /events`: Lanyard's events feed under WorkOS's event names, oldest first, each
//! with its resource in WorkOS's shape as it was when the event was recorded (rendered from the
//! snapshot stored with the event, see [`Snapshot`]).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::directories::{directory_type, render_group, render_user};
use super::{invalid, RawQuery};
use crate::domain::membership::MembershipState;
use crate::server::error::AppError;
use crate::server::events::{DomainRef, Event, Snapshot};
use crate::server::http::rest::error::{ApiResult, RestError};
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

/// Events of the feed one `/events` request reads at most.
const SCAN: i64 = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(list_events))
}

/// Lanyard's event types that WorkOS has, with WorkOS's name for each. Several Lanyard types
/// may share one WorkOS name (`dsync.user.updated` is also a deactivation or a reactivation).
pub const NAMES: &[(&str, &str)] = &[
    ("organization.created", "organization.created"),
    ("organization.updated", "organization.updated"),
    ("organization.deleted", "organization.deleted"),
    ("domain.created", "organization_domain.created"),
    ("domain.verified", "organization_domain.verified"),
    (
        "domain.verification_failed",
        "organization_domain.verification_failed",
    ),
    ("domain.lapsed", "organization_domain.updated"),
    ("domain.deleted", "organization_domain.deleted"),
    ("connection.activated", "connection.activated"),
    ("connection.deactivated", "connection.deactivated"),
    ("connection.deleted", "connection.deleted"),
    ("directory.created", "dsync.activated"),
    ("directory.deleted", "dsync.deleted"),
    ("dsync.user.created", "dsync.user.created"),
    ("dsync.user.updated", "dsync.user.updated"),
    ("dsync.user.deactivated", "dsync.user.updated"),
    ("dsync.user.reactivated", "dsync.user.updated"),
    ("dsync.user.deleted", "dsync.user.deleted"),
    ("dsync.group.created", "dsync.group.created"),
    ("dsync.group.updated", "dsync.group.updated"),
    ("dsync.group.deleted", "dsync.group.deleted"),
    ("dsync.group.user_added", "dsync.group.user_added"),
    ("dsync.group.user_removed", "dsync.group.user_removed"),
    ("invitation.created", "invitation.created"),
    ("invitation.accepted", "invitation.accepted"),
    ("invitation.revoked", "invitation.revoked"),
    ("invitation.resent", "invitation.resent"),
    ("membership.created", "organization_membership.created"),
    ("membership.updated", "organization_membership.updated"),
    ("membership.role_changed", "organization_membership.updated"),
    ("membership.suspended", "organization_membership.updated"),
    ("membership.reactivated", "organization_membership.updated"),
    ("membership.removed", "organization_membership.deleted"),
    ("authentication.succeeded", "authentication.sso_succeeded"),
    ("authentication.failed", "authentication.sso_failed"),
];

/// WorkOS's name for a Lanyard event type, when WorkOS has one.
pub fn workos_name(lanyard: &str) -> Option<&'static str> {
    NAMES.iter().find(|(l, _)| *l == lanyard).map(|(_, w)| *w)
}

/// A WorkOS event.
#[derive(Debug, Serialize)]
pub struct WosEvent {
    object: &'static str,
    pub id: String,
    event: &'static str,
    data: Value,
    created_at: String,
    /// Lanyard's own facts: who acted, the audit event, the entity and its sequence.
    context: Value,
}

#[derive(Debug, Serialize)]
struct EventList {
    object: &'static str,
    data: Vec<WosEvent>,
    list_metadata: Value,
}

/// The keys of `now` whose values differ in `before`, with the values they had (WorkOS's
/// `previous_attributes`); `updated_at` changes with everything and is left out.
fn previous_attributes(before: &Value, now: &Value) -> Value {
    let mut out = Map::new();
    if let (Some(b), Some(n)) = (before.as_object(), now.as_object()) {
        for (k, v) in b {
            if k != "updated_at" && n.get(k) != Some(v) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn with(mut v: Value, key: &str, extra: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_owned(), extra);
    }
    v
}

fn to_json<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// The verified domains a snapshot kept, as `render_connection` takes them.
fn verified(organization_id: &str, domains: &[DomainRef]) -> Vec<(String, String, String)> {
    domains
        .iter()
        .map(|d| (organization_id.to_owned(), d.id.clone(), d.domain.clone()))
        .collect()
}

/// The event's `data` in WorkOS's shape, from its snapshot alone.
fn render_data(name: &str, snapshot: Snapshot) -> Value {
    match snapshot {
        Snapshot::Organization {
            organization,
            domains,
        } => to_json(super::organizations::render(organization, domains)),
        Snapshot::Domain { domain } => {
            let reason = domain
                .last_result
                .as_deref()
                .and_then(|r| serde_json::from_str::<Value>(r).ok())
                .and_then(|r| r.get("outcome").and_then(Value::as_str).map(str::to_owned));
            let d = to_json(super::organizations::WosDomain::from(domain));
            if name == "organization_domain.verification_failed" {
                // WorkOS's two reasons: another organization holds the domain, or the record
                // was not found in time (Lanyard's `mismatch` and `missing`).
                let reason = match reason.as_deref() {
                    Some("claimed_elsewhere") => "domain_verified_by_other_organization",
                    _ => "domain_verification_period_expired",
                };
                json!({ "reason": reason, "organization_domain": d })
            } else {
                d
            }
        }
        Snapshot::Connection { connection } => {
            // The event schemas add `external_key` (Python requires it): the connection's id.
            let id = connection.id.clone();
            let verified = verified(&connection.organization_id, &connection.domains);
            let c = to_json(super::sso::render_connection(connection, &verified));
            with(c, "external_key", json!(id))
        }
        Snapshot::Directory { directory, domains } => {
            let deleted = name == "dsync.deleted";
            let mut d = json!({
                "object": "directory",
                "id": directory.id,
                "organization_id": directory.organization_id,
                "type": directory_type(&directory.kind),
                // The event schemas name a live directory `active` (the Directory object says
                // `linked`).
                "state": if deleted { "deleting" } else { "active" },
                "name": directory.name,
                "created_at": rfc3339(directory.created_at),
                "updated_at": rfc3339(directory.updated_at),
            });
            if !deleted {
                let domains: Vec<Value> = domains
                    .iter()
                    .map(|d| json!({ "object": "organization_domain", "id": d.id, "domain": d.domain }))
                    .collect();
                d = with(d, "external_key", json!(directory.id));
                d = with(d, "domains", Value::Array(domains));
            }
            d
        }
        Snapshot::DirectoryUser { user, previous } => {
            let now = to_json(render_user(user, None, None));
            match previous {
                Some(p) if name == "dsync.user.updated" => {
                    let before = to_json(render_user(*p, None, None));
                    let prev = previous_attributes(&before, &now);
                    with(now, "previous_attributes", prev)
                }
                _ => now,
            }
        }
        Snapshot::DirectoryGroup { group, previous } => {
            let now = to_json(render_group(group));
            match previous {
                Some(p) if name == "dsync.group.updated" => {
                    let before = to_json(render_group(*p));
                    let prev = previous_attributes(&before, &now);
                    with(now, "previous_attributes", prev)
                }
                _ => now,
            }
        }
        Snapshot::SignIn {
            succeeded,
            organization_id,
            connection_id,
            user_id,
            email,
            ip,
            user_agent,
            error,
        } => {
            let mut v = json!({
                "type": "sso",
                "status": if succeeded { "succeeded" } else { "failed" },
                "ip_address": ip,
                "user_agent": user_agent,
                "user_id": user_id,
                "email": email,
                "sso": {
                    "organization_id": organization_id,
                    "connection_id": connection_id,
                    "session_id": null,
                },
            });
            if let Some((code, message)) = error {
                v = with(v, "error", json!({ "code": code, "message": message }));
            }
            v
        }
        Snapshot::Invitation {
            invitation,
            inviter_user_id,
            accepted_user_id,
        } => {
            let state = invitation.state.clone();
            let mut v = to_json(super::invitations::render_row(
                invitation,
                state,
                inviter_user_id,
                accepted_user_id,
            ));
            // An event never carries the link's secret.
            if let Some(o) = v.as_object_mut() {
                o.remove("token");
                o.remove("accept_invitation_url");
            }
            v
        }
        Snapshot::Membership { membership: m } => {
            let status = if m.state == MembershipState::Active.as_str() {
                "active"
            } else {
                // Suspended, or removed (`organization_membership.deleted`).
                "inactive"
            };
            json!({
                "object": "organization_membership",
                "id": m.id,
                "user_id": m.user_id,
                "organization_id": m.organization_id,
                "status": status,
                "role": { "slug": m.role },
                "roles": [{ "slug": m.role }],
                "custom_attributes": {},
                "directory_managed": m.directory_id.is_some(),
                "created_at": rfc3339(m.created_at),
                "updated_at": rfc3339(m.updated_at),
            })
        }
        Snapshot::GroupMember { user, group } => json!({
            "directory_id": group.directory_id,
            "user": to_json(render_user(user, None, None)),
            "group": to_json(render_group(group)),
        }),
    }
}

/// Renders events (those of a mapped type with a snapshot; others are skipped). Reads nothing:
/// a snapshot holds all its event shows.
pub fn render(events: Vec<Event>) -> Vec<WosEvent> {
    events.into_iter().filter_map(render_event).collect()
}

fn render_event(e: Event) -> Option<WosEvent> {
    let name = workos_name(&e.kind)?;
    let snapshot: Snapshot = serde_json::from_value(e.snapshot?).ok()?;
    Some(WosEvent {
        object: "event",
        event: name,
        data: render_data(name, snapshot),
        created_at: e.created_at,
        context: json!({ "lanyard": {
            "type": e.kind,
            "cursor": e.cursor,
            "actor": e.data.get("actor"),
            "audit_event_id": e.data.get("audit_event_id"),
            "entity": e.entity,
        } }),
        id: e.id,
    })
}

/// One event as a WorkOS webhook delivers it: the body `/events` would list, or `None` when
/// WorkOS has no name for its type or it keeps no snapshot.
pub fn render_one(event: &Event) -> Option<String> {
    render_event(event.clone()).and_then(|e| serde_json::to_string(&e).ok())
}

/// An RFC 3339 time in ms.
fn instant(field: &str, raw: Option<String>) -> Result<Option<i64>, RestError> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
            .map(|t| Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
            .map_err(|_| {
                invalid(
                    field,
                    format!("{field} must be an ISO 8601 time such as 2026-01-15T12:00:00Z"),
                )
            }),
    }
}

/// `GET /events`: oldest first after the event `after`; `events` (WorkOS names, comma-joined or
/// repeated), `organization_id`, `range_start`, `range_end`, `limit` 1–100 (default 10).
/// `before` and `order` are accepted and ignored: the feed reads forwards only.
async fn list_events(State(state): State<AppState>, q: RawQuery) -> ApiResult<Json<EventList>> {
    #[derive(Deserialize)]
    struct Params {
        after: Option<String>,
        limit: Option<String>,
        organization_id: Option<String>,
        range_start: Option<String>,
        range_end: Option<String>,
    }
    let p = q.parse::<Params>()?;
    let limit = super::limit_param(p.limit.as_deref())?;
    let wanted = q.list("events");
    let types: Vec<&str> = NAMES
        .iter()
        .filter(|(_, w)| wanted.is_empty() || wanted.iter().any(|x| x == w))
        .map(|(l, _)| *l)
        .collect();
    let from = instant("range_start", p.range_start)?;
    let to = instant("range_end", p.range_end)?;
    state.db.caught_up().await;
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    let after = match p.after.filter(|a| !a.is_empty()) {
        None => 0,
        Some(id) => crate::server::events::cursor_of(&mut conn, &id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| {
                invalid(
                    "after",
                    "after must be the id of an event still kept (events are kept 90 days by default)",
                )
            })?,
    };
    // One request reads at most SCAN events of the feed, whatever its filters match: a page
    // that found nothing in them says where the next read starts (`after` names the last event
    // read), so a consumer whose filters match rarely moves on instead of rereading.
    let head = crate::server::events::head(&mut conn)
        .await
        .map_err(AppError::from)?;
    let upto = after.saturating_add(SCAN).min(head);
    let data = if types.is_empty() {
        Vec::new()
    } else {
        let filter = crate::server::events::SnapshotFilter {
            types,
            organization_id: p.organization_id.as_deref().filter(|o| !o.is_empty()),
            from,
            to,
        };
        let rows =
            crate::server::events::page_with_snapshots(&mut conn, after, upto, &filter, limit)
                .await
                .map_err(AppError::from)?;
        render(
            rows.into_iter()
                .map(crate::server::events::to_event)
                .collect(),
        )
    };
    let last = match data.last() {
        Some(e) => Some(e.id.clone()),
        None if upto < head => crate::server::events::id_at(&mut conn, upto)
            .await
            .map_err(AppError::from)?,
        None => None,
    };
    Ok(Json(EventList {
        object: "list",
        data,
        list_metadata: json!({ "after": last }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_lanyard_event_type() {
        for (l, _) in NAMES {
            assert!(
                crate::domain::event_type::EventType::ALL
                    .iter()
                    .any(|t| t.as_str() == *l),
                "{l} is not a Lanyard event type"
            );
        }
    }

    #[test]
    fn previous_attributes_hold_the_old_values_of_changed_keys() {
        let before = json!({ "name": "a", "state": "active", "updated_at": "1", "same": 1 });
        let now = json!({ "name": "b", "state": "inactive", "updated_at": "2", "same": 1 });
        assert_eq!(
            previous_attributes(&before, &now),
            json!({ "name": "a", "state": "active" })
        );
    }
}
