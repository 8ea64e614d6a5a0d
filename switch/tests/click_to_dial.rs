//! Issue 7's click-to-dial through the real switch: an agent calls a customer from the desktop.
//!
//! Alice asks for an outbound call to a German number that the dial plan sends to the trunk
//! "pstn". The switch first rings alice's own phone (it answers), then calls the number through
//! the trunk, presenting the trunk's configured caller ID (the carrier, a demo phone at the
//! trunk's address, checks the From). The desktop sees dialing, then connected; alice and the
//! customer hear each other; alice hangs up from the desktop and the call record says outbound,
//! from alice's extension, answered by alice, with both legs' media quality. Routing keeps alice on call meanwhile and puts
//! her in wrap-up for that call after it. A number with no route is refused with a reason and
//! nothing rings.

mod phones_util;

use hotline_cti::{CallState, Command, Event};
use hotline_switch::demo::phone::PhoneEvent;
use phones_util::*;

#[test]
fn click_to_dial_rings_the_agent_then_the_customer_with_the_trunk_caller_id() {
    run(scenario());
}

async fn scenario() {
    let trunk_port = free_port();
    let lab = Lab::start(&format!(
        r#"
[[dialplan.routes]]
prefix = "+49"
trunk = "pstn"

[[trunks]]
name = "pstn"
address = "127.0.0.1:{trunk_port}"
caller_id = "+4930901820"
"#
    ))
    .await;
    let mut carrier = lab.peer_at(trunk_port, THIRD_HZ).await;
    let mut alice_phone = lab.phone("1001", "alice-phone", AGENT_HZ).await;
    let mut alice = lab.desk("alice").await;
    alice.command(Command::Ready).await.expect("ready");

    let why = request(
        &mut alice,
        Command::OutboundCall {
            number: "+99912345".to_string().into(),
            customer: None,
        },
    )
    .await
    .expect_err("no route");
    assert!(why.contains("route"), "{why}");

    request(
        &mut alice,
        Command::OutboundCall {
            number: "+4930555012345".to_string().into(),
            customer: None,
        },
    )
    .await
    .expect("dial");
    let e = event_where(
        &mut alice,
        "dialing",
        |e| matches!(e, Event::CallChanged(i) if i.state == CallState::Dialing),
    )
    .await;
    let Event::CallChanged(info) = e.event else {
        unreachable!()
    };
    let call = info.call;
    assert_eq!(info.peer.expose(), "+4930555012345");
    // First alice's phone, then the customer.
    alice_phone.answered().await;
    let incoming = carrier
        .wait("incoming", |e| matches!(e, PhoneEvent::Incoming { .. }))
        .await;
    let PhoneEvent::Incoming { from, .. } = incoming else {
        unreachable!()
    };
    assert_eq!(from, "+4930901820", "the trunk's caller ID is presented");
    carrier.answered().await;
    // Routing has alice on call (nothing would be offered to her now).
    event_where(&mut alice, "alice on call in routing", |e| {
        matches!(e, Event::AgentStateChanged(s)
            if s.agent.as_str() == "alice" && s.state == hotline_cti::AgentState::OnCall)
    })
    .await;
    call_state(&mut alice, &call, CallState::Connected).await;
    let heard = lab.listen(&[&alice_phone, &carrier], "talk", 1.0).await;
    assert_hears("alice", "talking", &heard[0], &[THIRD_HZ], &[]);
    assert_hears("customer", "talking", &heard[1], &[AGENT_HZ], &[]);

    request(&mut alice, Command::Hangup { call: call.clone() })
        .await
        .expect("hang up");
    carrier.ended().await;
    alice_phone.ended().await;
    event_where(
        &mut alice,
        "wrap-up for the outbound call",
        |e| matches!(e, Event::WrapUpStarted { call: c, .. } if *c == call),
    )
    .await;
    let rec = lab.ended_record(&call).await;
    assert_eq!(rec.direction, "outbound");
    assert_eq!(rec.ani, "1001");
    assert_eq!(rec.dnis, "+4930555012345");
    assert_eq!(rec.agent_id.as_deref(), Some("alice"));
    assert!(rec.answered_at.is_some());
    // Both phones talked through the anchored media: the customer's leg (A, "caller") and
    // alice's have their figures in the `quality` column.
    let legs: Vec<(&str, Option<&str>)> = rec
        .quality
        .iter()
        .map(|q| (q.leg.as_str(), q.agent_id.as_deref()))
        .collect();
    assert!(legs.contains(&("caller", None)), "{:?}", rec.quality);
    assert!(
        legs.contains(&("agent", Some("alice"))),
        "{:?}",
        rec.quality
    );
    assert!(
        rec.quality
            .iter()
            .all(|q| q.packets > 0 && (1.0..=4.5).contains(&q.mos)),
        "{:?}",
        rec.quality
    );
}
