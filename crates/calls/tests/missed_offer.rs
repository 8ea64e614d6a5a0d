//! Missed offer: the agent's phone does not answer within the queue's ring timeout; routing
//! withdraws the offer, the agent goes not ready ("missed"), the call goes back to the head
//! of its queue and the next agent is offered it, ahead of a call that came later.

mod harness;

use std::time::Duration;

use harness::phone::{Policy, UaState};
use harness::{KNOWN_CALLER, SALES_NUMBER, World, WorldConfig};
use hotline_acd::AgentState;

#[test]
fn missed_offer_goes_back_to_the_head_of_the_queue() {
    let mut w = World::new(WorldConfig::default());
    w.phone("alice").policy = Policy::Ignore;
    w.not_ready("bob", "break").expect("bob not ready");

    let first = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(1));
    let call1 = w.snapshot().calls[0].id.clone();
    assert_eq!(w.snapshot().calls[0].offered.as_deref(), Some("alice"));
    let ring = w.live_call("alice").expect("alice's phone rings");
    assert_eq!(w.ua_state("alice", ring), Some(UaState::Ringing));

    // A second caller queues behind the first.
    let second = w.pstn_call("+12125550999", SALES_NUMBER);
    w.advance(Duration::from_secs(1));
    assert_eq!(w.snapshot().calls.len(), 2);

    // The sales queue rings for 20 s: then the offer is withdrawn.
    w.advance(Duration::from_secs(19));
    assert_eq!(
        w.agent_state("alice"),
        Some(AgentState::NotReady {
            reason: "missed".into()
        })
    );
    assert_eq!(
        w.ua_state("alice", ring),
        Some(UaState::Ended),
        "alice's phone stopped ringing"
    );
    assert!(w.snapshot().calls.iter().all(|c| c.offered.is_none()));
    w.check_invariants().expect("invariants");

    // Bob comes back: he gets the first call, not the one that came later.
    w.ready("bob").expect("bob ready");
    w.advance(Duration::from_secs(3));
    let bobs = w.call_of("bob").expect("bob talks");
    assert_eq!(bobs.id, call1);
    assert!(bobs.connected);
    assert_eq!(w.ua_state("trunk", first), Some(UaState::Confirmed));
    let kinds = w.record_kinds(&call1);
    assert!(kinds.contains(&"offered:alice".to_string()), "{kinds:?}");
    assert!(
        kinds.contains(&"note:offer_failed".to_string()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"answered:bob".to_string()), "{kinds:?}");
    w.check_invariants().expect("invariants");

    // Both callers hang up: one `ended` each, nothing left over.
    w.with_phone("trunk", |p, now| {
        p.hangup(now, first);
        p.hangup(now, second);
    });
    w.advance(Duration::from_secs(1));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    for id in w.store.records.keys() {
        assert_eq!(w.store.ended(id), 1, "{id}");
    }
    assert_eq!(w.store.records.len(), 2);
}
