//! SCIM resources as Lanyard keeps them: validation and normalisation of what an IdP sends
//! (RFC 7643 §4.1 User with the enterprise extension, §4.2 Group), rendering with `meta`,
//! `attributes`/`excludedAttributes` projection, list and error bodies, and the discovery
//! documents (`/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`). Pure: no IO, no clock.

use serde_json::{json, Map, Value};

use super::patch::ScimType;

/// Core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// List response message.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Error message.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Longest userName, displayName or externalId accepted.
pub const MAX_NAME_LEN: usize = 512;
/// Most members one Group request may carry (counted before any work is done).
pub const MAX_MEMBERS: usize = 20_000;
/// Most members a Group may have.
pub const MAX_GROUP_MEMBERS: usize = 100_000;

/// How many member values a Group request carries: the `members` of a POST or PUT body, or
/// every value a PATCH operation adds, removes or replaces under `members`. Cheap (the body
/// is already parsed) so that an oversized request is refused before any database work.
pub fn members_in_request(body: &Value) -> usize {
    fn count(v: Option<&Value>) -> usize {
        match v {
            Some(Value::Array(list)) => list.len(),
            Some(Value::Null) | None => 0,
            Some(_) => 1,
        }
    }
    let Some(obj) = body.as_object() else {
        return 0;
    };
    let mut n = 0;
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("members") {
            n += count(Some(value));
        } else if key.eq_ignore_ascii_case("Operations") {
            for op in value.as_array().into_iter().flatten() {
                let path = super::filter::get_ci(op, "path").and_then(Value::as_str);
                let value = super::filter::get_ci(op, "value");
                // `members…`, or the same with the Group schema's URN in front.
                let on_members = |p: &str| {
                    let p = p.trim_start().to_ascii_lowercase();
                    let urn = format!("{}:", GROUP_SCHEMA.to_ascii_lowercase());
                    p.strip_prefix(&urn).unwrap_or(&p).starts_with("members")
                };
                n += match path {
                    Some(p) if on_members(p) => count(value).max(1),
                    Some(_) => 0,
                    None => count(value.and_then(|v| super::filter::get_ci(v, "members"))),
                };
            }
        }
    }
    n
}

/// A SCIM failure: HTTP status, `scimType` (when RFC 7644 §3.12 has one) and a detail that
/// names the attribute and says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    /// A 400 with a `scimType`.
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 400,
            scim_type: Some(scim_type.as_str()),
            detail: detail.into(),
        }
    }

    /// Any status, optionally with a `scimType`.
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// The RFC 7644 §3.12 error body.
    pub fn body(&self) -> Value {
        let mut b = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            b["scimType"] = Value::String(t.into());
        }
        b
    }
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, detail)
}

/// Core User attributes (RFC 7643 §4.1), in their canonical spelling.
const USER_ATTRS: &[&str] = &[
    "userName",
    "name",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
    "externalId",
];

/// Attributes a client may send but the server owns or never keeps: dropped on input.
/// `password` is never stored (Lanyard authenticates through the IdP); `groups` is readOnly
/// (RFC 7643 §4.1.2: membership changes go through Groups), Okta sends `"groups": []`.
const USER_IGNORED: &[&str] = &["id", "meta", "groups", "password", "schemas"];

const ENTERPRISE_ATTRS: &[&str] = &[
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager",
];

/// What Lanyard indexes of a User.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFields {
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// The primary email (or the work one, or the first), lowercased.
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// The key used for userName uniqueness: RFC 7643 §4.1.1 makes userName case-insensitive.
pub fn user_name_key(user_name: &str) -> String {
    user_name.trim().to_lowercase()
}

fn canonical<'a>(list: &[&'a str], key: &str) -> Option<&'a str> {
    list.iter().copied().find(|k| k.eq_ignore_ascii_case(key))
}

fn as_bool(v: &Value, attr: &str) -> Result<bool, ScimError> {
    match v {
        Value::Bool(b) => Ok(*b),
        // Entra sends booleans as the strings "True"/"False".
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(format!(
            "'{attr}' must be a boolean (true or false), got {v}"
        ))),
    }
}

fn short_string(v: &Value, attr: &str) -> Result<String, ScimError> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid(format!("'{attr}' must be a string, got {v}")))?;
    if s.chars().count() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "'{attr}' is longer than {MAX_NAME_LEN} characters"
        )));
    }
    Ok(s.to_owned())
}

/// Most values a User's multi-valued attribute (emails, phoneNumbers, …) may hold: a real person
/// has a handful; the bound keeps a User from growing push after push.
pub const MAX_USER_VALUES: usize = 100;

