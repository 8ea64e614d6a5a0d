//! Mandarin rules for saying numbers, dates, times, prices and waits as lists of prompts.
//!
//! The names are those of the Mandarin set (`config/prompts/zh/`, made by
//! `config/prompts/generate.sh zh`); where the English set has the same thing the name is the
//! same (`digits/7` is 七, `numbers/30` is 三十, `months/03` is 三月, `days/monday` is 星期一).
//!
//! The grammar, with the prompts it needs:
//! - Numbers group by ten thousand: 个, 万 (`numbers/ten-thousand`), 亿
//!   (`numbers/hundred-million`); inside a group 千, 百 and the tens (`numbers/10`..`numbers/90`
//!   say 十, 二十 .. 九十, `numbers/11`..`numbers/19` say 十一 .. 十九).
//! - 10 to 19 at the start of a number are 十, 十二 (十五万); later they take 一: 一百一十,
//!   一万零一十.
//! - One 零 (`digits/0`) stands for any run of zeros between spoken digits, also across
//!   groups: 一百零五, 一千零五十, 一万零一十, 一亿零五; trailing zeros are not said (一千).
//! - 二 or 两 (`numbers/liang`): a leading 2 before 百, 千, 万 or 亿 is 两 (两百, 两千, 两万,
//!   两亿) and so is a count of 2 before a measure word ([`quantity`]: 两分钟, 两元, 两点);
//!   everywhere else 2 is 二 (二十二, 一千二百, 第二位, 请按二).
//! - Dates are month, day, weekday: 三月 (`months/03`) 十日 (`numbers/10`, `dates/day`) 星期三
//!   (`days/wednesday`); times on a 24-hour clock: 八点 (`time/oclock`) 三十分 (`time/minute`),
//!   八点零五分, 八点整 (`time/sharp`).
//! - Amounts in yuan are 元, 角 and 分 (`currency/yuan|jiao|fen`): 三十五元五角,
//!   三十五元零五分, 五角; dollars and euros are 美元/美分 (`currency/dollar|cent`) and
//!   欧元/欧分 (`currency/euro|euro-cent`); other currencies are said as a decimal (三十五点五).

use crate::flow::Prompt;
use crate::time::CivilDateTime;

/// Every prompt the Mandarin rules can produce (names inside the `zh/` folder).
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
    "numbers/ten-thousand",
    "numbers/hundred-million",
    "numbers/liang",
    "numbers/point",
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
    "dates/day",
    "days/monday",
    "days/tuesday",
    "days/wednesday",
    "days/thursday",
    "days/friday",
    "days/saturday",
    "days/sunday",
    "time/oclock",
    "time/minute",
    "time/sharp",
    "currency/yuan",
    "currency/jiao",
    "currency/fen",
    "currency/dollar",
    "currency/cent",
    "currency/euro",
    "currency/euro-cent",
    "phrases/press",
    "phrases/you-are-caller-number",
    "phrases/in-line",
    "phrases/estimated-wait",
    "phrases/minutes",
    "phrases/amount-due",
    "flow/less-than-a-minute",
];

fn p(name: &str) -> Prompt {
    Prompt::new(name)
}

fn digit(d: u64, out: &mut Vec<Prompt>) {
    out.push(p(&format!("digits/{d}")));
}

/// Numbers from 10^12 up are read digit by digit (no phone menu says 万亿).
const SAY_BELOW: u64 = 1_000_000_000_000;

/// The unit after a group of four digits: none, 万, 亿.
const GROUP_UNITS: [Option<&str>; 3] = [
    None,
    Some("numbers/ten-thousand"),
    Some("numbers/hundred-million"),
];

