//! Callbacks keep the caller's place and are dialled agent-first, with retries; the estimated
//! wait comes from live staffing and recent handle times, and its error is tracked.

mod common;
use common::*;
use hotline_acd::*;
use std::time::Duration;

fn queue() -> QueueConfig {
    let mut q = QueueConfig::new("q").wrap_up(secs(10));
    q.callback_attempts = 2;
    q.callback_retry_delay = secs(300);
    q
}

#[test]
fn callback_keeps_its_place_and_is_dialled_agent_first() {
    let mut h = H::new(vec![queue()]);
    h.enqueue("c1", "q", 0);
    h.advance(secs(5));
    h.enqueue("c2", "q", 0);
    h.advance(secs(5));
    h.enqueue("c3", "q", 0);
    h.advance(secs(5));
    h.acd.request_callback(h.now, &c("c2")).unwrap();
    h.drain();
    assert_eq!(
        h.acd.position(&c("c2")),
        Some(2),
        "same place after conversion"
    );
    assert!(h.acd.request_callback(h.now, &c("c2")).is_err());
    h.login_ready("alice", &[]);
    let first = h.offers()[0].0.clone();
    assert_eq!(first, "c1");
    h.serve(&first, "alice");
    // c2 (now a callback) is next: the agent is reserved first ...
    let d = h.take();
    assert!(
        matches!(&d[..], [Decision::Offer { call, kind: OfferKind::Callback, .. }] if call.as_str() == "c2")
    );
    assert!(matches!(h.state("alice"), AgentState::Reserved { .. }));
    // ... and only when she answers is the customer dialled.
    h.answer("c2", "alice");
    assert_eq!(
        h.take(),
        vec![Decision::DialCallback {
            call: c("c2"),
            agent: a("alice"),
            attempt: 1
        }]
    );
    h.advance(secs(8));
    h.acd.callback_connected(h.now, &c("c2")).unwrap();
    h.drain();
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::CallConnected { call, .. } if call.as_str() == "c2"))
    );
    h.hangup("c2");
    assert_eq!(h.ended("c2"), vec![EndReason::Completed]);
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
}

#[test]
fn failed_callback_retries_at_its_original_place_then_gives_up() {
    let mut h = H::new(vec![queue()]);
    h.enqueue("cb", "q", 0);
    h.acd.request_callback(h.now, &c("cb")).unwrap();
    h.login_ready("alice", &[]);
    h.answer("cb", "alice");
    h.take();
    h.acd.callback_failed(h.now, &c("cb")).unwrap();
    h.drain();
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
    // A newer call arrives; when the retry delay passes the callback is ahead of it again.
    h.advance(secs(60));
    h.enqueue("newer", "q", 0);
    assert_eq!(h.offers(), vec![("newer".into(), "alice".into())]);
    h.serve("newer", "alice");
    h.acd.not_ready(h.now, &a("alice"), "break").unwrap();
    h.enqueue("newest", "q", 0);
    h.advance(secs(240));
    assert_eq!(h.acd.position(&c("cb")), Some(1));
    assert_eq!(h.acd.position(&c("newest")), Some(2));
    h.acd.ready(h.now, &a("alice")).unwrap();
    h.answer("cb", "alice");
    assert_eq!(
        h.take().last(),
        Some(&Decision::DialCallback {
            call: c("cb"),
            agent: a("alice"),
            attempt: 2
        })
    );
    h.acd.callback_failed(h.now, &c("cb")).unwrap();
    h.drain();
    assert_eq!(h.ended("cb"), vec![EndReason::CallbackFailed]);
    assert_eq!(h.acd.metrics().callback_dials, 2);
}

#[test]
fn callback_requested_at_a_full_queue_goes_to_the_back() {
    let mut h = H::new(vec![queue().overflow(
        OverflowCondition::Capacity { max_waiting: 1 },
        OverflowTarget::CallbackOffer,
    )]);
    h.enqueue("c1", "q", 0);
    h.enqueue("c2", "q", 0);
    assert_eq!(
        h.ended("c2"),
        vec![EndReason::Overflowed(OverflowTarget::CallbackOffer)]
    );
    h.acd
        .enqueue_callback(h.now, &c("c2"), &q("q"), Priority::NORMAL)
        .unwrap();
    h.drain();
    assert_eq!(h.acd.position(&c("c2")), Some(2));
    assert_eq!(h.acd.queue_stats(&q("q")).unwrap().callbacks, 1);
}

