//! Phone number normalisation to E.164 (`+` country code subscriber number, at most 15 digits).
//!
//! Accepted inputs: `+49 30 1234-56`, `0049 30 123456` (international prefix 00), `(030) 123456`
//! with a default country (national prefix 0 dropped), `tel:+4930123456`, `sip:+4930123456@host`.
//! Without a default country a number must already be international.

use crate::{Error, Result};

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
    let national = if plus {
        None
    } else if let Some(rest) = digits.strip_prefix("00") {
        digits = rest.to_string();
        None
    } else {
        Some(())
    };
    let e164 = match national {
        None => digits,
        Some(()) => {
            let cc = default_cc.ok_or_else(|| {
                Error::Invalid("national phone number without a default country code".into())
            })?;
            if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Invalid(
                    "default country code must be 1 to 3 digits".into(),
                ));
            }
            let subscriber = digits.strip_prefix('0').unwrap_or(&digits);
            // NANP numbers are written without the trunk prefix 1 nationally.
            let subscriber = if cc == "1" {
                subscriber
                    .strip_prefix('1')
                    .filter(|s| s.len() == 10)
                    .unwrap_or(subscriber)
            } else {
                subscriber
            };
            format!("{cc}{subscriber}")
        }
    };
    if e164.len() < 6 || e164.len() > 15 || e164.starts_with('0') {
        return Err(Error::Invalid(
            "phone number is not a valid E.164 number".into(),
        ));
    }
    Ok(format!("+{e164}"))
}

#[cfg(test)]
mod tests {
    use super::normalize;

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
