//! Three-way conference, then the agent leaves (from the desktop, or by hanging up the
//! phone): the caller and the third party stay connected, relayed again.

mod harness;

use std::time::Duration;

use harness::phone::UaState;
use harness::{KNOWN_CALLER, World, WorldConfig};
use hotline_acd::AgentState;
use hotline_calls::messages::CallAction;

fn conference(w: &mut World) -> (u32, String, u32, u32) {
    let (caller, id) = w.connected_call("alice", KNOWN_CALLER);
    w.command(
        "alice",
        CallAction::Consult {
            call: id.clone(),
            target: "bob".into(),
        },
    )
    .expect("consult");
    w.advance(Duration::from_secs(3));
    let bob_leg = w.live_call("bob").expect("bob");
    let alice_leg = w.live_call("alice").expect("alice");
    w.command("alice", CallAction::Conference { call: id.clone() })
        .expect("conference");
    let a = w.session_of("trunk", caller).expect("caller");
    let b = w.session_of("alice", alice_leg).expect("alice");
    let x = w.session_of("bob", bob_leg).expect("bob");
    let m = w.mixer().expect("a mixer");
    assert_eq!(m.parties, vec![a, b, x]);
    let everyone: Vec<Vec<bool>> = (0..3).map(|l| (0..3).map(|s| s != l).collect()).collect();
    assert_eq!(m.matrix, everyone, "everyone hears everyone else");
    w.check_invariants().expect("invariants");
    (caller, id, alice_leg, bob_leg)
}

fn after_agent_left(w: &mut World, caller: u32, id: &str, alice_leg: u32, bob_leg: u32) {
    w.advance(Duration::from_millis(200));
    assert_eq!(w.ua_state("alice", alice_leg), Some(UaState::Ended));
    assert_eq!(w.ua_state("bob", bob_leg), Some(UaState::Confirmed));
    assert!(w.mixer().is_none(), "the mixer is gone");
    let a = w.session_of("trunk", caller).expect("caller");
    let x = w.session_of("bob", bob_leg).expect("bob");
    assert_eq!(w.bridged_with(a), Some(x), "caller and bob relayed");
    assert_eq!(w.call_of("bob").map(|c| c.id), Some(id.to_string()));
    assert!(matches!(
        w.agent_state("alice"),
        Some(AgentState::WrapUp { .. })
    ));
    w.check_invariants().expect("invariants");
    w.with_phone("bob", |p, now| p.hangup(now, bob_leg));
    w.advance(Duration::from_secs(1));
    assert_eq!(w.ua_state("trunk", caller), Some(UaState::Ended));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(id), 1);
}

#[test]
fn agent_leaves_the_conference_from_the_desktop() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id, alice_leg, bob_leg) = conference(&mut w);
    w.command("alice", CallAction::Hangup { call: id.clone() })
        .expect("leave");
    after_agent_left(&mut w, caller, &id, alice_leg, bob_leg);
}

#[test]
fn agent_leaves_the_conference_by_hanging_up_the_phone() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id, alice_leg, bob_leg) = conference(&mut w);
    w.with_phone("alice", |p, now| p.hangup(now, alice_leg));
    after_agent_left(&mut w, caller, &id, alice_leg, bob_leg);
}
