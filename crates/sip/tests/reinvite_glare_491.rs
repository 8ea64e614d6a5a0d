//! Re-INVITE glare (RFC 3261 14): both ends of a confirmed dialog put the call on hold at the
//! same moment. Each side's re-INVITE reaches the other while its own is pending, so each
//! answers 491 Request Pending. The side that does not own the Call-ID (the callee) retries
//! first (0-2 s versus 2.1-4 s) and its hold (a=sendonly) is answered a=recvonly.

mod common;
use common::*;
use hotline_sip::sdp::{self, AudioCaps, Direction, SessionDescription};
use hotline_sip::{Dialog, Message, Method, StatusCode, Transport, TsxId};
use std::net::IpAddr;

struct Leg {
    dialog: Dialog,
    pending: Option<TsxId>,
}

fn hold_offer(ip: &str, version: u64) -> Vec<u8> {
    sdp::offer(
        &AudioCaps::default(),
        ip.parse::<IpAddr>().unwrap(),
        4000,
        Direction::SendOnly,
        1,
        version,
    )
    .to_bytes()
}

/// Answer every queued request on node `i` through its dialog, SDP-answering accepted re-INVITEs.
fn serve(sim: &mut Sim, i: usize, leg: &mut Leg, ip: &str) -> Vec<StatusCode> {
    let mut codes = Vec::new();
    while let Some((tsx, req)) = take_request(&mut sim.nodes[i]) {
        let now = sim.now;
        let mut resp = match leg.dialog.on_request(&req) {
            Err(code) => req.make_response(code, None),
            Ok(()) => {
                let mut r = req.make_response(StatusCode::OK, None);
                if req.method() == Some(&Method::Invite) {
                    let offer =
                        SessionDescription::parse(std::str::from_utf8(&req.body).unwrap()).unwrap();
                    let (ans, _) = sdp::answer(
                        &offer,
                        &AudioCaps::default(),
                        ip.parse().unwrap(),
                        5000,
                        Direction::SendRecv,
                        2,
                        2,
                    )
                    .unwrap();
                    r.set_body("application/sdp", ans.to_bytes());
                    r.push_header("Contact", leg.dialog.local_contact.clone());
                }
                r
            }
        };
        let code = resp.status().unwrap();
        codes.push(code);
        resp.headers.retain(|h| !h.is("Server"));
        leg.dialog.on_response_sent(req.method().unwrap(), code);
        sim.nodes[i].ep.respond(now, tsx, resp).unwrap();
    }
    codes
}

fn reinvite(sim: &mut Sim, i: usize, leg: &mut Leg, ip: &str, dst: &str) {
    let now = sim.now;
    let mut m: Message<'static> = leg.dialog.request(Method::Invite).unwrap();
    m.set_body(
        "application/sdp",
        hold_offer(ip, leg.dialog.local_seq as u64 + 1),
    );
    leg.pending = Some(
        sim.nodes[i]
            .ep
            .send_request(now, m, addr(dst), Transport::Udp)
            .unwrap(),
    );
}

fn finish(sim: &mut Sim, i: usize, leg: &mut Leg, dst: &str) -> Option<StatusCode> {
    let (tsx, resp, _) = take_response(&mut sim.nodes[i])?;
    let code = resp.status().unwrap();
    if code.is_final() {
        leg.dialog.on_response(&resp);
        if code.is_success() {
            let ack = leg.dialog.ack(resp.cseq().unwrap().seq);
            sim.nodes[i].ep.ack_2xx(tsx, ack, addr(dst)).unwrap();
            leg.pending = None;
        }
    }
    Some(code)
}

#[test]
fn simultaneous_hold_gives_491_both_ways_then_the_callee_retries_first() {
    let mut sim = Sim::new();
    // Establish the call A -> B.
    let now = sim.now;
    let inv = sim
        .a()
        .ep
        .send_request(now, invite("glare", "a1"), addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    let (server, req) = take_request(sim.b()).unwrap();
    let mut b = Leg {
        dialog: Dialog::uas(&req, "b1", "<sip:bob@10.0.0.2:5060>").unwrap(),
        pending: None,
    };
    let ok = req
        .make_response(StatusCode::OK, Some("b1"))
        .with_header("Contact", "<sip:bob@10.0.0.2:5060>");
    sim.b().ep.respond(now, server, ok).unwrap();
    b.dialog.on_response_sent(&Method::Invite, StatusCode::OK);
    sim.flush();
    let (_, resp, _) = take_response(sim.a()).unwrap();
    let mut a = Leg {
        dialog: Dialog::uac(sim.a().ep.request(inv).unwrap(), &resp).unwrap(),
        pending: None,
    };
    sim.a().ep.ack_2xx(inv, a.dialog.ack(1), addr(B)).unwrap();
    sim.flush();

    // Both hold at once; the re-INVITEs cross.
    reinvite(&mut sim, 0, &mut a, "10.0.0.1", B);
    reinvite(&mut sim, 1, &mut b, "10.0.0.2", A);
    sim.flush();
    assert_eq!(
        serve(&mut sim, 0, &mut a, "10.0.0.1"),
        vec![StatusCode::REQUEST_PENDING]
    );
    assert_eq!(
        serve(&mut sim, 1, &mut b, "10.0.0.2"),
        vec![StatusCode::REQUEST_PENDING]
    );
    sim.flush();
    assert_eq!(
        finish(&mut sim, 0, &mut a, B),
        Some(StatusCode::REQUEST_PENDING)
    );
    assert_eq!(
        finish(&mut sim, 1, &mut b, A),
        Some(StatusCode::REQUEST_PENDING)
    );
    assert_eq!(a.dialog.pending_offer, None);
    assert_eq!(b.dialog.pending_offer, None);

    // Retry after the RFC 14.1 delays (random value from a fixed seed).
    let a_wait = a.dialog.glare_retry_after(1234);
    let b_wait = b.dialog.glare_retry_after(1234);
    assert!(a_wait >= secs(2.1) && a_wait <= secs(4.0), "{a_wait:?}");
    assert!(b_wait <= secs(2.0), "{b_wait:?}");
    sim.run_until(b_wait);
    reinvite(&mut sim, 1, &mut b, "10.0.0.2", A);
    sim.flush();
    assert_eq!(serve(&mut sim, 0, &mut a, "10.0.0.1"), vec![StatusCode::OK]);
    sim.flush();
    let answer = sim
        .sent(A, |w| w.is_response(200, "INVITE"))
        .last()
        .unwrap()
        .msg()
        .body
        .to_vec();
    assert_eq!(finish(&mut sim, 1, &mut b, A), Some(StatusCode::OK));
    let answer = SessionDescription::parse(std::str::from_utf8(&answer).unwrap()).unwrap();
    assert_eq!(
        answer.direction_of(answer.audio().unwrap()),
        Direction::RecvOnly,
        "hold answered recvonly"
    );
    sim.flush();
    assert!(
        sim.a()
            .events
            .iter()
            .any(|e| matches!(e, hotline_sip::Event::Ack { .. })),
        "B ACKed the 2xx"
    );

    // A's own retry, later, now succeeds too (B has nothing pending).
    sim.run_until(a_wait);
    reinvite(&mut sim, 0, &mut a, "10.0.0.1", B);
    sim.flush();
    assert_eq!(serve(&mut sim, 1, &mut b, "10.0.0.2"), vec![StatusCode::OK]);
    sim.flush();
    assert_eq!(finish(&mut sim, 0, &mut a, B), Some(StatusCode::OK));
}