/// A number read as a number: 105 一百零五, 10010 一万零一十, 2 二, 200 两百.
pub fn number(n: u64, out: &mut Vec<Prompt>) {
    if n == 0 {
        digit(0, out);
        return;
    }
    if n >= SAY_BELOW {
        digits(&n.to_string(), out);
        return;
    }
    let mut spoken = false; // something has been said already
    let mut zero = false; // zeros were skipped since; say one 零 before the next digit
    for group in (0..3).rev() {
        let g = n / 10_000u64.pow(group) % 10_000;
        if g == 0 {
            zero |= spoken;
            continue;
        }
        let ds = [g / 1000, g / 100 % 10, g / 10 % 10, g % 10];
        let mut pos = 0;
        while pos < 4 {
            let d = ds[pos];
            if d == 0 {
                zero |= spoken;
                pos += 1;
                continue;
            }
            if std::mem::take(&mut zero) {
                digit(0, out);
            }
            match pos {
                // 千 and 百: a leading 2 is 两.
                0 | 1 => {
                    if d == 2 && !spoken {
                        out.push(p("numbers/liang"));
                    } else {
                        digit(d, out);
                    }
                    out.push(p(if pos == 0 {
                        "numbers/thousand"
                    } else {
                        "numbers/hundred"
                    }));
                }
                // Tens, said with the units: 十五 at the start, 一十五 later, 三十 / 三十五.
                2 => {
                    let units = ds[3];
                    if d == 1 {
                        if spoken {
                            digit(1, out);
                        }
                        out.push(p(&format!("numbers/{}", 10 + units)));
                    } else {
                        out.push(p(&format!("numbers/{}", d * 10)));
                        if units != 0 {
                            digit(units, out);
                        }
                    }
                    pos += 1; // the units are said
                }
                // Units: a group of exactly 2 before 万 or 亿 at the start is 两 (两万).
                _ => {
                    if d == 2 && !spoken && group > 0 && g == 2 {
                        out.push(p("numbers/liang"));
                    } else {
                        digit(d, out);
                    }
                }
            }
            spoken = true;
            pos += 1;
        }
        if let Some(unit) = GROUP_UNITS[group as usize] {
            out.push(p(unit));
        }
    }
}

/// A count before a measure word: 2 is 两 (两分钟, 两元, 两点); other numbers as [`number`].
pub fn quantity(n: u64, out: &mut Vec<Prompt>) {
    if n == 2 {
        out.push(p("numbers/liang"));
    } else {
        number(n, out);
    }
}

/// Digit by digit (`0`-`9` only; other characters are skipped).
pub fn digits(s: &str, out: &mut Vec<Prompt>) {
    for c in s.chars().filter(char::is_ascii_digit) {
        out.push(p(&format!("digits/{c}")));
    }
}

/// 三月十日星期三八点三十分: month, day, weekday, then the time on a 24-hour clock
/// (八点整 on the hour, 八点零五分 for minutes below ten).
pub fn date_time(t: CivilDateTime, out: &mut Vec<Prompt>) {
    out.push(p(&format!("months/{:02}", t.date.month.clamp(1, 12))));
    number(u64::from(t.date.day.clamp(1, 31)), out);
    out.push(p("dates/day"));
    out.push(p(&format!("days/{}", t.date.weekday().long_name())));
    quantity(u64::from(t.hour), out);
    out.push(p("time/oclock"));
    match t.minute {
        0 => out.push(p("time/sharp")),
        m => {
            if m < 10 {
                digit(0, out);
            }
            number(u64::from(m), out);
            out.push(p("time/minute"));
        }
    }
}

/// A price in minor units: 三十五元五角 (CNY), 四十九美元九十美分 (USD), 五欧分 (EUR);
/// other currencies as a decimal number (三十五点五).
pub fn price(minor: u64, currency: &str, out: &mut Vec<Prompt>) {
    let (major, cents) = (minor / 100, minor % 100);
    match currency {
        "CNY" | "RMB" => {
            let (jiao, fen) = (cents / 10, cents % 10);
            if major > 0 || cents == 0 {
                quantity(major, out);
                out.push(p("currency/yuan"));
            }
            if jiao > 0 {
                quantity(jiao, out);
                out.push(p("currency/jiao"));
            }
            if fen > 0 {
                if jiao == 0 && major > 0 {
                    digit(0, out);
                }
                quantity(fen, out);
                out.push(p("currency/fen"));
            }
        }
        "USD" | "EUR" => {
            let (whole, part) = if currency == "USD" {
                ("currency/dollar", "currency/cent")
            } else {
                ("currency/euro", "currency/euro-cent")
            };
            if major > 0 || cents == 0 {
                quantity(major, out);
                out.push(p(whole));
            }
            if cents > 0 {
                quantity(cents, out);
                out.push(p(part));
            }
        }
        _ => {
            number(major, out);
            if cents > 0 {
                out.push(p("numbers/point"));
                let s = format!("{cents:02}");
                digits(s.trim_end_matches('0'), out);
            }
        }
    }
}

/// 您现在排在第三位: the caller's place in the queue.
pub fn queue_position(position: u64, out: &mut Vec<Prompt>) {
    out.push(p("phrases/you-are-caller-number"));
    number(position, out);
    out.push(p("phrases/in-line"));
}

