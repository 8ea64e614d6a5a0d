//! `sip:`, `sips:` and `tel:` URIs (RFC 3261 19.1, RFC 3966), zero-copy.

use crate::parse::Params;
use crate::{Error, Result};
use std::fmt;

/// URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme<'a> {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:`
    Tel,
    /// Anything else (kept opaque; a UAS answers 416 to it in a Request-URI).
    Other(&'a str),
}

impl Scheme<'_> {
    /// The scheme text without the colon.
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

/// A parsed URI borrowing from its text.
///
/// For `sip`/`sips` all parts are filled; for `tel` the number is in `user` and `host` is empty;
/// for other schemes `host` holds the opaque rest. `Debug` hides user and password.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    /// Scheme.
    pub scheme: Scheme<'a>,
    /// User part, still %-escaped (`None` when absent). For `tel:` the number.
    pub user: Option<&'a str>,
    /// Password after `user:`, still escaped.
    pub password: Option<&'a str>,
    /// Host; IPv6 references keep their brackets (`[::1]`).
    pub host: &'a str,
    /// Port, when given.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params<'a>,
    /// Raw header part after `?`, when present.
    pub headers: Option<&'a str>,
}

fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
}

fn valid_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[') {
        return inner
            .strip_suffix(']')
            .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok());
    }
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

impl<'a> Uri<'a> {
    /// Parse a URI. Surrounding whitespace is an error: a caller strips `<` `>` itself.
    pub fn parse(s: &'a str) -> Result<Uri<'a>> {
        let colon = s.find(':').ok_or(Error::BadUri("no scheme"))?;
        let scheme_str = &s[..colon];
        if !is_scheme(scheme_str) {
            return Err(Error::BadUri("bad scheme"));
        }
        let rest = &s[colon + 1..];
        if rest.is_empty()
            || rest
                .bytes()
                .any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"')
        {
            return Err(Error::BadUri("bad character"));
        }
        let scheme = if scheme_str.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_str.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_str.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            return Ok(Uri {
                scheme: Scheme::Other(scheme_str),
                user: None,
                password: None,
                host: rest,
                port: None,
                params: Params::empty(),
                headers: None,
            });
        };
        if scheme == Scheme::Tel {
            let (number, params) = match rest.find(';') {
                Some(i) => (
                    &rest[..i],
                    Params::parse_uri(&rest[i + 1..]).map_err(|_| Error::BadUri("tel params"))?,
                ),
                None => (rest, Params::empty()),
            };
            if number.is_empty()
                || !number
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b"+-.()*#".contains(&b))
            {
                return Err(Error::BadUri("bad tel number"));
            }
            return Ok(Uri {
                scheme,
                user: Some(number),
                password: None,
                host: "",
                port: None,
                params,
                headers: None,
            });
        }
        let (userinfo, hostpart) = match rest.find('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(ui) => {
                // The password is after the last ':' only when no ';' follows it (telephone-subscriber users may contain ';').
                match ui.rfind(':') {
                    Some(i) if !ui[i..].contains(';') && !ui[..i].is_empty() => {
                        (Some(&ui[..i]), Some(&ui[i + 1..]))
                    }
                    _ => (Some(ui), None),
                }
            }
            None => (None, None),
        };
        if user == Some("") {
            return Err(Error::BadUri("empty user"));
        }
        let (hostport, headers) = match hostpart.find('?') {
            Some(i) => (&hostpart[..i], Some(&hostpart[i + 1..])),
            None => (hostpart, None),
        };
        let (hostport, params) = match hostport.find(';') {
            Some(i) => (
                &hostport[..i],
                Params::parse_uri(&hostport[i + 1..])
                    .map_err(|_| Error::BadUri("bad uri params"))?,
            ),
            None => (hostport, Params::empty()),
        };
        let (host, port) = split_host_port(hostport).ok_or(Error::BadUri("bad host or port"))?;
        Ok(Uri {
            scheme,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// Host and port as `host:port` (port omitted when absent).
    pub fn host_port(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }

    /// Is this a SIP or SIPS URI?
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }
}

impl fmt::Debug for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Uri")
            .field("scheme", &self.scheme.as_str())
            .field("user", &self.user.map(|_| "***"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("params", &self.params.as_str())
            .finish()
    }
}

/// Split `host[:port]` where host may be a bracketed IPv6 reference. `None` if malformed.
pub(crate) fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']')?;
        let host = &s[..=end];
        match &s[end + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match s.find(':') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        }
    };
    if !valid_host(host) {
        return None;
    }
    let port = match port {
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    Some((host, port))
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        match self.scheme {
            Scheme::Other(_) => return f.write_str(self.host),
            Scheme::Tel => {
                f.write_str(self.user.unwrap_or(""))?;
                return write!(f, "{}", self.params);
            }
            _ => {}
        }
        if let Some(u) = self.user {
            f.write_str(u)?;
            if let Some(p) = self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u =
            Uri::parse("sip:alice:secret@[2001:db8::1]:5070;transport=tcp;lr?Subject=hi").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, "[2001:db8::1]");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params.value("transport"), Some("tcp"));
        assert!(u.params.contains("lr"));
        assert_eq!(u.headers, Some("Subject=hi"));
        assert_eq!(
            u.to_string(),
            "sip:alice:secret@[2001:db8::1]:5070;transport=tcp;lr?Subject=hi"
        );
    }

    #[test]
    fn tel_and_other_schemes() {
        let t = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(t.scheme, Scheme::Tel);
        assert_eq!(t.user, Some("+1-201-555-0123"));
        assert_eq!(
            t.to_string(),
            "tel:+1-201-555-0123;phone-context=example.com"
        );
        let o = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(o.scheme, Scheme::Other("soap.beep"));
        assert_eq!(o.to_string(), "soap.beep://192.0.2.103:3002");
    }

    #[test]
    fn bad_uris() {
        for bad in [
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip:[::1",
            "sip:host:99999",
            "sip:",
            "tel:",
            "sip:@host",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unusual_user_parts() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        let u = Uri::parse("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com").unwrap();
        assert_eq!(u.host, "example.com");
    }
}
