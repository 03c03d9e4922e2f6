//! An injectable clock so that expiry rules can be tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Source of the current time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Added to the system time; tests move it forward.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Current time in milliseconds since the epoch.
    pub fn now(&self) -> Millis {
        let sys = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        sys as i64 + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, ms: Millis) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Formats epoch milliseconds as RFC 3339 UTC (`2026-11-28T14:36:54.123Z`).
pub fn rfc3339(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_millis() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
    }
}
