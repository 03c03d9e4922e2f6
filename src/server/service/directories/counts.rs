//! Directory traffic and size counts, kept a moment in memory: counting a large directory's
//! users and the day's SCIM requests reads every index entry, and the portal's overview and
//! directories pages show them on every view.
//!
//! An entry is used only while no write committed in this process since it was computed
//! ([`Db::generation`](crate::server::db::Db::generation): SCIM writes and the request log both
//! move it) and for at most [`FRESH_MS`] of the application clock, which bounds how stale another
//! node's writes (or requests leaving the 24-hour window) can leave it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::server::db::directories::DirectoryCounts;
use crate::server::db::{self, Conn};

/// Longest an entry is used, in milliseconds of the application clock.
pub const FRESH_MS: i64 = 5_000;

/// Entries kept at most; past it the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// The counts by directory id.
#[derive(Debug, Default)]
pub struct CountsCache {
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    generation: u64,
    at: i64,
    counts: DirectoryCounts,
}

impl CountsCache {
    /// The counts of `ids` (traffic since `now` minus 24 hours): from memory when every one is
    /// fresh, else read in one statement.
    pub async fn get(
        &self,
        conn: &mut Conn,
        generation: u64,
        now: i64,
        ids: &[String],
    ) -> Result<Vec<DirectoryCounts>, sqlx::Error> {
        if let Some(hit) = self.cached(generation, now, ids) {
            return Ok(hit);
        }
        let counts = db::directories::directory_counts(conn, ids, now - 86_400_000).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() + counts.len() > MAX_ENTRIES {
            entries.clear();
        }
        for c in &counts {
            entries.insert(
                c.directory_id.clone(),
                Entry {
                    generation,
                    at: now,
                    counts: c.clone(),
                },
            );
        }
        Ok(counts)
    }

    /// The counts of `ids` when every one is in memory and fresh.
    pub fn cached(
        &self,
        generation: u64,
        now: i64,
        ids: &[String],
    ) -> Option<Vec<DirectoryCounts>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        ids.iter()
            .map(|id| {
                entries
                    .get(id)
                    .filter(|e| {
                        e.generation == generation && (e.at..e.at + FRESH_MS).contains(&now)
                    })
                    .map(|e| e.counts.clone())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(id: &str, users: i64) -> DirectoryCounts {
        DirectoryCounts {
            directory_id: id.into(),
            requests: 0,
            errors: 0,
            last_request_at: None,
            user_count: users,
            group_count: 0,
        }
    }

    fn cache_with(id: &str, generation: u64, at: i64) -> CountsCache {
        let c = CountsCache::default();
        c.entries.lock().unwrap().insert(
            id.into(),
            Entry {
                generation,
                at,
                counts: counts(id, 7),
            },
        );
        c
    }

    #[test]
    fn an_entry_serves_only_its_generation_and_a_few_seconds() {
        let c = cache_with("d1", 3, 1_000);
        let ids = ["d1".to_string()];
        assert_eq!(c.cached(3, 1_000, &ids).unwrap()[0].user_count, 7);
        assert_eq!(
            c.cached(3, 1_000 + FRESH_MS - 1, &ids).unwrap()[0].user_count,
            7
        );
        // A write committed since, too old, or a clock moved back: read again.
        assert!(c.cached(4, 1_000, &ids).is_none());
        assert!(c.cached(3, 1_000 + FRESH_MS, &ids).is_none());
        assert!(c.cached(3, 999, &ids).is_none());
        // One directory not cached: all are read.
        assert!(c.cached(3, 1_000, &["d1".into(), "d2".into()]).is_none());
    }
}
