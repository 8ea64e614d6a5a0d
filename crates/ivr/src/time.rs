//! Wall-clock dates without a clock: the switch passes the wall-clock time of the call start
//! ([`UnixTime`]); the session adds the `Instant` time elapsed since then. Used for business
//! hours, holidays and card expiry.

use std::fmt;
use std::time::Duration;

/// Seconds since 1970-01-01T00:00:00Z, as read by the switch from its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// This time plus an elapsed duration.
    pub fn plus(self, d: Duration) -> UnixTime {
        UnixTime(
            self.0
                .saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        )
    }

    /// The local date and time at a fixed UTC offset (in minutes, east positive).
    pub fn local(self, offset_minutes: i32) -> CivilDateTime {
        let t = self.0 + i64::from(offset_minutes) * 60;
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        let date = CivilDate::from_days(days);
        CivilDateTime {
            date,
            hour: (secs / 3600) as u32,
            minute: ((secs % 3600) / 60) as u32,
        }
    }
}

/// A calendar date (proleptic Gregorian).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct CivilDate {
    /// e.g. 2026
    pub year: i32,
    /// 1-12
    pub month: u32,
    /// 1-31
    pub day: u32,
}

impl CivilDate {
    /// Days since 1970-01-01 to a date (H. Hinnant's civil_from_days).
    pub fn from_days(z: i64) -> CivilDate {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        CivilDate {
            year: (if m <= 2 { y + 1 } else { y }) as i32,
            month: m,
            day: d,
        }
    }

    /// Days since 1970-01-01 (H. Hinnant's days_from_civil).
    pub fn to_days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Day of the week.
    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday.
        Weekday::from_index((self.to_days() + 3).rem_euclid(7) as u8)
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<CivilDate> {
        let mut it = s.split('-');
        let year: i32 = it.next()?.parse().ok()?;
        let month: u32 = it.next()?.parse().ok()?;
        let day: u32 = it.next()?.parse().ok()?;
        if it.next().is_some() || !(1..=12).contains(&month) || day == 0 || day > 31 {
            return None;
        }
        let d = CivilDate { year, month, day };
        // Reject 2026-02-30 and the like by a round trip.
        (CivilDate::from_days(d.to_days()) == d).then_some(d)
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A local date and time of day (minute precision).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct CivilDateTime {
    /// The date.
    pub date: CivilDate,
    /// 0-23
    pub hour: u32,
    /// 0-59
    pub minute: u32,
}

/// Days of the week, Monday first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weekday {
    /// Monday
    Mon,
    /// Tuesday
    Tue,
    /// Wednesday
    Wed,
    /// Thursday
    Thu,
    /// Friday
    Fri,
    /// Saturday
    Sat,
    /// Sunday
    Sun,
}

impl Weekday {
    const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    fn from_index(i: u8) -> Weekday {
        Weekday::ALL[usize::from(i % 7)]
    }

    /// 0 for Monday .. 6 for Sunday.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Three-letter lowercase name as used in flow files (`mon` .. `sun`).
    pub fn short_name(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.index()]
    }

    /// Full lowercase name (`monday` ..), the prompt name used when saying a date.
    pub fn long_name(self) -> &'static str {
        [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ][self.index()]
    }

    /// From `mon`..`sun`.
    pub fn parse(s: &str) -> Option<Weekday> {
        Weekday::ALL.into_iter().find(|w| w.short_name() == s)
    }
}

/// Opening hours: per weekday a list of `[open, close)` minute-of-day ranges, a fixed UTC
/// offset, and closed dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    /// Minutes east of UTC.
    pub utc_offset_minutes: i32,
    /// Index 0 = Monday; ranges in minutes after local midnight.
    pub open: [Vec<(u32, u32)>; 7],
    /// Local dates on which the business is closed all day.
    pub holidays: Vec<CivilDate>,
}

impl BusinessHours {
    /// Whether the business is open at a wall-clock instant.
    pub fn is_open(&self, at: UnixTime) -> bool {
        let local = at.local(self.utc_offset_minutes);
        if self.holidays.contains(&local.date) {
            return false;
        }
        let minute = local.hour * 60 + local.minute;
        self.open[local.date.weekday().index()]
            .iter()
            .any(|&(a, b)| a <= minute && minute < b)
    }
}

/// Parses `+HH:MM` / `-HH:MM` / `Z` into minutes east of UTC.
pub(crate) fn parse_utc_offset(s: &str) -> Option<i32> {
    if s == "Z" || s == "UTC" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(sign * (h * 60 + m))
}

/// Parses `HH:MM-HH:MM` into minutes after midnight; `24:00` is allowed as an end.
pub(crate) fn parse_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let hm = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let h: u32 = h.parse().ok()?;
        let m: u32 = m.parse().ok()?;
        (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
    };
    let (a, b) = (hm(a)?, hm(b)?);
    (a < b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_weekday() {
        let d = CivilDate::parse("2026-11-23").unwrap();
        assert_eq!(d.weekday(), Weekday::Mon);
        assert_eq!(CivilDate::from_days(d.to_days()), d);
        assert_eq!(
            CivilDate::from_days(0),
            CivilDate {
                year: 1970,
                month: 1,
                day: 1
            }
        );
        assert_eq!(
            CivilDate::parse("2024-02-29").unwrap().weekday(),
            Weekday::Thu
        );
        assert!(CivilDate::parse("2026-02-29").is_none());
        assert!(CivilDate::parse("2026-13-01").is_none());
        // 2026-11-23T00:00:35Z
        let t = UnixTime(1_795_392_035);
        assert_eq!(t.local(0).date, d);
        assert_eq!(t.local(-60).date, CivilDate::parse("2026-11-22").unwrap());
    }

    #[test]
    fn business_hours_with_offset_and_holiday() {
        let mut open: [Vec<(u32, u32)>; 7] = Default::default();
        for day in open.iter_mut().take(5) {
            day.push(parse_range("09:00-17:00").unwrap());
        }
        let bh = BusinessHours {
            utc_offset_minutes: parse_utc_offset("+01:00").unwrap(),
            open,
            holidays: vec![CivilDate::parse("2026-12-25").unwrap()],
        };
        let monday_0830_utc = UnixTime(
            CivilDate::parse("2026-11-23").unwrap().to_days() * 86_400 + 8 * 3600 + 30 * 60,
        );
        assert!(bh.is_open(monday_0830_utc)); // 09:30 local
        assert!(!bh.is_open(UnixTime(monday_0830_utc.0 - 3600))); // 08:30 local
        let xmas = UnixTime(CivilDate::parse("2026-12-25").unwrap().to_days() * 86_400 + 10 * 3600);
        assert!(!bh.is_open(xmas));
        let saturday =
            UnixTime(CivilDate::parse("2026-11-28").unwrap().to_days() * 86_400 + 10 * 3600);
        assert!(!bh.is_open(saturday));
        assert_eq!(parse_utc_offset("-05:30"), Some(-330));
        assert_eq!(parse_utc_offset("05:30"), None);
        assert_eq!(parse_range("17:00-09:00"), None);
    }
}
