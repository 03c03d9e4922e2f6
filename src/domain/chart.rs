//! Counts per day for the small charts of the portal and the console: the last days, oldest
//! first, every day present (a day without activity is a zero, not a gap).

use serde::{Deserialize, Serialize};

/// One day's two counts: what went well (`ok`) and what did not (`bad`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// `2026-12-03` (UTC).
    pub date: String,
    pub ok: i64,
    pub bad: i64,
}

/// How many days the charts show.
pub const DAYS: i64 = 14;

/// The `days` days ending with `today` (a day number: milliseconds since the epoch ÷ one day),
/// each with the counts `rows` give it as (day number, bad?, count); rows outside are ignored.
pub fn fill(
    today: i64,
    days: i64,
    rows: impl IntoIterator<Item = (i64, bool, i64)>,
) -> Vec<DayCount> {
    let first = today - days + 1;
    let mut out: Vec<DayCount> = (first..=today)
        .map(|d| DayCount {
            date: date_of(d),
            ok: 0,
            bad: 0,
        })
        .collect();
    for (day, bad, n) in rows {
        if day < first || day > today {
            continue;
        }
        let Some(slot) = usize::try_from(day - first)
            .ok()
            .and_then(|i| out.get_mut(i))
        else {
            continue;
        };
        if bad {
            slot.bad += n;
        } else {
            slot.ok += n;
        }
    }
    out
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), by the civil-from-days algorithm.
pub fn date_of(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_day_numbers() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_425), "2025-12-03");
        assert_eq!(date_of(19_782), "2024-02-29");
        assert_eq!(date_of(-1), "1969-12-31");
    }

    #[test]
    fn every_day_is_there_and_rows_land_on_theirs() {
        let days = fill(
            100,
            3,
            [
                (100, false, 4),
                (100, true, 1),
                (99, false, 2),
                (50, false, 9),
                (101, true, 7),
            ],
        );
        assert_eq!(days.len(), 3);
        assert_eq!((days[0].ok, days[0].bad), (0, 0));
        assert_eq!((days[1].ok, days[1].bad), (2, 0));
        assert_eq!((days[2].ok, days[2].bad), (4, 1));
        assert_eq!(days[2].date, date_of(100));
    }
}
