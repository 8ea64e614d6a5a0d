//! A supervisor on an agent's call: silent monitor, whisper (coach) and barge-in, switched on
//! the live call without a new mixer, then take-over (the supervisor's leg becomes the call's
//! agent leg, the agent's leg ends). The media fake's mixer matrices say who hears whom:
//! parties are [caller, agent, supervisor], `matrix[listener][speaker]`. After a take-over the
//! supervisor's desktop has the caller's record.

mod harness;

use std::time::Duration;

use harness::media::MediaOp;
use harness::phone::UaState;
use harness::{KNOWN_CALLER, World, WorldConfig};
use hotline_acd::AgentState;
use hotline_calls::messages::{CallAction, CallNotice};
use hotline_cti::{AgentId, Colleague, Extension, MonitorMode, PopContext};

const F: bool = false;
const T: bool = true;

fn monitored(w: &mut World) -> (u32, String, u32, u32) {
    let (caller, id) = w.connected_call("alice", KNOWN_CALLER);
    w.command(
        "sam",
        CallAction::Monitor {
            call: id.clone(),
            mode: MonitorMode::Listen,
        },
    )
    .expect("monitor");
    // Sam's phone rings and answers after 2 s.
    w.advance(Duration::from_secs(3));
    let sam_leg = w.live_call("sam").expect("sam's phone");
    assert_eq!(w.ua_state("sam", sam_leg), Some(UaState::Confirmed));
    let alice_leg = w.live_call("alice").expect("alice");
    (caller, id, alice_leg, sam_leg)
}

#[test]
fn monitor_whisper_barge_switch_the_matrix_in_place() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id, alice_leg, sam_leg) = monitored(&mut w);
    let a = w.session_of("trunk", caller).expect("caller");
    let b = w.session_of("alice", alice_leg).expect("agent");
    let s = w.session_of("sam", sam_leg).expect("supervisor");
    let m = w.mixer().expect("mixer");
    assert_eq!(m.parties, vec![a, b, s]);
    assert_eq!(
        m.matrix,
        vec![vec![F, T, F], vec![T, F, F], vec![T, T, F]],
        "listen: the supervisor hears both, nobody hears the supervisor"
    );
    let creates = |w: &World| {
        w.media
            .lock()
            .log
            .iter()
            .filter(|o| matches!(o, MediaOp::CreateMixer(..)))
            .count()
    };
    assert_eq!(creates(&w), 1);

    w.command(
        "sam",
        CallAction::Monitor {
            call: id.clone(),
            mode: MonitorMode::Whisper,
        },
    )
    .expect("whisper");
    assert_eq!(
        w.mixer().expect("mixer").matrix,
        vec![vec![F, T, F], vec![T, F, T], vec![T, T, F]],
        "whisper: the agent hears the supervisor, the caller does not"
    );
    w.command(
        "sam",
        CallAction::Monitor {
            call: id.clone(),
            mode: MonitorMode::Barge,
        },
    )
    .expect("barge");
    assert_eq!(
        w.mixer().expect("mixer").matrix,
        vec![vec![F, T, T], vec![T, F, T], vec![T, T, F]],
        "barge: everybody hears everybody"
    );
    assert_eq!(
        creates(&w),
        1,
        "mode switches change the matrix of the same mixer"
    );
    w.check_invariants().expect("invariants");

    // The supervisor leaves: caller and agent are relayed again.
    w.command("sam", CallAction::StopMonitor { call: id.clone() })
        .expect("stop");
    w.advance(Duration::from_millis(200));
    assert_eq!(w.ua_state("sam", sam_leg), Some(UaState::Ended));
    assert!(w.mixer().is_none());
    assert_eq!(w.bridged_with(a), Some(b));
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_secs(1));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&id), 1);
}

#[test]
fn take_over_makes_the_supervisor_the_agent() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id, alice_leg, sam_leg) = monitored(&mut w);
    w.command("sam", CallAction::TakeOver { call: id.clone() })
        .expect("take over");
    w.advance(Duration::from_millis(200));
    assert_eq!(
        w.ua_state("alice", alice_leg),
        Some(UaState::Ended),
        "BYE to the agent"
    );
    assert_eq!(w.ua_state("sam", sam_leg), Some(UaState::Confirmed));
    assert!(w.mixer().is_none());
    let a = w.session_of("trunk", caller).expect("caller");
    let s = w.session_of("sam", sam_leg).expect("supervisor");
    assert_eq!(w.bridged_with(a), Some(s), "caller and supervisor relayed");
    assert_eq!(w.call_of("sam").map(|c| c.id), Some(id.clone()));
    assert!(matches!(
        w.agent_state("alice"),
        Some(AgentState::WrapUp { .. })
    ));
    assert!(w.record_kinds(&id).contains(&"transferred:sam".to_string()));
    // The caller's record comes to the supervisor's desk, saying whose call it was.
    let pop = w
        .notices
        .iter()
        .find_map(|(_, n)| match n {
            CallNotice::Offered { agent, pop } if agent == "sam" && pop.call.as_str() == id => {
                Some(pop.clone())
            }
            _ => None,
        })
        .expect("the caller's pop for the supervisor");
    assert_eq!(pop.ani.expose(), KNOWN_CALLER);
    assert_eq!(
        pop.customer.as_ref().map(|c| c.name.expose().as_str()),
        Some("Ada Lovelace")
    );
    assert_eq!(
        pop.context,
        Some(PopContext::TakeOver {
            from: Colleague {
                agent: AgentId::new("alice"),
                name: "Alice".into(),
                extension: Some(Extension::new("1001")),
            }
        })
    );
    // ... before the call shows connected there.
    let order: Vec<&str> = w
        .notices
        .iter()
        .filter_map(|(_, n)| match n {
            CallNotice::Offered { agent, .. } if agent == "sam" => Some("offered"),
            CallNotice::Connected { agent, .. } if agent == "sam" => Some("connected"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["offered", "connected"]);
    w.check_invariants().expect("invariants");
    w.with_phone("sam", |p, now| p.hangup(now, sam_leg));
    w.advance(Duration::from_secs(1));
    assert_eq!(w.ua_state("trunk", caller), Some(UaState::Ended));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&id), 1);
}
