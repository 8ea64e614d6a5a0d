//! The message: zero-copy parser, printer, builder and stream framing.

use crate::parse::{is_token, parse_u32, trim_lws};
use crate::{Error, Method, Result, StatusCode};
use std::borrow::Cow;
use std::fmt::Write as _;

/// Largest header section we accept (start line plus headers) before the blank line.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Largest body we accept.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One header line. The name is as received (compact forms stay compact); `value` is trimmed
/// and, only when the line was folded, unfolded into an owned string.
/// `Debug` hides the values of identity and credential headers (see [`crate::pii`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Header<'a> {
    name: Cow<'a, str>,
    /// Known-header number of the name (0: an extension header), for fast lookups.
    id: u8,
    /// Value without surrounding LWS; folded lines joined with one space.
    pub value: Cow<'a, str>,
}

/// Long names of the headers we look up often; a header's `id` is its index + 1.
const KNOWN: [&str; 28] = [
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Content-Length",
    "Content-Type",
    "Max-Forwards",
    "Route",
    "Record-Route",
    "Expires",
    "Authorization",
    "WWW-Authenticate",
    "Proxy-Authorization",
    "Proxy-Authenticate",
    "Require",
    "Supported",
    "Accept",
    "Subject",
    "Content-Encoding",
    "Event",
    "Refer-To",
    "Allow-Events",
    "Allow",
    "Date",
    "User-Agent",
    "Server",
];

pub(crate) const ID_VIA: u8 = 1;
pub(crate) const ID_FROM: u8 = 2;
pub(crate) const ID_TO: u8 = 3;
pub(crate) const ID_CALL_ID: u8 = 4;
pub(crate) const ID_CSEQ: u8 = 5;
pub(crate) const ID_CONTENT_LENGTH: u8 = 7;
pub(crate) const ID_RECORD_ROUTE: u8 = 11;

fn header_id(name: &str) -> u8 {
    let long = canonical_name(name);
    let b = long.as_bytes();
    let Some(&first) = b.first() else { return 0 };
    // Candidates by length and first letter; one full comparison confirms.
    let candidates: &[u8] = match (b.len(), first.to_ascii_lowercase()) {
        (3, b'v') => &[1],
        (4, b'f') => &[2],
        (2, b't') => &[3],
        (7, b'c') => &[4, 6],
        (4, b'c') => &[5],
        (14, b'c') => &[7],
        (12, b'c') => &[8],
        (12, b'm') => &[9],
        (5, b'r') => &[10],
        (12, b'r') => &[11],
        (7, b'e') => &[12],
        (13, b'a') => &[13],
        (16, b'w') => &[14],
        (19, b'p') => &[15],
        (18, b'p') => &[16],
        (7, b'r') => &[17],
        (9, b's') => &[18],
        (6, b'a') => &[19],
        (7, b's') => &[20],
        (16, b'c') => &[21],
        (5, b'e') => &[22],
        (8, b'r') => &[23],
        (12, b'a') => &[24],
        (5, b'a') => &[25],
        (4, b'd') => &[26],
        (10, b'u') => &[27],
        (6, b's') => &[28],
        _ => &[],
    };
    candidates
        .iter()
        .copied()
        .find(|&id| KNOWN[usize::from(id) - 1].eq_ignore_ascii_case(long))
        .unwrap_or(0)
}

/// A header name prepared for repeated comparisons.
#[derive(Clone, Copy)]
pub(crate) struct Query<'n> {
    id: u8,
    name: &'n str,
}

impl<'n> Query<'n> {
    pub(crate) fn new(name: &'n str) -> Query<'n> {
        Query {
            id: header_id(name),
            name,
        }
    }
}

impl<'a> Header<'a> {
    /// A header line.
    pub fn new(name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> Header<'a> {
        let name = name.into();
        Header {
            id: header_id(&name),
            name,
            value: value.into(),
        }
    }

    /// The name as on the wire.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Does this header have the given name? Case-insensitive, compact forms match long ones.
    pub fn is(&self, name: &str) -> bool {
        self.matches(Query::new(name))
    }

