//! Lexical helpers shared by the message, header and URI parsers (RFC 3261 section 25.1).

use crate::{Error, Result};

/// `token` characters: alphanum and `-.!%*_+`'~`.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// An unquoted header parameter value: a token, or an IPv6 address (bare or bracketed),
/// which is the only `host` form a token does not cover (RFC 3261 `gen-value`).
pub(crate) fn is_header_param_value(v: &str) -> bool {
    v.bytes().all(is_token_char)
        || v.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
}

/// A URI parameter value (`paramchar`: unreserved, escaped, `param-unreserved`).
pub(crate) fn is_uri_param_value(v: &str) -> bool {
    v.bytes()
        .all(|b| is_token_char(b) || b"[]/:&$()".contains(&b))
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Linear white space after unfolding: SP, HTAB, CR, LF.
pub(crate) fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches(is_lws)
}

/// Iterator over the pieces of `s` between `sep` bytes that are outside quoted strings and
/// outside `<...>`. Backslash escapes inside quotes are honoured. No allocation.
#[derive(Debug, Clone)]
pub(crate) struct SplitOutside<'a> {
    rest: Option<&'a str>,
    sep: u8,
    /// Set when the last piece ended inside an unterminated quoted string.
    pub(crate) unterminated: bool,
}

impl<'a> Iterator for SplitOutside<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let bytes = s.as_bytes();
        let (mut in_quote, mut in_angle) = (false, false);
        let mut i = 0;
        // Jump between the bytes that matter with memchr instead of walking every byte.
        while i < bytes.len() {
            if in_quote {
                match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    None => break,
                    Some(j) if bytes[i + j] == b'\\' => i += j + 2,
                    Some(j) => {
                        in_quote = false;
                        i += j + 1;
                    }
                }
            } else if in_angle {
                match memchr::memchr2(b'>', b'"', &bytes[i..]) {
                    None => break,
                    Some(j) => {
                        if bytes[i + j] == b'>' {
                            in_angle = false;
                        } else {
                            in_quote = true;
                        }
                        i += j + 1;
                    }
                }
            } else {
                match memchr::memchr3(self.sep, b'"', b'<', &bytes[i..]) {
                    None => break,
                    Some(j) => {
                        let at = i + j;
                        match bytes[at] {
                            b'"' => in_quote = true,
                            b'<' => in_angle = true,
                            _ => {
                                self.rest = Some(&s[at + 1..]);
                                return Some(&s[..at]);
                            }
                        }
                        i = at + 1;
                    }
                }
            }
        }
        self.unterminated |= in_quote;
        self.rest = None;
        Some(s)
    }
}

/// Split lazily; see [`SplitOutside`].
pub(crate) fn split_outside_iter(s: &str, sep: u8) -> SplitOutside<'_> {
    SplitOutside {
        rest: Some(s),
        sep,
        unterminated: false,
    }
}

/// Split `s` at every `sep` that is outside a quoted string and outside `<...>`.
/// An unterminated quote is an error.
pub(crate) fn split_outside(s: &str, sep: u8) -> Result<Vec<&str>> {
    let mut it = split_outside_iter(s, sep);
    let out: Vec<&str> = it.by_ref().collect();
    if it.unterminated {
        return Err(Error::Parse("unterminated quoted string"));
    }
    Ok(out)
}

/// Remove surrounding quotes and backslash escapes from a quoted string; tokens pass through.
pub(crate) fn unquote(s: &str) -> std::borrow::Cow<'_, str> {
    let s = trim_lws(s);
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let inner = &s[1..s.len() - 1];
        if !inner.contains('\\') {
            return inner.into();
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        out.into()
    } else {
        s.into()
    }
}

/// Parse a decimal number of at most `max`, allowing leading zeros (RFC 4475 `wsinv`).
pub(crate) fn parse_u32(s: &str, max: u64) -> Option<u32> {
    let s = trim_lws(s);
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u64 = s.trim_start_matches('0').parse().unwrap_or(0);
    if s.trim_start_matches('0').len() > 19 || v > max {
        return None;
    }
    u32::try_from(v).ok()
}

