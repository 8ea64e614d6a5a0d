//! Time-based widening (lower proficiency, extra queues) and overflow (capacity, maximum wait,
//! no agents logged in) to their configured targets.

mod common;
use common::*;
use hotline_acd::*;

#[test]
fn widening_lowers_proficiency_after_the_configured_wait() {
    let mut h = H::new(vec![QueueConfig::new("fr").require("fr", 4).widen(
        WideningStep {
            after: secs(30),
            lower_min_by: 2,
            add_queues: vec![],
        },
    )]);
    h.login_ready("learner", &[("fr", 2)]);
    h.enqueue("c1", "fr", 0);
    h.advance(secs(29));
    assert!(h.offers().is_empty());
    h.advance(secs(1));
    assert_eq!(h.offers(), vec![("c1".into(), "learner".into())]);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::CallWidened { step: 1, .. }))
    );
}

#[test]
fn widening_adds_extra_queues_step_by_step() {
    let mut h = H::new(vec![
        QueueConfig::new("premium")
            .require("premium", 3)
            .widen(WideningStep {
                after: secs(20),
                lower_min_by: 1,
                add_queues: vec![],
            })
            .widen(WideningStep {
                after: secs(60),
                lower_min_by: 0,
                add_queues: vec![q("general")],
            }),
        QueueConfig::new("general").require("general", 1),
    ]);
    h.login_ready("generalist", &[("general", 3)]);
    h.enqueue("c1", "premium", 0);
    h.advance(secs(59));
    assert!(
        h.offers().is_empty(),
        "steps 0 and 1 still need the premium skill"
    );
    h.advance(secs(1));
    assert_eq!(h.offers(), vec![("c1".into(), "generalist".into())]);
    // Widening keeps the call's place among the generalist's other work: an older general call
    // is still served first.
    let mut h = H::new(vec![
        QueueConfig::new("premium")
            .require("premium", 3)
            .widen(WideningStep {
                after: secs(60),
                lower_min_by: 0,
                add_queues: vec![q("general")],
            }),
        QueueConfig::new("general").require("general", 1),
    ]);
    h.login_ready("generalist", &[("general", 3)]);
    h.enqueue("g0", "general", 0);
    h.answer("g0", "generalist");
    h.enqueue("p1", "premium", 0);
    h.advance(secs(1));
    h.enqueue("g1", "general", 0);
    h.take();
    h.advance(secs(70));
    h.hangup("g0");
    h.acd.wrapup_done(h.now, &a("generalist")).unwrap();
    assert_eq!(
        h.offers(),
        vec![("p1".into(), "generalist".into())],
        "p1 is older than g1"
    );
}

#[test]
fn a_full_queue_sends_new_calls_to_voicemail() {
    let mut h = H::new(vec![QueueConfig::new("q").overflow(
        OverflowCondition::Capacity { max_waiting: 2 },
        OverflowTarget::Voicemail,
    )]);
    h.enqueue("c1", "q", 0);
    h.enqueue("c2", "q", 0);
    h.enqueue("c3", "q", 0);
    assert_eq!(
        h.take(),
        vec![Decision::Overflow {
            call: c("c3"),
            from: q("q"),
            target: OverflowTarget::Voicemail,
            reason: OverflowReason::Capacity
        }]
    );
    assert_eq!(
        h.ended("c3"),
        vec![EndReason::Overflowed(OverflowTarget::Voicemail)]
    );
    assert!(!h.acd.has_call(&c("c3")));
    assert_eq!(h.acd.queue_stats(&q("q")).unwrap().waiting, 2);
}

#[test]
fn max_wait_moves_the_call_to_another_queue_keeping_its_priority_and_age() {
    let mut h = H::new(vec![
        QueueConfig::new("first").require("x", 1).overflow(
            OverflowCondition::MaxWait { after: secs(120) },
            OverflowTarget::Queue(q("backup")),
        ),
        QueueConfig::new("backup").require("y", 1),
    ]);
    h.enqueue("old", "first", 0);
    h.advance(secs(10));
    h.enqueue("b1", "backup", 0);
    h.advance(secs(110));
    let d = h.take();
    assert!(d.contains(&Decision::Overflow {
        call: c("old"),
        from: q("first"),
        target: OverflowTarget::Queue(q("backup")),
        reason: OverflowReason::MaxWait
    }));
    assert_eq!(
        h.acd.position(&c("old")),
        Some(1),
        "older than b1, so ahead of it"
    );
    h.login_ready("yolanda", &[("y", 1)]);
    assert_eq!(h.offers(), vec![("old".into(), "yolanda".into())]);
    assert!(h.ended("old").is_empty());
}

#[test]
fn no_agents_logged_in_offers_a_callback_and_the_call_keeps_waiting() {
    let mut h =
        H::new(vec![QueueConfig::new("q").require("x", 1).overflow(
            OverflowCondition::NoAgents,
            OverflowTarget::CallbackOffer,
        )]);
    h.enqueue("c1", "q", 0);
    assert_eq!(
        h.take(),
        vec![Decision::Overflow {
            call: c("c1"),
            from: q("q"),
            target: OverflowTarget::CallbackOffer,
            reason: OverflowReason::NoAgents
        }]
    );
    assert_eq!(h.acd.position(&c("c1")), Some(1));
    h.acd.request_callback(h.now, &c("c1")).unwrap();
    assert_eq!(h.acd.queue_stats(&q("q")).unwrap().callbacks, 1);
}

#[test]
fn last_agent_logging_out_sends_waiting_calls_to_the_no_agents_target() {
    let mut h =
        H::new(vec![QueueConfig::new("q").require("x", 1).overflow(
            OverflowCondition::NoAgents,
            OverflowTarget::Voicemail,
        )]);
    h.login_ready("alice", &[("x", 1)]);
    h.acd.not_ready(h.now, &a("alice"), "break").unwrap();
    h.enqueue("c1", "q", 0);
    h.enqueue("c2", "q", 0);
    assert!(
        h.take().is_empty(),
        "an agent is logged in (not ready): calls wait"
    );
    h.acd.logout(h.now, &a("alice")).unwrap();
    h.drain();
    assert_eq!(
        h.ended("c1"),
        vec![EndReason::Overflowed(OverflowTarget::Voicemail)]
    );
    assert_eq!(
        h.ended("c2"),
        vec![EndReason::Overflowed(OverflowTarget::Voicemail)]
    );
    assert_eq!(h.acd.call_count(), 0);
}

#[test]
fn overflow_chains_are_bounded() {
    // Two queues overflowing into each other when empty: the call settles instead of looping.
    let mut h = H::new(vec![
        QueueConfig::new("a").overflow(OverflowCondition::NoAgents, OverflowTarget::Queue(q("b"))),
        QueueConfig::new("b").overflow(OverflowCondition::NoAgents, OverflowTarget::Queue(q("a"))),
    ]);
    h.enqueue("c1", "a", 0);
    let overflows = h.take().len();
    assert!((1..=5).contains(&overflows), "{overflows} overflows");
    assert!(h.acd.position(&c("c1")).is_some());
}
