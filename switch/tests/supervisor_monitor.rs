//! Issue 8's acceptance: monitor, whisper and barge through the real switch, checked by ear.
//!
//! Three parties each send a distinct tone through the switch (the demo phones: the caller
//! 600 Hz, alice's phone 1000 Hz, sue's phone 1400 Hz). A caller dials the sales queue; alice
//! (ready) answers on her phone; sue, logged in as supervisor, asks to monitor the call: the
//! switch rings sue's phone and joins it through the media mixer. In each mode the test
//! records what every phone hears and finds, with Goertzel, which tones are in it:
//!
//! * monitor: sue hears both, neither the caller nor alice hears sue;
//! * whisper: alice hears sue, the caller does not;
//! * barge: both hear sue;
//! * take-over: alice's phone is hung up, the caller talks to sue, alice goes to wrap-up.
//!
//! The modes are switched on the live call (one mixer, only its matrix changes). Bob, an
//! agent, asking to monitor is refused, and both the refusal and sue's actions are in the
//! audit log with the call and the mode. Calls are recorded (`record_calls`): while sue is on
//! the call the recording has a third channel with her voice alone.

mod phones_util;

use hotline_cti::{CallId, Command, Event, MonitorMode};
use phones_util::*;

#[test]
fn monitor_whisper_barge_and_take_over_by_ear() {
    run(scenario());
}

async fn monitor_changed(desk: &mut hotline_switch::demo::desk::Desk, want: Option<MonitorMode>) {
    event_where(
        desk,
        "monitor_changed",
        |e| matches!(e, Event::MonitorChanged { mode, .. } if *mode == want),
    )
    .await;
}

