//! The agent state machine with simulated time: every transition is a timestamped event, a
//! missed reservation puts the call back at the head and the agent into not ready "missed",
//! wrap-up is enforced and visible, and no command can leave an agent stuck.

mod common;
use common::*;
use hotline_acd::*;

fn queue() -> QueueConfig {
    QueueConfig::new("sales")
        .ring_timeout(secs(15))
        .wrap_up(secs(30))
}

#[test]
fn login_ready_and_every_transition_is_an_event_with_its_time() {
    let mut h = H::new(vec![queue()]);
    h.acd.login(h.now, &a("alice"), &[]).unwrap();
    assert_eq!(
        h.state("alice"),
        AgentState::NotReady {
            reason: "login".into()
        }
    );
    h.advance(secs(5));
    h.acd.ready(h.now, &a("alice")).unwrap();
    let ev = h.take_events();
    let transitions: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::AgentState { at, from, to, .. } => Some((*at - h.t0, from.name(), to.name())),
            _ => None,
        })
        .collect();
    assert_eq!(
        transitions,
        vec![
            (secs(0), "logged out", "not ready"),
            (secs(5), "not ready", "ready")
        ]
    );
}

#[test]
fn missed_reservation_returns_call_to_head_and_agent_to_not_ready_missed() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.enqueue("c1", "sales", 0);
    let offer = h.take();
    let Decision::Offer {
        call,
        agent,
        deadline,
        kind,
        ..
    } = &offer[0]
    else {
        panic!("{offer:?}")
    };
    assert_eq!(
        (call.as_str(), agent.as_str(), *kind),
        ("c1", "alice", OfferKind::Inbound)
    );
    assert_eq!(*deadline - h.t0, secs(15));
    assert!(matches!(h.state("alice"), AgentState::Reserved { .. }));
    // A newer call arrives while alice's phone rings.
    h.advance(secs(5));
    h.enqueue("c2", "sales", 0);
    assert_eq!(h.acd.poll_timeout().map(|t| t - h.t0), Some(secs(15)));
    h.advance(secs(10));
    assert_eq!(
        h.state("alice"),
        AgentState::NotReady {
            reason: REASON_MISSED.into()
        }
    );
    assert!(h.take().contains(&Decision::CancelOffer {
        call: c("c1"),
        agent: a("alice")
    }));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::CallRequeued { call, .. } if call.as_str() == "c1"))
    );
    // c1 is back at the head: the next agent gets c1, not the newer c2.
    assert_eq!(h.acd.position(&c("c1")), Some(1));
    assert_eq!(h.acd.position(&c("c2")), Some(2));
    h.login_ready("bob", &[]);
    assert_eq!(h.offers(), vec![("c1".into(), "bob".into())]);
    assert_eq!(h.acd.metrics().missed_reservations, 1);
}

#[test]
fn phone_refusing_the_offer_is_a_miss_too() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.enqueue("c1", "sales", 0);
    h.advance(secs(3));
    h.acd.no_answer(h.now, &a("alice")).unwrap();
    h.drain();
    assert_eq!(
        h.state("alice"),
        AgentState::NotReady {
            reason: "missed".into()
        }
    );
    assert_eq!(h.acd.position(&c("c1")), Some(1));
    // Answering after the miss is refused and changes nothing.
    assert!(matches!(
        h.acd.answer(h.now, &c("c1"), &a("alice")),
        Err(AcdError::InvalidAgentState { .. })
    ));
    assert_eq!(h.acd.position(&c("c1")), Some(1));
}

#[test]
fn a_rejected_offer_goes_back_to_the_head_and_the_agent_is_not_ready_rejected() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.enqueue("c1", "sales", 0);
    h.advance(secs(1));
    h.enqueue("c2", "sales", 0);
    h.advance(secs(1));
    assert_eq!(h.offers(), vec![("c1".into(), "alice".into())]);
    h.acd.reject(h.now, &a("alice")).unwrap();
    h.drain();
    assert_eq!(
        h.state("alice"),
        AgentState::NotReady {
            reason: "rejected".into()
        }
    );
    // c1 keeps its place ahead of the newer c2, and goes to the next agent.
    assert_eq!(h.acd.position(&c("c1")), Some(1));
    assert_eq!(h.acd.position(&c("c2")), Some(2));
    h.login_ready("bob", &[]);
    assert_eq!(h.offers(), vec![("c1".into(), "bob".into())]);
    let m = h.acd.metrics();
    assert_eq!((m.rejected_offers, m.missed_reservations), (1, 0));
    // Rejecting when nothing is offered is refused and changes nothing.
    assert!(matches!(
        h.acd.reject(h.now, &a("alice")),
        Err(AcdError::InvalidAgentState { .. })
    ));
}

