//! Call quality in the call record: every leg that carried media gets one `quality` event with
//! its session's figures, read from the media engine just before the session is destroyed and
//! written before the call's `ended`:
//!
//! - a plain answered call: the caller's and the agent's legs;
//! - a missed offer: the phone that only rang has no entry, the agent who answered has one;
//! - a supervisor who monitors and leaves: the supervisor's entry when the leg goes;
//! - a consultation that is cancelled: the consulted agent's entry ("third") when that leg goes.
//!
//! The fake media engine reports distinct canned figures per session
//! ([`harness::media::canned_stats`]), so each entry is checked against its own leg's session.

mod harness;

use std::time::Duration;

use harness::media::canned_stats;
use harness::phone::Policy;
use harness::{KNOWN_CALLER, SALES_NUMBER, World, WorldConfig};
use hotline_calls::messages::CallAction;
use hotline_cti::MonitorMode;
use hotline_media::SessionId;
use hotline_records::{CallEventKind, LegQuality};

/// The call's `quality` entries, in record order, and the position of each relative to
/// `ended` (all must come before it).
fn quality(w: &World, call: &str) -> Vec<LegQuality> {
    let evs = &w.store.records[call];
    let ended = evs
        .iter()
        .position(|e| matches!(e.kind, CallEventKind::Ended { .. }))
        .expect("the call ended");
    evs.iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.kind {
            CallEventKind::Quality(q) => {
                assert!(i < ended, "quality after ended: {evs:?}");
                Some(q.clone())
            }
            _ => None,
        })
        .collect()
}

/// `q` holds the figures of `session` under the name `leg` (and `agent`).
fn assert_leg(q: &LegQuality, leg: &str, agent: Option<&str>, session: SessionId) {
    let s = canned_stats(session);
    assert_eq!(q.leg, leg, "{q:?}");
    assert_eq!(q.agent_id.as_deref(), agent, "{q:?}");
    assert_eq!(q.packets, s.packets_received, "{q:?} is not {session}'s");
    assert_eq!(q.lost, s.packets_lost as u64);
    assert!((q.mos - f64::from(s.mos)).abs() < 0.006, "{q:?} {s:?}");
    assert!((q.jitter_ms - f64::from(s.jitter_ms)).abs() < 0.006);
    assert!((q.loss_percent - f64::from(s.loss_percent)).abs() < 0.006);
    assert!(q.mos > 1.0 && q.mos <= 4.5);
}

#[test]
fn an_answered_call_records_the_caller_and_the_agent() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id) = w.connected_call("alice", KNOWN_CALLER);
    let (a, b) = w.sessions(caller, "alice");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_secs(1));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    let q = quality(&w, &id);
    assert_eq!(q.len(), 2, "{q:?}");
    assert_leg(&q[0], "caller", None, a);
    assert_leg(&q[1], "agent", Some("alice"), b);
    // Read while the sessions were alive (a read after destroy would be media misuse).
    let reads = w.media.lock().stats_reads.clone();
    assert!(reads.contains(&a) && reads.contains(&b), "{reads:?}");
    assert_eq!(w.store.ended(&id), 1);
}

#[test]
fn a_phone_that_only_rang_has_no_entry() {
    let mut w = World::new(WorldConfig::default());
    w.phone("alice").policy = Policy::Ignore;
    w.not_ready("bob", "break").expect("bob not ready");
    let caller = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(1));
    let id = w.snapshot().calls[0].id.clone();
    // Alice's phone rings through the whole ring timeout; then bob answers.
    w.advance(Duration::from_secs(20));
    w.ready("bob").expect("bob ready");
    w.advance(Duration::from_secs(3));
    let (a, b) = w.sessions(caller, "bob");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_secs(1));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    let q = quality(&w, &id);
    assert_eq!(q.len(), 2, "only the legs that carried media: {q:?}");
    assert_leg(&q[0], "caller", None, a);
    assert_leg(&q[1], "agent", Some("bob"), b);
}

#[test]
fn a_supervisor_leaving_is_recorded_when_the_leg_goes() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id) = w.connected_call("alice", KNOWN_CALLER);
    w.command(
        "sam",
        CallAction::Monitor {
            call: id.clone(),
            mode: MonitorMode::Listen,
        },
    )
    .expect("monitor");
    w.advance(Duration::from_secs(3));
    let sam_leg = w.live_call("sam").expect("sam's phone");
    let s = w.session_of("sam", sam_leg).expect("sam's session");
    w.command("sam", CallAction::StopMonitor { call: id.clone() })
        .expect("stop");
    w.advance(Duration::from_millis(200));
    // Written when sam's leg went, while the call goes on.
    let kinds = w.record_kinds(&id);
    assert!(
        kinds.contains(&"quality:supervisor".to_string()),
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k.starts_with("ended")), "{kinds:?}");
    let (a, b) = w.sessions(caller, "alice");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_secs(1));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    let q = quality(&w, &id);
    assert_eq!(q.len(), 3, "{q:?}");
    assert_leg(&q[0], "supervisor", Some("sam"), s);
    assert_leg(&q[1], "caller", None, a);
    assert_leg(&q[2], "agent", Some("alice"), b);
}

#[test]
fn a_cancelled_consultation_records_the_third_party() {
    let mut w = World::new(WorldConfig::default());
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
    let bob_leg = w.live_call("bob").expect("bob's phone");
    let x = w.session_of("bob", bob_leg).expect("bob's session");
    w.command("alice", CallAction::CancelConsult { call: id.clone() })
        .expect("cancel");
    w.advance(Duration::from_millis(200));
    let (a, b) = w.sessions(caller, "alice");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_secs(1));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    let q = quality(&w, &id);
    assert_eq!(q.len(), 3, "{q:?}");
    assert_leg(&q[0], "third", Some("bob"), x);
    assert_leg(&q[1], "caller", None, a);
    assert_leg(&q[2], "agent", Some("alice"), b);
}
