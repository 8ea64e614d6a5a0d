//! Issue 12, finding 7: a caller's number can be forged, so it must not make the switch dial a
//! premium line on the center's bill.
//!
//! A caller presents +1 900 555 0100 (a premium-rate number, which the trunk would reach)
//! as their From, walks the IVR into the sales queue with RFC 4733 keys and presses the
//! callback digit. The IVR offered no callback to this number (`[dialplan.callbacks]`: the
//! node's own country, never premium ranges), so the key does nothing: the caller stays in
//! the queue. When alice becomes ready she is offered the caller's live call (not a callback
//! request), and nothing ever reaches the trunk.

mod phones_util;

use std::time::Duration;

use hotline_cti::{Command, Event};
use hotline_switch::demo::phone::{CallScript, PhoneEvent};
use phones_util::*;

#[test]
fn a_forged_premium_caller_number_gets_no_callback_and_the_trunk_stays_silent() {
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
prefix = "+"
trunk = "pstn"

[[trunks]]
name = "pstn"
address = "127.0.0.1:{trunk_port}"
caller_id = "+18005550100"
"#
    ))
    .await;
    let mut premium_line = lab.peer_at(trunk_port, CALLER_HZ).await;
    let mut alice_phone = lab.phone("1001", "alice-phone", AGENT_HZ).await;
    let mut alice = lab.desk("alice").await;

    // Sales (1, then 2), then the callback digit (1) while queued, as the callback test does.
    let mut caller = lab.caller("+19005550100", CALLER_HZ).await;
    let mut digits = hotline_switch::demo::menu_digits(true);
    digits.push((Duration::from_secs(4), "1".into()));
    caller.phone.call(CallScript {
        number: "+18005550100".into(),
        digits,
        hang_up_after: None,
    });

    // Well after the key: alice becomes ready and is offered the caller's own, live call.
    tokio::time::sleep(Duration::from_secs(22)).await;
    alice.command(Command::Ready).await.expect("ready");
    let e = event_where(&mut alice, "the waiting caller's pop", |e| {
        matches!(e, Event::CallOffered(_))
    })
    .await;
    let Event::CallOffered(pop) = e.event else {
        unreachable!()
    };
    assert!(
        !pop.call.as_str().ends_with("-cb1"),
        "the caller is still waiting, no callback was requested: {:?}",
        pop.call
    );
    alice_phone.answered().await;
    call_state(&mut alice, &pop.call, hotline_cti::CallState::Connected).await;
    caller.phone.hang_up();
    let ended = caller.ended().await;
    assert!(
        matches!(
            ended,
            PhoneEvent::Ended {
                by: hotline_switch::demo::phone::Party::Local,
                ..
            }
        ),
        "the caller talked to alice and hung up, the IVR did not end the call: {ended:?}"
    );
    alice_phone.ended().await;
    let rec = lab.ended_record(&pop.call).await;
    assert_eq!(rec.ani, "+19005550100");
    assert_eq!(rec.agent_id.as_deref(), Some("alice"), "{rec:?}");
    // Nothing reaches the trunk (bounded wait: the dial would follow alice's answer at once).
    let rang = tokio::time::timeout(
        Duration::from_secs(2),
        premium_line.wait("any call to the premium line", |e| {
            matches!(e, PhoneEvent::Incoming { .. })
        }),
    )
    .await;
    assert!(
        rang.is_err(),
        "the switch called the premium line: {rang:?}"
    );
}
