//! Proves that bytes from the network or from files never panic the parsers: RTCP, RFC 4733
//! payloads, WAV prompts, and the in-band detector fed arbitrary audio. Bad input is an error.

use hotline_media::inband::DtmfDetector;
use hotline_media::rfc4733::{Rfc4733Receiver, TelephoneEvent};
use hotline_media::{rtcp, wav};
use proptest::prelude::*;

proptest! {
    #[test]
    fn rtcp_parse_total(bytes in proptest::collection::vec(any::<u8>(), 0..600), ssrc in any::<u32>()) {
        let _ = rtcp::parse(&bytes, ssrc);
    }

    #[test]
    fn rtcp_valid_prefix_mutated(flip in 0usize..200, val in any::<u8>()) {
        let mut buf = [0u8; 200];
        let block = rtcp::ReportBlock { ssrc: 5, ..Default::default() };
        let n = rtcp::build_report(&mut buf, 1, None, Some(block), "x").unwrap();
        let mut v = buf[..n].to_vec();
        let i = flip % n;
        v[i] = val;
        let _ = rtcp::parse(&v, 5);
    }

    #[test]
    fn telephone_event_total(bytes in proptest::collection::vec(any::<u8>(), 0..12), ts in any::<u32>()) {
        let _ = TelephoneEvent::parse(&bytes);
        let mut rx = Rfc4733Receiver::new();
        let _ = rx.on_packet(ts, &bytes);
    }

    #[test]
    fn wav_parse_total(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = wav::parse_wav(&bytes);
        let mut riff = b"RIFF\x00\x00\x00\x00WAVE".to_vec();
        riff.extend_from_slice(&bytes);
        let _ = wav::parse_wav(&riff);
    }

    #[test]
    fn detector_total(samples in proptest::collection::vec(any::<i16>(), 0..2000)) {
        let mut d = DtmfDetector::new();
        d.process(&samples, |_| {});
    }
}