async fn scenario() {
    let lab = Lab::start_with("record_calls = true", "").await;
    let mut alice_phone = lab.phone("1001", "alice-phone", AGENT_HZ).await;
    let mut sue_phone = lab.phone("1901", "sue-phone", SUPERVISOR_HZ).await;
    let mut alice = lab.desk("alice").await;
    alice.command(Command::Ready).await.expect("ready");
    let mut sue = lab.desk("sue").await;
    let mut bob = lab.desk("bob").await;

    let mut caller = lab.caller("+12125550100", CALLER_HZ).await;
    caller.phone.call(hotline_switch::demo::phone::CallScript {
        number: SALES.into(),
        digits: vec![],
        hang_up_after: None,
    });
    alice_phone.answered().await;
    let call: CallId = connected_call(&mut alice).await;

    // An agent may not monitor.
    let refused = request(
        &mut bob,
        Command::Monitor {
            call: call.clone(),
            mode: MonitorMode::Listen,
        },
    )
    .await;
    assert!(refused.is_err(), "bob is an agent: {refused:?}");

    // Before anyone joins: caller and alice hear each other (the plain relay).
    let heard = lab.listen(&[&caller, &alice_phone], "before", 1.0).await;
    assert_hears("caller", "before", &heard[0], &[AGENT_HZ], &[SUPERVISOR_HZ]);
    assert_hears("alice", "before", &heard[1], &[CALLER_HZ], &[SUPERVISOR_HZ]);

    // Monitor: sue's phone rings and answers, she hears both, nobody hears her.
    request(
        &mut sue,
        Command::Monitor {
            call: call.clone(),
            mode: MonitorMode::Listen,
        },
    )
    .await
    .expect("sue may monitor");
    sue_phone.answered().await;
    monitor_changed(&mut sue, Some(MonitorMode::Listen)).await;
    let parties = [&caller, &alice_phone, &sue_phone];
    let heard = lab.listen(&parties, "monitor", 1.0).await;
    assert_hears(
        "caller",
        "monitor",
        &heard[0],
        &[AGENT_HZ],
        &[SUPERVISOR_HZ],
    );
    assert_hears(
        "alice",
        "monitor",
        &heard[1],
        &[CALLER_HZ],
        &[SUPERVISOR_HZ],
    );
    assert_hears("sue", "monitor", &heard[2], &[CALLER_HZ, AGENT_HZ], &[]);

    // Whisper on the live call: alice hears sue, the caller does not.
    request(
        &mut sue,
        Command::Monitor {
            call: call.clone(),
            mode: MonitorMode::Whisper,
        },
    )
    .await
    .expect("switch to whisper");
    monitor_changed(&mut sue, Some(MonitorMode::Whisper)).await;
    let heard = lab.listen(&parties, "whisper", 1.0).await;
    assert_hears(
        "caller",
        "whisper",
        &heard[0],
        &[AGENT_HZ],
        &[SUPERVISOR_HZ],
    );
    assert_hears(
        "alice",
        "whisper",
        &heard[1],
        &[CALLER_HZ, SUPERVISOR_HZ],
        &[],
    );
    assert_hears("sue", "whisper", &heard[2], &[CALLER_HZ, AGENT_HZ], &[]);

    // Barge: everybody hears everybody.
    request(
        &mut sue,
        Command::Monitor {
            call: call.clone(),
            mode: MonitorMode::Barge,
        },
    )
    .await
    .expect("switch to barge");
    monitor_changed(&mut sue, Some(MonitorMode::Barge)).await;
    let heard = lab.listen(&parties, "barge", 1.0).await;
    assert_hears(
        "caller",
        "barge",
        &heard[0],
        &[AGENT_HZ, SUPERVISOR_HZ],
        &[],
    );
    assert_hears(
        "alice",
        "barge",
        &heard[1],
        &[CALLER_HZ, SUPERVISOR_HZ],
        &[],
    );
    assert_hears("sue", "barge", &heard[2], &[CALLER_HZ, AGENT_HZ], &[]);

    // Take-over: alice's phone is hung up, the caller now talks to sue alone.
    request(&mut sue, Command::TakeOver { call: call.clone() })
        .await
        .expect("take over");
    alice_phone.ended().await;
    event_where(
        &mut alice,
        "wrap-up after take-over",
        |e| matches!(e, Event::WrapUpStarted { call: c, .. } if *c == call),
    )
    .await;
    let heard = lab.listen(&[&caller, &sue_phone], "taken", 1.0).await;
    assert_hears(
        "caller",
        "take-over",
        &heard[0],
        &[SUPERVISOR_HZ],
        &[AGENT_HZ],
    );
    assert_hears("sue", "take-over", &heard[1], &[CALLER_HZ], &[AGENT_HZ]);

    // Sue hangs up from her desktop: the caller's call ends.
    request(&mut sue, Command::Hangup { call: call.clone() })
        .await
        .expect("sue hangs up the call she took");
    caller.ended().await;

    // The recordings: caller and alice, then caller, alice and sue on three channels (sue's
    // voice on her own track), then caller and sue after the take-over.
    let rec = lab.dir.path().join("recordings");
    let first = wav_channels(&rec.join(format!("{}.wav", call.as_str()))).await;
    assert_eq!(first.len(), 2, "caller and agent");
    assert_hears(
        "caller channel",
        "recording 1",
        &first[0],
        &[CALLER_HZ],
        &[AGENT_HZ],
    );
    assert_hears(
        "agent channel",
        "recording 1",
        &first[1],
        &[AGENT_HZ],
        &[CALLER_HZ],
    );
    let second = wav_channels(&rec.join(format!("{}-2.wav", call.as_str()))).await;
    assert_eq!(second.len(), 3, "caller, agent and supervisor");
    assert_hears(
        "caller channel",
        "recording 2",
        &second[0],
        &[CALLER_HZ],
        &[SUPERVISOR_HZ],
    );
    assert_hears(
        "agent channel",
        "recording 2",
        &second[1],
        &[AGENT_HZ],
        &[SUPERVISOR_HZ],
    );
    assert_hears(
        "supervisor channel",
        "recording 2",
        &second[2],
        &[SUPERVISOR_HZ],
        &[CALLER_HZ, AGENT_HZ],
    );
    let third = wav_channels(&rec.join(format!("{}-3.wav", call.as_str()))).await;
    assert_eq!(third.len(), 2, "caller and sue after the take-over");
    assert_hears(
        "sue's channel",
        "recording 3",
        &third[1],
        &[SUPERVISOR_HZ],
        &[AGENT_HZ],
    );

    // The audit log: bob's refusal, sue's three modes and the take-over, with the call.
    let audit = lab.sw.store.audit_entries(0, 100).await.expect("audit");
    let rows: Vec<(String, String, bool, Option<String>)> = audit
        .iter()
        .map(|a| {
            (
                a.actor.clone(),
                a.action.clone(),
                a.allowed,
                a.detail
                    .get("mode")
                    .and_then(|m| m.as_str())
                    .map(str::to_string),
            )
        })
        .collect();
    for want in [
        ("bob", "monitor", false, Some("listen")),
        ("sue", "monitor", true, Some("listen")),
        ("sue", "monitor", true, Some("whisper")),
        ("sue", "monitor", true, Some("barge")),
        ("sue", "take_over", true, None),
    ] {
        assert!(
            rows.iter()
                .any(|r| (r.0.as_str(), r.1.as_str(), r.2, r.3.as_deref()) == want),
            "audit row {want:?} missing in {rows:?}"
        );
    }
    assert!(
        audit
            .iter()
            .filter(|a| a.actor == "sue")
            .all(|a| a.call_id.as_deref() == Some(call.as_str())),
        "every audit row of sue names the call"
    );
}
