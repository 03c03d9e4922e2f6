//! Organizations: the tenants of the vendor's product.

use crate::domain::domain_state::DomainState;
use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{IdKind, OrgId};
use crate::domain::organization::{validate_metadata, ExternalId, OrganizationName};
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::clock::rfc3339;
use crate::server::db::{self, organizations::OrganizationRow};
use crate::server::error::AppError;
use crate::server::events::Snapshot;
use crate::server::state::AppState;

/// An organization as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Organization {
    /// `org_…`
    pub id: String,
    /// Always `organization`.
    pub object: String,
    pub name: String,
    /// The vendor's own id for this customer; unique among live organizations.
    pub external_id: Option<String>,
    /// String keys to string values.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Role of members who join by JIT provisioning: `member` (default) or `admin`.
    pub default_role: String,
    /// Audit events older than this many days are purged (a checkpoint keeps the chain
    /// verifiable). Default 365.
    pub audit_retention_days: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<OrganizationRow> for Organization {
    fn from(r: OrganizationRow) -> Self {
        Organization {
            id: r.id,
            object: "organization".into(),
            name: r.name,
            external_id: r.external_id,
            metadata: serde_json::from_str(&r.metadata).unwrap_or_default(),
            default_role: r.default_role,
            audit_retention_days: r.audit_retention_days,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// Input of `create`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    pub name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// `member` (default) or `admin`.
    #[serde(default)]
    pub default_role: Option<String>,
}

/// Input of `update`: absent fields stay; `external_id: null` clears it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// `member` or `admin`.
    #[serde(default)]
    pub default_role: Option<String>,
    /// 1 to 3650 days.
    #[serde(default)]
    pub audit_retention_days: Option<i64>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn external_id_taken() -> AppError {
    AppError::Conflict {
        code: "external_id_taken",
        message: "another organization already uses this external_id; choose a different one or update that organization".into(),
        field: Some("external_id"),
    }
}

/// Creates an organization.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: CreateOrganization,
) -> Result<Organization, AppError> {
    Ok(create_with_domains(state, actor, ctx, input, &[]).await?.0)
}

/// A domain to claim with a new organization (`verified`: the vendor vouches for it).
#[derive(Debug, Clone)]
pub struct NewDomain {
    pub name: crate::domain::domain_name::DomainName,
    pub verified: bool,
}

/// Creates an organization and claims its domains in one write: a domain that cannot be claimed
/// (verified by another organization, listed twice) creates nothing, and its error names it.
pub async fn create_with_domains(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: CreateOrganization,
    domains: &[NewDomain],
) -> Result<(Organization, Vec<db::domains::DomainRow>), AppError> {
    let name = OrganizationName::parse(&input.name)?;
    let external_id = input
        .external_id
        .as_deref()
        .map(ExternalId::parse)
        .transpose()?;
    let metadata = input.metadata.unwrap_or_default();
    validate_metadata(&metadata)?;
    let now = state.clock.now();
    let mut row = OrganizationRow {
        id: db::new_id(IdKind::Organization),
        name: name.as_str().to_owned(),
        external_id: external_id.map(|e| e.as_str().to_owned()),
        metadata: serde_json::Value::Object(metadata).to_string(),
        default_role: String::new(),
        audit_retention_days: 365,
        created_at: now,
        updated_at: now,
    };
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    row.default_role = super::roles::check(
        tx.conn(),
        "default_role",
        input.default_role.as_deref().unwrap_or("member"),
    )
    .await?
    .slug;
    match db::organizations::insert(tx.conn(), &row).await {
        Err(e) if db::is_unique_violation(&e) => return Err(external_id_taken()),
        r => r?,
    }
    let event = tx
        .record(
            Some(&row.id),
            EventType::OrganizationCreated,
            vec![Target::new(
                TargetKind::Organization,
                &row.id,
                Some(&row.name),
            )],
            serde_json::json!({ "name": row.name, "external_id": row.external_id }),
        )
        .await?;
    let org_id = OrgId::from_stored(row.id.clone());
    let mut claimed = Vec::with_capacity(domains.len());
    for d in domains {
        let r = super::domains::add_in(&mut tx, &org_id, &d.name, d.verified, false)
            .await
            .map_err(|e| name_the_domain(e, d.name.as_str()))?;
        claimed.push(r);
    }
    tx.snapshot(
        &event,
        &Snapshot::Organization {
            organization: row.clone(),
            domains: claimed.clone(),
        },
    );
    tx.commit().await?;
    Ok((row.into(), claimed))
}

/// Puts the domain's name in a conflict's message (one request can claim several).
fn name_the_domain(e: AppError, domain: &str) -> AppError {
    match e {
        AppError::Conflict {
            code,
            message,
            field,
        } if !message.contains(domain) => AppError::Conflict {
            code,
            message: format!("{domain}: {message}"),
            field,
        },
        e => e,
    }
}

/// Reads one organization.
#[tracing::instrument(skip_all, fields(organization_id = %id))]
pub async fn get(state: &AppState, id: &OrgId) -> Result<Organization, AppError> {
    let mut conn = state.db.read().await?;
    db::organizations::get(&mut conn, id)
        .await?
        .map(Into::into)
        .ok_or(AppError::NotFound("organization"))
}

/// Lists organizations after a cursor; returns the page and the next cursor.
pub async fn list(
    state: &AppState,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<(Vec<Organization>, Option<String>), AppError> {
    let limit = super::check_limit(limit)?;
    let mut conn = state.db.pool.acquire().await?;
    let mut rows = db::organizations::list(&mut conn, after, limit + 1).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok((rows.into_iter().map(Into::into).collect(), next))
}

/// Changes name, external id or metadata.
#[tracing::instrument(skip_all, fields(organization_id = %id))]
pub async fn update(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &OrgId,
    input: UpdateOrganization,
) -> Result<Organization, AppError> {
    update_with_domains(state, actor, ctx, id, input, None).await
}

/// Changes name, external id or metadata and, when `domains` is given, makes the organization's
/// claims exactly that set (claims not in it are removed, missing ones added), in one write.
pub async fn update_with_domains(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &OrgId,
    input: UpdateOrganization,
    domains: Option<&[NewDomain]>,
) -> Result<Organization, AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let mut row = db::organizations::get(tx.conn(), id)
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    let mut changed = Vec::new();
    let mut updated = None;
    if let Some(name) = &input.name {
        let name = OrganizationName::parse(name)?;
        if name.as_str() != row.name {
            row.name = name.as_str().to_owned();
            changed.push("name");
        }
    }
    if let Some(ext) = &input.external_id {
        let ext = ext
            .as_deref()
            .map(ExternalId::parse)
            .transpose()?
            .map(|e| e.as_str().to_owned());
        if ext != row.external_id {
            row.external_id = ext;
            changed.push("external_id");
        }
    }
    if let Some(meta) = input.metadata {
        validate_metadata(&meta)?;
        let meta = serde_json::Value::Object(meta).to_string();
        if meta != row.metadata {
            row.metadata = meta;
            changed.push("metadata");
        }
    }
    if let Some(days) = input.audit_retention_days {
        if !(1..=3650).contains(&days) {
            return Err(crate::domain::FieldError::new(
                "audit_retention_days",
                "audit_retention_days must be from 1 to 3650",
            )
            .into());
        }
        if days != row.audit_retention_days {
            row.audit_retention_days = days;
            changed.push("audit_retention_days");
        }
    }
    if let Some(role) = &input.default_role {
        let role = super::roles::check(tx.conn(), "default_role", role)
            .await?
            .slug;
        if role != row.default_role {
            row.default_role = role;
            changed.push("default_role");
        }
    }
    if !changed.is_empty() {
        row.updated_at = now;
        match db::organizations::update(tx.conn(), &row).await {
            Err(e) if db::is_unique_violation(&e) => return Err(external_id_taken()),
            r => r?,
        };
        updated = Some(
            tx.record(
                Some(&row.id),
                EventType::OrganizationUpdated,
                vec![Target::new(
                    TargetKind::Organization,
                    &row.id,
                    Some(&row.name),
                )],
                serde_json::json!({ "changed": changed }),
            )
            .await?,
        );
    }
    if let Some(wanted) = domains {
        let current = db::domains::list(tx.conn(), id).await?;
        for c in &current {
            if !wanted.iter().any(|w| w.name.as_str() == c.domain) {
                let claim = crate::domain::ids::DomainId::from_stored(c.id.clone());
                super::domains::remove_in(&mut tx, id, &claim).await?;
            }
        }
        for w in wanted {
            match current.iter().find(|c| c.domain == w.name.as_str()) {
                None => {
                    super::domains::add_in(&mut tx, id, &w.name, w.verified, false)
                        .await
                        .map_err(|e| name_the_domain(e, w.name.as_str()))?;
                }
                // Listed again as verified: the vendor now vouches for a claim not verified yet.
                Some(c) if w.verified && c.state != DomainState::Verified.as_str() => {
                    super::domains::vendor_verify_in(&mut tx, id, c.clone())
                        .await
                        .map_err(|e| name_the_domain(e, w.name.as_str()))?;
                }
                // Listed as pending when it is verified: kept (a proof is not taken back).
                Some(_) => {}
            }
        }
    }
    if !tx.has_events() {
        // Nothing to write, so nothing to audit; the write turn still ends with the others
        // (SQLite commits concurrent writes together), so the answer, read after this, shows
        // what a concurrent request wrote (its vouching for the same claim, say).
        tx.commit_observation().await?;
        return Ok(row.into());
    }
    if let Some(event) = updated {
        // As it is after the whole update, domains included.
        let domains = db::domains::list(tx.conn(), id).await?;
        tx.snapshot(
            &event,
            &Snapshot::Organization {
                organization: row.clone(),
                domains,
            },
        );
    }
    tx.commit().await?;
    Ok(row.into())
}

/// Reads the live organization with the vendor's `external_id`.
pub async fn get_by_external_id(
    state: &AppState,
    external_id: &str,
) -> Result<Organization, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::organizations::by_external_id(&mut conn, external_id)
        .await?
        .map(Into::into)
        .ok_or(AppError::NotFound("organization"))
}

