//! Parallel forking in simulated time: an extension registered from two phones rings both;
//! the first to answer takes the call and the other gets CANCEL; a phone that refuses leaves
//! the other ringing; a decline everywhere (603) stops both.

mod harness;

use std::time::Duration;

use harness::phone::{Policy, UaState};
use harness::{KNOWN_CALLER, SALES_NUMBER, World, WorldConfig};

fn world() -> World {
    let mut w = World::new(WorldConfig::default());
    w.not_ready("bob", "break").expect("bob not ready");
    w.add_device("alice", "alice-soft");
    w
}

#[test]
fn both_phones_ring_and_the_first_to_answer_takes_the_call() {
    let mut w = world();
    w.phone("alice").policy = Policy::Answer(Duration::from_secs(5));
    w.phone("alice-soft").policy = Policy::Answer(Duration::from_secs(2));
    let caller = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_millis(800));
    let desk = w.live_call("alice").expect("the desk phone rings");
    let soft = w.live_call("alice-soft").expect("the softphone rings");
    assert_eq!(w.ua_state("alice", desk), Some(UaState::Ringing));
    assert_eq!(w.ua_state("alice-soft", soft), Some(UaState::Ringing));
    w.advance(Duration::from_secs(3));
    assert_eq!(w.ua_state("alice-soft", soft), Some(UaState::Confirmed));
    assert_eq!(w.ua_state("alice", desk), Some(UaState::Ended), "CANCEL");
    let c = w.call_of("alice").expect("alice talks");
    assert!(c.connected);
    let (a, b) = w.sessions(caller, "alice-soft");
    assert_eq!(
        w.bridged_with(a),
        Some(b),
        "the caller talks to the softphone"
    );
    w.check_invariants().expect("invariants");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&c.id), 1);
}

#[test]
fn a_phone_that_refuses_leaves_the_other_ringing() {
    let mut w = world();
    // The newest registration (the softphone) is busy; the desk phone answers.
    w.phone("alice-soft").policy = Policy::Reject(486);
    w.phone("alice").policy = Policy::Answer(Duration::from_secs(3));
    let caller = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(5));
    let c = w.call_of("alice").expect("alice talks on the desk phone");
    assert!(c.connected);
    let (a, b) = w.sessions(caller, "alice");
    assert_eq!(w.bridged_with(a), Some(b));
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}

#[test]
fn a_decline_everywhere_stops_both_and_counts_as_a_rejection() {
    let mut w = world();
    w.phone("alice").policy = Policy::Ignore;
    w.phone("alice-soft").policy = Policy::Reject(603);
    let caller = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(2));
    let desk_calls: Vec<_> = w.phone("alice").calls.iter().map(|c| c.state).collect();
    assert!(
        desk_calls.iter().all(|s| *s == UaState::Ended),
        "the desk phone stopped ringing: {desk_calls:?}"
    );
    assert!(w.call_of("alice").is_none());
    assert_eq!(
        w.agent_state("alice"),
        Some(hotline_acd::AgentState::NotReady {
            reason: "rejected".into()
        })
    );
    w.check_invariants().expect("invariants");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}