#[test]
fn wrap_up_is_enforced_visible_and_may_end_early() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.enqueue("c1", "sales", 0);
    h.answer("c1", "alice");
    h.advance(secs(60));
    h.hangup("c1");
    assert_eq!(h.ended("c1"), vec![EndReason::Completed]);
    let AgentState::WrapUp { deadline, call } = h.state("alice") else {
        panic!()
    };
    assert_eq!((deadline - h.now, call.as_str()), (secs(30), "c1"));
    // A call arriving during wrap-up waits; pressing ready does not cut wrap-up short.
    h.enqueue("c2", "sales", 0);
    h.acd.ready(h.now, &a("alice")).unwrap();
    h.take();
    h.advance(secs(29));
    assert!(h.offers().is_empty());
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
    h.advance(secs(1));
    assert_eq!(h.offers(), vec![("c2".into(), "alice".into())]);
    // Ending wrap-up early.
    h.answer("c2", "alice");
    h.hangup("c2");
    h.advance(secs(4));
    h.acd.wrapup_done(h.now, &a("alice")).unwrap();
    assert_eq!(h.state("alice"), AgentState::Ready);
    assert!(h.acd.wrapup_done(h.now, &a("alice")).is_err());
}

#[test]
fn not_ready_and_logout_during_a_call_apply_after_wrap_up() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.login_ready("bob", &[]);
    h.enqueue("c1", "sales", 0);
    h.enqueue("c2", "sales", 0);
    h.answer("c1", "alice");
    h.answer("c2", "bob");
    h.acd.not_ready(h.now, &a("alice"), "lunch").unwrap();
    h.acd.logout(h.now, &a("bob")).unwrap();
    assert!(matches!(h.state("alice"), AgentState::OnCall { .. }));
    h.hangup("c1");
    h.hangup("c2");
    h.advance(secs(30));
    assert_eq!(
        h.state("alice"),
        AgentState::NotReady {
            reason: "lunch".into()
        }
    );
    assert_eq!(h.state("bob"), AgentState::LoggedOut);
}

#[test]
fn hold_and_consult_are_call_sub_states() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.enqueue("c1", "sales", 0);
    h.answer("c1", "alice");
    for sub in [
        CallSubState::Hold,
        CallSubState::Consulting,
        CallSubState::Talking,
    ] {
        h.acd.set_call_sub_state(h.now, &a("alice"), sub).unwrap();
        assert_eq!(h.state("alice"), AgentState::OnCall { call: c("c1"), sub });
    }
    let subs = h
        .take_events()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::AgentState {
                    from: AgentState::OnCall { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(subs, 3);
    h.hangup("c1");
    assert!(
        h.acd
            .set_call_sub_state(h.now, &a("alice"), CallSubState::Hold)
            .is_err()
    );
}

#[test]
fn logout_or_desktop_loss_while_reserved_returns_the_call() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.login_ready("bob", &[]);
    h.acd.not_ready(h.now, &a("bob"), "break").unwrap();
    h.enqueue("c1", "sales", 0);
    assert_eq!(h.offers(), vec![("c1".into(), "alice".into())]);
    h.acd.logout(h.now, &a("alice")).unwrap();
    h.drain();
    assert_eq!(h.state("alice"), AgentState::LoggedOut);
    assert_eq!(h.acd.position(&c("c1")), Some(1));
    h.acd.ready(h.now, &a("bob")).unwrap();
    assert_eq!(h.offers(), vec![("c1".into(), "bob".into())]);
    h.acd.desktop_lost(h.now, &a("bob")).unwrap();
    h.drain();
    assert_eq!(
        h.state("bob"),
        AgentState::NotReady {
            reason: REASON_DISCONNECTED.into()
        }
    );
    assert_eq!(h.acd.position(&c("c1")), Some(1));
}

#[test]
fn caller_hanging_up_while_ringing_frees_the_agent() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.enqueue("c1", "sales", 0);
    h.take();
    h.hangup("c1");
    assert_eq!(
        h.take(),
        vec![Decision::CancelOffer {
            call: c("c1"),
            agent: a("alice")
        }]
    );
    assert_eq!(h.state("alice"), AgentState::Ready);
    assert_eq!(h.ended("c1"), vec![EndReason::Abandoned]);
    assert!(matches!(
        h.acd.hangup(h.now, &c("c1")),
        Err(AcdError::UnknownCall(_))
    ));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut h = H::new(vec![queue()]);
    assert!(matches!(
        h.acd.ready(h.now, &a("ghost")),
        Err(AcdError::UnknownAgent(_))
    ));
    assert!(matches!(
        h.acd.login(h.now, &a("x"), &[(SkillId::new("s"), 9)]),
        Err(AcdError::InvalidProficiency { level: 9, .. })
    ));
    assert!(matches!(
        h.acd.enqueue(h.now, &c("c"), &q("nope"), Priority::NORMAL),
        Err(AcdError::UnknownQueue(_))
    ));
    h.enqueue("c", "sales", 0);
    assert!(matches!(
        h.acd.enqueue(h.now, &c("c"), &q("sales"), Priority::NORMAL),
        Err(AcdError::DuplicateCall(_))
    ));
    h.login_ready("alice", &[]);
    assert!(h.acd.login(h.now, &a("alice"), &[]).is_err());
    // Time going backwards is harmless.
    let earlier = h.t0;
    h.acd.handle_timeout(earlier);
    h.drain();
}

