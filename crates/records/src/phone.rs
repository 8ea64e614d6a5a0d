//! Phone number normalisation to E.164 (`+` country code subscriber number, at most 15 digits).
//!
//! Accepted inputs: `+49 30 1234-56`, `0049 30 123456` (international prefix 00), `(030) 123456`
//! with a default country (national prefix 0 dropped), `tel:+4930123456`, `sip:+4930123456@host`.
//! Without a default country a number must already be international (`+` or `00`).
//!
//! With a default country, the international (IDD) and national (trunk) prefixes are that
//! country's: [`NumberingPlan::for_country`]. In the North American plan `011 44 20...` is a
//! call to the UK and `1 212 ...` a national call; in Japan the international prefix is `010`;
//! in Italy the leading 0 belongs to the number and is kept.

use crate::{Error, Result};

/// How numbers are dialled in one country: the prefixes that start an international call and
/// the national (trunk) prefix that is dropped to get the subscriber number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberingPlan {
    /// International call prefixes (IDD), longest first where they overlap.
    pub international: &'static [&'static str],
    /// National (trunk) prefix, dropped before the country code is added; empty when the
    /// country has none (the leading digit is part of the number).
    pub national: &'static str,
}

impl NumberingPlan {
    /// The plan of a country code (digits, no `+`). Countries not in the table get the ITU
    /// recommendation: international prefix `00`, national prefix `0`.
    pub fn for_country(cc: &str) -> NumberingPlan {
        let (international, national): (&'static [&'static str], &'static str) = match cc {
            // North American Numbering Plan: 011 abroad, 1 + ten digits at home.
            "1" => (&["011"], "1"),
            // Russia and Kazakhstan: 8~10 (and 00 on newer networks), trunk prefix 8.
            "7" => (&["810", "00"], "8"),
            "61" => (&["0011"], "0"),
            "81" => (&["010"], "0"),
            "82" => (&["001", "002", "00700"], "0"),
            "886" => (&["002", "009"], "0"),
            "852" | "853" => (&["001", "00"], ""),
            "65" => (&["000", "001", "008"], ""),
            "62" => (&["001", "007", "008"], "0"),
            "66" => (&["001", "007", "008", "009"], "0"),
            "55" => (&["00"], "0"),
            // Countries where the leading 0 (or no prefix) is part of the national number.
            "39" | "34" | "351" | "30" | "45" | "47" | "352" | "377" | "378" | "354" | "356"
            | "357" | "370" | "371" | "372" => (&["00"], ""),
            _ => (&["00"], "0"),
        };
        NumberingPlan {
            international,
            national,
        }
    }
}

/// Normalises `raw` to E.164. `default_cc` is the country code (digits, no `+`) used for
/// national numbers.
pub fn normalize(raw: &str, default_cc: Option<&str>) -> Result<String> {
    let mut s = raw.trim();
    for prefix in ["tel:", "sip:", "sips:"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    // Drop a SIP host part and URI parameters.
    let s = s.split(['@', ';']).next().unwrap_or("");
    let plus = s.starts_with('+');
    let mut digits = String::with_capacity(16);
    for c in s.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' | ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => {
                return Err(Error::Invalid(
                    "phone number has a character that is not a digit".into(),
                ));
            }
        }
    }
    let plan = default_cc.map(NumberingPlan::for_country);
    let international_prefix = match plan {
        // Without a country only the ITU's 00 can be read as "international".
        None => digits.starts_with("00").then_some(2),
        Some(p) => p
            .international
            .iter()
            .filter(|idd| digits.starts_with(*idd))
            .map(|idd| idd.len())
            .max(),
    };
    let e164 = if plus {
        digits
    } else if let Some(len) = international_prefix {
        digits[len..].to_string()
    } else {
        let cc = default_cc.ok_or_else(|| {
            Error::Invalid("national phone number without a default country code".into())
        })?;
        if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Invalid(
                "default country code must be 1 to 3 digits".into(),
            ));
        }
        let national = plan.map_or("0", |p| p.national);
        let subscriber = if cc == "1" {
            // NANP numbers are ten digits; the trunk prefix 1 is optional at home.
            digits
                .strip_prefix('1')
                .filter(|s| s.len() == 10)
                .unwrap_or(&digits)
        } else if national.is_empty() {
            &digits
        } else {
            digits.strip_prefix(national).unwrap_or(&digits)
        };
        format!("{cc}{subscriber}")
    };
    if e164.len() < 6 || e164.len() > 15 || e164.starts_with('0') {
        return Err(Error::Invalid(
            "phone number is not a valid E.164 number".into(),
        ));
    }
    Ok(format!("+{e164}"))
}

/// How a search text is matched against customers' phone numbers (see [`phone_query`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneQuery {
    /// The number in E.164 when the text is a whole number in the given country (`None` for
    /// too short a text).
    pub exact: Option<String>,
    /// Digits a stored number must end with (the text's digits): finds `5550113` and the
    /// national `2125550113` in `+12125550113`.
    pub suffix: String,
    /// An E.164 beginning a stored number must have, when the text starts like a number is
    /// dialled from the start (`+`, the international or the national prefix, or a country
    /// given): finds `010 6552` in `+861065529988`.
    pub prefix: Option<String>,
}

