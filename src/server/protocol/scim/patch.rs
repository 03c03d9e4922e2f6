//! SCIM 2.0 PATCH (RFC 7644 §3.5.2) applied to a resource held as `serde_json::Value`.
//!
//! The engine works on JSON rather than typed structs so that one implementation serves
//! Users, Groups and schema extensions alike; the caller validates and persists the
//! patched JSON afterwards.
//!
//! It follows the RFC where IdPs do, and bends where the two big IdPs are known not to.
//! Sources for the quirks (recalled; re-check when an IdP changes behaviour):
//! - [okta] Okta, "SCIM 2.0 protocol reference"
//!   (developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20).
//! - [entra-dev] Microsoft, "Tutorial: Develop and plan provisioning for a SCIM endpoint
//!   in Microsoft Entra ID" (learn.microsoft.com/entra/identity/app-provisioning/
//!   use-scim-to-provision-users-and-groups), request/response examples section.
//! - [entra-known] Microsoft, "Known issues and resolutions with SCIM 2.0 protocol
//!   compliance of the Microsoft Entra user provisioning service"
//!   (learn.microsoft.com/entra/identity/app-provisioning/
//!   application-provisioning-config-problem-scim-compatibility).

use std::fmt;

use serde_json::{Map, Value};

use super::filter::{self, is_attr_name, is_core_uri, AttrPath, CompareOp, Filter};

/// Message schema URN that must appear in a PATCH body's `schemas` (RFC 7644 §3.5.2).
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Upper bound on `Operations`; IdPs batch at most a few hundred member changes, and an
/// unbounded list would let one request hold the resource lock arbitrarily long.
pub const MAX_OPERATIONS: usize = 1000;

/// Most filter evaluations (filter nodes × elements compared) one PATCH may cost: operations
/// with filters over a large multi-valued attribute (a group's members) are bounded, so that
/// one request cannot hold a resource, and the database's writer, for long.
pub const MAX_WORK: u64 = 5_000_000;

/// Longest one PATCH may compute, whatever its shape: counting units cannot see everything a
/// comparison costs (long strings are lower-cased whole), so the clock bounds it too. Real IdP
/// requests take microseconds.
pub const MAX_PATCH_TIME: std::time::Duration = std::time::Duration::from_millis(250);

thread_local! {
    /// What is left of [`MAX_WORK`] for the `apply` running on this thread (it never awaits),
    /// and when it started.
    static WORK: std::cell::Cell<(u64, Option<std::time::Instant>)> =
        const { std::cell::Cell::new((MAX_WORK, None)) };
}

fn too_much() -> PatchError {
    PatchError {
        scim_type: ScimType::TooMany,
        message: format!(
            "the operations would take more work than one request may (compare more than {MAX_WORK} values or run longer than {} ms); send fewer operations, fewer values or simpler filters per request",
            MAX_PATCH_TIME.as_millis()
        ),
    }
}

/// Takes `units` from the running `apply`'s budget; refuses the request once it is spent or
/// once the apply has run for [`MAX_PATCH_TIME`].
fn charge(units: u64) -> Result<(), PatchError> {
    WORK.with(|w| {
        let (left, started) = w.get();
        if units > left || started.is_some_and(|t| t.elapsed() > MAX_PATCH_TIME) {
            w.set((0, started));
            Err(too_much())
        } else {
            w.set((left - units, started));
            Ok(())
        }
    })
}

/// How deep a path-less value may re-enter the engine (object key → extension object →
/// key); real requests need 2, the bound keeps hostile nesting from recursing freely.
const MAX_VALUE_NESTING: usize = 4;

/// RFC 7643 core attributes that are multi-valued. Needed because an attribute that is
/// still unassigned gives no structural hint, yet `add` must append rather than set.
const MULTI_VALUED: &[&str] = &[
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509Certificates",
    "members",
];

/// One entry of the `Operations` array, kept close to the wire form so it can be
/// logged and replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// What to do.
    pub op: OpKind,
    /// RFC 7644 PATH; `None` for path-less add/replace (whole-resource merge).
    pub path: Option<String>,
    /// Operand; JSON `null` is kept because RFC 7643 §2.5 gives it meaning (unassign).
    pub value: Option<Value>,
}

/// The three PATCH operations of RFC 7644 §3.5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// §3.5.2.1
    Add,
    /// §3.5.2.2
    Remove,
    /// §3.5.2.3
    Replace,
}

impl OpKind {
    /// Lowercase RFC spelling, for error messages and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Remove => "remove",
            OpKind::Replace => "replace",
        }
    }
}

/// Per-resource-type facts the engine cannot infer from the JSON itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    /// Top-level attributes clients must not change (e.g. "id", "meta", "groups");
    /// compared case-insensitively.
    pub read_only: &'static [&'static str],
    /// Boolean attributes whose string spellings ("True"/"false") are coerced; entries
    /// are "attr" or "attr.sub" (e.g. "active", "emails.primary").
    pub booleans: &'static [&'static str],
}

impl Schema {
    /// RFC 7643 §4.1 User: `groups` is readOnly because membership is managed via Groups.
    pub const USER: Schema = Schema {
        read_only: &["id", "meta", "groups"],
        booleans: &[
            "active",
            "emails.primary",
            "phoneNumbers.primary",
            "addresses.primary",
        ],
    };

    /// RFC 7643 §4.2 Group.
    pub const GROUP: Schema = Schema {
        read_only: &["id", "meta"],
        booleans: &[],
    };
}

/// The `scimType` values of RFC 7644 §3.12 that PATCH can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    /// Filter syntax error inside a value-path.
    InvalidFilter,
    /// Path syntax error, or a path that cannot address anything.
    InvalidPath,
    /// Operand missing or of the wrong type.
    InvalidValue,
    /// Value-path filter matched nothing (or remove without path).
    NoTarget,
    /// Attempt to change a read-only attribute.
    Mutability,
    /// Malformed request body.
    InvalidSyntax,
    /// The request would take more work than one request may (RFC 7644 §3.12 `tooMany`,
    /// answered with 413).
    TooMany,
}

