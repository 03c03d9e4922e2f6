//! Roles: the built-in `admin` and `member` and the custom roles the vendor defines (slug, name,
//! permissions). A role may be granted only by someone whose role covers all its permissions.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use serde::{Deserialize, Serialize};

use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::state::AppState;

/// The permission string that stands for every permission (held by `admin` only).
pub const ALL: &str = "*";

/// A role as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Role {
    pub slug: String,
    pub name: String,
    /// Free-form permission strings your product checks (`admin` holds `*`).
    pub permissions: Vec<String>,
    pub built_in: bool,
}

/// Input of `create`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// 2–40 characters: lowercase letters, digits, `-` and `_`, starting with a letter.
    pub slug: String,
    pub name: String,
    /// Up to 100 strings of 1–64 characters (letters, digits, `:._-`).
    #[serde(default)]
    pub permissions: Vec<String>,
}

fn built_in(slug: &str) -> Option<Role> {
    match slug {
        "admin" => Some(Role {
            slug: "admin".into(),
            name: "Admin".into(),
            permissions: vec![ALL.into()],
            built_in: true,
        }),
        "member" => Some(Role {
            slug: "member".into(),
            name: "Member".into(),
            permissions: Vec::new(),
            built_in: true,
        }),
        _ => None,
    }
}

fn from_row(
    db::roles::RoleRow {
        slug,
        name,
        permissions,
        ..
    }: db::roles::RoleRow,
) -> Role {
    Role {
        slug,
        name,
        permissions: serde_json::from_str(&permissions).unwrap_or_default(),
        built_in: false,
    }
}

/// True when a holder of `granter` may give `target`: `admin` may give anything; any other role
/// only roles whose permissions it holds all of, and never `admin`.
pub fn can_grant(granter: &Role, target: &Role) -> bool {
    if granter.permissions.iter().any(|p| p == ALL) {
        return true;
    }
    !target.permissions.iter().any(|p| p == ALL)
        && target
            .permissions
            .iter()
            .all(|p| granter.permissions.contains(p))
}

/// The role with this slug, built-in or custom.
pub async fn resolve(conn: &mut Conn, slug: &str) -> Result<Option<Role>, sqlx::Error> {
    if let Some(r) = built_in(slug) {
        return Ok(Some(r));
    }
    Ok(db::roles::get_role(conn, slug).await?.map(from_row))
}

/// Every role, built-in first.
pub async fn all(conn: &mut Conn) -> Result<Vec<Role>, sqlx::Error> {
    let mut out: Vec<Role> = ["admin", "member"]
        .into_iter()
        .filter_map(built_in)
        .collect();
    out.extend(db::roles::list_roles(conn).await?.into_iter().map(from_row));
    Ok(out)
}

/// Checks that `slug` names a role; the error names `field` and lists the roles there are.
pub async fn check(conn: &mut Conn, field: &'static str, slug: &str) -> Result<Role, AppError> {
    if let Some(r) = resolve(conn, slug).await? {
        return Ok(r);
    }
    let names: Vec<String> = all(conn).await?.into_iter().map(|r| r.slug).collect();
    Err(FieldError::new(
        field,
        format!("unknown role '{slug}'; use one of {}", names.join(", ")),
    )
    .into())
}

fn valid_slug(s: &str) -> bool {
    (2..=40).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_permission(p: &str) -> bool {
    (1..=64).contains(&p.len())
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-'))
}

/// Lists the roles.
pub async fn list(state: &AppState) -> Result<Vec<Role>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(all(&mut conn).await?)
}

/// Defines a custom role.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: CreateRole,
) -> Result<Role, AppError> {
    let slug = input.slug.trim().to_owned();
    if !valid_slug(&slug) {
        return Err(FieldError::new("slug", "slug must be 2–40 characters of lowercase letters, digits, - and _, starting with a letter (like billing-viewer)").into());
    }
    if built_in(&slug).is_some() {
        return Err(FieldError::new("slug", format!("'{slug}' is a built-in role")).into());
    }
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FieldError::new("name", "name must be 1–100 characters").into());
    }
    if input.permissions.len() > 100 {
        return Err(FieldError::new("permissions", "at most 100 permissions").into());
    }
    let mut permissions: Vec<String> = Vec::new();
    for p in &input.permissions {
        if !valid_permission(p) {
            return Err(FieldError::new(
                "permissions",
                format!("'{p}' is not a permission: use 1–64 letters, digits or : . _ - (like billing:read)"),
            )
            .into());
        }
        if !permissions.contains(p) {
            permissions.push(p.clone());
        }
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if db::roles::get_role(tx.conn(), &slug).await?.is_some() {
        return Err(AppError::Conflict {
            code: "role_exists",
            message: format!("a role '{slug}' already exists"),
            field: Some("slug"),
        });
    }
    let perms = serde_json::to_string(&permissions).unwrap_or_else(|_| "[]".into());
    db::roles::insert_role(tx.conn(), &slug, &name, &perms, now).await?;
    tx.record(
        None,
        EventType::RoleCreated,
        vec![Target::new(TargetKind::Role, &slug, Some(&name))],
        serde_json::json!({ "permissions": permissions }),
    )
    .await?;
    tx.commit().await?;
    Ok(Role {
        slug,
        name,
        permissions,
        built_in: false,
    })
}

/// Deletes a custom role nobody uses.
pub async fn delete(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    slug: &str,
) -> Result<(), AppError> {
    if built_in(slug).is_some() {
        return Err(AppError::Conflict {
            code: "built_in_role",
            message: format!("'{slug}' is a built-in role and cannot be deleted"),
            field: Some("slug"),
        });
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if db::roles::get_role(tx.conn(), slug).await?.is_none() {
        return Err(AppError::NotFound("role"));
    }
    let uses = db::roles::role_uses(tx.conn(), slug).await?;
    if uses > 0 {
        return Err(AppError::Conflict {
            code: "role_in_use",
            message: format!("'{slug}' is still used {uses} time(s) by members, pending invitations, organization defaults or group mappings; move them to another role first"),
            field: Some("slug"),
        });
    }
    db::roles::delete_role(tx.conn(), slug).await?;
    tx.record(
        None,
        EventType::RoleDeleted,
        vec![Target::new(TargetKind::Role, slug, None)],
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(slug: &str, perms: &[&str]) -> Role {
        Role {
            slug: slug.into(),
            name: slug.into(),
            permissions: perms.iter().map(|p| p.to_string()).collect(),
            built_in: false,
        }
    }

    #[test]
    fn admin_grants_anything_others_only_subsets() {
        let admin = built_in("admin").unwrap();
        let member = built_in("member").unwrap();
        let billing = role("billing", &["billing:read", "billing:write"]);
        let reader = role("reader", &["billing:read"]);
        assert!(can_grant(&admin, &admin));
        assert!(can_grant(&admin, &billing));
        assert!(can_grant(&member, &member));
        assert!(!can_grant(&member, &admin));
        assert!(!can_grant(&member, &reader));
        assert!(can_grant(&billing, &reader));
        assert!(!can_grant(&reader, &billing));
        assert!(!can_grant(&billing, &admin));
    }

    #[test]
    fn slugs_and_permissions_are_checked() {
        assert!(valid_slug("billing-viewer"));
        assert!(!valid_slug("Billing"));
        assert!(!valid_slug("1abc"));
        assert!(!valid_slug("a"));
        assert!(valid_permission("billing:read"));
        assert!(!valid_permission("*"));
        assert!(!valid_permission("has space"));
    }
}
