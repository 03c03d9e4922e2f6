//! WorkOS Audit Logs: `POST /audit_logs/events`. The vendor's product reports what happened in
//! an organization; the event is appended to that organization's hash chain, marked as coming
//! from the vendor, shown on the portal's Activity page and carried by its log streams. It is
//! never an event of the vendor's own feed or webhooks.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};

use super::{invalid, RawQuery, WosJson};
use crate::domain::ids::{AuditLogExportId, OrgId};
use crate::server::audit::{RequestContext, Target, VendorEntry};
use crate::server::db::audit_exports::{self, ExportRow};
use crate::server::error::AppError;
use crate::server::http::rest::error::{ApiResult, RestError};
use crate::server::http::rest::extract::ApiPath;
use crate::server::service::api_keys::ApiPrincipal;
use crate::server::service::audit_log::{self, Keep};
use crate::server::state::AppState;
use crate::server::timefmt::rfc3339;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit_logs/events", post(create_event))
        .route("/audit_logs/exports", post(create_export))
        .route("/audit_logs/exports/{id}", get(get_export))
}

/// The export download: authenticated by its signed, expiring link alone (WorkOS hands out such
/// a URL), so a browser or `curl` fetches it without the API key.
pub fn open_routes() -> Router<AppState> {
    Router::new().route("/audit_logs/exports/{id}/download", get(download))
}

/// How long an export's download link works.
const LINK_MS: i64 = 10 * 60 * 1000;

/// WorkOS's `AuditLogExport`: always `ready` (the CSV is streamed when the link is fetched), with
/// a fresh link on every read.
fn render_export(state: &AppState, r: &ExportRow, key_id: &str) -> Value {
    let expires = state.clock.now() + LINK_MS;
    json!({
        "object": "audit_log_export",
        "id": r.id,
        "state": "ready",
        "url": format!(
            "{}/audit_logs/exports/{}/download?expires={expires}&key={key_id}&signature={}",
            state.config.base_url(),
            r.id,
            link_signature(state, &r.id, expires, key_id)
        ),
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.created_at),
    })
}

/// HMAC-SHA256 of the export id, the expiry and the API key that read the export, keyed with
/// the deployment's secret key (revoking the key voids its links).
fn link_signature(state: &AppState, id: &str, expires: i64, key_id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&state.config.secret_key)
        .expect("HMAC takes any key length");
    mac.update(format!("audit_log_export\n{id}\n{expires}\n{key_id}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn time_param(field: &str, v: Option<&Value>) -> Result<i64, RestError> {
    let raw = v
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(field, format!("{field} is required: an ISO 8601 time")))?;
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            invalid(
                field,
                format!("{field} must be an ISO 8601 time like 2026-12-01T00:00:00.000Z"),
            )
        })
}

fn string_list(field: &str, v: Option<&Value>) -> Result<Vec<String>, RestError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 100 => items
            .iter()
            .map(|i| {
                i.as_str()
                    .filter(|s| s.chars().count() <= FIELD_CHARS)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        invalid(
                            field,
                            format!("{field} lists strings of at most {FIELD_CHARS} characters"),
                        )
                    })
            })
            .collect(),
        Some(_) => Err(invalid(
            field,
            format!("{field} must be a list of at most 100 strings"),
        )),
    }
}

/// `POST /audit_logs/exports {organization_id, range_start, range_end, actions?, actor_names?,
/// actor_ids?, targets?}` → 201, ready at once.
async fn create_export(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    WosJson(body): WosJson<Value>,
) -> ApiResult<Response> {
    use axum::response::IntoResponse;
    let org = match body.get("organization_id").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => OrgId::parse(s).ok_or(AppError::NotFound("organization"))?,
        _ => {
            return Err(invalid(
                "organization_id",
                "organization_id is required (org_…)",
            ))
        }
    };
    let start = time_param("range_start", body.get("range_start"))?;
    let end = time_param("range_end", body.get("range_end"))?;
    if end <= start {
        return Err(invalid("range_end", "range_end must be after range_start"));
    }
    let mut actor_names = string_list("actor_names", body.get("actor_names"))?;
    // `actors` is WorkOS's deprecated name for `actor_names`.
    actor_names.extend(string_list("actors", body.get("actors"))?);
    let keep = Keep {
        actions: string_list("actions", body.get("actions"))?,
        actor_names,
        actor_ids: string_list("actor_ids", body.get("actor_ids"))?,
        targets: string_list("targets", body.get("targets"))?,
    };
    let row = audit_log::create_export(&state, &p.actor(), &ctx, &org, (start, end), &keep).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(render_export(&state, &row, &p.key_id)),
    )
        .into_response())
}

