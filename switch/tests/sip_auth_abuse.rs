//! Digest abuse against the real binary (issue 12, findings 1, 5, 8, 10 and 13), with raw UDP
//! and TCP sockets; other 127.x.y.z addresses stand in for other hosts (attackers, a carrier):
//!
//! - a captured INVITE `Proxy-Authorization` replayed from another address, to another
//!   Request-URI, or as is, is challenged again and nothing reaches the trunk;
//! - a captured REGISTER replayed with the attacker's Contact does not bind;
//! - five bad REGISTERs from a carrier's address do not stop the carrier's calls;
//! - 20 addresses with 4 guesses each close the extension to unproven sources while the real
//!   phone keeps registering; the bans show on `/metrics`;
//! - an unknown username gets the same challenge as a wrong password;
//! - LF-only OPTIONS and INVITE (UDP and TCP) are answered;
//! - a rejected INVITE from an unverified source is answered once, not on timer G.

mod sip_util;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hotline_sip::auth::{Challenge, authorize};
use hotline_sip::{Message, Method, StatusCode};
use sip_util::{Setup, Switch, free_port};

/// The carrier's (trunk's) address in these tests; the phone and attackers use others.
const CARRIER_IP: &str = "127.0.0.9";

fn client_at(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip.parse::<IpAddr>().expect("ip"), 0)).expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// Sends `msg` and returns the final response to it (same Call-ID and CSeq).
fn exchange(sock: &UdpSocket, to: SocketAddr, msg: &str) -> Message<'static> {
    // Read from the text (not with the parser under test: LF-only requests go through here).
    let header = |name: &str| {
        msg.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .expect("header in our request")
    };
    let (call_id, cseq) = (header("Call-ID:"), header("CSeq:"));
    sock.send_to(msg.as_bytes(), to).expect("send");
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, _) = sock
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no answer ({e}) to\n{msg}"));
        let m = Message::parse(&buf[..n])
            .expect("parsable answer")
            .into_owned();
        if m.status().is_some_and(|s| s.0 >= 200)
            && m.call_id().ok() == Some(call_id.as_str())
            && m.header("CSeq") == Some(cseq.as_str())
        {
            return m;
        }
    }
}

fn switch_with_trunk(trunk_port: u16) -> Switch {
    Switch::start(Setup {
        anchor: false,
        algorithms: Some("[\"SHA-256\"]".into()),
        uri_check: "request-uri",
        extra: format!(
            r#"
[[dialplan.routes]]
prefix = "9"
strip = 1
trunk = "pstn"

[[dialplan.routes]]
number = "+18005550199"
public = true
extension = "1002"

[[trunks]]
name = "pstn"
address = "{CARRIER_IP}:{trunk_port}"
"#
        ),
        ..Setup::default()
    })
}

