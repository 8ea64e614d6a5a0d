//! An in-dialog request (To tag present) that matches no dialog is answered 481
//! Call/Transaction Does Not Exist (RFC 3261 12.2.2), and the sender's dialog ends on a 481.
//! A request with a stale CSeq inside a known dialog gets 500.

mod common;
use common::*;
use hotline_sip::{Dialog, DialogState, Dialogs, Method, Routed, StatusCode, Transport};

/// B's application: route each request through its dialogs, answer 481 when unknown.
fn serve(sim: &mut Sim, dialogs: &mut Dialogs) {
    while let Some((tsx, req)) = take_request(sim.b()) {
        let now = sim.now;
        let status = match dialogs.route(&req) {
            Err(code) => code,
            Ok(Routed::NoDialog) => StatusCode::OK,
            Ok(Routed::Dialog(d)) => match d.on_request(&req) {
                Ok(()) => StatusCode::OK,
                Err(code) => code,
            },
        };
        sim.b()
            .ep
            .respond(now, tsx, req.make_response(status, Some("b1")))
            .unwrap();
    }
    sim.flush();
}

#[test]
fn bye_for_unknown_dialog_gets_481_and_ends_the_dialog() {
    let mut sim = Sim::new();
    let mut b_dialogs = Dialogs::new();
    // A believes in a dialog B never had (e.g. B restarted).
    let invite_sent = {
        let mut m = invite("ghost", "a1");
        m.prepend_header("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKold");
        m
    };
    let fake_ok = invite_sent
        .make_response(StatusCode::OK, Some("b-gone"))
        .with_header("Contact", "<sip:bob@10.0.0.2>");
    let mut dialog = Dialog::uac(&invite_sent, &fake_ok).unwrap();
    let bye = dialog.request(Method::Bye).unwrap();
    let now = sim.now;
    sim.a()
        .ep
        .send_request(now, bye, addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    serve(&mut sim, &mut b_dialogs);

    let (_, resp, _) = take_response(sim.a()).unwrap();
    assert_eq!(resp.status(), Some(StatusCode::CALL_DOES_NOT_EXIST));
    dialog.on_response(&resp);
    assert_eq!(dialog.state, DialogState::Ended);
}

#[test]
fn known_dialog_accepts_in_order_and_rejects_stale_cseq() {
    let mut sim = Sim::new();
    let mut b_dialogs = Dialogs::new();
    let now = sim.now;
    let client = sim
        .a()
        .ep
        .send_request(now, invite("c2", "a2"), addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    let (server, req) = take_request(sim.b()).unwrap();
    b_dialogs.insert(Dialog::uas(&req, "b1", "<sip:bob@10.0.0.2>").unwrap());
    let ok = req
        .make_response(StatusCode::OK, Some("b1"))
        .with_header("Contact", "<sip:bob@10.0.0.2>");
    sim.b().ep.respond(now, server, ok).unwrap();
    sim.flush();
    let (_, resp, _) = take_response(sim.a()).unwrap();
    let mut dialog = Dialog::uac(sim.a().ep.request(client).unwrap(), &resp).unwrap();
    sim.a().ep.ack_2xx(client, dialog.ack(1), addr(B)).unwrap();

    let info = dialog.request(Method::Info).unwrap();
    sim.a()
        .ep
        .send_request(now, info.clone(), addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    serve(&mut sim, &mut b_dialogs);
    assert_eq!(
        take_response(sim.a()).unwrap().1.status(),
        Some(StatusCode::OK)
    );

    // Replaying the same CSeq as a new transaction: out of order.
    sim.a()
        .ep
        .send_request(now, info, addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    serve(&mut sim, &mut b_dialogs);
    assert_eq!(
        take_response(sim.a()).unwrap().1.status(),
        Some(StatusCode::SERVER_INTERNAL_ERROR)
    );
}