    /// Known-header number (0 for extension headers).
    pub(crate) fn id(&self) -> u8 {
        self.id
    }

    pub(crate) fn matches(&self, q: Query<'_>) -> bool {
        if q.id != 0 {
            self.id == q.id
        } else {
            self.id == 0 && self.name.eq_ignore_ascii_case(canonical_name(q.name))
        }
    }

    fn into_owned(self) -> Header<'static> {
        Header {
            name: Cow::Owned(self.name.into_owned()),
            id: self.id,
            value: Cow::Owned(self.value.into_owned()),
        }
    }
}

impl std::fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Header");
        d.field("name", &self.name);
        if crate::pii::is_sensitive_header(&self.name) {
            d.field("value", &crate::pii::Hidden(self.value.len()));
        } else {
            d.field("value", &self.value);
        }
        d.finish()
    }
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Message");
        match &self.start {
            StartLine::Request { method, uri } => {
                d.field("method", method);
                d.field("uri", &crate::pii::RedactedUri(uri));
            }
            StartLine::Response { code, reason } => {
                d.field("status", &code.0);
                d.field("reason", reason);
            }
        }
        d.field("headers", &self.headers);
        d.field("body", &format_args!("<{} bytes>", self.body.len()));
        d.finish()
    }
}

/// Expand a compact header name (RFC 3261 7.3.3 and extensions) to its long form.
pub fn canonical_name(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes()[0].to_ascii_lowercase() {
        b'v' => "Via",
        b'f' => "From",
        b't' => "To",
        b'i' => "Call-ID",
        b'l' => "Content-Length",
        b'm' => "Contact",
        b'c' => "Content-Type",
        b'k' => "Supported",
        b's' => "Subject",
        b'e' => "Content-Encoding",
        b'o' => "Event",
        b'r' => "Refer-To",
        b'u' => "Allow-Events",
        _ => name,
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD uri SIP/2.0`
    Request {
        /// Method.
        method: Method,
        /// Request-URI text (decode with [`crate::Uri::parse`]).
        uri: Cow<'a, str>,
    },
    /// `SIP/2.0 code reason`
    Response {
        /// Status code.
        code: StatusCode,
        /// Reason phrase, possibly empty.
        reason: Cow<'a, str>,
    },
}

/// A SIP request or response. `Message<'a>` borrows from the received bytes;
/// `Message<'static>` is an owned message (built, or made with [`Message::into_owned`]).
/// `Debug` redacts personal data (see [`crate::pii`]); `to_bytes` prints everything.
#[derive(Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// Request line or status line.
    pub start: StartLine<'a>,
    /// The version token of the start line (`SIP/2.0` for anything we accept as valid).
    pub version: Cow<'a, str>,
    /// Headers in order of appearance.
    pub headers: Vec<Header<'a>>,
    /// Body bytes (exactly Content-Length of them when that header is present).
    pub body: Cow<'a, [u8]>,
}

/// How the body length is decided.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// A datagram: Content-Length may be absent (body = rest); a larger value is an error.
    Datagram,
    /// A stream: Content-Length decides; absent means 0.
    Stream,
}

