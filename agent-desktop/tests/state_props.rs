//! Random sequences of CTI updates (calls from a small pool offered, changing state, ending,
//! wrap-ups, snapshots, reconnects, logouts) never panic the desktop state, and its invariants
//! hold after every step: the focus names a live call or the wrap-up call, call ids are unique,
//! lists stay bounded, and no call control is offered while disconnected.

use hotline_cti::{
    AgentState, CallDirection, CallId, CallInfo, CallState, EndReason, Event, LogoutReason, Pii,
    Snapshot, UnixMillis,
};
use hotline_desktop::client::{ClientUpdate, ConnState};
use hotline_desktop::sample;
use hotline_desktop::state::DeskState;
use proptest::prelude::*;

const CALLS: [&str; 3] = ["c1", "c2", "c3"];

fn call_state() -> impl Strategy<Value = CallState> {
    prop_oneof![
        Just(CallState::Dialing),
        Just(CallState::Ringing),
        Just(CallState::Connected),
        Just(CallState::Held),
        Just(CallState::Ended),
    ]
}

fn agent_state() -> impl Strategy<Value = AgentState> {
    prop_oneof![
        Just(AgentState::NotReady),
        Just(AgentState::Ready),
        Just(AgentState::Ringing),
        Just(AgentState::OnCall),
        Just(AgentState::WrapUp),
    ]
}

fn update() -> impl Strategy<Value = ClientUpdate> {
    let call = (0..CALLS.len()).prop_map(|i| CallId::new(CALLS[i]));
    prop_oneof![
        call.clone().prop_map(|c| {
            let mut pop = sample::screen_pop(UnixMillis(1000));
            pop.call = c;
            ClientUpdate::Event(Event::CallOffered(Box::new(pop)))
        }),
        (
            call.clone(),
            call_state(),
            any::<bool>(),
            proptest::option::of(0..CALLS.len())
        )
            .prop_map(|(c, state, muted, consult)| ClientUpdate::Event(
                Event::CallChanged(CallInfo {
                    call: c,
                    direction: if consult.is_some() {
                        CallDirection::Consult
                    } else {
                        CallDirection::Inbound
                    },
                    state,
                    peer: Pii::new("+441632960001".into()),
                    muted,
                    conference: false,
                    queue: None,
                    consult_of: consult.map(|i| CallId::new(CALLS[i])),
                    colleague: None,
                    end_reason: (state == CallState::Ended).then_some(EndReason::RemoteHangup),
                    since: UnixMillis(2000),
                })
            )),
        call.clone()
            .prop_map(|c| ClientUpdate::Event(Event::WrapUpStarted {
                call: c,
                since: UnixMillis(3000),
                limit_secs: Some(60),
            })),
        agent_state().prop_map(
            |s| ClientUpdate::Event(Event::AgentStateChanged(sample::status(s, None, 500)))
        ),
        Just(ClientUpdate::Event(Event::Snapshot(Box::new(Snapshot {
            agent: sample::status(AgentState::Ready, None, 0),
            calls: vec![],
            screen_pop: None,
            wrap_up: None,
        })))),
        Just(ClientUpdate::Connection(ConnState::Reconnecting {
            attempt: 1,
            retry_in: std::time::Duration::from_secs(1),
            reason: "x".into(),
        })),
        Just(ClientUpdate::Connection(ConnState::Connected)),
        Just(ClientUpdate::Event(Event::LoggedOut {
            reason: LogoutReason::Replaced
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_update(updates in prop::collection::vec(update(), 1..60)) {
        let mut state = DeskState::new();
        for u in sample::login(UnixMillis(0)) {
            state.apply(u, UnixMillis(0));
        }
        for (i, u) in updates.into_iter().enumerate() {
            state.apply(u, UnixMillis(10_000 + i as u64));
            if let Some(f) = &state.focus {
                prop_assert!(
                    state.call(f).is_some() || state.wrap_up_of(f).is_some(),
                    "focus {f} names nothing"
                );
            }
            let mut ids: Vec<&CallId> = state.calls.iter().map(|c| &c.call).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), state.calls.len(), "duplicate call ids");
            prop_assert!(state.calls.iter().all(|c| c.state != CallState::Ended));
            prop_assert!(state.notifications.len() <= 20);
            prop_assert!(state.history.len() <= 50);
            for c in &state.calls {
                let a = state.actions(&c.call);
                if !state.connected() {
                    prop_assert_eq!(a, Default::default());
                }
                prop_assert!(!(a.hold && a.resume));
                prop_assert!(!(a.answer && a.hold));
            }
        }
    }
}
