//! Over UDP an INVITE client transaction retransmits the INVITE on timer A (T1, 2*T1, 4*T1, ...)
//! until a provisional response arrives, and not after; the server absorbs the copies and
//! reports the request once. Over TCP nothing is retransmitted.

mod common;
use common::*;
use hotline_sip::{StatusCode, Transport};

#[test]
fn retransmits_on_timer_a_until_100_trying() {
    let mut b = config(B, 2);
    b.auto_trying = false; // the server's TU is slow: no 100 until we say so
    let mut sim = Sim::with_configs(config(A, 1), b);
    let now = sim.now;
    sim.a()
        .ep
        .send_request(now, invite("c1", "a1"), addr(B), Transport::Udp)
        .unwrap();
    sim.run_until(secs(2.0));

    let times: Vec<f64> = sim
        .sent(A, |w| w.is_request("INVITE"))
        .iter()
        .map(|w| w.at.as_secs_f64())
        .collect();
    assert_eq!(times, vec![0.0, 0.5, 1.5], "timer A doubles from T1");
    let (tsx, req) = take_request(sim.b()).expect("B reports the INVITE");
    assert!(
        take_request(sim.b()).is_none(),
        "retransmissions are absorbed, not reported again"
    );

    let now = sim.now;
    sim.b()
        .ep
        .respond(now, tsx, req.make_response(StatusCode::TRYING, None))
        .unwrap();
    sim.run_until(secs(20.0));
    assert_eq!(
        sim.sent(A, |w| w.is_request("INVITE")).len(),
        3,
        "no retransmission after 100"
    );
    assert_eq!(sim.b().ep.stats().absorbed, 2);
}

#[test]
fn automatic_100_stops_retransmission_at_once() {
    let mut sim = Sim::new();
    let now = sim.now;
    sim.a()
        .ep
        .send_request(now, invite("c2", "a2"), addr(B), Transport::Udp)
        .unwrap();
    sim.run_until(secs(10.0));
    assert_eq!(sim.sent(A, |w| w.is_request("INVITE")).len(), 1);
    assert_eq!(sim.sent(B, |w| w.is_response(100, "INVITE")).len(), 1);
}

#[test]
fn no_retransmission_over_tcp() {
    let mut b = config(B, 2);
    b.auto_trying = false;
    let mut sim = Sim::with_configs(config(A, 1), b);
    sim.transport = Transport::Tcp;
    let now = sim.now;
    sim.a()
        .ep
        .send_request(now, invite("c3", "a3"), addr(B), Transport::Tcp)
        .unwrap();
    sim.run_until(secs(31.0));
    assert_eq!(sim.sent(A, |w| w.is_request("INVITE")).len(), 1);
}

/// The per-method and per-class counters (`/metrics` reads them): a request is counted once
/// however often it is retransmitted, responses by class on both sides.
#[test]
fn counters_by_method_and_class() {
    use hotline_sip::Stats;
    let mut b = config(B, 2);
    b.auto_trying = false;
    let mut sim = Sim::with_configs(config(A, 1), b);
    let now = sim.now;
    sim.a()
        .ep
        .send_request(now, invite("c9", "a9"), addr(B), Transport::Udp)
        .unwrap();
    sim.run_until(secs(2.0));
    let (tsx, req) = take_request(sim.b()).expect("B reports the INVITE");
    let now = sim.now;
    sim.b()
        .ep
        .respond(
            now,
            tsx,
            req.make_response(StatusCode::BUSY_HERE, Some("t9")),
        )
        .unwrap();
    sim.run_until(secs(4.0));
    let invite = Stats::method_index(&hotline_sip::Method::Invite);
    let (a, b) = (sim.a().ep.stats(), sim.b().ep.stats());
    assert_eq!(Stats::METHODS[invite], "INVITE");
    assert_eq!(
        a.requests_sent[invite], 1,
        "retransmissions are not new requests"
    );
    assert_eq!(b.requests_received[invite], 3, "every copy that arrived");
    assert_eq!(
        b.responses_sent[Stats::class_index(StatusCode::BUSY_HERE)],
        1
    );
    assert_eq!(a.responses_received[3], 1, "one 486 (4xx)");
    assert_eq!(
        a.requests_sent[Stats::method_index(&hotline_sip::Method::Ack)],
        0,
        "the ACK of a failure belongs to the transaction and is not counted as a request"
    );
}