async fn load_export(state: &AppState, id: &AuditLogExportId) -> Result<ExportRow, RestError> {
    let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
    Ok(audit_exports::get(&mut conn, id.as_str())
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound("audit log export"))?)
}

/// `GET /audit_logs/exports/{id}`: the export with a fresh 10-minute link.
async fn get_export(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    ApiPath(id): ApiPath<AuditLogExportId>,
) -> ApiResult<Json<Value>> {
    let row = load_export(&state, &id).await?;
    Ok(Json(render_export(&state, &row, &p.key_id)))
}

#[derive(Debug, serde::Deserialize)]
struct LinkQuery {
    expires: Option<i64>,
    key: Option<String>,
    signature: Option<String>,
}

/// The CSV of an export, streamed, when its link is genuine and has not expired.
async fn download(
    State(state): State<AppState>,
    axum::extract::Path(raw): axum::extract::Path<String>,
    q: RawQuery,
) -> ApiResult<Response> {
    let refused = || {
        RestError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "this export link is not valid or has expired (links work 10 minutes); read the export again for a fresh one",
        )
    };
    let link: LinkQuery = q.parse()?;
    let (Some(expires), Some(key), Some(signature)) = (link.expires, link.key, link.signature)
    else {
        return Err(refused());
    };
    let id = AuditLogExportId::parse(&raw).ok_or_else(refused)?;
    if expires < state.clock.now()
        || !crate::server::crypto::ct_eq(
            &signature,
            &link_signature(&state, id.as_str(), expires, &key),
        )
    {
        return Err(refused());
    }
    // The key that read the export must still be live.
    let live = {
        let mut conn = state.db.pool.acquire().await.map_err(AppError::from)?;
        crate::server::db::api_keys::live_by_id(&mut conn, &key)
            .await
            .map_err(AppError::from)?
            .is_some()
    };
    if !live {
        return Err(refused());
    }
    // Each download reads the whole range: a leaked link fetched many times at once must not
    // tie up the database. Past the node's few slots, 429 with Retry-After.
    let Ok(slot) = state.export_downloads.clone().try_acquire_owned() else {
        let mut busy = RestError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "other export downloads are running; try again in a few seconds",
        );
        busy.retry_after = Some(5);
        return Err(busy);
    };
    let row = load_export(&state, &id).await?;
    let org = OrgId::parse(&row.organization_id).ok_or(AppError::NotFound("audit log export"))?;
    let keep: Keep = serde_json::from_str(&row.filter).unwrap_or_default();
    let filter = crate::server::audit::AuditFilter {
        from: Some(row.range_start),
        to: Some(row.range_end),
        ..Default::default()
    };
    let resp =
        audit_log::export_response_where(state, org, filter, audit_log::ExportFormat::Csv, keep);
    // The slot is held until the body has been sent (or the client went away).
    let (parts, body) = resp.into_parts();
    let stream = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
        let _held = &slot;
        chunk
    });
    Ok(Response::from_parts(
        parts,
        axum::body::Body::from_stream(stream),
    ))
}

/// Most metadata keys of one object, as WorkOS allows.
const METADATA_KEYS: usize = 50;
/// Longest metadata key and string value.
const METADATA_KEY_CHARS: usize = 40;
const METADATA_VALUE_CHARS: usize = 500;
/// Most targets of one event.
const TARGETS: usize = 50;
/// Longest action name, and longest id, type, name or location.
const ACTION_CHARS: usize = 100;
const FIELD_CHARS: usize = 256;
const USER_AGENT_CHARS: usize = 1024;

