//! Searching logs, databases and files for secrets a caller typed (a security code, a PIN).
//!
//! Such a secret is a short run of digits, so the bare digits also turn up by chance: a
//! duration `"talk_ms":838` in a JSON log line or a call-record note, `elapsed=838` in a
//! plain log line. Typed digits travel as text (the IVR collects them as strings), so a leak
//! would show as `"838"`, `838` inside a message or a string field, or next to other text,
//! never as a bare number value. [`has_secret`] finds the digits as a token of their own
//! (no digit right before or after) unless they are a bare number value (right after `:` or
//! `=`) or the fraction of a decimal number (`"elapsed":"99.838µs"` from sqlx). Full card numbers are long enough to be searched for as plain bytes.

#![allow(dead_code)]

/// `needle` occurs in `hay` as a token of its own that is not a bare number value.
pub fn has_secret(hay: &[u8], needle: &[u8]) -> bool {
    secret_at(hay, needle).is_some()
}

/// Where `needle` occurs as [`has_secret`] means it, with up to 80 bytes around it (for the
/// failure message).
pub fn secret_at(hay: &[u8], needle: &[u8]) -> Option<String> {
    let i = hay.windows(needle.len()).enumerate().position(|(i, w)| {
        let before = i.checked_sub(1).map(|j| hay[j]);
        // The fraction of a decimal number ("99.838µs") is part of that number.
        let fraction = before == Some(b'.') && i >= 2 && hay[i - 2].is_ascii_digit();
        // So is the whole part ("838.397µs", a logged duration).
        let after = |k: usize| hay.get(i + needle.len() + k).copied();
        let whole = after(0) == Some(b'.') && after(1).is_some_and(|b| b.is_ascii_digit());
        w == needle
            && !fraction
            && !whole
            && before.is_none_or(|b| !b.is_ascii_digit() && b != b':' && b != b'=')
            && hay
                .get(i + needle.len())
                .is_none_or(|b| !b.is_ascii_digit())
    })?;
    let from = i.saturating_sub(80);
    let to = (i + needle.len() + 80).min(hay.len());
    Some(String::from_utf8_lossy(&hay[from..to]).into_owned())
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
    assert!(!has_secret("\"elapsed\":\"99.838µs\"".as_bytes(), b"838"));
    assert!(!has_secret("\"elapsed\":\"838.397µs\"".as_bytes(), b"838"));
    assert!(has_secret(b"cvv 838. Thanks", b"838"));
    assert!(has_secret(b"code. 838 entered", b"838"));
    assert!(has_secret(br#"{"digits":"838"}"#, b"838"));
    assert!(has_secret(b"collected 838 from the caller", b"838"));
    assert!(has_secret(b"cvv: \"838\"", b"838"));
}
