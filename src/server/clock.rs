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

/// Re-exported from [`crate::server::timefmt`], where every time format lives.
pub use super::timefmt::rfc3339;
