//! Fixed-window rate limits. Limits are generous: they stop brute force and runaway clients,
//! never an IdP's normal SCIM push or a burst of sign-ins.
//!
//! Where the counts live: on SQLite (one node) in this process's memory. On PostgreSQL, where
//! several nodes serve one deployment, in the database every node already shares (table
//! `rate_limits`, one upsert per counted request): a limit of 10 holds across all nodes, not 10
//! per node. PostgreSQL rather than Redis because it is the one engine every multi-node
//! deployment of Lanyard already runs and backs up; the cost is one short autocommit statement
//! per counted request on a row no transaction holds. If the database cannot be asked, the node
//! falls back to its in-memory count (still limiting, per node) and logs why.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// Named limits: (requests, window in milliseconds).
pub mod limits {
    /// Vendor API calls per key.
    pub const API: (u32, i64) = (6000, 60_000);
    /// Failed API authentications per client address.
    pub const API_AUTH_FAILURE: (u32, i64) = (60, 60_000);
    /// Failed client authentications at the OpenID Provider's token endpoint per (client
    /// address, client id).
    pub const OAUTH_CLIENT_AUTH_FAILURE: (u32, i64) = (60, 60_000);
    /// Home-realm discovery lookups (an email typed on `/oauth2/authorize`) per client address.
    pub const OAUTH_DISCOVERY: (u32, i64) = (60, 60_000);
    /// SAML messages posted or redirected to an ACS or SLO endpoint per client address: well above
    /// an office behind one address signing in at nine, far below a flood of forged responses.
    pub const SAML_ENDPOINT: (u32, i64) = (600, 60_000);
    /// Setup-link redemptions per client address.
    pub const LINK_REDEEM: (u32, i64) = (20, 60_000);
    /// Setup-link page views per client address.
    pub const LINK_VIEW: (u32, i64) = (120, 60_000);
    /// Staff console sign-in attempts per client address.
    pub const STAFF_SIGN_IN: (u32, i64) = (10, 60_000);
    /// Failed staff console sign-ins per (client address, account email): past this, that
    /// address is refused for that account until the window ends. Successes do not count, and
    /// other addresses are not affected, so a stranger cannot lock the owner out.
    pub const STAFF_SIGN_IN_FAILURES: (u32, i64) = (10, 15 * 60_000);
    /// Failed staff console sign-ins per account email from all addresses: past this nothing is
    /// refused (a correct password and code still sign in), but the account's owner is warned
    /// once per window (audit event and mail).
    pub const STAFF_SIGN_IN_FAILURES_ALERT: (u32, i64) = (30, 15 * 60_000);
}

/// (class, client key) → (window start, requests in the window).
type Windows = HashMap<(&'static str, String), (i64, u32)>;

/// Counts requests per (class, key) in fixed windows.
#[derive(Debug)]
pub struct RateLimiter {
    enabled: bool,
    windows: Mutex<Windows>,
    /// PostgreSQL: the pool every node shares (`None` on SQLite).
    shared: Option<sqlx::AnyPool>,
}

impl RateLimiter {
    /// A limiter kept in this process; when `enabled` is false every request passes.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            windows: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// A limiter for this database: shared by all nodes on PostgreSQL, in memory on SQLite.
    pub fn for_db(enabled: bool, db: &crate::server::db::Db) -> Self {
        let shared = (db.dialect == crate::server::db::Dialect::Postgres).then(|| db.pool.clone());
        Self {
            shared,
            ..Self::new(enabled)
        }
    }

    /// Counts one request; false when it exceeds `limit` in the current window.
    pub async fn check(
        &self,
        class: &'static str,
        key: &str,
        (limit, window): (u32, i64),
        now: i64,
    ) -> bool {
        if !self.enabled {
            return true;
        }
        self.count(class, key, window, now).await <= limit
    }

    /// Whether (class, key) has already reached `limit` in the current window, without counting
    /// anything: for limits that count only some outcomes (failures), checked before the work and
    /// fed by [`RateLimiter::hit`] after it.
    pub async fn over(
        &self,
        class: &'static str,
        key: &str,
        (limit, window): (u32, i64),
        now: i64,
    ) -> bool {
        if !self.enabled {
            return false;
        }
        if let Some(pool) = &self.shared {
            let found: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
                "SELECT hits FROM rate_limits WHERE bucket = $1 AND $2 - window_start < $3",
            )
            .bind(bucket(class, key))
            .bind(now)
            .bind(window)
            .fetch_optional(pool)
            .await;
            match found {
                Ok(hits) => return hits.is_some_and(|n| n >= i64::from(limit)),
                Err(e) => fell_back(&e),
            }
        }
        let map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(class, key.to_owned()))
            .is_some_and(|(start, n)| now - *start < window && *n >= limit)
    }

    /// Counts one event for (class, key) in a window of `window` ms; returns the count in the
    /// current window, this one included (0 when the limiter is disabled).
    pub async fn hit(&self, class: &'static str, key: &str, window: i64, now: i64) -> u32 {
        if !self.enabled {
            return 0;
        }
        self.count(class, key, window, now).await
    }

    async fn count(&self, class: &'static str, key: &str, window: i64, now: i64) -> u32 {
        if let Some(pool) = &self.shared {
            // Every right-hand side sees the row as it was: a window that has ended starts
            // again at this request.
            let counted: Result<i64, sqlx::Error> = sqlx::query_scalar(
                "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) \
                 ON CONFLICT (bucket) DO UPDATE SET \
                 hits = CASE WHEN $2 - rate_limits.window_start >= $3 THEN 1 ELSE rate_limits.hits + 1 END, \
                 window_start = CASE WHEN $2 - rate_limits.window_start >= $3 THEN $2 ELSE rate_limits.window_start END \
                 RETURNING hits",
            )
            .bind(bucket(class, key))
            .bind(now)
            .bind(window)
            .fetch_one(pool)
            .await;
            match counted {
                Ok(n) => return u32::try_from(n).unwrap_or(u32::MAX),
                Err(e) => fell_back(&e),
            }
        }
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| now - *start < window);
        }
        let entry = map.entry((class, key.to_owned())).or_insert((now, 0));
        if now - entry.0 >= window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }
}

