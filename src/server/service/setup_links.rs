//! Setup links: the vendor's way in to the admin portal for a customer's IT admin.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{IdKind, OrgId};
use crate::domain::intent::{Intent, IntentSet};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::clock::rfc3339;
use crate::server::crypto::{hash_secret, new_secret, SETUP_TOKEN_PREFIX};
use crate::server::db::{self, setup_links::SetupLinkRow};
use crate::server::error::AppError;
use crate::server::state::AppState;

/// Session key holding the [`PortalGrant`] of a redeemed link.
pub const PORTAL_KEY: &str = "portal";
/// Absolute lifetime of a portal session: 12 hours (idle sessions end after 30 minutes, by the
/// cookie's expiry).
pub const MAX_SESSION_MS: i64 = 12 * 3600 * 1000;

/// Default link lifetime: 24 hours.
pub const DEFAULT_LIFETIME_SECS: i64 = 24 * 3600;
/// Shortest lifetime: 5 minutes.
pub const MIN_LIFETIME_SECS: i64 = 5 * 60;
/// Longest lifetime: 30 days.
pub const MAX_LIFETIME_SECS: i64 = 30 * 24 * 3600;

/// Input of `create`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSetupLink {
    pub organization_id: String,
    /// Any of sso, domain_verification, dsync, invitations, audit_logs, log_streams.
    pub intents: Vec<String>,
    /// 300 to 2592000; default 86400.
    #[serde(default)]
    pub expires_in_seconds: Option<i64>,
    /// Where the portal's "Back" button leads.
    #[serde(default)]
    pub return_url: Option<String>,
    /// The admin the link is for: invitations they send say they come from this address.
    #[serde(default)]
    pub admin_email: Option<String>,
}

/// A new link, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedSetupLink {
    pub id: String,
    pub link: String,
    pub expires_at: String,
}

/// What a token currently opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    Valid {
        organization_name: String,
        intents: IntentSet,
        expires_at: i64,
    },
    Used,
    Expired,
    Revoked,
    Unknown,
}

/// What a redeemed link grants: the content of a portal session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalGrant {
    pub organization_id: String,
    pub intents: Vec<Intent>,
    pub link_id: String,
    pub return_url: Option<String>,
    pub started_at: i64,
    /// The admin the vendor sent the link to, when it said.
    #[serde(default)]
    pub admin_email: Option<String>,
}

impl PortalGrant {
    /// The organization this grant is for (Lanyard stored it in the session itself).
    pub fn org(&self) -> OrgId {
        OrgId::from_stored(self.organization_id.as_str())
    }
}

fn validate_return_url(raw: &str) -> Result<String, FieldError> {
    let bad = || {
        FieldError::new(
            "return_url",
            "return_url must be an absolute https URL (http only for localhost)",
        )
    };
    let u = url::Url::parse(raw).map_err(|_| bad())?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" => Ok(u.to_string()),
        "http" if loopback => Ok(u.to_string()),
        _ => Err(bad()),
    }
}

