//! RTCP (RFC 3550 section 6) sender and receiver reports, receive statistics (appendix A.1 and
//! A.8: sequence tracking, loss, interarrival jitter) and an estimated MOS from the ITU-T G.107
//! E-model, simplified for G.711.
//!
//! Everything here is plain computation over bytes and numbers; the worker threads call it.

use crate::MediaError;

/// Receive-side statistics for one RTP source (RFC 3550 appendix A.1, A.3 and A.8).
#[derive(Debug, Clone, Default)]
pub struct ReceiverStats {
    initialized: bool,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    /// Packets received (including duplicates).
    pub received: u64,
    expected_prior: u64,
    received_prior: u64,
    last_transit: i64,
    /// Interarrival jitter in timestamp units (scaled by 16 as in A.8 is not needed with f64).
    jitter: f64,
    /// SSRC of the source.
    pub ssrc: u32,
}

/// Sequence jump (in packets) beyond which the source is considered restarted.
const MAX_DROPOUT: u16 = 3000;
/// Sequence numbers this far behind the highest one are late or duplicated packets.
const MAX_MISORDER: u16 = 100;

impl ReceiverStats {
    /// Records one packet. `arrival` is the arrival time in timestamp units (8 kHz).
    pub fn on_packet(&mut self, ssrc: u32, seq: u16, rtp_ts: u32, arrival: u32) {
        if !self.initialized || ssrc != self.ssrc {
            *self = ReceiverStats {
                initialized: true,
                base_seq: seq as u32,
                max_seq: seq,
                ssrc,
                last_transit: arrival.wrapping_sub(rtp_ts) as i32 as i64,
                ..Default::default()
            };
            self.received = 1;
            return;
        }
        let delta = seq.wrapping_sub(self.max_seq);
        if delta == 0 {
            // duplicate
        } else if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1;
            }
            self.max_seq = seq;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A very large jump: the sender restarted its sequence; start over.
            self.base_seq = seq as u32;
            self.max_seq = seq;
            self.cycles = 0;
            self.received = 0;
            self.expected_prior = 0;
            self.received_prior = 0;
        }
        self.received += 1;
        let transit = arrival.wrapping_sub(rtp_ts) as i32 as i64;
        let d = (transit - self.last_transit).abs() as f64;
        self.last_transit = transit;
        self.jitter += (d - self.jitter) / 16.0;
    }

    /// Extended highest sequence number received.
    pub fn extended_max(&self) -> u32 {
        (self.cycles << 16) | self.max_seq as u32
    }

    /// Packets expected so far.
    pub fn expected(&self) -> u64 {
        if !self.initialized {
            return 0;
        }
        ((self.cycles as u64) << 16) + self.max_seq as u64 - self.base_seq as u64 + 1
    }

    /// Cumulative packets lost (negative with duplicates).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter_units(&self) -> u32 {
        self.jitter as u32
    }

    /// Interarrival jitter in milliseconds (8 kHz clock).
    pub fn jitter_ms(&self) -> f32 {
        (self.jitter / 8.0) as f32
    }

    /// Fraction lost since the previous call, in 1/256 (the report-block field); updates the
    /// interval counters.
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost = expected_interval as i64 - received_interval as i64;
        if expected_interval == 0 || lost <= 0 {
            0
        } else {
            ((lost << 8) / expected_interval as i64).min(255) as u8
        }
    }

    /// True once a packet has been seen.
    pub fn is_active(&self) -> bool {
        self.initialized
    }
}

