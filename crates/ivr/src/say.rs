//! Saying numbers, dates, times and prices as lists of prompts.
//!
//! The names follow the prompt set in `config/prompts/` (see `docs/ivr.md`): cardinal numbers
//! `0`..`19` and tens `20`..`90` as `num_<n>`, `hundred`, `thousand`; ordinals `ord_<n>` for
//! days of the month; month names `january`..; weekday names `monday`..; and a few words.
//! A flow that says numbers (queue announcements, booking, pay) is checked at load time for
//! every name in [`REQUIRED_PROMPTS`].

use crate::flow::Prompt;
use crate::time::CivilDateTime;

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Every prompt the say functions can produce.
pub const REQUIRED_PROMPTS: &[&str] = &[
    "num_0",
    "num_1",
    "num_2",
    "num_3",
    "num_4",
    "num_5",
    "num_6",
    "num_7",
    "num_8",
    "num_9",
    "num_10",
    "num_11",
    "num_12",
    "num_13",
    "num_14",
    "num_15",
    "num_16",
    "num_17",
    "num_18",
    "num_19",
    "num_20",
    "num_30",
    "num_40",
    "num_50",
    "num_60",
    "num_70",
    "num_80",
    "num_90",
    "hundred",
    "thousand",
    "ord_1",
    "ord_2",
    "ord_3",
    "ord_4",
    "ord_5",
    "ord_6",
    "ord_7",
    "ord_8",
    "ord_9",
    "ord_10",
    "ord_11",
    "ord_12",
    "ord_13",
    "ord_14",
    "ord_15",
    "ord_16",
    "ord_17",
    "ord_18",
    "ord_19",
    "ord_20",
    "ord_21",
    "ord_22",
    "ord_23",
    "ord_24",
    "ord_25",
    "ord_26",
    "ord_27",
    "ord_28",
    "ord_29",
    "ord_30",
    "ord_31",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "at",
    "and",
    "oclock",
    "minutes",
    "point",
    "press",
    "for",
    "currency_major",
    "currency_minor",
    "you_are_caller_number",
    "estimated_wait",
    "less_than_a_minute",
];

fn p(name: &str) -> Prompt {
    Prompt::new(name)
}

/// A cardinal number, e.g. 1234 -> one thousand two hundred thirty four.
pub fn number(n: u64, out: &mut Vec<Prompt>) {
    if n >= 1_000_000 {
        // Beyond what a phone menu says; read the digits.
        digits(&n.to_string(), out);
        return;
    }
    if n >= 1000 {
        number(n / 1000, out);
        out.push(p("thousand"));
        if !n.is_multiple_of(1000) {
            number(n % 1000, out);
        }
        return;
    }
    if n >= 100 {
        out.push(p(&format!("num_{}", n / 100)));
        out.push(p("hundred"));
        if !n.is_multiple_of(100) {
            number(n % 100, out);
        }
        return;
    }
    if n < 20 {
        out.push(p(&format!("num_{n}")));
    } else {
        out.push(p(&format!("num_{}", n / 10 * 10)));
        if !n.is_multiple_of(10) {
            out.push(p(&format!("num_{}", n % 10)));
        }
    }
}

/// Digit by digit (`0`-`9` only; other characters are skipped).
pub fn digits(s: &str, out: &mut Vec<Prompt>) {
    for c in s.chars().filter(char::is_ascii_digit) {
        out.push(p(&format!("num_{c}")));
    }
}

/// "monday november twenty-third at fourteen thirty".
pub fn date_time(t: CivilDateTime, out: &mut Vec<Prompt>) {
    out.push(p(t.date.weekday().long_name()));
    out.push(p(MONTHS[(t.date.month.clamp(1, 12) - 1) as usize]));
    out.push(p(&format!("ord_{}", t.date.day.clamp(1, 31))));
    out.push(p("at"));
    number(u64::from(t.hour), out);
    if t.minute == 0 {
        out.push(p("oclock"));
    } else {
        if t.minute < 10 {
            out.push(p("num_0"));
        }
        number(u64::from(t.minute), out);
    }
}

/// A price in minor units: "twenty five currency_major and fifty currency_minor".
/// The currency words are one prompt pair for the configured currency.
pub fn price(minor: u64, out: &mut Vec<Prompt>) {
    let (major, cents) = (minor / 100, minor % 100);
    number(major, out);
    out.push(p("currency_major"));
    if cents != 0 {
        out.push(p("and"));
        number(cents, out);
        out.push(p("currency_minor"));
    }
}

/// "estimated wait: N minutes" or "less than a minute".
pub fn wait(secs: u64, out: &mut Vec<Prompt>) {
    out.push(p("estimated_wait"));
    let minutes = secs.div_ceil(60);
    if secs < 60 {
        out.push(p("less_than_a_minute"));
    } else {
        number(minutes, out);
        out.push(p("minutes"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::CivilDate;

    fn names(v: &[Prompt]) -> Vec<&str> {
        v.iter().map(Prompt::name).collect()
    }

    #[test]
    fn numbers() {
        let mut v = Vec::new();
        number(1234, &mut v);
        assert_eq!(
            names(&v),
            ["num_1", "thousand", "num_2", "hundred", "num_30", "num_4"]
        );
        v.clear();
        number(17, &mut v);
        assert_eq!(names(&v), ["num_17"]);
        v.clear();
        number(0, &mut v);
        assert_eq!(names(&v), ["num_0"]);
    }

    #[test]
    fn every_generated_name_is_required() {
        let mut v = Vec::new();
        for n in 0..2000 {
            number(n, &mut v);
            price(n * 7, &mut v);
            wait(n, &mut v);
        }
        for day in 0..400 {
            let date = CivilDate::from_days(20_000 + day);
            date_time(
                CivilDateTime {
                    date,
                    hour: (day % 24) as u32,
                    minute: (day % 60) as u32,
                },
                &mut v,
            );
        }
        for pr in &v {
            assert!(
                REQUIRED_PROMPTS.contains(&pr.name()),
                "{} not listed",
                pr.name()
            );
        }
    }
}
