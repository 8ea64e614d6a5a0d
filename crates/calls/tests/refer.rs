//! Transfers from the phone's own keys (REFER), in simulated time: blind to an extension,
//! attended with Replaces to a call the agent's phone placed, and the refusals (REFER from the
//! caller's side, to a number without a route).

mod harness;

use std::time::Duration;

use harness::phone::UaState;
use harness::{KNOWN_CALLER, World, WorldConfig};
use hotline_acd::AgentState;

#[test]
fn blind_transfer_by_refer() {
    let mut w = World::new(WorldConfig::default());
    let (caller, call) = w.connected_call("alice", KNOWN_CALLER);
    let agent_leg = w.live_call("alice").expect("alice's leg");
    assert!(w.with_phone("alice", |p, now| p.refer(now, agent_leg, "2001", None)));
    w.advance(Duration::from_millis(300));
    let refers = w.phone("alice").refers.clone();
    assert_eq!(refers.len(), 1);
    assert_eq!(refers[0].1, Some(202), "{refers:?}");
    assert_eq!(
        refers[0].2,
        vec!["SIP/2.0 200 OK".to_string()],
        "{refers:?}"
    );
    assert_eq!(w.ua_state("alice", agent_leg), Some(UaState::Ended), "BYE");
    assert!(matches!(
        w.agent_state("alice"),
        Some(AgentState::WrapUp { .. })
    ));
    // 2001 rings and answers (2 s): the caller talks to it on the same call.
    w.advance(Duration::from_secs(3));
    let desk = w.live_call("2001").expect("2001 rings");
    assert_eq!(w.ua_state("2001", desk), Some(UaState::Confirmed));
    assert_eq!(w.ua_state("trunk", caller), Some(UaState::Confirmed));
    let (a, d) = w.sessions(caller, "2001");
    assert_eq!(w.bridged_with(a), Some(d), "caller and 2001 are bridged");
    let kinds = w.record_kinds(&call);
    assert!(
        kinds.iter().any(|k| k.starts_with("transferred")),
        "{kinds:?}"
    );
    w.check_invariants().expect("invariants");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_millis(300));
    assert_eq!(w.ua_state("2001", desk), Some(UaState::Ended));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&call), 1);
}

#[test]
fn attended_transfer_by_refer_with_replaces() {
    let mut w = World::new(WorldConfig::default());
    let (caller, call) = w.connected_call("alice", KNOWN_CALLER);
    let first = w.live_call("alice").expect("alice's leg");
    // Alice's phone calls 2001 itself (a second call through the switch).
    let second = w.with_phone("alice", |p, now| p.invite(now, "2001", None));
    w.advance(Duration::from_secs(3));
    assert_eq!(w.ua_state("alice", second), Some(UaState::Confirmed));
    let desk = w.live_call("2001").expect("2001 answered");
    let second_id = w
        .snapshot()
        .calls
        .iter()
        .find(|c| c.id != call)
        .map(|c| c.id.clone())
        .expect("the second call");
    assert!(w.with_phone("alice", |p, now| p.refer(now, first, "2001", Some(second))));
    w.advance(Duration::from_millis(500));
    let refers = w.phone("alice").refers.clone();
    assert_eq!(refers[0].1, Some(202), "{refers:?}");
    assert_eq!(refers[0].2, vec!["SIP/2.0 200 OK".to_string()]);
    assert_eq!(w.ua_state("alice", first), Some(UaState::Ended));
    assert_eq!(w.ua_state("alice", second), Some(UaState::Ended));
    assert_eq!(w.ua_state("2001", desk), Some(UaState::Confirmed));
    assert_eq!(w.ua_state("trunk", caller), Some(UaState::Confirmed));
    // One call left, the caller's, bridged to 2001's leg.
    let snap = w.snapshot();
    assert_eq!(snap.calls.len(), 1, "{snap:?}");
    assert_eq!(snap.calls[0].id, call);
    let a = w.session_of("trunk", caller).expect("caller's session");
    assert!(w.bridged_with(a).is_some(), "the caller is bridged");
    assert_eq!(w.store.ended(&second_id), 1, "the second call ended");
    let kinds = w.record_kinds(&call);
    assert!(
        kinds.iter().any(|k| k.starts_with("transferred")),
        "{kinds:?}"
    );
    w.check_invariants().expect("invariants");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_millis(300));
    assert_eq!(w.ua_state("2001", desk), Some(UaState::Ended));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&call), 1);
}

#[test]
fn refer_from_the_callers_side_or_to_nowhere_is_refused() {
    let mut w = World::new(WorldConfig::default());
    let (caller, call) = w.connected_call("alice", KNOWN_CALLER);
    let agent_leg = w.live_call("alice").expect("alice's leg");
    // The caller (a trunk) may not make the switch call anyone.
    assert!(w.with_phone("trunk", |p, now| p.refer(now, caller, "2001", None)));
    // No route for 1999.
    assert!(w.with_phone("alice", |p, now| p.refer(now, agent_leg, "1999", None)));
    w.advance(Duration::from_millis(300));
    assert_eq!(w.phone("trunk").refers[0].1, Some(403));
    assert_eq!(w.phone("alice").refers[0].1, Some(404));
    assert_eq!(w.ua_state("alice", agent_leg), Some(UaState::Confirmed));
    assert_eq!(w.ua_state("trunk", caller), Some(UaState::Confirmed));
    assert!(w.live_call("2001").is_none(), "nobody was called");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&call), 1);
}