impl<'a> Message<'a> {
    /// Parse one message from a UDP datagram. Extra bytes after Content-Length are ignored
    /// (RFC 3261 18.3); a Content-Length larger than the datagram is an error.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>> {
        parse_message(bytes, Framing::Datagram).map(|(m, _)| m)
    }

    /// Parse the first message of a stream buffer (TCP/TLS). `Ok(None)` means more data is needed;
    /// otherwise returns the message and how many bytes it used (including leading CRLF keep-alives).
    pub fn parse_stream(buf: &'a [u8]) -> Result<Option<(Message<'a>, usize)>> {
        match frame(buf)? {
            None => Ok(None),
            Some(n) => parse_message(&buf[..n], Framing::Stream).map(|(m, used)| Some((m, used))),
        }
    }

    /// Is this a request?
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request, or `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI text of a request.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// First value of a header (case-insensitive, compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        let q = Query::new(name);
        self.headers
            .iter()
            .find(|h| h.matches(q))
            .map(|h| &*h.value)
    }

    /// All header lines with that name, in order.
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        let q = Query::new(name);
        self.headers
            .iter()
            .filter(move |h| h.matches(q))
            .map(|h| &*h.value)
    }

    /// All comma-separated values of a list header (Via, Route, Contact, ...) across lines.
    pub fn header_values<'s>(&'s self, name: &'s str) -> Result<Vec<&'s str>> {
        let mut out = Vec::new();
        for v in self.headers_named(name) {
            for part in crate::parse::split_outside(v, b',')? {
                let p = trim_lws(part);
                if !p.is_empty() {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// Number of header lines with that name.
    pub fn count(&self, name: &str) -> usize {
        let q = Query::new(name);
        self.headers.iter().filter(|h| h.matches(q)).count()
    }

    /// Copy every borrowed part so the message outlives the input buffer.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            start: match self.start {
                StartLine::Request { method, uri } => StartLine::Request {
                    method,
                    uri: Cow::Owned(uri.into_owned()),
                },
                StartLine::Response { code, reason } => StartLine::Response {
                    code,
                    reason: Cow::Owned(reason.into_owned()),
                },
            },
            version: Cow::Owned(self.version.into_owned()),
            headers: self.headers.into_iter().map(Header::into_owned).collect(),
            body: Cow::Owned(self.body.into_owned()),
        }
    }

    /// Append a header line.
    pub fn push_header(&mut self, name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) {
        self.headers.push(Header::new(name, value));
    }

    /// Insert a header line before all others of the same name (e.g. a new top Via).
    pub fn prepend_header(
        &mut self,
        name: impl Into<Cow<'a, str>>,
        value: impl Into<Cow<'a, str>>,
    ) {
        let h = Header::new(name, value);
        let pos = self
            .headers
            .iter()
            .position(|x| x.id == h.id && (h.id != 0 || x.is(&h.name)))
            .unwrap_or(self.headers.len());
        self.headers.insert(pos, h);
    }

    /// Builder form of [`Message::push_header`].
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'a, str>>,
        value: impl Into<Cow<'a, str>>,
    ) -> Self {
        self.push_header(name, value);
        self
    }

    /// Remove every line of that header, then append one with the value.
    pub fn set_header(&mut self, name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) {
        let h = Header::new(name, value);
        self.remove_header(&h.name);
        self.headers.push(h);
    }

    /// Remove every line of that header.
    pub fn remove_header(&mut self, name: &str) {
        let q = Query::new(name);
        self.headers.retain(|h| !h.matches(q));
    }

    /// Set the body and its Content-Type (Content-Length is always written by the printer).
    pub fn set_body(&mut self, content_type: &str, body: Vec<u8>) {
        self.set_header("Content-Type", content_type.to_string());
        self.body = Cow::Owned(body);
    }

    /// Print to wire format. Content-Length is always written last from the body's real length,
    /// so a built message cannot lie about it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.headers.len() * 40 + self.body.len());
        self.write_to(&mut out);
        out
    }

    /// Append the wire format to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut s = String::with_capacity(256 + self.headers.len() * 40);
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(s, "{} {} {}\r\n", method, uri, self.version);
            }
            StartLine::Response { code, reason } => {
                let _ = write!(s, "{} {} {}\r\n", self.version, code.0, reason);
            }
        }
        for h in &self.headers {
            if h.id == ID_CONTENT_LENGTH {
                continue;
            }
            s.push_str(&h.name);
            s.push_str(": ");
            s.push_str(&h.value);
            s.push_str("\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", self.body.len());
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(&self.body);
    }
}

impl Message<'static> {
    /// A new request with `SIP/2.0` and no headers.
    pub fn request(method: Method, uri: impl Into<String>) -> Message<'static> {
        Message {
            start: StartLine::Request {
                method,
                uri: Cow::Owned(uri.into()),
            },
            version: Cow::Borrowed("SIP/2.0"),
            headers: Vec::new(),
            body: Cow::Borrowed(&[]),
        }
    }

    /// A new response with the standard reason phrase and no headers.
    pub fn response(code: StatusCode) -> Message<'static> {
        Message {
            start: StartLine::Response {
                code,
                reason: Cow::Borrowed(code.reason()),
            },
            version: Cow::Borrowed("SIP/2.0"),
            headers: Vec::new(),
            body: Cow::Borrowed(&[]),
        }
    }
}

impl Message<'_> {
    /// Build a response to this request (RFC 3261 8.2.6.2): copies all Via lines, From, To,
    /// Call-ID and CSeq; adds `tag` to To when To has none; copies Record-Route for
    /// 101..=299 (dialog-creating responses, 12.1.1).
    pub fn make_response(&self, code: StatusCode, to_tag: Option<&str>) -> Message<'static> {
        let mut r = Message::response(code);
        for h in &self.headers {
            let copy = matches!(h.id, ID_VIA | ID_FROM | ID_CALL_ID | ID_CSEQ)
                || (h.id == ID_RECORD_ROUTE && (101..300).contains(&code.0));
            if copy {
                r.push_header(canonical_name(&h.name).to_string(), h.value.to_string());
            } else if h.id == ID_TO {
                let mut v = h.value.to_string();
                if let Some(tag) = to_tag {
                    let has_tag = crate::NameAddr::parse(&h.value)
                        .map(|n| n.tag().is_some())
                        .unwrap_or(true);
                    if !has_tag {
                        v.push_str(";tag=");
                        v.push_str(tag);
                    }
                }
                r.push_header("To", v);
            }
        }
        r
    }
}

/// Find the length of the first complete message in a stream buffer, by Content-Length.
/// `Ok(None)`: need more data. Leading CRLFs (keep-alives) are counted in the length.
pub fn frame(buf: &[u8]) -> Result<Option<usize>> {
    let start = skip_keepalives(buf);
    if start == buf.len() || buf[start..] == *b"\r" {
        return Ok(if start > 0 && start == buf.len() {
            Some(start)
        } else {
            None
        });
    }
    let rest = &buf[start..];
    let Some((end, body_start)) = end_of_headers(rest) else {
        if rest.len() > MAX_HEADER_BYTES {
            return Err(Error::TooLarge);
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&rest[..end])
        .map_err(|_| Error::Parse("header section is not UTF-8"))?;
    let mut cl = 0usize;
    for line in head.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(i) = line.find(':')
            && canonical_name(trim_lws(&line[..i])).eq_ignore_ascii_case("Content-Length")
        {
            cl = parse_u32(&line[i + 1..], MAX_BODY_BYTES as u64).ok_or(Error::BadHeader {
                header: "Content-Length",
                reason: "not a number in range",
            })? as usize;
        }
    }
    let total = start + body_start + cl;
    Ok((buf.len() >= total).then_some(total))
}

/// Length of the leading keep-alives (CRLF, or bare LF) before a message.
fn skip_keepalives(buf: &[u8]) -> usize {
    let mut start = 0;
    loop {
        if buf[start..].starts_with(b"\r\n") {
            start += 2;
        } else if buf[start..].starts_with(b"\n") {
            start += 1;
        } else {
            return start;
        }
    }
}

/// Where the header section ends: `(end of the last header line, start of the body)`. Lines may
/// end in CRLF or, liberally (as Kamailio and PJSIP accept), in a bare LF; the blank line too.
fn end_of_headers(b: &[u8]) -> Option<(usize, usize)> {
    memchr::memchr_iter(b'\n', b).find_map(|lf| {
        let next = &b[lf + 1..];
        let blank = if next.starts_with(b"\r\n") {
            2
        } else if next.starts_with(b"\n") {
            1
        } else {
            return None;
        };
        let end = if lf > 0 && b[lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        Some((end, lf + 1 + blank))
    })
}

/// Lines of the header section, split at LF with an optional CR before it (CRLF is the
/// standard, a bare LF is accepted); the section itself has no trailing line break (it ends
/// before the blank line).
struct Lines<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        match memchr::memchr(b'\n', s.as_bytes()) {
            Some(i) => {
                self.rest = Some(&s[i + 1..]);
                Some(s[..i].strip_suffix('\r').unwrap_or(&s[..i]))
            }
            None => {
                self.rest = None;
                Some(s)
            }
        }
    }
}

fn valid_version(v: &str) -> bool {
    let Some(rest) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and(v.get(4..))
    else {
        return false;
    };
    let mut it = rest.splitn(2, '.');
    let (a, b) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
    !a.is_empty()
        && !b.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.bytes().all(|c| c.is_ascii_digit())
}

fn parse_message(bytes: &[u8], framing: Framing) -> Result<(Message<'_>, usize)> {
    let start = skip_keepalives(bytes);
    let rest = &bytes[start..];
    let (head_end, body_offset) = end_of_headers(rest).ok_or(Error::Parse("no end of headers"))?;
    if head_end > MAX_HEADER_BYTES {
        return Err(Error::TooLarge);
    }
    let head = std::str::from_utf8(&rest[..head_end])
        .map_err(|_| Error::Parse("header section is not UTF-8"))?;
    let body_start = start + body_offset;
    let mut lines = Lines { rest: Some(head) };
    let first = lines.next().ok_or(Error::Parse("empty message"))?;
    if first.bytes().any(|b| b < b' ' && b != b'\t') {
        return Err(Error::Parse("control character in start line"));
    }

    let (start_line, version) = if let Some(after) = first.strip_prefix("SIP/") {
        let _ = after;
        let mut it = first.splitn(3, ' ');
        let version = it.next().unwrap_or("");
        let code = it.next().ok_or(Error::Parse("no status code"))?;
        let reason = it.next().unwrap_or("");
        if !valid_version(version) {
            return Err(Error::Parse("bad version"));
        }
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Parse("bad status code"));
        }
        let code: u16 = code.parse().map_err(|_| Error::Parse("bad status code"))?;
        if !(100..=699).contains(&code) {
            return Err(Error::Parse("status code out of range"));
        }
        (
            StartLine::Response {
                code: StatusCode(code),
                reason: Cow::Borrowed(reason),
            },
            version,
        )
    } else {
        let mut it = first.split(' ');
        let (m, uri, version) = (
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
        );
        if it.next().is_some() {
            return Err(Error::Parse(
                "request line must have exactly three elements",
            ));
        }
        let method = Method::parse(m).ok_or(Error::Parse("bad method"))?;
        if !valid_version(version) {
            return Err(Error::Parse("bad version"));
        }
        crate::Uri::parse(uri)?;
        (
            StartLine::Request {
                method,
                uri: Cow::Borrowed(uri),
            },
            version,
        )
    };

    let mut headers: Vec<Header<'_>> = Vec::with_capacity(16);
    for line in lines.by_ref() {
        if line.contains('\r') {
            return Err(Error::Parse("bare CR inside a header line"));
        }
        if line.starts_with([' ', '\t']) {
            let last = headers
                .last_mut()
                .ok_or(Error::Parse("continuation line before any header"))?;
            let add = trim_lws(line);
            if !add.is_empty() {
                let mut v = last.value.to_string();
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(add);
                last.value = Cow::Owned(v);
            }
            continue;
        }
        let colon = line
            .find(':')
            .ok_or(Error::Parse("header line without colon"))?;
        let name = line[..colon].trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(Error::Parse("bad header name"));
        }
        headers.push(Header::new(name, trim_lws(&line[colon + 1..])));
    }

    let mut content_length: Option<usize> = None;
    for h in headers.iter().filter(|h| h.id == ID_CONTENT_LENGTH) {
        let v = parse_u32(&h.value, MAX_BODY_BYTES as u64).ok_or(Error::BadHeader {
            header: "Content-Length",
            reason: "not a number in range",
        })? as usize;
        if content_length.is_some_and(|c| c != v) {
            return Err(Error::BadHeader {
                header: "Content-Length",
                reason: "conflicting values",
            });
        }
        content_length = Some(v);
    }
    let available = bytes.len() - body_start;
    let body_len = match (content_length, framing) {
        (Some(n), _) if n > available => {
            return Err(Error::Parse("Content-Length larger than message"));
        }
        (Some(n), _) => n,
        (None, Framing::Datagram) => available,
        (None, Framing::Stream) => 0,
    };
    let msg = Message {
        start: start_line,
        version: Cow::Borrowed(version),
        headers,
        body: Cow::Borrowed(&bytes[body_start..body_start + body_len]),
    };
    Ok((msg, body_start + body_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
f: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Subject: folded\r\n  continues here\r\n\
l: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn parses_request_with_compact_and_folded_headers() {
        let m = Message::parse(INVITE).unwrap();
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(m.request_uri(), Some("sip:bob@biloxi.example.com"));
        assert_eq!(
            m.header("From"),
            Some("Alice <sip:alice@atlanta.example.com>;tag=1928301774")
        );
        assert_eq!(
            m.header("call-id"),
            Some("a84b4c76e66710@pc33.atlanta.example.com")
        );
        assert_eq!(m.header("Subject"), Some("folded continues here"));
        assert_eq!(&*m.body, b"body");
        assert!(matches!(m.headers[0].value, Cow::Borrowed(_)));
    }

    #[test]
    fn header_ids_match_the_table() {
        for (name, id) in [
            ("Via", ID_VIA),
            ("f", ID_FROM),
            ("TO", ID_TO),
            ("i", ID_CALL_ID),
            ("cseq", ID_CSEQ),
            ("l", ID_CONTENT_LENGTH),
            ("record-route", ID_RECORD_ROUTE),
        ] {
            assert_eq!(header_id(name), id, "{name}");
        }
        assert_eq!(header_id("X-Custom"), 0);
        for (i, name) in KNOWN.iter().enumerate() {
            assert_eq!(usize::from(header_id(name)), i + 1, "{name}");
            assert_eq!(
                usize::from(header_id(&name.to_ascii_uppercase())),
                i + 1,
                "{name}"
            );
        }
        assert_eq!(header_id(""), 0);
        let h = Header::new("X-Custom", "1");
        assert!(h.is("x-custom") && !h.is("Via"));
        assert!(Header::new("v", "x").is("VIA"));
    }

    #[test]
    fn status_line_without_reason() {
        let m = Message::parse(b"SIP/2.0 100 \r\nCall-ID: x\r\n\r\n").unwrap();
        assert_eq!(m.status(), Some(StatusCode::TRYING));
        let m = Message::parse(b"SIP/2.0 180\r\nCall-ID: x\r\n\r\n").unwrap();
        assert_eq!(m.status(), Some(StatusCode::RINGING));
        assert!(Message::parse(b"SIP/2.0 4294967301 no\r\n\r\n").is_err());
        // A bare LF ends a line like CRLF (mixed line ends are accepted).
        let m = Message::parse(b"SIP/2.0 200 OK\r\nVia: a;branch=\nv:x\r\n\r\n").unwrap();
        assert_eq!(m.headers_named("Via").count(), 2);
    }

    /// The INVITE with every CRLF turned into a bare LF.
    fn lf_only(bytes: &[u8]) -> Vec<u8> {
        let s = std::str::from_utf8(bytes).unwrap();
        s.replace("\r\n", "\n").into_bytes()
    }

    #[test]
    fn lf_only_line_ends_parse_like_crlf() {
        let crlf = Message::parse(INVITE).unwrap();
        let bytes = lf_only(INVITE);
        let lf = Message::parse(&bytes).unwrap();
        assert_eq!(lf.start, crlf.start);
        assert_eq!(lf.headers.len(), crlf.headers.len());
        for (a, b) in lf.headers.iter().zip(&crlf.headers) {
            assert_eq!((&a.name, &a.value), (&b.name, &b.value));
        }
        assert_eq!(lf.header("Subject"), Some("folded continues here"));
        assert_eq!(&*lf.body, b"body");
        // Mixed: some lines CRLF, some LF, blank line LF + CRLF.
        let mixed = b"OPTIONS sip:x@h SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\n\
CSeq: 1 OPTIONS\r\nContent-Length: 2\n\r\nhi";
        let m = Message::parse(mixed).unwrap();
        assert_eq!(m.call_id().unwrap(), "c");
        assert_eq!(&*m.body, b"hi");
        // Leading bare-LF keep-alives are skipped like CRLF ones.
        let mut ka = b"\n\n".to_vec();
        ka.extend_from_slice(&bytes);
        assert_eq!(Message::parse(&ka).unwrap().start, crlf.start);
        // A bare CR is still an error.
        assert!(Message::parse(b"OPTIONS sip:x@h SIP/2.0\nCall-ID: a\rb\n\n").is_err());
    }

    #[test]
    fn lf_only_stream_framing() {
        let one = lf_only(INVITE);
        let end = one.len() - "EXTRA".len();
        let mut buf = b"\n".to_vec();
        buf.extend_from_slice(&one[..end]);
        let two_start = buf.len();
        buf.extend_from_slice(&one[..end]);
        assert_eq!(frame(&buf[..10]).unwrap(), None);
        assert_eq!(
            frame(&buf[..two_start - 1]).unwrap(),
            None,
            "body incomplete"
        );
        let (m, used) = Message::parse_stream(&buf).unwrap().unwrap();
        assert_eq!(used, two_start);
        assert_eq!(&*m.body, b"body");
        let (m2, used2) = Message::parse_stream(&buf[used..]).unwrap().unwrap();
        assert_eq!(used2, buf.len() - used);
        assert_eq!(m2.call_id().unwrap(), m.call_id().unwrap());
    }

    #[test]
    fn print_parse_round_trip() {
        let m = Message::parse(INVITE).unwrap();
        let bytes = m.to_bytes();
        let again = Message::parse(&bytes).unwrap();
        assert_eq!(again.start, m.start);
        assert_eq!(again.header("Subject"), m.header("Subject"));
        assert_eq!(again.body, m.body);
    }

    #[test]
    fn stream_framing_needs_more_then_completes() {
        let msg = Message::parse(INVITE).unwrap().to_bytes();
        let mut buf = b"\r\n\r\n".to_vec();
        buf.extend_from_slice(&msg);
        buf.extend_from_slice(&msg[..10]);
        for cut in [0, 3, 20, msg.len() + 3] {
            assert_eq!(
                frame(&buf[..cut]).unwrap(),
                if cut == 3 {
                    None
                } else {
                    frame(&buf[..cut]).unwrap()
                }
            );
        }
        assert_eq!(frame(&buf[..20]).unwrap(), None);
        let (m, used) = Message::parse_stream(&buf).unwrap().unwrap();
        assert_eq!(used, 4 + msg.len());
        assert_eq!(&*m.body, b"body");
        assert!(Message::parse_stream(&buf[used..]).unwrap().is_none());
    }

    #[test]
    fn make_response_copies_dialog_headers_and_adds_tag() {
        let m = Message::parse(INVITE).unwrap();
        let r = m.make_response(StatusCode::RINGING, Some("abc"));
        assert_eq!(r.status(), Some(StatusCode::RINGING));
        assert_eq!(
            r.header("To"),
            Some("Bob <sip:bob@biloxi.example.com>;tag=abc")
        );
        assert_eq!(r.header("From"), m.header("From"));
        assert_eq!(r.header("Call-ID"), m.header("Call-ID"));
        assert_eq!(r.header("CSeq"), Some("314159 INVITE"));
        assert_eq!(r.header("Via"), m.header("Via"));
        assert!(r.header("Subject").is_none());
    }
}
