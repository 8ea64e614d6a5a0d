//! "Say" helpers: turn digits, numbers, amounts of money and dates into lists of prompt names
//! from the shipped prompt set (`config/prompts`, made by `config/prompts/generate.sh`), ready for
//! [`crate::MediaEngine::play`]. English (US) wording: "one hundred twenty three", "twelve dollars
//! and five cents", "monday, march first".

/// Prompt names for each digit of `s` (`*` and `#` included; other characters skipped).
pub fn digits(s: &str) -> Vec<String> {
    s.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(format!("digits/{c}")),
            '*' => Some("digits/star".to_string()),
            '#' => Some("digits/pound".to_string()),
            _ => None,
        })
        .collect()
}

fn below_100(n: u64, out: &mut Vec<String>) {
    match n {
        0..=9 => out.push(format!("digits/{n}")),
        10..=19 => out.push(format!("numbers/{n}")),
        _ => {
            out.push(format!("numbers/{}", n / 10 * 10));
            if !n.is_multiple_of(10) {
                out.push(format!("digits/{}", n % 10));
            }
        }
    }
}

fn below_1000(n: u64, out: &mut Vec<String>) {
    if n >= 100 {
        out.push(format!("digits/{}", n / 100));
        out.push("numbers/hundred".to_string());
        if !n.is_multiple_of(100) {
            below_100(n % 100, out);
        }
    } else {
        below_100(n, out);
    }
}

/// Prompt names for a number as words. Up to 999,999,999; larger numbers are said digit by
/// digit.
pub fn number(n: u64) -> Vec<String> {
    let mut out = Vec::new();
    if n > 999_999_999 {
        return digits(&n.to_string());
    }
    if n == 0 {
        out.push("digits/0".to_string());
        return out;
    }
    let (millions, thousands, rest) = (n / 1_000_000, n / 1000 % 1000, n % 1000);
    if millions > 0 {
        below_1000(millions, &mut out);
        out.push("numbers/million".to_string());
    }
    if thousands > 0 {
        below_1000(thousands, &mut out);
        out.push("numbers/thousand".to_string());
    }
    if rest > 0 {
        below_1000(rest, &mut out);
    }
    out
}

/// Currencies with prompts in the shipped set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Currency {
    /// US dollars and cents.
    Dollar,
    /// Euros and cents.
    Euro,
}

/// Prompt names for an amount given in cents: "twelve dollars and five cents", "one euro",
/// "fifty cents".
pub fn money(cents: u64, currency: Currency) -> Vec<String> {
    let (major, minor) = (cents / 100, cents % 100);
    let (one, many) = match currency {
        Currency::Dollar => ("currency/dollar", "currency/dollars"),
        Currency::Euro => ("currency/euro", "currency/euros"),
    };
    let mut out = Vec::new();
    if major > 0 || minor == 0 {
        out.extend(number(major));
        out.push(if major == 1 { one } else { many }.to_string());
    }
    if minor > 0 {
        if major > 0 {
            out.push("currency/and".to_string());
        }
        out.extend(number(minor));
        out.push(
            if minor == 1 {
                "currency/cent"
            } else {
                "currency/cents"
            }
            .to_string(),
        );
    }
    out
}

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Day of the week, 0 = Monday (proleptic Gregorian calendar).
pub fn weekday(year: i32, month: u32, day: u32) -> Option<usize> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), then 1970-01-01 was a Thursday.
    let y = if month <= 2 { year - 1 } else { year } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days + 3).rem_euclid(7) as usize)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Prompt names for a date: weekday, month, ordinal day ("monday, march first"), plus the year
/// when `with_year` ("twenty twenty six", "two thousand five"). `None` for an invalid date.
pub fn date(year: i32, month: u32, day: u32, with_year: bool) -> Option<Vec<String>> {
    let wd = weekday(year, month, day)?;
    let mut out = vec![
        format!("days/{}", DAYS[wd]),
        format!("months/{month:02}"),
        format!("ordinals/{day}"),
    ];
    if with_year {
        let y = u64::try_from(year).ok()?;
        if (2000..=2009).contains(&y) || y < 1000 {
            out.extend(number(y));
        } else if y % 100 == 0 {
            below_100(y / 100, &mut out);
            out.push("numbers/hundred".to_string());
        } else {
            below_100(y / 100, &mut out);
            if y % 100 < 10 {
                out.push("digits/0".to_string());
            }
            below_100(y % 100, &mut out);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn numbers_in_words() {
        assert_eq!(number(0), s(&["digits/0"]));
        assert_eq!(number(7), s(&["digits/7"]));
        assert_eq!(number(13), s(&["numbers/13"]));
        assert_eq!(number(40), s(&["numbers/40"]));
        assert_eq!(number(42), s(&["numbers/40", "digits/2"]));
        assert_eq!(number(100), s(&["digits/1", "numbers/hundred"]));
        assert_eq!(
            number(1_234_567),
            s(&[
                "digits/1",
                "numbers/million",
                "digits/2",
                "numbers/hundred",
                "numbers/30",
                "digits/4",
                "numbers/thousand",
                "digits/5",
                "numbers/hundred",
                "numbers/60",
                "digits/7"
            ])
        );
        assert_eq!(
            number(2_000_010),
            s(&["digits/2", "numbers/million", "numbers/10"])
        );
        assert_eq!(number(1_000_000_000).len(), 10);
    }

    #[test]
    fn money_amounts() {
        assert_eq!(
            money(1205, Currency::Dollar),
            s(&[
                "numbers/12",
                "currency/dollars",
                "currency/and",
                "digits/5",
                "currency/cents"
            ])
        );
        assert_eq!(
            money(100, Currency::Euro),
            s(&["digits/1", "currency/euro"])
        );
        assert_eq!(money(1, Currency::Euro), s(&["digits/1", "currency/cent"]));
        assert_eq!(
            money(0, Currency::Dollar),
            s(&["digits/0", "currency/dollars"])
        );
        assert_eq!(
            money(101, Currency::Dollar),
            s(&[
                "digits/1",
                "currency/dollar",
                "currency/and",
                "digits/1",
                "currency/cent"
            ])
        );
    }

    #[test]
    fn dates() {
        // 2026-11-23 is a Monday; 2000-02-29 a Tuesday; 1970-01-01 a Thursday.
        assert_eq!(weekday(2026, 11, 23), Some(0));
        assert_eq!(weekday(2000, 2, 29), Some(1));
        assert_eq!(weekday(1970, 1, 1), Some(3));
        assert_eq!(weekday(2025, 2, 29), None);
        assert_eq!(weekday(2025, 13, 1), None);
        assert_eq!(
            date(2026, 3, 1, true).unwrap(),
            s(&[
                "days/sunday",
                "months/03",
                "ordinals/1",
                "numbers/20",
                "numbers/20",
                "digits/6"
            ])
        );
        assert_eq!(
            date(2005, 1, 31, true).unwrap()[3..],
            s(&["digits/2", "numbers/thousand", "digits/5"])
        );
        assert_eq!(
            date(1900, 1, 1, true).unwrap()[3..],
            s(&["numbers/19", "numbers/hundred"])
        );
        // "twenty one oh one"
        assert_eq!(
            date(2101, 1, 1, true).unwrap()[3..],
            s(&["numbers/20", "digits/1", "digits/0", "digits/1"])
        );
    }

    #[test]
    fn digit_strings() {
        assert_eq!(
            digits("1*#a"),
            s(&["digits/1", "digits/star", "digits/pound"])
        );
    }
}
