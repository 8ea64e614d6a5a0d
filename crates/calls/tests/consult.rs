//! Consultation: the agent rings a colleague while the caller hears hold music, then either
//! completes the transfer (the colleague takes the caller, the agent's leg ends) or cancels
//! it (back to the caller). Routing follows who is on the call. The consulted party's desktop
//! gets the caller's pop saying who consults them; on an internal call each desk names the
//! colleague at the other end, and a colleague can hang up from the desktop.

mod harness;

use std::time::Duration;

use harness::phone::{Policy, UaState};
use harness::{KNOWN_CALLER, SALES_NUMBER, World, WorldConfig};
use hotline_acd::AgentState;
use hotline_calls::messages::{CallAction, CallNotice};
use hotline_cti::{AgentId, Colleague, Extension, PopContext};

fn consulting(w: &mut World) -> (u32, String, u32) {
    let (caller, id) = w.connected_call("alice", KNOWN_CALLER);
    let consult = w
        .command(
            "alice",
            CallAction::Consult {
                call: id.clone(),
                target: "bob".into(),
            },
        )
        .expect("consult")
        .expect("consult id");
    assert!(consult.starts_with(&id), "{consult}");
    let (a, _) = w.sessions(caller, "alice");
    assert_eq!(w.bridged_with(a), None, "the caller waits with music");
    // Bob's phone rings (2 s) and answers.
    w.advance(Duration::from_secs(3));
    let bob_leg = w.live_call("bob").expect("bob's phone");
    assert_eq!(w.ua_state("bob", bob_leg), Some(UaState::Confirmed));
    let snap = w.call_of("alice").expect("alice's call");
    assert_eq!(snap.consulted.as_deref(), Some("bob"));
    assert!(matches!(
        w.agent_state("bob"),
        Some(AgentState::OnCall { .. })
    ));
    // Agent and colleague talk; the caller is on music.
    let (_, b) = w.sessions(caller, "alice");
    let x = w.session_of("bob", bob_leg).expect("bob's session");
    assert_eq!(w.bridged_with(b), Some(x));
    w.check_invariants().expect("invariants");
    (caller, id, bob_leg)
}

#[test]
fn consult_then_complete() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id, bob_leg) = consulting(&mut w);
    let alice_leg = w.live_call("alice").expect("alice's leg");
    w.command("alice", CallAction::CompleteTransfer { call: id.clone() })
        .expect("complete");
    w.advance(Duration::from_millis(200));
    assert_eq!(
        w.ua_state("alice", alice_leg),
        Some(UaState::Ended),
        "BYE to alice"
    );
    let snap = w.call_of("bob").expect("bob has the caller");
    assert_eq!(snap.id, id);
    assert!(matches!(
        w.agent_state("alice"),
        Some(AgentState::WrapUp { .. })
    ));
    assert!(matches!(
        w.agent_state("bob"),
        Some(AgentState::OnCall { .. })
    ));
    let a = w.session_of("trunk", caller).expect("caller");
    let x = w.session_of("bob", bob_leg).expect("bob");
    assert_eq!(w.bridged_with(a), Some(x), "caller and bob relayed");
    w.check_invariants().expect("invariants");
    assert!(w.record_kinds(&id).contains(&"transferred:bob".to_string()));
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_secs(1));
    assert_eq!(w.ua_state("bob", bob_leg), Some(UaState::Ended));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&id), 1);
}

#[test]
fn consult_then_cancel() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id, bob_leg) = consulting(&mut w);
    w.command("alice", CallAction::CancelConsult { call: id.clone() })
        .expect("cancel");
    w.advance(Duration::from_millis(200));
    assert_eq!(
        w.ua_state("bob", bob_leg),
        Some(UaState::Ended),
        "BYE to bob"
    );
    let snap = w.call_of("alice").expect("alice still has the caller");
    assert_eq!(snap.consulted, None);
    assert!(matches!(
        w.agent_state("alice"),
        Some(AgentState::OnCall { .. })
    ));
    assert!(!matches!(
        w.agent_state("bob"),
        Some(AgentState::OnCall { .. } | AgentState::Reserved { .. })
    ));
    let (a, b) = w.sessions(caller, "alice");
    assert_eq!(w.bridged_with(a), Some(b), "back to the caller");
    w.check_invariants().expect("invariants");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_secs(1));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&id), 1);
}

/// The caller's screen pop that `who` was sent for call `id`, if any.
fn pop_for(w: &World, who: &str, id: &str) -> Option<hotline_cti::ScreenPop> {
    w.notices.iter().rev().find_map(|(_, n)| match n {
        CallNotice::Offered { agent, pop } if agent == who && pop.call.as_str() == id => {
            Some((**pop).clone())
        }
        _ => None,
    })
}

