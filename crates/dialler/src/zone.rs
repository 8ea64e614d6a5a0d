//! Contact time zones and calling windows.
//!
//! A contact's zone is the one its list gives, else one derived from the number by a small table
//! (NANP area codes for `+1`, country codes for single-zone countries), else the campaign's
//! default. Countries spanning several zones that the table does not resolve fall back to the
//! default: lists for them should carry the zone.
//!
//! Windows are checked in the contact's local time: [`is_open`] at dial time and [`next_open`] to
//! schedule a contact that met a closed window, both honouring holidays and DST gaps.

use crate::ids::Number;
use crate::settings::CallingHours;
use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;

/// NANP area code to zone (a sample of large areas; extend as lists demand).
const NANP: &[(&str, Tz)] = &[
    ("201", Tz::America__New_York),
    ("202", Tz::America__New_York),
    ("212", Tz::America__New_York),
    ("215", Tz::America__New_York),
    ("305", Tz::America__New_York),
    ("404", Tz::America__New_York),
    ("617", Tz::America__New_York),
    ("718", Tz::America__New_York),
    ("312", Tz::America__Chicago),
    ("214", Tz::America__Chicago),
    ("713", Tz::America__Chicago),
    ("612", Tz::America__Chicago),
    ("303", Tz::America__Denver),
    ("801", Tz::America__Denver),
    ("602", Tz::America__Phoenix),
    ("213", Tz::America__Los_Angeles),
    ("310", Tz::America__Los_Angeles),
    ("415", Tz::America__Los_Angeles),
    ("206", Tz::America__Los_Angeles),
    ("702", Tz::America__Los_Angeles),
    ("907", Tz::America__Anchorage),
    ("808", Tz::Pacific__Honolulu),
    ("416", Tz::America__Toronto),
    ("514", Tz::America__Toronto),
    ("604", Tz::America__Vancouver),
    ("403", Tz::America__Edmonton),
    ("787", Tz::America__Puerto_Rico),
];

/// Country code to zone, for countries with one zone (longest codes first where they overlap).
const COUNTRIES: &[(&str, Tz)] = &[
    ("353", Tz::Europe__Dublin),
    ("351", Tz::Europe__Lisbon),
    ("352", Tz::Europe__Luxembourg),
    ("358", Tz::Europe__Helsinki),
    ("420", Tz::Europe__Prague),
    ("971", Tz::Asia__Dubai),
    ("972", Tz::Asia__Jerusalem),
    ("852", Tz::Asia__Hong_Kong),
    ("30", Tz::Europe__Athens),
    ("31", Tz::Europe__Amsterdam),
    ("32", Tz::Europe__Brussels),
    ("33", Tz::Europe__Paris),
    ("34", Tz::Europe__Madrid),
    ("36", Tz::Europe__Budapest),
    ("39", Tz::Europe__Rome),
    ("40", Tz::Europe__Bucharest),
    ("41", Tz::Europe__Zurich),
    ("43", Tz::Europe__Vienna),
    ("44", Tz::Europe__London),
    ("45", Tz::Europe__Copenhagen),
    ("46", Tz::Europe__Stockholm),
    ("47", Tz::Europe__Oslo),
    ("48", Tz::Europe__Warsaw),
    ("49", Tz::Europe__Berlin),
    ("27", Tz::Africa__Johannesburg),
    ("65", Tz::Asia__Singapore),
    ("81", Tz::Asia__Tokyo),
    ("82", Tz::Asia__Seoul),
    ("86", Tz::Asia__Shanghai),
    ("91", Tz::Asia__Kolkata),
    ("64", Tz::Pacific__Auckland),
];

/// The zone the table derives from a number, if any.
pub fn zone_of_number(number: &Number) -> Option<Tz> {
    let d = number.digits();
    if let Some(rest) = d.strip_prefix('1') {
        let area = rest.get(..3)?;
        return NANP.iter().find(|(a, _)| *a == area).map(|(_, z)| *z);
    }
    COUNTRIES
        .iter()
        .find(|(cc, _)| d.starts_with(cc))
        .map(|(_, z)| *z)
}

/// Whether `now` falls in the contact's calling window (local time, holidays excluded).
pub fn is_open(
    now: DateTime<Utc>,
    zone: Tz,
    hours: &CallingHours,
    holidays: &BTreeSet<NaiveDate>,
) -> bool {
    let local = now.with_timezone(&zone);
    let date = local.date_naive();
    if holidays.contains(&date) {
        return false;
    }
    match hours.window(date.weekday()) {
        Some((start, end)) => {
            let t = local.time();
            t >= start && t < end
        }
        None => false,
    }
}

