//! Lost ACKs on the server side. For a non-2xx final response the INVITE server transaction
//! retransmits it on timer G (T1 doubling, capped at T2) until the ACK arrives, and gives up
//! with an ACK timeout on timer H (64*T1). When only the first ACK is lost, the client's
//! transaction re-ACKs the retransmitted response and the server stops (Confirmed, then timer I).
//! For a 2xx the server retransmits it too and the client endpoint re-sends the application's
//! ACK on its own.

mod common;
use common::*;
use hotline_sip::{Dialog, Event, StatusCode, Transport};

fn start_call(
    sim: &mut Sim,
) -> (
    hotline_sip::TsxId,
    hotline_sip::TsxId,
    hotline_sip::Message<'static>,
) {
    let now = sim.now;
    let client = sim
        .a()
        .ep
        .send_request(now, invite("c1", "a1"), addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    let (server, req) = take_request(sim.b()).unwrap();
    (client, server, req)
}

#[test]
fn every_ack_lost_timer_g_then_h() {
    let mut sim = Sim::new();
    sim.drop = Box::new(|w| w.is_request("ACK"));
    let (_, server, req) = start_call(&mut sim);
    let now = sim.now;
    sim.b()
        .ep
        .respond(
            now,
            server,
            req.make_response(StatusCode::BUSY_HERE, Some("b1")),
        )
        .unwrap();
    sim.drive_bounded(200);

    let times: Vec<f64> = sim
        .sent(B, |w| w.is_response(486, "INVITE"))
        .iter()
        .map(|w| w.at.as_secs_f64())
        .collect();
    assert_eq!(
        times,
        vec![0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5],
        "G doubles to T2 = 4 s"
    );
    assert!(
        sim.b()
            .events
            .contains(&Event::AckTimeout { invite: server }),
        "timer H reports the missing ACK"
    );
    // The client ACKed the first 486 and each retransmission (all lost).
    assert_eq!(sim.sent(A, |w| w.is_request("ACK")).len(), times.len());
}

#[test]
fn first_ack_lost_then_confirmed() {
    let mut sim = Sim::new();
    let mut dropped = false;
    sim.drop = Box::new(move |w| {
        if w.is_request("ACK") && !dropped {
            dropped = true;
            return true;
        }
        false
    });
    let (client, server, req) = start_call(&mut sim);
    let now = sim.now;
    sim.b()
        .ep
        .respond(
            now,
            server,
            req.make_response(StatusCode::BUSY_HERE, Some("b1")),
        )
        .unwrap();
    sim.run_until(secs(0.6));
    assert_eq!(
        sim.b().ep.state(server),
        Some(hotline_sip::State::Confirmed)
    );
    sim.drive_bounded(50);
    assert_eq!(sim.sent(B, |w| w.is_response(486, "INVITE")).len(), 2);
    assert_eq!(sim.sent(A, |w| w.is_request("ACK")).len(), 2);
    assert!(
        !sim.b()
            .events
            .iter()
            .any(|e| matches!(e, Event::AckTimeout { .. }))
    );
    let (id, resp, _) = take_response(sim.a()).unwrap();
    assert_eq!((id, resp.status()), (client, Some(StatusCode::BUSY_HERE)));
    assert!(
        take_response(sim.a()).is_none(),
        "the retransmitted 486 is absorbed"
    );
}

#[test]
fn lost_ack_for_2xx_is_resent_by_the_client_endpoint() {
    let mut sim = Sim::new();
    let mut dropped = 0;
    sim.drop = Box::new(move |w| {
        if w.is_request("ACK") && dropped < 2 {
            dropped += 1;
            return true;
        }
        false
    });
    let (client, server, req) = start_call(&mut sim);
    let now = sim.now;
    let ok = req
        .make_response(StatusCode::OK, Some("b1"))
        .with_header("Contact", "<sip:bob@10.0.0.2:5060>");
    sim.b().ep.respond(now, server, ok).unwrap();
    sim.flush();
    let (_, resp, _) = take_response(sim.a()).unwrap();
    let invite_sent = sim.a().ep.request(client).unwrap().clone();
    let dialog = Dialog::uac(&invite_sent, &resp).unwrap();
    sim.a().ep.ack_2xx(client, dialog.ack(1), addr(B)).unwrap();
    sim.drive_bounded(100);

    let oks: Vec<f64> = sim
        .sent(B, |w| w.is_response(200, "INVITE"))
        .iter()
        .map(|w| w.at.as_secs_f64())
        .collect();
    assert_eq!(
        oks,
        vec![0.0, 0.5, 1.5],
        "2xx retransmitted until the third ACK gets through"
    );
    assert_eq!(sim.sent(A, |w| w.is_request("ACK")).len(), 3);
    let acks: Vec<_> = sim
        .b()
        .events
        .iter()
        .filter(|e| matches!(e, Event::Ack { .. }))
        .collect();
    assert_eq!(acks.len(), 1, "B's application sees the ACK once");
    assert!(matches!(acks[0], Event::Ack { invite: Some(t), .. } if *t == server));
    assert!(
        !sim.b()
            .events
            .iter()
            .any(|e| matches!(e, Event::AckTimeout { .. }))
    );
}
