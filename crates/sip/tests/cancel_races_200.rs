//! CANCEL against an INVITE, both ways the race can go. If the callee's 200 is sent before the
//! CANCEL arrives, the CANCEL gets 200 but changes nothing: no 487, the caller gets the 200,
//! ACKs it and hangs up with BYE (RFC 3261 9.1). If the CANCEL arrives first, the endpoint
//! answers 200 to the CANCEL and 487 to the INVITE, tells the application, refuses a late 200
//! from it, and the caller's transaction ACKs the 487.

mod common;
use common::*;
use hotline_sip::{Dialog, Event, Method, State, StatusCode, Transport};

#[test]
fn two_hundred_wins_the_race() {
    let mut sim = Sim::new();
    let now = sim.now;
    let client = sim
        .a()
        .ep
        .send_request(now, invite("c1", "a1"), addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    let (server, req) = take_request(sim.b()).unwrap();
    sim.b()
        .ep
        .respond(
            now,
            server,
            req.make_response(StatusCode::RINGING, Some("b1")),
        )
        .unwrap();
    sim.flush();
    assert_eq!(
        take_response(sim.a()).unwrap().1.status(),
        Some(StatusCode::RINGING)
    );

    // Both sides act before either hears the other: the messages cross on the wire.
    sim.a().ep.cancel(now, client).unwrap();
    let ok = req
        .make_response(StatusCode::OK, Some("b1"))
        .with_header("Contact", "<sip:bob@10.0.0.2>");
    sim.b().ep.respond(now, server, ok).unwrap();
    sim.flush();

    assert_eq!(sim.sent(B, |w| w.is_response(200, "CANCEL")).len(), 1);
    assert!(sim.sent(B, |w| w.is_response(487, "INVITE")).is_empty());
    assert!(
        !sim.b()
            .events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { .. }))
    );

    let (id, resp, _) = take_response(sim.a()).expect("the 200 for the INVITE");
    assert_eq!((id, resp.status()), (client, Some(StatusCode::OK)));
    assert!(
        take_response(sim.a()).is_none(),
        "the 200 for the CANCEL stays inside the endpoint"
    );

    let mut dialog = Dialog::uac(sim.a().ep.request(client).unwrap(), &resp).unwrap();
    sim.a().ep.ack_2xx(client, dialog.ack(1), addr(B)).unwrap();
    let bye = dialog.request(Method::Bye).unwrap();
    sim.a()
        .ep
        .send_request(now, bye, addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    assert!(
        sim.b()
            .events
            .iter()
            .any(|e| matches!(e, Event::Ack { invite: Some(t), .. } if *t == server))
    );
    let (bye_tsx, bye_req) = take_request(sim.b()).unwrap();
    assert_eq!(bye_req.method(), Some(&Method::Bye));
    sim.b()
        .ep
        .respond(now, bye_tsx, bye_req.make_response(StatusCode::OK, None))
        .unwrap();
    sim.flush();
    assert_eq!(
        take_response(sim.a()).unwrap().1.status(),
        Some(StatusCode::OK)
    );
}

#[test]
fn cancel_wins_the_race() {
    let mut sim = Sim::new();
    let now = sim.now;
    let client = sim
        .a()
        .ep
        .send_request(now, invite("c2", "a2"), addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    let (server, req) = take_request(sim.b()).unwrap();
    sim.a().ep.cancel(now, client).unwrap();
    sim.flush();

    assert!(
        sim.b()
            .events
            .contains(&Event::Cancelled { invite: server })
    );
    assert!(
        sim.b()
            .ep
            .respond(now, server, req.make_response(StatusCode::OK, Some("b2")))
            .is_err(),
        "too late to answer 200"
    );
    assert_eq!(sim.sent(B, |w| w.is_response(200, "CANCEL")).len(), 1);
    assert_eq!(sim.sent(B, |w| w.is_response(487, "INVITE")).len(), 1);
    let (id, resp, _) = take_response(sim.a()).unwrap();
    assert_eq!(
        (id, resp.status()),
        (client, Some(StatusCode::REQUEST_TERMINATED))
    );
    assert_eq!(
        sim.sent(A, |w| w.is_request("ACK")).len(),
        1,
        "the transaction ACKs the 487"
    );
    assert_eq!(sim.b().ep.state(server), Some(State::Confirmed));
    sim.drive_bounded(100);
    assert_eq!(
        sim.a().ep.transaction_count() + sim.b().ep.transaction_count(),
        0
    );
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut b = config(B, 2);
    b.auto_trying = false;
    let mut sim = Sim::with_configs(config(A, 1), b);
    let now = sim.now;
    let client = sim
        .a()
        .ep
        .send_request(now, invite("c3", "a3"), addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    sim.a().ep.cancel(now, client).unwrap();
    sim.flush();
    assert!(
        sim.sent(A, |w| w.is_request("CANCEL")).is_empty(),
        "RFC 3261 9.1: no CANCEL before a 1xx"
    );
    let (server, req) = take_request(sim.b()).unwrap();
    sim.b()
        .ep
        .respond(now, server, req.make_response(StatusCode::TRYING, None))
        .unwrap();
    sim.flush();
    assert_eq!(sim.sent(A, |w| w.is_request("CANCEL")).len(), 1);
    assert!(
        sim.b()
            .events
            .contains(&Event::Cancelled { invite: server })
    );
}

#[test]
fn cancel_for_unknown_invite_gets_481() {
    let mut sim = Sim::new();
    let raw = "CANCEL sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnope\r\nFrom: <sip:alice@10.0.0.1>;tag=x\r\nTo: <sip:bob@10.0.0.2>\r\nCall-ID: nope\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let now = sim.now;
    sim.b()
        .ep
        .handle_datagram(now, addr(A), Transport::Udp, raw.as_bytes());
    let t = sim.b().ep.poll_transmit().unwrap();
    assert_eq!(
        hotline_sip::Message::parse(&t.payload).unwrap().status(),
        Some(StatusCode::CALL_DOES_NOT_EXIST)
    );
}