/// `POST /audit_logs/events` `{organization_id, event}` → `{success: true}`. One
/// `Idempotency-Key` sent twice writes one entry (the idempotency layer replays the answer).
async fn create_event(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Extension(ctx): Extension<RequestContext>,
    WosJson(body): WosJson<Value>,
) -> ApiResult<Response> {
    let (org, entry) = parse(&body)?;
    crate::server::service::audit_log::record_vendor(&state, &p.actor(), &ctx, &org, entry).await?;
    use axum::response::IntoResponse;
    Ok(Json(json!({ "success": true })).into_response())
}

/// Reads and checks a request body, naming the first field that is wrong (`event.actor.id`).
fn parse(body: &Value) -> Result<(OrgId, VendorEntry), RestError> {
    let org = match body.get("organization_id") {
        Some(Value::String(s)) if !s.is_empty() => {
            OrgId::parse(s).ok_or(AppError::NotFound("organization"))?
        }
        _ => {
            return Err(invalid(
                "organization_id",
                "organization_id is required (org_…)",
            ))
        }
    };
    let Some(event) = body.get("event").and_then(Value::as_object) else {
        return Err(invalid(
            "event",
            "event is required: an object with action, occurred_at, actor, targets and context",
        ));
    };
    let action = text(event, "event.action", "action", ACTION_CHARS)?;
    if !action
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
    {
        return Err(invalid(
            "event.action",
            "event.action may hold letters, digits, '.', '_', '-' and ':' only (user.signed_in)",
        ));
    }
    let occurred_at = text(event, "event.occurred_at", "occurred_at", FIELD_CHARS)?;
    if time::OffsetDateTime::parse(&occurred_at, &time::format_description::well_known::Rfc3339)
        .is_err()
    {
        return Err(invalid(
            "event.occurred_at",
            "event.occurred_at must be an ISO 8601 time like 2026-12-04T12:00:00.000Z",
        ));
    }
    let version = match event.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| invalid("event.version", "event.version must be a whole number"))?,
        ),
    };
    let Some(actor) = event.get("actor").and_then(Value::as_object) else {
        return Err(invalid(
            "event.actor",
            "event.actor is required: {id, type, name?, metadata?}",
        ));
    };
    let actor_id = text(actor, "event.actor.id", "id", FIELD_CHARS)?;
    let actor_type = text(actor, "event.actor.type", "type", FIELD_CHARS)?;
    let actor_name = optional_text(actor, "event.actor.name", "name", FIELD_CHARS)?;
    let actor_metadata = metadata(actor, "event.actor.metadata")?;
    let Some(raw_targets) = event.get("targets").and_then(Value::as_array) else {
        return Err(invalid(
            "event.targets",
            "event.targets is required: a list of {id, type, name?, metadata?}",
        ));
    };
    if raw_targets.len() > TARGETS {
        return Err(invalid(
            "event.targets",
            format!("event.targets holds at most {TARGETS} targets"),
        ));
    }
    let mut targets = Vec::with_capacity(raw_targets.len());
    let mut targets_metadata = Vec::new();
    for (i, t) in raw_targets.iter().enumerate() {
        let field = |f: &str| format!("event.targets.{i}.{f}");
        let Some(t) = t.as_object() else {
            return Err(invalid(
                format!("event.targets.{i}"),
                "each target is an object {id, type, name?, metadata?}",
            ));
        };
        targets.push(Target {
            kind: text(t, &field("type"), "type", FIELD_CHARS)?,
            id: text(t, &field("id"), "id", FIELD_CHARS)?,
            name: optional_text(t, &field("name"), "name", FIELD_CHARS)?,
        });
        targets_metadata.push(metadata(t, &field("metadata"))?.unwrap_or(Value::Null));
    }
    let Some(context) = event.get("context").and_then(Value::as_object) else {
        return Err(invalid(
            "event.context",
            "event.context is required: {location, user_agent?}",
        ));
    };
    let location = text(context, "event.context.location", "location", FIELD_CHARS)?;
    let user_agent = optional_text(
        context,
        "event.context.user_agent",
        "user_agent",
        USER_AGENT_CHARS,
    )?;
    let mut kept = Map::new();
    kept.insert("occurred_at".into(), occurred_at.into());
    if let Some(v) = version {
        kept.insert("version".into(), v.into());
    }
    if let Some(m) = metadata(event, "event.metadata")? {
        kept.insert("metadata".into(), m);
    }
    if let Some(m) = actor_metadata {
        kept.insert("actor_metadata".into(), m);
    }
    if targets_metadata.iter().any(|m| !m.is_null()) {
        kept.insert("targets_metadata".into(), Value::Array(targets_metadata));
    }
    Ok((
        org,
        VendorEntry {
            action,
            actor_name: actor_name.unwrap_or_else(|| actor_id.clone()),
            actor_type,
            actor_id,
            targets,
            ip: Some(location),
            user_agent,
            metadata: Value::Object(kept),
        },
    ))
}