impl ScimType {
    /// Wire spelling for the `scimType` member of the SCIM error response.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::InvalidPath => "invalidPath",
            ScimType::InvalidValue => "invalidValue",
            ScimType::NoTarget => "noTarget",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::TooMany => "tooMany",
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PATCH failure, already classified so the handler can emit a 400 with `scimType`
/// and `detail` without further inspection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scim_type}: {message}")]
pub struct PatchError {
    /// RFC 7644 §3.12 error type.
    pub scim_type: ScimType,
    /// Human-readable detail naming the offending operation and path.
    pub message: String,
}

fn err(scim_type: ScimType, message: impl Into<String>) -> PatchError {
    PatchError {
        scim_type,
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------

fn get_ci_map<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Validates the envelope and extracts the operations; separate from [`apply`] so the
/// handler can reject a malformed body before loading the resource.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOp>, PatchError> {
    use ScimType::InvalidSyntax;
    let obj = body
        .as_object()
        .ok_or_else(|| err(InvalidSyntax, "PATCH body must be a JSON object"))?;
    let schemas = get_ci_map(obj, "schemas")
        .and_then(Value::as_array)
        .ok_or_else(|| err(InvalidSyntax, "PATCH body needs a 'schemas' array"))?;
    if !schemas.iter().any(|s| {
        s.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_URN))
    }) {
        return Err(err(
            InvalidSyntax,
            format!("'schemas' must contain \"{PATCH_OP_URN}\""),
        ));
    }
    // Some clients spell it "operations"; member names are case-insensitive anyway.
    let ops = get_ci_map(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| err(InvalidSyntax, "PATCH body needs an 'Operations' array"))?;
    if ops.is_empty() {
        return Err(err(InvalidSyntax, "'Operations' must not be empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(err(
            InvalidSyntax,
            format!(
                "'Operations' has {} entries; at most {MAX_OPERATIONS} are accepted",
                ops.len()
            ),
        ));
    }
    // A path-less add/replace applies each key of its value as a path of its own (Entra sends
    // them that way), so every key counts as an operation.
    let effective: usize = ops
        .iter()
        .map(|raw| match raw.as_object() {
            Some(o) if matches!(get_ci_map(o, "path"), None | Some(Value::Null)) => {
                get_ci_map(o, "value")
                    .and_then(Value::as_object)
                    .map_or(1, |v| {
                        v.values()
                            .map(|x| x.as_object().map_or(1, |o| o.len().max(1)))
                            .sum::<usize>()
                            .max(1)
                    })
            }
            _ => 1,
        })
        .sum();
    if effective > MAX_OPERATIONS {
        return Err(err(
            InvalidSyntax,
            format!(
                "the operations (each key of a path-less value counted as one) add up to {effective}; at most {MAX_OPERATIONS} are accepted per request"
            ),
        ));
    }
    ops.iter()
        .enumerate()
        .map(|(i, raw)| {
            let o = raw
                .as_object()
                .ok_or_else(|| err(InvalidSyntax, format!("Operations[{i}] must be an object")))?;
            let name = get_ci_map(o, "op")
                .and_then(Value::as_str)
                .ok_or_else(|| err(InvalidSyntax, format!("Operations[{i}] needs a string 'op'")))?;
            // Entra sends "Replace"/"Add"/"Remove" [entra-dev]; Okta sends lowercase [okta].
            let op = match name.to_ascii_lowercase().as_str() {
                "add" => OpKind::Add,
                "remove" => OpKind::Remove,
                "replace" => OpKind::Replace,
                _ => {
                    return Err(err(
                        InvalidSyntax,
                        format!("Operations[{i}]: unsupported op \"{name}\" (expected add, remove or replace)"),
                    ))
                }
            };
            let path = match get_ci_map(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(err(
                        ScimType::InvalidPath,
                        format!("Operations[{i}]: 'path' must be a string"),
                    ))
                }
            };
            let value = get_ci_map(o, "value").cloned();
            Ok(PatchOp { op, path, value })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Path resolution
// ---------------------------------------------------------------------------

/// Where an operation lands once its path has been parsed.
enum Target {
    /// A whole schema object, e.g. Entra's `"urn:...:enterprise:2.0:User": {...}` key
    /// [entra-known]; `None` is the core schema, i.e. the resource's top level.
    Schema(Option<String>),
    /// An attribute, optionally narrowed by a value filter and/or a sub-attribute.
    Attr(AttrTarget),
}

struct AttrTarget {
    /// Extension URN the attribute lives under; `None` for core attributes.
    ext: Option<String>,
    attr: String,
    /// `givenName` of `name.givenName`, or `value` of `emails[type eq "work"].value`.
    sub: Option<String>,
    filter: Option<Filter>,
}

impl AttrTarget {
    /// "attr" or "attr.sub", the spelling used by [`Schema::booleans`].
    fn schema_key(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}.{s}", self.attr),
            None => self.attr.clone(),
        }
    }
}

/// Byte index of the `]` closing the `[` at `open`, skipping string literals.
fn find_close(path: &str, open: usize) -> Option<usize> {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in path.char_indices().skip_while(|(i, _)| *i <= open) {
        match (in_str, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_str = false,
            (false, _, '"') => in_str = true,
            (false, _, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

/// True when the path names a schema rather than an attribute in it. Schema URNs end in
/// `:<version>:<Resource>` ("...:2.0:User"), which is how they are told apart from
/// "...:2.0:User:department"; the resource's own keys and `schemas` are consulted too
/// so custom extensions with other URN shapes also work.
fn is_schema_urn(path: &str, resource: &Value) -> bool {
    let Some((head, _)) = path.rsplit_once(':') else {
        return false;
    };
    let version_like = head
        .rsplit(':')
        .next()
        .is_some_and(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit() || c == '.'));
    version_like
        || filter::get_ci(resource, path).is_some_and(Value::is_object)
        || filter::get_ci(resource, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter()
                    .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(path)))
            })
}

fn parse_target(path: &str, resource: &Value) -> Result<Target, PatchError> {
    let bad_path = |why: &str| {
        err(
            ScimType::InvalidPath,
            format!("invalid path \"{path}\": {why}"),
        )
    };
    let (head, filter, tail_sub) = match path.find('[') {
        Some(open) => {
            let close = find_close(path, open).ok_or_else(|| bad_path("unclosed '['"))?;
            let inner = path.get(open + 1..close).unwrap_or_default();
            let f = filter::parse(inner).map_err(|e| {
                err(
                    ScimType::InvalidFilter,
                    format!("invalid filter in path \"{path}\": {e}"),
                )
            })?;
            let rest = path.get(close + 1..).unwrap_or_default();
            let sub = if rest.is_empty() {
                None
            } else {
                match rest.strip_prefix('.') {
                    Some(s) if is_attr_name(s) => Some(s.to_string()),
                    _ => return Err(bad_path("only '.subAttribute' may follow ']'")),
                }
            };
            (path.get(..open).unwrap_or_default(), Some(f), sub)
        }
        None => (path, None, None),
    };

    if filter.is_none() && is_schema_urn(head, resource) {
        let uri = if is_core_uri(head) {
            None
        } else {
            Some(head.to_string())
        };
        return Ok(Target::Schema(uri));
    }

    let ap = AttrPath::parse(head).ok_or_else(|| bad_path("not an attribute path"))?;
    let sub = match (&filter, ap.sub) {
        (Some(_), Some(_)) => {
            return Err(bad_path(
                "a value filter must follow the attribute, not a sub-attribute",
            ))
        }
        (Some(_), None) => tail_sub,
        (None, s) => s,
    };
    let ext = ap.uri.filter(|u| !is_core_uri(u));
    Ok(Target::Attr(AttrTarget {
        ext,
        attr: ap.attr,
        sub,
        filter,
    }))
}

