//! English rules for saying numbers, dates, times, prices and waits as lists of prompts.
//!
//! The names follow the shared prompt set in `config/prompts/` (made by its `generate.sh`):
//! `digits/0`..`digits/9`, `numbers/10`..`numbers/19`, `numbers/20`..`numbers/90`,
//! `numbers/hundred|thousand|million`, `ordinals/1`..`ordinals/31`, `months/01`..`months/12`,
//! `days/monday`.., `currency/dollar(s)|euro(s)|cent(s)|and`, `phrases/...`; plus two of the
//! IVR's own prompts in `config/ivr/prompts/` (`flow/at`, `flow/less-than-a-minute`).
//! A flow that says numbers (queue announcements, booking, pay) is checked at load time for
//! every name in [`REQUIRED_PROMPTS`].

use crate::flow::Prompt;
use crate::time::CivilDateTime;

/// Every prompt the say functions can produce.
pub const REQUIRED_PROMPTS: &[&str] = &[
    "digits/0",
    "digits/1",
    "digits/2",
    "digits/3",
    "digits/4",
    "digits/5",
    "digits/6",
    "digits/7",
    "digits/8",
    "digits/9",
    "numbers/10",
    "numbers/11",
    "numbers/12",
    "numbers/13",
    "numbers/14",
    "numbers/15",
    "numbers/16",
    "numbers/17",
    "numbers/18",
    "numbers/19",
    "numbers/20",
    "numbers/30",
    "numbers/40",
    "numbers/50",
    "numbers/60",
    "numbers/70",
    "numbers/80",
    "numbers/90",
    "numbers/hundred",
    "numbers/thousand",
    "numbers/million",
    "ordinals/1",
    "ordinals/2",
    "ordinals/3",
    "ordinals/4",
    "ordinals/5",
    "ordinals/6",
    "ordinals/7",
    "ordinals/8",
    "ordinals/9",
    "ordinals/10",
    "ordinals/11",
    "ordinals/12",
    "ordinals/13",
    "ordinals/14",
    "ordinals/15",
    "ordinals/16",
    "ordinals/17",
    "ordinals/18",
    "ordinals/19",
    "ordinals/20",
    "ordinals/21",
    "ordinals/22",
    "ordinals/23",
    "ordinals/24",
    "ordinals/25",
    "ordinals/26",
    "ordinals/27",
    "ordinals/28",
    "ordinals/29",
    "ordinals/30",
    "ordinals/31",
    "months/01",
    "months/02",
    "months/03",
    "months/04",
    "months/05",
    "months/06",
    "months/07",
    "months/08",
    "months/09",
    "months/10",
    "months/11",
    "months/12",
    "days/monday",
    "days/tuesday",
    "days/wednesday",
    "days/thursday",
    "days/friday",
    "days/saturday",
    "days/sunday",
    "currency/dollar",
    "currency/dollars",
    "currency/euro",
    "currency/euros",
    "currency/cent",
    "currency/cents",
    "currency/and",
    "phrases/for",
    "phrases/press",
    "phrases/you-are-caller-number",
    "phrases/estimated-wait",
    "phrases/minute",
    "phrases/minutes",
    "phrases/amount-due",
    "flow/at",
    "flow/less-than-a-minute",
];

fn p(name: &str) -> Prompt {
    Prompt::new(name)
}

fn below_1000(n: u64, out: &mut Vec<Prompt>) {
    if n >= 100 {
        out.push(p(&format!("digits/{}", n / 100)));
        out.push(p("numbers/hundred"));
        if n.is_multiple_of(100) {
            return;
        }
    }
    match n % 100 {
        m @ 0..=9 if n < 100 || m != 0 => out.push(p(&format!("digits/{m}"))),
        m @ 10..=19 => out.push(p(&format!("numbers/{m}"))),
        m if m >= 20 => {
            out.push(p(&format!("numbers/{}", m / 10 * 10)));
            if !m.is_multiple_of(10) {
                out.push(p(&format!("digits/{}", m % 10)));
            }
        }
        _ => {}
    }
}

/// A cardinal number, e.g. 1234 -> one thousand two hundred thirty four.
pub fn number(n: u64, out: &mut Vec<Prompt>) {
    if n >= 1_000_000_000 {
        // Beyond what a phone menu says; read the digits.
        digits(&n.to_string(), out);
        return;
    }
    let (millions, thousands, rest) = (n / 1_000_000, n / 1000 % 1000, n % 1000);
    if millions > 0 {
        below_1000(millions, out);
        out.push(p("numbers/million"));
    }
    if thousands > 0 {
        below_1000(thousands, out);
        out.push(p("numbers/thousand"));
    }
    if rest > 0 || n == 0 {
        below_1000(rest, out);
    }
}

/// Digit by digit (`0`-`9` only; other characters are skipped).
pub fn digits(s: &str, out: &mut Vec<Prompt>) {
    for c in s.chars().filter(char::is_ascii_digit) {
        out.push(p(&format!("digits/{c}")));
    }
}