/// Coerces `"True"`/`"False"` of a multi-valued attribute's `primary` sub-attribute.
fn normalize_multi(attr: &str, v: &Value) -> Result<Value, ScimError> {
    let Value::Array(items) = v else {
        return Err(invalid(format!("'{attr}' must be an array")));
    };
    if items.len() > MAX_USER_VALUES {
        return Err(invalid(format!(
            "'{attr}' has {} values; a User may have at most {MAX_USER_VALUES}",
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::Object(o) => {
                let mut o = o.clone();
                if let Some(key) = o
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("primary"))
                    .cloned()
                {
                    let b = as_bool(&o[&key], &format!("{attr}.primary"))?;
                    o.remove(&key);
                    o.insert("primary".into(), Value::Bool(b));
                }
                out.push(Value::Object(o));
            }
            _ if attr == "x509Certificates" || attr == "entitlements" || attr == "roles" => {
                out.push(item.clone())
            }
            _ => {
                return Err(invalid(format!(
                    "each entry of '{attr}' must be an object such as {{\"value\": \"…\"}}"
                )))
            }
        }
    }
    Ok(Value::Array(out))
}

/// Validates a User as sent in POST or PUT (or as left by a PATCH) and returns the form Lanyard
/// stores (canonical attribute names, booleans coerced, server-owned attributes and `password`
/// dropped) with the fields it indexes.
///
/// Unknown attributes are refused (`invalidValue` naming them) rather than silently dropped, so
/// a mistyped mapping in the IdP shows up in the request log instead of as missing data.
/// Extensions other than the enterprise one are kept as sent when `schemas` declares them.
pub fn normalize_user(input: &Value) -> Result<(Value, UserFields), ScimError> {
    let obj = input
        .as_object()
        .ok_or_else(|| ScimError::bad(ScimType::InvalidSyntax, "the body must be a JSON object"))?;
    // Core attributes sent under the core schema's URN (`{"urn:…:core:2.0:User": {…}}`) are
    // core attributes: lifted to the top (where a top-level one wins), so every rule for them
    // (a `password` is never kept) applies.
    let lifted;
    let obj = match obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(USER_SCHEMA))
    {
        None => obj,
        Some((core_key, v)) => {
            let inner = v.as_object().ok_or_else(|| {
                invalid(format!(
                    "'{USER_SCHEMA}' must be an object of User attributes"
                ))
            })?;
            let mut m = obj.clone();
            m.remove(core_key);
            for (k, val) in inner {
                if !m.keys().any(|x| x.eq_ignore_ascii_case(k)) {
                    m.insert(k.clone(), val.clone());
                }
            }
            lifted = m;
            &lifted
        }
    };
    let declared = declared_schemas(obj);
    let mut out = Map::new();
    let mut schemas = vec![Value::String(USER_SCHEMA.into())];
    for (key, value) in obj {
        if USER_IGNORED.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        if key.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
            merge_enterprise(&mut out, &mut schemas, value)?;
            continue;
        }
        if key.eq_ignore_ascii_case("manager") {
            move_core_manager(&mut out, &mut schemas, value);
            continue;
        }
        if key.starts_with("urn:") {
            if declared.iter().any(|d| d.eq_ignore_ascii_case(key)) {
                // Kept as sent, but never a password, at any depth.
                let mut kept = value.clone();
                strip_passwords(&mut kept);
                out.insert(key.clone(), kept);
                if !schemas.iter().any(|s| s.as_str() == Some(key.as_str())) {
                    schemas.push(Value::String(key.clone()));
                }
                continue;
            }
            return Err(invalid(format!(
                "the extension '{key}' is not listed in 'schemas'; add it there or stop sending it"
            )));
        }
        let Some(name) = canonical(USER_ATTRS, key) else {
            return Err(invalid(format!(
                "unknown attribute '{key}'; see /Schemas for the attributes a User has"
            )));
        };
        let Some(v) = normalize_user_attr(name, value)? else {
            continue;
        };
        out.insert(name.into(), v);
    }
    let fields = user_fields(&out)?;
    out.insert("schemas".into(), Value::Array(schemas));
    let out = Value::Object(out);
    // A User is a few KB; the bound keeps one from growing push after push (unknown
    // sub-attributes of `name` or of an email are kept, so the size is what bounds them).
    let size = out.to_string().len();
    if size > MAX_USER_BYTES {
        return Err(ScimError::new(
            413,
            None,
            format!("the User would take {size} bytes; at most {MAX_USER_BYTES} are kept — send fewer or shorter attributes"),
        ));
    }
    Ok((out, fields))
}