// ---------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------

/// Existing key spelling for `name`, so `Active` updates the stored `active`.
fn find_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_string());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn key_for(map: &Map<String, Value>, name: &str) -> String {
    find_key(map, name).unwrap_or_else(|| name.to_string())
}

/// Sets a member, treating `null` as "unassign" (RFC 7643 §2.5).
fn set_ci(map: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_for(map, name);
    if value.is_null() {
        map.remove(&key);
    } else {
        map.insert(key, value);
    }
}

fn remove_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    find_key(map, name).and_then(|k| map.remove(&k))
}

/// Shallow merge: RFC 7644 §3.5.2.3 says sub-attributes not named in the value are left
/// unchanged when replacing a complex attribute.
fn merge_into(dst: &mut Map<String, Value>, src: &Map<String, Value>) {
    for (k, v) in src {
        set_ci(dst, k, v.clone());
    }
}

/// Drops `null` members of complex elements; Entra sends `"$ref": null` on members
/// [entra-dev] and storing it would only add noise.
fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
    }
}

/// Two elements of a multi-valued attribute are "the same" when their `value` sub-attributes
/// agree (member ids, email addresses), else when they are identical; this is the key under
/// which they coincide, so that lists of thousands merge and filter in linear time.
fn element_key(v: &Value) -> String {
    match filter::get_ci(v, "value") {
        Some(x) if v.is_object() => format!("v:{x}"),
        _ => format!("j:{v}"),
    }
}

fn append_unique(list: &mut Vec<Value>, items: Vec<Value>) -> Result<(), PatchError> {
    charge((list.len() + items.len()) as u64)?;
    let mut seen: std::collections::HashSet<String> = list.iter().map(element_key).collect();
    for mut item in items {
        strip_nulls(&mut item);
        if seen.insert(element_key(&item)) {
            list.push(item);
        }
    }
    Ok(())
}

fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        // Entra sends "True"/"False" strings for booleans [entra-known].
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn contains_ci(list: &[&str], name: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(name))
}

/// Applies [`Schema::booleans`] to the operand, including booleans nested one level in
/// complex values (`{"primary": "True"}`) and in arrays of them.
fn coerce_booleans(t: &AttrTarget, value: &Value, schema: &Schema) -> Result<Value, PatchError> {
    if t.ext.is_some() {
        return Ok(value.clone());
    }
    let key = t.schema_key();
    if contains_ci(schema.booleans, &key) {
        return to_bool(value).map(Value::Bool).ok_or_else(|| {
            err(
                ScimType::InvalidValue,
                format!("'{key}' must be a boolean (true/false), got {value}"),
            )
        });
    }
    let fix_obj = |m: &mut Map<String, Value>| -> Result<(), PatchError> {
        for (k, v) in m.iter_mut() {
            let full = format!("{key}.{k}");
            if contains_ci(schema.booleans, &full) {
                *v = to_bool(v).map(Value::Bool).ok_or_else(|| {
                    err(
                        ScimType::InvalidValue,
                        format!("'{full}' must be a boolean (true/false), got {v}"),
                    )
                })?;
            }
        }
        Ok(())
    };
    let mut out = value.clone();
    match &mut out {
        Value::Object(m) => fix_obj(m)?,
        Value::Array(items) => {
            for item in items.iter_mut() {
                if let Value::Object(m) = item {
                    fix_obj(m)?;
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Builds the element an unmatched `emails[type eq "work"].value` creates: Entra relies
/// on replace/add creating it for users that have no work email yet [entra-dev]. Only
/// conjunctions of `eq` are invertible; anything else yields `None`.
fn seed_from_filter(f: &Filter, seed: &mut Map<String, Value>) -> bool {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.uri.is_none() && path.sub.is_none() && !value.is_null() => {
            set_ci(seed, &path.attr, value.clone());
            true
        }
        Filter::And(a, b) => seed_from_filter(a, seed) && seed_from_filter(b, seed),
        _ => false,
    }
}

/// The object holding the target attribute: the resource itself, or the extension
/// object under its URN key (created on demand for add/replace).
fn container<'a>(
    resource: &'a mut Value,
    ext: Option<&str>,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, PatchError> {
    let root = resource
        .as_object_mut()
        .ok_or_else(|| err(ScimType::InvalidValue, "resource is not a JSON object"))?;
    let Some(uri) = ext else {
        return Ok(Some(root));
    };
    let key = match find_key(root, uri) {
        Some(k) => k,
        None if create => {
            add_schema_urn(root, uri);
            uri.to_string()
        }
        None => return Ok(None),
    };
    let slot = root.entry(key).or_insert(Value::Null);
    if slot.is_null() {
        if !create {
            return Ok(None);
        }
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => Ok(Some(m)),
        _ => Err(err(
            ScimType::InvalidValue,
            format!("extension \"{uri}\" in the resource is not an object"),
        )),
    }
}

/// RFC 7643 §3: `schemas` lists every extension present, so keep it in step.
fn add_schema_urn(root: &mut Map<String, Value>, uri: &str) {
    if let Some(Value::Array(list)) = find_key(root, "schemas").and_then(|k| root.get_mut(&k)) {
        if !list
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(uri)))
        {
            list.push(Value::String(uri.to_string()));
        }
    }
}

fn remove_schema_urn(root: &mut Map<String, Value>, uri: &str) {
    if let Some(Value::Array(list)) = find_key(root, "schemas").and_then(|k| root.get_mut(&k)) {
        list.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(uri)));
    }
}

// ---------------------------------------------------------------------------
// Application
// ---------------------------------------------------------------------------

/// Applies `ops` in order. All-or-nothing: the operations run on a copy that replaces
/// `resource` only if every one succeeds, as RFC 7644 §3.5.2 requires ("if any
/// operation fails, the entire request fails and the resource is not modified").
pub fn apply(resource: &mut Value, ops: &[PatchOp], schema: &Schema) -> Result<(), PatchError> {
    if !resource.is_object() {
        return Err(err(ScimType::InvalidValue, "resource is not a JSON object"));
    }
    WORK.with(|w| w.set((MAX_WORK, Some(std::time::Instant::now()))));
    let mut work = resource.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_op(
            &mut work,
            op.op,
            op.path.as_deref(),
            op.value.as_ref(),
            schema,
            0,
        )
        .map_err(|e| err(e.scim_type, format!("Operations[{i}]: {}", e.message)))?;
    }
    *resource = work;
    Ok(())
}