/// Semicolon-separated `name[=value]` parameters, kept as the raw text after the first `;`.
///
/// Decoding is lazy: [`Params::get`] walks the text. LWS around `;` and `=` is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Validate and wrap the text after the first `;` (without that `;`).
    pub(crate) fn parse(raw: &'a str) -> Result<Params<'a>> {
        Params::parse_with(raw, is_header_param_value)
    }

    /// Validate URI parameters (a wider value alphabet).
    pub(crate) fn parse_uri(raw: &'a str) -> Result<Params<'a>> {
        Params::parse_with(raw, is_uri_param_value)
    }

    fn parse_with(raw: &'a str, valid_value: fn(&str) -> bool) -> Result<Params<'a>> {
        let p = Params { raw };
        for part in split_outside(raw, b';')? {
            let (name, value) = split_param(part);
            if !is_token(name) {
                return Err(Error::Parse("bad parameter name"));
            }
            if let Some(v) = value {
                let v = trim_lws(v);
                if v.is_empty() {
                    return Err(Error::Parse("empty parameter value"));
                }
                if v.starts_with('"') {
                    if v.len() < 2 || !v.ends_with('"') {
                        return Err(Error::Parse("bad quoted parameter"));
                    }
                } else if !valid_value(v) {
                    return Err(Error::Parse("bad parameter value"));
                }
            }
        }
        Ok(p)
    }

    /// No parameters.
    pub fn empty() -> Params<'static> {
        Params { raw: "" }
    }

    /// The raw text (without the leading `;`).
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Iterate `(name, value)`; value is `None` for a flag parameter. Values keep their quotes.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        let raw = self.raw;
        let mut it = split_outside_iter(raw, b';');
        if raw.is_empty() {
            it.rest = None;
        }
        it.map(|p| {
            let (n, v) = split_param(p);
            (n, v.map(trim_lws))
        })
    }

    /// Look up a parameter by case-insensitive name. `Some(None)` means present without value.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Value of a parameter, or `None` when absent or valueless.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten()
    }

    /// Is the parameter present (with or without value)?
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// No parameters at all.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

impl std::fmt::Display for Params<'_> {
    /// Prints `;name=value;flag` normalised (no LWS).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, v) in self.iter() {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

fn split_param(part: &str) -> (&str, Option<&str>) {
    match part.find('=') {
        Some(i) => (trim_lws(&part[..i]), Some(&part[i + 1..])),
        None => (trim_lws(part), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_with_lws_and_flags() {
        let p = Params::parse("   tag    = 1918181833n ; lr ; x=\"a;b\"").unwrap();
        assert_eq!(p.value("TAG"), Some("1918181833n"));
        assert_eq!(p.get("lr"), Some(None));
        assert_eq!(p.value("x"), Some("\"a;b\""));
        assert_eq!(p.len(), 3);
        assert!(Params::parse(";;").is_err());
        assert!(Params::parse("a=").is_err());
        assert!(
            Params::parse("branch=z9hG4bD: x").is_err(),
            "space inside a value"
        );
        assert!(Params::parse("received=2001:db8::1;x=[::1]").is_ok());
        assert!(
            Params::parse("tag=abc:").is_err(),
            "a colon only in IPv6 addresses"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32("0068", 255), Some(68));
        assert_eq!(parse_u32("300", 255), None);
        assert_eq!(parse_u32("36893488147419103232", u32::MAX as u64), None);
        assert_eq!(parse_u32("-1", 10), None);
        assert_eq!(parse_u32("0", 10), Some(0));
    }

    #[test]
    fn split_outside_respects_quotes_and_angles() {
        let parts = split_outside(r#"a, "b,\"c", <sip:x;y,z>;p="q,r", d"#, b',').unwrap();
        assert_eq!(
            parts,
            vec!["a", r#" "b,\"c""#, r#" <sip:x;y,z>;p="q,r""#, " d"]
        );
        assert_eq!(split_outside("", b',').unwrap(), vec![""]);
        assert_eq!(split_outside("a;b;", b';').unwrap(), vec!["a", "b", ""]);
        assert!(split_outside(r#"x "unterminated, y"#, b',').is_err());
        assert!(split_outside(r#"x "esc\"#, b',').is_err());
    }

    #[test]
    fn unquote_escapes() {
        assert_eq!(unquote("\"J Rosenberg \\\\\\\"\""), "J Rosenberg \\\"");
        assert_eq!(unquote("token"), "token");
        assert!(split_outside("\"abc", b',').is_err());
    }
}
