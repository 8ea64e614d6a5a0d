//! Request and response checks a UAS core makes before handing a message to the application
//! (RFC 3261 8.2.1 to 8.2.3, and what RFC 4475 expects of an endpoint).

use crate::headers::check_date;
use crate::parse::trim_lws;
use crate::{Message, Method, Scheme, StatusCode, Uri};

/// A request that must be refused, with the status to answer and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Status to answer with.
    pub status: StatusCode,
    /// Short reason, for the log and the reason phrase of a 400.
    pub reason: &'static str,
    /// Extra header to add (e.g. `Unsupported` for 420), name and value.
    pub header: Option<(&'static str, String)>,
}

impl Rejection {
    fn new(status: StatusCode, reason: &'static str) -> Rejection {
        Rejection {
            status,
            reason,
            header: None,
        }
    }
}

fn single(msg: &Message<'_>, name: &'static str) -> Result<(), Rejection> {
    match msg.count(name) {
        0 => Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "missing mandatory header",
        )),
        1 => Ok(()),
        _ => Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "header must appear once",
        )),
    }
}

/// Check the headers every message needs (To, From, Call-ID, CSeq, Via), each decodable.
fn common(msg: &Message<'_>) -> Result<(), Rejection> {
    let bad = |reason| Rejection::new(StatusCode::BAD_REQUEST, reason);
    for h in ["To", "From", "Call-ID", "CSeq"] {
        single(msg, h)?;
    }
    msg.from_header().map_err(|_| bad("bad From"))?;
    msg.to_header().map_err(|_| bad("bad To"))?;
    msg.call_id().map_err(|_| bad("bad Call-ID"))?;
    msg.cseq().map_err(|_| bad("bad CSeq"))?;
    let vias = msg.vias().map_err(|_| bad("bad Via"))?;
    if vias.is_empty() {
        return Err(bad("missing Via"));
    }
    if msg.count("Max-Forwards") > 1 {
        return Err(bad("Max-Forwards must appear once"));
    }
    msg.max_forwards().map_err(|_| bad("bad Max-Forwards"))?;
    Ok(())
}

/// Decide whether a parsed request may reach the application. `supported` lists the option
/// tags we implement (for `Require`, RFC 3261 8.2.2.3).
pub fn validate_request(msg: &Message<'_>, supported: &[&str]) -> Result<(), Rejection> {
    let bad = |reason| Rejection::new(StatusCode::BAD_REQUEST, reason);
    let Some(method) = msg.method() else {
        return Err(bad("not a request"));
    };
    if !msg.version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(Rejection::new(
            StatusCode::VERSION_NOT_SUPPORTED,
            "SIP version not supported",
        ));
    }
    common(msg)?;
    let cseq = msg.cseq().map_err(|_| bad("bad CSeq"))?;
    if &cseq.method != method {
        return Err(bad("CSeq method does not match the request method"));
    }
    for name in ["Expires"] {
        if msg.count(name) > 1 {
            return Err(bad("header must appear once"));
        }
    }
    msg.expires().map_err(|_| bad("bad Expires"))?;
    if let Some(d) = msg.header("Date") {
        check_date(d).map_err(|_| bad("bad Date"))?;
    }
    if msg.header("Contact").is_some() {
        msg.contacts().map_err(|_| bad("bad Contact"))?;
    }
    msg.routes().map_err(|_| bad("bad Route"))?;
    msg.record_routes().map_err(|_| bad("bad Record-Route"))?;
    let uri =
        Uri::parse(msg.request_uri().unwrap_or_default()).map_err(|_| bad("bad Request-URI"))?;
    if !matches!(uri.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_URI_SCHEME,
            "unsupported URI scheme",
        ));
    }
    if uri.headers.is_some() {
        return Err(bad("headers in Request-URI"));
    }
    if !matches!(method, Method::Ack | Method::Cancel) {
        let unsupported: Vec<&str> = msg
            .header_values("Require")
            .unwrap_or_default()
            .into_iter()
            .filter(|t| !supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unsupported.is_empty() {
            return Err(Rejection {
                status: StatusCode::BAD_EXTENSION,
                reason: "unsupported extension required",
                header: Some(("Unsupported", unsupported.join(", "))),
            });
        }
    }
    if matches!(method, Method::Invite | Method::Update) {
        if !msg.body.is_empty() {
            let ct = msg
                .header("Content-Type")
                .map(|c| trim_lws(c.split(';').next().unwrap_or("")).to_ascii_lowercase());
            if ct.as_deref() != Some("application/sdp") {
                return Err(Rejection {
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    reason: "only application/sdp bodies",
                    header: Some(("Accept", "application/sdp".into())),
                });
            }
        }
        if msg.header("Accept").is_some() {
            let accepts_sdp = msg
                .header_values("Accept")
                .unwrap_or_default()
                .iter()
                .any(|a| {
                    let t = trim_lws(a.split(';').next().unwrap_or("")).to_ascii_lowercase();
                    t == "application/sdp" || t == "application/*" || t == "*/*"
                });
            if !accepts_sdp {
                return Err(Rejection::new(
                    StatusCode::NOT_ACCEPTABLE,
                    "cannot answer in an accepted type",
                ));
            }
        }
    }
    Ok(())
}

/// Decide whether a parsed response is usable; unusable responses are dropped (RFC 3261 18.1.2).
pub fn validate_response(msg: &Message<'_>) -> Result<(), Rejection> {
    if msg.is_request() {
        return Err(Rejection::new(StatusCode::BAD_REQUEST, "not a response"));
    }
    if !msg.version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(Rejection::new(
            StatusCode::VERSION_NOT_SUPPORTED,
            "SIP version not supported",
        ));
    }
    common(msg)
}