/// The schema URNs a User's `schemas` attribute declares.
/// Removes every `password` member (any case, any depth).
fn strip_passwords(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.eq_ignore_ascii_case("password"));
            m.values_mut().for_each(strip_passwords);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_passwords),
        _ => {}
    }
}

fn declared_schemas(obj: &Map<String, Value>) -> Vec<String> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .and_then(|(_, v)| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Adds the enterprise extension's attributes (normalized) to the stored User.
fn merge_enterprise(
    out: &mut Map<String, Value>,
    schemas: &mut Vec<Value>,
    value: &Value,
) -> Result<(), ScimError> {
    let ext = normalize_enterprise(value)?;
    if let Value::Object(ext) = ext {
        if !ext.is_empty() {
            let slot = out
                .entry(ENTERPRISE_SCHEMA.to_owned())
                .or_insert_with(|| json!({}));
            if let Some(e) = slot.as_object_mut() {
                e.extend(ext);
            }
            if !schemas.iter().any(|s| s == ENTERPRISE_SCHEMA) {
                schemas.push(Value::String(ENTERPRISE_SCHEMA.into()));
            }
        }
    }
    Ok(())
}

/// Entra's older mapping sends the manager as a core-level "manager" (a list of
/// {"$ref", "value"}); it belongs to the enterprise extension.
fn move_core_manager(out: &mut Map<String, Value>, schemas: &mut Vec<Value>, value: &Value) {
    let id = match value {
        Value::Array(items) => items.first().and_then(|m| m.get("value")).cloned(),
        Value::Object(o) => o.get("value").cloned(),
        Value::String(_) => Some(value.clone()),
        _ => None,
    };
    if let Some(id) = id.filter(|v| v.is_string()) {
        let ext = out
            .entry(ENTERPRISE_SCHEMA.to_owned())
            .or_insert_with(|| json!({}));
        if let Some(e) = ext.as_object_mut() {
            e.insert("manager".into(), json!({ "value": id }));
        }
        if !schemas.iter().any(|s| s == ENTERPRISE_SCHEMA) {
            schemas.push(Value::String(ENTERPRISE_SCHEMA.into()));
        }
    }
}

/// The stored form of one core attribute; `None` for a null (the attribute is left out).
fn normalize_user_attr(name: &str, value: &Value) -> Result<Option<Value>, ScimError> {
    Ok(Some(match name {
        _ if value.is_null() => return Ok(None),
        "active" => Value::Bool(as_bool(value, name)?),
        "userName" | "displayName" | "externalId" | "nickName" | "title" | "userType"
        | "preferredLanguage" | "locale" | "timezone" | "profileUrl" => {
            Value::String(short_string(value, name)?)
        }
        "name" => {
            if !value.is_object() {
                return Err(invalid("'name' must be an object such as {\"givenName\": \"Dana\", \"familyName\": \"Lee\"}"));
            }
            value.clone()
        }
        _ => normalize_multi(name, value)?,
    }))
}

/// What Lanyard indexes of a normalized User.
fn user_fields(out: &Map<String, Value>) -> Result<UserFields, ScimError> {
    let user_name = out
        .get("userName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            invalid(
                "'userName' is required: send the user's unique sign-in name, usually their email",
            )
        })?
        .to_owned();
    // RFC 7643 leaves the default to the provider: a pushed user without `active` (never sent,
    // or removed by PATCH) is active. The attribute itself stays as the IdP left it.
    let active = !matches!(out.get("active"), Some(Value::Bool(false)));
    let email = primary_email(out.get("emails"));
    let name = out.get("name");
    let sub = |k: &str| {
        name.and_then(|n| n.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let fields = UserFields {
        user_name,
        external_id: out
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        active,
        email: email.or_else(|| {
            let u = out.get("userName").and_then(Value::as_str)?;
            looks_like_email(u).then(|| u.to_lowercase())
        }),
        display_name: out
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_owned),
        given_name: sub("givenName"),
        family_name: sub("familyName"),
    };
    Ok(fields)
}

/// Largest stored User resource.
pub const MAX_USER_BYTES: usize = 64 * 1024;

fn normalize_enterprise(value: &Value) -> Result<Value, ScimError> {
    let obj = value
        .as_object()
        .ok_or_else(|| invalid(format!("'{ENTERPRISE_SCHEMA}' must be an object")))?;
    let mut out = Map::new();
    for (k, v) in obj {
        // A PATCH of the whole extension may carry its own "schemas" member.
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let Some(name) = canonical(ENTERPRISE_ATTRS, k) else {
            return Err(invalid(format!(
                "unknown attribute '{ENTERPRISE_SCHEMA}:{k}'"
            )));
        };
        if v.is_null() {
            continue;
        }
        let v = match (name, v) {
            // Entra sends the manager as a plain id string when mapped from a reference.
            ("manager", Value::String(s)) => json!({ "value": s }),
            ("manager", Value::Object(_)) => v.clone(),
            ("manager", _) => {
                return Err(invalid("'manager' must be an object {\"value\": \"…\"}"))
            }
            (_, Value::String(_)) => v.clone(),
            _ => {
                return Err(invalid(format!(
                    "'{ENTERPRISE_SCHEMA}:{name}' must be a string"
                )))
            }
        };
        out.insert(name.into(), v);
    }
    Ok(Value::Object(out))
}

