//! Hold from the agent's phone: the phone's own hold key (a re-INVITE with sendonly) is
//! bookkept like the desktop's Hold: the caller hears hold music, the call record says `held`
//! and `resumed` with the hold time, the desktop is told; resuming from the phone relays the
//! two again. A desktop Hold after a phone hold is refused as "already on hold".

mod harness;

use std::time::Duration;

use harness::media::Playing;
use harness::{KNOWN_CALLER, World, WorldConfig};
use hotline_calls::messages::{CallAction, CallNotice};

fn notices_of(w: &World, call: &str) -> Vec<&'static str> {
    w.notices
        .iter()
        .filter_map(|(_, n)| match n {
            CallNotice::Held { call: c, .. } if c == call => Some("held"),
            CallNotice::Resumed { call: c, .. } if c == call => Some("resumed"),
            _ => None,
        })
        .collect()
}

#[test]
fn the_phones_hold_key_holds_the_call_like_the_desktop() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id) = w.connected_call("alice", KNOWN_CALLER);
    let alice_leg = w.live_call("alice").expect("alice's leg");
    let (a, b) = w.sessions(caller, "alice");
    assert_eq!(w.bridged_with(a), Some(b));

    assert!(w.with_phone("alice", |p, now| p.hold(now, alice_leg, true)));
    w.advance(Duration::from_secs(1));
    assert_eq!(
        w.media.lock().playing.get(&a),
        Some(&Playing::Music),
        "the caller hears hold music"
    );
    assert_eq!(w.bridged_with(a), None);
    assert_eq!(notices_of(&w, &id), vec!["held"]);
    assert_eq!(
        w.command("alice", CallAction::Hold { call: id.clone() }),
        Err("already on hold".into()),
    );
    w.check_invariants().expect("invariants");

    w.advance(Duration::from_secs(9));
    assert!(w.with_phone("alice", |p, now| p.hold(now, alice_leg, false)));
    w.advance(Duration::from_secs(1));
    assert_eq!(w.bridged_with(a), Some(b), "relayed again");
    assert_eq!(notices_of(&w, &id), vec!["held", "resumed"]);
    let kinds = w.record_kinds(&id);
    assert!(kinds.contains(&"held".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"resumed".to_string()), "{kinds:?}");
    let hold_ms = w.store.records.get(&id).and_then(|evs| {
        evs.iter().find_map(|e| match e.kind {
            hotline_records::CallEventKind::Resumed { hold_ms } => Some(hold_ms),
            _ => None,
        })
    });
    assert!(
        hold_ms.is_some_and(|ms| (9_000..=11_000).contains(&ms)),
        "{hold_ms:?}"
    );

    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&id), 1);
}
