//! The SIP transports and the registrar of the real binary, spoken to with raw sockets:
//!
//! - UDP and TCP answer OPTIONS; TCP reassembles a message split over several writes and two
//!   messages in one write (Content-Length framing);
//! - malformed input gets a 400 on UDP and TCP and the switch keeps serving;
//! - Via `received`/`rport` (RFC 3581) are stamped on what we send back;
//! - REGISTER with SHA-256 digest (RFC 8760) from a client that picks the strongest challenge;
//! - repeated wrong passwords lock the source out (403 even for the right password).

mod sip_util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hotline_sip::auth::{Challenge, authorize};
use hotline_sip::{Message, Method, StatusCode};
use sip_util::{Setup, Switch};

fn options(branch: &str, via_host: &str) -> String {
    format!(
        "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via_host};branch=z9hG4bK{branch};rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\n\
         To: <sip:hotline@127.0.0.1>\r\n\
         Call-ID: {branch}@probe\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn udp_exchange(sock: &UdpSocket, to: SocketAddr, msg: &[u8]) -> Message<'static> {
    sock.send_to(msg, to).expect("send");
    let mut buf = vec![0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer");
    Message::parse(&buf[..n])
        .expect("parsable answer")
        .into_owned()
}

fn udp_client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

#[test]
fn udp_options_and_rport_and_garbage() {
    let sw = Switch::start(Setup {
        anchor: false,
        ..Setup::default()
    });
    let c = udp_client();
    let me = c.local_addr().expect("addr");
    // A Via that lies about our address: the answer still comes here, with received/rport.
    let r = udp_exchange(&c, sw.sip, options("u1", "10.9.9.9:5999").as_bytes());
    assert_eq!(r.status(), Some(StatusCode::OK));
    let via = r.header("Via").expect("via");
    assert!(via.contains("received=127.0.0.1"), "{via}");
    assert!(via.contains(&format!("rport={}", me.port())), "{via}");
    // Garbage that looks like a request gets a 400 ...
    let bad = b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKbad\r\nCSeq: nonsense\r\n\r\n";
    let r = udp_exchange(&c, sw.sip, bad);
    assert_eq!(r.status(), Some(StatusCode::BAD_REQUEST));
    // ... binary noise is dropped, and the switch still answers afterwards.
    c.send_to(&[0xff, 0x00, 0x13, 0x37], sw.sip).expect("send");
    let r = udp_exchange(&c, sw.sip, options("u2", "127.0.0.1:1").as_bytes());
    assert_eq!(r.status(), Some(StatusCode::OK));
}

fn read_messages(s: &mut TcpStream, n: usize) -> Vec<Message<'static>> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        match hotline_sip::frame(&buf) {
            Ok(Some(len)) => {
                let m: Vec<u8> = buf.drain(..len).collect();
                if let Ok(msg) = Message::parse(&m) {
                    out.push(msg.into_owned());
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => panic!("unframeable answer: {e}"),
        }
        let k = s.read(&mut chunk).expect("read");
        assert!(k > 0, "connection closed after {} messages", out.len());
        buf.extend_from_slice(&chunk[..k]);
    }
    out
}

#[test]
fn tcp_framing_by_content_length() {
    let sw = Switch::start(Setup {
        anchor: false,
        ..Setup::default()
    });
    let mut s = TcpStream::connect(sw.sip).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // One message in three writes.
    let m = options("t1", "127.0.0.1:1").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let (a, rest) = m.split_at(20);
    let (b, c) = rest.split_at(rest.len() / 2);
    for part in [a, b, c] {
        s.write_all(part.as_bytes()).expect("write");
        s.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(30));
    }
    let r = read_messages(&mut s, 1);
    assert_eq!(r[0].status(), Some(StatusCode::OK));
    // Two messages (with a CRLF keep-alive between them) in one write.
    let two = format!(
        "{}\r\n\r\n{}",
        options("t2", "127.0.0.1:1").replace("SIP/2.0/UDP", "SIP/2.0/TCP"),
        options("t3", "127.0.0.1:1").replace("SIP/2.0/UDP", "SIP/2.0/TCP")
    );
    s.write_all(two.as_bytes()).expect("write");
    let r = read_messages(&mut s, 2);
    assert!(r.iter().all(|m| m.status() == Some(StatusCode::OK)));
    let ids: Vec<&str> = r.iter().map(|m| m.call_id().unwrap_or("")).collect();
    assert_eq!(ids, ["t2@probe", "t3@probe"]);
}

#[test]
fn tcp_malformed_request_gets_400() {
    let sw = Switch::start(Setup {
        anchor: false,
        ..Setup::default()
    });
    let mut s = TcpStream::connect(sw.sip).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let bad = "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKb1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: bad1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    s.write_all(bad.as_bytes()).expect("write");
    let r = read_messages(&mut s, 1);
    assert_eq!(
        r[0].status(),
        Some(StatusCode::BAD_REQUEST),
        "CSeq method differs"
    );
}

