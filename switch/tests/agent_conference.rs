//! Issue 7's agent commands through the real switch, checked by ear: mute, consultation and a
//! three-way conference that outlives the agent.
//!
//! A caller (600 Hz) reaches alice (her phone 1000 Hz) through the sales queue.
//!
//! 1. Mute: the caller stops hearing alice while alice still hears the caller; unmute brings
//!    her back.
//! 2. Consult bob (his phone 1800 Hz): bob's phone rings and answers; alice and bob talk, the
//!    caller hears neither (hold music); alice's desktop shows the consultation leg.
//! 3. Conference: everybody hears everybody.
//! 4. Alice hangs up from the desktop: she leaves, the caller and bob stay connected and keep
//!    hearing each other; alice goes to wrap-up. The caller hangs up at the end and bob's
//!    phone is released; the call record counts the transfer.

mod phones_util;

use hotline_cti::{AgentId, CallState, Command, Event, TransferTarget};
use phones_util::*;

#[test]
fn mute_consult_conference_and_the_agent_leaves() {
    run(scenario());
}

async fn scenario() {
    let lab = Lab::start("").await;
    let mut alice_phone = lab.phone("1001", "alice-phone", AGENT_HZ).await;
    let mut bob_phone = lab.phone("1002", "bob-phone", THIRD_HZ).await;
    let mut alice = lab.desk("alice").await;
    alice.command(Command::Ready).await.expect("ready");

    let mut caller = lab.caller("+12125550100", CALLER_HZ).await;
    lab.call_sales(&caller);
    alice_phone.answered().await;
    let call = connected_call(&mut alice).await;

    // 1. Mute and unmute.
    request(&mut alice, Command::Mute { call: call.clone() })
        .await
        .expect("mute");
    event_where(
        &mut alice,
        "muted flag",
        |e| matches!(e, Event::CallChanged(i) if i.call == call && i.muted),
    )
    .await;
    let heard = lab.listen(&[&caller, &alice_phone], "muted", 1.0).await;
    assert_hears("caller", "muted", &heard[0], &[], &[AGENT_HZ]);
    assert_hears("alice", "muted", &heard[1], &[CALLER_HZ], &[]);
    request(&mut alice, Command::Unmute { call: call.clone() })
        .await
        .expect("unmute");
    let heard = lab.listen(&[&caller, &alice_phone], "unmuted", 1.0).await;
    assert_hears("caller", "unmuted", &heard[0], &[AGENT_HZ], &[]);
    assert_hears("alice", "unmuted", &heard[1], &[CALLER_HZ], &[]);

    // 2. Consult bob.
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
    let consult = consult_state(&mut alice, &call, CallState::Connected).await;
    assert_eq!(consult.direction, hotline_cti::CallDirection::Consult);
    let parties = [&caller, &alice_phone, &bob_phone];
    let heard = lab.listen(&parties, "consult", 1.0).await;
    assert_hears("caller", "consult", &heard[0], &[], &[AGENT_HZ, THIRD_HZ]);
    assert_hears("alice", "consult", &heard[1], &[THIRD_HZ], &[CALLER_HZ]);
    assert_hears("bob", "consult", &heard[2], &[AGENT_HZ], &[CALLER_HZ]);

    // A blind transfer or a hold is refused while consulting, with a reason.
    let why = request(&mut alice, Command::Hold { call: call.clone() })
        .await
        .expect_err("no hold during a consultation");
    assert!(why.contains("consultation"), "{why}");

    // 3. Conference.
    request(&mut alice, Command::Conference { call: call.clone() })
        .await
        .expect("conference");
    event_where(
        &mut alice,
        "conference flag",
        |e| matches!(e, Event::CallChanged(i) if i.call == call && i.conference),
    )
    .await;
    let heard = lab.listen(&parties, "conference", 1.0).await;
    assert_hears(
        "caller",
        "conference",
        &heard[0],
        &[AGENT_HZ, THIRD_HZ],
        &[],
    );
    assert_hears(
        "alice",
        "conference",
        &heard[1],
        &[CALLER_HZ, THIRD_HZ],
        &[],
    );
    assert_hears("bob", "conference", &heard[2], &[CALLER_HZ, AGENT_HZ], &[]);

    // 4. Alice leaves; the caller and bob stay.
    request(&mut alice, Command::Hangup { call: call.clone() })
        .await
        .expect("alice leaves the conference");
    alice_phone.ended().await;
    event_where(
        &mut alice,
        "wrap-up",
        |e| matches!(e, Event::WrapUpStarted { call: c, .. } if *c == call),
    )
    .await;
    let heard = lab.listen(&[&caller, &bob_phone], "after", 1.0).await;
    assert_hears(
        "caller",
        "after alice left",
        &heard[0],
        &[THIRD_HZ],
        &[AGENT_HZ],
    );
    assert_hears(
        "bob",
        "after alice left",
        &heard[1],
        &[CALLER_HZ],
        &[AGENT_HZ],
    );

    caller.phone.hang_up();
    caller.ended().await;
    bob_phone.ended().await;

    let rec = lab.ended_record(&call).await;
    assert_eq!(rec.transfers, 1, "{rec:?}");
    assert!(!rec.abandoned);
}
