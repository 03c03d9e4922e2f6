//! The life of a domain claim: pending → verified ⇄ lapsed, pending → failed. Pure: the caller
//! observes DNS and passes the time.

use super::event_type::EventType;

vocabulary! {
    /// Where a claim stands.
    pub enum DomainState {
        /// Waiting for the TXT record.
        Pending = "pending",
        /// Proven; grants JIT and sign-in routing.
        Verified = "verified",
        /// Gave up (30 days without proof, or proven by another organization first).
        Failed = "failed",
        /// Was verified, but the record has been missing longer than the grace period.
        Lapsed = "lapsed",
    }
}

vocabulary! {
    /// Who proved a claim (`domains.verified_by`).
    pub enum DomainVerifier {
        /// The TXT record was found.
        Dns = "dns",
        /// The vendor declared it verified through the API.
        Vendor = "vendor",
    }
}

/// What one DNS check saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// The expected value is published.
    Matched,
    /// The name answered, without the expected value (or does not exist).
    Missing,
    /// Timeout, SERVFAIL, network trouble: no conclusion.
    Inconclusive,
}

/// Timing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How often verified domains are re-proved.
    pub reproof_interval_ms: i64,
    /// How long a verified domain's record may be missing before it lapses.
    pub lapse_grace_ms: i64,
    /// How long a pending claim is polled before it fails.
    pub pending_lifetime_ms: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            reproof_interval_ms: 24 * HOUR,
            lapse_grace_ms: 3 * 24 * HOUR,
            pending_lifetime_ms: 30 * 24 * HOUR,
        }
    }
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// A claim's timing state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub state: DomainState,
    pub created_at: i64,
    /// When the record was first seen missing since the last proof.
    pub missing_since: Option<i64>,
    /// Consecutive unsuccessful checks while pending.
    pub failures: i64,
}

/// The result of applying an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub claim: Claim,
    /// When to look again (`None`: the job no longer polls it).
    pub next_check_at: Option<i64>,
    /// The audit/event action for a state transition, if one happened.
    pub event: Option<EventType>,
    /// True when this observation proved the record (sets `last_proved_at`).
    pub proved: bool,
}

/// Delay before the next poll of a pending claim: 1 min, 5 min, 15 min, 1 h, then every 6 h.
pub fn pending_backoff(failures: i64) -> i64 {
    match failures {
        i64::MIN..=0 => MINUTE,
        1 => 5 * MINUTE,
        2 => 15 * MINUTE,
        3 => HOUR,
        _ => 6 * HOUR,
    }
}