fn register(user: &str, cseq: u32, auth: Option<String>, contact_port: u16) -> String {
    let mut m = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{contact_port};branch=z9hG4bKreg{cseq};rport\r\n\
         From: <sip:{user}@127.0.0.1>;tag=r1\r\n\
         To: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: reg-{user}-{contact_port}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{user}@127.0.0.1:{contact_port}>\r\n\
         Expires: 120\r\n\
         Max-Forwards: 70\r\n"
    );
    if let Some(a) = auth {
        m.push_str(&format!("Authorization: {a}\r\n"));
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    m
}

#[test]
fn register_with_sha256_digest_offered_first() {
    let sw = Switch::start(Setup {
        anchor: false,
        algorithms: Some("[\"SHA-256\", \"MD5\"]".into()),
        ..Setup::default()
    });
    let c = udp_client();
    let port = c.local_addr().expect("addr").port();
    let r = udp_exchange(&c, sw.sip, register("1001", 1, None, port).as_bytes());
    let offered: Vec<&str> = r.headers_named("WWW-Authenticate").collect();
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert!(
        offered[0].contains("SHA-256") && offered[1].contains("MD5"),
        "{offered:?}"
    );
    let ch = Challenge::pick(&r).expect("challenge");
    assert_eq!(ch.algorithm, hotline_sip::auth::Algorithm::Sha256);
    let value = authorize(
        &ch,
        &Method::Register,
        "sip:127.0.0.1",
        "1001",
        "alice-phone",
        "abc",
        1,
    );
    assert!(value.contains("SHA-256"), "{value}");
    let r = udp_exchange(
        &c,
        sw.sip,
        register("1001", 2, Some(value), port).as_bytes(),
    );
    assert_eq!(r.status(), Some(StatusCode::OK));
}

#[test]
fn wrong_passwords_lock_the_source_out() {
    let sw = Switch::start(Setup {
        anchor: false,
        ..Setup::default()
    });
    let c = udp_client();
    let port = c.local_addr().expect("addr").port();
    let mut seq = 1;
    let mut last = StatusCode::OK;
    for _ in 0..5 {
        let r = udp_exchange(&c, sw.sip, register("1001", seq, None, port).as_bytes());
        seq += 1;
        let Ok(ch) = Challenge::pick(&r) else {
            last = r.status().unwrap_or(StatusCode::OK);
            break;
        };
        let v = authorize(
            &ch,
            &Method::Register,
            "sip:127.0.0.1",
            "1001",
            "guess",
            "x",
            1,
        );
        let r = udp_exchange(&c, sw.sip, register("1001", seq, Some(v), port).as_bytes());
        seq += 1;
        last = r.status().unwrap_or(StatusCode::OK);
    }
    assert_eq!(
        last,
        StatusCode::FORBIDDEN,
        "locked out after five failures"
    );
    // Now even a fresh attempt is refused without a challenge.
    let r = udp_exchange(&c, sw.sip, register("1001", seq, None, port).as_bytes());
    assert_eq!(r.status(), Some(StatusCode::FORBIDDEN));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !sw.logged("SIP source banned") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sw.logged("SIP source banned"), "the ban is logged");
}

#[test]
fn options_keepalive_keeps_answering_contacts_and_drops_silent_ones() {
    let sw = Switch::start(Setup {
        anchor: false,
        keepalive_secs: 1,
        ..Setup::default()
    });
    let phone = udp_client();
    let port = phone.local_addr().expect("addr").port();
    let r = udp_exchange(&phone, sw.sip, register("1001", 1, None, port).as_bytes());
    let ch = Challenge::pick(&r).expect("challenge");
    let v = authorize(
        &ch,
        &Method::Register,
        "sip:127.0.0.1",
        "1001",
        "alice-phone",
        "k",
        1,
    );
    let r = udp_exchange(
        &phone,
        sw.sip,
        register("1001", 2, Some(v), port).as_bytes(),
    );
    assert_eq!(r.status(), Some(StatusCode::OK));

    // The switch asks; the phone answers twice.
    let mut buf = vec![0u8; 65535];
    for _ in 0..2 {
        let (n, from) = phone.recv_from(&mut buf).expect("an OPTIONS keep-alive");
        let req = Message::parse(&buf[..n]).expect("parse").into_owned();
        assert_eq!(req.method(), Some(&Method::Options));
        let ok = req.make_response(StatusCode::OK, Some("ph"));
        phone.send_to(&ok.to_bytes(), from).expect("answer");
    }
    // Then it goes silent: after the OPTIONS transaction times out the contact is removed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !sw.logged("did not answer OPTIONS") && std::time::Instant::now() < deadline {
        let _ = phone.recv_from(&mut buf); // swallow retransmissions without answering
    }
    assert!(
        sw.logged("did not answer OPTIONS"),
        "the silent contact was removed"
    );
}
