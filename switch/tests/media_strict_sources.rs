//! Media abuse against the real binary, spoken to with raw SIP and RTP sockets; other
//! loopback addresses stand in for other hosts (findings 6 and 10 of issue 12):
//!
//! - `a_sprayed_rtp_packet_does_not_capture_the_call`: a stranger (127.0.0.2) sprays RTP at a
//!   new IVR call's port before the caller's first packet, then presses 2 during the main
//!   menu: it hears none of the prompts and its key is ignored, while the caller (signalling
//!   and sending from 127.0.0.1) hears the prompts and its 1 takes it to sales;
//! - `an_sdp_address_of_a_third_host_gets_no_rtp`: an INVITE from 127.0.0.1 whose SDP says
//!   `c=127.0.0.3` gets no RTP sent to 127.0.0.3; the caller (a phone behind NAT) hears the
//!   prompts once its first packet arrives from its signalling address;
//! - `more_calls_than_the_per_source_cap_get_503`: with `max_calls_per_source = 2`, a third
//!   concurrent INVITE from 127.0.0.1 gets 503 with Retry-After while 127.0.0.2 still gets
//!   through, and 127.0.0.1 gets through again once one of its calls has ended.

mod sip_util;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline_sip::Message;
use hotline_sip::sdp::SessionDescription;
use sip_util::{Setup, Switch};

const CALLER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const THIRD_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const SERVICE: &str = "+18005550100";
/// A guard against a hung test, never an assertion about speed.
const GUARD: Duration = Duration::from_secs(30);

/// An even UDP port on `ip` (an RTP port).
fn rtp_socket(ip: IpAddr) -> UdpSocket {
    for _ in 0..200 {
        let s = UdpSocket::bind((ip, 0)).expect("bind");
        if s.local_addr().expect("addr").port().is_multiple_of(2) {
            s.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            return s;
        }
    }
    panic!("no even port on {ip}");
}

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// One RFC 4733 key press (payload type 101): five key-down packets, three ends.
fn press(sock: &UdpSocket, to: SocketAddr, key: u8, seq: &mut u16, ts: u32, ssrc: u32) {
    for i in 0..5u16 {
        let mut body = [key, 0x0a, 0, 0];
        body[2..4].copy_from_slice(&((i + 1) * 160).to_be_bytes());
        let _ = sock.send_to(&rtp(101, i == 0, *seq, ts, ssrc, &body), to);
        *seq = seq.wrapping_add(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        let mut body = [key, 0x8a, 0, 0];
        body[2..4].copy_from_slice(&800u16.to_be_bytes());
        let _ = sock.send_to(&rtp(101, false, *seq, ts, ssrc, &body), to);
    }
    *seq = seq.wrapping_add(1);
}

/// A SIP user agent on one UDP socket, placing calls to the switch.
struct Ua {
    sock: UdpSocket,
    switch: SocketAddr,
    n: u32,
}

/// A call placed by [`Ua::invite`].
struct Placed {
    /// The INVITE's branch without its last character.
    branch: String,
    call_id: String,
    from_tag: String,
    /// The final response.
    response: Message<'static>,
}

impl Placed {
    fn code(&self) -> u16 {
        self.response.status().map_or(0, |s| s.0)
    }

    /// Where the switch wants our RTP (from its SDP answer).
    fn switch_rtp(&self) -> SocketAddr {
        let text = std::str::from_utf8(&self.response.body).expect("utf-8 SDP");
        let sd = SessionDescription::parse(text).expect("an SDP answer");
        let port = sd.audio().expect("audio").port;
        SocketAddr::new(CALLER, port)
    }
}

impl Ua {
    fn on(ip: IpAddr, switch: SocketAddr) -> Ua {
        let sock = UdpSocket::bind((ip, 0)).expect("bind SIP");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        Ua { sock, switch, n: 0 }
    }

    fn local(&self) -> SocketAddr {
        self.sock.local_addr().expect("addr")
    }

    fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.switch)
            .expect("send SIP");
    }

    /// Waits for the final response to the request with `cseq` of `call_id` (provisional
    /// ones and retransmissions are skipped).
    fn final_response(&self, call_id: &str, method: &str) -> Message<'static> {
        let deadline = Instant::now() + GUARD;
        let mut buf = vec![0u8; 65535];
        while Instant::now() < deadline {
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(m) = Message::parse(&buf[..n]) else {
                continue;
            };
            let ours = m.header("Call-ID") == Some(call_id)
                && m.header("CSeq").is_some_and(|c| c.ends_with(method));
            if ours && m.status().is_some_and(|s| s.0 >= 200) {
                return m.into_owned();
            }
        }
        panic!("no final response to {method} {call_id}");
    }

    /// Sends an INVITE to the service number with `c=<media>` and `m=audio <port>`, waits for
    /// the final response and ACKs it.
    fn invite(&mut self, media: SocketAddr) -> Placed {
        self.n += 1;
        let me = self.local();
        let branch = format!("z9hG4bKs{}p{}", self.n, me.port());
        let call_id = format!("strict-{}-{}@{}", self.n, me.port(), me.ip());
        let from_tag = format!("t{}", self.n);
        let sdp = format!(
            "v=0\r\no=caller 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
            ip = media.ip(),
            port = media.port()
        );
        let invite = format!(
            "INVITE sip:{SERVICE}@{sw} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch}i;rport\r\n\
             From: <sip:+15550001234@{ip}>;tag={from_tag}\r\n\
             To: <sip:{SERVICE}@{sw}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{me}>\r\n\
             Max-Forwards: 70\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{sdp}",
            sw = self.switch,
            ip = me.ip(),
            len = sdp.len()
        );
        self.send(&invite);
        let response = self.final_response(&call_id, "INVITE");
        let placed = Placed {
            branch,
            call_id,
            from_tag,
            response,
        };
        let to = placed.response.header("To").expect("To").to_string();
        let ack = format!(
            "ACK sip:{SERVICE}@{sw} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch}{kind};rport\r\n\
             From: <sip:+15550001234@{ip}>;tag={tag}\r\n\
             To: {to}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: 1 ACK\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            sw = self.switch,
            ip = me.ip(),
            cid = placed.call_id,
            tag = placed.from_tag,
            // A 2xx is ACKed in a new transaction, anything else in the INVITE's.
            branch = placed.branch,
            kind = if placed.code() == 200 { "a" } else { "i" },
        );
        self.send(&ack);
        placed
    }

    /// Hangs up an answered call and waits for the 200.
    fn bye(&self, call: &Placed) {
        let me = self.local();
        let to = call.response.header("To").expect("To").to_string();
        let bye = format!(
            "BYE sip:{SERVICE}@{sw} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch}b;rport\r\n\
             From: <sip:+15550001234@{ip}>;tag={tag}\r\n\
             To: {to}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: 2 BYE\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            sw = self.switch,
            ip = me.ip(),
            cid = call.call_id,
            tag = call.from_tag,
            branch = call.branch,
        );
        self.send(&bye);
        let r = self.final_response(&call.call_id, "BYE");
        assert_eq!(r.status().map(|s| s.0), Some(200), "BYE answered");
    }
}