/// Deletes the organization's connections and directories with it, each with its own event
/// (`connection.deleted`, `directory.deleted` with `reason: organization_deleted`), so that a
/// vendor following the feed (WorkOS's `connection.deleted` and `dsync.deleted`) does not keep
/// them; the directories' SCIM tokens expire.
async fn end_connections_and_directories(tx: &mut AuditedTx, id: &OrgId) -> Result<(), AppError> {
    let now = tx.now();
    let domains = crate::server::events::verified_domains(tx.conn(), id).await?;
    for c in db::connections::list_connections(tx.conn(), id).await? {
        let cid = crate::domain::ids::ConnectionId::from_stored(c.id.as_str());
        db::connections::delete_connection(tx.conn(), id, &cid, now).await?;
        let event = tx
            .record(
                Some(id),
                EventType::ConnectionDeleted,
                vec![Target::new(TargetKind::Connection, &c.id, Some(&c.name))],
                serde_json::json!({ "reason": "organization_deleted" }),
            )
            .await?;
        // As a connection deleted alone shows it.
        tx.snapshot(
            &event,
            &Snapshot::Connection {
                connection: crate::server::events::ConnectionSnapshot {
                    domains: domains.clone(),
                    ..(&c).into()
                },
            },
        );
    }
    for d in db::directories::list_directories(tx.conn(), id).await? {
        super::directories::delete_in(
            tx,
            id,
            d,
            serde_json::json!({ "reason": "organization_deleted" }),
        )
        .await?;
    }
    Ok(())
}

