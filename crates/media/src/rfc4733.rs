//! RFC 4733 telephone-events (DTMF digits carried as RTP payload, ex RFC 2833).
//!
//! Payload (4 bytes): `event(8) | E(1) R(1) volume(6) | duration(16)`. Every packet of one key
//! press carries the same RTP timestamp (the event start); the sender repeats the start packet,
//! sends updates with growing duration and ends with (usually three) packets with the E bit set.
//!
//! [`Rfc4733Receiver`] turns such a stream into one digit per key press: a digit is reported on
//! the first packet of a new event (new RTP timestamp), whatever its kind (start, update or end,
//! so a lost start packet does not lose the digit); every later packet with that timestamp is a
//! repetition. A short history of recent timestamps absorbs late retransmissions.
//!
//! [`Rfc4733Sender`] produces the packets for a queue of digits, one per 20 ms tick.

use std::collections::VecDeque;

use crate::MediaError;

/// A DTMF digit: `0`-`9`, `*`, `#`, `A`-`D`.
pub type Digit = char;

/// Maps an RFC 4733 event code (0-15) to its digit.
pub const fn event_to_digit(event: u8) -> Option<Digit> {
    Some(match event {
        0..=9 => (b'0' + event) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + event - 12) as char,
        _ => return None,
    })
}

/// Maps a digit to its RFC 4733 event code (lower-case a-d accepted).
pub const fn digit_to_event(d: Digit) -> Option<u8> {
    Some(match d {
        '0'..='9' => d as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => d as u8 - b'A' + 12,
        'a'..='d' => d as u8 - b'a' + 12,
        _ => return None,
    })
}