fn looks_like_email(s: &str) -> bool {
    let mut parts = s.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None) if !l.is_empty() && d.contains('.'))
}

/// The primary email, else the `work` one, else the first; lowercased.
pub fn primary_email(emails: Option<&Value>) -> Option<String> {
    let list = emails?.as_array()?;
    let value = |e: &Value| e.get("value").and_then(Value::as_str).map(str::to_owned);
    list.iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .and_then(value)
        .or_else(|| {
            list.iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
                .and_then(value)
        })
        .or_else(|| list.iter().find_map(value))
        .map(|s| s.trim().to_lowercase())
}

/// What Lanyard keeps of a Group: its name, external id and member ids (directory user ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFields {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<String>,
}

/// Validates a Group as sent in POST or PUT (or as left by a PATCH). Members are kept
/// separately from the stored resource, which holds only the other attributes.
pub fn normalize_group(input: &Value) -> Result<(Value, GroupFields), ScimError> {
    let obj = input
        .as_object()
        .ok_or_else(|| ScimError::bad(ScimType::InvalidSyntax, "the body must be a JSON object"))?;
    let mut out = Map::new();
    let mut members = Vec::new();
    for (key, value) in obj {
        if ["id", "meta", "schemas"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            continue;
        }
        if key.eq_ignore_ascii_case("displayName") || key.eq_ignore_ascii_case("externalId") {
            let name = if key.eq_ignore_ascii_case("displayName") {
                "displayName"
            } else {
                "externalId"
            };
            if value.is_null() {
                continue;
            }
            out.insert(name.into(), Value::String(short_string(value, name)?));
        } else if key.eq_ignore_ascii_case("members") {
            match value {
                Value::Null => {}
                Value::Array(list) => {
                    if list.len() > MAX_GROUP_MEMBERS {
                        return Err(invalid(format!(
                            "a group may have at most {MAX_GROUP_MEMBERS} members"
                        )));
                    }
                    let mut seen = std::collections::HashSet::with_capacity(list.len());
                    for m in list {
                        let id = m
                            .get("value")
                            .and_then(Value::as_str)
                            .ok_or_else(|| invalid("each member must be an object with a string 'value' (the User's id)"))?;
                        if seen.insert(id) {
                            members.push(id.to_owned());
                        }
                    }
                }
                _ => {
                    return Err(invalid(
                        "'members' must be an array of {\"value\": \"<user id>\"}",
                    ))
                }
            }
        } else {
            return Err(invalid(format!(
                "unknown attribute '{key}'; a Group has displayName, externalId and members"
            )));
        }
    }
    let display_name = out
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("'displayName' is required"))?
        .to_owned();
    let fields = GroupFields {
        display_name,
        external_id: out
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        members,
    };
    out.insert("schemas".into(), json!([GROUP_SCHEMA]));
    Ok((Value::Object(out), fields))
}

/// `meta` of a rendered resource.
#[derive(Debug, Clone)]
pub struct Meta<'a> {
    pub resource_type: &'a str,
    pub created: String,
    pub last_modified: String,
    pub version: i64,
    pub location: String,
}

/// Adds `id` and `meta` to a stored resource.
pub fn render(stored: &Value, id: &str, meta: &Meta<'_>) -> Value {
    let mut out = stored.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("id".into(), Value::String(id.into()));
        o.insert(
            "meta".into(),
            json!({
                "resourceType": meta.resource_type,
                "created": meta.created,
                "lastModified": meta.last_modified,
                "version": format!("W/\"{}\"", meta.version),
                "location": meta.location,
            }),
        );
    }
    out
}

/// Attributes always returned whatever `attributes`/`excludedAttributes` say (RFC 7643 §7
/// `returned: always`).
const ALWAYS: &[&str] = &["id", "schemas"];

