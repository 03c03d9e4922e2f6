//! Vendor API keys: 256-bit secrets shown once, stored as hashes, revocable.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use serde::Serialize;

use crate::domain::ids::IdKind;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::crypto::{ct_eq, hash_secret, new_secret, API_KEY_PREFIX};
use crate::server::db::{self, api_keys::ApiKeyRow, Db};
use crate::server::error::AppError;

/// A key's public description (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    /// The last four characters, to tell keys apart.
    pub hint: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<ApiKeyRow> for ApiKeyInfo {
    fn from(r: ApiKeyRow) -> Self {
        ApiKeyInfo {
            id: r.id,
            name: r.name,
            hint: r.hint,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// The authenticated vendor key behind a request.
#[derive(Debug, Clone)]
pub struct ApiPrincipal {
    pub key_id: String,
    pub name: String,
}

impl ApiPrincipal {
    /// The audit actor for this key.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: crate::domain::actor::ActorKind::ApiKey,
            id: self.key_id.clone(),
            name: self.name.clone(),
        }
    }
}

/// Creates a key; returns its description and the secret, which is never stored.
pub async fn create(
    db: &Db,
    actor: &Actor,
    ctx: &RequestContext,
    name: &str,
    now: i64,
) -> Result<(ApiKeyInfo, String), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(
            crate::domain::FieldError::new("name", "name must be 1 to 100 characters").into(),
        );
    }
    let secret = new_secret(API_KEY_PREFIX);
    let row = ApiKeyRow {
        id: db::new_id(IdKind::ApiKey),
        name: name.to_owned(),
        token_hash: hash_secret(&secret),
        hint: secret[secret.len() - 4..].to_owned(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    let mut tx = AuditedTx::begin(db, actor, ctx, now).await?;
    db::api_keys::insert(tx.conn(), &row).await?;
    tx.record(
        None,
        EventType::ApiKeyCreated,
        vec![Target::new(TargetKind::ApiKey, &row.id, Some(&row.name))],
        serde_json::json!({ "hint": row.hint }),
    )
    .await?;
    tx.commit().await?;
    Ok((row.into(), secret))
}

/// Revokes a key.
pub async fn revoke(
    db: &Db,
    actor: &Actor,
    ctx: &RequestContext,
    id: &str,
    now: i64,
) -> Result<(), AppError> {
    let mut tx = AuditedTx::begin(db, actor, ctx, now).await?;
    if !db::api_keys::revoke(tx.conn(), id, now).await? {
        return Err(AppError::NotFound("active API key"));
    }
    tx.record(
        None,
        EventType::ApiKeyRevoked,
        vec![Target::new(TargetKind::ApiKey, id, None)],
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lists all keys.
pub async fn list(db: &Db) -> Result<Vec<ApiKeyInfo>, AppError> {
    let mut conn = db.pool.acquire().await?;
    Ok(db::api_keys::list(&mut conn)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Resolves a presented secret to its key; fails closed on anything unexpected.
pub async fn authenticate(db: &Db, presented: &str, now: i64) -> Result<ApiPrincipal, AppError> {
    let bad = || {
        AppError::Unauthorized(
            "the API key is missing, malformed, unknown or revoked; send `Authorization: Bearer lanyard_sk_…`".into(),
        )
    };
    if !presented.starts_with(API_KEY_PREFIX) || presented.len() > 200 {
        return Err(bad());
    }
    let hash = hash_secret(presented);
    let mut conn = db.pool.acquire().await?;
    let row = db::api_keys::find_by_hash(&mut conn, &hash)
        .await?
        .ok_or_else(bad)?;
    if !ct_eq(&row.token_hash, &hash) || row.revoked_at.is_some() {
        return Err(bad());
    }
    // Last use, at most once a minute. Skipped without a statement when the row is recent: on
    // SQLite even an UPDATE that matches nothing takes the database's write lock, and a write
    // outside this process's writer queue would poll SQLite's busy handler behind a stream of
    // queued writes (another tenant's long group push) instead of taking its turn.
    if row.last_used_at.is_none_or(|t| t < now - 60_000) {
        let _turn = db.write_turn().await?;
        db::api_keys::touch(&mut conn, &row.id, now).await?;
    }
    Ok(ApiPrincipal {
        key_id: row.id,
        name: row.name,
    })
}
