//! Searching logs, databases and files for secrets a caller typed (a security code, a PIN).
//!
//! Such a secret is a short run of digits, so the bare digits also turn up by chance: a
//! duration `"talk_ms":838` in a JSON log line or a call-record note, `elapsed=838` in a
//! plain log line. Typed digits travel as text (the IVR collects them as strings), so a leak
//! would show as `"838"`, `838` inside a message or a string field, or next to other text,
//! never as a bare number value. [`has_secret`] finds the digits as a token of their own
//! (no digit right before or after) unless they are a bare number value (right after `:` or
//! `=`). Full card numbers are long enough to be searched for as plain bytes.

#![allow(dead_code)]

/// `needle` occurs in `hay` as a token of its own that is not a bare number value.
pub fn has_secret(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).enumerate().any(|(i, w)| {
        let before = i.checked_sub(1).map(|j| hay[j]);
        w == needle
            && before.is_none_or(|b| !b.is_ascii_digit() && b != b':' && b != b'=')
            && hay
                .get(i + needle.len())
                .is_none_or(|b| !b.is_ascii_digit())
    })
}

/// `needle` occurs anywhere in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_bare_number_value_is_not_a_leak_but_text_is() {
    assert!(!has_secret(br#"{"talk_ms":838,"x":1}"#, b"838"));
    assert!(!has_secret(b"elapsed=838 done", b"838"));
    assert!(!has_secret(b"port 18380", b"838"));
    assert!(has_secret(br#"{"digits":"838"}"#, b"838"));
    assert!(has_secret(b"collected 838 from the caller", b"838"));
    assert!(has_secret(b"cvv: \"838\"", b"838"));
}