fn apply_op(
    res: &mut Value,
    kind: OpKind,
    path: Option<&str>,
    value: Option<&Value>,
    schema: &Schema,
    depth: usize,
) -> Result<(), PatchError> {
    if depth > MAX_VALUE_NESTING {
        return Err(err(
            ScimType::InvalidValue,
            "value nests attribute paths too deeply",
        ));
    }
    charge(1)?;
    // An empty path is treated like an absent one; some clients send "path": "".
    let path = path.map(str::trim).filter(|p| !p.is_empty());
    let Some(path) = path else {
        return match kind {
            // RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails with HTTP
            // status code 400 and a "scimType" error code of "noTarget"." We follow the RFC
            // (noTarget), not invalidPath.
            OpKind::Remove => Err(err(ScimType::NoTarget, "remove requires a 'path'")),
            OpKind::Add | OpKind::Replace => {
                let value =
                    value.ok_or_else(|| err(ScimType::InvalidValue, "'value' is required"))?;
                // Okta deactivates with {"op":"replace","value":{"active":false}} [okta];
                // Entra puts paths ("name.givenName", "urn:...:User:department",
                // `emails[type eq "work"].value`) in the keys [entra-known]. So each key
                // is treated as a path of its own.
                let obj = value.as_object().ok_or_else(|| {
                    err(
                        ScimType::InvalidValue,
                        "an add/replace without 'path' needs an object 'value'",
                    )
                })?;
                for (k, v) in obj {
                    apply_op(res, kind, Some(k), Some(v), schema, depth + 1)?;
                }
                Ok(())
            }
        };
    };

    match parse_target(path, res)? {
        Target::Schema(uri) => apply_schema(res, kind, uri.as_deref(), path, value, schema, depth),
        Target::Attr(t) => apply_attr(res, kind, &t, path, value, schema),
    }
}

/// Whole-extension operations; Entra sends the enterprise extension as one object key
/// [entra-known].
fn apply_schema(
    res: &mut Value,
    kind: OpKind,
    uri: Option<&str>,
    path: &str,
    value: Option<&Value>,
    schema: &Schema,
    depth: usize,
) -> Result<(), PatchError> {
    if kind == OpKind::Remove {
        let Some(uri) = uri else {
            return Err(err(
                ScimType::InvalidPath,
                format!("cannot remove the core schema \"{path}\""),
            ));
        };
        if let Some(root) = res.as_object_mut() {
            remove_ci(root, uri);
            remove_schema_urn(root, uri);
        }
        return Ok(());
    }
    let value = value.ok_or_else(|| err(ScimType::InvalidValue, "'value' is required"))?;
    let obj = value.as_object().ok_or_else(|| {
        err(
            ScimType::InvalidValue,
            format!("value for schema \"{path}\" must be an object"),
        )
    })?;
    for (k, v) in obj {
        let sub_path = match uri {
            Some(u) => format!("{u}:{k}"),
            None => k.clone(),
        };
        apply_op(res, kind, Some(&sub_path), Some(v), schema, depth + 1)?;
    }
    Ok(())
}

fn apply_attr(
    res: &mut Value,
    kind: OpKind,
    t: &AttrTarget,
    path: &str,
    value: Option<&Value>,
    schema: &Schema,
) -> Result<(), PatchError> {
    let known_multi = t.ext.is_none() && contains_ci(MULTI_VALUED, &t.attr);

    if t.ext.is_none() && contains_ci(schema.read_only, &t.attr) {
        // Okta's group rename echoes the unchanged "id" in a path-less replace [okta];
        // writing back the same value is harmless, anything else is refused.
        let unchanged = kind != OpKind::Remove
            && t.sub.is_none()
            && t.filter.is_none()
            && value.is_some()
            && filter::get_ci(res, &t.attr) == value;
        if unchanged {
            return Ok(());
        }
        return Err(err(
            ScimType::Mutability,
            format!("attribute \"{}\" is read-only", t.attr),
        ));
    }

    if kind == OpKind::Remove {
        return remove_attr(res, t, path, value, known_multi);
    }

    let value = value.ok_or_else(|| {
        err(
            ScimType::InvalidValue,
            format!("'value' is required to {} \"{path}\"", kind.as_str()),
        )
    })?;
    let value = coerce_booleans(t, value, schema)?;
    let Some(map) = container(res, t.ext.as_deref(), true)? else {
        return Err(err(
            ScimType::NoTarget,
            format!("\"{path}\" has no container"),
        ));
    };
    let key = key_for(map, &t.attr);

    match (&t.filter, &t.sub) {
        (None, None) => set_whole(map, key, t, kind, value, known_multi),
        (None, Some(sub)) => set_sub(map, key, t, sub, value, known_multi),
        (Some(f), sub) => set_filtered(map, key, t, f, sub, path, value),
    }
}

/// Add or replace of a whole attribute: multi-valued ones append (add) or swap (replace) their
/// list, objects merge, anything else is set.
fn set_whole(
    map: &mut Map<String, Value>,
    key: String,
    t: &AttrTarget,
    kind: OpKind,
    value: Value,
    known_multi: bool,
) -> Result<(), PatchError> {
    let existing = map.get_mut(&key);
    let is_multi = known_multi || matches!(existing, Some(Value::Array(_)));
    if value.is_null() {
        map.remove(&key);
        return Ok(());
    }
    if is_multi {
        let Value::Array(items) = value else {
            return Err(err(
                ScimType::InvalidValue,
                format!("\"{}\" is multi-valued; 'value' must be an array", t.attr),
            ));
        };
        match (kind, existing) {
            // RFC 7644 §3.5.2.1: add to a multi-valued attribute appends.
            (OpKind::Add, Some(Value::Array(list))) => append_unique(list, items)?,
            // Replace swaps the whole list (§3.5.2.3), as Okta's member sync
            // expects [okta].
            _ => {
                let mut list = Vec::new();
                append_unique(&mut list, items)?;
                map.insert(key, Value::Array(list));
            }
        }
        return Ok(());
    }
    match (existing, value) {
        (Some(Value::Object(dst)), Value::Object(src)) => merge_into(dst, &src),
        (_, v) => {
            map.insert(key, v);
        }
    }
    Ok(())
}

