//! Callback: a caller in the IVR's sales queue asks to be called back (key 1) and the IVR
//! hangs up; when an agent becomes ready routing offers the request, the agent's phone rings
//! with the pop, the agent answers and the switch dials the customer through the trunk.

mod harness;

use std::time::Duration;

use harness::phone::UaState;
use harness::{KNOWN_CALLER, SERVICE_NUMBER, World, WorldConfig};
use hotline_acd::AgentState;

#[test]
fn caller_asks_for_a_callback_and_the_agent_calls_back() {
    let mut w = World::new(WorldConfig {
        ready: false,
        ..WorldConfig::default()
    });
    let caller = w.pstn_call(KNOWN_CALLER, SERVICE_NUMBER);
    // Welcome prompts, identification by number, then the main menu.
    w.advance(Duration::from_secs(5));
    let id = w.snapshot().calls[0].id.clone();
    let a = w.session_of("trunk", caller).expect("caller's session");
    w.press(a, "1"); // sales
    w.advance(Duration::from_secs(3));
    w.press(a, "2"); // talk to sales: the queue
    w.advance(Duration::from_secs(5));
    assert!(
        w.record_kinds(&id).contains(&"enqueued:sales".to_string()),
        "{:?}",
        w.record_kinds(&id)
    );
    w.press(a, "1"); // call me back
    w.advance(Duration::from_secs(10));
    assert_eq!(
        w.ua_state("trunk", caller),
        Some(UaState::Ended),
        "the IVR hung up"
    );
    assert!(w.snapshot().calls.is_empty());
    assert_eq!(w.store.ended(&id), 1);
    assert!(
        w.record_kinds(&id)
            .contains(&"note:callback_requested".to_string())
    );
    w.check_invariants().expect("invariants");

    // Alice becomes ready: her phone rings for the callback, she answers, the customer is
    // dialled through the trunk and answers after 3 s.
    w.ready("alice").expect("ready");
    w.advance(Duration::from_secs(3));
    let leg = w.live_call("alice").expect("alice's phone");
    assert_eq!(w.ua_state("alice", leg), Some(UaState::Confirmed));
    w.advance(Duration::from_secs(4));
    let out = w
        .phone("trunk")
        .calls
        .iter()
        .find(|c| !c.outgoing)
        .map(|c| (c.id, c.number.clone(), c.state))
        .expect("the switch dialled out");
    assert_eq!(out.1, KNOWN_CALLER);
    assert_eq!(out.2, UaState::Confirmed);
    let cb = w.call_of("alice").expect("alice's callback call");
    assert!(cb.id.starts_with(&format!("{id}-cb")), "{cb:?}");
    assert!(cb.connected);
    assert!(matches!(
        w.agent_state("alice"),
        Some(AgentState::OnCall { .. })
    ));
    w.check_invariants().expect("invariants");
    w.with_phone("trunk", |p, now| p.hangup(now, out.0));
    w.advance(Duration::from_secs(1));
    assert_eq!(w.ua_state("alice", leg), Some(UaState::Ended));
    w.wind_down(Duration::from_secs(120)).expect("clean end");
    assert_eq!(w.store.ended(&cb.id), 1);
    assert_eq!(w.store.records.len(), 2, "{:?}", w.store.records.keys());
}
