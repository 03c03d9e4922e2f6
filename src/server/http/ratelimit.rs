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
    /// Failed client authentications at the OpenID Provider's token endpoint per client address.
    pub const OAUTH_CLIENT_AUTH_FAILURE: (u32, i64) = (60, 60_000);
    /// Home-realm discovery lookups (an email typed on `/oauth2/authorize`) per client address.
    pub const OAUTH_DISCOVERY: (u32, i64) = (60, 60_000);
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

    /// Whether (class, key) has already reached `limit` in the current window, without counting
    /// anything: for limits that count only some outcomes (failures), checked before the work and
    /// fed by [`RateLimiter::hit`] after it.
    pub fn over(
        &self,
        class: &'static str,
        key: &str,
        (limit, window): (u32, i64),
        now: i64,
    ) -> bool {
        if !self.enabled {
            return false;
        }
        let map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(class, key.to_owned()))
            .is_some_and(|(start, n)| now - *start < window && *n >= limit)
    }

    /// Counts one event for (class, key) in a window of `window` ms; returns the count in the
    /// current window, this one included (0 when the limiter is disabled).
    pub fn hit(&self, class: &'static str, key: &str, window: i64, now: i64) -> u32 {
        if !self.enabled {
            return 0;
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
        assert_eq!(l.hit("t", "a", 1000, 0), 0);
        assert!(!l.over("t", "a", (0, 1000), 0));
    }

    #[test]
    fn over_counts_nothing_and_hit_counts() {
        let l = RateLimiter::new(true);
        let limit = (2, 1000);
        // Looking does not count: any number of checks leave the key under its limit.
        assert!((0..10).all(|i| !l.over("t", "a", limit, i)));
        assert_eq!(l.hit("t", "a", 1000, 10), 1);
        assert!(!l.over("t", "a", limit, 11));
        assert_eq!(l.hit("t", "a", 1000, 12), 2);
        assert!(l.over("t", "a", limit, 13));
        assert!(l.over("t", "a", limit, 999));
        // Other keys and classes are separate.
        assert!(!l.over("t", "b", limit, 13));
        assert!(!l.over("u", "a", limit, 13));
        // The window ends: under the limit again, and the next hit starts a new count.
        assert!(!l.over("t", "a", limit, 1010));
        assert_eq!(l.hit("t", "a", 1000, 1010), 1);
    }

    #[test]
    fn hit_and_check_share_windows_per_class_and_key() {
        let l = RateLimiter::new(true);
        assert_eq!(l.hit("t", "a", 1000, 0), 1);
        assert!(l.check("t", "a", (2, 1000), 1));
        assert!(!l.check("t", "a", (2, 1000), 2));
        assert!(l.over("t", "a", (2, 1000), 3));
    }
}