/// An INVITE from `from` (whose socket is `me`) to `dialed`, without SDP (anchor = false).
fn invite(me: SocketAddr, dialed: &str, call: &str, auth: Option<&str>) -> String {
    let mut m = format!(
        "INVITE sip:{dialed}@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK{call};rport\r\n\
         From: <sip:1001@127.0.0.1>;tag={call}\r\n\
         To: <sip:{dialed}@127.0.0.1>\r\n\
         Call-ID: {call}@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:1001@{me}>\r\n\
         Max-Forwards: 70\r\n"
    );
    if let Some(a) = auth {
        m.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    m
}

fn register(me: SocketAddr, user: &str, cseq: u32, contact: &str, auth: Option<&str>) -> String {
    let mut m = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKreg{cseq}x{port}x{user};rport\r\n\
         From: <sip:{user}@127.0.0.1>;tag=r1\r\n\
         To: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: reg-{user}-{port}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <{contact}>\r\n\
         Expires: 120\r\n\
         Max-Forwards: 70\r\n",
        port = me.port()
    );
    if let Some(a) = auth {
        m.push_str(&format!("Authorization: {a}\r\n"));
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    m
}

/// Registers `user` from `sock`: challenge, answer. The final status and the signed REGISTER.
fn register_round(
    sw: &Switch,
    sock: &UdpSocket,
    user: &str,
    password: &str,
    cseq: u32,
) -> (StatusCode, String) {
    let me = sock.local_addr().expect("addr");
    let contact = format!("sip:{user}@{me}");
    let r = exchange(sock, sw.sip, &register(me, user, cseq, &contact, None));
    let Ok(ch) = Challenge::pick(&r) else {
        return (r.status().expect("status"), String::new());
    };
    let v = authorize(
        &ch,
        &Method::Register,
        "sip:127.0.0.1",
        user,
        password,
        "cn",
        1,
    );
    let signed = register(me, user, cseq + 1, &contact, Some(&v));
    let r = exchange(sock, sw.sip, &signed);
    (r.status().expect("status"), signed)
}

fn metrics(sw: &Switch) -> String {
    let mut s = TcpStream::connect(&sw.http).expect("http");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn nothing_arrives(sock: &UdpSocket, within: Duration) -> Result<(), String> {
    sock.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => Err(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(_) => Ok(()),
    }
}

#[test]
fn replayed_invite_credentials_never_reach_the_trunk() {
    let trunk_port = free_port();
    let trunk = UdpSocket::bind((CARRIER_IP, trunk_port)).expect("trunk socket");
    let sw = switch_with_trunk(trunk_port);
    let phone = client_at("127.0.0.1");
    let me = phone.local_addr().expect("addr");
    assert_eq!(
        register_round(&sw, &phone, "1001", "alice-phone", 1).0,
        StatusCode::OK
    );
    // The phone calls a number through the trunk: 407, then the signed INVITE.
    let r = exchange(&phone, sw.sip, &invite(me, "92025550188", "c1", None));
    assert_eq!(r.status(), Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED));
    let ch = Challenge::pick(&r).expect("challenge");
    let uri = "sip:92025550188@127.0.0.1";
    let header = authorize(&ch, &Method::Invite, uri, "1001", "alice-phone", "cn", 1);
    phone
        .send_to(
            invite(me, "92025550188", "c2", Some(&header)).as_bytes(),
            sw.sip,
        )
        .expect("send");
    trunk
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let (n, _) = trunk
        .recv_from(&mut buf)
        .expect("the real call reaches the trunk");
    let real = Message::parse(&buf[..n]).expect("INVITE").into_owned();
    assert_eq!(real.method(), Some(&Method::Invite));
    let real_call = real.call_id().expect("call-id").to_string();

    // 1. The captured header from another address.
    let attacker = client_at("127.0.0.2");
    let am = attacker.local_addr().expect("addr");
    let r = exchange(
        &attacker,
        sw.sip,
        &invite(am, "92025550188", "r1", Some(&header)),
    );
    assert!(
        matches!(r.status().map(|s| s.0), Some(401 | 403 | 407)),
        "{:?}",
        r.status()
    );
    // 2. From the phone's own address, to a premium number.
    let r = exchange(
        &phone,
        sw.sip,
        &invite(me, "919005550100", "r2", Some(&header)),
    );
    assert_eq!(r.status(), Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED));
    // 3. As captured, from the phone's address (same nonce count).
    let r = exchange(
        &phone,
        sw.sip,
        &invite(me, "92025550188", "r3", Some(&header)),
    );
    assert_eq!(r.status(), Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED));
    assert!(Challenge::pick(&r).expect("challenge").stale, "a replay");
    // The trunk heard nothing but retransmissions of the real call.
    trunk
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    while let Ok((n, _)) = trunk.recv_from(&mut buf) {
        let m = Message::parse(&buf[..n]).expect("parses").into_owned();
        assert_eq!(
            m.call_id().ok(),
            Some(real_call.as_str()),
            "a replay reached the trunk: {}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
}

#[test]
fn replayed_register_does_not_bind_the_attackers_contact() {
    let sw = Switch::start(Setup {
        anchor: false,
        algorithms: Some("[\"SHA-256\"]".into()),
        uri_check: "request-uri",
        ..Setup::default()
    });
    let phone = client_at("127.0.0.1");
    let (status, signed) = register_round(&sw, &phone, "1001", "alice-phone", 1);
    assert_eq!(status, StatusCode::OK);
    let evil_contact = "<sip:1001@127.0.0.66:5060>";
    let evil = signed
        .replace(
            &format!("Contact: <sip:1001@{}>", phone.local_addr().expect("addr")),
            &format!("Contact: {evil_contact}"),
        )
        .replace("CSeq: 2 REGISTER", "CSeq: 3 REGISTER")
        .replace("branch=z9hG4bKreg2", "branch=z9hG4bKevil");
    assert!(evil.contains(evil_contact));
    for ip in ["127.0.0.66", "127.0.0.1"] {
        let attacker = client_at(ip);
        let evil = evil.replace("z9hG4bKevil", &format!("z9hG4bKevil{ip}"));
        let r = exchange(&attacker, sw.sip, &evil);
        assert_eq!(r.status(), Some(StatusCode::UNAUTHORIZED), "from {ip}");
        assert!(
            r.headers_named("Contact")
                .all(|c| !c.contains("127.0.0.66")),
            "{:?}",
            r.headers_named("Contact").collect::<Vec<_>>()
        );
    }
    // The phone's own refresh shows the bindings: only its contact.
    let me = phone.local_addr().expect("addr");
    let contact = format!("sip:1001@{me}");
    let r = exchange(&phone, sw.sip, &register(me, "1001", 10, &contact, None));
    let ch = Challenge::pick(&r).expect("challenge");
    let v = authorize(
        &ch,
        &Method::Register,
        "sip:127.0.0.1",
        "1001",
        "alice-phone",
        "cn",
        1,
    );
    let r = exchange(
        &phone,
        sw.sip,
        &register(me, "1001", 11, &contact, Some(&v)),
    );
    assert_eq!(r.status(), Some(StatusCode::OK));
    let bound: Vec<&str> = r.headers_named("Contact").collect();
    assert_eq!(bound.len(), 1, "{bound:?}");
    assert!(bound[0].contains(&me.to_string()), "{bound:?}");
}

#[test]
fn bad_registers_from_the_carriers_address_do_not_stop_its_calls() {
    let trunk_port = free_port();
    let sw = switch_with_trunk(trunk_port);
    let carrier = client_at(CARRIER_IP);
    let stranger = client_at("127.0.0.4");
    for sock in [&carrier, &stranger] {
        for i in 0..5 {
            register_round(&sw, sock, "1001", "wrong", 1 + 2 * i);
        }
    }
    // An inbound call from the carrier to the public number is routed (the extension is not
    // registered: 480), not refused.
    let cm = carrier.local_addr().expect("addr");
    let r = exchange(&carrier, sw.sip, &invite(cm, "+18005550199", "in1", None));
    assert_eq!(r.status(), Some(StatusCode::TEMPORARILY_UNAVAILABLE));
    // The same call from the banned stranger is refused.
    let sm = stranger.local_addr().expect("addr");
    let r = exchange(&stranger, sw.sip, &invite(sm, "+18005550199", "in2", None));
    assert_eq!(r.status(), Some(StatusCode::FORBIDDEN));
}

#[test]
fn distributed_guessing_closes_the_extension_to_unproven_sources_only() {
    let sw = Switch::start(Setup {
        anchor: false,
        algorithms: Some("[\"SHA-256\"]".into()),
        uri_check: "request-uri",
        ..Setup::default()
    });
    let phone = client_at("127.0.0.1");
    assert_eq!(
        register_round(&sw, &phone, "1001", "alice-phone", 1).0,
        StatusCode::OK
    );
    // An unknown user's challenge looks like a known user's.
    let probe = client_at("127.0.2.1");
    let pm = probe.local_addr().expect("addr");
    let known = exchange(&probe, sw.sip, &register(pm, "1001", 1, "sip:x@h", None));
    let unknown = exchange(&probe, sw.sip, &register(pm, "7777", 1, "sip:x@h", None));
    assert_eq!(known.status(), unknown.status());
    assert_eq!(
        known.headers_named("WWW-Authenticate").count(),
        unknown.headers_named("WWW-Authenticate").count()
    );

    for a in 1..=20 {
        let s = client_at(&format!("127.0.1.{a}"));
        for g in 0..4 {
            let (status, _) = register_round(&sw, &s, "1001", "guess", 1 + 2 * g);
            assert_eq!(status, StatusCode::UNAUTHORIZED, "source {a} guess {g}");
        }
    }
    // Someone new with the right password is refused like a wrong guess...
    let lucky = client_at("127.0.1.21");
    assert_eq!(
        register_round(&sw, &lucky, "1001", "alice-phone", 1).0,
        StatusCode::UNAUTHORIZED
    );
    // ...while the real phone keeps registering.
    assert_eq!(
        register_round(&sw, &phone, "1001", "alice-phone", 5).0,
        StatusCode::OK
    );
    let m = metrics(&sw);
    assert!(
        m.contains("hotline_sip_auth_bans_total{scope=\"extension\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("hotline_sip_auth_banned{scope=\"extension\"} 1"),
        "{m}"
    );
    assert!(!m.contains("1001"), "no extension numbers in metrics");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sw.logged("closed to unproven sources") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sw.logged("closed to unproven sources"), "the ban is logged");
}

fn lf_only(s: &str) -> String {
    s.replace("\r\n", "\n")
}

#[test]
fn lf_only_messages_are_answered_on_udp_and_tcp() {
    let sw = Switch::start(Setup {
        anchor: false,
        ..Setup::default()
    });
    let c = client_at("127.0.0.1");
    let me = c.local_addr().expect("addr");
    let options = format!(
        "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKlf1;rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\n\
         To: <sip:hotline@127.0.0.1>\r\n\
         Call-ID: lf1@probe\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let r = exchange(&c, sw.sip, &lf_only(&options));
    assert_eq!(r.status(), Some(StatusCode::OK));
    // An INVITE with LF-only lines to a number that needs authentication: answered (407).
    let r = exchange(&c, sw.sip, &lf_only(&invite(me, "1002", "lf2", None)));
    assert!(r.status().is_some_and(|s| s.0 >= 400), "{:?}", r.status());
    // Over TCP: two LF-only messages in one write are framed apart.
    let mut t = TcpStream::connect(sw.sip).expect("tcp");
    t.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let tm = t.local_addr().expect("addr");
    let one = lf_only(
        &options
            .replace(&me.to_string(), &tm.to_string())
            .replace("UDP", "TCP"),
    );
    let two = one.replace("lf1", "lf3");
    t.write_all(format!("{one}{two}").as_bytes())
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let n = t.read(&mut buf).expect("read");
        got.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&got).matches("SIP/2.0 200").count() == 2 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("lf1@probe") && text.contains("lf3@probe"),
        "{text}"
    );
}

