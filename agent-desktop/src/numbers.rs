//! Numbers as agents type them: national format, spaces, dashes, parentheses, or a part.
//!
//! The centre's country code (`--country-code`, like the switch's `node.country_code`) turns a
//! national number into E.164 before it is dialled (`212-555-0113` -> `+12125550113` with
//! `1`; `010 1234 5678` -> `+861012345678` and `138 0013 8000` -> `+8613800138000` with `86`),
//! using the store's numbering plans ([`hotline_store::phone`]). Up to five digits are an
//! internal extension. Search goes to the store, which matches a partial number at the end
//! of a customer's number (or at its start when it begins like a national number).

/// The centre's numbering: its country code (digits, no `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlan {
    /// Country code, e.g. `86` or `1`.
    pub country_code: String,
}

impl Default for DialPlan {
    fn default() -> Self {
        DialPlan {
            country_code: "1".into(),
        }
    }
}

impl DialPlan {
    /// The plan of a country code (`86`, `+86` and `1` are all fine).
    pub fn new(country_code: &str) -> Self {
        DialPlan {
            country_code: country_code.trim().trim_start_matches('+').to_owned(),
        }
    }
}

/// What the Dial box holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialString {
    /// An internal extension (one to five digits).
    Extension(String),
    /// A number, as typed (digits and separators, maybe a leading `+`).
    Number(String),
}

/// Reads the Dial box: `None` when empty or when it has characters no number has.
pub fn dial_string(text: &str) -> Option<DialString> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let ok = t
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " -.()/".contains(c) || (c == '+' && i == 0));
    let digits = t.chars().filter(char::is_ascii_digit).count();
    if !ok || digits == 0 {
        return None;
    }
    if digits <= 5 && t.chars().all(|c| c.is_ascii_digit()) {
        Some(DialString::Extension(t.to_owned()))
    } else {
        Some(DialString::Number(t.to_owned()))
    }
}

/// `text` in E.164 for dialling, or `None` when it is not a complete number.
pub fn normalise(text: &str, plan: &DialPlan) -> Option<String> {
    let cc = (!plan.country_code.is_empty()).then_some(plan.country_code.as_str());
    let e164 = hotline_store::phone::normalize(text, cc).ok()?;
    Some(if e164.starts_with('+') {
        e164
    } else {
        format!("+{e164}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_numbers_become_e164_in_the_centres_country() {
        let us = DialPlan::new("1");
        assert_eq!(
            normalise("212-555-0113", &us).as_deref(),
            Some("+12125550113")
        );
        assert_eq!(
            normalise("(212) 555 0113", &us).as_deref(),
            Some("+12125550113")
        );
        assert_eq!(
            normalise("1 212 555 0113", &us).as_deref(),
            Some("+12125550113")
        );
        assert_eq!(
            normalise("011 44 20 7946 0018", &us).as_deref(),
            Some("+442079460018")
        );
        let cn = DialPlan::new("+86");
        assert_eq!(
            normalise("010 1234 5678", &cn).as_deref(),
            Some("+861012345678")
        );
        assert_eq!(
            normalise("138-0013-8000", &cn).as_deref(),
            Some("+8613800138000")
        );
        assert_eq!(
            normalise("400 123 4567", &cn).as_deref(),
            Some("+864001234567")
        );
        assert_eq!(
            normalise("00 1 212 555 0113", &cn).as_deref(),
            Some("+12125550113")
        );
    }

    #[test]
    fn the_dial_box_tells_extensions_from_numbers() {
        assert_eq!(
            dial_string(" 1002 "),
            Some(DialString::Extension("1002".into()))
        );
        assert_eq!(
            dial_string("212-555-0113"),
            Some(DialString::Number("212-555-0113".into()))
        );
        assert_eq!(
            dial_string("+86 10 1234"),
            Some(DialString::Number("+86 10 1234".into()))
        );
        assert_eq!(dial_string(""), None);
        assert_eq!(dial_string("bob"), None);
        assert_eq!(dial_string("12+3"), None);
    }
}