/// Add or replace of one sub-attribute (`name.givenName`), on every element of a multi-valued
/// attribute.
fn set_sub(
    map: &mut Map<String, Value>,
    key: String,
    t: &AttrTarget,
    sub: &str,
    value: Value,
    known_multi: bool,
) -> Result<(), PatchError> {
    let slot = map.entry(key).or_insert(Value::Null);
    match slot {
        Value::Null if known_multi => {
            let mut elem = Map::new();
            set_ci(&mut elem, sub, value);
            *slot = Value::Array(vec![Value::Object(elem)]);
        }
        Value::Null => {
            let mut elem = Map::new();
            set_ci(&mut elem, sub, value);
            *slot = Value::Object(elem);
        }
        Value::Object(m) => set_ci(m, sub, value),
        // No filter on a multi-valued attribute addresses every element, by
        // analogy with §3.5.2.3 "all values are replaced".
        Value::Array(items) => {
            if items.is_empty() {
                let mut elem = Map::new();
                set_ci(&mut elem, sub, value.clone());
                items.push(Value::Object(elem));
            }
            for item in items.iter_mut() {
                if let Value::Object(m) = item {
                    set_ci(m, sub, value.clone());
                }
            }
        }
        _ => {
            return Err(err(
                ScimType::InvalidPath,
                format!("\"{}\" has no sub-attributes", t.attr),
            ))
        }
    }
    Ok(())
}

/// Add or replace on the elements a filter selects (`emails[type eq "work"].value`); when none
/// matches, a new element is seeded from the filter.
fn set_filtered(
    map: &mut Map<String, Value>,
    key: String,
    t: &AttrTarget,
    f: &Filter,
    sub: &Option<String>,
    path: &str,
    value: Value,
) -> Result<(), PatchError> {
    if sub.is_none() && !value.is_object() {
        return Err(err(
            ScimType::InvalidValue,
            format!("value for \"{path}\" must be an object"),
        ));
    }
    let slot = map.entry(key).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    let Value::Array(items) = slot else {
        return Err(err(
            ScimType::InvalidPath,
            format!(
                "\"{}\" is not multi-valued; it cannot take a filter",
                t.attr
            ),
        ));
    };
    charge(items.len() as u64 * filter::size(f))?;
    let mut matched = false;
    for item in items.iter_mut() {
        charge(0)?;
        if !filter::matches(f, item) {
            continue;
        }
        matched = true;
        update_element(item, sub.as_deref(), &value);
    }
    if !matched {
        let mut seed = Map::new();
        if !seed_from_filter(f, &mut seed) {
            return Err(err(
                ScimType::NoTarget,
                format!("no value matches \"{path}\" and its filter cannot describe a new one"),
            ));
        }
        let mut elem = Value::Object(seed);
        update_element(&mut elem, sub.as_deref(), &value);
        items.push(elem);
    }
    Ok(())
}

/// Writes the operand into one selected element: a single sub-attribute, or a merge of
/// the given sub-attributes (the rest of the element, e.g. its `type`, is kept).
fn update_element(item: &mut Value, sub: Option<&str>, value: &Value) {
    let Value::Object(m) = item else {
        return;
    };
    match (sub, value) {
        (Some(s), v) => set_ci(m, s, v.clone()),
        (None, Value::Object(src)) => merge_into(m, src),
        (None, _) => {}
    }
}

fn remove_attr(
    res: &mut Value,
    t: &AttrTarget,
    path: &str,
    value: Option<&Value>,
    known_multi: bool,
) -> Result<(), PatchError> {
    let no_target = || err(ScimType::NoTarget, format!("no value matches \"{path}\""));
    let Some(map) = container(res, t.ext.as_deref(), false)? else {
        // Unassigned extension: a filter has nothing to match, a plain remove is a no-op.
        return if t.filter.is_some() {
            Err(no_target())
        } else {
            Ok(())
        };
    };
    let Some(key) = find_key(map, &t.attr) else {
        return if t.filter.is_some() {
            Err(no_target())
        } else {
            Ok(())
        };
    };

    match (&t.filter, &t.sub) {
        (None, None) => remove_whole(map, key, t, value, known_multi),
        (None, Some(sub)) => remove_sub(map, key, t, sub),
        (Some(f), sub) => remove_filtered(map, key, f, sub, no_target),
    }
}

/// Remove of a whole attribute, or of the listed elements of a multi-valued one.
fn remove_whole(
    map: &mut Map<String, Value>,
    key: String,
    t: &AttrTarget,
    value: Option<&Value>,
    known_multi: bool,
) -> Result<(), PatchError> {
    let value = value.filter(|v| !v.is_null());
    let is_multi = known_multi || matches!(map.get(&key), Some(Value::Array(_)));
    match value {
        // Entra removes members as {"op":"Remove","path":"members","value":
        // [{"value":"id"}]} [entra-dev]; only the listed elements go. Unknown
        // ones are ignored so that IdP retries stay idempotent.
        Some(v) if is_multi => {
            let wanted: Vec<&Value> = match v {
                Value::Array(items) => items.iter().collect(),
                Value::Object(_) => vec![v],
                _ => {
                    return Err(err(
                        ScimType::InvalidValue,
                        format!("value to remove from \"{}\" must be an array", t.attr),
                    ))
                }
            };
            if let Some(Value::Array(list)) = map.get_mut(&key) {
                charge((list.len() + wanted.len()) as u64)?;
                let wanted: std::collections::HashSet<String> =
                    wanted.into_iter().map(element_key).collect();
                list.retain(|e| !wanted.contains(&element_key(e)));
                if list.is_empty() {
                    map.remove(&key);
                }
            }
        }
        // RFC 7644 §3.5.2.2: without a filter the attribute and all its values go.
        _ => {
            map.remove(&key);
        }
    }
    Ok(())
}

/// Remove of one sub-attribute, from every element of a multi-valued attribute.
fn remove_sub(
    map: &mut Map<String, Value>,
    key: String,
    t: &AttrTarget,
    sub: &str,
) -> Result<(), PatchError> {
    match map.get_mut(&key) {
        Some(Value::Object(m)) => {
            remove_ci(m, sub);
            if m.is_empty() {
                map.remove(&key);
            }
        }
        Some(Value::Array(items)) => {
            for item in items.iter_mut() {
                if let Value::Object(m) = item {
                    remove_ci(m, sub);
                }
            }
        }
        Some(Value::Null) | None => {}
        Some(_) => {
            return Err(err(
                ScimType::InvalidPath,
                format!("\"{}\" has no sub-attributes", t.attr),
            ))
        }
    }
    Ok(())
}

