//! A small in-memory fixed-window rate limiter, per node. Limits are generous: they stop
//! brute force and runaway clients, never an IdP's normal SCIM push or a burst of sign-ins.

use std::collections::HashMap;
use std::sync::Mutex;

/// Named limits: (requests, window in milliseconds).
pub mod limits {
    /// Vendor API calls per key.
    pub const API: (u32, i64) = (6000, 60_000);
    /// Failed API authentications per client address.
    pub const API_AUTH_FAILURE: (u32, i64) = (60, 60_000);
    /// Setup-link redemptions per client address.
    pub const LINK_REDEEM: (u32, i64) = (20, 60_000);
    /// Setup-link page views per client address.
    pub const LINK_VIEW: (u32, i64) = (120, 60_000);
    /// Staff console sign-in attempts per client address.
    pub const STAFF_SIGN_IN: (u32, i64) = (10, 60_000);
    /// Staff console sign-in attempts per email address, from anywhere.
    pub const STAFF_SIGN_IN_PER_EMAIL: (u32, i64) = (10, 15 * 60_000);
}

/// (class, client key) → (window start, requests in the window).
type Windows = HashMap<(&'static str, String), (i64, u32)>;

/// Counts requests per (class, key) in fixed windows.
#[derive(Debug)]
pub struct RateLimiter {
    enabled: bool,
    windows: Mutex<Windows>,
}

impl RateLimiter {
    /// A limiter; when `enabled` is false every request passes.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request; false when it exceeds `limit` in the current window.
    pub fn check(
        &self,
        class: &'static str,
        key: &str,
        (limit, window): (u32, i64),
        now: i64,
    ) -> bool {
        if !self.enabled {
            return true;
        }
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| now - *start < window);
        }
        let entry = map.entry((class, key.to_owned())).or_insert((now, 0));
        if now - entry.0 >= window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_within_a_window_and_resets_after() {
        let l = RateLimiter::new(true);
        assert!(l.check("t", "a", (2, 1000), 0));
        assert!(l.check("t", "a", (2, 1000), 10));
        assert!(!l.check("t", "a", (2, 1000), 20));
        assert!(l.check("t", "b", (2, 1000), 20));
        assert!(l.check("t", "a", (2, 1000), 1000));
    }

    #[test]
    fn disabled_never_limits() {
        let l = RateLimiter::new(false);
        assert!((0..10).all(|i| l.check("t", "a", (1, 1000), i)));
    }
}
