//! RFC 4733 telephone-events (`crates/media/src/rfc4733.rs`): payload decoding, the receiver's
//! one-digit-per-key-press state machine, and the sender.
//!
//! Input format: the first byte picks the sender's key-press length and volume, the next four
//! are the starting media timestamp; the rest is read twice: as records `timestamp(4)
//! payload(4)` fed to a receiver, and as digits (one byte each, mapped onto `0-9 * # A-D` and
//! a few non-digits) queued on a sender.
//! Properties: nothing panics; payload encode/decode round-trips; a repeated packet of the
//! same event is never a second digit; queueing a string with a non-digit queues nothing;
//! and the sender's packets, fed to a receiver tick by tick, give back exactly the queued
//! digits in order (upper-case), with the marker bit on each event's first packet only.
#![no_main]

use hotline_media::rfc4733::{Rfc4733Receiver, Rfc4733Sender, TelephoneEvent, event_to_digit};
use libfuzzer_sys::fuzz_target;

const KEYS: &[u8; 20] = b"0123456789*#ABCDabxZ";

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let ctl = data[0];
    let mut now_ts = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
    let rest = &data[5..];

    // Receiver on raw packets.
    let mut rx = Rfc4733Receiver::new();
    for rec in rest.chunks_exact(8) {
        let ts = u32::from_be_bytes([rec[0], rec[1], rec[2], rec[3]]);
        let payload = &rec[4..];
        let ev = TelephoneEvent::parse(payload).expect("4 bytes always decode");
        assert_eq!(TelephoneEvent::parse(&ev.to_bytes()).unwrap(), ev);
        let first = rx.on_packet(ts, payload).expect("4 bytes always decode");
        if first.is_some() {
            assert_eq!(first, event_to_digit(payload[0]));
        }
        assert_eq!(
            rx.on_packet(ts, payload).unwrap(),
            None,
            "repetition reported a digit"
        );
    }
    assert!(rx.on_packet(now_ts, &rest[..rest.len().min(3)]).is_err());

    // Sender -> receiver round trip.
    let digits: String = rest
        .iter()
        .take(64)
        .map(|b| KEYS[usize::from(*b) % KEYS.len()] as char)
        .collect();
    let mut tx = Rfc4733Sender::new();
    tx.digit_ticks = 1 + u16::from(ctl & 0x0F);
    tx.volume = ctl >> 2;
    let expected: String = match tx.queue(&digits) {
        Ok(()) => digits.to_ascii_uppercase(),
        Err(_) => {
            assert!(!tx.is_busy(), "a rejected string queued something");
            // Queue only the valid digits instead.
            let valid: String = digits.chars().filter(|c| !"xZ".contains(*c)).collect();
            tx.queue(&valid).expect("only digits");
            valid.to_ascii_uppercase()
        }
    };
    let mut rx = Rfc4733Receiver::new();
    let mut got = String::new();
    let mut last_ts = None;
    let mut ticks = 0u32;
    while tx.is_busy() {
        ticks += 1;
        assert!(ticks < 100_000, "sender never finishes");
        if let Some(p) = tx.next_packet(now_ts) {
            assert_eq!(
                p.marker,
                last_ts != Some(p.timestamp),
                "marker only on an event's first packet"
            );
            last_ts = Some(p.timestamp);
            if let Some(d) = rx.on_packet(p.timestamp, &p.payload).unwrap() {
                got.push(d);
            }
        }
        now_ts = now_ts.wrapping_add(160);
    }
    assert_eq!(got, expected, "digits sent are the digits received");
});
