//! Non-INVITE transactions over UDP. Client: the request is retransmitted on timer E at T1,
//! 2*T1, ... capped at T2 (4 s), and timer F (64*T1) ends it with a local 408; after a final
//! response timer K (T4) absorbs late copies, then the transaction ends. Server: a final
//! response is re-sent for every retransmitted request until timer J (64*T1) ends it.

mod common;
use common::*;
use hotline_sip::{Event, Message, Method, StatusCode, Transport};
use std::time::Duration;

fn bye() -> Message<'static> {
    let mut m = Message::request(Method::Bye, "sip:bob@10.0.0.2");
    m.push_header("From", "<sip:alice@10.0.0.1>;tag=a1");
    m.push_header("To", "<sip:bob@10.0.0.2>;tag=b1");
    m.push_header("Call-ID", "nit-1");
    m.push_header("CSeq", "2 BYE");
    m
}

#[test]
fn timer_e_caps_at_t2_and_f_gives_408() {
    let mut sim = Sim::new();
    sim.drop = Box::new(|w| w.to == addr(B));
    let now = sim.now;
    let tsx = sim
        .a()
        .ep
        .send_request(now, bye(), addr(B), Transport::Udp)
        .unwrap();
    sim.drive_bounded(100);
    let times: Vec<f64> = sim
        .sent(A, |w| w.is_request("BYE"))
        .iter()
        .map(|w| w.at.as_secs_f64())
        .collect();
    assert_eq!(
        times,
        vec![0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    let (id, resp, local) = take_response(sim.a()).unwrap();
    assert_eq!(
        (id, resp.status(), local),
        (tsx, Some(StatusCode::REQUEST_TIMEOUT), true)
    );
    assert_eq!(sim.elapsed(), Duration::from_secs(32));
}

#[test]
fn server_resends_final_response_until_timer_j_and_client_waits_k() {
    let mut sim = Sim::new();
    // Lose the first 200 so the client retransmits the BYE once.
    let mut lost = false;
    sim.drop = Box::new(move |w| {
        if !lost && w.first_line().starts_with("SIP/2.0 200") {
            lost = true;
            return true;
        }
        false
    });
    let now = sim.now;
    let client = sim
        .a()
        .ep
        .send_request(now, bye(), addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
    let (server, req) = take_request(sim.b()).unwrap();
    sim.b()
        .ep
        .respond(now, server, req.make_response(StatusCode::OK, None))
        .unwrap();
    sim.run_until(secs(0.6));
    assert_eq!(sim.sent(A, |w| w.is_request("BYE")).len(), 2);
    assert_eq!(
        sim.sent(B, |w| w.is_response(200, "BYE")).len(),
        2,
        "the retransmitted BYE got the 200 again"
    );
    assert!(
        take_request(sim.b()).is_none(),
        "the application saw the BYE once"
    );
    let (id, resp, _) = take_response(sim.a()).unwrap();
    assert_eq!((id, resp.status()), (client, Some(StatusCode::OK)));

    // K = T4 (5 s) after the 200 at 0.5 s; J = 64*T1 (32 s) after the 200 at 0 s.
    sim.run_until(secs(5.4));
    assert!(sim.a().ep.state(client).is_some());
    sim.run_until(secs(5.6));
    assert!(
        sim.a().ep.state(client).is_none()
            && sim.a().events.contains(&Event::Terminated { tsx: client })
    );
    sim.run_until(secs(31.9));
    assert!(sim.b().ep.state(server).is_some());
    sim.run_until(secs(32.1));
    assert!(sim.b().ep.state(server).is_none());
}