/// The earliest instant at or after `now` when the window is open, looking up to 366 days
/// ahead; `None` if the hours and holidays close every day of that year.
pub fn next_open(
    now: DateTime<Utc>,
    zone: Tz,
    hours: &CallingHours,
    holidays: &BTreeSet<NaiveDate>,
) -> Option<DateTime<Utc>> {
    if is_open(now, zone, hours, holidays) {
        return Some(now);
    }
    let today = now.with_timezone(&zone).date_naive();
    for offset in 0..=366 {
        let date = today + ChronoDuration::days(offset);
        if holidays.contains(&date) {
            continue;
        }
        let Some((start, end)) = hours.window(date.weekday()) else {
            continue;
        };
        let Some(open) = local_to_utc(zone, date, start, end) else {
            continue;
        };
        if open >= now {
            return Some(open);
        }
    }
    None
}

/// The start of the first calling day strictly after `now`'s local date.
pub fn next_day_open(
    now: DateTime<Utc>,
    zone: Tz,
    hours: &CallingHours,
    holidays: &BTreeSet<NaiveDate>,
) -> Option<DateTime<Utc>> {
    let tomorrow = now.with_timezone(&zone).date_naive() + ChronoDuration::days(1);
    let midnight = local_to_utc(
        zone,
        tomorrow,
        chrono::NaiveTime::MIN,
        chrono::NaiveTime::MIN,
    )?;
    next_open(midnight.max(now), zone, hours, holidays)
}

/// The local date of an instant in a zone.
pub fn local_date(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// `date` at local `time` as UTC; in a DST gap, the first valid minute after it (bounded by
/// `until` unless `until` is midnight, which means "no bound").
fn local_to_utc(
    zone: Tz,
    date: NaiveDate,
    time: chrono::NaiveTime,
    until: chrono::NaiveTime,
) -> Option<DateTime<Utc>> {
    let mut at = date.and_time(time);
    for _ in 0..=180 {
        if let Some(t) = zone.from_local_datetime(&at).earliest() {
            return Some(t.with_timezone(&Utc));
        }
        at += ChronoDuration::minutes(1);
        if until != chrono::NaiveTime::MIN && at.time() >= until {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, Weekday};

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn derives_zones_from_numbers() {
        assert_eq!(
            zone_of_number(&n("+12125550100")),
            Some(Tz::America__New_York)
        );
        assert_eq!(
            zone_of_number(&n("+14155550100")),
            Some(Tz::America__Los_Angeles)
        );
        assert_eq!(zone_of_number(&n("+19995550100")), None);
        assert_eq!(
            zone_of_number(&n("+442079460000")),
            Some(Tz::Europe__London)
        );
        assert_eq!(
            zone_of_number(&n("+353112345678")),
            Some(Tz::Europe__Dublin)
        );
        assert_eq!(zone_of_number(&n("+5511912345678")), None);
    }

    #[test]
    fn windows_respect_local_time_weekdays_and_holidays() {
        let hours = CallingHours::default();
        let ny = Tz::America__New_York;
        // Monday 2 March 2026, 13:59 UTC = 08:59 in New York (EST): closed; opens 14:00 UTC.
        let mon = Utc.with_ymd_and_hms(2026, 3, 2, 13, 59, 0).unwrap();
        let none = BTreeSet::new();
        assert!(!is_open(mon, ny, &hours, &none));
        let opens = Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap();
        assert_eq!(next_open(mon, ny, &hours, &none), Some(opens));
        assert!(is_open(opens, ny, &hours, &none));
        // A holiday on that Monday moves the opening to Tuesday.
        let holidays: BTreeSet<_> = [NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()].into();
        let tue = Utc.with_ymd_and_hms(2026, 3, 3, 14, 0, 0).unwrap();
        assert_eq!(next_open(mon, ny, &hours, &holidays), Some(tue));
        // Saturday 20:00 local closes; Sunday is closed: Monday 09:00 next.
        let sat_late = Utc.with_ymd_and_hms(2026, 3, 8, 1, 0, 0).unwrap();
        assert_eq!(sat_late.with_timezone(&ny).weekday(), Weekday::Sat);
        assert_eq!(
            next_open(sat_late, ny, &hours, &none),
            // 9 March 2026 is after the US DST change (8 March): 09:00 EDT = 13:00 UTC.
            Some(Utc.with_ymd_and_hms(2026, 3, 9, 13, 0, 0).unwrap())
        );
        assert_eq!(
            next_day_open(opens, ny, &hours, &none),
            Some(Utc.with_ymd_and_hms(2026, 3, 3, 14, 0, 0).unwrap())
        );
    }

    #[test]
    fn a_window_starting_in_a_dst_gap_opens_after_it() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let hours = CallingHours::every_day(t(2, 30), t(5, 0));
        let ny = Tz::America__New_York;
        // 8 March 2026: 02:00 EST jumps to 03:00 EDT.
        let before = Utc.with_ymd_and_hms(2026, 3, 8, 6, 0, 0).unwrap();
        let open = next_open(before, ny, &hours, &BTreeSet::new()).unwrap();
        assert_eq!(open, Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap());
    }
}