/// One decoded telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-15 for DTMF).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0-63).
    pub volume: u8,
    /// Duration so far in timestamp units (8 kHz: 160 per 20 ms).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event of a payload. Fewer than four bytes is an error.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, MediaError> {
        if payload.len() < 4 {
            return Err(MediaError::Malformed(
                "telephone-event payload shorter than 4 bytes",
            ));
        }
        Ok(TelephoneEvent {
            event: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3F,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }

    /// Encodes into four bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (if self.end { 0x80 } else { 0 }) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// Receives telephone-event packets and reports each key press once.
#[derive(Debug, Default)]
pub struct Rfc4733Receiver {
    /// RTP timestamps of the most recent events (newest last).
    recent: [Option<u32>; 4],
    next: usize,
}

impl Rfc4733Receiver {
    /// A receiver with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet (its RTP timestamp and payload). Returns the digit when
    /// this packet is the first one seen of a new key press.
    pub fn on_packet(
        &mut self,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<Option<Digit>, MediaError> {
        let ev = TelephoneEvent::parse(payload)?;
        if self.recent.contains(&Some(timestamp)) {
            return Ok(None);
        }
        self.recent[self.next] = Some(timestamp);
        self.next = (self.next + 1) % self.recent.len();
        Ok(event_to_digit(ev.event))
    }
}

/// One packet to send from [`Rfc4733Sender::next_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// The payload.
    pub payload: [u8; 4],
    /// RTP marker bit (set on the first packet of an event).
    pub marker: bool,
    /// RTP timestamp (the event start).
    pub timestamp: u32,
}

#[derive(Debug, Clone, Copy)]
struct Sending {
    event: u8,
    start_ts: u32,
    /// Duration reported so far (timestamp units).
    duration: u16,
    /// End packets already sent.
    ends_sent: u8,
}

/// Sends queued digits as telephone-events, one packet per 20 ms tick.
#[derive(Debug)]
pub struct Rfc4733Sender {
    queue: VecDeque<u8>,
    current: Option<Sending>,
    gap_ticks: u8,
    /// Key-press length in ticks (default 5 = 100 ms).
    pub digit_ticks: u16,
    /// Volume in -dBm0 (default 10).
    pub volume: u8,
}

impl Default for Rfc4733Sender {
    fn default() -> Self {
        Rfc4733Sender {
            queue: VecDeque::new(),
            current: None,
            gap_ticks: 0,
            digit_ticks: 5,
            volume: 10,
        }
    }
}

/// Samples per 20 ms tick at 8 kHz.
const TICK_SAMPLES: u16 = 160;
/// Ticks of silence between two digits.
const INTER_DIGIT_TICKS: u8 = 3;
/// End packets sent per event (RFC 4733 section 2.5.1.4 recommends three).
const END_PACKETS: u8 = 3;

impl Rfc4733Sender {
    /// A sender with the default 100 ms key press.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues digits; characters that are not DTMF digits are an error and nothing is queued.
    pub fn queue(&mut self, digits: &str) -> Result<(), MediaError> {
        let mut codes = Vec::with_capacity(digits.len());
        for d in digits.chars() {
            codes.push(digit_to_event(d).ok_or(MediaError::InvalidDigit(d))?);
        }
        self.queue.extend(codes);
        Ok(())
    }

    /// True while digits are queued or being sent.
    pub fn is_busy(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty() || self.gap_ticks > 0
    }

    /// Called once per 20 ms tick with the media timestamp of this tick. Returns the event packet
    /// to send instead of audio, or `None` when this tick carries audio (idle or inter-digit gap).
    /// The caller advances its media timestamp by 160 every tick either way.
    pub fn next_packet(&mut self, now_ts: u32) -> Option<EventPacket> {
        if self.current.is_none() {
            if self.gap_ticks > 0 {
                self.gap_ticks -= 1;
                return None;
            }
            let event = self.queue.pop_front()?;
            self.current = Some(Sending {
                event,
                start_ts: now_ts,
                duration: 0,
                ends_sent: 0,
            });
        }
        let cur = self.current.as_mut()?;
        let full = self.digit_ticks.saturating_mul(TICK_SAMPLES);
        let marker = cur.duration == 0;
        let end = if cur.duration < full {
            cur.duration = cur.duration.saturating_add(TICK_SAMPLES);
            false
        } else {
            cur.ends_sent += 1;
            true
        };
        let packet = EventPacket {
            payload: TelephoneEvent {
                event: cur.event,
                end,
                volume: self.volume,
                duration: cur.duration,
            }
            .to_bytes(),
            marker,
            timestamp: cur.start_ts,
        };
        if end && cur.ends_sent >= END_PACKETS {
            self.current = None;
            self.gap_ticks = INTER_DIGIT_TICKS;
        }
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn parse_print_round_trip() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 63,
            duration: 1234,
        };
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()).unwrap(), e);
        assert!(TelephoneEvent::parse(&[1, 2, 3]).is_err());
    }

    #[test]
    fn one_press_with_redundant_starts_and_three_ends_is_one_digit() {
        let mut rx = Rfc4733Receiver::new();
        let ts = 16000;
        let mut digits = Vec::new();
        let stream = [
            pkt(5, false, 160),
            pkt(5, false, 160), // retransmitted start
            pkt(5, false, 320),
            pkt(5, false, 480),
            pkt(5, true, 640),
            pkt(5, true, 640),
            pkt(5, true, 640),
        ];
        for p in &stream {
            if let Some(d) = rx.on_packet(ts, p).unwrap() {
                digits.push(d);
            }
        }
        assert_eq!(digits, vec!['5']);
        // The same digit pressed again is a new event with a new timestamp.
        assert_eq!(
            rx.on_packet(ts + 1600, &pkt(5, false, 160)).unwrap(),
            Some('5')
        );
        // A late retransmission of the first press is still recognised.
        assert_eq!(rx.on_packet(ts, &pkt(5, true, 640)).unwrap(), None);
    }

    #[test]
    fn lost_start_still_gives_the_digit_from_the_end_packets() {
        let mut rx = Rfc4733Receiver::new();
        assert_eq!(rx.on_packet(800, &pkt(11, true, 800)).unwrap(), Some('#'));
        assert_eq!(rx.on_packet(800, &pkt(11, true, 800)).unwrap(), None);
        assert_eq!(rx.on_packet(800, &pkt(11, true, 800)).unwrap(), None);
    }

    #[test]
    fn non_dtmf_events_are_not_digits() {
        let mut rx = Rfc4733Receiver::new();
        assert_eq!(rx.on_packet(1, &pkt(16, false, 160)).unwrap(), None);
        assert!(rx.on_packet(2, &[0]).is_err());
    }

    #[test]
    fn digit_mapping() {
        for (i, d) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(event_to_digit(i as u8), Some(d));
            assert_eq!(digit_to_event(d), Some(i as u8));
        }
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn sender_packets_are_decoded_as_one_digit_each() {
        let mut tx = Rfc4733Sender::new();
        tx.queue("19#").unwrap();
        assert!(tx.queue("1x").is_err());
        let mut rx = Rfc4733Receiver::new();
        let mut ts = 0u32;
        let mut digits = String::new();
        let mut packets = 0;
        let mut markers = 0;
        for _ in 0..100 {
            if let Some(p) = tx.next_packet(ts) {
                packets += 1;
                markers += p.marker as u32;
                if let Some(d) = rx.on_packet(p.timestamp, &p.payload).unwrap() {
                    digits.push(d);
                }
            }
            ts = ts.wrapping_add(160);
        }
        assert_eq!(digits, "19#");
        assert_eq!(markers, 3);
        // 5 updates + 3 ends per digit.
        assert_eq!(packets, 3 * 8);
        assert!(!tx.is_busy());
    }

    #[test]
    fn sender_end_packets_carry_full_duration_and_start_timestamp() {
        let mut tx = Rfc4733Sender::new();
        tx.queue("7").unwrap();
        let all: Vec<_> = (0..8)
            .map(|i| tx.next_packet(1000 + i * 160).unwrap())
            .collect();
        for p in &all {
            assert_eq!(p.timestamp, 1000);
        }
        let ends: Vec<_> = all
            .iter()
            .map(|p| TelephoneEvent::parse(&p.payload).unwrap())
            .filter(|e| e.end)
            .collect();
        assert_eq!(ends.len(), 3);
        assert!(ends.iter().all(|e| e.duration == 800 && e.event == 7));
    }
}
