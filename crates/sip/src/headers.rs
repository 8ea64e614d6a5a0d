//! Typed headers, decoded on demand from a [`Message`]'s header values.
//!
//! Each type parses from one header value (`parse`) and prints back with `Display`; a
//! print/parse round trip gives the same value (tested per type).

use crate::parse::{
    Params, is_lws, is_token, parse_u32, split_outside, split_outside_iter, trim_lws, unquote,
};
use crate::uri::split_host_port;
use crate::{Error, Message, Method, Result, Uri};
use std::borrow::Cow;
use std::fmt;

fn bad(header: &'static str, reason: &'static str) -> Error {
    Error::BadHeader { header, reason }
}

/// The RFC 3261 magic cookie that starts every branch of a compliant implementation.
pub const BRANCH_MAGIC: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;branch=...;received=...;rport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// Transport token (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...).
    pub transport: &'a str,
    /// sent-by host; IPv6 keeps brackets.
    pub host: &'a str,
    /// sent-by port.
    pub port: Option<u16>,
    /// Via parameters.
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    /// Parse one Via value (not a comma list).
    pub fn parse(v: &'a str) -> Result<Via<'a>> {
        let e = |r| bad("Via", r);
        let mut parts = v.splitn(3, '/');
        let name = trim_lws(parts.next().ok_or(e("no protocol"))?);
        let version = trim_lws(parts.next().ok_or(e("no version"))?);
        let rest = trim_lws(parts.next().ok_or(e("no transport"))?);
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(e("not SIP/2.0"));
        }
        let tend = rest.find(is_lws).ok_or(e("no sent-by"))?;
        let transport = &rest[..tend];
        if !is_token(transport) {
            return Err(e("bad transport"));
        }
        let rest = trim_lws(&rest[tend..]);
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (
                trim_lws(&rest[..i]),
                Params::parse(&rest[i + 1..]).map_err(|_| e("bad parameter"))?,
            ),
            None => (rest, Params::empty()),
        };
        let (host, port) = split_host_port(sent_by).ok_or(e("bad sent-by"))?;
        Ok(Via {
            transport,
            host,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.value("branch")
    }

    /// The `received` parameter (RFC 3261 18.2.1).
    pub fn received(&self) -> Option<&'a str> {
        self.params.value("received")
    }

    /// The `rport` parameter (RFC 3581): `Some(None)` when present without value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// `host[:port]`.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }
}

impl fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route,
/// Refer-To. `Debug` hides the display name and the URI's user part.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name as written (quoted string with its quotes, or tokens), if any.
    pub display: Option<&'a str>,
    /// The URI text between `<` `>` (or the bare addr-spec).
    pub uri: &'a str,
    /// Whether the URI was enclosed in `<>`.
    pub angle: bool,
    /// Header parameters after the URI (`tag`, `expires`, `q`, `+sip.instance`, ...).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parse one value (not a comma list).
    pub fn parse(v: &'a str) -> Result<NameAddr<'a>> {
        let e = |r| bad("name-addr", r);
        let v = trim_lws(v);
        let (display, rest) = if v.starts_with('"') {
            let b = v.as_bytes();
            let mut i = 1;
            loop {
                match b.get(i) {
                    None => return Err(e("unterminated quoted display name")),
                    Some(b'\\') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            (Some(&v[..=i]), trim_lws(&v[i + 1..]))
        } else if let Some(lt) = v.find('<') {
            let d = trim_lws(&v[..lt]);
            if !d.is_empty() && !d.split(is_lws).filter(|t| !t.is_empty()).all(is_token) {
                return Err(e("display name is not tokens or a quoted string"));
            }
            (if d.is_empty() { None } else { Some(d) }, &v[lt..])
        } else {
            (None, v)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or(e("missing >"))?;
            let uri = &inner[..gt];
            if uri.starts_with(is_lws) || uri.ends_with(is_lws) {
                return Err(e("whitespace inside <>"));
            }
            Uri::parse(uri)?;
            let after = trim_lws(&inner[gt + 1..]);
            let params = match after {
                "" => Params::empty(),
                a => Params::parse(a.strip_prefix(';').ok_or(e("junk after >"))?)
                    .map_err(|_| e("bad parameter"))?,
            };
            Ok(NameAddr {
                display,
                uri,
                angle: true,
                params,
            })
        } else {
            if display.is_some() {
                return Err(e("display name without <uri>"));
            }
            let (uri, params) = match rest.find(';') {
                Some(i) => (
                    trim_lws(&rest[..i]),
                    Params::parse(&rest[i + 1..]).map_err(|_| e("bad parameter"))?,
                ),
                None => (rest, Params::empty()),
            };
            if uri.contains(['?', ',']) {
                return Err(e("addr-spec with ? or , must be in <>"));
            }
            Uri::parse(uri)?;
            Ok(NameAddr {
                display,
                uri,
                angle: false,
                params,
            })
        }
    }

    /// Parsed URI (it was validated by `parse`).
    pub fn uri(&self) -> Result<Uri<'a>> {
        Uri::parse(self.uri)
    }

    /// Display name without quotes and escapes.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display.map(unquote)
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        self.params.value("tag")
    }
}