/// Counts RTP packets arriving on `sock` in a thread until `stop`.
fn count_rtp(sock: UdpSocket, stop: Arc<AtomicBool>) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::SeqCst) {
            if let Ok(n) = sock.recv(&mut buf)
                && n >= 12
                && buf[0] >> 6 == 2
            {
                c.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    count
}

#[test]
fn a_sprayed_rtp_packet_does_not_capture_the_call() {
    let sw = Switch::start(Setup::default());
    let mut ua = Ua::on(CALLER, sw.sip);
    let caller_rtp = rtp_socket(CALLER);
    let call = ua.invite(caller_rtp.local_addr().expect("addr"));
    assert_eq!(call.code(), 200, "the IVR answers");
    let port = call.switch_rtp();
    // Before the caller's first packet, the stranger sprays the new call's RTP port ...
    let stranger = rtp_socket(STRANGER);
    for i in 0..5u16 {
        let _ = stranger.send_to(
            &rtp(0, i == 0, i, u32::from(i) * 160, 0xBAD, &[0xFF; 160]),
            port,
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stranger_heard = count_rtp(stranger.try_clone().expect("clone"), stop.clone());
    // ... and waits for the main menu as the caller does: the caller hears the welcome, then
    // a new prompt list (the menu) starts with the marker bit.
    let deadline = Instant::now() + GUARD;
    let (mut packets, mut starts) = (0u64, 0u32);
    let mut buf = [0u8; 2048];
    while starts < 2 && Instant::now() < deadline {
        if let Ok(n) = caller_rtp.recv(&mut buf)
            && n >= 12
        {
            packets += 1;
            if buf[1] & 0x80 != 0 {
                starts += 1;
            }
        }
    }
    assert!(
        starts >= 2,
        "the caller never heard the menu start ({packets} packets)"
    );
    // During the menu the stranger presses 2 (support), then the caller speaks for the first
    // time and presses 1 (sales).
    let mut seq = 100;
    press(&stranger, port, 2, &mut seq, 80_000, 0xBAD);
    std::thread::sleep(Duration::from_millis(200));
    let mut seq = 1;
    for i in 0..5u16 {
        let _ = caller_rtp.send_to(
            &rtp(
                0,
                i == 0,
                seq,
                8000 + u32::from(i) * 160,
                0xCA11,
                &[0xFF; 160],
            ),
            port,
        );
        seq += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    press(&caller_rtp, port, 1, &mut seq, 16_000, 0xCA11);
    std::thread::sleep(Duration::from_millis(1000));
    ua.bye(&call);
    stop.store(true, Ordering::SeqCst);
    assert_eq!(
        stranger_heard.load(Ordering::SeqCst),
        0,
        "the stranger heard the call's audio"
    );
    let ids = sw.wait_ended(1);
    assert_eq!(ids.len(), 1, "the call ended");
    let rec = sw.call_records(&ids).remove(0);
    assert!(
        rec.ivr_path.iter().any(|n| n == "sales"),
        "the caller's 1 was taken: {:?}",
        rec.ivr_path
    );
    assert!(
        !rec.ivr_path.iter().any(|n| n == "support"),
        "the stranger's 2 was taken: {:?}",
        rec.ivr_path
    );
    // Operators see it: the stranger's packets are counted on /metrics.
    let rejected = metrics_value(&sw.http, "hotline_rtp_packets_rejected_total");
    assert!(rejected > 0, "rejected packets on /metrics: {rejected}");
}

/// The value of an unlabelled series on the switch's `/metrics` (0 when absent).
fn metrics_value(http: &str, series: &str) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(http).expect("connect /metrics");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_sdp_address_of_a_third_host_gets_no_rtp() {
    let sw = Switch::start(Setup::default());
    let mut ua = Ua::on(CALLER, sw.sip);
    // The victim listens where c= points; the IVR starts its prompts at once.
    let third = rtp_socket(THIRD_HOST);
    let call = ua.invite(third.local_addr().expect("addr"));
    assert_eq!(call.code(), 200, "the IVR answers");
    let port = call.switch_rtp();
    let stop = Arc::new(AtomicBool::new(false));
    let third_got = count_rtp(third.try_clone().expect("clone"), stop.clone());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        third_got.load(Ordering::SeqCst),
        0,
        "RTP was sent to the third host named in c="
    );
    // A phone behind NAT: c= was its private address, its RTP comes from its public one
    // (the signalling address, another port): from its first packet on it hears the prompts.
    let phone = rtp_socket(CALLER);
    let _ = phone.send_to(&rtp(0, true, 1, 160, 0x7A7, &[0xFF; 160]), port);
    let deadline = Instant::now() + GUARD;
    let mut heard = 0;
    let mut buf = [0u8; 2048];
    while heard < 10 && Instant::now() < deadline {
        if phone.recv(&mut buf).is_ok() {
            heard += 1;
        }
    }
    assert_eq!(heard, 10, "the NATed phone never heard the prompts");
    ua.bye(&call);
    stop.store(true, Ordering::SeqCst);
    assert_eq!(
        third_got.load(Ordering::SeqCst),
        0,
        "RTP reached the third host after the latch"
    );
}

#[test]
fn more_calls_than_the_per_source_cap_get_503() {
    let sw = Switch::start(Setup {
        sip: "max_calls_per_source = 2".into(),
        ..Setup::default()
    });
    let mut ua = Ua::on(CALLER, sw.sip);
    let media = rtp_socket(CALLER);
    let media_addr = media.local_addr().expect("addr");
    let first = ua.invite(media_addr);
    let second = ua.invite(media_addr);
    assert_eq!((first.code(), second.code()), (200, 200), "within the cap");
    let third = ua.invite(media_addr);
    assert_eq!(third.code(), 503, "over the cap");
    assert!(
        third.response.header("Retry-After").is_some(),
        "503 says when to retry"
    );
    // Another source is not affected.
    let mut other = Ua::on(STRANGER, sw.sip);
    let other_media = rtp_socket(STRANGER);
    let elsewhere = other.invite(other_media.local_addr().expect("addr"));
    assert_eq!(elsewhere.code(), 200, "another source gets through");
    // One call ends: the first source may call again.
    ua.bye(&first);
    let again = ua.invite(media_addr);
    assert_eq!(again.code(), 200, "a freed slot is usable again");
    ua.bye(&second);
    ua.bye(&again);
    other.bye(&elsewhere);
}