fn split_list(raw: Option<&str>) -> Vec<String> {
    raw.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Strips a core schema prefix (`urn:…:core:2.0:User:userName` → `userName`).
fn strip_core(path: &str) -> &str {
    for urn in [USER_SCHEMA, GROUP_SCHEMA] {
        if path.len() > urn.len()
            && path[..urn.len()].eq_ignore_ascii_case(urn)
            && path.as_bytes()[urn.len()] == b':'
        {
            return &path[urn.len() + 1..];
        }
    }
    path
}

/// Splits a path into (top-level key, sub-attribute), understanding extension URNs.
fn split_path<'a>(path: &'a str, obj: &Map<String, Value>) -> (String, Option<&'a str>) {
    let path = strip_core(path);
    if path.starts_with("urn:") {
        if let Some(ext) = obj
            .keys()
            .filter(|k| k.starts_with("urn:"))
            .find(|k| path.len() >= k.len() && path[..k.len()].eq_ignore_ascii_case(k))
        {
            let rest = &path[ext.len()..];
            return (
                ext.clone(),
                rest.strip_prefix(':').filter(|s| !s.is_empty()),
            );
        }
        return (path.to_owned(), None);
    }
    match path.split_once('.') {
        Some((a, b)) => (a.to_owned(), Some(b)),
        None => (path.to_owned(), None),
    }
}

fn find_key(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) to a rendered resource.
/// `attributes` wins when both are given. Unknown names select nothing.
pub fn project(resource: Value, attributes: Option<&str>, excluded: Option<&str>) -> Value {
    let Value::Object(obj) = resource else {
        return resource;
    };
    let include = split_list(attributes);
    if !include.is_empty() {
        let mut out = Map::new();
        for key in ALWAYS {
            if let Some(v) = obj.get(*key) {
                out.insert((*key).into(), v.clone());
            }
        }
        for path in &include {
            let (top, sub) = split_path(path, &obj);
            let Some(k) = find_key(&obj, &top) else {
                continue;
            };
            match sub {
                None => {
                    out.insert(k.clone(), obj[&k].clone());
                }
                Some(sub) => {
                    let picked = pick_sub(&obj[&k], sub);
                    if let Some(p) = picked {
                        merge_into(out.entry(k.clone()).or_insert(Value::Null), p);
                    }
                }
            }
        }
        return Value::Object(out);
    }
    let exclude = split_list(excluded);
    let mut obj = obj;
    for path in &exclude {
        let (top, sub) = split_path(path, &obj);
        if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&top)) && sub.is_none() {
            continue;
        }
        let Some(k) = find_key(&obj, &top) else {
            continue;
        };
        match sub {
            None => {
                obj.remove(&k);
            }
            Some(sub) => drop_sub(obj.get_mut(&k), sub),
        }
    }
    Value::Object(obj)
}

fn pick_sub(v: &Value, sub: &str) -> Option<Value> {
    match v {
        Value::Object(o) => find_key(o, sub).map(|k| json!({ k.clone(): o[&k].clone() })),
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|i| pick_sub(i, sub)).collect(),
        )),
        _ => None,
    }
}

fn merge_into(slot: &mut Value, add: Value) {
    match (slot, add) {
        (Value::Object(a), Value::Object(b)) => a.extend(b),
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter_mut().zip(b) {
                merge_into(x, y);
            }
        }
        (slot, add) => *slot = add,
    }
}

fn drop_sub(v: Option<&mut Value>, sub: &str) {
    match v {
        Some(Value::Object(o)) => {
            if let Some(k) = find_key(o, sub) {
                o.remove(&k);
            }
        }
        Some(Value::Array(items)) => {
            for i in items {
                drop_sub(Some(i), sub);
            }
        }
        _ => {}
    }
}

/// A ListResponse (RFC 7644 §3.4.2).
pub fn list_response(total: usize, start_index: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Largest `count` honoured on one page.
pub const MAX_PAGE: usize = 500;

/// Parses `startIndex` (1-based; below 1 means 1) and `count` (negative means 0; capped).
pub fn page_params(
    start_index: Option<&str>,
    count: Option<&str>,
) -> Result<(usize, usize), ScimError> {
    let start = match start_index {
        None | Some("") => 1,
        Some(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(format!("'startIndex' must be an integer, got \"{s}\"")))?
            .max(1) as usize,
    };
    let count = match count {
        None | Some("") => 100,
        Some(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(format!("'count' must be an integer, got \"{s}\"")))?
            .clamp(0, MAX_PAGE as i64) as usize,
    };
    Ok((start, count))
}

/// `/ServiceProviderConfig` (RFC 7643 §5).
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/lanyard/lanyard/blob/main/docs/flows/scim.md",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_PAGE },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": false },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The directory's token (lanyard_scim_…) as `Authorization: Bearer …`",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}