/// One RTCP report block (RFC 3550 section 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_max_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (0 if none).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// Sender information of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP timestamp (64-bit fixed point).
    pub ntp: u64,
    /// RTP timestamp corresponding to `ntp`.
    pub rtp_ts: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// What a compound RTCP packet told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtcpInfo {
    /// SSRC of the reporter.
    pub ssrc: u32,
    /// Present when the packet held an SR.
    pub sender: Option<SenderInfo>,
    /// The report block about our own SSRC, if any.
    pub about_us: Option<ReportBlock>,
    /// True if a BYE was present.
    pub bye: bool,
}

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Writes a compound RTCP packet (SR if `sender` is given, else RR; at most one report block;
/// then an SDES CNAME) into `buf`. Returns the length. `buf` must hold at least 100 bytes plus
/// the CNAME.
pub fn build_report(
    buf: &mut [u8],
    ssrc: u32,
    sender: Option<SenderInfo>,
    block: Option<ReportBlock>,
    cname: &str,
) -> Result<usize, MediaError> {
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    let need = 28 + 24 + 12 + cname.len() + 4;
    if buf.len() < need {
        return Err(MediaError::Malformed("RTCP buffer too small"));
    }
    let rc = block.is_some() as u8;
    let mut at = 0;
    let (pt, words) = match sender {
        Some(_) => (PT_SR, 6 + 6 * rc as usize),
        None => (PT_RR, 1 + 6 * rc as usize),
    };
    buf[0] = 0x80 | rc;
    buf[1] = pt;
    buf[2..4].copy_from_slice(&(words as u16).to_be_bytes());
    put_u32(buf, 4, ssrc);
    at += 8;
    if let Some(s) = sender {
        put_u32(buf, at, (s.ntp >> 32) as u32);
        put_u32(buf, at + 4, s.ntp as u32);
        put_u32(buf, at + 8, s.rtp_ts);
        put_u32(buf, at + 12, s.packets);
        put_u32(buf, at + 16, s.octets);
        at += 20;
    }
    if let Some(b) = block {
        put_u32(buf, at, b.ssrc);
        let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
        put_u32(buf, at + 4, ((b.fraction_lost as u32) << 24) | lost);
        put_u32(buf, at + 8, b.extended_max_seq);
        put_u32(buf, at + 12, b.jitter);
        put_u32(buf, at + 16, b.lsr);
        put_u32(buf, at + 20, b.dlsr);
        at += 24;
    }
    // SDES with one chunk: SSRC, CNAME item, END, padding to a 32-bit boundary.
    let start = at;
    let item_len = 2 + cname.len();
    let chunk_len = (4 + item_len + 1).div_ceil(4) * 4;
    buf[at] = 0x81;
    buf[at + 1] = PT_SDES;
    buf[at + 2..at + 4].copy_from_slice(&((chunk_len / 4) as u16).to_be_bytes());
    put_u32(buf, at + 4, ssrc);
    buf[at + 8] = 1;
    buf[at + 9] = cname.len() as u8;
    buf[at + 10..at + 10 + cname.len()].copy_from_slice(cname);
    let end = start + 4 + chunk_len;
    buf[at + 10 + cname.len()..end].fill(0);
    at = end;
    Ok(at)
}

/// Parses a compound RTCP packet; `our_ssrc` picks the report block about us.
pub fn parse(buf: &[u8], our_ssrc: u32) -> Result<RtcpInfo, MediaError> {
    let mut info = RtcpInfo::default();
    let mut at = 0;
    let mut first = true;
    while at + 4 <= buf.len() {
        let v = buf[at] >> 6;
        if v != 2 {
            return Err(MediaError::Malformed("RTCP version is not 2"));
        }
        let count = (buf[at] & 0x1F) as usize;
        let pt = buf[at + 1];
        let len = (u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize + 1) * 4;
        if at + len > buf.len() {
            return Err(MediaError::Malformed("RTCP length beyond datagram"));
        }
        if first && pt != PT_SR && pt != PT_RR {
            return Err(MediaError::Malformed(
                "compound RTCP must start with SR or RR",
            ));
        }
        first = false;
        let body = &buf[at..at + len];
        let mut blocks_at = match pt {
            PT_SR if len >= 28 => {
                info.ssrc = get_u32(body, 4);
                info.sender = Some(SenderInfo {
                    ntp: ((get_u32(body, 8) as u64) << 32) | get_u32(body, 12) as u64,
                    rtp_ts: get_u32(body, 16),
                    packets: get_u32(body, 20),
                    octets: get_u32(body, 24),
                });
                Some(28)
            }
            PT_RR if len >= 8 => {
                info.ssrc = get_u32(body, 4);
                Some(8)
            }
            PT_SR | PT_RR => return Err(MediaError::Malformed("short RTCP report")),
            PT_BYE => {
                info.bye = true;
                None
            }
            _ => None,
        };
        if let Some(b) = blocks_at.as_mut() {
            for _ in 0..count {
                if *b + 24 > body.len() {
                    return Err(MediaError::Malformed("RTCP report block truncated"));
                }
                let ssrc = get_u32(body, *b);
                if ssrc == our_ssrc {
                    let word = get_u32(body, *b + 4);
                    let raw = (word & 0x00FF_FFFF) as i32;
                    let cumulative_lost = (raw << 8) >> 8;
                    info.about_us = Some(ReportBlock {
                        ssrc,
                        fraction_lost: (word >> 24) as u8,
                        cumulative_lost,
                        extended_max_seq: get_u32(body, *b + 8),
                        jitter: get_u32(body, *b + 12),
                        lsr: get_u32(body, *b + 16),
                        dlsr: get_u32(body, *b + 20),
                    });
                }
                *b += 24;
            }
        }
        at += len;
    }
    if first {
        return Err(MediaError::Malformed("empty RTCP packet"));
    }
    Ok(info)
}

/// The current wall-clock time as a 64-bit NTP timestamp.
pub fn ntp_now() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() + 2_208_988_800;
    let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp (the LSR/DLSR unit is 1/65536 s).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time from a report block about us, received at NTP time `now_ntp` (RFC 3550
/// section 6.4.1). `None` when the peer has not seen our SR yet.
pub fn round_trip_ms(block: &ReportBlock, now_ntp: u64) -> Option<f32> {
    if block.lsr == 0 {
        return None;
    }
    let a = ntp_middle(now_ntp);
    let rtt = a.wrapping_sub(block.lsr).wrapping_sub(block.dlsr);
    // Anything above a minute is clock trouble, not a round trip.
    if rtt > 60 * 65536 {
        return None;
    }
    Some(rtt as f32 * 1000.0 / 65536.0)
}

/// Packetization of our G.711 streams: 20 ms of audio per packet.
pub const PACKET_MS: f32 = 20.0;

/// One-way network delay assumed while RTCP has not given a round trip yet (a LAN or a nearby
/// carrier), ms.
pub const DEFAULT_NETWORK_MS: f32 = 10.0;

/// The mouth-to-ear delay the E-model is given, ms: the one-way network delay (half the RTCP
/// round trip, or [`DEFAULT_NETWORK_MS`] when unknown), one packet of packetization
/// ([`PACKET_MS`]), and a jitter buffer holding twice the interarrival jitter.
///
/// `d = (rtt / 2 or 10) + 20 + 2 * jitter`
pub fn one_way_delay_ms(rtt_ms: Option<f32>, jitter_ms: f32) -> f32 {
    rtt_ms.map_or(DEFAULT_NETWORK_MS, |r| r / 2.0) + PACKET_MS + 2.0 * jitter_ms.max(0.0)
}

/// E-model (ITU-T G.107) R-factor for G.711 and its MOS, simplified: the default R0 minus the
/// delay impairment Id and the effective equipment impairment Ie-eff for random loss (the
/// simultaneous impairment Is and the advantage factor A are left at their defaults, which
/// G.107's R0 = 93.2 already accounts for).
///
/// * `loss_percent`: packet loss Ppl in percent (0-100).
/// * `one_way_delay_ms`: mouth-to-ear delay d (see [`one_way_delay_ms`]; jitter enters here,
///   through the jitter buffer it forces).
///
/// ```text
/// Id     = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)      (H: 1 when d > 177.3 ms, else 0)
/// Ie-eff = Ie + (95 - Ie) Ppl / (Ppl + Bpl)             (G.711: Ie = 0, Bpl = 4.3)
/// R      = clamp(93.2 - Id - Ie-eff, 0, 100)
/// MOS    = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R)      (G.107 annex B; 1 below R = 0, 4.5 at 100)
/// ```
///
/// G.711 has Ie = 0 and Bpl = 4.3 without packet-loss concealment (ITU-T G.113 appendix I). A
/// clean LAN call (d = 30 ms) gives R = 92.5, MOS 4.39; with 1 % loss MOS 3.80, 2 % 3.22, 5 % 2.13.
pub fn e_model(loss_percent: f32, one_way_delay_ms: f32) -> (f32, f32) {
    let r0 = 93.2f32;
    let d = one_way_delay_ms.max(0.0);
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ppl = loss_percent.clamp(0.0, 100.0);
    let (ie, bpl) = (0.0f32, 4.3f32);
    let ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl);
    let r = (r0 - id - ie_eff).clamp(0.0, 100.0);
    (r, r_to_mos(r))
}

/// Converts an R-factor to a MOS (ITU-T G.107 annex B).
pub fn r_to_mos(r: f32) -> f32 {
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_wrap() {
        let mut s = ReceiverStats::default();
        let mut ts = 0u32;
        let mut arrival = 1000u32;
        // 65530..65535, then 0..9 with 3 missing; crosses the wrap.
        let mut seq = 65530u16;
        for i in 0..16 {
            if !(i == 8 || i == 9 || i == 12) {
                s.on_packet(7, seq, ts, arrival);
            }
            seq = seq.wrapping_add(1);
            ts += 160;
            arrival += 160;
        }
        assert_eq!(s.expected(), 16);
        assert_eq!(s.received, 13);
        assert_eq!(s.lost(), 3);
        assert_eq!(s.extended_max(), (1 << 16) | 9);
        assert_eq!(s.take_fraction_lost(), (3 * 256 / 16) as u8);
        assert_eq!(s.take_fraction_lost(), 0);
        // Constant transit: no jitter.
        assert_eq!(s.jitter_units(), 0);
    }

    #[test]
    fn jitter_follows_a8() {
        let mut s = ReceiverStats::default();
        // Every other packet is 80 units (10 ms) late.
        for i in 0..2000u32 {
            let late = if i % 2 == 1 { 80 } else { 0 };
            s.on_packet(1, i as u16, i * 160, 5000 + i * 160 + late);
        }
        // |D| is always 80, so J converges to 80 units = 10 ms.
        assert!((s.jitter_ms() - 10.0).abs() < 0.5, "{}", s.jitter_ms());
    }

    #[test]
    fn duplicates_and_reordering_do_not_count_as_loss() {
        let mut s = ReceiverStats::default();
        for q in [10u16, 11, 13, 12, 13, 14] {
            s.on_packet(1, q, q as u32 * 160, q as u32 * 160);
        }
        assert_eq!(s.expected(), 5);
        assert_eq!(s.lost(), -1);
    }

    #[test]
    fn sr_and_rr_round_trip() {
        let mut buf = [0u8; 200];
        let sender = SenderInfo {
            ntp: 0x1122_3344_5566_7788,
            rtp_ts: 99,
            packets: 5,
            octets: 800,
        };
        let block = ReportBlock {
            ssrc: 0xABCD,
            fraction_lost: 12,
            cumulative_lost: -3,
            extended_max_seq: 70000,
            jitter: 44,
            lsr: 0x3344_5566,
            dlsr: 65536,
        };
        let n = build_report(&mut buf, 0x1234, Some(sender), Some(block), "hotline@test").unwrap();
        assert_eq!(n % 4, 0);
        let info = parse(&buf[..n], 0xABCD).unwrap();
        assert_eq!(info.ssrc, 0x1234);
        assert_eq!(info.sender, Some(sender));
        assert_eq!(info.about_us, Some(block));
        let n = build_report(&mut buf, 0x1234, None, Some(block), "x").unwrap();
        let info = parse(&buf[..n], 0xABCD).unwrap();
        assert_eq!(info.sender, None);
        assert_eq!(info.about_us, Some(block));
        assert_eq!(parse(&buf[..n], 0x9999).unwrap().about_us, None);
    }

    #[test]
    fn malformed_rtcp_is_an_error() {
        assert!(parse(&[], 1).is_err());
        assert!(parse(&[0x80, 200, 0, 50, 0, 0, 0, 0], 1).is_err());
        assert!(parse(&[0x40, 201, 0, 1, 0, 0, 0, 0], 1).is_err());
        assert!(parse(&[0x81, 201, 0, 1, 0, 0, 0, 0], 1).is_err()); // block count 1 but no block
        assert!(parse(&[0x80, 202, 0, 1, 0, 0, 0, 0], 1).is_err()); // starts with SDES
    }

    #[test]
    fn rtt_from_lsr_dlsr() {
        let now = 0x0001_0002_0000_0000u64; // middle = 0x0002_0000
        let block = ReportBlock {
            lsr: 0x0001_0000,
            dlsr: 0x8000, // 0.5 s
            ..Default::default()
        };
        // A - LSR - DLSR = 0x10000 - 0x8000 = 0.5 s
        assert_eq!(round_trip_ms(&block, now), Some(500.0));
        assert_eq!(round_trip_ms(&ReportBlock::default(), now), None);
    }

    /// Feeds `(seq, rtp_ts, arrival)` triples from one source.
    fn feed(s: &mut ReceiverStats, packets: &[(u16, u32, u32)]) {
        for &(seq, ts, arrival) in packets {
            s.on_packet(42, seq, ts, arrival);
        }
    }

    /// A 20 ms G.711 stream: packet `i` has timestamp `i * 160` and arrives at `i * 160` plus
    /// its extra delay.
    fn stream(seqs: &[u16], delay: impl Fn(u16) -> u32) -> Vec<(u16, u32, u32)> {
        seqs.iter()
            .map(|&q| (q, q as u32 * 160, 10_000 + q as u32 * 160 + delay(q)))
            .collect()
    }

    #[test]
    fn reordered_packets_with_one_loss() {
        // 4 never arrives; 3 comes after 2's successor: one loss, no more.
        let mut s = ReceiverStats::default();
        feed(&mut s, &stream(&[0, 1, 3, 2, 5, 6], |_| 0));
        assert_eq!(s.expected(), 7);
        assert_eq!(s.received, 6);
        assert_eq!(s.lost(), 1);
        assert_eq!(s.extended_max(), 6);
    }

    #[test]
    fn a_late_packet_from_before_the_wrap_adds_no_cycle() {
        let mut s = ReceiverStats::default();
        // 65534, then 0 (65535 missing), then the late 65535, then 1.
        feed(
            &mut s,
            &[
                (65534, 0, 0),
                (0, 320, 320),
                (65535, 160, 400),
                (1, 480, 480),
            ],
        );
        assert_eq!(s.extended_max(), (1 << 16) | 1);
        assert_eq!(s.expected(), 4);
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn a_restarted_sender_starts_the_counts_again() {
        let mut s = ReceiverStats::default();
        feed(&mut s, &stream(&[100, 101, 102], |_| 0));
        // A jump of 30000: not loss, a new sequence (RFC 3550 A.1, MAX_DROPOUT).
        feed(&mut s, &stream(&[30_102, 30_103], |_| 0));
        assert_eq!(s.expected(), 2);
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn one_late_packet_gives_the_a8_jitter_exactly() {
        let mut s = ReceiverStats::default();
        // Packet 5 arrives 80 units (10 ms) late: |D| = 80 for 4->5 and for 5->6.
        feed(
            &mut s,
            &stream(&[0, 1, 2, 3, 4, 5, 6], |q| if q == 5 { 80 } else { 0 }),
        );
        // J = 0 + (80 - 0)/16 = 5, then J = 5 + (80 - 5)/16 = 9.6875 units.
        assert_eq!(s.jitter_units(), 9);
        assert!(
            (s.jitter_ms() - 9.6875 / 8.0).abs() < 1e-6,
            "{}",
            s.jitter_ms()
        );
        // A steady stream afterwards lets it decay by 15/16 per packet.
        feed(&mut s, &stream(&[7, 8], |_| 0));
        let expect = 9.6875 * (15.0f64 / 16.0).powi(2);
        assert!((s.jitter_ms() as f64 - expect / 8.0).abs() < 1e-6);
    }

    #[test]
    fn delay_estimate_follows_the_documented_formula() {
        assert_eq!(one_way_delay_ms(None, 0.0), 30.0);
        assert_eq!(one_way_delay_ms(Some(100.0), 5.0), 50.0 + 20.0 + 10.0);
        assert_eq!(one_way_delay_ms(Some(0.0), -1.0), 20.0);
    }

    #[test]
    fn crafted_loss_and_jitter_lower_the_mos() {
        // 100 packets, 4 lost (12, 37, 62, 87: 4 %), every other packet 160 units (20 ms) late.
        let seqs: Vec<u16> = (0..100).filter(|q| q % 25 != 12).collect();
        let mut s = ReceiverStats::default();
        feed(&mut s, &stream(&seqs, |q| if q % 2 == 1 { 160 } else { 0 }));
        assert_eq!(s.expected(), 100);
        assert_eq!(s.lost(), 4);
        let jitter = s.jitter_ms();
        assert!(jitter > 15.0 && jitter < 20.0, "{jitter}");
        let delay = one_way_delay_ms(None, jitter);
        let (r, mos) = e_model(4.0, delay);
        let (clean_r, clean) = e_model(0.0, one_way_delay_ms(None, 0.0));
        assert!((clean_r - 92.48).abs() < 0.01, "{clean_r}");
        assert!((clean - 4.395).abs() < 0.001, "{clean}");
        // Ie-eff = 95 * 4 / 8.3 = 45.78; Id = 0.024 * d.
        let expect_r = 93.2 - 0.024 * delay - 95.0 * 4.0 / 8.3;
        assert!((r - expect_r).abs() < 0.01, "{r} {expect_r}");
        assert!(mos < 2.5 && mos > 2.2, "{mos}");
    }

    #[test]
    fn mos_for_g711() {
        let (r, mos) = e_model(0.0, 40.0);
        assert!((r - 92.24).abs() < 0.01);
        assert!(mos > 4.3 && mos < 4.5, "{mos}");
        let (_, mos1) = e_model(1.0, 40.0);
        let (_, mos5) = e_model(5.0, 40.0);
        assert!(mos > mos1 && mos1 > mos5);
        assert!(mos5 < 3.0, "{mos5}");
        let (_, slow) = e_model(0.0, 400.0);
        assert!(slow < 3.7, "{slow}");
        assert_eq!(r_to_mos(0.0), 1.0);
        assert_eq!(r_to_mos(120.0), 4.5);
    }
}
