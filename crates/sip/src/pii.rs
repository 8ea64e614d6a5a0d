//! Redaction for `Debug` output. Caller numbers, names and credentials are personal data:
//! the `Debug` forms of [`crate::Message`], [`crate::Header`], [`crate::Uri`],
//! [`crate::NameAddr`], [`crate::AuthParams`] and [`crate::Dialog`] hide them, so logging a
//! message or an event with `{:?}` is safe. `Display` (the wire format) is unchanged.

use std::fmt;

/// Headers whose values identify people or carry credentials.
const SENSITIVE: &[&str] = &[
    "From",
    "To",
    "Contact",
    "Refer-To",
    "Referred-By",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Remote-Party-ID",
    "Diversion",
    "History-Info",
    "Authorization",
    "Proxy-Authorization",
    "Subject",
    "Call-Info",
];

/// Is a header with this (long or compact) name sensitive?
pub fn is_sensitive_header(name: &str) -> bool {
    let long = crate::canonical_name(name);
    SENSITIVE.iter().any(|s| s.eq_ignore_ascii_case(long))
}

/// A URI text with its user part (and a `tel:` number) replaced by `***`.
pub(crate) struct RedactedUri<'a>(pub(crate) &'a str);

impl fmt::Debug for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::Uri::parse(self.0) {
            Ok(u) => write!(f, "{u:?}"),
            Err(_) => f.write_str("\"<unparsed uri>\""),
        }
    }
}

/// A value shown only by its length.
pub(crate) struct Hidden(pub(crate) usize);

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Dialog, Message};

    #[test]
    fn debug_hides_numbers_names_and_credentials() {
        let raw = b"INVITE sip:+4930123456@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: \"Erika Mustermann\" <sip:+4917012345@10.0.0.1>;tag=a\r\nTo: <tel:+4930123456>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:+4917012345@10.0.0.1>\r\nAuthorization: Digest username=\"erika\", response=\"abc\"\r\nContent-Length: 4\r\n\r\nv=0\n";
        let m = Message::parse(raw).unwrap();
        let dbg = format!(
            "{m:?} {:?} {:?}",
            m.from_header().unwrap(),
            m.authorization(false).unwrap().unwrap()
        );
        for secret in [
            "4930123456",
            "4917012345",
            "Erika",
            "Mustermann",
            "erika",
            "\"abc\"",
        ] {
            assert!(!dbg.contains(secret), "{secret} leaked in {dbg}");
        }
        assert!(dbg.contains("10.0.0.2") && dbg.contains("Call-ID"), "{dbg}");
        let ok = m.make_response(crate::StatusCode::OK, Some("b"));
        let d = Dialog::uas(&m, "b", "<sip:switch@10.0.0.2>").unwrap();
        let dbg = format!("{d:?} {ok:?}");
        assert!(
            !dbg.contains("4917012345") && !dbg.contains("Erika"),
            "{dbg}"
        );
    }
}