/// `/ResourceTypes` entries (RFC 7643 §6).
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "A person in the customer's directory",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": ENTERPRISE_SCHEMA, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "A group in the customer's directory; mapped to roles in Lanyard",
            "schema": GROUP_SCHEMA,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

fn attr(name: &str, ty: &str, multi: bool, required: bool, extra: Value) -> Value {
    let mut a = json!({
        "name": name,
        "type": ty,
        "multiValued": multi,
        "description": name,
        "required": required,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    });
    if let (Some(a), Value::Object(extra)) = (a.as_object_mut(), extra) {
        a.extend(extra);
    }
    a
}

fn sub_strings(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| attr(n, "string", false, false, json!({})))
            .collect(),
    )
}

fn multi(name: &str, subs: &[&str]) -> Value {
    let mut s = sub_strings(subs);
    if let Value::Array(list) = &mut s {
        list.push(attr("primary", "boolean", false, false, json!({})));
    }
    attr(name, "complex", true, false, json!({ "subAttributes": s }))
}

/// `/Schemas` (RFC 7643 §7): User, the enterprise extension and Group, as Lanyard accepts them.
pub fn schemas(base: &str) -> Vec<Value> {
    let user_attrs = user_attrs();
    let enterprise_attrs = enterprise_attrs();
    let group_attrs = group_attrs();
    let schema = |id: &str, name: &str, attrs: Vec<Value>| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id, "name": name, "description": name,
            "attributes": attrs,
            "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
        })
    };
    vec![
        schema(USER_SCHEMA, "User", user_attrs),
        schema(ENTERPRISE_SCHEMA, "EnterpriseUser", enterprise_attrs),
        schema(GROUP_SCHEMA, "Group", group_attrs),
    ]
}

/// The User schema's attributes.
fn user_attrs() -> Vec<Value> {
    vec![
        attr(
            "userName",
            "string",
            false,
            true,
            json!({ "uniqueness": "server" }),
        ),
        attr(
            "name",
            "complex",
            false,
            false,
            json!({ "subAttributes": sub_strings(&["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"]) }),
        ),
        attr("displayName", "string", false, false, json!({})),
        attr("nickName", "string", false, false, json!({})),
        attr(
            "profileUrl",
            "reference",
            false,
            false,
            json!({ "referenceTypes": ["external"] }),
        ),
        attr("title", "string", false, false, json!({})),
        attr("userType", "string", false, false, json!({})),
        attr("preferredLanguage", "string", false, false, json!({})),
        attr("locale", "string", false, false, json!({})),
        attr("timezone", "string", false, false, json!({})),
        attr("active", "boolean", false, false, json!({})),
        attr(
            "password",
            "string",
            false,
            false,
            json!({ "mutability": "writeOnly", "returned": "never" }),
        ),
        multi("emails", &["value", "display", "type"]),
        multi("phoneNumbers", &["value", "display", "type"]),
        multi("ims", &["value", "display", "type"]),
        multi("photos", &["value", "display", "type"]),
        multi(
            "addresses",
            &[
                "formatted",
                "streetAddress",
                "locality",
                "region",
                "postalCode",
                "country",
                "type",
            ],
        ),
        attr(
            "groups",
            "complex",
            true,
            false,
            json!({ "mutability": "readOnly", "subAttributes": [
            attr("value", "string", false, false, json!({ "mutability": "readOnly" })),
            attr("$ref", "reference", false, false, json!({ "mutability": "readOnly", "referenceTypes": ["Group"] })),
            attr("display", "string", false, false, json!({ "mutability": "readOnly" })),
        ] }),
        ),
        multi("entitlements", &["value", "display", "type"]),
        multi("roles", &["value", "display", "type"]),
        multi("x509Certificates", &["value", "display", "type"]),
    ]
}

/// The enterprise User extension's attributes.
fn enterprise_attrs() -> Vec<Value> {
    vec![
        attr("employeeNumber", "string", false, false, json!({})),
        attr("costCenter", "string", false, false, json!({})),
        attr("organization", "string", false, false, json!({})),
        attr("division", "string", false, false, json!({})),
        attr("department", "string", false, false, json!({})),
        attr(
            "manager",
            "complex",
            false,
            false,
            json!({ "subAttributes": [
            attr("value", "string", false, false, json!({})),
            attr("$ref", "reference", false, false, json!({ "referenceTypes": ["User"] })),
            attr("displayName", "string", false, false, json!({ "mutability": "readOnly" })),
        ] }),
        ),
    ]
}

