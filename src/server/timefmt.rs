//! Every way Lanyard writes a time as text, in one place. Times are epoch milliseconds
//! ([`Millis`]) in UTC; each format below is part of a wire format or a page that tests compare,
//! so changing one changes what clients see.
//!
//! | function | example | used for |
//! |---|---|---|
//! | [`rfc3339`] | `2026-11-28T14:36:54.123Z` | JSON values, SCIM `meta`, CSV/NDJSON exports, link pages, audit/event payloads |
//! | [`rfc3339_seconds`] | `2026-11-28T12:00:00Z` | SAML `IssueInstant` and assertion-time evidence |
//! | [`human_utc`] | `2026-11-28 14:36:54 UTC` | the portal's directory-sync page |
//! | [`file_stamp`] | `20261128T143654.123456Z` | names of `.eml` files, which sort in sending order |
//! | [`days_between`] | `3` | "N days" ages and "no sign-in for N days" |

use crate::server::clock::Millis;

/// One day in milliseconds.
pub const DAY_MS: Millis = 86_400_000;

/// RFC 3339 UTC with milliseconds (`2026-11-28T14:36:54.123Z`); out-of-range input gives the epoch.
pub fn rfc3339(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

/// RFC 3339 UTC to the second, fraction dropped (`2026-11-28T12:00:00Z`), as SAML writes instants.
pub fn rfc3339_seconds(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt).unwrap_or_default()
}

/// A date and time for people, to the second (`2026-11-28 14:36:54 UTC`).
pub fn human_utc(ms: Millis) -> String {
    rfc3339(ms)
        .replace('T', " ")
        .chars()
        .take(19)
        .collect::<String>()
        + " UTC"
}

/// A compact UTC stamp with microseconds (`20261128T143654.123456Z`) for file names.
pub fn file_stamp(t: time::OffsetDateTime) -> Result<String, time::error::Format> {
    t.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:6]Z"
    ))
}

/// Whole days from `from` to `to`, never negative (an age, "N days ago").
pub fn days_between(from: Millis, to: Millis) -> i64 {
    (to - from).max(0) / DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_millis() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }

    #[test]
    fn formats_seconds_people_and_files() {
        assert_eq!(rfc3339_seconds(1_795_000_000_999), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339_seconds(-1), "1969-12-31T23:59:59Z");
        assert_eq!(human_utc(1_795_000_000_123), "2026-11-18 11:06:40 UTC");
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_123_456_000).unwrap();
        assert_eq!(file_stamp(t).unwrap(), "20261118T110640.123456Z");
    }

    #[test]
    fn days_are_whole_and_never_negative() {
        assert_eq!(days_between(0, DAY_MS - 1), 0);
        assert_eq!(days_between(0, 3 * DAY_MS + 5), 3);
        assert_eq!(days_between(5 * DAY_MS, 0), 0);
    }
}