/// The consulted person's desktop learns who consults them (name and extension from the
/// agent directory) and about which caller (the caller's pop), whether the agent names them
/// by agent id or dials their extension, and when they are a supervisor.
#[test]
fn the_consulted_party_sees_who_consults_about_which_caller() {
    for (target, who) in [("bob", "bob"), ("1002", "bob"), ("sam", "sam")] {
        let mut w = World::new(WorldConfig::default());
        let (_, id) = w.connected_call("alice", KNOWN_CALLER);
        w.command(
            "alice",
            CallAction::Consult {
                call: id.clone(),
                target: target.into(),
            },
        )
        .expect("consult");
        let pop = pop_for(&w, who, &id).unwrap_or_else(|| panic!("no pop for {who} ({target})"));
        assert_eq!(pop.ani.expose(), KNOWN_CALLER, "{target}");
        let customer = pop.customer.as_ref().expect("the caller's record");
        assert_eq!(customer.name.expose(), "Ada Lovelace", "{target}");
        assert_eq!(
            pop.context,
            Some(PopContext::Consult {
                by: Colleague {
                    agent: AgentId::new("alice"),
                    name: "Alice".into(),
                    extension: Some(Extension::new("1001")),
                }
            }),
            "{target}"
        );
        // The consulting agent's consultation leg names whom it consults.
        let named = w.notices.iter().find_map(|(_, n)| match n {
            CallNotice::Consult {
                agent,
                peer: Some(peer),
                colleague,
                ..
            } if agent == "alice" => Some((peer.clone(), colleague.clone())),
            _ => None,
        });
        let (peer, colleague) = named.expect("the consultation's party");
        assert_eq!(peer, target);
        assert_eq!(
            colleague.map(|c| (c.name, c.extension)),
            Some((
                harness::display_name(who),
                w.agents.get(who).map(Extension::new)
            )),
            "{target}"
        );
        w.advance(Duration::from_secs(3));
        w.check_invariants().expect("invariants");
    }
}

/// Click-to-dial to a colleague (by agent id or extension) names them on the dialling desk;
/// an extension that is nobody's names no one.
#[test]
fn an_internal_call_names_the_colleague() {
    for (number, colleague) in [("bob", Some("bob")), ("1002", Some("bob")), ("2001", None)] {
        let mut w = World::new(WorldConfig::default());
        let id = w
            .command(
                "alice",
                CallAction::Dial {
                    number: number.into(),
                },
            )
            .expect("dial")
            .expect("call id");
        let named = w.notices.iter().find_map(|(_, n)| match n {
            CallNotice::Dialing {
                call, colleague, ..
            } if call == &id => Some(colleague.clone()),
            _ => None,
        });
        let want = colleague.map(|c| Colleague {
            agent: AgentId::new(c),
            name: "Bob".into(),
            extension: Some(Extension::new("1002")),
        });
        assert_eq!(named, Some(want), "{number}");
        w.advance(Duration::from_secs(5));
        w.check_invariants().expect("invariants");
    }
}

/// What `who`'s desktop hears of call `id` on their own phone: dialing or incoming (with the
/// colleague at the other end), connected, ended.
fn followed(w: &World, who: &str, id: &str) -> Vec<String> {
    w.notices
        .iter()
        .filter_map(|(_, n)| match n {
            CallNotice::Dialing {
                call,
                agent,
                peer,
                colleague,
            } if agent == who && call == id => Some(format!(
                "dialing {peer} {}",
                colleague.as_ref().map_or("-", |c| c.name.as_str())
            )),
            CallNotice::Incoming {
                call,
                agent,
                peer,
                colleague,
            } if agent == who && call == id => Some(format!(
                "incoming {peer} {}",
                colleague.as_ref().map_or("-", |c| c.name.as_str())
            )),
            CallNotice::Connected { call, agent } if agent == who && call == id => {
                Some("connected".into())
            }
            CallNotice::Ended { call, agent, .. }
                if agent.as_deref() == Some(who) && call == id =>
            {
                Some("ended".into())
            }
            _ => None,
        })
        .collect()
}

/// The colleague an internal call rings sees it ring, connect and end on their desktop,
/// naming who calls: dialled from Alice's desktop, and from Alice's phone.
#[test]
fn the_colleague_called_sees_who_calls() {
    let mut w = World::new(WorldConfig::default());
    let id = w
        .command(
            "alice",
            CallAction::Dial {
                number: "bob".into(),
            },
        )
        .expect("dial")
        .expect("call id");
    // Alice's phone answers (2 s), then Bob's rings and answers (2 s).
    w.advance(Duration::from_secs(5));
    let bob_leg = w.live_call("bob").expect("bob's phone");
    assert_eq!(w.ua_state("bob", bob_leg), Some(UaState::Confirmed));
    w.with_phone("bob", |p, now| p.hangup(now, bob_leg));
    w.advance(Duration::from_secs(1));
    assert_eq!(
        followed(&w, "bob", &id),
        ["incoming 1001 Alice", "connected", "ended"]
    );
    w.wind_down(Duration::from_secs(60)).expect("clean end");

    let mut w = World::new(WorldConfig::default());
    let leg = w.with_phone("alice", |p, now| p.invite(now, "1002", None));
    w.advance(Duration::from_secs(3));
    assert_eq!(w.ua_state("alice", leg), Some(UaState::Confirmed));
    let id = w.snapshot().calls[0].id.clone();
    w.with_phone("alice", |p, now| p.hangup(now, leg));
    w.advance(Duration::from_secs(1));
    assert_eq!(
        followed(&w, "bob", &id),
        ["incoming 1001 Alice", "connected", "ended"]
    );
    // Placed on Alice's desk phone: her desktop shows it too, naming Bob.
    assert_eq!(
        followed(&w, "alice", &id),
        ["dialing 1002 Bob", "connected", "ended"]
    );
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}

