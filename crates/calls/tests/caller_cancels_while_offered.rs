//! The caller hangs up while an agent's phone rings: the phone stops ringing (CANCEL),
//! routing frees the agent at once (no missed offer), the record ends once, abandoned.

mod harness;

use std::time::Duration;

use harness::phone::{Policy, UaState};
use harness::{KNOWN_CALLER, SALES_NUMBER, World, WorldConfig};
use hotline_acd::AgentState;
use hotline_records::CallEventKind;

#[test]
fn caller_hangs_up_while_the_agent_is_offered() {
    let mut w = World::new(WorldConfig::default());
    w.phone("alice").policy = Policy::Ignore;
    w.not_ready("bob", "break").expect("bob not ready");
    let caller = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(2));
    let call = w.snapshot().calls[0].clone();
    assert_eq!(call.offered.as_deref(), Some("alice"));
    assert!(matches!(
        w.agent_state("alice"),
        Some(AgentState::Reserved { .. })
    ));
    let ring = w.live_call("alice").expect("ringing");

    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_millis(100));
    assert_eq!(
        w.ua_state("alice", ring),
        Some(UaState::Ended),
        "CANCEL reached the phone"
    );
    assert_eq!(w.agent_state("alice"), Some(AgentState::Ready));
    assert!(w.snapshot().calls.is_empty());
    let evs = &w.store.records[&call.id];
    match &evs.last().expect("events").kind {
        CallEventKind::Ended { abandoned, .. } => assert!(*abandoned, "{evs:?}"),
        other => panic!("last event {other:?}"),
    }
    w.check_invariants().expect("invariants");
    // The ring timeout passes: nothing happens any more.
    w.advance(Duration::from_secs(40));
    assert_eq!(w.agent_state("alice"), Some(AgentState::Ready));
    w.wind_down(Duration::from_secs(30)).expect("clean end");
    assert_eq!(w.store.ended(&call.id), 1);
}