/// Applies one observation at `now`.
pub fn transition(c: Claim, obs: Observation, now: i64, p: &Policy) -> Step {
    use DomainState::*;
    use Observation::*;
    let verified = |event| Step {
        claim: Claim {
            state: Verified,
            missing_since: None,
            failures: 0,
            ..c
        },
        next_check_at: Some(now + p.reproof_interval_ms),
        event,
        proved: true,
    };
    match (c.state, obs) {
        (Pending | Lapsed | Failed, Matched) => verified(Some(EventType::DomainVerified)),
        (Verified, Matched) => verified(None),
        (Pending, Missing | Inconclusive) => {
            if now - c.created_at >= p.pending_lifetime_ms {
                Step {
                    claim: Claim {
                        state: Failed,
                        failures: c.failures + 1,
                        ..c
                    },
                    next_check_at: None,
                    event: Some(EventType::DomainVerificationFailed),
                    proved: false,
                }
            } else {
                Step {
                    claim: Claim {
                        failures: c.failures + 1,
                        ..c
                    },
                    next_check_at: Some(now + pending_backoff(c.failures)),
                    event: None,
                    proved: false,
                }
            }
        }
        (Verified, Inconclusive) => Step {
            claim: c,
            next_check_at: Some(now + HOUR.min(p.reproof_interval_ms)),
            event: None,
            proved: false,
        },
        (Verified, Missing) => {
            let since = c.missing_since.unwrap_or(now);
            if now - since >= p.lapse_grace_ms {
                Step {
                    claim: Claim {
                        state: Lapsed,
                        missing_since: Some(since),
                        ..c
                    },
                    next_check_at: Some(now + p.reproof_interval_ms),
                    event: Some(EventType::DomainLapsed),
                    proved: false,
                }
            } else {
                Step {
                    claim: Claim {
                        missing_since: Some(since),
                        ..c
                    },
                    // Look again no later than the moment the grace period ends.
                    next_check_at: Some(
                        (now + p.reproof_interval_ms).min(since + p.lapse_grace_ms),
                    ),
                    event: None,
                    proved: false,
                }
            }
        }
        (Lapsed, Missing | Inconclusive) => Step {
            claim: c,
            next_check_at: Some(now + p.reproof_interval_ms),
            event: None,
            proved: false,
        },
        (Failed, Missing | Inconclusive) => Step {
            claim: c,
            next_check_at: None,
            event: None,
            proved: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DomainState::*;
    use Observation::*;

    fn claim(state: DomainState) -> Claim {
        Claim {
            state,
            created_at: 0,
            missing_since: None,
            failures: 0,
        }
    }

    #[test]
    fn tables() {
        crate::domain::check_vocabulary(DomainState::ALL, |v| v.as_str(), DomainState::parse);
        crate::domain::check_vocabulary(DomainVerifier::ALL, |v| v.as_str(), DomainVerifier::parse);
    }

    #[test]
    fn pending_becomes_verified_on_match() {
        let s = transition(claim(Pending), Matched, 10, &Policy::default());
        assert_eq!(s.claim.state, Verified);
        assert_eq!(s.event, Some(EventType::DomainVerified));
        assert!(s.proved);
        assert_eq!(s.next_check_at, Some(10 + 24 * HOUR));
    }

    #[test]
    fn pending_backs_off_then_fails_after_30_days() {
        let p = Policy::default();
        let mut c = claim(Pending);
        let mut delays = Vec::new();
        let mut now = 0;
        for _ in 0..6 {
            let s = transition(c, Missing, now, &p);
            assert_eq!(s.claim.state, Pending);
            delays.push(s.next_check_at.unwrap() - now);
            now = s.next_check_at.unwrap();
            c = s.claim;
        }
        assert_eq!(
            delays,
            [MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 6 * HOUR, 6 * HOUR]
        );
        let s = transition(c, Inconclusive, 30 * 24 * HOUR, &p);
        assert_eq!(s.claim.state, Failed);
        assert_eq!(s.event, Some(EventType::DomainVerificationFailed));
        assert_eq!(s.next_check_at, None);
    }

    #[test]
    fn verified_lapses_only_after_the_grace_period() {
        let p = Policy::default();
        let s1 = transition(claim(Verified), Missing, 0, &p);
        assert_eq!(s1.claim.state, Verified);
        assert_eq!(s1.claim.missing_since, Some(0));
        assert_eq!(s1.event, None);
        let s2 = transition(s1.claim, Missing, 3 * 24 * HOUR - 1, &p);
        assert_eq!(s2.claim.state, Verified);
        assert_eq!(
            s2.next_check_at,
            Some(3 * 24 * HOUR),
            "re-check exactly when grace ends"
        );
        let s3 = transition(s2.claim, Missing, 3 * 24 * HOUR, &p);
        assert_eq!(s3.claim.state, Lapsed);
        assert_eq!(s3.event, Some(EventType::DomainLapsed));
    }

    #[test]
    fn inconclusive_checks_never_lapse_a_domain() {
        let p = Policy::default();
        let mut c = claim(Verified);
        for day in 0..10 {
            let s = transition(c, Inconclusive, day * 24 * HOUR, &p);
            assert_eq!(s.claim.state, Verified);
            c = s.claim;
        }
    }

    #[test]
    fn a_match_clears_missing_and_recovers_lapsed() {
        let p = Policy::default();
        let c = Claim {
            missing_since: Some(5),
            ..claim(Verified)
        };
        assert_eq!(transition(c, Matched, 6, &p).claim.missing_since, None);
        let s = transition(claim(Lapsed), Matched, 6, &p);
        assert_eq!(s.claim.state, Verified);
        assert_eq!(s.event, Some(EventType::DomainVerified));
    }
}
