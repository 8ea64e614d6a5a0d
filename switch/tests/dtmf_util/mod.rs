//! RFC 4733 key presses for sipp callers: writes a pcap of telephone-event packets (payload
//! type 101, one event per key with its own RTP timestamp, 100 ms of key-down packets every
//! 20 ms, then three end packets) that a scenario plays with `play_pcap_audio`, and reads
//! telephone-events back on a plain UDP socket (an agent phone's RTP port).
//!
//! sipp's pcaps (`/usr/share/sip-tester/dtmf_2833_*.pcap`) carry one digit each, and every
//! copy of a digit has the same RTP timestamp, so a receiver rightly takes "1111" for one key
//! press repeated; a card number needs presses of its own. The pcap starts with one PCMU
//! silence packet at time 0 because sipp replays packets relative to the first one (and
//! takes a first packet stamped 0 s 0 us for no base at all: the stamps start in 2026).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Seconds since 1970 of the pcap's first packet.
const PCAP_EPOCH: u32 = 1_780_000_000;

/// The telephone-event payload type the scenarios offer (`a=rtpmap:101 telephone-event/8000`).
pub const TE_PT: u8 = 101;

/// Key presses `digits` starting `at_ms` after the pcap starts, one every `spacing_ms`.
pub fn presses(at_ms: u32, digits: &str, spacing_ms: u32) -> Vec<(u32, char)> {
    digits
        .chars()
        .enumerate()
        .map(|(i, d)| (at_ms + i as u32 * spacing_ms, d))
        .collect()
}

/// The RFC 4733 event code of a key.
pub fn event_code(d: char) -> u8 {
    match d {
        '0'..='9' => d as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => d as u8 - b'A' + 12,
        _ => panic!("not a DTMF key: {d:?}"),
    }
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes the key presses (times in ms from the start) as an Ethernet/IPv4/UDP/RTP pcap.
pub fn write_pcap(path: &Path, presses: &[(u32, char)]) {
    let mut out = Vec::new();
    // Global header: magic, version 2.4, zone, sigfigs, snaplen, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());

    let ssrc: u32 = 0x4854_4c31;
    let mut seq: u16 = 1000;
    let mut ip_id: u16 = 1;
    let mut packet = |out: &mut Vec<u8>, at_us: u64, rtp: &[u8]| {
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = Vec::with_capacity(14 + ip_len);
        frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
        ip_id = ip_id.wrapping_add(1);
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[127, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[127, 0, 0, 1]);
        let sum = ipv4_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&0u16.to_be_bytes());
        frame.extend_from_slice(rtp);
        // sipp takes the first packet's time as the base unless it is zero: start at a
        // plausible date, not at the epoch.
        out.extend_from_slice(&(PCAP_EPOCH + (at_us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((at_us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    };
    let rtp = |marker: bool, pt: u8, seq: u16, ts: u32, body: &[u8]| {
        let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(body);
        p
    };

    // Time 0: 20 ms of PCMU silence, so sipp's relative timing starts at the pcap's start.
    let silence = rtp(true, 0, seq, 0, &[0xff; 160]);
    packet(&mut out, 0, &silence);
    seq = seq.wrapping_add(1);
    let mut sorted = presses.to_vec();
    sorted.sort_by_key(|p| p.0);
    for (at_ms, d) in sorted {
        let code = event_code(d);
        let ts = at_ms.wrapping_mul(8);
        // Key down: 5 packets, 20 ms apart, duration growing by 160 samples.
        for i in 0..5u16 {
            let dur = (i + 1) * 160;
            let mut body = [code, 0x0a, 0, 0];
            body[2..4].copy_from_slice(&dur.to_be_bytes());
            let p = rtp(i == 0, TE_PT, seq, ts, &body);
            packet(
                &mut out,
                u64::from(at_ms) * 1000 + u64::from(i) * 20_000,
                &p,
            );
            seq = seq.wrapping_add(1);
        }
        // Key up: the end bit, sent three times (same sequence number, RFC 4733 2.5.1.4).
        for i in 0..3u64 {
            let mut body = [code, 0x8a, 0, 0];
            body[2..4].copy_from_slice(&800u16.to_be_bytes());
            let p = rtp(false, TE_PT, seq, ts, &body);
            packet(&mut out, u64::from(at_ms) * 1000 + 100_000 + i * 100, &p);
        }
        seq = seq.wrapping_add(1);
    }
    std::fs::write(path, out).expect("write pcap");
}

/// What an RTP peer (an agent phone's media port) received.
#[derive(Debug, Default, Clone)]
pub struct RtpSeen {
    /// RTP packets of any kind.
    pub packets: u64,
    /// Telephone-event packets.
    pub events: u64,
    /// Distinct key presses as (RTP timestamp, event code), in arrival order of first sight.
    pub presses: Vec<(u32, u8)>,
}

impl RtpSeen {
    /// The event codes of all key presses seen.
    pub fn codes(&self) -> BTreeSet<u8> {
        self.presses.iter().map(|p| p.1).collect()
    }
}

/// A UDP socket standing in for a phone's RTP port: a thread counts what arrives until the
/// peer is dropped.
pub struct RtpPeer {
    pub port: u16,
    pub seen: Arc<Mutex<RtpSeen>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl RtpPeer {
    /// Binds an even free port on 127.0.0.1 and starts counting.
    pub fn start() -> RtpPeer {
        let sock = (0..200)
            .find_map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").ok()?;
                let p = s.local_addr().ok()?.port();
                if p % 2 == 0 {
                    Some(s)
                } else {
                    UdpSocket::bind(("127.0.0.1", p + 1)).ok()
                }
            })
            .expect("an even UDP port");
        let port = sock.local_addr().expect("addr").port();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let seen: Arc<Mutex<RtpSeen>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok(n) = sock.recv(&mut buf) else { continue };
                if n < 12 || buf[0] >> 6 != 2 {
                    continue;
                }
                let mut seen = s2.lock().expect("seen");
                seen.packets += 1;
                if buf[1] & 0x7f == TE_PT && n >= 16 {
                    seen.events += 1;
                    let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                    let code = buf[12];
                    if !seen.presses.contains(&(ts, code)) {
                        seen.presses.push((ts, code));
                    }
                }
            }
        });
        RtpPeer { port, seen, stop }
    }

    pub fn snapshot(&self) -> RtpSeen {
        self.seen.lock().expect("seen").clone()
    }
}