/// Deletes an organization (soft: its audit trail stays) and ends its portal sessions.
#[tracing::instrument(skip_all, fields(organization_id = %id))]
pub async fn delete(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    id: &OrgId,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    // Locked first: SCIM writes key-share-lock it (`directories::live_for_write`), so each
    // either commits before the deletion or sees it.
    db::organizations::lock_against_writes(tx.conn(), id).await?;
    let row = db::organizations::get(tx.conn(), id)
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    db::organizations::soft_delete(tx.conn(), id, now).await?;
    // Its portal sessions end with it, in the same transaction.
    let sessions = db::organizations::delete_sessions(tx.conn(), id).await?;
    end_connections_and_directories(&mut tx, id).await?;
    let event = tx
        .record(
            Some(id),
            EventType::OrganizationDeleted,
            vec![Target::new(TargetKind::Organization, id, Some(&row.name))],
            serde_json::json!({ "portal_sessions_ended": sessions }),
        )
        .await?;
    let domains = db::domains::list(tx.conn(), id).await?;
    tx.snapshot(
        &event,
        &Snapshot::Organization {
            organization: row,
            domains,
        },
    );
    tx.commit().await?;
    // Its directories' SCIM tokens stop at once on this node.
    state.scim_tokens.forget_all();
    Ok(())
}

/// What the portal's overview reads of an organization (whether it is live and its name, its
/// domain claims and connections by state, its directories' ids), in one read.
pub async fn setup_counts(
    state: &AppState,
    organization_id: &OrgId,
) -> Result<db::organizations::SetupCounts, AppError> {
    let mut conn = state.db.read().await?;
    Ok(db::organizations::setup_counts(&mut conn, organization_id).await?)
}