#[test]
fn direct_calls_keep_queue_calls_away_and_end_in_wrap_up_or_the_old_reason() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    // A ready agent dials a customer: on call, a queue call waits instead of ringing her.
    h.acd
        .direct_call_started(h.now, &a("alice"), &c("out1"))
        .unwrap();
    h.drain();
    assert_eq!(
        h.state("alice"),
        AgentState::OnCall {
            call: c("out1"),
            sub: CallSubState::Talking
        }
    );
    h.enqueue("q1", "sales", 0);
    assert!(
        h.offers().is_empty(),
        "nothing is offered during a direct call"
    );
    // Ending another call id is refused; the right one starts wrap-up, then q1 rings.
    assert!(
        h.acd
            .direct_call_ended(h.now, &a("alice"), &c("x"))
            .is_err()
    );
    h.acd
        .direct_call_ended(h.now, &a("alice"), &c("out1"))
        .unwrap();
    h.drain();
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
    h.advance(secs(30));
    assert_eq!(h.offers(), vec![("q1".into(), "alice".into())]);
    // A not-ready agent (lunch) consulted by a colleague goes back to lunch, no wrap-up.
    h.acd.login(h.now, &a("bob"), &[]).unwrap();
    h.acd.not_ready(h.now, &a("bob"), "lunch").unwrap();
    h.acd
        .direct_call_started(h.now, &a("bob"), &c("q1-consult"))
        .unwrap();
    h.drain();
    // The consultation becomes a transfer: bob stays on call under the caller's call id.
    h.acd
        .direct_call_started(h.now, &a("bob"), &c("q9"))
        .unwrap();
    h.drain();
    assert!(
        h.acd
            .direct_call_ended(h.now, &a("bob"), &c("q1-consult"))
            .is_err()
    );
    h.acd.direct_call_ended(h.now, &a("bob"), &c("q9")).unwrap();
    h.drain();
    h.drain();
    assert_eq!(
        h.state("bob"),
        AgentState::NotReady {
            reason: "lunch".into()
        }
    );
    // Only a ready or not-ready agent can start one (alice is ringing for q1).
    assert!(
        h.acd
            .direct_call_started(h.now, &a("alice"), &c("out2"))
            .is_err()
    );
}

#[test]
fn a_consultation_routed_through_a_queue_continues_as_a_direct_call() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.enqueue("c1", "sales", 0);
    h.answer("c1", "alice");
    let _ = h.offers();
    // Alice consults the queue: routing offers the consultation to bob.
    h.login_ready("bob", &[]);
    h.enqueue("c1-consult1", "sales", 0);
    assert_eq!(h.offers(), vec![("c1-consult1".into(), "bob".into())]);
    h.answer("c1-consult1", "bob");
    // Bob is now on the caller's call, outside the queues; the consultation completed.
    h.acd
        .continue_as_direct(h.now, &c("c1-consult1"), &c("c1"))
        .unwrap();
    h.drain();
    assert_eq!(h.ended("c1-consult1"), vec![EndReason::Completed]);
    assert_eq!(
        h.state("bob"),
        AgentState::OnCall {
            call: c("c1"),
            sub: CallSubState::Talking
        }
    );
    // Only a connected queue call can continue that way.
    assert!(
        h.acd
            .continue_as_direct(h.now, &c("c1-consult1"), &c("x"))
            .is_err()
    );
    // Alice leaves (transfer completed), bob hangs up later: both wrap up for c1.
    h.hangup("c1");
    h.acd.direct_call_ended(h.now, &a("bob"), &c("c1")).unwrap();
    h.drain();
    h.drain();
    for agent in ["alice", "bob"] {
        assert!(
            matches!(h.state(agent), AgentState::WrapUp { call, .. } if call.as_str() == "c1"),
            "{agent}: {:?}",
            h.state(agent)
        );
    }
}

#[test]
fn a_direct_call_missed_leaves_the_agent_as_before_without_wrap_up() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    // A colleague's consultation rings alice: on a direct call while it rings.
    h.acd
        .direct_call_started(h.now, &a("alice"), &c("x1"))
        .unwrap();
    assert!(matches!(h.state("alice"), AgentState::OnCall { .. }));
    h.acd
        .direct_call_missed(h.now, &a("alice"), &c("x1"))
        .unwrap();
    assert_eq!(
        h.state("alice"),
        AgentState::Ready,
        "no wrap-up for a call never answered"
    );
    // Not ready before: not ready after, with the same reason.
    h.acd.not_ready(h.now, &a("alice"), "lunch").unwrap();
    h.acd
        .direct_call_started(h.now, &a("alice"), &c("x2"))
        .unwrap();
    h.acd
        .direct_call_missed(h.now, &a("alice"), &c("x2"))
        .unwrap();
    assert_eq!(
        h.state("alice"),
        AgentState::NotReady {
            reason: "lunch".into()
        }
    );
    // Only the direct call the agent is on.
    assert!(
        h.acd
            .direct_call_missed(h.now, &a("alice"), &c("x2"))
            .is_err()
    );
}
