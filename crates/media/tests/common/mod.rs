//! Shared helpers for the socket tests: a fake phone on 127.0.0.1 that sends and receives RTP,
//! an engine on free ports, and event waiting with generous timeouts (no timing asserts).
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hotline_media::g711::Law;
use hotline_media::rfc4733::TelephoneEvent;
use hotline_media::{
    EngineConfig, MediaEngine, MediaEvent, RemoteParams, SessionInfo, SessionOptions,
};
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Generous: the machine is shared and slow; tests never assert on time.
pub const WAIT: Duration = Duration::from_secs(10);

/// A port range nobody else uses: derived from a free port the OS gives us.
pub fn free_range() -> (u16, u16) {
    for _ in 0..50 {
        let probe = UdpSocket::bind((LOCALHOST, 0)).expect("bind probe");
        let p = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        if p > 1024 && p < 65000 {
            let ok = (0..40).all(|i| UdpSocket::bind((LOCALHOST, p + i)).is_ok());
            if ok {
                return (p, p + 40);
            }
        }
    }
    panic!("no free port range");
}

pub fn engine(workers: usize) -> MediaEngine {
    engine_with(workers, |_| {})
}

pub fn engine_with(workers: usize, f: impl FnOnce(&mut EngineConfig)) -> MediaEngine {
    let (port_min, port_max) = free_range();
    let mut cfg = EngineConfig {
        workers,
        port_min,
        port_max,
        ..Default::default()
    };
    f(&mut cfg);
    MediaEngine::start(cfg).expect("engine starts")
}

/// A fake phone: one UDP socket sending and receiving RTP.
pub struct Phone {
    pub sock: UdpSocket,
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    pub law: Law,
}

/// One received RTP packet.
#[derive(Debug, Clone)]
pub struct Rx {
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub marker: bool,
    pub payload: Vec<u8>,
}

impl Phone {
    pub fn new(law: Law, ssrc: u32) -> Phone {
        Phone::at(LOCALHOST, law, ssrc)
    }

    /// A phone on another loopback address (127.0.0.2 stands in for a second host).
    pub fn at(ip: IpAddr, law: Law, ssrc: u32) -> Phone {
        let sock = UdpSocket::bind((ip, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Phone {
            sock,
            ssrc,
            seq: 1000,
            ts: 8000,
            law,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    pub fn remote_params(&self) -> RemoteParams {
        RemoteParams::g711(self.addr(), self.law.payload_type())
    }

    pub fn send_raw(
        &self,
        to: SocketAddr,
        pt: u8,
        marker: bool,
        seq: u16,
        ts: u32,
        payload: &[u8],
    ) {
        let pkt = RtpPacketBuilder::new()
            .payload_type(pt)
            .marked(marker)
            .sequence(Seq::from(seq))
            .timestamp(ts)
            .ssrc(self.ssrc)
            .payload(payload)
            .build()
            .unwrap();
        self.sock.send_to(&pkt, to).unwrap();
    }

    /// Sends one 20 ms audio frame and advances seq/ts.
    pub fn send_pcm(&mut self, to: SocketAddr, pcm: &[i16]) {
        let mut enc = vec![0u8; pcm.len()];
        self.law.encode_into(pcm, &mut enc);
        self.send_raw(to, self.law.payload_type(), false, self.seq, self.ts, &enc);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(pcm.len() as u32);
    }

    /// Sends one RFC 4733 key press the way real phones do: start repeated, updates, three ends.
    pub fn send_rfc4733_digit(&mut self, to: SocketAddr, event: u8) {
        let start_ts = self.ts;
        let mut packets = vec![(true, false, 160u16), (false, false, 160)];
        for d in [320u16, 480, 640] {
            packets.push((false, false, d));
        }
        for _ in 0..3 {
            packets.push((false, true, 800));
        }
        for (marker, end, duration) in packets {
            let p = TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            }
            .to_bytes();
            self.send_raw(to, 101, marker, self.seq, start_ts, &p);
            self.seq = self.seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(2));
        }
        self.ts = self.ts.wrapping_add(800);
    }

    /// Receives one packet (None after the socket timeout).
    pub fn recv(&self) -> Option<Rx> {
        let mut buf = [0u8; 2048];
        let (n, _) = self.sock.recv_from(&mut buf).ok()?;
        let r = RtpReader::new(&buf[..n]).ok()?;
        Some(Rx {
            pt: r.payload_type(),
            seq: r.sequence_number().into(),
            ts: r.timestamp(),
            ssrc: r.ssrc(),
            marker: r.mark(),
            payload: r.payload().to_vec(),
        })
    }

    /// Receives until `n` packets or the overall deadline.
    pub fn recv_n(&self, n: usize) -> Vec<Rx> {
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        while out.len() < n && Instant::now() < deadline {
            if let Some(p) = self.recv() {
                out.push(p);
            }
        }
        out
    }

    /// Drains whatever is queued without waiting long.
    pub fn drain(&self) -> Vec<Rx> {
        self.sock
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let mut out = Vec::new();
        while let Some(p) = self.recv() {
            out.push(p);
        }
        self.sock
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        out
    }

    pub fn decode(&self, rx: &Rx) -> Vec<i16> {
        let law = Law::from_payload_type(rx.pt).unwrap_or(self.law);
        rx.payload.iter().map(|&b| law.decode(b)).collect()
    }
}

/// A session bound on localhost whose far end is `phone`.
pub fn session_for(engine: &MediaEngine, phone: &Phone, near: Option<SessionInfo>) -> SessionInfo {
    let opts = match near {
        Some(n) => SessionOptions::near(LOCALHOST, n.id),
        None => SessionOptions::on(LOCALHOST),
    };
    let info = engine.create_session(opts).unwrap();
    engine.set_remote(info.id, phone.remote_params()).unwrap();
    info
}

/// Waits for the first event matching `pred`, collecting everything seen on the way.
pub fn wait_for(
    events: &crossbeam_channel::Receiver<MediaEvent>,
    seen: &mut Vec<MediaEvent>,
    pred: impl Fn(&MediaEvent) -> bool,
) -> Option<MediaEvent> {
    let deadline = Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(ev) => {
                seen.push(ev.clone());
                if pred(&ev) {
                    return Some(ev);
                }
            }
            Err(_) => return None,
        }
    }
    None
}

/// Digits in the events, in order.
pub fn digits(seen: &[MediaEvent]) -> String {
    seen.iter()
        .filter_map(|e| match e {
            MediaEvent::Digit { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect()
}

/// A sine frame of 160 samples starting at sample `n0`.
pub fn sine(freq: f32, amp: f32, n0: usize) -> Vec<i16> {
    (0..160)
        .map(|i| {
            let t = (n0 + i) as f32 / 8000.0;
            (amp * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16
        })
        .collect()
}

/// Normalised tone level of `freq` in `pcm` (a full-scale sine of amplitude A gives about A^2/4).
pub fn level(pcm: &[i16], freq: f32) -> f32 {
    hotline_media::inband::tone_level(pcm, freq)
}