/// A required string member of at most `max` characters, without control characters.
fn text(obj: &Map<String, Value>, field: &str, key: &str, max: usize) -> Result<String, RestError> {
    optional_text(obj, field, key, max)?
        .ok_or_else(|| invalid(field, format!("{field} is required")))
}

fn optional_text(
    obj: &Map<String, Value>,
    field: &str,
    key: &str,
    max: usize,
) -> Result<Option<String>, RestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => Err(invalid(
            field,
            format!("{field} is longer than {max} characters"),
        )),
        Some(Value::String(s)) if s.chars().any(|c| c.is_control() || invisible(c)) => {
            Err(invalid(
                field,
                format!("{field} holds a control, direction-changing or invisible character"),
            ))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, format!("{field} must be a string"))),
    }
}

/// Characters that change how the text around them reads without showing themselves: bidi
/// marks, overrides and isolates, zero-width characters, line and paragraph separators, the
/// soft hyphen and the byte-order mark. In a name they could make `(vendor:user)` read otherwise.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}')
}

/// A metadata object as WorkOS takes it: at most 50 keys of at most 40 letters, digits, `_` or
/// `-`, each a string of at most 500 characters, a number or a boolean.
fn metadata(obj: &Map<String, Value>, field: &str) -> Result<Option<Value>, RestError> {
    let m = match obj.get("metadata") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid(field, format!("{field} must be an object"))),
    };
    if m.len() > METADATA_KEYS {
        return Err(invalid(
            field,
            format!("{field} holds at most {METADATA_KEYS} keys"),
        ));
    }
    for (k, v) in m {
        if k.is_empty()
            || k.chars().count() > METADATA_KEY_CHARS
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                field,
                format!(
                    "{field} key '{k}' must be 1–{METADATA_KEY_CHARS} letters, digits, '_' or '-'"
                ),
            ));
        }
        let fine = match v {
            Value::String(s) => s.chars().count() <= METADATA_VALUE_CHARS,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if !fine {
            return Err(invalid(
                field,
                format!("{field}.{k} must be a string of at most {METADATA_VALUE_CHARS} characters, a number or a boolean"),
            ));
        }
    }
    Ok(Some(Value::Object(m.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        json!({
            "organization_id": "org_01JDZZZZZZZZZZZZZZZZZZZZZZ",
            "event": {
                "action": "user.signed_in",
                "occurred_at": "2026-12-04T12:00:00.000Z",
                "version": 1,
                "actor": { "id": "user_1", "type": "user", "name": "Jane", "metadata": { "role": "admin" } },
                "targets": [{ "id": "team_1", "type": "team", "metadata": { "seats": 3 } }],
                "context": { "location": "203.0.113.9", "user_agent": "Chrome" },
                "metadata": { "mfa": true }
            }
        })
    }

    fn field_of(e: RestError) -> String {
        e.field.unwrap_or_default()
    }

    #[test]
    fn a_full_event_keeps_everything_the_vendor_sent() {
        let (org, e) = parse(&body()).unwrap();
        assert_eq!(org.as_str(), "org_01JDZZZZZZZZZZZZZZZZZZZZZZ");
        assert_eq!(e.action, "user.signed_in");
        assert_eq!(
            (
                e.actor_type.as_str(),
                e.actor_id.as_str(),
                e.actor_name.as_str()
            ),
            ("user", "user_1", "Jane")
        );
        assert_eq!(e.targets[0].kind, "team");
        assert_eq!(e.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(e.user_agent.as_deref(), Some("Chrome"));
        assert_eq!(e.metadata["occurred_at"], "2026-12-04T12:00:00.000Z");
        assert_eq!(e.metadata["version"], 1);
        assert_eq!(e.metadata["metadata"]["mfa"], true);
        assert_eq!(e.metadata["actor_metadata"]["role"], "admin");
        assert_eq!(e.metadata["targets_metadata"][0]["seats"], 3);
    }

    #[test]
    fn each_missing_or_wrong_member_is_named() {
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "organization_id",
                Box::new(|b| {
                    b.as_object_mut().unwrap().remove("organization_id");
                }),
            ),
            ("event", Box::new(|b| b["event"] = json!("x"))),
            (
                "event.action",
                Box::new(|b| {
                    b["event"].as_object_mut().unwrap().remove("action");
                }),
            ),
            (
                "event.action",
                Box::new(|b| b["event"]["action"] = json!("user signed in")),
            ),
            (
                "event.action",
                Box::new(|b| b["event"]["action"] = json!("a".repeat(101))),
            ),
            (
                "event.occurred_at",
                Box::new(|b| b["event"]["occurred_at"] = json!("yesterday")),
            ),
            (
                "event.version",
                Box::new(|b| b["event"]["version"] = json!("one")),
            ),
            (
                "event.actor",
                Box::new(|b| {
                    b["event"].as_object_mut().unwrap().remove("actor");
                }),
            ),
            (
                "event.actor.id",
                Box::new(|b| b["event"]["actor"]["id"] = json!("")),
            ),
            (
                "event.actor.type",
                Box::new(|b| b["event"]["actor"]["type"] = json!(3)),
            ),
            (
                "event.actor.name",
                Box::new(|b| b["event"]["actor"]["name"] = json!("a\u{0}b")),
            ),
            (
                "event.actor.name",
                Box::new(|b| b["event"]["actor"]["name"] = json!("Jane\u{202E}resu:rodnev")),
            ),
            (
                "event.targets.0.id",
                Box::new(|b| b["event"]["targets"][0]["id"] = json!("doc\u{200B}7")),
            ),
            (
                "event.context.location",
                Box::new(|b| b["event"]["context"]["location"] = json!("1.2.3.4\u{2028}x")),
            ),
            (
                "event.actor.metadata",
                Box::new(|b| b["event"]["actor"]["metadata"] = json!({ "nested": { "a": 1 } })),
            ),
            (
                "event.targets",
                Box::new(|b| {
                    b["event"].as_object_mut().unwrap().remove("targets");
                }),
            ),
            (
                "event.targets.0.id",
                Box::new(|b| b["event"]["targets"][0]["id"] = Value::Null),
            ),
            (
                "event.targets.0.metadata",
                Box::new(|b| b["event"]["targets"][0]["metadata"] = json!({ "bad key": 1 })),
            ),
            (
                "event.context",
                Box::new(|b| {
                    b["event"].as_object_mut().unwrap().remove("context");
                }),
            ),
            (
                "event.context.location",
                Box::new(|b| b["event"]["context"] = json!({})),
            ),
            (
                "event.metadata",
                Box::new(|b| b["event"]["metadata"] = json!({ "k": "v".repeat(501) })),
            ),
            (
                "event.metadata",
                Box::new(|b| {
                    b["event"]["metadata"] =
                        Value::Object((0..51).map(|i| (format!("k{i}"), json!(i))).collect());
                }),
            ),
        ];
        for (want, change) in cases {
            let mut b = body();
            change(&mut b);
            let err = parse(&b)
                .err()
                .unwrap_or_else(|| panic!("{want}: accepted {b}"));
            assert_eq!(field_of(err), want, "{b}");
        }
    }

    #[test]
    fn fifty_targets_pass_and_fifty_one_do_not() {
        let mut b = body();
        b["event"]["targets"] = Value::Array(
            (0..50)
                .map(|i| json!({ "id": format!("t{i}"), "type": "team" }))
                .collect(),
        );
        assert!(parse(&b).is_ok());
        b["event"]["targets"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "id": "x", "type": "team" }));
        assert_eq!(field_of(parse(&b).err().unwrap()), "event.targets");
    }
}
