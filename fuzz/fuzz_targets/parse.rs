//! Parser + printer round trip, typed headers, SDP, and the rsip differential oracle.
//!
//! Properties: parsing never panics; whatever parses prints to bytes that parse again to the
//! same start line, body, Call-ID and CSeq; every typed accessor is total; on input rsip
//! accepts, the fields both decode agree (see `crates/sip/tests/oracle/mod.rs`).
#![no_main]

use hotline_sip::{Message, Uri};
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/sip/tests/oracle/mod.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| {
    let _ = hotline_sip::frame(data);
    let _ = Message::parse_stream(data);
    if let Ok(m) = Message::parse(data) {
        let _ = m.top_via();
        let _ = m.vias();
        let _ = m
            .from_header()
            .map(|f| (f.tag(), f.display_name(), f.uri().map(|u| u.to_string())));
        let _ = m.to_header();
        let _ = m.contacts().map(|c| {
            c.iter()
                .map(|c| (c.expires(), c.instance()))
                .collect::<Vec<_>>()
        });
        let _ = m.routes();
        let _ = m.record_routes();
        let _ = m.max_forwards();
        let _ = m.expires();
        let _ = m.authorization(false).map(|a| a.map(|a| a.to_string()));
        let _ = m.challenges(false);
        let _ = m.request_uri().map(Uri::parse);
        let _ = hotline_sip::validate::validate_request(&m, &[]);
        let _ = hotline_sip::TsxKey::for_request(&m);
        let _ = hotline_sip::TsxKey::for_response(&m);
        if let Ok(text) = std::str::from_utf8(&m.body)
            && let Ok(sd) = hotline_sip::sdp::SessionDescription::parse(text)
        {
            let printed = sd.to_string();
            hotline_sip::sdp::SessionDescription::parse(&printed).expect("printed SDP parses");
        }
        let printed = m.to_bytes();
        let again = Message::parse(&printed).expect("printed message parses");
        assert_eq!(again.start, m.start);
        assert_eq!(again.body, m.body);
        assert_eq!(again.call_id().ok(), m.call_id().ok());
        assert_eq!(again.cseq().ok(), m.cseq().ok());
        assert_eq!(
            again.headers.len() - again.count("Content-Length"),
            m.headers.len() - m.count("Content-Length")
        );
        if let Err(e) = oracle::compare(data) {
            panic!("disagreement with rsip: {e}");
        }
    }
});