/// "wednesday december second at fourteen thirty" (`14 hundred` on the hour).
pub fn date_time(t: CivilDateTime, out: &mut Vec<Prompt>) {
    out.push(p(&format!("days/{}", t.date.weekday().long_name())));
    out.push(p(&format!("months/{:02}", t.date.month.clamp(1, 12))));
    out.push(p(&format!("ordinals/{}", t.date.day.clamp(1, 31))));
    out.push(p("flow/at"));
    number(u64::from(t.hour), out);
    match t.minute {
        0 => out.push(p("numbers/hundred")),
        m @ 1..=9 => {
            out.push(p("digits/0"));
            out.push(p(&format!("digits/{m}")));
        }
        m => number(u64::from(m), out),
    }
}

/// A price in minor units with the currency's words where the prompt set has them
/// (USD, EUR): "forty five dollars and fifty cents". Other currencies: the numbers only.
pub fn price(minor: u64, currency: &str, out: &mut Vec<Prompt>) {
    let (major, cents) = (minor / 100, minor % 100);
    let words = match currency {
        "USD" => Some(("currency/dollar", "currency/dollars")),
        "EUR" => Some(("currency/euro", "currency/euros")),
        _ => None,
    };
    if major > 0 || cents == 0 {
        number(major, out);
        if let Some((one, many)) = words {
            out.push(p(if major == 1 { one } else { many }));
        }
    }
    if cents != 0 {
        if major > 0 {
            out.push(p("currency/and"));
        }
        number(cents, out);
        if words.is_some() {
            out.push(p(if cents == 1 {
                "currency/cent"
            } else {
                "currency/cents"
            }));
        }
    }
}

/// "you are caller number N".
pub fn queue_position(position: u64, out: &mut Vec<Prompt>) {
    out.push(p("phrases/you-are-caller-number"));
    number(position, out);
}

/// "the amount due is forty five dollars and fifty cents".
pub fn amount_due(minor: u64, currency: &str, out: &mut Vec<Prompt>) {
    out.push(p("phrases/amount-due"));
    price(minor, currency, out);
}

/// One bookable item: "for wednesday december second at fourteen thirty, forty five
/// dollars, press one".
pub fn booking_option(
    starts_at: CivilDateTime,
    minor: u64,
    currency: &str,
    key: u64,
    out: &mut Vec<Prompt>,
) {
    out.push(p("phrases/for"));
    date_time(starts_at, out);
    price(minor, currency, out);
    out.push(p("phrases/press"));
    number(key, out);
}

/// "your estimated wait time is N minutes" or "... less than one minute".
pub fn wait(secs: u64, out: &mut Vec<Prompt>) {
    out.push(p("phrases/estimated-wait"));
    let minutes = secs.div_ceil(60);
    if secs < 60 {
        out.push(p("flow/less-than-a-minute"));
    } else {
        number(minutes, out);
        out.push(p(if minutes == 1 {
            "phrases/minute"
        } else {
            "phrases/minutes"
        }));
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
        let cases: [(u64, &[&str]); 5] = [
            (
                1234,
                &[
                    "digits/1",
                    "numbers/thousand",
                    "digits/2",
                    "numbers/hundred",
                    "numbers/30",
                    "digits/4",
                ],
            ),
            (17, &["numbers/17"]),
            (0, &["digits/0"]),
            (100, &["digits/1", "numbers/hundred"]),
            (
                2_000_305,
                &[
                    "digits/2",
                    "numbers/million",
                    "digits/3",
                    "numbers/hundred",
                    "digits/5",
                ],
            ),
        ];
        for (n, want) in cases {
            let mut v = Vec::new();
            number(n, &mut v);
            assert_eq!(names(&v), want, "{n}");
        }
        let mut v = Vec::new();
        price(101, "USD", &mut v);
        assert_eq!(
            names(&v),
            [
                "digits/1",
                "currency/dollar",
                "currency/and",
                "digits/1",
                "currency/cent"
            ]
        );
        v.clear();
        price(5, "EUR", &mut v);
        assert_eq!(names(&v), ["digits/5", "currency/cents"]);
    }

    #[test]
    fn every_generated_name_is_required() {
        let mut v = Vec::new();
        for n in 0..2000 {
            number(n, &mut v);
            price(n * 7, "USD", &mut v);
            price(n * 7, "EUR", &mut v);
            wait(n, &mut v);
            queue_position(n, &mut v);
            amount_due(n * 3, "EUR", &mut v);
        }
        for day in 0..400 {
            let date = CivilDate::from_days(20_000 + day);
            let t = CivilDateTime {
                date,
                hour: (day % 24) as u32,
                minute: (day % 60) as u32,
            };
            booking_option(t, day as u64 * 101, "USD", (day % 9) as u64 + 1, &mut v);
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
