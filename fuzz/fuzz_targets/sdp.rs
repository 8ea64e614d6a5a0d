//! SDP parse/print and the RFC 3264 offer/answer functions of `crates/sip`.
//!
//! Input format: one control byte (our capabilities, the direction we want, the telephone-event
//! payload type we offer), then SDP text (UTF-8; other input is skipped).
//! Properties: parsing never panics; whatever parses prints to text that parses to the same
//! description (parse -> print -> parse equal, but for a `t=0 0` line
//! the printer adds when there was none); `answer` to it never panics, and when it
//! answers, the answer prints and parses again, has one media line per offered one (RFC 3264
//! 6), and the offerer reading that answer with `negotiated_from_answer` sees the codec and
//! telephone-event payload type the answerer chose (and never one payload type for both);
//! `negotiated_from_answer` with the fuzzed
//! description as the answer to our own offer never panics.
#![no_main]

use hotline_sip::sdp::{self, AudioCaps, Codec, Direction, SessionDescription};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

/// Prints `sd`, parses the text and checks the result is `sd` again, but for the mandatory
/// `t=0 0` the printer adds when there was no `t=` line, and that printing is then stable.
fn round_trip(sd: &SessionDescription, what: &str) -> SessionDescription {
    let printed = sd.to_string();
    assert_eq!(sd.to_bytes(), printed.as_bytes());
    let again = SessionDescription::parse(&printed).expect("printed SDP parses");
    let mut expected = sd.clone();
    if !expected.other.iter().any(|l| l.starts_with("t=")) {
        expected.other.insert(0, "t=0 0".into());
    }
    assert_eq!(again, expected, "{what}");
    assert_eq!(again.to_string(), printed, "printing is not stable");
    again
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(sd) = SessionDescription::parse(text) else {
        return;
    };
    round_trip(&sd, "parse -> print -> parse changed the description");
    let _ = sd.audio().map(|m| sd.direction_of(m));

    let codecs = match ctl & 3 {
        0 => vec![Codec::Pcmu, Codec::Pcma],
        1 => vec![Codec::Pcma, Codec::Pcmu],
        2 => vec![Codec::Pcmu],
        _ => vec![Codec::Pcma],
    };
    let caps = AudioCaps {
        codecs,
        telephone_event: (ctl & 4 != 0).then_some(96 + (ctl >> 5)),
        ptime: 20,
    };
    let wanted = [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ][usize::from((ctl >> 3) & 3)];
    let ours: IpAddr = if ctl & 0x80 != 0 {
        "2001:db8::2".parse().unwrap()
    } else {
        "198.51.100.2".parse().unwrap()
    };

    if let Ok((ans, negotiated)) = sdp::answer(&sd, &caps, ours, 40_000, wanted, 7, 1) {
        assert_eq!(
            ans.media.len(),
            sd.media.len(),
            "one answer line per offered stream"
        );
        assert!(caps.codecs.contains(&negotiated.codec));
        let ans_again = round_trip(&ans, "our answer does not round-trip");
        // The offerer's view of our answer agrees with what we negotiated.
        if let Ok(theirs) = sdp::negotiated_from_answer(&sd, &ans_again) {
            assert_eq!(theirs.codec, negotiated.codec, "offerer sees another codec");
            assert_eq!(theirs.telephone_event, negotiated.telephone_event);
        }
        assert_ne!(
            negotiated.telephone_event,
            Some(negotiated.codec.payload_type()),
            "one payload type for both audio and telephone-event"
        );
    }

    let our_offer = sdp::offer(&caps, ours, 40_000, wanted, 7, 1);
    round_trip(&our_offer, "our offer does not round-trip");
    let _ = sdp::negotiated_from_answer(&our_offer, &sd);
});