impl fmt::Display for NameAddr<'_> {
    /// Always prints the `<uri>` form, which is valid for every URI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

impl fmt::Debug for NameAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NameAddr")
            .field(
                "display",
                &self.display.map(|d| crate::pii::Hidden(d.len())),
            )
            .field("uri", &crate::pii::RedactedUri(self.uri))
            .field("params", &self.params.as_str())
            .finish()
    }
}

/// One Contact value: `*` or an address with `expires`, `q`, `+sip.instance`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER: remove all bindings).
    Star,
    /// A contact address.
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parse one value.
    pub fn parse(v: &'a str) -> Result<Contact<'a>> {
        if trim_lws(v) == "*" {
            Ok(Contact::Star)
        } else {
            NameAddr::parse(v).map(Contact::Addr)
        }
    }

    /// `expires` parameter in seconds.
    pub fn expires(&self) -> Option<u32> {
        match self {
            Contact::Addr(a) => a
                .params
                .value("expires")
                .and_then(|e| parse_u32(e, u32::MAX as u64)),
            Contact::Star => None,
        }
    }

    /// `+sip.instance` (RFC 5626) without its quotes and angle brackets.
    pub fn instance(&self) -> Option<&'a str> {
        match self {
            Contact::Addr(a) => a.params.value("+sip.instance").map(|v| {
                v.trim_matches('"')
                    .trim_start_matches('<')
                    .trim_end_matches('>')
            }),
            Contact::Star => None,
        }
    }
}

