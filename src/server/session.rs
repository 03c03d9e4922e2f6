//! Browser sessions kept in Lanyard's own database (table `sessions`), so several app nodes behind
//! a load balancer share them. This implements tower-sessions' store on the same sqlx pool as
//! everything else, with its own migration, for both dialects.

use async_trait::async_trait;
use std::collections::HashMap;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

use super::db::Db;

/// tower-sessions store over the `sessions` table.
#[derive(Debug, Clone)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    /// Wraps the database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Deletes expired sessions; returns how many.
    pub async fn delete_expired(&self, now_ms: i64) -> std::result::Result<u64, sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now_ms)
            .execute(&self.db.pool)
            .await
            .map(|r| r.rows_affected())
    }
}

/// The organization of the portal grant a session holds (`data["portal"]["organization_id"]`),
/// kept in its own column so that deleting the organization deletes its sessions.
fn organization_of(r: &Record) -> Option<String> {
    r.data
        .get(crate::server::service::setup_links::PORTAL_KEY)?
        .get("organization_id")?
        .as_str()
        .map(str::to_owned)
}

fn backend(e: sqlx::Error) -> Error {
    crate::server::db::note_error(&e);
    Error::Backend(e.to_string())
}

fn expiry_ms(r: &Record) -> i64 {
    (r.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        loop {
            let r = sqlx::query(
                "INSERT INTO sessions (id, data, expires_at, organization_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(&data)
            .bind(expiry_ms(record))
            .bind(organization_of(record))
            .execute(&self.db.pool)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates a session that was loaded (tower-sessions creates new ones with `create`). Never
    /// inserts: a session deleted while a request that loaded it was still running (signed
    /// out, ended with its organization or its user) stays deleted.
    async fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        sqlx::query(
            "UPDATE sessions SET data = $2, expires_at = $3, organization_id = $4 WHERE id = $1",
        )
        .bind(record.id.to_string())
        .bind(&data)
        .bind(expiry_ms(record))
        .bind(organization_of(record))
        .execute(&self.db.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> Result<Option<Record>> {
        let mut conn = self.db.read().await.map_err(backend)?;
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
        )
        .bind(session_id.to_string())
        .bind(now_ms())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        drop(conn);
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        let data: HashMap<String, serde_json::Value> =
            serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))?;
        let expiry_date =
            time::OffsetDateTime::from_unix_timestamp_nanos(expires_at as i128 * 1_000_000)
                .map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *session_id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, session_id: &Id) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(session_id.to_string())
            .execute(&self.db.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