/// Remove of the elements a filter selects, or of a sub-attribute of each.
fn remove_filtered(
    map: &mut Map<String, Value>,
    key: String,
    f: &Filter,
    sub: &Option<String>,
    no_target: impl Fn() -> PatchError,
) -> Result<(), PatchError> {
    let Some(Value::Array(items)) = map.get_mut(&key) else {
        return Err(no_target());
    };
    // Okta removes a member as path `members[value eq "id"]` [okta].
    charge(2 * items.len() as u64 * filter::size(f))?;
    let mut late = false;
    let found = items.iter().any(|e| {
        late |= charge(0).is_err();
        !late && filter::matches(f, e)
    });
    if late {
        return Err(too_much());
    }
    if !found {
        return Err(no_target());
    }
    match sub {
        None => items.retain(|e| !filter::matches(f, e)),
        Some(s) => {
            for item in items.iter_mut() {
                if filter::matches(f, item) {
                    if let Value::Object(m) = item {
                        remove_ci(m, s);
                    }
                }
            }
        }
    }
    if items.is_empty() {
        // §3.5.2.2: no values left means the attribute is unassigned.
        map.remove(&key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    const TEST_SCHEMA: Schema = Schema {
        read_only: &["id", "meta", "groups"],
        booleans: &["active", "emails.primary"],
    };

    enum Expect {
        /// The resource after the request.
        Ok(Value),
        /// The error type; the resource must then be unchanged.
        Err(ScimType),
    }

    struct Case {
        name: &'static str,
        resource: Value,
        /// The `Operations` array; wrapped in a valid envelope by the runner.
        ops: Value,
        expect: Expect,
    }

    fn run(case: Case) {
        let body = json!({"schemas": [PATCH_OP_URN], "Operations": case.ops});
        let mut resource = case.resource.clone();
        let result = parse_request(&body).and_then(|ops| apply(&mut resource, &ops, &TEST_SCHEMA));
        match (result, case.expect) {
            (Ok(()), Expect::Ok(want)) => assert_eq!(resource, want, "case {}", case.name),
            (Err(e), Expect::Err(want)) => {
                assert_eq!(e.scim_type, want, "case {}: {}", case.name, e.message);
                assert_eq!(
                    resource, case.resource,
                    "case {}: resource changed on error",
                    case.name
                );
            }
            (Ok(()), Expect::Err(want)) => {
                panic!("case {}: expected {want:?}, got Ok({resource})", case.name)
            }
            (Err(e), Expect::Ok(_)) => panic!("case {}: unexpected error {e}", case.name),
        }
    }

    macro_rules! cases {
        ($($name:ident: $resource:expr, $ops:expr => $expect:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    run(Case { name: stringify!($name), resource: $resource, ops: $ops, expect: $expect });
                }
            )*
        };
    }

    fn user() -> Value {
        json!({
            "schemas": [CORE_USER],
            "id": "u1",
            "userName": "bjensen@example.com",
            "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@home.example", "type": "home"}
            ],
            "meta": {"resourceType": "User"}
        })
    }

    fn user_with(patch: Value) -> Value {
        let mut u = user();
        if let (Value::Object(dst), Value::Object(src)) = (&mut u, patch) {
            for (k, v) in src {
                if v.is_null() {
                    dst.remove(&k);
                } else {
                    dst.insert(k, v);
                }
            }
        }
        u
    }

    fn group() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g1",
            "displayName": "Admins",
            "members": [{"value": "abc", "display": "A"}, {"value": "def"}]
        })
    }

    fn group_members(members: Value) -> Value {
        let mut g = group();
        if let Value::Object(m) = &mut g {
            if members.is_null() {
                m.remove("members");
            } else {
                m.insert("members".into(), members);
            }
        }
        g
    }

    fn work_email(value: &str) -> Value {
        json!([
            {"value": value, "type": "work", "primary": true},
            {"value": "babs@home.example", "type": "home"}
        ])
    }

    cases! {
        // --- Okta [okta] ---
        okta_pathless_replace_active_false: user(),
            json!([{"op": "replace", "value": {"active": false}}])
            => Expect::Ok(user_with(json!({"active": false})));
        okta_group_rename_pathless_echoes_id: group(),
            json!([{"op": "replace", "value": {"id": "g1", "displayName": "Ops"}}])
            => Expect::Ok({let mut g = group(); g["displayName"] = json!("Ops"); g});
        okta_add_members: group(),
            json!([{"op": "add", "path": "members", "value": [{"value": "ghi", "display": "G"}]}])
            => Expect::Ok(group_members(json!([{"value": "abc", "display": "A"}, {"value": "def"}, {"value": "ghi", "display": "G"}])));
        okta_remove_member_by_value_filter: group(),
            json!([{"op": "remove", "path": "members[value eq \"abc\"]"}])
            => Expect::Ok(group_members(json!([{"value": "def"}])));
        okta_replace_members_whole_list: group(),
            json!([{"op": "replace", "path": "members", "value": [{"value": "xyz"}]}])
            => Expect::Ok(group_members(json!([{"value": "xyz"}])));
        okta_pathless_replace_several_attrs: user(),
            json!([{"op": "replace", "value": {"userName": "b@x.example", "name": {"givenName": "Babs"}}}])
            => Expect::Ok(user_with(json!({"userName": "b@x.example", "name": {"givenName": "Babs", "familyName": "Jensen"}})));

        // --- Entra [entra-dev] / [entra-known] ---
        replace_op_name_in_any_case: user(),
            json!([
                {"op": "Replace", "path": "displayName", "value": "B"},
                {"op": "ADD", "path": "title", "value": "Boss"},
                {"op": "remove", "path": "title"},
                {"op": "rEpLaCe", "path": "nickName", "value": "Babs"}
            ])
            => Expect::Ok(user_with(json!({"displayName": "B", "nickName": "Babs"})));
        entra_string_false: user(),
            json!([{"op": "Replace", "path": "active", "value": "False"}])
            => Expect::Ok(user_with(json!({"active": false})));
        entra_string_true_pathless: user_with(json!({"active": false})),
            json!([{"op": "Replace", "value": {"active": "true"}}])
            => Expect::Ok(user());
        entra_string_boolean_garbage_rejected: user(),
            json!([{"op": "Replace", "path": "active", "value": "nope"}])
            => Expect::Err(ScimType::InvalidValue);
        boolean_number_rejected: user(),
            json!([{"op": "replace", "path": "active", "value": 0}])
            => Expect::Err(ScimType::InvalidValue);
        string_boolean_sub_attribute_coerced: user_with(json!({"emails": null})),
            json!([{"op": "add", "path": "emails", "value": [{"value": "a@b.example", "primary": "True"}]}])
            => Expect::Ok(user_with(json!({"emails": [{"value": "a@b.example", "primary": true}]})));
        entra_replace_work_email_value: user(),
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}])
            => Expect::Ok(user_with(json!({"emails": work_email("new@example.com")})));
        email_work_value_path_creates_element: user_with(json!({"emails": null})),
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}])
            => Expect::Ok(user_with(json!({"emails": [{"type": "work", "value": "new@example.com"}]})));
        entra_add_work_email_value_creates_element: user_with(json!({"emails": [{"value": "h@x", "type": "home"}]})),
            json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@x"}])
            => Expect::Ok(user_with(json!({"emails": [{"value": "h@x", "type": "home"}, {"type": "work", "value": "w@x"}]})));
        entra_name_family_name_path: user(),
            json!([{"op": "Replace", "path": "name.familyName", "value": "Smith"}])
            => Expect::Ok(user_with(json!({"name": {"givenName": "Barbara", "familyName": "Smith"}})));
        entra_pathless_keys_are_paths: user_with(json!({"name": null, "emails": null})),
            json!([{"op": "Add", "value": {"name.givenName": "Babs", "emails[type eq \"work\"].value": "w@x"}}])
            => Expect::Ok(user_with(json!({"name": {"givenName": "Babs"}, "emails": [{"type": "work", "value": "w@x"}]})));
        entra_enterprise_urn_path: user(),
            json!([{"op": "Add", "path": format!("{ENT}:department"), "value": "Sales"}])
            => Expect::Ok(user_with(json!({"schemas": [CORE_USER, ENT], ENT: {"department": "Sales"}})));
        entra_enterprise_urn_nested_object_key: user(),
            json!([{"op": "Replace", "value": {ENT: {"department": "Sales", "employeeNumber": "42"}}}])
            => Expect::Ok(user_with(json!({"schemas": [CORE_USER, ENT], ENT: {"department": "Sales", "employeeNumber": "42"}})));
        entra_enterprise_urn_full_path_as_pathless_key: user_with(json!({"schemas": [CORE_USER, ENT], ENT: {"department": "Sales"}})),
            json!([{"op": "Replace", "value": {format!("{ENT}:employeeNumber"): "42"}}])
            => Expect::Ok(user_with(json!({"schemas": [CORE_USER, ENT], ENT: {"department": "Sales", "employeeNumber": "42"}})));
        entra_enterprise_manager_remove: user_with(json!({"schemas": [CORE_USER, ENT], ENT: {"department": "S", "manager": {"value": "m1"}}})),
            json!([{"op": "Remove", "path": format!("{ENT}:manager")}])
            => Expect::Ok(user_with(json!({"schemas": [CORE_USER, ENT], ENT: {"department": "S"}})));
        entra_add_members_ref_null_stripped: group(),
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "ghi"}]}])
            => Expect::Ok(group_members(json!([{"value": "abc", "display": "A"}, {"value": "def"}, {"value": "ghi"}])));
        entra_remove_members_by_value_array: group(),
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "abc"}]}])
            => Expect::Ok(group_members(json!([{"value": "def"}])));
        entra_remove_absent_member_by_value_array_is_noop: group(),
            json!([{"op": "Remove", "path": "members", "value": [{"value": "zzz"}]}])
            => Expect::Ok(group());
        entra_remove_last_member_unassigns: group_members(json!([{"value": "abc"}])),
            json!([{"op": "Remove", "path": "members", "value": [{"value": "abc"}]}])
            => Expect::Ok(group_members(Value::Null));

        // --- Multi-valued semantics ---
        add_members_skips_duplicates: group(),
            json!([{"op": "add", "path": "members", "value": [{"value": "abc"}, {"value": "new"}, {"value": "new"}]}])
            => Expect::Ok(group_members(json!([{"value": "abc", "display": "A"}, {"value": "def"}, {"value": "new"}])));
        add_members_to_unassigned_list: group_members(Value::Null),
            json!([{"op": "add", "path": "members", "value": [{"value": "abc"}]}])
            => Expect::Ok(group_members(json!([{"value": "abc"}])));
        add_members_not_array_rejected: group(),
            json!([{"op": "add", "path": "members", "value": {"value": "x"}}])
            => Expect::Err(ScimType::InvalidValue);
        replace_members_not_array_rejected: group(),
            json!([{"op": "replace", "path": "members", "value": "abc"}])
            => Expect::Err(ScimType::InvalidValue);
        remove_all_members_without_value: group(),
            json!([{"op": "remove", "path": "members"}])
            => Expect::Ok(group_members(Value::Null));
        remove_member_filter_no_match_is_no_target: group(),
            json!([{"op": "remove", "path": "members[value eq \"zzz\"]"}])
            => Expect::Err(ScimType::NoTarget);
        remove_filter_on_unassigned_is_no_target: group_members(Value::Null),
            json!([{"op": "remove", "path": "members[value eq \"abc\"]"}])
            => Expect::Err(ScimType::NoTarget);
        remove_email_element_by_filter: user(),
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}])
            => Expect::Ok(user_with(json!({"emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}]})));
        remove_sub_attribute_of_filtered_element: user(),
            json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}])
            => Expect::Ok(user_with(json!({"emails": [{"value": "bjensen@example.com", "type": "work"}, {"value": "babs@home.example", "type": "home"}]})));
        replace_filtered_element_merges: user(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": "n@x"}}])
            => Expect::Ok(user_with(json!({"emails": work_email("n@x")})));
        replace_filter_not_invertible_is_no_target: user(),
            json!([{"op": "replace", "path": "emails[value co \"nomatch\"].type", "value": "other"}])
            => Expect::Err(ScimType::NoTarget);
        replace_filtered_element_non_object_rejected: user(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": "x@y"}])
            => Expect::Err(ScimType::InvalidValue);

        // --- Single-valued / complex ---
        path_case_insensitive_keeps_key_spelling: user(),
            json!([{"op": "replace", "path": "Active", "value": false}, {"op": "replace", "path": "NAME.GIVENNAME", "value": "B"}])
            => Expect::Ok(user_with(json!({"active": false, "name": {"givenName": "B", "familyName": "Jensen"}})));
        add_single_valued_replaces: user(),
            json!([{"op": "add", "path": "userName", "value": "other@example.com"}])
            => Expect::Ok(user_with(json!({"userName": "other@example.com"})));
        replace_complex_merges_sub_attributes: user(),
            json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}])
            => Expect::Ok(user_with(json!({"name": {"givenName": "Babs", "familyName": "Jensen"}})));
        replace_with_null_unassigns: user_with(json!({"nickName": "Babs"})),
            json!([{"op": "replace", "path": "nickName", "value": null}])
            => Expect::Ok(user());
        remove_missing_attribute_is_noop: user(),
            json!([{"op": "remove", "path": "nickName"}])
            => Expect::Ok(user());
        remove_last_sub_attribute_unassigns_complex: user_with(json!({"name": {"givenName": "B"}})),
            json!([{"op": "remove", "path": "name.givenName"}])
            => Expect::Ok(user_with(json!({"name": null})));
        sub_attribute_of_scalar_rejected: user(),
            json!([{"op": "replace", "path": "userName.foo", "value": "x"}])
            => Expect::Err(ScimType::InvalidPath);
        remove_enterprise_extension_object: user_with(json!({"schemas": [CORE_USER, ENT], ENT: {"department": "S"}})),
            json!([{"op": "remove", "path": ENT}])
            => Expect::Ok(user());
        core_schema_urn_prefixed_path: user(),
            json!([{"op": "replace", "path": format!("{CORE_USER}:displayName"), "value": "B"}])
            => Expect::Ok(user_with(json!({"displayName": "B"})));
        schemas_replace_allowed: user(),
            json!([{"op": "replace", "path": "schemas", "value": [CORE_USER, ENT]}])
            => Expect::Ok(user_with(json!({"schemas": [CORE_USER, ENT]})));

        // --- Errors ---
        replace_id_rejected: user(),
            json!([{"op": "replace", "path": "id", "value": "other"}])
            => Expect::Err(ScimType::Mutability);
        pathless_replace_changing_id_rejected: group(),
            json!([{"op": "replace", "value": {"id": "other", "displayName": "X"}}])
            => Expect::Err(ScimType::Mutability);
        remove_meta_rejected: user(),
            json!([{"op": "remove", "path": "meta"}])
            => Expect::Err(ScimType::Mutability);
        add_groups_rejected: user(),
            json!([{"op": "add", "path": "groups", "value": [{"value": "g1"}]}])
            => Expect::Err(ScimType::Mutability);
        remove_without_path_is_no_target: group(),
            json!([{"op": "remove"}])
            => Expect::Err(ScimType::NoTarget);
        unparsable_path_invalid_path: user(),
            json!([{"op": "replace", "path": "name..givenName", "value": "x"}])
            => Expect::Err(ScimType::InvalidPath);
        unclosed_bracket_invalid_path: user(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}])
            => Expect::Err(ScimType::InvalidPath);
        garbage_after_bracket_invalid_path: user(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"]value", "value": "x"}])
            => Expect::Err(ScimType::InvalidPath);
        filter_syntax_error_in_path_invalid_filter: user(),
            json!([{"op": "replace", "path": "emails[type eq].value", "value": "x"}])
            => Expect::Err(ScimType::InvalidFilter);
        filter_on_complex_single_valued_invalid_path: user(),
            json!([{"op": "replace", "path": "name[givenName eq \"B\"].familyName", "value": "x"}])
            => Expect::Err(ScimType::InvalidPath);
        add_without_value_invalid_value: user(),
            json!([{"op": "add", "path": "title"}])
            => Expect::Err(ScimType::InvalidValue);
        pathless_add_non_object_invalid_value: user(),
            json!([{"op": "add", "value": "x"}])
            => Expect::Err(ScimType::InvalidValue);
        all_or_nothing_on_error: user(),
            json!([{"op": "replace", "path": "displayName", "value": "B"}, {"op": "replace", "path": "id", "value": "x"}])
            => Expect::Err(ScimType::Mutability);
        unknown_op_invalid_syntax: user(),
            json!([{"op": "move", "path": "title"}])
            => Expect::Err(ScimType::InvalidSyntax);
        empty_operations_invalid_syntax: user(), json!([]) => Expect::Err(ScimType::InvalidSyntax);
        non_string_path_invalid_path: user(),
            json!([{"op": "remove", "path": 5}])
            => Expect::Err(ScimType::InvalidPath);
    }

    #[test]
    fn missing_patch_schema_is_invalid_syntax() {
        for body in [
            json!({"Operations": [{"op": "add", "path": "a", "value": 1}]}),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [{"op": "add", "path": "a", "value": 1}]}),
            json!([1, 2]),
            json!({"schemas": [PATCH_OP_URN]}),
            json!({"schemas": [PATCH_OP_URN], "Operations": [5]}),
        ] {
            let e = parse_request(&body).expect_err("must fail");
            assert_eq!(e.scim_type, ScimType::InvalidSyntax, "{body}");
        }
    }

    #[test]
    fn too_many_operations_is_invalid_syntax() {
        let ops: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|i| json!({"op": "add", "path": "members", "value": [{"value": i.to_string()}]}))
            .collect();
        let body = json!({"schemas": [PATCH_OP_URN], "Operations": ops});
        let e = parse_request(&body).expect_err("must fail");
        assert_eq!(e.scim_type, ScimType::InvalidSyntax);

        let ok = json!({"schemas": [PATCH_OP_URN], "Operations": &ops[..MAX_OPERATIONS]});
        assert_eq!(parse_request(&ok).map(|v| v.len()), Ok(MAX_OPERATIONS));
    }

    #[test]
    fn parse_request_keeps_null_value_and_lowercase_member_names() {
        let body = json!({"schemas": [PATCH_OP_URN], "operations": [{"OP": "Replace", "Path": "title", "Value": null}]});
        let ops = parse_request(&body).expect("valid");
        assert_eq!(
            ops,
            vec![PatchOp {
                op: OpKind::Replace,
                path: Some("title".into()),
                value: Some(Value::Null),
            }]
        );
    }

    #[test]
    fn scim_type_wire_strings() {
        let all = [
            (ScimType::InvalidFilter, "invalidFilter"),
            (ScimType::InvalidPath, "invalidPath"),
            (ScimType::InvalidValue, "invalidValue"),
            (ScimType::NoTarget, "noTarget"),
            (ScimType::Mutability, "mutability"),
            (ScimType::InvalidSyntax, "invalidSyntax"),
        ];
        for (t, s) in all {
            assert_eq!(t.as_str(), s);
        }
    }

    #[test]
    fn deeply_nested_pathless_value_is_bounded() {
        // Each level re-enters via a schema URN key; must stop, not recurse forever.
        let mut v = json!({"department": "x"});
        for _ in 0..10 {
            v = json!({ ENT: v });
        }
        let mut r = user();
        let ops = [PatchOp {
            op: OpKind::Add,
            path: None,
            value: Some(v),
        }];
        let e = apply(&mut r, &ops, &TEST_SCHEMA).expect_err("must fail");
        assert_eq!(e.scim_type, ScimType::InvalidValue);
        assert_eq!(r, user());
    }

    #[test]
    fn hostile_paths_never_panic() {
        let paths = [
            "",
            "[",
            "]",
            "a[",
            "a[]",
            "a[\"]",
            "a[b eq \"]\"]",
            "é",
            "a.é",
            "urn:",
            ":",
            "a:",
            "emails[type eq \"work\"].",
            "emails[type eq \"work\"]]",
            "a[b pr][c pr]",
            "urn:x:2.0:User[a pr]",
        ];
        for p in paths {
            for op in [OpKind::Add, OpKind::Remove, OpKind::Replace] {
                let mut r = user();
                let ops = [PatchOp {
                    op,
                    path: Some(p.to_string()),
                    value: Some(json!("v")),
                }];
                let _ = apply(&mut r, &ops, &TEST_SCHEMA);
            }
        }
    }
}