/// The fewest digits a partial number must have to be searched (fewer would match half the
/// customers).
pub const MIN_PARTIAL_DIGITS: usize = 4;

/// Reads a search text as a phone number typed the way people type them: spaces, dashes,
/// dots, parentheses, national format, or only a part. `None` when the text is not a number
/// (it has letters) or has fewer than [`MIN_PARTIAL_DIGITS`] digits.
pub fn phone_query(text: &str, default_cc: Option<&str>) -> Option<PhoneQuery> {
    let t = text.trim();
    let plus = t.starts_with('+');
    let mut digits = String::new();
    for (i, c) in t.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return None,
        }
    }
    if digits.len() < MIN_PARTIAL_DIGITS {
        return None;
    }
    let exact = normalize(t, default_cc).ok();
    let prefix = if plus {
        Some(format!("+{digits}"))
    } else if let Some(cc) = default_cc {
        let plan = NumberingPlan::for_country(cc);
        if let Some(idd) = plan.international.iter().find(|p| digits.starts_with(*p)) {
            Some(format!("+{}", &digits[idd.len()..]))
        } else if !plan.national.is_empty() && digits.starts_with(plan.national) {
            Some(format!("+{cc}{}", &digits[plan.national.len()..]))
        } else {
            Some(format!("+{cc}{digits}"))
        }
    } else {
        None
    };
    Some(PhoneQuery {
        exact,
        suffix: digits,
        prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::{normalize, phone_query};

    #[test]
    fn partial_and_national_search_texts() {
        let q = phone_query("555-0113", Some("1")).expect("a number");
        assert_eq!(q.suffix, "5550113");
        assert_eq!(q.prefix.as_deref(), Some("+15550113"));
        let q = phone_query("(212) 555-0113", Some("1")).expect("a number");
        assert_eq!(q.exact.as_deref(), Some("+12125550113"));
        let q = phone_query("010 6552", Some("86")).expect("a number");
        assert_eq!(q.prefix.as_deref(), Some("+86106552"));
        assert_eq!(q.suffix, "0106552");
        assert!(phone_query("Ada", Some("1")).is_none());
        assert!(phone_query("55-1", Some("1")).is_none(), "too short");
        assert!(
            phone_query("+8 61", None).is_none(),
            "three digits are too few"
        );
        assert_eq!(
            phone_query("+86 1380", None)
                .and_then(|q| q.prefix)
                .as_deref(),
            Some("+861380")
        );
    }

    #[test]
    fn international_forms_agree() {
        for raw in [
            "+49 30 1234-56",
            "0049 30 123456",
            "tel:+4930123456",
            "sip:+4930123456@pbx;user=phone",
        ] {
            assert_eq!(normalize(raw, None).expect(raw), "+4930123456", "{raw}");
        }
    }

    #[test]
    fn national_form_needs_a_country() {
        assert_eq!(
            normalize("(030) 123456", Some("49")).expect("ok"),
            "+4930123456"
        );
        assert!(normalize("030 123456", None).is_err());
        assert_eq!(
            normalize("1 (212) 555-0100", Some("1")).expect("ok"),
            "+12125550100"
        );
        assert_eq!(
            normalize("212-555-0100", Some("1")).expect("ok"),
            "+12125550100"
        );
    }

    #[test]
    fn international_prefix_is_the_countrys() {
        // North America dials abroad with 011 (finding: `9 011 44...` became +11144...).
        assert_eq!(
            normalize("011 44 1632 960999", Some("1")).expect("ok"),
            "+441632960999"
        );
        // Japan: 010; Australia: 0011 (longer than the national 0 + area code).
        assert_eq!(
            normalize("010 1 212 555 0100", Some("81")).expect("ok"),
            "+12125550100"
        );
        assert_eq!(
            normalize("0011 44 20 7946 0018", Some("61")).expect("ok"),
            "+442079460018"
        );
        assert_eq!(
            normalize("02 9374 4000", Some("61")).expect("ok"),
            "+61293744000"
        );
        // China and Germany: 00 abroad, 0 at home.
        assert_eq!(
            normalize("00 1 212 555 0100", Some("86")).expect("ok"),
            "+12125550100"
        );
        assert_eq!(
            normalize("010 6552 9988", Some("86")).expect("ok"),
            "+861065529988"
        );
        // Italy keeps the leading 0 of the number.
        assert_eq!(
            normalize("06 6982 1234", Some("39")).expect("ok"),
            "+390669821234"
        );
        // Russia: trunk prefix 8, international 810.
        assert_eq!(
            normalize("8 495 123 4567", Some("7")).expect("ok"),
            "+74951234567"
        );
        assert_eq!(
            normalize("810 49 30 123456", Some("7")).expect("ok"),
            "+4930123456"
        );
    }

    #[test]
    fn garbage_is_refused() {
        for raw in [
            "",
            "abc",
            "+12",
            "+1234567890123456",
            "12a34567",
            "+0123456789",
        ] {
            assert!(normalize(raw, Some("49")).is_err(), "{raw}");
        }
    }
}
