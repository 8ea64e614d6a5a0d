//! Issue 7's consultative transfer to a queue through the real switch.
//!
//! A caller (600 Hz) reaches alice (1000 Hz) through the sales queue. Alice consults the
//! technical support queue: routing picks bob (the one ready agent with the skill), his desktop
//! gets the caller's screen pop (the customer's record) while his phone (1400 Hz) rings; he
//! answers and talks to alice while the caller waits with hold music. Alice completes the
//! transfer: her phone is released and she wraps up, the caller talks to bob, and when bob
//! hangs up routing puts him in wrap-up for the caller's call.

mod phones_util;

use hotline_cti::{CallState, Command, Event, QueueId, Reply, TransferTarget};
use phones_util::*;

const BOB_HZ: f32 = SUPERVISOR_HZ;

#[test]
fn consult_the_support_queue_then_complete_the_transfer() {
    run(scenario());
}

async fn scenario() {
    let lab = Lab::start("").await;
    let mut alice_phone = lab.phone("1001", "alice-phone", AGENT_HZ).await;
    let mut bob_phone = lab.phone("1002", "bob-phone", BOB_HZ).await;
    let mut alice = lab.desk("alice").await;
    let mut bob = lab.desk("bob").await;
    alice.command(Command::Ready).await.expect("ready");

    // Ada Lovelace, a known customer, calls sales.
    let mut caller = lab.caller("+12125550100", CALLER_HZ).await;
    lab.call_sales(&caller);
    alice_phone.answered().await;
    let call = connected_call(&mut alice).await;
    bob.command(Command::Ready).await.expect("bob ready");

    let reply = alice
        .request(Command::Consult {
            call: call.clone(),
            to: TransferTarget::Queue {
                queue: QueueId::new("support"),
            },
        })
        .await
        .expect("cti")
        .expect("consult the support queue");
    let Reply::Dialing { call: consult } = reply else {
        panic!("consult answers with the consultation's id: {reply:?}")
    };
    assert_ne!(consult, call);

    // Bob gets the caller's pop, for the caller's call, before his phone answers.
    let e = event_where(&mut bob, "bob's screen pop", |e| {
        matches!(e, Event::CallOffered(_))
    })
    .await;
    let Event::CallOffered(pop) = e.event else {
        unreachable!()
    };
    assert_eq!(pop.call, call);
    assert_eq!(pop.queue.as_str(), "support");
    let customer = pop.customer.as_ref().expect("the caller's record");
    assert_eq!(customer.name.expose(), "Ada Lovelace");
    bob_phone.answered().await;
    call_state(&mut bob, &call, CallState::Connected).await;
    consult_state(&mut alice, &call, CallState::Connected).await;
    let parties = [&caller, &alice_phone, &bob_phone];
    let heard = lab.listen(&parties, "consult", 1.0).await;
    assert_hears("caller", "consult", &heard[0], &[], &[AGENT_HZ, BOB_HZ]);
    assert_hears("alice", "consult", &heard[1], &[BOB_HZ], &[CALLER_HZ]);
    assert_hears("bob", "consult", &heard[2], &[AGENT_HZ], &[CALLER_HZ]);

    request(&mut alice, Command::CompleteTransfer { call: call.clone() })
        .await
        .expect("complete");
    alice_phone.ended().await;
    event_where(
        &mut alice,
        "alice's wrap-up",
        |e| matches!(e, Event::WrapUpStarted { call: c, .. } if *c == call),
    )
    .await;
    let heard = lab.listen(&[&caller, &bob_phone], "transferred", 1.0).await;
    assert_hears("caller", "transferred", &heard[0], &[BOB_HZ], &[AGENT_HZ]);
    assert_hears("bob", "transferred", &heard[1], &[CALLER_HZ], &[AGENT_HZ]);

    request(&mut bob, Command::Hangup { call: call.clone() })
        .await
        .expect("bob hangs up");
    caller.ended().await;
    bob_phone.ended().await;
    event_where(
        &mut bob,
        "bob's wrap-up for the caller's call",
        |e| matches!(e, Event::WrapUpStarted { call: c, .. } if *c == call),
    )
    .await;
}
