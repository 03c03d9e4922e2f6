//! The directories SCIM bearer tokens open, remembered for a moment so that a sync's thousands
//! of requests do not each look their token up.
//!
//! Safe because what a token opens can only shrink in three ways, each covered:
//! - the token reaches its `expires_at` (rotated out): the entry keeps `expires_at` and is
//!   checked against the clock on every request;
//! - a change on this node (rotation, renaming, deletion of the directory or its organization)
//!   empties the cache as it commits ([`TokenCache::forget_all`]), and a lookup that began
//!   before it cannot put its answer back (the generation moved on);
//! - the same changes made on another node (or by the command line) reach this node when the
//!   entry is next verified, at most [`TOKEN_TRUST`] after the entry was verified.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::server::service::directories::DirCtx;

/// How long this node trusts a verified token before asking the database again.
pub const TOKEN_TRUST: Duration = Duration::from_secs(2);
/// Most tokens remembered (the cache is emptied when full; only valid tokens enter it).
const MAX_ENTRIES: usize = 10_000;
/// A token's last use is recorded at most this often (for the credentials inventory).
const TOUCH_EVERY_MS: i64 = 60_000;

/// Verified tokens by hash (never the tokens themselves).
#[derive(Debug, Default)]
pub struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    dir: DirCtx,
    expires_at: Option<i64>,
    verified: Instant,
    /// The application clock when verified (tests move it; see [`TokenCache::get`]).
    verified_at: i64,
    last_used_at: Option<i64>,
}

/// A token found in the cache.
#[derive(Debug, Clone)]
pub struct Hit {
    pub dir: DirCtx,
    /// The caller should record the token's use now (at most once a minute per node).
    pub touch: bool,
}

/// What the database said about a token, to remember.
#[derive(Debug, Clone)]
pub struct Verified {
    pub dir: DirCtx,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory the token with this hash opens, when it was verified less than
    /// [`TOKEN_TRUST`] ago (by the wall clock and by the application clock) and has not expired
    /// at `now`.
    pub fn get(&self, token_hash: &str, now: i64) -> Option<Hit> {
        let mut inner = self.lock();
        let trust_ms = TOKEN_TRUST.as_millis() as i64;
        let e = inner.entries.get_mut(token_hash)?;
        if e.verified.elapsed() >= TOKEN_TRUST
            || !(e.verified_at..e.verified_at + trust_ms).contains(&now)
            || e.expires_at.is_some_and(|x| x <= now)
        {
            inner.entries.remove(token_hash);
            return None;
        }
        let touch = e.last_used_at.is_none_or(|t| t < now - TOUCH_EVERY_MS);
        if touch {
            e.last_used_at = Some(now);
        }
        Some(Hit {
            dir: e.dir.clone(),
            touch,
        })
    }

    /// Taken before a lookup in the database; [`TokenCache::remember`] keeps the answer only
    /// if nothing was forgotten since.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Remembers a token verified at `now` by a lookup that began at `generation`; answers
    /// whether its use should be recorded.
    pub fn remember(&self, generation: u64, token_hash: &str, v: Verified, now: i64) -> bool {
        let touch = v.last_used_at.is_none_or(|t| t < now - TOUCH_EVERY_MS);
        let mut inner = self.lock();
        if inner.generation != generation {
            return touch;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(
            token_hash.to_owned(),
            Entry {
                dir: v.dir,
                expires_at: v.expires_at,
                verified: Instant::now(),
                verified_at: now,
                last_used_at: if touch { Some(now) } else { v.last_used_at },
            },
        );
        touch
    }

    /// Forgets every token: called when a change that may revoke or rename one commits.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{DirectoryId, OrgId};

    fn verified(expires_at: Option<i64>) -> Verified {
        Verified {
            dir: DirCtx {
                directory_id: DirectoryId::from_stored("dir_1"),
                organization_id: OrgId::from_stored("org_1"),
                name: "Okta".into(),
            },
            expires_at,
            last_used_at: None,
        }
    }

    #[test]
    fn a_remembered_token_answers_until_it_expires() {
        let c = TokenCache::default();
        assert!(c.get("h", 1_000).is_none());
        let g = c.generation();
        assert!(
            c.remember(g, "h", verified(Some(1_500)), 1_000),
            "first use is recorded"
        );
        let hit = c.get("h", 1_100).expect("remembered");
        assert_eq!(hit.dir.directory_id.to_string(), "dir_1");
        assert!(!hit.touch, "recorded a moment ago");
        assert!(c.get("h", 1_500).is_none(), "expired at its expires_at");
        assert!(c.get("h", 1_100).is_none(), "and forgotten");
    }

    #[test]
    fn the_application_clock_moving_past_the_trust_window_asks_again() {
        let c = TokenCache::default();
        c.remember(c.generation(), "h", verified(None), 0);
        assert!(c.get("h", 1).is_some());
        assert!(c.get("h", TOKEN_TRUST.as_millis() as i64).is_none());
    }

    #[test]
    fn forgetting_wins_over_a_lookup_that_began_before() {
        let c = TokenCache::default();
        let g = c.generation();
        c.forget_all();
        c.remember(g, "h", verified(None), 0);
        assert!(c.get("h", 1).is_none(), "a stale answer is not kept");
        c.remember(c.generation(), "h", verified(None), 0);
        assert!(c.get("h", 1).is_some());
        c.forget_all();
        assert!(c.get("h", 1).is_none());
    }
}
