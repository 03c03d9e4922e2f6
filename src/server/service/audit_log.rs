//! Reading the audit trail.

use serde::{Deserialize, Serialize};

use crate::server::audit::{self, AuditRow};
use crate::server::clock::rfc3339;
use crate::server::error::AppError;
use crate::server::state::AppState;

/// An audit event as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub organization_id: Option<String>,
    /// Position in the organization's chain.
    pub sequence: i64,
    pub action: String,
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub targets: serde_json::Value,
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    pub occurred_at: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub hash: String,
    pub previous_hash: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: r.id,
            organization_id: r.organization_id,
            sequence: r.chain_seq,
            action: r.action,
            actor: serde_json::json!({ "type": r.actor_type, "id": r.actor_id, "name": r.actor_name }),
            targets: serde_json::from_str(&r.targets).unwrap_or_default(),
            context: serde_json::json!({ "ip": r.ip, "user_agent": r.user_agent, "request_id": r.request_id }),
            occurred_at: rfc3339(r.occurred_at),
            metadata: serde_json::from_str(&r.metadata).unwrap_or_default(),
            hash: r.hash,
            previous_hash: r.prev_hash,
        }
    }
}

/// Lists an organization's events oldest first after a cursor (the chain sequence).
pub async fn list(
    state: &AppState,
    organization_id: &str,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<(Vec<AuditEvent>, Option<String>), AppError> {
    let after_seq = match after {
        None => 0,
        Some(c) => c.parse::<i64>().map_err(|_| {
            crate::domain::FieldError::new(
                "after",
                "after must be a next_cursor value from a previous page",
            )
        })?,
    };
    let limit = super::clamp_limit(limit);
    let mut conn = state.db.pool.acquire().await?;
    let mut rows =
        audit::list_for_organization(&mut conn, organization_id, after_seq, limit + 1).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.chain_seq.to_string())
    } else {
        None
    };
    Ok((rows.into_iter().map(Into::into).collect(), next))
}

/// The newest events of an organization, for the portal's Activity page.
pub async fn recent(
    state: &AppState,
    organization_id: &str,
    before_seq: i64,
    limit: i64,
) -> Result<Vec<AuditEvent>, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(
        audit::list_recent_for_organization(&mut conn, organization_id, before_seq, limit)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    )
}
