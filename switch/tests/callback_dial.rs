//! Callbacks through the real switch: a caller who would rather not wait asks to be called
//! back, and the switch calls them back when an agent is free.
//!
//! Ada Lovelace (+1 212 555 0100) calls the service number, walks the IVR into the sales
//! queue with RFC 4733 keys (no agent is ready), presses 1 for a callback, hears the
//! confirmation and is hung up on. When alice becomes ready, routing offers her the callback:
//! her phone rings with Ada's screen pop; she answers; routing asks for the dial and the switch
//! calls Ada's number through the trunk (the carrier, a demo phone at the trunk's address,
//! stands for Ada's phone and checks the trunk's caller ID). Alice and Ada hear each other; Ada
//! hangs up and alice wraps up. The callback has its own call record (outbound, answered by
//! alice), named after the request's original call.

mod phones_util;

use std::time::Duration;

use hotline_cti::{CallState, Command, Event};
use hotline_switch::demo::phone::{CallScript, PhoneEvent};
use phones_util::*;

#[test]
fn a_caller_asks_for_a_callback_and_alice_calls_back_through_the_trunk() {
    run(scenario());
}

async fn scenario() {
    let trunk_port = free_port();
    let lab = Lab::start(&format!(
        r#"
[[dialplan.routes]]
number = "+18005550100"
public = true
ivr = "main"

[[dialplan.routes]]
prefix = "+1212"
trunk = "pstn"

[[trunks]]
name = "pstn"
address = "127.0.0.1:{trunk_port}"
caller_id = "+18005550100"
"#
    ))
    .await;
    let mut ada_at_home = lab.peer_at(trunk_port, CALLER_HZ).await;
    let mut alice_phone = lab.phone("1001", "alice-phone", AGENT_HZ).await;
    let mut alice = lab.desk("alice").await;

    // Ada calls, goes to sales (1, then 2) and asks for a callback (1) while queued.
    let mut caller = lab.caller("+12125550100", CALLER_HZ).await;
    let mut digits = hotline_switch::demo::menu_digits(true);
    digits.push((Duration::from_secs(4), "1".into()));
    caller.phone.call(CallScript {
        number: "+18005550100".into(),
        digits,
        hang_up_after: None,
    });
    let ended = caller.ended().await;
    assert!(
        matches!(
            ended,
            PhoneEvent::Ended {
                by: hotline_switch::demo::phone::Party::Remote,
                ..
            }
        ),
        "the IVR confirms the callback and hangs up: {ended:?}"
    );

    // Alice becomes ready: the callback is offered to her with Ada's pop.
    alice.command(Command::Ready).await.expect("ready");
    let e = event_where(&mut alice, "callback pop", |e| {
        matches!(e, Event::CallOffered(_))
    })
    .await;
    let Event::CallOffered(pop) = e.event else {
        unreachable!()
    };
    assert_eq!(
        pop.customer.as_ref().map(|c| c.name.expose().as_str()),
        Some("Ada Lovelace")
    );
    let call = pop.call.clone();
    let original = call
        .as_str()
        .strip_suffix("-cb1")
        .expect("the first attempt of a request names the call it came from")
        .to_string();
    let first = lab.ended_record(&hotline_cti::CallId::new(original)).await;
    assert_eq!(first.ani, "+12125550100");
    assert_eq!(first.queue_id.as_deref(), Some("sales"));
    alice_phone.answered().await;
    // Then Ada's phone rings, showing the service number.
    let incoming = ada_at_home
        .wait("the callback", |e| matches!(e, PhoneEvent::Incoming { .. }))
        .await;
    let PhoneEvent::Incoming { from, .. } = incoming else {
        unreachable!()
    };
    assert_eq!(from, "+18005550100");
    ada_at_home.answered().await;
    call_state(&mut alice, &call, CallState::Connected).await;
    let heard = lab
        .listen(&[&alice_phone, &ada_at_home], "callback", 1.0)
        .await;
    assert_hears("alice", "callback", &heard[0], &[CALLER_HZ], &[]);
    assert_hears("ada", "callback", &heard[1], &[AGENT_HZ], &[]);

    ada_at_home.phone.hang_up();
    ada_at_home.ended().await;
    alice_phone.ended().await;
    event_where(&mut alice, "wrap-up after the callback", |e| {
        matches!(e, Event::WrapUpStarted { .. })
    })
    .await;
    let rec = lab.ended_record(&call).await;
    assert_eq!(rec.direction, "outbound");
    assert_eq!(rec.dnis, "+12125550100");
    assert_eq!(rec.agent_id.as_deref(), Some("alice"));
    assert!(rec.answered_at.is_some(), "{rec:?}");
}
