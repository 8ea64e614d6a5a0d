//! Reject and answer from the desktop, in simulated time: a rejected offer goes back to its
//! place in the queue and the agent is not ready "rejected" (also when the phone declines with
//! 603); Answer tells a phone that advertised the `talk` event to pick up, and is refused for
//! one that did not (which keeps ringing).

mod harness;

use std::time::Duration;

use harness::phone::{Policy, UaState};
use harness::{KNOWN_CALLER, SALES_NUMBER, World, WorldConfig};
use hotline_acd::AgentState;
use hotline_calls::messages::CallAction;

fn rejected() -> Option<AgentState> {
    Some(AgentState::NotReady {
        reason: "rejected".into(),
    })
}

#[test]
fn a_rejected_offer_goes_back_to_the_head_and_the_agent_is_not_ready_rejected() {
    let mut w = World::new(WorldConfig::default());
    w.phone("alice").policy = Policy::Ignore;
    w.not_ready("bob", "break").expect("bob not ready");
    let first = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(1));
    let call1 = w.snapshot().calls[0].id.clone();
    let second = w.pstn_call("+12125550999", SALES_NUMBER);
    w.advance(Duration::from_secs(1));
    let ring = w.live_call("alice").expect("alice's phone rings");

    // Bob cannot reject alice's offer; alice can, once.
    assert!(
        w.command(
            "bob",
            CallAction::Reject {
                call: call1.clone()
            }
        )
        .is_err()
    );
    let r = w.command(
        "alice",
        CallAction::Reject {
            call: call1.clone(),
        },
    );
    assert_eq!(r, Ok(None));
    w.advance(Duration::from_millis(200));
    assert_eq!(w.agent_state("alice"), rejected());
    assert_eq!(w.ua_state("alice", ring), Some(UaState::Ended), "CANCEL");
    assert!(
        w.command(
            "alice",
            CallAction::Reject {
                call: call1.clone()
            }
        )
        .is_err(),
        "nothing to reject any more"
    );
    w.check_invariants().expect("invariants");

    // Bob gets the rejected call first.
    w.ready("bob").expect("bob ready");
    w.advance(Duration::from_secs(3));
    assert_eq!(w.call_of("bob").expect("bob talks").id, call1);
    let kinds = w.record_kinds(&call1);
    assert!(
        kinds.contains(&"note:offer_failed".to_string()),
        "{kinds:?}"
    );
    w.with_phone("trunk", |p, now| {
        p.hangup(now, first);
        p.hangup(now, second);
    });
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&call1), 1);
}

#[test]
fn the_phone_declining_with_603_is_a_rejection_too() {
    let mut w = World::new(WorldConfig::default());
    w.phone("alice").policy = Policy::Reject(603);
    w.not_ready("bob", "break").expect("bob not ready");
    let first = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(2));
    assert_eq!(w.agent_state("alice"), rejected());
    // A busy phone (486) is a missed offer, not a rejection.
    w.phone("alice").policy = Policy::Reject(486);
    w.ready("alice").expect("alice ready");
    w.advance(Duration::from_secs(2));
    assert_eq!(
        w.agent_state("alice"),
        Some(AgentState::NotReady {
            reason: "missed".into()
        })
    );
    w.with_phone("trunk", |p, now| p.hangup(now, first));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}

#[test]
fn answer_from_the_desktop_reaches_a_phone_with_the_talk_event() {
    let mut w = World::new(WorldConfig::default());
    w.phone("alice").policy = Policy::Ignore;
    w.phone("alice").talk = true;
    w.not_ready("bob", "break").expect("bob not ready");
    let caller = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(1));
    let call = w.snapshot().calls[0].id.clone();
    let ring = w.live_call("alice").expect("alice's phone rings");
    assert_eq!(w.ua_state("alice", ring), Some(UaState::Ringing));
    let r = w.command("alice", CallAction::Answer { call: call.clone() });
    assert_eq!(r, Ok(None));
    w.advance(Duration::from_millis(500));
    assert_eq!(w.ua_state("alice", ring), Some(UaState::Confirmed));
    let c = w.call_of("alice").expect("alice talks");
    assert!(c.connected);
    assert!(
        w.phone("alice").oddities.is_empty(),
        "{:?}",
        w.phone("alice").oddities
    );
    w.check_invariants().expect("invariants");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&call), 1);
}

#[test]
fn answer_from_the_desktop_is_refused_for_a_phone_without_it() {
    let mut w = World::new(WorldConfig::default());
    w.phone("alice").policy = Policy::Ignore;
    w.not_ready("bob", "break").expect("bob not ready");
    let caller = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(1));
    let call = w.snapshot().calls[0].id.clone();
    let ring = w.live_call("alice").expect("alice's phone rings");
    let r = w.command("alice", CallAction::Answer { call: call.clone() });
    assert!(
        matches!(&r, Err(e) if e.contains("lift the handset")),
        "{r:?}"
    );
    w.advance(Duration::from_millis(500));
    assert_eq!(
        w.ua_state("alice", ring),
        Some(UaState::Ringing),
        "still ringing"
    );
    // Bob cannot answer alice's offer.
    assert!(w.command("bob", CallAction::Answer { call }).is_err());
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}

#[test]
fn hanging_up_a_ringing_offer_rejects_it_and_the_caller_stays_queued() {
    let mut w = World::new(WorldConfig::default());
    w.phone("alice").policy = Policy::Ignore;
    w.not_ready("bob", "break").expect("bob not ready");
    let caller = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(1));
    let call = w.snapshot().calls[0].id.clone();
    let ring = w.live_call("alice").expect("alice's phone rings");

    let r = w.command("alice", CallAction::Hangup { call: call.clone() });
    assert_eq!(r, Ok(None));
    w.advance(Duration::from_millis(200));
    assert_eq!(w.agent_state("alice"), rejected());
    assert_eq!(w.ua_state("alice", ring), Some(UaState::Ended), "CANCEL");
    assert_eq!(w.store.ended(&call), 0, "the caller is still waiting");
    w.check_invariants().expect("invariants");

    w.ready("bob").expect("bob ready");
    w.advance(Duration::from_secs(3));
    assert_eq!(w.call_of("bob").expect("bob talks").id, call);
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&call), 1);
}