#[test]
fn estimated_wait_from_live_staffing_and_position() {
    let mut cfg = queue();
    cfg.announce = true;
    cfg.default_handle_time = secs(120);
    let mut h = H::new(vec![cfg]);
    h.login_ready("a1", &[]);
    h.login_ready("a2", &[]);
    h.enqueue("busy1", "q", 0);
    h.enqueue("busy2", "q", 0);
    h.answer("busy1", "a1");
    h.answer("busy2", "a2");
    h.take();
    // Two agents busy, 120 s handle time: one frees up every 60 s on average.
    for (i, call) in ["w1", "w2", "w3"].iter().enumerate() {
        h.enqueue(call, "q", 0);
        let d = h.take();
        let want = Duration::from_secs(60 * (i as u64 + 1));
        assert_eq!(
            d,
            vec![Decision::Announce {
                call: c(call),
                position: i + 1,
                estimated_wait: Some(want)
            }]
        );
        assert_eq!(h.acd.estimated_wait(&c(call)), Some(want));
    }
    // a2 goes not ready after a very short call (0 s talk + 10 s wrap-up): one agent is left
    // working and the measured handle time (10 s) replaces the configured default.
    h.acd.not_ready(h.now, &a("a2"), "break").unwrap();
    h.hangup("busy2");
    h.advance(secs(10));
    assert_eq!(h.acd.queue_stats(&q("q")).unwrap().staffed_agents, 1);
    assert_eq!(h.acd.estimated_wait(&c("w1")), Some(secs(10)));
    assert_eq!(h.acd.estimated_wait(&c("w3")), Some(secs(30)));
    // Measured handle times replace the default: a1's call lasts 40 s + 10 s wrap-up.
    h.advance(secs(30));
    h.hangup("busy1");
    h.advance(secs(10));
    let stats = h.acd.queue_stats(&q("q")).unwrap();
    assert_eq!(stats.waiting, 2);
    // busy2 took 0 s + 10 s wrap, busy1 40 + 10: mean 30 s.
    assert_eq!(stats.handle_time, secs(30));
    // The error of the enqueue-time estimate is tracked when calls connect: w1 was estimated at
    // 60 s and is answered after 50 s.
    h.answer("w1", "a1");
    let m = h.acd.metrics();
    assert_eq!(
        m.ewt_samples, 3,
        "busy1, busy2 (estimated 0 s, waited 0 s) and w1"
    );
    assert!((m.ewt_abs_error_secs - 10.0).abs() < 1e-6);
    assert!((m.ewt_signed_error_secs - 10.0).abs() < 1e-6);
}

#[test]
fn no_staffing_means_no_estimate() {
    let mut h = H::new(vec![queue()]);
    h.enqueue("c1", "q", 0);
    assert_eq!(h.acd.estimated_wait(&c("c1")), None);
    assert_eq!(h.acd.queue_stats(&q("q")).unwrap().estimated_wait_new, None);
}

#[test]
fn a_callback_asked_for_while_the_agent_is_rung_withdraws_the_offer_without_blame() {
    let mut h = H::new(vec![queue()]);
    h.login_ready("alice", &[]);
    h.enqueue("c1", "q", 0);
    assert_eq!(h.offers(), vec![("c1".into(), "alice".into())]);
    // The caller presses the callback key while alice's phone rings.
    h.acd.request_callback(h.now, &c("c1")).unwrap();
    let d = h.take();
    // The offer is withdrawn first, then the request is offered (alice is ready again, not
    // "missed") as a callback.
    let cancel = d
        .iter()
        .position(|x| matches!(x, Decision::CancelOffer { call, agent } if call.0 == "c1" && agent.0 == "alice"));
    let again = d
        .iter()
        .position(|x| matches!(x, Decision::Offer { call, .. } if call.0 == "c1"));
    assert!(
        cancel.is_some() && again.is_some() && cancel < again,
        "{d:?}"
    );
    assert_eq!(h.acd.metrics().missed_reservations, 0);
}
