//! DTMF digits, digit buffers that wipe themselves, and the checks used on entered digits
//! (Luhn, card expiry, card brand).

use std::fmt;
use zeroize::Zeroize;

/// One DTMF key: `0`-`9`, `*`, `#` or `A`-`D` (RFC 4733 events 0-15).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(u8);

impl Digit {
    /// `#`, the usual terminator.
    pub const HASH: Digit = Digit(b'#');
    /// `*`.
    pub const STAR: Digit = Digit(b'*');

    /// A digit from its character; `None` for anything that is not a DTMF key.
    pub fn from_char(c: char) -> Option<Digit> {
        match c {
            '0'..='9' | '*' | '#' | 'A'..='D' => Some(Digit(c as u8)),
            'a'..='d' => Some(Digit(c.to_ascii_uppercase() as u8)),
            _ => None,
        }
    }

    /// A digit from an RFC 4733 telephone-event code (0-9, 10 = `*`, 11 = `#`, 12-15 = `A`-`D`).
    pub fn from_rfc4733(event: u8) -> Option<Digit> {
        match event {
            0..=9 => Some(Digit(b'0' + event)),
            10 => Some(Digit::STAR),
            11 => Some(Digit::HASH),
            12..=15 => Some(Digit(b'A' + event - 12)),
            _ => None,
        }
    }

    /// The key as a character.
    pub fn as_char(self) -> char {
        self.0 as char
    }

    /// The numeric value for `0`-`9`.
    pub fn value(self) -> Option<u8> {
        self.0.is_ascii_digit().then(|| self.0 - b'0')
    }
}

/// Debug never shows which key it is: a log line per digit would otherwise spell out a card
/// number across lines. Use Display (or [`Digit::as_char`]) where the key may be shown.
impl fmt::Debug for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digit(<redacted>)")
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Digits being entered by a caller. Debug shows only the count; the memory is wiped when the
/// buffer is cleared or dropped, so a card number typed into it does not linger on the heap.
#[derive(Default, Clone)]
pub(crate) struct DigitBuf(String);

impl DigitBuf {
    pub(crate) fn push(&mut self, d: Digit) {
        if self.0.len() == self.0.capacity() {
            // Grow by hand so the old allocation is wiped rather than freed with digits in it.
            let mut bigger = String::with_capacity((self.0.capacity() * 2).max(24));
            bigger.push_str(&self.0);
            self.0.zeroize();
            self.0 = bigger;
        }
        self.0.push(d.as_char());
    }
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
    pub(crate) fn clear(&mut self) {
        self.0.zeroize();
    }
    /// Moves the digits out, leaving this buffer empty.
    pub(crate) fn take(&mut self) -> DigitBuf {
        std::mem::take(self)
    }
}

impl Drop for DigitBuf {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for DigitBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigitBuf({} digits)", self.0.len())
    }
}

/// The Luhn (mod 10) check used by payment card numbers. Non-digits fail.
pub fn luhn_valid(number: &str) -> bool {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Parses a card expiry entered as `MMYY`. Returns `(year, month)` with a four-digit year.
pub fn parse_expiry(mmyy: &str) -> Option<(i32, u32)> {
    if mmyy.len() != 4 || !mmyy.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month: u32 = mmyy[..2].parse().ok()?;
    let yy: i32 = mmyy[2..].parse().ok()?;
    if !(1..=12).contains(&month) {
        return None;
    }
    Some((2000 + yy, month))
}

/// True when a card expiring at the end of `(year, month)` is still valid on `today`.
pub fn expiry_not_past(expiry: (i32, u32), today: crate::time::CivilDate) -> bool {
    (expiry.0, expiry.1) >= (today.year, today.month)
}

/// Card brands recognised from the number's prefix (IIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CardBrand {
    /// 4...
    Visa,
    /// 51-55, 2221-2720
    Mastercard,
    /// 34, 37
    Amex,
    /// 6011, 65, 644-649
    Discover,
    /// Anything else.
    Other,
}

impl CardBrand {
    /// The brand from the leading digits of a card number.
    pub fn detect(number: &str) -> CardBrand {
        let prefix =
            |n: usize| -> u32 { number.get(..n).and_then(|p| p.parse().ok()).unwrap_or(0) };
        if number.starts_with('4') {
            CardBrand::Visa
        } else if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) {
            CardBrand::Mastercard
        } else if matches!(prefix(2), 34 | 37) {
            CardBrand::Amex
        } else if prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3)) {
            CardBrand::Discover
        } else {
            CardBrand::Other
        }
    }

    /// Length of the security code for this brand.
    pub fn cvv_len(self) -> usize {
        if self == CardBrand::Amex { 4 } else { 3 }
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Other => "other",
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_typos() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("4000000000000002"));
        assert!(luhn_valid("4000000000009995"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("41111111111111a1"));
        assert!(!luhn_valid(""));
    }

    #[test]
    fn expiry_parsing_and_comparison() {
        assert_eq!(parse_expiry("1228"), Some((2028, 12)));
        assert_eq!(parse_expiry("1328"), None);
        assert_eq!(parse_expiry("0028"), None);
        assert_eq!(parse_expiry("128"), None);
        let today = crate::time::CivilDate {
            year: 2026,
            month: 11,
            day: 23,
        };
        assert!(expiry_not_past((2026, 11), today));
        assert!(!expiry_not_past((2026, 10), today));
        assert!(expiry_not_past((2027, 1), today));
    }

    #[test]
    fn brands_and_digits() {
        assert_eq!(CardBrand::detect("4111111111111111"), CardBrand::Visa);
        assert_eq!(CardBrand::detect("5555555555554444"), CardBrand::Mastercard);
        assert_eq!(CardBrand::detect("2223003122003222"), CardBrand::Mastercard);
        assert_eq!(CardBrand::detect("378282246310005"), CardBrand::Amex);
        assert_eq!(CardBrand::detect("6011111111111117"), CardBrand::Discover);
        assert_eq!(Digit::from_rfc4733(11), Some(Digit::HASH));
        assert_eq!(Digit::from_rfc4733(16), None);
        assert_eq!(Digit::from_char('x'), None);
        let mut b = DigitBuf::default();
        for c in "4111111111111111111111111".chars() {
            b.push(Digit::from_char(c).unwrap());
        }
        assert_eq!(b.len(), 25);
        assert!(!format!("{b:?}").contains("4111"));
        let seven = Digit::from_char('7').unwrap();
        assert_eq!(format!("{seven}"), "7");
        assert!(!format!("{seven:?}").contains('7'));
    }
}
