//! Issue 7's consultative transfer through the real switch, checked by ear and on the desktops.
//!
//! A caller (600 Hz) reaches alice (1000 Hz) through the sales queue. Alice consults the front
//! desk (extension 1950, 1800 Hz) and cancels: the desk's phone is released and alice talks to
//! the caller again. Alice then consults bob (an agent; his phone 1400 Hz) and hangs up her
//! phone, which completes the transfer as desk phones do it (attended transfer by hanging
//! up): she goes to wrap-up, the caller talks to bob, and
//! bob's desktop shows the call connected, so he can hang it up himself. Routing keeps bob on
//! call from the moment he answers the consultation and puts him in wrap-up for the caller's
//! call when he hangs up.

mod phones_util;

use hotline_cti::{AgentId, CallState, Command, Event, TransferTarget};
use phones_util::*;

const BOB_HZ: f32 = SUPERVISOR_HZ;

#[test]
fn consult_cancel_then_consult_and_complete_the_transfer() {
    run(scenario());
}

async fn scenario() {
    let lab = Lab::start("").await;
    let mut alice_phone = lab.phone("1001", "alice-phone", AGENT_HZ).await;
    let mut bob_phone = lab.phone("1002", "bob-phone", BOB_HZ).await;
    let mut desk_phone = lab.phone("1950", "desk-phone", THIRD_HZ).await;
    let mut alice = lab.desk("alice").await;
    let mut bob = lab.desk("bob").await;
    alice.command(Command::Ready).await.expect("ready");

    let mut caller = lab.caller("+12125550100", CALLER_HZ).await;
    lab.call_sales(&caller);
    alice_phone.answered().await;
    let call = connected_call(&mut alice).await;
    bob.command(Command::Ready).await.expect("bob ready");

    // Complete is refused without a consultation.
    let why = request(&mut alice, Command::CompleteTransfer { call: call.clone() })
        .await
        .expect_err("nothing to complete");
    assert!(why.contains("answered"), "{why}");

    // Consult the front desk, then cancel.
    let front_desk = TransferTarget::External {
        number: "1950".to_string().into(),
    };
    request(
        &mut alice,
        Command::Consult {
            call: call.clone(),
            to: front_desk,
        },
    )
    .await
    .expect("consult the front desk");
    desk_phone.answered().await;
    consult_state(&mut alice, &call, CallState::Connected).await;
    let heard = lab.listen(&[&alice_phone, &desk_phone], "desk", 1.0).await;
    assert_hears(
        "alice",
        "consulting the desk",
        &heard[0],
        &[THIRD_HZ],
        &[CALLER_HZ],
    );
    assert_hears(
        "desk",
        "consulting the desk",
        &heard[1],
        &[AGENT_HZ],
        &[CALLER_HZ],
    );
    request(&mut alice, Command::CancelConsult { call: call.clone() })
        .await
        .expect("cancel");
    desk_phone.ended().await;
    consult_state(&mut alice, &call, CallState::Ended).await;
    let heard = lab.listen(&[&caller, &alice_phone], "back", 1.0).await;
    assert_hears("caller", "back", &heard[0], &[AGENT_HZ], &[THIRD_HZ]);
    assert_hears("alice", "back", &heard[1], &[CALLER_HZ], &[THIRD_HZ]);

    // Consult bob and complete the transfer.
    request(
        &mut alice,
        Command::Consult {
            call: call.clone(),
            to: TransferTarget::Agent {
                agent: AgentId::new("bob"),
            },
        },
    )
    .await
    .expect("consult bob");
    bob_phone.answered().await;
    consult_state(&mut alice, &call, CallState::Connected).await;
    alice_phone.phone.hang_up();
    alice_phone.ended().await;
    event_where(
        &mut alice,
        "wrap-up",
        |e| matches!(e, Event::WrapUpStarted { call: c, .. } if *c == call),
    )
    .await;
    call_state(&mut bob, &call, CallState::Connected).await;
    let heard = lab.listen(&[&caller, &bob_phone], "transferred", 1.0).await;
    assert_hears("caller", "transferred", &heard[0], &[BOB_HZ], &[AGENT_HZ]);
    assert_hears("bob", "transferred", &heard[1], &[CALLER_HZ], &[AGENT_HZ]);

    // Bob hangs up the call he now owns.
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
    let rec = lab.ended_record(&call).await;
    assert_eq!(rec.transfers, 1, "{rec:?}");
}