/// Creates a link for an existing organization.
#[tracing::instrument(skip_all, fields(organization_id = %input.organization_id))]
pub async fn create(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    input: CreateSetupLink,
) -> Result<CreatedSetupLink, AppError> {
    let intents = IntentSet::parse(&input.intents)?;
    let lifetime = input.expires_in_seconds.unwrap_or(DEFAULT_LIFETIME_SECS);
    if !(MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&lifetime) {
        return Err(FieldError::new(
            "expires_in_seconds",
            format!("expires_in_seconds must be between {MIN_LIFETIME_SECS} (5 minutes) and {MAX_LIFETIME_SECS} (30 days)"),
        )
        .into());
    }
    let return_url = input
        .return_url
        .as_deref()
        .map(validate_return_url)
        .transpose()?;
    let organization_id = OrgId::parse(&input.organization_id).ok_or_else(|| {
        FieldError::new(
            "organization_id",
            "organization_id is not an organization id (org_…)",
        )
    })?;
    let admin_email = match input.admin_email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => Some(crate::domain::email::EmailAddress::parse(e, "admin_email")?.into_string()),
    };
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    let org = db::organizations::get(tx.conn(), &organization_id)
        .await?
        .ok_or_else(|| FieldError::new("organization_id", "no organization with this id"))?;
    let token = new_secret(SETUP_TOKEN_PREFIX);
    let row = SetupLinkRow {
        id: db::new_id(IdKind::SetupLink),
        organization_id: org.id.clone(),
        token_hash: hash_secret(&token),
        intents: intents.to_csv(),
        return_url,
        created_by: actor.id.clone(),
        created_at: now,
        expires_at: now + lifetime * 1000,
        redeemed_at: None,
        revoked_at: None,
        admin_email,
    };
    db::setup_links::insert(tx.conn(), &row).await?;
    tx.record(
        Some(&org.id),
        EventType::PortalLinkCreated,
        vec![Target::new(TargetKind::SetupLink, &row.id, None)],
        serde_json::json!({ "intents": intents.to_csv(), "expires_at": rfc3339(row.expires_at) }),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedSetupLink {
        id: row.id,
        link: format!("{}/portal/link/{token}", state.config.base_url()),
        expires_at: rfc3339(row.expires_at),
    })
}

/// Looks at a token without consuming it (mail scanners follow links).
pub async fn inspect(state: &AppState, token: &str) -> Result<LinkStatus, AppError> {
    if !token.starts_with(SETUP_TOKEN_PREFIX) || token.len() > 200 {
        return Ok(LinkStatus::Unknown);
    }
    let mut conn = state.db.pool.acquire().await?;
    let Some(link) = db::setup_links::find_by_hash(&mut conn, &hash_secret(token)).await? else {
        return Ok(LinkStatus::Unknown);
    };
    let now = state.clock.now();
    if link.revoked_at.is_some() {
        return Ok(LinkStatus::Revoked);
    }
    if link.redeemed_at.is_some() {
        return Ok(LinkStatus::Used);
    }
    if link.expires_at <= now {
        return Ok(LinkStatus::Expired);
    }
    let Some(org) = db::organizations::get(&mut conn, &link.organization_id).await? else {
        return Ok(LinkStatus::Revoked);
    };
    Ok(LinkStatus::Valid {
        organization_name: org.name,
        intents: IntentSet::from_csv(&link.intents)?,
        expires_at: link.expires_at,
    })
}

/// Consumes a token. Exactly one of several concurrent redemptions succeeds.
pub async fn redeem(
    state: &AppState,
    ctx: &RequestContext,
    token: &str,
) -> Result<PortalGrant, AppError> {
    let unknown = || AppError::NotFound("setup link");
    if !token.starts_with(SETUP_TOKEN_PREFIX) || token.len() > 200 {
        return Err(unknown());
    }
    let now = state.clock.now();
    let mut conn = state.db.pool.acquire().await?;
    let link = db::setup_links::find_by_hash(&mut conn, &hash_secret(token))
        .await?
        .ok_or_else(unknown)?;
    drop(conn);
    let actor = Actor {
        kind: crate::domain::actor::ActorKind::PortalAdmin,
        id: link.id.clone(),
        name: link
            .admin_email
            .clone()
            .unwrap_or_else(|| "Admin (setup link)".into()),
    };
    let mut tx = AuditedTx::begin(&state.db, &actor, ctx, now).await?;
    let org = db::organizations::get(tx.conn(), &link.organization_id).await?;
    if org.is_none() || !db::setup_links::redeem(tx.conn(), &link.id, now).await? {
        return Err(AppError::Gone(
            "This setup link was already used, has expired or was revoked. Ask your vendor's support for a new link.".into(),
        ));
    }
    tx.record(
        Some(&link.organization_id),
        EventType::PortalLinkRedeemed,
        vec![Target::new(TargetKind::SetupLink, &link.id, None)],
        serde_json::json!({ "intents": link.intents }),
    )
    .await?;
    tx.commit().await?;
    Ok(PortalGrant {
        organization_id: link.organization_id,
        intents: IntentSet::from_csv(&link.intents)?.as_slice().to_vec(),
        link_id: link.id,
        return_url: link.return_url,
        started_at: now,
        admin_email: link.admin_email,
    })
}