impl fmt::Display for Contact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contact::Star => f.write_str("*"),
            Contact::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// `CSeq: 4711 INVITE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// Sequence number (< 2^31, RFC 3261 8.1.1.5).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parse a CSeq value.
    pub fn parse(v: &str) -> Result<CSeq> {
        let v = trim_lws(v);
        let i = v.find(is_lws).ok_or(bad("CSeq", "no method"))?;
        let seq = parse_u32(&v[..i], (1u64 << 31) - 1).ok_or(bad("CSeq", "bad number"))?;
        let method = Method::parse(trim_lws(&v[i..])).ok_or(bad("CSeq", "bad method"))?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Parse a Max-Forwards value (0..=255).
pub fn parse_max_forwards(v: &str) -> Result<u8> {
    parse_u32(v, 255)
        .map(|n| n as u8)
        .ok_or(bad("Max-Forwards", "not 0..=255"))
}

/// Parse an Expires value (delta-seconds).
pub fn parse_expires(v: &str) -> Result<u32> {
    parse_u32(v, u32::MAX as u64).ok_or(bad("Expires", "not delta-seconds"))
}

/// A Call-ID must be `word[@word]` without whitespace.
pub fn parse_call_id(v: &str) -> Result<&str> {
    let v = trim_lws(v);
    if v.is_empty() || v.bytes().any(|b| b <= b' ') {
        return Err(bad("Call-ID", "empty or contains whitespace"));
    }
    Ok(v)
}

/// Digest credentials or challenge: `Digest name=value, ...` (Authorization, Proxy-Authorization,
/// WWW-Authenticate, Proxy-Authenticate). `Debug` shows parameter names and hides the values of
/// `username`, `response`, `cnonce` and `nonce`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthParams<'a> {
    /// Scheme token, e.g. `Digest`.
    pub scheme: &'a str,
    /// Parameters in order; values are unquoted.
    pub params: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> AuthParams<'a> {
    /// Parse an auth header value.
    pub fn parse(v: &'a str) -> Result<AuthParams<'a>> {
        let v = trim_lws(v);
        let (scheme, rest) = match v.find(is_lws) {
            Some(i) => (&v[..i], trim_lws(&v[i..])),
            None => (v, ""),
        };
        if !is_token(scheme) {
            return Err(bad("Authorization", "bad scheme"));
        }
        let mut params = Vec::new();
        if !rest.is_empty() {
            for part in split_outside(rest, b',')? {
                let part = trim_lws(part);
                if part.is_empty() {
                    continue;
                }
                let eq = part
                    .find('=')
                    .ok_or(bad("Authorization", "parameter without ="))?;
                let name = trim_lws(&part[..eq]);
                if !is_token(name) {
                    return Err(bad("Authorization", "bad parameter name"));
                }
                params.push((name, unquote(&part[eq + 1..])));
            }
        }
        Ok(AuthParams { scheme, params })
    }

    /// A parameter value by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }
}

impl fmt::Display for AuthParams<'_> {
    /// Quotes every value except `algorithm`, `nc`, `stale` and a `qop` in credentials,
    /// as RFC 3261/7616 write them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme)?;
        for (i, (n, v)) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            let bare = ["algorithm", "nc", "stale"]
                .iter()
                .any(|b| n.eq_ignore_ascii_case(b))
                || (n.eq_ignore_ascii_case("qop") && !v.contains(','));
            if bare && !v.is_empty() && is_token(v) {
                write!(f, "{n}={v}")?;
            } else {
                write!(
                    f,
                    "{n}=\"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                )?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for AuthParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_map();
        l.entry(&"scheme", &self.scheme);
        for (n, v) in &self.params {
            let secret = ["username", "response", "cnonce", "nonce"]
                .iter()
                .any(|s| n.eq_ignore_ascii_case(s));
            if secret {
                l.entry(n, &crate::pii::Hidden(v.len()));
            } else {
                l.entry(n, v);
            }
        }
        l.finish()
    }
}

/// A Date header must be an RFC 1123 date in GMT (`Sat, 13 Nov 2010 23:29:00 GMT`).
pub fn check_date(v: &str) -> Result<()> {
    let v = trim_lws(v);
    let ok = v.ends_with(" GMT") && v.len() == 29 && v.as_bytes()[3] == b',';
    if ok {
        Ok(())
    } else {
        Err(bad("Date", "not an RFC 1123 GMT date"))
    }
}

/// Typed accessors on a message. Missing single headers give [`Error::MissingHeader`].
impl<'a> Message<'a> {
    fn required(&self, name: &'static str) -> Result<&str> {
        self.header(name).ok_or(Error::MissingHeader(name))
    }

    /// The top Via.
    pub fn top_via(&self) -> Result<Via<'_>> {
        let first = self.required("Via")?;
        Via::parse(split_outside_iter(first, b',').next().unwrap_or(""))
    }

    /// All Via values, top first.
    pub fn vias(&self) -> Result<Vec<Via<'_>>> {
        self.header_values("Via")?
            .into_iter()
            .map(Via::parse)
            .collect()
    }

    /// From.
    pub fn from_header(&self) -> Result<NameAddr<'_>> {
        NameAddr::parse(self.required("From")?)
    }

    /// To.
    pub fn to_header(&self) -> Result<NameAddr<'_>> {
        NameAddr::parse(self.required("To")?)
    }

    /// Call-ID.
    pub fn call_id(&self) -> Result<&str> {
        parse_call_id(self.required("Call-ID")?)
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq> {
        CSeq::parse(self.required("CSeq")?)
    }

    /// Max-Forwards, if present.
    pub fn max_forwards(&self) -> Result<Option<u8>> {
        self.header("Max-Forwards")
            .map(parse_max_forwards)
            .transpose()
    }

    /// Expires header, if present.
    pub fn expires(&self) -> Result<Option<u32>> {
        self.header("Expires").map(parse_expires).transpose()
    }

    /// Content-Length header value, if present (the parser already checked it against the body).
    pub fn content_length(&self) -> Option<usize> {
        self.header("Content-Length")
            .and_then(|v| parse_u32(v, u32::MAX as u64))
            .map(|n| n as usize)
    }

    /// All Contact values.
    pub fn contacts(&self) -> Result<Vec<Contact<'_>>> {
        self.header_values("Contact")?
            .into_iter()
            .map(Contact::parse)
            .collect()
    }

    /// All Route values in order.
    pub fn routes(&self) -> Result<Vec<NameAddr<'_>>> {
        self.header_values("Route")?
            .into_iter()
            .map(NameAddr::parse)
            .collect()
    }

    /// All Record-Route values in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr<'_>>> {
        self.header_values("Record-Route")?
            .into_iter()
            .map(NameAddr::parse)
            .collect()
    }

    /// Authorization (or Proxy-Authorization when `proxy`).
    pub fn authorization(&self, proxy: bool) -> Option<Result<AuthParams<'_>>> {
        self.header(if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        })
        .map(AuthParams::parse)
    }

    /// WWW-Authenticate (or Proxy-Authenticate when `proxy`) challenges.
    pub fn challenges(&self, proxy: bool) -> Result<Vec<AuthParams<'_>>> {
        self.headers_named(if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        })
        .map(AuthParams::parse)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: fmt::Display + PartialEq + fmt::Debug>(
        v: &str,
        parse: impl for<'x> Fn(&'x str) -> Result<T>,
    ) {
        let a = parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        let printed = a.to_string();
        let b = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(a.to_string(), b.to_string(), "{v}");
    }

    #[test]
    fn via_round_trip_and_parts() {
        let v = Via::parse("SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1;received=10.0.0.1;rport=5062")
            .unwrap();
        assert_eq!((v.transport, v.host, v.port), ("UDP", "[::1]", Some(5060)));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(v.received(), Some("10.0.0.1"));
        assert_eq!(v.rport(), Some(Some(5062)));
        let v = Via::parse("SIP  /   2.0 /UDP 192.0.2.2;rport;branch=390skdjuw").unwrap();
        assert_eq!(v.rport(), Some(None));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 192.0.2.2;rport;branch=390skdjuw"
        );
        round_trip("SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKx", |s| {
            Via::parse(s).map(|v| v.to_string())
        });
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
    }

    #[test]
    fn from_to_round_trip_with_tag() {
        let n = NameAddr::parse(
            "\"J Rosenberg \\\\\\\"\"  <sip:jdrosen@example.com>\r\n ;\r\n tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(n.display_name().as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(n.tag(), Some("98asjd8"));
        round_trip(
            "Alice <sip:alice@atlanta.example.com>;tag=1928301774",
            |s| NameAddr::parse(s).map(|v| v.to_string()),
        );
        round_trip("sip:+1234@example.com;user=phone", |s| {
            NameAddr::parse(s).map(|v| v.to_string())
        });
        let bare = NameAddr::parse("sip:caller@example.net;tag=231413434").unwrap();
        assert_eq!(bare.uri, "sip:caller@example.net");
        assert_eq!(bare.tag(), Some("231413434"));
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>").is_err());
        assert!(NameAddr::parse("\"W\" < sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
    }

    #[test]
    fn contact_round_trip_star_and_instance() {
        assert_eq!(Contact::parse(" * ").unwrap(), Contact::Star);
        let c = Contact::parse("<sip:100@10.0.0.5:5062;ob>;expires=3600;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";reg-id=1").unwrap();
        assert_eq!(c.expires(), Some(3600));
        assert_eq!(
            c.instance(),
            Some("urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF")
        );
        round_trip(
            "<sip:100@10.0.0.5:5062;ob>;expires=3600;+sip.instance=\"<urn:uuid:1>\"",
            |s| Contact::parse(s).map(|v| v.to_string()),
        );
        round_trip("*", |s| Contact::parse(s).map(|v| v.to_string()));
    }

    #[test]
    fn route_round_trip() {
        round_trip(
            "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
            |s| NameAddr::parse(s).map(|v| v.to_string()),
        );
    }

    #[test]
    fn cseq_max_forwards_expires_call_id() {
        let c = CSeq::parse("0009\r\n  INVITE").unwrap();
        assert_eq!((c.seq, &c.method), (9, &Method::Invite));
        round_trip("4711 REGISTER", CSeq::parse);
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("fhdjkgfhdkjhgkj").is_err());
        assert_eq!(parse_max_forwards("0068").unwrap(), 68);
        assert!(parse_max_forwards("300").is_err());
        assert_eq!(
            parse_max_forwards(&parse_max_forwards("70").unwrap().to_string()).unwrap(),
            70
        );
        assert_eq!(parse_expires("3600").unwrap(), 3600);
        assert!(parse_expires("1000000000000000000000").is_err());
        assert_eq!(parse_call_id(" abc@host ").unwrap(), "abc@host");
        assert!(parse_call_id("a b").is_err());
    }

    #[test]
    fn auth_round_trip() {
        let v = "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b\", uri=\"sip:bob@biloxi.com\", response=\"245f23415f11432b3434341c022\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"";
        let a = AuthParams::parse(v).unwrap();
        assert_eq!(a.scheme, "Digest");
        assert_eq!(a.get("username"), Some("bob"));
        assert_eq!(a.get("nc"), Some("00000001"));
        assert_eq!(a.to_string(), v);
        let w = "Digest realm=\"atlanta.com\", qop=\"auth,auth-int\", nonce=\"84a4cc6f\", stale=true, algorithm=SHA-256";
        assert_eq!(AuthParams::parse(w).unwrap().to_string(), w);
        assert_eq!(
            AuthParams::parse("NoOneKnowsThisScheme opaque-data=here")
                .unwrap()
                .get("opaque-data"),
            Some("here")
        );
    }
}
