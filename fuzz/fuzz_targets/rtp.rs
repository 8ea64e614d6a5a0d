//! RTP packets through the parsing and per-packet code of the media worker.
//!
//! Input format: records of `len(1) arrival_delta(2, big endian) packet(len)`; each packet goes
//! through what `crates/media/src/worker.rs` does with a received datagram: `rtp_rs::RtpReader`,
//! the RFC 5761 RTCP-mux check, receive statistics, the RFC 4733 receiver, G.711 decoding into
//! a 20 ms frame, in-band DTMF detection, the jitter buffer and A-law/mu-law transcoding.
//! Properties: nothing panics; a packet rebuilt from the reader's fields with
//! `RtpPacketBuilder` (as the relay does) parses to the same fields and payload; the receive
//! statistics stay finite and the jitter buffer bounded.
#![no_main]

use hotline_media::g711::{Law, transcode_in_place};
use hotline_media::inband::DtmfDetector;
use hotline_media::jitter::JitterBuffer;
use hotline_media::rfc4733::Rfc4733Receiver;
use hotline_media::rtcp::ReceiverStats;
use libfuzzer_sys::fuzz_target;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

const FRAME: usize = 160;

fuzz_target!(|data: &[u8]| {
    let mut stats = ReceiverStats::default();
    let mut te_rx = Rfc4733Receiver::new();
    let mut inband = DtmfDetector::new();
    let mut jb = JitterBuffer::new();
    let mut arrival = 0u32;
    let mut rest = data;
    let mut send = [0u8; 2048];
    let mut pay_buf = [0u8; 2048];
    let mut out = [0i16; FRAME];
    while rest.len() >= 3 {
        let len = usize::from(rest[0]).min(rest.len() - 3);
        arrival = arrival.wrapping_add(u32::from(u16::from_be_bytes([rest[1], rest[2]])));
        let datagram = &rest[3..3 + len];
        rest = &rest[3 + len..];

        let Ok(pkt) = RtpReader::new(datagram) else {
            continue;
        };
        // Every accessor is total.
        let _ = (
            pkt.version(),
            pkt.padding(),
            pkt.csrc_count(),
            pkt.extension(),
        );
        let _ = pkt.csrc().count();
        let _ = format!("{pkt:?}");
        let pt = pkt.payload_type();
        if (64..=95).contains(&pt) {
            continue;
        }
        let seq: u16 = pkt.sequence_number().into();
        let payload = pkt.payload();
        stats.on_packet(pkt.ssrc(), seq, pkt.timestamp(), arrival);
        let _ = (stats.extended_max(), stats.expected(), stats.lost());
        let _ = (
            stats.jitter_units(),
            stats.take_fraction_lost(),
            stats.is_active(),
        );
        assert!(stats.jitter_ms().is_finite());

        if pt == 101 {
            let _ = te_rx.on_packet(pkt.timestamp(), payload);
            // A repetition of the same event is never a second key press.
            if let Ok(again) = te_rx.on_packet(pkt.timestamp(), payload) {
                assert_eq!(again, None, "a repeated telephone-event reported a digit");
            }
        } else if let Some(law) = Law::from_payload_type(pt) {
            let n = law.decode_into(payload, &mut out);
            assert!(n <= FRAME);
            inband.process(&out[..n], |_| {});
            jb.push(seq, &out[..n]);
            assert!(jb.len() <= 1024, "jitter buffer grows without bound");
            let mut frame = [0i16; FRAME];
            let _ = jb.pop(&mut frame);
            let len = payload.len().min(pay_buf.len());
            pay_buf[..len].copy_from_slice(&payload[..len]);
            let other = if law == Law::Ulaw {
                Law::Alaw
            } else {
                Law::Ulaw
            };
            transcode_in_place(law, other, &mut pay_buf[..len]);
        }

        // Relay: rebuild with the builder and read it back.
        let built = RtpPacketBuilder::new()
            .payload_type(pt)
            .marked(pkt.mark())
            .sequence(Seq::from(seq))
            .ssrc(pkt.ssrc())
            .timestamp(pkt.timestamp())
            .payload(payload)
            .build_into(&mut send);
        if let Ok(n) = built {
            let back = RtpReader::new(&send[..n]).expect("a packet we built parses");
            assert_eq!(back.payload_type(), pt);
            assert_eq!(back.mark(), pkt.mark());
            assert_eq!(u16::from(back.sequence_number()), seq);
            assert_eq!(back.ssrc(), pkt.ssrc());
            assert_eq!(back.timestamp(), pkt.timestamp());
            assert_eq!(back.payload(), payload);
        }
    }
});