/// Counts links of an organization that can still be redeemed.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn outstanding(state: &AppState, organization_id: &str) -> Result<i64, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::setup_links::count_outstanding(&mut conn, organization_id, state.clock.now()).await?)
}

/// A portal grant whose session is fresh ([`fresh_session_grant`]) but whose organization is
/// not yet known to be live: only its organization can be read until [`UnconfirmedGrant::confirm`]
/// is given what a read made after the session's found of that organization.
pub struct UnconfirmedGrant(PortalGrant);

impl UnconfirmedGrant {
    /// The organization the grant is for, to read.
    pub fn org(&self) -> OrgId {
        self.0.org()
    }

    /// The grant when `live_organization` (the id of the organization a read found live, `None`
    /// when it found none) is the grant's own; `None` otherwise: the caller ends the session
    /// ([`end_session`]) and signs the browser out.
    pub fn confirm(self, live_organization: Option<&str>) -> Option<PortalGrant> {
        (live_organization == Some(self.0.organization_id.as_str())).then_some(self.0)
    }
}

/// The first half of the grant check every portal entry point makes: the browser session's
/// portal grant, while it began less than [`MAX_SESSION_MS`] ago (else the session is ended and
/// `None`). The second half, that the grant's organization is live, is
/// [`UnconfirmedGrant::confirm`]'s: [`session_grant_with_organization`] reads the organization
/// row for it; the portal overview reads the organization with its counts.
pub async fn fresh_session_grant(
    state: &AppState,
    session: &tower_sessions::Session,
) -> Result<Option<UnconfirmedGrant>, AppError> {
    let grant: Option<PortalGrant> = session
        .get(PORTAL_KEY)
        .await
        .map_err(|e| AppError::Internal(format!("session read failed: {e}")))?;
    let Some(grant) = grant else {
        return Ok(None);
    };
    if state.clock.now() - grant.started_at > MAX_SESSION_MS {
        end_session(session).await?;
        return Ok(None);
    }
    Ok(Some(UnconfirmedGrant(grant)))
}

/// Ends a portal session whose grant no longer holds: its row is deleted and the cookie
/// cleared, so the browser is signed out for every later request too.
pub async fn end_session(session: &tower_sessions::Session) -> Result<(), AppError> {
    session
        .flush()
        .await
        .map_err(|e| AppError::Internal(format!("session flush failed: {e}")))
}

/// The portal grant of a browser session, if it still holds: it is fresh
/// ([`fresh_session_grant`]) and its organization has not been deleted. A session whose grant
/// no longer holds is ended here. `Ok(None)`: signed out.
pub async fn session_grant(
    state: &AppState,
    session: &tower_sessions::Session,
) -> Result<Option<PortalGrant>, AppError> {
    Ok(session_grant_with_organization(state, session)
        .await?
        .map(|(grant, _)| grant))
}

/// [`session_grant`] with the grant's organization as read for the check (the portal pages show
/// it without reading it again).
pub async fn session_grant_with_organization(
    state: &AppState,
    session: &tower_sessions::Session,
) -> Result<Option<(PortalGrant, db::organizations::OrganizationRow)>, AppError> {
    let Some(unconfirmed) = fresh_session_grant(state, session).await? else {
        return Ok(None);
    };
    let organization = {
        let mut conn = state.db.read().await?;
        db::organizations::get(&mut conn, &unconfirmed.org()).await?
    };
    let live = organization.as_ref().map(|o| o.id.as_str());
    match (unconfirmed.confirm(live), organization) {
        (Some(grant), Some(org)) => Ok(Some((grant, org))),
        _ => {
            end_session(session).await?;
            Ok(None)
        }
    }
}
