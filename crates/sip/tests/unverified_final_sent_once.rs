//! Amplification (issue 12, finding 10): an INVITE from a source that proved nothing (its UDP
//! source address may be spoofed) and that the application rejects at once gets its final
//! response once per INVITE, not a train of timer G retransmissions aimed at the spoofed
//! address. The automatic `100 Trying` is left out when the application answered while the
//! events were drained, so a real caller keeps retransmitting its INVITE (timer A) and gets
//! the response again for each copy, which keeps the exchange reliable. A verified source
//! (trunk, authenticated phone) keeps RFC 3261 timer G; so does a final that follows a
//! provisional response.

use hotline_sip::{Config, Endpoint, Event, Method, SourceTrust, StatusCode, Transport};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const INVITE: &str = "INVITE sip:900@10.0.0.2 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.66:5060;branch=z9hG4bKspoof1\r\n\
Max-Forwards: 70\r\n\
From: <sip:x@10.0.0.66>;tag=f1\r\n\
To: <sip:900@10.0.0.2>\r\n\
Call-ID: spoof-1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

/// Feed the INVITE, let the application answer 403 (after a 180 when `ring_first`) with the
/// given trust, then run 40 simulated seconds without any ACK, the INVITE retransmitted
/// `copies` times early on. Returns (responses sent, bytes sent, 100 Trying sent).
fn run(trust: SourceTrust, ring_first: bool, copies: usize) -> (usize, usize, bool) {
    let mut ep = Endpoint::new(Config {
        sent_by: "10.0.0.2:5060".into(),
        ..Config::default()
    });
    let src: SocketAddr = "10.0.0.66:5060".parse().unwrap();
    let t0 = Instant::now();
    ep.handle_datagram(t0, src, Transport::Udp, INVITE.as_bytes());
    // Drive contract: events first, then transmits.
    while let Some(ev) = ep.poll_event() {
        if let Event::Request { tsx, request, .. } = ev {
            assert_eq!(request.method(), Some(&Method::Invite));
            ep.set_source_trust(tsx, trust).unwrap();
            if ring_first {
                let r = request.make_response(StatusCode::RINGING, Some("t"));
                ep.respond(t0, tsx, r).unwrap();
            }
            let r = request.make_response(StatusCode::FORBIDDEN, Some("t"));
            ep.respond(t0, tsx, r).unwrap();
        }
    }
    let mut sent = Vec::new();
    let drain = |ep: &mut Endpoint, sent: &mut Vec<Vec<u8>>| {
        while let Some(t) = ep.poll_transmit() {
            assert_eq!(t.dst, src);
            sent.push(t.payload);
        }
    };
    drain(&mut ep, &mut sent);
    let mut now = t0;
    for i in 0..copies {
        now = t0 + Duration::from_millis(500 * (1 << i));
        ep.handle_timeout(now);
        ep.handle_datagram(now, src, Transport::Udp, INVITE.as_bytes());
        drain(&mut ep, &mut sent);
    }
    while let Some(at) = ep.poll_timeout() {
        if at > t0 + Duration::from_secs(40) {
            break;
        }
        now = now.max(at);
        ep.handle_timeout(now);
        drain(&mut ep, &mut sent);
    }
    let trying = sent.iter().any(|b| b.starts_with(b"SIP/2.0 100"));
    let finals = sent
        .iter()
        .filter(|b| b.starts_with(b"SIP/2.0 403"))
        .count();
    (finals, sent.iter().map(Vec::len).sum(), trying)
}

#[test]
fn unverified_source_gets_one_final_per_invite() {
    let (finals, bytes, trying) = run(SourceTrust::Unverified, false, 0);
    assert_eq!(finals, 1, "no timer G towards an unverified source");
    assert!(
        !trying,
        "answered at once: no 100 Trying, the caller keeps retransmitting"
    );
    let request = INVITE.len();
    assert!(
        bytes < 2 * request,
        "{bytes} bytes out for a {request}-byte INVITE"
    );

    // A real caller that did not hear it retransmits: one response per copy, no more.
    let (finals, _, _) = run(SourceTrust::Unverified, false, 3);
    assert_eq!(finals, 4);
}

#[test]
fn verified_source_and_finals_after_a_provisional_keep_timer_g() {
    let (finals, bytes, _) = run(SourceTrust::Verified, false, 0);
    assert_eq!(finals, 11, "RFC 3261: G doubles to T2 until H");
    let (unverified, unverified_bytes, _) = run(SourceTrust::Unverified, false, 0);
    println!(
        "one INVITE of {} bytes: {bytes} bytes out (verified), {unverified_bytes} bytes out (unverified)",
        INVITE.len()
    );
    assert!(unverified < finals);
    // After a 180 the caller stopped retransmitting: G is the only way the 403 gets there.
    let (finals, _, _) = run(SourceTrust::Unverified, true, 0);
    assert_eq!(finals, 11);
}

#[test]
fn slow_application_still_gets_100_trying() {
    let mut ep = Endpoint::new(Config::default());
    let src: SocketAddr = "10.0.0.66:5060".parse().unwrap();
    let t0 = Instant::now();
    ep.handle_datagram(t0, src, Transport::Udp, INVITE.as_bytes());
    assert!(matches!(ep.poll_event(), Some(Event::Request { .. })));
    // The application has not answered yet: the 100 goes out with the transmits.
    let t = ep.poll_transmit().expect("100 Trying");
    assert!(t.payload.starts_with(b"SIP/2.0 100"));
    assert!(ep.poll_transmit().is_none());
    // A retransmitted INVITE gets the 100 again.
    ep.handle_datagram(t0, src, Transport::Udp, INVITE.as_bytes());
    assert!(
        ep.poll_transmit()
            .unwrap()
            .payload
            .starts_with(b"SIP/2.0 100")
    );
}