#[test]
fn rejected_invite_from_an_unverified_source_is_answered_once() {
    let sw = Switch::start(Setup {
        anchor: false,
        ..Setup::default()
    });
    // A stranger (maybe spoofing its victim's address) calls an internal number: 403.
    let victim = client_at("127.0.0.77");
    let vm = victim.local_addr().expect("addr");
    let request = invite(vm, "1002", "amp1", None);
    victim.send_to(request.as_bytes(), sw.sip).expect("send");
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    // t1_ms = 200 in the test config: timer G would resend at 0.2, 0.6 and 1.4 s.
    victim
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let (n, _) = victim.recv_from(&mut buf).expect("an answer");
    received.push(n);
    assert!(
        buf[..n].starts_with(b"SIP/2.0 403"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    victim
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let until = Instant::now() + Duration::from_millis(1700);
    while Instant::now() < until {
        if let Ok((n, _)) = victim.recv_from(&mut buf) {
            received.push(n);
        }
    }
    let bytes: usize = received.iter().sum();
    println!(
        "one {}-byte INVITE from an unverified source: {} datagrams, {bytes} bytes back",
        request.len(),
        received.len()
    );
    assert_eq!(received.len(), 1, "no retransmissions of the 403");
    assert!(nothing_arrives(&victim, Duration::from_millis(10)).is_ok());
}