/// The shared table's key: neither the client address nor the email is stored.
fn bucket(class: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(class.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    hex::encode(h.finalize())
}

fn fell_back(e: &sqlx::Error) {
    tracing::warn!(error = %e, "shared rate limit unavailable; counting on this node only");
}

/// Deletes shared windows that started more than an hour ago (the longest limit is 15 minutes).
pub async fn purge(db: &crate::server::db::Db, now: i64) -> Result<u64, sqlx::Error> {
    if db.dialect != crate::server::db::Dialect::Postgres {
        return Ok(0);
    }
    let done = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
        .bind(now - 3_600_000)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_within_a_window_and_resets_after() {
        let l = RateLimiter::new(true);
        assert!(l.check("t", "a", (2, 1000), 0).await);
        assert!(l.check("t", "a", (2, 1000), 10).await);
        assert!(!l.check("t", "a", (2, 1000), 20).await);
        assert!(l.check("t", "b", (2, 1000), 20).await);
        assert!(l.check("t", "a", (2, 1000), 1000).await);
    }

    #[tokio::test]
    async fn disabled_never_limits() {
        let l = RateLimiter::new(false);
        for i in 0..10 {
            assert!(l.check("t", "a", (1, 1000), i).await);
        }
        assert_eq!(l.hit("t", "a", 1000, 0).await, 0);
        assert!(!l.over("t", "a", (0, 1000), 0).await);
    }

    #[tokio::test]
    async fn over_counts_nothing_and_hit_counts() {
        let l = RateLimiter::new(true);
        let limit = (2, 1000);
        // Looking does not count: any number of checks leave the key under its limit.
        for i in 0..10 {
            assert!(!l.over("t", "a", limit, i).await);
        }
        assert_eq!(l.hit("t", "a", 1000, 10).await, 1);
        assert!(!l.over("t", "a", limit, 11).await);
        assert_eq!(l.hit("t", "a", 1000, 12).await, 2);
        assert!(l.over("t", "a", limit, 13).await);
        assert!(l.over("t", "a", limit, 999).await);
        // Other keys and classes are separate.
        assert!(!l.over("t", "b", limit, 13).await);
        assert!(!l.over("u", "a", limit, 13).await);
        // The window ends: under the limit again, and the next hit starts a new count.
        assert!(!l.over("t", "a", limit, 1010).await);
        assert_eq!(l.hit("t", "a", 1000, 1010).await, 1);
    }

    #[tokio::test]
    async fn hit_and_check_share_windows_per_class_and_key() {
        let l = RateLimiter::new(true);
        assert_eq!(l.hit("t", "a", 1000, 0).await, 1);
        assert!(l.check("t", "a", (2, 1000), 1).await);
        assert!(!l.check("t", "a", (2, 1000), 2).await);
        assert!(l.over("t", "a", (2, 1000), 3).await);
    }
}