/// 您需要支付的金额是 and the price.
pub fn amount_due(minor: u64, currency: &str, out: &mut Vec<Prompt>) {
    out.push(p("phrases/amount-due"));
    price(minor, currency, out);
}

/// One bookable item: 三月十日星期三八点三十分，四百九十九美元，请按一.
pub fn booking_option(
    starts_at: CivilDateTime,
    minor: u64,
    currency: &str,
    key: u64,
    out: &mut Vec<Prompt>,
) {
    date_time(starts_at, out);
    price(minor, currency, out);
    out.push(p("phrases/press"));
    number(key, out);
}

/// 您预计需要等待两分钟, or ... 不到一分钟.
pub fn wait(secs: u64, out: &mut Vec<Prompt>) {
    out.push(p("phrases/estimated-wait"));
    if secs < 60 {
        out.push(p("flow/less-than-a-minute"));
    } else {
        quantity(secs.div_ceil(60), out);
        out.push(p("phrases/minutes"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::CivilDate;

    /// What each prompt of the Mandarin set says (the texts `generate.sh zh` speaks).
    fn text(name: &str) -> String {
        let fixed = [
            ("numbers/10", "十"),
            ("numbers/hundred", "百"),
            ("numbers/thousand", "千"),
            ("numbers/ten-thousand", "万"),
            ("numbers/hundred-million", "亿"),
            ("numbers/liang", "两"),
            ("numbers/point", "点"),
            ("time/oclock", "点"),
            ("time/minute", "分"),
            ("time/sharp", "整"),
            ("dates/day", "日"),
            ("currency/yuan", "元"),
            ("currency/jiao", "角"),
            ("currency/fen", "分"),
            ("currency/dollar", "美元"),
            ("currency/cent", "美分"),
            ("currency/euro", "欧元"),
            ("currency/euro-cent", "欧分"),
            ("days/monday", "星期一"),
            ("days/tuesday", "星期二"),
            ("days/wednesday", "星期三"),
            ("days/thursday", "星期四"),
            ("days/friday", "星期五"),
            ("days/saturday", "星期六"),
            ("days/sunday", "星期日"),
            ("phrases/press", "请按"),
            ("phrases/you-are-caller-number", "您现在排在第"),
            ("phrases/in-line", "位"),
            ("phrases/estimated-wait", "您预计需要等待"),
            ("phrases/minutes", "分钟"),
            ("phrases/amount-due", "您需要支付的金额是"),
            ("flow/less-than-a-minute", "不到一分钟"),
        ];
        if let Some((_, t)) = fixed.iter().find(|(n, _)| *n == name) {
            return (*t).to_string();
        }
        const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
        let num = |s: &str| s.parse::<usize>().unwrap();
        let (folder, rest) = name.split_once('/').unwrap();
        match folder {
            "digits" => DIGITS[num(rest)].to_string(),
            "numbers" if num(rest) < 20 => {
                format!("十{}", DIGITS[num(rest) - 10]).replace("零", "")
            }
            "numbers" => format!("{}十", DIGITS[num(rest) / 10]),
            "months" => format!("{}月", plain(num(rest) as u64)),
            _ => panic!("no text for {name}"),
        }
    }

    fn plain(n: u64) -> String {
        let mut v = Vec::new();
        number(n, &mut v);
        said(&v)
    }

    fn said(v: &[Prompt]) -> String {
        v.iter().map(|p| text(p.name())).collect()
    }

    fn say(f: impl FnOnce(&mut Vec<Prompt>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        said(&v)
    }

    #[test]
    fn numbers_follow_mandarin_grammar() {
        let cases: &[(u64, &str)] = &[
            (0, "零"),
            (2, "二"),
            (7, "七"),
            (10, "十"),
            (12, "十二"),
            (20, "二十"),
            (22, "二十二"),
            (35, "三十五"),
            (100, "一百"),
            (105, "一百零五"),
            (110, "一百一十"),
            (115, "一百一十五"),
            (200, "两百"),
            (1000, "一千"),
            (1005, "一千零五"),
            (1050, "一千零五十"),
            (1200, "一千二百"),
            (2000, "两千"),
            (2222, "两千二百二十二"),
            (10_000, "一万"),
            (10_010, "一万零一十"),
            (10_100, "一万零一百"),
            (12_000, "一万二千"),
            (20_000, "两万"),
            (22_000, "两万二千"),
            (100_000, "十万"),
            (150_000, "十五万"),
            (200_005, "二十万零五"),
            (1_000_100, "一百万零一百"),
            (100_000_000, "一亿"),
            (100_000_005, "一亿零五"),
            (100_010_000, "一亿零一万"),
            (200_000_000, "两亿"),
            (123_456_789, "一亿二千三百四十五万六千七百八十九"),
        ];
        for (n, want) in cases {
            assert_eq!(plain(*n), *want, "{n}");
        }
        // Beyond 万亿: digit by digit.
        assert_eq!(plain(1_000_000_000_001), "一零零零零零零零零零零零一");
    }

    #[test]
    fn two_is_liang_before_a_measure_word() {
        assert_eq!(say(|v| quantity(2, v)), "两");
        assert_eq!(say(|v| quantity(12, v)), "十二");
        assert_eq!(say(|v| wait(120, v)), "您预计需要等待两分钟");
        assert_eq!(say(|v| wait(61, v)), "您预计需要等待两分钟");
        assert_eq!(say(|v| wait(30, v)), "您预计需要等待不到一分钟");
        assert_eq!(say(|v| wait(600, v)), "您预计需要等待十分钟");
        // An ordinal and a key to press are 二.
        assert_eq!(say(|v| queue_position(2, v)), "您现在排在第二位");
    }

    #[test]
    fn amounts_in_yuan_jiao_fen() {
        let cases: &[(u64, &str, &str)] = &[
            (3550, "CNY", "三十五元五角"),
            (3505, "CNY", "三十五元零五分"),
            (3555, "CNY", "三十五元五角五分"),
            (3500, "CNY", "三十五元"),
            (50, "CNY", "五角"),
            (5, "CNY", "五分"),
            (25, "CNY", "两角五分"),
            (200, "CNY", "两元"),
            (20_000, "CNY", "两百元"),
            (100_230, "CNY", "一千零二元三角"),
            (100_223, "CNY", "一千零二元两角三分"),
            (0, "CNY", "零元"),
            (4990, "USD", "四十九美元九十美分"),
            (101, "USD", "一美元一美分"),
            (5, "EUR", "五欧分"),
            (250_000, "EUR", "两千五百欧元"),
            (3550, "JPY", "三十五点五"),
            (3505, "JPY", "三十五点零五"),
        ];
        for (minor, cur, want) in cases {
            assert_eq!(say(|v| price(*minor, cur, v)), *want, "{minor} {cur}");
        }
        assert_eq!(
            say(|v| amount_due(3550, "CNY", v)),
            "您需要支付的金额是三十五元五角"
        );
    }

    #[test]
    fn dates_and_times() {
        let at = |month, day, hour, minute| CivilDateTime {
            date: CivilDate {
                year: 2027,
                month,
                day,
            },
            hour,
            minute,
        };
        // 2027-03-10 is a Wednesday.
        assert_eq!(
            say(|v| date_time(at(3, 10, 8, 30), v)),
            "三月十日星期三八点三十分"
        );
        assert_eq!(
            say(|v| date_time(at(3, 10, 14, 5), v)),
            "三月十日星期三十四点零五分"
        );
        assert_eq!(
            say(|v| date_time(at(3, 10, 2, 0), v)),
            "三月十日星期三两点整"
        );
        assert_eq!(
            say(|v| date_time(at(12, 22, 20, 22), v)),
            "十二月二十二日星期三二十点二十二分"
        );
        assert_eq!(
            say(|v| booking_option(at(3, 10, 8, 30), 49_900, "CNY", 2, v)),
            "三月十日星期三八点三十分四百九十九元请按二"
        );
    }

    #[test]
    fn every_generated_name_is_required() {
        let mut v = Vec::new();
        for n in (0..3000).chain([10_010, 100_000_005, 123_456_789, 2 * SAY_BELOW]) {
            number(n, &mut v);
            quantity(n, &mut v);
            for cur in ["CNY", "USD", "EUR", "GBP"] {
                price(n * 7, cur, &mut v);
            }
            wait(n, &mut v);
            queue_position(n, &mut v);
            amount_due(n, "CNY", &mut v);
        }
        for day in 0..400 {
            let t = CivilDateTime {
                date: CivilDate::from_days(20_000 + day),
                hour: (day % 24) as u32,
                minute: (day % 60) as u32,
            };
            booking_option(t, day as u64 * 101, "CNY", (day % 9) as u64 + 1, &mut v);
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