/// The Group schema's attributes.
fn group_attrs() -> Vec<Value> {
    vec![
        attr("displayName", "string", false, true, json!({})),
        attr(
            "members",
            "complex",
            true,
            false,
            json!({ "subAttributes": [
            attr("value", "string", false, false, json!({ "mutability": "immutable" })),
            attr("$ref", "reference", false, false, json!({ "mutability": "immutable", "referenceTypes": ["User"] })),
            attr("display", "string", false, false, json!({ "mutability": "readOnly" })),
            attr("type", "string", false, false, json!({ "mutability": "immutable", "canonicalValues": ["User"] })),
        ] }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_password_is_kept_however_it_is_sent() {
        let body = json!({
            "schemas": [USER_SCHEMA, "urn:okta:custom:1.0:User"],
            "userName": "p@example.com",
            USER_SCHEMA: { "password": "hunter2-core", "displayName": "P" },
            "urn:okta:custom:1.0:User": { "Password": "hunter2-ext", "team": "a", "nested": [{ "password": "x" }] },
        });
        let (stored, f) = normalize_user(&body).unwrap();
        let text = stored.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("\"x\""),
            "{text}"
        );
        assert_eq!(
            f.display_name.as_deref(),
            Some("P"),
            "core attributes under the URN are read"
        );
        assert!(stored.get(USER_SCHEMA).is_none());
        let schemas = stored["schemas"].as_array().unwrap();
        assert_eq!(schemas.len(), 2, "{schemas:?}");
        assert_eq!(stored["urn:okta:custom:1.0:User"]["team"], "a");
        assert!(normalize_user(&json!({ "userName": "q", USER_SCHEMA: "x" })).is_err());
    }

    use super::*;

    #[test]
    fn members_in_request_counts_every_member_value() {
        let m = |n: usize| Value::Array((0..n).map(|i| json!({"value": i.to_string()})).collect());
        let cases = [
            (
                "post or put body",
                json!({"displayName": "G", "members": m(3)}),
                3,
            ),
            ("no members", json!({"displayName": "G"}), 0),
            (
                "patch add by path",
                json!({"Operations": [{"op": "add", "path": "members", "value": m(5)}]}),
                5,
            ),
            (
                "entra remove by path, capitalised",
                json!({"operations": [{"op": "Remove", "Path": "members", "Value": m(2)}]}),
                2,
            ),
            (
                "remove by filter counts one",
                json!({"Operations": [{"op": "remove", "path": "members[value eq \"x\"]"}]}),
                1,
            ),
            (
                "path-less replace",
                json!({"Operations": [{"op": "replace", "value": {"members": m(4), "displayName": "x"}}]}),
                4,
            ),
            (
                "several operations add up",
                json!({"Operations": [{"op": "add", "path": "members", "value": m(2)}, {"op": "add", "path": "members", "value": m(3)}]}),
                5,
            ),
            (
                "other attributes count nothing",
                json!({"Operations": [{"op": "replace", "path": "displayName", "value": "x"}]}),
                0,
            ),
            (
                "the Group schema's URN in front",
                json!({"Operations": [{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members", "value": m(7)}]}),
                7,
            ),
        ];
        for (name, body, want) in cases {
            assert_eq!(members_in_request(&body), want, "{name}");
        }
    }

    #[test]
    fn okta_create_user_drops_password_and_empty_groups() {
        let (stored, f) = normalize_user(&json!({
            "schemas": [USER_SCHEMA], "userName": "Dana@Acme.test",
            "name": {"givenName": "Dana", "familyName": "Lee"},
            "emails": [{"primary": true, "value": "dana@acme.test", "type": "work"}],
            "displayName": "Dana Lee", "locale": "en-US", "externalId": "00u1",
            "groups": [], "password": "hunter2", "active": true
        }))
        .unwrap();
        assert_eq!(f.user_name, "Dana@Acme.test");
        assert_eq!(user_name_key(&f.user_name), "dana@acme.test");
        assert_eq!(f.email.as_deref(), Some("dana@acme.test"));
        assert_eq!(f.external_id.as_deref(), Some("00u1"));
        assert!(stored.get("password").is_none());
        assert!(stored.get("groups").is_none());
        assert!(f.active);
    }

    #[test]
    fn entra_string_booleans_and_enterprise_extension() {
        let (stored, f) = normalize_user(&json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "userName": "lee@acme.test", "active": "False",
            "emails": [{"primary": "True", "type": "work", "value": "Lee@acme.test"}],
            ENTERPRISE_SCHEMA: {"department": "Eng", "manager": "diru_1"}
        }))
        .unwrap();
        assert!(!f.active);
        assert_eq!(stored["emails"][0]["primary"], json!(true));
        assert_eq!(
            stored[ENTERPRISE_SCHEMA]["manager"],
            json!({"value": "diru_1"})
        );
        assert_eq!(f.email.as_deref(), Some("lee@acme.test"));
    }

    #[test]
    fn attribute_names_are_case_insensitive_and_canonicalised() {
        let (stored, f) =
            normalize_user(&json!({"USERNAME": "a@acme.test", "Active": false})).unwrap();
        assert_eq!(stored["userName"], json!("a@acme.test"));
        assert!(!f.active);
    }

    #[test]
    fn refusals_name_the_attribute() {
        for (body, needle) in [
            (
                json!({"name": {"givenName": "x"}}),
                "'userName' is required",
            ),
            (json!({"userName": ""}), "'userName' is required"),
            (json!({"userName": 5}), "'userName' must be a string"),
            (
                json!({"userName": "a", "favouriteColour": "red"}),
                "unknown attribute 'favouriteColour'",
            ),
            (
                json!({"userName": "a", "active": "maybe"}),
                "'active' must be a boolean",
            ),
            (
                json!({"userName": "a", "emails": "a@b.c"}),
                "'emails' must be an array",
            ),
            (
                json!({"userName": "a", "urn:acme:ext": {}}),
                "not listed in 'schemas'",
            ),
            (
                json!({"userName": "a", ENTERPRISE_SCHEMA: {"shoeSize": "9"}}),
                "unknown attribute",
            ),
        ] {
            let e = normalize_user(&body).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some("invalidValue"), "{body}");
            assert!(e.detail.contains(needle), "{} lacks {needle}", e.detail);
        }
        let e = normalize_user(&json!([1])).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
    }

    #[test]
    fn declared_custom_extension_is_kept() {
        let (stored, _) = normalize_user(&json!({
            "schemas": [USER_SCHEMA, "urn:acme:ext"], "userName": "a", "urn:acme:ext": {"badge": "7"}
        }))
        .unwrap();
        assert_eq!(stored["urn:acme:ext"]["badge"], json!("7"));
    }

    #[test]
    fn group_members_inside_post_are_collected_once() {
        let (stored, f) = normalize_group(&json!({
            "schemas": [GROUP_SCHEMA], "displayName": "Engineering",
            "members": [{"value": "u1", "display": "a"}, {"value": "u2"}, {"value": "u1"}]
        }))
        .unwrap();
        assert_eq!(f.members, vec!["u1", "u2"]);
        assert!(stored.get("members").is_none());
        assert!(
            normalize_group(&json!({"displayName": "x", "members": [{"display": "a"}]})).is_err()
        );
        assert!(normalize_group(&json!({"members": []})).is_err());
        assert!(normalize_group(&json!({"displayName": "x", "owner": "y"})).is_err());
    }

    #[test]
    fn projection_keeps_id_and_schemas_and_selects_sub_attributes() {
        let r = json!({"id": "1", "schemas": [USER_SCHEMA], "userName": "a",
            "name": {"givenName": "A", "familyName": "B"}, "emails": [{"value": "a@b.c", "type": "work"}],
            ENTERPRISE_SCHEMA: {"department": "Eng", "costCenter": "1"}});
        let p = project(
            r.clone(),
            Some("userName,name.givenName,emails.value"),
            None,
        );
        assert_eq!(
            p,
            json!({"id": "1", "schemas": [USER_SCHEMA], "userName": "a",
            "name": {"givenName": "A"}, "emails": [{"value": "a@b.c"}]})
        );
        let p = project(
            r.clone(),
            Some(&format!("{ENTERPRISE_SCHEMA}:department")),
            None,
        );
        assert_eq!(p[ENTERPRISE_SCHEMA], json!({"department": "Eng"}));
        let p = project(r.clone(), None, Some("emails,name.familyName,id"));
        assert!(p.get("emails").is_none());
        assert_eq!(p["name"], json!({"givenName": "A"}));
        assert_eq!(p["id"], json!("1"));
        let p = project(
            r,
            Some("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
            None,
        );
        assert_eq!(p["userName"], json!("a"));
    }

    #[test]
    fn paging_parameters() {
        assert_eq!(page_params(None, None).unwrap(), (1, 100));
        assert_eq!(page_params(Some("0"), Some("-3")).unwrap(), (1, 0));
        assert_eq!(
            page_params(Some("5"), Some("100000")).unwrap(),
            (5, MAX_PAGE)
        );
        assert_eq!(
            page_params(Some("x"), None).unwrap_err().scim_type,
            Some("invalidValue")
        );
    }

    #[test]
    fn error_body_shape() {
        let b = ScimError::bad(ScimType::Mutability, "id is read-only").body();
        assert_eq!(
            b,
            json!({"schemas": [ERROR_SCHEMA], "status": "400", "scimType": "mutability", "detail": "id is read-only"})
        );
    }
}