/// The consulted colleague hangs up from the desktop, ringing or talking: the consultation
/// ends and the agent is back with the caller. An internal call the colleague rung, or the
/// agent who placed it on their desk phone, hangs up from the desktop ends.
#[test]
fn the_colleague_hangs_up_from_the_desktop() {
    for talk_first in [false, true] {
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
        if talk_first {
            w.advance(Duration::from_secs(3));
            assert!(w.live_call("bob").is_some(), "bob talks");
        }
        w.command("bob", CallAction::Hangup { call: id.clone() })
            .expect("bob hangs up");
        w.advance(Duration::from_secs(3));
        assert_eq!(w.live_call("bob"), None, "bob's phone is free");
        let snap = w.call_of("alice").expect("alice still has the caller");
        assert_eq!(snap.consulted, None);
        let (a, b) = w.sessions(caller, "alice");
        assert_eq!(w.bridged_with(a), Some(b), "back to the caller");
        assert_eq!(
            followed(&w, "bob", &id).last().map(String::as_str),
            Some("ended")
        );
        w.check_invariants().expect("invariants");
        w.with_phone("trunk", |p, now| p.hangup(now, caller));
        w.advance(Duration::from_secs(1));
        w.wind_down(Duration::from_secs(60)).expect("clean end");
    }

    let mut w = World::new(WorldConfig::default());
    let leg = w.with_phone("alice", |p, now| p.invite(now, "1002", None));
    w.advance(Duration::from_millis(300));
    let id = w.snapshot().calls[0].id.clone();
    w.command("bob", CallAction::Hangup { call: id.clone() })
        .expect("bob declines");
    w.advance(Duration::from_secs(1));
    assert_eq!(w.ua_state("alice", leg), Some(UaState::Ended));
    assert_eq!(followed(&w, "bob", &id), ["incoming 1001 Alice", "ended"]);
    w.wind_down(Duration::from_secs(60)).expect("clean end");

    // Placed on Alice's desk phone, hung up from her desktop once Bob talks.
    let mut w = World::new(WorldConfig::default());
    let leg = w.with_phone("alice", |p, now| p.invite(now, "1002", None));
    w.advance(Duration::from_secs(3));
    let id = w.snapshot().calls[0].id.clone();
    let bob_leg = w.live_call("bob").expect("bob's phone");
    w.command("alice", CallAction::Hangup { call: id.clone() })
        .expect("alice hangs up");
    w.advance(Duration::from_secs(1));
    assert_eq!(w.ua_state("alice", leg), Some(UaState::Ended));
    assert_eq!(w.ua_state("bob", bob_leg), Some(UaState::Ended));
    assert_eq!(
        followed(&w, "alice", &id),
        ["dialing 1002 Bob", "connected", "ended"]
    );
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}

/// While an internal call rings a colleague's phone, routing has the colleague taken: a queue
/// caller arriving meanwhile waits instead of ringing the same phone; once the internal call
/// ends unanswered, the colleague is free and gets the queue call.
#[test]
fn a_colleague_rung_by_an_internal_call_is_not_offered_queue_calls() {
    let mut w = World::new(WorldConfig::default());
    w.phone("bob").policy = Policy::Ignore;
    let id = w
        .command(
            "alice",
            CallAction::Dial {
                number: "bob".into(),
            },
        )
        .expect("dial")
        .expect("call id");
    // Alice's phone answers (2 s), then Bob's rings and keeps ringing.
    w.advance(Duration::from_secs(3));
    assert!(w.live_call("bob").is_some(), "bob's phone rings");
    let caller = w.pstn_call(KNOWN_CALLER, SALES_NUMBER);
    w.advance(Duration::from_secs(3));
    let queued = w
        .snapshot()
        .calls
        .into_iter()
        .find(|c| c.id != id)
        .expect("the queue call");
    assert_eq!(queued.offered, None, "nobody free: the caller waits");
    w.check_invariants().expect("invariants");

    w.command("alice", CallAction::Hangup { call: id.clone() })
        .expect("alice hangs up");
    w.advance(Duration::from_secs(3));
    let queued = w
        .snapshot()
        .calls
        .into_iter()
        .find(|c| c.id == queued.id)
        .expect("still waiting");
    assert_eq!(queued.offered.as_deref(), Some("bob"), "bob is free again");
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}
