//! Telling card numbers apart from other text, so that none is ever written where a payment's
//! free-form fields go.

/// Whether `s` looks like a card number: 12 or more digits in a row (spaces and dashes allowed).
/// Used to refuse such text anywhere a payment's free-form fields are written.
pub fn contains_card_number(s: &str) -> bool {
    let mut run = 0;
    for c in s.chars() {
        if c.is_ascii_digit() {
            run += 1;
            if run >= 12 {
                return true;
            }
        } else if c != ' ' && c != '-' {
            run = 0;
        }
    }
    false
}
