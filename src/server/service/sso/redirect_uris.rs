//! The allow-list of vendor redirect URIs.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use serde::{Deserialize, Serialize};

use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::db;
use crate::server::error::AppError;
use crate::server::state::AppState;

/// A vendor redirect URI on the allow-list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RedirectUri {
    pub uri: String,
    /// `api` (managed here) or `environment` (`LANYARD_REDIRECT_URIS`, read-only).
    pub source: String,
    pub created_at: Option<String>,
}

pub(crate) fn check_redirect_uri(raw: &str) -> Result<String, crate::domain::FieldError> {
    let bad = || {
        crate::domain::FieldError::new(
            "uri",
            "uri must be an absolute https URL without a fragment (http only for localhost)",
        )
    };
    let u = url::Url::parse(raw).map_err(|_| bad())?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if u.fragment().is_some() || !(u.scheme() == "https" || (u.scheme() == "http" && loopback)) {
        return Err(bad());
    }
    Ok(raw.to_owned())
}

/// Adds a URI to the allow-list (exact match at sign-in).
pub async fn add_redirect_uri(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    uri: &str,
) -> Result<RedirectUri, AppError> {
    let uri = check_redirect_uri(uri)?;
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if db::redirect_uris::add_redirect_uri(tx.conn(), &uri, now).await? {
        tx.record(
            None,
            EventType::RedirectUriAdded,
            vec![Target::new(TargetKind::RedirectUri, &uri, None)],
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(RedirectUri {
        uri,
        source: "api".into(),
        created_at: Some(crate::server::clock::rfc3339(now)),
    })
}

/// The allow-list: environment entries first, then API-managed ones.
pub async fn list_redirect_uris(state: &AppState) -> Result<Vec<RedirectUri>, AppError> {
    let mut out: Vec<RedirectUri> = state
        .config
        .redirect_uris
        .iter()
        .map(|u| RedirectUri {
            uri: u.clone(),
            source: "environment".into(),
            created_at: None,
        })
        .collect();
    let mut conn = state.db.pool.acquire().await?;
    out.extend(
        db::redirect_uris::list_redirect_uris(&mut conn)
            .await?
            .into_iter()
            .map(
                |db::redirect_uris::RedirectUriRow {
                     uri,
                     created_at: at,
                 }| RedirectUri {
                    uri,
                    source: "api".into(),
                    created_at: Some(crate::server::clock::rfc3339(at)),
                },
            ),
    );
    Ok(out)
}

/// Removes an API-managed URI.
pub async fn remove_redirect_uri(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    uri: &str,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if !db::redirect_uris::remove_redirect_uri(tx.conn(), uri).await? {
        return Err(AppError::NotFound(
            "redirect URI (environment entries are changed in LANYARD_REDIRECT_URIS)",
        ));
    }
    tx.record(
        None,
        EventType::RedirectUriRemoved,
        vec![Target::new(TargetKind::RedirectUri, uri, None)],
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
